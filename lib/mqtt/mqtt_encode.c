/* Encoding: packet structs into caller buffers. Each encoder first checks the
 * struct against the rules the decoder enforces and computes the exact size,
 * then writes; a buffer that is too small gets nothing but the size needed. */
#include <assert.h>

#include "mqtt/mqtt.h"

/* A writer that cannot run past its buffer: the size was checked before
 * the first byte is written, the asserts only guard that promise. */
typedef struct {
    uint8_t *p;
    size_t left;
} writer;

static void wr_u8(writer *w, uint8_t b)
{
    assert(w->left >= 1);
    *w->p++ = b;
    w->left--;
}

static void wr_u16(writer *w, uint16_t v)
{
    wr_u8(w, (uint8_t)(v >> 8));
    wr_u8(w, (uint8_t)(v & 0xffu));
}

static void wr_raw(writer *w, const void *src, size_t n)
{
    assert(w->left >= n);
    if (n > 0)
        memcpy(w->p, src, n);
    w->p += n;
    w->left -= n;
}

static void wr_bin(writer *w, const void *src, size_t n)
{
    wr_u16(w, (uint16_t)n); /* n <= 65535 was checked by the size pass */
    wr_raw(w, src, n);
}

/* Adds n to *total unless that would pass the protocol's remaining-length
 * ceiling (which also keeps every sum far from SIZE_MAX). */
static dps_mqtt_result add_len(size_t *total, size_t n)
{
    if (n > DPS_MQTT_MAX_REMAINING_LENGTH - *total)
        return DPS_MQTT_TOO_LARGE;
    *total += n;
    return DPS_MQTT_OK;
}

/* Adds a length-prefixed field of n bytes. */
static dps_mqtt_result add_field(size_t *total, size_t n)
{
    if (n > DPS_MQTT_MAX_STRING)
        return DPS_MQTT_TOO_LARGE;
    return add_len(total, 2 + n);
}

static size_t varint_size(size_t v)
{
    return v < 128u ? 1 : v < 16384u ? 2 : v < 2097152u ? 3 : 4;
}

/* Checks room for the fixed header plus `remaining` bytes, reports the size,
 * and writes the fixed header. On NO_SPACE nothing is written. */
static dps_mqtt_result begin(uint8_t first, size_t remaining, uint8_t *buf, size_t cap,
                             size_t *out_len, writer *w)
{
    assert(remaining <= DPS_MQTT_MAX_REMAINING_LENGTH);
    size_t total = 1 + varint_size(remaining) + remaining;
    *out_len = total;
    if (cap < total)
        return DPS_MQTT_NO_SPACE;
    assert(buf != NULL);
    w->p = buf;
    w->left = total;
    wr_u8(w, first);
    size_t v = remaining;
    do {
        uint8_t b = (uint8_t)(v & 0x7fu);
        v >>= 7;
        if (v > 0)
            b |= 0x80u;
        wr_u8(w, b);
    } while (v > 0);
    return DPS_MQTT_OK;
}

static void finish(const writer *w)
{
    assert(w->left == 0); /* the size pass and the write pass agree */
    (void)w;
}

static bool bin_ok(dps_mqtt_bin b)
{
    return b.ptr != NULL || b.len == 0;
}

static bool str_ok(dps_mqtt_str s)
{
    return (s.ptr != NULL || s.len == 0) && dps_mqtt_utf8_valid(s.ptr, s.len);
}

/* ---- CONNECT ------------------------------------------------------------ */

dps_mqtt_result dps_mqtt_encode_connect(const dps_mqtt_connect *c, uint8_t *buf, size_t cap,
                                        size_t *out_len)
{
    assert(c != NULL && out_len != NULL);
    *out_len = 0;
    if (!str_ok(c->client_id) || c->will_qos > 2 || (c->has_password && !c->has_username))
        return DPS_MQTT_MALFORMED;
    if (c->has_will) {
        if (c->will_topic.len > DPS_MQTT_MAX_STRING)
            return DPS_MQTT_TOO_LARGE;
        if (!dps_mqtt_topic_name_valid(c->will_topic) || !bin_ok(c->will_message))
            return DPS_MQTT_MALFORMED;
    } else if (c->will_qos != 0 || c->will_retain) {
        return DPS_MQTT_MALFORMED;
    }
    if (c->has_username && !str_ok(c->username))
        return DPS_MQTT_MALFORMED;
    if (c->has_password && !bin_ok(c->password))
        return DPS_MQTT_MALFORMED;

    /* Variable header: "MQTT", level, flags, keep-alive = 10 bytes. */
    size_t rem = 10;
    dps_mqtt_result rc = add_field(&rem, c->client_id.len);
    if (rc == DPS_MQTT_OK && c->has_will)
        rc = add_field(&rem, c->will_topic.len);
    if (rc == DPS_MQTT_OK && c->has_will)
        rc = add_field(&rem, c->will_message.len);
    if (rc == DPS_MQTT_OK && c->has_username)
        rc = add_field(&rem, c->username.len);
    if (rc == DPS_MQTT_OK && c->has_password)
        rc = add_field(&rem, c->password.len);
    if (rc != DPS_MQTT_OK)
        return rc;

    uint8_t flags = 0;
    if (c->clean_session)
        flags |= 0x02u;
    if (c->has_will)
        flags |= (uint8_t)(0x04u | (unsigned)c->will_qos << 3 | (c->will_retain ? 0x20u : 0u));
    if (c->has_password)
        flags |= 0x40u;
    if (c->has_username)
        flags |= 0x80u;

    writer w;
    rc = begin((uint8_t)(DPS_MQTT_CONNECT << 4), rem, buf, cap, out_len, &w);
    if (rc != DPS_MQTT_OK)
        return rc;
    wr_bin(&w, "MQTT", 4);
    wr_u8(&w, DPS_MQTT_PROTOCOL_LEVEL);
    wr_u8(&w, flags);
    wr_u16(&w, c->keep_alive);
    wr_bin(&w, c->client_id.ptr, c->client_id.len);
    if (c->has_will) {
        wr_bin(&w, c->will_topic.ptr, c->will_topic.len);
        wr_bin(&w, c->will_message.ptr, c->will_message.len);
    }
    if (c->has_username)
        wr_bin(&w, c->username.ptr, c->username.len);
    if (c->has_password)
        wr_bin(&w, c->password.ptr, c->password.len);
    finish(&w);
    return DPS_MQTT_OK;
}

/* ---- CONNACK ------------------------------------------------------------ */

dps_mqtt_result dps_mqtt_encode_connack(const dps_mqtt_connack *c, uint8_t *buf, size_t cap,
                                        size_t *out_len)
{
    assert(c != NULL && out_len != NULL);
    *out_len = 0;
    if (c->return_code > DPS_MQTT_CONNACK_NOT_AUTHORIZED ||
        (c->session_present && c->return_code != DPS_MQTT_CONNACK_ACCEPTED))
        return DPS_MQTT_MALFORMED;
    writer w;
    dps_mqtt_result rc = begin((uint8_t)(DPS_MQTT_CONNACK << 4), 2, buf, cap, out_len, &w);
    if (rc != DPS_MQTT_OK)
        return rc;
    wr_u8(&w, c->session_present ? 1u : 0u);
    wr_u8(&w, c->return_code);
    finish(&w);
    return DPS_MQTT_OK;
}

/* ---- PUBLISH ------------------------------------------------------------ */

dps_mqtt_result dps_mqtt_encode_publish(const dps_mqtt_publish *p, uint8_t *buf, size_t cap,
                                        size_t *out_len)
{
    assert(p != NULL && out_len != NULL);
    *out_len = 0;
    if (p->qos > 2 || !bin_ok(p->payload))
        return DPS_MQTT_MALFORMED;
    /* A packet id exactly when QoS > 0, and DUP only then (3.3.1-2). */
    if ((p->qos == 0) != (p->packet_id == 0) || (p->dup && p->qos == 0))
        return DPS_MQTT_MALFORMED;
    if (p->topic.len > DPS_MQTT_MAX_STRING)
        return DPS_MQTT_TOO_LARGE;
    if (!dps_mqtt_topic_name_valid(p->topic))
        return DPS_MQTT_MALFORMED;

    size_t rem = 0;
    dps_mqtt_result rc = add_field(&rem, p->topic.len);
    if (rc == DPS_MQTT_OK && p->qos > 0)
        rc = add_len(&rem, 2);
    if (rc == DPS_MQTT_OK)
        rc = add_len(&rem, p->payload.len);
    if (rc != DPS_MQTT_OK)
        return rc;

    uint8_t first = (uint8_t)(DPS_MQTT_PUBLISH << 4 | (unsigned)p->qos << 1);
    if (p->dup)
        first |= 0x08u;
    if (p->retain)
        first |= 0x01u;
    writer w;
    rc = begin(first, rem, buf, cap, out_len, &w);
    if (rc != DPS_MQTT_OK)
        return rc;
    wr_bin(&w, p->topic.ptr, p->topic.len);
    if (p->qos > 0)
        wr_u16(&w, p->packet_id);
    wr_raw(&w, p->payload.ptr, p->payload.len);
    finish(&w);
    return DPS_MQTT_OK;
}

/* ---- Acknowledgements and empty packets --------------------------------- */

dps_mqtt_result dps_mqtt_encode_ack(dps_mqtt_type type, uint16_t packet_id, uint8_t *buf,
                                    size_t cap, size_t *out_len)
{
    assert(out_len != NULL);
    *out_len = 0;
    uint8_t first;
    switch (type) {
    case DPS_MQTT_PUBACK:
    case DPS_MQTT_PUBREC:
    case DPS_MQTT_PUBCOMP:
    case DPS_MQTT_UNSUBACK:
        first = (uint8_t)(type << 4);
        break;
    case DPS_MQTT_PUBREL:
        first = (uint8_t)(type << 4 | 2u); /* PUBREL carries flags 0010 */
        break;
    default:
        return DPS_MQTT_MALFORMED;
    }
    if (packet_id == 0)
        return DPS_MQTT_MALFORMED;
    writer w;
    dps_mqtt_result rc = begin(first, 2, buf, cap, out_len, &w);
    if (rc != DPS_MQTT_OK)
        return rc;
    wr_u16(&w, packet_id);
    finish(&w);
    return DPS_MQTT_OK;
}

dps_mqtt_result dps_mqtt_encode_empty(dps_mqtt_type type, uint8_t *buf, size_t cap,
                                      size_t *out_len)
{
    assert(out_len != NULL);
    *out_len = 0;
    if (type != DPS_MQTT_PINGREQ && type != DPS_MQTT_PINGRESP && type != DPS_MQTT_DISCONNECT)
        return DPS_MQTT_MALFORMED;
    writer w;
    dps_mqtt_result rc = begin((uint8_t)(type << 4), 0, buf, cap, out_len, &w);
    if (rc != DPS_MQTT_OK)
        return rc;
    finish(&w);
    return DPS_MQTT_OK;
}

/* ---- SUBSCRIBE, UNSUBSCRIBE, SUBACK ------------------------------------- */

static dps_mqtt_result encode_filters(dps_mqtt_type type, const dps_mqtt_subscribe *s,
                                      uint8_t *buf, size_t cap, size_t *out_len)
{
    bool with_qos = type == DPS_MQTT_SUBSCRIBE;
    *out_len = 0;
    if (s->packet_id == 0 || s->count == 0 || s->subs == NULL)
        return DPS_MQTT_MALFORMED;
    size_t rem = 2;
    for (size_t i = 0; i < s->count; i++) {
        const dps_mqtt_sub *e = &s->subs[i];
        if (e->filter.len > DPS_MQTT_MAX_STRING)
            return DPS_MQTT_TOO_LARGE;
        if (!dps_mqtt_topic_filter_valid(e->filter) || (with_qos && e->qos > 2))
            return DPS_MQTT_MALFORMED;
        dps_mqtt_result rc = add_field(&rem, e->filter.len);
        if (rc == DPS_MQTT_OK && with_qos)
            rc = add_len(&rem, 1);
        if (rc != DPS_MQTT_OK)
            return rc;
    }
    writer w;
    dps_mqtt_result rc = begin((uint8_t)(type << 4 | 2u), rem, buf, cap, out_len, &w);
    if (rc != DPS_MQTT_OK)
        return rc;
    wr_u16(&w, s->packet_id);
    for (size_t i = 0; i < s->count; i++) {
        wr_bin(&w, s->subs[i].filter.ptr, s->subs[i].filter.len);
        if (with_qos)
            wr_u8(&w, s->subs[i].qos);
    }
    finish(&w);
    return DPS_MQTT_OK;
}

dps_mqtt_result dps_mqtt_encode_subscribe(const dps_mqtt_subscribe *s, uint8_t *buf, size_t cap,
                                          size_t *out_len)
{
    assert(s != NULL && out_len != NULL);
    return encode_filters(DPS_MQTT_SUBSCRIBE, s, buf, cap, out_len);
}

dps_mqtt_result dps_mqtt_encode_unsubscribe(const dps_mqtt_subscribe *s, uint8_t *buf,
                                            size_t cap, size_t *out_len)
{
    assert(s != NULL && out_len != NULL);
    return encode_filters(DPS_MQTT_UNSUBSCRIBE, s, buf, cap, out_len);
}

dps_mqtt_result dps_mqtt_encode_suback(const dps_mqtt_suback *s, uint8_t *buf, size_t cap,
                                       size_t *out_len)
{
    assert(s != NULL && out_len != NULL);
    *out_len = 0;
    if (s->packet_id == 0 || s->codes.len == 0 || s->codes.ptr == NULL)
        return DPS_MQTT_MALFORMED;
    for (size_t i = 0; i < s->codes.len; i++) {
        uint8_t c = s->codes.ptr[i];
        if (c > 2 && c != DPS_MQTT_SUBACK_FAILURE)
            return DPS_MQTT_MALFORMED;
    }
    size_t rem = 2;
    dps_mqtt_result rc = add_len(&rem, s->codes.len);
    if (rc != DPS_MQTT_OK)
        return rc;
    writer w;
    rc = begin((uint8_t)(DPS_MQTT_SUBACK << 4), rem, buf, cap, out_len, &w);
    if (rc != DPS_MQTT_OK)
        return rc;
    wr_u16(&w, s->packet_id);
    wr_raw(&w, s->codes.ptr, s->codes.len);
    finish(&w);
    return DPS_MQTT_OK;
}

/* ---- Any packet --------------------------------------------------------- */

dps_mqtt_result dps_mqtt_encode(const dps_mqtt_packet *p, uint8_t *buf, size_t cap,
                                size_t *out_len)
{
    assert(p != NULL && out_len != NULL);
    switch (p->type) {
    case DPS_MQTT_CONNECT:
        return dps_mqtt_encode_connect(&p->u.connect, buf, cap, out_len);
    case DPS_MQTT_CONNACK:
        return dps_mqtt_encode_connack(&p->u.connack, buf, cap, out_len);
    case DPS_MQTT_PUBLISH:
        return dps_mqtt_encode_publish(&p->u.publish, buf, cap, out_len);
    case DPS_MQTT_PUBACK:
    case DPS_MQTT_PUBREC:
    case DPS_MQTT_PUBREL:
    case DPS_MQTT_PUBCOMP:
    case DPS_MQTT_UNSUBACK:
        return dps_mqtt_encode_ack(p->type, p->u.packet_id, buf, cap, out_len);
    case DPS_MQTT_SUBSCRIBE:
        return dps_mqtt_encode_subscribe(&p->u.subscribe, buf, cap, out_len);
    case DPS_MQTT_UNSUBSCRIBE:
        return dps_mqtt_encode_unsubscribe(&p->u.subscribe, buf, cap, out_len);
    case DPS_MQTT_SUBACK:
        return dps_mqtt_encode_suback(&p->u.suback, buf, cap, out_len);
    case DPS_MQTT_PINGREQ:
    case DPS_MQTT_PINGRESP:
    case DPS_MQTT_DISCONNECT:
        return dps_mqtt_encode_empty(p->type, buf, cap, out_len);
    }
    *out_len = 0;
    return DPS_MQTT_MALFORMED;
}
