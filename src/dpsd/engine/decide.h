/* The allocation decision for one registration, as one pure function the
 * engine and the dry run both call (explain.h), so that "what would happen"
 * and "what happens" cannot drift apart: which policy applies and where it
 * comes from (service-api.md §12.2), what reprovisioning does with the
 * current hub (§14, reprovision.h), the candidate hubs, the device's
 * location for geoLatency, and the hub, unless a custom webhook must be
 * asked first (§13). The I/O (webhook, hub writes) stays in the engine. */
#ifndef DPSD_ENGINE_DECIDE_H
#define DPSD_ENGINE_DECIDE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "engine/allocate.h"
#include "engine/geo.h"
#include "engine/reprovision.h"

#define DPS_DECIDE_MAX_LISTED 64 /* iotHubs entries an enrollment may hold */

typedef struct {
    const json_t *enrollment;     /* the deciding individual enrollment or group */
    const char *regkey;           /* lower-case registration ID */
    const char *api_version;      /* the device's (legacy sticky rule) */
    const char *peer;             /* client address (geoLatency), may be NULL */
    const json_t *payload;        /* registration payload (geoLatency hint), may be NULL */
    const char *current_hub;      /* the hub the record names, NULL when none */
    const dps_alloc_hub *linked;  /* every linked hub */
    size_t nlinked;
    const char *instance_default; /* the instance's default policy, NULL when unset */
    const dps_geo_model *geo;     /* NULL: no model (geoLatency hashes) */
} dps_decide_input;

typedef struct {
    const char *policy;        /* spec spelling, or the unknown name as stored */
    const char *policy_source; /* "enrollment", "legacy iotHubHostName",
                                  "instance default", "built-in default" */
    dps_reprov_plan plan;
    int current;               /* index of the current hub in linked, -1 */
    /* The hubs the allocation chooses from; with KEEP only the current one.
     * What a webhook gets as linkedHubs. */
    int cand[DPS_ALLOC_MAX_CANDIDATES];
    size_t ncand;
    bool webhook;              /* custom: the webhook picks among cand */
    const char *device_location;  /* geoLatency: model spelling, NULL if unknown */
    const char *location_source;  /* "hint", "network", "default", NULL */
    int hub;                   /* chosen hub (not with webhook), -1 on failure */
    int error_code;            /* with -1: registrationState.errorCode */
    char message[200];
    char detail[200];          /* how the hub was picked */
} dps_decision;

/* 0: d->hub is chosen, or d->webhook is set (ask it, then call
 * dps_reprov_outcome). -1: the registration fails with d->error_code and
 * d->message. Pointers in d borrow from in. */
int dps_decide(const dps_decide_input *in, dps_decision *d);

/* The hub device ID (hub.md §6): the individual enrollment's deviceId, else
 * its registrationId spelling; a group device keeps the spelling of its
 * first registration (prev_device_id), else the one it registers with.
 * Borrowed from the arguments. */
const char *dps_decide_device_id(const json_t *enrollment, bool is_group,
                                 const char *prev_device_id, const char *registration_id);

#endif
