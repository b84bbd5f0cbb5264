"""The admin API under /admin (ServiceConfig right): instance, linked hubs,
access policies, connection strings (service-api.md §10.3, §11)."""

import base64
import unittest
import urllib.parse

from dpsd_harness import (DpsdTestCase, make_sas, parse_connection_string,
                          random_key, unique_id)


def hub_cs(name, key=None):
    return "HostName=%s;SharedAccessKeyName=iothubowner;SharedAccessKey=%s" % (
        name, key or random_key(32))


def hub_body(name, key=None, **extra):
    b = {"connectionString": hub_cs(name, key), "registryUrl": "https://127.0.0.1:8444",
         "allocationWeight": 1, "applyAllocationPolicy": True, "location": "lab"}
    b.update(extra)
    return b


def as_list(payload, key="value"):
    if isinstance(payload, dict) and isinstance(payload.get(key), list):
        return payload[key]
    assert isinstance(payload, list), payload
    return payload


def sym(rid, **extra):
    b = {"registrationId": rid, "attestation": {"type": "symmetricKey"}}
    b.update(extra)
    return b


class AdminBase(DpsdTestCase):

    def put_hub(self, name, body=None, expect=200, if_match=None):
        h = {"If-Match": if_match} if if_match else None
        r = self.client.put("/admin/linkedHubs/" + name, body or hub_body(name), headers=h)
        if expect is not None:
            self.assertStatus(r, expect, "PUT linked hub %s" % name)
        return r

    def hub_name(self):
        return "%s.example.net" % unique_id("hub")

    def put_policy(self, name, rights, expect=200, if_match=None):
        h = {"If-Match": if_match} if if_match else None
        r = self.client.put("/admin/policies/" + name, {"rights": rights}, headers=h)
        if expect is not None:
            self.assertStatus(r, expect, "PUT policy %s" % name)
        return r

    def connection_string_for(self, policy):
        r = self.client.get("/admin/connectionString?policy=" + urllib.parse.quote(policy))
        self.assertStatus(r, 200)
        body = r.json()
        cs = body["connectionString"] if isinstance(body, dict) else body
        return cs


class InstanceTest(AdminBase):

    def test_instance_show(self):
        r = self.client.get("/admin/instance")
        self.assertStatus(r, 200)
        inst = r.json()
        self.assertIn("allocationPolicy", inst)
        self.assertEqual(inst["allocationPolicy"].lower(), "hashed", "default policy")
        if "idScope" in inst:
            self.assertEqual(inst["idScope"], self.dpsd.id_scope)

    def test_instance_patch_allocation_policy(self):
        try:
            for pol in ("Static", "geolatency", "HASHED"):
                with self.subTest(pol):
                    r = self.client.patch("/admin/instance", {"allocationPolicy": pol})
                    self.assertStatus(r, 200)
                    got = self.client.get("/admin/instance").json()["allocationPolicy"]
                    self.assertEqual(got.lower(), pol.lower())
                    self.assertIn(got, ("Hashed", "GeoLatency", "Static"),
                                  "instance spelling is capitalised (§11.1)")
        finally:
            self.client.patch("/admin/instance", {"allocationPolicy": "Hashed"})

    def test_instance_patch_refuses_bad_values(self):
        for name, body in (("custom cannot be default", {"allocationPolicy": "Custom"}),
                           ("unknown", {"allocationPolicy": "roundrobin"}),
                           ("wrong type", {"allocationPolicy": 3})):
            with self.subTest(name):
                self.assertError(self.client.patch("/admin/instance", body), 400)
        self.assertEqual(self.client.get("/admin/instance").json()["allocationPolicy"].lower(),
                         "hashed")

    def test_id_scope_read_only(self):
        r = self.client.patch("/admin/instance", {"idScope": "0ne00000000"})
        if r.status == 200:
            self.assertEqual(self.client.get("/admin/instance").json().get("idScope",
                                                                           self.dpsd.id_scope),
                             self.dpsd.id_scope)
        else:
            self.assertError(r, 400)

    def test_id_scope_format(self):
        self.assertRegex(self.dpsd.id_scope, r"^0ne[0-9A-F]{8}$")


class LinkedHubTest(AdminBase):

    def test_linked_hub_crud_and_masking(self):
        name = self.hub_name()
        key = random_key(32)
        r = self.put_hub(name, hub_body(name, key, allocationWeight=7, location="east"))
        h = r.json()
        self.assertEqual(h["name"], name)
        self.assertNotIn(key, r.body.decode(), "hub key must be masked")
        self.assertIn("****", h["connectionString"])
        self.assertIn("HostName=" + name, h["connectionString"])
        self.assertEqual(h["allocationWeight"], 7)
        self.assertEqual(h["location"], "east")

        g = self.client.get("/admin/linkedHubs/" + name)
        self.assertStatus(g, 200)
        self.assertNotIn(key, g.body.decode())
        self.assertEqual(g.json()["allocationWeight"], 7)

        lst = as_list(self.client.get("/admin/linkedHubs").json())
        self.assertIn(name, [x["name"] for x in lst])
        for x in lst:
            self.assertIn("****", x["connectionString"])
        # case-insensitive host name
        self.assertStatus(self.client.get("/admin/linkedHubs/" + name.upper()), 200)

        # like the service API: a bare PUT only creates
        self.assertError(self.client.put("/admin/linkedHubs/" + name, hub_body(name, key)),
                         409, 409201)
        u = self.client.put("/admin/linkedHubs/" + name,
                            hub_body(name, key, allocationWeight=1000,
                                     applyAllocationPolicy=False),
                            headers={"If-Match": "*"})
        self.assertStatus(u, 200)
        self.assertNotIn(key, u.body.decode())
        g = self.client.get("/admin/linkedHubs/" + name).json()
        self.assertEqual(g["allocationWeight"], 1000)
        self.assertIs(g["applyAllocationPolicy"], False)

        d = self.client.delete("/admin/linkedHubs/" + name)
        self.assertIn(d.status, (200, 204), d)
        self.assertError(self.client.get("/admin/linkedHubs/" + name), 404)
        self.assertError(self.client.delete("/admin/linkedHubs/" + name), 404)

    def test_linked_hub_defaults(self):
        name = self.hub_name()
        self.put_hub(name, {"connectionString": hub_cs(name), "location": "x",
                            "registryUrl": "https://127.0.0.1:8444"})
        g = self.client.get("/admin/linkedHubs/" + name).json()
        self.assertIn(g.get("allocationWeight"), (None, 1))
        self.assertIn(g.get("applyAllocationPolicy"), (None, True))

    def test_linked_hub_validation(self):
        name = self.hub_name()
        cases = {
            "weight 0": hub_body(name, allocationWeight=0),
            "weight 1001": hub_body(name, allocationWeight=1001),
            "weight string": hub_body(name, allocationWeight="5"),
            "apply not bool": hub_body(name, applyAllocationPolicy="yes"),
            "no connection string": {"location": "x"},
            "connection string without key": {
                "connectionString": "HostName=%s;SharedAccessKeyName=iothubowner" % name},
            "connection string garbage": {"connectionString": "nonsense"},
            "key not base64": {"connectionString": hub_cs(name, "***")},
            "host name differs from path": hub_body(name, connectionString=hub_cs("other.example.net")),
        }
        for label, body in cases.items():
            with self.subTest(label):
                self.assertError(self.client.put("/admin/linkedHubs/" + name, body), 400)
        self.assertError(self.client.get("/admin/linkedHubs/" + name), 404)

    def test_put_back_masked_key_keeps_it(self):
        # the read shape (key masked) can be PUT back: the stored key stays
        name = self.hub_name()
        self.put_hub(name)
        g = self.client.get("/admin/linkedHubs/" + name).json()
        g["allocationWeight"] = 42
        r = self.client.put("/admin/linkedHubs/" + name, g, headers={"If-Match": "*"})
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["allocationWeight"], 42)
        # ...but a new hub cannot be created with a masked key
        other = self.hub_name()
        body = hub_body(other)
        body["connectionString"] = body["connectionString"].rsplit("=", 2)[0].rsplit(";", 1)[0] \
            + ";SharedAccessKey=****"
        self.assertError(self.client.put("/admin/linkedHubs/" + other, body), 400)

    def test_registry_url_validation(self):
        name = self.hub_name()
        for url in ("ftp://127.0.0.1/x", "not a url", "https://", "https://" + "a" * 3000):
            with self.subTest(url[:20]):
                self.assertError(self.client.put("/admin/linkedHubs/" + name,
                                                 hub_body(name, registryUrl=url)), 400)

    def test_admin_routing_errors(self):
        for method, path, status in (("POST", "/admin/instance", 405),
                                     ("DELETE", "/admin/instance", 405),
                                     ("PATCH", "/admin/linkedHubs", 405),
                                     ("GET", "/admin/linkedHubs/a.example.net/extra", 404),
                                     ("GET", "/admin", 404)):
            with self.subTest("%s %s" % (method, path)):
                self.assertError(self.client.request(method, path), status)

    def test_enrollment_can_name_linked_hub_and_delete_is_refused(self):
        name = self.hub_name()
        self.put_hub(name)
        rid = unique_id("hubref")
        r = self.client.put("/enrollments/" + rid,
                            sym(rid, allocationPolicy="static", iotHubs=[name]))
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["iotHubs"], [name])
        d = self.client.delete("/admin/linkedHubs/" + name)
        self.assertError(d, 409)
        self.assertStatus(self.client.get("/admin/linkedHubs/" + name), 200)
        d = self.client.delete("/admin/linkedHubs/%s?force=true" % name)
        self.assertIn(d.status, (200, 204), d)
        self.assertError(self.client.get("/admin/linkedHubs/" + name), 404)

    def test_delete_refused_for_group_reference(self):
        name = self.hub_name()
        self.put_hub(name)
        gid = unique_id("hubgrp")
        r = self.client.put("/enrollmentGroups/" + gid, {
            "enrollmentGroupId": gid, "attestation": {"type": "symmetricKey"},
            "iotHubs": [name]})
        self.assertStatus(r, 200)
        self.assertError(self.client.delete("/admin/linkedHubs/" + name), 409)
        self.assertStatus(self.client.delete("/enrollmentGroups/" + gid), 204)
        d = self.client.delete("/admin/linkedHubs/" + name)
        self.assertIn(d.status, (200, 204), d)

    def test_enrollment_with_two_linked_hubs(self):
        a, b = self.hub_name(), self.hub_name()
        self.put_hub(a)
        self.put_hub(b)
        rid = unique_id("twohubs")
        r = self.client.put("/enrollments/" + rid, sym(rid, iotHubs=[a, b],
                                                       allocationPolicy="hashed"))
        self.assertStatus(r, 200)
        self.assertEqual(sorted(r.json()["iotHubs"]), sorted([a, b]))
        # static needs exactly one
        rid2 = unique_id("twohubs")
        r = self.client.put("/enrollments/" + rid2, sym(rid2, iotHubs=[a, b],
                                                        allocationPolicy="static"))
        self.assertError(r, 400)


class PolicyTest(AdminBase):

    def test_owner_policy_exists(self):
        r = self.client.get("/admin/policies/provisioningserviceowner")
        self.assertStatus(r, 200)
        p = r.json()
        self.assertEqual(p["keyName"], "provisioningserviceowner")
        rights = {x.strip() for x in p["rights"].split(",")}
        self.assertTrue({"ServiceConfig", "EnrollmentWrite"} <= rights, rights)
        lst = as_list(self.client.get("/admin/policies").json())
        self.assertIn("provisioningserviceowner", [x["keyName"] for x in lst])

    def test_read_only_policy(self):
        name = unique_id("reader")
        p = self.put_policy(name, "EnrollmentRead").json()
        self.assertEqual(p["keyName"], name)
        self.assertEqual(p["rights"], "EnrollmentRead")
        self.assertGreaterEqual(len(base64.b64decode(p["primaryKey"])), 16)
        self.assertGreaterEqual(len(base64.b64decode(p["secondaryKey"])), 16)

        rid = unique_id("ro")
        self.assertStatus(self.client.put("/enrollments/" + rid, sym(rid)), 200)
        cs = self.connection_string_for(name)
        parsed = parse_connection_string(cs)
        self.assertEqual(parsed["SharedAccessKeyName"], name)
        self.assertEqual(parsed["HostName"], self.dpsd.cs["HostName"])
        self.assertIn(parsed["SharedAccessKey"], (p["primaryKey"], p["secondaryKey"]))

        ro = self.client.with_connection_string(cs)
        self.assertStatus(ro.get("/enrollments/" + rid), 200)
        self.assertStatus(ro.post("/enrollments/query", {"query": "SELECT *"}), 200)
        self.assertError(ro.put("/enrollments/" + unique_id("ro"), sym("x")), 401, 401002)
        self.assertError(ro.put("/enrollments/" + rid, sym(rid), headers={"If-Match": "*"}),
                         401, 401002)
        self.assertError(ro.delete("/enrollments/" + rid), 401, 401002)
        self.assertError(ro.post("/enrollments", {"mode": "delete", "enrollments": [sym(rid)]}),
                         401, 401002)
        self.assertError(ro.get("/admin/instance"), 401, 401002)
        self.assertError(ro.get("/admin/linkedHubs"), 401, 401002)
        self.assertError(ro.put("/admin/policies/" + unique_id("esc"),
                                {"rights": "ServiceConfig"}), 401, 401002)
        self.assertStatus(self.client.get("/enrollments/" + rid), 200)

    def test_secondary_key_signs_too(self):
        name = unique_id("both")
        p = self.put_policy(name, "EnrollmentRead, EnrollmentWrite").json()
        host = self.dpsd.cs["HostName"]
        rid = unique_id("sec")
        for key in (p["primaryKey"], p["secondaryKey"]):
            tok = make_sas(key, host, name)
            self.assertStatus(self.client.get("/enrollments/" + rid, token=tok), 404)

    def test_supplied_policy_keys(self):
        name = unique_id("given")
        pk, sk = random_key(32), random_key(32)
        r = self.client.put("/admin/policies/" + name,
                            {"rights": "EnrollmentWrite", "primaryKey": pk, "secondaryKey": sk})
        self.assertStatus(r, 200)
        tok = make_sas(pk, self.dpsd.cs["HostName"], name)
        rid = unique_id("given")
        self.assertStatus(self.client.put("/enrollments/" + rid, sym(rid), token=tok), 200)

    def test_registration_rights(self):
        name = unique_id("regread")
        self.put_policy(name, "RegistrationStatusRead")
        c = self.client.with_connection_string(self.connection_string_for(name))
        rid = unique_id("reg")
        self.assertError(c.get("/registrations/" + rid), 404, 404201)
        self.assertStatus(c.post("/registrations/%s/query" % rid), 200)
        self.assertError(c.delete("/registrations/" + rid), 401, 401002)
        self.assertError(c.get("/enrollments/" + rid), 401, 401002)

    def test_service_config_only_policy(self):
        name = unique_id("admin")
        self.put_policy(name, "ServiceConfig")
        c = self.client.with_connection_string(self.connection_string_for(name))
        self.assertStatus(c.get("/admin/instance"), 200)
        self.assertStatus(c.get("/admin/linkedHubs"), 200)
        self.assertError(c.get("/enrollments/" + unique_id("x")), 401, 401002)
        self.assertError(c.put("/enrollments/" + unique_id("x"), sym("x")), 401, 401002)

    def test_deleted_policy_token_refused(self):
        name = unique_id("gone")
        self.put_policy(name, "EnrollmentRead")
        c = self.client.with_connection_string(self.connection_string_for(name))
        self.assertError(c.get("/enrollments/" + unique_id("x")), 404)
        d = self.client.delete("/admin/policies/" + name)
        self.assertIn(d.status, (200, 204), d)
        self.assertError(c.get("/enrollments/" + unique_id("x")), 401, 401002)
        self.assertError(self.client.get("/admin/policies/" + name), 404)

    def test_policy_update_rights(self):
        name = unique_id("upd")
        self.put_policy(name, "EnrollmentRead")
        c = self.client.with_connection_string(self.connection_string_for(name))
        rid = unique_id("upd")
        self.assertError(c.put("/enrollments/" + rid, sym(rid)), 401)
        self.assertError(self.put_policy(name, "EnrollmentWrite", expect=None), 409, 409201)
        self.put_policy(name, "EnrollmentRead, EnrollmentWrite", if_match="*")
        c = self.client.with_connection_string(self.connection_string_for(name))
        self.assertStatus(c.put("/enrollments/" + rid, sym(rid)), 200)

    def test_policy_validation(self):
        for label, body in (("unknown right", {"rights": "Bogus"}),
                            ("empty rights", {"rights": ""}),
                            ("rights not string", {"rights": 3}),
                            ("bad key", {"rights": "EnrollmentRead", "primaryKey": "###"})):
            with self.subTest(label):
                self.assertError(self.client.put("/admin/policies/" + unique_id("bad"), body), 400)

    def test_owner_policy_cannot_lose_service_config_or_be_deleted(self):
        # Locking everyone out of the admin API must not be possible.
        d = self.client.delete("/admin/policies/provisioningserviceowner")
        if d.status in (200, 204):
            self.fail("owner policy deleted: the instance is now unmanageable")
        self.assertError(d, d.status)
        r = self.client.put("/admin/policies/provisioningserviceowner",
                            {"rights": "EnrollmentRead"}, headers={"If-Match": "*"})
        if r.status == 200:
            self.fail("owner policy lost ServiceConfig: the instance is now unmanageable")
        self.assertError(r, r.status)
        self.assertStatus(self.client.get("/admin/instance"), 200)

    def test_name_validation(self):
        for name in ("bad%20name", "x" * 65, "semi%3Bcolon", "eq%3Dual"):
            with self.subTest(policy=name):
                self.assertError(self.client.put("/admin/policies/" + name,
                                                 {"rights": "EnrollmentRead"}), 400)
        for name in ("bad_host!", "a" * 254, "a..b.example.net", "host.example.net:99999"):
            with self.subTest(hub=name):
                r = self.client.put("/admin/linkedHubs/" + name, hub_body(name))
                self.assertError(r, 400)

    def test_hub_label_with_edge_hyphen_rejected(self):
        # RFC 1123: a DNS label neither starts nor ends with '-'
        for name in ("-lead.example.net", "trail-.example.net"):
            with self.subTest(hub=name):
                r = self.client.put("/admin/linkedHubs/" + name, hub_body(name))
                self.assertError(r, 400)

    def test_connection_string_default_and_unknown(self):
        r = self.client.get("/admin/connectionString")
        if r.status == 200:
            body = r.json()
            cs = body["connectionString"] if isinstance(body, dict) else body
            self.assertEqual(parse_connection_string(cs)["HostName"], self.dpsd.cs["HostName"])
        r = self.client.get("/admin/connectionString?policy=" + unique_id("none"))
        self.assertError(r, 404)

    def test_connection_string_owner_matches_startup(self):
        cs = self.connection_string_for("provisioningserviceowner")
        self.assertEqual(parse_connection_string(cs), self.dpsd.cs)


if __name__ == "__main__":
    unittest.main()
