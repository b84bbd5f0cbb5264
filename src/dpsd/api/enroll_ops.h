/* Store-level operations on individual enrollments and enrollment groups,
 * shared by the single-record handlers, query and bulk: one code path per
 * operation, parameterised by a kind descriptor. */
#ifndef DPSD_API_ENROLL_OPS_H
#define DPSD_API_ENROLL_OPS_H

#include <jansson.h>
#include <stdbool.h>

#include "api/etag.h"
#include "dpsd.h"
#include "model/enrollment.h"
#include "store/store.h"

typedef struct dps_enroll_desc {
    dps_enroll_kind kind;
    dps_collection coll;
    const char *id_field;   /* "registrationId" / "enrollmentGroupId" */
    const char *bulk_field; /* member holding bulk items */
    const char *item_type;  /* x-ms-item-type of query answers */
    const char *noun;       /* for messages */
    /* Adds read-only parts to an outgoing document (the registration state
     * of an individual enrollment); NULL when there are none. -1 on a store
     * failure. */
    int (*decorate)(dpsd_ctx *ctx, json_t *doc, const char *key);
} dps_enroll_desc;

extern const dps_enroll_desc dps_enroll_individual_desc; /* enrollments.c */
extern const dps_enroll_desc dps_enroll_group_desc;      /* enrollment_groups.c */

/* Validates body and writes it under the If-Match rule of service-api.md §4:
 * NONE creates only (409 when present), ANY creates or replaces, ETAG
 * replaces that version only (412 on another version, missing_code when
 * there is no record). The write itself is conditional on the version read,
 * so a concurrent writer makes this call fail with 412 or 409 instead of
 * being overwritten. path_id is NULL for bulk items. Returns the stored
 * document (secrets included) or NULL with *err filled. */
json_t *dps_enroll_write(dpsd_ctx *ctx, const dps_enroll_desc *d, const char *path_id,
                         const json_t *body, const dps_if_match *im, int missing_code,
                         dps_model_err *err);

/* Deletes a record: 404 when missing, 412 when an ETag is given and differs. */
int dps_enroll_remove(dpsd_ctx *ctx, const dps_enroll_desc *d, const char *id,
                      const dps_if_match *im, dps_model_err *err);

/* The stored document (secrets included), or NULL with *err filled. */
json_t *dps_enroll_load(dpsd_ctx *ctx, const dps_enroll_desc *d, const char *id,
                        dps_model_err *err);

/* Turns a stored document into a response item: secrets removed unless
 * with_secrets, read-only parts added. -1 on a store failure. */
int dps_enroll_present(dpsd_ctx *ctx, const dps_enroll_desc *d, json_t *doc, bool with_secrets);

#endif
