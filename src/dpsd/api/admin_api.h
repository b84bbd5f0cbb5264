/* opendps's admin API: what Azure keeps in ARM (instance settings, linked
 * hubs, access policies), served on the HTTPS listener under /admin and
 * described in docs/admin-api.md. Every call needs the ServiceConfig right. */
#ifndef DPSD_API_ADMIN_API_H
#define DPSD_API_ADMIN_API_H

#include <stdbool.h>

#include "dpsd.h"
#include "http/request.h"

/* Handles req when its first path segment is "admin" (any case) and returns
 * true, having filled res (a result or an error shape); returns false and
 * leaves res alone for every other path. Never blocks on the network; it does
 * call the store. */
bool dps_admin_api_handle(dpsd_ctx *ctx, const dps_http_request *req, dps_http_response *res);

#endif
