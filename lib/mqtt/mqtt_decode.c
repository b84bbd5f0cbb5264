/* Decoding: one whole MQTT 3.1.1 packet into a struct of views into the
 * caller's buffer. Every read is bounded by the remaining length; nothing is
 * allocated. */
#include <assert.h>

#include "mqtt/mqtt.h"

/* A cursor over the variable header and payload. Reading past its end means
 * the packet's own remaining length contradicts its content: MALFORMED. */
typedef struct {
    const uint8_t *p;
    size_t left;
} reader;

static dps_mqtt_result rd_u8(reader *r, uint8_t *out)
{
    if (r->left < 1)
        return DPS_MQTT_MALFORMED;
    *out = r->p[0];
    r->p++;
    r->left--;
    return DPS_MQTT_OK;
}

static dps_mqtt_result rd_u16(reader *r, uint16_t *out)
{
    if (r->left < 2)
        return DPS_MQTT_MALFORMED;
    *out = (uint16_t)((unsigned)r->p[0] << 8 | r->p[1]);
    r->p += 2;
    r->left -= 2;
    return DPS_MQTT_OK;
}

/* A two-byte length followed by that many bytes. */
static dps_mqtt_result rd_bin(reader *r, dps_mqtt_bin *out)
{
    uint16_t n;
    dps_mqtt_result rc = rd_u16(r, &n);
    if (rc != DPS_MQTT_OK)
        return rc;
    if (n > r->left)
        return DPS_MQTT_MALFORMED;
    out->ptr = r->p;
    out->len = n;
    r->p += n;
    r->left -= n;
    return DPS_MQTT_OK;
}

static dps_mqtt_result rd_str(reader *r, dps_mqtt_str *out)
{
    dps_mqtt_bin b;
    dps_mqtt_result rc = rd_bin(r, &b);
    if (rc != DPS_MQTT_OK)
        return rc;
    if (!dps_mqtt_utf8_valid((const char *)b.ptr, b.len))
        return DPS_MQTT_MALFORMED;
    out->ptr = (const char *)b.ptr;
    out->len = b.len;
    return DPS_MQTT_OK;
}

/* A packet identifier where the spec requires one: never 0 (2.3.1-1). */
static dps_mqtt_result rd_packet_id(reader *r, uint16_t *out)
{
    dps_mqtt_result rc = rd_u16(r, out);
    if (rc != DPS_MQTT_OK)
        return rc;
    return *out != 0 ? DPS_MQTT_OK : DPS_MQTT_MALFORMED;
}

/* CONNECT flag bits (3.1.2.3). */
enum {
    CF_RESERVED = 0x01,
    CF_CLEAN = 0x02,
    CF_WILL = 0x04,
    CF_WILL_QOS = 0x18,
    CF_WILL_RETAIN = 0x20,
    CF_PASSWORD = 0x40,
    CF_USERNAME = 0x80,
};

static dps_mqtt_result decode_connect(reader *r, dps_mqtt_connect *out)
{
    dps_mqtt_connect c;
    memset(&c, 0, sizeof c);
    dps_mqtt_str name;
    uint8_t level;
    uint8_t flags;
    dps_mqtt_result rc = rd_str(r, &name);
    if (rc == DPS_MQTT_OK)
        rc = rd_u8(r, &level);
    if (rc != DPS_MQTT_OK)
        return rc;

    /* The version is settled before anything else: a client of another
     * version may use the rest of the packet differently, and what it needs
     * to hear is CONNACK 0x01 (3.1.2-2). MQTT 3.1 called itself "MQIsdp". */
    if (dps_mqtt_str_eq(name, "MQIsdp"))
        return DPS_MQTT_PROTOCOL;
    if (!dps_mqtt_str_eq(name, "MQTT"))
        return DPS_MQTT_MALFORMED; /* not MQTT at all: just close (3.1.2-1) */
    if (level != DPS_MQTT_PROTOCOL_LEVEL)
        return DPS_MQTT_PROTOCOL;

    rc = rd_u8(r, &flags);
    if (rc == DPS_MQTT_OK)
        rc = rd_u16(r, &c.keep_alive);
    if (rc != DPS_MQTT_OK)
        return rc;

    if ((flags & CF_RESERVED) != 0)
        return DPS_MQTT_MALFORMED; /* 3.1.2-3 */
    c.clean_session = (flags & CF_CLEAN) != 0;
    c.has_will = (flags & CF_WILL) != 0;
    c.will_qos = (uint8_t)((flags & CF_WILL_QOS) >> 3);
    c.will_retain = (flags & CF_WILL_RETAIN) != 0;
    c.has_username = (flags & CF_USERNAME) != 0;
    c.has_password = (flags & CF_PASSWORD) != 0;
    if (c.will_qos > 2)
        return DPS_MQTT_MALFORMED; /* 3.1.2-14 */
    if (!c.has_will && (c.will_qos != 0 || c.will_retain))
        return DPS_MQTT_MALFORMED; /* 3.1.2-13, 3.1.2-15 */
    if (c.has_password && !c.has_username)
        return DPS_MQTT_MALFORMED; /* 3.1.2-22 */

    /* Payload, in this order (3.1.3-1). */
    rc = rd_str(r, &c.client_id);
    if (rc == DPS_MQTT_OK && c.has_will) {
        rc = rd_str(r, &c.will_topic);
        if (rc == DPS_MQTT_OK && !dps_mqtt_topic_name_valid(c.will_topic))
            rc = DPS_MQTT_MALFORMED;
        if (rc == DPS_MQTT_OK)
            rc = rd_bin(r, &c.will_message);
    }
    if (rc == DPS_MQTT_OK && c.has_username)
        rc = rd_str(r, &c.username);
    if (rc == DPS_MQTT_OK && c.has_password)
        rc = rd_bin(r, &c.password);
    if (rc != DPS_MQTT_OK)
        return rc;
    *out = c;
    return DPS_MQTT_OK;
}

static dps_mqtt_result decode_connack(reader *r, dps_mqtt_connack *out)
{
    uint8_t ack_flags;
    uint8_t code;
    dps_mqtt_result rc = rd_u8(r, &ack_flags);
    if (rc == DPS_MQTT_OK)
        rc = rd_u8(r, &code);
    if (rc != DPS_MQTT_OK)
        return rc;
    if ((ack_flags & 0xfeu) != 0 || code > DPS_MQTT_CONNACK_NOT_AUTHORIZED)
        return DPS_MQTT_MALFORMED;
    /* A refusal never comes with a session (3.2.2-4). */
    if (code != DPS_MQTT_CONNACK_ACCEPTED && ack_flags != 0)
        return DPS_MQTT_MALFORMED;
    out->session_present = ack_flags != 0;
    out->return_code = code;
    return DPS_MQTT_OK;
}

static dps_mqtt_result decode_publish(reader *r, uint8_t flags, dps_mqtt_publish *out)
{
    dps_mqtt_publish p;
    memset(&p, 0, sizeof p);
    p.dup = (flags & 8u) != 0;
    p.qos = (uint8_t)((flags >> 1) & 3u); /* 3 already refused by the framer */
    p.retain = (flags & 1u) != 0;
    dps_mqtt_result rc = rd_str(r, &p.topic);
    if (rc != DPS_MQTT_OK)
        return rc;
    if (!dps_mqtt_topic_name_valid(p.topic))
        return DPS_MQTT_MALFORMED; /* 3.3.2-2: no wildcards; 4.7.3-1: not empty */
    if (p.qos > 0) {
        rc = rd_packet_id(r, &p.packet_id);
        if (rc != DPS_MQTT_OK)
            return rc;
    }
    /* The payload is whatever is left, possibly nothing. */
    p.payload.ptr = r->p;
    p.payload.len = r->left;
    r->p += r->left;
    r->left = 0;
    *out = p;
    return DPS_MQTT_OK;
}

/* SUBSCRIBE (with_qos) and UNSUBSCRIBE: a packet id, then one or more
 * filters. The whole packet is checked before TOO_MANY is reported, so that
 * TOO_MANY always means "well-formed, just more than you asked for". */
static dps_mqtt_result decode_filters(reader *r, bool with_qos, dps_mqtt_sub *subs,
                                      size_t max_subs, dps_mqtt_subscribe *out)
{
    uint16_t id;
    dps_mqtt_result rc = rd_packet_id(r, &id);
    if (rc != DPS_MQTT_OK)
        return rc;
    size_t n = 0;
    while (r->left > 0) {
        dps_mqtt_sub s;
        s.qos = 0;
        rc = rd_str(r, &s.filter);
        if (rc != DPS_MQTT_OK)
            return rc;
        if (!dps_mqtt_topic_filter_valid(s.filter))
            return DPS_MQTT_MALFORMED; /* 4.7.1, 4.7.3-1 */
        if (with_qos) {
            rc = rd_u8(r, &s.qos);
            if (rc != DPS_MQTT_OK)
                return rc;
            if (s.qos > 2)
                return DPS_MQTT_MALFORMED; /* reserved bits and QoS 3 (3.8.3-4) */
        }
        if (n < max_subs)
            subs[n] = s;
        n++; /* bounded by the remaining length: each entry takes >= 3 bytes */
    }
    if (n == 0)
        return DPS_MQTT_MALFORMED; /* 3.8.3-3, 3.10.3-2 */
    if (n > max_subs)
        return DPS_MQTT_TOO_MANY;
    out->packet_id = id;
    out->subs = subs;
    out->count = n;
    return DPS_MQTT_OK;
}

static dps_mqtt_result decode_suback(reader *r, dps_mqtt_suback *out)
{
    uint16_t id;
    dps_mqtt_result rc = rd_packet_id(r, &id);
    if (rc != DPS_MQTT_OK)
        return rc;
    if (r->left == 0)
        return DPS_MQTT_MALFORMED;
    for (size_t i = 0; i < r->left; i++) {
        uint8_t c = r->p[i];
        if (c > 2 && c != DPS_MQTT_SUBACK_FAILURE)
            return DPS_MQTT_MALFORMED; /* 3.9.3-2 */
    }
    out->packet_id = id;
    out->codes.ptr = r->p;
    out->codes.len = r->left;
    r->p += r->left;
    r->left = 0;
    return DPS_MQTT_OK;
}

dps_mqtt_result dps_mqtt_decode(const uint8_t *buf, size_t len, dps_mqtt_sub *subs,
                                size_t max_subs, dps_mqtt_packet *out)
{
    assert(buf != NULL || len == 0);
    assert(subs != NULL || max_subs == 0);
    assert(out != NULL);

    dps_mqtt_frame fr;
    dps_mqtt_result rc = dps_mqtt_frame_peek(buf, len, SIZE_MAX, &fr);
    if (rc != DPS_MQTT_OK)
        return rc;
    if (len != fr.total_len)
        return DPS_MQTT_MALFORMED; /* the caller passed more than one packet */

    reader r = {buf + fr.header_len, fr.remaining_len};
    dps_mqtt_packet p;
    memset(&p, 0, sizeof p);
    p.type = fr.type;
    switch (fr.type) {
    case DPS_MQTT_CONNECT:
        rc = decode_connect(&r, &p.u.connect);
        break;
    case DPS_MQTT_CONNACK:
        rc = decode_connack(&r, &p.u.connack);
        break;
    case DPS_MQTT_PUBLISH:
        rc = decode_publish(&r, fr.flags, &p.u.publish);
        break;
    case DPS_MQTT_PUBACK:
    case DPS_MQTT_PUBREC:
    case DPS_MQTT_PUBREL:
    case DPS_MQTT_PUBCOMP:
    case DPS_MQTT_UNSUBACK:
        rc = rd_packet_id(&r, &p.u.packet_id);
        break;
    case DPS_MQTT_SUBSCRIBE:
        rc = decode_filters(&r, true, subs, max_subs, &p.u.subscribe);
        break;
    case DPS_MQTT_UNSUBSCRIBE:
        rc = decode_filters(&r, false, subs, max_subs, &p.u.subscribe);
        break;
    case DPS_MQTT_SUBACK:
        rc = decode_suback(&r, &p.u.suback);
        break;
    case DPS_MQTT_PINGREQ:
    case DPS_MQTT_PINGRESP:
    case DPS_MQTT_DISCONNECT:
        rc = DPS_MQTT_OK;
        break;
    default:
        rc = DPS_MQTT_MALFORMED; /* the framer already refuses 0 and 15 */
        break;
    }
    if (rc != DPS_MQTT_OK)
        return rc;
    if (r.left != 0)
        return DPS_MQTT_MALFORMED; /* bytes the packet type has no room for */
    *out = p;
    return DPS_MQTT_OK;
}

const char *dps_mqtt_result_name(dps_mqtt_result r)
{
    switch (r) {
    case DPS_MQTT_OK:
        return "OK";
    case DPS_MQTT_NEED_MORE:
        return "NEED_MORE";
    case DPS_MQTT_MALFORMED:
        return "MALFORMED";
    case DPS_MQTT_TOO_LARGE:
        return "TOO_LARGE";
    case DPS_MQTT_PROTOCOL:
        return "PROTOCOL";
    case DPS_MQTT_NO_SPACE:
        return "NO_SPACE";
    case DPS_MQTT_TOO_MANY:
        return "TOO_MANY";
    }
    return "UNKNOWN";
}

const char *dps_mqtt_type_name(unsigned type)
{
    static const char *const names[] = {
        "RESERVED", "CONNECT",  "CONNACK",     "PUBLISH",  "PUBACK",
        "PUBREC",   "PUBREL",   "PUBCOMP",     "SUBSCRIBE", "SUBACK",
        "UNSUBSCRIBE", "UNSUBACK", "PINGREQ",  "PINGRESP", "DISCONNECT",
    };
    return type < sizeof names / sizeof names[0] ? names[type] : "RESERVED";
}
