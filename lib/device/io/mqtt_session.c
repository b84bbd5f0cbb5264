/* The MQTT client session (see mqtt_session.h). Connection state and the
 * direction rule of docs/internals/mqtt.md live here: a client accepts only
 * CONNACK (once, first), PUBLISH, PUBACK, SUBACK, UNSUBACK and PINGRESP. */
#include "device/io/mqtt_session.h"

#include <assert.h>
#include <string.h>

#include "device/devlog.h"
#include "device/io/addr.h"
#include "mqtt/mqtt.h"

/* How long a DISCONNECT may take to write before we just close. */
#define DISCONNECT_WRITE_MS 1000

void dps__mqtt_init(dps_mqtt_session *s, uint8_t *rx, size_t rx_cap, uint8_t *tx, size_t tx_cap,
                    const dps_device_logger *log)
{
    memset(s, 0, sizeof *s);
    dps__tls_init(&s->tls);
    s->rx = rx;
    s->rx_cap = rx_cap;
    s->tx = tx;
    s->tx_cap = tx_cap;
    s->next_packet_id = 1;
    s->log = log;
}

static void session_close(dps_mqtt_session *s)
{
    dps__tls_close(&s->tls);
    s->connected = false;
    s->rx_len = 0;
    s->ping_sent_ms = 0;
    s->wait_type = 0;
}

static uint16_t next_id(dps_mqtt_session *s)
{
    uint16_t id = s->next_packet_id++;
    if (s->next_packet_id == 0)
        s->next_packet_id = 1;
    return id;
}

static dps_result send_bytes(dps_mqtt_session *s, size_t n, int64_t deadline_ms)
{
    dps_result rc = dps__tls_write(&s->tls, s->tx, n, deadline_ms);
    if (rc == DPS_OK)
        s->last_tx_ms = dps_monotonic_ms();
    return rc;
}

static dps_result encode_result(dps_mqtt_result mr)
{
    switch (mr) {
    case DPS_MQTT_OK: return DPS_OK;
    case DPS_MQTT_NO_SPACE: return DPS_E_NO_SPACE;
    case DPS_MQTT_TOO_LARGE: return DPS_E_NO_SPACE;
    default: return DPS_E_INVALID;
    }
}

/* Handles one decoded packet. */
static dps_result handle(dps_mqtt_session *s, const dps_mqtt_packet *pkt)
{
    if (!s->connected && pkt->type != DPS_MQTT_CONNACK)
        return DPS_E_PROTOCOL; /* nothing may come before the CONNACK */
    switch (pkt->type) {
    case DPS_MQTT_CONNACK:
        if (s->connected || s->wait_type != DPS_MQTT_CONNACK)
            return DPS_E_PROTOCOL;
        s->wait_done = true;
        s->wait_code = pkt->u.connack.return_code;
        return DPS_OK;
    case DPS_MQTT_SUBACK:
        if (s->wait_type == DPS_MQTT_SUBACK && s->wait_id == pkt->u.suback.packet_id) {
            uint8_t lowest = 2;
            for (size_t i = 0; i < pkt->u.suback.codes.len; i++) {
                uint8_t c = pkt->u.suback.codes.ptr[i];
                lowest = c == DPS_MQTT_SUBACK_FAILURE ? (uint8_t)DPS_MQTT_SUBACK_FAILURE
                         : (lowest != DPS_MQTT_SUBACK_FAILURE && c < lowest) ? c
                                                                              : lowest;
            }
            s->wait_code = lowest;
            s->wait_done = true;
        }
        return DPS_OK;
    case DPS_MQTT_PUBACK:
        if (s->wait_type == DPS_MQTT_PUBACK && s->wait_id == pkt->u.packet_id)
            s->wait_done = true;
        return DPS_OK; /* a late PUBACK is harmless */
    case DPS_MQTT_UNSUBACK:
        return DPS_OK;
    case DPS_MQTT_PINGRESP:
        s->ping_sent_ms = 0;
        return DPS_OK;
    case DPS_MQTT_PUBLISH: {
        const dps_mqtt_publish *p = &pkt->u.publish;
        if (p->qos > 1)
            return DPS_E_PROTOCOL; /* we never subscribe at QoS 2 */
        if (s->on_publish != NULL) {
            s->in_dispatch = true;
            s->on_publish(s->on_publish_ctx, p->topic.ptr, p->topic.len, p->payload.ptr,
                          p->payload.len);
            s->in_dispatch = false;
        }
        if (p->qos == 1) {
            size_t n = 0;
            dps_result rc = encode_result(
                dps_mqtt_encode_ack(DPS_MQTT_PUBACK, p->packet_id, s->tx, s->tx_cap, &n));
            if (rc == DPS_OK)
                rc = send_bytes(s, n, dps__deadline_in(10000));
            return rc;
        }
        return DPS_OK;
    }
    default:
        DLOG_ERROR(s->log, "MQTT: unexpected %s from the server", dps_mqtt_type_name(pkt->type));
        return DPS_E_PROTOCOL;
    }
}

/* Handles every whole packet in rx; *handled counts them. */
static dps_result drain(dps_mqtt_session *s, size_t *handled)
{
    for (;;) {
        dps_mqtt_frame fr;
        dps_mqtt_result mr = dps_mqtt_frame_peek(s->rx, s->rx_len, s->rx_cap, &fr);
        if (mr == DPS_MQTT_NEED_MORE)
            return DPS_OK;
        if (mr != DPS_MQTT_OK) {
            DLOG_ERROR(s->log, "MQTT: %s packet from the server (buffer %zu bytes)",
                       dps_mqtt_result_name(mr), s->rx_cap);
            return mr == DPS_MQTT_TOO_LARGE ? DPS_E_TOO_LARGE : DPS_E_PROTOCOL;
        }
        dps_mqtt_packet pkt;
        mr = dps_mqtt_decode(s->rx, fr.total_len, NULL, 0, &pkt);
        if (mr != DPS_MQTT_OK) {
            DLOG_ERROR(s->log, "MQTT: undecodable %s from the server: %s",
                       dps_mqtt_type_name(fr.type), dps_mqtt_result_name(mr));
            return DPS_E_PROTOCOL;
        }
        dps_result rc = handle(s, &pkt);
        if (rc != DPS_OK)
            return rc;
        /* Only now, after the callback, may the packet's bytes go. */
        memmove(s->rx, s->rx + fr.total_len, s->rx_len - fr.total_len);
        s->rx_len -= fr.total_len;
        (*handled)++;
    }
}

/* When the next PINGREQ is due (INT64_MAX without keep-alive). */
static int64_t ping_due(const dps_mqtt_session *s)
{
    if (s->keep_alive_s == 0)
        return INT64_MAX;
    int64_t ka = (int64_t)s->keep_alive_s * 1000;
    if (s->ping_sent_ms != 0)
        return s->ping_sent_ms + ka; /* the answer is overdue by then */
    /* Ping a little early: the server allows 1.5 x keep-alive, and our
     * reads wake up late under load. */
    return s->last_tx_ms + ka * 3 / 4;
}

dps_result dps__mqtt_pump(dps_mqtt_session *s, int64_t deadline_ms)
{
    if (s->in_dispatch)
        return DPS_E_BUSY;
    if (!dps__tls_is_open(&s->tls))
        return DPS_E_CLOSED;
    size_t handled = 0;
    dps_result rc = drain(s, &handled); /* bytes left from an earlier read */
    while (rc == DPS_OK && handled == 0) {
        int64_t now = dps_monotonic_ms();
        int64_t due = ping_due(s);
        if (s->connected && now >= due) {
            if (s->ping_sent_ms != 0) {
                DLOG_ERROR(s->log, "MQTT: no PINGRESP within the keep-alive; connection lost");
                rc = DPS_E_TIMEOUT;
                break;
            }
            size_t n = 0;
            rc = encode_result(dps_mqtt_encode_empty(DPS_MQTT_PINGREQ, s->tx, s->tx_cap, &n));
            if (rc == DPS_OK)
                rc = send_bytes(s, n, dps__deadline_in(10000));
            s->ping_sent_ms = dps_monotonic_ms();
            continue;
        }
        if (now >= deadline_ms)
            return DPS_E_TIMEOUT;
        if (s->rx_len >= s->rx_cap) {
            rc = DPS_E_TOO_LARGE;
            break;
        }
        int64_t until = s->connected && due < deadline_ms ? due : deadline_ms;
        size_t n = 0;
        rc = dps__tls_read(&s->tls, s->rx + s->rx_len, s->rx_cap - s->rx_len, &n, until);
        if (rc == DPS_E_TIMEOUT) {
            rc = DPS_OK; /* a ping may be due, or the deadline check ends the loop */
            continue;
        }
        if (rc != DPS_OK)
            break;
        s->rx_len += n;
        rc = drain(s, &handled);
    }
    if (rc != DPS_OK && rc != DPS_E_BUSY) {
        if (rc == DPS_E_CLOSED)
            DLOG_WARN(s->log, "MQTT: the server closed the connection");
        session_close(s);
    }
    return rc;
}

/* Pumps until the current wait is satisfied. */
static dps_result wait_for(dps_mqtt_session *s, int64_t deadline_ms)
{
    while (!s->wait_done) {
        dps_result rc = dps__mqtt_pump(s, deadline_ms);
        if (rc != DPS_OK)
            return rc;
    }
    return DPS_OK;
}

dps_result dps__mqtt_connect(dps_mqtt_session *s, const dps_tls_params *tls,
                             const dps_mqtt_connect_params *cp, int64_t deadline_ms,
                             uint8_t *connack_code)
{
    assert(s != NULL && tls != NULL && cp != NULL);
    if (s->in_dispatch)
        return DPS_E_BUSY;
    session_close(s);
    dps_mqtt_connect c = {
        .client_id = dps_mqtt_cstr(cp->client_id),
        .username = dps_mqtt_cstr(cp->username),
        .has_username = true,
        .keep_alive = cp->keep_alive_s,
        .clean_session = cp->clean_session,
    };
    if (cp->password != NULL) {
        c.password.ptr = (const uint8_t *)cp->password;
        c.password.len = strlen(cp->password);
        c.has_password = true;
    }
    size_t n = 0;
    dps_result rc = encode_result(dps_mqtt_encode_connect(&c, s->tx, s->tx_cap, &n));
    if (rc != DPS_OK)
        return rc;
    rc = dps__tls_connect(&s->tls, tls, deadline_ms);
    if (rc != DPS_OK)
        return rc;
    s->keep_alive_s = cp->keep_alive_s;
    s->wait_type = DPS_MQTT_CONNACK;
    s->wait_done = false;
    rc = send_bytes(s, n, deadline_ms);
    if (rc == DPS_OK)
        rc = wait_for(s, deadline_ms);
    s->wait_type = 0;
    if (rc != DPS_OK) {
        session_close(s);
        return rc;
    }
    if (connack_code != NULL)
        *connack_code = s->wait_code;
    if (s->wait_code != DPS_MQTT_CONNACK_ACCEPTED) {
        DLOG_ERROR(s->log, "MQTT: CONNACK refused the connection, code %u", s->wait_code);
        rc = s->wait_code == DPS_MQTT_CONNACK_BAD_CREDENTIALS ||
                     s->wait_code == DPS_MQTT_CONNACK_NOT_AUTHORIZED
                 ? DPS_E_UNAUTHORIZED
                 : DPS_E_REJECTED;
        session_close(s);
        return rc;
    }
    s->connected = true;
    return DPS_OK;
}

dps_result dps__mqtt_subscribe(dps_mqtt_session *s, const char *const *filters, size_t n,
                               uint8_t qos, int64_t deadline_ms, uint8_t *granted)
{
    if (s->in_dispatch)
        return DPS_E_BUSY;
    if (!s->connected)
        return DPS_E_CLOSED;
    dps_mqtt_sub subs[8];
    if (n == 0 || n > sizeof subs / sizeof subs[0])
        return DPS_E_INVALID;
    for (size_t i = 0; i < n; i++) {
        subs[i].filter = dps_mqtt_cstr(filters[i]);
        subs[i].qos = qos;
    }
    dps_mqtt_subscribe sub = {.packet_id = next_id(s), .subs = subs, .count = n};
    size_t len = 0;
    dps_result rc = encode_result(dps_mqtt_encode_subscribe(&sub, s->tx, s->tx_cap, &len));
    if (rc != DPS_OK)
        return rc;
    s->wait_type = DPS_MQTT_SUBACK;
    s->wait_id = sub.packet_id;
    s->wait_done = false;
    rc = send_bytes(s, len, deadline_ms);
    if (rc == DPS_OK)
        rc = wait_for(s, deadline_ms);
    s->wait_type = 0;
    if (rc != DPS_OK)
        return rc;
    if (s->wait_code == DPS_MQTT_SUBACK_FAILURE) {
        DLOG_ERROR(s->log, "MQTT: the server refused a subscription");
        return DPS_E_REJECTED;
    }
    if (granted != NULL)
        *granted = s->wait_code;
    return DPS_OK;
}

dps_result dps__mqtt_publish(dps_mqtt_session *s, const char *topic, const void *payload,
                             size_t len, uint8_t qos, int64_t deadline_ms)
{
    if (qos > 1)
        return DPS_E_INVALID;
    if (qos == 1 && s->in_dispatch)
        return DPS_E_BUSY;
    if (!s->connected)
        return DPS_E_CLOSED;
    dps_mqtt_publish p = {
        .topic = dps_mqtt_cstr(topic),
        .payload = {payload, len},
        .qos = qos,
        .packet_id = qos > 0 ? next_id(s) : 0,
    };
    size_t n = 0;
    dps_result rc = encode_result(dps_mqtt_encode_publish(&p, s->tx, s->tx_cap, &n));
    if (rc != DPS_OK)
        return rc;
    if (qos == 1) {
        s->wait_type = DPS_MQTT_PUBACK;
        s->wait_id = p.packet_id;
        s->wait_done = false;
    }
    rc = send_bytes(s, n, deadline_ms);
    if (rc == DPS_OK && qos == 1)
        rc = wait_for(s, deadline_ms);
    if (qos == 1)
        s->wait_type = 0;
    if (rc != DPS_OK && rc != DPS_E_TIMEOUT)
        session_close(s);
    return rc;
}

void dps__mqtt_disconnect(dps_mqtt_session *s)
{
    if (s->connected && !s->in_dispatch) {
        size_t n = 0;
        if (dps_mqtt_encode_empty(DPS_MQTT_DISCONNECT, s->tx, s->tx_cap, &n) == DPS_MQTT_OK)
            (void)send_bytes(s, n, dps__deadline_in(DISCONNECT_WRITE_MS));
    }
    session_close(s);
}
