/* Device twins (hub.md §7.1, §8.3): tags, desired and reported properties
 * with $version and $metadata, JSON merge patches where null deletes, and
 * the Azure limits. The twin lives inside the device document (devices.h)
 * under "twin"; its sections keep the wire form:
 *   "desired": {"a": 1, "$metadata": {"$lastUpdated": "...",
 *               "$lastUpdatedVersion": 3, "a": {"$lastUpdated": "...",
 *               "$lastUpdatedVersion": 3}}, "$version": 3}
 * which is safe because user keys can never start with '$'.
 *
 * Versions: each section's $version grows by one per change of it; the
 * twin's "version" grows on every change of tags, desired or reported; the
 * twin ETag changes when tags or desired change (what a service writes and
 * guards with If-Match), not on reported updates from the device. */
#ifndef HUBD_MODEL_TWIN_H
#define HUBD_MODEL_TWIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "hubd.h"
#include "model/devices.h"
#include "model/etags.h"
#include "model/registry.h"

#define HUBD_TWIN_MAX_KEY 1024          /* bytes of one member name */
#define HUBD_TWIN_MAX_STRING 4096       /* bytes of one string value */
#define HUBD_TWIN_MAX_DEPTH 10          /* member levels, the top ones being 1 */
#define HUBD_TWIN_MAX_INT 4503599627370495LL
#define HUBD_TWIN_MAX_TAGS (8 * 1024)   /* serialised tags */
#define HUBD_TWIN_MAX_PROPS (32 * 1024) /* serialised desired / reported */

/* A new twin: empty tags, desired and reported at $version 1. */
json_t *hubd_twin_new(int64_t now_ns);

/* Checks a patch or replacement against the limits (keys, values, depth;
 * null values only when allow_null; top-level members named "$..." skipped
 * when skip_dollar, refused otherwise). -1 with the reason in hubd_last_error. */
int hubd_twin_check(const json_t *obj, bool allow_null, bool skip_dollar, const char *what);

/* Merges patch into a section of the wire form above: null members delete,
 * objects merge, anything else replaces; $metadata follows each touched
 * node; $version grows by one. with_version adds $lastUpdatedVersion (the
 * desired section). Members whose name starts with '$' at the top of patch
 * are skipped (a twin read back and sent again carries them). Fails (and
 * leaves sec unchanged) when the result would exceed cap. */
int hubd_twin_merge_section(json_t *sec, const json_t *patch, int64_t now_ns, bool with_version,
                            size_t cap, const char *what);

/* The twin JSON of the REST API for a stored device document. */
json_t *hubd_twin_present(const json_t *doc, const hubd_conn_info *conn);

/* Service-side write (PATCH: replace false; PUT: replace true) of tags and
 * desired properties, guarded by If-Match on the twin ETag. On success
 * *doc_out is the stored device document and, when desired changed,
 * *desired_change the change to notify (PATCH: the patch; PUT: the new
 * desired properties) with *desired_version its new $version; else
 * *desired_change is NULL. */
hubd_result hubd_twin_service_write(hubd_ctx *ctx, const char *hub, const char *id,
                                    const json_t *body, bool replace, const hubd_if_match *im,
                                    json_t **doc_out, json_t **desired_change,
                                    int64_t *desired_version);

/* The user members of a section (no $metadata; $version kept when
 * keep_version): a new object. */
json_t *hubd_twin_section_plain(const json_t *sec, bool keep_version);

#endif
