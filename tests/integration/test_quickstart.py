"""README command 1 (scripts/start.sh) end to end, as a new user runs it.

Runs the real script with the prebuilt binaries (OPENDPS_BIN_DIR = the
build's bin directory, so nothing is installed or rebuilt), a temporary
OPENDPS_VAR and OPENDPS_PORTS=auto, then checks what the journey promises:
hubd and dpsd started in the background, both hubs linked, the device
registered in its hub with activity, its telemetry seen, and `start.sh stop`
ending both daemons with exit status 0 and no sanitizer report. A second run
reuses the running services and the data; a third after `stop` starts them
again on the same data (same ID scope, the hubs' new port taken into dpsd's
linked hubs). A taken port is refused before anything starts.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from dpsd_harness import REPO, ServiceClient, binary, bin_dir, sanitizer_report
from hubd_harness import HUB_API_VERSION, SseStream

START_SH = os.path.join(REPO, "scripts", "start.sh")
RUN_TIMEOUT = 60
HUBS = ("hub1.opendps.local", "hub2.opendps.local")
DEVICE = "sensor-0001"


class QuickstartTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        for b in ("dpsd", "hubd", "dpsctl", "dps-device"):
            binary(b)  # skips (or fails under CTest) when not built
        cls.tmp = tempfile.mkdtemp(prefix="quickstart-it-")
        cls.var = os.path.join(cls.tmp, "var")

    @classmethod
    def tearDownClass(cls):
        # Whatever happened, no daemon outlives the test.
        subprocess.run([START_SH, "stop"], env=cls.env(), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=RUN_TIMEOUT)
        for name in ("dpsd", "hubd"):
            pid = cls.pid_of(name)
            if pid is not None:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if not os.environ.get("DPS_KEEP_TMP"):
            shutil.rmtree(cls.tmp, ignore_errors=True)

    # ---- helpers

    @classmethod
    def env(cls, **extra):
        env = dict(os.environ)
        for k in list(env):
            if k.startswith("OPENDPS_") or k.startswith("DPSCTL_"):
                del env[k]
        env.update({"OPENDPS_VAR": cls.var, "OPENDPS_PORTS": "auto",
                    "OPENDPS_BIN_DIR": bin_dir(), "OPENDPS_START_TIMEOUT": "30"})
        env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        env.update(extra)
        return env

    @classmethod
    def pid_of(cls, name):
        try:
            with open(os.path.join(cls.var, name + ".pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def run_script(self, *args, **env_extra):
        try:
            r = subprocess.run([START_SH] + list(args), env=self.env(**env_extra),
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired as e:
            self.fail("start.sh %s did not finish within %ss; output so far:\n%s"
                      % (" ".join(args), RUN_TIMEOUT, e.output))
        return r

    def run_ok(self, *args):
        r = self.run_script(*args)
        self.assertEqual(r.returncode, 0, "start.sh %s failed:\n%s" % (" ".join(args), r.stdout))
        return r.stdout

    def log(self, name):
        with open(os.path.join(self.var, name + ".log"), encoding="utf-8",
                  errors="replace") as f:
            return f.read()

    def startup(self, name, key):
        m = re.search(r"^%s: (.*)$" % re.escape(key), self.log(name), re.M)
        self.assertIsNotNone(m, "%s.log lacks '%s:'" % (name, key))
        return m.group(1)

    def port(self, name, scheme):
        m = re.search(r"^%s: listening on %s://127\.0\.0\.1:(\d+) " % (scheme, scheme),
                      self.log(name), re.M)
        self.assertIsNotNone(m, "%s.log lacks the %s line" % (name, scheme))
        return int(m.group(1))

    def hub_client(self, hub):
        return ServiceClient(self.port("hubd", "https"), self.startup("hubd", "ca certificate"),
                             self.startup("hubd", "hub " + hub), tls_name=hub,
                             api_version=HUB_API_VERSION)

    def section(self, out, title_start):
        """The lines of the section whose '== ' title starts with title_start."""
        m = re.search(r"^== %s[^\n]*\n(.*?)(?=^== |\Z)" % re.escape(title_start), out,
                      re.M | re.S)
        self.assertIsNotNone(m, "no section '%s' in:\n%s" % (title_start, out))
        return m.group(1)

    def assert_alive(self, name):
        pid = self.pid_of(name)
        self.assertIsNotNone(pid, "%s.pid missing" % name)
        os.kill(pid, 0)  # raises if it is gone
        return pid

    def check_journey(self, out):
        """What every run shows; returns the hub the device is in."""
        dev = self.section(out, "device '%s'" % DEVICE)
        m = re.search(r"^   %s: assigned to (\S+) as device (\S+) " % DEVICE, dev, re.M)
        self.assertIsNotNone(m, out)
        hub, device_id = m.group(1), m.group(2)
        self.assertIn(hub, HUBS)
        self.assertEqual(device_id, DEVICE)
        self.assertIn("connected to %s" % hub, dev)
        self.assertRegex(dev, r"sent \{\"deviceId\":\"%s\",\"messageId\":3," % DEVICE)

        listing = self.section(out, "the device in %s's device list" % hub)
        row = [l for l in listing.splitlines() if l.split()[:1] == [DEVICE]]
        self.assertEqual(len(row), 1, listing)
        self.assertIn("enabled", row[0])
        self.assertTrue("Connected" in row[0] or re.search(r"\d{4}-\d\d-\d\dT", row[0]), row)

        tele = self.section(out, "its telemetry")
        self.assertEqual(len(re.findall(r"\"messageId\":\d", tele)), 3, tele)
        meth = self.section(out, "a direct method")
        self.assertIn('"hello": "opendps"', meth)
        self.assertRegex(meth, r"sent 3 messages; disconnected \(exit status 0\)")

        # What the output ends with: where things are and what to do next.
        services = self.section(out, "services (running")
        for port in (self.port("dpsd", "https"), self.port("hubd", "https"),
                     self.port("hubd", "mqtts")):
            self.assertIn(":%d" % port, services)
        env_part = self.section(out, "dpsctl")
        for var in ("DPSCTL_CONNECTION_STRING", "DPSCTL_CA_FILE",
                    "DPSCTL_HUB_CONNECTION_STRING", "DPSCTL_HUB_CA_FILE"):
            self.assertIn("export %s=" % var, env_part)
        more = self.section(out, "more devices")
        self.assertIn("dps-device register", more)
        self.assertIn("dpsctl enrollment create", more)
        self.assertIn("start.sh stop", self.section(out, "stop"))
        with open(os.path.join(self.var, "env.sh")) as f:
            self.assertIn("DPSCTL_HUB_CONNECTION_STRING", f.read())
        return hub

    def check_in_hub(self, hub):
        """The device, checked directly against hubd's REST API."""
        c = self.hub_client(hub)
        r = c.get("/devices/" + DEVICE)
        self.assertEqual(r.status, 200, r)
        d = r.json()
        self.assertEqual(d["deviceId"], DEVICE)
        self.assertEqual(d["status"], "enabled")
        self.assertTrue(d.get("connectionState") == "Connected"
                        or not d.get("lastActivityTime", "0001").startswith("0001"), d)
        t = c.get("/twins/" + DEVICE).json()
        self.assertEqual(t["tags"], {"site": "quickstart"}, t)
        self.assertEqual(t["properties"]["desired"]["sampleSeconds"], 15, t)
        self.assertEqual(t["properties"]["reported"]["simulator"]["name"], "dps-device", t)
        other = HUBS[1] if hub == HUBS[0] else HUBS[0]
        self.assertEqual(self.hub_client(other).get("/devices/" + DEVICE).status, 404)
        # Its telemetry, replayed from the hub's log (SSE with since=0).
        with SseStream(c, "/_hubd/telemetry", since=0) as s:
            self.assertEqual(s.status, 200)
            ev = s.wait_for(lambda e: isinstance(e.get("data"), dict)
                            and e["data"].get("deviceId") == DEVICE, timeout=10)
            self.assertIn('"messageId":1', ev["data"]["body"])
            self.assertEqual(ev["data"]["applicationProperties"].get("source"), "dps-device")

    def stop_and_check(self):
        pids = {n: self.pid_of(n) for n in ("dpsd", "hubd")}
        out = self.run_ok("stop")
        for name, pid in pids.items():
            self.assertRegex(out, r"%s: stopped \(pid %d, exit status 0;" % (name, pid))
            with open(os.path.join(self.var, name + ".rc")) as f:
                self.assertEqual(f.read().strip(), "0")
            self.assertFalse(os.path.exists(os.path.join(self.var, name + ".pid")))
            with self.assertRaises(ProcessLookupError):
                os.kill(pid, 0)
            log = self.log(name)
            self.assertIsNone(sanitizer_report(log), "%s.log:\n%s" % (name, log[-4000:]))
            self.assertIn('msg="stopped"', log)

    # ---- the test

    def test_journey_rerun_stop_restart(self):
        t0 = time.monotonic()
        # 1. first run: everything from nothing
        out = self.run_ok()
        self.assertIn("hubd: started", out)
        self.assertIn("dpsd: started", out)
        for hub in HUBS:
            self.assertIn("%s: linked (registry https://127.0.0.1:%d, weight 1)"
                          % (hub, self.port("hubd", "https")), out)
        self.assertIn("created", self.section(out, "enrollment group"))
        hub = self.check_journey(out)
        self.check_in_hub(hub)
        scope = self.startup("dpsd", "id scope")
        pids = (self.assert_alive("dpsd"), self.assert_alive("hubd"))

        # 2. again while they run: reused, nothing created twice
        out = self.run_ok()
        self.assertRegex(out, r"hubd: already running \(pid %d\), reused" % pids[1])
        self.assertRegex(out, r"dpsd: already running \(pid %d\), reused" % pids[0])
        for h in HUBS:
            self.assertIn("%s: already linked" % h, out)
        self.assertIn("already enrolled", out)
        self.assertEqual(self.check_journey(out), hub)  # re-registration keeps the hub

        # 3. stop: both exit 0, no sanitizer report
        self.stop_and_check()
        out = self.run_ok("stop")  # idempotent
        self.assertIn("dpsd: not running", out)

        # 4. start again on the same data (new ports: the links follow)
        out = self.run_ok()
        self.assertIn("hubd: started", out)
        self.assertEqual(self.startup("dpsd", "id scope"), scope)
        self.assertIn("already enrolled", out)
        for h in HUBS:
            self.assertIn("%s: linked before; registry URL now https://127.0.0.1:%d"
                          % (h, self.port("hubd", "https")), out)
        self.assertEqual(self.check_journey(out), hub)
        self.check_in_hub(hub)
        self.stop_and_check()
        self.assertLess(time.monotonic() - t0, 60, "the journey should take seconds")

    def test_port_taken(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            port = s.getsockname()[1]
            r = self.run_script(OPENDPS_DPSD_PORT=str(port),
                                OPENDPS_VAR=os.path.join(self.tmp, "taken"))
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("port %d (dpsd HTTPS) on 127.0.0.1 is taken" % port, r.stdout)
        self.assertIn("OPENDPS_DPSD_PORT", r.stdout)
        # Refused before anything started.
        for name in ("dpsd", "hubd"):
            self.assertFalse(os.path.exists(os.path.join(self.tmp, "taken", name + ".pid")))


if __name__ == "__main__":
    unittest.main()
