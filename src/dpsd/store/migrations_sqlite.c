/* Versioned schema of the SQLite store. The file's PRAGMA user_version is the
 * number of steps already applied; opening a file applies the rest, in order,
 * inside one transaction. Steps are append-only: once released a step is never
 * edited, a later step changes what it made (see docs/internals/store.md). */
#include "store/migrations_sqlite.h"

#include <stdio.h>

#include "common/log.h"

typedef struct {
    const char *what; /* shown in logs and errors */
    const char *sql;  /* one or more statements, run with sqlite3_exec */
} migration_step;

/* Every collection table has the same shape so one set of statements serves
 * all of them. key is NOT NULL explicitly: SQLite otherwise accepts NULL in a
 * non-integer primary key. updated_at is Unix milliseconds, for operators and
 * later clean-up jobs; the store never reads it back. */
#define COLLECTION_TABLE(name)                                                   \
    "CREATE TABLE " name " ("                                                    \
    " key TEXT NOT NULL PRIMARY KEY,"                                            \
    " doc TEXT NOT NULL,"                                                        \
    " etag TEXT NOT NULL,"                                                       \
    " grp TEXT NULL,"                                                            \
    " updated_at INTEGER NOT NULL);"

/* One x509_index row per group slot that names an issuer: key
 * "<tag>/<group key>/<slot>", grp "<prefix><lower-case value>" (values from
 * the stored document; lower() folds ASCII only, as x509_index.c does). */
#define X509_INDEX_FROM_GROUPS(member, slot, tag, prefix, path)                     \
    "INSERT OR REPLACE INTO x509_index (key, doc, etag, grp, updated_at)"            \
    " SELECT '" tag "/' || key || '/" slot "', '{}', 'x509-index', '" prefix "' ||"  \
    " lower(json_extract(doc, '$.attestation.x509." member "." slot path "')), 0"    \
    " FROM enrollment_groups"                                                        \
    " WHERE json_extract(doc, '$.attestation.x509." member "." slot path "')"        \
    " IS NOT NULL;"

static const migration_step steps[] = {
    {"initial schema",
     "CREATE TABLE meta (name TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL);"
     COLLECTION_TABLE("enrollments")
     COLLECTION_TABLE("enrollment_groups")
     COLLECTION_TABLE("registrations")
     COLLECTION_TABLE("linked_hubs")
     COLLECTION_TABLE("access_policies")
     COLLECTION_TABLE("ca_certificates")
     /* (grp, key) rather than grp alone: a group listing is then served in key
      * order straight from the index, without a sort. */
     "CREATE INDEX registrations_grp ON registrations (grp, key);"},
    {"hub collections",
     COLLECTION_TABLE("hubs")
     COLLECTION_TABLE("hub_policies")
     COLLECTION_TABLE("hub_devices")
     COLLECTION_TABLE("hub_cas")
     "CREATE INDEX hub_policies_grp ON hub_policies (grp, key);"
     "CREATE INDEX hub_devices_grp ON hub_devices (grp, key);"
     "CREATE INDEX hub_cas_grp ON hub_cas (grp, key);"},
    /* X.509 attestation looks groups and CA certificates up by the issuer
     * names of a presented chain instead of scanning every group
     * (model/x509_index.h has the row shapes, which this step must match).
     * Existing groups are indexed from the info blocks the service API
     * stored with their certificates. */
    {"x509 index",
     COLLECTION_TABLE("x509_index")
     "CREATE INDEX x509_index_grp ON x509_index (grp, key);"
     X509_INDEX_FROM_GROUPS("signingCertificates", "primary", "s", "n:",
                            ".info.subjectName")
     X509_INDEX_FROM_GROUPS("signingCertificates", "secondary", "s", "n:",
                            ".info.subjectName")
     X509_INDEX_FROM_GROUPS("caReferences", "primary", "r", "ca:", "")
     X509_INDEX_FROM_GROUPS("caReferences", "secondary", "r", "ca:", "")
     "INSERT OR REPLACE INTO x509_index (key, doc, etag, grp, updated_at)"
     " SELECT 'c/' || key, '{}', 'x509-index', 'n:' || lower(json_extract(doc,"
     " '$.properties.subject')), 0 FROM ca_certificates"
     " WHERE json_extract(doc, '$.properties.subject') IS NOT NULL;"},
};

#define STEP_COUNT ((int)(sizeof steps / sizeof steps[0]))

/* Indexed by dps_collection; the order must follow the enum. */
static const char *const table_names[DPS_COLL_COUNT] = {
    [DPS_COLL_ENROLLMENT] = "enrollments",
    [DPS_COLL_ENROLLMENT_GROUP] = "enrollment_groups",
    [DPS_COLL_REGISTRATION] = "registrations",
    [DPS_COLL_LINKED_HUB] = "linked_hubs",
    [DPS_COLL_ACCESS_POLICY] = "access_policies",
    [DPS_COLL_CA_CERTIFICATE] = "ca_certificates",
    [DPS_COLL_HUB] = "hubs",
    [DPS_COLL_HUB_POLICY] = "hub_policies",
    [DPS_COLL_HUB_DEVICE] = "hub_devices",
    [DPS_COLL_HUB_CA] = "hub_cas",
    [DPS_COLL_X509_INDEX] = "x509_index",
};

int dps_sqlite_schema_version(void) { return STEP_COUNT; }

const char *dps_sqlite_table_name(dps_collection c)
{
    if ((int)c < 0 || c >= DPS_COLL_COUNT)
        return NULL;
    return table_names[c];
}

static int read_user_version(sqlite3 *db, int *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return -1;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int(st, 0);
    if (sqlite3_finalize(st) != SQLITE_OK || rc != SQLITE_ROW)
        return -1;
    return 0;
}

static void rollback(sqlite3 *db)
{
    /* Fails harmlessly when SQLite already rolled back on its own. */
    if (sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK)
        log_debug("store: rollback after failed migration: %s", sqlite3_errmsg(db));
}

int dps_sqlite_migrate(sqlite3 *db, char *err, size_t errlen)
{
    /* IMMEDIATE takes the write lock before the version is read, so of two
     * processes opening a new file the second waits and then sees the schema
     * already in place. */
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot start schema transaction: %s", sqlite3_errmsg(db));
        return -1;
    }
    int version = 0;
    if (read_user_version(db, &version) != 0) {
        snprintf(err, errlen, "cannot read schema version: %s", sqlite3_errmsg(db));
        rollback(db);
        return -1;
    }
    if (version < 0 || version > STEP_COUNT) {
        snprintf(err, errlen,
                 "database schema version %d is not supported by this dpsd (latest %d)",
                 version, STEP_COUNT);
        rollback(db);
        return -1;
    }
    for (int i = version; i < STEP_COUNT; i++) {
        log_info("store: applying schema migration %d (%s)", i + 1, steps[i].what);
        if (sqlite3_exec(db, steps[i].sql, NULL, NULL, NULL) != SQLITE_OK) {
            snprintf(err, errlen, "schema migration %d (%s) failed: %s", i + 1,
                     steps[i].what, sqlite3_errmsg(db));
            rollback(db);
            return -1;
        }
    }
    if (version < STEP_COUNT) {
        /* PRAGMA takes no bound parameters; the text holds only our own integer. */
        char sql[48];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", STEP_COUNT);
        if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
            snprintf(err, errlen, "cannot record schema version: %s", sqlite3_errmsg(db));
            rollback(db);
            return -1;
        }
    }
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot commit schema: %s", sqlite3_errmsg(db));
        rollback(db);
        return -1;
    }
    return 0;
}
