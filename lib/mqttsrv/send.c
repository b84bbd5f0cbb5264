/* Output: packets are encoded straight into the bufferevent's output
 * buffer (no copy), under a high-water mark that closes a client which is
 * not reading; QoS 1 publishes get packet IDs that are not held by an
 * unacknowledged publish, held until the client's PUBACK. */
#include <event2/buffer.h>

#include "common/log.h"
#include "mqttsrv/internal.h"

dps_mqttsrv_send_result dps_mqttsrv__send(dps_mqttsrv_conn *c, const dps_mqtt_packet *p)
{
    if (c->phase != CONN_ACTIVE &&
        !(c->phase == CONN_AWAIT_CONNECT && p->type == DPS_MQTT_CONNACK))
        return DPS_MQTTSRV_CLOSED;
    const dps_mqttsrv_limits *lim = dps_mqttsrv__limits(c->srv);
    struct evbuffer *out = bufferevent_get_output(c->bev);
    size_t need = 0;
    dps_mqtt_result rc = dps_mqtt_encode(p, NULL, 0, &need);
    if (rc != DPS_MQTT_NO_SPACE) {
        /* Only the protocol's own bad input gets here (an ID that is not a
         * valid topic level, say); the connection itself is fine. */
        log_warn("%s: cannot encode a %s for %s: %s", lim->log_name, dps_mqtt_type_name(p->type),
                 c->peer, dps_mqtt_result_name(rc));
        return DPS_MQTTSRV_INVALID;
    }
    if (evbuffer_get_length(out) + need > lim->max_output) {
        dps_mqttsrv_close(c, "client is not reading (output over the high-water mark)");
        return DPS_MQTTSRV_CLOSED;
    }
    struct evbuffer_iovec v;
    if (evbuffer_reserve_space(out, (ev_ssize_t)need, &v, 1) < 1 || v.iov_len < need) {
        dps_mqttsrv_close(c, "out of memory");
        return DPS_MQTTSRV_CLOSED;
    }
    size_t n = 0;
    rc = dps_mqtt_encode(p, v.iov_base, v.iov_len, &n);
    if (rc != DPS_MQTT_OK) {
        v.iov_len = 0;
        (void)evbuffer_commit_space(out, &v, 1);
        return DPS_MQTTSRV_INVALID;
    }
    v.iov_len = n;
    if (evbuffer_commit_space(out, &v, 1) != 0) {
        dps_mqttsrv_close(c, "cannot queue output");
        return DPS_MQTTSRV_CLOSED;
    }
    return DPS_MQTTSRV_SENT;
}

dps_mqttsrv_send_result dps_mqttsrv_send(dps_mqttsrv_conn *c, const dps_mqtt_packet *p)
{
    if (p->type == DPS_MQTT_CONNACK)
        return DPS_MQTTSRV_INVALID; /* the server's alone: it follows the verdict */
    return dps_mqttsrv__send(c, p);
}

/* ---- packet IDs ------------------------------------------------------------ */

static bool id_held(const dps_mqttsrv_conn *c, uint16_t id)
{
    for (size_t i = 0; i < c->ninflight; i++) {
        if (c->inflight[i] == id)
            return true;
    }
    return false;
}

/* A fresh non-zero ID not held by an unacknowledged publish. At most
 * max_inflight (<= 4096) IDs are held, so the search ends quickly. */
static uint16_t next_id(dps_mqttsrv_conn *c)
{
    for (;;) {
        uint16_t id = ++c->last_packet_id;
        if (id != 0 && !id_held(c, id))
            return id;
    }
}

void dps_mqttsrv__release_id(dps_mqttsrv_conn *c, uint16_t packet_id)
{
    for (size_t i = 0; i < c->ninflight; i++) {
        if (c->inflight[i] == packet_id) {
            /* Order does not matter: the set is only searched. */
            c->inflight[i] = c->inflight[--c->ninflight];
            return;
        }
    }
}

dps_mqttsrv_send_result dps_mqttsrv_publish(dps_mqttsrv_conn *c, const char *topic,
                                            size_t topic_len, const void *payload, size_t len,
                                            uint8_t qos, bool dup, uint16_t *used_id)
{
    if (c->phase != CONN_ACTIVE)
        return DPS_MQTTSRV_CLOSED;
    bool q1 = qos > 0;
    if (q1 && c->ninflight >= dps_mqttsrv__limits(c->srv)->max_inflight)
        return DPS_MQTTSRV_BUSY;
    dps_mqtt_packet p = {.type = DPS_MQTT_PUBLISH};
    p.u.publish.topic.ptr = topic;
    p.u.publish.topic.len = topic_len;
    p.u.publish.payload.ptr = payload;
    p.u.publish.payload.len = len;
    p.u.publish.qos = q1 ? 1 : 0;
    p.u.publish.dup = dup && q1;
    p.u.publish.packet_id = q1 ? next_id(c) : 0;
    dps_mqttsrv_send_result r = dps_mqttsrv__send(c, &p);
    if (r != DPS_MQTTSRV_SENT)
        return r;
    if (q1)
        c->inflight[c->ninflight++] = p.u.publish.packet_id;
    if (used_id != NULL)
        *used_id = p.u.publish.packet_id;
    return DPS_MQTTSRV_SENT;
}

dps_mqttsrv_send_result dps_mqttsrv_puback(dps_mqttsrv_conn *c, uint16_t packet_id)
{
    dps_mqtt_packet p = {.type = DPS_MQTT_PUBACK, .u.packet_id = packet_id};
    return dps_mqttsrv__send(c, &p);
}

dps_mqttsrv_send_result dps_mqttsrv_suback(dps_mqttsrv_conn *c, uint16_t packet_id,
                                           const uint8_t *codes, size_t n)
{
    dps_mqtt_packet p = {.type = DPS_MQTT_SUBACK};
    p.u.suback.packet_id = packet_id;
    p.u.suback.codes.ptr = codes;
    p.u.suback.codes.len = n;
    return dps_mqttsrv__send(c, &p);
}

dps_mqttsrv_send_result dps_mqttsrv_unsuback(dps_mqttsrv_conn *c, uint16_t packet_id)
{
    dps_mqtt_packet p = {.type = DPS_MQTT_UNSUBACK, .u.packet_id = packet_id};
    return dps_mqttsrv__send(c, &p);
}
