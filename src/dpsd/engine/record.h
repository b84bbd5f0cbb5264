/* The registration record (DPS_COLL_REGISTRATION, key = lower-case
 * registration ID, group = lower-case enrollment group ID or none): the
 * DeviceRegistrationState devices and the service API read. The document
 * holds exactly the public fields (device-api.md §5.4, service-api.md §8.5);
 * nothing internal is stored in it, so the service API can show it as is.
 * The operation that wrote it is recognised by its ETag (operations.h). */
#ifndef DPSD_ENGINE_RECORD_H
#define DPSD_ENGINE_RECORD_H

#include <jansson.h>
#include <stdbool.h>

#include "engine/operations.h"
#include "store/store.h"

typedef struct {
    const char *registration_id; /* as the device sent it */
    const char *group_id;        /* enrollmentGroupId as written on the group, or NULL */
    const char *created;         /* ISO time of the first registration */
    const char *updated;         /* ISO time of this one */
    const char *etag;
    dps_op_state status;         /* a final state */
    const char *assigned_hub;    /* with assigned; kept with disabled and failed when known */
    const char *device_id;
    const char *substatus;       /* with assigned: "initialAssignment" for now */
    int error_code;              /* with failed */
    const char *error_message;
    /* X.509 devices: registrationState.x509 ({certificateInfo,
     * enrollmentGroupId, signingCertificateInfo}), shown instead of
     * symmetricKey; NULL for the other attestations. */
    const json_t *x509;
    /* TPM devices: registrationState.tpm ({authenticationKey}: the blob
     * delivering the hub key, tpm.md §10), written with assigned only;
     * NULL for the other attestations. */
    const json_t *tpm;
    const json_t *payload;       /* the allocation webhook's payload, or NULL */
    /* The hub of the device's first assignment, kept for the substatus
     * reprovisionedToInitialAssignment (reprovision.h). Stored under
     * DPS_RECORD_INITIAL_HUB, which no reader outside the engine sees: the
     * engine strips it on load and from what it answers, the service API
     * sanitises it away. NULL: none. */
    const char *initial_hub;
} dps_record_fields;

#define DPS_RECORD_INITIAL_HUB "$initialHub"

/* The registrationState document, members in the order Azure prints them.
 * NULL without memory. */
json_t *dps_record_build(const dps_record_fields *f);

/* What a previous record says (borrowed from doc). */
typedef struct {
    json_t *doc;              /* owned; NULL when there was no record */
    char *etag;               /* owned */
    char *group;              /* owned lower-case group key or NULL */
    const char *created;
    const char *assigned_hub; /* only when status is assigned or disabled */
    const char *device_id;
    const char *status;
    char *initial_hub;        /* owned; DPS_RECORD_INITIAL_HUB, removed from doc */
} dps_prev_record;

/* Reads the record of regkey. 0 (prev->doc NULL when none) or -1 on a
 * store failure or a corrupt document. assigned_hub is set for assigned and
 * disabled records, and for failed ones that still name the hub the device
 * has an identity in (a failed re-registration keeps it). */
int dps_record_load(dps_store *store, const char *regkey, dps_prev_record *prev);
void dps_prev_record_free(dps_prev_record *prev);

/* {"operationId", "status", "registrationState"} as polls and the register
 * answer carry it; state may be NULL (the first 202). */
json_t *dps_operation_body(const char *operation_id, dps_op_state status,
                           const json_t *state);
/* The registrationState of an operation still running:
 * {"registrationId", "status": "assigning"}. */
json_t *dps_record_assigning(const char *registration_id);

#endif
