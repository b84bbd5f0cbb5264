/* dpsd's side of the shared HTTPS server (see adapter.h). */
#include "http/adapter.h"

#include "api/api.h"
#include "api/errors.h"

void dpsd_http_handle(void *arg, const dps_http_request *req, dps_http_response *res)
{
    dps_api_handle(arg, req, res);
}

void dpsd_http_write_error(void *arg, dps_http_response *res, int http_status,
                           const char *message)
{
    (void)arg;
    int code;
    switch (http_status) {
    case 400:
        code = DPS_ERR_BAD_REQUEST;
        break;
    case 413:
        code = DPS_ERR_TOO_LARGE;
        break;
    default:
        /* The server only ever asks for 400, 413 and 500; anything new
         * would be a server-side failure too. */
        code = DPS_ERR_INTERNAL;
        break;
    }
    dps_api_error(res, code, "%s", message);
}
