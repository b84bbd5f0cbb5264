/* POST /admin/registrations/{registrationId}/explain (docs/admin-api.md):
 * the dry run of a registration (engine/explain.h). Body, optional:
 *   {"payload": <any JSON>, "enrollmentGroupId": "..", "clientAddress":
 *    "192.0.2.7", "apiVersion": "2021-06-01"}
 * Nothing is written: no record, operation, hub call or webhook call. */
#include <string.h>
#include <strings.h>

#include "api/admin_internal.h"
#include "api/errors.h"
#include "common/json.h"
#include "engine/explain.h"

static const char *const explain_members[] = {"payload", "enrollmentGroupId", "clientAddress",
                                              "apiVersion", NULL};

/* An optional string member; -1 after answering 400 for another type. */
static int opt_string(const json_t *body, const char *name, const char **out,
                      dps_http_response *res)
{
    const json_t *v = json_object_get(body, name);
    *out = json_string_value(v);
    if (v != NULL && !json_is_null(v) && *out == NULL) {
        dps_api_error(res, DPS_ERR_INVALID_FIELD, "%s must be a string", name);
        return -1;
    }
    return 0;
}

static void explain(dpsd_ctx *ctx, const dps_http_request *req, const char *id,
                    dps_http_response *res)
{
    if (ctx->engine == NULL) {
        dps_api_error(res, DPS_ERR_INTERNAL, "the registration engine is not running");
        return;
    }
    json_t *body = NULL;
    if (req->body != NULL && req->body_len > 0) {
        body = dps_admin__parse_body(req, res);
        if (body == NULL)
            return;
        if (dps_admin__only_members(body, explain_members, res) != 0) {
            json_decref(body);
            return;
        }
    }
    dps_explain_request r = {.registration_id = id,
                             .payload = json_object_get(body, "payload")};
    if (opt_string(body, "enrollmentGroupId", &r.group_id, res) != 0 ||
        opt_string(body, "clientAddress", &r.client_address, res) != 0 ||
        opt_string(body, "apiVersion", &r.api_version, res) != 0) {
        json_decref(body);
        return;
    }
    if (json_is_null(r.payload))
        r.payload = NULL;
    json_t *out = NULL;
    char msg[400] = "";
    int status = dps_engine_explain(ctx->engine, &r, &out, msg, sizeof msg);
    json_decref(body);
    switch (status) {
    case 200:
        dps_http_response_set_json(res, 200, out);
        break;
    case 400:
        dps_api_error(res, DPS_ERR_INVALID_ID, "%s", msg);
        break;
    case 404:
        dps_api_error(res, DPS_ERR_NOT_FOUND, "%s", msg);
        break;
    case 409:
        dps_api_error(res, DPS_ERR_CONFLICT, "%s", msg);
        break;
    default:
        dps_api_error(res, DPS_ERR_INTERNAL, "%s", msg);
        break;
    }
    json_decref(out);
}

void dps_admin__registrations(dpsd_ctx *ctx, const dps_http_request *req,
                              dps_http_response *res)
{
    if (req->nsegments != 4 || strcasecmp(req->segments[3], "explain") != 0) {
        dps_api_error(res, DPS_ERR_ROUTE_NOT_FOUND, "no admin resource at this path");
        return;
    }
    if (req->method != DPS_HTTP_POST) {
        dps_api_error(res, DPS_ERR_METHOD_NOT_ALLOWED,
                      "/admin/registrations/{id}/explain takes POST");
        return;
    }
    explain(ctx, req, req->segments[2], res);
}
