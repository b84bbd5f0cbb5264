/* HTTPS adapter of the device API (device_api.h). */
#include "api/device_api.h"

#include <stdio.h>
#include <stdlib.h>

#include "api/errors.h"
#include "engine/registration.h"

typedef enum { CALL_REGISTER, CALL_OPERATION, CALL_STATUS } call_kind;

/* The engine always answers before returning, so the response can be
 * filled straight from the callback. */
static void on_answer(void *arg, const dps_reg_answer *a)
{
    dps_http_response *res = arg;
    /* An error with a body is the TPM challenge (401): its body is the
     * challenge, not the error shape. */
    if (a->body == NULL || (a->status >= 400 && a->status != 401)) {
        dps_api_error(res, a->error_code != 0 ? a->error_code : DPS_ERR_INTERNAL, "%s",
                      a->message != NULL ? a->message : "request failed");
    } else {
        dps_http_response_set_json(res, a->status, a->body);
    }
    if (a->retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", a->retry_after);
        /* Lower-case on purpose: the C SDK looks the header up by exactly
         * this name (device-api.md §5.6). */
        dps_http_response_add_header(res, "retry-after", ra);
    }
}

static void device_call(call_kind kind, dpsd_ctx *ctx, const dps_http_request *req,
                        const dps_route_match *m, dps_http_response *res)
{
    if (ctx->engine == NULL) {
        dps_api_error(res, DPS_ERR_INTERNAL, "the device API is not running");
        return;
    }
    char *api_version = dps_http_query_get(req, "api-version");
    dps_reg_request r = {
        .transport = DPS_TRANSPORT_HTTPS,
        .id_scope = m->params[0],
        .registration_id = m->params[1],
        .api_version = api_version,
        .operation_id = kind == CALL_OPERATION ? m->params[2] : NULL,
        .sas_token = dps_http_header_get(req, "Authorization"),
        /* X.509: the certificate the TLS handshake asked for. */
        .client_leaf = req->client_leaf,
        .client_chain = req->client_chain,
        /* GET polls may carry "{}" (Node): the engine ignores it there. */
        .body = kind == CALL_OPERATION ? NULL : req->body,
        .body_len = kind == CALL_OPERATION ? 0 : req->body_len,
        .peer = req->peer,
    };
    switch (kind) {
    case CALL_REGISTER:
        dps_engine_register(ctx->engine, &r, on_answer, res);
        break;
    case CALL_OPERATION:
        dps_engine_operation_status(ctx->engine, &r, on_answer, res);
        break;
    case CALL_STATUS:
        dps_engine_registration_status(ctx->engine, &r, on_answer, res);
        break;
    }
    free(api_version);
}

void dps_api__device_register(dpsd_ctx *ctx, const dps_http_request *req,
                              const dps_route_match *m, dps_http_response *res)
{
    device_call(CALL_REGISTER, ctx, req, m, res);
}

void dps_api__device_operation(dpsd_ctx *ctx, const dps_http_request *req,
                               const dps_route_match *m, dps_http_response *res)
{
    device_call(CALL_OPERATION, ctx, req, m, res);
}

void dps_api__device_status(dpsd_ctx *ctx, const dps_http_request *req,
                            const dps_route_match *m, dps_http_response *res)
{
    device_call(CALL_STATUS, ctx, req, m, res);
}
