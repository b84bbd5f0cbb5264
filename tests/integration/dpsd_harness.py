"""Harness for opendps end-to-end tests: runs the real dpsd and dpsctl.

Python 3 standard library only. Everything is loopback, every wait is bounded.

    from dpsd_harness import Dpsd, ServiceClient

    d = Dpsd.start()                 # fresh temp data dir, 127.0.0.1:0
    c = d.client()                   # HTTPS + SAS from the printed connection string
    r = c.get("/enrollments/x")
    d.stop()                         # SIGTERM, asserts exit 0 and no sanitizer report

Binaries come from $DPS_BIN_DIR (CTest sets it to <build>/bin); without it
the usual build trees of the checkout are tried.
"""

import atexit
import base64
import hashlib
import hmac
import http.client
import json
import os
import queue
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))

START_TIMEOUT = float(os.environ.get("DPS_START_TIMEOUT", "30"))
STOP_TIMEOUT = float(os.environ.get("DPS_STOP_TIMEOUT", "20"))
HTTP_TIMEOUT = float(os.environ.get("DPS_HTTP_TIMEOUT", "15"))
CLI_TIMEOUT = float(os.environ.get("DPS_CLI_TIMEOUT", "30"))

API_VERSION = "2021-10-01"

# Reports a sanitizer (ASan, UBSan, LSan) writes to stderr.
SANITIZER_PATTERNS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
    "SUMMARY: AddressSanitizer",
    "SUMMARY: UndefinedBehaviorSanitizer",
)

_live_processes = set()


def _kill_leftovers():
    for p in list(_live_processes):
        if p.poll() is None:
            try:
                p.kill()
                p.wait(timeout=5)
            except Exception:
                pass


atexit.register(_kill_leftovers)


# --------------------------------------------------------------------------
# binaries


def bin_dir():
    env = os.environ.get("DPS_BIN_DIR")
    if env:
        return env
    for cand in ("build-it/bin", "build/bin", "build-asan/bin", "build-debug/bin"):
        p = os.path.join(REPO, cand)
        if os.path.exists(os.path.join(p, "dpsd")):
            return p
    return os.path.join(REPO, "build", "bin")


def binary(name):
    path = os.path.join(bin_dir(), name)
    if not os.access(path, os.X_OK):
        msg = "%s not built (looked in %s)" % (name, bin_dir())
        if os.environ.get("DPS_BIN_DIR"):
            # Run by CTest: a missing binary is a failure, not a skip.
            raise RuntimeError(msg)
        raise unittest.SkipTest(msg + "; set DPS_BIN_DIR")
    return path


def sanitizer_report(text):
    """First sanitizer line found in text, or None."""
    for line in text.splitlines():
        for pat in SANITIZER_PATTERNS:
            if pat in line:
                return line
    return None


# --------------------------------------------------------------------------
# SAS tokens


def parse_connection_string(cs):
    out = {}
    for part in cs.strip().split(";"):
        if not part:
            continue
        k, _, v = part.partition("=")
        out[k.strip()] = v.strip()
    return out


def sas_signature(key_b64, sr, se):
    """base64(HMAC-SHA256(b64decode(key), sr + "\\n" + se))"""
    mac = hmac.new(base64.b64decode(key_b64), ("%s\n%s" % (sr, se)).encode(),
                   hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def make_sas(key_b64, sr, policy, ttl=3600, se=None, encode_sr=False):
    """A service token as the SDKs build it. encode_sr=True signs and sends
    the URL-encoded resource as the CLI does (quote_plus)."""
    if se is None:
        se = int(time.time()) + ttl
    sr_wire = urllib.parse.quote_plus(sr) if encode_sr else sr
    sig = sas_signature(key_b64, sr_wire, se)
    return "SharedAccessSignature sr=%s&sig=%s&se=%s&skn=%s" % (
        sr_wire, urllib.parse.quote(sig, safe=""), se, policy)


def derive_device_key(group_key_b64, registration_id):
    """DPS group key derivation: base64(HMAC-SHA256(b64decode(gk), regId))."""
    mac = hmac.new(base64.b64decode(group_key_b64), registration_id.encode(),
                   hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


# --------------------------------------------------------------------------
# HTTPS client


class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers          # dict, lower-case names
        self.body = body                # bytes

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except Exception as e:
            raise AssertionError("response body is not JSON (%s): %r" % (e, self.body[:500]))

    def __repr__(self):
        return "<Response %d %r %s>" % (self.status, self.body[:800], self.headers)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to 127.0.0.1:port but verifies the certificate as `tls_name`
    and sends Host: tls_name:port, as a client using the connection string's
    HostName=localhost:PORT would."""

    def __init__(self, ip, port, tls_name, context, timeout):
        super().__init__(tls_name, port, context=context, timeout=timeout)
        self._ip = ip
        self._tls_name = tls_name
        self._ctx = context

    def connect(self):
        sock = socket.create_connection((self._ip, self.port), self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self._ctx.wrap_socket(sock, server_hostname=self._tls_name)


def tls_context(ca_file):
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file)
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


class ServiceClient:
    """HTTPS client that signs every request with a SAS token built from a
    connection string (a fresh token per request, as Node does)."""

    def __init__(self, port, ca_file, connection_string=None, ip="127.0.0.1",
                 tls_name="localhost", api_version=API_VERSION):
        self.port = port
        self.ip = ip
        self.tls_name = tls_name
        self.ca_file = ca_file
        self.ctx = tls_context(ca_file)
        self.api_version = api_version
        self.cs = parse_connection_string(connection_string) if connection_string else None

    def with_connection_string(self, cs):
        return ServiceClient(self.port, self.ca_file, cs, self.ip, self.tls_name,
                             self.api_version)

    def token(self, **kw):
        if not self.cs:
            return None
        return make_sas(self.cs["SharedAccessKey"], self.cs["HostName"],
                        self.cs["SharedAccessKeyName"], **kw)

    def connection(self, timeout=HTTP_TIMEOUT):
        return _PinnedHTTPSConnection(self.ip, self.port, self.tls_name, self.ctx, timeout)

    def url(self, path, api_version=True):
        if api_version and self.api_version:
            sep = "&" if "?" in path else "?"
            path = "%s%sapi-version=%s" % (path, sep, self.api_version)
        return path

    def request(self, method, path, body=None, headers=None, token=True,
                api_version=True, timeout=HTTP_TIMEOUT, raw_body=None):
        """body: a JSON-able object (serialised) or None; raw_body: bytes
        sent verbatim. token: True = sign, False = no Authorization header,
        a string = that Authorization value."""
        h = {"Accept": "application/json"}
        data = None
        if raw_body is not None:
            data = raw_body
            h["Content-Type"] = "application/json; charset=utf-8"
        elif body is not None:
            data = json.dumps(body).encode("utf-8")
            h["Content-Type"] = "application/json; charset=utf-8"
        if token is True:
            t = self.token()
            if t:
                h["Authorization"] = t
        elif isinstance(token, str):
            h["Authorization"] = token
        if headers:
            h.update(headers)
        if data is None and method in ("POST", "PUT", "PATCH"):
            h.setdefault("Content-Length", "0")
        conn = self.connection(timeout)
        try:
            conn.request(method, self.url(path, api_version), body=data, headers=h)
            r = conn.getresponse()
            payload = r.read()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
            return Response(r.status, r.reason, hdrs, payload)
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, body, **kw)


# --------------------------------------------------------------------------
# the daemon


class DpsdStartError(AssertionError):
    pass


class Dpsd:
    """One dpsd process in a data directory it owns (or was given).

    Subclasses for other daemons (hubd_harness.Hubd) override NAME,
    START_ERROR, command() and _parse_lines(); start() is shared."""

    NAME = "dpsd"
    START_ERROR = DpsdStartError
    STARTUP_KEYS = {
        "data directory": "data_dir",
        "store": "store",
        "id scope": "id_scope",
        "https": "https",
        "mqtts": "mqtts",
        "service host": "service_host",
        "ca certificate": "ca_file",
        "service connection string": "connection_string",
    }

    def __init__(self, data_dir=None, extra_args=None, keep_data=False):
        self.own_data = data_dir is None
        self.tmp = tempfile.mkdtemp(prefix="dpsd-it-")
        self.data_dir = data_dir or os.path.join(self.tmp, "data")
        self.extra_args = list(extra_args or [])
        self.keep_data = keep_data
        self.proc = None
        self.lines = []
        self.info = {}
        self.stderr_path = None
        self._stdout_q = None
        self.generation = 0

    # ---- life cycle

    @classmethod
    def start_new(cls, extra_args=None, data_dir=None):
        d = cls(data_dir=data_dir, extra_args=extra_args)
        try:
            d.start()
        except BaseException:
            d.cleanup()
            raise
        return d

    # alias
    start_fresh = start_new

    def command(self):
        """The daemon's command line for the current settings."""
        # MQTT on a free port too: the default 127.0.0.1:8883 would make
        # two daemons (or a running hubd) collide.
        args = [binary("dpsd"), "--data-dir", self.data_dir, "--listen", "127.0.0.1:0",
                "--mqtt-listen", "127.0.0.1:0"]
        return args + self.extra_args

    def start(self, timeout=START_TIMEOUT):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        os.makedirs(self.data_dir, exist_ok=True)
        self.generation += 1
        self.stderr_path = os.path.join(self.tmp, "%s.%d.stderr" % (self.NAME, self.generation))
        self.args = self.command()
        errf = open(self.stderr_path, "wb")
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=errf,
                                     env=env, start_new_session=True)
        errf.close()
        _live_processes.add(self.proc)
        self.lines = []
        self.info = {}
        q = queue.Queue()
        self._stdout_q = q

        def pump(stream):
            for raw in iter(stream.readline, b""):
                q.put(raw.decode("utf-8", "replace").rstrip("\r\n"))
            q.put(None)

        threading.Thread(target=pump, args=(self.proc.stdout,), daemon=True).start()
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise self.START_ERROR("%s did not print 'ready' within %.0fs; stdout=%r "
                                       "stderr=%s" % (self.NAME, timeout, self.lines,
                                                      self.stderr_tail()))
            try:
                line = q.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            if line is None:
                rc = self.proc.wait(timeout=5)
                raise self.START_ERROR("%s exited (rc=%s) before 'ready'; stdout=%r stderr=%s"
                                       % (self.NAME, rc, self.lines, self.stderr_tail()))
            self.lines.append(line)
            if line.strip() == "ready":
                break
        self._parse_lines()
        return self

    def _parse_lines(self):
        """Reads the start-up lines (docs/config.md) into self.info and attributes."""
        for line in self.lines[:-1]:
            key, sep, val = line.partition(":")
            if sep and key.strip() in self.STARTUP_KEYS:
                self.info[self.STARTUP_KEYS[key.strip()]] = val.strip()
        self._parse_info()

    def _parse_info(self):
        missing = [k for k in ("id_scope", "https", "ca_file", "connection_string",
                               "service_host") if k not in self.info]
        if missing:
            raise DpsdStartError("start-up output lacks %s: %r" % (missing, self.lines))
        m = re.search(r"https://([0-9.]+):(\d+)", self.info["https"])
        if not m:
            raise DpsdStartError("cannot parse https line %r" % self.info["https"])
        self.ip, self.port = m.group(1), int(m.group(2))
        self.url = "https://%s:%d" % (self.ip, self.port)
        self.ca_file = self.info["ca_file"]   # "(configured certificates)" with --tls-cert
        self.connection_string = self.info["connection_string"]
        self.cs = parse_connection_string(self.connection_string)
        self.id_scope = self.info["id_scope"]
        self.service_host = self.info["service_host"]

    def client(self, connection_string=None):
        return ServiceClient(self.port, self.ca_file,
                             connection_string or self.connection_string, ip=self.ip)

    def stderr_text(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except (OSError, TypeError):
            return ""

    def stderr_tail(self, n=40):
        return "\n".join(self.stderr_text().splitlines()[-n:])

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT, check=True):
        """Stops dpsd; with check, asserts exit 0 and no sanitizer report.
        Returns the exit code."""
        if self.proc is None:
            return None
        p = self.proc
        if p.poll() is None:
            try:
                p.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                if check:
                    raise AssertionError("dpsd did not exit within %.0fs of %s; stderr:\n%s"
                                         % (timeout, sig, self.stderr_tail()))
        _live_processes.discard(p)
        try:
            p.stdout.close()
        except Exception:
            pass
        rc = p.returncode
        if check:
            self.check_stderr()
            if rc != 0:
                raise AssertionError("dpsd exited with %s (expected 0); stderr:\n%s"
                                     % (rc, self.stderr_tail()))
        return rc

    def check_stderr(self):
        rep = sanitizer_report(self.stderr_text())
        if rep:
            raise AssertionError("sanitizer report in dpsd stderr: %s\n%s"
                                 % (rep, self.stderr_tail(80)))

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                try:
                    self.proc.kill()
                except ProcessLookupError:
                    pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if self.proc is not None:
            _live_processes.discard(self.proc)

    def restart(self, timeout=START_TIMEOUT):
        self.stop()
        return self.start(timeout=timeout)

    def cleanup(self):
        """Never raises: kills the process and removes the temp dir."""
        try:
            self.kill()
        finally:
            if not os.environ.get("DPS_KEEP_TMP"):
                shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- helpers

    def alive_check(self, testcase=None):
        """Asserts the daemon still answers an authenticated request."""
        if not self.running():
            raise AssertionError("dpsd is not running (rc=%s); stderr:\n%s"
                                 % (self.proc.returncode, self.stderr_tail()))
        r = self.client().post("/enrollments/query", {"query": "SELECT *"},
                               headers={"x-ms-max-item-count": "1"})
        if r.status != 200:
            raise AssertionError("daemon does not answer a query: %r" % r)
        return r


# --------------------------------------------------------------------------
# dpsctl


def run_dpsctl(args, login=None, cafile=None, env_extra=None, timeout=CLI_TIMEOUT,
               use_env=False, output=None, input_text=None):
    """Runs dpsctl; returns CompletedProcess (text). login/cafile are given as
    --login/--cafile, or in the environment with use_env=True."""
    cmd = [binary("dpsctl")]
    env = dict(os.environ)
    env.pop("DPSCTL_CONNECTION_STRING", None)
    env.pop("DPSCTL_CA_FILE", None)
    if use_env:
        if login:
            env["DPSCTL_CONNECTION_STRING"] = login
        if cafile:
            env["DPSCTL_CA_FILE"] = cafile
    else:
        if login:
            cmd += ["--login", login]
        if cafile:
            cmd += ["--cafile", cafile]
    if output:
        cmd += ["--output", output]
    cmd += list(args)
    if env_extra:
        env.update(env_extra)
    try:
        return subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=timeout, input=input_text,
                              stdin=None if input_text is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise AssertionError("dpsctl %s timed out after %ss" % (args, timeout)) from e


# --------------------------------------------------------------------------
# test data


def unique_id(prefix="it"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:12])


def random_key(nbytes=32):
    return base64.b64encode(os.urandom(nbytes)).decode()


# EK published in Azure/azure-iot-sdk-c issue #2286 (tpm.md §3.4): a valid
# RSA-2048 TPM2B_PUBLIC from the default EK template.
SAMPLE_EK = (
    "AToAAQALAAMAsgAgg3GXZ0SEs/gakMyNRqXXJP1S124GUgtk8qHaGzMUaaoABgCAAEMAEAgAAAAAAAEA"
    "tKEADl/sNRgmYAjP6gXmbccRaJoTnVixisUaek0OwAzFGN70xt9ZOYp6fhIwfcft3fdVKOrKpXYcTe72"
    "CGNkGJGlQz5ti9n2pQ0uJhcX8aefh4Onm7lVlUCQAVp1K0r6zI8vkEXWsBIvwvxk0eMJbFaq146kbTkJ"
    "HIGczb89RkFH2TX+CgXeZOG9oXQzUNwktmTUacspamune5Wywc/ce8HsDFYchyUHogFhrZ/LPnzyTDXO"
    "8sSC5z5dvsUBtUME3iRYDyKgZOfBtmRMqQewD+4iH+ZEJjtsyJiWR8hFhyKROnOuqXfNFwjd5IcNU4wt"
    "lKO0cLyXmTOfQK6Da1pr5Q=="
)


def make_ek():
    """A fresh, well-formed EK: the default template with a random modulus."""
    raw = bytearray(base64.b64decode(SAMPLE_EK))
    mod = bytearray(os.urandom(256))
    mod[0] |= 0x80
    mod[-1] |= 0x01
    raw[-256:] = mod
    return base64.b64encode(bytes(raw)).decode()


def tpm_registration_id(ek_b64):
    """Registration ID derived from an EK (tpm.md §3.4)."""
    digest = hashlib.sha256(base64.b64decode(ek_b64)).digest()
    return base64.b32encode(digest).decode().lower().rstrip("=")


def openssl(*args, cwd=None, timeout=30):
    exe = shutil.which("openssl")
    if not exe:
        raise unittest.SkipTest("openssl command line tool not installed")
    r = subprocess.run([exe] + list(args), cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError("openssl %s failed: %s" % (" ".join(args), r.stderr))
    return r.stdout


def make_self_signed_cert(directory, cn, days=30, rsa=False, subj=None):
    """Generates a self-signed certificate (P-256, or RSA-2048 with rsa=True);
    returns (cert_path, key_path)."""
    key = os.path.join(directory, cn + ".key.pem")
    cert = os.path.join(directory, cn + ".pem")
    alg = ["-newkey", "rsa:2048"] if rsa else ["-newkey", "ec", "-pkeyopt",
                                               "ec_paramgen_curve:P-256"]
    openssl("req", "-x509", *alg, "-nodes", "-subj", subj or ("/CN=" + cn),
            "-days", str(days), "-keyout", key, "-out", cert)
    return cert, key


def cert_facts(cert_path):
    """What `openssl x509` says about a certificate, normalised."""
    def fp(alg):
        out = openssl("x509", "-in", cert_path, "-noout", "-fingerprint", "-" + alg)
        return out.strip().split("=", 1)[1].replace(":", "").upper()
    serial = openssl("x509", "-in", cert_path, "-noout", "-serial").strip().split("=", 1)[1]
    subject = openssl("x509", "-in", cert_path, "-noout", "-subject",
                      "-nameopt", "RFC2253").strip().split("=", 1)[1]
    enddate = openssl("x509", "-in", cert_path, "-noout", "-enddate").strip().split("=", 1)[1]
    startdate = openssl("x509", "-in", cert_path, "-noout", "-startdate").strip().split("=", 1)[1]
    return {
        "sha1": fp("sha1"),
        "sha256": fp("sha256"),
        "serial": serial.upper(),
        "subject": subject,
        "notAfter": time.strptime(enddate.replace("  ", " "), "%b %d %H:%M:%S %Y GMT"),
        "notBefore": time.strptime(startdate.replace("  ", " "), "%b %d %H:%M:%S %Y GMT"),
    }


def pem_body(cert_path):
    """Base64 DER of a PEM certificate (the other upload form)."""
    with open(cert_path) as f:
        text = f.read()
    lines = [l for l in text.splitlines() if l and not l.startswith("-----")]
    return "".join(lines)


# --------------------------------------------------------------------------
# base test case


class DpsdTestCase(unittest.TestCase):
    """One dpsd per test class (started in setUpClass, stopped cleanly in
    tearDownClass with the exit-code and sanitizer checks)."""

    dpsd_args = []
    dpsd = None

    @classmethod
    def setUpClass(cls):
        cls.dpsd = Dpsd.start_new(extra_args=cls.dpsd_args)
        cls.addClassCleanup(cls.dpsd.cleanup)
        cls.client = cls.dpsd.client()

    @classmethod
    def tearDownClass(cls):
        if cls.dpsd is not None and cls.dpsd.proc is not None:
            cls.dpsd.stop()

    # ---- assertions

    def assertStatus(self, r, status, msg=None):
        if r.status != status:
            self.fail("%sexpected HTTP %d, got %d: %r"
                      % ((msg + ": ") if msg else "", status, r.status, r))

    def assertError(self, r, status, code=None, msg=None):
        """Asserts the DPS error shape (service-api.md §9.3)."""
        self.assertStatus(r, status, msg)
        body = r.json()
        self.assertIsInstance(body, dict, r)
        for k in ("errorCode", "trackingId", "message", "timestampUtc"):
            self.assertIn(k, body, "error body lacks %s: %r" % (k, body))
        self.assertIn("info", body, "error body lacks info: %r" % body)
        ec = body["errorCode"]
        self.assertIsInstance(ec, int, body)
        self.assertTrue(100000 <= ec <= 999999, body)
        self.assertEqual(ec // 1000, status, "errorCode %d does not start with %d" % (ec, status))
        hdr = r.header("x-ms-error-code")
        self.assertIsNotNone(hdr, "x-ms-error-code header missing: %r" % r)
        self.assertEqual(str(hdr).strip(), str(ec), r)
        self.assertTrue(str(body["timestampUtc"]).endswith("Z"), body)
        self.assertTrue(r.header("content-type", "").startswith("application/json"), r)
        rid = r.header("x-ms-request-id")
        if rid is not None:
            self.assertEqual(rid, body["trackingId"], "x-ms-request-id != trackingId")
        if code is not None:
            self.assertEqual(ec, code, "%s: %r" % (msg or "errorCode", body))
        return body
