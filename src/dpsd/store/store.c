/* The backend-neutral half of the store: choosing a backend from the store
 * URL, checking arguments once for every backend, dispatching through the
 * ops table, and freeing what the store hands out. */
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/daemon.h"
#include "common/errtext.h"
#include "common/log.h"
#include "common/secret.h"

/* Keys are IDs (at most 128 characters in DPS) or host names (at most 253);
 * anything far longer is a caller bug, refused before it reaches the
 * database. */
#define STORE_KEY_MAX 1024

static const char sqlite_scheme[] = "sqlite:";

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

dps_store *dps_store_open(const char *url, char *err, size_t errlen)
{
    char scratch[256];
    if (err == NULL || errlen == 0) {
        err = scratch;
        errlen = sizeof scratch;
    }
    err[0] = '\0';
    if (url == NULL || url[0] == '\0') {
        snprintf(err, errlen, "no store given");
        return NULL;
    }
    const char *path = url;
    if (has_prefix(url, sqlite_scheme)) {
        path = url + strlen(sqlite_scheme);
        /* "sqlite://x" reads like a URL with a host; rather than guess whether
         * "/x" or "x" was meant, ask for the one documented form. */
        if (has_prefix(path, "//")) {
            snprintf(err, errlen, "store URL %s: write sqlite:PATH (no \"//\")", url);
            return NULL;
        }
    } else if (has_prefix(url, "postgres:") || has_prefix(url, "postgresql:")) {
        snprintf(err, errlen, "store URL %s: the PostgreSQL store is not available yet", url);
        return NULL;
    }
    if (path[0] == '\0') {
        snprintf(err, errlen, "store URL %s names no file", url);
        return NULL;
    }
    /* SQLite treats this name as a private in-memory database, which would
     * silently lose every write at exit. */
    if (strcmp(path, ":memory:") == 0) {
        snprintf(err, errlen, "store %s: an in-memory store is not durable", url);
        return NULL;
    }
    return dps_store_sqlite_open(path, err, errlen);
}

dps_store *dps_store_open_shown(const char *url, char *err, size_t errlen)
{
    char reason[512] = "";
    dps_store *s = dps_store_open(url, reason, sizeof reason);
    if (s == NULL) {
        char shown[600];
        dps_daemon_store_display(url, shown, sizeof shown);
        dps_set_err(err, errlen, "cannot open store %s: %s", shown, reason);
    }
    return s;
}

void dps_store_close(dps_store **s)
{
    if (s == NULL || *s == NULL)
        return;
    dps_store *st = *s;
    *s = NULL;
    st->ops->close(st);
}

static bool valid_store(const dps_store *s, dps_collection c)
{
    return s != NULL && s->ops != NULL && (int)c >= 0 && c < DPS_COLL_COUNT;
}

static bool valid_key(const char *key)
{
    return key != NULL && key[0] != '\0' && strnlen(key, STORE_KEY_MAX + 1) <= STORE_KEY_MAX;
}

/* Bad arguments are bugs in dpsd itself; they are logged and refused, never
 * allowed to reach SQL or to take the daemon down. */
static dps_store_result bad_args(const char *fn)
{
    log_error("store: invalid arguments to %s", fn);
    return DPS_STORE_ERROR;
}

dps_store_result dps_store_get(dps_store *s, dps_collection c, const char *key,
                               dps_record *out)
{
    if (out != NULL)
        memset(out, 0, sizeof *out);
    if (!valid_store(s, c) || !valid_key(key) || out == NULL)
        return bad_args(__func__);
    return s->ops->get(s, c, key, out);
}

dps_store_result dps_store_put(dps_store *s, dps_collection c, const dps_record *rec,
                               dps_put_mode mode, const char *expected_etag)
{
    if (!valid_store(s, c) || rec == NULL || !valid_key(rec->key) || rec->doc == NULL ||
        rec->etag == NULL || rec->etag[0] == '\0')
        return bad_args(__func__);
    if (mode != DPS_PUT_CREATE && mode != DPS_PUT_UPSERT && mode != DPS_PUT_IF_ETAG)
        return bad_args(__func__);
    if (mode == DPS_PUT_IF_ETAG && expected_etag == NULL)
        return bad_args(__func__);
    return s->ops->put(s, c, rec, mode, expected_etag);
}

dps_store_result dps_store_delete(dps_store *s, dps_collection c, const char *key,
                                  const char *expected_etag)
{
    if (!valid_store(s, c) || !valid_key(key))
        return bad_args(__func__);
    return s->ops->del(s, c, key, expected_etag);
}

dps_store_result dps_store_list(dps_store *s, dps_collection c, const char *group,
                                const char *after_key, size_t limit, dps_record_list *out)
{
    if (out != NULL)
        memset(out, 0, sizeof *out);
    if (!valid_store(s, c) || out == NULL || limit == 0)
        return bad_args(__func__);
    if (limit > DPS_STORE_LIST_MAX)
        limit = DPS_STORE_LIST_MAX;
    return s->ops->list(s, c, group, after_key, limit, out);
}

dps_store_result dps_store_count(dps_store *s, dps_collection c, size_t *out)
{
    if (out != NULL)
        *out = 0;
    if (!valid_store(s, c) || out == NULL)
        return bad_args(__func__);
    return s->ops->count(s, c, out);
}

dps_store_result dps_store_meta_get(dps_store *s, const char *name, char **value)
{
    if (value != NULL)
        *value = NULL;
    if (!valid_store(s, DPS_COLL_ENROLLMENT) || !valid_key(name) || value == NULL)
        return bad_args(__func__);
    return s->ops->meta_get(s, name, value);
}

dps_store_result dps_store_meta_set(dps_store *s, const char *name, const char *value)
{
    if (!valid_store(s, DPS_COLL_ENROLLMENT) || !valid_key(name) || value == NULL)
        return bad_args(__func__);
    return s->ops->meta_set(s, name, value);
}

void dps_record_free(dps_record *r)
{
    if (r == NULL)
        return;
    free(r->key);
    /* Documents carry secrets (symmetric keys of enrollments and groups). */
    dps_free_secret_string(r->doc);
    free(r->etag);
    free(r->group);
    memset(r, 0, sizeof *r);
}

void dps_record_list_free(dps_record_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->count; i++)
        dps_record_free(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

const char *dps_store_result_name(dps_store_result r)
{
    switch (r) {
    case DPS_STORE_OK:
        return "ok";
    case DPS_STORE_NOT_FOUND:
        return "not found";
    case DPS_STORE_EXISTS:
        return "exists";
    case DPS_STORE_ETAG_MISMATCH:
        return "etag mismatch";
    case DPS_STORE_ERROR:
        return "error";
    }
    return "unknown";
}
