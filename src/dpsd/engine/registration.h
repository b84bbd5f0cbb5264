/* The registration engine: the transport-neutral heart of the device API
 * (design.md "How a registration flows"). A transport adapter (HTTPS now,
 * MQTT next) turns wire input into a dps_reg_request and hands it here; the
 * engine finds the enrollment, attests, allocates a hub, has the hub client
 * write the device into the hub, stores the registration record and tracks
 * the operation (assigning -> assigned | failed | disabled). It never knows
 * which transport a request came on, and transports never see enrollments,
 * keys or hubs.
 *
 * Answers go through a callback so that a transport that answers later (an
 * MQTT publish) and one that answers at once (the HTTPS handler) use the same
 * API. Every entry point below calls its callback exactly once, and always
 * before it returns: a device request is answered from what the engine holds
 * (store and operation table); only the hub work behind an accepted
 * operation is asynchronous, and polls observe it. */
#ifndef DPSD_ENGINE_REGISTRATION_H
#define DPSD_ENGINE_REGISTRATION_H

#include <jansson.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/geo.h"
#include "engine/provision.h"
#include "engine/webhook.h"
#include "store/store.h"

/* Which transport carried a request: for log lines only. */
typedef enum {
    DPS_TRANSPORT_HTTPS,
    DPS_TRANSPORT_MQTT,
} dps_transport_kind;

/* One device request, as the transport received it. Every pointer is
 * borrowed for the duration of the call. */
typedef struct {
    dps_transport_kind transport;
    const char *id_scope;        /* as sent (compared without regard to case) */
    const char *registration_id; /* as sent, percent-decoded */
    const char *api_version;     /* NULL when the client sent none */
    const char *operation_id;    /* operation status only */
    /* Credentials. Symmetric key now; the X.509 issue adds the TLS client
     * chain and the TPM issue the EK/SRK from the body. */
    const char *sas_token; /* Authorization header / MQTT password; NULL if none */
    /* X.509 (attest_x509.c): the TLS client certificate and what the client
     * sent after it (intermediates, unverified; NULL or empty when none).
     * Both NULL when the device presented no certificate. */
    X509 *client_leaf;
    STACK_OF(X509) *client_chain;
    /* DeviceRegistration JSON (register and status lookup); NULL or empty
     * means {} (the C# MQTT client sends nothing). */
    const char *body;
    size_t body_len;
    const char *peer; /* client address, for logs */
} dps_reg_request;

/* What the engine answers. status is HTTP-like: 200 (final result, or the
 * status lookup), 202 (accepted / still assigning), or an error status with
 * a six-digit error_code (status * 1000 + sub-code) and a message. */
typedef struct {
    int status;
    int error_code;      /* errors only */
    const char *message; /* errors only; never holds key material */
    int retry_after;     /* seconds, with 202 (and 429); 0 = none */
    /* 200/202: RegistrationOperationStatus ({operationId, status,
     * registrationState}) or, for the status lookup, a bare
     * DeviceRegistrationResult. NULL with errors, except the TPM
     * challenge: 401 with {message, authenticationKey, keyName}, which an
     * HTTPS adapter writes as is instead of the error shape (tpm.md §4.2;
     * error_code and message are set too, for adapters that cannot carry
     * it). Borrowed: copy or serialise it inside the callback. */
    const json_t *body;
} dps_reg_answer;

typedef void (*dps_reg_answer_fn)(void *arg, const dps_reg_answer *answer);

/* Error codes of the device API (docs/device-api.md). Immediate answers use
 * them as (status, error_code); failed operations carry the last group in
 * registrationState.errorCode. */
enum {
    DPS_REG_ERR_BAD_REQUEST = 400001,    /* malformed body, bad operation ID */
    DPS_REG_ERR_INVALID_JSON = 400002,   /* body is not a JSON object */
    DPS_REG_ERR_BAD_API_VERSION = 400003,/* api-version missing or not in the table */
    DPS_REG_ERR_INVALID_ID = 400005,     /* registration ID syntax */
    DPS_REG_ERR_ID_MISMATCH = 400006,    /* body registrationId differs from the path */
    DPS_REG_ERR_UNAUTHORIZED = 401002,   /* SAS missing, bad, expired, wrong audience or key */
    DPS_REG_ERR_NOT_FOUND = 404201,      /* scope, enrollment, registration or operation unknown */
    DPS_REG_ERR_THROTTLED = 429001,      /* too many operations in progress */
    DPS_REG_ERR_INTERNAL = 500001,       /* store failure, no memory */
    /* registrationState.errorCode of failed operations: */
    DPS_REG_FAIL_NO_HUB = 400208,        /* no usable IoT hub for the enrollment */
    DPS_REG_FAIL_CUSTOM_BAD_REQUEST = 400207, /* the allocation webhook answered 400 */
    DPS_REG_FAIL_CUSTOM = 400209,        /* the webhook failed otherwise: status, timeout, bad
                                            answer, a hub it was not offered */
    DPS_REG_FAIL_HUB_REFUSED = 500101,   /* the hub answered the registry call with an error */
    DPS_REG_FAIL_HUB_UNREACHABLE = 503101, /* connect, TLS or timeout talking to the hub */
};

/* Caps and defaults. */
#define DPS_REG_RETRY_AFTER_DEFAULT 1   /* seconds; clients accept 1..300 */
#define DPS_REG_RETRY_AFTER_MAX 300
#define DPS_REG_OPERATION_TTL_DEFAULT 600 /* seconds a finished operation stays pollable */
#define DPS_REG_MAX_OPERATIONS_DEFAULT 10000
#define DPS_REG_SAS_SKEW_S 300          /* expiry tolerance (Microsoft's constant) */
#define DPS_REG_MAX_EXTRA_VERSIONS 8

typedef struct {
    dps_store *store;        /* required; used on the calling thread only */
    const char *id_scope;    /* this instance's scope, required */
    int retry_after_s;       /* 1..300; 0 = DPS_REG_RETRY_AFTER_DEFAULT */
    int64_t operation_ttl_s; /* >0; 0 = DPS_REG_OPERATION_TTL_DEFAULT */
    size_t max_operations;   /* operations in memory at once; 0 = default */
    /* api-versions admitted besides the built-in table (device-api.md §4:
     * a forgotten firmware version can be let in without a rebuild). */
    const char *const *extra_api_versions;
    size_t n_extra_api_versions; /* at most DPS_REG_MAX_EXTRA_VERSIONS */
    /* Writes devices into hubs (hubclient/ in dpsd, a fake in tests).
     * Must outlive the engine's last job: free the provisioner first. */
    dps_hub_provisioner provisioner;
    /* Clock for SAS expiry and timestamps; NULL = the wall clock. */
    int64_t (*now_ns)(void);
    /* Sends custom allocation webhook calls (hubclient/webhook_client.h);
     * start NULL: custom allocation fails with 400209. Must outlive the
     * engine: free the engine first (it cancels its calls). */
    dps_webhook_caller webhook;
    /* The geoLatency model (geo.h), NULL: none (geoLatency hashes).
     * Borrowed; must outlive the engine. */
    const dps_geo_model *geo;
} dps_engine_options;

typedef struct dps_engine dps_engine;

/* NULL when out of memory or an option is out of range (logged). */
dps_engine *dps_engine_new(const dps_engine_options *opt);
/* Frees the engine and every operation; sets *e to NULL. Hub jobs still
 * running must have been cancelled (dps_hub_client_free) before. */
void dps_engine_free(dps_engine **e);

/* PUT /{scope}/registrations/{id}/register. Answers 202 with a new (or the
 * running) operation, or an immediate error (400, 401, 404, 429, 500). */
void dps_engine_register(dps_engine *e, const dps_reg_request *req, dps_reg_answer_fn fn,
                         void *arg);
/* GET .../operations/{operationId}: 202 while assigning, 200 when final
 * (also after a restart, from the registration record), 404 when unknown. */
void dps_engine_operation_status(dps_engine *e, const dps_reg_request *req,
                                 dps_reg_answer_fn fn, void *arg);
/* POST /{scope}/registrations/{id}: 200 with the stored
 * DeviceRegistrationResult, 404 when the device never registered. */
void dps_engine_registration_status(dps_engine *e, const dps_reg_request *req,
                                    dps_reg_answer_fn fn, void *arg);
/* Authenticates a device without starting anything, for transports that
 * authenticate when the device connects (MQTT CONNECT, device-api.md
 * §6.1): the checks register makes before it creates an operation (ID
 * scope 404, registration ID 400, SAS shape, expiry and audience 401,
 * enrollment and key 401 / 404, store 500). 200 with no body when the
 * device proved itself (a disabled enrollment too: register then answers
 * with the final status "disabled"). The api-version is left to each
 * request, which answers a bad one in the protocol's own error shape. */
void dps_engine_authenticate(dps_engine *e, const dps_reg_request *req, dps_reg_answer_fn fn,
                             void *arg);

/* Operations currently held (running and finished, not yet expired). */
size_t dps_engine_operation_count(dps_engine *e);

/* True when version is in the device-api.md §4 table or among extra
 * (compared without regard to case). */
bool dps_api_version_supported(const char *version, const char *const *extra, size_t nextra);

#endif
