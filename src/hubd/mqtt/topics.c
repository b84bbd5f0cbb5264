/* The topics of hub.md 8.3 for one connected device: PUBLISH routing
 * (telemetry, twin GET, reported-properties PATCH, method responses),
 * SUBSCRIBE/UNSUBSCRIBE against the allowed filters, and publishing to the
 * device at the QoS its subscription was granted. A publish outside the
 * device's own topics, or at QoS 2, closes the connection (hub.md 8.2);
 * RETAIN is never stored, only passed on as a message property. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "model/registry.h"
#include "model/telemetry.h"
#include "mqtt/internal.h"

/* ---- publishing to the device -------------------------------------------- */

int hubd_topics_deliver(hubd_device *d, hubd_sub_kind kind, const char *topic, size_t topic_len,
                        const void *payload, size_t len)
{
    int qos = d->sub_qos[kind];
    if (d->conn == NULL || qos < 0)
        return -1; /* not subscribed: MQTT has nobody to deliver to */
    dps_mqttsrv_send_result r =
        dps_mqttsrv_publish(d->conn, topic, topic_len, payload, len, (uint8_t)qos, false, NULL);
    if (r == DPS_MQTTSRV_BUSY) {
        /* The device leaves many QoS 1 publishes unacknowledged: a response
         * it would not acknowledge either is better sent without the
         * guarantee than not at all. */
        r = dps_mqttsrv_publish(d->conn, topic, topic_len, payload, len, 0, false, NULL);
    }
    /* A failure has closed the connection itself; nothing more to do. */
    return r == DPS_MQTTSRV_SENT ? 0 : -1;
}

/* $iothub/twin/res/{status}/?$rid={rid}[&$version={v}] */
static void twin_respond(hubd_device *d, int status, dps_mqtt_str rid, int64_t version,
                         bool with_version, const char *body, size_t body_len)
{
    char topic[96 + HUBD_MQTT_MAX_RID];
    /* The router caps $rid already; the clamp shows the bound to the
     * compiler as well. */
    int rid_len = rid.len < HUBD_MQTT_MAX_RID ? (int)rid.len : HUBD_MQTT_MAX_RID;
    int n;
    if (with_version)
        n = snprintf(topic, sizeof topic, "$iothub/twin/res/%d/?$rid=%.*s&$version=%lld", status,
                     rid_len, rid.ptr, (long long)version);
    else
        n = snprintf(topic, sizeof topic, "$iothub/twin/res/%d/?$rid=%.*s", status, rid_len,
                     rid.ptr);
    if (n < 0 || (size_t)n >= sizeof topic)
        return; /* cannot happen: rid is capped by the router */
    hubd_topics_deliver(d, HUBD_SUB_TWIN_RES, topic, (size_t)n, body, body_len);
}

static int status_of(hubd_result r)
{
    switch (r) {
    case HUBD_OK:
        return 200;
    case HUBD_NOT_FOUND:
        return 404;
    case HUBD_INVALID:
        return 400;
    case HUBD_PRECONDITION:
        return 412;
    case HUBD_CONFLICT:
        return 409;
    case HUBD_ERROR:
        break;
    }
    return 500;
}

/* ---- handlers ------------------------------------------------------------ */

static int on_telemetry(hubd_ctx *ctx, hubd_device *d, const dps_mqtt_publish *p,
                        dps_mqtt_str bag, const char **why)
{
    if (p->payload.len > HUBD_MQTT_MAX_D2C_BODY) {
        *why = "device-to-cloud message over 256 KiB";
        return -1;
    }
    /* The topic is capped at HUBD_MQTT_MAX_TOPIC, so its bag decodes into
     * this scratch (decoding never grows text). */
    char scratch[HUBD_MQTT_MAX_TOPIC + 1];
    dps_mqtt_prop props[HUBD_MQTT_MAX_PROPS];
    size_t n = 0;
    dps_mqtt_result rc = dps_mqtt_props_parse(bag.ptr, bag.len, props, HUBD_MQTT_MAX_PROPS,
                                              scratch, sizeof scratch, &n);
    if (rc != DPS_MQTT_OK) {
        *why = rc == DPS_MQTT_TOO_MANY ? "too many message properties" : "bad property bag";
        return -1;
    }
    json_t *system = json_object();
    json_t *app = json_object();
    if (system == NULL || app == NULL ||
        hubd_mqtt_telemetry_props(props, n, p->retain, system, app) != 0) {
        /* Lost, like any message a hub cannot take; the device stays. */
        log_error("mqtt: out of memory on telemetry from %s", hubd_device_id(d));
    } else {
        hubd_telemetry_message m = {
            .hub = hubd_device_hub(d),
            .device_id = hubd_device_id(d),
            .system_props = system,
            .app_props = app,
            .body = p->payload.ptr,
            .body_len = p->payload.len,
        };
        hubd_telemetry_append(ctx, &m);
    }
    json_decref(system);
    json_decref(app);
    return 0;
}

static void on_twin_get(hubd_ctx *ctx, hubd_device *d, dps_mqtt_str rid)
{
    json_t *props = NULL;
    hubd_result r = hubd_twin_get_properties(ctx, hubd_device_hub(d), hubd_device_id(d), &props);
    char *body = NULL;
    int status = status_of(r);
    if (r == HUBD_OK) {
        body = json_dumps(props, JSON_COMPACT);
        if (body == NULL)
            status = 500;
    } else if (r == HUBD_ERROR) {
        log_error("mqtt: twin read for %s: %s", hubd_device_id(d), hubd_last_error());
    }
    json_decref(props);
    twin_respond(d, status, rid, 0, false, body, body != NULL ? strlen(body) : 0);
    free(body);
}

static void on_twin_patch(hubd_ctx *ctx, hubd_device *d, const dps_mqtt_publish *p,
                          dps_mqtt_str rid)
{
    json_error_t jerr;
    json_t *patch = NULL;
    if (p->payload.len <= HUBD_MQTT_MAX_PATCH)
        patch = json_loadb((const char *)p->payload.ptr, p->payload.len, JSON_REJECT_DUPLICATES,
                           &jerr);
    if (!json_is_object(patch)) {
        json_decref(patch);
        twin_respond(d, 400, rid, 0, false, NULL, 0);
        return;
    }
    int64_t version = 0;
    hubd_result r = hubd_twin_patch_reported(ctx, hubd_device_hub(d), hubd_device_id(d), patch,
                                             &version);
    json_decref(patch);
    if (r == HUBD_OK) {
        twin_respond(d, 204, rid, version, true, NULL, 0);
        return;
    }
    if (r == HUBD_ERROR)
        log_error("mqtt: reported patch for %s: %s", hubd_device_id(d), hubd_last_error());
    twin_respond(d, status_of(r), rid, 0, false, NULL, 0);
}

int hubd_topics_publish(hubd_ctx *ctx, hubd_mqtt_conn *c, hubd_device *d,
                        const dps_mqtt_publish *p, const char **why)
{
    /* QoS 2 never gets here: lib/mqttsrv closes on it. */
    if (p->topic.len > HUBD_MQTT_MAX_TOPIC) {
        *why = "topic too long";
        return -1;
    }
    hubd_mqtt_route r;
    dps_mqtt_str id = {hubd_device_id(d), d->id_len};
    switch (hubd_mqtt_route_publish(p->topic, id, &r)) {
    case HUBD_ROUTE_REFUSED:
        *why = r.why;
        return -1;
    case HUBD_ROUTE_TELEMETRY:
        if (on_telemetry(ctx, d, p, r.bag, why) != 0)
            return -1;
        break;
    case HUBD_ROUTE_TWIN_GET:
        on_twin_get(ctx, d, r.rid);
        break;
    case HUBD_ROUTE_TWIN_PATCH:
        on_twin_patch(ctx, d, p, r.rid);
        break;
    case HUBD_ROUTE_METHOD_RESPONSE:
        hubd_methods_response(ctx, d, r.rid, r.status, p->payload.ptr, p->payload.len);
        break;
    }
    if (p->qos == 1)
        (void)dps_mqttsrv_puback(c, p->packet_id); /* a failure has closed the connection */
    return 0;
}

/* ---- subscriptions ------------------------------------------------------- */

int hubd_topics_subscribe(hubd_ctx *ctx, hubd_mqtt_conn *c, hubd_device *d,
                          const dps_mqtt_subscribe *s)
{
    uint8_t codes[HUBD_MQTT_MAX_FILTERS];
    bool added[HUBD_SUB_KINDS] = {false};
    dps_mqtt_str id = {hubd_device_id(d), d->id_len};
    if (s->count > HUBD_MQTT_MAX_FILTERS)
        return -1; /* the decoder's array is this size; cannot happen */
    for (size_t i = 0; i < s->count; i++) {
        int kind = hubd_mqtt_filter_kind(s->subs[i].filter, id);
        if (kind < 0) {
            codes[i] = DPS_MQTT_SUBACK_FAILURE;
            log_debug("mqtt: %s: refused subscription %.*s", hubd_device_id(d),
                      (int)s->subs[i].filter.len, s->subs[i].filter.ptr);
            continue;
        }
        /* Only the four filters of 8.3 can be granted, so the per-device
         * limit of five filters (hub.md 8.2) holds by construction. */
        codes[i] = hubd_mqtt_granted_qos(s->subs[i].qos);
        d->sub_qos[kind] = (int8_t)codes[i];
        added[kind] = true;
    }
    if (dps_mqttsrv_suback(c, s->packet_id, codes, s->count) != DPS_MQTTSRV_SENT)
        return 0; /* closed already */
    /* After the SUBACK, so the device sees it before what was waiting. */
    for (int k = 0; k < HUBD_SUB_KINDS; k++) {
        if (added[k] && d->conn == c)
            hubd_sessions_subscribed(ctx, d, (hubd_sub_kind)k);
    }
    return 0;
}

int hubd_topics_unsubscribe(hubd_mqtt_conn *c, hubd_device *d, const dps_mqtt_subscribe *s)
{
    dps_mqtt_str id = {hubd_device_id(d), d->id_len};
    for (size_t i = 0; i < s->count; i++) {
        int kind = hubd_mqtt_filter_kind(s->subs[i].filter, id);
        if (kind >= 0)
            d->sub_qos[kind] = -1;
    }
    (void)dps_mqttsrv_unsuback(c, s->packet_id);
    return 0;
}
