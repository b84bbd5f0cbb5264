/* What an allocation decision reads from the store: the linked hubs (one
 * list per decision, so changes apply at once, service-api.md §11.3) and
 * the instance's default policy, and the decision itself on top of them.
 * Shared by the engine and the dry run (explain.h) so both decide through
 * exactly the same steps. */
#ifndef DPSD_ENGINE_HUBSET_H
#define DPSD_ENGINE_HUBSET_H

#include <jansson.h>
#include <stddef.h>

#include "engine/decide.h"
#include "model/linked_hub.h"
#include "store/store.h"

/* The instance default policy, in the store's meta table (admin API). */
#define DPS_META_ALLOCATION_POLICY "allocation_policy"

typedef struct {
    dps_linked_hub *hubs;
    dps_alloc_hub *alloc; /* alloc[i] borrows from hubs[i] */
    size_t n;
} dps_hub_set;

/* Every usable linked hub (an unreadable document is logged and skipped).
 * 0, or -1 on a store failure; free with dps_hub_set_free either way. */
int dps_hub_set_load(dps_store *store, dps_hub_set *s);
void dps_hub_set_free(dps_hub_set *s);

/* What one registration brings to the decision (borrowed). */
typedef struct {
    const json_t *enrollment;
    const char *regkey;
    const char *api_version;
    const char *peer;
    const json_t *payload;
    const char *current_hub;
} dps_decide_request;

/* Loads the hub set into *hubs (free it in every case) and the default
 * policy, then runs dps_decide. 0 decided (hub or webhook), -1 the
 * registration fails (d->error_code), -2 the store failed. */
int dps_decide_with_store(dps_store *store, const dps_geo_model *geo,
                          const dps_decide_request *r, dps_hub_set *hubs, dps_decision *d);

#endif
