"""The DPS service API over real TLS (service-api.md §2-§10).

One dpsd for the whole file; every test uses its own IDs."""

import base64
import calendar
import os
import re
import shutil
import tempfile
import time
import unittest
import urllib.parse

from dpsd_harness import (DpsdTestCase, SAMPLE_EK, cert_facts, make_ek,
                          make_self_signed_cert, pem_body, random_key, unique_id)

TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")


def sym(rid, primary=None, secondary=None, **extra):
    att = {"type": "symmetricKey"}
    if primary is not None or secondary is not None:
        att["symmetricKey"] = {}
        if primary is not None:
            att["symmetricKey"]["primaryKey"] = primary
        if secondary is not None:
            att["symmetricKey"]["secondaryKey"] = secondary
    body = {"registrationId": rid, "attestation": att}
    body.update(extra)
    return body


def sym_group(gid, primary=None, secondary=None, **extra):
    body = sym(gid, primary, secondary, **extra)
    del body["registrationId"]
    body["enrollmentGroupId"] = gid
    return body


def q(s):
    return urllib.parse.quote(s, safe="")


def b64len(s):
    return len(base64.b64decode(s, validate=True))


class ServiceApiBase(DpsdTestCase):

    def put_enrollment(self, rid, body=None, if_match=None, expect=200):
        h = {"If-Match": if_match} if if_match is not None else None
        r = self.client.put("/enrollments/" + q(rid), body if body is not None else sym(rid),
                            headers=h)
        if expect is not None:
            self.assertStatus(r, expect, "PUT /enrollments/%s" % rid)
        return r

    def put_group(self, gid, body=None, if_match=None, expect=200):
        h = {"If-Match": if_match} if if_match is not None else None
        r = self.client.put("/enrollmentGroups/" + q(gid),
                            body if body is not None else sym_group(gid), headers=h)
        if expect is not None:
            self.assertStatus(r, expect, "PUT /enrollmentGroups/%s" % gid)
        return r

    def query_all(self, path, page_size, item_type, body=None):
        """Follows x-ms-continuation; returns (items, pages)."""
        items, pages, cont = [], 0, None
        for _ in range(1000):
            h = {"x-ms-max-item-count": str(page_size)}
            if cont:
                h["x-ms-continuation"] = cont
            r = self.client.post(path, body if body is not None else {"query": "SELECT *"},
                                 headers=h)
            self.assertStatus(r, 200, "query page %d" % pages)
            self.assertEqual(r.header("x-ms-item-type"), item_type, r)
            page = r.json()
            self.assertIsInstance(page, list, r)
            self.assertLessEqual(len(page), page_size, "page larger than x-ms-max-item-count")
            pages += 1
            items.extend(page)
            cont = r.header("x-ms-continuation")
            if cont is None:
                break
            self.assertNotEqual(cont.strip(), "", "x-ms-continuation sent empty")
        else:
            self.fail("query never ended")
        return items, pages


class IndividualEnrollmentTest(ServiceApiBase):

    def test_create_generates_keys_and_defaults(self):
        rid = unique_id("sym")
        r = self.put_enrollment(rid)
        self.assertTrue(r.header("content-type", "").startswith("application/json"), r)
        e = r.json()
        self.assertEqual(e["registrationId"], rid)
        self.assertEqual(e["attestation"]["type"], "symmetricKey")
        keys = e["attestation"]["symmetricKey"]
        self.assertIn(b64len(keys["primaryKey"]), (32, 64))
        self.assertIn(b64len(keys["secondaryKey"]), (32, 64))
        self.assertNotEqual(keys["primaryKey"], keys["secondaryKey"])
        self.assertEqual(e["provisioningStatus"], "enabled")
        self.assertIs(e["capabilities"]["iotEdge"], False)
        self.assertTrue(e.get("etag"))
        self.assertRegex(e["createdDateTimeUtc"], TS_RE)
        self.assertRegex(e["lastUpdatedDateTimeUtc"], TS_RE)
        self.assertNotIn("registrationState", e)

    def test_two_enrollments_get_different_keys(self):
        a = self.put_enrollment(unique_id("k")).json()["attestation"]["symmetricKey"]
        b = self.put_enrollment(unique_id("k")).json()["attestation"]["symmetricKey"]
        self.assertNotEqual(a["primaryKey"], b["primaryKey"])

    def test_supplied_keys_echoed_on_put_hidden_on_get_shown_by_attestationmechanism(self):
        rid = unique_id("sym")
        pk, sk = random_key(32), random_key(64)
        e = self.put_enrollment(rid, sym(rid, pk, sk)).json()
        self.assertEqual(e["attestation"]["symmetricKey"],
                         {"primaryKey": pk, "secondaryKey": sk})
        g = self.client.get("/enrollments/" + rid)
        self.assertStatus(g, 200)
        self.assertEqual(g.json()["attestation"], {"type": "symmetricKey"},
                         "GET must not include symmetric keys")
        self.assertNotIn(pk.encode(), g.body)
        m = self.client.post("/enrollments/%s/attestationmechanism" % rid)
        self.assertStatus(m, 200)
        am = m.json()
        self.assertEqual(am["type"], "symmetricKey")
        self.assertEqual(am["symmetricKey"]["primaryKey"], pk)
        self.assertEqual(am["symmetricKey"]["secondaryKey"], sk)

    def test_attestationmechanism_with_generated_keys_matches_put(self):
        rid = unique_id("sym")
        keys = self.put_enrollment(rid).json()["attestation"]["symmetricKey"]
        am = self.client.post("/enrollments/%s/attestationmechanism" % rid).json()
        self.assertEqual(am["symmetricKey"]["primaryKey"], keys["primaryKey"])
        self.assertEqual(am["symmetricKey"]["secondaryKey"], keys["secondaryKey"])

    def test_attestationmechanism_unknown_404(self):
        r = self.client.post("/enrollments/%s/attestationmechanism" % unique_id("none"))
        self.assertError(r, 404, 404201)

    def test_get_unknown_404(self):
        self.assertError(self.client.get("/enrollments/" + unique_id("none")), 404, 404201)

    def test_bare_put_on_existing_is_409(self):
        rid = unique_id("sym")
        self.put_enrollment(rid)
        r = self.put_enrollment(rid, expect=None)
        self.assertError(r, 409, 409201)

    def test_update_with_etag(self):
        rid = unique_id("sym")
        first = self.put_enrollment(rid).json()
        body = sym(rid, provisioningStatus="disabled")
        time.sleep(0.01)
        r = self.put_enrollment(rid, body, if_match=first["etag"])
        e = r.json()
        self.assertEqual(e["provisioningStatus"], "disabled")
        self.assertNotEqual(e["etag"], first["etag"], "etag must change on every write")
        self.assertEqual(e["createdDateTimeUtc"], first["createdDateTimeUtc"])
        self.assertGreaterEqual(e["lastUpdatedDateTimeUtc"], first["lastUpdatedDateTimeUtc"])
        # keys kept when the update carries none (§7)
        self.assertEqual(e["attestation"]["symmetricKey"],
                         first["attestation"]["symmetricKey"])
        self.assertEqual(self.client.get("/enrollments/" + rid).json()["etag"], e["etag"])

    def test_stale_etag_is_412(self):
        rid = unique_id("sym")
        first = self.put_enrollment(rid).json()
        self.put_enrollment(rid, sym(rid), if_match=first["etag"])
        r = self.put_enrollment(rid, sym(rid), if_match=first["etag"], expect=None)
        self.assertError(r, 412, 412001)

    def test_if_match_star_and_quoted_forms(self):
        rid = unique_id("sym")
        e = self.put_enrollment(rid).json()
        e = self.put_enrollment(rid, sym(rid), if_match="*").json()
        e = self.put_enrollment(rid, sym(rid), if_match='"%s"' % e["etag"]).json()
        e = self.put_enrollment(rid, sym(rid), if_match='W/"%s"' % e["etag"]).json()
        self.assertTrue(e["etag"])

    def test_if_match_star_on_missing_creates(self):
        rid = unique_id("sym")
        self.put_enrollment(rid, if_match="*")
        self.assertStatus(self.client.get("/enrollments/" + rid), 200)

    def test_concrete_etag_on_missing_is_412(self):
        rid = unique_id("sym")
        r = self.put_enrollment(rid, if_match="IjAwMDAi", expect=None)
        self.assertError(r, 412, 412001)
        self.assertError(self.client.get("/enrollments/" + rid), 404, 404201)

    def test_delete(self):
        rid = unique_id("sym")
        self.put_enrollment(rid)
        r = self.client.delete("/enrollments/" + rid)
        self.assertStatus(r, 204)
        self.assertEqual(r.body, b"")
        self.assertError(self.client.get("/enrollments/" + rid), 404, 404201)
        self.assertError(self.client.delete("/enrollments/" + rid), 404, 404201)

    def test_delete_if_match(self):
        rid = unique_id("sym")
        e1 = self.put_enrollment(rid).json()
        e2 = self.put_enrollment(rid, sym(rid), if_match="*").json()
        r = self.client.delete("/enrollments/" + rid, headers={"If-Match": e1["etag"]})
        self.assertError(r, 412, 412001)
        self.assertStatus(self.client.get("/enrollments/" + rid), 200)
        r = self.client.delete("/enrollments/" + rid, headers={"If-Match": e2["etag"]})
        self.assertStatus(r, 204)

    def test_delete_without_content_type(self):
        # The C client sends DELETE without Content-Type.
        rid = unique_id("sym")
        self.put_enrollment(rid)
        r = self.client.request("DELETE", "/enrollments/" + rid,
                                headers={"Accept": "application/json"})
        self.assertStatus(r, 204)

    def test_put_back_put_response_with_read_only_fields(self):
        # Node e2e: PUT the object from the PUT response, changed, with its etag.
        rid = unique_id("rt")
        e = self.put_enrollment(rid, sym(rid, initialTwin={
            "tags": {"plant": "north"},
            "properties": {"desired": {"sampleSeconds": 15}}})).json()
        e["provisioningStatus"] = "disabled"
        created = e["createdDateTimeUtc"]
        e["createdDateTimeUtc"] = "2001-01-01T00:00:00.0000000Z"
        e["lastUpdatedDateTimeUtc"] = "2001-01-01T00:00:00.0000000Z"
        e["registrationState"] = {"registrationId": rid, "status": "assigned",
                                  "assignedHub": "evil.example.net"}
        r = self.put_enrollment(rid, e, if_match=e["etag"])
        out = r.json()
        self.assertEqual(out["provisioningStatus"], "disabled")
        self.assertEqual(out["createdDateTimeUtc"], created)
        self.assertNotEqual(out["lastUpdatedDateTimeUtc"], "2001-01-01T00:00:00.0000000Z")
        self.assertNotIn("registrationState", self.client.get("/enrollments/" + rid).json())
        self.assertEqual(out["initialTwin"]["tags"], {"plant": "north"})

    def test_change_attestation_type(self):
        rid = unique_id("chg")
        first = self.put_enrollment(rid).json()
        ek = make_ek()
        tpm = {"registrationId": rid, "attestation": {"type": "tpm", "tpm": {"endorsementKey": ek}}}
        e = self.put_enrollment(rid, tpm, if_match=first["etag"]).json()
        self.assertEqual(e["attestation"]["type"], "tpm")
        self.assertNotIn("symmetricKey", e["attestation"])
        am = self.client.post("/enrollments/%s/attestationmechanism" % rid).json()
        self.assertEqual(am, {"type": "tpm", "tpm": am["tpm"]})
        self.assertEqual(am["tpm"]["endorsementKey"], ek)
        # back to symmetric key: fresh keys, not the old ones
        back = self.put_enrollment(rid, sym(rid), if_match="*").json()
        self.assertNotEqual(back["attestation"]["symmetricKey"]["primaryKey"],
                            first["attestation"]["symmetricKey"]["primaryKey"])

    def test_unicode_and_reserved_twin_members_verbatim(self):
        rid = unique_id("uni")
        info = {"name": "Pumpe \u00fcber \u6c34 \U0001F600", "quote": "a\"b\\c"}
        twin = {"tags": {"version": 3, "count": 1,
                         "metadata": {"lastUpdated": "2026-01-01T00:00:00Z",
                                      "lastUpdatedVersion": 2}},
                "properties": {"desired": {"nested": {"deep": [1, 2.5, None, True]}}}}
        self.put_enrollment(rid, sym(rid, optionalDeviceInformation=info, initialTwin=twin))
        e = self.client.get("/enrollments/" + rid).json()
        self.assertEqual(e["optionalDeviceInformation"], info)
        self.assertEqual(e["initialTwin"], twin)

    def test_client_headers_ignored(self):
        rid = unique_id("hdrs")
        headers = {"UserAgent": "iothub_dps_prov_client/1.0",
                   "User-Agent": "azure-iot-provisioning-service/1.11.2",
                   "Request-Id": "|abc.1", "x-ms-client-request-id": "00000000-1111",
                   "accept-language": "en-US", "Cache-Control": "no-cache, must-revalidate"}
        r = self.client.put("/enrollments/" + rid, sym(rid), headers=headers)
        self.assertStatus(r, 200)
        self.assertStatus(self.client.get("/enrollments/" + rid, headers=headers), 200)

    def test_no_api_version(self):
        rid = unique_id("nover")
        self.put_enrollment(rid)
        self.assertStatus(self.client.get("/enrollments/" + rid, api_version=False), 200)

    def test_optional_fields_round_trip(self):
        rid = unique_id("full")
        body = sym(rid, deviceId="dev-" + rid,
                   capabilities={"iotEdge": True},
                   optionalDeviceInformation={"model": "x1", "nested": {"a": [1, 2]}},
                   initialTwin={"tags": {"t": 1},
                                "properties": {"desired": {"d": "v"}}},
                   reprovisionPolicy={"updateHubAssignment": False,
                                      "migrateDeviceData": False})
        self.put_enrollment(rid, body)
        e = self.client.get("/enrollments/" + rid).json()
        self.assertEqual(e["deviceId"], "dev-" + rid)
        self.assertIs(e["capabilities"]["iotEdge"], True)
        self.assertEqual(e["optionalDeviceInformation"]["model"], "x1")
        self.assertEqual(e["optionalDeviceInformation"]["nested"], {"a": [1, 2]})
        self.assertEqual(e["initialTwin"]["tags"], {"t": 1})
        self.assertEqual(e["initialTwin"]["properties"]["desired"], {"d": "v"})
        self.assertEqual(e["reprovisionPolicy"],
                         {"updateHubAssignment": False, "migrateDeviceData": False})

    def test_body_id_case_may_differ_but_not_the_id(self):
        rid = unique_id("Case")
        self.put_enrollment(rid, sym(rid.upper()))
        other = unique_id("case")
        r = self.put_enrollment(rid + "x", sym(other), expect=None)
        self.assertError(r, 400)

    def test_missing_attestation_is_400(self):
        rid = unique_id("bad")
        self.assertError(self.put_enrollment(rid, {"registrationId": rid}, expect=None), 400)

    def test_invalid_symmetric_keys_are_400(self):
        for name, key in (("not base64", "!!!not-base64!!!"),
                          ("too short", random_key(8)),
                          ("too long", random_key(100)),
                          ("empty", "")):
            with self.subTest(name):
                rid = unique_id("badkey")
                r = self.put_enrollment(rid, sym(rid, key), expect=None)
                self.assertError(r, 400)
                self.assertError(self.client.get("/enrollments/" + rid), 404, 404201)

    def test_attestation_type_must_match_member(self):
        rid = unique_id("bad")
        body = {"registrationId": rid,
                "attestation": {"type": "tpm", "symmetricKey": {"primaryKey": random_key()}}}
        self.assertError(self.put_enrollment(rid, body, expect=None), 400)
        body = {"registrationId": rid, "attestation": {"type": "banana"}}
        self.assertError(self.put_enrollment(rid, body, expect=None), 400)

    def test_enums_case_insensitive_and_unknown_rejected(self):
        rid = unique_id("enum")
        e = self.put_enrollment(rid, sym(rid, provisioningStatus="Disabled")).json()
        self.assertEqual(e["provisioningStatus"], "disabled")
        rid2 = unique_id("enum")
        self.assertError(self.put_enrollment(rid2, sym(rid2, provisioningStatus="maybe"),
                                             expect=None), 400)
        rid3 = unique_id("enum")
        self.assertError(self.put_enrollment(rid3, sym(rid3, allocationPolicy="random"),
                                             expect=None), 400)
        rid4 = unique_id("enum")
        e = self.put_enrollment(rid4, sym(rid4, allocationPolicy="GeoLatency")).json()
        self.assertEqual(e["allocationPolicy"], "geoLatency")

    def test_allocation_validation(self):
        rid = unique_id("alloc")
        cases = {
            "static without hubs": sym(rid, allocationPolicy="static"),
            "hub not linked": sym(rid, iotHubs=["nowhere-%s.example.net" % rid]),
            "static with unlinked hub": sym(rid, allocationPolicy="static",
                                            iotHubs=["nowhere.example.net"]),
            "custom without definition": sym(rid, allocationPolicy="custom"),
            "custom definition incomplete": sym(
                rid, allocationPolicy="custom",
                customAllocationDefinition={"webhookUrl": "https://127.0.0.1:1/x"}),
        }
        for name, body in cases.items():
            with self.subTest(name):
                self.assertError(self.put_enrollment(rid, body, expect=None), 400)
        self.assertError(self.client.get("/enrollments/" + rid), 404, 404201)

    def test_custom_allocation_accepted(self):
        rid = unique_id("custom")
        body = sym(rid, allocationPolicy="custom", customAllocationDefinition={
            "webhookUrl": "https://127.0.0.1:9/api/alloc?code=abc",
            "apiVersion": "2021-10-01"})
        e = self.put_enrollment(rid, body).json()
        self.assertEqual(e["customAllocationDefinition"]["webhookUrl"],
                         "https://127.0.0.1:9/api/alloc?code=abc")

    def test_invalid_ids_are_400(self):
        for name, rid in (("bad character", "bad!id"),
                          ("leading dash", "-lead"),
                          ("trailing dot", "trail."),
                          ("too long", "a" * 129),
                          ("non-ascii", "caf\u00e9"),
                          ("space", "a b"),
                          ("plus", "a+b")):
            with self.subTest(name):
                r = self.client.put("/enrollments/" + q(rid), sym(rid))
                self.assertError(r, 400)

    def test_max_length_id_accepted(self):
        rid = ("m" + unique_id("x") + "z" * 128)[:128]
        self.put_enrollment(rid)
        self.assertStatus(self.client.get("/enrollments/" + rid), 200)

    def test_any_api_version_accepted(self):
        rid = unique_id("ver")
        self.put_enrollment(rid)
        for v in ("2018-04-01", "2019-03-31", "2025-07-01-preview", "1999-01-01", "banana"):
            with self.subTest(v):
                r = self.client.get("/enrollments/%s?api-version=%s" % (rid, v), api_version=False)
                self.assertStatus(r, 200)
                self.assertEqual(r.json()["registrationId"], rid)


class TpmEnrollmentTest(ServiceApiBase):

    def test_tpm_enrollment(self):
        rid = unique_id("tpm")
        ek = make_ek()
        body = {"registrationId": rid, "attestation": {"type": "tpm", "tpm": {"endorsementKey": ek}}}
        e = self.put_enrollment(rid, body).json()
        self.assertEqual(e["attestation"]["type"], "tpm")
        g = self.client.get("/enrollments/" + rid).json()
        self.assertEqual(g["attestation"]["type"], "tpm")
        if "tpm" in g["attestation"]:
            self.assertEqual(g["attestation"]["tpm"]["endorsementKey"], ek)
        am = self.client.post("/enrollments/%s/attestationmechanism" % rid).json()
        self.assertEqual(am["type"], "tpm")
        self.assertEqual(am["tpm"]["endorsementKey"], ek)

    def test_published_sample_ek_accepted(self):
        rid = unique_id("tpm")
        body = {"registrationId": rid,
                "attestation": {"type": "tpm", "tpm": {"endorsementKey": SAMPLE_EK}}}
        self.put_enrollment(rid, body)

    def test_bad_endorsement_keys_are_400004(self):
        raw = base64.b64decode(make_ek())
        cases = {
            "random bytes": base64.b64encode(os.urandom(316)).decode(),
            "truncated": base64.b64encode(raw[:100]).decode(),
            "size prefix dropped": base64.b64encode(raw[2:]).decode(),
            "not base64": "%%%% not base64 %%%%",
            "empty": "",
        }
        for name, ek in cases.items():
            with self.subTest(name):
                rid = unique_id("badek")
                body = {"registrationId": rid,
                        "attestation": {"type": "tpm", "tpm": {"endorsementKey": ek}}}
                r = self.put_enrollment(rid, body, expect=None)
                self.assertError(r, 400, 400004)

    def test_tpm_without_endorsement_key_is_400(self):
        rid = unique_id("badek")
        body = {"registrationId": rid, "attestation": {"type": "tpm", "tpm": {}}}
        self.assertError(self.put_enrollment(rid, body, expect=None), 400)

    def test_tpm_group_refused(self):
        gid = unique_id("tpmgroup")
        body = {"enrollmentGroupId": gid,
                "attestation": {"type": "tpm", "tpm": {"endorsementKey": make_ek()}}}
        self.assertError(self.put_group(gid, body, expect=None), 400)


class X509Test(ServiceApiBase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp(prefix="dps-x509-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.cert, _ = make_self_signed_cert(cls.tmp, "x509-device-one")
        cls.facts = cert_facts(cls.cert)
        cls.cert2, _ = make_self_signed_cert(cls.tmp, "x509-signer-two")
        with open(cls.cert) as f:
            cls.pem = f.read()

    def check_info(self, info, facts):
        self.assertEqual(info["sha1Thumbprint"].replace(":", "").upper(), facts["sha1"])
        self.assertEqual(info["sha256Thumbprint"].replace(":", "").upper(), facts["sha256"])
        # RFC 2253 order; the separator may be "," or ", "
        norm = lambda dn: re.sub(r"(?<!\\),\s*", ",", dn)
        self.assertEqual(norm(info["subjectName"]), norm(facts["subject"]))
        self.assertEqual(norm(info["issuerName"]), norm(facts["subject"]))  # self-signed
        self.assertEqual(info["serialNumber"].replace(":", "").upper().lstrip("0"),
                         facts["serial"].lstrip("0"))
        self.assertEqual(info["version"], 3)
        for key, want in (("notAfterUtc", facts["notAfter"]), ("notBeforeUtc", facts["notBefore"])):
            got = time.strptime(info[key][:19], "%Y-%m-%dT%H:%M:%S")
            self.assertEqual(calendar.timegm(got), calendar.timegm(want), key)

    def x509_body(self, rid, cert_text):
        return {"registrationId": rid, "attestation": {
            "type": "x509", "x509": {"clientCertificates": {"primary": {"certificate": cert_text}}}}}

    def test_individual_pem_info_matches_openssl(self):
        rid = unique_id("x509")
        e = self.put_enrollment(rid, self.x509_body(rid, self.pem)).json()
        self.assertEqual(e["attestation"]["type"], "x509")
        self.check_info(e["attestation"]["x509"]["clientCertificates"]["primary"]["info"],
                        self.facts)
        g = self.client.get("/enrollments/" + rid).json()
        self.check_info(g["attestation"]["x509"]["clientCertificates"]["primary"]["info"],
                        self.facts)

    def test_individual_base64_der_accepted(self):
        rid = unique_id("x509der")
        e = self.put_enrollment(rid, self.x509_body(rid, pem_body(self.cert))).json()
        self.check_info(e["attestation"]["x509"]["clientCertificates"]["primary"]["info"],
                        self.facts)

    def test_put_back_get_result_keeps_certificate(self):
        # The CLI/Node round trip: PUT what GET returned (info, maybe no certificate).
        rid = unique_id("x509rt")
        self.put_enrollment(rid, self.x509_body(rid, self.pem))
        g = self.client.get("/enrollments/" + rid).json()
        g["provisioningStatus"] = "disabled"
        slot = g["attestation"]["x509"]["clientCertificates"]["primary"]
        slot["info"]["sha1Thumbprint"] = "0" * 40   # info on input is ignored
        out = self.put_enrollment(rid, g, if_match=g["etag"]).json()
        self.assertEqual(out["provisioningStatus"], "disabled")
        self.check_info(out["attestation"]["x509"]["clientCertificates"]["primary"]["info"],
                        self.facts)

    def test_rsa_certificate_with_long_subject(self):
        rid = unique_id("x509rsa")
        cert, _ = make_self_signed_cert(self.tmp, rid, rsa=True,
                                        subj="/C=DE/O=Example, Inc./OU=QA/CN=%s" % rid)
        facts = cert_facts(cert)
        with open(cert) as f:
            e = self.put_enrollment(rid, self.x509_body(rid, f.read())).json()
        info = e["attestation"]["x509"]["clientCertificates"]["primary"]["info"]
        self.check_info(info, facts)
        self.assertIn("O=", info["subjectName"])

    def test_primary_and_secondary_certificates(self):
        rid = unique_id("x509two")
        body = self.x509_body(rid, self.pem)
        with open(self.cert2) as f:
            body["attestation"]["x509"]["clientCertificates"]["secondary"] = {"certificate": f.read()}
        e = self.put_enrollment(rid, body).json()
        certs = e["attestation"]["x509"]["clientCertificates"]
        self.check_info(certs["primary"]["info"], self.facts)
        self.check_info(certs["secondary"]["info"], cert_facts(self.cert2))

    def test_group_unknown_ca_reference_is_400(self):
        gid = unique_id("x509ca")
        body = {"enrollmentGroupId": gid, "attestation": {"type": "x509", "x509": {
            "caReferences": {"primary": "no-such-ca"}}}}
        self.assertError(self.put_group(gid, body, expect=None), 400)

    def test_garbage_certificate_is_400(self):
        for name, text in (("garbage", "hello"),
                           ("bad pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
                           ("random der", base64.b64encode(os.urandom(300)).decode())):
            with self.subTest(name):
                rid = unique_id("x509bad")
                self.assertError(self.put_enrollment(rid, self.x509_body(rid, text), expect=None), 400)

    def test_individual_without_client_certificate_is_400(self):
        rid = unique_id("x509none")
        body = {"registrationId": rid, "attestation": {"type": "x509", "x509": {}}}
        self.assertError(self.put_enrollment(rid, body, expect=None), 400)

    def test_group_signing_certificate(self):
        gid = unique_id("x509grp")
        facts = cert_facts(self.cert2)
        with open(self.cert2) as f:
            pem = f.read()
        body = {"enrollmentGroupId": gid, "attestation": {
            "type": "x509", "x509": {"signingCertificates": {"primary": {"certificate": pem}}}}}
        e = self.put_group(gid, body).json()
        self.check_info(e["attestation"]["x509"]["signingCertificates"]["primary"]["info"], facts)
        g = self.client.get("/enrollmentGroups/" + gid).json()
        self.check_info(g["attestation"]["x509"]["signingCertificates"]["primary"]["info"], facts)

    def test_group_signing_and_ca_references_exclusive(self):
        gid = unique_id("x509grp")
        body = {"enrollmentGroupId": gid, "attestation": {"type": "x509", "x509": {
            "signingCertificates": {"primary": {"certificate": self.pem}},
            "caReferences": {"primary": "someca"}}}}
        self.assertError(self.put_group(gid, body, expect=None), 400)

    def test_group_without_certificates_is_400(self):
        gid = unique_id("x509grp")
        body = {"enrollmentGroupId": gid, "attestation": {"type": "x509", "x509": {}}}
        self.assertError(self.put_group(gid, body, expect=None), 400)


class EnrollmentGroupTest(ServiceApiBase):

    def test_group_lifecycle(self):
        gid = unique_id("grp")
        r = self.put_group(gid)
        e = r.json()
        self.assertEqual(e["enrollmentGroupId"], gid)
        keys = e["attestation"]["symmetricKey"]
        self.assertIn(b64len(keys["primaryKey"]), (32, 64))
        self.assertEqual(e["provisioningStatus"], "enabled")
        self.assertNotIn("deviceId", e)
        self.assertNotIn("registrationState", e)
        self.assertRegex(e["createdDateTimeUtc"], TS_RE)

        g = self.client.get("/enrollmentGroups/" + gid)
        self.assertStatus(g, 200)
        self.assertEqual(g.json()["attestation"], {"type": "symmetricKey"})

        am = self.client.post("/enrollmentGroups/%s/attestationmechanism" % gid)
        self.assertStatus(am, 200)
        self.assertEqual(am.json()["symmetricKey"], keys)

        self.assertError(self.put_group(gid, expect=None), 409, 409201)
        u = self.put_group(gid, sym_group(gid, provisioningStatus="disabled"), if_match=e["etag"])
        self.assertEqual(u.json()["provisioningStatus"], "disabled")
        self.assertEqual(u.json()["attestation"]["symmetricKey"], keys, "keys kept on update")
        self.assertError(self.put_group(gid, sym_group(gid), if_match=e["etag"], expect=None),
                         412, 412001)
        self.assertError(self.client.delete("/enrollmentGroups/" + gid,
                                            headers={"If-Match": e["etag"]}), 412, 412001)
        d = self.client.delete("/enrollmentGroups/" + gid)
        self.assertStatus(d, 204)
        self.assertError(self.client.get("/enrollmentGroups/" + gid), 404, 404201)
        self.assertError(self.client.delete("/enrollmentGroups/" + gid), 404, 404201)

    def test_group_supplied_keys(self):
        gid = unique_id("grp")
        pk, sk = random_key(64), random_key(64)
        e = self.put_group(gid, sym_group(gid, pk, sk)).json()
        self.assertEqual(e["attestation"]["symmetricKey"], {"primaryKey": pk, "secondaryKey": sk})

    def test_group_id_mismatch_is_400(self):
        gid = unique_id("grp")
        self.assertError(self.put_group(gid, sym_group(unique_id("other")), expect=None), 400)

    def test_group_and_enrollment_namespaces_are_separate(self):
        same = unique_id("same")
        self.put_group(same)
        self.put_enrollment(same)
        self.assertStatus(self.client.get("/enrollments/" + same), 200)
        self.assertStatus(self.client.get("/enrollmentGroups/" + same), 200)

    def test_group_initial_twin_round_trip(self):
        gid = unique_id("grp")
        twin = {"tags": {"floor": 3}, "properties": {"desired": {"sampleSeconds": 30}}}
        self.put_group(gid, sym_group(gid, initialTwin=twin))
        self.assertEqual(self.client.get("/enrollmentGroups/" + gid).json()["initialTwin"], twin)


class QueryTest(ServiceApiBase):

    def test_enrollment_query_paging(self):
        mine = {unique_id("page%02d" % i) for i in range(7)}
        for rid in mine:
            self.put_enrollment(rid)
        items, pages = self.query_all("/enrollments/query", 3, "Enrollment")
        ids = [e["registrationId"] for e in items]
        self.assertEqual(len(ids), len(set(ids)), "duplicates across pages")
        self.assertTrue(mine <= set(ids), "missing: %s" % (mine - set(ids)))
        self.assertGreaterEqual(pages, 3)
        for e in items:
            self.assertNotIn("symmetricKey", e["attestation"], "query must hide keys")
            self.assertIn("etag", e)

    def test_query_response_headers(self):
        for _ in range(3):
            self.put_enrollment(unique_id("hdr"))
        r = self.client.post("/enrollments/query", {"query": "SELECT * FROM enrollments"},
                             headers={"x-ms-max-item-count": "2"})
        self.assertStatus(r, 200)
        self.assertEqual(r.header("x-ms-item-type"), "Enrollment")
        self.assertEqual(r.header("x-ms-max-item-count"), "2")
        self.assertEqual(len(r.json()), 2)
        self.assertTrue(r.header("x-ms-continuation"))

    def test_query_default_page_size_single_page(self):
        r = self.client.post("/enrollments/query", {"query": "SELECT *"})
        self.assertStatus(r, 200)
        self.assertIsInstance(r.json(), list)
        self.assertEqual(r.header("x-ms-item-type"), "Enrollment")

    def test_group_query_paging(self):
        mine = {unique_id("gpage%d" % i) for i in range(5)}
        for gid in mine:
            self.put_group(gid)
        items, pages = self.query_all("/enrollmentGroups/query", 2, "EnrollmentGroup")
        ids = [g["enrollmentGroupId"] for g in items]
        self.assertEqual(len(ids), len(set(ids)))
        self.assertTrue(mine <= set(ids))
        self.assertGreaterEqual(pages, 3)
        for g in items:
            self.assertNotIn("symmetricKey", g["attestation"])

    def test_deleted_items_leave_query(self):
        rid = unique_id("gone")
        self.put_enrollment(rid)
        self.assertStatus(self.client.delete("/enrollments/" + rid), 204)
        items, _ = self.query_all("/enrollments/query", 1000, "Enrollment")
        self.assertNotIn(rid, [e["registrationId"] for e in items])

    def test_registration_query_unknown_group_is_empty(self):
        gid = unique_id("nogroup")
        # bodiless, as the C client and the CLI send it
        r = self.client.post("/registrations/%s/query" % gid)
        self.assertStatus(r, 200)
        self.assertEqual(r.json(), [])
        self.assertEqual(r.header("x-ms-item-type"), "DeviceRegistration")
        self.assertIsNone(r.header("x-ms-continuation"))
        # with a QuerySpecification, as Node and C# send it
        r = self.client.post("/registrations/%s/query" % gid, {"query": "SELECT *"})
        self.assertStatus(r, 200)
        self.assertEqual(r.json(), [])

    def test_registration_query_existing_group_without_registrations(self):
        gid = unique_id("emptygrp")
        self.put_group(gid)
        items, pages = self.query_all("/registrations/%s/query" % gid, 10, "DeviceRegistration")
        self.assertEqual(items, [])
        self.assertEqual(pages, 1)

    def test_registration_get_delete_unknown(self):
        rid = unique_id("noreg")
        self.assertError(self.client.get("/registrations/" + rid), 404, 404201)
        self.assertError(self.client.delete("/registrations/" + rid), 404, 404201)

    def test_registration_of_enrollment_without_device_is_404(self):
        rid = unique_id("enrolled")
        self.put_enrollment(rid)
        self.assertError(self.client.get("/registrations/" + rid), 404, 404201)


class QueryEdgeTest(ServiceApiBase):
    """Its own daemon, so the number of records is known exactly."""

    def test_exact_multiple_of_page_size(self):
        ids = sorted(unique_id("exact%d" % i) for i in range(4))
        for rid in ids:
            self.put_enrollment(rid)
        items, pages = self.query_all("/enrollments/query", 2, "Enrollment")
        self.assertEqual(sorted(e["registrationId"] for e in items), ids)
        self.assertEqual(pages, 2, "no continuation after the last full page")
        items, pages = self.query_all("/enrollments/query", 4, "Enrollment")
        self.assertEqual(pages, 1)
        items, pages = self.query_all("/enrollments/query", 1, "Enrollment")
        self.assertEqual((len(items), pages), (4, 4))
        # paging is stable while a record is deleted between pages
        r = self.client.post("/enrollments/query", {"query": "SELECT *"},
                             headers={"x-ms-max-item-count": "2"})
        first = [e["registrationId"] for e in r.json()]
        self.assertStatus(self.client.delete("/enrollments/" + first[-1]), 204)
        r2 = self.client.post("/enrollments/query", {"query": "SELECT *"},
                              headers={"x-ms-max-item-count": "2",
                                       "x-ms-continuation": r.header("x-ms-continuation")})
        self.assertStatus(r2, 200)
        rest = [e["registrationId"] for e in r2.json()]
        self.assertEqual(sorted(first + rest), ids)

    def test_empty_collection(self):
        r = self.client.post("/enrollmentGroups/query", {"query": "SELECT *"},
                             headers={"x-ms-max-item-count": "5"})
        self.assertStatus(r, 200)
        self.assertEqual(r.json(), [])
        self.assertEqual(r.header("x-ms-item-type"), "EnrollmentGroup")
        self.assertIsNone(r.header("x-ms-continuation"))

    def test_bad_paging_headers(self):
        for value in ("abc", "-1", "0", "1.5", "", "99999999999999999999999"):
            with self.subTest(count=value):
                r = self.client.post("/enrollments/query", {"query": "SELECT *"},
                                     headers={"x-ms-max-item-count": value})
                if value in ("",):
                    self.assertIn(r.status, (200, 400), r)
                else:
                    self.assertError(r, 400)
        for token in ("!!!", "%%%", "A" * 4000, "====", "\u00ff"):
            with self.subTest(continuation=token[:10]):
                r = self.client.post("/enrollments/query", {"query": "SELECT *"},
                                     headers={"x-ms-continuation": token})
                self.assertIn(r.status, (200, 400), r)
                if r.status == 400:
                    self.assertError(r, 400)
        r = self.client.post("/enrollments/query", {"query": "SELECT *"},
                             headers={"x-ms-max-item-count": "100000"})
        self.assertStatus(r, 200)
        self.assertLessEqual(int(r.header("x-ms-max-item-count")), 1000)

    def test_query_body_variants(self):
        for raw in (b'{"query": "SELECT * FROM enrollments WHERE x = 1"}', b"{}",
                    b'{"query": null}'):
            with self.subTest(raw):
                self.assertStatus(self.client.post("/enrollments/query", raw_body=raw), 200)
        self.assertError(self.client.post("/enrollments/query", raw_body=b'{"query": 5}'), 400)
        self.assertError(self.client.post("/enrollments/query", raw_body=b"[1,"), 400)


class BulkTest(ServiceApiBase):

    def bulk(self, mode, items, path="/enrollments", key="enrollments"):
        r = self.client.post(path, {"mode": mode, key: items})
        self.assertStatus(r, 200, "bulk %s" % mode)
        return r.json()

    def test_bulk_create_update_delete(self):
        ids = [unique_id("bulk") for _ in range(3)]
        res = self.bulk("create", [sym(i) for i in ids])
        self.assertIs(res["isSuccessful"], True, res)
        self.assertEqual(res.get("errors") or [], [])
        for i in ids:
            self.assertStatus(self.client.get("/enrollments/" + i), 200)
        res = self.bulk("update", [sym(i, provisioningStatus="disabled") for i in ids])
        self.assertIs(res["isSuccessful"], True, res)
        for i in ids:
            self.assertEqual(self.client.get("/enrollments/" + i).json()["provisioningStatus"],
                             "disabled")
        res = self.bulk("delete", [sym(i) for i in ids])
        self.assertIs(res["isSuccessful"], True, res)
        for i in ids:
            self.assertError(self.client.get("/enrollments/" + i), 404, 404201)

    def test_bulk_same_id_twice(self):
        rid = unique_id("bulkdup")
        res = self.bulk("create", [sym(rid), sym(rid.upper())])
        self.assertIs(res["isSuccessful"], False, res)
        self.assertEqual(len(res["errors"]), 1, res)
        self.assertEqual(res["errors"][0]["errorCode"], 409201)

    def test_bulk_item_errors_keep_their_codes(self):
        good, badek, badid = unique_id("bulkok"), unique_id("bulkek"), "bad!id"
        res = self.bulk("create", [
            sym(good),
            {"registrationId": badek, "attestation": {"type": "tpm",
                                                       "tpm": {"endorsementKey": "AAAA"}}},
            sym(badid)])
        self.assertIs(res["isSuccessful"], False, res)
        codes = {e["registrationId"]: e["errorCode"] for e in res["errors"]}
        self.assertEqual(codes.get(badek), 400004, res)
        self.assertEqual(codes.get(badid, 0) // 1000, 400, res)
        self.assertNotIn(good, codes)

    def test_bulk_update_creates(self):
        rid = unique_id("bulkupd")
        res = self.bulk("update", [sym(rid)])
        self.assertIs(res["isSuccessful"], True, res)
        self.assertStatus(self.client.get("/enrollments/" + rid), 200)

    def test_bulk_create_partial_failure(self):
        existing, fresh = unique_id("bulkx"), unique_id("bulkn")
        self.put_enrollment(existing)
        res = self.bulk("create", [sym(existing), sym(fresh)])
        self.assertIs(res["isSuccessful"], False, res)
        errs = res["errors"]
        self.assertEqual(len(errs), 1, res)
        self.assertEqual(errs[0]["registrationId"], existing)
        self.assertEqual(errs[0]["errorCode"] // 1000, 409, errs)
        self.assertIsInstance(errs[0].get("errorStatus"), str)
        self.assertStatus(self.client.get("/enrollments/" + fresh), 200)

    def test_bulk_per_item_validation_error(self):
        good, bad = unique_id("bulkg"), unique_id("bulkb")
        res = self.bulk("create", [sym(good), sym(bad, "###")])
        self.assertIs(res["isSuccessful"], False)
        self.assertEqual([e["registrationId"] for e in res["errors"]], [bad])
        self.assertEqual(res["errors"][0]["errorCode"] // 1000, 400)
        self.assertStatus(self.client.get("/enrollments/" + good), 200)

    def test_bulk_update_if_match_etag_mode_case_insensitive(self):
        rid, missing = unique_id("bulke"), unique_id("bulkm")
        e = self.put_enrollment(rid).json()
        stale = dict(sym(rid), etag="IjAwMDAi")
        res = self.bulk("updateIfMatchEtag", [stale])   # Node's spelling
        self.assertIs(res["isSuccessful"], False, res)
        self.assertEqual(res["errors"][0]["errorCode"] // 1000, 412, res)
        good = dict(sym(rid, provisioningStatus="disabled"), etag=e["etag"])
        res = self.bulk("UPDATEIFMATCHETAG", [good])
        self.assertIs(res["isSuccessful"], True, res)
        res = self.bulk("updateIfMatchETag", [dict(sym(missing), etag="IjAwMDAi")])
        self.assertIs(res["isSuccessful"], False, res)
        self.assertEqual(res["errors"][0]["errorCode"] // 1000, 404, res)
        self.assertEqual(res["errors"][0]["registrationId"], missing)

    def test_bulk_delete_honours_etag(self):
        rid = unique_id("bulkd")
        self.put_enrollment(rid)
        res = self.bulk("delete", [dict(sym(rid), etag="IjAwMDAi")])
        self.assertIs(res["isSuccessful"], False, res)
        self.assertStatus(self.client.get("/enrollments/" + rid), 200)

    def test_bulk_limits(self):
        items = [sym(unique_id("bulk11")) for _ in range(11)]
        r = self.client.post("/enrollments", {"mode": "create", "enrollments": items})
        self.assertError(r, 400)
        for it in items:
            self.assertError(self.client.get("/enrollments/" + it["registrationId"]), 404)
        ten = [sym(unique_id("bulk10")) for _ in range(10)]
        self.assertIs(self.bulk("create", ten)["isSuccessful"], True)

    def test_bulk_bad_mode_and_shape(self):
        self.assertError(self.client.post("/enrollments", {"mode": "explode",
                                                           "enrollments": [sym(unique_id("m"))]}), 400)
        self.assertError(self.client.post("/enrollments", {"mode": "create"}), 400)
        self.assertError(self.client.post("/enrollments", {"mode": "create",
                                                           "enrollments": "nope"}), 400)

    def test_bulk_trailing_slash(self):
        rid = unique_id("bulkslash")
        r = self.client.post("/enrollments/", {"mode": "create", "enrollments": [sym(rid)]})
        self.assertStatus(r, 200)
        self.assertIs(r.json()["isSuccessful"], True)

    def test_group_bulk(self):
        existing, fresh = unique_id("gbulkx"), unique_id("gbulkn")
        self.put_group(existing)
        res = self.bulk("create", [sym_group(existing), sym_group(fresh)],
                        path="/enrollmentGroups", key="enrollmentGroups")
        self.assertIs(res["isSuccessful"], False, res)
        self.assertEqual(res["errors"][0]["enrollmentGroupId"], existing, res)
        self.assertEqual(res["errors"][0]["errorCode"] // 1000, 409)
        self.assertStatus(self.client.get("/enrollmentGroups/" + fresh), 200)
        res = self.bulk("delete", [sym_group(existing), sym_group(fresh)],
                        path="/enrollmentGroups/", key="enrollmentGroups")
        self.assertIs(res["isSuccessful"], True, res)
        self.assertError(self.client.get("/enrollmentGroups/" + fresh), 404)


class RoutingTest(ServiceApiBase):

    def test_fixed_segments_case_insensitive(self):
        gid = unique_id("route")
        self.put_group(gid)
        r = self.client.post("/enrollmentgroups/%s/attestationmechanism" % gid)
        self.assertStatus(r, 200)
        r = self.client.post("/EnrollmentGroups/%s/AttestationMechanism" % gid)
        self.assertStatus(r, 200)
        rid = unique_id("route")
        self.put_enrollment(rid)
        self.assertStatus(self.client.get("/ENROLLMENTS/" + rid), 200)
        r = self.client.post("/Enrollments/Query", {"query": "SELECT *"})
        self.assertStatus(r, 200)
        self.assertStatus(self.client.post("/REGISTRATIONS/%s/QUERY" % gid), 200)

    def test_trailing_slash_on_resource(self):
        rid = unique_id("slash")
        self.put_enrollment(rid)
        self.assertStatus(self.client.get("/enrollments/%s/" % rid), 200)

    def test_ids_with_colon_raw_and_encoded(self):
        rid = "dev:%s:x" % unique_id("colon")
        r = self.client.put("/enrollments/" + rid.replace(":", "%3A"), sym(rid))
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["registrationId"], rid)
        self.assertStatus(self.client.get("/enrollments/" + rid), 200)
        self.assertStatus(self.client.get("/enrollments/" + rid.replace(":", "%3a")), 200)
        self.assertStatus(self.client.post("/enrollments/%s/attestationmechanism" % rid), 200)
        self.assertStatus(self.client.delete("/enrollments/" + rid.replace(":", "%3A")), 204)

    def test_group_id_with_colon_in_registration_query(self):
        gid = "grp:%s" % unique_id("c")
        self.put_group(gid)
        self.assertStatus(self.client.post("/registrations/%s/query" % gid), 200)
        self.assertStatus(self.client.post("/registrations/%s/query" % q(gid)), 200)

    def test_percent_encoded_ordinary_characters(self):
        rid = unique_id("enc")
        self.put_enrollment(rid)
        enc = "".join("%%%02X" % ord(c) for c in rid)
        g = self.client.get("/enrollments/" + enc)
        self.assertStatus(g, 200)
        self.assertEqual(g.json()["registrationId"], rid)

    def test_ids_case_insensitive_display_kept(self):
        rid = unique_id("MiXeD")
        self.put_enrollment(rid)
        g = self.client.get("/enrollments/" + rid.lower())
        self.assertStatus(g, 200)
        self.assertEqual(g.json()["registrationId"], rid, "caller's spelling kept for display")
        self.assertError(self.put_enrollment(rid.upper(), sym(rid.upper()), expect=None),
                         409, 409201)
        self.assertStatus(self.client.delete("/enrollments/" + rid.upper()), 204)
        gid = unique_id("GrOuP")
        self.put_group(gid)
        self.assertEqual(self.client.get("/enrollmentGroups/" + gid.upper()).json()
                         ["enrollmentGroupId"], gid)


if __name__ == "__main__":
    unittest.main()
