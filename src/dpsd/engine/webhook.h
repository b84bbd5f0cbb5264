/* The custom allocation webhook (service-api.md §13): the AllocationRequest
 * the engine POSTs and the AllocationResponse it reads back, as pure
 * functions (unit tested without a network), and the seam through which
 * the engine has the request sent (dpsd plugs in hubclient/webhook_client.h,
 * tests a fake). The engine never blocks on a webhook: the call is
 * asynchronous like the hub jobs, and the operation stays "assigning"
 * meanwhile. */
#ifndef DPSD_ENGINE_WEBHOOK_H
#define DPSD_ENGINE_WEBHOOK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define DPS_WEBHOOK_TIMEOUT_DEFAULT 10 /* seconds, no retry [project] */

/* What the request is built from. Everything is borrowed. */
typedef struct {
    const json_t *enrollment; /* the stored individual enrollment or group */
    bool is_group;
    const char *registration_id;  /* as the device sent it */
    const char *current_hub;      /* NULL for a first assignment */
    const char *current_device_id;
    /* deviceRuntimeContext attestation member: "symmetricKey", "x509" or
     * "tpm", with its content (NULL = {}). */
    const char *attestation_type;
    const json_t *attestation_context;
    const json_t *payload;         /* the device's registration payload, NULL if none */
    const char *const *linked_hubs; /* candidates, or only the current hub (never) */
    size_t nlinked;
} dps_webhook_input;

/* The AllocationRequest body: individualEnrollment or enrollmentGroup (the
 * stored record without secrets: "attestation" reduced to its type, the
 * etag in its raw quoted form), deviceRuntimeContext and linkedHubs. NULL
 * without memory. */
json_t *dps_webhook_request(const dps_webhook_input *in);

/* The outcome of one call, from the HTTP reply. */
typedef struct {
    bool ok;
    int hub;               /* index into the linked_hubs given to parse */
    json_t *initial_twin;  /* owned; NULL when absent or null */
    json_t *payload;       /* owned; NULL when absent */
    int error_code;        /* !ok: 400207 for a 400 answer, 400209 otherwise */
    char message[300];
} dps_webhook_result;

/* Reads the webhook's answer. status 0 means no answer (error says why:
 * timeout, connection, TLS). A 2xx needs a JSON object whose
 * iotHubHostName is one of linked_hubs (any case); initialTwin must be
 * null or {"tags"?: {}, "properties"?: {"desired"?: {}}}; payload any JSON.
 * Fills out in every case; free it with dps_webhook_result_free. */
void dps_webhook_parse(int status, const char *body, size_t body_len, const char *error,
                       const char *const *linked_hubs, size_t nlinked,
                       dps_webhook_result *out);
void dps_webhook_result_free(dps_webhook_result *r);

/* ---- the transport seam ---------------------------------------------------- */

typedef struct {
    int status;        /* HTTP status; 0 when no answer came */
    const char *body;  /* NULL when empty */
    size_t body_len;
    const char *error; /* with status 0 */
} dps_webhook_reply;

typedef void (*dps_webhook_done_fn)(void *arg, const dps_webhook_reply *reply);

typedef struct {
    /* POSTs body (JSON) to url, the query string kept verbatim. 0: done
     * runs exactly once, later, from the event loop (never before start
     * returns), unless the call is cancelled; *call is its handle. -1: not
     * started (err says why), done never runs. */
    int (*start)(void *self, const char *url, const char *body, dps_webhook_done_fn done,
                 void *arg, void **call, char *err, size_t errlen);
    /* Drops a call that has not completed; done never runs. */
    void (*cancel)(void *self, void *call);
    void *self;
} dps_webhook_caller;

#endif
