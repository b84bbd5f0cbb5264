"""hubd start-up, configuration, restart, shutdown and the /_hubd/hubs admin API."""

import os
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import tempfile
import time
import unittest

from dpsd_harness import (binary, make_sas, parse_connection_string, random_key,
                          sanitizer_report, tls_context)
from hubd_harness import DEFAULT_HUBS, Hubd, HubdTestCase


class StartupBase(unittest.TestCase):

    def start(self, **kw):
        h = Hubd.start_new(**kw)
        self.addCleanup(h.cleanup)
        return h

    def tmpdir(self):
        t = tempfile.mkdtemp(prefix="hubd-cfg-")
        self.addCleanup(shutil.rmtree, t, True)
        return t

    def run_hubd(self, args, timeout=30):
        # A scratch cwd, so the relative default data_dir lands nowhere that matters.
        r = subprocess.run([binary("hubd")] + args, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                           timeout=timeout, cwd=self.tmpdir())
        rep = sanitizer_report(r.stderr)
        self.assertIsNone(rep, "sanitizer report: %s\n%s" % (rep, r.stderr))
        return r


class StartupOutputTest(StartupBase):

    def test_startup_lines_in_order(self):
        h = self.start()
        lines = h.lines
        self.assertEqual(lines[0], "opendps hubd 0.1.0")
        self.assertEqual(lines[-1], "ready")
        keys = [l.split(":", 1)[0] for l in lines[1:-1]]
        self.assertEqual(keys, ["data directory", "store", "https", "mqtts", "ca certificate",
                                "hub hub1.opendps.local", "hub hub2.opendps.local",
                                "admin connection string", "migration connection string"])
        self.assertTrue(os.path.isabs(h.info["data directory"]))
        self.assertEqual(h.info["store"], "sqlite:%s/hubd.db" % h.info["data directory"])
        self.assertRegex(lines[3], r"^https: listening on https://127\.0\.0\.1:\d+ "
                                   r"\(registry, twin and method APIs\)$")
        self.assertRegex(lines[4], r"^mqtts: listening on mqtts://127\.0\.0\.1:\d+ "
                                   r"\(device MQTT endpoint\)$")
        self.assertNotEqual(h.rest_port, 0)
        self.assertNotEqual(h.mqtt_port, 0)
        self.assertNotEqual(h.rest_port, h.mqtt_port)
        self.assertTrue(os.path.isfile(h.ca_file))

        for hub in DEFAULT_HUBS:
            cs = parse_connection_string(h.hubs[hub])
            self.assertEqual(cs["HostName"], hub)
            self.assertEqual(cs["SharedAccessKeyName"], "iothubowner")
            self.assertGreaterEqual(len(cs["SharedAccessKey"]), 40)
        self.assertNotEqual(h.hubs[DEFAULT_HUBS[0]], h.hubs[DEFAULT_HUBS[1]].replace(
            DEFAULT_HUBS[1], DEFAULT_HUBS[0]), "each hub has its own keys")
        admin = parse_connection_string(h.admin_connection_string)
        self.assertEqual(admin["HostName"], "127.0.0.1:%d" % h.rest_port)
        self.assertEqual(admin["SharedAccessKeyName"], "hubdadmin")
        h.stop()

    def test_certificate_names_every_hub_on_both_listeners(self):
        h = self.start()
        ctx = tls_context(h.ca_file)
        for port in (h.rest_port, h.mqtt_port):
            for name in list(DEFAULT_HUBS) + ["localhost"]:
                with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                    with ctx.wrap_socket(s, server_hostname=name) as t:
                        self.assertIn(t.version(), ("TLSv1.2", "TLSv1.3"))
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                with self.assertRaises(ssl.SSLCertVerificationError):
                    ctx.wrap_socket(s, server_hostname="hub9.opendps.local")
        h.stop()

    def test_secret_files_are_private(self):
        h = self.start()
        data = h.info["data directory"]
        for rel in ("admin.key", "pki/ca.key", "pki/server.key", "hubd.db"):
            mode = stat.S_IMODE(os.stat(os.path.join(data, rel)).st_mode)
            self.assertEqual(mode & 0o077, 0, "%s is mode %o" % (rel, mode))
        # The harness made data_dir itself; what hubd creates is private.
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(data, "pki")).st_mode) & 0o077, 0)
        h.stop()

    def test_restart_keeps_keys_and_hubs(self):
        h = self.start()
        before = dict(h.hubs)
        admin_before = h.admin_connection_string
        with open(h.ca_file, "rb") as f:
            ca_before = f.read()
        h.restart()
        self.assertEqual(h.hubs, before)
        self.assertEqual(h.admin_connection_string.split(";")[1:],
                         admin_before.split(";")[1:])
        with open(h.ca_file, "rb") as f:
            self.assertEqual(f.read(), ca_before)
        # A hub left out of the configuration is still hosted (it lives in
        # the store); a new one is added.
        h.hub_names = ["hub3.opendps.local"]
        h.restart()
        self.assertEqual(sorted(h.hubs), sorted(list(DEFAULT_HUBS) + ["hub3.opendps.local"]))
        self.assertEqual(h.hubs["hub1.opendps.local"], before["hub1.opendps.local"])
        h.stop()

    def test_sigint_exits_zero(self):
        h = self.start()
        h.stop(sig=signal.SIGINT)

    def test_sigterm_with_idle_connections(self):
        h = self.start()
        ctx = tls_context(h.ca_file)
        socks = []
        for port in (h.rest_port, h.mqtt_port):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            socks.append(ctx.wrap_socket(s, server_hostname="localhost"))
        # and one that never finishes its handshake
        socks.append(socket.create_connection(("127.0.0.1", h.mqtt_port), timeout=10))
        t0 = time.monotonic()
        h.stop()
        self.assertLess(time.monotonic() - t0, 10)
        for s in socks:
            s.close()

    def test_port_in_use_fails_cleanly(self):
        blocker = socket.socket()
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        self.addCleanup(blocker.close)
        port = blocker.getsockname()[1]
        d = self.tmpdir()
        r = self.run_hubd(["--data-dir", d, "--rest-listen", "127.0.0.1:0",
                           "--mqtt-listen", "127.0.0.1:%d" % port])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertNotIn("ready", r.stdout)
        self.assertIn(str(port), r.stderr)


class CommandLineTest(StartupBase):

    def test_version_and_help(self):
        r = self.run_hubd(["--version"])
        self.assertEqual(r.returncode, 0)
        self.assertEqual(r.stdout.strip(), "opendps hubd 0.1.0")
        r = self.run_hubd(["--help"])
        self.assertEqual(r.returncode, 0)
        for opt in ("--rest-listen", "--mqtt-listen", "--hub", "--data-dir", "--tls-cert",
                    "--tls-key", "--store", "--log-level", "--max-body-bytes",
                    "--max-connections", "--telemetry-log-size", "--config", "--check"):
            self.assertIn(opt, r.stdout)

    def test_check(self):
        d = os.path.join(self.tmpdir(), "never-created")
        r = self.run_hubd(["--check", "--data-dir", d, "--hub", "a.example.net"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "configuration OK")
        self.assertFalse(os.path.exists(d), "--check must not create anything")

    def test_config_file_errors_name_the_line(self):
        t = self.tmpdir()
        path = os.path.join(t, "hubd.conf")
        with open(path, "w") as f:
            f.write("# test\nhub = hub1.example.net\nhub = not_a_dns_name\n")
        r = self.run_hubd(["--check", "--config", path])
        self.assertEqual(r.returncode, 2)
        self.assertIn("%s:3:" % path, r.stderr)
        self.assertTrue(r.stderr.startswith("hubd: "), r.stderr)

    def test_bad_flags_exit_2(self):
        for args, needle in ((["--max-connections", "0"], "--max-connections"),
                             (["--hub", "hub1.example.net:443"], "hub"),
                             (["--rest-listen", "127.0.0.1:9999",
                               "--mqtt-listen", "127.0.0.1:9999"], "both use"),
                             (["--tls-cert", "/nonexistent.pem"], "tls_key"),
                             (["--frobnicate"], "frobnicate")):
            r = self.run_hubd(["--check"] + args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn(needle, r.stderr, args)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)

    def test_example_config_is_valid(self):
        example = os.path.join(os.path.dirname(__file__), "..", "..", "etc",
                               "hubd.conf.example")
        r = self.run_hubd(["--check", "--config", os.path.abspath(example)])
        self.assertEqual(r.returncode, 0, r.stderr)


class AdminApiTest(HubdTestCase):

    def test_list_hubs(self):
        r = self.hubd.admin().get("/_hubd/hubs")
        self.assertStatus(r, 200)
        hubs = {h["hostName"]: h["connectionString"] for h in r.json()}
        # Other tests may have added hubs by now.
        for name, cs in self.hubd.hubs.items():
            self.assertEqual(hubs.get(name), cs)

    def test_add_hub_at_run_time(self):
        admin = self.hubd.admin()
        r = admin.put("/_hubd/hubs/Hub7.OpenDPS.local")
        self.assertStatus(r, 201)
        body = r.json()
        self.assertEqual(body["hostName"], "hub7.opendps.local")
        self.assertTrue(body["created"])
        cs = parse_connection_string(body["connectionString"])
        self.assertEqual(cs["HostName"], "hub7.opendps.local")
        self.assertEqual(cs["SharedAccessKeyName"], "iothubowner")

        # Idempotent: same keys, 200.
        r2 = admin.put("/_hubd/hubs/hub7.opendps.local")
        self.assertStatus(r2, 200)
        self.assertFalse(r2.json()["created"])
        self.assertEqual(r2.json()["connectionString"], body["connectionString"])
        r3 = admin.get("/_hubd/hubs/hub7.opendps.local")
        self.assertStatus(r3, 200)
        self.assertEqual(r3.json()["connectionString"], body["connectionString"])

        # The reissued certificate names it on both listeners right away.
        ctx = tls_context(self.hubd.ca_file)
        for port in (self.hubd.rest_port, self.hubd.mqtt_port):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                with ctx.wrap_socket(s, server_hostname="hub7.opendps.local"):
                    pass
        # ... and its REST API answers with its own key (an unknown device).
        svc = self.hubd.service("hub7.opendps.local", body["connectionString"])
        r4 = svc.get("/devices/nobody")
        self.assertHubError(r4, 404, "DeviceNotFound")

    def test_unknown_hub(self):
        r = self.hubd.admin().get("/_hubd/hubs/nohub.opendps.local")
        self.assertHubError(r, 404, "IotHubNotFound")

    def test_bad_hub_name(self):
        for name in ("bad_name", "-lead.example", "a" * 300):
            r = self.hubd.admin().put("/_hubd/hubs/%s" % name)
            self.assertHubError(r, 400, "ArgumentInvalid")

    def test_method_not_allowed(self):
        r = self.hubd.admin().delete("/_hubd/hubs/hub1.opendps.local")
        self.assertHubError(r, 405)
        r = self.hubd.admin().post("/_hubd/hubs")
        self.assertHubError(r, 405)

    def test_admin_needs_the_admin_key(self):
        admin = self.hubd.admin()
        cs = parse_connection_string(self.hubd.admin_connection_string)
        hub_cs = parse_connection_string(self.hubd.hubs["hub1.opendps.local"])
        now = int(time.time())
        bad = {
            "none": False,
            "garbage": "Bearer xyz",
            "hub owner key": make_sas(hub_cs["SharedAccessKey"], cs["HostName"], "hubdadmin"),
            "wrong skn": make_sas(cs["SharedAccessKey"], cs["HostName"], "iothubowner"),
            "expired": make_sas(cs["SharedAccessKey"], cs["HostName"], "hubdadmin",
                                se=now - 3600),
            "random key": make_sas(random_key(), cs["HostName"], "hubdadmin"),
        }
        for what, token in bad.items():
            r = admin.put("/_hubd/hubs/evil.opendps.local", token=token)
            self.assertHubError(r, 401, "IotHubUnauthorizedAccess")
        r = admin.get("/_hubd/hubs/evil.opendps.local")
        self.assertHubError(r, 404, "IotHubNotFound")
        # A hub's own owner policy cannot use the admin API either.
        svc = self.hubd.service("hub1.opendps.local")
        r = svc.get("/_hubd/hubs", api_version=False)
        self.assertHubError(r, 401, "IotHubUnauthorizedAccess")
        # Clock skew within 5 minutes is fine.
        r = admin.get("/_hubd/hubs", token=make_sas(cs["SharedAccessKey"], cs["HostName"],
                                                    "hubdadmin", se=now - 60))
        self.assertStatus(r, 200)


if __name__ == "__main__":
    unittest.main()
