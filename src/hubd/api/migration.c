/* The internal migration endpoint (migration.h). */
#include "api/migration.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/api_internal.h"
#include "common/log.h"
#include "common/sas.h"
#include "common/timeutil.h"
#include "model/hub_errors.h"
#include "model/twin.h"

#define SAS_SKEW_S 300

static bool authorized(const uint8_t *key, size_t keylen, const dps_http_request *req,
                       char *why, size_t whylen)
{
    const char *auth = dps_http_header_get(req, "Authorization");
    size_t len = auth != NULL ? strlen(auth) : 0;
    dps_sas_token t;
    if (auth == NULL || len > DPS_SAS_MAX_TOKEN_LEN || dps_sas_parse(auth, len, &t) != DPS_SAS_OK) {
        snprintf(why, whylen, "a SharedAccessSignature with skn=%s is required",
                 HUBD_MIGRATION_KEY_NAME);
        return false;
    }
    bool ok = false;
    if (t.skn == NULL || strcmp(t.skn, HUBD_MIGRATION_KEY_NAME) != 0)
        snprintf(why, whylen, "the migration endpoint needs skn=%s", HUBD_MIGRATION_KEY_NAME);
    else if (dps_sas_expired(&t, dps_now_s(), SAS_SKEW_S))
        snprintf(why, whylen, "the token has expired");
    else if (!dps_sas_signed_with(&t, key, keylen))
        snprintf(why, whylen, "the signature does not match the migration key");
    else
        ok = true;
    dps_sas_token_free(&t);
    return ok;
}

static void export_device(hubd_ctx *ctx, const char *hub, const char *id,
                          dps_http_response *res)
{
    json_t *doc = NULL;
    hubd_result hr = hubd_device_load(ctx, hub, id, &doc, NULL);
    if (hr != HUBD_OK) {
        hubd_api__fail(res, hr, id);
        return;
    }
    hubd_conn_info offline = {0};
    json_t *twin = json_deep_copy(json_object_get(doc, "twin"));
    if (twin != NULL)
        json_object_del(twin, "etag"); /* the importing hub makes its own */
    json_t *body = json_pack("{s:s,s:s,s:o?,s:o?}", "hub", hub, "deviceId", id, "device",
                             hubd_device_present(doc, &offline), "twin", twin);
    json_decref(doc);
    hubd_api__send(res, 200, body, NULL);
}

typedef struct {
    const json_t *tags, *desired, *reported;
    int64_t version;
    int64_t now_ns;
} import_arg;

/* A section as imported: kept verbatim when it carries its $version and
 * $metadata (what the export gives), else rebuilt from its plain members
 * with fresh metadata. NULL after setting the error. */
static json_t *import_section(const json_t *in, bool with_version, int64_t now_ns,
                              const char *what)
{
    if (in == NULL)
        in = json_object();
    else
        json_incref((json_t *)in);
    json_t *out = NULL;
    if (!json_is_object(in)) {
        hubd__set_error("twin %s must be an object", what);
    } else if (hubd_twin_check(in, false, true, what) != 0) {
        /* hubd_twin_check set the reason */
    } else if (json_is_integer(json_object_get(in, "$version")) &&
               json_is_object(json_object_get(in, "$metadata"))) {
        json_t *plain = hubd_twin_section_plain(in, false);
        if (plain != NULL && json_dumpb(plain, NULL, 0, JSON_COMPACT) <= HUBD_TWIN_MAX_PROPS)
            out = json_deep_copy(in);
        else
            hubd__set_error("twin %s exceed %d bytes", what, HUBD_TWIN_MAX_PROPS);
        json_decref(plain);
    } else {
        json_t *fresh = hubd_twin_new(now_ns);
        json_t *sec = json_object_get(json_object_get(fresh, "properties"),
                                      with_version ? "desired" : "reported");
        if (sec != NULL &&
            hubd_twin_merge_section(sec, in, now_ns, with_version, HUBD_TWIN_MAX_PROPS, what) ==
                0)
            out = json_incref(sec);
        json_decref(fresh);
    }
    json_decref((json_t *)in);
    return out;
}

static hubd_result import_fn(json_t *doc, void *argp)
{
    import_arg *a = argp;
    json_t *twin = json_object_get(doc, "twin");
    if (!json_is_object(twin)) {
        hubd__set_error("the stored twin is unreadable");
        return HUBD_ERROR;
    }
    if (a->tags != NULL && (!json_is_object(a->tags) || hubd_twin_check(a->tags, false, true,
                                                                        "tags") != 0)) {
        if (!json_is_object(a->tags))
            hubd__set_error("twin tags must be an object");
        return HUBD_INVALID;
    }
    if (a->tags != NULL && json_dumpb(a->tags, NULL, 0, JSON_COMPACT) > HUBD_TWIN_MAX_TAGS) {
        hubd__set_error("tags exceed %d bytes", HUBD_TWIN_MAX_TAGS);
        return HUBD_INVALID;
    }
    json_t *desired = import_section(a->desired, true, a->now_ns, "desired properties");
    json_t *reported = desired != NULL
                           ? import_section(a->reported, false, a->now_ns, "reported properties")
                           : NULL;
    char etag[HUBD_ETAG_SIZE];
    if (desired == NULL || reported == NULL || hubd_etag_new(etag) != 0) {
        json_decref(desired);
        json_decref(reported);
        return HUBD_INVALID;
    }
    /* Versions only grow, also across a move back and forth. */
    int64_t cur = json_integer_value(json_object_get(twin, "version"));
    int64_t version = a->version > cur ? a->version : cur + 1;
    json_t *next = json_pack("{s:s,s:I,s:o,s:{s:o,s:o}}", "etag", etag, "version",
                             (json_int_t)version, "tags",
                             a->tags != NULL ? hubd_twin_section_plain(a->tags, false)
                                             : json_object(),
                             "properties", "desired", desired, "reported", reported);
    if (next == NULL || json_object_set_new(doc, "twin", next) != 0) {
        hubd__set_error("out of memory");
        return HUBD_ERROR;
    }
    return HUBD_OK;
}

static void import_twin(hubd_ctx *ctx, const char *hub, const char *id,
                        const dps_http_request *req, dps_http_response *res)
{
    json_t *body = hubd_api__parse_body(req, false, res);
    if (body == NULL)
        return;
    const json_t *props = json_object_get(body, "properties");
    import_arg a = {.tags = json_object_get(body, "tags"),
                    .desired = json_object_get(props, "desired"),
                    .reported = json_object_get(props, "reported"),
                    .version = json_integer_value(json_object_get(body, "version")),
                    .now_ns = dps_now_ns()};
    json_t *doc = NULL;
    hubd_result hr = hubd_device_modify(ctx, hub, id, import_fn, &a, &doc);
    json_decref(body);
    if (hr != HUBD_OK) {
        hubd_api__fail(res, hr, id);
        return;
    }
    log_info("migration: twin of %s imported into %s", id, hub);
    hubd_conn_info offline = {0};
    json_t *twin = hubd_twin_present(doc, &offline);
    json_decref(doc);
    hubd_api__send(res, 200, twin, NULL);
}

bool hubd_api_migration_handle(hubd_ctx *ctx, const uint8_t *key, size_t keylen,
                               const dps_http_request *req, dps_http_response *res)
{
    if (req->nsegments < 2 || strcasecmp(req->segments[0], "_hubd") != 0 ||
        strcasecmp(req->segments[1], HUBD_MIGRATION_SEGMENT) != 0)
        return false;
    char why[160];
    if (!authorized(key, keylen, req, why, sizeof why)) {
        hubd_api_error(res, HUBD_ERR_UNAUTHORIZED, "Unauthorized: %s", why);
        log_info("migration request from %s refused: %s", req->peer ? req->peer : "?", why);
        return true;
    }
    /* /_hubd/migration/{hub}/devices/{id}[/twin] */
    bool shape = (req->nsegments == 5 || req->nsegments == 6) &&
                 strcasecmp(req->segments[3], "devices") == 0 &&
                 (req->nsegments == 5 || strcasecmp(req->segments[5], "twin") == 0);
    if (!shape) {
        hubd_api_error(res, HUBD_ERR_NOT_FOUND, "no such migration resource");
        return true;
    }
    char hub[HUBD_HUB_NAME_SIZE];
    if (!hubd_hub_exists(ctx, req->segments[2], hub)) {
        hubd_api_error(res, HUBD_ERR_NOT_FOUND, "hub %.64s is not hosted here",
                       req->segments[2]);
        return true;
    }
    const char *id = req->segments[4];
    if (req->nsegments == 5 && req->method == DPS_HTTP_GET)
        export_device(ctx, hub, id, res);
    else if (req->nsegments == 6 && req->method == DPS_HTTP_PUT)
        import_twin(ctx, hub, id, req, res);
    else
        hubd_api_error(res, HUBD_ERR_METHOD_NOT_ALLOWED, "%s is not allowed here",
                       dps_http_method_name(req->method));
    return true;
}
