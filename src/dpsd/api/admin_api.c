/* Admin API entry: authentication, dispatch by resource, and the helpers
 * the resource files share (admin_internal.h). */
#include "api/admin_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/admin_internal.h"
#include "api/errors.h"
#include "api/service_auth.h"
#include "common/json.h"
#include "common/log.h"
#include "common/secret.h"

typedef void (*admin_handler)(dpsd_ctx *, const dps_http_request *, dps_http_response *);

static const struct {
    const char *segment; /* compared without regard to case */
    admin_handler fn;
} admin_routes[] = {
    {"instance", dps_admin__instance},
    {"linkedHubs", dps_admin__linked_hubs},
    {"policies", dps_admin__policies},
    {"connectionString", dps_admin__connection_string},
    {"certificates", dps_admin__certificates},
    {"registrations", dps_admin__registrations},
};

bool dps_admin_api_handle(dpsd_ctx *ctx, const dps_http_request *req, dps_http_response *res)
{
    if (req->nsegments == 0 || strcasecmp(req->segments[0], "admin") != 0)
        return false;
    /* Authenticate before routing so an anonymous caller learns nothing about
     * which admin paths exist. */
    if (!dps_service_authorize(ctx, req, DPS_RIGHT_SERVICE_CONFIG, res))
        return true;
    if (req->nsegments >= 2) {
        for (size_t i = 0; i < sizeof admin_routes / sizeof admin_routes[0]; i++) {
            if (strcasecmp(req->segments[1], admin_routes[i].segment) == 0) {
                admin_routes[i].fn(ctx, req, res);
                return true;
            }
        }
    }
    dps_api_error(res, DPS_ERR_ROUTE_NOT_FOUND, "no admin resource at %s",
                  req->path ? req->path : "this path");
    return true;
}

int dps_admin__if_match(const dps_http_request *req, dps_if_match *out,
                        dps_http_response *res)
{
    if (dps_if_match_parse(dps_http_header_get(req, "If-Match"), out) != 0) {
        dps_api_error(res, DPS_ERR_BAD_REQUEST, "malformed If-Match header");
        return -1;
    }
    return 0;
}

int dps_admin__put_plan(const dps_if_match *im, dps_store_result got,
                        const dps_record *existing, dps_put_mode *mode,
                        const char **expected, const char *what, const char *name,
                        dps_http_response *res)
{
    if (got == DPS_STORE_OK) {
        if (im->kind == DPS_IFM_NONE) {
            dps_api_error(res, DPS_ERR_CONFLICT,
                          "%s '%s' already exists; send If-Match to replace it", what, name);
            return -1;
        }
        if (im->kind == DPS_IFM_ETAG && strcmp(im->etag, existing->etag) != 0) {
            dps_api_error(res, DPS_ERR_PRECONDITION, "%s '%s' has another ETag", what, name);
            return -1;
        }
        *mode = DPS_PUT_IF_ETAG;
        *expected = existing->etag;
        return 0;
    }
    if (got == DPS_STORE_NOT_FOUND) {
        if (im->kind == DPS_IFM_ETAG) {
            dps_api_error(res, DPS_ERR_PRECONDITION, "%s '%s' does not exist", what, name);
            return -1;
        }
        *mode = DPS_PUT_CREATE;
        *expected = NULL;
        return 0;
    }
    dps_admin__store_error(res, got, what, name);
    return -1;
}

int dps_admin__update_plan(const dps_if_match *im, dps_store_result got,
                           const dps_record *existing, const char *what,
                           const char *name, dps_http_response *res)
{
    if (got != DPS_STORE_OK) {
        dps_admin__store_error(res, got, what, name);
        return -1;
    }
    if (im->kind == DPS_IFM_ETAG && strcmp(im->etag, existing->etag) != 0) {
        dps_api_error(res, DPS_ERR_PRECONDITION, "%s '%s' has another ETag", what, name);
        return -1;
    }
    return 0;
}

void dps_admin__store_error(dps_http_response *res, dps_store_result r, const char *what,
                            const char *name)
{
    switch (r) {
    case DPS_STORE_NOT_FOUND:
        dps_api_error(res, DPS_ERR_NOT_FOUND, "%s '%s' not found", what, name);
        break;
    case DPS_STORE_EXISTS:
        dps_api_error(res, DPS_ERR_CONFLICT, "%s '%s' already exists", what, name);
        break;
    case DPS_STORE_ETAG_MISMATCH:
        dps_api_error(res, DPS_ERR_PRECONDITION, "%s '%s' has another ETag", what, name);
        break;
    case DPS_STORE_OK:
    case DPS_STORE_ERROR:
    default:
        dps_api_error(res, DPS_ERR_INTERNAL, "store failure on %s '%s'", what, name);
        break;
    }
}

json_t *dps_admin__parse_body(const dps_http_request *req, dps_http_response *res)
{
    if (req->body == NULL || req->body_len == 0) {
        dps_api_error(res, DPS_ERR_INVALID_JSON, "a JSON object body is required");
        return NULL;
    }
    if (req->body_len > DPS_JSON_MAX_BODY) {
        dps_api_error(res, DPS_ERR_TOO_LARGE, "body larger than %d bytes",
                      DPS_JSON_MAX_BODY);
        return NULL;
    }
    char err[160];
    json_t *v = dps_json_parse_object(req->body, req->body_len, DPS_JSON_MAX_BODY, err,
                                      sizeof err);
    if (v == NULL)
        dps_api_error(res, DPS_ERR_INVALID_JSON, "%s", err);
    return v;
}

int dps_admin__only_members(const json_t *obj, const char *const *allowed,
                            dps_http_response *res)
{
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val) {
        (void)val;
        bool known = false;
        for (size_t i = 0; allowed[i] != NULL && !known; i++)
            known = strcmp(key, allowed[i]) == 0;
        if (!known) {
            dps_api_error(res, DPS_ERR_INVALID_FIELD, "unknown member '%.64s'", key);
            return -1;
        }
    }
    return 0;
}

bool dps_admin__key(const char *name, char *out, size_t outlen)
{
    size_t n = strlen(name);
    if (n >= outlen)
        return false;
    for (size_t i = 0; i <= n; i++) {
        char c = name[i];
        out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    return true;
}

dps_store_result dps_admin__store_put(dpsd_ctx *ctx, dps_collection coll, const char *key,
                                      const json_t *doc, const char *etag,
                                      dps_put_mode mode, const char *expected)
{
    char *text = dps_json_dump(doc);
    if (text == NULL)
        return DPS_STORE_ERROR;
    dps_record rec = {.key = (char *)key, .doc = text, .etag = (char *)etag, .group = NULL};
    dps_store_result r = dps_store_put(ctx->store, coll, &rec, mode, expected);
    /* The document may hold keys; wipe the serialised copy. */
    dps_free_secret_string(text);
    /* A conditional replace of a record deleted meanwhile is a lost race on
     * the caller's precondition, not a missing resource. */
    if (mode == DPS_PUT_IF_ETAG && r == DPS_STORE_NOT_FOUND)
        r = DPS_STORE_ETAG_MISMATCH;
    return r;
}

json_t *dps_admin__record_doc(const dps_record *rec)
{
    json_error_t jerr;
    json_t *doc = json_loads(rec->doc, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL || !json_is_object(doc)) {
        log_error("admin: stored document '%s' is corrupt", rec->key);
        json_decref(doc);
        return NULL;
    }
    if (rec->etag != NULL && json_object_set_new(doc, "etag", json_string(rec->etag)) != 0) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

dps_store_result dps_admin__each(dpsd_ctx *ctx, dps_collection coll, dps_admin_visit visit,
                                 void *arg)
{
    char *after = NULL;
    bool more = true;
    dps_store_result r = DPS_STORE_OK;
    while (more) {
        dps_record_list page = {0};
        r = dps_store_list(ctx->store, coll, NULL, after, DPS_ADMIN_PAGE, &page);
        if (r != DPS_STORE_OK)
            break;
        for (size_t i = 0; i < page.count && more; i++)
            more = visit(&page.items[i], arg);
        more = more && page.more && page.count > 0;
        free(after);
        after = page.count > 0 ? strdup(page.items[page.count - 1].key) : NULL;
        dps_record_list_free(&page);
        if (more && after == NULL) {
            r = DPS_STORE_ERROR; /* out of memory: cannot continue the walk */
            break;
        }
    }
    free(after);
    return r;
}

/* Appends each record's document to arr; stops (clearing ok) on failure. */
typedef struct {
    json_t *arr;
    dps_admin_doc_fn doc_fn;
    bool ok;
} doc_list;

static bool add_doc(const dps_record *rec, void *arg)
{
    doc_list *l = arg;
    json_t *doc = l->doc_fn(rec);
    l->ok = doc != NULL && json_array_append_new(l->arr, doc) == 0;
    return l->ok;
}

void dps_admin__list(dpsd_ctx *ctx, dps_collection coll, dps_admin_doc_fn doc_fn,
                     const char *failure, dps_http_response *res)
{
    doc_list l = {.arr = json_array(),
                  .doc_fn = doc_fn != NULL ? doc_fn : dps_admin__record_doc,
                  .ok = true};
    if (l.arr == NULL || dps_admin__each(ctx, coll, add_doc, &l) != DPS_STORE_OK || !l.ok)
        dps_api_error(res, DPS_ERR_INTERNAL, "%s", failure);
    else
        dps_http_response_set_json(res, 200, l.arr);
    json_decref(l.arr);
}

int dps_admin__delete(dpsd_ctx *ctx, dps_collection coll, const char *key, const char *etag,
                      const char *what, const char *name, dps_http_response *res)
{
    dps_store_result r = dps_store_delete(ctx->store, coll, key, etag);
    if (r != DPS_STORE_OK) {
        dps_admin__store_error(res, r, what, name);
        return -1;
    }
    log_info("admin: %s %s deleted", what, name);
    res->status = 204;
    return 0;
}

bool dps_admin__collection(dpsd_ctx *ctx, const dps_admin_resource *rs,
                           const dps_http_request *req, dps_http_response *res)
{
    if (req->nsegments != 2)
        return false;
    if (req->method == DPS_HTTP_GET)
        rs->list(ctx, res);
    else
        dps_api_error(res, DPS_ERR_METHOD_NOT_ALLOWED, "%s takes GET", rs->path);
    return true;
}

void dps_admin__item(dpsd_ctx *ctx, const dps_admin_resource *rs, const dps_http_request *req,
                     const char *name, const char *key, dps_http_response *res)
{
    switch (req->method) {
    case DPS_HTTP_GET:
        rs->get(ctx, req, name, key, res);
        break;
    case DPS_HTTP_PUT:
        rs->put(ctx, req, name, key, res);
        break;
    case DPS_HTTP_DELETE:
        rs->del(ctx, req, name, key, res);
        break;
    default:
        dps_api_error(res, DPS_ERR_METHOD_NOT_ALLOWED, "%s/{name} takes GET, PUT or DELETE",
                      rs->path);
        break;
    }
}

bool dps_admin__query_is(const dps_http_request *req, const char *name, const char *value)
{
    char *v = dps_http_query_get(req, name);
    bool is = v != NULL && strcasecmp(v, value) == 0;
    free(v);
    return is;
}
