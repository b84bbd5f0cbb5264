/* The geoLatency model (service-api.md §12.3): opendps cannot measure the
 * latency between a device and a hub region the way Azure does, so it
 * models it. An operator describes, in a JSON file (dpsd option geo_file,
 * docs/allocation.md):
 *
 *   - named locations, optionally with coordinates;
 *   - which client networks (CIDR) are in which location;
 *   - optionally measured round trips between locations, which override
 *     the distance estimate;
 *   - optionally a payload member through which a device may name its own
 *     location (a hint), and a default location.
 *
 * Linked hubs carry a location label (admin API); a device's location comes
 * from its hint, else its client address (longest matching network), else
 * the default. The estimated round trip between two locations is the
 * configured one, else 0 for the same location, else the great-circle
 * distance / 100 km per ms (light in fibre covers about 200 km per ms, and
 * a round trip crosses the distance twice); unknown when neither applies.
 *
 * Pure data and functions: loaded once at start-up (the file is read before
 * the event loop runs), read-only afterwards. */
#ifndef DPSD_ENGINE_GEO_H
#define DPSD_ENGINE_GEO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define DPS_GEO_MAX_LOCATIONS 256
#define DPS_GEO_MAX_NETWORKS 4096
#define DPS_GEO_MAX_LATENCIES 4096
#define DPS_GEO_NAME_MAX 128 /* a location label, as linked hubs allow */
#define DPS_GEO_KM_PER_MS 100.0

typedef struct dps_geo_model dps_geo_model;

/* Parses the model from its JSON document. NULL with the reason in err. */
dps_geo_model *dps_geo_parse(const json_t *doc, char *err, size_t errlen);
/* Reads and parses a file (at start-up only: it blocks). */
dps_geo_model *dps_geo_load_file(const char *path, char *err, size_t errlen);
void dps_geo_free(dps_geo_model **m);

/* Where a device is. source says which input decided ("hint", "network",
 * "default") and is NULL with a NULL result (location unknown). peer is
 * the transport's client address ("192.0.2.7:50122", "[2001:db8::1]:443");
 * payload the device's registration payload (may be NULL). The returned
 * name is the model's spelling, owned by the model. */
const char *dps_geo_locate(const dps_geo_model *m, const char *peer, const json_t *payload,
                           const char **source);

/* Estimated round trip in ms between two locations (names compared without
 * regard to case); a negative value when it cannot be estimated (a name not
 * in the model, or no coordinates and no configured value). */
double dps_geo_latency_ms(const dps_geo_model *m, const char *from, const char *to);

/* Two latencies within this many ms of each other count as a tie, broken
 * by the weighted hash. */
double dps_geo_tie_ms(const dps_geo_model *m);

/* The great-circle distance in km between two points given in degrees
 * (haversine, mean Earth radius 6371 km). Exposed for tests. */
double dps_geo_distance_km(double lat1, double lon1, double lat2, double lon2);

#endif
