"""Registration records through the service API (service-api.md §2, §5, §8.5,
§16), before the device API exists.

Devices create registration records; until the device API lands these tests
seed them straight into the stopped daemon's SQLite file (the store schema of
src/dpsd/store/migrations_sqlite.c: key = lower-case registration ID, doc =
DeviceRegistrationState JSON, etag, grp = lower-case group ID or NULL), then
restart dpsd and read, query and delete them over TLS. When the device API
exists, replace the seeding with real registrations."""

import json
import sqlite3
import time
import unittest

from dpsd_harness import DpsdTestCase, make_sas, unique_id


def reg_state(rid, hub="hub1.example.net", status="assigned", **extra):
    d = {"registrationId": rid, "createdDateTimeUtc": "2026-03-01T09:05:12.3456789Z",
         "assignedHub": hub, "deviceId": rid, "status": status,
         "substatus": "initialAssignment",
         "lastUpdatedDateTimeUtc": "2026-03-01T09:05:13.0000000Z"}
    d.update(extra)
    return d


class RegistrationRecordTest(DpsdTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        c = cls.client
        cls.gid = unique_id("RegGroup")
        cls.other_gid = unique_id("othergroup")
        cls.members = ["%s-m%d" % (unique_id("Dev"), i) for i in range(4)]
        cls.other_members = [unique_id("odev") for _ in range(2)]
        cls.single = unique_id("single")
        cls.orphan_gid = unique_id("orphangroup")
        cls.orphans = [unique_id("orph") for _ in range(2)]
        cls.spare_gid = unique_id("sparegroup")
        cls.spare = unique_id("spare")
        cls.deletable = unique_id("deletable")
        for gid in (cls.gid, cls.other_gid, cls.orphan_gid, cls.spare_gid):
            r = c.put("/enrollmentGroups/" + gid, {"enrollmentGroupId": gid,
                                                   "attestation": {"type": "symmetricKey"}})
            assert r.status == 200, r
        r = c.put("/enrollments/" + cls.single, {"registrationId": cls.single,
                                                 "attestation": {"type": "symmetricKey"}})
        assert r.status == 200, r

        rows = []
        for i, m in enumerate(cls.members):
            rows.append((m, reg_state(m, symmetricKey={"enrollmentGroupId": cls.gid}),
                         "IkVUQUctJWQi%d" % i, cls.gid))
        for m in cls.other_members:
            rows.append((m, reg_state(m), "Im90aGVyIg==", cls.other_gid))
        for m in cls.orphans:
            rows.append((m, reg_state(m), "Im9ycGhhbiI=", cls.orphan_gid))
        rows.append((cls.spare, reg_state(cls.spare), "InNwYXJlIg==", cls.spare_gid))
        rows.append((cls.deletable, reg_state(cls.deletable), "ImRlbCI=", None))
        rows.append((cls.single, reg_state(cls.single, tpm={"authenticationKey": "U0VDUkVU"},
                                           payload={"fw": "2.4.1"}),
                     "InNpbmdsZSI=", None))
        cls.dpsd.stop()
        db = cls.dpsd.info["store"].split(":", 1)[1]
        con = sqlite3.connect(db, timeout=10)
        try:
            with con:
                for rid, doc, etag, grp in rows:
                    con.execute("INSERT INTO registrations (key, doc, etag, grp, updated_at) "
                                "VALUES (?, ?, ?, ?, ?)",
                                (rid.lower(), json.dumps(doc), etag,
                                 grp.lower() if grp else None, int(time.time() * 1000)))
        finally:
            con.close()
        cls.dpsd.start()
        cls.client = cls.dpsd.client()

    def test_get_registration(self):
        m = self.members[0]
        r = self.client.get("/registrations/" + m)
        self.assertStatus(r, 200)
        s = r.json()
        self.assertEqual(s["registrationId"], m)
        self.assertEqual(s["status"], "assigned")
        self.assertEqual(s["assignedHub"], "hub1.example.net")
        self.assertTrue(s["etag"])
        # IDs are case-insensitive here too
        self.assertStatus(self.client.get("/registrations/" + m.upper()), 200)

    def test_tpm_authentication_key_never_shown(self):
        r = self.client.get("/registrations/" + self.single)
        self.assertStatus(r, 200)
        self.assertNotIn(b"U0VDUkVU", r.body)
        self.assertEqual(r.json()["payload"], {"fw": "2.4.1"})

    def test_enrollment_embeds_its_registration_state(self):
        e = self.client.get("/enrollments/" + self.single).json()
        self.assertIn("registrationState", e)
        self.assertEqual(e["registrationState"]["registrationId"], self.single)
        self.assertEqual(e["registrationState"]["status"], "assigned")
        self.assertNotIn(b"U0VDUkVU", json.dumps(e).encode())
        # ...and a PUT back of that record ignores it (read-only)
        out = self.client.put("/enrollments/" + self.single, e, headers={"If-Match": e["etag"]})
        self.assertStatus(out, 200)
        again = self.client.get("/enrollments/" + self.single).json()
        self.assertEqual(again["registrationState"]["assignedHub"], "hub1.example.net")

    def test_group_query_paging_exact_multiple(self):
        seen, cont, pages = [], None, 0
        while True:
            h = {"x-ms-max-item-count": "2"}
            if cont:
                h["x-ms-continuation"] = cont
            r = self.client.post("/registrations/%s/query" % self.gid, headers=h)
            self.assertStatus(r, 200)
            self.assertEqual(r.header("x-ms-item-type"), "DeviceRegistration")
            page = r.json()
            self.assertLessEqual(len(page), 2)
            seen += [x["registrationId"] for x in page]
            pages += 1
            cont = r.header("x-ms-continuation")
            if not cont or pages > 10:
                break
        self.assertEqual(sorted(seen), sorted(self.members))
        self.assertEqual(pages, 2, "4 records in pages of 2: no continuation after page 2")

    def test_group_query_isolated_and_case_insensitive(self):
        r = self.client.post("/registrations/%s/query" % self.gid.upper(), {"query": "SELECT *"})
        self.assertStatus(r, 200)
        ids = sorted(x["registrationId"] for x in r.json())
        self.assertEqual(ids, sorted(self.members))
        r = self.client.post("/registrations/%s/query" % self.other_gid)
        self.assertEqual(sorted(x["registrationId"] for x in r.json()), sorted(self.other_members))

    def test_orphans_survive_group_delete(self):
        self.assertStatus(self.client.delete("/enrollmentGroups/" + self.orphan_gid), 204)
        r = self.client.post("/registrations/%s/query" % self.orphan_gid)
        self.assertStatus(r, 200)
        self.assertEqual(sorted(x["registrationId"] for x in r.json()), sorted(self.orphans))
        self.assertStatus(self.client.get("/registrations/" + self.orphans[0]), 200)
        self.assertStatus(self.client.delete("/registrations/" + self.orphans[0]), 204)
        r = self.client.post("/registrations/%s/query" % self.orphan_gid)
        self.assertEqual([x["registrationId"] for x in r.json()], [self.orphans[1]])

    def test_delete_with_etag(self):
        m = self.deletable
        etag = self.client.get("/registrations/" + m).json()["etag"]
        self.assertError(self.client.delete("/registrations/" + m,
                                            headers={"If-Match": "Indyb25nIg=="}), 412, 412001)
        self.assertStatus(self.client.get("/registrations/" + m), 200)
        self.assertStatus(self.client.delete("/registrations/" + m,
                                             headers={"If-Match": '"%s"' % etag}), 204)
        self.assertError(self.client.get("/registrations/" + m), 404, 404201)
        self.assertError(self.client.delete("/registrations/" + m), 404, 404201)

    def test_deleting_registration_keeps_enrollment_group(self):
        self.assertStatus(self.client.delete("/registrations/" + self.spare), 204)
        self.assertStatus(self.client.get("/enrollmentGroups/" + self.spare_gid), 200)
        r = self.client.post("/registrations/%s/query" % self.spare_gid)
        self.assertEqual(r.json(), [])

    def test_registration_rights(self):
        name = unique_id("regpol")
        for rights, can_read, can_delete in (("EnrollmentRead", False, False),
                                             ("EnrollmentWrite", False, False),
                                             ("RegistrationStatusRead", True, False),
                                             ("RegistrationStatusWrite", True, True),
                                             ("ServiceConfig", True, True)):
            with self.subTest(rights):
                pname = "%s-%s" % (name, rights.lower())
                p = self.client.put("/admin/policies/" + pname, {"rights": rights})
                self.assertStatus(p, 200)
                tok = lambda: make_sas(p.json()["primaryKey"], self.dpsd.cs["HostName"], pname)
                r = self.client.get("/registrations/" + self.members[0], token=tok())
                self.assertStatus(r, 200 if can_read else 401)
                r = self.client.post("/registrations/%s/query" % self.gid, token=tok())
                self.assertStatus(r, 200 if can_read else 401)
                r = self.client.delete("/registrations/" + unique_id("none"), token=tok())
                self.assertStatus(r, 404 if can_delete else 401)


if __name__ == "__main__":
    unittest.main()
