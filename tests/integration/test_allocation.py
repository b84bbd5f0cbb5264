"""Allocation policies, reprovisioning, lifecycle and the dry run, end to
end (issue 7; service-api.md §12-§16, hub.md §9): one hubd hosting three
hubs, dpsd with all three linked (weights 1:3 and a third hub out of
automatic allocation, each with a location and hubd's migration
credential), a geoLatency model file, and custom allocation webhooks served
by small HTTP and HTTPS servers inside the test. Devices register over the
HTTPS device API exactly as the SDKs do (test_device_https.Device)."""

import concurrent.futures
import http.server
import json
import math
import os
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

from dpsd_harness import binary, derive_device_key, random_key, run_dpsctl, unique_id
from journey_harness import HubsAndDpsd
from test_device_https import Device, rendezvous_pick

HUB1 = "hub1.opendps.local"  # weight 1, location eu
HUB2 = "hub2.opendps.local"  # weight 3, location us
HUB3 = "hub3.opendps.local"  # weight 1, location ap, applyAllocationPolicy false
WEIGHTS = {HUB1: 1, HUB2: 3, HUB3: 1}
LOCATIONS = {HUB1: "eu", HUB2: "us", HUB3: "ap"}
WEBHOOK_TIMEOUT = 2

GEO_MODEL = {
    "locations": {
        "eu": {"latitude": 50.1, "longitude": 8.7},
        "us": {"latitude": 38.9, "longitude": -77.0},
        "ap": {"latitude": 1.35, "longitude": 103.8},
        "eu-edge": {"latitude": 52.4, "longitude": 4.9},
    },
    # Every test device connects from 127.0.0.1; the dry run can pretend.
    "networks": {"127.0.0.0/8": "eu-edge", "10.0.0.0/8": "ap", "10.1.0.0/16": "us"},
    "hintMember": "location",
}


class Webhook:
    """A custom allocation webhook (service-api.md §13) on a thread: it
    records every request and answers by registration ID prefix."""

    def __init__(self, tls_cert=None, tls_key=None):
        self.requests = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(n) or b"{}")
                with outer.lock:
                    outer.requests.append({"path": self.path, "body": body,
                                           "content_type": self.headers.get("Content-Type")})
                status, answer = outer.decide(body)
                if status is None:
                    time.sleep(WEBHOOK_TIMEOUT + 2)  # past dpsd's deadline
                    status, answer = 200, {"iotHubHostName": HUB1}
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # dpsd gave up (the timeout case)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        scheme = "http"
        if tls_cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(tls_cert, tls_key)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = "%s://127.0.0.1:%d/api/allocate?code=s3cr%%2Bt" % (
            scheme, self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @staticmethod
    def decide(req):
        ctx = req["deviceRuntimeContext"]
        rid = ctx["registrationId"]
        hubs = req["linkedHubs"]
        if rid.startswith("bad-"):
            return 400, {"message": "no"}
        if rid.startswith("err-"):
            return 500, {"message": "boom"}
        if rid.startswith("unauth-"):
            return 401, {}
        if rid.startswith("slow-"):
            return None, None
        if rid.startswith("unknown-"):
            return 200, {"iotHubHostName": "elsewhere.example.net"}
        # The device's payload names the hub it wants (when offered).
        want = (ctx.get("payload") or {}).get("hub")
        hub = want if want in hubs else hubs[-1]
        return 200, {"iotHubHostName": hub,
                     "initialTwin": {"tags": {"from": "webhook"},
                                     "properties": {"desired": {"interval": 7}}},
                     "payload": {"echo": ctx.get("payload"), "hub": hub,
                                 "current": ctx.get("currentIotHubHostName")}}

    def last_for(self, regid):
        with self.lock:
            for r in reversed(self.requests):
                if r["body"]["deviceRuntimeContext"]["registrationId"] == regid:
                    return r
        return None

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class AllocationTest(HubsAndDpsd, unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="dps-alloc-")
        cls.start_hubd([HUB1, HUB2, HUB3])
        pki = os.path.join(cls.hubd.data_dir, "pki")
        cls.geo_file = os.path.join(cls.tmp, "geo.json")
        with open(cls.geo_file, "w") as f:
            json.dump(GEO_MODEL, f)
        cls.webhook = Webhook()
        cls.addClassCleanup(cls.webhook.close)
        # hubd's server certificate names 127.0.0.1 and chains to its CA.
        cls.tls_webhook = Webhook(os.path.join(pki, "server.pem"),
                                  os.path.join(pki, "server.key"))
        cls.addClassCleanup(cls.tls_webhook.close)
        cls.start_dpsd(hub_timeout=3, mqtt=True,
                       extra_args=["--geo-file", cls.geo_file,
                                   "--webhook-timeout", str(WEBHOOK_TIMEOUT),
                                   "--webhook-ca-file", cls.hubd.ca_file])
        mig = cls.hubd.info["migration connection string"]
        for hub, w in WEIGHTS.items():
            extra = {"location": LOCATIONS[hub], "migrationConnectionString": mig}
            if hub == HUB3:
                extra["applyAllocationPolicy"] = False
            r = cls.link_hub(hub, w, **extra)
            assert "****" in r.json()["migrationConnectionString"], r.json()

    # ---- helpers

    def assertStatus(self, r, status):
        if r.status != status:
            self.fail("expected %d, got %r" % (status, r))

    def enroll(self, regid=None, **extra):
        regid = regid or unique_id("dev")
        body = {"registrationId": regid,
                "attestation": {"type": "symmetricKey",
                                "symmetricKey": {"primaryKey": random_key(),
                                                 "secondaryKey": random_key()}}}
        body.update(extra)
        r = self.svc.put("/enrollments/" + regid, body, headers={"If-Match": "*"})
        self.assertStatus(r, 200)
        return r.json()

    def update_enrollment(self, regid, **changes):
        r = self.svc.get("/enrollments/" + regid)
        self.assertStatus(r, 200)
        doc = r.json()
        doc.update(changes)
        doc.pop("registrationState", None)
        r = self.svc.put("/enrollments/" + regid, doc, headers={"If-Match": doc["etag"]})
        self.assertStatus(r, 200)
        return r.json()

    def group(self, gid=None, **extra):
        gid = gid or unique_id("grp")
        body = {"enrollmentGroupId": gid,
                "attestation": {"type": "symmetricKey",
                                "symmetricKey": {"primaryKey": random_key(64),
                                                 "secondaryKey": random_key(64)}}}
        body.update(extra)
        r = self.svc.put("/enrollmentGroups/" + gid, body)
        self.assertStatus(r, 200)
        return r.json()

    def device(self, enr, regid=None):
        if "enrollmentGroupId" in enr:
            key = derive_device_key(enr["attestation"]["symmetricKey"]["primaryKey"], regid)
            return Device(self.dpsd, regid, key)
        return Device(self.dpsd, enr["registrationId"],
                      enr["attestation"]["symmetricKey"]["primaryKey"])

    def register(self, dev, payload=None):
        if payload is None:
            return dev.provision()[1]
        # Device.provision sends no body; with a payload, drive it here.
        r = dev.register({"registrationId": dev.regid, "payload": payload})
        self.assertStatus(r, 202)
        op = r.json()["operationId"]
        end = time.monotonic() + 30
        while time.monotonic() < end:
            time.sleep(0.05)
            r = dev.poll(op)
            if r.status == 200:
                return r.json()
            self.assertStatus(r, 202)
        self.fail("%s still assigning" % dev.regid)

    def explain(self, regid, **body):
        r = self.svc.post("/admin/registrations/%s/explain" % regid, body or None)
        self.assertStatus(r, 200)
        return r.json()

    def hub(self, hub):
        return self.hubd.service(hub)

    def twin(self, hub, device_id):
        r = self.hub(hub).get("/twins/" + device_id)
        return r.json() if r.status == 200 else None

    def hub_has(self, hub, device_id):
        r = self.hub(hub).get("/devices/" + device_id)
        self.assertIn(r.status, (200, 404), r)
        return r.status == 200

    def report(self, hub, device_id, key, patch):
        c, ack = self.hubd.connect_device(hub, device_id, key)
        try:
            c.subscribe("$iothub/twin/res/#", qos=0)
            status, _, _ = c.twin_patch_reported(patch, rid="r1")
            self.assertEqual(status, 204)
        finally:
            c.close()

    # ---- hashed, applyAllocationPolicy, static

    def test_hashed_weights_and_apply_false(self):
        g = self.group()
        ids = ["fleet-%s-%03d" % (g["enrollmentGroupId"][-6:], i) for i in range(300)]

        def one(regid):
            st = self.register(self.device(g, regid))["registrationState"]
            return regid, st["assignedHub"], st["status"]

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            results = list(pool.map(one, ids))
        counts = {HUB1: 0, HUB2: 0, HUB3: 0}
        for regid, hub, status in results:
            self.assertEqual(status, "assigned")
            counts[hub] += 1
            # Exactly the documented weighted rendezvous hash over the hubs
            # in automatic allocation.
            self.assertEqual(hub, rendezvous_pick(regid, [(HUB1, 1), (HUB2, 3)]))
        self.assertEqual(counts[HUB3], 0, counts)  # out of automatic allocation
        n, p = len(ids), 0.75
        sd = math.sqrt(n * p * (1 - p))
        self.assertLess(abs(counts[HUB2] - n * p), 4 * sd, counts)
        # Nothing of the group reached HUB3's registry.
        r = self.hub(HUB3).post("/devices/query",
                                {"query": "SELECT * FROM devices"})
        self.assertStatus(r, 200)
        self.assertFalse([d for d in r.json() if d["deviceId"] in set(ids)])

    def test_apply_false_hub_selectable_when_listed_and_static(self):
        enr = self.enroll(allocationPolicy="static", iotHubs=[HUB3])
        st = self.register(self.device(enr))["registrationState"]
        self.assertEqual(st["assignedHub"], HUB3)
        self.assertTrue(self.hub_has(HUB3, enr["registrationId"]))
        enr2 = self.enroll(allocationPolicy="hashed", iotHubs=[HUB3])
        self.assertEqual(self.register(self.device(enr2))["registrationState"]["assignedHub"],
                         HUB3)

    def test_static_and_dry_run_agree(self):
        enr = self.enroll(allocationPolicy="static", iotHubs=[HUB1])
        regid = enr["registrationId"]
        ex = self.explain(regid)
        self.assertEqual(ex["allocationPolicy"], "static")
        self.assertEqual(ex["enrollment"]["kind"], "individualEnrollment")
        self.assertEqual(ex["assignedHub"], HUB1)
        self.assertEqual(ex["action"], "create")
        self.assertEqual(ex["substatus"], "initialAssignment")
        # The dry run wrote nothing.
        self.assertStatus(self.svc.get("/registrations/" + regid), 404)
        st = self.register(self.device(enr))["registrationState"]
        self.assertEqual(st["assignedHub"], ex["assignedHub"])
        self.assertEqual(st["substatus"], ex["substatus"])

    def test_hashed_dry_run_agrees_for_a_group(self):
        g = self.group()
        ids = ["x-%s-%d" % (g["enrollmentGroupId"][-6:], i) for i in range(12)]
        for regid in ids:
            ex = self.explain(regid, enrollmentGroupId=g["enrollmentGroupId"])
            self.assertEqual(ex["policySource"], "instance default")  # Hashed
            self.assertEqual(ex["allocationPolicy"], "hashed")
            self.assertEqual(sorted(ex["candidateHubs"]), [HUB1, HUB2])
            st = self.register(self.device(g, regid))["registrationState"]
            self.assertEqual(st["assignedHub"], ex["assignedHub"], regid)
            # After the registration, the record names the group: no hint needed.
            again = self.explain(regid)
            self.assertEqual(again["action"], "keep")
            self.assertEqual(again["currentHub"], st["assignedHub"])

    # ---- geoLatency

    def test_geo_latency(self):
        enr = self.enroll(allocationPolicy="geoLatency", iotHubs=[HUB1, HUB2, HUB3])
        regid = enr["registrationId"]
        # 127.0.0.1 is in eu-edge, nearest to HUB1 (eu). The dry run knows
        # no device address unless told.
        self.assertIsNone(self.explain(regid)["deviceLocation"])
        ex = self.explain(regid, clientAddress="127.0.0.1")
        self.assertEqual(ex["deviceLocation"], {"location": "eu-edge", "source": "network"})
        self.assertEqual(ex["assignedHub"], HUB1)
        self.assertEqual(self.register(self.device(enr))["registrationState"]["assignedHub"],
                         HUB1)
        # The dry run with other addresses: longest prefix wins.
        self.assertEqual(self.explain(regid, clientAddress="10.2.3.4")["assignedHub"], HUB3)
        self.assertEqual(self.explain(regid, clientAddress="10.1.3.4")["assignedHub"], HUB2)
        # A hint in the payload beats the network.
        enr2 = self.enroll(allocationPolicy="geoLatency", iotHubs=[HUB1, HUB2, HUB3])
        ex = self.explain(enr2["registrationId"], payload={"location": "us"})
        self.assertEqual(ex["deviceLocation"]["source"], "hint")
        st = self.register(self.device(enr2), payload={"location": "us"})["registrationState"]
        self.assertEqual(st["assignedHub"], HUB2)
        self.assertEqual(st["assignedHub"], ex["assignedHub"])
        # Without an explicit list, HUB3 (out of automatic allocation) is no
        # candidate even for a device in ap.
        enr3 = self.enroll(allocationPolicy="geoLatency")
        st = self.register(self.device(enr3), payload={"location": "ap"})["registrationState"]
        self.assertIn(st["assignedHub"], (HUB1, HUB2))

    # ---- custom webhook

    def custom(self, url=None, **extra):
        regid = extra.pop("regid", None)
        return self.enroll(regid, allocationPolicy="custom", iotHubs=[HUB1, HUB2, HUB3],
                           customAllocationDefinition={"webhookUrl": url or self.webhook.url,
                                                       "apiVersion": "2021-10-01"},
                           initialTwin={"tags": {"from": "enrollment"}}, **extra)

    def test_custom_success_payload_round_trip(self):
        enr = self.custom(regid=unique_id("ok"))
        regid = enr["registrationId"]
        ex = self.explain(regid, payload={"hub": HUB2, "fw": "2.4"})
        self.assertEqual(ex["decidedBy"], "webhook")
        self.assertEqual(ex["webhookRequest"]["linkedHubs"], [HUB1, HUB2, HUB3])
        self.assertIsNone(self.webhook.last_for(regid))  # the dry run calls nobody
        body = self.register(self.device(enr), payload={"hub": HUB2, "fw": "2.4"})
        st = body["registrationState"]
        self.assertEqual(st["status"], "assigned", st)
        self.assertEqual(st["assignedHub"], HUB2)
        self.assertEqual(st["payload"], {"echo": {"hub": HUB2, "fw": "2.4"}, "hub": HUB2,
                                         "current": None})
        # The request as Azure sends it.
        req = self.webhook.last_for(regid)
        self.assertEqual(req["path"], "/api/allocate?code=s3cr%2Bt")  # query kept verbatim
        self.assertTrue(req["content_type"].startswith("application/json"))
        b = req["body"]
        self.assertEqual(b, dict(ex["webhookRequest"], deviceRuntimeContext=dict(
            ex["webhookRequest"]["deviceRuntimeContext"])))
        self.assertEqual(b["individualEnrollment"]["attestation"], {"type": "symmetricKey"})
        self.assertTrue(b["individualEnrollment"]["etag"].startswith('"'))
        ctx = b["deviceRuntimeContext"]
        self.assertEqual(ctx["registrationId"], regid)
        self.assertEqual(ctx["symmetricKey"], {})
        self.assertEqual(ctx["payload"], {"hub": HUB2, "fw": "2.4"})
        self.assertNotIn("currentIotHubHostName", ctx)
        self.assertEqual(b["linkedHubs"], [HUB1, HUB2, HUB3])
        # The webhook's initial twin wins over the enrollment's.
        tw = self.twin(HUB2, regid)
        self.assertEqual(tw["tags"], {"from": "webhook"})
        self.assertEqual(tw["properties"]["desired"]["interval"], 7)
        # The lookup returns the stored payload too.
        r = self.device(enr).lookup()
        self.assertEqual(r.json()["payload"]["hub"], HUB2)
        # Re-registration: current hub and device ID reach the webhook.
        body = self.register(self.device(enr), payload={"hub": HUB2})
        req = self.webhook.last_for(regid)
        self.assertEqual(req["body"]["deviceRuntimeContext"]["currentIotHubHostName"], HUB2)
        self.assertEqual(req["body"]["deviceRuntimeContext"]["currentDeviceId"], regid)
        self.assertEqual(body["registrationState"]["payload"]["current"], HUB2)

    def test_custom_over_https(self):
        enr = self.custom(self.tls_webhook.url, regid=unique_id("ok"))
        st = self.register(self.device(enr), payload={"hub": HUB1})["registrationState"]
        self.assertEqual(st["status"], "assigned", st)
        self.assertEqual(st["assignedHub"], HUB1)
        self.assertIsNotNone(self.tls_webhook.last_for(enr["registrationId"]))

    def check_failed(self, prefix, code, message, url=None):
        enr = self.custom(url, regid=unique_id(prefix))
        st = self.register(self.device(enr))["registrationState"]
        self.assertEqual(st["status"], "failed", st)
        self.assertEqual(st["errorCode"], code, st)
        self.assertIn(message, st["errorMessage"])
        self.assertNotIn("assignedHub", st)
        for hub in WEIGHTS:
            self.assertFalse(self.hub_has(hub, enr["registrationId"]))
        return st

    def test_custom_failures(self):
        self.check_failed("bad", 400207, "Custom allocation failed with status code: 400")
        self.check_failed("err", 400209, "Custom allocation failed with status code: 500")
        self.check_failed("unauth", 400209, "Custom allocation failed with status code: 401")
        self.check_failed("unknown", 400209, "not one of the linked hubs")
        t0 = time.monotonic()
        self.check_failed("slow", 400209, "did not answer in time")
        self.assertLess(time.monotonic() - t0, WEBHOOK_TIMEOUT + 10)
        # Nothing listens there.
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        self.check_failed("ok", 400209, "Custom allocation failed",
                          url="http://127.0.0.1:%d/x" % port)
        # A certificate from a CA dpsd's webhook_ca_file does not hold.
        pki = os.path.join(self.dpsd.data_dir, "pki")
        untrusted = Webhook(os.path.join(pki, "server.pem"), os.path.join(pki, "server.key"))
        try:
            st = self.check_failed("ok", 400209, "Custom allocation failed", url=untrusted.url)
            self.assertIn("TLS", st["errorMessage"])
        finally:
            untrusted.close()
        self.dpsd.alive_check(self)

    def test_custom_under_never_reprovision(self):
        enr = self.custom(regid=unique_id("ok"))
        regid = enr["registrationId"]
        st = self.register(self.device(enr), payload={"hub": HUB1})["registrationState"]
        self.assertEqual(st["assignedHub"], HUB1)
        self.update_enrollment(regid, reprovisionPolicy={"updateHubAssignment": False,
                                                         "migrateDeviceData": False})
        body = self.register(self.device(enr), payload={"hub": HUB2})
        st = body["registrationState"]
        # The webhook ran, was offered only the current hub, and its payload
        # came back; the hub did not change.
        req = self.webhook.last_for(regid)
        self.assertEqual(req["body"]["linkedHubs"], [HUB1])
        self.assertEqual(st["assignedHub"], HUB1)
        self.assertEqual(st["substatus"], "initialAssignment")
        self.assertEqual(st["payload"]["hub"], HUB1)

    # ---- reprovisioning

    def provision_with_data(self, **extra):
        """A device on HUB1 with tags, desired and reported properties."""
        enr = self.enroll(allocationPolicy="static", iotHubs=[HUB1],
                          initialTwin={"tags": {"stage": "initial"},
                                       "properties": {"desired": {"mode": "initial"}}},
                          **extra)
        regid = enr["registrationId"]
        st = self.register(self.device(enr))["registrationState"]
        self.assertEqual(st["assignedHub"], HUB1)
        r = self.hub(HUB1).patch("/twins/" + regid,
                                 {"tags": {"owner": "ops"},
                                  "properties": {"desired": {"rate": 5}}})
        self.assertStatus(r, 200)
        self.report(HUB1, regid, enr["attestation"]["symmetricKey"]["primaryKey"],
                    {"fw": "1.2.3", "temp": {"c": 21}})
        return enr

    def reprovision_to(self, enr, hub, policy):
        regid = enr["registrationId"]
        self.update_enrollment(regid, iotHubs=[hub], reprovisionPolicy=policy)
        ex = self.explain(regid)
        st = self.register(self.device(enr))["registrationState"]
        self.assertEqual(st["status"], "assigned", st)
        self.assertEqual(st["assignedHub"], ex["assignedHub"])
        self.assertEqual(st["substatus"], ex["substatus"])
        return ex, st

    def test_reprovision_migrate(self):
        enr = self.provision_with_data()
        regid = enr["registrationId"]
        old = self.twin(HUB1, regid)
        ex, st = self.reprovision_to(enr, HUB2, {"updateHubAssignment": True,
                                                 "migrateDeviceData": True})
        self.assertEqual(ex["action"], "migrate")
        self.assertEqual(st["assignedHub"], HUB2)
        self.assertEqual(st["substatus"], "deviceDataMigrated")
        self.assertFalse(self.hub_has(HUB1, regid))  # the old identity is gone
        tw = self.twin(HUB2, regid)
        self.assertEqual(tw["tags"], {"stage": "initial", "owner": "ops"})
        self.assertEqual(tw["properties"]["desired"]["rate"], 5)
        self.assertEqual(tw["properties"]["desired"]["mode"], "initial")
        self.assertEqual(tw["properties"]["reported"]["fw"], "1.2.3")
        self.assertEqual(tw["properties"]["reported"]["temp"], {"c": 21})
        self.assertEqual(tw["properties"]["reported"]["$version"],
                         old["properties"]["reported"]["$version"])
        # The device works on its new hub with the same key.
        self.report(HUB2, regid, enr["attestation"]["symmetricKey"]["primaryKey"],
                    {"fw": "1.2.4"})
        # Back to the hub of its first assignment.
        ex, st = self.reprovision_to(enr, HUB1, {"updateHubAssignment": True,
                                                 "migrateDeviceData": True})
        self.assertEqual(st["substatus"], "reprovisionedToInitialAssignment")
        self.assertFalse(self.hub_has(HUB2, regid))
        self.assertEqual(self.twin(HUB1, regid)["properties"]["reported"]["fw"], "1.2.4")

    def test_reprovision_reset(self):
        enr = self.provision_with_data()
        regid = enr["registrationId"]
        ex, st = self.reprovision_to(enr, HUB2, {"updateHubAssignment": True,
                                                 "migrateDeviceData": False})
        self.assertEqual(ex["action"], "reset")
        self.assertEqual(st["substatus"], "deviceDataReset")
        self.assertFalse(self.hub_has(HUB1, regid))
        tw = self.twin(HUB2, regid)
        self.assertEqual(tw["tags"], {"stage": "initial"})
        self.assertEqual(tw["properties"]["desired"]["mode"], "initial")
        self.assertNotIn("rate", tw["properties"]["desired"])
        self.assertNotIn("fw", tw["properties"]["reported"])

    def test_reprovision_never(self):
        enr = self.provision_with_data()
        regid = enr["registrationId"]
        before = self.twin(HUB1, regid)
        ex, st = self.reprovision_to(enr, HUB2, {"updateHubAssignment": False,
                                                 "migrateDeviceData": False})
        self.assertEqual(ex["action"], "keep")
        self.assertEqual(ex["reprovision"]["mode"], "keepCurrentHub")
        self.assertEqual(st["assignedHub"], HUB1)
        self.assertEqual(st["substatus"], "initialAssignment")
        self.assertFalse(self.hub_has(HUB2, regid))
        after = self.twin(HUB1, regid)
        self.assertEqual(after["tags"], before["tags"])
        self.assertEqual(after["properties"]["reported"]["fw"], "1.2.3")

    def test_reprovision_same_hub_keeps_data(self):
        enr = self.provision_with_data()
        regid = enr["registrationId"]
        ex, st = self.reprovision_to(enr, HUB1, {"updateHubAssignment": True,
                                                 "migrateDeviceData": False})
        self.assertEqual(ex["action"], "keep")
        self.assertEqual(st["substatus"], "initialAssignment")
        self.assertEqual(self.twin(HUB1, regid)["tags"]["owner"], "ops")

    # ---- lifecycle (§16)

    def test_disable_never_touches_the_hub_device(self):
        enr = self.provision_with_data()
        regid = enr["registrationId"]
        before = self.twin(HUB1, regid)
        self.update_enrollment(regid, provisioningStatus="disabled", iotHubs=[HUB2])
        ex = self.explain(regid)
        self.assertEqual(ex["status"], "disabled")
        body = self.register(self.device(enr))
        self.assertEqual(body["status"], "disabled")
        self.assertEqual(body["registrationState"]["status"], "disabled")
        self.assertTrue(self.hub_has(HUB1, regid))
        self.assertFalse(self.hub_has(HUB2, regid))
        self.assertEqual(self.twin(HUB1, regid)["properties"]["reported"]["fw"],
                         before["properties"]["reported"]["fw"])
        self.assertStatus(self.svc.get("/registrations/" + regid), 200)

    def test_deleted_record_means_initial_assignment(self):
        enr = self.custom(regid=unique_id("ok"))
        regid = enr["registrationId"]
        self.register(self.device(enr), payload={"hub": HUB1})
        self.assertStatus(self.svc.delete("/registrations/" + regid), 204)
        self.assertTrue(self.hub_has(HUB1, regid))  # untouched
        ex = self.explain(regid)
        self.assertIsNone(ex["currentHub"])
        self.assertNotIn("currentIotHubHostName",
                         ex["webhookRequest"]["deviceRuntimeContext"])
        st = self.register(self.device(enr), payload={"hub": HUB1})["registrationState"]
        self.assertEqual(st["substatus"], "initialAssignment")
        self.assertEqual(st["assignedHub"], HUB1)
        req = self.webhook.last_for(regid)
        self.assertNotIn("currentIotHubHostName", req["body"]["deviceRuntimeContext"])

    def test_deleted_group_keeps_its_records(self):
        g = self.group()
        gid = g["enrollmentGroupId"]
        ids = ["keep-%s-%d" % (gid[-6:], i) for i in range(3)]
        for regid in ids:
            self.register(self.device(g, regid))
        self.assertStatus(self.svc.delete("/enrollmentGroups/" + gid), 204)
        r = self.svc.post("/registrations/%s/query" % gid)
        self.assertStatus(r, 200)
        self.assertEqual(sorted(x["registrationId"] for x in r.json()), sorted(ids))
        self.assertStatus(self.svc.delete("/registrations/" + ids[0]), 204)
        r = self.svc.post("/registrations/%s/query" % gid)
        self.assertEqual(len(r.json()), 2)

    # ---- hubd's migration endpoint (hub.md §9.4)

    def test_migration_endpoint_needs_its_credential(self):
        enr = self.enroll(allocationPolicy="static", iotHubs=[HUB1])
        regid = enr["registrationId"]
        self.register(self.device(enr))
        path = "/_hubd/migration/%s/devices/%s" % (HUB1, regid)
        # A hub policy, even iothubowner, and the admin key open nothing here.
        r = self.hub(HUB1).get(path)
        self.assertStatus(r, 401)
        self.assertStatus(self.hubd.admin().get(path), 401)
        mig = self.hubd.client(self.hubd.info["migration connection string"])
        r = mig.get(path)
        self.assertStatus(r, 200)
        b = r.json()
        self.assertEqual(b["deviceId"], regid)
        self.assertIn("$version", b["twin"]["properties"]["reported"])
        self.assertStatus(mig.get("/_hubd/migration/%s/devices/nobody" % HUB1), 404)
        self.assertStatus(mig.get("/_hubd/migration/nohub.example/devices/x"), 404)
        self.assertStatus(mig.put(path + "/twin", {"tags": {"bad key": 1}}), 400)

    # ---- the CLI

    def test_dpsctl_explain(self):
        enr = self.enroll(allocationPolicy="static", iotHubs=[HUB2])
        regid = enr["registrationId"]
        p = run_dpsctl(["registration", "explain", "--registration-id", regid,
                        "--payload", '{"fw": "1"}', "--output", "json"],
                       login=self.dpsd.connection_string, cafile=self.dpsd.ca_file)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = json.loads(p.stdout)
        self.assertEqual(out["assignedHub"], HUB2)
        self.assertEqual(out["action"], "create")
        p = run_dpsctl(["registration", "explain", "--registration-id", regid,
                        "--output", "table"],
                       login=self.dpsd.connection_string, cafile=self.dpsd.ca_file)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(HUB2, p.stdout)
        self.assertStatus(self.svc.get("/registrations/" + regid), 404)

    def test_explain_refusals(self):
        r = self.svc.post("/admin/registrations/%s/explain" % "bad%20id%21", None)
        self.assertStatus(r, 400)
        r = self.svc.post("/admin/registrations/x/explain", {"nope": 1})
        self.assertStatus(r, 400)
        r = self.svc.post("/admin/registrations/x/explain",
                          {"enrollmentGroupId": unique_id("nogroup")})
        self.assertStatus(r, 404)
        r = self.svc.get("/admin/registrations/x/explain")
        self.assertStatus(r, 405)


if __name__ == "__main__":
    unittest.main()
