/* The SQLite backend of the store: one database file in WAL mode, one table
 * per collection, every statement prepared once at open and reused.
 *
 * Every write is a single autocommit statement whose WHERE clause or primary
 * key carries the condition, so SQLite's write lock makes the check and the
 * write one atomic step: of two writers (threads with their own handles, or
 * processes) exactly one wins. A handle itself is not thread-safe (its cached
 * statements are shared state); use one handle per thread. */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "store/migrations_sqlite.h"
#include "store/sqlite_conn.h"
#include "store/store.h"

enum {
    OP_GET,
    OP_INSERT,
    OP_UPSERT,
    OP_UPDATE_IF,
    OP_EXISTS,
    OP_DELETE,
    OP_DELETE_IF,
    OP_LIST,
    OP_LIST_GROUP,
    OP_COUNT,
    OP__N
};

/* Statement text around the table name. The name comes only from the fixed
 * table list, never from input; all values are bound parameters. */
typedef struct {
    const char *what; /* for log lines */
    const char *head;
    const char *tail;
} op_template;

static const op_template op_templates[OP__N] = {
    [OP_GET] = {"get", "SELECT doc, etag, grp FROM ", " WHERE key = ?1"},
    [OP_INSERT] = {"create", "INSERT INTO ",
                   " (key, doc, etag, grp, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)"},
    [OP_UPSERT] = {"upsert", "INSERT INTO ",
                   " (key, doc, etag, grp, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)"
                   " ON CONFLICT (key) DO UPDATE SET doc = excluded.doc,"
                   " etag = excluded.etag, grp = excluded.grp,"
                   " updated_at = excluded.updated_at"},
    [OP_UPDATE_IF] = {"conditional update", "UPDATE ",
                      " SET doc = ?2, etag = ?3, grp = ?4, updated_at = ?5"
                      " WHERE key = ?1 AND etag = ?6"},
    [OP_EXISTS] = {"existence check", "SELECT 1 FROM ", " WHERE key = ?1"},
    [OP_DELETE] = {"delete", "DELETE FROM ", " WHERE key = ?1"},
    [OP_DELETE_IF] = {"conditional delete", "DELETE FROM ", " WHERE key = ?1 AND etag = ?2"},
    [OP_LIST] = {"list", "SELECT key, doc, etag, grp FROM ",
                 " WHERE key > ?1 ORDER BY key LIMIT ?2"},
    [OP_LIST_GROUP] = {"group list", "SELECT key, doc, etag, grp FROM ",
                       " WHERE grp = ?1 AND key > ?2 ORDER BY key LIMIT ?3"},
    [OP_COUNT] = {"count", "SELECT count(*) FROM ", ""},
};

typedef struct {
    dps_store base; /* first, so a dps_store * is also a sqlite_store * */
    sqlite3 *db;
    sqlite3_stmt *stmt[DPS_COLL_COUNT][OP__N];
    sqlite3_stmt *meta_get;
    sqlite3_stmt *meta_set;
} sqlite_store;

static sqlite_store *sq(dps_store *s) { return (sqlite_store *)s; }

/* Makes a statement ready for its next use and drops bound pointers, which
 * are all SQLITE_STATIC and would dangle after the caller returns. The value
 * sqlite3_reset returns repeats the last step's result, already handled. */
static void finish(sqlite3_stmt *st)
{
    (void)sqlite3_reset(st);
    (void)sqlite3_clear_bindings(st);
}

static dps_store_result db_fail(sqlite_store *s, sqlite3_stmt *st, int rc, const char *what,
                                const char *table)
{
    log_error("store: %s on %s failed: %s (sqlite code %d)", what, table,
              sqlite3_errmsg(s->db), rc);
    finish(st);
    return DPS_STORE_ERROR;
}

static int bind_text(sqlite3_stmt *st, int idx, const char *v)
{
    if (v == NULL)
        return sqlite3_bind_null(st, idx);
    return sqlite3_bind_text(st, idx, v, -1, SQLITE_STATIC);
}

/* Copies a text column; a NULL column gives a NULL string. */
static int dup_column(sqlite3_stmt *st, int col, char **out)
{
    *out = NULL;
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return 0;
    const unsigned char *text = sqlite3_column_text(st, col);
    int n = sqlite3_column_bytes(st, col);
    if (text == NULL || n < 0)
        return -1; /* out of memory inside SQLite */
    char *p = malloc((size_t)n + 1);
    if (p == NULL)
        return -1;
    memcpy(p, text, (size_t)n);
    p[n] = '\0';
    *out = p;
    return 0;
}

/* Fills rec from a row of (doc, etag, grp) starting at column first. */
static int read_row(sqlite3_stmt *st, int first, dps_record *rec)
{
    if (dup_column(st, first, &rec->doc) != 0 || dup_column(st, first + 1, &rec->etag) != 0 ||
        dup_column(st, first + 2, &rec->group) != 0)
        return -1;
    /* doc and etag are NOT NULL in the schema; a NULL here means corruption. */
    if (rec->doc == NULL || rec->etag == NULL)
        return -1;
    return 0;
}

static dps_store_result sq_get(dps_store *base, dps_collection c, const char *key,
                               dps_record *out)
{
    sqlite_store *s = sq(base);
    const char *table = dps_sqlite_table_name(c);
    sqlite3_stmt *st = s->stmt[c][OP_GET];
    int rc = bind_text(st, 1, key);
    if (rc != SQLITE_OK)
        return db_fail(s, st, rc, "get", table);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        finish(st);
        return DPS_STORE_NOT_FOUND;
    }
    if (rc != SQLITE_ROW)
        return db_fail(s, st, rc, "get", table);
    dps_record rec = {0};
    rec.key = strdup(key);
    if (rec.key == NULL || read_row(st, 0, &rec) != 0) {
        finish(st);
        dps_record_free(&rec);
        log_error("store: get on %s: cannot copy the record (out of memory)", table);
        return DPS_STORE_ERROR;
    }
    finish(st);
    *out = rec;
    return DPS_STORE_OK;
}

/* DPS_STORE_OK when the key is present, DPS_STORE_NOT_FOUND when not. */
static dps_store_result key_exists(sqlite_store *s, dps_collection c, const char *key)
{
    const char *table = dps_sqlite_table_name(c);
    sqlite3_stmt *st = s->stmt[c][OP_EXISTS];
    int rc = bind_text(st, 1, key);
    if (rc != SQLITE_OK)
        return db_fail(s, st, rc, "existence check", table);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(s, st, rc, "existence check", table);
    finish(st);
    return rc == SQLITE_ROW ? DPS_STORE_OK : DPS_STORE_NOT_FOUND;
}

/* After a conditional statement changed nothing: was the record absent, or
 * did it carry another ETag? The two reads are not one atomic step, but
 * either answer describes a state the record really had, and both mean the
 * write did not happen. */
static dps_store_result explain_no_change(sqlite_store *s, dps_collection c, const char *key)
{
    dps_store_result r = key_exists(s, c, key);
    if (r == DPS_STORE_OK)
        return DPS_STORE_ETAG_MISMATCH;
    return r;
}

/* Steps a write statement. In WAL mode a statement that read an older
 * snapshot than the latest commit cannot upgrade to a writer and fails at
 * once with SQLITE_BUSY_SNAPSHOT, without the busy handler: another handle
 * wrote in between. Running the statement again (same bindings) reads the
 * new snapshot, so the condition (ETag, existence) is judged against it. */
#define WRITE_RETRIES 32
static int step_write(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    for (int i = 0; (rc & 0xFF) == SQLITE_BUSY && i < WRITE_RETRIES; i++) {
        sqlite3_reset(st);
        rc = sqlite3_step(st);
    }
    return rc;
}

static dps_store_result sq_put(dps_store *base, dps_collection c, const dps_record *rec,
                               dps_put_mode mode, const char *expected_etag)
{
    sqlite_store *s = sq(base);
    const char *table = dps_sqlite_table_name(c);
    int op = mode == DPS_PUT_CREATE ? OP_INSERT
             : mode == DPS_PUT_UPSERT ? OP_UPSERT
                                      : OP_UPDATE_IF;
    const char *what = op_templates[op].what;
    sqlite3_stmt *st = s->stmt[c][op];
    sqlite3_int64 now_ms = (sqlite3_int64)(dps_now_ns() / 1000000);

    int rc = bind_text(st, 1, rec->key);
    if (rc == SQLITE_OK)
        rc = bind_text(st, 2, rec->doc);
    if (rc == SQLITE_OK)
        rc = bind_text(st, 3, rec->etag);
    if (rc == SQLITE_OK)
        rc = bind_text(st, 4, rec->group);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 5, now_ms);
    if (rc == SQLITE_OK && op == OP_UPDATE_IF)
        rc = bind_text(st, 6, expected_etag);
    if (rc != SQLITE_OK)
        return db_fail(s, st, rc, what, table);

    rc = step_write(st);
    if (op == OP_INSERT && rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        finish(st);
        return DPS_STORE_EXISTS;
    }
    if (rc != SQLITE_DONE)
        return db_fail(s, st, rc, what, table);
    int changed = sqlite3_changes(s->db);
    finish(st);
    if (op == OP_UPDATE_IF && changed == 0)
        return explain_no_change(s, c, rec->key);
    return DPS_STORE_OK;
}

static dps_store_result sq_del(dps_store *base, dps_collection c, const char *key,
                               const char *expected_etag)
{
    sqlite_store *s = sq(base);
    const char *table = dps_sqlite_table_name(c);
    int op = expected_etag != NULL ? OP_DELETE_IF : OP_DELETE;
    const char *what = op_templates[op].what;
    sqlite3_stmt *st = s->stmt[c][op];

    int rc = bind_text(st, 1, key);
    if (rc == SQLITE_OK && op == OP_DELETE_IF)
        rc = bind_text(st, 2, expected_etag);
    if (rc != SQLITE_OK)
        return db_fail(s, st, rc, what, table);
    rc = step_write(st);
    if (rc != SQLITE_DONE)
        return db_fail(s, st, rc, what, table);
    int changed = sqlite3_changes(s->db);
    finish(st);
    if (changed > 0)
        return DPS_STORE_OK;
    if (op == OP_DELETE)
        return DPS_STORE_NOT_FOUND;
    return explain_no_change(s, c, key);
}

static void free_items(dps_record *items, size_t n)
{
    dps_record_list l = {.items = items, .count = n, .more = false};
    dps_record_list_free(&l);
}

static dps_store_result sq_list(dps_store *base, dps_collection c, const char *group,
                                const char *after_key, size_t limit, dps_record_list *out)
{
    sqlite_store *s = sq(base);
    const char *table = dps_sqlite_table_name(c);
    int op = group != NULL ? OP_LIST_GROUP : OP_LIST;
    const char *what = op_templates[op].what;
    sqlite3_stmt *st = s->stmt[c][op];
    /* Keys are never empty, so "after the empty string" means from the start. */
    const char *after = after_key != NULL ? after_key : "";

    /* One row more than asked for tells whether another page follows. */
    int idx = 1;
    int rc = SQLITE_OK;
    if (group != NULL)
        rc = bind_text(st, idx++, group);
    if (rc == SQLITE_OK)
        rc = bind_text(st, idx++, after);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, idx, (sqlite3_int64)limit + 1);
    if (rc != SQLITE_OK)
        return db_fail(s, st, rc, what, table);

    dps_record *items = calloc(limit, sizeof *items);
    if (items == NULL) {
        finish(st);
        log_error("store: %s on %s: out of memory", what, table);
        return DPS_STORE_ERROR;
    }
    size_t n = 0;
    bool more = false;
    for (;;) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            free_items(items, n);
            return db_fail(s, st, rc, what, table);
        }
        if (n == limit) {
            more = true;
            break;
        }
        dps_record *r = &items[n++];
        if (dup_column(st, 0, &r->key) != 0 || r->key == NULL || read_row(st, 1, r) != 0) {
            finish(st);
            free_items(items, n);
            log_error("store: %s on %s: cannot copy a record (out of memory)", what, table);
            return DPS_STORE_ERROR;
        }
    }
    finish(st);
    if (n == 0) {
        free(items);
        items = NULL;
    }
    out->items = items;
    out->count = n;
    out->more = more;
    return DPS_STORE_OK;
}

static dps_store_result sq_count(dps_store *base, dps_collection c, size_t *out)
{
    sqlite_store *s = sq(base);
    const char *table = dps_sqlite_table_name(c);
    sqlite3_stmt *st = s->stmt[c][OP_COUNT];
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        return db_fail(s, st, rc, "count", table);
    sqlite3_int64 n = sqlite3_column_int64(st, 0);
    finish(st);
    if (n < 0) { /* count(*) is never negative; guard the cast anyway */
        log_error("store: count on %s gave %lld", table, (long long)n);
        return DPS_STORE_ERROR;
    }
    *out = (size_t)n;
    return DPS_STORE_OK;
}

static dps_store_result sq_meta_get(dps_store *base, const char *name, char **value)
{
    sqlite_store *s = sq(base);
    sqlite3_stmt *st = s->meta_get;
    int rc = bind_text(st, 1, name);
    if (rc != SQLITE_OK)
        return db_fail(s, st, rc, "get", "meta");
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        finish(st);
        return DPS_STORE_NOT_FOUND;
    }
    if (rc != SQLITE_ROW)
        return db_fail(s, st, rc, "get", "meta");
    char *v = NULL;
    if (dup_column(st, 0, &v) != 0 || v == NULL) {
        finish(st);
        free(v);
        log_error("store: get on meta: cannot copy the value (out of memory)");
        return DPS_STORE_ERROR;
    }
    finish(st);
    *value = v;
    return DPS_STORE_OK;
}

static dps_store_result sq_meta_set(dps_store *base, const char *name, const char *value)
{
    sqlite_store *s = sq(base);
    sqlite3_stmt *st = s->meta_set;
    int rc = bind_text(st, 1, name);
    if (rc == SQLITE_OK)
        rc = bind_text(st, 2, value);
    if (rc != SQLITE_OK)
        return db_fail(s, st, rc, "set", "meta");
    rc = step_write(st);
    if (rc != SQLITE_DONE)
        return db_fail(s, st, rc, "set", "meta");
    finish(st);
    return DPS_STORE_OK;
}

static void sq_close(dps_store *base)
{
    sqlite_store *s = sq(base);
    for (int c = 0; c < DPS_COLL_COUNT; c++)
        for (int op = 0; op < OP__N; op++)
            (void)sqlite3_finalize(s->stmt[c][op]); /* NULL is a no-op */
    (void)sqlite3_finalize(s->meta_get);
    (void)sqlite3_finalize(s->meta_set);
    /* With every statement finalized, close cannot be refused as busy; a
     * failure here is still worth a line, as the WAL may be left behind. */
    if (s->db != NULL && sqlite3_close(s->db) != SQLITE_OK)
        log_error("store: closing the database failed: %s", sqlite3_errmsg(s->db));
    free(s);
}

static const dps_store_ops sqlite_ops = {
    .name = "sqlite",
    .get = sq_get,
    .put = sq_put,
    .del = sq_del,
    .list = sq_list,
    .count = sq_count,
    .meta_get = sq_meta_get,
    .meta_set = sq_meta_set,
    .close = sq_close,
};

static int prepare_one(sqlite3 *db, const char *sql, sqlite3_stmt **out, char *err,
                       size_t errlen)
{
    /* PERSISTENT: these statements live as long as the connection. */
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot prepare \"%.80s\": %s", sql, sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}

static int prepare_statements(sqlite_store *s, char *err, size_t errlen)
{
    char sql[512];
    for (int c = 0; c < DPS_COLL_COUNT; c++) {
        const char *table = dps_sqlite_table_name((dps_collection)c);
        for (int op = 0; op < OP__N; op++) {
            const op_template *t = &op_templates[op];
            int n = snprintf(sql, sizeof sql, "%s%s%s", t->head, table, t->tail);
            if (n < 0 || (size_t)n >= sizeof sql) {
                snprintf(err, errlen, "statement text too long (%s on %s)", t->what, table);
                return -1;
            }
            if (prepare_one(s->db, sql, &s->stmt[c][op], err, errlen) != 0)
                return -1;
        }
    }
    if (prepare_one(s->db, "SELECT value FROM meta WHERE name = ?1", &s->meta_get, err,
                    errlen) != 0 ||
        prepare_one(s->db,
                    "INSERT INTO meta (name, value) VALUES (?1, ?2)"
                    " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    &s->meta_set, err, errlen) != 0)
        return -1;
    return 0;
}

dps_store *dps_store_sqlite_open(const char *path, char *err, size_t errlen)
{
    sqlite_store *s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->base.ops = &sqlite_ops;
    s->db = dps_sqlite_connect(path, err, errlen);
    if (s->db == NULL) {
        free(s);
        return NULL;
    }
    char why[256] = "";
    if (prepare_statements(s, why, sizeof why) != 0) {
        snprintf(err, errlen, "store %s: %s", path, why);
        sq_close(&s->base);
        return NULL;
    }
    log_debug("store: opened %s (sqlite %s, schema %d)", path, sqlite3_libversion(),
              dps_sqlite_schema_version());
    return &s->base;
}
