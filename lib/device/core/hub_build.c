/* The hub core's builders: MQTT username, SAS audience, telemetry, twin and
 * method topics (hub.md §3.2, §8). */
#include <assert.h>
#include <string.h>

#include "device/core/ids.h"
#include "device/core/writer.h"
#include "dps/hub_core.h"

typedef struct {
    const char *hub;
    const char *dev;
    const char *api;
    const char *client_type;
} user_args;

static void build_username(dps_w *w, const void *arg)
{
    const user_args *a = arg;
    dps_w_str(w, a->hub);
    dps_w_char(w, '/');
    dps_w_str(w, a->dev);
    dps_w_str(w, "/?api-version=");
    dps_w_str(w, a->api);
    if (a->client_type != NULL) {
        dps_w_str(w, "&DeviceClientType=");
        dps_w_pct(w, a->client_type);
    }
}

dps_result dps_hub_mqtt_username(const char *hub_host, const char *device_id,
                                 const char *api_version, const char *client_type, char *out,
                                 size_t cap, size_t *out_len)
{
    assert(out_len != NULL);
    *out_len = 0;
    const char *api = api_version != NULL ? api_version : DPS_HUB_DEFAULT_API_VERSION;
    if (!dps_hub_host_valid(hub_host) || !dps_hub_device_id_valid(device_id) ||
        !dps__token_valid(api, DPS_MAX_API_VERSION) ||
        (client_type != NULL &&
         (client_type[0] == '\0' || strlen(client_type) > DPS_MAX_CLIENT_VERSION)))
        return DPS_E_INVALID;
    user_args a = {hub_host, device_id, api, client_type};
    return dps_w_run(build_username, &a, out, cap, out_len);
}

static void build_sr(dps_w *w, const void *arg)
{
    const user_args *a = arg;
    dps_w_str(w, a->hub);
    dps_w_str(w, "/devices/");
    dps_w_str(w, a->dev);
}

dps_result dps_hub_sas_resource(const char *hub_host, const char *device_id, char *out,
                                size_t cap, size_t *out_len)
{
    assert(out_len != NULL);
    *out_len = 0;
    if (!dps_hub_host_valid(hub_host) || !dps_hub_device_id_valid(device_id))
        return DPS_E_INVALID;
    user_args a = {hub_host, device_id, NULL, NULL};
    return dps_w_run(build_sr, &a, out, cap, out_len);
}

/* ---- Telemetry -------------------------------------------------------------- */

typedef struct {
    const char *dev;
    const dps_hub_message_props *props;
} telemetry_args;

static void bag_item(dps_w *w, bool *first, const char *key, const char *value, bool has_value)
{
    if (!*first)
        dps_w_char(w, '&');
    *first = false;
    dps_w_pct(w, key);
    if (has_value) {
        dps_w_char(w, '=');
        dps_w_pct(w, value);
    }
}

static void build_telemetry(dps_w *w, const void *arg)
{
    const telemetry_args *a = arg;
    dps_w_str(w, "devices/");
    dps_w_str(w, a->dev);
    dps_w_str(w, "/messages/events/");
    const dps_hub_message_props *p = a->props;
    if (p == NULL)
        return;
    bool first = true;
    const struct {
        const char *key;
        const char *value;
    } sys[] = {{"$.mid", p->message_id},
               {"$.cid", p->correlation_id},
               {"$.ct", p->content_type},
               {"$.ce", p->content_encoding}};
    for (size_t i = 0; i < sizeof sys / sizeof sys[0]; i++) {
        if (sys[i].value != NULL)
            bag_item(w, &first, sys[i].key, sys[i].value, true);
    }
    for (size_t i = 0; i < p->property_count; i++) {
        const dps_hub_property *q = &p->properties[i];
        bag_item(w, &first, q->name, q->value != NULL ? q->value : "", q->value != NULL);
    }
}

dps_result dps_hub_telemetry_topic(const char *device_id, const dps_hub_message_props *props,
                                   char *out, size_t cap, size_t *out_len)
{
    assert(out_len != NULL);
    *out_len = 0;
    if (!dps_hub_device_id_valid(device_id))
        return DPS_E_INVALID;
    if (props != NULL) {
        if (props->property_count > 0 && props->properties == NULL)
            return DPS_E_INVALID;
        for (size_t i = 0; i < props->property_count; i++) {
            if (props->properties[i].name == NULL || props->properties[i].name[0] == '\0')
                return DPS_E_INVALID;
        }
    }
    telemetry_args a = {device_id, props};
    return dps_w_run(build_telemetry, &a, out, cap, out_len);
}

/* ---- Twin and methods --------------------------------------------------------- */

typedef struct {
    const char *prefix;
    const char *rid;
    int status;
} rid_args;

static void build_rid_topic(dps_w *w, const void *arg)
{
    const rid_args *a = arg;
    dps_w_str(w, a->prefix);
    dps_w_str(w, a->rid);
}

dps_result dps_hub_twin_get_topic(const char *rid, char *out, size_t cap, size_t *out_len)
{
    assert(out_len != NULL);
    *out_len = 0;
    if (!dps__rid_valid(rid))
        return DPS_E_INVALID;
    rid_args a = {DPS_HUB_TOPIC_TWIN_GET_PREFIX, rid, 0};
    return dps_w_run(build_rid_topic, &a, out, cap, out_len);
}

dps_result dps_hub_twin_patch_topic(const char *rid, char *out, size_t cap, size_t *out_len)
{
    assert(out_len != NULL);
    *out_len = 0;
    if (!dps__rid_valid(rid))
        return DPS_E_INVALID;
    rid_args a = {DPS_HUB_TOPIC_TWIN_PATCH_PREFIX, rid, 0};
    return dps_w_run(build_rid_topic, &a, out, cap, out_len);
}

static void build_method_res(dps_w *w, const void *arg)
{
    const rid_args *a = arg;
    dps_w_str(w, DPS_HUB_TOPIC_METHOD_RES_PREFIX);
    dps_w_i64(w, a->status);
    dps_w_str(w, "/?$rid=");
    dps_w_str(w, a->rid);
}

dps_result dps_hub_method_response_topic(int status, const char *rid, char *out, size_t cap,
                                         size_t *out_len)
{
    assert(out_len != NULL);
    *out_len = 0;
    /* Any integer is a legal method status on the wire; keep it sane. */
    if (status < 0 || status > 999999 || !dps__echo_rid_valid(rid))
        return DPS_E_INVALID;
    rid_args a = {NULL, rid, status};
    return dps_w_run(build_method_res, &a, out, cap, out_len);
}
