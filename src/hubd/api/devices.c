/* Registry handlers (hub.md §5): PUT / GET / DELETE /devices/{id} and the
 * legacy list GET /devices?top=N. Disabling a device, changing its
 * credentials or deleting it drops its live MQTT connection. */
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "common/strparse.h"
#include "model/device_query.h"
#include "mqtt/sessions.h"

#define LIST_DEFAULT_TOP 1000
#define LIST_MAX_TOP 1000

static void disconnect(const hubd_call *call, const char *id)
{
    if (call->ctx->sessions != NULL)
        hubd_sessions_disconnect(call->ctx, call->hub, id);
}

/* Answers with the device JSON of a stored document (released). */
static void send_device(const hubd_call *call, dps_http_response *res, json_t *doc)
{
    hubd_conn_info ci = {0};
    const char *id = json_string_value(json_object_get(doc, "deviceId"));
    hubd_api__conn(call->ctx, call->hub, id != NULL ? id : "", &ci);
    json_t *dev = hubd_device_present(doc, &ci);
    json_decref(doc);
    hubd_api__send(res, 200, dev, json_string_value(json_object_get(dev, "etag")));
}

void hubd_api__device_put(const hubd_call *call, dps_http_response *res)
{
    const char *id = call->params[0];
    hubd_if_match im;
    if (hubd_api__if_match(call->req, &im, res) != 0)
        return;
    json_t *body = hubd_api__parse_body(call->req, false, res);
    if (body == NULL)
        return;
    json_t *doc = NULL;
    bool must_disconnect = false;
    hubd_result hr = hubd_device_put(call->ctx, call->hub, id, body, &im, &doc,
                                     &must_disconnect);
    json_decref(body);
    if (hr != HUBD_OK) {
        hubd_api__fail(res, hr, id);
        return;
    }
    if (must_disconnect)
        disconnect(call, id);
    send_device(call, res, doc);
}

void hubd_api__device_get(const hubd_call *call, dps_http_response *res)
{
    json_t *doc = NULL;
    hubd_result hr = hubd_device_load(call->ctx, call->hub, call->params[0], &doc, NULL);
    if (hr != HUBD_OK) {
        hubd_api__fail(res, hr, call->params[0]);
        return;
    }
    send_device(call, res, doc);
}

void hubd_api__device_delete(const hubd_call *call, dps_http_response *res)
{
    const char *id = call->params[0];
    hubd_if_match im;
    if (hubd_api__if_match(call->req, &im, res) != 0)
        return;
    hubd_result hr = hubd_device_delete(call->ctx, call->hub, id, &im);
    if (hr != HUBD_OK) {
        hubd_api__fail(res, hr, id);
        return;
    }
    disconnect(call, id);
    res->status = 204;
}

void hubd_api__device_list(const hubd_call *call, dps_http_response *res)
{
    int64_t top = LIST_DEFAULT_TOP;
    char *text = dps_http_query_get(call->req, "top");
    bool ok = text == NULL || dps_parse_int64(text, strlen(text), 1, LIST_MAX_TOP, &top) == 0;
    free(text);
    if (!ok) {
        hubd_api_error(res, HUBD_ERR_ARGUMENT_INVALID, "top must be an integer from 1 to %d",
                       LIST_MAX_TOP);
        return;
    }
    json_t *items = NULL;
    hubd_result hr = hubd_device_list(call->ctx, call->hub, (size_t)top, hubd_api__conn,
                                      call->ctx, &items);
    if (hr != HUBD_OK) {
        hubd_api__fail(res, hr, "");
        return;
    }
    hubd_api__send(res, 200, items, NULL);
}
