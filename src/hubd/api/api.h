/* Entry points of hubd's REST side for the HTTPS server (lib/net): every
 * request of the registry, twin, method, C2D and telemetry APIs goes through
 * hubd_api_handle; the server's own refusals (oversized body, bad path) go
 * through hubd_api_write_error so they carry the same error shape. The
 * reference is docs/hubd-api.md. */
#ifndef HUBD_API_API_H
#define HUBD_API_API_H

#include "net/http_request.h"

/* ctx is the hubd_ctx (void * to fit dps_https_handler_fn). Fills res, or
 * defers it (direct methods, the telemetry stream). Never blocks. */
void hubd_api_handle(void *ctx, const dps_http_request *req, dps_http_response *res);

/* Fills res with the legacy error shape for an HTTP status. */
void hubd_api_write_error(void *ctx, dps_http_response *res, int http_status,
                          const char *message);

#endif
