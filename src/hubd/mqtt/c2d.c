/* Cloud-to-device queues: one bounded FIFO per device (HUBD_MQTT_C2D_MAX_QUEUE
 * messages, each at most HUBD_MQTT_C2D_MAX_BODY, living
 * HUBD_MQTT_C2D_TTL_S), plus a byte cap across all devices. Delivery is on
 * devices/{id}/messages/devicebound/{property bag} at the subscription's
 * QoS (normally 1); a PUBACK settles (completes) a message, and messages in
 * flight when the connection drops go out again, DUP set, on the next one
 * (hub.md 8.3). */
#include <stdlib.h>
#include <string.h>

#include "common/dynbuf.h"
#include "common/log.h"
#include "common/rand.h"
#include "common/timeutil.h"
#include "common/urlcode.h"
#include "mqtt/internal.h"

/* System properties a sender may set through props ("$.cid" etc.), in the
 * order they go on the wire after $.mid and $.to. */
static const char *const passthrough_system[] = {"$.cid", "$.ct", "$.ce", "$.uid"};

static int append_item(dps_buf *b, const char *key, const char *value)
{
    char *k = dps_url_encode(key);
    char *v = value != NULL ? dps_url_encode(value) : NULL;
    int rc = -1;
    if (k != NULL && (value == NULL || v != NULL)) {
        rc = dps_buf_printf(b, "%s%s%s%s", b->data[b->len - 1] == '/' ? "" : "&", k,
                            value != NULL ? "=" : "", value != NULL ? v : "");
    }
    free(k);
    free(v);
    return rc;
}

static bool is_passthrough(const char *key)
{
    for (size_t i = 0; i < sizeof passthrough_system / sizeof passthrough_system[0]; i++) {
        if (strcmp(key, passthrough_system[i]) == 0)
            return true;
    }
    return false;
}

/* devices/{id}/messages/devicebound/%24.mid=..&%24.to=..&..&iothub-ack=none&app=..
 * into b. -1 on a cap or a property that is not a string. */
static int build_topic(dps_buf *b, const hubd_device *d, const json_t *props, const char *mid)
{
    const char *id = hubd_device_id(d);
    if (dps_buf_printf(b, "devices/%s/messages/devicebound/", id) != 0 ||
        append_item(b, "$.mid", mid) != 0)
        return -1;
    char to[300];
    int n = snprintf(to, sizeof to, "/devices/%s/messages/deviceBound", id);
    if (n < 0 || (size_t)n >= sizeof to || append_item(b, "$.to", to) != 0)
        return -1;
    if (props != NULL && !json_is_object(props))
        return -1;
    const char *key;
    json_t *value;
    for (size_t i = 0; i < sizeof passthrough_system / sizeof passthrough_system[0]; i++) {
        value = props != NULL ? json_object_get(props, passthrough_system[i]) : NULL;
        if (value != NULL &&
            (!json_is_string(value) ||
             append_item(b, passthrough_system[i], json_string_value(value)) != 0))
            return -1;
    }
    if (append_item(b, "iothub-ack", "none") != 0)
        return -1;
    if (props == NULL)
        return 0;
    json_object_foreach((json_t *)props, key, value)
    {
        if (is_passthrough(key))
            continue;
        if (strncmp(key, "$.", 2) == 0 || key[0] == '\0')
            return -1; /* other system properties are the hub's to set */
        if (json_is_null(value)) {
            if (append_item(b, key, NULL) != 0) /* "key" alone = null (hub.md 8.3) */
                return -1;
        } else if (!json_is_string(value) || append_item(b, key, json_string_value(value)) != 0) {
            return -1;
        }
    }
    return 0;
}

int hubd_c2d_enqueue(hubd_sessions *s, hubd_device *d, const void *body, size_t len,
                     const json_t *props, const char *message_id)
{
    if (len > HUBD_MQTT_C2D_MAX_BODY || d->c2d_count >= HUBD_MQTT_C2D_MAX_QUEUE)
        return -1;
    char uuid[DPS_UUID_LEN];
    if (message_id == NULL) {
        if (dps_uuid_v4(uuid) != 0)
            return -1;
        message_id = uuid;
    }
    dps_buf topic;
    dps_buf_init(&topic, HUBD_MQTT_MAX_TOPIC);
    if (build_topic(&topic, d, props, message_id) != 0 ||
        !dps_mqtt_topic_name_valid((dps_mqtt_str){topic.data, topic.len})) {
        /* A wildcard character in the device ID makes every topic of the
         * device invalid; nothing can be delivered to it over MQTT. */
        dps_buf_free(&topic);
        return -1;
    }
    size_t charge = sizeof(hubd_c2d_msg) + topic.len + len;
    if (charge > HUBD_MQTT_C2D_MAX_TOTAL_BYTES - s->c2d_total_bytes) {
        dps_buf_free(&topic);
        log_warn("mqtt: C2D memory cap reached; message for %s refused", hubd_device_id(d));
        return -1;
    }
    hubd_c2d_msg *m = malloc(sizeof *m + topic.len + len);
    if (m == NULL) {
        dps_buf_free(&topic);
        return -1;
    }
    memset(m, 0, sizeof *m);
    m->expires_ms = dps_monotonic_ms() + (int64_t)HUBD_MQTT_C2D_TTL_S * 1000;
    m->topic_len = topic.len;
    m->body_len = len;
    m->charge = charge;
    memcpy(m->data, topic.data, topic.len);
    if (len > 0)
        memcpy(m->data + topic.len, body, len);
    dps_buf_free(&topic);

    if (d->c2d_tail != NULL)
        d->c2d_tail->next = m;
    else
        d->c2d_head = m;
    d->c2d_tail = m;
    d->c2d_count++;
    d->c2d_bytes += charge;
    s->c2d_total_bytes += charge;
    return 0;
}

/* Unlinks m (whose predecessor is prev, NULL for the head) and frees it. */
static void remove_msg(hubd_sessions *s, hubd_device *d, hubd_c2d_msg *prev, hubd_c2d_msg *m)
{
    if (prev != NULL)
        prev->next = m->next;
    else
        d->c2d_head = m->next;
    if (d->c2d_tail == m)
        d->c2d_tail = prev;
    if (m->packet_id != 0)
        d->c2d_inflight--;
    d->c2d_count--;
    d->c2d_bytes -= m->charge;
    s->c2d_total_bytes -= m->charge;
    free(m);
}

void hubd_c2d_pump(hubd_sessions *s, hubd_device *d)
{
    int64_t now = dps_monotonic_ms();
    hubd_c2d_msg *prev = NULL;
    hubd_c2d_msg *m = d->c2d_head;
    while (m != NULL && d->c2d_inflight < HUBD_MQTT_C2D_MAX_INFLIGHT) {
        hubd_mqtt_conn *c = d->conn;
        int qos = d->sub_qos[HUBD_SUB_C2D];
        if (c == NULL || !dps_mqttsrv_conn_is_open(c) || qos < 0)
            return;
        hubd_c2d_msg *next = m->next;
        if (m->packet_id != 0) {
            prev = m;
        } else if (m->expires_ms <= now) {
            remove_msg(s, d, prev, m);
        } else {
            uint16_t id = 0;
            dps_mqttsrv_send_result r =
                dps_mqttsrv_publish(c, m->data, m->topic_len, m->data + m->topic_len, m->body_len,
                                    (uint8_t)qos, m->sent && qos > 0, &id);
            if (r == DPS_MQTTSRV_BUSY)
                return; /* the device's in-flight window is full: the next PUBACK pumps */
            if (r != DPS_MQTTSRV_SENT)
                return; /* closed (detach may have changed the queue), or unencodable */
            m->sent = true;
            if (qos == 0) {
                remove_msg(s, d, prev, m); /* QoS 0: sent is settled */
            } else {
                m->packet_id = id;
                d->c2d_inflight++;
                prev = m;
            }
        }
        m = next;
    }
}

bool hubd_c2d_settle(hubd_sessions *s, hubd_device *d, uint16_t packet_id)
{
    hubd_c2d_msg *prev = NULL;
    for (hubd_c2d_msg *m = d->c2d_head; m != NULL; prev = m, m = m->next) {
        if (m->packet_id == packet_id) {
            remove_msg(s, d, prev, m);
            hubd_c2d_pump(s, d);
            return true;
        }
    }
    return false;
}

void hubd_c2d_unflight(hubd_device *d)
{
    for (hubd_c2d_msg *m = d->c2d_head; m != NULL; m = m->next)
        m->packet_id = 0;
    d->c2d_inflight = 0;
}

void hubd_c2d_prune(hubd_sessions *s, hubd_device *d, bool all)
{
    int64_t now = dps_monotonic_ms();
    hubd_c2d_msg *prev = NULL;
    hubd_c2d_msg *m = d->c2d_head;
    while (m != NULL) {
        hubd_c2d_msg *next = m->next;
        /* A message in flight waits for its PUBACK even past its expiry. */
        if (all || (m->packet_id == 0 && m->expires_ms <= now))
            remove_msg(s, d, prev, m);
        else
            prev = m;
        m = next;
    }
}
