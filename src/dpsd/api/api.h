/* Entry point of dpsd's HTTP APIs: the server glue hands every request here.
 * The router dispatches by path to the service API (enrollments, groups,
 * registration records), the admin API (instance, linked hubs, policies) and,
 * later, the device API; it always fills res (an error shape when nothing
 * matches). Never blocks. */
#ifndef DPSD_API_API_H
#define DPSD_API_API_H

#include "dpsd.h"
#include "http/request.h"

void dps_api_handle(dpsd_ctx *ctx, const dps_http_request *req, dps_http_response *res);

#endif
