/* Helpers the service API handlers share: body parsing under the cap,
 * If-Match, stored documents and the mapping of store results to errors. */
#include <stdio.h>
#include <string.h>

#include "api/errors.h"
#include "api/service_internal.h"
#include "common/json.h"
#include "common/log.h"
#include "config.h"

size_t dps_api__body_cap(const dpsd_ctx *ctx)
{
    if (ctx->config != NULL && ctx->config->max_body_bytes > 0)
        return (size_t)ctx->config->max_body_bytes;
    return DPS_JSON_MAX_BODY;
}

json_t *dps_api__parse_body(const dpsd_ctx *ctx, const dps_http_request *req, bool empty_ok,
                            dps_http_response *res)
{
    /* The cap is checked before jansson sees a byte. */
    size_t cap = dps_api__body_cap(ctx);
    if (req->body_len > cap) {
        dps_api_error(res, DPS_ERR_TOO_LARGE, "request body of %zu bytes exceeds the limit of %zu",
                      req->body_len, cap);
        return NULL;
    }
    if (req->body == NULL || req->body_len == 0) {
        if (empty_ok)
            return json_object();
        dps_api_error(res, DPS_ERR_INVALID_JSON, "a JSON body is required");
        return NULL;
    }
    char why[256] = "";
    json_t *obj = dps_json_parse_object(req->body, req->body_len, cap, why, sizeof why);
    if (obj == NULL)
        dps_api_error(res, DPS_ERR_INVALID_JSON, "malformed request body: %s", why);
    return obj;
}

int dps_api__if_match(const dps_http_request *req, dps_if_match *out, dps_http_response *res)
{
    if (dps_if_match_parse(dps_http_header_get(req, "If-Match"), out) != 0) {
        dps_api_error(res, DPS_ERR_BAD_REQUEST, "If-Match is not a valid ETag");
        return -1;
    }
    return 0;
}

void dps_api__fail(dps_http_response *res, const dps_model_err *err)
{
    dps_api_error(res, err->code, "%s", err->msg);
}

json_t *dps_api__record_doc(const dps_record *rec)
{
    json_error_t jerr;
    json_t *doc = rec->doc ? json_loads(rec->doc, 0, &jerr) : NULL;
    if (!json_is_object(doc)) {
        log_error("stored record '%s' is not a JSON object", rec->key ? rec->key : "?");
        json_decref(doc);
        return NULL;
    }
    if (rec->etag != NULL && rec->etag[0] != '\0' &&
        json_object_set_new(doc, "etag", json_string(rec->etag)) != 0) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

void dps_api__send(dps_http_response *res, int status, json_t *body)
{
    if (body == NULL) {
        dps_api_error(res, DPS_ERR_INTERNAL, "cannot build the response");
        return;
    }
    dps_http_response_set_json(res, status, body);
    json_decref(body);
}

void dps_api__store_err(dps_model_err *err, dps_store_result r, const char *noun, const char *id)
{
    switch (r) {
    case DPS_STORE_NOT_FOUND:
        err->code = DPS_ERR_NOT_FOUND;
        snprintf(err->msg, sizeof err->msg, "%s '%s' not found", noun, id);
        break;
    case DPS_STORE_EXISTS:
        err->code = DPS_ERR_CONFLICT;
        snprintf(err->msg, sizeof err->msg,
                 "%s '%s' already exists (send If-Match to replace it)", noun, id);
        break;
    case DPS_STORE_ETAG_MISMATCH:
        err->code = DPS_ERR_PRECONDITION;
        snprintf(err->msg, sizeof err->msg, "%s '%s' has changed: the ETag does not match", noun,
                 id);
        break;
    default:
        err->code = DPS_ERR_INTERNAL;
        snprintf(err->msg, sizeof err->msg, "store failure on %s '%s'", noun, id);
        break;
    }
}
