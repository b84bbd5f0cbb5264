/* The hubd REST router (api.h): one table of routes matched on decoded path
 * segments (literal segments without regard to case), then hub resolution
 * (model/hub_auth.h: Host header, token sr, policy signature), then the
 * rights of the row (hub.md §3.1), then the handler. A path matching a row
 * with another method is 405; no row is 404. Unknown paths are refused
 * before authentication so the answer tells nothing about hubs. */
#include <strings.h>

#include "api/api_internal.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "model/hub_auth.h"
#include "model/hub_policies.h"

#define PARAM "{}"
#define MAX_PATTERN 4

typedef struct {
    dps_http_method method;
    const char *pattern[MAX_PATTERN]; /* NULL-terminated when shorter */
    unsigned rights;                  /* any of these */
    hubd_route_fn fn;
} route;

#define REG_READ (HUBD_RIGHT_REGISTRY_READ | HUBD_RIGHT_REGISTRY_WRITE)
#define REG_WRITE HUBD_RIGHT_REGISTRY_WRITE
#define SVC HUBD_RIGHT_SERVICE_CONNECT

/* Literal rows come before parameter rows competing for the same place. */
static const route routes[] = {
    {DPS_HTTP_POST, {"devices", "query"}, REG_READ | SVC, hubd_api__device_query},
    {DPS_HTTP_GET, {"devices"}, REG_READ, hubd_api__device_list},
    {DPS_HTTP_PUT, {"devices", PARAM}, REG_WRITE, hubd_api__device_put},
    {DPS_HTTP_GET, {"devices", PARAM}, REG_READ, hubd_api__device_get},
    {DPS_HTTP_DELETE, {"devices", PARAM}, REG_WRITE, hubd_api__device_delete},
    {DPS_HTTP_GET, {"twins", PARAM}, SVC, hubd_api__twin_get},
    {DPS_HTTP_PATCH, {"twins", PARAM}, SVC, hubd_api__twin_patch},
    {DPS_HTTP_PUT, {"twins", PARAM}, SVC, hubd_api__twin_put},
    {DPS_HTTP_POST, {"twins", PARAM, "methods"}, SVC, hubd_api__method_invoke},
    {DPS_HTTP_GET, {"statistics", "devices"}, REG_READ, hubd_api__stats_devices},
    {DPS_HTTP_GET, {"statistics", "service"}, REG_READ | SVC, hubd_api__stats_service},
    /* hubd's own (non-Azure) API, under a prefix Azure never uses */
    {DPS_HTTP_POST, {"_hubd", "devices", PARAM, "messages"}, SVC, hubd_api__c2d_send},
    {DPS_HTTP_GET, {"_hubd", "telemetry"}, SVC, hubd_api__telemetry_stream},
};

static bool route_matches(const route *r, const dps_http_request *req, hubd_call *call)
{
    size_t n = 0;
    while (n < MAX_PATTERN && r->pattern[n] != NULL)
        n++;
    if (req->nsegments != n)
        return false;
    call->nparams = 0;
    for (size_t i = 0; i < n; i++) {
        const char *pat = r->pattern[i];
        if (pat[0] == '{') {
            if (call->nparams == HUBD_ROUTE_MAX_PARAMS)
                return false;
            call->params[call->nparams++] = req->segments[i];
        } else if (strcasecmp(pat, req->segments[i]) != 0) {
            return false;
        }
    }
    return true;
}

/* Resolves the hub and checks the token; false after filling res. */
static bool authorize(hubd_call *call, unsigned rights, dps_http_response *res)
{
    const char *auth = dps_http_header_get(call->req, "Authorization");
    const char *host = dps_http_header_get(call->req, "Host");
    const char *peer = call->req->peer != NULL ? call->req->peer : "?";
    hubd_result hr = hubd_resolve_hub(call->ctx, host, auth, call->hub);
    if (hr == HUBD_ERROR) {
        hubd_api_error(res, HUBD_ERR_SERVER, "cannot read the hub list");
        return false;
    }
    if (hr != HUBD_OK) {
        hubd_api_error(res, HUBD_ERR_UNAUTHORIZED,
                       "Unauthorized: no hub hosted here matches the Host header or the token");
        log_info("hub request from %s refused: no hub matches", peer);
        return false;
    }
    char why[320] = "";
    hubd_auth_result ar = hubd_service_auth(call->ctx, call->hub, auth, host, rights,
                                            dps_now_s(), why, sizeof why);
    if (ar == HUBD_AUTH_OK)
        return true;
    if (ar == HUBD_AUTH_ERROR)
        hubd_api_error(res, HUBD_ERR_SERVER, "%s", why);
    else
        hubd_api_error(res, HUBD_ERR_UNAUTHORIZED, "Unauthorized: %s", why);
    log_info("hub request from %s refused: %s", peer, why);
    return false;
}

void hubd_api_handle(void *ctx, const dps_http_request *req, dps_http_response *res)
{
    bool path_known = false;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const route *r = &routes[i];
        hubd_call call = {.ctx = ctx, .req = req};
        if (!route_matches(r, req, &call))
            continue;
        path_known = true;
        if (r->method != req->method)
            continue;
        if (!authorize(&call, r->rights, res))
            return;
        r->fn(&call, res);
        return;
    }
    const char *path = req->path != NULL ? req->path : "/";
    if (path_known)
        hubd_api_error(res, HUBD_ERR_METHOD_NOT_ALLOWED, "method %s is not allowed on %.200s",
                       dps_http_method_name(req->method), path);
    else
        hubd_api_error(res, HUBD_ERR_NOT_FOUND, "no such resource: %.200s", path);
}
