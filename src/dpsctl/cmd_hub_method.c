/* dpsctl hub invoke-method: a direct method call on a connected device
 * (POST /twins/{id}/methods), modelled on `az iot hub invoke-device-method`.
 * hubd holds the request until the device answers, so the HTTP limit is the
 * method's own timeouts plus a margin. */
#include <stdlib.h>

#include "fields.h"
#include "hub.h"
#include "hub_util.h"

/* hubd's bounds (docs/hubd-api.md, Direct methods). */
#define RESPONSE_TIMEOUT_MIN 5
#define RESPONSE_TIMEOUT_MAX 300
#define RESPONSE_TIMEOUT_DEFAULT 30
#define CONNECT_TIMEOUT_MAX 300
#define PAYLOAD_MAX (128 * 1024)
/* hubd answers 504 itself when the device is late; the margin only covers
 * the network and a busy hub, so that its answer rather than ours is seen. */
#define HTTP_MARGIN_S 30

static const dpsctl_column method_columns[] = {
    {"Status", "status"},
    {"Payload", "payload"},
    {NULL, NULL},
};

const dpsctl_cmd_opt dpsctl_hub_method_opts[] = {
    DPSCTL_HUB_DEVICE_ID_OPT(true),
    {DPSCTL_OPT_METHOD_NAME, NULL, true, NULL},
    {DPSCTL_OPT_METHOD_PAYLOAD, NULL, false, NULL},
    {DPSCTL_OPT_TIMEOUT, NULL, false,
     "seconds to wait for the device's answer, 5..300 (default: 30)"},
    {DPSCTL_OPT_CONNECT_TIMEOUT, NULL, false, NULL},
    DPSCTL_HUB_CONN_OPTS};

static int parse_seconds(const dpsctl_ctx *ctx, dpsctl_opt opt, long long lo, long long hi,
                         long long def, long long *out)
{
    const char *text = dpsctl_opt_value(ctx, opt);
    *out = def;
    if (text != NULL && dpsctl_parse_long(text, lo, hi, out) != 0)
        return dpsctl_usage(ctx, "--%s: '%s' is not a number of seconds from %lld to %lld",
                            dpsctl_opt_get(opt)->name, text, lo, hi);
    return DPSCTL_EXIT_OK;
}

int dpsctl_hub_invoke_method(dpsctl_ctx *ctx)
{
    long long rt, ct;
    int rc = parse_seconds(ctx, DPSCTL_OPT_TIMEOUT, RESPONSE_TIMEOUT_MIN, RESPONSE_TIMEOUT_MAX,
                           RESPONSE_TIMEOUT_DEFAULT, &rt);
    if (rc == 0)
        rc = parse_seconds(ctx, DPSCTL_OPT_CONNECT_TIMEOUT, 0, CONNECT_TIMEOUT_MAX, 0, &ct);
    if (rc != 0)
        return rc;
    json_t *body = json_pack("{s:s,s:I,s:I}", "methodName",
                             dpsctl_opt_value(ctx, DPSCTL_OPT_METHOD_NAME),
                             "responseTimeoutInSeconds", (json_int_t)rt,
                             "connectTimeoutInSeconds", (json_int_t)ct);
    if (body == NULL)
        return dpsctl_fail("out of memory");
    /* without --method-payload no payload member is sent: the device gets
     * an empty body, as from the service SDKs */
    const char *ptext = dpsctl_opt_value(ctx, DPSCTL_OPT_METHOD_PAYLOAD);
    if (ptext != NULL) {
        char err[256];
        json_t *payload = dpsctl_parse_json_value(ptext, PAYLOAD_MAX, err, sizeof err);
        if (payload == NULL) {
            json_decref(body);
            return dpsctl_usage(ctx, "--method-payload: %s", err);
        }
        if (json_object_set_new(body, "payload", payload) != 0) {
            json_decref(body);
            return dpsctl_fail("out of memory");
        }
    }
    dpsctl_client *c;
    char *path = dpsctl_path("/twins/", dpsctl_opt_value(ctx, DPSCTL_OPT_DEVICE_ID), "/methods");
    rc = path != NULL ? dpsctl_connect(ctx, &c) : dpsctl_fail("out of memory");
    if (rc == 0) {
        dpsctl_req_opts o = {.timeout_s = (long)(rt + ct) + HTTP_MARGIN_S};
        dpsctl_response res;
        /* an offline device (404 DeviceNotOnline) or a late one (504
         * GatewayTimeout) comes back as the usual one-line error, exit 1 */
        rc = dpsctl_call(c, "POST", path, body, &o, &res);
        if (rc == 0) {
            rc = dpsctl_emit(ctx, res.body, method_columns, NULL);
            dpsctl_response_free(&res);
        }
    }
    free(path);
    json_decref(body);
    return rc;
}
