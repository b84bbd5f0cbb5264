/* Private to service_auth.c and its tests: authorisation at a given time,
 * so the fixed test vector of service-api.md §10.2 can be checked. */
#ifndef DPSD_API_SERVICE_AUTH_INTERNAL_H
#define DPSD_API_SERVICE_AUTH_INTERNAL_H

#include <stdint.h>

#include "api/service_auth.h"

/* Tolerated clock skew on token expiry, seconds. */
#define DPS_SAS_SKEW_S 300

bool dps_service_authorize_at(dpsd_ctx *ctx, const dps_http_request *req, unsigned any_of,
                              int64_t now_s, dps_http_response *res);

#endif
