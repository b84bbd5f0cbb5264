/* Private to the admin API (admin_*.c): the per-resource handlers the
 * dispatcher in admin_api.c calls once the caller holds ServiceConfig, and
 * the helpers they share (body parsing, ETags, If-Match, store errors). */
#ifndef DPSD_API_ADMIN_INTERNAL_H
#define DPSD_API_ADMIN_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>

#include "api/etag.h"
#include "dpsd.h"
#include "http/request.h"
#include "store/store.h"

/* Records read per store call while listing or scanning a collection. */
#define DPS_ADMIN_PAGE 200

/* Handlers. The path segments after "admin" are req->segments[1..]; each
 * handler fills res in every case. */
void dps_admin__instance(dpsd_ctx *ctx, const dps_http_request *req, dps_http_response *res);
void dps_admin__linked_hubs(dpsd_ctx *ctx, const dps_http_request *req,
                            dps_http_response *res);
void dps_admin__policies(dpsd_ctx *ctx, const dps_http_request *req, dps_http_response *res);
void dps_admin__certificates(dpsd_ctx *ctx, const dps_http_request *req,
                             dps_http_response *res);
/* POST /admin/registrations/{id}/explain: the dry run (engine/explain.h). */
void dps_admin__registrations(dpsd_ctx *ctx, const dps_http_request *req,
                              dps_http_response *res);
void dps_admin__connection_string(dpsd_ctx *ctx, const dps_http_request *req,
                                  dps_http_response *res);

/* Reads If-Match as the service API does (api/etag.h); on a malformed value
 * fills res (400) and returns -1. */
int dps_admin__if_match(const dps_http_request *req, dps_if_match *out,
                        dps_http_response *res);

/* Decides how a PUT writes given the If-Match and the current record (got is
 * the result of reading it): no If-Match creates only, "*" creates or
 * replaces, an ETag replaces only that version. Sets *mode and *expected (the
 * stored ETag to condition on, or NULL). On a refusal fills res (409 / 412 /
 * 500) and returns -1. what names the resource kind in messages. */
int dps_admin__put_plan(const dps_if_match *im, dps_store_result got,
                        const dps_record *existing, dps_put_mode *mode,
                        const char **expected, const char *what, const char *name,
                        dps_http_response *res);

/* Same for an update of an existing record only (PATCH-like POSTs and
 * DELETE): missing → 404, ETag mismatch → 412. */
int dps_admin__update_plan(const dps_if_match *im, dps_store_result got,
                           const dps_record *existing, const char *what,
                           const char *name, dps_http_response *res);

/* Maps a failed store write or read to the error shape. */
void dps_admin__store_error(dps_http_response *res, dps_store_result r, const char *what,
                            const char *name);

/* Parses the request body as a JSON object; on failure fills res (400002)
 * and returns NULL. */
json_t *dps_admin__parse_body(const dps_http_request *req, dps_http_response *res);

/* Refuses (400003, returns -1) any member of obj not listed in allowed
 * (NULL-terminated). Known members only keeps typos from passing silently. */
int dps_admin__only_members(const json_t *obj, const char *const *allowed,
                            dps_http_response *res);

/* Lower-cases name into out (store keys are lower case); false when it does
 * not fit. */
bool dps_admin__key(const char *name, char *out, size_t outlen);

/* Serialises doc and stores it under key with the given ETag. */
dps_store_result dps_admin__store_put(dpsd_ctx *ctx, dps_collection coll, const char *key,
                                      const json_t *doc, const char *etag,
                                      dps_put_mode mode, const char *expected);

/* Reads a stored record's document; NULL (and logs) when it is corrupt. The
 * document's "etag" is set from the record's. */
json_t *dps_admin__record_doc(const dps_record *rec);

/* Calls visit on every record of coll in key order, a page at a time, until
 * visit returns false. Returns DPS_STORE_OK or the store's failure. */
typedef bool (*dps_admin_visit)(const dps_record *rec, void *arg);
dps_store_result dps_admin__each(dpsd_ctx *ctx, dps_collection coll, dps_admin_visit visit,
                                 void *arg);

/* GET on a collection: every record's document as doc_fn shows it (NULL:
 * dps_admin__record_doc), in key order, as a JSON array; a corrupt record
 * or a store failure is a 500 with failure as its message. */
typedef json_t *(*dps_admin_doc_fn)(const dps_record *rec);
void dps_admin__list(dpsd_ctx *ctx, dps_collection coll, dps_admin_doc_fn doc_fn,
                     const char *failure, dps_http_response *res);

/* Deletes key from coll, conditional on etag when not NULL; answers 204 and
 * logs "admin: WHAT NAME deleted", or answers the store's error. 0 when
 * deleted. */
int dps_admin__delete(dpsd_ctx *ctx, dps_collection coll, const char *key, const char *etag,
                      const char *what, const char *name, dps_http_response *res);

/* The routes every named-resource collection has: GET on the collection
 * path lists, GET/PUT/DELETE on one name. */
typedef void (*dps_admin_item_fn)(dpsd_ctx *ctx, const dps_http_request *req,
                                  const char *name, const char *key, dps_http_response *res);
typedef struct {
    const char *path; /* "/admin/policies", for the 405 messages */
    void (*list)(dpsd_ctx *ctx, dps_http_response *res);
    dps_admin_item_fn get, put, del;
} dps_admin_resource;

/* With only the collection segment (nsegments 2) answers it (list or 405)
 * and returns true; otherwise returns false and leaves res alone. */
bool dps_admin__collection(dpsd_ctx *ctx, const dps_admin_resource *rs,
                           const dps_http_request *req, dps_http_response *res);
/* Calls rs's handler for req's method on the named record, or answers 405. */
void dps_admin__item(dpsd_ctx *ctx, const dps_admin_resource *rs, const dps_http_request *req,
                     const char *name, const char *key, dps_http_response *res);

/* True when the query parameter is present and equals value (any case). */
bool dps_admin__query_is(const dps_http_request *req, const char *name, const char *value);

#endif
