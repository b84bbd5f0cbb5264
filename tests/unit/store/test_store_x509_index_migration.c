/* Schema step 3 ("x509 index"): a store file written before the X.509
 * index existed (user_version 2) gets index rows for the X.509 groups and
 * CA certificates it already holds, from the info blocks the service API
 * stored, in the form model/x509_index.c writes them (lower-case values). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store/migrations_sqlite.h"
#include "store/store.h"

#define TABLE(name)                                                                      \
    "CREATE TABLE " name " (key TEXT NOT NULL PRIMARY KEY, doc TEXT NOT NULL,"             \
    " etag TEXT NOT NULL, grp TEXT NULL, updated_at INTEGER NOT NULL);"

/* The schema as steps 1 and 2 left it, with documents the service API and
 * an operator could have written. */
static const char *const v2_file =
    "CREATE TABLE meta (name TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL);" TABLE(
        "enrollments") TABLE("enrollment_groups") TABLE("registrations") TABLE("linked_hubs")
        TABLE("access_policies") TABLE("ca_certificates")
    "CREATE INDEX registrations_grp ON registrations (grp, key);" TABLE("hubs")
        TABLE("hub_policies") TABLE("hub_devices") TABLE("hub_cas")
    "INSERT INTO enrollment_groups VALUES ('line-a', '{\"enrollmentGroupId\":\"Line-A\","
    "\"attestation\":{\"type\":\"x509\",\"x509\":{\"signingCertificates\":{"
    "\"primary\":{\"certificate\":\"x\",\"info\":{\"subjectName\":\"CN=Line Root, O=Acme\"}},"
    "\"secondary\":{\"certificate\":\"y\",\"info\":{\"subjectName\":\"CN=Line Root 2\"}}}}}}',"
    " 'e', NULL, 0);"
    "INSERT INTO enrollment_groups VALUES ('line-b', '{\"enrollmentGroupId\":\"line-b\","
    "\"attestation\":{\"type\":\"x509\",\"x509\":{\"caReferences\":{\"primary\":\"Fleet-CA\"}}}}',"
    " 'e', NULL, 0);"
    "INSERT INTO enrollment_groups VALUES ('sym', '{\"enrollmentGroupId\":\"sym\","
    "\"attestation\":{\"type\":\"symmetricKey\",\"symmetricKey\":{}}}', 'e', NULL, 0);"
    "INSERT INTO ca_certificates VALUES ('fleet-ca', '{\"name\":\"Fleet-CA\",\"properties\":{"
    "\"subject\":\"CN=Fleet CA\",\"isVerified\":true}}', 'e', NULL, 0);"
    "PRAGMA user_version = 2;";

typedef struct {
    char dir[64];
    char path[128];
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/dps-x509mig-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/old.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    char p[200];
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", f->path, suffixes[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static size_t rows(dps_store *s, const char *grp, const char *want_key)
{
    dps_record_list l = {0};
    assert_int_equal(dps_store_list(s, DPS_COLL_X509_INDEX, grp, NULL, 10, &l), DPS_STORE_OK);
    size_t n = l.count;
    if (want_key != NULL) {
        assert_int_equal(n, 1);
        assert_string_equal(l.items[0].key, want_key);
    }
    dps_record_list_free(&l);
    return n;
}

static void test_existing_groups_are_indexed(void **state)
{
    fx *f = *state;
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, v2_file, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);

    char err[256] = "";
    dps_store *s = dps_store_open(f->path, err, sizeof err);
    if (s == NULL)
        fail_msg("open: %s", err);
    assert_true(dps_sqlite_schema_version() >= 3);
    rows(s, "n:cn=line root, o=acme", "s/line-a/primary");
    rows(s, "n:cn=line root 2", "s/line-a/secondary");
    rows(s, "ca:fleet-ca", "r/line-b/primary");
    rows(s, "n:cn=fleet ca", "c/fleet-ca");
    size_t total = 0;
    assert_int_equal(dps_store_count(s, DPS_COLL_X509_INDEX, &total), DPS_STORE_OK);
    assert_int_equal(total, 4); /* nothing for the symmetric-key group */
    dps_store_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_existing_groups_are_indexed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
