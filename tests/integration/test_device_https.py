"""The device API over HTTPS, end to end over real TLS: hubd hosting two hubs,
dpsd with both linked through the admin API, enrollments through the service
API, and devices registering exactly as the SDKs do (device-api.md §5, §8):
PUT register with a SAS token (sr = "{scope}/registrations/{id}", as the C
SDK encodes it, skn=registration), then GET operations honouring retry-after
until the final 200. Checks the registration state, the device and the
initial twin in hubd, the weighted split across hubs, the refusals, a hub
that is down or refuses, and a dpsd restart."""

import base64
import collections
import concurrent.futures
import hashlib
import math
import os
import socket
import time
import unittest
import urllib.parse

from dpsd_harness import derive_device_key, random_key, sas_signature, unique_id
from journey_harness import HubsAndDpsd

HUB1 = "hub1.opendps.local"
HUB2 = "hub2.opendps.local"
DEVICE_API_VERSION = "2021-06-01"
POLL_DEADLINE = 30
HUB_API = "2021-04-12"


def q(s):
    return urllib.parse.quote(s, safe="")


def device_token(scope, regid, key, ttl=3600, style="c", se=None):
    """A device SAS as the SDKs build it. style "c": audience encoded with
    lower-case %2f (C SDK); "raw": unencoded (Node); "upper": %2F."""
    if se is None:
        se = int(time.time()) + ttl
    aud = "%s/registrations/%s" % (scope, regid)
    if style == "c":
        sr = urllib.parse.quote(aud, safe="").replace("%2F", "%2f")
    elif style == "upper":
        sr = urllib.parse.quote(aud, safe="")
    else:
        sr = aud
    sig = sas_signature(key, sr, se)
    return "SharedAccessSignature sr=%s&sig=%s&se=%s&skn=registration" % (
        sr, urllib.parse.quote(sig, safe=""), se)


def rendezvous_pick(regid, hubs):
    """service-api.md §12.3: the hub an enabled device must land on."""
    best, best_score = None, None
    for name, weight in hubs:
        d = hashlib.sha256(regid.lower().encode() + b"\x00" + name.lower().encode()).digest()
        x = int.from_bytes(d[:8], "big")
        u = (x + 0.5) / 2.0 ** 64
        score = -weight / math.log(u)
        if best is None or score > best_score:
            best, best_score = name, score
    return best


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Device:
    """One device talking to dpsd's device API over HTTPS."""

    def __init__(self, dpsd, regid, key, scope=None, api_version=DEVICE_API_VERSION,
                 style="c"):
        self.dpsd = dpsd
        self.regid = regid
        self.key = key
        self.scope = scope or dpsd.id_scope
        self.api_version = api_version
        self.style = style
        self.http = dpsd.client()

    def token(self):
        return device_token(self.scope, self.regid, self.key, style=self.style)

    def path(self, tail):
        p = "/%s/registrations/%s%s" % (q(self.scope), q(self.regid), tail)
        if self.api_version is not None:
            p += "?api-version=" + self.api_version
        return p

    def register(self, body=None, token=None):
        if body is None:
            body = {"registrationId": self.regid}
        return self.http.request("PUT", self.path("/register"), body,
                                 token=token or self.token(), api_version=False)

    def poll(self, operation_id, token=None, raw_body=None):
        return self.http.request("GET", self.path("/operations/" + q(operation_id)),
                                 token=token or self.token(), api_version=False,
                                 raw_body=raw_body)

    def lookup(self, token=None):
        return self.http.request("POST", self.path(""), {"registrationId": self.regid},
                                 token=token or self.token(), api_version=False)

    def provision(self, testcase=None, deadline=POLL_DEADLINE):
        """Registers and polls like an SDK; returns (operationId, final body)."""
        r = self.register()
        if r.status != 202:
            raise AssertionError("register %s: %r" % (self.regid, r))
        body = r.json()
        if body.get("status") != "assigning" or "operationId" not in body:
            raise AssertionError("register answer %r" % body)
        op = body["operationId"]
        end = time.monotonic() + deadline
        while True:
            ra = r.header("retry-after")
            if ra is None or not ra.isdigit() or not 1 <= int(ra) <= 300:
                raise AssertionError("retry-after %r on %r" % (ra, r))
            # Tests need not wait the full second: the header is checked.
            time.sleep(0.05)
            r = self.poll(op)
            if r.status == 200:
                return op, r.json()
            if r.status != 202:
                raise AssertionError("poll %s: %r" % (self.regid, r))
            b = r.json()
            if b.get("status") != "assigning" or b.get("operationId") != op:
                raise AssertionError("in-progress poll %r" % b)
            if b.get("registrationState", {}).get("status") != "assigning":
                raise AssertionError("in-progress registrationState %r" % b)
            if time.monotonic() > end:
                raise AssertionError("%s still assigning after %ss" % (self.regid, deadline))


class DeviceHttpsTest(HubsAndDpsd, unittest.TestCase):
    WEIGHTS = {HUB1: 1, HUB2: 3}

    @classmethod
    def setUpClass(cls):
        cls.start_hubd([HUB1, HUB2])
        # dpsd's MQTT listener (when this build has one) must not collide
        # with other daemons on the machine.
        cls.start_dpsd(hub_timeout=3, mqtt=None)
        cls.link_hubs(cls.WEIGHTS)

    @classmethod
    def link(cls, hub, cs, url, weight=1, apply=None):
        extra = {} if apply is None else {"applyAllocationPolicy": apply}
        cls.link_hub(hub, weight, connection_string=cs, url=url, **extra)

    # ---- helpers

    def assertStatus(self, r, status):
        if r.status != status:
            self.fail("expected %d, got %r" % (status, r))

    def assertDpsError(self, r, status, code):
        self.assertStatus(r, status)
        b = r.json()
        self.assertEqual(b.get("errorCode"), code, b)
        for k in ("trackingId", "message", "timestampUtc"):
            self.assertIn(k, b)
        self.assertTrue(r.header("content-type", "").startswith("application/json"), r)
        return b

    def enroll(self, regid=None, **extra):
        regid = regid or unique_id("dev")
        body = {"registrationId": regid,
                "attestation": {"type": "symmetricKey",
                                "symmetricKey": {"primaryKey": random_key(),
                                                 "secondaryKey": random_key()}}}
        body.update(extra)
        r = self.svc.put("/enrollments/" + regid, body)
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

    def hub_get(self, hub, path):
        return self.hubd.service(hub).get(path)

    def check_assigned(self, body, regid):
        self.assertEqual(body["status"], "assigned", body)
        st = body["registrationState"]
        for k in ("registrationId", "createdDateTimeUtc", "assignedHub", "deviceId", "status",
                  "substatus", "lastUpdatedDateTimeUtc", "etag"):
            self.assertIn(k, st, st)
        self.assertEqual(st["registrationId"], regid)
        self.assertEqual(st["status"], "assigned")
        self.assertEqual(st["substatus"], "initialAssignment")
        self.assertIn(st["assignedHub"], self.WEIGHTS)
        self.assertTrue(st["createdDateTimeUtc"].endswith("Z"))
        self.assertNotIn("errorCode", st)
        return st

    # ---- the journeys

    def test_individual_enrollment_end_to_end(self):
        regid = unique_id("Indiv")
        enr = self.enroll(regid, deviceId=regid + "-dev", capabilities={"iotEdge": True},
                          initialTwin={"tags": {"floor": 3, "version": 7},
                                       "properties": {"desired": {"sampleSeconds": 30}}})
        keys = enr["attestation"]["symmetricKey"]
        dev = Device(self.dpsd, regid, keys["secondaryKey"])  # secondary key works too
        op, body = dev.provision()
        self.assertRegex(op, r"^[A-Za-z0-9.-]+$")
        st = self.check_assigned(body, regid)
        self.assertEqual(st["deviceId"], regid + "-dev")
        self.assertNotIn("symmetricKey", st)
        hub = st["assignedHub"]
        self.assertEqual(hub, rendezvous_pick(regid, self.WEIGHTS.items()))

        d = self.hub_get(hub, "/devices/" + q(st["deviceId"]))
        self.assertStatus(d, 200)
        dj = d.json()
        self.assertEqual(dj["authentication"]["type"], "sas")
        self.assertEqual(dj["authentication"]["symmetricKey"]["primaryKey"], keys["primaryKey"])
        self.assertEqual(dj["authentication"]["symmetricKey"]["secondaryKey"],
                         keys["secondaryKey"])
        self.assertTrue(dj["capabilities"]["iotEdge"])
        self.assertEqual(dj["status"], "enabled")
        other = HUB1 if hub == HUB2 else HUB2
        self.assertStatus(self.hub_get(other, "/devices/" + q(st["deviceId"])), 404)

        t = self.hub_get(hub, "/twins/" + q(st["deviceId"]))
        self.assertStatus(t, 200)
        tj = t.json()
        # Reserved member "version" of the enrollment's TwinCollection is dropped.
        self.assertEqual(tj["tags"], {"floor": 3})
        self.assertEqual(tj["properties"]["desired"]["sampleSeconds"], 30)

        # The service API shows the same record, embedded in the enrollment too.
        g = self.svc.get("/registrations/" + regid)
        self.assertStatus(g, 200)
        self.assertEqual(g.json(), st)
        e = self.svc.get("/enrollments/" + regid).json()
        self.assertEqual(e["registrationState"]["assignedHub"], hub)

        # The returned credentials open the hub.
        c, ack = self.hubd.connect_device(hub, st["deviceId"], keys["primaryKey"])
        c.close()
        self.assertEqual(ack.return_code, 0)

        # Status lookup: the bare DeviceRegistrationResult.
        lk = dev.lookup()
        self.assertStatus(lk, 200)
        self.assertEqual(lk.json(), st)

        # Re-registration keeps the hub and the creation time; new operation.
        op2, body2 = dev.provision()
        self.assertNotEqual(op, op2)
        st2 = self.check_assigned(body2, regid)
        self.assertEqual(st2["assignedHub"], hub)
        self.assertEqual(st2["createdDateTimeUtc"], st["createdDateTimeUtc"])
        self.assertNotEqual(st2["etag"], st["etag"])

    def test_group_enrollment_derived_keys(self):
        grp = self.group(initialTwin={"tags": {"line": "b"}})
        gid = grp["enrollmentGroupId"]
        gk = grp["attestation"]["symmetricKey"]
        regid = unique_id("Member")
        dkey = derive_device_key(gk["primaryKey"], regid)
        dev = Device(self.dpsd, regid, dkey, style="raw", api_version="2019-03-31")
        _, body = dev.provision()
        st = self.check_assigned(body, regid)
        self.assertEqual(st["deviceId"], regid)
        self.assertEqual(st["symmetricKey"], {"enrollmentGroupId": gid})
        d = self.hub_get(st["assignedHub"], "/devices/" + q(regid)).json()
        self.assertEqual(d["authentication"]["symmetricKey"]["primaryKey"], dkey)
        self.assertEqual(d["authentication"]["symmetricKey"]["secondaryKey"],
                         derive_device_key(gk["secondaryKey"], regid))
        t = self.hub_get(st["assignedHub"], "/twins/" + q(regid)).json()
        self.assertEqual(t["tags"], {"line": "b"})
        lst = self.svc.post("/registrations/%s/query" % gid)
        self.assertStatus(lst, 200)
        self.assertEqual([x["registrationId"] for x in lst.json()], [regid])
        # The device key derived from the secondary group key works as well,
        # and a poll may carry "{}" as Node sends it.
        dev2 = Device(self.dpsd, regid, derive_device_key(gk["secondaryKey"], regid))
        r = dev2.register()
        self.assertStatus(r, 202)
        p = dev2.poll(r.json()["operationId"], raw_body=b"{}")
        self.assertIn(p.status, (200, 202), p)

    def test_weighted_split_across_hubs(self):
        grp = self.group()
        gk = grp["attestation"]["symmetricKey"]["primaryKey"]
        n = 300
        ids = ["%s-%03d" % (unique_id("fleet"), i) for i in range(n)]

        def one(regid):
            _, body = Device(self.dpsd, regid, derive_device_key(gk, regid)).provision(
                deadline=60)
            return regid, body["registrationState"]["assignedHub"]

        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as ex:
            results = list(ex.map(one, ids))
        counts = collections.Counter(h for _, h in results)
        # Deterministic: exactly the hub the published formula names...
        for regid, hub in results:
            self.assertEqual(hub, rendezvous_pick(regid, self.WEIGHTS.items()), regid)
        # ...and in proportion to the weights (1:3), within 4 standard deviations.
        expect1 = n * 0.25
        sd = math.sqrt(n * 0.25 * 0.75)
        self.assertLess(abs(counts[HUB1] - expect1), 4 * sd, counts)
        self.assertEqual(counts[HUB1] + counts[HUB2], n)
        # Every device exists in its hub.
        for regid, hub in results[:20]:
            self.assertStatus(self.hub_get(hub, "/devices/" + q(regid)), 200)

    def test_disabled_enrollment(self):
        enr = self.enroll(provisioningStatus="disabled")
        regid = enr["registrationId"]
        dev = Device(self.dpsd, regid, enr["attestation"]["symmetricKey"]["primaryKey"])
        _, body = dev.provision()
        self.assertEqual(body["status"], "disabled", body)
        self.assertEqual(body["registrationState"]["status"], "disabled")
        for hub in self.WEIGHTS:
            self.assertStatus(self.hub_get(hub, "/devices/" + q(regid)), 404)

    def test_disabled_individual_blocks_group_member(self):
        grp = self.group()
        gk = grp["attestation"]["symmetricKey"]["primaryKey"]
        regid = unique_id("blocked")
        self.enroll(regid, provisioningStatus="disabled")
        _, body = Device(self.dpsd, regid, derive_device_key(gk, regid)).provision()
        self.assertEqual(body["status"], "disabled", body)

    def test_refusals(self):
        enr = self.enroll()
        regid = enr["registrationId"]
        key = enr["attestation"]["symmetricKey"]["primaryKey"]
        # Wrong key.
        r = Device(self.dpsd, regid, random_key()).register()
        self.assertDpsError(r, 401, 401002)
        # Expired token (beyond the 5-minute skew).
        dev = Device(self.dpsd, regid, key)
        old = device_token(dev.scope, regid, key, se=int(time.time()) - 3600)
        self.assertDpsError(dev.register(token=old), 401, 401002)
        # No token at all.
        r = dev.http.request("PUT", dev.path("/register"), {"registrationId": regid},
                             token=False, api_version=False)
        self.assertDpsError(r, 401, 401002)
        # A token for another registration ID.
        other = device_token(dev.scope, regid + "x", key)
        self.assertDpsError(dev.register(token=other), 401, 401002)
        # Unknown registration ID.
        ghost = unique_id("ghost")
        self.assertDpsError(Device(self.dpsd, ghost, random_key()).register(), 404, 404201)
        # Unknown ID scope.
        self.assertDpsError(Device(self.dpsd, regid, key, scope="0ne00000000").register(),
                            404, 404201)
        # Unknown and missing api-version.
        self.assertDpsError(Device(self.dpsd, regid, key, api_version="2099-01-01").register(),
                            400, 400003)
        self.assertDpsError(Device(self.dpsd, regid, key, api_version=None).register(),
                            400, 400003)
        # Body registrationId differs from the path; body not JSON.
        self.assertDpsError(dev.register(body={"registrationId": "someone-else"}), 400, 400006)
        r = dev.http.request("PUT", dev.path("/register"), raw_body=b"{nope",
                             token=dev.token(), api_version=False)
        self.assertDpsError(r, 400, 400002)
        # Unknown operation.
        self.assertDpsError(dev.poll("1.0000000000000000.00000000-0000-0000-0000-000000000000"),
                            404, 404201)
        # Status lookup before any registration.
        self.assertDpsError(dev.lookup(), 404, 404201)
        # None of this wrote a record.
        self.assertStatus(self.svc.get("/registrations/" + regid), 404)
        # ID scope and api-version in another case still work.
        ok = Device(self.dpsd, regid, key, scope=self.dpsd.id_scope.lower(),
                    api_version="2019-03-31", style="upper")
        _, body = ok.provision()
        self.check_assigned(body, regid)

    def test_hub_down_fails_cleanly(self):
        down = "hub3.opendps.local"
        cs = "HostName=%s;SharedAccessKeyName=iothubowner;SharedAccessKey=%s" % (
            down, random_key())
        self.link(down, cs, "https://127.0.0.1:%d" % free_port(), 1, apply=False)
        enr = self.enroll(allocationPolicy="static", iotHubs=[down])
        regid = enr["registrationId"]
        _, body = Device(self.dpsd, regid,
                         enr["attestation"]["symmetricKey"]["primaryKey"]).provision()
        self.assertEqual(body["status"], "failed", body)
        st = body["registrationState"]
        self.assertEqual(st["errorCode"], 503101, st)
        self.assertIn(down, st["errorMessage"])
        self.assertNotIn("assignedHub", st)
        rec = self.svc.get("/registrations/" + regid).json()
        self.assertEqual(rec["status"], "failed")
        self.assertEqual(rec["errorCode"], 503101)
        # The hub out of automatic allocation never got other devices.
        grp = self.group()
        gk = grp["attestation"]["symmetricKey"]["primaryKey"]
        rid = unique_id("auto")
        _, b2 = Device(self.dpsd, rid, derive_device_key(gk, rid)).provision()
        self.assertIn(b2["registrationState"]["assignedHub"], self.WEIGHTS)

    def test_hub_certificate_mismatch_fails_cleanly(self):
        # hubd's certificate does not name this hub: the TLS check refuses it.
        bogus = "hub9.opendps.local"
        cs = "HostName=%s;SharedAccessKeyName=iothubowner;SharedAccessKey=%s" % (
            bogus, random_key())
        self.link(bogus, cs, self.hubd.url, 1, apply=False)
        enr = self.enroll(allocationPolicy="static", iotHubs=[bogus])
        _, body = Device(self.dpsd, enr["registrationId"],
                         enr["attestation"]["symmetricKey"]["primaryKey"]).provision()
        self.assertEqual(body["status"], "failed", body)
        st = body["registrationState"]
        self.assertEqual(st["errorCode"], 503101, body)
        self.assertIn("certificate verify failed", st["errorMessage"])

    def test_hub_refusal_fails_cleanly(self):
        # A hub hubd hosts (added at run time), linked with a wrong key: the
        # hub answers 401 and nothing is written.
        hub = "hub4.opendps.local"
        r = self.hubd.admin().put("/_hubd/hubs/" + hub)
        self.assertIn(r.status, (200, 201), r)
        owner = r.json()["connectionString"]
        cs = "HostName=%s;SharedAccessKeyName=iothubowner;SharedAccessKey=%s" % (
            hub, random_key())
        self.link(hub, cs, self.hubd.url, 1, apply=False)
        enr = self.enroll(allocationPolicy="static", iotHubs=[hub])
        regid = enr["registrationId"]
        _, body = Device(self.dpsd, regid,
                         enr["attestation"]["symmetricKey"]["primaryKey"]).provision()
        self.assertEqual(body["status"], "failed", body)
        st = body["registrationState"]
        self.assertEqual(st["errorCode"], 500101, body)
        self.assertIn("401", st["errorMessage"])
        self.assertStatus(self.hubd.service(hub, owner).get("/devices/" + q(regid)), 404)

    def test_twin_refused_rolls_back_device(self):
        # hubd refuses twin keys with a '.' (hub.md §7.1): the device this
        # registration created is taken back out of the hub.
        enr = self.enroll(allocationPolicy="static", iotHubs=[HUB1],
                          initialTwin={"tags": {"bad.key": 1}})
        regid = enr["registrationId"]
        _, body = Device(self.dpsd, regid,
                         enr["attestation"]["symmetricKey"]["primaryKey"]).provision()
        self.assertEqual(body["status"], "failed", body)
        st = body["registrationState"]
        self.assertEqual(st["errorCode"], 500101, st)
        self.assertIn("initial twin", st["errorMessage"])
        self.assertStatus(self.hub_get(HUB1, "/devices/" + q(regid)), 404)

    def test_restart_keeps_records(self):
        enr = self.enroll()
        regid = enr["registrationId"]
        dev = Device(self.dpsd, regid, enr["attestation"]["symmetricKey"]["primaryKey"])
        op, body = dev.provision()
        st = self.check_assigned(body, regid)
        self.dpsd.restart()
        dev.http = self.dpsd.client()
        type(self).svc = self.dpsd.client()
        p = dev.poll(op)
        self.assertStatus(p, 200)
        self.assertEqual(p.json()["status"], "assigned")
        self.assertEqual(p.json()["registrationState"], st)
        self.assertEqual(dev.lookup().json(), st)
        self.assertEqual(self.svc.get("/registrations/" + regid).json(), st)


if __name__ == "__main__":
    unittest.main()
