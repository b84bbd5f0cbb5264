"""TPM attestation end to end with a software TPM (tpm.md): swtpm, dpsd,
hubd, dpsctl and dps-device, all real binaries over real TLS.

The operator's path of docs/dps-device.md: `dps-device tpm-info` prints the
EK and the registration ID derived from it; `dpsctl enrollment create
--attestation-type tpm --endorsement-key EK` enrolls it; `dps-device register
--tpm` registers (first PUT without a SAS -> 401 challenge -> activation in
the TPM -> PUT with a SAS the TPM signed -> poll -> assigned with the hub
key's blob, imported too), connects to its hub with a TPM-signed token and
sends telemetry, which the hub keeps. Then the refusals: no enrollment
(404), an enrollment holding another EK (401), MQTT (a usage error: TPM
registers over HTTPS).

swtpm (Debian packages swtpm, swtpm-tools; scripts/setup.sh installs them)
runs on free loopback ports with a fresh state directory and is stopped by
its PID. A missing swtpm fails the test: it is part of the set-up.
"""

import base64
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from dpsd_harness import (SAMPLE_EK, Dpsd, binary, run_dpsctl, sanitizer_report,
                          unique_id)
from hubd_harness import Hubd

HUB = "hub1.opendps.local"
RUN_TIMEOUT = 60


def free_port_pair():
    """P with P and P + 1 free on 127.0.0.1 (swtpm's server and control)."""
    for _ in range(50):
        a, b = socket.socket(), socket.socket()
        try:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            if port < 65535:
                b.bind(("127.0.0.1", port + 1))
                return port
        except OSError:
            pass
        finally:
            a.close()
            b.close()
    raise AssertionError("no free loopback port pair for swtpm")


class Swtpm:
    """One swtpm with its own state directory; stop() by PID, bounded."""

    def __init__(self):
        if shutil.which("swtpm") is None:
            raise AssertionError("swtpm is not installed: install the swtpm and swtpm-tools "
                                 "packages (scripts/setup.sh does)")
        self.dir = tempfile.mkdtemp(prefix="dps-swtpm-")
        self.proc = None
        for _ in range(3):
            port = free_port_pair()
            self.proc = subprocess.Popen(
                ["swtpm", "socket", "--tpm2", "--tpmstate", "dir=" + self.dir,
                 "--server", "type=tcp,port=%d,bindaddr=127.0.0.1" % port,
                 "--ctrl", "type=tcp,port=%d,bindaddr=127.0.0.1" % (port + 1),
                 "--flags", "not-need-init,startup-clear"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    self.port = port
                    self.tcti = "swtpm:host=127.0.0.1,port=%d" % port
                    return
                except OSError:
                    time.sleep(0.1)
            self._end()
        self.stop()
        raise AssertionError("swtpm did not come up on loopback")

    def _end(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()
        self.proc = None

    def stop(self):
        self._end()
        shutil.rmtree(self.dir, ignore_errors=True)


def registration_id_of(ek_b64):
    """tpm.md §3.4: lower-case base32 of SHA-256 over the TPM2B_PUBLIC."""
    digest = hashlib.sha256(base64.b64decode(ek_b64)).digest()
    return base64.b32encode(digest).decode().lower().rstrip("=")


class DeviceTpmTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tpm = Swtpm()
        cls.addClassCleanup(cls.tpm.stop)
        cls.hubd = Hubd.start_new(hubs=[HUB])
        cls.addClassCleanup(cls.hubd.cleanup)
        cls.dpsd = Dpsd.start_new(extra_args=["--hub-ca-file", cls.hubd.ca_file,
                                              "--hub-timeout", "5"])
        cls.addClassCleanup(cls.dpsd.cleanup)
        cls.svc = cls.dpsd.client()
        r = cls.svc.put("/admin/linkedHubs/" + HUB,
                        {"connectionString": cls.hubd.hub_connection_string(HUB),
                         "registryUrl": cls.hubd.url, "allocationWeight": 1})
        assert r.status == 200, r

    @classmethod
    def tearDownClass(cls):
        for d in (cls.dpsd, cls.hubd):
            if d is not None and d.proc is not None:
                d.stop()  # exit 0 and no sanitizer report

    # ---- helpers

    def run_tool(self, args, expect_rc=0):
        try:
            r = subprocess.run([binary("dps-device")] + list(args), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired as e:
            self.fail("dps-device did not finish within %ss: %s" % (RUN_TIMEOUT, e))
        self.assertIsNone(sanitizer_report(r.stderr), r.stderr)
        if expect_rc is not None:
            self.assertEqual(r.returncode, expect_rc,
                             "dps-device %s: exit %d\nstdout:\n%s\nstderr:\n%s"
                             % (args[0], r.returncode, r.stdout, r.stderr))
        return r

    def tpm_info(self):
        r = self.run_tool(["tpm-info", "--tcti", self.tpm.tcti, "--output", "json"])
        return json.loads(r.stdout)

    def register(self, extra=(), expect_rc=0, messages=2):
        return self.run_tool(
            ["register", "--tpm", "--tcti", self.tpm.tcti,
             "--provisioning-host", "localhost:%d" % self.dpsd.port,
             "--connect-address", "127.0.0.1", "--id-scope", self.dpsd.id_scope,
             "--ca-file", self.dpsd.ca_file,
             "--hub-gateway", "127.0.0.1:%d" % self.hubd.mqtt_port,
             "--hub-ca-file", self.hubd.ca_file,
             "--messages", str(messages), "--interval-ms", "20", "--timeout", "30"]
            + list(extra), expect_rc=expect_rc)

    def enroll(self, regid, ek):
        r = run_dpsctl(["enrollment", "create", "--enrollment-id", regid,
                        "--attestation-type", "tpm", "--endorsement-key", ek],
                       login=self.dpsd.connection_string, cafile=self.dpsd.ca_file)
        self.assertEqual(r.returncode, 0, r.stderr)

    def telemetry_of(self, device_id, n, timeout=10):
        got = []
        with self.hubd.telemetry_stream(HUB, since=0) as s:
            self.assertEqual(s.status, 200)
            while len(got) < n:
                ev = s.wait_for(lambda e: isinstance(e.get("data"), dict)
                                and e["data"].get("deviceId") == device_id, timeout=timeout)
                got.append(ev["data"])
        return got

    # ---- tests

    def test_1_tpm_info(self):
        info = self.tpm_info()
        ek = info["endorsementKey"]
        self.assertEqual(len(base64.b64decode(ek)), 316)
        self.assertTrue(ek.startswith("AToAAQALAAMAsgAgg3GXZ0SE"), ek)
        self.assertEqual(len(base64.b64decode(info["storageRootKey"])), 284)
        self.assertEqual(info["registrationId"], registration_id_of(ek))
        self.assertEqual(len(info["registrationId"]), 52)
        # the keys are persistent: the text form says the same
        r = self.run_tool(["tpm-info", "--tcti", self.tpm.tcti])
        self.assertIn("registration ID: %s\n" % info["registrationId"], r.stdout)
        self.assertIn("endorsement key: %s\n" % ek, r.stdout)

    def test_2_register_and_send_telemetry(self):
        info = self.tpm_info()
        regid = info["registrationId"]
        self.enroll(regid, info["endorsementKey"])
        r = self.register(extra=["--log-level", "info"])
        self.assertRegex(r.stdout, r"(?m)^%s: assigned to %s as device %s\b"
                         % (re.escape(regid), re.escape(HUB), re.escape(regid)))
        self.assertIn("%s: connected to %s" % (regid, HUB), r.stdout)
        self.assertIn("sent 2 messages; disconnected", r.stdout)
        self.assertIn("TPM challenge received", r.stderr)
        self.assertNotIn("sig=", r.stdout + r.stderr)
        # the hub device has SAS authentication; its key never reached the device
        dev = self.hubd.service(HUB).get("/devices/" + regid)
        self.assertEqual(dev.status, 200, dev)
        self.assertEqual(dev.json()["authentication"]["type"], "sas", dev.json())
        msgs = self.telemetry_of(regid, 2)
        self.assertEqual(json.loads(msgs[0]["body"])["deviceId"], regid)
        # and again: a re-registration runs the whole challenge once more
        r = self.register(extra=["--no-hub"])
        self.assertIn("%s: assigned to %s" % (regid, HUB), r.stdout)

    def test_3_not_enrolled(self):
        regid = unique_id("tpm-none")
        r = self.register(extra=["--registration-id", regid, "--no-hub"], expect_rc=1)
        self.assertIn("%s: not registered: refused, error 404201" % regid, r.stdout)

    def test_4_other_ek_enrolled(self):
        regid = unique_id("tpm-other")
        self.enroll(regid, SAMPLE_EK)  # a valid EK, but not this TPM's
        r = self.register(extra=["--registration-id", regid, "--no-hub"], expect_rc=1)
        self.assertRegex(r.stdout, r"%s: not registered: refused, error 401\d{3}"
                         % re.escape(regid))

    def test_5_mqtt_is_a_usage_error(self):
        r = self.register(extra=["--transport", "mqtt"], expect_rc=2)
        self.assertIn("https only", r.stderr)

    def test_6_no_tpm(self):
        port = free_port_pair()
        r = self.run_tool(["tpm-info", "--tcti", "swtpm:host=127.0.0.1,port=%d" % port],
                          expect_rc=1)
        self.assertIn("E_CONNECT", r.stderr)


if __name__ == "__main__":
    unittest.main()
