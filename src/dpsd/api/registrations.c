/* Registration records through the service API (service-api.md §2): read,
 * delete and the per-group query. Records are written by the device engine;
 * the stored document is the DeviceRegistrationState, keyed by lower-case
 * registration ID, grouped by lower-case enrollment group ID. */
#include <string.h>

#include "api/errors.h"
#include "api/service_internal.h"
#include "common/log.h"
#include "engine/record.h"

static const char noun[] = "registration";

/* What the service API never shows of a record: the TPM authentication key
 * the device engine may keep for the device API [project]. */
static void registration_sanitize(json_t *doc)
{
    json_t *tpm = json_object_get(doc, "tpm");
    if (json_is_object(tpm))
        json_object_del(tpm, "authenticationKey");
    /* The engine's note of the first hub (engine/record.h). */
    json_object_del(doc, DPS_RECORD_INITIAL_HUB);
}

int dps_api__embed_registration_state(dpsd_ctx *ctx, json_t *doc, const char *key)
{
    dps_record rec = {0};
    dps_store_result r = dps_store_get(ctx->store, DPS_COLL_REGISTRATION, key, &rec);
    if (r == DPS_STORE_NOT_FOUND)
        return 0;
    if (r != DPS_STORE_OK)
        return -1;
    int rc = 0;
    /* A record made through a group belongs to the group, even when an
     * individual enrollment with the same ID exists now. */
    if (rec.group == NULL || rec.group[0] == '\0') {
        json_t *state = dps_api__record_doc(&rec);
        if (state != NULL) {
            registration_sanitize(state);
            rc = json_object_set_new(doc, "registrationState", state);
        }
    }
    dps_record_free(&rec);
    return rc;
}

void dps_api__registration_get(dpsd_ctx *ctx, const dps_http_request *req,
                               const dps_route_match *m, dps_http_response *res)
{
    (void)req;
    const char *id = m->params[0];
    char key[DPS_ID_KEY_SIZE];
    dps_model_err err = {0};
    dps_record rec = {0};
    if (!dps_id_key(id, key)) {
        dps_api__store_err(&err, DPS_STORE_NOT_FOUND, noun, id);
        dps_api__fail(res, &err);
        return;
    }
    dps_store_result r = dps_store_get(ctx->store, DPS_COLL_REGISTRATION, key, &rec);
    if (r != DPS_STORE_OK) {
        dps_api__store_err(&err, r, noun, id);
        dps_api__fail(res, &err);
        return;
    }
    json_t *doc = dps_api__record_doc(&rec);
    dps_record_free(&rec);
    if (doc != NULL)
        registration_sanitize(doc);
    dps_api__send(res, 200, doc);
}

void dps_api__registration_delete(dpsd_ctx *ctx, const dps_http_request *req,
                                  const dps_route_match *m, dps_http_response *res)
{
    const char *id = m->params[0];
    char key[DPS_ID_KEY_SIZE];
    dps_model_err err = {0};
    dps_if_match im;
    if (dps_api__if_match(req, &im, res) != 0)
        return;
    dps_store_result r = DPS_STORE_NOT_FOUND;
    if (dps_id_key(id, key))
        r = dps_store_delete(ctx->store, DPS_COLL_REGISTRATION, key,
                             im.kind == DPS_IFM_ETAG ? im.etag : NULL);
    if (r != DPS_STORE_OK) {
        dps_api__store_err(&err, r, noun, id);
        dps_api__fail(res, &err);
        return;
    }
    res->status = 204;
}

/* POST /registrations/{groupId}/query. The C client and the CLI send no body,
 * Node and C# a QuerySpecification: the body is not read at all. An unknown
 * group simply has no records. */
void dps_api__registration_query(dpsd_ctx *ctx, const dps_http_request *req,
                                 const dps_route_match *m, dps_http_response *res)
{
    const char *group = m->params[0];
    char gkey[DPS_ID_KEY_SIZE];
    dps_record_list list = {0};
    json_t *items = NULL;
    dps_page pg;
    if (!dps_id_key(group, gkey)) {
        dps_api_error(res, DPS_ERR_INVALID_ID, "'%s' is not a valid enrollment group ID", group);
        goto done;
    }
    if (dps_api__page_parse(req, &pg, res) != 0)
        goto done;
    if (dps_store_list(ctx->store, DPS_COLL_REGISTRATION, gkey, pg.has_after ? pg.after : NULL,
                       pg.limit, &list) != DPS_STORE_OK) {
        dps_api_error(res, DPS_ERR_INTERNAL, "cannot list registration records");
        goto done;
    }
    items = json_array();
    for (size_t i = 0; items != NULL && i < list.count; i++) {
        json_t *doc = dps_api__record_doc(&list.items[i]);
        if (doc == NULL)
            continue; /* logged by dps_api__record_doc */
        registration_sanitize(doc);
        if (json_array_append_new(items, doc) != 0) {
            json_decref(items);
            items = NULL;
        }
    }
    if (items == NULL) {
        dps_api_error(res, DPS_ERR_INTERNAL, "cannot build the registration list");
        goto done;
    }
    dps_api__page_send(res, "DeviceRegistration", &pg, &list, items);
    items = NULL;
done:
    json_decref(items);
    dps_record_list_free(&list);
}
