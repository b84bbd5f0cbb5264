"""hubd end to end over real TLS: two hubs in one hubd, devices created with
the registry REST API, connected with the project's own MQTT client
(mqtt_client.py); telemetry on the SSE stream, twin get/patch, desired
updates from REST, direct methods, connection state, and the refusals
(disabled device, bad SAS, malformed packets, unknown topics, a second
connection of the same device)."""

import json
import threading
import time
import unittest
import urllib.parse

from dpsd_harness import random_key, unique_id
from hubd_harness import HubdTestCase
from mqtt_client import (ConnectionClosed, MqttClient, device_sas, encode_connect,
                         encode_packet, encode_publish, hub_username, parse_property_bag,
                         topic_query)

HUB1 = "hub1.opendps.local"
HUB2 = "hub2.opendps.local"
WAIT = 10


def key_of(device):
    return device["authentication"]["symmetricKey"]["primaryKey"]


def q(device_id):
    return urllib.parse.quote(device_id, safe="")


class DeviceTestBase(HubdTestCase):

    def connect(self, hub, device, **kw):
        c, ack = self.hubd.connect_device(hub, device["deviceId"], key_of(device), **kw)
        self.addCleanup(c.close)
        self.assertEqual(ack.return_code, 0, "CONNACK for %s" % device["deviceId"])
        return c

    def new_device(self, hub=HUB1, **kw):
        return self.create_device(hub, **kw)

    def wait_state(self, hub, device_id, state, timeout=WAIT):
        svc = self.hubd.service(hub)
        deadline = time.monotonic() + timeout
        while True:
            r = svc.get("/devices/%s" % q(device_id))
            self.assertStatus(r, 200)
            if r.json().get("connectionState") == state:
                return r.json()
            if time.monotonic() > deadline:
                self.fail("%s did not become %s: %r" % (device_id, state, r.json()))
            time.sleep(0.05)


class RegistryAcrossHubsTest(DeviceTestBase):

    def test_hubs_are_separate(self):
        dev_id = unique_id("twin")
        d1 = self.create_device(HUB1, dev_id)
        d2 = self.create_device(HUB2, dev_id)
        self.assertNotEqual(key_of(d1), key_of(d2))
        only1 = self.create_device(HUB1)
        r = self.hubd.service(HUB2).get("/devices/%s" % q(only1["deviceId"]))
        self.assertHubError(r, 404, "DeviceNotFound")
        # hub2's owner key does not open hub1.
        bad = self.hubd.service(HUB1, self.hubd.hubs[HUB2].replace(HUB2, HUB1))
        r = bad.get("/devices/%s" % q(only1["deviceId"]))
        self.assertHubError(r, 401, "IotHubUnauthorizedAccess")
        # A device of hub1 cannot connect as a device of hub2.
        c = self.hubd.mqtt(HUB2)
        self.addCleanup(c.close)
        ack = c.connect(only1["deviceId"], username=hub_username(HUB2, only1["deviceId"]),
                        password=device_sas(HUB2, only1["deviceId"], key_of(only1)))
        self.assertEqual(ack.return_code, 5)


class TelemetryTest(DeviceTestBase):

    def test_telemetry_shows_on_the_stream(self):
        dev = self.new_device()
        did = dev["deviceId"]
        with self.hubd.telemetry_stream(HUB1) as events:
            self.assertEqual(events.status, 200, getattr(events, "error_response", None))
            self.assertTrue(events.headers.get("content-type", "").startswith(
                "text/event-stream"), events.headers)
            c = self.connect(HUB1, dev)
            topic = ("devices/%s/messages/events/%%24.mid=msg-1&%%24.ct=application%%2Fjson"
                     "&%%24.ce=utf-8&alert=no" % did)
            c.publish(topic, b'{"temp":21.5}', qos=1)
            c.publish("devices/%s/messages/events/" % did, b"\xff\x00\x01", qos=0)
            ev = events.wait_for(lambda e: isinstance(e.get("data"), dict)
                                 and e["data"].get("deviceId") == did)
            m = ev["data"]
            self.assertEqual(m["body"], '{"temp":21.5}')
            self.assertNotIn("bodyEncoding", m)
            self.assertEqual(m["systemProperties"].get("messageId"), "msg-1")
            self.assertEqual(m["systemProperties"].get("contentType"), "application/json")
            self.assertEqual(m["applicationProperties"], {"alert": "no"})
            self.assertIsInstance(m["sequence"], int)
            self.assertEqual(ev.get("id"), str(m["sequence"]))
            self.assertTrue(m["enqueuedTimeUtc"].endswith("Z"))
            ev2 = events.wait_for(lambda e: e["data"].get("deviceId") == did)
            self.assertEqual(ev2["data"]["sequence"], m["sequence"] + 1)
            self.assertEqual(ev2["data"]["bodyEncoding"], "base64")
            self.assertEqual(ev2["data"]["body"], "/wAB")

    def test_streams_are_per_hub_and_resume(self):
        d1 = self.new_device(HUB1)
        d2 = self.new_device(HUB2)
        c1 = self.connect(HUB1, d1)
        c2 = self.connect(HUB2, d2)
        with self.hubd.telemetry_stream(HUB2) as hub2_events:
            c1.publish("devices/%s/messages/events/" % d1["deviceId"], b"for hub1", qos=1)
            c2.publish("devices/%s/messages/events/" % d2["deviceId"], b"for hub2", qos=1)
            ev = hub2_events.wait_for(lambda e: e["data"].get("deviceId") in
                                      (d1["deviceId"], d2["deviceId"]))
            self.assertEqual(ev["data"]["deviceId"], d2["deviceId"])
            self.assertEqual(ev["data"]["body"], "for hub2")

        # Resume after a sequence number (Last-Event-ID): what followed it
        # comes first, in order.
        bodies = ["r1-%s" % unique_id(), "r2", "r3"]
        with self.hubd.telemetry_stream(HUB1) as live:
            for b in bodies:
                c1.publish("devices/%s/messages/events/" % d1["deviceId"], b.encode(), qos=1)
            first = live.wait_for(lambda e: e["data"].get("body") == bodies[0])
        seq = first["data"]["sequence"]
        with self.hubd.telemetry_stream(HUB1, since=seq) as resumed:
            got = [resumed.get()["data"] for _ in range(2)]
        self.assertEqual([g["body"] for g in got], bodies[1:])
        self.assertEqual([g["sequence"] for g in got], [seq + 1, seq + 2])

    def test_stream_needs_a_hub_credential(self):
        r = self.hubd.service(HUB1).get("/_hubd/telemetry", token=False,
                                        headers={"Accept": "text/event-stream"})
        self.assertHubError(r, 401, "IotHubUnauthorizedAccess")


class TwinTest(DeviceTestBase):

    def test_get_and_patch_reported(self):
        dev = self.new_device()
        c = self.connect(HUB1, dev)
        c.subscribe("$iothub/twin/res/#", qos=0)
        status, body, props = c.twin_get(rid="3f2e")
        self.assertEqual(status, 200)
        self.assertEqual(props.get("$rid"), "3f2e")
        self.assertIn("$version", body["desired"])
        self.assertIn("$version", body["reported"])
        v0 = body["reported"]["$version"]
        status, _, props = c.twin_patch_reported({"fw": "2.4.1", "nested": {"a": 1}},
                                                 rid="4a5b")
        self.assertEqual(status, 204)
        self.assertEqual(props.get("$rid"), "4a5b")
        self.assertEqual(int(props["$version"]), v0 + 1)
        # A null deletes.
        status, _, props = c.twin_patch_reported({"nested": None}, rid="x")
        self.assertEqual(status, 204)
        r = self.hubd.service(HUB1).get("/twins/%s" % q(dev["deviceId"]))
        self.assertStatus(r, 200)
        reported = r.json()["properties"]["reported"]
        self.assertEqual(reported["fw"], "2.4.1")
        self.assertNotIn("nested", reported)
        self.assertEqual(reported["$version"], v0 + 2)
        # Malformed JSON is answered 400 and the connection stays.
        status, _, _ = c.twin_patch_reported(b"{not json", rid="bad")
        self.assertEqual(status, 400)
        c.ping()

    def test_desired_update_reaches_the_device(self):
        dev = self.new_device()
        c = self.connect(HUB1, dev)
        c.subscribe("$iothub/twin/PATCH/properties/desired/#", qos=0)
        r = self.hubd.service(HUB1).patch("/twins/%s" % q(dev["deviceId"]),
                                          {"properties": {"desired": {"sampleSeconds": 30}}})
        self.assertStatus(r, 200)
        version = r.json()["properties"]["desired"]["$version"]
        msg = c.recv_publish(timeout=WAIT,
                             topic_prefix="$iothub/twin/PATCH/properties/desired/")
        body = json.loads(msg.payload)
        self.assertEqual(body["sampleSeconds"], 30)
        self.assertEqual(body["$version"], version)
        self.assertEqual(parse_property_bag(topic_query(msg.topic)).get("$version"),
                         str(version))
        # The device's twin GET agrees.
        c.subscribe("$iothub/twin/res/#", qos=0)
        status, twin, _ = c.twin_get(rid="after")
        self.assertEqual(status, 200)
        self.assertEqual(twin["desired"]["sampleSeconds"], 30)


class MethodTest(DeviceTestBase):

    def invoke(self, device_id, body, result):
        r = self.hubd.service(HUB1).post("/twins/%s/methods" % q(device_id), body,
                                         timeout=60)
        result.append(r)

    def test_direct_method_round_trip(self):
        dev = self.new_device()
        c = self.connect(HUB1, dev)
        codes = c.subscribe("$iothub/methods/POST/#", qos=0)
        self.assertEqual(codes, [0])
        result = []
        t = threading.Thread(target=self.invoke, args=(
            dev["deviceId"], {"methodName": "reboot", "payload": {"delay": 1},
                              "responseTimeoutInSeconds": 15,
                              "connectTimeoutInSeconds": 5}, result))
        t.start()
        try:
            msg = c.recv_publish(timeout=WAIT, topic_prefix="$iothub/methods/POST/")
            self.assertTrue(msg.topic.startswith("$iothub/methods/POST/reboot/?"), msg.topic)
            self.assertEqual(json.loads(msg.payload), {"delay": 1})
            rid = parse_property_bag(topic_query(msg.topic))["$rid"]
            c.publish("$iothub/methods/res/201/?$rid=%s" % rid, b'{"ok":true}', qos=0)
        finally:
            t.join(30)
        self.assertEqual(len(result), 1)
        self.assertStatus(result[0], 200)
        self.assertEqual(result[0].json(), {"status": 201, "payload": {"ok": True}})

    def test_method_to_offline_device(self):
        dev = self.new_device()
        t0 = time.monotonic()
        r = self.hubd.service(HUB1).post("/twins/%s/methods" % q(dev["deviceId"]),
                                         {"methodName": "x", "payload": None,
                                          "responseTimeoutInSeconds": 5,
                                          "connectTimeoutInSeconds": 0}, timeout=60)
        self.assertHubError(r, 404, "DeviceNotOnline")
        self.assertLess(time.monotonic() - t0, 20)


class ConnectionRulesTest(DeviceTestBase):

    def test_connection_state_in_the_registry(self):
        dev = self.new_device()
        self.assertEqual(dev.get("connectionState"), "Disconnected")
        c = self.connect(HUB1, dev)
        self.wait_state(HUB1, dev["deviceId"], "Connected")
        r = self.hubd.service(HUB1).get("/twins/%s" % q(dev["deviceId"]))
        self.assertEqual(r.json().get("connectionState"), "Connected")
        c.disconnect()
        self.wait_state(HUB1, dev["deviceId"], "Disconnected")

    def test_one_connection_per_device(self):
        dev = self.new_device()
        first = self.connect(HUB1, dev)
        second = self.connect(HUB1, dev)
        self.assertTrue(first.expect_closed(timeout=WAIT), "the older connection stays")
        second.ping()
        self.wait_state(HUB1, dev["deviceId"], "Connected")

    def test_disabled_device_refused_and_disconnected(self):
        dev = self.new_device()
        c = self.connect(HUB1, dev)
        body = dict(dev)
        body["status"] = "disabled"
        r = self.hubd.service(HUB1).put("/devices/%s" % q(dev["deviceId"]), body,
                                        headers={"If-Match": '"*"'})
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["status"], "disabled")
        self.assertTrue(c.expect_closed(timeout=WAIT), "a disabled device stays connected")
        c2, ack = self.hubd.connect_device(HUB1, dev["deviceId"], key_of(dev))
        self.addCleanup(c2.close)
        self.assertEqual(ack.return_code, 5)
        created = self.new_device(status="disabled")
        c3, ack = self.hubd.connect_device(HUB1, created["deviceId"], key_of(created))
        self.addCleanup(c3.close)
        self.assertEqual(ack.return_code, 5)

    def test_bad_credentials_refused(self):
        dev = self.new_device()
        did = dev["deviceId"]
        other = self.new_device()
        cases = {
            "random key": device_sas(HUB1, did, random_key()),
            "expired": device_sas(HUB1, did, key_of(dev), ttl=-3600),
            "another device's token": device_sas(HUB1, other["deviceId"], key_of(other)),
            "other hub audience": device_sas(HUB2, did, key_of(dev)),
            "not a token": "hello",
            "empty": "",
        }
        for what, password in cases.items():
            c = self.hubd.mqtt(HUB1)
            self.addCleanup(c.close)
            try:
                ack = c.connect(did, username=hub_username(HUB1, did), password=password)
            except ConnectionClosed:
                self.fail("%s: closed without CONNACK" % what)
            self.assertEqual(ack.return_code, 5, what)
        # Unknown device, and a client ID that differs from the username's.
        c = self.hubd.mqtt(HUB1)
        self.addCleanup(c.close)
        ack = c.connect("nobody-" + did, username=hub_username(HUB1, "nobody-" + did),
                        password=device_sas(HUB1, "nobody-" + did, random_key()))
        self.assertEqual(ack.return_code, 5)
        c = self.hubd.mqtt(HUB1)
        self.addCleanup(c.close)
        try:
            ack = c.connect(other["deviceId"], username=hub_username(HUB1, did),
                            password=device_sas(HUB1, did, key_of(dev)))
            self.assertIn(ack.return_code, (2, 4, 5))
        except ConnectionClosed:
            pass
        self.wait_state(HUB1, did, "Disconnected", timeout=1)

    def test_bad_input_closes_only_that_connection(self):
        bystander = self.new_device()
        keep = self.connect(HUB1, bystander)
        bad_dev = self.new_device()
        bid = bad_dev["deviceId"]
        other_id = bystander["deviceId"]
        cases = {
            "telemetry as another device": encode_publish(
                "devices/%s/messages/events/" % other_id, b"x", qos=0),
            "unknown topic": encode_publish("foo/bar", b"x", qos=0),
            "C2D topic published by the device": encode_publish(
                "devices/%s/messages/devicebound/" % bid, b"x", qos=0),
            "QoS 2 publish": encode_publish("devices/%s/messages/events/" % bid, b"x",
                                            qos=2, packet_id=7),
            "bad remaining length": b"\x30\xff\xff\xff\xff\x7f",
            "second CONNECT": encode_connect(bid),
            "reserved packet type": encode_packet(15, 0, b""),
            "truncated topic": encode_packet(3, 0, b"\x00\x10dev"),
        }
        for what, raw in cases.items():
            c = self.connect(HUB1, bad_dev)
            c.send_raw(raw)
            self.assertTrue(c.expect_closed(timeout=WAIT), "%s: connection stays" % what)
            keep.ping()
        # Before CONNECT, anything but CONNECT closes the socket.
        c = self.hubd.mqtt(HUB1)
        self.addCleanup(c.close)
        c.send_raw(encode_packet(12, 0, b""))  # PINGREQ
        self.assertTrue(c.expect_closed(timeout=WAIT))
        # Subscribing outside the device's topics is refused, not fatal.
        c = self.connect(HUB1, bad_dev)
        self.assertEqual(c.subscribe("devices/%s/messages/devicebound/#" % other_id, qos=1),
                         [0x80])
        self.assertEqual(c.subscribe("$iothub/twin/res/#", qos=2), [1])
        c.ping()
        # The bystander is unharmed: still connected and its telemetry flows.
        with self.hubd.telemetry_stream(HUB1) as events:
            keep.publish("devices/%s/messages/events/" % other_id, b"still here", qos=1)
            events.wait_for(lambda e: e["data"].get("body") == "still here")
        self.wait_state(HUB1, other_id, "Connected")


if __name__ == "__main__":
    unittest.main()
