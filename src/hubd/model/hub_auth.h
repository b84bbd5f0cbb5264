/* SAS authentication against hub policies and device keys (hub.md §3.2):
 * which hub a REST request is for, whether its service token holds the
 * rights the call needs, and device tokens for MQTT CONNECT.
 *
 * Hub resolution for REST (several hubs share one listener):
 *   1. the Host header, without its port, names a hosted hub;
 *   2. else the host part of the token's decoded sr (before the first '/',
 *      without a port) names one;
 *   3. else the first hub (in name order) that has the policy named by skn
 *      and whose key verifies the signature: clients that use
 *      HostName=localhost:PORT in their connection string land here.
 * The audience check then accepts an sr that covers either the hub's host
 * name or the Host header the client used (case 3). */
#ifndef HUBD_MODEL_HUB_AUTH_H
#define HUBD_MODEL_HUB_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hubd.h"
#include "model/hubs.h"
#include "model/registry.h"

#define HUBD_SAS_SKEW_S 300 /* tolerated clock skew on token expiry */

/* Finds the hub of a REST request. HUBD_OK with the canonical name in hub;
 * HUBD_NOT_FOUND when nothing names a hosted hub; HUBD_ERROR on a store
 * failure. authorization may be NULL. */
hubd_result hubd_resolve_hub(hubd_ctx *ctx, const char *host_header, const char *authorization,
                             char hub[HUBD_HUB_NAME_SIZE]);

/* Checks a service token for a canonical hub: skn names one of its
 * policies, the signature matches that policy's primary or secondary key
 * (over sr as received, constant time), sr covers the hub or host_header,
 * the token has not expired (HUBD_SAS_SKEW_S), and the policy holds at
 * least one right of any_of. HUBD_AUTH_DENIED with the reason in why;
 * HUBD_AUTH_ERROR on a store failure. */
hubd_auth_result hubd_service_auth(hubd_ctx *ctx, const char *hub, const char *authorization,
                                   const char *host_header, unsigned any_of, int64_t now_s,
                                   char *why, size_t whylen);

/* hubd_device_auth_sas at a given time (tests use the fixed vector of
 * hub.md §3.2). */
hubd_auth_result hubd_device_auth_sas_at(hubd_ctx *ctx, const char *hub, const char *device_id,
                                         const char *password, size_t password_len,
                                         int64_t now_s);

#endif
