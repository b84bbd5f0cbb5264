/* Shared by the store tests: a fresh temporary directory per test holding a
 * real SQLite file, removed again afterwards. */
#ifndef DPS_TEST_STORE_FIXTURE_H
#define DPS_TEST_STORE_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "store/store.h"

typedef struct {
    char dir[64];
    char path[128];
    dps_store *store;
} store_fixture;

static inline void fixture_file(const store_fixture *f, const char *name, char *out, size_t n)
{
    int len = snprintf(out, n, "%s/%s", f->dir, name);
    assert_true(len > 0 && (size_t)len < n);
}

/* Creates the directory only; for tests that open the store themselves. */
static inline int fixture_setup_dir(void **state)
{
    store_fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    strcpy(f->dir, "/tmp/dps-store-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    fixture_file(f, "dps.db", f->path, sizeof f->path);
    dps_log_set_level(DPS_LOG_WARN);
    *state = f;
    return 0;
}

static inline int fixture_setup(void **state)
{
    if (fixture_setup_dir(state) != 0)
        return -1;
    store_fixture *f = *state;
    char err[256] = "";
    f->store = dps_store_open(f->path, err, sizeof err);
    if (f->store == NULL)
        fail_msg("open %s: %s", f->path, err);
    return 0;
}

/* Removes the database and whatever else a test left in the directory. */
static inline int fixture_teardown(void **state)
{
    store_fixture *f = *state;
    dps_store_close(&f->store);
    static const char *const names[] = {"dps.db", "dps.db-wal", "dps.db-shm", "dps.db-journal",
                                        "other.db", "other.db-wal", "other.db-shm"};
    char p[160];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        fixture_file(f, names[i], p, sizeof p);
        (void)unlink(p); /* most of these do not exist */
    }
    assert_int_equal(rmdir(f->dir), 0);
    free(f);
    return 0;
}

static inline dps_record make_record(const char *key, const char *doc, const char *etag,
                                     const char *group)
{
    dps_record r = {.key = (char *)key, .doc = (char *)doc, .etag = (char *)etag,
                    .group = (char *)group};
    return r;
}

static inline void put_ok(dps_store *s, dps_collection c, const char *key, const char *doc,
                          const char *etag, const char *group)
{
    dps_record r = make_record(key, doc, etag, group);
    assert_int_equal(dps_store_put(s, c, &r, DPS_PUT_CREATE, NULL), DPS_STORE_OK);
}

/* Asserts the stored record has this doc and etag. */
static inline void expect_record(dps_store *s, dps_collection c, const char *key,
                                 const char *doc, const char *etag, const char *group)
{
    dps_record got;
    assert_int_equal(dps_store_get(s, c, key, &got), DPS_STORE_OK);
    assert_string_equal(got.key, key);
    assert_string_equal(got.doc, doc);
    assert_string_equal(got.etag, etag);
    if (group == NULL)
        assert_null(got.group);
    else
        assert_string_equal(got.group, group);
    dps_record_free(&got);
}

#endif
