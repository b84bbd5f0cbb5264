/* hubd's internal migration endpoint (hub.md §9.4, [project]): what dpsd
 * needs to move a device between hubs with its whole twin, reported
 * properties included, which the public service API cannot write. Not an
 * Azure API and not in the public API documentation (docs/internals/
 * hubd-migration.md describes it); reachable only with the dedicated
 * migration credential, never with a hub policy:
 *
 *   GET /_hubd/migration/{hub}/devices/{id}
 *       200 {"hub", "deviceId", "device": <registry device JSON>,
 *            "twin": {"version", "tags", "properties": {"desired",
 *                     "reported"}}}   (sections with $metadata, $version)
 *   PUT /_hubd/migration/{hub}/devices/{id}/twin   body: a "twin" as above
 *       replaces tags, desired and reported of an existing device, keeping
 *       the versions and metadata sent (the device's history moves with
 *       it); 200 with the twin. The device must exist (dpsd creates it
 *       through the registry API first): 404 otherwise.
 *
 * Authorization: "SharedAccessSignature sr=..&sig=..&se=..&skn=hubdmigration"
 * signed with the migration key (hubd derives it from its admin key, see
 * admin.h); sr is signed but not compared. Errors use the legacy hub shape. */
#ifndef HUBD_API_MIGRATION_H
#define HUBD_API_MIGRATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hubd.h"
#include "net/http_request.h"

#define HUBD_MIGRATION_KEY_NAME "hubdmigration"
#define HUBD_MIGRATION_SEGMENT "migration" /* /_hubd/migration/... */

/* True when the request is for the migration endpoint (answered into res);
 * false leaves res alone. key/keylen: the migration key. */
bool hubd_api_migration_handle(hubd_ctx *ctx, const uint8_t *key, size_t keylen,
                               const dps_http_request *req, dps_http_response *res);

#endif
