/* What dpsd sets up for allocation besides the hub client (docs/
 * allocation.md): the custom-allocation webhook client (options
 * webhook_timeout, webhook_ca_file) and the geoLatency model (geo_file),
 * handed to the registration engine through its options. */
#ifndef DPSD_ALLOCATION_H
#define DPSD_ALLOCATION_H

#include <event2/event.h>
#include <stddef.h>

#include "config.h"
#include "engine/geo.h"
#include "engine/registration.h"
#include "hubclient/webhook_client.h"

typedef struct {
    dps_webhook_client *webhook;
    dps_geo_model *geo; /* NULL without geo_file */
} dpsd_allocation;

/* Reads geo_file (before the loop runs: it blocks) and creates the webhook
 * client on base. -1 with the reason in err; close it in every case. */
int dpsd_allocation_open(dpsd_allocation *a, const dpsd_config *cfg, struct event_base *base,
                         char *err, size_t errlen);
/* Plugs both into the engine's options. */
void dpsd_allocation_apply(dpsd_allocation *a, dps_engine_options *eo);
/* After the engine is freed (it cancels its webhook calls first). */
void dpsd_allocation_close(dpsd_allocation *a);

/* --check: the geo file parses. 0, or -1 with the reason in err. */
int dpsd_allocation_check(const dpsd_config *cfg, char *err, size_t errlen);

#endif
