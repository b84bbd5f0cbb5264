/* POST /_hubd/devices/{id}/messages [project, non-Azure; hub.md §7.3]: the
 * body is the payload, each x-hubd-prop-<name> header one application
 * property, x-hubd-message-id the message ID (else one is generated).
 * 202 when queued for the device; 404 for an unknown device; 429 when its
 * queue is full. */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "api/api_internal.h"
#include "mqtt/sessions.h"

#define C2D_MAX_BODY (64 * 1024)  /* Azure's cloud-to-device message cap */
#define C2D_MAX_PROPS 32
#define C2D_MAX_PROP_NAME 128
#define C2D_MAX_PROP_VALUE 1024
#define C2D_MAX_MESSAGE_ID 128
#define PROP_PREFIX "x-hubd-prop-"

/* The application properties from the headers; NULL after filling res. */
static json_t *read_props(const dps_http_request *req, dps_http_response *res)
{
    json_t *props = json_object();
    size_t plen = strlen(PROP_PREFIX);
    for (size_t i = 0; props != NULL && i < req->nheaders; i++) {
        const dps_http_header *h = &req->headers[i];
        if (h->name == NULL || strncasecmp(h->name, PROP_PREFIX, plen) != 0)
            continue;
        const char *name = h->name + plen;
        const char *value = h->value != NULL ? h->value : "";
        size_t nlen = strlen(name);
        if (nlen == 0 || nlen > C2D_MAX_PROP_NAME || strlen(value) > C2D_MAX_PROP_VALUE ||
            json_object_size(props) >= C2D_MAX_PROPS) {
            hubd_api_error(res, HUBD_ERR_ARGUMENT_INVALID,
                           "at most %d properties, names up to %d and values up to %d bytes",
                           C2D_MAX_PROPS, C2D_MAX_PROP_NAME, C2D_MAX_PROP_VALUE);
            json_decref(props);
            return NULL;
        }
        if (json_object_set_new(props, name, json_string(value)) != 0) {
            json_decref(props);
            props = NULL;
        }
    }
    if (props == NULL)
        hubd_api_error(res, HUBD_ERR_SERVER, "out of memory");
    return props;
}

void hubd_api__c2d_send(const hubd_call *call, dps_http_response *res)
{
    const char *id = call->params[0];
    if (call->req->body_len > C2D_MAX_BODY) {
        hubd_api_error(res, HUBD_ERR_TOO_LARGE, "a cloud-to-device message holds at most %d bytes",
                       C2D_MAX_BODY);
        return;
    }
    const char *mid = dps_http_header_get(call->req, "x-hubd-message-id");
    if (mid != NULL && (mid[0] == '\0' || strlen(mid) > C2D_MAX_MESSAGE_ID)) {
        hubd_api_error(res, HUBD_ERR_ARGUMENT_INVALID, "x-hubd-message-id must be 1 to %d bytes",
                       C2D_MAX_MESSAGE_ID);
        return;
    }
    json_t *doc = NULL;
    hubd_result hr = hubd_device_load(call->ctx, call->hub, id, &doc, NULL);
    json_decref(doc);
    if (hr != HUBD_OK) {
        hubd_api__fail(res, hr, id);
        return;
    }
    json_t *props = read_props(call->req, res);
    if (props == NULL)
        return;
    if (call->ctx->sessions == NULL) {
        json_decref(props);
        hubd_api_error(res, HUBD_ERR_UNAVAILABLE, "the device endpoint is not running");
        return;
    }
    int rc = hubd_sessions_send_c2d(call->ctx, call->hub, id, call->req->body,
                                    call->req->body_len, props, mid);
    json_decref(props);
    if (rc != 0) {
        hubd_api_error(res, HUBD_ERR_THROTTLED, "the message queue of device %.140s is full", id);
        return;
    }
    res->status = 202;
}
