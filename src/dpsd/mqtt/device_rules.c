/* DPS over MQTT wire rules as pure functions (see device_rules.h). */
#include "mqtt/device_rules.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/json.h"
#include "common/rand.h"
#include "common/timeutil.h"
#include "common/urlcode.h"

/* ---- small view helpers ------------------------------------------------------ */

/* If v starts with prefix, advances v past it and returns true. */
static bool eat(dps_mqtt_str *v, const char *prefix)
{
    size_t n = strlen(prefix);
    if (v->len < n || memcmp(v->ptr, prefix, n) != 0)
        return false;
    v->ptr += n;
    v->len -= n;
    return true;
}

/* Percent-decodes v into out (cap bytes with the NUL). '+' stays '+': these
 * are URL escapes, not form encoding. False on a bad escape, %00, or when
 * the result does not fit. */
static bool decode_into(dps_mqtt_str v, char *out, size_t cap)
{
    char *d = dps_url_decode(v.ptr, v.len, false);
    if (d == NULL)
        return false;
    size_t n = strlen(d);
    bool ok = n < cap;
    if (ok)
        memcpy(out, d, n + 1);
    free(d);
    return ok;
}

/* The raw value of key in a query "a=1&$rid=7&b"; false when absent. */
static bool query_raw(dps_mqtt_str query, const char *key, dps_mqtt_str *out)
{
    size_t klen = strlen(key);
    size_t pos = 0;
    while (pos < query.len) {
        const char *amp = memchr(query.ptr + pos, '&', query.len - pos);
        size_t end = amp != NULL ? (size_t)(amp - query.ptr) : query.len;
        const char *item = query.ptr + pos;
        size_t item_len = end - pos;
        if (item_len > klen && memcmp(item, key, klen) == 0 && item[klen] == '=') {
            out->ptr = item + klen + 1;
            out->len = item_len - klen - 1;
            return true;
        }
        pos = end + 1;
    }
    return false;
}

/* ---- CONNECT username ------------------------------------------------------------ */

static int fail(const char **why, const char *reason)
{
    if (why != NULL)
        *why = reason;
    return -1;
}

/* One "key=value" item of the list after the registration ID. */
static int take_item(dps_mqtt_str item, dpsd_mqtt_username *out, const char **why)
{
    const char *eq = memchr(item.ptr, '=', item.len);
    if (eq == NULL)
        return 0; /* a bare key carries nothing we read */
    size_t klen = (size_t)(eq - item.ptr);
    dps_mqtt_str value = {eq + 1, item.len - klen - 1};
    if (klen == strlen("api-version") && strncasecmp(item.ptr, "api-version", klen) == 0) {
        if (!decode_into(value, out->api_version, sizeof out->api_version))
            return fail(why, "bad api-version in the username");
        out->has_api_version = true;
    } else if (klen == strlen("ClientVersion") && strncasecmp(item.ptr, "ClientVersion", klen) == 0) {
        /* Only for logs: an odd agent string never refuses a device. */
        if (!decode_into(value, out->client_version, sizeof out->client_version))
            out->client_version[0] = '\0';
    }
    return 0;
}

int dpsd_mqtt_parse_username(dps_mqtt_str username, dpsd_mqtt_username *out, const char **why)
{
    memset(out, 0, sizeof *out);
    dps_mqtt_str u = username;
    const char *slash = memchr(u.ptr, '/', u.len);
    if (slash == NULL || slash == u.ptr)
        return fail(why, "no ID scope in the username");
    dps_mqtt_str scope = {u.ptr, (size_t)(slash - u.ptr)};
    u.ptr = slash;
    u.len -= scope.len;
    if (!eat(&u, "/registrations/"))
        return fail(why, "username is not {idScope}/registrations/{registrationId}/...");
    slash = memchr(u.ptr, '/', u.len);
    dps_mqtt_str regid = {u.ptr, slash != NULL ? (size_t)(slash - u.ptr) : u.len};
    if (regid.len == 0)
        return fail(why, "no registration ID in the username");
    if (!decode_into(scope, out->id_scope, sizeof out->id_scope) || out->id_scope[0] == '\0')
        return fail(why, "bad ID scope in the username");
    if (!decode_into(regid, out->registration_id, sizeof out->registration_id))
        return fail(why, "bad registration ID in the username");
    if (slash == NULL)
        return 0; /* no key=value list at all */
    dps_mqtt_str list = {slash + 1, u.len - regid.len - 1};
    size_t pos = 0;
    while (pos < list.len) {
        const char *amp = memchr(list.ptr + pos, '&', list.len - pos);
        size_t end = amp != NULL ? (size_t)(amp - list.ptr) : list.len;
        dps_mqtt_str item = {list.ptr + pos, end - pos};
        if (item.len > 0 && take_item(item, out, why) != 0)
            return -1;
        pos = end + 1;
    }
    return 0;
}

/* ---- publish topics ------------------------------------------------------------ */

static dpsd_mqtt_route_kind refuse(dpsd_mqtt_route *out, const char *why)
{
    out->kind = DPSD_MQTT_ROUTE_REFUSED;
    out->why = why;
    return out->kind;
}

dpsd_mqtt_route_kind dpsd_mqtt_route_publish(dps_mqtt_str topic, dpsd_mqtt_route *out)
{
    memset(out, 0, sizeof *out);
    dps_mqtt_str t = topic;
    dpsd_mqtt_route_kind kind;
    if (eat(&t, "$dps/registrations/PUT/iotdps-register/?"))
        kind = DPSD_MQTT_ROUTE_REGISTER;
    else if (eat(&t, "$dps/registrations/GET/iotdps-get-operationstatus/?"))
        kind = DPSD_MQTT_ROUTE_STATUS;
    else
        return refuse(out, "not a DPS request topic");
    if (!query_raw(t, "$rid", &out->rid) || out->rid.len == 0)
        return refuse(out, "no $rid in the request topic");
    if (out->rid.len > DPSD_MQTT_MAX_RID)
        return refuse(out, "$rid too long");
    if (kind == DPSD_MQTT_ROUTE_STATUS)
        out->has_operation_id = query_raw(t, "operationId", &out->operation_id);
    out->kind = kind;
    return kind;
}

/* ---- subscriptions -------------------------------------------------------------- */

bool dpsd_mqtt_filter_allowed(dps_mqtt_str filter)
{
    return dps_mqtt_str_eq(filter, DPSD_MQTT_RESPONSE_FILTER);
}

uint8_t dpsd_mqtt_granted_qos(uint8_t requested)
{
    return requested >= 1 ? 1 : 0;
}

/* ---- responses -------------------------------------------------------------------- */

int dpsd_mqtt_response_topic(int status, dps_mqtt_str rid, int retry_after, char *out,
                             size_t cap)
{
    if (status < 100 || status > 999 || rid.len > DPSD_MQTT_MAX_RID || cap == 0)
        return -1;
    int n;
    /* $rid first, retry-after after it: C# anchors its pattern on "/?$rid="
     * and Python splits the topic on '$' (§6.4). */
    if (retry_after > 0)
        n = snprintf(out, cap, "$dps/registrations/res/%d/?$rid=%.*s&retry-after=%d", status,
                     (int)rid.len, rid.ptr, retry_after);
    else
        n = snprintf(out, cap, "$dps/registrations/res/%d/?$rid=%.*s", status, (int)rid.len,
                     rid.ptr);
    if (n < 0 || (size_t)n >= cap)
        return -1;
    return n;
}

char *dpsd_mqtt_error_payload(int error_code, const char *message, int64_t now_ns)
{
    char tracking[DPS_UUID_LEN];
    if (dps_uuid_v4(tracking) != 0)
        snprintf(tracking, sizeof tracking, "00000000-0000-0000-0000-000000000000");
    char now[DPS_ISO_TIME_LEN];
    dps_time_iso(now_ns, now);
    json_t *body = json_pack("{s:i,s:s,s:s,s:s}", "errorCode", error_code, "trackingId", tracking,
                             "message", message != NULL ? message : "", "timestampUtc", now);
    if (body == NULL)
        return NULL;
    char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(body);
    return text;
}

bool dpsd_mqtt_payload_has_tpm(const void *payload, size_t len)
{
    /* Most payloads never mention it: skip the parse then. */
    if (len == 0 || len > DPS_JSON_MAX_BODY || memmem(payload, len, "\"tpm\"", 5) == NULL)
        return false;
    char err[8];
    json_t *doc = dps_json_parse_object(payload, len, DPS_JSON_MAX_BODY, err, sizeof err);
    bool tpm = doc != NULL && json_object_get(doc, "tpm") != NULL;
    json_decref(doc);
    return tpm;
}
