"""dpsctl hub ... with the real dpsctl against the real hubd over real TLS.

dpsctl connects to hubd's listener as https://127.0.0.1:PORT (the hub host
names do not resolve) and verifies the certificate against 127.0.0.1, which
hubd's generated certificate names; the SAS token is signed for the hub host
name of the connection string, which is how hubd picks the hub. Devices are
the project's own MQTT client (mqtt_client.py); results are checked through
the registry REST API (hubd_harness), not through dpsctl itself."""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.parse

from dpsd_harness import (CLI_TIMEOUT, binary, make_self_signed_cert, parse_connection_string,
                          random_key, unique_id)
from hubd_harness import HubdTestCase
from mqtt_client import parse_property_bag, topic_query

HUB1 = "hub1.opendps.local"
HUB2 = "hub2.opendps.local"
WAIT = 10
HUB_ENV = ("DPSCTL_HUB_CONNECTION_STRING", "DPSCTL_HUB_CA_FILE",
           "DPSCTL_CONNECTION_STRING", "DPSCTL_CA_FILE")


def q(device_id):
    return urllib.parse.quote(device_id, safe="")


def key_of(device):
    return device["authentication"]["symmetricKey"]["primaryKey"]


class HubCliBase(HubdTestCase):
    """Runs dpsctl hub commands against this class's hubd. By default the
    login and CA travel in the environment and the endpoint as
    --hub-endpoint, as an operator would set them up."""

    def command(self, args, hub=HUB1, login=None, cafile=None, endpoint=None, use_env=True,
                output=None, env_extra=None):
        login = login if login is not None else self.hubd.hub_connection_string(hub)
        cafile = cafile if cafile is not None else self.hubd.ca_file
        endpoint = endpoint if endpoint is not None else self.hubd.url
        cmd = [binary("dpsctl")] + list(args)
        env = dict(os.environ)
        for name in HUB_ENV:
            env.pop(name, None)
        if use_env:
            env["DPSCTL_HUB_CONNECTION_STRING"] = login
            env["DPSCTL_HUB_CA_FILE"] = cafile
        else:
            cmd += ["--hub-login", login, "--hub-cafile", cafile]
        if endpoint:
            cmd += ["--hub-endpoint", endpoint]
        if output:
            cmd += ["--output", output]
        env.update(env_extra or {})
        return cmd, env

    def ctl(self, *args, timeout=CLI_TIMEOUT, **kw):
        cmd, env = self.command(args, **kw)
        try:
            return subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise AssertionError("dpsctl %s timed out after %ss" % (args, timeout)) from e

    def start(self, *args, **kw):
        """dpsctl running in the background (for monitor-events and methods)."""
        cmd, env = self.command(args, **kw)
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, text=True)

        def reap():
            if p.poll() is None:
                p.kill()
            p.communicate()
        self.addCleanup(reap)
        return p

    def ok(self, *args, **kw):
        """Runs dpsctl, asserts exit 0 and a quiet stderr; returns the
        parsed JSON output (None for no output) or the text for other
        formats."""
        r = self.ctl(*args, **kw)
        self.assertEqual(r.returncode, 0, "dpsctl %s: rc=%d stderr=%r" % (args, r.returncode,
                                                                         r.stderr))
        self.assertEqual(r.stderr, "", args)
        if kw.get("output") not in (None, "json"):
            return r.stdout
        return json.loads(r.stdout) if r.stdout.strip() else None

    def fails(self, rc, *args, **kw):
        """Runs dpsctl, asserts exit code rc and nothing on stdout; returns
        stderr. Service and connection errors are exactly one line."""
        r = self.ctl(*args, **kw)
        self.assertEqual(r.returncode, rc, "dpsctl %s: stdout=%r stderr=%r" % (args, r.stdout,
                                                                              r.stderr))
        self.assertEqual(r.stdout, "", args)
        self.assertTrue(r.stderr.startswith("dpsctl: "), r.stderr)
        if rc in (1, 3):
            self.assertEqual(r.stderr.count("\n"), 1, r.stderr)
        return r.stderr

    def rest_device(self, device_id, hub=HUB1):
        return self.hubd.service(hub).get("/devices/%s" % q(device_id))

    def connect(self, hub, device):
        c, ack = self.hubd.connect_device(hub, device["deviceId"], key_of(device))
        self.addCleanup(c.close)
        self.assertEqual(ack.return_code, 0, "CONNACK for %s" % device["deviceId"])
        return c


class DeviceCommandsTest(HubCliBase):

    def test_create_show_update_delete(self):
        did = unique_id("ctl")
        created = self.ok("hub", "device", "create", "--device-id", did)
        self.assertEqual(created["deviceId"], did)
        self.assertEqual(created["status"], "enabled")
        self.assertEqual(created["authentication"]["type"], "sas")
        # keys are generated by the hub and kept off the screen by default
        self.assertNotIn("symmetricKey", created["authentication"])
        r = self.rest_device(did)
        self.assertStatus(r, 200)
        keys = r.json()["authentication"]["symmetricKey"]
        self.assertTrue(keys["primaryKey"] and keys["secondaryKey"], keys)

        shown = self.ok("hub", "device", "show", "--device-id", did, "--show-keys")
        self.assertEqual(shown["authentication"]["symmetricKey"], keys)
        self.assertEqual(shown["etag"], r.json()["etag"])

        updated = self.ok("hub", "device", "update", "--device-id", did, "--status", "disabled",
                          "--status-reason", "sent for repair", "--edge-enabled", "true")
        self.assertEqual(updated["status"], "disabled")
        after = self.rest_device(did).json()
        self.assertEqual(after["status"], "disabled")
        self.assertEqual(after["statusReason"], "sent for repair")
        self.assertTrue(after["capabilities"]["iotEdge"])
        # keys not mentioned travel back unchanged
        self.assertEqual(after["authentication"]["symmetricKey"], keys)
        self.assertNotEqual(after["etag"], r.json()["etag"])

        self.assertEqual(self.ok("hub", "device", "delete", "--device-id", did), None)
        self.assertHubError(self.rest_device(did), 404, "DeviceNotFound")
        err = self.fails(1, "hub", "device", "delete", "--device-id", did)
        self.assertTrue(err.startswith("dpsctl: error DeviceNotFound (404): "), err)

    def test_create_with_keys_and_table_output(self):
        did = unique_id("keys")
        k1, k2 = random_key(), random_key(16)
        out = self.ok("hub", "device", "create", "--device-id", did, "--primary-key", k1,
                      "--secondary-key", k2, "--status", "disabled", output="table")
        lines = out.splitlines()
        self.assertEqual(lines[0].split(), ["DeviceId", "Status", "StatusReason",
                                            "ConnectionState", "Authentication", "IotEdge",
                                            "LastActivityTime"])
        self.assertTrue(lines[1].startswith("--------"))
        self.assertEqual(lines[2].split()[:4], [did, "disabled", "Disconnected", "sas"])
        sk = self.rest_device(did).json()["authentication"]["symmetricKey"]
        self.assertEqual(sk, {"primaryKey": k1, "secondaryKey": k2})

    def test_create_existing_device_fails(self):
        dev = self.create_device(HUB1)
        err = self.fails(1, "hub", "device", "create", "--device-id", dev["deviceId"])
        self.assertTrue(err.startswith("dpsctl: error DeviceAlreadyExists (409): "), err)
        # the existing device is untouched
        self.assertEqual(self.rest_device(dev["deviceId"]).json()["etag"], dev["etag"])

    def test_x509_devices_and_changing_the_method(self):
        did = unique_id("x509")
        tp1, tp2 = "ab" * 20, "CD" * 32
        dev = self.ok("hub", "device", "create", "--device-id", did, "--auth-method",
                      "x509_thumbprint", "--primary-thumbprint", tp1, "--secondary-thumbprint",
                      tp2)
        self.assertEqual(dev["authentication"]["type"], "selfSigned")
        tps = self.rest_device(did).json()["authentication"]["x509Thumbprint"]
        self.assertEqual(tps, {"primaryThumbprint": tp1.upper(), "secondaryThumbprint": tp2})
        # changing only the secondary keeps the primary
        self.ok("hub", "device", "update", "--device-id", did, "--secondary-thumbprint",
                "ef" * 20)
        tps = self.rest_device(did).json()["authentication"]["x509Thumbprint"]
        self.assertEqual(tps["primaryThumbprint"], tp1.upper())
        self.assertEqual(tps["secondaryThumbprint"], ("ef" * 20).upper())
        # switching to keys: the hub generates them, the thumbprints go
        self.ok("hub", "device", "update", "--device-id", did, "--auth-method",
                "shared_private_key")
        auth = self.rest_device(did).json()["authentication"]
        self.assertEqual(auth["type"], "sas")
        self.assertTrue(auth["symmetricKey"]["primaryKey"], auth)
        self.assertFalse((auth.get("x509Thumbprint") or {}).get("primaryThumbprint"), auth)

        ca = unique_id("ca")
        self.ok("hub", "device", "create", "--device-id", ca, "--auth-method", "x509_ca")
        self.assertEqual(self.rest_device(ca).json()["authentication"]["type"],
                         "certificateAuthority")
        cs = self.ok("hub", "connection-string", "show", "--device-id", ca)
        self.assertEqual(cs, {"connectionString": "HostName=%s;DeviceId=%s;x509=true"
                                                  % (HUB1, ca)})

    def test_update_is_conditional(self):
        dev = self.create_device(HUB1)
        did = dev["deviceId"]
        err = self.fails(1, "hub", "device", "update", "--device-id", did, "--status",
                         "disabled", "--etag", '"AAAAAAAAAAA="')
        self.assertTrue(err.startswith("dpsctl: error PreconditionFailed (412): "), err)
        self.assertEqual(self.rest_device(did).json()["status"], "enabled")
        self.ok("hub", "device", "update", "--device-id", did, "--status", "disabled",
                "--etag", dev["etag"])
        self.assertEqual(self.rest_device(did).json()["status"], "disabled")
        # delete with a stale ETag is refused too
        err = self.fails(1, "hub", "device", "delete", "--device-id", did, "--etag",
                         dev["etag"])
        self.assertIn("PreconditionFailed (412)", err)
        self.assertStatus(self.rest_device(did), 200)

    def test_usage_errors_send_nothing(self):
        did = unique_id("bad")
        cases = [
            (["--auth-method", "password"], "--auth-method: 'password' is not one of"),
            (["--auth-method", "x509_ca", "--primary-key", random_key()],
             "need --auth-method shared_private_key"),
            (["--primary-thumbprint", "ab" * 20], "need --auth-method x509_thumbprint"),
            (["--auth-method", "x509_thumbprint"], "needs --primary-thumbprint"),
            (["--auth-method", "x509_thumbprint", "--primary-thumbprint", "xyz"],
             "is not 40 (SHA-1) or 64 (SHA-256) hex digits"),
            (["--primary-key", "not base64!"], "--primary-key: not valid base64"),
            (["--primary-key", random_key(8)], "16..64 bytes"),
            (["--status", "paused"], "--status: 'paused' is not one of enabled or disabled"),
            (["--edge-enabled", "yes"], "--edge-enabled: 'yes' is not true or false"),
        ]
        for extra, msg in cases:
            with self.subTest(extra=extra):
                err = self.fails(2, "hub", "device", "create", "--device-id", did, *extra)
                self.assertIn(msg, err)
                self.assertIn("Try 'dpsctl hub device create --help'.", err)
        self.assertHubError(self.rest_device(did), 404, "DeviceNotFound")
        err = self.fails(2, "hub", "device", "create")
        self.assertIn("missing required option '--device-id'", err)
        dev = self.create_device(HUB1)
        err = self.fails(2, "hub", "device", "update", "--device-id", dev["deviceId"])
        self.assertIn("nothing to change", err)
        err = self.fails(2, "hub", "device", "update", "--device-id", dev["deviceId"],
                         "--primary-thumbprint", "ab" * 20)
        self.assertIn("need --auth-method x509_thumbprint", err)

    def test_show_unknown_device(self):
        err = self.fails(1, "hub", "device", "show", "--device-id", "no-such-device")
        self.assertEqual(err, "dpsctl: error DeviceNotFound (404): Device no-such-device is "
                              "not registered\n")

    def test_connection_strings(self):
        dev = self.create_device(HUB1)
        did = dev["deviceId"]
        sk = dev["authentication"]["symmetricKey"]
        out = self.ok("hub", "connection-string", "show", "--device-id", did, output="tsv")
        self.assertEqual(out, "HostName=%s;DeviceId=%s;SharedAccessKey=%s\n"
                              % (HUB1, did, sk["primaryKey"]))
        out = self.ok("hub", "connection-string", "show", "--device-id", did, "--key-type",
                      "secondary")
        self.assertEqual(out["connectionString"], "HostName=%s;DeviceId=%s;SharedAccessKey=%s"
                         % (HUB1, did, sk["secondaryKey"]))
        # the device connection string really connects the device
        fields = parse_connection_string(out["connectionString"])
        c, ack = self.hubd.connect_device(HUB1, did, fields["SharedAccessKey"])
        self.addCleanup(c.close)
        self.assertEqual(ack.return_code, 0)
        # without --device-id: the login itself, needing no request
        login = self.hubd.hub_connection_string(HUB1)
        out = self.ok("hub", "connection-string", "show", output="tsv",
                      endpoint="https://127.0.0.1:1")
        self.assertEqual(out, login + "\n")
        err = self.fails(2, "hub", "connection-string", "show", "--key-type", "primary")
        self.assertIn("--key-type needs --device-id", err)

    def test_statistics(self):
        self.create_device(HUB2, status="disabled")
        self.create_device(HUB2)
        stats = self.ok("hub", "statistics", hub=HUB2)
        reg = self.hubd.service(HUB2).get("/statistics/devices").json()
        svc = self.hubd.service(HUB2).get("/statistics/service").json()
        expected = dict(reg)
        expected.update(svc)
        self.assertEqual(stats, expected)
        self.assertGreaterEqual(stats["disabledDeviceCount"], 1)
        self.assertIn("connectedDeviceCount", stats)


class DeviceListTest(HubCliBase):
    """Listing follows the query's continuation: more devices than one
    default page (100) in a hub of their own."""

    N = 105

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        svc = cls.hubd.service(HUB2)
        cls.ids = sorted("list-%03d" % i for i in range(cls.N))
        for did in cls.ids:
            r = svc.put("/devices/%s" % did, {"deviceId": did})
            assert r.status == 200, r

    def test_list_reads_every_page(self):
        twins = self.ok("hub", "device", "list", hub=HUB2)
        self.assertEqual([t["deviceId"] for t in twins], self.ids)
        self.assertEqual(twins[0]["authenticationType"], "sas")

    def test_top_and_tsv(self):
        twins = self.ok("hub", "device", "list", "--top", "3", hub=HUB2)
        self.assertEqual([t["deviceId"] for t in twins], self.ids[:3])
        out = self.ok("hub", "device", "list", "--top", "2", hub=HUB2, output="tsv")
        rows = [line.split("\t") for line in out.splitlines()]
        self.assertEqual([r[0] for r in rows], self.ids[:2])
        self.assertEqual(rows[0][1:5], ["enabled", "", "Disconnected", "sas"])
        err = self.fails(2, "hub", "device", "list", "--top", "0", hub=HUB2)
        self.assertIn("--top", err)

    def test_hubs_are_separate(self):
        # the same listener, hub1's login: none of hub2's devices
        twins = self.ok("hub", "device", "list", hub=HUB1)
        self.assertFalse(set(t["deviceId"] for t in twins) & set(self.ids))


class TwinCommandsTest(HubCliBase):

    def test_update_merges_and_is_visible_over_rest(self):
        dev = self.create_device(HUB1)
        did = dev["deviceId"]
        twin = self.ok("hub", "twin", "update", "--device-id", did, "--tags",
                       '{"site": "north", "floor": 3}', "--desired", '{"rate": 15, "mode": "eco"}')
        self.assertEqual(twin["tags"], {"site": "north", "floor": 3})
        rest = self.hubd.service(HUB1).get("/twins/%s" % q(did)).json()
        self.assertEqual(rest["tags"], {"site": "north", "floor": 3})
        self.assertEqual(rest["properties"]["desired"]["rate"], 15)
        self.assertEqual(rest["properties"]["desired"]["mode"], "eco")
        # a merge: null deletes, the rest stays
        self.ok("hub", "twin", "update", "--device-id", did, "--desired", '{"mode": null}')
        rest = self.hubd.service(HUB1).get("/twins/%s" % q(did)).json()
        self.assertNotIn("mode", rest["properties"]["desired"])
        self.assertEqual(rest["properties"]["desired"]["rate"], 15)
        self.assertEqual(rest["tags"]["site"], "north")
        shown = self.ok("hub", "twin", "show", "--device-id", did)
        self.assertEqual(shown["etag"], rest["etag"])
        self.assertIn("$metadata", shown["properties"]["desired"])

    def test_update_from_file_and_table(self):
        dev = self.create_device(HUB1)
        tmp = tempfile.mkdtemp(prefix="dpsctl-hub-")
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, "tags.json")
        with open(path, "w") as f:
            json.dump({"owner": "ops"}, f)
        out = self.ok("hub", "twin", "update", "--device-id", dev["deviceId"], "--tags",
                      "@" + path, output="table")
        lines = out.splitlines()
        self.assertEqual(lines[0].split(), ["DeviceId", "Status", "ConnectionState", "Version",
                                            "Tags", "Desired", "Reported"])
        self.assertIn('{"owner":"ops"}', lines[2])
        self.assertNotIn("$metadata", out)

    def test_desired_change_reaches_the_device(self):
        dev = self.create_device(HUB1)
        c = self.connect(HUB1, dev)
        c.subscribe("$iothub/twin/PATCH/properties/desired/#", qos=0)
        self.ok("hub", "twin", "update", "--device-id", dev["deviceId"], "--desired",
                '{"sampleSeconds": 30}')
        msg = c.recv_publish(timeout=WAIT, topic_prefix="$iothub/twin/PATCH/properties/desired/")
        self.assertEqual(json.loads(msg.payload)["sampleSeconds"], 30)

    def test_errors(self):
        dev = self.create_device(HUB1)
        did = dev["deviceId"]
        err = self.fails(1, "hub", "twin", "update", "--device-id", did, "--tags",
                         '{"site": "x"}', "--etag", '"AAAAAAAAAAA="')
        self.assertIn("error PreconditionFailed (412)", err)
        err = self.fails(1, "hub", "twin", "update", "--device-id", did, "--desired",
                         '{"list": [1, 2]}')
        self.assertTrue(err.startswith("dpsctl: error ArgumentInvalid (400): "), err)
        err = self.fails(2, "hub", "twin", "update", "--device-id", did)
        self.assertIn("nothing to change", err)
        err = self.fails(2, "hub", "twin", "update", "--device-id", did, "--tags", "[1]")
        self.assertIn("--tags", err)
        err = self.fails(1, "hub", "twin", "show", "--device-id", "missing-twin")
        self.assertIn("error DeviceNotFound (404)", err)
        tags = self.hubd.service(HUB1).get("/twins/%s" % q(did)).json()["tags"]
        self.assertEqual(tags, {})


class MethodCommandTest(HubCliBase):

    def answer_one(self, c, status, payload, seen):
        msg = c.recv_publish(timeout=WAIT, topic_prefix="$iothub/methods/POST/")
        seen.append(msg)
        rid = parse_property_bag(topic_query(msg.topic))["$rid"]
        c.publish("$iothub/methods/res/%d/?$rid=%s" % (status, rid), payload, qos=0)

    def test_round_trip(self):
        dev = self.create_device(HUB1)
        c = self.connect(HUB1, dev)
        self.assertEqual(c.subscribe("$iothub/methods/POST/#", qos=0), [0])
        seen = []
        t = threading.Thread(target=self.answer_one, args=(c, 201, b'{"rebooting":true}', seen))
        t.start()
        try:
            out = self.ok("hub", "invoke-method", "--device-id", dev["deviceId"],
                          "--method-name", "reboot", "--method-payload", '{"delay": 5}',
                          "--timeout", "15")
        finally:
            t.join(WAIT + 5)
        self.assertEqual(out, {"status": 201, "payload": {"rebooting": True}})
        self.assertTrue(seen[0].topic.startswith("$iothub/methods/POST/reboot/?"), seen[0].topic)
        self.assertEqual(json.loads(seen[0].payload), {"delay": 5})

    def test_device_error_status_is_a_result(self):
        """The device answering 500 is a completed call: printed, exit 0."""
        dev = self.create_device(HUB1)
        c = self.connect(HUB1, dev)
        c.subscribe("$iothub/methods/POST/#", qos=0)
        seen = []
        t = threading.Thread(target=self.answer_one, args=(c, 500, b'"no such method"', seen))
        t.start()
        try:
            out = self.ok("hub", "invoke-method", "--device-id", dev["deviceId"],
                          "--method-name", "selfDestruct", output="tsv")
        finally:
            t.join(WAIT + 5)
        self.assertEqual(out, "500\tno such method\n")
        # no --method-payload: the device gets an empty body
        self.assertEqual(seen[0].payload, b"")

    def test_offline_device(self):
        dev = self.create_device(HUB1)
        t0 = time.monotonic()
        err = self.fails(1, "hub", "invoke-method", "--device-id", dev["deviceId"],
                         "--method-name", "ping", "--connect-timeout", "1")
        self.assertTrue(err.startswith("dpsctl: error DeviceNotOnline (404): "), err)
        self.assertLess(time.monotonic() - t0, 15)

    def test_device_that_does_not_answer(self):
        dev = self.create_device(HUB1)
        c = self.connect(HUB1, dev)
        c.subscribe("$iothub/methods/POST/#", qos=0)
        t0 = time.monotonic()
        err = self.fails(1, "hub", "invoke-method", "--device-id", dev["deviceId"],
                         "--method-name", "slow", "--timeout", "5")
        elapsed = time.monotonic() - t0
        self.assertTrue(err.startswith("dpsctl: error GatewayTimeout (504): "), err)
        self.assertGreater(elapsed, 4)
        self.assertLess(elapsed, 25)

    def test_usage_errors(self):
        for extra, msg in [(["--timeout", "4"], "--timeout: '4' is not a number of seconds "
                                                "from 5 to 300"),
                           (["--connect-timeout", "301"], "--connect-timeout"),
                           (["--method-payload", "not json"], "--method-payload: not JSON")]:
            with self.subTest(extra=extra):
                err = self.fails(2, "hub", "invoke-method", "--device-id", "d",
                                 "--method-name", "m", *extra)
                self.assertIn(msg, err)
        err = self.fails(2, "hub", "invoke-method", "--device-id", "d")
        self.assertIn("missing required option '--method-name'", err)


class MonitorCommandTest(HubCliBase):

    def publish_until_done(self, proc, clients, deadline=WAIT):
        """Publishes numbered telemetry from each (client, device ID) in
        turn until proc exits: dpsctl's stream may start after the first
        messages, so the test keeps sending instead of guessing when it is
        connected. Returns (rc, stdout, stderr, bodies sent)."""
        sent = []
        end = time.monotonic() + deadline
        n = 0
        while proc.poll() is None and time.monotonic() < end:
            for c, did in clients:
                body = "%s#%d" % (did, n)
                c.publish("devices/%s/messages/events/%%24.mid=m%d&kind=test" % (did, n),
                          body.encode(), qos=1)
                sent.append(body)
            n += 1
            time.sleep(0.1)
        out, err = proc.communicate(timeout=WAIT)
        return proc.returncode, out, err, sent

    def test_events_as_json_lines(self):
        dev = self.create_device(HUB1)
        did = dev["deviceId"]
        c = self.connect(HUB1, dev)
        p = self.start("hub", "monitor-events", "--max-events", "3", "--timeout", "30")
        rc, out, err, sent = self.publish_until_done(p, [(c, did)])
        self.assertEqual((rc, err), (0, ""))
        lines = out.splitlines()
        self.assertEqual(len(lines), 3, out)
        events = [json.loads(line) for line in lines]
        for ev in events:
            self.assertEqual(ev["deviceId"], did)
            self.assertEqual(ev["hub"], HUB1)
            self.assertIn(ev["body"], sent)
            self.assertEqual(ev["applicationProperties"], {"kind": "test"})
            self.assertTrue(ev["systemProperties"]["messageId"].startswith("m"))
        seqs = [ev["sequence"] for ev in events]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + 3)))

    def test_device_filter_and_table(self):
        a, b = self.create_device(HUB1), self.create_device(HUB1)
        ca, cb = self.connect(HUB1, a), self.connect(HUB1, b)
        p = self.start("hub", "monitor-events", "--device-id", a["deviceId"], "--max-events",
                       "2", "--timeout", "30", output="table")
        rc, out, err, sent = self.publish_until_done(p, [(cb, b["deviceId"]),
                                                         (ca, a["deviceId"])])
        self.assertEqual((rc, err), (0, ""))
        lines = out.splitlines()
        self.assertEqual(len(lines), 2, out)
        for line in lines:
            cols = line.split("  ")
            self.assertTrue(cols[0].endswith("Z"), line)
            self.assertEqual(cols[1], a["deviceId"])
            self.assertTrue(cols[2].startswith(a["deviceId"] + "#"), line)
            self.assertEqual(cols[3], "kind=test")

    def test_timeout_ends_cleanly(self):
        t0 = time.monotonic()
        r = self.ctl("hub", "monitor-events", "--timeout", "1", "--device-id", "nobody")
        elapsed = time.monotonic() - t0
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "", ""))
        self.assertGreater(elapsed, 0.9)
        self.assertLess(elapsed, 10)

    def test_interrupt_ends_cleanly(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            with self.subTest(sig=sig):
                p = self.start("hub", "monitor-events")
                time.sleep(1.0)
                self.assertIsNone(p.poll(), "monitor-events ended by itself")
                p.send_signal(sig)
                out, err = p.communicate(timeout=WAIT)
                self.assertEqual((p.returncode, out, err), (0, "", ""))

    def test_errors(self):
        bad = "HostName=%s;SharedAccessKeyName=iothubowner;SharedAccessKey=%s" % (
            HUB1, random_key())
        err = self.fails(1, "hub", "monitor-events", "--timeout", "5", login=bad)
        self.assertTrue(err.startswith("dpsctl: error IotHubUnauthorizedAccess (401): "), err)
        err = self.fails(2, "hub", "monitor-events", "--timeout", "-1")
        self.assertIn("--timeout", err)
        err = self.fails(2, "hub", "monitor-events", "--max-events", "0")
        self.assertIn("--max-events", err)
        err = self.fails(3, "hub", "monitor-events", endpoint="https://127.0.0.1:1")
        self.assertIn("cannot reach https://127.0.0.1:1", err)


class C2dCommandTest(HubCliBase):

    def test_send_reaches_the_device(self):
        dev = self.create_device(HUB1)
        did = dev["deviceId"]
        c = self.connect(HUB1, dev)
        self.assertEqual(c.subscribe("devices/%s/messages/devicebound/#" % did, qos=1), [1])
        self.assertIsNone(self.ok("hub", "c2d", "send", "--device-id", did, "--data",
                                  '{"led": "on"}', "--props", "priority=high;source=ops,a=",
                                  "--message-id", "cmd-17"))
        msg = c.recv_publish(timeout=WAIT, topic_prefix="devices/%s/messages/devicebound/" % did)
        c.puback(msg.packet_id)
        self.assertEqual(msg.payload, b'{"led": "on"}')
        bag = parse_property_bag(msg.topic.split("/devicebound/", 1)[1])
        self.assertEqual(bag.get("$.mid"), "cmd-17")
        self.assertEqual(bag.get("priority"), "high")
        self.assertEqual(bag.get("source"), "ops")
        self.assertEqual(bag.get("a"), "")

    def test_errors(self):
        err = self.fails(1, "hub", "c2d", "send", "--device-id", "nobody-here", "--data", "x")
        self.assertTrue(err.startswith("dpsctl: error DeviceNotFound (404): "), err)
        for props, msg in [("noequals", "is not name=value"), ("bad name=1", "property name"),
                           ("a=1,A=2", "given twice"), ("=1", "1 to 128 characters")]:
            with self.subTest(props=props):
                err = self.fails(2, "hub", "c2d", "send", "--device-id", "d", "--data", "x",
                                 "--props", props)
                self.assertIn(msg, err)
        err = self.fails(2, "hub", "c2d", "send", "--device-id", "d")
        self.assertIn("missing required option '--data'", err)


class ConnectionTest(HubCliBase):

    def test_options_instead_of_environment(self):
        dev = self.create_device(HUB1)
        shown = self.ok("hub", "device", "show", "--device-id", dev["deviceId"], use_env=False)
        self.assertEqual(shown["deviceId"], dev["deviceId"])
        # the option wins over a wrong environment
        wrong = "HostName=%s;SharedAccessKeyName=iothubowner;SharedAccessKey=%s" % (
            HUB1, random_key())
        cmd, env = self.command(["hub", "device", "show", "--device-id", dev["deviceId"]],
                                use_env=False)
        env["DPSCTL_HUB_CONNECTION_STRING"] = wrong
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_localhost_endpoint_and_second_hub(self):
        dev2 = self.create_device(HUB2)
        ep = "https://localhost:%d/" % self.hubd.rest_port
        shown = self.ok("hub", "device", "show", "--device-id", dev2["deviceId"], hub=HUB2,
                        endpoint=ep)
        self.assertEqual(shown["deviceId"], dev2["deviceId"])
        # the same listener with hub1's login is hub1: the device is not there
        err = self.fails(1, "hub", "device", "show", "--device-id", dev2["deviceId"], hub=HUB1)
        self.assertIn("DeviceNotFound (404)", err)

    def test_credential_and_transport_errors(self):
        bad = "HostName=%s;SharedAccessKeyName=iothubowner;SharedAccessKey=%s" % (
            HUB1, random_key())
        err = self.fails(1, "hub", "statistics", login=bad)
        self.assertTrue(err.startswith("dpsctl: error IotHubUnauthorizedAccess (401): "), err)
        tmp = tempfile.mkdtemp(prefix="dpsctl-hub-")
        self.addCleanup(shutil.rmtree, tmp, True)
        other_ca, _ = make_self_signed_cert(tmp, "other-ca")
        err = self.fails(3, "hub", "statistics", cafile=other_ca)
        self.assertIn("TLS failure", err)
        self.assertIn("--hub-cafile / DPSCTL_HUB_CA_FILE", err)
        err = self.fails(3, "hub", "statistics", endpoint="https://127.0.0.1:1")
        self.assertIn("cannot reach https://127.0.0.1:1", err)
        # without --hub-endpoint the connection string's HostName is used
        nowhere = "HostName=hub.opendps.invalid;SharedAccessKeyName=iothubowner;" \
                  "SharedAccessKey=%s" % random_key()
        cmd, env = self.command(["hub", "statistics"], login=nowhere, endpoint="")
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT)
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("https://hub.opendps.invalid", r.stderr)

    def test_usage_errors(self):
        cases = [
            ({"endpoint": "http://127.0.0.1:1"}, [], "--hub-endpoint must be an https:// URL"),
            ({"login": "SharedAccessKey=abc"}, [], "--hub-login:"),
            ({"cafile": "/nonexistent/ca.pem"}, [], "--hub-cafile /nonexistent/ca.pem: cannot "
                                                    "read the file"),
            ({}, ["--login", "HostName=x;SharedAccessKeyName=a;SharedAccessKey=YQ=="],
             "--login is for dpsd; hub commands take --hub-login"),
            ({}, ["--cafile", "/tmp"], "hub commands take --hub-cafile"),
        ]
        for kw, extra, msg in cases:
            with self.subTest(msg=msg):
                err = self.fails(2, "hub", "statistics", *extra, **kw)
                self.assertIn(msg, err)
        cmd, env = self.command(["hub", "statistics"])
        env.pop("DPSCTL_HUB_CONNECTION_STRING")
        # a dpsd login in the environment is not used for the hub
        env["DPSCTL_CONNECTION_STRING"] = self.hubd.hub_connection_string(HUB1)
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT)
        self.assertEqual(r.returncode, 2)
        self.assertIn("no hub connection string: give --hub-login or set "
                      "DPSCTL_HUB_CONNECTION_STRING", r.stderr)

    def test_command_words_and_help(self):
        r = self.ctl("hub", "--help", endpoint="")
        self.assertEqual(r.returncode, 0, r.stderr)
        for words in ("invoke-method", "monitor-events", "statistics", "device create",
                      "device list", "twin update", "c2d send", "connection-string show"):
            self.assertIn("  " + words, r.stdout)
        r = self.ctl("hub", "device", "update", "--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("--hub-login", r.stdout)
        self.assertNotIn("--login", r.stdout.replace("--hub-login", ""))
        r = self.ctl("hub", "invoke-method", "--help")
        self.assertIn("seconds to wait for the device's answer", r.stdout)
        self.assertNotIn("limit for each request", r.stdout)
        err = self.fails(2, "hub", "device")
        self.assertIn("missing command after 'hub device'", err)
        err = self.fails(2, "hub", "devices", "list")
        self.assertIn("unknown command 'hub devices'", err)
        err = self.fails(2, "hub", "device", "list", "extra")
        self.assertIn("unexpected argument 'extra'", err)
        # hub options belong to hub commands only
        cmd, env = self.command(["enrollment", "list"])
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT)
        self.assertEqual(r.returncode, 2)
        self.assertIn("option '--hub-endpoint' is not valid here", r.stderr)
