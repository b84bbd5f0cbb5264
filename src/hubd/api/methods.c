/* Direct methods, POST /twins/{id}/methods (hub.md §7.2): the request is
 * deferred (net/http_pending.h) until the device answers, and the answer is
 *   200 {"status": <device status>, "payload": <device JSON>}
 *   404 DeviceNotOnline (404103) device not connected / not subscribed to
 *       methods within connectTimeoutInSeconds
 *   504 GatewayTimeout (504101)  no answer within responseTimeoutInSeconds
 *       (Azure's mapping for a method timeout)
 * A client that hangs up cancels the invocation. */
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "common/log.h"
#include "mqtt/sessions.h"
#include "net/http_pending.h"

#define METHOD_NAME_MAX 128
#define METHOD_PAYLOAD_MAX (128 * 1024) /* Azure's direct-method payload cap */
#define RESPONSE_TIMEOUT_DEFAULT 30
#define RESPONSE_TIMEOUT_MIN 5
#define RESPONSE_TIMEOUT_MAX 300
#define CONNECT_TIMEOUT_DEFAULT 0
#define CONNECT_TIMEOUT_MAX 300

typedef struct {
    hubd_ctx *ctx;
    dps_http_pending *pending;
    uint64_t handle;
    char device_id[HUBD_DEVICE_ID_MAX + 1];
} method_call;

static void finish(method_call *mc, dps_http_response *res)
{
    dps_http_pending_complete(mc->pending, res);
    free(mc);
}

/* The device's payload as JSON: parsed when it is JSON, else a string;
 * an empty payload is null. */
static json_t *device_payload(const char *payload, size_t len)
{
    if (payload == NULL || len == 0)
        return json_null();
    json_t *v = json_loadb(payload, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    return v != NULL ? v : json_stringn(payload, len);
}

static void on_done(void *arg, int status, const char *payload, size_t len)
{
    method_call *mc = arg;
    dps_http_response res = {0};
    if (status == -1) {
        hubd_api_error(&res, HUBD_ERR_DEVICE_NOT_ONLINE,
                       "Timed out waiting for device %.140s to connect", mc->device_id);
    } else if (status == -2) {
        hubd_api_error(&res, HUBD_ERR_GATEWAY_TIMEOUT,
                       "Timed out waiting for the response from device %.140s", mc->device_id);
    } else {
        json_t *body = json_pack("{s:i,s:o}", "status", status, "payload",
                                 device_payload(payload, len));
        hubd_api__send(&res, 200, body, NULL);
    }
    finish(mc, &res);
}

static void on_cancel(void *arg)
{
    method_call *mc = arg;
    log_debug("method call to %s abandoned by the client", mc->device_id);
    if (mc->handle != 0)
        hubd_sessions_cancel_method(mc->ctx, mc->handle);
    finish(mc, NULL);
}

static bool name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > METHOD_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f || c == '/' || c == '+' || c == '#')
            return false;
    }
    return true;
}

/* An optional integer member within [lo, hi]; -1 when out of range. */
static int timeout_member(const json_t *body, const char *name, int def, int lo, int hi, int *out)
{
    const json_t *v = json_object_get(body, name);
    *out = def;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return -1;
    *out = (int)json_integer_value(v);
    return 0;
}

void hubd_api__method_invoke(const hubd_call *call, dps_http_response *res)
{
    const char *id = call->params[0];
    char *payload = NULL;
    json_t *doc = NULL;
    json_t *body = hubd_api__parse_body(call->req, false, res);
    if (body == NULL)
        return;
    const char *name = json_string_value(json_object_get(body, "methodName"));
    int rt = 0, ct = 0;
    if (name == NULL || !name_ok(name)) {
        hubd_api_error(res, HUBD_ERR_ARGUMENT_INVALID,
                       "methodName must be 1 to %d characters without '/', '+' or '#'",
                       METHOD_NAME_MAX);
        goto done;
    }
    if (timeout_member(body, "responseTimeoutInSeconds", RESPONSE_TIMEOUT_DEFAULT,
                       RESPONSE_TIMEOUT_MIN, RESPONSE_TIMEOUT_MAX, &rt) != 0 ||
        timeout_member(body, "connectTimeoutInSeconds", CONNECT_TIMEOUT_DEFAULT, 0,
                       CONNECT_TIMEOUT_MAX, &ct) != 0) {
        hubd_api_error(res, HUBD_ERR_ARGUMENT_INVALID,
                       "responseTimeoutInSeconds must lie in %d..%d and connectTimeoutInSeconds "
                       "in 0..%d",
                       RESPONSE_TIMEOUT_MIN, RESPONSE_TIMEOUT_MAX, CONNECT_TIMEOUT_MAX);
        goto done;
    }
    const json_t *pv = json_object_get(body, "payload");
    size_t plen = 0;
    if (pv != NULL && !json_is_null(pv)) {
        payload = json_dumps(pv, JSON_COMPACT | JSON_ENCODE_ANY);
        plen = payload != NULL ? strlen(payload) : 0;
        if (payload == NULL || plen > METHOD_PAYLOAD_MAX) {
            hubd_api_error(res, HUBD_ERR_TOO_LARGE, "the payload exceeds %d bytes",
                           METHOD_PAYLOAD_MAX);
            goto done;
        }
    }
    hubd_result hr = hubd_device_load(call->ctx, call->hub, id, &doc, NULL);
    if (hr != HUBD_OK) {
        hubd_api__fail(res, hr, id);
        goto done;
    }
    if (call->ctx->sessions == NULL) {
        hubd_api_error(res, HUBD_ERR_DEVICE_NOT_ONLINE, "Device %.140s is not online", id);
        goto done;
    }
    dps_http_pending *p = dps_http_defer(call->req);
    method_call *mc = p != NULL ? calloc(1, sizeof *mc) : NULL;
    if (mc == NULL) {
        if (p != NULL) {
            dps_http_response err = {0};
            hubd_api_error(&err, HUBD_ERR_SERVER, "out of memory");
            dps_http_pending_complete(p, &err);
        } else {
            hubd_api_error(res, HUBD_ERR_SERVER, "this transport cannot wait for a device");
        }
        goto done;
    }
    mc->ctx = call->ctx;
    mc->pending = p;
    memcpy(mc->device_id, id, strlen(id) + 1); /* valid ID: fits */
    mc->handle = hubd_sessions_invoke_method(call->ctx, call->hub, id, name, payload, plen, rt,
                                             ct, on_done, mc);
    if (mc->handle == 0) {
        dps_http_response err = {0};
        hubd_api_error(&err, HUBD_ERR_THROTTLED, "too many method calls are pending");
        finish(mc, &err);
        goto done;
    }
    dps_http_pending_set_cancel(p, on_cancel, mc);
done:
    json_decref(doc);
    json_decref(body);
    free(payload);
}
