/* The hub core's parsers: topics the hub publishes to a device (twin
 * responses, desired patches, method requests, C2D) and the $version
 * members of twin documents (hub.md §8.3). */
#include <assert.h>
#include <jansson.h>
#include <string.h>

#include "common/strparse.h"
#include "dps/hub_core.h"
#include "mqtt/mqtt.h"

#define HUB_MAX_TOPIC 1024
#define HUB_MAX_PROPS 8

static bool starts_with(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(s, prefix, n) == 0;
}

/* Parses the "?..." query of a $iothub topic into props. */
static dps_result parse_query(const char *q, size_t len, dps_mqtt_prop *props, char *scratch,
                              size_t scratch_cap, size_t *count)
{
    dps_mqtt_result mr =
        dps_mqtt_props_parse(q, len, props, HUB_MAX_PROPS, scratch, scratch_cap, count);
    return mr == DPS_MQTT_OK ? DPS_OK : DPS_E_PROTOCOL;
}

/* $rid is echoed byte for byte (hub.md §8.3), so it is taken from the raw
 * topic, not from the decoded value. */
static dps_result raw_rid(const char *q, size_t len, char rid[DPS_MAX_RID + 1])
{
    const char *p = q, *end = q + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *item_end = amp != NULL ? amp : end;
        if (item_end - p >= 5 && memcmp(p, "$rid=", 5) == 0) {
            size_t n = (size_t)(item_end - p - 5);
            if (n == 0)
                return DPS_E_PROTOCOL;
            if (n > DPS_MAX_RID)
                return DPS_E_TOO_LARGE;
            memcpy(rid, p + 5, n);
            rid[n] = '\0';
            return DPS_OK;
        }
        p = amp != NULL ? amp + 1 : end;
    }
    return DPS_E_PROTOCOL;
}

static dps_result read_version(const dps_mqtt_prop *props, size_t count, bool *has,
                               int64_t *version)
{
    const dps_mqtt_prop *v = dps_mqtt_props_find(props, count, "$version");
    *has = false;
    if (v == NULL)
        return DPS_OK;
    if (!v->has_value || dps_parse_int64(v->value.ptr, v->value.len, 0, INT64_MAX, version) != 0)
        return DPS_E_PROTOCOL;
    *has = true;
    return DPS_OK;
}

dps_result dps_hub_parse_topic(const char *topic, size_t len, dps_hub_topic *out)
{
    assert(topic != NULL && out != NULL);
    dps_hub_topic t = {0};
    dps_mqtt_prop props[HUB_MAX_PROPS];
    char scratch[HUB_MAX_TOPIC + 1];
    size_t count = 0;
    dps_result rc = DPS_OK;

    if (starts_with(topic, len, DPS_HUB_TOPIC_TWIN_RES_PREFIX)) {
        /* $iothub/twin/res/{status}/?$rid={rid}[&$version={v}] */
        if (len > HUB_MAX_TOPIC)
            return DPS_E_TOO_LARGE;
        const char *p = topic + strlen(DPS_HUB_TOPIC_TWIN_RES_PREFIX), *end = topic + len;
        const char *slash = memchr(p, '/', (size_t)(end - p));
        int64_t status = 0;
        if (slash == NULL || end - slash < 2 || slash[1] != '?' ||
            dps_parse_int64(p, (size_t)(slash - p), 100, 599, &status) != 0)
            return DPS_E_PROTOCOL;
        const char *q = slash + 2;
        rc = parse_query(q, (size_t)(end - q), props, scratch, sizeof scratch, &count);
        if (rc == DPS_OK)
            rc = raw_rid(q, (size_t)(end - q), t.rid);
        if (rc == DPS_OK)
            rc = read_version(props, count, &t.has_version, &t.version);
        t.kind = DPS_HUB_TOPIC_TWIN_RESPONSE;
        t.status = (int)status;
    } else if (starts_with(topic, len, DPS_HUB_TOPIC_DESIRED_PREFIX)) {
        /* $iothub/twin/PATCH/properties/desired/?$version={v} */
        if (len > HUB_MAX_TOPIC)
            return DPS_E_TOO_LARGE;
        const char *p = topic + strlen(DPS_HUB_TOPIC_DESIRED_PREFIX), *end = topic + len;
        if (p < end) {
            if (*p != '?')
                return DPS_E_PROTOCOL;
            p++;
            rc = parse_query(p, (size_t)(end - p), props, scratch, sizeof scratch, &count);
            if (rc == DPS_OK)
                rc = read_version(props, count, &t.has_version, &t.version);
        }
        t.kind = DPS_HUB_TOPIC_DESIRED;
    } else if (starts_with(topic, len, DPS_HUB_TOPIC_METHODS_PREFIX)) {
        /* $iothub/methods/POST/{name}/?$rid={rid} */
        if (len > HUB_MAX_TOPIC)
            return DPS_E_TOO_LARGE;
        const char *p = topic + strlen(DPS_HUB_TOPIC_METHODS_PREFIX), *end = topic + len;
        const char *slash = memchr(p, '/', (size_t)(end - p));
        if (slash == NULL || slash == p || end - slash < 2 || slash[1] != '?')
            return DPS_E_PROTOCOL;
        /* The name is percent-decoded like a property key (same rules). */
        dps_mqtt_prop name;
        size_t n = 0;
        char name_scratch[HUB_MAX_TOPIC + 1];
        if (dps_mqtt_props_parse(p, (size_t)(slash - p), &name, 1, name_scratch,
                                 sizeof name_scratch, &n) != DPS_MQTT_OK ||
            n != 1 || name.has_value)
            return DPS_E_PROTOCOL;
        if (name.key.len > DPS_MAX_METHOD_NAME)
            return DPS_E_TOO_LARGE;
        memcpy(t.method_name, name.key.ptr, name.key.len);
        t.method_name[name.key.len] = '\0';
        const char *q = slash + 2;
        rc = raw_rid(q, (size_t)(end - q), t.rid);
        t.kind = DPS_HUB_TOPIC_METHOD;
    } else if (starts_with(topic, len, "devices/") &&
               memmem(topic, len, "/messages/devicebound", 21) != NULL) {
        t.kind = DPS_HUB_TOPIC_C2D;
    } else {
        t.kind = DPS_HUB_TOPIC_OTHER;
    }
    if (rc == DPS_OK)
        *out = t;
    return rc;
}

static int64_t version_of(const json_t *obj)
{
    const json_t *v = json_object_get(obj, "$version");
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

dps_result dps_hub_twin_versions(const char *json, size_t len, int64_t *desired_version,
                                 int64_t *reported_version)
{
    assert(json != NULL && desired_version != NULL);
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(root)) {
        json_decref(root);
        return DPS_E_PROTOCOL;
    }
    if (reported_version == NULL) {
        *desired_version = version_of(root); /* a desired patch carries its own */
    } else {
        *desired_version = version_of(json_object_get(root, "desired"));
        *reported_version = version_of(json_object_get(root, "reported"));
    }
    json_decref(root);
    return DPS_OK;
}
