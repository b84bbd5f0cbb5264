/* Device identities and twins in the store, shared by the REST API and the
 * MQTT endpoint. Implemented in model/ (the REST API engineer owns it).
 *
 * Hubs are named by their host name; functions take it in any case and
 * compare without regard to case. Device IDs are case-sensitive.
 * Stored per device in DPS_COLL_HUB_DEVICE (key "<hub>/<deviceId>", group
 * "<hub>"): one document holding the identity and the twin (tags, desired
 * and reported properties with $metadata and $version). */
#ifndef HUBD_MODEL_REGISTRY_H
#define HUBD_MODEL_REGISTRY_H

#include <jansson.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hubd.h"

typedef enum {
    HUBD_OK = 0,
    HUBD_NOT_FOUND,
    HUBD_CONFLICT,      /* exists already */
    HUBD_PRECONDITION,  /* ETag mismatch */
    HUBD_INVALID,       /* input breaks a rule (message says which) */
    HUBD_ERROR,         /* store failure */
} hubd_result;

/* True when this hubd hosts the hub; writes its canonical (lower-case) name
 * into canon (at least 256 bytes) when not NULL. */
bool hubd_hub_exists(hubd_ctx *ctx, const char *hub, char *canon);

typedef enum {
    HUBD_AUTH_OK = 0,
    HUBD_AUTH_DENIED,         /* bad signature, expired, wrong audience, wrong cert */
    HUBD_AUTH_DISABLED,       /* device exists but is disabled */
    HUBD_AUTH_UNKNOWN_DEVICE, /* no such device (or hub) */
    HUBD_AUTH_ERROR,          /* store failure */
} hubd_auth_result;

/* MQTT CONNECT with a SAS password: a device token (sr covers
 * {hub}/devices/{deviceId}, no skn, signed with the device's primary or
 * secondary key) or a token signed by a hub policy holding DeviceConnect
 * (skn = policy name). Verified over sr as received, 5 minutes of skew. */
hubd_auth_result hubd_device_auth_sas(hubd_ctx *ctx, const char *hub, const char *device_id,
                                      const char *password, size_t password_len);

/* MQTT CONNECT with a TLS client certificate: selfSigned devices match the
 * leaf's SHA-1 or SHA-256 thumbprint; certificateAuthority devices need a
 * chain to a CA the hub trusts (DPS_COLL_HUB_CA) and CN == device ID. */
hubd_auth_result hubd_device_auth_x509(hubd_ctx *ctx, const char *hub, const char *device_id,
                                       X509 *leaf, STACK_OF(X509) *chain);

/* Twin properties for a device's $iothub/twin/GET:
 * {"desired": {..., "$version": n}, "reported": {..., "$version": m}}
 * without $metadata. *out is a new reference. */
hubd_result hubd_twin_get_properties(hubd_ctx *ctx, const char *hub, const char *device_id,
                                     json_t **out);

/* Applies a reported-properties patch from the device (JSON merge: null
 * deletes; limits enforced), bumps the reported $version and writes
 * $metadata; *new_version receives the new reported $version. */
hubd_result hubd_twin_patch_reported(hubd_ctx *ctx, const char *hub, const char *device_id,
                                     const json_t *patch, int64_t *new_version);

/* One-line reason of the last HUBD_INVALID / HUBD_ERROR on this thread. */
const char *hubd_last_error(void);

#endif
