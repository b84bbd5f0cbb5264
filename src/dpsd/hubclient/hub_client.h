/* The asynchronous client of a hub's registry REST API (hub.md §5, §7,
 * §9): writes a provisioned device and its initial twin into the chosen
 * hub. It implements the engine's provisioner seam (engine/provision.h).
 *
 * Per job: PUT /devices/{id} (create); on 409 GET it and, when its keys or
 * capabilities differ, PUT it back with If-Match and the new ones; then
 * PATCH /twins/{id} with the initial twin. A device this job created is
 * deleted again when its twin cannot be written, so a failed registration
 * leaves nothing half-written. Requests are signed with a service SAS from
 * the linked hub's connection string (sr = hub host name, skn = policy).
 * At most max_inflight jobs talk to hubs at once; the rest wait in order. */
#ifndef DPSD_HUBCLIENT_HUB_CLIENT_H
#define DPSD_HUBCLIENT_HUB_CLIENT_H

#include <event2/event.h>
#include <stddef.h>

#include "engine/provision.h"

#define DPS_HUB_API_VERSION "2021-04-12"
#define DPS_HUB_TIMEOUT_DEFAULT 10     /* seconds per request */
#define DPS_HUB_MAX_INFLIGHT_DEFAULT 64

typedef struct {
    struct event_base *base;
    /* PEM bundle of CAs that hub certificates must chain to; NULL or ""
     * = the system trust store. */
    const char *ca_file;
    int timeout_s;       /* per request; 0 = default */
    size_t max_inflight; /* 0 = default */
} dps_hub_client_options;

typedef struct dps_hub_client dps_hub_client;

/* NULL with the reason in err (an unreadable CA file, no memory). */
dps_hub_client *dps_hub_client_new(const dps_hub_client_options *opt, char *err,
                                   size_t errlen);
/* Cancels every job without calling anyone back, then frees; *c = NULL. */
void dps_hub_client_free(dps_hub_client **c);

/* The engine's view of the client. */
dps_hub_provisioner dps_hub_client_provisioner(dps_hub_client *c);

/* Jobs talking to hubs, and waiting for a turn. */
size_t dps_hub_client_active(const dps_hub_client *c);
size_t dps_hub_client_queued(const dps_hub_client *c);

/* registryUrl -> scheme, host, port, path prefix (no trailing '/').
 * "https://127.0.0.1:8444", "http://[::1]:8080/hubs/x". -1 when it is not
 * an http(s) URL with a host. Exposed for tests. */
int dps_hub_url_parse(const char *url, int *tls, char *host, size_t hostlen, int *port,
                      char *prefix, size_t prefixlen);

#endif
