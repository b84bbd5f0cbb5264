/* Twin handlers (hub.md §7.1): GET, PATCH (merge, If-Match on the twin
 * ETag) and PUT (replace tags and desired) of /twins/{id}. A change of
 * desired properties is passed on to the connected device. */
#include "api/api_internal.h"
#include "model/twin.h"
#include "mqtt/sessions.h"

static void send_twin(const hubd_call *call, dps_http_response *res, json_t *doc)
{
    hubd_conn_info ci = {0};
    hubd_api__conn(call->ctx, call->hub, call->params[0], &ci);
    json_t *twin = hubd_twin_present(doc, &ci);
    json_decref(doc);
    hubd_api__send(res, 200, twin, json_string_value(json_object_get(twin, "etag")));
}

void hubd_api__twin_get(const hubd_call *call, dps_http_response *res)
{
    json_t *doc = NULL;
    hubd_result hr = hubd_device_load(call->ctx, call->hub, call->params[0], &doc, NULL);
    if (hr != HUBD_OK) {
        hubd_api__fail(res, hr, call->params[0]);
        return;
    }
    send_twin(call, res, doc);
}

static void twin_write(const hubd_call *call, dps_http_response *res, bool replace)
{
    const char *id = call->params[0];
    hubd_if_match im;
    if (hubd_api__if_match(call->req, &im, res) != 0)
        return;
    json_t *body = hubd_api__parse_body(call->req, false, res);
    if (body == NULL)
        return;
    json_t *doc = NULL, *change = NULL;
    int64_t version = 0;
    hubd_result hr = hubd_twin_service_write(call->ctx, call->hub, id, body, replace, &im, &doc,
                                             &change, &version);
    json_decref(body);
    if (hr != HUBD_OK) {
        hubd_api__fail(res, hr, id);
        return;
    }
    if (change != NULL && call->ctx->sessions != NULL)
        hubd_sessions_notify_desired(call->ctx, call->hub, id, change, version);
    json_decref(change);
    send_twin(call, res, doc);
}

void hubd_api__twin_patch(const hubd_call *call, dps_http_response *res)
{
    twin_write(call, res, false);
}

void hubd_api__twin_put(const hubd_call *call, dps_http_response *res)
{
    twin_write(call, res, true);
}
