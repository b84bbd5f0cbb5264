/* Registration records and the operation bodies built from them
 * (record.h). */
#include "engine/record.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"

static int set_str(json_t *o, const char *k, const char *v)
{
    return v != NULL ? json_object_set_new(o, k, json_string(v)) : 0;
}

json_t *dps_record_build(const dps_record_fields *f)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    int rc = set_str(o, "registrationId", f->registration_id);
    /* The C SDK and Node require tpm.authenticationKey in a TPM device's
     * assigned result (tpm.md §10); nothing else needs it. */
    if (f->tpm != NULL && f->status == DPS_OP_ASSIGNED)
        rc |= json_object_set_new(o, "tpm", json_deep_copy(f->tpm));
    if (f->x509 != NULL)
        rc |= json_object_set_new(o, "x509", json_deep_copy(f->x509));
    else if (f->group_id != NULL)
        rc |= json_object_set_new(o, "symmetricKey",
                                  json_pack("{s:s}", "enrollmentGroupId", f->group_id));
    rc |= set_str(o, "createdDateTimeUtc", f->created);
    /* A failed re-registration still names the hub the device has its
     * identity in, so the next one can reprovision from there. */
    if (f->status == DPS_OP_ASSIGNED || f->status == DPS_OP_DISABLED ||
        (f->status == DPS_OP_FAILED && f->assigned_hub != NULL)) {
        rc |= set_str(o, "assignedHub", f->assigned_hub);
        rc |= set_str(o, "deviceId", f->device_id);
    }
    rc |= set_str(o, "status", dps_op_state_name(f->status));
    if (f->status == DPS_OP_ASSIGNED)
        rc |= set_str(o, "substatus", f->substatus ? f->substatus : "initialAssignment");
    rc |= set_str(o, "lastUpdatedDateTimeUtc", f->updated);
    if (f->status == DPS_OP_FAILED) {
        rc |= json_object_set_new(o, "errorCode", json_integer(f->error_code));
        rc |= set_str(o, "errorMessage", f->error_message ? f->error_message : "failed");
    }
    rc |= set_str(o, "etag", f->etag);
    if (f->payload != NULL)
        rc |= json_object_set_new(o, "payload", json_deep_copy(f->payload));
    rc |= set_str(o, DPS_RECORD_INITIAL_HUB, f->initial_hub);
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int dps_record_load(dps_store *store, const char *regkey, dps_prev_record *prev)
{
    memset(prev, 0, sizeof *prev);
    dps_record rec = {0};
    dps_store_result r = dps_store_get(store, DPS_COLL_REGISTRATION, regkey, &rec);
    if (r == DPS_STORE_NOT_FOUND)
        return 0;
    if (r != DPS_STORE_OK)
        return -1;
    json_error_t jerr;
    json_t *doc = json_loads(rec.doc, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(doc)) {
        log_error("registration record '%s' is not a JSON object", regkey);
        json_decref(doc);
        dps_record_free(&rec);
        return -1;
    }
    prev->doc = doc;
    prev->etag = rec.etag;
    prev->group = rec.group;
    rec.etag = rec.group = NULL;
    dps_record_free(&rec);
    prev->created = json_string_value(json_object_get(doc, "createdDateTimeUtc"));
    prev->status = json_string_value(json_object_get(doc, "status"));
    const char *ih = json_string_value(json_object_get(doc, DPS_RECORD_INITIAL_HUB));
    if (ih != NULL && (prev->initial_hub = strdup(ih)) == NULL) {
        dps_prev_record_free(prev);
        return -1;
    }
    json_object_del(doc, DPS_RECORD_INITIAL_HUB);
    if (prev->status != NULL &&
        (strcmp(prev->status, "assigned") == 0 || strcmp(prev->status, "disabled") == 0 ||
         strcmp(prev->status, "failed") == 0)) {
        prev->assigned_hub = json_string_value(json_object_get(doc, "assignedHub"));
        prev->device_id = json_string_value(json_object_get(doc, "deviceId"));
    }
    /* The stored document's etag member may be stale; the record's is the
     * truth (the service API does the same). */
    if (prev->etag != NULL)
        json_object_set_new(doc, "etag", json_string(prev->etag));
    return 0;
}

void dps_prev_record_free(dps_prev_record *prev)
{
    json_decref(prev->doc);
    free(prev->etag);
    free(prev->group);
    free(prev->initial_hub);
    memset(prev, 0, sizeof *prev);
}

json_t *dps_operation_body(const char *operation_id, dps_op_state status,
                           const json_t *state)
{
    json_t *o = json_pack("{s:s,s:s}", "operationId", operation_id, "status",
                          dps_op_state_name(status));
    if (o != NULL && state != NULL &&
        json_object_set_new(o, "registrationState", json_deep_copy(state)) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *dps_record_assigning(const char *registration_id)
{
    return json_pack("{s:s,s:s}", "registrationId", registration_id, "status", "assigning");
}
