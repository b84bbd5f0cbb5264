/* GET and PATCH /admin/instance: the instance properties ARM would show
 * (service-api.md §11.1). Only the default allocation policy is writable. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/admin_internal.h"
#include "api/errors.h"
#include "common/log.h"

#define META_ALLOCATION "allocation_policy"

/* The store keeps the enrollment spelling (lower camel); ARM shows the
 * instance default capitalised. custom is never a default (§11.1). */
static const struct {
    const char *stored;
    const char *shown;
} policy_names[] = {
    {"hashed", "Hashed"},
    {"geoLatency", "GeoLatency"},
    {"static", "Static"},
};
#define NPOLICIES (sizeof policy_names / sizeof policy_names[0])

/* The members a GET returns: a PATCH may carry them back unchanged, and
 * they are ignored because they are read-only. */
static const char *const patch_members[] = {
    "allocationPolicy", "name", "state", "idScope", "serviceOperationsHostName",
    "deviceProvisioningHostName", "endpoints", "caCertificate", NULL,
};

/* The shown name of the stored default; "Hashed" when unset (a new instance). */
static int current_policy(dpsd_ctx *ctx, const char **shown)
{
    char *stored = NULL;
    dps_store_result r = dps_store_meta_get(ctx->store, META_ALLOCATION, &stored);
    *shown = policy_names[0].shown;
    if (r == DPS_STORE_NOT_FOUND)
        return 0;
    if (r != DPS_STORE_OK)
        return -1;
    bool known = false;
    for (size_t i = 0; i < NPOLICIES && !known; i++) {
        if (strcasecmp(stored, policy_names[i].stored) == 0) {
            *shown = policy_names[i].shown;
            known = true;
        }
    }
    if (!known)
        log_warn("admin: stored allocation policy '%.32s' unknown; showing Hashed", stored);
    free(stored);
    return 0;
}

static void reply_instance(dpsd_ctx *ctx, dps_http_response *res)
{
    const char *policy = NULL;
    if (current_policy(ctx, &policy) != 0) {
        dps_api_error(res, DPS_ERR_INTERNAL, "cannot read the instance settings");
        return;
    }
    json_t *ca = ctx->ca_cert_path[0] != '\0' ? json_string(ctx->ca_cert_path) : json_null();
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s}, s:o}", "name", "opendps",
                          "state", "Active", "idScope", ctx->id_scope,
                          "serviceOperationsHostName", ctx->service_host,
                          "deviceProvisioningHostName", ctx->device_host,
                          "allocationPolicy", policy, "endpoints", "https", ctx->https_url,
                          "caCertificate", ca);
    if (o == NULL) {
        dps_api_error(res, DPS_ERR_INTERNAL, "cannot build the instance object");
        return;
    }
    dps_http_response_set_json(res, 200, o);
    json_decref(o);
}

static void patch_instance(dpsd_ctx *ctx, const dps_http_request *req, dps_http_response *res)
{
    json_t *body = dps_admin__parse_body(req, res);
    if (body == NULL)
        return;
    if (dps_admin__only_members(body, patch_members, res) != 0)
        goto done;
    const json_t *p = json_object_get(body, "allocationPolicy");
    if (p != NULL && !json_is_null(p)) {
        const char *text = json_string_value(p);
        const char *stored = NULL;
        for (size_t i = 0; text != NULL && i < NPOLICIES; i++) {
            if (strcasecmp(text, policy_names[i].stored) == 0)
                stored = policy_names[i].stored;
        }
        if (text != NULL && strcasecmp(text, "custom") == 0) {
            dps_api_error(res, DPS_ERR_INVALID_FIELD,
                          "custom allocation cannot be the instance default; set it on "
                          "enrollments");
            goto done;
        }
        if (stored == NULL) {
            dps_api_error(res, DPS_ERR_INVALID_FIELD,
                          "allocationPolicy must be Hashed, GeoLatency or Static");
            goto done;
        }
        if (dps_store_meta_set(ctx->store, META_ALLOCATION, stored) != DPS_STORE_OK) {
            dps_api_error(res, DPS_ERR_INTERNAL, "cannot store the allocation policy");
            goto done;
        }
        log_info("admin: default allocation policy set to %s", stored);
    }
    reply_instance(ctx, res);
done:
    json_decref(body);
}

void dps_admin__instance(dpsd_ctx *ctx, const dps_http_request *req, dps_http_response *res)
{
    if (req->nsegments != 2) {
        dps_api_error(res, DPS_ERR_ROUTE_NOT_FOUND, "no admin resource at this path");
        return;
    }
    if (req->method == DPS_HTTP_GET)
        reply_instance(ctx, res);
    else if (req->method == DPS_HTTP_PATCH)
        patch_instance(ctx, req, res);
    else
        dps_api_error(res, DPS_ERR_METHOD_NOT_ALLOWED, "/admin/instance takes GET or PATCH");
}
