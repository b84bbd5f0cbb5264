/* The dry run (an opendps extension, docs/admin-api.md "explain"): which
 * enrollment, allocation policy, hub and reprovisioning action a device's
 * registration would get now, computed by the engine's own decision code
 * (hubset.h, decide.h, reprovision.h) without writing anything: no record,
 * no operation, no hub call, no webhook call (for custom allocation it shows
 * the AllocationRequest the webhook would receive instead).
 *
 * The dry run has no device credentials, so it finds the enrollment the way
 * the store allows: the individual enrollment of the registration ID; else
 * the group the request names, the group of the device's record, or the
 * only group there is (several groups: the caller must name one). */
#ifndef DPSD_ENGINE_EXPLAIN_H
#define DPSD_ENGINE_EXPLAIN_H

#include <jansson.h>

#include "engine/geo.h"
#include "engine/registration.h"
#include "store/store.h"

typedef struct {
    const char *registration_id; /* required */
    const json_t *payload;       /* the registration payload to assume, or NULL */
    const char *group_id;        /* the enrollment group to assume, or NULL */
    const char *client_address;  /* the device's address (geoLatency), or NULL */
    const char *api_version;     /* the device's api-version, NULL = a current one */
} dps_explain_request;

/* 200 with the explanation in *out, or an HTTP-like status (400, 404, 409,
 * 500) with a message. A registration that would fail is a 200 whose
 * explanation says "status": "failed". */
int dps_engine_explain(dps_engine *e, const dps_explain_request *r, json_t **out, char *msg,
                       size_t msglen);

/* For explain.c: what the engine holds (engine.c). */
dps_store *dps_engine__store(const dps_engine *e);
const dps_geo_model *dps_engine__geo(const dps_engine *e);

#endif
