/* Private to the service API (router.c and the handlers it calls): the
 * route-match type, the handler prototypes and the helpers they share. */
#ifndef DPSD_API_SERVICE_INTERNAL_H
#define DPSD_API_SERVICE_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>

#include "api/etag.h"
#include "dpsd.h"
#include "net/http_request.h"
#include "model/enrollment.h"
#include "model/ids.h"
#include "store/store.h"

#define DPS_ROUTE_MAX_PARAMS 4

/* What the router found: the decoded values of the path's "{}" segments, in
 * order, and the row's argument (an enrollment kind descriptor). */
typedef struct {
    const char *params[DPS_ROUTE_MAX_PARAMS];
    size_t nparams;
    const void *arg;
} dps_route_match;

typedef void (*dps_route_fn)(dpsd_ctx *ctx, const dps_http_request *req,
                             const dps_route_match *m, dps_http_response *res);

/* Handlers (each fills res in every case). The enrollment handlers take a
 * dps_enroll_desc as m->arg. */
void dps_api__enroll_put(dpsd_ctx *ctx, const dps_http_request *req, const dps_route_match *m,
                         dps_http_response *res);
void dps_api__enroll_get(dpsd_ctx *ctx, const dps_http_request *req, const dps_route_match *m,
                         dps_http_response *res);
void dps_api__enroll_delete(dpsd_ctx *ctx, const dps_http_request *req,
                            const dps_route_match *m, dps_http_response *res);
void dps_api__enroll_attestation(dpsd_ctx *ctx, const dps_http_request *req,
                                 const dps_route_match *m, dps_http_response *res);
void dps_api__enroll_query(dpsd_ctx *ctx, const dps_http_request *req, const dps_route_match *m,
                           dps_http_response *res);
void dps_api__enroll_bulk(dpsd_ctx *ctx, const dps_http_request *req, const dps_route_match *m,
                          dps_http_response *res);
void dps_api__registration_get(dpsd_ctx *ctx, const dps_http_request *req,
                               const dps_route_match *m, dps_http_response *res);
void dps_api__registration_delete(dpsd_ctx *ctx, const dps_http_request *req,
                                  const dps_route_match *m, dps_http_response *res);
void dps_api__registration_query(dpsd_ctx *ctx, const dps_http_request *req,
                                 const dps_route_match *m, dps_http_response *res);

/* Sets doc's "registrationState" from the registration record under key
 * when the device registered through the individual enrollment (not through
 * a group). 0 also when there is none; -1 on a store failure. */
int dps_api__embed_registration_state(dpsd_ctx *ctx, json_t *doc, const char *key);

/* ---- query paging (query.c) --------------------------------------------- */

#define DPS_QUERY_DEFAULT_PAGE 100
#define DPS_QUERY_MAX_PAGE 1000

typedef struct {
    size_t limit;                /* x-ms-max-item-count, capped */
    char after[DPS_ID_KEY_SIZE]; /* key the x-ms-continuation token names */
    bool has_after;
} dps_page;

/* Reads x-ms-max-item-count (default 100, values above 1000 lowered to
 * 1000) and x-ms-continuation (base64 of the last key of the previous page).
 * -1 after filling res (400) when either is malformed. */
int dps_api__page_parse(const dps_http_request *req, dps_page *pg, dps_http_response *res);

/* Answers 200 with items (released) and the paging headers; the
 * continuation token only when the store said more records follow. */
void dps_api__page_send(dps_http_response *res, const char *item_type, const dps_page *pg,
                        const dps_record_list *list, json_t *items);

/* ---- shared helpers (service_util.c) ------------------------------------ */

/* Parses the body as one JSON object under the body cap (configured): 413 over the cap,
 * 400002 for bad JSON (duplicate keys included). An empty body is an error
 * unless empty_ok, which yields an empty object. NULL after filling res. */
json_t *dps_api__parse_body(const dpsd_ctx *ctx, const dps_http_request *req, bool empty_ok,
                            dps_http_response *res);
/* The body cap: the configured max_body_bytes, else DPS_JSON_MAX_BODY. */
size_t dps_api__body_cap(const dpsd_ctx *ctx);

/* Reads If-Match; -1 after filling res (400) when it is malformed. */
int dps_api__if_match(const dps_http_request *req, dps_if_match *out, dps_http_response *res);

/* Answers a refusal from the model or an operation. */
void dps_api__fail(dps_http_response *res, const dps_model_err *err);

/* Parses a stored record's document and sets its "etag" from the record.
 * NULL (logged) when the stored text is corrupt. */
json_t *dps_api__record_doc(const dps_record *rec);

/* Answers 200 with body and releases it (NULL body → 500). */
void dps_api__send(dps_http_response *res, int status, json_t *body);

/* Store result → error code and message for a named record. */
void dps_api__store_err(dps_model_err *err, dps_store_result r, const char *noun,
                        const char *id);

#endif
