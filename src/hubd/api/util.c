/* Helpers every hubd REST handler shares: body and If-Match reading, the
 * success answer, model failures as error answers, live device state. */
#include <stdio.h>
#include <string.h>

#include "api/api_internal.h"
#include "common/json.h"
#include "mqtt/sessions.h"

json_t *hubd_api__parse_body(const dps_http_request *req, bool empty_ok, dps_http_response *res)
{
    if (req->body == NULL || req->body_len == 0) {
        if (empty_ok)
            return json_object();
        hubd_api_error(res, HUBD_ERR_ARGUMENT_INVALID, "the request needs a JSON body");
        return NULL;
    }
    if (req->body_len > HUBD_API_MAX_JSON) {
        hubd_api_error(res, HUBD_ERR_TOO_LARGE, "body of %zu bytes exceeds %d bytes",
                       req->body_len, HUBD_API_MAX_JSON);
        return NULL;
    }
    char err[200];
    json_t *v = dps_json_parse_object(req->body, req->body_len, HUBD_API_MAX_JSON, err,
                                      sizeof err);
    if (v == NULL)
        hubd_api_error(res, HUBD_ERR_ARGUMENT_INVALID, "%s", err);
    return v;
}

int hubd_api__if_match(const dps_http_request *req, hubd_if_match *out, dps_http_response *res)
{
    if (hubd_if_match_parse(dps_http_header_get(req, "If-Match"), out) != 0) {
        hubd_api_error(res, HUBD_ERR_ARGUMENT_INVALID, "If-Match is not a valid ETag");
        return -1;
    }
    return 0;
}

void hubd_api__send(dps_http_response *res, int status, json_t *body, const char *etag)
{
    if (body == NULL) {
        hubd_api_error(res, HUBD_ERR_SERVER, "out of memory building the answer");
        return;
    }
    /* etag may point into body: use it before body goes. */
    if (etag != NULL) {
        char quoted[HUBD_IF_MATCH_MAX + 3];
        snprintf(quoted, sizeof quoted, "\"%.*s\"", HUBD_IF_MATCH_MAX, etag);
        dps_http_response_add_header(res, "ETag", quoted);
    }
    dps_http_response_set_json(res, status, body);
    json_decref(body);
}

void hubd_api__fail(dps_http_response *res, hubd_result hr, const char *id)
{
    const char *why = hubd_last_error();
    switch (hr) {
    case HUBD_NOT_FOUND:
        hubd_api_error(res, HUBD_ERR_DEVICE_NOT_FOUND, "Device %.140s is not registered", id);
        break;
    case HUBD_CONFLICT:
        hubd_api_error(res, HUBD_ERR_DEVICE_EXISTS, "A device with ID '%.140s' is already "
                       "registered", id);
        break;
    case HUBD_PRECONDITION:
        hubd_api_error(res, HUBD_ERR_PRECONDITION, "%s",
                       why[0] ? why : "the ETag does not match If-Match");
        break;
    case HUBD_INVALID:
        hubd_api_error(res, HUBD_ERR_ARGUMENT_INVALID, "%s", why[0] ? why : "invalid request");
        break;
    default:
        hubd_api_error(res, HUBD_ERR_SERVER, "%s", why[0] ? why : "internal error");
        break;
    }
}

void hubd_api__conn(void *arg, const char *hub, const char *device_id, hubd_conn_info *out)
{
    hubd_live_state ls = {0};
    if (arg != NULL && ((hubd_ctx *)arg)->sessions != NULL)
        hubd_sessions_live_state(arg, hub, device_id, &ls);
    out->connected = ls.connected;
    out->state_updated_ns = ls.state_updated_ns;
    out->last_activity_ns = ls.last_activity_ns;
}
