/* Allocation: which linked hub a device goes to (service-api.md §12). Pure
 * functions over a snapshot of the linked hubs, so every policy is unit
 * tested without a store. One function per policy behind a table
 * (allocate.c). The custom policy is not decided here: its webhook is I/O,
 * which decide.c and the engine drive; this file gives it the candidate
 * set (dps_alloc_candidates). */
#ifndef DPSD_ENGINE_ALLOCATE_H
#define DPSD_ENGINE_ALLOCATE_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/geo.h"

#define DPS_ALLOC_MAX_CANDIDATES 256 /* more linked hubs than this is an operator error */

/* One linked hub as allocation sees it. */
typedef struct {
    const char *name;             /* host name as linked */
    int weight;                   /* 1..1000 (1 when never set) */
    bool apply_allocation_policy; /* false: only when an enrollment lists it */
    const char *location;         /* location label, NULL when never set (geoLatency) */
} dps_alloc_hub;

typedef struct {
    /* The enrollment's allocationPolicy ("hashed", "geoLatency", "static",
     * "custom", any case), or the instance default when it has none. */
    const char *policy;
    /* The enrollment's iotHubs (host names as written); empty = all linked
     * hubs with applyAllocationPolicy true. */
    const char *const *listed;
    size_t nlisted;
    const dps_alloc_hub *linked;
    size_t nlinked;
    const char *registration_key; /* lower-case registration ID */
    /* geoLatency: the model and the device's location in it (NULL when
     * unknown: the policy then hashes over every candidate). */
    const dps_geo_model *geo;
    const char *device_location;
} dps_alloc_input;

typedef struct {
    int hub;        /* index into linked, or -1 */
    int error_code; /* with hub == -1: registrationState.errorCode */
    char message[200];
    char detail[200]; /* how the policy decided, for the dry run (explain.c) */
} dps_alloc_result;

/* Picks a hub. Returns 0 with out->hub set, or -1 with error_code and
 * message (no usable hub, an unknown or unavailable policy). */
int dps_allocate(const dps_alloc_input *in, dps_alloc_result *out);

/* The candidate hubs of §12.2 as indexes into in->linked (at most max):
 * the listed hubs that are linked (a listing overrides
 * applyAllocationPolicy false), else every linked hub taking part in
 * automatic allocation. What the custom webhook gets as linkedHubs. */
size_t dps_alloc_candidates(const dps_alloc_input *in, int *cand, size_t max);

/* The policy's spec spelling ("hashed", "geoLatency", "static", "custom")
 * for any case of a known name, else NULL. */
const char *dps_alloc_policy_name(const char *policy);

/* The weighted rendezvous score of one hub for one device (§12.3):
 * x = first 8 bytes of SHA-256(key || 0x00 || lower-case hub name) read
 * big-endian, u = (x + 0.5) / 2^64, score = -weight / ln(u). Exposed for
 * tests and for tools that want to predict an assignment. */
double dps_alloc_hashed_score(const char *registration_key, const char *hub_name, int weight);

#endif
