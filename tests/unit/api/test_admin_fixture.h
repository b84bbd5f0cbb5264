/* Shared by the test_admin_*.c tests: a real SQLite store in a temporary
 * directory, a hand-filled dpsd_ctx, the owner policy with a known key, and
 * requests built as dps_http_request structs carrying a valid SAS token. */
#ifndef TEST_ADMIN_FIXTURE_H
#define TEST_ADMIN_FIXTURE_H

#include <dirent.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/admin_api.h"
#include "api/service_auth.h"
#include "common/sas.h"
#include "common/timeutil.h"
#include "dpsd.h"
#include "http/request.h"
#include "store/store.h"

#define FX_OWNER_KEY "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM="
#define FX_SERVICE_HOST "dps.test.example"

typedef struct {
    char dir[64];
    dpsd_ctx ctx;
} admin_fx;

/* One finished call: the response and its body parsed (NULL when empty). */
typedef struct {
    dps_http_response res;
    bool handled;
    json_t *json;
} fx_result;

static inline void fx_put_doc(admin_fx *fx, dps_collection coll, const char *key,
                              const char *doc)
{
    dps_record rec = {.key = (char *)key, .doc = (char *)doc, .etag = "IiJ0ZXN0In0i",
                      .group = NULL};
    assert_int_equal(dps_store_put(fx->ctx.store, coll, &rec, DPS_PUT_UPSERT, NULL),
                     DPS_STORE_OK);
}

static inline void fx_put_policy(admin_fx *fx, const char *name, const char *key_b64,
                          const char *rights)
{
    json_t *doc = json_pack("{s:s, s:s, s:s, s:s}", "keyName", name, "primaryKey", key_b64,
                            "secondaryKey", key_b64, "rights", rights);
    assert_non_null(doc);
    char *text = json_dumps(doc, 0);
    char lower[80];
    size_t n = strlen(name);
    assert_true(n < sizeof lower);
    for (size_t i = 0; i <= n; i++)
        lower[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
    fx_put_doc(fx, DPS_COLL_ACCESS_POLICY, lower, text);
    free(text);
    json_decref(doc);
}

static inline int fx_setup(void **state)
{
    admin_fx *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/dps-admin-test-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    char url[128], err[256];
    snprintf(url, sizeof url, "sqlite:%s/dps.db", fx->dir);
    fx->ctx.store = dps_store_open(url, err, sizeof err);
    if (fx->ctx.store == NULL)
        fail_msg("dps_store_open: %s", err);
    snprintf(fx->ctx.id_scope, sizeof fx->ctx.id_scope, "0ne00A1B2C3");
    snprintf(fx->ctx.service_host, sizeof fx->ctx.service_host, FX_SERVICE_HOST);
    snprintf(fx->ctx.device_host, sizeof fx->ctx.device_host, "global.test.example");
    snprintf(fx->ctx.https_url, sizeof fx->ctx.https_url, "https://127.0.0.1:8443");
    snprintf(fx->ctx.ca_cert_path, sizeof fx->ctx.ca_cert_path, "/var/lib/opendps/ca.pem");
    fx_put_policy(fx, DPS_OWNER_POLICY, FX_OWNER_KEY, DPS_OWNER_RIGHTS);
    *state = fx;
    return 0;
}

static inline int fx_teardown(void **state)
{
    admin_fx *fx = *state;
    dps_store_close(&fx->ctx.store);
    DIR *d = opendir(fx->dir);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char p[512];
            snprintf(p, sizeof p, "%s/%s", fx->dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(fx->dir);
    free(fx);
    return 0;
}

/* Calls the admin API like the router would. policy/key sign the SAS token
 * (policy NULL: no Authorization header); if_match and body may be NULL. */
static inline fx_result fx_call_as(admin_fx *fx, const char *policy, const char *key,
                            dps_http_method method, const char *path, const char *query,
                            const char *if_match, const char *body)
{
    fx_result out;
    memset(&out, 0, sizeof out);
    dps_http_request req;
    memset(&req, 0, sizeof req);
    dps_http_header hdrs[3];
    size_t nh = 0;
    char *token = NULL;
    if (policy != NULL) {
        token = dps_sas_build(FX_SERVICE_HOST, key, policy, dps_now_s() + 3600);
        assert_non_null(token);
        hdrs[nh++] = (dps_http_header){"Authorization", token};
    }
    if (if_match != NULL)
        hdrs[nh++] = (dps_http_header){"If-Match", if_match};
    hdrs[nh++] = (dps_http_header){"Content-Type", "application/json"};
    req.method = method;
    req.path = path;
    req.query = query;
    req.headers = hdrs;
    req.nheaders = nh;
    req.body = body;
    req.body_len = body ? strlen(body) : 0;
    req.peer = "test";
    /* Split the path the way the server glue does: empty segments dropped.
     * Tests use no percent escapes, so no decoding is needed. */
    char *copy = strdup(path);
    assert_non_null(copy);
    for (char *save = NULL, *s = strtok_r(copy, "/", &save); s != NULL;
         s = strtok_r(NULL, "/", &save)) {
        assert_true(req.nsegments < DPS_HTTP_MAX_SEGMENTS);
        req.segments[req.nsegments++] = s;
    }
    out.handled = dps_admin_api_handle(&fx->ctx, &req, &out.res);
    if (out.res.body != NULL && out.res.body_len > 0)
        out.json = json_loadb(out.res.body, out.res.body_len, 0, NULL);
    free(copy);
    free(token);
    return out;
}

static inline fx_result fx_call(admin_fx *fx, dps_http_method method, const char *path,
                         const char *query, const char *if_match, const char *body)
{
    return fx_call_as(fx, DPS_OWNER_POLICY, FX_OWNER_KEY, method, path, query, if_match,
                      body);
}

static inline void fx_free(fx_result *r)
{
    json_decref(r->json);
    dps_http_response_free(&r->res);
    memset(r, 0, sizeof *r);
}

/* The errorCode of an error answer, 0 when there is none. */
static inline long long fx_error_code(const fx_result *r)
{
    return r->json ? (long long)json_integer_value(json_object_get(r->json, "errorCode")) : 0;
}

/* Whether the raw response body contains needle (bodies are not C strings). */
static inline bool fx_body_has(const fx_result *r, const char *needle)
{
    return r->res.body != NULL &&
           memmem(r->res.body, r->res.body_len, needle, strlen(needle)) != NULL;
}

static inline const char *fx_str(const fx_result *r, const char *member)
{
    return json_string_value(json_object_get(r->json, member));
}

/* Asserts status and, for errors, the DPS errorCode. */
#define fx_expect(r, want_status, want_code)                                                \
    do {                                                                                    \
        assert_int_equal((r)->res.status, (want_status));                                   \
        if ((want_code) != 0)                                                               \
            assert_int_equal(fx_error_code(r), (want_code));                                \
    } while (0)

#endif
