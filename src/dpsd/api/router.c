/* The request router (api.h): one table of routes, matched on the decoded
 * path segments with fixed segments compared without regard to case
 * (service-api.md §3). A path that matches a row with another method is
 * 405; no matching row is 404. Each row names the rights a caller needs
 * (any of them); rows with no rights do their own authentication (the
 * device API, whose SAS the registration engine checks). */
#include "api/api.h"

#include <strings.h>

#include "api/admin_api.h"
#include "api/device_api.h"
#include "api/enroll_ops.h"
#include "api/errors.h"
#include "api/service_auth.h"
#include "api/service_internal.h"

#define PARAM "{}" /* a pattern segment that captures the decoded segment */
#define MAX_PATTERN 5 /* the device poll: {scope}/registrations/{id}/operations/{op} */

typedef struct {
    dps_http_method method;
    const char *pattern[MAX_PATTERN]; /* NULL-terminated when shorter */
    unsigned rights;
    dps_route_fn fn;
    const void *arg;
} dps_route;

#define ENR_READ (DPS_RIGHT_ENROLLMENT_READ | DPS_RIGHT_ENROLLMENT_WRITE)
#define ENR_WRITE DPS_RIGHT_ENROLLMENT_WRITE
#define REG_READ                                                                                   \
    (DPS_RIGHT_REGISTRATION_STATUS_READ | DPS_RIGHT_REGISTRATION_STATUS_WRITE |                    \
     DPS_RIGHT_SERVICE_CONFIG)
#define REG_WRITE (DPS_RIGHT_REGISTRATION_STATUS_WRITE | DPS_RIGHT_SERVICE_CONFIG)

#define ENROLLMENT_ROUTES(seg, desc)                                                               \
    {DPS_HTTP_POST, {seg, "query"}, ENR_READ, dps_api__enroll_query, desc},                        \
        {DPS_HTTP_POST, {seg}, ENR_WRITE, dps_api__enroll_bulk, desc},                             \
        {DPS_HTTP_PUT, {seg, PARAM}, ENR_WRITE, dps_api__enroll_put, desc},                        \
        {DPS_HTTP_GET, {seg, PARAM}, ENR_READ, dps_api__enroll_get, desc},                         \
        {DPS_HTTP_DELETE, {seg, PARAM}, ENR_WRITE, dps_api__enroll_delete, desc},                  \
        {DPS_HTTP_POST, {seg, PARAM, "attestationmechanism"}, ENR_READ,                            \
         dps_api__enroll_attestation, desc}

/* Order matters only where a literal and a parameter compete for the same
 * position: the literal row comes first. */
static const dps_route routes[] = {
    ENROLLMENT_ROUTES("enrollments", &dps_enroll_individual_desc),
    ENROLLMENT_ROUTES("enrollmentGroups", &dps_enroll_group_desc),
    {DPS_HTTP_POST, {"registrations", PARAM, "query"}, REG_READ, dps_api__registration_query,
     NULL},
    {DPS_HTTP_GET, {"registrations", PARAM}, REG_READ, dps_api__registration_get, NULL},
    {DPS_HTTP_DELETE, {"registrations", PARAM}, REG_WRITE, dps_api__registration_delete, NULL},
    /* Device API (device-api.md §5.1): {idScope}/registrations/{id}/...;
     * the engine authenticates the device. After the service rows so that
     * POST /registrations/{groupId}/query stays the service query. */
    {DPS_HTTP_PUT, {PARAM, "registrations", PARAM, "register"}, 0, dps_api__device_register,
     NULL},
    {DPS_HTTP_GET, {PARAM, "registrations", PARAM, "operations", PARAM}, 0,
     dps_api__device_operation, NULL},
    {DPS_HTTP_POST, {PARAM, "registrations", PARAM}, 0, dps_api__device_status, NULL},
};

static size_t pattern_len(const dps_route *r)
{
    size_t n = 0;
    while (n < MAX_PATTERN && r->pattern[n] != NULL)
        n++;
    return n;
}

/* True when the segments fit the row's pattern; fills m's parameters. */
static bool route_matches(const dps_route *r, const dps_http_request *req, dps_route_match *m)
{
    size_t n = pattern_len(r);
    if (req->nsegments != n)
        return false;
    m->nparams = 0;
    for (size_t i = 0; i < n; i++) {
        const char *pat = r->pattern[i];
        if (pat[0] == '{') {
            if (m->nparams == DPS_ROUTE_MAX_PARAMS)
                return false;
            m->params[m->nparams++] = req->segments[i];
        } else if (strcasecmp(pat, req->segments[i]) != 0) {
            return false;
        }
    }
    m->arg = r->arg;
    return true;
}

void dps_api_handle(dpsd_ctx *ctx, const dps_http_request *req, dps_http_response *res)
{
    if (req->nsegments > 0 && strcasecmp(req->segments[0], "admin") == 0) {
        if (!dps_admin_api_handle(ctx, req, res))
            dps_api_error(res, DPS_ERR_ROUTE_NOT_FOUND, "no such resource: %s",
                          req->path ? req->path : "/");
        return;
    }
    bool path_known = false;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const dps_route *r = &routes[i];
        dps_route_match m = {0};
        if (!route_matches(r, req, &m))
            continue;
        path_known = true;
        if (r->method != req->method)
            continue;
        if (r->rights != 0 && !dps_service_authorize(ctx, req, r->rights, res))
            return;
        r->fn(ctx, req, &m, res);
        return;
    }
    if (path_known)
        dps_api_error(res, DPS_ERR_METHOD_NOT_ALLOWED, "method %s is not allowed on %s",
                      dps_http_method_name(req->method), req->path ? req->path : "/");
    else
        dps_api_error(res, DPS_ERR_ROUTE_NOT_FOUND, "no such resource: %s",
                      req->path ? req->path : "/");
}
