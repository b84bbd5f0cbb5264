"""TPM attestation, dpsd's half, against a real software TPM: swtpm plays the
device's TPM and tpm2-tools drives it exactly as tpm.md §7 and §12 describe
(no opendps code on the device side), so dpsd's activation blob is judged by
a TPM and not by our own reading of the specification.

Journey: EK and SRK made with the standard templates, the registration ID
derived from the EK (tpm.md §3.4), an individual TPM enrollment, the first
PUT answered with the 401 challenge, ActivateCredential + Import + Load +
EvictControl to 0x81000100, the second PUT signed by TPM2_HMAC, polls until
assigned, the second blob imported over the first, a hub token signed
inside the TPM opening the hub, telemetry. Then the refusals: replayed
challenge, unknown registration, another EK, a SAS made with a key no
challenge handed out.

swtpm (packages swtpm, swtpm-tools) and tpm2-tools are installed by
scripts/setup.sh; a missing one fails the test rather than skipping it."""

import base64
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest
import urllib.parse

from dpsd_harness import Dpsd, binary, make_ek, tpm_registration_id, unique_id
from hubd_harness import Hubd
from mqtt_client import hub_username

HUB = "hub1.opendps.local"
API = "2021-06-01"
POLL_DEADLINE = 30
TOOL_TIMEOUT = 30


def q(s):
    return urllib.parse.quote(s, safe="")


def free_port_pair():
    for _ in range(50):
        a, b = socket.socket(), socket.socket()
        try:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            b.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
        finally:
            a.close()
            b.close()
    raise AssertionError("no free loopback port pair for swtpm")


class SwTpm:
    """One swtpm with a fresh state directory, driven with tpm2-tools."""

    EK = "0x81010001"
    SRK = "0x81000001"
    IDENTITY = "0x81000100"

    def __init__(self):
        for tool in ("swtpm", "tpm2_createek", "tpm2_import", "tpm2_hmac"):
            if shutil.which(tool) is None:
                raise AssertionError("%s is not installed: run scripts/setup.sh "
                                     "(packages swtpm swtpm-tools tpm2-tools)" % tool)
        self.dir = tempfile.mkdtemp(prefix="dps-swtpm-")
        self.proc = None
        for _ in range(3):
            port = free_port_pair()
            self.proc = subprocess.Popen(
                ["swtpm", "socket", "--tpm2", "--tpmstate", "dir=" + self.dir,
                 "--server", "type=tcp,port=%d,bindaddr=127.0.0.1" % port,
                 "--ctrl", "type=tcp,port=%d,bindaddr=127.0.0.1" % (port + 1),
                 "--flags", "not-need-init,startup-clear"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if self._wait_port(port):
                self.env = dict(os.environ, TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=%d" % port)
                return
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.stop()
        raise AssertionError("swtpm did not start")

    def _wait_port(self, port):
        end = time.monotonic() + 5
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def tool(self, *args, check=True):
        r = subprocess.run(list(args), env=self.env, cwd=self.dir, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=TOOL_TIMEOUT)
        # No resource manager in front of swtpm: flush what the tool left.
        for kind in ("-t", "-s"):
            subprocess.run(["tpm2_flushcontext", kind], env=self.env, cwd=self.dir,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=TOOL_TIMEOUT)
        if check and r.returncode != 0:
            raise AssertionError("%s failed (%d): %s" % (" ".join(args), r.returncode,
                                                         r.stderr.decode(errors="replace")))
        return r

    def read(self, name):
        with open(self.path(name), "rb") as f:
            return f.read()

    def write(self, name, data):
        with open(self.path(name), "wb") as f:
            f.write(data)

    def make_keys(self):
        """EK and SRK with the standard templates (tpm.md §3.1, §12);
        returns their TPM2B_PUBLIC in base64."""
        self.tool("tpm2_createek", "-c", self.EK, "-G", "rsa", "-u", "ek.pub")
        self.tool("tpm2_createprimary", "-C", "o", "-g", "sha256", "-G", "rsa2048:null:aes128cfb",
                  "-a", "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted"
                        "|decrypt", "-c", "srk.ctx")
        self.tool("tpm2_evictcontrol", "-C", "o", "-c", "srk.ctx", self.SRK)
        self.tool("tpm2_readpublic", "-c", self.EK, "-o", "ek.pub")
        self.tool("tpm2_readpublic", "-c", self.SRK, "-o", "srk.pub")
        ek, srk = self.read("ek.pub"), self.read("srk.pub")
        assert len(ek) == 316 and len(srk) == 284, (len(ek), len(srk))
        return base64.b64encode(ek).decode(), base64.b64encode(srk).decode()

    @staticmethod
    def split(blob):
        """The six TPM2B elements of the blob, each with its size prefix."""
        out, o = [], 0
        for _ in range(6):
            (n,) = struct.unpack(">H", blob[o:o + 2])
            out.append(blob[o:o + 2 + n])
            o += 2 + n
        assert o == len(blob), "bytes after element 6"
        return out

    def activate(self, blob_b64):
        """tpm.md §7: ActivateCredential, Import, Load, EvictControl."""
        e = self.split(base64.b64decode(blob_b64))
        # tpm2-tools' credential file: magic, version, element 1, element 2.
        self.write("cred.bin", struct.pack(">II", 0xBADCC0DE, 1) + e[0] + e[1])
        self.write("dup.priv", e[2])
        self.write("seed.bin", e[3])
        self.write("id.pub", e[4])
        # The EK's policy: PolicySecret(endorsement) in a policy session.
        # tpm2-tools run one command per process, so the session lives in
        # a context file between them (flushed afterwards, not by tool()).
        subprocess.run(["tpm2_startauthsession", "--policy-session", "-S", "session.ctx"],
                       env=self.env, cwd=self.dir, check=True, timeout=TOOL_TIMEOUT,
                       stdout=subprocess.DEVNULL)
        subprocess.run(["tpm2_policysecret", "-S", "session.ctx", "-c", "e"], env=self.env,
                       cwd=self.dir, check=True, timeout=TOOL_TIMEOUT, stdout=subprocess.DEVNULL)
        self.tool("tpm2_activatecredential", "-c", self.SRK, "-C", self.EK, "-i", "cred.bin",
                  "-o", "inner.key", "-P", "session:session.ctx")
        assert len(self.read("inner.key")) == 16
        self.tool("tpm2_import", "-C", self.SRK, "-u", "id.pub", "-i", "dup.priv", "-s",
                  "seed.bin", "-k", "inner.key", "-r", "id.priv")
        # An earlier key at the handle goes first (errors ignored: none yet).
        self.tool("tpm2_evictcontrol", "-C", "o", "-c", self.IDENTITY, check=False)
        self.tool("tpm2_load", "-C", self.SRK, "-u", "id.pub", "-r", "id.priv", "-c", "id.ctx")
        self.tool("tpm2_evictcontrol", "-C", "o", "-c", "id.ctx", self.IDENTITY)
        return e

    def hmac(self, data):
        """TPM2_HMAC(0x81000100, data, SHA-256): the key never leaves the TPM."""
        self.write("msg.bin", data)
        self.tool("tpm2_hmac", "-c", self.IDENTITY, "-g", "sha256", "-o", "mac.bin", "msg.bin")
        return self.read("mac.bin")

    def sas(self, resource, lower_escapes=True, skn="registration", ttl=3600):
        """A SAS token signed inside the TPM; the audience encoded as the C
        SDK does (lower-case %2f) or with upper-case escapes."""
        se = int(time.time()) + ttl
        sr = q(resource)
        if lower_escapes:
            sr = sr.replace("%2F", "%2f")
        sig = base64.b64encode(self.hmac(("%s\n%d" % (sr, se)).encode())).decode()
        t = "SharedAccessSignature sr=%s&sig=%s&se=%d" % (sr, q(sig), se)
        return t + ("&skn=" + skn if skn else "")


class DpsdTpmTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.hubd = Hubd.start_new(hubs=[HUB])
        cls.addClassCleanup(cls.hubd.cleanup)
        args = ["--hub-ca-file", cls.hubd.ca_file, "--hub-timeout", "5"]
        if "--mqtt-listen" in subprocess.run([binary("dpsd"), "--help"], stdout=subprocess.PIPE,
                                             text=True, timeout=30).stdout:
            args += ["--mqtt-listen", "127.0.0.1:0"]
        cls.dpsd = Dpsd.start_new(extra_args=args)
        cls.addClassCleanup(cls.dpsd.cleanup)
        cls.svc = cls.dpsd.client()
        r = cls.svc.put("/admin/linkedHubs/" + HUB,
                        {"connectionString": cls.hubd.hub_connection_string(HUB),
                         "registryUrl": cls.hubd.url})
        assert r.status == 200, r

    def setUp(self):
        self.tpm = SwTpm()
        self.addCleanup(self.tpm.stop)
        self.ek, self.srk = self.tpm.make_keys()
        self.regid = tpm_registration_id(self.ek)
        self.http = self.dpsd.client()

    # ---- helpers

    def enroll(self, regid, ek, **extra):
        body = {"registrationId": regid,
                "attestation": {"type": "tpm", "tpm": {"endorsementKey": ek}}}
        body.update(extra)
        r = self.svc.put("/enrollments/" + regid, body)
        self.assertEqual(r.status, 200, r)
        return r.json()

    def path(self, regid, tail):
        return "/%s/registrations/%s%s?api-version=%s" % (q(self.dpsd.id_scope), q(regid), tail,
                                                          API)

    def register(self, regid=None, ek=None, srk=None, token=False, with_tpm=True):
        regid = regid or self.regid
        body = {"registrationId": regid}
        if with_tpm:
            body["tpm"] = {"endorsementKey": ek or self.ek, "storageRootKey": srk or self.srk}
        return self.http.request("PUT", self.path(regid, "/register"), body, token=token,
                                 api_version=False)

    def poll(self, op, token, regid=None):
        return self.http.request("GET", self.path(regid or self.regid, "/operations/" + q(op)),
                                 token=token, api_version=False)

    def assertDpsError(self, r, status, code):
        self.assertEqual(r.status, status, r)
        b = r.json()
        self.assertEqual(b.get("errorCode"), code, b)
        for k in ("trackingId", "message", "timestampUtc"):
            self.assertIn(k, b)
        return b

    def challenge(self):
        r = self.register()
        self.assertEqual(r.status, 401, r)
        self.assertTrue(r.header("content-type", "").startswith("application/json"), r)
        b = r.json()
        # tpm.md §4.2: exactly these three members, no "status".
        self.assertEqual(sorted(b), ["authenticationKey", "keyName", "message"], b)
        self.assertEqual(b["keyName"], "registration")
        return b

    def dps_token(self, **kw):
        return self.tpm.sas("%s/registrations/%s" % (self.dpsd.id_scope, self.regid), **kw)

    def provision(self, token, with_tpm=True):
        r = self.register(token=token, with_tpm=with_tpm)
        self.assertEqual(r.status, 202, r)
        op = r.json()["operationId"]
        end = time.monotonic() + POLL_DEADLINE
        while True:
            time.sleep(0.1)
            p = self.poll(op, token)
            if p.status == 200:
                return op, p.json()
            self.assertEqual(p.status, 202, p)
            self.assertLess(time.monotonic(), end, "still assigning")

    # ---- the journey

    def test_register_with_swtpm_and_send_telemetry(self):
        self.assertEqual(len(self.regid), 52)
        self.enroll(self.regid, self.ek)
        ch = self.challenge()
        e = self.tpm.activate(ch["authenticationKey"])
        self.assertEqual([len(x) for x in e], [54, 258, 144, 258, 50, 9])

        token = self.dps_token()
        op, final = self.provision(token)
        self.assertEqual(final["status"], "assigned", final)
        st = final["registrationState"]
        self.assertEqual(st["assignedHub"], HUB)
        self.assertEqual(st["deviceId"], self.regid)
        blob2 = st["tpm"]["authenticationKey"]
        self.assertNotEqual(blob2, ch["authenticationKey"])

        # The hub device's primary key is the key of the second blob: after
        # importing it, the TPM's HMAC equals one made with the hub's key.
        self.tpm.activate(blob2)
        dev = self.hubd.service(HUB).get("/devices/" + q(self.regid))
        self.assertEqual(dev.status, 200, dev)
        auth = dev.json()["authentication"]
        self.assertEqual(auth["type"], "sas")
        msg = b"opendps tpm check"
        self.assertEqual(self.tpm.hmac(msg),
                         hmac.new(base64.b64decode(auth["symmetricKey"]["primaryKey"]), msg,
                                      hashlib.sha256).digest())

        # A hub token signed inside the TPM opens the hub; telemetry flows.
        password = self.tpm.sas("%s/devices/%s" % (HUB, self.regid), lower_escapes=False,
                                skn=None)
        c = self.hubd.mqtt(HUB)
        try:
            ack = c.connect(self.regid, username=hub_username(HUB, self.regid), password=password)
            self.assertEqual(ack.return_code, 0)
            c.publish("devices/%s/messages/events/" % self.regid,
                      json.dumps({"temperature": 21.5}).encode(), qos=1, packet_id=1)
        finally:
            c.close()

        # The service API never shows the blob; the record has the rest.
        g = self.svc.get("/registrations/" + self.regid)
        self.assertEqual(g.status, 200, g)
        self.assertNotIn("authenticationKey", json.dumps(g.json()))

        # The same register again: a replayed challenge.
        self.assertDpsError(self.register(token=token), 401, 401002)

    def test_second_put_without_tpm_member(self):
        # IoT Edge's identity service resends only the registration ID.
        self.enroll(self.regid, self.ek)
        self.tpm.activate(self.challenge()["authenticationKey"])
        _, final = self.provision(self.dps_token(lower_escapes=False, skn=None), with_tpm=False)
        self.assertEqual(final["status"], "assigned", final)
        self.assertIn("authenticationKey", final["registrationState"]["tpm"])

    def test_refusals(self):
        # Unknown registration ID: 404 in the DPS error shape.
        self.assertDpsError(self.register(regid=unique_id("nobody")), 404, 404201)
        self.enroll(self.regid, self.ek)
        # Another EK than the enrolled one: 401, no challenge.
        b = self.assertDpsError(self.register(ek=make_ek()), 401, 401002)
        self.assertNotIn("authenticationKey", b)
        # A SAS made with a key no challenge handed out: the right token is
        # kept aside, then the TPM signs with a fresh HMAC key of its own.
        self.tpm.activate(self.challenge()["authenticationKey"])
        token = self.dps_token()
        self.tpm.tool("tpm2_evictcontrol", "-C", "o", "-c", SwTpm.IDENTITY, check=False)
        self.tpm.tool("tpm2_create", "-C", SwTpm.SRK, "-G", "hmac", "-u", "x.pub", "-r",
                      "x.priv")
        self.tpm.tool("tpm2_load", "-C", SwTpm.SRK, "-u", "x.pub", "-r", "x.priv", "-c",
                      "x.ctx")
        self.tpm.tool("tpm2_evictcontrol", "-C", "o", "-c", "x.ctx", SwTpm.IDENTITY)
        bad = self.assertDpsError(self.register(token=self.dps_token()), 401, 401002)
        self.assertIn("not signed with the key", bad["message"])
        # The right token still works after a failed attempt.
        r = self.register(token=token)
        self.assertEqual(r.status, 202, r)


if __name__ == "__main__":
    unittest.main()
