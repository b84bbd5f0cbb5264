/* Private to hubd's REST side: the error vocabulary, what the router hands
 * a handler, the handlers, and the helpers they share. */
#ifndef HUBD_API_API_INTERNAL_H
#define HUBD_API_API_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>

#include "api/api.h"
#include "hubd.h"
#include "model/devices.h"
#include "model/etags.h"
#include "model/hubs.h"
#include "model/registry.h"

/* Caps of the REST side, checked before parsing. */
#define HUBD_API_MAX_JSON (256 * 1024)   /* any JSON body */
#define HUBD_ROUTE_MAX_PARAMS 2

/* hub.md §4 plus the answers only hubd gives. */
typedef enum {
    HUBD_ERR_ARGUMENT_INVALID,   /* 400 ArgumentInvalid 400004 */
    HUBD_ERR_UNAUTHORIZED,       /* 401 IotHubUnauthorizedAccess 401002 */
    HUBD_ERR_DEVICE_NOT_FOUND,   /* 404 DeviceNotFound 404001 */
    HUBD_ERR_DEVICE_NOT_ONLINE,  /* 404 DeviceNotOnline 404103 */
    HUBD_ERR_NOT_FOUND,          /* 404 NotFound: no such route */
    HUBD_ERR_METHOD_NOT_ALLOWED, /* 405 MethodNotAllowed */
    HUBD_ERR_DEVICE_EXISTS,      /* 409 DeviceAlreadyExists 409001 */
    HUBD_ERR_PRECONDITION,       /* 412 PreconditionFailed 412001 */
    HUBD_ERR_TOO_LARGE,          /* 413 MessageTooLarge 413001 */
    HUBD_ERR_THROTTLED,          /* 429 ThrottlingException 429001 */
    HUBD_ERR_SERVER,             /* 500 ServerError 500001 */
    HUBD_ERR_NOT_IMPLEMENTED,    /* 501 NotImplemented */
    HUBD_ERR_UNAVAILABLE,        /* 503 ServiceUnavailable 503001 */
    HUBD_ERR_GATEWAY_TIMEOUT,    /* 504 GatewayTimeout 504101 */
} hubd_err;

/* Fills res with
 *   {"Message":"ErrorCode:<Name>;<text>",
 *    "ExceptionMessage":"Tracking ID:<uuid> Timestamp:<iso>"}
 * and the headers iothub-errorcode: <Name> and x-ms-request-id. */
void hubd_api_error(dps_http_response *res, hubd_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The code name and HTTP status of an error (tests and docs). */
const char *hubd_api_error_name(hubd_err code);
int hubd_api_error_status(hubd_err code);

/* What the router found for one request. */
typedef struct {
    hubd_ctx *ctx;
    const dps_http_request *req;
    char hub[HUBD_HUB_NAME_SIZE]; /* canonical hub the request is for */
    const char *params[HUBD_ROUTE_MAX_PARAMS];
    size_t nparams;
} hubd_call;

typedef void (*hubd_route_fn)(const hubd_call *call, dps_http_response *res);

/* Handlers (each fills or defers res in every case). */
void hubd_api__device_put(const hubd_call *call, dps_http_response *res);
void hubd_api__device_get(const hubd_call *call, dps_http_response *res);
void hubd_api__device_delete(const hubd_call *call, dps_http_response *res);
void hubd_api__device_list(const hubd_call *call, dps_http_response *res);
void hubd_api__device_query(const hubd_call *call, dps_http_response *res);
void hubd_api__twin_get(const hubd_call *call, dps_http_response *res);
void hubd_api__twin_patch(const hubd_call *call, dps_http_response *res);
void hubd_api__twin_put(const hubd_call *call, dps_http_response *res);
void hubd_api__method_invoke(const hubd_call *call, dps_http_response *res);
void hubd_api__c2d_send(const hubd_call *call, dps_http_response *res);
void hubd_api__stats_devices(const hubd_call *call, dps_http_response *res);
void hubd_api__stats_service(const hubd_call *call, dps_http_response *res);
void hubd_api__telemetry_stream(const hubd_call *call, dps_http_response *res);

/* ---- helpers (util.c) ------------------------------------------------------ */

/* The body as one JSON object under HUBD_API_MAX_JSON; empty_ok gives {}
 * for an empty body. NULL after filling res (413 / 400). */
json_t *hubd_api__parse_body(const dps_http_request *req, bool empty_ok, dps_http_response *res);
/* If-Match; -1 after filling res (400) when it is malformed. */
int hubd_api__if_match(const dps_http_request *req, hubd_if_match *out, dps_http_response *res);
/* Answers status with body (released); NULL body → 500. An ETag header is
 * added when etag is not NULL. */
void hubd_api__send(dps_http_response *res, int status, json_t *body, const char *etag);
/* A model failure as an error answer (hubd_last_error's text). */
void hubd_api__fail(dps_http_response *res, hubd_result hr, const char *id);
/* hubd_conn_fn over hubd_sessions_live_state; arg is the hubd_ctx. */
void hubd_api__conn(void *arg, const char *hub, const char *device_id, hubd_conn_info *out);

#endif
