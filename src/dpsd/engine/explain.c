/* The dry run (explain.h). Reads only: the store's enrollments, records and
 * linked hubs, through the same decision functions the engine uses. */
#include "engine/explain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/secret.h"
#include "engine/decide.h"
#include "engine/hubset.h"
#include "engine/record.h"
#include "engine/reprovision.h"
#include "engine/webhook.h"
#include "model/ids.h"

#define GROUP_PAGE 200
#define MAX_NAMED_GROUPS 5 /* groups an ambiguity message names */

/* A stored document by key; NULL when absent (*rc 0) or unreadable (*rc -1). */
static json_t *load_doc(dps_store *store, dps_collection coll, const char *key, int *rc)
{
    dps_record rec = {0};
    *rc = 0;
    dps_store_result r = dps_store_get(store, coll, key, &rec);
    if (r == DPS_STORE_NOT_FOUND)
        return NULL;
    json_t *doc = NULL;
    if (r == DPS_STORE_OK) {
        json_error_t jerr;
        doc = json_loads(rec.doc, 0, &jerr);
        /* Keys are not needed and must not linger. */
        dps_free_secret_string(rec.doc);
        rec.doc = NULL;
        if (json_is_object(doc) && rec.etag != NULL)
            json_object_set_new(doc, "etag", json_string(rec.etag));
    }
    dps_record_free(&rec);
    if (!json_is_object(doc)) {
        json_decref(doc);
        *rc = -1;
        return NULL;
    }
    return doc;
}

/* The only enrollment group, or a 404/409 when there is none or several. */
static json_t *only_group(dps_store *store, int *status, char *msg, size_t msglen)
{
    dps_record_list list = {0};
    if (dps_store_list(store, DPS_COLL_ENROLLMENT_GROUP, NULL, NULL, GROUP_PAGE, &list) !=
        DPS_STORE_OK) {
        *status = 500;
        snprintf(msg, msglen, "cannot list the enrollment groups");
        return NULL;
    }
    json_t *doc = NULL;
    if (list.count == 0) {
        *status = 404;
        snprintf(msg, msglen, "no individual enrollment and no enrollment group matches");
    } else if (list.count > 1) {
        *status = 409;
        int n = snprintf(msg, msglen,
                         "several enrollment groups could accept this device; name one with "
                         "enrollmentGroupId (");
        for (size_t i = 0; i < list.count && i < MAX_NAMED_GROUPS && n > 0 && (size_t)n < msglen;
             i++)
            n += snprintf(msg + n, msglen - (size_t)n, "%s%s", i > 0 ? ", " : "",
                          list.items[i].key);
        if (n > 0 && (size_t)n < msglen)
            snprintf(msg + n, msglen - (size_t)n, "%s)", list.count > MAX_NAMED_GROUPS || list.more
                                                             ? ", ..."
                                                             : "");
    } else {
        int rc;
        doc = load_doc(store, DPS_COLL_ENROLLMENT_GROUP, list.items[0].key, &rc);
        if (doc == NULL) {
            *status = 500;
            snprintf(msg, msglen, "enrollment group '%s' is unreadable", list.items[0].key);
        }
    }
    dps_record_list_free(&list);
    return doc;
}

static int put(json_t *o, const char *k, json_t *v)
{
    return json_object_set_new(o, k, v != NULL ? v : json_null());
}

static json_t *str_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

static const char *mode_name(dps_reprov_mode m)
{
    switch (m) {
    case DPS_REPROV_FIRST:
        return "initialAssignment";
    case DPS_REPROV_KEEP:
        return "keepCurrentHub";
    case DPS_REPROV_REALLOCATE:
        return "reallocate";
    }
    return "?";
}

/* Fills the decision part of the explanation. */
static int explain_decision(dps_engine *e, const dps_explain_request *r, const char *regkey,
                            const json_t *enr, bool is_group, const dps_prev_record *prev,
                            json_t *out, char *msg, size_t msglen)
{
    dps_decide_request dr = {.enrollment = enr,
                             .regkey = regkey,
                             .api_version = r->api_version,
                             .peer = r->client_address,
                             .payload = r->payload,
                             .current_hub = prev->assigned_hub};
    dps_hub_set hubs;
    dps_decision d;
    int rc = dps_decide_with_store(dps_engine__store(e), dps_engine__geo(e), &dr, &hubs, &d);
    if (rc == -2) {
        dps_hub_set_free(&hubs);
        snprintf(msg, msglen, "cannot read the linked hubs");
        return 500;
    }
    json_t *cands = json_array();
    for (size_t i = 0; cands != NULL && rc == 0 && i < d.ncand; i++)
        json_array_append_new(cands, json_string(hubs.hubs[d.cand[i]].name));
    json_t *reprov = json_pack("{s:O?,s:s,s:s}", "policy",
                               json_object_get(enr, "reprovisionPolicy"), "mode",
                               mode_name(d.plan.mode), "reason", d.plan.reason);
    int err = put(out, "allocationPolicy", str_or_null(d.policy));
    err |= put(out, "policySource", str_or_null(d.policy_source));
    err |= put(out, "reprovision", reprov);
    err |= put(out, "candidateHubs", cands);
    if (d.policy != NULL && strcmp(d.policy, "geoLatency") == 0)
        err |= put(out, "deviceLocation",
                   d.device_location != NULL
                       ? json_pack("{s:s,s:s}", "location", d.device_location, "source",
                                   d.location_source)
                       : NULL);
    const char *device_id =
        dps_decide_device_id(enr, is_group, prev->device_id, r->registration_id);
    if (rc != 0) {
        err |= put(out, "status", json_string("failed"));
        err |= put(out, "errorCode", json_integer(d.error_code));
        err |= put(out, "errorMessage", json_string(d.message));
    } else if (d.webhook) {
        /* What the webhook would be sent; it is not called. */
        const char *names[DPS_ALLOC_MAX_CANDIDATES];
        for (size_t i = 0; i < d.ncand; i++)
            names[i] = hubs.hubs[d.cand[i]].name;
        dps_webhook_input wi = {.enrollment = enr,
                                .is_group = is_group,
                                .registration_id = r->registration_id,
                                .current_hub = d.current >= 0 ? prev->assigned_hub : NULL,
                                .current_device_id = prev->device_id,
                                .attestation_type = "symmetricKey",
                                .payload = r->payload,
                                .linked_hubs = names,
                                .nlinked = d.ncand};
        const char *att = json_string_value(
            json_object_get(json_object_get(enr, "attestation"), "type"));
        if (att != NULL && strcmp(att, "x509") == 0)
            wi.attestation_type = "x509";
        err |= put(out, "status", json_string("assigning"));
        err |= put(out, "decidedBy", json_string("webhook"));
        err |= put(out, "webhookUrl",
                   str_or_null(json_string_value(json_object_get(
                       json_object_get(enr, "customAllocationDefinition"), "webhookUrl"))));
        err |= put(out, "webhookRequest", dps_webhook_request(&wi));
        err |= put(out, "deviceId", json_string(device_id));
        err |= put(out, "detail", json_string(d.detail));
    } else {
        const char *hub = hubs.hubs[d.hub].name;
        dps_hub_action act;
        const char *substatus;
        dps_reprov_outcome(&d.plan, prev->assigned_hub, hub, prev->initial_hub, &act,
                           &substatus);
        err |= put(out, "status", json_string("assigned"));
        err |= put(out, "assignedHub", json_string(hub));
        err |= put(out, "deviceId", json_string(device_id));
        err |= put(out, "action", json_string(dps_hub_action_name(act)));
        err |= put(out, "substatus", json_string(substatus));
        err |= put(out, "detail", json_string(d.detail));
    }
    dps_hub_set_free(&hubs);
    if (err != 0) {
        snprintf(msg, msglen, "out of memory");
        return 500;
    }
    return 200;
}

int dps_engine_explain(dps_engine *e, const dps_explain_request *r, json_t **out, char *msg,
                       size_t msglen)
{
    *out = NULL;
    char regkey[DPS_ID_KEY_SIZE], gkey[DPS_ID_KEY_SIZE];
    if (r->registration_id == NULL || !dps_id_key(r->registration_id, regkey)) {
        snprintf(msg, msglen, "'%.64s' is not a valid registration ID",
                 r->registration_id != NULL ? r->registration_id : "");
        return 400;
    }
    if (r->group_id != NULL && !dps_id_key(r->group_id, gkey)) {
        snprintf(msg, msglen, "'%.64s' is not a valid enrollment group ID", r->group_id);
        return 400;
    }
    dps_store *store = dps_engine__store(e);
    dps_prev_record prev = {0};
    if (dps_record_load(store, regkey, &prev) != 0) {
        snprintf(msg, msglen, "cannot read the registration record");
        return 500;
    }
    int status = 200, rc;
    bool is_group = false;
    json_t *enr = r->group_id == NULL ? load_doc(store, DPS_COLL_ENROLLMENT, regkey, &rc) : NULL;
    if (r->group_id == NULL && rc != 0) {
        status = 500;
        snprintf(msg, msglen, "the individual enrollment is unreadable");
    } else if (enr == NULL) {
        /* Groups: the one named, else the one the device came through
         * last (the engine's group hint), else the only one. */
        is_group = true;
        const char *key = r->group_id != NULL ? gkey : prev.group;
        if (key != NULL) {
            enr = load_doc(store, DPS_COLL_ENROLLMENT_GROUP, key, &rc);
            if (enr == NULL) {
                status = rc != 0 ? 500 : 404;
                snprintf(msg, msglen, "enrollment group '%.128s' %s", key,
                         rc != 0 ? "is unreadable" : "not found");
            }
        } else {
            enr = only_group(store, &status, msg, msglen);
        }
    }
    json_t *o = enr != NULL ? json_object() : NULL;
    if (enr != NULL && o == NULL) {
        status = 500;
        snprintf(msg, msglen, "out of memory");
    }
    if (o != NULL) {
        const char *id = json_string_value(
            json_object_get(enr, is_group ? "enrollmentGroupId" : "registrationId"));
        const char *pstatus = json_string_value(json_object_get(enr, "provisioningStatus"));
        const char *att = json_string_value(
            json_object_get(json_object_get(enr, "attestation"), "type"));
        bool disabled = pstatus != NULL && strcmp(pstatus, "disabled") == 0;
        int err = put(o, "registrationId", json_string(r->registration_id));
        err |= put(o, "enrollment",
                   json_pack("{s:s,s:s?,s:s,s:s?}", "kind",
                             is_group ? "enrollmentGroup" : "individualEnrollment", "id", id,
                             "provisioningStatus", disabled ? "disabled" : "enabled",
                             "attestation", att));
        err |= put(o, "currentHub", str_or_null(prev.assigned_hub));
        err |= put(o, "currentDeviceId", str_or_null(prev.device_id));
        err |= put(o, "currentStatus", str_or_null(prev.status));
        if (err != 0) {
            status = 500;
            snprintf(msg, msglen, "out of memory");
        } else if (disabled) {
            /* Blocked before allocation: the hub device is untouched. */
            put(o, "status", json_string("disabled"));
            put(o, "assignedHub", str_or_null(prev.assigned_hub));
            put(o, "action", json_string("none"));
        } else {
            status = explain_decision(e, r, regkey, enr, is_group, &prev, o, msg, msglen);
        }
    }
    if (status == 200) {
        *out = o;
        o = NULL;
    }
    json_decref(o);
    json_decref(enr);
    dps_prev_record_free(&prev);
    return status;
}
