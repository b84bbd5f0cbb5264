/* The legacy IoT Hub error shape (hub.md §4): the only one the Node service
 * SDK understands; C# falls back to the same string cutting. Every REST
 * failure of hubd, the server's own included, goes through here. */
#include <stdarg.h>
#include <stdio.h>

#include "api/api_internal.h"
#include "common/log.h"
#include "common/rand.h"
#include "common/timeutil.h"

static const struct {
    const char *name;
    int status;
} err_table[] = {
    [HUBD_ERR_ARGUMENT_INVALID] = {"ArgumentInvalid", 400},
    [HUBD_ERR_UNAUTHORIZED] = {"IotHubUnauthorizedAccess", 401},
    [HUBD_ERR_DEVICE_NOT_FOUND] = {"DeviceNotFound", 404},
    [HUBD_ERR_DEVICE_NOT_ONLINE] = {"DeviceNotOnline", 404},
    [HUBD_ERR_NOT_FOUND] = {"NotFound", 404},
    [HUBD_ERR_METHOD_NOT_ALLOWED] = {"MethodNotAllowed", 405},
    [HUBD_ERR_DEVICE_EXISTS] = {"DeviceAlreadyExists", 409},
    [HUBD_ERR_PRECONDITION] = {"PreconditionFailed", 412},
    [HUBD_ERR_TOO_LARGE] = {"MessageTooLarge", 413},
    [HUBD_ERR_THROTTLED] = {"ThrottlingException", 429},
    [HUBD_ERR_SERVER] = {"ServerError", 500},
    [HUBD_ERR_NOT_IMPLEMENTED] = {"NotImplemented", 501},
    [HUBD_ERR_UNAVAILABLE] = {"ServiceUnavailable", 503},
    [HUBD_ERR_GATEWAY_TIMEOUT] = {"GatewayTimeout", 504},
};
#define NERRS (sizeof err_table / sizeof err_table[0])

const char *hubd_api_error_name(hubd_err code)
{
    return (size_t)code < NERRS ? err_table[code].name : "ServerError";
}

int hubd_api_error_status(hubd_err code)
{
    return (size_t)code < NERRS ? err_table[code].status : 500;
}

static void fill(dps_http_response *res, hubd_err code, const char *text)
{
    const char *name = hubd_api_error_name(code);
    int status = hubd_api_error_status(code);
    char tracking[DPS_UUID_LEN];
    if (dps_uuid_v4(tracking) != 0)
        snprintf(tracking, sizeof tracking, "00000000-0000-0000-0000-000000000000");
    char now[DPS_ISO_TIME_LEN];
    dps_time_iso(dps_now_ns(), now);
    char message[640], exception[128];
    snprintf(message, sizeof message, "ErrorCode:%s;%.560s", name, text);
    snprintf(exception, sizeof exception, "Tracking ID:%s Timestamp:%s", tracking, now);
    json_t *body = json_pack("{s:s,s:s}", "Message", message, "ExceptionMessage", exception);
    if (body == NULL) {
        /* The status and header still tell the client what happened. */
        res->status = status;
    } else {
        dps_http_response_set_json(res, status, body);
        json_decref(body);
    }
    dps_http_response_add_header(res, "iothub-errorcode", name);
    dps_http_response_add_header(res, "x-ms-request-id", tracking);
    if (status >= 500)
        log_error("hub request failed: %s %s", name, text);
    else
        log_debug("hub request refused: %s %s", name, text);
}

void hubd_api_error(dps_http_response *res, hubd_err code, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    fill(res, code, text);
}

void hubd_api_write_error(void *ctx, dps_http_response *res, int http_status,
                          const char *message)
{
    (void)ctx;
    hubd_err code = HUBD_ERR_SERVER;
    switch (http_status) {
    case 400:
        code = HUBD_ERR_ARGUMENT_INVALID;
        break;
    case 401:
    case 403:
        code = HUBD_ERR_UNAUTHORIZED;
        break;
    case 404:
        code = HUBD_ERR_NOT_FOUND;
        break;
    case 405:
        code = HUBD_ERR_METHOD_NOT_ALLOWED;
        break;
    case 413:
        code = HUBD_ERR_TOO_LARGE;
        break;
    case 429:
        code = HUBD_ERR_THROTTLED;
        break;
    case 503:
        code = HUBD_ERR_UNAVAILABLE;
        break;
    default:
        break;
    }
    fill(res, code, message != NULL ? message : "");
}
