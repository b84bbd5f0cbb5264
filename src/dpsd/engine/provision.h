/* The seam between the registration engine and whatever writes devices into
 * hubs: a small vtable. dpsd plugs in the asynchronous hub registry client
 * (hubclient/hub_client.h); unit tests plug in a fake that completes when
 * the test says so. The engine never blocks on a hub. */
#ifndef DPSD_ENGINE_PROVISION_H
#define DPSD_ENGINE_PROVISION_H

#include <jansson.h>
#include <stdbool.h>

/* What to write into one hub (hub.md §9.1). Borrowed for the start call
 * only: the provisioner copies what it keeps. */
typedef struct {
    const char *hub_name;        /* linked hub host name (TLS name, Host header) */
    const char *registry_url;    /* where its registry REST API listens */
    const char *connection_string; /* policy with RegistryWrite + ServiceConnect (a secret) */
    const char *device_id;       /* hub device ID (case-sensitive) */
    const char *primary_key;     /* base64 device keys written as "sas" authentication */
    const char *secondary_key;
    /* X.509 devices instead of the keys (both NULL then): the SHA-256
     * thumbprint of the device's leaf, written as "selfSigned" with the
     * thumbprint in both slots (hub.md §9.2 [project]). */
    const char *x509_thumbprint;
    bool iot_edge;               /* capabilities.iotEdge */
    /* {"tags": {...}, "properties": {"desired": {...}}} with the reserved
     * members already dropped, or NULL: leave the twin alone (re-registration
     * to the same hub). */
    const json_t *initial_twin;
    /* Reprovisioning (hub.md §9.3, hubclient/migrate.h). replace_twin: PUT
     * the twin instead of PATCH, so nothing of an older twin survives (a
     * reset). */
    bool replace_twin;
    /* The hub's migration credential (hub.md §9.4), a secret; NULL when
     * none is linked. */
    const char *migration_connection_string;
    /* A move: the hub the device leaves (NULL: a plain provisioning). With
     * migrate the twin (tags, desired and, through the migration endpoint,
     * reported) is carried over and initial_twin is ignored; without it the
     * device starts from initial_twin. Either way the old identity is
     * deleted once the new one is written. */
    const char *old_hub_name;
    const char *old_registry_url;
    const char *old_connection_string; /* a secret */
    const char *old_migration_connection_string; /* a secret, or NULL */
    bool migrate;
} dps_hub_job;

/* The outcome of one job. error_code is one of the DPS_REG_FAIL_HUB_*
 * codes (registration.h) when ok is false; message says what happened
 * (never key material). */
typedef struct {
    bool ok;
    int error_code;
    const char *message;
} dps_hub_outcome;

typedef void (*dps_hub_done_fn)(void *arg, const dps_hub_outcome *outcome);

typedef struct {
    /* Starts a job. 0: done is called exactly once, later, from the event
     * loop (never before start returns). -1: the job was not started and
     * done is never called (no memory, an unusable registry URL), with a
     * reason in err. */
    int (*start)(void *self, const dps_hub_job *job, dps_hub_done_fn done, void *arg,
                 char *err, size_t errlen);
    void *self;
} dps_hub_provisioner;

#endif
