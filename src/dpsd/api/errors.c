/* The DPS error shape (errors.h). Every failure of the service API goes
 * through here so the body, the status and the two headers always agree. */
#include "api/errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/rand.h"
#include "common/timeutil.h"

void dps_api_error(dps_http_response *res, int error_code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    char tracking[DPS_UUID_LEN];
    if (dps_uuid_v4(tracking) != 0)
        snprintf(tracking, sizeof tracking, "00000000-0000-0000-0000-000000000000");
    char now[DPS_ISO_TIME_LEN];
    dps_time_iso(dps_now_ns(), now);
    int status = error_code / 1000;
    if (status < 400 || status > 599)
        status = 500;

    json_t *body = json_pack("{s:i,s:s,s:s,s:{},s:s}", "errorCode", error_code, "trackingId",
                             tracking, "message", msg, "info", "timestampUtc", now);
    if (body == NULL) {
        /* Without memory for the body the status and headers still tell
         * the client what happened. */
        log_error("cannot build the error body for %d", error_code);
        res->status = status;
    } else {
        dps_http_response_set_json(res, status, body);
        json_decref(body);
    }
    char code_text[16];
    snprintf(code_text, sizeof code_text, "%d", error_code);
    dps_http_response_add_header(res, "x-ms-error-code", code_text);
    dps_http_response_add_header(res, "x-ms-request-id", tracking);
    if (status >= 500)
        log_error("request failed: %d %s", error_code, msg);
    else
        log_debug("request refused: %d %s", error_code, msg);
}
