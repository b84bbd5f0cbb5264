/* The device API over HTTPS (device-api.md §5): the thin adapter between
 * router rows and the registration engine (engine/registration.h). It maps
 * a dps_http_request to a dps_reg_request and the engine's answer to a
 * response: JSON bodies, the lower-case retry-after header, errors in the
 * DPS error shape. No attestation, allocation or hub knowledge here. */
#ifndef DPSD_API_DEVICE_API_H
#define DPSD_API_DEVICE_API_H

#include "api/service_internal.h"

/* PUT /{idScope}/registrations/{registrationId}/register */
void dps_api__device_register(dpsd_ctx *ctx, const dps_http_request *req,
                              const dps_route_match *m, dps_http_response *res);
/* GET /{idScope}/registrations/{registrationId}/operations/{operationId} */
void dps_api__device_operation(dpsd_ctx *ctx, const dps_http_request *req,
                               const dps_route_match *m, dps_http_response *res);
/* POST /{idScope}/registrations/{registrationId} (status lookup) */
void dps_api__device_status(dpsd_ctx *ctx, const dps_http_request *req,
                            const dps_route_match *m, dps_http_response *res);

#endif
