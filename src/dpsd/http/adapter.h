/* How dpsd plugs into the shared HTTPS server (lib/net): the request
 * handler is the API router, and the answers the server gives itself (bad
 * path, too many headers, oversized body, a handler that set no status) are
 * written in the DPS error shape. Both take the dpsd_ctx as arg. */
#ifndef DPSD_HTTP_ADAPTER_H
#define DPSD_HTTP_ADAPTER_H

#include "net/http_request.h"

/* dps_https_handler_fn: arg is the dpsd_ctx. */
void dpsd_http_handle(void *arg, const dps_http_request *req, dps_http_response *res);

/* dps_https_error_fn: 400 -> DPS_ERR_BAD_REQUEST, 413 -> DPS_ERR_TOO_LARGE,
 * anything else -> DPS_ERR_INTERNAL, with message as the error message. */
void dpsd_http_write_error(void *arg, dps_http_response *res, int http_status,
                           const char *message);

#endif
