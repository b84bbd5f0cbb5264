/* What is particular to the SQLite backend: opening (URL forms, bad paths,
 * file mode), the journal settings and schema version left in the file,
 * migrations on reopen, and concurrent conditional writers on one file, as
 * threads with their own handles and as separate processes. */
#include "store_fixture.h"

#include <pthread.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "store/migrations_sqlite.h"

static int file_mode(const char *path)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return (int)(sb.st_mode & 0777);
}

static void test_new_file_is_private(void **state)
{
    store_fixture *f = *state;
    char err[256] = "";
    f->store = dps_store_open(f->path, err, sizeof err);
    assert_non_null(f->store);
    put_ok(f->store, DPS_COLL_ENROLLMENT, "dev1", "{\"key\":\"secret\"}", "e1", NULL);
    assert_int_equal(file_mode(f->path), 0600);
    /* The write-ahead log and its index hold the same secrets. */
    char p[160];
    fixture_file(f, "dps.db-wal", p, sizeof p);
    assert_int_equal(file_mode(p), 0600);
    fixture_file(f, "dps.db-shm", p, sizeof p);
    assert_int_equal(file_mode(p), 0600);
}

static void test_loose_existing_file_is_tightened(void **state)
{
    store_fixture *f = *state;
    FILE *fp = fopen(f->path, "w");
    assert_non_null(fp);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(chmod(f->path, 0644), 0);
    char err[256] = "";
    f->store = dps_store_open(f->path, err, sizeof err);
    assert_non_null(f->store);
    assert_int_equal(file_mode(f->path), 0600);
}

static void test_url_forms(void **state)
{
    store_fixture *f = *state;
    char err[256] = "";
    char url[160];
    snprintf(url, sizeof url, "sqlite:%s", f->path);
    f->store = dps_store_open(url, err, sizeof err);
    assert_non_null(f->store);
    put_ok(f->store, DPS_COLL_LINKED_HUB, "hub", "{}", "e", NULL);
    dps_store_close(&f->store);
    /* The bare path names the same file. */
    f->store = dps_store_open(f->path, err, sizeof err);
    assert_non_null(f->store);
    expect_record(f->store, DPS_COLL_LINKED_HUB, "hub", "{}", "e", NULL);

    static const char *const bad[] = {"", "sqlite:", "sqlite://tmp/x.db", ":memory:",
                                      "sqlite::memory:", "postgres://db/dps",
                                      "postgresql://db/dps"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_null(dps_store_open(bad[i], err, sizeof err));
        assert_true(strlen(err) > 0);
    }
    assert_null(dps_store_open(NULL, err, sizeof err));
    /* Without an error buffer the failure is still just a NULL. */
    assert_null(dps_store_open("", NULL, 0));
}

static void test_missing_directory_is_an_error(void **state)
{
    store_fixture *f = *state;
    char path[160];
    fixture_file(f, "no-such-dir/dps.db", path, sizeof path);
    char err[256] = "";
    assert_null(dps_store_open(path, err, sizeof err));
    assert_non_null(strstr(err, "directory does not exist"));
    assert_non_null(strstr(err, "no-such-dir"));
}

static void test_directory_or_garbage_is_an_error(void **state)
{
    store_fixture *f = *state;
    char err[256] = "";
    assert_null(dps_store_open(f->dir, err, sizeof err));
    assert_non_null(strstr(err, "not a regular file"));

    /* A file that is not a database is reported, and left as it was. */
    FILE *fp = fopen(f->path, "w");
    assert_non_null(fp);
    char junk[4096];
    memset(junk, 'x', sizeof junk);
    assert_int_equal(fwrite(junk, 1, sizeof junk, fp), sizeof junk);
    assert_int_equal(fclose(fp), 0);
    err[0] = '\0';
    assert_null(dps_store_open(f->path, err, sizeof err));
    assert_non_null(strstr(err, "not a database"));
    struct stat sb;
    assert_int_equal(stat(f->path, &sb), 0);
    assert_int_equal(sb.st_size, (off_t)sizeof junk);
}

/* Reads one integer or text PRAGMA through a connection of its own. */
static void raw_pragma(const char *path, const char *sql, char *out, size_t n)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    snprintf(out, n, "%s", (const char *)sqlite3_column_text(st, 0));
    assert_int_equal(sqlite3_finalize(st), SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void test_file_settings_and_schema(void **state)
{
    store_fixture *f = *state;
    char err[256] = "";
    f->store = dps_store_open(f->path, err, sizeof err);
    assert_non_null(f->store);
    char v[64];
    raw_pragma(f->path, "PRAGMA journal_mode", v, sizeof v);
    assert_string_equal(v, "wal");
    raw_pragma(f->path, "PRAGMA user_version", v, sizeof v);
    assert_int_equal(atoi(v), dps_sqlite_schema_version());
    assert_true(dps_sqlite_schema_version() >= 1);
    /* Every collection has its table, and registrations their group index. */
    for (int c = 0; c < DPS_COLL_COUNT; c++) {
        char sql[160];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM sqlite_schema WHERE name = '%s'",
                 dps_sqlite_table_name((dps_collection)c));
        raw_pragma(f->path, sql, v, sizeof v);
        assert_string_equal(v, "1");
    }
    raw_pragma(f->path,
               "SELECT count(*) FROM pragma_index_info('registrations_grp') WHERE name = 'grp'",
               v, sizeof v);
    assert_string_equal(v, "1");
    assert_null(dps_sqlite_table_name(DPS_COLL_COUNT));
}

static void test_reopen_keeps_schema_and_data(void **state)
{
    store_fixture *f = *state;
    char err[256] = "";
    for (int round = 0; round < 3; round++) {
        f->store = dps_store_open(f->path, err, sizeof err);
        if (f->store == NULL)
            fail_msg("reopen %d: %s", round, err);
        char key[16];
        snprintf(key, sizeof key, "dev%d", round);
        put_ok(f->store, DPS_COLL_ENROLLMENT, key, "{}", "e", NULL);
        size_t n = 0;
        assert_int_equal(dps_store_count(f->store, DPS_COLL_ENROLLMENT, &n), DPS_STORE_OK);
        assert_int_equal(n, (size_t)round + 1);
        dps_store_close(&f->store);
        char v[64];
        raw_pragma(f->path, "PRAGMA user_version", v, sizeof v);
        assert_int_equal(atoi(v), dps_sqlite_schema_version());
    }
}

static void test_newer_schema_refused(void **state)
{
    store_fixture *f = *state;
    char err[256] = "";
    f->store = dps_store_open(f->path, err, sizeof err);
    assert_non_null(f->store);
    dps_store_close(&f->store);
    raw_exec(f->path, "PRAGMA user_version = 999");
    assert_null(dps_store_open(f->path, err, sizeof err));
    assert_non_null(strstr(err, "999"));
}

static void test_handles_see_each_others_writes(void **state)
{
    store_fixture *f = *state;
    char err[256] = "";
    f->store = dps_store_open(f->path, err, sizeof err);
    dps_store *other = dps_store_open(f->path, err, sizeof err);
    assert_non_null(f->store);
    assert_non_null(other);
    put_ok(f->store, DPS_COLL_ENROLLMENT, "dev1", "{}", "e1", NULL);
    expect_record(other, DPS_COLL_ENROLLMENT, "dev1", "{}", "e1", NULL);
    dps_record r = make_record("dev1", "{\"v\":2}", "e2", NULL);
    assert_int_equal(dps_store_put(other, DPS_COLL_ENROLLMENT, &r, DPS_PUT_CREATE, NULL),
                     DPS_STORE_EXISTS);
    assert_int_equal(dps_store_put(other, DPS_COLL_ENROLLMENT, &r, DPS_PUT_IF_ETAG, "e1"),
                     DPS_STORE_OK);
    expect_record(f->store, DPS_COLL_ENROLLMENT, "dev1", "{\"v\":2}", "e2", NULL);
    dps_store_close(&other);
}

/* ---- racing openers ---------------------------------------------------- */

#define OPENERS 4

typedef struct {
    const char *path;
    pthread_barrier_t *bar;
    dps_store *store;
    char err[256];
} opener;

static void *open_thread(void *arg)
{
    opener *o = arg;
    (void)pthread_barrier_wait(o->bar);
    o->store = dps_store_open(o->path, o->err, sizeof o->err);
    return NULL;
}

/* Several handles opening a brand-new file at once: each creates or finds
 * the file, switches it to WAL or sees it switched, and the schema is built
 * exactly once (a second run of step 1 would fail on CREATE TABLE). */
static void test_concurrent_first_open(void **state)
{
    store_fixture *f = *state;
    pthread_barrier_t bar;
    assert_int_equal(pthread_barrier_init(&bar, NULL, OPENERS), 0);
    opener o[OPENERS];
    pthread_t t[OPENERS];
    for (int i = 0; i < OPENERS; i++) {
        o[i] = (opener){.path = f->path, .bar = &bar};
        assert_int_equal(pthread_create(&t[i], NULL, open_thread, &o[i]), 0);
    }
    for (int i = 0; i < OPENERS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_int_equal(pthread_barrier_destroy(&bar), 0);
    for (int i = 0; i < OPENERS; i++) {
        if (o[i].store == NULL)
            fail_msg("opener %d: %s", i, o[i].err);
        char key[16];
        snprintf(key, sizeof key, "dev%d", i);
        put_ok(o[i].store, DPS_COLL_ENROLLMENT, key, "{}", "e", NULL);
    }
    size_t n = 0;
    assert_int_equal(dps_store_count(o[0].store, DPS_COLL_ENROLLMENT, &n), DPS_STORE_OK);
    assert_int_equal(n, OPENERS);
    for (int i = 0; i < OPENERS; i++)
        dps_store_close(&o[i].store);
    assert_int_equal(file_mode(f->path), 0600);
}

/* ---- racing writers ---------------------------------------------------- */

#define RACE_KEYS 60

typedef struct {
    dps_store *store;
    const char *tag;        /* the ETag this writer installs */
    /* Both writers start each key together: threads meet at a barrier,
     * processes trade one byte through a pair of pipes. */
    pthread_barrier_t *bar;
    int sync_out, sync_in; /* -1 when unused */
    int wins;
    int mismatches;
    int others;
} racer;

/* For every key, tries to replace version "v0" with its own version. */
static void race_keys(racer *r)
{
    for (int i = 0; i < RACE_KEYS; i++) {
        char key[16];
        snprintf(key, sizeof key, "dev-%03d", i);
        dps_record rec = make_record(key, r->tag, r->tag, NULL);
        if (r->bar != NULL)
            (void)pthread_barrier_wait(r->bar);
        char c = 's';
        if (r->sync_out >= 0 && (write(r->sync_out, &c, 1) != 1 || read(r->sync_in, &c, 1) != 1)) {
            r->others++;
            continue;
        }
        dps_store_result res = dps_store_put(r->store, DPS_COLL_ENROLLMENT, &rec,
                                             DPS_PUT_IF_ETAG, "v0");
        if (res == DPS_STORE_OK)
            r->wins++;
        else if (res == DPS_STORE_ETAG_MISMATCH)
            r->mismatches++;
        else
            r->others++;
    }
}

static void *race_thread(void *arg)
{
    race_keys(arg);
    return NULL;
}

static void seed_race_keys(dps_store *s)
{
    for (int i = 0; i < RACE_KEYS; i++) {
        char key[16];
        snprintf(key, sizeof key, "dev-%03d", i);
        put_ok(s, DPS_COLL_ENROLLMENT, key, "v0", "v0", NULL);
    }
}

/* Every key ended with exactly one writer's version; returns how many
 * carry the given tag. */
static int count_tag(dps_store *s, const char *tag_a, const char *tag_b, const char *which)
{
    int n = 0;
    for (int i = 0; i < RACE_KEYS; i++) {
        char key[16];
        snprintf(key, sizeof key, "dev-%03d", i);
        dps_record got;
        assert_int_equal(dps_store_get(s, DPS_COLL_ENROLLMENT, key, &got), DPS_STORE_OK);
        assert_true(strcmp(got.etag, tag_a) == 0 || strcmp(got.etag, tag_b) == 0);
        assert_string_equal(got.doc, got.etag); /* doc and etag from the same write */
        n += strcmp(got.etag, which) == 0;
        dps_record_free(&got);
    }
    return n;
}

static void test_racing_threads_one_winner(void **state)
{
    store_fixture *f = *state;
    char err[256] = "";
    f->store = dps_store_open(f->path, err, sizeof err);
    assert_non_null(f->store);
    dps_store *other = dps_store_open(f->path, err, sizeof err);
    assert_non_null(other);
    seed_race_keys(f->store);

    pthread_barrier_t bar;
    assert_int_equal(pthread_barrier_init(&bar, NULL, 2), 0);
    racer a = {.store = f->store, .tag = "A", .bar = &bar, .sync_out = -1, .sync_in = -1};
    racer b = {.store = other, .tag = "B", .bar = &bar, .sync_out = -1, .sync_in = -1};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, race_thread, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, race_thread, &b), 0);
    assert_int_equal(pthread_join(ta, NULL), 0);
    assert_int_equal(pthread_join(tb, NULL), 0);
    assert_int_equal(pthread_barrier_destroy(&bar), 0);
    dps_store_close(&other);

    print_message("thread race: A won %d, B won %d\n", a.wins, b.wins);
    assert_int_equal(a.others + b.others, 0);
    assert_int_equal(a.wins + b.wins, RACE_KEYS);
    assert_int_equal(a.mismatches + b.mismatches, RACE_KEYS);
    assert_int_equal(count_tag(f->store, "A", "B", "A"), a.wins);
}

static void test_racing_processes_one_winner(void **state)
{
    store_fixture *f = *state;
    char err[256] = "";
    f->store = dps_store_open(f->path, err, sizeof err);
    assert_non_null(f->store);
    seed_race_keys(f->store);
    /* A SQLite connection must not cross fork(): close ours first and let
     * each process open its own. */
    dps_store_close(&f->store);

    int p2c[2], c2p[2];
    assert_int_equal(pipe(p2c), 0);
    assert_int_equal(pipe(c2p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Child: B. Exit code = wins, or 255 on any unexpected result. */
        dps_store *s = dps_store_open(f->path, NULL, 0);
        if (s == NULL)
            _exit(255);
        racer b = {.store = s, .tag = "B", .sync_out = c2p[1], .sync_in = p2c[0]};
        race_keys(&b);
        dps_store_close(&s);
        _exit(b.others == 0 && b.wins + b.mismatches == RACE_KEYS ? b.wins : 255);
    }
    f->store = dps_store_open(f->path, err, sizeof err);
    assert_non_null(f->store);
    racer a = {.store = f->store, .tag = "A", .sync_out = p2c[1], .sync_in = c2p[0]};
    race_keys(&a);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(close(p2c[i]), 0);
        assert_int_equal(close(c2p[i]), 0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    int b_wins = WEXITSTATUS(status);
    assert_true(b_wins != 255);
    print_message("process race: A won %d, B won %d\n", a.wins, b_wins);

    assert_int_equal(a.others, 0);
    assert_int_equal(a.wins + b_wins, RACE_KEYS);
    assert_int_equal(count_tag(f->store, "A", "B", "A"), a.wins);
    assert_int_equal(count_tag(f->store, "A", "B", "B"), b_wins);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup_dir, fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_new_file_is_private),
        T(test_loose_existing_file_is_tightened),
        T(test_url_forms),
        T(test_missing_directory_is_an_error),
        T(test_directory_or_garbage_is_an_error),
        T(test_file_settings_and_schema),
        T(test_reopen_keeps_schema_and_data),
        T(test_newer_schema_refused),
        T(test_handles_see_each_others_writes),
        T(test_concurrent_first_open),
        T(test_racing_threads_one_winner),
        T(test_racing_processes_one_winner),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
