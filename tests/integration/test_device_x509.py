"""X.509 attestation end to end over real TLS (device-api.md §10,
service-api.md §8.3, §11.4, hub.md §9.2): a PKI built with the openssl tool
at run time (roots -> intermediates -> device leaves, an unrelated root, a
forger reusing a root's name with another key), hubd hosting two hubs, dpsd
with both linked, enrollments through the service API, CA certificates with
proof of possession through the admin API, and devices that present their
certificate chain from Python's ssl module over HTTPS and MQTT.

Checks the admitted devices (individual by leaf, group by root, group by
intermediate, CA reference after proof of possession) down to their hub
identity (selfSigned, the leaf's SHA-256 thumbprint in both slots) and a
connection to hubd with the same certificate, and every negative case of
issue 5 with the exact error the device sees: 401 / 401002 over HTTPS,
CONNACK 5 over MQTT (or 401 on the response topic when the enrollment
changed after CONNECT), status "disabled" for a disabled individual
enrollment inside an enabled group."""

import http.client
import json
import os
import re
import shutil
import socket
import ssl
import tempfile
import time
import unittest
import uuid

import test_device_https as dh
from dpsd_harness import openssl, cert_facts, unique_id
from journey_harness import HubsAndDpsd
from mqtt_client import MqttClient, hub_username

HUB1, HUB2 = dh.HUB1, dh.HUB2
API = "2021-06-01"
RES_FILTER = "$dps/registrations/res/#"
REGISTER_TOPIC = "$dps/registrations/PUT/iotdps-register/?$rid=%s"
STATUS_TOPIC = "$dps/registrations/GET/iotdps-get-operationstatus/?$rid=%s&operationId=%s"
POLL_DEADLINE = 30

CA_CONF = """
[ ca ]
default_ca = ca_here
[ ca_here ]
database = {d}/index.txt
new_certs_dir = {d}/new
serial = {d}/serial
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
default_days = 365
[ policy_any ]
commonName = supplied
organizationName = optional
[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ leaf_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
"""


class Pki:
    """Certificates made with the openssl tool in a temporary directory.
    Each certificate is (cert_path, key_path); chain files hold a leaf and
    the intermediates a device sends."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="dps-x509-")
        os.mkdir(os.path.join(self.dir, "new"))
        open(os.path.join(self.dir, "index.txt"), "w").close()
        with open(os.path.join(self.dir, "serial"), "w") as f:
            f.write("1000\n")
        self.conf = os.path.join(self.dir, "ca.cnf")
        with open(self.conf, "w") as f:
            f.write(CA_CONF.format(d=self.dir))

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def key(self, name):
        k = self.path(name + ".key")
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", k)
        return k

    def root(self, cn, key=None):
        key = key or self.key(cn)
        cert = self.path(cn + "-" + uuid.uuid4().hex[:6] + ".pem")
        openssl("req", "-x509", "-new", "-key", key, "-subj", "/O=opendps tests/CN=%s" % cn,
                "-days", "365", "-sha256", "-out", cert,
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                "-addext", "subjectKeyIdentifier=hash")
        return cert, key

    def issue(self, cn, issuer, ca=False, start=None, end=None, ext=None):
        """A certificate for a new key, signed by issuer (cert, key);
        start/end as openssl's YYYYMMDDHHMMSSZ."""
        key = self.key(cn + "-" + uuid.uuid4().hex[:6])
        csr = self.path(cn + ".csr")
        openssl("req", "-new", "-key", key, "-subj", "/O=opendps tests/CN=%s" % cn, "-out", csr)
        cert = key[:-4] + ".pem"
        args = ["ca", "-batch", "-config", self.conf, "-cert", issuer[0], "-keyfile", issuer[1],
                "-in", csr, "-out", cert, "-notext",
                "-extensions", ext or ("ca_ext" if ca else "leaf_ext")]
        if start:
            args += ["-startdate", start]
        if end:
            args += ["-enddate", end]
        openssl(*args)
        return cert, key

    def chain(self, leaf, *intermediates):
        """leaf + intermediates in one PEM file (what load_cert_chain sends)."""
        out = leaf[0][:-4] + "-chain-" + uuid.uuid4().hex[:6] + ".pem"
        with open(out, "w") as f:
            for p in (leaf[0],) + tuple(i[0] for i in intermediates):
                with open(p) as c:
                    f.write(c.read())
        return out, leaf[1]


def pem(path):
    with open(path) as f:
        return f.read()


def q(s):
    return dh.q(s)


class DeviceX509Test(HubsAndDpsd, unittest.TestCase):
    WEIGHTS = {HUB1: 1, HUB2: 1}
    assertStatus = dh.DeviceHttpsTest.assertStatus

    @classmethod
    def setUpClass(cls):
        cls.pki = Pki()
        cls.addClassCleanup(cls.pki.cleanup)
        cls.start_hubd([HUB1, HUB2])
        cls.start_dpsd(hub_timeout=3, mqtt=True)
        lines = [l for l in cls.dpsd.lines if l.startswith("mqtts: ")]
        m = re.match(r"^mqtts: listening on mqtts://([0-9.]+):(\d+) ", lines[0])
        cls.mqtt_ip, cls.mqtt_port = m.group(1), int(m.group(2))
        cls.link_hubs(cls.WEIGHTS)

    def setUp(self):
        self.contexts = {}

    def tearDown(self):
        self.dpsd.alive_check(self)
        self.hubd.alive_check(self)

    # ---- enrollments

    def enroll_leaf(self, regid, leaf, **extra):
        body = {"registrationId": regid,
                "attestation": {"type": "x509",
                                "x509": {"clientCertificates": {
                                    "primary": {"certificate": pem(leaf[0])}}}}}
        body.update(extra)
        r = self.svc.put("/enrollments/" + regid, body)
        self.assertStatus(r, 200)
        return r.json()

    def group_signing(self, cert, gid=None, **extra):
        gid = gid or unique_id("xgrp")
        body = {"enrollmentGroupId": gid,
                "attestation": {"type": "x509",
                                "x509": {"signingCertificates": {
                                    "primary": {"certificate": pem(cert[0])}}}}}
        body.update(extra)
        r = self.svc.put("/enrollmentGroups/" + gid, body)
        self.assertStatus(r, 200)
        return gid

    def group_ca(self, ca_name, gid=None):
        gid = gid or unique_id("xcag")
        body = {"enrollmentGroupId": gid,
                "attestation": {"type": "x509", "x509": {"caReferences": {"primary": ca_name}}}}
        return gid, self.svc.put("/enrollmentGroups/" + gid, body)

    def upload_ca(self, name, cert, verified=None, if_match=None):
        body = {"certificate": pem(cert[0])}
        if verified is not None:
            body["isVerified"] = verified
        headers = {"If-Match": if_match} if if_match else None
        return self.svc.put("/admin/certificates/" + name, body, headers=headers)

    def prove_possession(self, name, ca):
        r = self.svc.post("/admin/certificates/%s/generateVerificationCode" % name,
                          headers={"If-Match": "*"})
        self.assertStatus(r, 200)
        code = r.json()["properties"]["verificationCode"]
        etag = r.json()["etag"]
        self.assertRegex(code, r"^[0-9A-F]{40}$")
        pop = self.pki.issue(code, ca)
        r = self.svc.post("/admin/certificates/%s/verify" % name, {"certificate": pem(pop[0])},
                          headers={"If-Match": etag})
        self.assertStatus(r, 200)
        self.assertTrue(r.json()["properties"]["isVerified"])

    # ---- devices over HTTPS

    def https(self, method, path, body, cert, session=None):
        """One request presenting cert ((chain_pem, key) or None); returns
        (status, json, socket-level session_reused, session)."""
        # One context per certificate: a session resumes only on the
        # context that made it.
        ctx = self.contexts.get(cert)
        if ctx is None:
            ctx = ssl.create_default_context(cafile=self.dpsd.ca_file)
            if cert is not None:
                ctx.load_cert_chain(cert[0], cert[1])
            self.contexts[cert] = ctx
        raw = socket.create_connection((self.dpsd.ip, self.dpsd.port), timeout=15)
        sock = ctx.wrap_socket(raw, server_hostname="localhost", session=session)
        conn = http.client.HTTPSConnection("localhost", self.dpsd.port, timeout=15)
        conn.sock = sock
        try:
            data = json.dumps(body).encode() if body is not None else None
            h = {"Content-Type": "application/json; charset=utf-8"}
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            payload = r.read()
            return (r.status, json.loads(payload) if payload else None, sock.session_reused,
                    sock.session)
        finally:
            conn.close()

    def dev_path(self, regid, tail=""):
        return "/%s/registrations/%s%s?api-version=%s" % (q(self.dpsd.id_scope), q(regid),
                                                          tail, API)

    def https_register(self, regid, cert):
        status, body, _, _ = self.https("PUT", self.dev_path(regid, "/register"),
                                        {"registrationId": regid}, cert)
        return status, body

    def https_provision(self, regid, cert):
        status, body = self.https_register(regid, cert)
        self.assertEqual(status, 202, body)
        op = body["operationId"]
        end = time.monotonic() + POLL_DEADLINE
        while True:
            time.sleep(0.05)
            status, body, _, _ = self.https("GET", self.dev_path(regid, "/operations/" + q(op)),
                                            None, cert)
            if status == 200:
                return body
            self.assertEqual(status, 202, body)
            self.assertLess(time.monotonic(), end, "still assigning")

    def assert_https_refused(self, regid, cert, needle):
        status, body = self.https_register(regid, cert)
        self.assertEqual(status, 401, body)
        self.assertEqual(body["errorCode"], 401002, body)
        self.assertIn(needle, body["message"])
        for k in ("trackingId", "timestampUtc"):
            self.assertIn(k, body)

    # ---- devices over MQTT

    def mqtt_connect(self, regid, cert):
        c = MqttClient(self.mqtt_ip, self.mqtt_port, cafile=self.dpsd.ca_file,
                       certfile=cert[0], keyfile=cert[1], server_hostname="localhost")
        self.addCleanup(c.close)
        user = "%s/registrations/%s/api-version=%s" % (self.dpsd.id_scope, regid, API)
        return c, c.connect(regid, username=user, password=None, keep_alive=60)

    def mqtt_request(self, c, topic, payload=b" "):
        c.publish(topic, payload, qos=1)
        msg = c.recv_publish(timeout=10, topic_prefix="$dps/registrations/res/")
        if msg.qos == 1:
            c.puback(msg.packet_id)
        m = re.match(r"^\$dps/registrations/res/(\d{3})/\?\$rid=", msg.topic)
        self.assertIsNotNone(m, msg.topic)
        return int(m.group(1)), json.loads(msg.payload)

    def mqtt_provision(self, regid, cert):
        c, ack = self.mqtt_connect(regid, cert)
        self.assertEqual(ack.return_code, 0)
        self.assertEqual(c.subscribe(RES_FILTER, qos=1), [1])
        c.publish(REGISTER_TOPIC % "1", json.dumps({"registrationId": regid}).encode(), qos=1)
        msg = c.recv_publish(timeout=10, topic_prefix="$dps/registrations/res/")
        c.puback(msg.packet_id)
        self.assertTrue(msg.topic.startswith("$dps/registrations/res/202/"), msg.topic)
        op = json.loads(msg.payload)["operationId"]
        end = time.monotonic() + POLL_DEADLINE
        while True:
            time.sleep(0.05)
            status, body = self.mqtt_request(c, STATUS_TOPIC % (uuid.uuid4(), op))
            if status == 200:
                return body
            self.assertEqual(status, 202, body)
            self.assertLess(time.monotonic(), end, "still assigning")

    def assert_mqtt_refused(self, regid, cert):
        c, ack = self.mqtt_connect(regid, cert)
        self.assertEqual(ack.return_code, 5)

    # ---- the hub

    def check_on_hub(self, state, leaf_cert, chain):
        """The hub device is selfSigned with the leaf's SHA-256 thumbprint
        in both slots, and the device connects to hubd with its chain."""
        facts = cert_facts(leaf_cert)
        hub, device_id = state["assignedHub"], state["deviceId"]
        r = self.hubd.service(hub).get("/devices/" + q(device_id))
        self.assertStatus(r, 200)
        auth = r.json()["authentication"]
        self.assertEqual(auth["type"], "selfSigned", auth)
        self.assertEqual(auth["x509Thumbprint"]["primaryThumbprint"].upper(), facts["sha256"])
        self.assertEqual(auth["x509Thumbprint"]["secondaryThumbprint"].upper(), facts["sha256"])
        c = self.hubd.mqtt(hub, certfile=chain[0], keyfile=chain[1])
        self.addCleanup(c.close)
        ack = c.connect(device_id, username=hub_username(hub, device_id), password=None)
        self.assertEqual(ack.return_code, 0)
        c.publish("devices/%s/messages/events/" % device_id, b'{"x509":true}', qos=1)
        c.disconnect()
        return facts

    # ---- admitted devices

    def test_individual_by_leaf_https_and_hub(self):
        root = self.pki.root("Indiv Root")
        regid = unique_id("x509-ind").lower()
        leaf = self.pki.issue(regid, root)
        self.enroll_leaf(regid, leaf)
        body = self.https_provision(regid, (leaf[0], leaf[1]))
        self.assertEqual(body["status"], "assigned", body)
        st = body["registrationState"]
        facts = self.check_on_hub(st, leaf[0], leaf)
        self.assertEqual(st["x509"]["certificateInfo"]["sha256Thumbprint"], facts["sha256"])
        self.assertNotIn("enrollmentGroupId", st["x509"])
        self.assertNotIn("symmetricKey", st)
        # The service API shows the same registration state.
        r = self.svc.get("/registrations/" + regid)
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["x509"]["certificateInfo"]["sha256Thumbprint"],
                         facts["sha256"])

    def test_group_by_root_over_mqtt_and_https(self):
        root = self.pki.root("Group Root")
        inter = self.pki.issue("Group Intermediate", root, ca=True)
        gid = self.group_signing(root)
        for transport in ("mqtt", "https"):
            regid = unique_id("x509-root-" + transport).lower()
            leaf = self.pki.issue(regid, inter)
            chain = self.pki.chain(leaf, inter)
            body = (self.mqtt_provision if transport == "mqtt" else self.https_provision)(
                regid, chain)
            self.assertEqual(body["status"], "assigned", body)
            st = body["registrationState"]
            self.assertEqual(st["x509"]["enrollmentGroupId"], gid)
            self.assertEqual(st["x509"]["signingCertificateInfo"]["subjectName"],
                             "CN=Group Root, O=opendps tests")
            self.assertEqual(st["deviceId"], regid)
            self.check_on_hub(st, leaf[0], chain)

    def test_group_by_intermediate(self):
        root = self.pki.root("IntGroup Root")
        inter = self.pki.issue("IntGroup Intermediate", root, ca=True)
        self.group_signing(root)
        gid = self.group_signing(inter)
        regid = unique_id("x509-int").lower()
        leaf = self.pki.issue(regid, inter)
        # The intermediate is attached to a group: the leaf alone suffices
        # and the nearest group decides.
        body = self.https_provision(regid, leaf)
        self.assertEqual(body["registrationState"]["x509"]["enrollmentGroupId"], gid)
        body = self.mqtt_provision(regid, self.pki.chain(leaf, inter))
        self.assertEqual(body["registrationState"]["x509"]["enrollmentGroupId"], gid)

    def test_ca_reference_after_proof_of_possession(self):
        root = self.pki.root("PoP Root")
        name = unique_id("ca").lower()
        r = self.upload_ca(name, root)
        self.assertStatus(r, 200)
        self.assertFalse(r.json()["properties"]["isVerified"])
        # A group cannot name an unverified CA (service-api.md §11.4).
        _, r = self.group_ca(name)
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json()["errorCode"], 400003)
        self.prove_possession(name, root)
        gid, r = self.group_ca(name)
        self.assertStatus(r, 200)
        regid = unique_id("x509-ca").lower()
        leaf = self.pki.issue(regid, root)
        body = self.https_provision(regid, leaf)
        self.assertEqual(body["status"], "assigned", body)
        self.assertEqual(body["registrationState"]["x509"]["enrollmentGroupId"], gid)
        body = self.mqtt_provision(regid, leaf)
        self.assertEqual(body["status"], "assigned", body)

    # ---- the negative cases, as the device sees them

    def test_expired_and_not_yet_valid_leaf(self):
        root = self.pki.root("Dates Root")
        self.group_signing(root)
        for label, start, end, needle in (
                ("old", "20200101000000Z", "20210101000000Z", "certificate has expired"),
                ("new", "20990101000000Z", "20991231000000Z", "certificate is not yet valid")):
            regid = unique_id("x509-" + label).lower()
            leaf = self.pki.issue(regid, root, start=start, end=end)
            self.assert_https_refused(regid, leaf, needle)
            self.assert_mqtt_refused(regid, leaf)

    def test_cn_differs_from_registration_id(self):
        root = self.pki.root("CN Root")
        self.group_signing(root)
        leaf = self.pki.issue("someone-else", root)
        regid = unique_id("x509-cn").lower()
        self.assert_https_refused(regid, leaf, "is not the registration ID")
        self.assert_mqtt_refused(regid, leaf)

    def test_chain_reaching_no_enrollment(self):
        enrolled = self.pki.root("Enrolled Root")
        self.group_signing(enrolled)
        stranger = self.pki.root("Unrelated Root")
        regid = unique_id("x509-stranger").lower()
        leaf = self.pki.issue(regid, stranger)
        self.assert_https_refused(regid, leaf, "no enrollment accepts it")
        self.assert_mqtt_refused(regid, leaf)

    def test_missing_intermediate(self):
        root = self.pki.root("Missing Root")
        inter = self.pki.issue("Missing Intermediate", root, ca=True)
        self.group_signing(root)
        regid = unique_id("x509-short").lower()
        leaf = self.pki.issue(regid, inter)
        self.assert_https_refused(regid, leaf, "no enrollment accepts it")
        self.assert_mqtt_refused(regid, leaf)
        status, body = self.https_register(regid, self.pki.chain(leaf, inter))
        self.assertEqual(status, 202, body)

    def test_unverified_ca(self):
        root = self.pki.root("Unverified Root")
        name = unique_id("ca").lower()
        self.assertStatus(self.upload_ca(name, root, verified=True), 200)
        gid, r = self.group_ca(name)
        self.assertStatus(r, 200)
        # The CA is marked unverified after the group named it.
        self.assertStatus(self.upload_ca(name, root, verified=False, if_match="*"), 200)
        regid = unique_id("x509-unv").lower()
        leaf = self.pki.issue(regid, root)
        self.assert_https_refused(regid, leaf, "is not verified")
        self.assert_mqtt_refused(regid, leaf)

    def test_disabled_individual_inside_enabled_group(self):
        root = self.pki.root("Disabled Root")
        self.group_signing(root)
        regid = unique_id("x509-off").lower()
        leaf = self.pki.issue(regid, root)
        self.enroll_leaf(regid, leaf, provisioningStatus="disabled")
        body = self.https_provision(regid, leaf)
        self.assertEqual(body["status"], "disabled", body)
        body = self.mqtt_provision(regid, leaf)
        self.assertEqual(body["status"], "disabled", body)

    def test_deleted_group(self):
        root = self.pki.root("Deleted Root")
        gid = self.group_signing(root)
        regid = unique_id("x509-del").lower()
        leaf = self.pki.issue(regid, root)
        # Connected while the group exists ...
        c, ack = self.mqtt_connect(regid, leaf)
        self.assertEqual(ack.return_code, 0)
        self.assertEqual(c.subscribe(RES_FILTER, qos=1), [1])
        self.assertStatus(self.svc.delete("/enrollmentGroups/" + gid), 204)
        # ... and refused on the response topic once it is gone.
        status, body = self.mqtt_request(c, REGISTER_TOPIC % "7",
                                         json.dumps({"registrationId": regid}).encode())
        self.assertEqual(status, 401, body)
        self.assertEqual(body["errorCode"], 401002)
        self.assert_https_refused(regid, leaf, "no enrollment accepts it")
        self.assert_mqtt_refused(regid, leaf)

    def test_non_ca_certificate_as_issuer(self):
        root = self.pki.root("NonCA Root")
        self.group_signing(root)
        ee = self.pki.issue("plain-end-entity", root)
        regid = unique_id("x509-ee").lower()
        leaf = self.pki.issue(regid, ee)
        chain = self.pki.chain(leaf, ee)
        self.assert_https_refused(regid, chain, "invalid CA certificate")
        self.assert_mqtt_refused(regid, chain)

    def test_right_name_wrong_key(self):
        root = self.pki.root("Forged Root")
        self.group_signing(root)
        # Same subject as the enrolled root, another key.
        forger = self.pki.root("Forged Root")
        regid = unique_id("x509-forged").lower()
        leaf = self.pki.issue(regid, forger, ext="leaf_ext")
        self.assert_https_refused(regid, leaf, "Invalid certificate")
        self.assert_mqtt_refused(regid, leaf)

    def test_no_resumption_with_a_client_certificate(self):
        """A resumed session carries no chain: dpsd never resumes a session
        that holds a client certificate, so a device always presents its
        chain again; sessions without one still resume."""
        root = self.pki.root("Resume Root")
        self.group_signing(root)
        regid = unique_id("x509-res").lower()
        leaf = self.pki.issue(regid, root)
        status, _, _, sess = self.https("PUT", self.dev_path(regid, "/register"),
                                        {"registrationId": regid}, leaf)
        self.assertEqual(status, 202)
        status, body, reused, _ = self.https("PUT", self.dev_path(regid, "/register"),
                                             {"registrationId": regid}, leaf, session=sess)
        self.assertFalse(reused)
        self.assertEqual(status, 202, body)
        # Without a certificate: the service API resumes as before.
        _, _, _, sess = self.https("GET", "/admin/instance", None, None)
        _, _, reused, _ = self.https("GET", "/admin/instance", None, None, session=sess)
        self.assertTrue(reused)


if __name__ == "__main__":
    unittest.main()
