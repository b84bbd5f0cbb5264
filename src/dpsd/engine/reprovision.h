/* Reprovisioning decisions (service-api.md §14, device-api.md §11.4): what
 * a registration does with the hub a device already has. Pure functions,
 * shared by the engine and the dry run (explain.h), unit tested without a
 * store or a hub.
 *
 * Two steps, because the new hub may only be known later (a custom
 * webhook answers asynchronously):
 *   1. dps_reprov_plan_make, before allocation: first assignment, keep the
 *      current hub (never reprovision, legacy sticky), or run allocation
 *      again and migrate or reset on a move;
 *   2. dps_reprov_outcome, once the hub is known: the hub action and the
 *      substatus the record gets. */
#ifndef DPSD_ENGINE_REPROVISION_H
#define DPSD_ENGINE_REPROVISION_H

#include <jansson.h>
#include <stdbool.h>

/* Device API versions older than this one predate reprovisioning policies
 * (device-api.md §11.4 takes "older than 2018-09-01-preview"). */
#define DPS_REPROV_LEGACY_BEFORE "2018-09-01-preview"

typedef enum {
    DPS_REPROV_FIRST,      /* no usable previous assignment: allocate, initial twin */
    DPS_REPROV_KEEP,       /* stay on the current hub (never reprovision, legacy sticky) */
    DPS_REPROV_REALLOCATE, /* allocate again; a move migrates or resets */
} dps_reprov_mode;

typedef struct {
    const char *current_hub; /* the hub the device's record names, NULL when none */
    bool current_linked;     /* that hub is still linked */
    /* The enrollment's reprovisionPolicy member as stored, NULL when the
     * enrollment has none (enrollments written without one). */
    const json_t *policy;
    const char *api_version; /* the device's, NULL when unknown */
} dps_reprov_input;

typedef struct {
    dps_reprov_mode mode;
    bool migrate;       /* REALLOCATE: carry the twin on a move (else reset) */
    const char *reason; /* one line, for logs and the dry run (static text) */
} dps_reprov_plan;

void dps_reprov_plan_make(const dps_reprov_input *in, dps_reprov_plan *out);

/* What happens in the hubs once the hub is chosen. */
typedef enum {
    DPS_HUB_ACT_CREATE,  /* first assignment: create the identity, write the initial twin */
    DPS_HUB_ACT_SAME,    /* same hub again: make sure the identity is there, twin untouched */
    DPS_HUB_ACT_MIGRATE, /* move carrying tags, desired and reported; old identity deleted */
    DPS_HUB_ACT_RESET,   /* move with the initial twin; old identity deleted */
} dps_hub_action;

/* The action for landing on new_hub, and the record's substatus:
 * initialAssignment for a first assignment and for a re-registration that
 * kept its hub; deviceDataMigrated / deviceDataReset for a move; and
 * reprovisionedToInitialAssignment for a move back to the hub of the
 * device's first assignment (initial_hub) [project: the trigger is open in
 * the references]. */
void dps_reprov_outcome(const dps_reprov_plan *plan, const char *current_hub,
                        const char *new_hub, const char *initial_hub, dps_hub_action *act,
                        const char **substatus);

/* "create", "keep", "migrate", "reset" (the dry run's words). */
const char *dps_hub_action_name(dps_hub_action a);

/* True for device api-versions older than DPS_REPROV_LEGACY_BEFORE. */
bool dps_reprov_legacy_client(const char *api_version);

/* The initial twin a hub action writes (§13.3): the webhook's when it sent
 * one (not null), else the enrollment's, for a first assignment and a
 * reset; nothing for the same hub (data kept) or a migration (the carried
 * twin). Either argument may be NULL; the result is borrowed. */
const json_t *dps_reprov_twin_source(dps_hub_action act, const json_t *webhook_twin,
                                     const json_t *enrollment_twin);

#endif
