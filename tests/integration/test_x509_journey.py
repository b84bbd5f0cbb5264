"""The X.509 journey of issue 5, with opendps's own tools only: `dps-device
x509 make-ca|issue` builds the PKI (roots, an intermediate, device and
proof-of-possession certificates), `dpsctl certificate` uploads a CA and
verifies it by proof of possession, `dpsctl enrollment-group create` enrolls
a group from a root, one from an intermediate (signing certificates) and one
by CA reference, `dpsctl enrollment create` an individual X.509 device, and
`dps-device register --x509-cert/--x509-ca-cert` runs simulated devices over
HTTPS and MQTT. Checked: each device lands in the right group and on its
hashed hub, hubd holds it with selfSigned thumbprints of its certificate and
shows it connected while its session lasts, telemetry arrives, and the
refusals (expired and not-yet-valid leaf, unrelated root, CN different from
the registration ID, missing intermediate, unverified CA, a disabled
individual enrollment inside an enabled group) reach the device as its exit
message. The real dpsd, hubd, dpsctl and dps-device run over TLS on
loopback (dpsd_harness.py, hubd_harness.py).
"""

import hashlib
import json
import math
import os
import re
import shutil
import signal
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse

from dpsd_harness import binary, run_dpsctl, sanitizer_report, unique_id
from journey_harness import HubsAndDpsd

HUB1, HUB2 = "hub1.opendps.local", "hub2.opendps.local"
WEIGHTS = {HUB1: 1, HUB2: 1}
RUN_TIMEOUT = 60
ASSIGNED_RE = re.compile(r"^(\S+): assigned to (\S+) as device (\S+)", re.M)
REFUSED_RE = re.compile(r"^(\S+): not registered: (\w+), error (\d+): (.*)$", re.M)


def q(s):
    return urllib.parse.quote(s, safe="")


def rendezvous_pick(regid, hubs):
    """service-api.md §12.3: weighted rendezvous hashing."""
    best, best_score = None, None
    for name, weight in hubs.items():
        d = hashlib.sha256(regid.lower().encode() + b"\x00" + name.lower().encode()).digest()
        u = (int.from_bytes(d[:8], "big") + 0.5) / 2.0 ** 64
        score = -weight / math.log(u)
        if best is None or score > best_score:
            best, best_score = name, score
    return best


def thumbprints(cert_path):
    """(SHA-1, SHA-256) of the first certificate of a PEM file, upper-case hex."""
    with open(cert_path) as f:
        text = f.read()
    end = text.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")
    der = ssl.PEM_cert_to_DER_cert(text[text.index("-----BEGIN CERTIFICATE-----"):end] + "\n")
    return hashlib.sha1(der).hexdigest().upper(), hashlib.sha256(der).hexdigest().upper()


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
                    raise AssertionError("no line %r within %ss: %r"
                                         % (pattern, timeout, self.lines))
                self.cond.wait(left)

    def output(self):
        with self.cond:
            return "\n".join(l for l in self.lines if l is not None)

    def stop(self, timeout=10):
        """SIGTERM, then the exit code (bounded waits)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
            raise AssertionError("dps-device did not end within %ss of SIGTERM" % timeout)
        finally:
            with self.cond:
                self.cond.wait_for(lambda: self.lines and self.lines[-1] is None, timeout=5)
            self.proc.stdout.close()


class Pki:
    """Certificates made with `dps-device x509` in a directory of their own."""

    def __init__(self, directory):
        self.dir = directory

    def path(self, name):
        return os.path.join(self.dir, name)

    def run(self, *args):
        r = subprocess.run([binary("dps-device"), "x509"] + list(args), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=RUN_TIMEOUT)
        if r.returncode != 0 or sanitizer_report(r.stderr):
            raise AssertionError("dps-device x509 %s: exit %d\n%s%s"
                                 % (args, r.returncode, r.stdout, r.stderr))
        return r.stdout

    def root(self, name, cn=None):
        self.run("make-ca", "--cn", cn or name, "--out-cert", self.path(name + ".pem"),
                 "--out-key", self.path(name + ".key"))
        return self.path(name + ".pem"), self.path(name + ".key")

    def intermediate(self, name, issuer):
        self.run("make-ca", "--cn", name, "--ca-cert", self.path(issuer + ".pem"),
                 "--ca-key", self.path(issuer + ".key"), "--out-cert", self.path(name + ".pem"),
                 "--out-key", self.path(name + ".key"))
        return self.path(name + ".pem"), self.path(name + ".key")

    def leaf(self, cn, issuer, *extra):
        cert, key = self.path(cn + ".pem"), self.path(cn + ".key")
        self.run("issue", "--ca-cert", self.path(issuer + ".pem"), "--ca-key",
                 self.path(issuer + ".key"), "--cn", cn, "--out-cert", cert, "--out-key", key,
                 "--force", *extra)
        return cert, key


class X509JourneyTest(HubsAndDpsd, unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="x509-journey-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.pki = Pki(cls.tmp)
        cls.start_hubd([HUB1, HUB2])
        cls.start_dpsd(hub_timeout=5)
        if cls.dps_mqtt_port is None:
            raise AssertionError("dpsd printed no mqtts line: %r" % cls.dpsd.lines)
        cls.link_hubs(WEIGHTS)

    # ---- tools

    def dpsctl(self, *args, expect_rc=0, output=None):
        r = run_dpsctl(list(args), login=self.dpsd.connection_string, cafile=self.dpsd.ca_file,
                       output=output)
        self.assertIsNone(sanitizer_report(r.stderr), r.stderr)
        if expect_rc is not None:
            self.assertEqual(r.returncode, expect_rc, "dpsctl %s: exit %d\nstdout:\n%s\n"
                             "stderr:\n%s" % (args, r.returncode, r.stdout, r.stderr))
        return r

    def dpsctl_json(self, *args):
        return json.loads(self.dpsctl(*args).stdout)

    def device_command(self, transport, cert_args, regid=None, messages=1, extra=()):
        port = self.dps_mqtt_port if transport == "mqtt" else self.dpsd.port
        cmd = [binary("dps-device"), "register", "--transport", transport,
               "--provisioning-host", "localhost:%d" % port, "--connect-address", "127.0.0.1",
               "--id-scope", self.dpsd.id_scope, "--ca-file", self.dpsd.ca_file,
               "--hub-gateway", "127.0.0.1:%d" % self.hubd.mqtt_port,
               "--hub-ca-file", self.hubd.ca_file, "--messages", str(messages),
               "--interval-ms", "20", "--timeout", "30"] + list(cert_args)
        if regid is not None:
            cmd += ["--registration-id", regid]
        return cmd + list(extra)

    def run_device(self, transport, cert_args, regid=None, expect_rc=0, **kw):
        cmd = self.device_command(transport, cert_args, regid, **kw)
        try:
            r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired as e:
            self.fail("dps-device did not finish within %ss: %s" % (RUN_TIMEOUT, e))
        self.assertIsNone(sanitizer_report(r.stderr), r.stderr)
        if expect_rc is not None:
            self.assertEqual(r.returncode, expect_rc, "dps-device exit %d\nstdout:\n%s\n"
                             "stderr:\n%s" % (r.returncode, r.stdout, r.stderr))
        return r

    def device_json(self, stdout, regid):
        """The --output json line of regid."""
        for line in stdout.splitlines():
            if line.startswith("{"):
                o = json.loads(line)
                if o.get("registrationId") == regid:
                    return o
        self.fail("no JSON result for %s in:\n%s" % (regid, stdout))

    def hub_device(self, hub, device_id):
        r = self.hubd.service(hub).get("/devices/" + q(device_id))
        self.assertEqual(r.status, 200, r)
        return r.json()

    def check_in_hub(self, regid, cert_path):
        """The device is on its hashed hub (only there), authenticated by the
        thumbprints of its certificate (hub.md §9.2)."""
        hub = rendezvous_pick(regid, WEIGHTS)
        other = HUB2 if hub == HUB1 else HUB1
        dev = self.hub_device(hub, regid)
        self.assertEqual(self.hubd.service(other).get("/devices/" + q(regid)).status, 404)
        auth = dev["authentication"]
        self.assertEqual(auth["type"], "selfSigned", dev)
        sha1, sha256 = thumbprints(cert_path)
        primary = auth["x509Thumbprint"]["primaryThumbprint"].upper()
        self.assertIn(primary, (sha1, sha256), dev)
        return hub, dev

    def group(self, *args):
        gid = unique_id("x509grp")
        self.dpsctl("enrollment-group", "create", "--group-id", gid, *args)
        return gid

    def expect_refused(self, r, regid, transport="https", code="401002"):
        """The device's exit message for a refusal: exit 1 and, over HTTPS,
        '<id>: not registered: refused, error <code>: <message>' (the
        message is returned); over MQTT dpsd refuses in CONNACK (code 5,
        device-api.md §6.1), which carries no message."""
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertNotIn("assigned to", r.stdout)
        if transport == "mqtt":
            self.assertIn("%s: not registered: refused: the server refused the credentials "
                          "(MQTT CONNACK)" % regid, r.stdout, r.stderr)
            self.assertIn("CONNACK refused the connection, code 5", r.stderr)
            return None
        m = [x for x in REFUSED_RE.finditer(r.stdout) if x.group(1) == regid]
        self.assertTrue(m, "no refusal line for %s:\n%s\n%s" % (regid, r.stdout, r.stderr))
        self.assertEqual(m[0].group(3), code, r.stdout)
        self.assertNotIn("assigned to", r.stdout)
        return m[0].group(4)

    # ---- the journey

    def test_1_groups_from_root_and_intermediate_over_https_and_mqtt(self):
        pki = self.pki
        pki.root("rootA", "Journey Root A")
        pki.root("rootB", "Journey Root B")
        pki.intermediate("interB", "rootB")
        pki.intermediate("interA", "rootA")           # not enrolled: the root's group covers it
        g_root = self.group("--certificate-path", pki.path("rootA.pem"))
        g_inter = self.group("--certificate-path", pki.path("interB.pem"))
        shown = self.dpsctl_json("enrollment-group", "show", "--group-id", g_inter)
        self.assertEqual(shown["attestation"]["type"], "x509", shown)
        self.assertIn("signingCertificates", shown["attestation"]["x509"], shown)

        cases = [
            # (transport, CN, issuer, chain file, expected group)
            ("https", unique_id("rootdev"), "rootA", None, g_root),
            ("mqtt", unique_id("rootdev"), "rootA", None, g_root),
            ("https", unique_id("deepdev"), "interA", "interA.pem", g_root),
            ("https", unique_id("interdev"), "interB", None, g_inter),
            ("mqtt", unique_id("interdev"), "interB", None, g_inter),
        ]
        for transport, cn, issuer, chain, gid in cases:
            with self.subTest(transport=transport, cn=cn, group=gid):
                cert, key = pki.leaf(cn, issuer)
                args = ["--x509-cert", cert, "--x509-key", key, "--output", "json"]
                if chain:
                    args += ["--x509-chain", pki.path(chain)]
                r = self.run_device(transport, args)           # the CN is the registration ID
                o = self.device_json(r.stdout, cn)
                self.assertEqual(o["status"], "assigned", o)
                self.assertEqual(o["deviceId"], cn, o)
                self.assertEqual(o.get("enrollmentGroupId"), gid, o)
                hub, _ = self.check_in_hub(cn, cert)
                self.assertEqual(o["assignedHub"], hub, o)
                self.assertIn("%s: connected to %s" % (cn, hub), r.stdout)
                self.assertIn("%s: sent 1 message; disconnected" % cn, r.stdout)
                # the service's record says which group
                rec = self.svc.get("/registrations/" + q(cn))
                self.assertEqual(rec.status, 200, rec)

    def test_2_fleet_issued_on_the_fly_and_connected(self):
        pki = self.pki
        pki.root("rootF", "Journey Fleet Root")
        pki.intermediate("interF", "rootF")
        gid = self.group("--certificate-path", pki.path("interF.pem"))
        prefix = unique_id("fleet")
        # three devices, each with a fresh certificate CN=<prefix>-000N under interF
        r = self.run_device("https", ["--x509-ca-cert", pki.path("interF.pem"),
                                      "--x509-ca-key", pki.path("interF.key"),
                                      "--count", "3", "--parallel", "3"], regid=prefix)
        self.assertIn("summary: 3 of 3 devices assigned", r.stdout)
        for i in range(1, 4):
            regid = "%s-%04d" % (prefix, i)
            hub = rendezvous_pick(regid, WEIGHTS)
            dev = self.hub_device(hub, regid)
            self.assertEqual(dev["authentication"]["type"], "selfSigned", dev)

        # a device that stays: hubd shows it connected, then disconnected
        cn = unique_id("live")
        cert, key = pki.leaf(cn, "interF")
        for transport in ("mqtt", "https"):
            with self.subTest(transport=transport):
                bg = Background(self.device_command(transport, ["--x509-cert", cert,
                                                                "--x509-key", key],
                                                    messages=0, extra=["--run-seconds", "20"]))
                try:
                    line = bg.wait_line(r"^%s: connected to " % re.escape(cn), timeout=40)
                    hub = line.split()[3]
                    self.assertEqual(hub, rendezvous_pick(cn, WEIGHTS))
                    dev = self.hub_device(hub, cn)
                    self.assertEqual(dev["connectionState"], "Connected", dev)
                    self.assertEqual(dev["authentication"]["type"], "selfSigned", dev)
                    self.assertIn("X.509 certificate CN=%s" % cn, bg.output())
                    self.assertIn("(%s)" % "initialAssignment", bg.output())
                finally:
                    self.assertEqual(bg.stop(), 0, bg.output())
                deadline = time.monotonic() + 10
                while self.hub_device(hub, cn)["connectionState"] != "Disconnected":
                    self.assertLess(time.monotonic(), deadline, "still connected")
                    time.sleep(0.2)

    def test_3_ca_proof_of_possession_and_group_by_reference(self):
        pki = self.pki
        pki.root("rootC", "Journey Fleet CA")
        name = unique_id("fleet-ca")
        made = self.dpsctl_json("certificate", "create", "--name", name,
                                "--path", pki.path("rootC.pem"))
        self.assertEqual(made["name"], name, made)
        self.assertFalse(made["properties"]["isVerified"], made)
        sha1, _ = thumbprints(pki.path("rootC.pem"))
        self.assertEqual(made["properties"]["thumbprint"], sha1, made)

        # a group naming an unverified CA is refused at PUT [project]
        r = self.dpsctl("enrollment-group", "create", "--group-id", unique_id("x509grp"),
                        "--ca-name", name, expect_rc=1)
        self.assertIn("400", r.stderr)

        # proof of possession: code -> certificate with CN = code signed by the CA -> verify
        out = self.dpsctl("certificate", "generate-verification-code", "--name", name,
                          output="tsv").stdout.strip().split("\t")
        code, etag = out[0], out[1]
        self.assertRegex(code, r"^[0-9A-F]{40}$")
        # a certificate signed by another key with the right CN is refused
        pki.root("impostor", "Journey Fleet CA")
        pki.leaf(code, "impostor")
        r = self.dpsctl("certificate", "verify", "--name", name, "--path",
                        pki.path(code + ".pem"), "--etag", etag, expect_rc=1)
        self.assertIn("400", r.stderr)
        pki.leaf(code, "rootC", "--days", "1")
        verified = self.dpsctl_json("certificate", "verify", "--name", name,
                                    "--path", pki.path(code + ".pem"))   # ETag read first
        self.assertTrue(verified["properties"]["isVerified"], verified)
        listed = self.dpsctl_json("certificate", "list")
        self.assertIn(name, [c["name"] for c in listed])
        shown = self.dpsctl_json("certificate", "show", "--name", name)
        self.assertTrue(shown["properties"]["isVerified"], shown)

        gid = self.group("--ca-name", name)
        shown = self.dpsctl_json("enrollment-group", "show", "--group-id", gid)
        self.assertEqual(shown["attestation"]["x509"]["caReferences"]["primary"], name, shown)
        for transport in ("https", "mqtt"):
            with self.subTest(transport=transport):
                cn = unique_id("cadev")
                cert, key = pki.leaf(cn, "rootC")
                r = self.run_device(transport, ["--x509-cert", cert, "--x509-key", key,
                                                "--output", "json"])
                o = self.device_json(r.stdout, cn)
                self.assertEqual(o.get("enrollmentGroupId"), gid, o)
                self.check_in_hub(cn, cert)

        # a CA that a group names is not deleted without --force
        r = self.dpsctl("certificate", "delete", "--name", name, expect_rc=1)
        self.assertIn("409", r.stderr)
        self.dpsctl("enrollment-group", "delete", "--group-id", gid)
        self.dpsctl("certificate", "delete", "--name", name)
        r = self.dpsctl("certificate", "show", "--name", name, expect_rc=1)
        self.assertIn("404", r.stderr)

    def test_4_individual_enrollment_and_refusals(self):
        pki = self.pki
        pki.root("rootN", "Journey Negative Root")
        pki.intermediate("interN", "rootN")
        pki.root("unrelated", "Journey Unrelated Root")
        gid = self.group("--certificate-path", pki.path("rootN.pem"))

        # an individual enrollment by its leaf certificate
        cn = unique_id("solo")
        cert, key = pki.leaf(cn, "unrelated")
        self.dpsctl("enrollment", "create", "--enrollment-id", cn, "--attestation-type", "x509",
                    "--certificate-path", cert)
        r = self.run_device("https", ["--x509-cert", cert, "--x509-key", key])
        self.assertRegex(r.stdout, r"(?m)^%s: assigned to " % re.escape(cn))
        self.check_in_hub(cn, cert)

        # (case, CN, certificate files, registration ID given, words of the HTTPS message)
        cases = []
        cn = unique_id("expired")
        cases.append(("expired leaf", cn, pki.leaf(cn, "rootN", "--offset-days", "-10",
                                                   "--days", "5"), None, "expired"))
        cn = unique_id("future")
        cases.append(("not yet valid leaf", cn, pki.leaf(cn, "rootN", "--offset-days", "5"),
                      None, "not yet valid"))
        cn = unique_id("stranger")
        cases.append(("unrelated root", cn, pki.leaf(cn, "unrelated"), None, "enrollment"))
        cn = unique_id("named")
        cases.append(("CN differs from the registration ID", cn, pki.leaf(cn, "rootN"),
                      unique_id("other"), "is not the registration ID"))
        cn = unique_id("nochain")
        cases.append(("missing intermediate", cn, pki.leaf(cn, "interN"), None, "certificate"))
        for what, cn, (cert, key), regid, words in cases:
            for transport in ("https", "mqtt"):
                with self.subTest(case=what, transport=transport):
                    args = ["--x509-cert", cert, "--x509-key", key]
                    r = self.run_device(transport, args, regid=regid, expect_rc=None)
                    message = self.expect_refused(r, regid or cn, transport)
                    if transport == "https":
                        self.assertIn(words.lower(), message.lower(), r.stdout)
                    if what.endswith("leaf"):
                        self.assertIn("the certificate is %s"
                                      % ("expired" if what.startswith("expired")
                                         else "not valid yet"), r.stderr)

        # with the intermediate sent, the same device is admitted by the root's group
        cn = unique_id("chained")
        cert, key = pki.leaf(cn, "interN")
        r = self.run_device("mqtt", ["--x509-cert", cert, "--x509-key", key, "--x509-chain",
                                     pki.path("interN.pem"), "--output", "json"])
        self.assertEqual(self.device_json(r.stdout, cn).get("enrollmentGroupId"), gid)

        # a disabled individual enrollment shuts out one member of an enabled group
        cn = unique_id("banned")
        cert, key = pki.leaf(cn, "rootN")
        self.dpsctl("enrollment", "create", "--enrollment-id", cn, "--attestation-type", "x509",
                    "--certificate-path", cert, "--provisioning-status", "disabled")
        r = self.run_device("https", ["--x509-cert", cert, "--x509-key", key], expect_rc=1)
        self.assertRegex(r.stdout, r"(?m)^%s: not registered: " % re.escape(cn))
        self.assertNotIn("assigned to", r.stdout)

        # a deleted group admits nobody
        self.dpsctl("enrollment-group", "delete", "--group-id", gid)
        cn = unique_id("orphan")
        cert, key = pki.leaf(cn, "rootN")
        for transport in ("https", "mqtt"):
            with self.subTest(case="deleted group", transport=transport):
                r = self.run_device(transport, ["--x509-cert", cert, "--x509-key", key],
                                    expect_rc=None)
                self.expect_refused(r, cn, transport)

    def test_5_tool_errors(self):
        pki = self.pki
        pki.root("rootE", "Journey Errors Root")
        cert, key = pki.leaf(unique_id("err"), "rootE")
        other_cert, other_key = pki.leaf(unique_id("err2"), "rootE")
        # the key of another certificate: refused before any network traffic
        r = self.run_device("https", ["--x509-cert", cert, "--x509-key", other_key],
                            expect_rc=1)
        self.assertIn("cannot load the X.509 credential", r.stdout)
        self.assertIn("does not belong", r.stderr)
        # credentials exclude each other; --count needs a CA to issue from
        r = self.run_device("https", ["--x509-cert", cert, "--symmetric-key", "AAAA"],
                            expect_rc=2)
        self.assertIn("exactly one of", r.stderr)
        r = self.run_device("https", ["--x509-cert", cert, "--count", "2"], regid="p",
                            expect_rc=2)
        self.assertIn("--count needs", r.stderr)
        # a device certificate cannot issue
        r = subprocess.run([binary("dps-device"), "x509", "issue", "--ca-cert", cert,
                            "--ca-key", key, "--cn", "x", "--out-cert",
                            pki.path("never.pem"), "--out-key", pki.path("never.key")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=RUN_TIMEOUT)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("not a CA certificate", r.stderr)
        self.assertFalse(os.path.exists(pki.path("never.key")))
        # existing files are kept
        r = subprocess.run([binary("dps-device"), "x509", "make-ca", "--cn", "again",
                            "--out-cert", pki.path("rootE.pem"), "--out-key",
                            pki.path("rootE.key")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=RUN_TIMEOUT)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("--force", r.stderr)
        self.assertEqual(os.stat(pki.path("rootE.key")).st_mode & 0o777, 0o600)


if __name__ == "__main__":
    unittest.main()
