"""dps-device, the simulator, end to end against the real dpsd and hubd over
TLS (docs/dps-device.md): registration over HTTPS and over MQTT with an
individual key and a group key, a payload, a --count fleet spread over two
hubs exactly as the hashed allocation predicts, telemetry seen in hubd, the
reported twin property through hubd's REST twin GET, a direct method
answered, desired updates printed, clear failures (wrong key, wrong CA, usage)
and a clean end on SIGTERM. Only the real binaries run; the harnesses start
the daemons (dpsd_harness.py, hubd_harness.py).
"""

import base64
import hashlib
import json
import math
import re
import signal
import subprocess
import threading
import time
import unittest
import urllib.parse

from dpsd_harness import binary, derive_device_key, random_key, sanitizer_report, unique_id
from journey_harness import HubsAndDpsd

HUB1, HUB2 = "hub1.opendps.local", "hub2.opendps.local"
WEIGHTS = {HUB1: 1, HUB2: 1}
RUN_TIMEOUT = 60
ASSIGNED_RE = re.compile(r"^(\S+): assigned to (\S+) as device (\S+) \((\w+)\)$", re.M)


def q(s):
    return urllib.parse.quote(s, safe="")


def rendezvous_pick(regid, hubs):
    """device-api.md, Allocation: weighted rendezvous hashing."""
    best, best_score = None, None
    for name, weight in hubs.items():
        d = hashlib.sha256(regid.lower().encode() + b"\x00" + name.lower().encode()).digest()
        u = (int.from_bytes(d[:8], "big") + 0.5) / 2.0 ** 64
        score = -weight / math.log(u)
        if best is None or score > best_score:
            best, best_score = name, score
    return best


class Background:
    """dps-device running in the background; its output collected line by line."""

    def __init__(self, cmd):
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.lines = []
        self.cond = threading.Condition()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.lines.append(None)
            self.cond.notify_all()

    def wait_line(self, pattern, timeout=20):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines:
                    if line is None:
                        raise AssertionError("dps-device ended before %r: %r"
                                             % (pattern, self.lines))
                    if rx.search(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no line %r within %ss: %r" % (pattern, timeout,
                                                                        self.lines))
                self.cond.wait(left)

    def output(self):
        with self.cond:
            return "\n".join(l for l in self.lines if l is not None)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
            raise AssertionError("dps-device did not end within %ss of %s" % (timeout, sig))
        finally:
            self._drain()

    def _drain(self):
        """Waits (bounded) for the reader to see the end, then closes the pipe."""
        with self.cond:
            self.cond.wait_for(lambda: self.lines and self.lines[-1] is None, timeout=5)
        self.proc.stdout.close()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self._drain()


class DpsDeviceTest(HubsAndDpsd, unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.start_hubd([HUB1, HUB2])
        cls.start_dpsd(hub_timeout=5, mqtt=None)
        cls.link_hubs(WEIGHTS)

    # ---- helpers

    def enroll(self, regid=None, **extra):
        regid = regid or unique_id("dev")
        key = random_key()
        body = {"registrationId": regid,
                "attestation": {"type": "symmetricKey",
                                "symmetricKey": {"primaryKey": key, "secondaryKey": random_key()}}}
        body.update(extra)
        r = self.svc.put("/enrollments/" + q(regid), body)
        self.assertEqual(r.status, 200, r)
        return regid, key

    def group(self, **extra):
        gid = unique_id("grp")
        key = random_key(64)
        body = {"enrollmentGroupId": gid,
                "attestation": {"type": "symmetricKey",
                                "symmetricKey": {"primaryKey": key,
                                                 "secondaryKey": random_key(64)}}}
        body.update(extra)
        r = self.svc.put("/enrollmentGroups/" + q(gid), body)
        self.assertEqual(r.status, 200, r)
        return gid, key

    def command(self, regid, transport="https", ca_file=None, hub_ca_file=None,
                messages=2, extra=()):
        if transport == "mqtt":
            if self.dps_mqtt_port is None:
                self.skipTest("this dpsd has no MQTT endpoint")
            host = "localhost:%d" % self.dps_mqtt_port
        else:
            host = "localhost:%d" % self.dpsd.port
        return [binary("dps-device"), "register", "--transport", transport,
                "--provisioning-host", host, "--connect-address", "127.0.0.1",
                "--id-scope", self.dpsd.id_scope, "--registration-id", regid,
                "--ca-file", ca_file or self.dpsd.ca_file,
                "--hub-gateway", "127.0.0.1:%d" % self.hubd.mqtt_port,
                "--hub-ca-file", hub_ca_file or self.hubd.ca_file,
                "--messages", str(messages), "--interval-ms", "20",
                "--timeout", "30"] + list(extra)

    def run_device(self, *args, expect_rc=0, **kw):
        cmd = self.command(*args, **kw)
        try:
            r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired as e:
            self.fail("dps-device did not finish within %ss: %s" % (RUN_TIMEOUT, e))
        self.assertIsNone(sanitizer_report(r.stderr), r.stderr)
        if expect_rc is not None:
            self.assertEqual(r.returncode, expect_rc,
                             "dps-device exit %d\nstdout:\n%s\nstderr:\n%s"
                             % (r.returncode, r.stdout, r.stderr))
        return r

    def assigned(self, out, regid):
        for m in ASSIGNED_RE.finditer(out):
            if m.group(1) == regid:
                return m.group(2), m.group(3)
        self.fail("no assignment line for %s in:\n%s" % (regid, out))

    def hub(self, hub):
        return self.hubd.service(hub)

    def twin(self, hub, device_id):
        r = self.hub(hub).get("/twins/" + q(device_id))
        self.assertEqual(r.status, 200, r)
        return r.json()

    def telemetry_of(self, hub, device_id, n, timeout=10):
        """The first n telemetry messages of device_id kept by the hub."""
        got = []
        with self.hubd.telemetry_stream(hub, since=0) as s:
            self.assertEqual(s.status, 200)
            while len(got) < n:
                ev = s.wait_for(lambda e: isinstance(e.get("data"), dict)
                                and e["data"].get("deviceId") == device_id, timeout=timeout)
                got.append(ev["data"])
        return got

    def check_device_in_hub(self, hub, device_id, transport, messages):
        other = HUB2 if hub == HUB1 else HUB1
        self.assertEqual(self.hub(hub).get("/devices/" + q(device_id)).status, 200)
        self.assertEqual(self.hub(other).get("/devices/" + q(device_id)).status, 404)
        reported = self.twin(hub, device_id)["properties"]["reported"]
        self.assertEqual(reported["simulator"]["name"], "dps-device", reported)
        self.assertEqual(reported["simulator"]["transport"], transport, reported)
        if messages:
            msgs = self.telemetry_of(hub, device_id, messages)
            for i, m in enumerate(msgs, 1):
                body = json.loads(m["body"])
                self.assertEqual(body["deviceId"], device_id)
                self.assertEqual(body["messageId"], i)
                self.assertEqual(m["applicationProperties"].get("source"), "dps-device", m)
                self.assertEqual(m["systemProperties"].get("messageId"), "msg-%d" % i, m)

    # ---- registration: transports x credentials

    def test_individual_and_group_over_https_and_mqtt(self):
        for transport in ("https", "mqtt"):
            for kind in ("individual", "group"):
                with self.subTest(transport=transport, kind=kind):
                    if kind == "individual":
                        regid, key = self.enroll(unique_id("ind"))
                        opt = ["--symmetric-key", key]
                    else:
                        _, gkey = self.group()
                        regid = unique_id("grp-dev")
                        opt = ["--group-key", gkey]
                    r = self.run_device(regid, transport, extra=opt)
                    hub, device_id = self.assigned(r.stdout, regid)
                    self.assertEqual(device_id, regid)
                    self.assertEqual(hub, rendezvous_pick(regid, WEIGHTS))
                    self.assertIn("%s: connected to %s through 127.0.0.1:%d"
                                  % (regid, hub, self.hubd.mqtt_port), r.stdout)
                    self.assertIn("%s: sent 2 messages; disconnected" % regid, r.stdout)
                    self.check_device_in_hub(hub, device_id, transport, 2)

    def test_group_initial_twin_payload_and_json_output(self):
        gid, gkey = self.group(initialTwin={"tags": {"line": "a"},
                                            "properties": {"desired": {"sampleSeconds": 7}}})
        for transport in ("https", "mqtt"):
            with self.subTest(transport=transport):
                regid = unique_id("pay")
                r = self.run_device(regid, transport, messages=1,
                                    extra=["--group-key", gkey, "--output", "json",
                                           "--payload", '{"model":"x1","fw":[1,2]}'])
                first = json.loads(r.stdout.splitlines()[0])
                self.assertEqual(first["status"], "assigned", first)
                self.assertEqual(first["registrationId"], regid)
                self.assertEqual(first["enrollmentGroupId"], gid)
                self.assertEqual(first["substatus"], "initialAssignment")
                hub = first["assignedHub"]
                self.assertEqual(hub, rendezvous_pick(regid, WEIGHTS))
                # The device read the initial twin from its hub.
                self.assertRegex(r.stdout, r'%s: twin \{"desired":\{[^}]*"sampleSeconds":7'
                                 % re.escape(regid))
                t = self.twin(hub, first["deviceId"])
                self.assertEqual(t["tags"], {"line": "a"})
                self.assertEqual(t["properties"]["desired"]["sampleSeconds"], 7)
                # The group key never travels: the hub device has the derived key.
                d = self.hub(hub).get("/devices/" + q(regid)).json()
                self.assertEqual(d["authentication"]["symmetricKey"]["primaryKey"],
                                 derive_device_key(gkey, regid))
                rec = self.svc.get("/registrations/" + q(regid)).json()
                self.assertEqual(rec["assignedHub"], hub)
                self.assertEqual(rec["symmetricKey"]["enrollmentGroupId"], gid)

    def test_no_hub_and_reregistration_keeps_the_hub(self):
        regid, key = self.enroll(unique_id("nohub"))
        r = self.run_device(regid, extra=["--symmetric-key", key, "--no-hub"])
        hub, _ = self.assigned(r.stdout, regid)
        self.assertNotIn("connected to", r.stdout)
        r = self.run_device(regid, "mqtt" if self.dps_mqtt_port else "https",
                            extra=["--symmetric-key", key, "--no-hub"])
        self.assertEqual(self.assigned(r.stdout, regid)[0], hub)

    # ---- a fleet

    def test_fleet_across_two_hubs(self):
        _, gkey = self.group()
        count = 12
        # A prefix whose devices the hashing spreads over both hubs.
        for _ in range(50):
            prefix = unique_id("fleet")
            ids = ["%s-%04d" % (prefix, i) for i in range(1, count + 1)]
            expect = {h: sorted(i for i in ids if rendezvous_pick(i, WEIGHTS) == h)
                      for h in WEIGHTS}
            if all(expect.values()):
                break
        r = self.run_device(prefix, messages=1,
                            extra=["--group-key", gkey, "--count", str(count), "--parallel", "4"])
        self.assertRegex(r.stdout, r"(?m)^summary: %d of %d devices assigned, 0 not registered, "
                         r"0 hub session errors, %d messages" % (count, count, count))
        for hub, members in expect.items():
            self.assertRegex(r.stdout, r"(?m)^summary: %s: %d devices$"
                             % (re.escape(hub), len(members)))
            got = sorted(regid for regid, h in
                         ((m.group(1), m.group(2)) for m in ASSIGNED_RE.finditer(r.stdout))
                         if h == hub)
            self.assertEqual(got, members)
        # Every member is in its hub, with its telemetry.
        for hub, members in expect.items():
            q_ = self.hub(hub).post("/devices/query",
                                    {"query": "SELECT * FROM devices"}).json()
            in_hub = {t["deviceId"] for t in q_}
            self.assertTrue(set(members) <= in_hub, (members, in_hub))
            self.telemetry_of(hub, members[0], 1)
            self.telemetry_of(hub, members[-1], 1)

    # ---- the hub session: twin, methods, desired updates, SIGTERM

    def test_methods_twin_and_sigterm(self):
        regid, key = self.enroll(unique_id("live"))
        dev = Background(self.command(regid, messages=1,
                                      extra=["--symmetric-key", key, "--run-seconds", "60"]))
        try:
            line = dev.wait_line(r"^%s: assigned to " % re.escape(regid))
            hub = line.split()[3]
            dev.wait_line(r"sent 1 message|sent \{")
            svc = self.hub(hub)
            # The reported property, through hubd's REST twin GET.
            t = self.twin(hub, regid)
            self.assertEqual(t["properties"]["reported"]["simulator"],
                             {"name": "dps-device", "version": "0.1.0", "transport": "https"})
            self.assertEqual(t.get("connectionState"), "Connected", t)
            # Direct methods: echo answers with the payload, others 404.
            r = svc.post("/twins/%s/methods" % q(regid),
                         {"methodName": "echo", "payload": {"n": 1, "s": "x"},
                          "responseTimeoutInSeconds": 10, "connectTimeoutInSeconds": 10})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json(), {"status": 200, "payload": {"n": 1, "s": "x"}})
            r = svc.post("/twins/%s/methods" % q(regid),
                         {"methodName": "echo", "responseTimeoutInSeconds": 10})
            self.assertEqual(r.json(), {"status": 200, "payload": {}})
            r = svc.post("/twins/%s/methods" % q(regid),
                         {"methodName": "reboot", "responseTimeoutInSeconds": 10})
            self.assertEqual(r.json()["status"], 404, r)
            dev.wait_line(r"method echo answered 200")
            dev.wait_line(r"method reboot answered 404")
            # A desired update reaches the device and is printed.
            r = svc.patch("/twins/" + q(regid), {"properties": {"desired": {"rate": 5}}})
            self.assertEqual(r.status, 200, r)
            dev.wait_line(r'desired properties version \d+: \{.*"rate":5')
            # SIGTERM ends the session at once, cleanly.
            t0 = time.monotonic()
            rc = dev.stop(signal.SIGTERM)
            self.assertEqual(rc, 0, dev.output())
            self.assertLess(time.monotonic() - t0, 5)
            self.assertIn("%s: sent 1 message; disconnected" % regid, dev.output())
            self.assertIsNone(sanitizer_report(dev.output()), dev.output())
        finally:
            if dev.proc.poll() is None:
                dev.kill()
        # The hub saw it leave.
        deadline = time.monotonic() + 10
        while self.twin(hub, regid).get("connectionState") != "Disconnected":
            self.assertLess(time.monotonic(), deadline, "still Connected after SIGTERM")
            time.sleep(0.1)

    def test_sigterm_while_registering_ends_at_once(self):
        # A device polling for its assignment waits retry-after seconds;
        # SIGTERM ends that wait without waiting out the deadline.
        regid, key = self.enroll(unique_id("term"))
        dev = Background(self.command(regid, messages=0,
                                      extra=["--symmetric-key", key, "--run-seconds", "60"]))
        try:
            time.sleep(0.3)  # register sent; the first poll is a second away
            t0 = time.monotonic()
            rc = dev.stop(signal.SIGTERM)
            self.assertLess(time.monotonic() - t0, 3, dev.output())
            # Not registered (cancelled), so exit 1 - but at once and cleanly.
            self.assertEqual(rc, 1, dev.output())
            self.assertIn("%s: not registered: E_CANCELLED" % regid, dev.output())
        finally:
            if dev.proc.poll() is None:
                dev.kill()

    # ---- clear failures

    def test_wrong_individual_key_is_401002(self):
        regid, _ = self.enroll(unique_id("badkey"))
        r = self.run_device(regid, expect_rc=1, extra=["--symmetric-key", random_key()])
        self.assertIn("%s: not registered: refused, error 401002: " % regid, r.stdout)
        self.assertIn("401, error 401002", r.stderr)
        r = self.run_device(regid, expect_rc=1,
                            extra=["--symmetric-key", random_key(), "--output", "json"])
        j = json.loads(r.stdout.splitlines()[0])
        self.assertEqual((j["status"], j["errorCode"], j["result"]),
                         ("error", 401002, "E_UNAUTHORIZED"), j)
        self.assertTrue(j["errorMessage"], j)
        if self.dps_mqtt_port is not None:
            # Over MQTT the SAS is the CONNECT password: refused by CONNACK
            # (return code 5), which carries no DPS error code.
            r = self.run_device(regid, "mqtt", expect_rc=1,
                                extra=["--symmetric-key", random_key(), "--output", "json"])
            j = json.loads(r.stdout.splitlines()[0])
            self.assertEqual((j["status"], j["result"]), ("error", "E_UNAUTHORIZED"), j)
            self.assertIn("CONNACK", j["errorMessage"])
        # Nothing was written for it.
        self.assertEqual(self.svc.get("/registrations/" + q(regid)).status, 404)

    def test_unknown_device_is_404201(self):
        _, gkey = self.group()
        wrong = base64.b64encode(b"\x01" * 64).decode()
        r = self.run_device(unique_id("nobody"), expect_rc=1, extra=["--group-key", wrong])
        self.assertRegex(r.stdout, r"not registered: refused, error 404201")

    def test_wrong_ca_is_a_tls_error(self):
        regid, key = self.enroll(unique_id("ca"))
        # hubd's CA does not vouch for dpsd.
        r = self.run_device(regid, ca_file=self.hubd.ca_file, expect_rc=1,
                            extra=["--symmetric-key", key])
        self.assertIn("%s: not registered: E_TLS" % regid, r.stdout)
        self.assertRegex(r.stderr, r"certificate verify failed|not accepted")
        self.assertEqual(self.svc.get("/registrations/" + q(regid)).status, 404)
        # dpsd's CA does not vouch for hubd: registered, but no hub session.
        r = self.run_device(regid, hub_ca_file=self.dpsd.ca_file, expect_rc=1,
                            extra=["--symmetric-key", key])
        hub, _ = self.assigned(r.stdout, regid)
        self.assertIn("%s: hub session ended: E_TLS" % regid, r.stdout)
        self.assertRegex(r.stderr, r"server certificate for %s not accepted" % re.escape(hub))

    def test_usage_errors(self):
        base = [binary("dps-device"), "register", "--id-scope", self.dpsd.id_scope,
                "--registration-id", "u-1"]
        for extra in ([],                                                    # no key
                      ["--symmetric-key", random_key(), "--group-key", random_key()],
                      ["--symmetric-key", random_key(), "--count", "3"],   # needs a group
                      ["--symmetric-key", random_key(), "--transport", "amqp"],
                      ["--symmetric-key", random_key(), "--messages", "-1"]):
            with self.subTest(extra=extra):
                r = subprocess.run(base + extra, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, timeout=RUN_TIMEOUT)
                self.assertEqual(r.returncode, 2, (r.stdout, r.stderr))
                self.assertTrue(r.stderr.strip(), "a usage error says why")

    def test_derive_key_matches_the_service(self):
        gkey = random_key(64)
        r = subprocess.run([binary("dps-device"), "derive-key", "--group-key", gkey,
                            "--registration-id", "Sensor-0001"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=RUN_TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), derive_device_key(gkey, "Sensor-0001"))


if __name__ == "__main__":
    unittest.main()
