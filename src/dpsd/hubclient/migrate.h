/* Reprovisioning moves between hubs (hub.md §9.3, service-api.md §14): a
 * device leaves one linked hub for another. Built on the hub client: the
 * identity on the new hub is written by an ordinary provisioning job (so
 * every authentication type works the same), around which a move
 *
 *   migrate: reads the old twin, through hubd's internal migration
 *            endpoint when both hubs have a migration credential (tags,
 *            desired and reported properties with their versions, §9.4),
 *            else through the public twin API (tags and desired only: a
 *            service cannot read-write reported properties; logged);
 *            provisions the new hub; writes the carried twin there (the
 *            internal import, or the job's own twin PUT); then
 *   reset:   provisions the new hub with the initial twin, replacing any
 *            twin it had; then
 *   both:    deletes the identity on the old hub.
 *
 * The old identity is deleted only after the new one is complete, so a
 * failure leaves the device where it was; a failed delete at the end is
 * logged and does not fail the registration (the device already lives on
 * its new hub). Everything runs on the hub client's event loop. */
#ifndef DPSD_HUBCLIENT_MIGRATE_H
#define DPSD_HUBCLIENT_MIGRATE_H

#include <stddef.h>

#include "engine/provision.h"
#include "hubclient/hub_client.h"
#include "hubclient/hub_http.h"

typedef struct dps_hub_move dps_hub_move;

/* Starts a move (job->old_hub_name set). Same contract as the
 * provisioner's start: 0 and done runs once, later; -1 with err. */
int dps_hub_move_start(dps_hub_client *c, const dps_hub_job *job, dps_hub_done_fn done,
                       void *arg, char *err, size_t errlen);
/* Drops every move of the client without calling back (client shutdown). */
void dps_hub_move_free_all(dps_hub_client *c);

/* Path of the internal endpoint for one device, under a registry URL's
 * path prefix: "<prefix>/_hubd/migration/<hub>/devices/<id>". NULL without
 * memory. Exposed for tests. */
char *dps_hub_migration_path(const char *prefix, const char *hub, const char *device_id);

/* ---- what the hub client shares with migrate.c (hub_client.c) ---------- */

/* base, dns, TLS context and timeout for a request to a hub. */
void dps_hub_client__target(const dps_hub_client *c, dps_hub_http_target *t);
/* The head of the client's list of moves. */
dps_hub_move **dps_hub_client__moves(dps_hub_client *c);

#endif
