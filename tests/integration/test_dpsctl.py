"""The operator journey with the real dpsctl against the real dpsd."""

import base64
import json
import os
import shutil
import socket
import tempfile
import unittest

from dpsd_harness import (DpsdTestCase, cert_facts, derive_device_key, make_ek,
                          make_self_signed_cert, parse_connection_string, random_key,
                          run_dpsctl, unique_id)


def find_key(obj, *names):
    """First value of any of names anywhere in a JSON document."""
    if isinstance(obj, dict):
        for n in names:
            if n in obj:
                return obj[n]
        for v in obj.values():
            r = find_key(v, *names)
            if r is not None:
                return r
    elif isinstance(obj, list):
        for v in obj:
            r = find_key(v, *names)
            if r is not None:
                return r
    return None


class DpsctlBase(DpsdTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp(prefix="dpsctl-it-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)

    def ctl(self, *args, rc=0, login=None, output=None, use_env=False, cafile=None):
        r = run_dpsctl(list(args), login=login or self.dpsd.connection_string,
                       cafile=cafile or self.dpsd.ca_file, output=output, use_env=use_env)
        if rc is not None and r.returncode != rc:
            self.fail("dpsctl %s: exit %d (expected %d)\nstdout: %s\nstderr: %s"
                      % (" ".join(args), r.returncode, rc, r.stdout[:2000], r.stderr[:2000]))
        return r

    def ctl_json(self, *args, **kw):
        r = self.ctl(*args, **kw)
        try:
            return json.loads(r.stdout)
        except ValueError:
            self.fail("dpsctl %s: stdout is not JSON: %r" % (" ".join(args), r.stdout[:500]))

    def assertOneLineError(self, r):
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, "expected one error line, got: %r" % r.stderr)
        self.assertEqual(r.stdout.strip(), "", "nothing on stdout on error")
        return lines[0]


class EnrollmentJourneyTest(DpsctlBase):

    def test_symmetric_enrollment_journey(self):
        rid = unique_id("cli")
        created = self.ctl_json("enrollment", "create", "--enrollment-id", rid,
                                "--attestation-type", "symmetrickey")
        self.assertEqual(created["registrationId"], rid)
        keys = created["attestation"].get("symmetricKey")
        if keys is None:   # the CLI may hide keys on create too; fetch them
            keys = self.ctl_json("enrollment", "show", "--enrollment-id", rid,
                                 "--show-keys")["attestation"]["symmetricKey"]

        shown = self.ctl_json("enrollment", "show", "--enrollment-id", rid)
        self.assertEqual(shown["registrationId"], rid)
        self.assertNotIn("symmetricKey", shown["attestation"], "show must hide keys")
        with_keys = self.ctl_json("enrollment", "show", "--enrollment-id", rid, "--show-keys")
        self.assertEqual(with_keys["attestation"]["symmetricKey"]["primaryKey"], keys["primaryKey"])
        self.assertEqual(with_keys["attestation"]["symmetricKey"]["secondaryKey"],
                         keys["secondaryKey"])
        # what the CLI shows is what the service stores
        am = self.client.post("/enrollments/%s/attestationmechanism" % rid).json()
        self.assertEqual(am["symmetricKey"]["primaryKey"], keys["primaryKey"])

        listed = self.ctl_json("enrollment", "list")
        self.assertIsInstance(listed, list)
        self.assertIn(rid, [e["registrationId"] for e in listed])
        table = self.ctl("enrollment", "list", output="table").stdout
        self.assertIn(rid, table)
        self.assertFalse(table.lstrip().startswith(("[", "{")), "table output is JSON")

        etag = shown["etag"]
        upd = self.ctl_json("enrollment", "update", "--enrollment-id", rid,
                            "--provisioning-status", "disabled", "--etag", etag)
        self.assertEqual(upd["provisioningStatus"], "disabled")
        self.assertEqual(self.client.get("/enrollments/" + rid).json()["provisioningStatus"],
                         "disabled")
        # update keeps the keys
        am = self.client.post("/enrollments/%s/attestationmechanism" % rid).json()
        self.assertEqual(am["symmetricKey"]["primaryKey"], keys["primaryKey"])

        stale = self.ctl("enrollment", "update", "--enrollment-id", rid,
                         "--provisioning-status", "enabled", "--etag", etag, rc=1)
        self.assertOneLineError(stale)
        # without --etag the update is unconditional (If-Match: *)
        upd = self.ctl_json("enrollment", "update", "--enrollment-id", rid,
                            "--provisioning-status", "enabled")
        self.assertEqual(upd["provisioningStatus"], "enabled")

        self.ctl("enrollment", "delete", "--enrollment-id", rid)
        self.assertEqual(self.client.get("/enrollments/" + rid).status, 404)
        gone = self.ctl("enrollment", "show", "--enrollment-id", rid, rc=1)
        line = self.assertOneLineError(gone)
        self.assertRegex(line.lower(), r"404|not found")

    def test_create_with_supplied_keys_and_options(self):
        rid = unique_id("cli")
        pk, sk = random_key(32), random_key(32)
        self.ctl("enrollment", "create", "--enrollment-id", rid, "--attestation-type",
                 "symmetrickey", "--primary-key", pk, "--secondary-key", sk,
                 "--provisioning-status", "disabled", "--device-id", "dev-" + rid)
        e = self.client.get("/enrollments/" + rid).json()
        self.assertEqual(e["provisioningStatus"], "disabled")
        self.assertEqual(e["deviceId"], "dev-" + rid)
        am = self.client.post("/enrollments/%s/attestationmechanism" % rid).json()
        self.assertEqual(am["symmetricKey"], {"primaryKey": pk, "secondaryKey": sk})

    def test_create_existing_fails(self):
        rid = unique_id("cli")
        self.ctl("enrollment", "create", "--enrollment-id", rid, "--attestation-type",
                 "symmetrickey")
        r = self.ctl("enrollment", "create", "--enrollment-id", rid, "--attestation-type",
                     "symmetrickey", rc=1)
        self.assertOneLineError(r)

    def test_bad_local_input_is_usage_error(self):
        # dpsctl checks keys and EKs itself before sending anything: exit 2
        rid = unique_id("cli")
        r = self.ctl("enrollment", "create", "--enrollment-id", rid, "--attestation-type",
                     "symmetrickey", "--primary-key", "c2hvcnQ=", rc=2)
        self.assertIn("--primary-key", r.stderr)
        r = self.ctl("enrollment", "create", "--enrollment-id", rid, "--attestation-type", "tpm",
                     "--endorsement-key", "AAAA", rc=2)
        self.assertIn("--endorsement-key", r.stderr)
        self.assertEqual(self.client.get("/enrollments/" + rid).status, 404)

    def test_validation_error_from_service(self):
        rid = unique_id("cli")
        r = self.ctl("enrollment", "create", "--enrollment-id", rid, "--attestation-type",
                     "symmetrickey", "--iot-hubs", "not-linked.example.net", rc=1)
        self.assertOneLineError(r)
        # an EK that is framed right but is no RSA key only the service can refuse
        raw = bytearray(base64.b64decode(make_ek()))
        raw[2:4] = b"\x00\x23"          # TPMT_PUBLIC.type = ECC instead of RSA
        r = run_dpsctl(["enrollment", "create", "--enrollment-id", rid, "--attestation-type",
                        "tpm", "--endorsement-key", base64.b64encode(bytes(raw)).decode()],
                       login=self.dpsd.connection_string, cafile=self.dpsd.ca_file)
        self.assertIn(r.returncode, (1, 2), r.stderr)
        if r.returncode == 1:
            self.assertIn("400004", self.assertOneLineError(r))

    def test_tpm_enrollment(self):
        rid = unique_id("clitpm")
        ek = make_ek()
        self.ctl("enrollment", "create", "--enrollment-id", rid, "--attestation-type", "tpm",
                 "--endorsement-key", ek)
        am = self.client.post("/enrollments/%s/attestationmechanism" % rid).json()
        self.assertEqual(am["tpm"]["endorsementKey"], ek)

    def test_x509_enrollment(self):
        rid = unique_id("clix509")
        cert, _ = make_self_signed_cert(self.tmp, rid)
        facts = cert_facts(cert)
        out = self.ctl_json("enrollment", "create", "--enrollment-id", rid,
                            "--attestation-type", "x509", "--certificate-path", cert)
        info = find_key(out, "info")
        self.assertIsNotNone(info, out)
        self.assertEqual(info["sha1Thumbprint"].upper(), facts["sha1"])
        missing = self.ctl("enrollment", "create", "--enrollment-id", unique_id("clix509"),
                           "--attestation-type", "x509", "--certificate-path",
                           os.path.join(self.tmp, "nope.pem"), rc=2)
        self.assertIn("nope.pem", missing.stderr)

    def test_usage_errors_exit_2(self):
        for args in (["enrollment", "create", "--attestation-type", "symmetrickey"],
                     ["enrollment", "frobnicate"],
                     ["nosuchgroup", "list"],
                     ["enrollment", "show", "--enrollment-id", "x", "--no-such-option"],
                     ["enrollment", "create", "--enrollment-id", "x", "--attestation-type",
                      "carrierpigeon"]):
            with self.subTest(args):
                r = self.ctl(*args, rc=2)
                self.assertTrue(r.stderr.strip())

    def test_help(self):
        for args in (["--help"], ["enrollment", "--help"], ["enrollment", "create", "--help"]):
            with self.subTest(args):
                r = run_dpsctl(args)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertTrue(r.stdout.strip())

    def test_environment_login(self):
        rid = unique_id("clienv")
        self.ctl("enrollment", "create", "--enrollment-id", rid, "--attestation-type",
                 "symmetrickey", use_env=True)
        self.assertEqual(self.client.get("/enrollments/" + rid).status, 200)

    def test_connection_errors_exit_3(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()   # nothing listens there now
        cs = "HostName=localhost:%d;SharedAccessKeyName=x;SharedAccessKey=%s" % (port, random_key())
        r = self.ctl("enrollment", "list", login=cs, rc=3)
        self.assertTrue(r.stderr.strip())
        # untrusted server certificate
        other, _ = make_self_signed_cert(self.tmp, "not-the-ca")
        r = self.ctl("enrollment", "list", cafile=other, rc=3)
        self.assertTrue(r.stderr.strip())

    def test_wrong_key_is_service_error(self):
        cs = dict(self.dpsd.cs, SharedAccessKey=random_key())
        login = ";".join("%s=%s" % kv for kv in cs.items())
        r = self.ctl("enrollment", "list", login=login, rc=1)
        self.assertOneLineError(r)

    def test_sas_token_for_rest_clients(self):
        # The token dpsctl prints works as the Authorization of a plain REST
        # client, the way a curl user would use it.
        rid = unique_id("sas")
        token = self.ctl("sas-token", "generate", "--duration", "600", output="tsv").stdout.strip()
        self.assertTrue(token.startswith("SharedAccessSignature "), token)
        client = self.dpsd.client()
        r = client.request("PUT", "/enrollments/%s" % rid, body={
            "registrationId": rid, "attestation": {"type": "symmetricKey"}}, token=token)
        self.assertEqual(r.status, 200, r)
        r = client.request("GET", "/enrollments/%s" % rid, token=token)
        self.assertEqual(r.status, 200, r)
        # Signed with another key: refused.
        other = self.ctl("sas-token", "generate", output="tsv",
                         login="HostName=localhost:%d;SharedAccessKeyName=provisioningserviceowner;"
                               "SharedAccessKey=%s" % (self.dpsd.port, random_key())).stdout.strip()
        self.assertEqual(client.request("GET", "/enrollments/%s" % rid, token=other).status, 401)
        r = self.ctl("sas-token", "generate", "--duration", "0", rc=2)
        self.assertIn("--duration", r.stderr.splitlines()[0])
        self.assertEqual(r.stdout, "")

    def test_missing_login_is_usage_error(self):
        r = run_dpsctl(["enrollment", "list"], cafile=self.dpsd.ca_file)
        self.assertEqual(r.returncode, 2, r.stderr)


class EnrollmentOptionsTest(DpsctlBase):

    def test_all_options_and_partial_update(self):
        hub = "%s.example.net" % unique_id("opthub")
        self.assertEqual(self.client.put("/admin/linkedHubs/" + hub, {
            "connectionString": "HostName=%s;SharedAccessKeyName=iothubowner;SharedAccessKey=%s"
                                % (hub, random_key()),
            "registryUrl": "https://127.0.0.1:8444", "location": "lab"}).status, 200)
        info_file = os.path.join(self.tmp, "devinfo.json")
        with open(info_file, "w") as f:
            json.dump({"model": "pump", "rev": 3}, f)
        rid = unique_id("opts")
        self.ctl("enrollment", "create", "--enrollment-id", rid, "--attestation-type",
                 "symmetrickey", "--device-id", "dev-" + rid,
                 "--iot-hubs", hub, "--allocation-policy", "static",
                 "--initial-twin-tags", '{"plant": "north"}',
                 "--initial-twin-properties", '{"sampleSeconds": 15}',
                 "--edge-enabled", "true", "--reprovision-policy", "never",
                 "--device-information", "@" + info_file)
        e = self.client.get("/enrollments/" + rid).json()
        expect = {
            "deviceId": "dev-" + rid, "iotHubs": [hub], "allocationPolicy": "static",
            "initialTwin": {"tags": {"plant": "north"},
                            "properties": {"desired": {"sampleSeconds": 15}}},
            "capabilities": {"iotEdge": True},
            "reprovisionPolicy": {"updateHubAssignment": False, "migrateDeviceData": False},
            "optionalDeviceInformation": {"model": "pump", "rev": 3},
        }
        for k, v in expect.items():
            self.assertEqual(e.get(k), v, k)
        keys = self.client.post("/enrollments/%s/attestationmechanism" % rid).json()

        # change one thing: everything else stays
        self.ctl("enrollment", "update", "--enrollment-id", rid, "--provisioning-status",
                 "disabled")
        e2 = self.client.get("/enrollments/" + rid).json()
        self.assertEqual(e2["provisioningStatus"], "disabled")
        for k, v in expect.items():
            self.assertEqual(e2.get(k), v, "update lost %s" % k)
        self.assertEqual(self.client.post("/enrollments/%s/attestationmechanism" % rid).json(),
                         keys)

        # rotate the primary key only
        newkey = random_key(32)
        self.ctl("enrollment", "update", "--enrollment-id", rid, "--primary-key", newkey)
        am = self.client.post("/enrollments/%s/attestationmechanism" % rid).json()
        self.assertEqual(am["symmetricKey"]["primaryKey"], newkey)
        self.assertEqual(am["symmetricKey"]["secondaryKey"], keys["symmetricKey"]["secondaryKey"])

    def test_custom_allocation_options(self):
        rid = unique_id("hook")
        self.ctl("enrollment", "create", "--enrollment-id", rid, "--attestation-type",
                 "symmetrickey", "--allocation-policy", "custom",
                 "--webhook-url", "https://127.0.0.1:9/api/alloc?code=k")
        e = self.client.get("/enrollments/" + rid).json()
        self.assertEqual(e["allocationPolicy"], "custom")
        self.assertEqual(e["customAllocationDefinition"],
                         {"webhookUrl": "https://127.0.0.1:9/api/alloc?code=k",
                          "apiVersion": "2021-10-01"})

    def test_x509_update_keeps_certificate(self):
        rid = unique_id("x509upd")
        cert, _ = make_self_signed_cert(self.tmp, rid)
        facts = cert_facts(cert)
        self.ctl("enrollment", "create", "--enrollment-id", rid, "--attestation-type", "x509",
                 "--certificate-path", cert)
        self.ctl("enrollment", "update", "--enrollment-id", rid, "--provisioning-status",
                 "disabled")
        e = self.client.get("/enrollments/" + rid).json()
        self.assertEqual(e["provisioningStatus"], "disabled")
        info = e["attestation"]["x509"]["clientCertificates"]["primary"]["info"]
        self.assertEqual(info["sha1Thumbprint"].upper(), facts["sha1"])

    def test_list_follows_pages_and_top(self):
        prefix = unique_id("many")
        ids = ["%s-%03d" % (prefix, i) for i in range(120)]
        for i in range(0, len(ids), 10):
            r = self.client.post("/enrollments", {"mode": "create", "enrollments": [
                {"registrationId": x, "attestation": {"type": "symmetricKey"}}
                for x in ids[i:i + 10]]})
            self.assertTrue(r.json()["isSuccessful"], r)
        listed = [e["registrationId"] for e in self.ctl_json("enrollment", "list")]
        self.assertTrue(set(ids) <= set(listed), "list stops after the first page")
        self.assertEqual(len(listed), len(set(listed)))
        top = self.ctl_json("enrollment", "list", "--top", "5")
        self.assertEqual(len(top), 5)
        tsv = self.ctl("enrollment", "list", output="tsv").stdout
        self.assertIn(ids[0], tsv)
        self.assertIn("\t", tsv)

    def test_secondary_key_derivation(self):
        gid = unique_id("grpsec")
        self.ctl("enrollment-group", "create", "--group-id", gid)
        am = self.client.post("/enrollmentGroups/%s/attestationmechanism" % gid).json()
        r = self.ctl("enrollment-group", "compute-device-key", "--group-id", gid,
                     "--registration-id", "dev-x", "--key-type", "secondary")
        self.assertIn(derive_device_key(am["symmetricKey"]["secondaryKey"], "dev-x"), r.stdout)

    def test_instance_update(self):
        try:
            self.ctl("instance", "update", "--allocation-policy", "static")
            self.assertEqual(self.client.get("/admin/instance").json()["allocationPolicy"],
                             "Static")
            r = self.ctl("instance", "update", "--allocation-policy", "custom", rc=None)
            self.assertIn(r.returncode, (1, 2))
        finally:
            self.client.patch("/admin/instance", {"allocationPolicy": "Hashed"})

    def test_policy_keys_hidden_unless_asked(self):
        name = unique_id("polkeys")
        self.ctl("policy", "create", "--policy-name", name, "--rights", "EnrollmentRead")
        doc = self.client.get("/admin/policies/" + name).json()
        shown = self.ctl("policy", "show", "--policy-name", name).stdout
        self.assertNotIn(doc["primaryKey"], shown)
        shown = self.ctl("policy", "show", "--policy-name", name, "--show-keys").stdout
        self.assertIn(doc["primaryKey"], shown)


class OfflineTest(unittest.TestCase):
    """Known-answer checks that need no daemon."""

    def test_compute_device_key_vector(self):
        # device-api.md §9 test vector
        gkey = base64.b64encode(bytes(range(64))).decode()
        self.assertEqual(derive_device_key(gkey, "sensor-0001"),
                         "i0zgJJQIisMn48jO9KzXjzmFC/Zmqh1rCMPQc2ibKwY=")
        r = run_dpsctl(["enrollment-group", "compute-device-key", "--key", gkey,
                        "--registration-id", "sensor-0001"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("i0zgJJQIisMn48jO9KzXjzmFC/Zmqh1rCMPQc2ibKwY=", r.stdout)

    def test_harness_sas_vector(self):
        # service-api.md §10.2 test vector: guards the harness' own signing
        from dpsd_harness import sas_signature
        self.assertEqual(sas_signature("ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=",
                                       "dps.example.net", 1767225600),
                         "9XroltssIO6AcxPNSLu7EjwXCBMXQV31orVXZaqjEiY=")

    def test_bad_base64_group_key_is_usage_error(self):
        r = run_dpsctl(["enrollment-group", "compute-device-key", "--key", "***",
                        "--registration-id", "sensor-0001"])
        self.assertEqual(r.returncode, 2, r.stderr)


class GroupTest(DpsctlBase):

    def test_group_journey_and_compute_device_key(self):
        gid = unique_id("cligrp")
        created = self.ctl_json("enrollment-group", "create", "--group-id", gid,
                                "--attestation-type", "symmetrickey")
        self.assertEqual(created["enrollmentGroupId"], gid)
        am = self.client.post("/enrollmentGroups/%s/attestationmechanism" % gid).json()
        gkey = am["symmetricKey"]["primaryKey"]

        shown = self.ctl_json("enrollment-group", "show", "--group-id", gid)
        self.assertNotIn("symmetricKey", shown["attestation"])
        shown = self.ctl_json("enrollment-group", "show", "--group-id", gid, "--show-keys")
        self.assertEqual(shown["attestation"]["symmetricKey"]["primaryKey"], gkey)

        listed = self.ctl_json("enrollment-group", "list")
        self.assertIn(gid, [g["enrollmentGroupId"] for g in listed])
        self.assertIn(gid, self.ctl("enrollment-group", "list", output="table").stdout)

        for reg in ("device-001", "Sensor.A:1"):
            with self.subTest(reg):
                r = self.ctl("enrollment-group", "compute-device-key", "--group-id", gid,
                             "--registration-id", reg)
                self.assertEqual(self.device_key_from(r.stdout), derive_device_key(gkey, reg))
        # offline, from a given key: no server needed
        r = run_dpsctl(["enrollment-group", "compute-device-key", "--key", gkey,
                        "--registration-id", "device-002"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.device_key_from(r.stdout), derive_device_key(gkey, "device-002"))

        upd = self.ctl_json("enrollment-group", "update", "--group-id", gid,
                            "--provisioning-status", "disabled")
        self.assertEqual(upd["provisioningStatus"], "disabled")
        regs = self.ctl_json("registration", "list", "--group-id", gid)
        self.assertEqual(regs, [])
        self.ctl("enrollment-group", "delete", "--group-id", gid)
        self.assertOneLineError(self.ctl("enrollment-group", "show", "--group-id", gid, rc=1))

    def device_key_from(self, stdout):
        text = stdout.strip()
        try:
            doc = json.loads(text)
        except ValueError:
            return text
        if isinstance(doc, str):
            return doc
        v = find_key(doc, "deviceKey", "key", "primaryKey", "derivedKey")
        self.assertIsNotNone(v, doc)
        return v

    def test_registration_show_unknown(self):
        r = self.ctl("registration", "show", "--registration-id", unique_id("noreg"), rc=1)
        self.assertOneLineError(r)
        r = self.ctl("registration", "delete", "--registration-id", unique_id("noreg"), rc=1)
        self.assertOneLineError(r)


class AdminCommandsTest(DpsctlBase):

    def test_linked_hub_commands(self):
        hub = "%s.example.net" % unique_id("clihub")
        key = random_key(32)
        cs = "HostName=%s;SharedAccessKeyName=iothubowner;SharedAccessKey=%s" % (hub, key)
        r = self.ctl("linked-hub", "create", "--connection-string", cs, "--location", "lab",
                     "--allocation-weight", "3", "--registry-url", "https://127.0.0.1:8444")
        self.assertNotIn(key, r.stdout, "hub key printed")
        shown = self.ctl_json("linked-hub", "show", "--linked-hub", hub)
        self.assertEqual(shown["name"], hub)
        self.assertEqual(shown["allocationWeight"], 3)
        self.assertIn(hub, [h["name"] for h in self.ctl_json("linked-hub", "list")])
        self.ctl("linked-hub", "update", "--linked-hub", hub, "--allocation-weight", "9")
        self.assertEqual(self.client.get("/admin/linkedHubs/" + hub).json()["allocationWeight"], 9)

        rid = unique_id("clihubref")
        self.ctl("enrollment", "create", "--enrollment-id", rid, "--attestation-type",
                 "symmetrickey", "--iot-hubs", hub, "--allocation-policy", "static")
        e = self.client.get("/enrollments/" + rid).json()
        self.assertEqual(e["iotHubs"], [hub])
        self.assertEqual(e["allocationPolicy"], "static")

        self.assertOneLineError(self.ctl("linked-hub", "delete", "--linked-hub", hub, rc=1))
        self.ctl("linked-hub", "delete", "--linked-hub", hub, "--force")
        self.assertEqual(self.client.get("/admin/linkedHubs/" + hub).status, 404)

    def test_policy_and_connection_string_commands(self):
        name = unique_id("clipol")
        self.ctl("policy", "create", "--policy-name", name, "--rights", "EnrollmentRead")
        shown = self.ctl_json("policy", "show", "--policy-name", name)
        self.assertEqual(shown["rights"], "EnrollmentRead")
        self.assertIn(name, [p["keyName"] for p in self.ctl_json("policy", "list")])

        out = self.ctl("connection-string", "show", "--policy-name", name).stdout.strip()
        try:
            doc = json.loads(out)
            cs = doc if isinstance(doc, str) else find_key(doc, "connectionString")
        except ValueError:
            cs = out
        self.assertEqual(parse_connection_string(cs)["SharedAccessKeyName"], name)

        rid = unique_id("clipolenr")
        self.client.put("/enrollments/" + rid, {"registrationId": rid,
                                                "attestation": {"type": "symmetricKey"}})
        self.ctl("enrollment", "show", "--enrollment-id", rid, login=cs)
        denied = self.ctl("enrollment", "create", "--enrollment-id", unique_id("x"),
                          "--attestation-type", "symmetrickey", login=cs, rc=1)
        self.assertOneLineError(denied)
        self.ctl("policy", "delete", "--policy-name", name)
        self.ctl("enrollment", "show", "--enrollment-id", rid, login=cs, rc=1)

    def test_instance_show(self):
        inst = self.ctl_json("instance", "show")
        scope = find_key(inst, "idScope")
        if scope is not None:
            self.assertEqual(scope, self.dpsd.id_scope)
        self.assertIsNotNone(find_key(inst, "allocationPolicy"), inst)


class RestartTest(DpsctlBase):

    def test_data_survives_restart(self):
        rid = unique_id("clirs")
        gid = unique_id("clirsg")
        self.ctl("enrollment", "create", "--enrollment-id", rid, "--attestation-type",
                 "symmetrickey")
        self.ctl("enrollment-group", "create", "--group-id", gid, "--attestation-type",
                 "symmetrickey")
        before = self.ctl_json("enrollment", "show", "--enrollment-id", rid, "--show-keys")
        self.dpsd.restart()
        type(self).client = self.dpsd.client()
        after = self.ctl_json("enrollment", "show", "--enrollment-id", rid, "--show-keys")
        self.assertEqual(after["etag"], before["etag"])
        self.assertEqual(after["attestation"]["symmetricKey"], before["attestation"]["symmetricKey"])
        self.ctl("enrollment-group", "show", "--group-id", gid)
        self.assertIn(rid, [e["registrationId"] for e in self.ctl_json("enrollment", "list")])


if __name__ == "__main__":
    unittest.main()
