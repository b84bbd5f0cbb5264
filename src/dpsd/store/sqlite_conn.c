/* Opening a connection to the store's SQLite file: the file itself (created
 * private, checked to be a regular file), the connection settings every
 * handle needs, and the schema migrations. */
#include "store/sqlite_conn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "store/migrations_sqlite.h"

/* How long a statement waits for another writer's lock before failing. Writes
 * are one short statement each, so waiting this long means something is
 * badly wrong (a stuck process holding a transaction open). */
#define SQ_BUSY_TIMEOUT_MS 5000

/* Makes sure the database file exists with mode 0600 before SQLite sees it:
 * SQLite would create it with 0644, and documents hold secrets (symmetric
 * keys). The -wal and -shm files SQLite creates copy the database file's
 * mode. An existing file is only inspected (via its path) and not opened,
 * because closing any descriptor of a file drops the POSIX locks another
 * SQLite connection in this process holds on it. */
static int prepare_file(const char *path, char *err, size_t errlen)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        if (errno != ENOENT) {
            snprintf(err, errlen, "cannot inspect store file %s: %s", path, strerror(errno));
            return -1;
        }
        int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 && errno == EEXIST)
            return prepare_file(path, err, errlen); /* another opener was faster */
        if (fd < 0 && errno == ENOENT) {
            snprintf(err, errlen, "cannot create store file %s: its directory does not exist",
                     path);
            return -1;
        }
        if (fd < 0) {
            snprintf(err, errlen, "cannot create store file %s: %s", path, strerror(errno));
            return -1;
        }
        if (close(fd) != 0) {
            snprintf(err, errlen, "cannot create store file %s: %s", path, strerror(errno));
            return -1;
        }
        return 0;
    }
    if (!S_ISREG(sb.st_mode)) {
        snprintf(err, errlen, "store path %s is not a regular file", path);
        return -1;
    }
    if ((sb.st_mode & 077) != 0) {
        if (chmod(path, 0600) == 0)
            log_warn("store: %s was readable by others; mode set to 0600", path);
        else
            log_warn("store: %s is readable by others and its mode cannot be changed: %s",
                     path, strerror(errno));
    }
    return 0;
}

#define PRAGMA_BUSY_RETRIES 500
#define PRAGMA_BUSY_SLEEP_MS 10

/* Runs a PRAGMA; when expect is not NULL, its first result must equal it. */
static int run_pragma(sqlite3 *db, const char *sql, const char *expect, char *err,
                      size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", sql, sqlite3_errmsg(db));
        return -1;
    }
    rc = sqlite3_step(st);
    /* Switching a new file to WAL needs an exclusive lock; when several
     * handles open a fresh file at once, SQLite can answer SQLITE_BUSY here
     * without calling the busy handler (to avoid a lock-upgrade deadlock).
     * Waiting a little and trying again is the cure; bounded by
     * PRAGMA_BUSY_RETRIES x PRAGMA_BUSY_SLEEP_MS. */
    for (int i = 0; (rc & 0xFF) == SQLITE_BUSY && i < PRAGMA_BUSY_RETRIES; i++) {
        sqlite3_reset(st);
        sqlite3_sleep(PRAGMA_BUSY_SLEEP_MS);
        rc = sqlite3_step(st);
    }
    int ok = rc == SQLITE_ROW || rc == SQLITE_DONE;
    if (!ok)
        snprintf(err, errlen, "%s: %s", sql, sqlite3_errmsg(db));
    if (ok && expect != NULL) {
        const unsigned char *got = rc == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
        if (got == NULL || strcasecmp((const char *)got, expect) != 0) {
            snprintf(err, errlen, "%s: got %s, need %s", sql,
                     got != NULL ? (const char *)got : "nothing", expect);
            ok = 0;
        }
    }
    (void)sqlite3_finalize(st); /* repeats the step's result, handled above */
    return ok ? 0 : -1;
}

static int configure(sqlite3 *db, char *err, size_t errlen)
{
    if (sqlite3_busy_timeout(db, SQ_BUSY_TIMEOUT_MS) != SQLITE_OK ||
        sqlite3_extended_result_codes(db, 1) != SQLITE_OK) {
        snprintf(err, errlen, "cannot configure the connection: %s", sqlite3_errmsg(db));
        return -1;
    }
    /* WAL: readers never block the writer. synchronous=FULL: the WAL is
     * fsynced at every commit, so an acknowledged write survives power loss
     * (NORMAL would be faster but may lose the last commits). secure_delete
     * FAST: freed pages holding deleted secrets are zeroed when that costs no
     * extra I/O. The values are read back: a PRAGMA silently ignores what the
     * build or the file cannot do. */
    if (run_pragma(db, "PRAGMA journal_mode = WAL", "wal", err, errlen) != 0 ||
        run_pragma(db, "PRAGMA synchronous = FULL", NULL, err, errlen) != 0 ||
        run_pragma(db, "PRAGMA synchronous", "2", err, errlen) != 0 ||
        run_pragma(db, "PRAGMA foreign_keys = ON", NULL, err, errlen) != 0 ||
        run_pragma(db, "PRAGMA foreign_keys", "1", err, errlen) != 0 ||
        run_pragma(db, "PRAGMA secure_delete = FAST", NULL, err, errlen) != 0)
        return -1;
    return 0;
}

sqlite3 *dps_sqlite_connect(const char *path, char *err, size_t errlen)
{
    if (prepare_file(path, err, errlen) != 0)
        return NULL;
    sqlite3 *db = NULL;
    /* No SQLITE_OPEN_CREATE: prepare_file made the file with the right mode,
     * and if it vanished since, failing beats recreating it as 0644. */
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", path,
                 db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        (void)sqlite3_close(db); /* a handle comes back even on failure */
        return NULL;
    }
    /* These messages come from SQLite and do not name the file; add it. */
    char why[256] = "";
    if (configure(db, why, sizeof why) != 0 || dps_sqlite_migrate(db, why, sizeof why) != 0) {
        snprintf(err, errlen, "store %s: %s", path, why);
        if (sqlite3_close(db) != SQLITE_OK)
            log_error("store: closing %s after a failed open: %s", path, sqlite3_errmsg(db));
        return NULL;
    }
    return db;
}
