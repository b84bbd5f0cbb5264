/* /admin/policies[/{name}[/regenerateKey]] and /admin/connectionString: the
 * shared access policies service callers sign with (service-api.md §10.3).
 * Documents follow service_auth.h. ServiceConfig holders may read keys, as
 * `az iot dps policy list` shows them. One invariant: some policy always
 * holds ServiceConfig, or nobody could administer the instance again. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/admin_internal.h"
#include "api/errors.h"
#include "api/service_auth.h"
#include "common/access_policy.h"
#include "common/log.h"
#include "common/secret.h"

#define WHAT "policy"
#define POLICY_NAME_MAX 64
#define KEY_MIN_BYTES 16
#define KEY_MAX_BYTES 64
#define KEY_NEW_BYTES 32

static const char *const put_members[] = {
    "keyName", "rights", "primaryKey", "secondaryKey", "etag", NULL,
};

static bool policy_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > POLICY_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

static bool key_valid(const char *b64)
{
    return dps_access_policy_key_valid(b64, KEY_MIN_BYTES, KEY_MAX_BYTES);
}

/* A fresh random key, base64 (free with dps_free_secret_string). */
static char *new_key(void)
{
    return dps_access_policy_new_key(KEY_NEW_BYTES);
}

static bool doc_has_service_config(const json_t *doc)
{
    unsigned mask = 0;
    const char *rights = json_string_value(json_object_get(doc, "rights"));
    return rights != NULL && dps_rights_parse(rights, &mask) == 0 &&
           (mask & DPS_RIGHT_SERVICE_CONFIG) != 0;
}

/* Looks for a policy other than except_key holding ServiceConfig. */
typedef struct {
    const char *except_key;
    bool found;
} admin_search;

static bool find_admin(const dps_record *rec, void *arg)
{
    admin_search *s = arg;
    if (strcmp(rec->key, s->except_key) != 0) {
        json_t *doc = json_loads(rec->doc, 0, NULL);
        s->found = doc != NULL && doc_has_service_config(doc);
        json_decref(doc);
    }
    return !s->found;
}

/* Refuses (409, -1) when removing ServiceConfig from key would leave no
 * policy holding it. */
static int keep_an_admin(dpsd_ctx *ctx, const char *name, const char *key,
                         dps_http_response *res)
{
    admin_search search = {.except_key = key, .found = false};
    dps_store_result r = dps_admin__each(ctx, DPS_COLL_ACCESS_POLICY, find_admin, &search);
    if (r != DPS_STORE_OK) {
        dps_api_error(res, DPS_ERR_INTERNAL, "cannot read the policies");
        return -1;
    }
    if (!search.found) {
        dps_api_error(res, DPS_ERR_CONFLICT,
                      "policy '%s' is the last one holding ServiceConfig; grant it to "
                      "another policy first", name);
        return -1;
    }
    return 0;
}

static void reply_doc(json_t *doc, dps_http_response *res)
{
    dps_http_response_set_json(res, 200, doc);
}

static void list_policies(dpsd_ctx *ctx, dps_http_response *res)
{
    dps_admin__list(ctx, DPS_COLL_ACCESS_POLICY, NULL, "cannot list policies", res);
}

static void get_policy(dpsd_ctx *ctx, const dps_http_request *req, const char *name,
                       const char *key, dps_http_response *res)
{
    (void)req;
    dps_record rec = {0};
    dps_store_result r = dps_store_get(ctx->store, DPS_COLL_ACCESS_POLICY, key, &rec);
    json_t *doc = r == DPS_STORE_OK ? dps_admin__record_doc(&rec) : NULL;
    if (r != DPS_STORE_OK)
        dps_admin__store_error(res, r, WHAT, name);
    else if (doc == NULL)
        dps_api_error(res, DPS_ERR_INTERNAL, "policy '%s' is corrupt", name);
    else
        reply_doc(doc, res);
    json_decref(doc);
    dps_record_free(&rec);
}

/* A key member of the PUT body: the given key, the stored one (update), or a
 * new one (create). NULL with res filled on a problem. */
static char *pick_key(const json_t *body, const char *member, const json_t *old,
                      dps_http_response *res)
{
    const json_t *v = json_object_get(body, member);
    if (v != NULL && !json_is_null(v)) {
        const char *k = json_string_value(v);
        if (k == NULL || !key_valid(k)) {
            dps_api_error(res, DPS_ERR_INVALID_FIELD, "%s must be base64 of %d..%d bytes",
                          member, KEY_MIN_BYTES, KEY_MAX_BYTES);
            return NULL;
        }
        return strdup(k);
    }
    const char *kept = old ? json_string_value(json_object_get(old, member)) : NULL;
    char *k = kept ? strdup(kept) : new_key();
    if (k == NULL)
        dps_api_error(res, DPS_ERR_INTERNAL, "cannot make a key");
    return k;
}

/* The new policy document for a PUT, or NULL with res filled. old is the
 * stored document on an update. */
static json_t *build_policy(const json_t *body, const char *name, const json_t *old,
                            const char *etag, dps_http_response *res)
{
    const json_t *kn = json_object_get(body, "keyName");
    if (kn != NULL && (!json_is_string(kn) || strcasecmp(json_string_value(kn), name) != 0)) {
        dps_api_error(res, DPS_ERR_ID_MISMATCH, "body keyName differs from the path");
        return NULL;
    }
    const char *rights_text = json_string_value(json_object_get(body, "rights"));
    unsigned mask = 0;
    if (rights_text == NULL || dps_rights_parse(rights_text, &mask) != 0 || mask == 0) {
        dps_api_error(res, DPS_ERR_INVALID_FIELD,
                      "rights must list ServiceConfig, EnrollmentRead, EnrollmentWrite, "
                      "DeviceConnect, RegistrationStatusRead or RegistrationStatusWrite");
        return NULL;
    }
    char *rights = dps_rights_format(mask);
    char *pk = pick_key(body, "primaryKey", old, res);
    char *sk = pk ? pick_key(body, "secondaryKey", old, res) : NULL;
    json_t *doc = NULL;
    if (rights != NULL && sk != NULL) {
        doc = json_pack("{s:s, s:s, s:s, s:s, s:s}", "keyName", name, "primaryKey", pk,
                        "secondaryKey", sk, "rights", rights, "etag", etag);
        if (doc == NULL)
            dps_api_error(res, DPS_ERR_INTERNAL, "out of memory");
    } else if (rights == NULL && sk != NULL) {
        dps_api_error(res, DPS_ERR_INTERNAL, "out of memory");
    }
    free(rights);
    dps_free_secret_string(pk);
    dps_free_secret_string(sk);
    return doc;
}

static void put_policy(dpsd_ctx *ctx, const dps_http_request *req, const char *name,
                       const char *key, dps_http_response *res)
{
    dps_if_match im;
    if (dps_admin__if_match(req, &im, res) != 0)
        return;
    json_t *body = dps_admin__parse_body(req, res);
    if (body == NULL)
        return;
    json_t *old = NULL, *doc = NULL;
    dps_record cur = {0};
    if (dps_admin__only_members(body, put_members, res) != 0)
        goto done;
    dps_store_result got = dps_store_get(ctx->store, DPS_COLL_ACCESS_POLICY, key, &cur);
    if (got != DPS_STORE_OK && got != DPS_STORE_NOT_FOUND) {
        dps_admin__store_error(res, got, WHAT, name);
        goto done;
    }
    if (got == DPS_STORE_OK) {
        old = dps_admin__record_doc(&cur);
        if (old == NULL) {
            dps_api_error(res, DPS_ERR_INTERNAL, "policy '%s' is corrupt", name);
            goto done;
        }
    }
    char etag[DPS_ETAG_MAX];
    if (dps_etag_new(etag) != 0) {
        dps_api_error(res, DPS_ERR_INTERNAL, "cannot make an ETag");
        goto done;
    }
    /* Body errors first, then the If-Match rules (as for linked hubs). */
    doc = build_policy(body, name, old, etag, res);
    if (doc == NULL)
        goto done;
    dps_put_mode mode;
    const char *expected;
    if (dps_admin__put_plan(&im, got, &cur, &mode, &expected, WHAT, name, res) != 0)
        goto done;
    if (old != NULL && doc_has_service_config(old) && !doc_has_service_config(doc) &&
        keep_an_admin(ctx, name, key, res) != 0)
        goto done;
    dps_store_result r = dps_admin__store_put(ctx, DPS_COLL_ACCESS_POLICY, key, doc, etag,
                                              mode, expected);
    if (r != DPS_STORE_OK) {
        dps_admin__store_error(res, r, WHAT, name);
        goto done;
    }
    log_info("admin: policy %s %s with rights %s", name,
             mode == DPS_PUT_CREATE ? "created" : "replaced",
             json_string_value(json_object_get(doc, "rights")));
    reply_doc(doc, res);
done:
    dps_record_free(&cur);
    json_decref(old);
    json_decref(doc);
    json_decref(body);
}

static void delete_policy(dpsd_ctx *ctx, const dps_http_request *req, const char *name,
                          const char *key, dps_http_response *res)
{
    dps_if_match im;
    if (dps_admin__if_match(req, &im, res) != 0)
        return;
    dps_record cur = {0};
    json_t *old = NULL;
    dps_store_result got = dps_store_get(ctx->store, DPS_COLL_ACCESS_POLICY, key, &cur);
    if (dps_admin__update_plan(&im, got, &cur, WHAT, name, res) != 0)
        goto done;
    old = dps_admin__record_doc(&cur);
    /* A corrupt document cannot be vouched for as harmless to delete either
     * way; treat it as possibly holding ServiceConfig. */
    if ((old == NULL || doc_has_service_config(old)) && keep_an_admin(ctx, name, key, res) != 0)
        goto done;
    (void)dps_admin__delete(ctx, DPS_COLL_ACCESS_POLICY, key,
                            im.kind == DPS_IFM_ETAG ? im.etag : NULL, WHAT, name, res);
done:
    json_decref(old);
    dps_record_free(&cur);
}

static void regenerate_key(dpsd_ctx *ctx, const dps_http_request *req, const char *name,
                           const char *key, dps_http_response *res)
{
    dps_if_match im;
    if (dps_admin__if_match(req, &im, res) != 0)
        return;
    json_t *body = dps_admin__parse_body(req, res);
    if (body == NULL)
        return;
    static const char *const members[] = {"keyType", NULL};
    dps_record cur = {0};
    json_t *doc = NULL;
    char *k = NULL;
    if (dps_admin__only_members(body, members, res) != 0)
        goto done;
    const char *type = json_string_value(json_object_get(body, "keyType"));
    const char *member = NULL;
    if (type != NULL && strcasecmp(type, "primary") == 0)
        member = "primaryKey";
    else if (type != NULL && strcasecmp(type, "secondary") == 0)
        member = "secondaryKey";
    if (member == NULL) {
        dps_api_error(res, DPS_ERR_INVALID_FIELD, "keyType must be primary or secondary");
        goto done;
    }
    dps_store_result got = dps_store_get(ctx->store, DPS_COLL_ACCESS_POLICY, key, &cur);
    if (dps_admin__update_plan(&im, got, &cur, WHAT, name, res) != 0)
        goto done;
    doc = dps_admin__record_doc(&cur);
    char etag[DPS_ETAG_MAX];
    k = new_key();
    if (doc == NULL || k == NULL || dps_etag_new(etag) != 0 ||
        json_object_set_new(doc, member, json_string(k)) != 0 ||
        json_object_set_new(doc, "etag", json_string(etag)) != 0) {
        dps_api_error(res, DPS_ERR_INTERNAL, "cannot regenerate the key of '%s'", name);
        goto done;
    }
    dps_store_result r = dps_admin__store_put(ctx, DPS_COLL_ACCESS_POLICY, key, doc, etag,
                                              DPS_PUT_IF_ETAG, cur.etag);
    if (r != DPS_STORE_OK) {
        dps_admin__store_error(res, r, WHAT, name);
        goto done;
    }
    log_info("admin: policy %s: %s regenerated", name, member);
    reply_doc(doc, res);
done:
    dps_free_secret_string(k);
    json_decref(doc);
    dps_record_free(&cur);
    json_decref(body);
}

void dps_admin__policies(dpsd_ctx *ctx, const dps_http_request *req, dps_http_response *res)
{
    static const dps_admin_resource rs = {.path = "/admin/policies",
                                          .list = list_policies,
                                          .get = get_policy,
                                          .put = put_policy,
                                          .del = delete_policy};
    if (dps_admin__collection(ctx, &rs, req, res))
        return;
    bool regen = req->nsegments == 4 && strcasecmp(req->segments[3], "regenerateKey") == 0;
    if (req->nsegments != 3 && !regen) {
        dps_api_error(res, DPS_ERR_ROUTE_NOT_FOUND, "no admin resource at this path");
        return;
    }
    const char *name = req->segments[2];
    char key[POLICY_NAME_MAX + 1];
    if (!policy_name_valid(name) || !dps_admin__key(name, key, sizeof key)) {
        dps_api_error(res, DPS_ERR_INVALID_ID,
                      "policy names are 1..%d characters of A-Z a-z 0-9 . _ -",
                      POLICY_NAME_MAX);
        return;
    }
    if (regen) {
        if (req->method == DPS_HTTP_POST)
            regenerate_key(ctx, req, name, key, res);
        else
            dps_api_error(res, DPS_ERR_METHOD_NOT_ALLOWED, "regenerateKey takes POST");
        return;
    }
    dps_admin__item(ctx, &rs, req, name, key, res);
}

void dps_admin__connection_string(dpsd_ctx *ctx, const dps_http_request *req,
                                  dps_http_response *res)
{
    if (req->nsegments != 2) {
        dps_api_error(res, DPS_ERR_ROUTE_NOT_FOUND, "no admin resource at this path");
        return;
    }
    if (req->method != DPS_HTTP_GET) {
        dps_api_error(res, DPS_ERR_METHOD_NOT_ALLOWED, "/admin/connectionString takes GET");
        return;
    }
    char *asked = dps_http_query_get(req, "policy");
    const char *name = asked ? asked : DPS_OWNER_POLICY;
    char key[POLICY_NAME_MAX + 1];
    dps_record rec = {0};
    json_t *doc = NULL, *out = NULL;
    char *cs = NULL;
    if (!policy_name_valid(name) || !dps_admin__key(name, key, sizeof key)) {
        dps_api_error(res, DPS_ERR_INVALID_ID, "invalid policy name");
        goto done;
    }
    dps_store_result r = dps_store_get(ctx->store, DPS_COLL_ACCESS_POLICY, key, &rec);
    if (r != DPS_STORE_OK) {
        dps_admin__store_error(res, r, WHAT, name);
        goto done;
    }
    doc = dps_admin__record_doc(&rec);
    const char *kn = doc ? json_string_value(json_object_get(doc, "keyName")) : NULL;
    const char *pk = doc ? json_string_value(json_object_get(doc, "primaryKey")) : NULL;
    size_t n = kn && pk ? strlen(ctx->service_host) + strlen(kn) + strlen(pk) + 64 : 0;
    cs = n ? malloc(n) : NULL;
    if (cs != NULL) {
        snprintf(cs, n, "HostName=%s;SharedAccessKeyName=%s;SharedAccessKey=%s",
                 ctx->service_host, kn, pk);
        out = json_pack("{s:s}", "connectionString", cs);
    }
    if (out == NULL) {
        dps_api_error(res, DPS_ERR_INTERNAL, "cannot build the connection string of '%s'",
                      name);
        goto done;
    }
    dps_http_response_set_json(res, 200, out);
done:
    dps_free_secret_string(cs);
    json_decref(out);
    json_decref(doc);
    dps_record_free(&rec);
    free(asked);
}
