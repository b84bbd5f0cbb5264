"""dpsd start-up, configuration, TLS, persistence across restarts, shutdown."""

import base64
import http.client
import os
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import tempfile
import threading
import time
import unittest

from dpsd_harness import (Dpsd, ServiceClient, binary, make_sas, openssl,
                          parse_connection_string, random_key, sanitizer_report,
                          tls_context, unique_id)


def sym(rid, primary=None, secondary=None, **extra):
    b = {"registrationId": rid, "attestation": {"type": "symmetricKey"}}
    if primary:
        b["attestation"]["symmetricKey"] = {"primaryKey": primary, "secondaryKey": secondary}
    b.update(extra)
    return b


class StartupTestBase(unittest.TestCase):

    def start(self, **kw):
        d = Dpsd.start_new(**kw)
        self.addCleanup(d.cleanup)
        return d

    def tmpdir(self):
        t = tempfile.mkdtemp(prefix="dpsd-cfg-")
        self.addCleanup(shutil.rmtree, t, True)
        return t

    def run_dpsd(self, args, timeout=30):
        # in a scratch cwd, so a relative default data_dir lands nowhere that matters
        r = subprocess.run([binary("dpsd")] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, text=True, timeout=timeout,
                           cwd=self.tmpdir())
        rep = sanitizer_report(r.stderr)
        self.assertIsNone(rep, "sanitizer report: %s\n%s" % (rep, r.stderr))
        return r


class StartupOutputTest(StartupTestBase):

    def test_startup_lines(self):
        d = self.start()
        lines = d.lines
        self.assertEqual(lines[0], "opendps dpsd 0.1.0")
        self.assertEqual(lines[-1], "ready")
        keys = [l.split(":", 1)[0] for l in lines[1:-1]]
        self.assertEqual(keys, ["data directory", "store", "id scope", "https", "mqtts",
                                "service host", "ca certificate", "service connection string"],
                         lines)
        self.assertRegex(d.info["mqtts"], r"^listening on mqtts://127\.0\.0\.1:\d+ "
                                          r"\(device MQTT endpoint\)$")
        self.assertEqual(os.path.realpath(d.info["data_dir"]), os.path.realpath(d.data_dir))
        self.assertTrue(os.path.isabs(d.info["data_dir"]))
        self.assertEqual(d.info["store"], "sqlite:%s/dpsd.db" % d.info["data_dir"])
        self.assertTrue(os.path.exists(os.path.join(d.data_dir, "dpsd.db")))
        self.assertRegex(d.id_scope, r"^0ne[0-9A-F]{8}$")
        self.assertRegex(d.info["https"],
                         r"^listening on https://127\.0\.0\.1:\d+ \(service, admin and device APIs\)$")
        self.assertNotEqual(d.port, 0)
        self.assertEqual(d.service_host, "localhost:%d" % d.port)
        self.assertTrue(os.path.isabs(d.ca_file) and os.path.isfile(d.ca_file))
        cs = parse_connection_string(d.connection_string)
        self.assertEqual(list(cs), ["HostName", "SharedAccessKeyName", "SharedAccessKey"])
        self.assertEqual(cs["HostName"], "localhost:%d" % d.port)
        self.assertEqual(cs["SharedAccessKeyName"], "provisioningserviceowner")
        self.assertGreaterEqual(len(base64.b64decode(cs["SharedAccessKey"], validate=True)), 16)
        d.stop()

    def test_version_and_help(self):
        r = self.run_dpsd(["--version"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("0.1.0", r.stdout + r.stderr)
        r = self.run_dpsd(["--help"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("--data-dir", r.stdout + r.stderr)

    def test_unknown_flag_fails(self):
        r = self.run_dpsd(["--no-such-flag"])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no-such-flag", r.stderr)

    def test_two_instances_are_independent(self):
        a, b = self.start(), self.start()
        self.assertNotEqual(a.id_scope, b.id_scope)
        self.assertNotEqual(a.cs["SharedAccessKey"], b.cs["SharedAccessKey"])
        # a's token is worthless on b
        tok = make_sas(a.cs["SharedAccessKey"], b.cs["HostName"], "provisioningserviceowner")
        r = b.client().get("/enrollments/x", token=tok)
        self.assertEqual(r.status, 401, r)
        a.stop()
        b.stop()

    def test_secret_files_not_world_readable(self):
        d = self.start()
        bad = []
        for root, _, files in os.walk(d.data_dir):
            for f in files:
                p = os.path.join(root, f)
                mode = os.stat(p).st_mode
                if ("key" in f or f.startswith("dpsd.db")) and mode & (stat.S_IRWXG | stat.S_IRWXO):
                    bad.append("%s %o" % (p, stat.S_IMODE(mode)))
        self.assertEqual(bad, [], "secret files readable by group/others")
        d.stop()


class ConfigTest(StartupTestBase):

    def write(self, directory, text):
        p = os.path.join(directory, "dpsd.conf")
        with open(p, "w") as f:
            f.write(text)
        return p

    def test_check_good_config(self):
        t = self.tmpdir()
        cfg = self.write(t, "# opendps test config\n\nlisten = 127.0.0.1:0\n"
                            "data_dir = %s\nlog_level = debug\nmax_body_bytes = 4096\n"
                            "host_name = localhost\n" % os.path.join(t, "data"))
        r = self.run_dpsd(["--config", cfg, "--check"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("ready", r.stdout)

    def test_check_unknown_key_names_line(self):
        t = self.tmpdir()
        cfg = self.write(t, "listen = 127.0.0.1:0\n# comment\nbogus_option = 1\n")
        r = self.run_dpsd(["--config", cfg, "--check"])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("bogus_option", r.stderr)
        self.assertRegex(r.stderr, r"(:3\b|line 3\b)")

    def test_check_bad_values_name_line(self):
        t = self.tmpdir()
        for text, line in (("max_body_bytes = lots\n", 1),
                           ("\nlog_level = loud\n", 2),
                           ("\n\nlisten = 127.0.0.1:99999\n", 3),
                           ("max_body_bytes = 1\n", 1),
                           ("this is not a key value line\n", 1)):
            with self.subTest(text):
                cfg = self.write(t, text)
                r = self.run_dpsd(["--config", cfg, "--check"])
                self.assertNotEqual(r.returncode, 0, text)
                self.assertRegex(r.stderr, r"(:%d\b|line %d\b)" % (line, line))

    def test_missing_config_file(self):
        r = self.run_dpsd(["--config", "/nonexistent/dpsd.conf", "--check"])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("/nonexistent/dpsd.conf", r.stderr)

    def test_config_file_is_applied_and_flags_win(self):
        t = self.tmpdir()
        # listen in the file is overridden by the harness' --listen 127.0.0.1:0
        cfg = self.write(t, "listen = 127.0.0.1:9\nmax_body_bytes = 2048\n")
        d = self.start(extra_args=["--config", cfg])
        self.assertNotEqual(d.port, 9)
        c = d.client()
        rid = unique_id("cfg")
        small = sym(rid)
        self.assertEqual(c.put("/enrollments/" + rid, small).status, 200)
        big = sym(unique_id("cfg"), optionalDeviceInformation={"pad": "x" * 3000})
        r = c.put("/enrollments/" + big["registrationId"], big)
        self.assertEqual(r.status, 413, r)
        d.stop()

    def test_host_name_flag(self):
        d = self.start(extra_args=["--host-name", "dps.test.example"])
        self.assertEqual(d.service_host, "dps.test.example:%d" % d.port)
        self.assertEqual(d.cs["HostName"], "dps.test.example:%d" % d.port)
        c = ServiceClient(d.port, d.ca_file, d.connection_string, tls_name="dps.test.example")
        r = c.get("/enrollments/" + unique_id("h"))
        self.assertEqual(r.status, 404, r)
        d.stop()


class TlsTest(StartupTestBase):

    @classmethod
    def setUpClass(cls):
        cls.d = Dpsd.start_new()
        cls.addClassCleanup(cls.d.cleanup)

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def handshake(self, ctx, server_hostname):
        s = socket.create_connection((self.d.ip, self.d.port), timeout=10)
        try:
            ss = ctx.wrap_socket(s, server_hostname=server_hostname)
            try:
                return ss.version(), ss.getpeercert(), ss.getpeercert(binary_form=True)
            finally:
                ss.close()
        finally:
            s.close()

    def test_plain_http_refused(self):
        s = socket.create_connection((self.d.ip, self.d.port), timeout=10)
        try:
            s.sendall(b"GET /enrollments/x?api-version=2021-10-01 HTTP/1.1\r\n"
                      b"Host: localhost\r\n\r\n")
            s.settimeout(5)
            try:
                data = s.recv(4096)
            except (socket.timeout, ConnectionError):
                data = b""
        finally:
            s.close()
        self.assertFalse(data.startswith(b"HTTP/1.1 2"), data[:100])
        self.assertFalse(data.startswith(b"HTTP/1.1 4"), "server speaks plain HTTP: %r" % data[:100])
        self.d.alive_check()

    def test_certificate_chains_to_printed_ca(self):
        ctx = tls_context(self.d.ca_file)
        version, cert, der = self.handshake(ctx, "localhost")
        self.assertIn(version, ("TLSv1.2", "TLSv1.3"))
        sans = cert.get("subjectAltName", ())
        self.assertIn(("DNS", "localhost"), sans)
        self.assertIn(("IP Address", "127.0.0.1"), sans)
        # also valid when verified for the IP
        self.handshake(tls_context(self.d.ca_file), "127.0.0.1")
        # and with the openssl tool
        t = tempfile.mkdtemp(prefix="dps-tls-")
        self.addCleanup(shutil.rmtree, t, True)
        leaf = os.path.join(t, "leaf.pem")
        with open(leaf, "w") as f:
            f.write(ssl.DER_cert_to_PEM_cert(der))
        out = openssl("verify", "-CAfile", self.d.ca_file, leaf)
        self.assertIn("OK", out)

    def test_untrusted_or_wrong_name_fails(self):
        ctx = ssl.create_default_context()   # system roots, not our CA
        with self.assertRaises(ssl.SSLCertVerificationError):
            self.handshake(ctx, "localhost")
        with self.assertRaises(ssl.SSLCertVerificationError):
            self.handshake(tls_context(self.d.ca_file), "wrong.example.net")
        self.d.alive_check()

    def test_old_tls_refused(self):
        ctx = tls_context(self.d.ca_file)
        try:
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        except (ValueError, AttributeError):
            self.skipTest("local OpenSSL cannot offer TLS 1.1")
        with self.assertRaises((ssl.SSLError, ConnectionError)):
            self.handshake(ctx, "localhost")
        self.d.alive_check()


class ConfiguredCertificateTest(StartupTestBase):

    def make_pki(self, t):
        ca_key, ca = os.path.join(t, "ca.key"), os.path.join(t, "ca.pem")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-subj", "/CN=it-ca", "-days", "3", "-keyout", ca_key, "-out", ca,
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        key, csr, crt = (os.path.join(t, n) for n in ("srv.key", "srv.csr", "srv.pem"))
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-subj", "/CN=localhost", "-keyout", key, "-out", csr)
        ext = os.path.join(t, "ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
                "-days", "3", "-out", crt, "-extfile", ext)
        return ca, crt, key

    def test_configured_certificate_used(self):
        t = self.tmpdir()
        ca, crt, key = self.make_pki(t)
        d = Dpsd(extra_args=["--tls-cert", crt, "--tls-key", key])
        self.addCleanup(d.cleanup)
        d.start()
        c = ServiceClient(d.port, ca, d.connection_string)
        self.assertEqual(c.get("/enrollments/" + unique_id("x")).status, 404)
        d.stop()

    def test_certificate_and_key_must_match_and_come_together(self):
        t = self.tmpdir()
        ca, crt, key = self.make_pki(t)
        other_key = os.path.join(t, "other.key")
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", other_key)
        for extra in (["--tls-cert", crt], ["--tls-key", key],
                      ["--tls-cert", crt, "--tls-key", other_key],
                      ["--tls-cert", os.path.join(t, "missing.pem"), "--tls-key", key]):
            with self.subTest(extra):
                try:
                    r = subprocess.run([binary("dpsd"), "--data-dir", os.path.join(t, "d"),
                                        "--listen", "127.0.0.1:0"] + extra,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       stdin=subprocess.DEVNULL, text=True, timeout=20)
                except subprocess.TimeoutExpired:
                    self.fail("dpsd started with %s" % extra)
                self.assertNotEqual(r.returncode, 0)
                self.assertNotIn("ready", r.stdout)
                self.assertIsNone(sanitizer_report(r.stderr), r.stderr)


class PersistenceTest(StartupTestBase):

    def test_restart_keeps_everything(self):
        d = self.start()
        c = d.client()
        scope, cs = d.id_scope, d.connection_string
        with open(d.ca_file, "rb") as f:
            ca = f.read()

        rid = unique_id("persist")
        pk, sk = random_key(32), random_key(32)
        e = c.put("/enrollments/" + rid, sym(rid, pk, sk, provisioningStatus="disabled"))
        self.assertEqual(e.status, 200, e)
        etag = e.json()["etag"]
        gid = unique_id("pgroup")
        g = c.put("/enrollmentGroups/" + gid, {"enrollmentGroupId": gid,
                                               "attestation": {"type": "symmetricKey"}})
        self.assertEqual(g.status, 200, g)
        gkeys = g.json()["attestation"]["symmetricKey"]
        pol = unique_id("ppol")
        p = c.put("/admin/policies/" + pol, {"rights": "EnrollmentRead"})
        self.assertEqual(p.status, 200, p)
        pol_key = p.json()["primaryKey"]
        hub = "%s.example.net" % unique_id("phub")
        h = c.put("/admin/linkedHubs/" + hub, {
            "connectionString": "HostName=%s;SharedAccessKeyName=iothubowner;SharedAccessKey=%s"
                                % (hub, random_key(32)),
            "registryUrl": "https://127.0.0.1:8444", "allocationWeight": 5, "location": "lab"})
        self.assertEqual(h.status, 200, h)
        self.assertEqual(c.patch("/admin/instance", {"allocationPolicy": "GeoLatency"}).status, 200)

        d.restart()
        self.assertEqual(d.id_scope, scope)
        self.assertEqual(parse_connection_string(d.connection_string)["SharedAccessKey"],
                         parse_connection_string(cs)["SharedAccessKey"])
        with open(d.ca_file, "rb") as f:
            self.assertEqual(f.read(), ca, "CA regenerated on restart")
        c = d.client()

        r = c.get("/enrollments/" + rid)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["etag"], etag)
        self.assertEqual(r.json()["provisioningStatus"], "disabled")
        am = c.post("/enrollments/%s/attestationmechanism" % rid).json()
        self.assertEqual(am["symmetricKey"], {"primaryKey": pk, "secondaryKey": sk})
        am = c.post("/enrollmentGroups/%s/attestationmechanism" % gid).json()
        self.assertEqual(am["symmetricKey"], gkeys)
        tok = make_sas(pol_key, d.cs["HostName"], pol)
        self.assertEqual(c.get("/enrollments/" + rid, token=tok).status, 200)
        self.assertEqual(c.put("/enrollments/" + rid, sym(rid), token=tok,
                               headers={"If-Match": "*"}).status, 401)
        hr = c.get("/admin/linkedHubs/" + hub)
        self.assertEqual(hr.status, 200, hr)
        self.assertEqual(hr.json()["allocationWeight"], 5)
        self.assertEqual(c.get("/admin/instance").json()["allocationPolicy"].lower(), "geolatency")
        # a bare PUT still conflicts: the record really is there
        self.assertEqual(c.put("/enrollments/" + rid, sym(rid)).status, 409)
        d.stop()

    def test_deletes_persist(self):
        d = self.start()
        c = d.client()
        rid = unique_id("del")
        self.assertEqual(c.put("/enrollments/" + rid, sym(rid)).status, 200)
        self.assertEqual(c.delete("/enrollments/" + rid).status, 204)
        d.restart()
        self.assertEqual(d.client().get("/enrollments/" + rid).status, 404)
        d.stop()

    def test_acknowledged_write_survives_kill(self):
        # "an enrollment answered 200 survives a crash of the daemon"
        d = self.start()
        rid = unique_id("crash")
        self.assertEqual(d.client().put("/enrollments/" + rid, sym(rid)).status, 200)
        d.kill()
        d.start()
        self.assertEqual(d.client().get("/enrollments/" + rid).status, 200)
        d.stop()


class DurabilityTest(StartupTestBase):

    def test_acknowledged_writes_survive_kill_under_load(self):
        d = self.start()
        acked, stop, errors = [], threading.Event(), []
        lock = threading.Lock()

        def writer(n):
            c = d.client()
            i = 0
            while not stop.is_set():
                rid = "load-%d-%d" % (n, i)
                i += 1
                try:
                    r = c.put("/enrollments/" + rid, sym(rid), timeout=5)
                except (OSError, ssl.SSLError, http.client.HTTPException):
                    return   # the daemon was killed mid-request
                if r.status == 200:
                    with lock:
                        acked.append(rid)
                elif r.status != 200:
                    errors.append(r)
                    return

        threads = [threading.Thread(target=writer, args=(n,), daemon=True) for n in range(4)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while len(acked) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        d.kill()   # SIGKILL while writes are in flight
        stop.set()
        for t in threads:
            t.join(15)
        self.assertEqual(errors, [])
        self.assertGreaterEqual(len(acked), 40, "writers made no progress")
        d.start()
        c = d.client()
        lost = [rid for rid in acked if c.get("/enrollments/" + rid).status != 200]
        self.assertEqual(lost, [], "acknowledged enrollments lost by a crash")
        d.stop()

    def test_two_daemons_share_one_data_dir(self):
        a = self.start()
        b = Dpsd(data_dir=a.data_dir)
        self.addCleanup(b.cleanup)
        b.start()
        self.assertEqual(a.id_scope, b.id_scope)
        rid = unique_id("shared")
        self.assertEqual(a.client().put("/enrollments/" + rid, sym(rid)).status, 200)
        self.assertEqual(b.client().get("/enrollments/" + rid).status, 200)
        self.assertEqual(b.client().put("/enrollments/" + rid, sym(rid)).status, 409)
        b.stop()
        a.stop()


class BadDataDirTest(StartupTestBase):

    def expect_start_failure(self, data_dir, extra=()):
        try:
            r = subprocess.run([binary("dpsd"), "--data-dir", data_dir, "--listen", "127.0.0.1:0"]
                               + list(extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, text=True, timeout=20)
        except subprocess.TimeoutExpired:
            self.fail("dpsd ran on although its data directory is unusable")
        self.assertNotEqual(r.returncode, 0)
        self.assertNotIn("ready", r.stdout)
        self.assertIsNone(sanitizer_report(r.stderr), r.stderr)
        self.assertTrue(r.stderr.strip(), "no reason given")
        return r

    def test_data_dir_is_a_file(self):
        t = self.tmpdir()
        f = os.path.join(t, "file")
        open(f, "w").close()
        self.expect_start_failure(f)

    def test_corrupt_database(self):
        t = self.tmpdir()
        dd = os.path.join(t, "data")
        os.makedirs(dd)
        with open(os.path.join(dd, "dpsd.db"), "wb") as f:
            f.write(b"this is not a database" * 100)
        self.expect_start_failure(dd)

    def test_database_from_newer_schema(self):
        d = self.start()
        dd = d.data_dir
        d.stop()
        import sqlite3
        con = sqlite3.connect(os.path.join(dd, "dpsd.db"))
        con.execute("PRAGMA user_version = 999")
        con.commit()
        con.close()
        r = self.expect_start_failure(dd)
        self.assertRegex(r.stderr.lower(), r"schema|version|newer")


class ShutdownTest(StartupTestBase):

    def test_sigterm_exits_0(self):
        d = self.start()
        d.alive_check()
        t0 = time.monotonic()
        self.assertEqual(d.stop(signal.SIGTERM), 0)
        self.assertLess(time.monotonic() - t0, 10)

    def test_sigterm_with_open_idle_connection(self):
        d = self.start()
        s = socket.create_connection((d.ip, d.port), timeout=5)
        ss = tls_context(d.ca_file).wrap_socket(s, server_hostname="localhost")
        try:
            t0 = time.monotonic()
            self.assertEqual(d.stop(signal.SIGTERM), 0)
            self.assertLess(time.monotonic() - t0, 10, "idle keep-alive connection delays shutdown")
        finally:
            ss.close()

    def test_sigint_exits_0(self):
        d = self.start()
        self.assertEqual(d.stop(signal.SIGINT), 0)

    def test_port_in_use_fails_cleanly(self):
        blocker = socket.socket()
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        self.addCleanup(blocker.close)
        port = blocker.getsockname()[1]
        t = self.tmpdir()
        try:
            r = subprocess.run([binary("dpsd"), "--data-dir", os.path.join(t, "d"),
                                "--listen", "127.0.0.1:%d" % port],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, text=True, timeout=20)
        except subprocess.TimeoutExpired:
            self.fail("dpsd kept running although its port was taken")
        self.assertNotEqual(r.returncode, 0)
        self.assertNotIn("ready", r.stdout)
        self.assertIsNone(sanitizer_report(r.stderr), r.stderr)
        self.assertIn(str(port), r.stderr)


if __name__ == "__main__":
    unittest.main()
