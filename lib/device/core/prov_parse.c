/* The provisioning core's parsers: DPS answers (RegistrationOperationStatus,
 * DeviceRegistrationResult, the error shape) and MQTT response topics into
 * caller structs (device-api.md §5.4-§5.8, §6.4). Only known members are
 * read; the rest is skipped (style.md practice 6). */
#include <assert.h>
#include <jansson.h>
#include <string.h>
#include <strings.h>

#include "common/strparse.h"
#include "dps/prov_core.h"
#include "mqtt/mqtt.h"

const char *dps_prov_status_name(dps_prov_status s)
{
    switch (s) {
    case DPS_PROV_STATUS_UNASSIGNED: return "unassigned";
    case DPS_PROV_STATUS_ASSIGNING: return "assigning";
    case DPS_PROV_STATUS_ASSIGNED: return "assigned";
    case DPS_PROV_STATUS_FAILED: return "failed";
    case DPS_PROV_STATUS_DISABLED: return "disabled";
    case DPS_PROV_STATUS_UNKNOWN: break;
    }
    return "unknown";
}

/* The one place where status strings become the enum. */
static dps_prov_status status_from(const char *s)
{
    static const struct {
        const char *name;
        dps_prov_status st;
    } map[] = {
        {"unassigned", DPS_PROV_STATUS_UNASSIGNED}, {"assigning", DPS_PROV_STATUS_ASSIGNING},
        {"assigned", DPS_PROV_STATUS_ASSIGNED},     {"failed", DPS_PROV_STATUS_FAILED},
        {"disabled", DPS_PROV_STATUS_DISABLED},
    };
    for (size_t i = 0; s != NULL && i < sizeof map / sizeof map[0]; i++) {
        if (strcasecmp(s, map[i].name) == 0)
            return map[i].st;
    }
    return DPS_PROV_STATUS_UNKNOWN;
}

uint32_t dps_prov_retry_after(const char *text, size_t len)
{
    int64_t v = 0;
    if (text == NULL ||
        dps_parse_int64(text, len, DPS_RETRY_AFTER_MIN_S, DPS_RETRY_AFTER_MAX_S, &v) != 0)
        return DPS_RETRY_AFTER_DEFAULT_S;
    return (uint32_t)v;
}

/* ---- JSON helpers ----------------------------------------------------------- */

/* Copies a string member into dst[cap]: absent or null gives "", another
 * type DPS_E_PROTOCOL, a value over cap - 1 bytes DPS_E_TOO_LARGE. */
static dps_result copy_string(const json_t *obj, const char *key, char *dst, size_t cap)
{
    const json_t *v = json_object_get(obj, key);
    dst[0] = '\0';
    if (v == NULL || json_is_null(v))
        return DPS_OK;
    if (!json_is_string(v))
        return DPS_E_PROTOCOL;
    size_t n = json_string_length(v);
    if (n >= cap)
        return DPS_E_TOO_LARGE;
    const char *s = json_string_value(v);
    if (memchr(s, '\0', n) != NULL) /* "\u0000" inside: not a usable C string */
        return DPS_E_PROTOCOL;
    memcpy(dst, s, n + 1);
    return DPS_OK;
}

/* A human message: cut to fit, at a UTF-8 character boundary. */
static dps_result copy_message(const json_t *obj, const char *key, char *dst, size_t cap)
{
    const json_t *v = json_object_get(obj, key);
    dst[0] = '\0';
    if (v == NULL || json_is_null(v))
        return DPS_OK;
    if (!json_is_string(v))
        return DPS_E_PROTOCOL;
    const char *s = json_string_value(v);
    size_t n = strnlen(s, json_string_length(v)); /* stop at an embedded NUL */
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--; /* s[n] is a continuation byte: cut before its lead byte */
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
    return DPS_OK;
}

/* errorCode: an integer (Azure), or a string of digits (accepted). */
static dps_result read_error_code(const json_t *obj, int64_t *out)
{
    const json_t *v = json_object_get(obj, "errorCode");
    *out = 0;
    if (v == NULL || json_is_null(v))
        return DPS_OK;
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return DPS_OK;
    }
    if (json_is_string(v) &&
        dps_parse_int64(json_string_value(v), json_string_length(v), 0, INT64_MAX, out) == 0)
        return DPS_OK;
    return DPS_E_PROTOCOL;
}

static dps_result read_status(const json_t *obj, dps_prov_status *out)
{
    const json_t *v = json_object_get(obj, "status");
    *out = DPS_PROV_STATUS_UNKNOWN;
    if (v == NULL || json_is_null(v))
        return DPS_OK;
    if (!json_is_string(v))
        return DPS_E_PROTOCOL;
    *out = status_from(json_string_value(v));
    return DPS_OK;
}

static dps_result read_registration(const json_t *rs, dps_registration_result *r)
{
    if (!json_is_object(rs))
        return DPS_E_PROTOCOL;
    dps_result rc = read_status(rs, &r->status);
    if (rc == DPS_OK)
        rc = copy_string(rs, "registrationId", r->registration_id, sizeof r->registration_id);
    if (rc == DPS_OK)
        rc = copy_string(rs, "assignedHub", r->assigned_hub, sizeof r->assigned_hub);
    if (rc == DPS_OK)
        rc = copy_string(rs, "deviceId", r->device_id, sizeof r->device_id);
    if (rc == DPS_OK)
        rc = copy_string(rs, "substatus", r->substatus, sizeof r->substatus);
    if (rc == DPS_OK)
        rc = read_error_code(rs, &r->error_code);
    if (rc == DPS_OK)
        rc = copy_message(rs, "errorMessage", r->error_message, sizeof r->error_message);
    if (rc == DPS_OK)
        rc = copy_string(rs, "createdDateTimeUtc", r->created_utc, sizeof r->created_utc);
    if (rc == DPS_OK)
        rc = copy_string(rs, "lastUpdatedDateTimeUtc", r->last_updated_utc,
                         sizeof r->last_updated_utc);
    if (rc == DPS_OK)
        rc = copy_string(rs, "etag", r->etag, sizeof r->etag);
    if (rc != DPS_OK)
        return rc;

    /* The group ID sits under the attestation's own member. */
    static const char *const att[] = {"symmetricKey", "x509", "tpm"};
    for (size_t i = 0; i < sizeof att / sizeof att[0]; i++) {
        const json_t *a = json_object_get(rs, att[i]);
        if (json_is_object(a) && json_object_get(a, "enrollmentGroupId") != NULL) {
            rc = copy_string(a, "enrollmentGroupId", r->enrollment_group_id,
                             sizeof r->enrollment_group_id);
            if (rc != DPS_OK)
                return rc;
            break;
        }
    }

    /* A TPM registration's hub key (tpm.md §10). */
    const json_t *tpm = json_object_get(rs, "tpm");
    r->tpm_authentication_key[0] = '\0';
    if (json_is_object(tpm)) {
        rc = copy_string(tpm, "authenticationKey", r->tpm_authentication_key,
                         sizeof r->tpm_authentication_key);
        if (rc != DPS_OK)
            return rc;
    }

    const json_t *p = json_object_get(rs, "payload");
    r->payload[0] = '\0';
    r->payload_dropped = false;
    if (p != NULL && !json_is_null(p)) {
        size_t need = json_dumpb(p, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
        if (need == 0)
            return DPS_E_PROTOCOL;
        if (need >= sizeof r->payload) {
            r->payload_dropped = true;
        } else {
            size_t n = json_dumpb(p, r->payload, sizeof r->payload - 1,
                                  JSON_COMPACT | JSON_ENCODE_ANY);
            if (n != need)
                return DPS_E_PROTOCOL;
            r->payload[n] = '\0';
        }
    }
    return DPS_OK;
}

static dps_result read_operation(const json_t *root, dps_prov_response *r)
{
    dps_result rc = copy_string(root, "operationId", r->operation_id, sizeof r->operation_id);
    if (rc != DPS_OK)
        return rc;
    if (!dps_operation_id_valid(r->operation_id))
        return DPS_E_PROTOCOL;
    rc = read_status(root, &r->status);
    if (rc != DPS_OK)
        return rc;
    const json_t *rs = json_object_get(root, "registrationState");
    if (rs != NULL && !json_is_null(rs)) {
        rc = read_registration(rs, &r->registration);
        if (rc != DPS_OK)
            return rc;
        r->has_registration_state = true;
    }
    return DPS_OK;
}

static dps_result read_error(const json_t *root, dps_prov_response *r)
{
    r->kind = DPS_PROV_BODY_ERROR;
    if (!json_is_object(root))
        return DPS_OK;
    dps_result rc = read_error_code(root, &r->error_code);
    if (rc == DPS_OK)
        rc = copy_message(root, "message", r->error_message, sizeof r->error_message);
    if (rc == DPS_OK)
        rc = copy_message(root, "trackingId", r->tracking_id, sizeof r->tracking_id);
    /* The TPM challenge (tpm.md §4.2): a 401 with authenticationKey. */
    if (rc == DPS_OK)
        rc = copy_string(root, "authenticationKey", r->authentication_key,
                         sizeof r->authentication_key);
    if (rc == DPS_OK)
        rc = copy_string(root, "keyName", r->key_name, sizeof r->key_name);
    return rc;
}

static dps_result parse_answer(int status_code, uint32_t retry_after_s, const char *body,
                               size_t len, dps_prov_response *out)
{
    assert(out != NULL);
    if (status_code < 100 || status_code > 599)
        return DPS_E_PROTOCOL;
    if (len > DPS_PROV_MAX_BODY)
        return DPS_E_TOO_LARGE;
    static dps_prov_response zero;
    /* Filled in a local copy so that *out changes only on success. The
     * struct is large, so it lives in thread-local storage, not the stack. */
    static _Thread_local dps_prov_response r;
    r = zero;
    r.status_code = status_code;
    r.retry_after_s = retry_after_s;

    json_t *root = NULL;
    if (len > 0 && body != NULL)
        root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    dps_result rc = DPS_OK;
    bool ok_status = status_code >= 200 && status_code < 300;
    if (!ok_status) {
        /* Error answers need not be JSON (a proxy's 502 page): keep the code. */
        rc = read_error(root, &r);
    } else if (!json_is_object(root)) {
        rc = DPS_E_PROTOCOL;
    } else if (json_object_get(root, "operationId") != NULL) {
        r.kind = DPS_PROV_BODY_OPERATION;
        rc = read_operation(root, &r);
    } else if (json_object_get(root, "registrationId") != NULL ||
               json_object_get(root, "assignedHub") != NULL) {
        r.kind = DPS_PROV_BODY_REGISTRATION;
        rc = read_registration(root, &r.registration);
        r.status = r.registration.status;
        r.has_registration_state = rc == DPS_OK;
    } else {
        rc = DPS_E_PROTOCOL;
    }
    json_decref(root);
    if (rc == DPS_OK)
        *out = r;
    return rc;
}

dps_result dps_prov_parse_http_response(int status_code, const char *retry_after,
                                        const char *body, size_t body_len,
                                        dps_prov_response *out)
{
    uint32_t ra = 0;
    int64_t v = 0;
    if (retry_after != NULL &&
        dps_parse_int64(retry_after, strlen(retry_after), 0, UINT32_MAX, &v) == 0)
        ra = (uint32_t)v;
    return parse_answer(status_code, ra, body, body_len, out);
}

dps_result dps_prov_parse_mqtt_response(int status_code, uint32_t retry_after_s,
                                        const char *payload, size_t len, dps_prov_response *out)
{
    return parse_answer(status_code, retry_after_s, payload, len, out);
}

/* ---- MQTT response topics ---------------------------------------------------- */

dps_result dps_prov_mqtt_parse_response_topic(const char *topic, size_t len, int *status_code,
                                              char *rid, uint32_t *retry_after_s)
{
    assert(topic != NULL && status_code != NULL && rid != NULL && retry_after_s != NULL);
    static const char prefix[] = DPS_PROV_TOPIC_RESPONSE_PREFIX;
    size_t plen = sizeof prefix - 1;
    if (len > DPS_PROV_MAX_TOPIC)
        return DPS_E_TOO_LARGE;
    if (len < plen || memcmp(topic, prefix, plen) != 0)
        return DPS_E_PROTOCOL;
    const char *p = topic + plen, *end = topic + len;
    const char *slash = memchr(p, '/', (size_t)(end - p));
    if (slash == NULL || slash == p || end - slash < 2 || slash[1] != '?')
        return DPS_E_PROTOCOL;
    int64_t code = 0;
    if (dps_parse_int64(p, (size_t)(slash - p), 100, 599, &code) != 0 || slash - p != 3)
        return DPS_E_PROTOCOL;

    const char *bag = slash + 2;
    dps_mqtt_prop props[DPS_PROV_MAX_PROPS];
    char scratch[DPS_PROV_MAX_TOPIC + 1];
    size_t count = 0;
    dps_mqtt_result mr = dps_mqtt_props_parse(bag, (size_t)(end - bag), props,
                                              DPS_PROV_MAX_PROPS, scratch, sizeof scratch,
                                              &count);
    if (mr != DPS_MQTT_OK)
        return DPS_E_PROTOCOL;
    const dps_mqtt_prop *r = dps_mqtt_props_find(props, count, "$rid");
    if (r == NULL || !r->has_value || r->value.len == 0)
        return DPS_E_PROTOCOL;
    if (r->value.len > DPS_MAX_RID)
        return DPS_E_TOO_LARGE;
    uint32_t ra = 0;
    const dps_mqtt_prop *a = dps_mqtt_props_find(props, count, "retry-after");
    int64_t v = 0;
    if (a != NULL && a->has_value && dps_parse_int64(a->value.ptr, a->value.len, 0, UINT32_MAX, &v) == 0)
        ra = (uint32_t)v;

    memcpy(rid, r->value.ptr, r->value.len);
    rid[r->value.len] = '\0';
    *status_code = (int)code;
    *retry_after_s = ra;
    return DPS_OK;
}
