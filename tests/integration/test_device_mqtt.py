"""The device API over MQTT, end to end over real TLS (device-api.md §6):
hubd hosting two hubs, dpsd with both linked, enrollments through the
service API, and devices that connect, subscribe to $dps/registrations/res/#
and publish register and operation-status requests the way the SDKs do
(Node, C, Python, C# and azure-sdk-for-c variants of username, $rid, QoS
and payload). Checks the answers on the response topic ($rid echoed byte for
byte, retry-after after it, the granted QoS, never an empty payload), the
device in its hub, and the refusals: bad SAS at CONNECT, username and client
ID mismatch, wrong topics and filters, TPM over MQTT.

The set-up and SAS helpers come from test_device_https (imported as a
module, so its tests do not run twice)."""

import json
import re
import time
import unittest
import urllib.parse
import uuid

import test_device_https as dh
from dpsd_harness import derive_device_key, random_key, unique_id
from journey_harness import HubsAndDpsd
from mqtt_client import MqttClient, encode_publish

HUB1, HUB2 = dh.HUB1, dh.HUB2
RES_FILTER = "$dps/registrations/res/#"
REGISTER_TOPIC = "$dps/registrations/PUT/iotdps-register/?$rid=%s"
STATUS_TOPIC = "$dps/registrations/GET/iotdps-get-operationstatus/?$rid=%s&operationId=%s"
RESPONSE_RE = re.compile(r"^\$dps/registrations/res/(\d{3})/\?(.*)$")
NODE_AGENT = "azure-iot-provisioning-device%2F1.9.1"
POLL_DEADLINE = 30


def username(scope, regid, api_version="2019-03-31", client_version=NODE_AGENT):
    u = "%s/registrations/%s/api-version=%s" % (scope, regid, api_version)
    if client_version is not None:
        u += "&ClientVersion=" + client_version
    return u


class Response:
    """One answer on the response topic."""

    def __init__(self, msg):
        m = RESPONSE_RE.match(msg.topic)
        if m is None:
            raise AssertionError("not a response topic: %r" % msg.topic)
        self.msg = msg
        self.topic = msg.topic
        self.status = int(m.group(1))
        self.query = m.group(2)
        # Raw items, in order: $rid is compared byte for byte.
        self.items = [tuple(i.split("=", 1)) if "=" in i else (i, None)
                      for i in self.query.split("&")]
        self.qos = msg.qos
        self.payload = msg.payload

    @property
    def rid(self):
        return dict(self.items).get("$rid")

    @property
    def retry_after(self):
        v = dict(self.items).get("retry-after")
        return int(v) if v is not None else None

    def json(self):
        return json.loads(self.payload)


class MqttDevice:
    """One device on dpsd's MQTT endpoint."""

    def __init__(self, test, regid, key, scope=None, api_version="2019-03-31",
                 client_version=NODE_AGENT, style="raw"):
        self.test = test
        self.regid = regid
        self.key = key
        self.scope = scope or test.dpsd.id_scope
        self.api_version = api_version
        self.client_version = client_version
        self.style = style
        self.c = None

    def open(self):
        self.c = MqttClient(self.test.mqtt_ip, self.test.mqtt_port, cafile=self.test.dpsd.ca_file,
                            server_hostname="localhost")
        self.test.addCleanup(self.c.close)
        return self.c

    def connect(self, client_id=None, user=None, password=None, keep_alive=180):
        self.open()
        if user is None:
            user = username(self.scope, self.regid, self.api_version, self.client_version)
        if password is None and self.key is not None:
            password = dh.device_token(self.scope, self.regid, self.key, style=self.style)
        return self.c.connect(client_id if client_id is not None else self.regid,
                              username=user, password=password, keep_alive=keep_alive)

    def connect_ok(self, qos=1, **kw):
        ack = self.connect(**kw)
        self.test.assertEqual(ack.return_code, 0, "CONNACK %d" % ack.return_code)
        self.test.assertEqual(self.c.subscribe(RES_FILTER, qos=qos), [min(qos, 1)])
        return self

    def request(self, topic, payload=b"", qos=1, rid=None, timeout=10):
        """Publishes one request and returns its Response (acknowledged
        when it came at QoS 1)."""
        self.c.publish(topic, payload, qos=qos)
        msg = self.c.recv_publish(timeout=timeout, topic_prefix="$dps/registrations/res/")
        if msg.qos == 1:
            self.c.puback(msg.packet_id)
        r = Response(msg)
        if rid is not None:
            self.test.assertEqual(r.rid, rid, r.topic)
        self.test.assertTrue(len(r.payload) > 0, "empty response payload on %s" % r.topic)
        return r

    def register(self, payload=None, rid=None, qos=1):
        rid = rid or str(uuid.uuid4())
        if payload is None:
            payload = json.dumps({"registrationId": self.regid})
        return self.request(REGISTER_TOPIC % rid, payload, qos=qos, rid=rid)

    def status(self, op, rid=None, payload=b" ", qos=1):
        rid = rid or str(uuid.uuid4())
        return self.request(STATUS_TOPIC % (rid, op), payload, qos=qos, rid=rid)

    def provision(self, payload=None, qos=1, status_payload=b" ", deadline=POLL_DEADLINE):
        """Registers and polls like an SDK; returns (operationId, final body)."""
        r = self.register(payload, qos=qos)
        self.test.assertEqual(r.status, 202, r.payload)
        body = r.json()
        self.test.assertEqual(body.get("status"), "assigning", body)
        op = body["operationId"]
        end = time.monotonic() + deadline
        while True:
            self.test.assertIsNotNone(r.retry_after, r.topic)
            self.test.assertTrue(1 <= r.retry_after <= 300, r.topic)
            time.sleep(0.05)  # the value is checked; tests need not wait it out
            r = self.status(op, payload=status_payload, qos=qos)
            if r.status == 200:
                return op, r.json()
            self.test.assertEqual(r.status, 202, r.payload)
            b = r.json()
            self.test.assertEqual(b.get("operationId"), op, b)
            self.test.assertEqual(b.get("status"), "assigning", b)
            if time.monotonic() > end:
                raise AssertionError("%s still assigning after %ss" % (self.regid, deadline))


class DeviceMqttTest(HubsAndDpsd, unittest.TestCase):
    WEIGHTS = dh.DeviceHttpsTest.WEIGHTS

    # The HTTPS test's helpers for enrollments, groups and assertions.
    assertStatus = dh.DeviceHttpsTest.assertStatus
    enroll = dh.DeviceHttpsTest.enroll
    group = dh.DeviceHttpsTest.group
    hub_get = dh.DeviceHttpsTest.hub_get
    check_assigned = dh.DeviceHttpsTest.check_assigned

    @classmethod
    def setUpClass(cls):
        cls.start_hubd([HUB1, HUB2])
        cls.start_dpsd(hub_timeout=3, mqtt=True)
        lines = [l for l in cls.dpsd.lines if l.startswith("mqtts: ")]
        assert len(lines) == 1, cls.dpsd.lines
        m = re.match(r"^mqtts: listening on mqtts://([0-9.]+):(\d+) \(device MQTT endpoint\)$",
                     lines[0])
        assert m, lines[0]
        cls.mqtt_ip, cls.mqtt_port = m.group(1), int(m.group(2))
        cls.link_hubs(cls.WEIGHTS)

    def tearDown(self):
        self.dpsd.alive_check(self)

    def individual(self, **extra):
        enr = self.enroll(**extra)
        return enr["registrationId"], enr["attestation"]["symmetricKey"]

    def assertDpsError(self, r, status, code):
        self.assertEqual(r.status, status, r.payload)
        b = r.json()
        self.assertEqual(b.get("errorCode"), code, b)
        for k in ("trackingId", "message", "timestampUtc"):
            self.assertIn(k, b)
        return b

    # ---- the journeys ------------------------------------------------------------

    def test_individual_node_style(self):
        """Node: raw audience, ClientVersion, UUID $rid, QoS 1 both ways,
        status payload " "."""
        regid, keys = self.individual(initialTwin={"tags": {"room": "lab"}})
        dev = MqttDevice(self, regid, keys["primaryKey"]).connect_ok(qos=1)
        op, body = dev.provision()
        st = self.check_assigned(body, regid)
        self.assertEqual(st["assignedHub"], dh.rendezvous_pick(regid, self.WEIGHTS.items()))
        d = self.hub_get(st["assignedHub"], "/devices/" + dh.q(regid))
        self.assertStatus(d, 200)
        self.assertEqual(d.json()["authentication"]["symmetricKey"]["primaryKey"],
                         keys["primaryKey"])
        t = self.hub_get(st["assignedHub"], "/twins/" + dh.q(regid)).json()
        self.assertEqual(t["tags"], {"room": "lab"})
        # The same record over HTTPS and the service API.
        self.assertEqual(self.svc.get("/registrations/" + regid).json(), st)
        # The answers came at QoS 1 (granted 1) and were acknowledged.
        r = dev.status(op)
        self.assertEqual((r.status, r.qos), (200, 1))
        # The returned credentials open the hub.
        c, ack = self.hubd.connect_device(st["assignedHub"], st["deviceId"], keys["primaryKey"])
        c.close()
        self.assertEqual(ack.return_code, 0)
        dev.c.disconnect()

    def test_group_c_sdk_style(self):
        """C SDK: lower-case %2f audience, bare ClientVersion, api-version
        2021-06-01, integer $rid, QoS 0 publishes, the registration JSON
        again on status requests; subscribed at QoS 0, answered at QoS 0."""
        grp = self.group()
        gid = grp["enrollmentGroupId"]
        regid = unique_id("cdev")
        dkey = derive_device_key(grp["attestation"]["symmetricKey"]["primaryKey"], regid)
        dev = MqttDevice(self, regid, dkey, api_version="2021-06-01", client_version="1.15.0",
                         style="c").connect_ok(qos=0)
        again = json.dumps({"registrationId": regid})
        r = dev.register(rid="1", qos=0)
        self.assertEqual((r.status, r.qos, r.rid), (202, 0, "1"))
        op = r.json()["operationId"]
        end = time.monotonic() + POLL_DEADLINE
        n = 2
        while r.status != 200:
            self.assertLess(time.monotonic(), end, "still assigning")
            time.sleep(0.05)
            r = dev.status(op, rid=str(n), payload=again, qos=0)
            self.assertEqual(r.qos, 0)
            n += 1
        st = self.check_assigned(r.json(), regid)
        self.assertEqual(st["symmetricKey"], {"enrollmentGroupId": gid})
        self.assertEqual(st["deviceId"], regid)
        self.assertStatus(self.hub_get(st["assignedHub"], "/devices/" + dh.q(regid)), 200)

    def test_payload_variants(self):
        """Every register payload the SDKs send is accepted; the
        registration ID always comes from the connection."""
        grp = self.group()
        gk = grp["attestation"]["symmetricKey"]["primaryKey"]
        variants = [
            ("empty (C# without payload)", b""),
            ("single space", b" "),
            ("Node/C", lambda rid: json.dumps({"registrationId": rid})),
            ("Python, payload null", lambda rid: json.dumps({"payload": None,
                                                            "registrationId": rid},
                                                           sort_keys=True)),
            ("C# with payload, no registrationId", json.dumps({"payload": {"fw": "2.4.1"}})),
            ("custom payload", lambda rid: json.dumps({"registrationId": rid,
                                                      "payload": {"a": [1, 2]}})),
        ]
        for name, payload in variants:
            with self.subTest(name):
                regid = unique_id("var")
                dev = MqttDevice(self, regid, derive_device_key(gk, regid)).connect_ok()
                p = payload(regid) if callable(payload) else payload
                _, body = dev.provision(payload=p)
                self.check_assigned(body, regid)
                dev.c.close()
        # A registrationId of another device in the payload is refused.
        regid = unique_id("var")
        dev = MqttDevice(self, regid, derive_device_key(gk, regid)).connect_ok()
        r = dev.register(payload=json.dumps({"registrationId": "someone-else"}))
        self.assertDpsError(r, 400, 400006)
        # A payload that is not JSON is the engine's 400.
        r = dev.register(payload=b"{nope")
        self.assertDpsError(r, 400, 400002)
        self.assertStatus(self.svc.get("/registrations/" + regid), 404)

    def test_rid_echo_and_topic_order(self):
        regid, keys = self.individual()
        dev = MqttDevice(self, regid, keys["primaryKey"]).connect_ok()
        for rid in ("1", str(uuid.uuid4()), urllib.parse.quote("a b/c", safe=""), "x%2Dy",
                    "R" * 128):
            r = dev.register(rid=rid)
            self.assertEqual(r.status, 202)
            self.assertEqual(r.rid, rid)
            # $rid first, retry-after after it (C#, Python, Node parse it so).
            self.assertTrue(r.topic.startswith("$dps/registrations/res/202/?$rid=" + rid + "&"),
                            r.topic)
            self.assertEqual([k for k, _ in r.items], ["$rid", "retry-after"])
        # Two requests in flight: each answer carries its own $rid.
        dev.c.publish(REGISTER_TOPIC % "first", b"", qos=1, wait_ack=False)
        dev.c.publish(REGISTER_TOPIC % "second", b"", qos=1, wait_ack=False)
        rids = []
        for _ in range(2):
            msg = dev.c.recv_publish(topic_prefix="$dps/registrations/res/")
            dev.c.puback(msg.packet_id)
            rids.append(Response(msg).rid)
        self.assertEqual(rids, ["first", "second"])
        # Other query items are ignored; the echo is still exact.
        dev.c.publish("$dps/registrations/PUT/iotdps-register/?foo=1&$rid=77&bar", b"", qos=0)
        msg = dev.c.recv_publish(topic_prefix="$dps/registrations/res/")
        self.assertEqual(Response(msg).rid, "77")

    def test_errors_on_the_response_topic(self):
        regid, keys = self.individual()
        dev = MqttDevice(self, regid, keys["primaryKey"]).connect_ok()
        # Unknown operation; operationId missing.
        self.assertDpsError(
            dev.status("1.0000000000000000.00000000-0000-0000-0000-000000000000"), 404, 404201)
        dev.c.publish("$dps/registrations/GET/iotdps-get-operationstatus/?$rid=9", b" ", qos=1,
                      wait_ack=False)
        r = Response(dev.c.recv_publish(topic_prefix="$dps/registrations/res/"))
        self.assertEqual(r.rid, "9")
        self.assertDpsError(r, 400, 400001)
        # TPM over MQTT is not offered (§6.6).
        r = dev.register(payload=json.dumps({"registrationId": regid,
                                             "tpm": {"endorsementKey": "AAAA",
                                                     "storageRootKey": "AAAA"}}))
        b = self.assertDpsError(r, 400, 400001)
        self.assertIn("TPM", b["message"])
        # An api-version outside the table: connected, refused per request.
        dev2 = MqttDevice(self, regid, keys["primaryKey"], api_version="2099-01-01").connect_ok()
        self.assertDpsError(dev2.register(), 400, 400003)
        dev3 = MqttDevice(self, regid, keys["primaryKey"])
        ack = dev3.connect(user="%s/registrations/%s" % (dev3.scope, regid))
        self.assertEqual(ack.return_code, 0)
        dev3.c.subscribe(RES_FILTER, qos=1)
        self.assertDpsError(dev3.register(), 400, 400003)
        # Nothing of this wrote a record.
        self.assertStatus(self.svc.get("/registrations/" + regid), 404)
        # Without the response subscription MQTT has nobody to answer: the
        # request is still acknowledged.
        dev4 = MqttDevice(self, regid, keys["primaryKey"])
        self.assertEqual(dev4.connect().return_code, 0)
        dev4.c.publish(REGISTER_TOPIC % "lost", b"", qos=1)  # waits for the PUBACK
        with self.assertRaises(TimeoutError):
            dev4.c.recv_publish(timeout=1)

    # ---- refusals at CONNECT -------------------------------------------------------

    def assertRefused(self, ack_or_dev, code):
        dev, ack = ack_or_dev
        self.assertEqual(ack.return_code, code)
        self.assertTrue(dev.c.expect_closed(), "still connected after CONNACK %d" % code)

    def connect_as(self, regid, key, **kw):
        dev = MqttDevice(self, regid, key, style=kw.pop("style", "raw"),
                         scope=kw.pop("scope", None))
        return dev, dev.connect(**kw)

    def test_bad_sas_refused(self):
        regid, keys = self.individual()
        key = keys["primaryKey"]
        scope = self.dpsd.id_scope
        # Wrong key; expired token; a token for another registration ID; none.
        self.assertRefused(self.connect_as(regid, random_key()), 5)
        old = dh.device_token(scope, regid, key, se=int(time.time()) - 3600)
        self.assertRefused(self.connect_as(regid, key, password=old), 5)
        other = dh.device_token(scope, regid + "x", key)
        self.assertRefused(self.connect_as(regid, key, password=other), 5)
        self.assertRefused(self.connect_as(regid, None), 5)
        self.assertRefused(self.connect_as(regid, key, password="SharedAccessSignature nope"), 5)
        # No enrollment for the device; another ID scope.
        self.assertRefused(self.connect_as(unique_id("ghost"), random_key()), 5)
        self.assertRefused(self.connect_as(regid, key, scope="0ne00000000"), 5)
        # Nothing was written, and the right token still works (upper-case
        # %2F audience, as Python and C# send it; the secondary key).
        self.assertStatus(self.svc.get("/registrations/" + regid), 404)
        dev = MqttDevice(self, regid, keys["secondaryKey"], style="upper").connect_ok()
        _, body = dev.provision()
        self.check_assigned(body, regid)

    def test_username_and_client_id(self):
        regid, keys = self.individual()
        key = keys["primaryKey"]
        scope = self.dpsd.id_scope
        # The registration ID in the username must be the client ID.
        self.assertRefused(self.connect_as(regid, key, client_id=regid + "x"), 2)
        self.assertRefused(self.connect_as(regid, key, client_id=regid.upper()), 2)
        self.assertRefused(self.connect_as(regid, key, client_id=""), 2)
        # Usernames of the wrong shape.
        for user in ("%s/devices/%s/api-version=2019-03-31" % (scope, regid),
                     "hub1.opendps.local/%s/?api-version=2021-04-12" % regid,
                     "%s/registrations/%s%%zz/api-version=2019-03-31" % (scope, regid),
                     "nothing"):
            with self.subTest(user):
                self.assertRefused(self.connect_as(regid, key, user=user), 5)
        dev = MqttDevice(self, regid, key)
        dev.open()
        ack = dev.c.connect(regid, username=None, password=None)
        self.assertEqual(ack.return_code, 5)
        # A percent-encoded registration ID in the username is decoded.
        dev = MqttDevice(self, regid, key)
        ack = dev.connect(user=username(scope, "".join("%%%02X" % ord(ch) for ch in regid)))
        self.assertEqual(ack.return_code, 0)

    # ---- topics and filters ----------------------------------------------------------

    def test_wrong_topics_close(self):
        regid, keys = self.individual()
        for topic in ("$iothub/twin/GET/?$rid=1",
                      "devices/%s/messages/events/" % regid,
                      "$dps/registrations/PUT/iotdps-register/",           # no $rid
                      "$dps/registrations/PUT/iotdps-register/?$rid=",      # empty $rid
                      "$dps/registrations/res/202/?$rid=1",                 # the server's
                      "$dps/registrations/POST/iotdps-register/?$rid=1"):
            with self.subTest(topic):
                dev = MqttDevice(self, regid, keys["primaryKey"]).connect_ok()
                dev.c.publish(topic, b"{}", qos=0)
                self.assertTrue(dev.c.expect_closed(), topic)
        self.assertStatus(self.svc.get("/registrations/" + regid), 404)

    def test_subscriptions(self):
        regid, keys = self.individual()
        dev = MqttDevice(self, regid, keys["primaryKey"])
        self.assertEqual(dev.connect().return_code, 0)
        # Only the response filter; QoS 2 is granted 1; others 0x80 without
        # a disconnect.
        codes = dev.c.subscribe([("$dps/registrations/res/+", 1), ("#", 0),
                                 ("$iothub/twin/res/#", 1), (RES_FILTER, 2)])
        self.assertEqual(codes, [0x80, 0x80, 0x80, 1])
        r = dev.register()
        self.assertEqual((r.status, r.qos), (202, 1))
        # Unsubscribed: no more answers (but still acknowledged).
        dev.c.unsubscribe(RES_FILTER)
        dev.c.publish(REGISTER_TOPIC % "after", b"", qos=1)
        with self.assertRaises(TimeoutError):
            dev.c.recv_publish(timeout=1)
        # Keep-alive: PINGREQ answered.
        dev.c.ping()

    def test_qos2_publish_closes(self):
        regid, keys = self.individual()
        dev = MqttDevice(self, regid, keys["primaryKey"]).connect_ok()
        dev.c.send_raw(encode_publish(REGISTER_TOPIC % "q2", b"", qos=2, packet_id=5))
        self.assertTrue(dev.c.expect_closed())


if __name__ == "__main__":
    unittest.main()
