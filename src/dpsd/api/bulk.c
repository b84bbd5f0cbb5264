/* Bulk operations (service-api.md §6): POST /enrollments and
 * POST /enrollmentGroups with up to 10 records. Items are processed one by
 * one through the same operations as the single-record calls; the answer is
 * always 200 with the per-item failures. */
#include <string.h>
#include <strings.h>

#include "api/enroll_ops.h"
#include "api/errors.h"
#include "api/service_internal.h"

#define BULK_MAX_ITEMS 10

typedef enum {
    BULK_CREATE,
    BULK_UPDATE,
    BULK_UPDATE_IF_MATCH,
    BULK_DELETE,
} bulk_mode;

static const struct {
    const char *name;
    bulk_mode mode;
} bulk_modes[] = {
    {"create", BULK_CREATE},
    {"update", BULK_UPDATE},
    {"updateIfMatchETag", BULK_UPDATE_IF_MATCH}, /* Node spells ...Etag: case ignored */
    {"delete", BULK_DELETE},
};

static bool bulk_mode_parse(const char *s, bulk_mode *out)
{
    for (size_t i = 0; s != NULL && i < sizeof bulk_modes / sizeof bulk_modes[0]; i++) {
        if (strcasecmp(s, bulk_modes[i].name) == 0) {
            *out = bulk_modes[i].mode;
            return true;
        }
    }
    return false;
}

/* The item's own etag, as a bulk item carries it instead of If-Match. */
static int item_if_match(const json_t *item, dps_if_match *im, dps_model_err *err)
{
    json_t *v = json_object_get(item, "etag");
    if (v != NULL && !json_is_null(v) && !json_is_string(v))
        return dps_model__fail(err, DPS_ERR_INVALID_FIELD, "etag must be a string");
    if (dps_if_match_parse(json_string_value(v), im) != 0)
        return dps_model__fail(err, DPS_ERR_INVALID_FIELD, "etag is not a valid ETag");
    return 0;
}

static int bulk_item(dpsd_ctx *ctx, const dps_enroll_desc *d, bulk_mode mode, const json_t *item,
                     dps_model_err *err)
{
    if (!json_is_object(item))
        return dps_model__fail(err, DPS_ERR_INVALID_FIELD, "each item must be an object");
    dps_if_match im = {.kind = DPS_IFM_NONE};
    if (mode == BULK_UPDATE)
        im.kind = DPS_IFM_ANY;
    else if ((mode == BULK_UPDATE_IF_MATCH || mode == BULK_DELETE) &&
             item_if_match(item, &im, err) != 0)
        return -1;
    if (mode == BULK_UPDATE_IF_MATCH && im.kind == DPS_IFM_NONE)
        return dps_model__fail(err, DPS_ERR_PRECONDITION,
                               "mode updateIfMatchETag needs the item's etag");
    if (mode == BULK_DELETE) {
        const char *id = json_string_value(json_object_get(item, d->id_field));
        if (id == NULL)
            return dps_model__fail(err, DPS_ERR_INVALID_ID, "%s is required", d->id_field);
        return dps_enroll_remove(ctx, d, id, &im, err);
    }
    json_t *doc = dps_enroll_write(ctx, d, NULL, item, &im, DPS_ERR_NOT_FOUND, err);
    json_decref(doc);
    return doc != NULL ? 0 : -1;
}

static int bulk_record_error(json_t *errors, const dps_enroll_desc *d, const json_t *item,
                             const dps_model_err *err)
{
    const char *id = json_string_value(json_object_get(item, d->id_field));
    json_t *e = json_pack("{s:s,s:i,s:s}", d->id_field, id ? id : "", "errorCode", err->code,
                          "errorStatus", err->msg);
    return json_array_append_new(errors, e);
}

void dps_api__enroll_bulk(dpsd_ctx *ctx, const dps_http_request *req, const dps_route_match *m,
                          dps_http_response *res)
{
    const dps_enroll_desc *d = m->arg;
    json_t *errors = NULL;
    json_t *body = dps_api__parse_body(ctx, req, false, res);
    if (body == NULL)
        goto done;
    bulk_mode mode;
    if (!bulk_mode_parse(json_string_value(json_object_get(body, "mode")), &mode)) {
        dps_api_error(res, DPS_ERR_INVALID_FIELD,
                      "mode must be one of create, update, updateIfMatchETag, delete");
        goto done;
    }
    json_t *items = json_object_get(body, d->bulk_field);
    if (!json_is_array(items)) {
        dps_api_error(res, DPS_ERR_INVALID_FIELD, "%s must be an array", d->bulk_field);
        goto done;
    }
    if (json_array_size(items) > BULK_MAX_ITEMS) {
        dps_api_error(res, DPS_ERR_BULK_TOO_LARGE, "a bulk operation takes at most %d records",
                      BULK_MAX_ITEMS);
        goto done;
    }
    errors = json_array();
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item) {
        dps_model_err err = {0};
        if (errors == NULL)
            break;
        if (bulk_item(ctx, d, mode, item, &err) == 0)
            continue;
        if (bulk_record_error(errors, d, item, &err) != 0) {
            json_decref(errors);
            errors = NULL;
        }
    }
    if (errors == NULL) {
        dps_api_error(res, DPS_ERR_INTERNAL, "cannot build the bulk result");
        goto done;
    }
    json_t *out = json_pack("{s:b,s:O}", "isSuccessful", json_array_size(errors) == 0, "errors",
                            errors);
    dps_api__send(res, 200, out);
done:
    json_decref(errors);
    json_decref(body);
}
