/* The hub's MQTT wire rules as pure functions (see rules.h). */
#include "mqtt/rules.h"

#include <string.h>

#include "common/strparse.h"

/* ---- small view helpers -------------------------------------------------- */

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

static bool eat_view(dps_mqtt_str *v, dps_mqtt_str prefix)
{
    if (v->len < prefix.len || (prefix.len > 0 && memcmp(v->ptr, prefix.ptr, prefix.len) != 0))
        return false;
    v->ptr += prefix.len;
    v->len -= prefix.len;
    return true;
}

static const char *find2(const char *p, size_t len, char a, char b)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (p[i] == a && p[i + 1] == b)
            return p + i;
    }
    return NULL;
}

/* ---- username ------------------------------------------------------------ */

int hubd_mqtt_parse_username(dps_mqtt_str username, hubd_mqtt_username *out)
{
    const char *cut = find2(username.ptr, username.len, '/', '?');
    size_t head_len = cut != NULL ? (size_t)(cut - username.ptr) : username.len;
    /* The query-less form may still end in '/' ("hub/dev/"); that slash
     * separates nothing, so it is not part of the device ID. */
    if (cut == NULL && head_len > 0 && username.ptr[head_len - 1] == '/')
        head_len--;
    const char *slash = memchr(username.ptr, '/', head_len);
    if (slash == NULL)
        return -1;
    size_t hub_len = (size_t)(slash - username.ptr);
    size_t id_len = head_len - hub_len - 1;
    if (hub_len == 0 || id_len == 0)
        return -1;
    out->hub.ptr = username.ptr;
    out->hub.len = hub_len;
    out->device_id.ptr = slash + 1;
    out->device_id.len = id_len;
    return 0;
}

/* ---- publish topics ------------------------------------------------------ */

bool hubd_mqtt_query_raw(dps_mqtt_str query, const char *key, dps_mqtt_str *out)
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

static hubd_route_kind refuse(hubd_mqtt_route *out, const char *why)
{
    out->kind = HUBD_ROUTE_REFUSED;
    out->why = why;
    return out->kind;
}

/* After "...GET" or ".../reported" or ".../{status}": "/?{query}" with a
 * usable $rid in it. */
static hubd_route_kind take_rid(dps_mqtt_str rest, hubd_route_kind kind, hubd_mqtt_route *out)
{
    if (!eat(&rest, "/?"))
        return refuse(out, "no query after the topic");
    dps_mqtt_str rid;
    if (!hubd_mqtt_query_raw(rest, "$rid", &rid) || rid.len == 0)
        return refuse(out, "no $rid");
    if (rid.len > HUBD_MQTT_MAX_RID)
        return refuse(out, "$rid too long");
    out->rid = rid;
    out->kind = kind;
    return kind;
}

hubd_route_kind hubd_mqtt_route_publish(dps_mqtt_str topic, dps_mqtt_str device_id,
                                        hubd_mqtt_route *out)
{
    memset(out, 0, sizeof *out);
    dps_mqtt_str t = topic;
    if (eat(&t, "devices/")) {
        if (device_id.len == 0 || !eat_view(&t, device_id))
            return refuse(out, "another device's topic");
        if (!eat(&t, "/messages/events"))
            return refuse(out, "not a device-to-cloud topic");
        if (t.len > 0 && !eat(&t, "/"))
            return refuse(out, "not a device-to-cloud topic");
        out->bag = t;
        out->kind = HUBD_ROUTE_TELEMETRY;
        return out->kind;
    }
    if (eat(&t, "$iothub/twin/GET"))
        return take_rid(t, HUBD_ROUTE_TWIN_GET, out);
    if (eat(&t, "$iothub/twin/PATCH/properties/reported"))
        return take_rid(t, HUBD_ROUTE_TWIN_PATCH, out);
    if (eat(&t, "$iothub/methods/res/")) {
        const char *slash = memchr(t.ptr, '/', t.len);
        if (slash == NULL)
            return refuse(out, "no status in a method response");
        size_t slen = (size_t)(slash - t.ptr);
        int64_t status;
        if (dps_parse_int64(t.ptr, slen, INT32_MIN, INT32_MAX, &status) != 0)
            return refuse(out, "bad status in a method response");
        out->status = (int)status;
        t.ptr += slen;
        t.len -= slen;
        return take_rid(t, HUBD_ROUTE_METHOD_RESPONSE, out);
    }
    return refuse(out, "topic outside the device's own");
}

/* ---- subscriptions ------------------------------------------------------- */

int hubd_mqtt_filter_kind(dps_mqtt_str filter, dps_mqtt_str device_id)
{
    if (dps_mqtt_str_eq(filter, "$iothub/twin/res/#"))
        return HUBD_SUB_TWIN_RES;
    if (dps_mqtt_str_eq(filter, "$iothub/twin/PATCH/properties/desired/#"))
        return HUBD_SUB_DESIRED;
    if (dps_mqtt_str_eq(filter, "$iothub/methods/POST/#"))
        return HUBD_SUB_METHODS;
    dps_mqtt_str f = filter;
    if (device_id.len > 0 && eat(&f, "devices/") && eat_view(&f, device_id) &&
        dps_mqtt_str_eq(f, "/messages/devicebound/#"))
        return HUBD_SUB_C2D;
    return -1;
}

uint8_t hubd_mqtt_granted_qos(uint8_t requested)
{
    return requested >= 1 ? 1 : 0;
}

/* ---- telemetry properties ------------------------------------------------ */

static const struct {
    const char *wire;
    const char *name;
} system_names[] = {
    {"$.mid", "messageId"},       {"$.cid", "correlationId"},
    {"$.uid", "userId"},          {"$.ct", "contentType"},
    {"$.ce", "contentEncoding"},  {"$.ctime", "creationTimeUtc"},
};

int hubd_mqtt_telemetry_props(const dps_mqtt_prop *props, size_t n, bool retain, json_t *system,
                              json_t *app)
{
    for (size_t i = 0; i < n; i++) {
        /* dps_mqtt_props_parse NUL-terminates keys and values in its
         * scratch, so they are C strings here. */
        const char *key = props[i].key.ptr;
        json_t *value = props[i].has_value ? json_stringn(props[i].value.ptr, props[i].value.len)
                                           : json_null();
        if (value == NULL)
            return -1;
        json_t *target = app;
        if (strncmp(key, "$.", 2) == 0) {
            target = NULL;
            for (size_t k = 0; k < sizeof system_names / sizeof system_names[0]; k++) {
                if (strcmp(key, system_names[k].wire) == 0) {
                    target = system;
                    key = system_names[k].name;
                    break;
                }
            }
            if (target == NULL) {
                json_decref(value);
                continue;
            }
        }
        if (json_object_set_new(target, key, value) != 0)
            return -1;
    }
    if (retain && json_object_set_new(app, "mqtt-retain", json_string("true")) != 0)
        return -1;
    return 0;
}
