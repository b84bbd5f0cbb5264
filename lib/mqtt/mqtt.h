/* MQTT 3.1.1 codec: bytes to packet structs and back, plus the topic rules
 * the DPS and hub endpoints need. No I/O, no broker, no allocation: decoded
 * packets hold views into the caller's buffer, encoders write into a caller
 * buffer and report the size they need when it is too small.
 *
 * Typical server loop (see docs/internals/mqtt.md for the connection rules
 * the caller must enforce):
 *
 *     dps_mqtt_frame fr;
 *     rc = dps_mqtt_frame_peek(in, in_len, MAX_PACKET, &fr);
 *     NEED_MORE: read more (fr.total_len, when non-zero, says how much);
 *     TOO_LARGE / MALFORMED: close the connection;
 *     OK: rc = dps_mqtt_decode(in, fr.total_len, subs, n, &pkt); ...
 *         then drop fr.total_len bytes from the input.
 */
#ifndef DPS_MQTT_MQTT_H
#define DPS_MQTT_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Results a caller must look at: ignoring one is a compile error (-Werror). */
#define DPS_MQTT_NODISCARD __attribute__((warn_unused_result))

/* ---- Limits (the protocol's own; callers impose tighter caps) ----------- */

#define DPS_MQTT_MAX_REMAINING_LENGTH 268435455u /* 4-byte varint ceiling */
#define DPS_MQTT_MAX_FIXED_HEADER 5u             /* 1 type byte + 4 varint bytes */
#define DPS_MQTT_MAX_STRING 65535u               /* 2-byte length prefix */
#define DPS_MQTT_PROTOCOL_LEVEL 4u               /* MQTT 3.1.1 */

/* ---- Results ------------------------------------------------------------ */

typedef enum {
    DPS_MQTT_OK = 0,
    DPS_MQTT_NEED_MORE, /* the input ends before the packet does */
    DPS_MQTT_MALFORMED, /* the bytes break a rule of the spec: close the connection */
    DPS_MQTT_TOO_LARGE, /* over the caller's packet cap, or over a protocol limit */
    DPS_MQTT_PROTOCOL,  /* CONNECT of a protocol level we do not speak: answer
                           CONNACK 0x01 (DPS_MQTT_CONNACK_BAD_PROTOCOL), then close */
    DPS_MQTT_NO_SPACE,  /* the output buffer is too small; nothing was written */
    DPS_MQTT_TOO_MANY,  /* a well-formed packet with more items than the caller's array */
} dps_mqtt_result;

/* A stable, upper-case name ("OK", "MALFORMED", ...) for logs; never NULL. */
const char *dps_mqtt_result_name(dps_mqtt_result r);

/* ---- Views -------------------------------------------------------------- */

/* A UTF-8 string inside some buffer: not NUL-terminated. */
typedef struct {
    const char *ptr;
    size_t len;
} dps_mqtt_str;

/* Binary data inside some buffer (passwords, payloads, SUBACK codes). */
typedef struct {
    const uint8_t *ptr;
    size_t len;
} dps_mqtt_bin;

static inline dps_mqtt_str dps_mqtt_cstr(const char *s)
{
    dps_mqtt_str v = {s, s != NULL ? strlen(s) : 0};
    return v;
}

/* True when the view holds exactly the NUL-terminated string s. */
static inline bool dps_mqtt_str_eq(dps_mqtt_str v, const char *s)
{
    size_t n = strlen(s);
    return v.len == n && (n == 0 || memcmp(v.ptr, s, n) == 0);
}

/* ---- Packets ------------------------------------------------------------ */

typedef enum {
    DPS_MQTT_CONNECT = 1,
    DPS_MQTT_CONNACK = 2,
    DPS_MQTT_PUBLISH = 3,
    DPS_MQTT_PUBACK = 4,
    DPS_MQTT_PUBREC = 5,
    DPS_MQTT_PUBREL = 6,
    DPS_MQTT_PUBCOMP = 7,
    DPS_MQTT_SUBSCRIBE = 8,
    DPS_MQTT_SUBACK = 9,
    DPS_MQTT_UNSUBSCRIBE = 10,
    DPS_MQTT_UNSUBACK = 11,
    DPS_MQTT_PINGREQ = 12,
    DPS_MQTT_PINGRESP = 13,
    DPS_MQTT_DISCONNECT = 14,
} dps_mqtt_type;

/* "CONNECT", "PUBLISH", ...; "RESERVED" for 0, 15 and anything else. */
const char *dps_mqtt_type_name(unsigned type);

/* CONNACK return codes (3.2.2.3). */
enum {
    DPS_MQTT_CONNACK_ACCEPTED = 0,
    DPS_MQTT_CONNACK_BAD_PROTOCOL = 1,
    DPS_MQTT_CONNACK_ID_REJECTED = 2,
    DPS_MQTT_CONNACK_UNAVAILABLE = 3,
    DPS_MQTT_CONNACK_BAD_CREDENTIALS = 4,
    DPS_MQTT_CONNACK_NOT_AUTHORIZED = 5,
};

/* SUBACK failure code; success codes are the granted QoS 0..2. */
#define DPS_MQTT_SUBACK_FAILURE 0x80u

typedef struct {
    dps_mqtt_str client_id;    /* may be empty (the server decides, see mqtt.md) */
    dps_mqtt_str will_topic;   /* set when has_will; a valid topic name */
    dps_mqtt_bin will_message; /* set when has_will */
    dps_mqtt_str username;     /* set when has_username */
    dps_mqtt_bin password;     /* set when has_password (needs has_username) */
    uint16_t keep_alive;       /* seconds, 0 = none */
    uint8_t will_qos;          /* 0..2; 0 without a will */
    bool clean_session;
    bool has_will;
    bool will_retain; /* false without a will */
    bool has_username;
    bool has_password;
} dps_mqtt_connect;

typedef struct {
    bool session_present; /* only with return_code 0 */
    uint8_t return_code;  /* DPS_MQTT_CONNACK_* (0..5) */
} dps_mqtt_connack;

typedef struct {
    dps_mqtt_str topic;   /* a topic name: non-empty, no wildcards */
    dps_mqtt_bin payload; /* may be empty */
    uint16_t packet_id;   /* non-zero iff qos > 0; 0 for qos 0 */
    uint8_t qos;          /* 0..2 */
    bool dup;             /* only with qos > 0 */
    bool retain;
} dps_mqtt_publish;

/* One SUBSCRIBE entry, or one UNSUBSCRIBE filter (qos then unused, 0). */
typedef struct {
    dps_mqtt_str filter; /* a valid topic filter */
    uint8_t qos;         /* requested QoS 0..2 */
} dps_mqtt_sub;

/* SUBSCRIBE and UNSUBSCRIBE share one shape. */
typedef struct {
    uint16_t packet_id; /* non-zero */
    const dps_mqtt_sub *subs;
    size_t count; /* at least 1 */
} dps_mqtt_subscribe;

typedef struct {
    uint16_t packet_id;
    dps_mqtt_bin codes; /* one per filter: 0, 1, 2 or 0x80; at least one */
} dps_mqtt_suback;

typedef struct {
    dps_mqtt_type type;
    union {
        dps_mqtt_connect connect;
        dps_mqtt_connack connack;
        dps_mqtt_publish publish;
        dps_mqtt_subscribe subscribe; /* SUBSCRIBE and UNSUBSCRIBE */
        dps_mqtt_suback suback;
        uint16_t packet_id; /* PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK */
    } u;                    /* nothing for PINGREQ, PINGRESP, DISCONNECT */
} dps_mqtt_packet;

/* ---- Framing (mqtt_stream.c) -------------------------------------------- */

typedef struct {
    dps_mqtt_type type;
    uint8_t flags;        /* low nibble of the first byte */
    size_t header_len;    /* fixed header: 2..5 bytes */
    size_t remaining_len; /* variable header + payload */
    size_t total_len;     /* header_len + remaining_len; 0 while unknown */
} dps_mqtt_frame;

/* Looks at the start of buf (len bytes received so far) for one packet whose
 * total size may not exceed max_packet bytes (fixed header included).
 *   OK        a whole packet is in buf[0 .. out->total_len).
 *   NEED_MORE not yet; out->total_len is the packet's size once the fixed
 *             header is complete (already checked against max_packet), else 0.
 *   TOO_LARGE the header alone shows the packet would exceed max_packet;
 *             decided as soon as the varint read so far proves it, before
 *             any of the body needs to be buffered.
 *   MALFORMED reserved packet type (0, 15), wrong fixed-header flags for the
 *             type, a remaining length of more than 4 bytes or not in its
 *             shortest form.
 * out is written on OK and NEED_MORE only. */
DPS_MQTT_NODISCARD dps_mqtt_result dps_mqtt_frame_peek(const uint8_t *buf, size_t len,
                                                       size_t max_packet, dps_mqtt_frame *out);

/* The fixed-header flag rule of 2.2.2: PUBLISH carries DUP/QoS/RETAIN (QoS 3
 * refused, DUP refused with QoS 0), PUBREL/SUBSCRIBE/UNSUBSCRIBE need 0010,
 * every other type 0000. */
bool dps_mqtt_fixed_flags_valid(unsigned type, unsigned flags);

/* ---- Decoding (mqtt_decode.c) ------------------------------------------- */

/* Decodes exactly one whole packet (len == its total length; a shorter input
 * gives NEED_MORE, bytes after the packet give MALFORMED). Every view in *out
 * points into buf, which must outlive them. SUBSCRIBE and UNSUBSCRIBE
 * filters go to subs[0 .. max_subs); a well-formed packet with more filters
 * gives TOO_MANY. *out is written on OK only; subs may be partly written on
 * any result. A CONNECT with protocol "MQTT" at a level other than 4, or the
 * MQTT 3.1 "MQIsdp", gives PROTOCOL; any other protocol name MALFORMED. */
DPS_MQTT_NODISCARD dps_mqtt_result dps_mqtt_decode(const uint8_t *buf, size_t len,
                                                   dps_mqtt_sub *subs, size_t max_subs,
                                                   dps_mqtt_packet *out);

/* ---- Encoding (mqtt_encode.c) ------------------------------------------- */

/* Every encoder writes one packet into buf (cap bytes; buf may be NULL when
 * cap is 0, to ask for the size) and sets *out_len:
 *   OK        *out_len bytes written;
 *   NO_SPACE  nothing written, *out_len = the size needed;
 *   MALFORMED the struct describes a packet dps_mqtt_decode would refuse
 *             (bad QoS, packet id rule, wildcard in a topic name, invalid
 *             filter or UTF-8, no filters, ...); *out_len = 0;
 *   TOO_LARGE a string over 65535 bytes or a packet over the protocol's
 *             maximum; *out_len = 0.
 * What decodes with OK re-encodes to the same bytes. */
DPS_MQTT_NODISCARD dps_mqtt_result dps_mqtt_encode(const dps_mqtt_packet *p, uint8_t *buf,
                                                   size_t cap, size_t *out_len);

DPS_MQTT_NODISCARD dps_mqtt_result dps_mqtt_encode_connect(const dps_mqtt_connect *c,
                                                           uint8_t *buf, size_t cap,
                                                           size_t *out_len);
DPS_MQTT_NODISCARD dps_mqtt_result dps_mqtt_encode_connack(const dps_mqtt_connack *c,
                                                           uint8_t *buf, size_t cap,
                                                           size_t *out_len);
DPS_MQTT_NODISCARD dps_mqtt_result dps_mqtt_encode_publish(const dps_mqtt_publish *p,
                                                           uint8_t *buf, size_t cap,
                                                           size_t *out_len);
/* PUBACK, PUBREC, PUBREL, PUBCOMP or UNSUBACK with a non-zero packet id. */
DPS_MQTT_NODISCARD dps_mqtt_result dps_mqtt_encode_ack(dps_mqtt_type type, uint16_t packet_id,
                                                       uint8_t *buf, size_t cap,
                                                       size_t *out_len);
DPS_MQTT_NODISCARD dps_mqtt_result dps_mqtt_encode_subscribe(const dps_mqtt_subscribe *s,
                                                             uint8_t *buf, size_t cap,
                                                             size_t *out_len);
DPS_MQTT_NODISCARD dps_mqtt_result dps_mqtt_encode_unsubscribe(const dps_mqtt_subscribe *s,
                                                               uint8_t *buf, size_t cap,
                                                               size_t *out_len);
DPS_MQTT_NODISCARD dps_mqtt_result dps_mqtt_encode_suback(const dps_mqtt_suback *s,
                                                          uint8_t *buf, size_t cap,
                                                          size_t *out_len);
/* PINGREQ, PINGRESP or DISCONNECT: two bytes. */
DPS_MQTT_NODISCARD dps_mqtt_result dps_mqtt_encode_empty(dps_mqtt_type type, uint8_t *buf,
                                                         size_t cap, size_t *out_len);

/* ---- Strings and topics (mqtt_topic.c) ---------------------------------- */

/* An MQTT UTF-8 string (1.5.3): well-formed UTF-8 (shortest form, at most
 * U+10FFFF), no surrogates, no U+0000. Length is not checked here. */
bool dps_mqtt_utf8_valid(const char *s, size_t len);

/* A topic name as PUBLISH carries it: 1..65535 bytes, valid UTF-8, no '+'
 * or '#'. */
bool dps_mqtt_topic_name_valid(dps_mqtt_str topic);

/* A topic filter: 1..65535 bytes, valid UTF-8, '+' only as a whole level,
 * '#' only as the whole last level. */
bool dps_mqtt_topic_filter_valid(dps_mqtt_str filter);

/* Whether a topic name matches a filter (4.7). Topics starting with '$' are
 * not matched by a filter starting with a wildcard. False when either is
 * invalid. */
bool dps_mqtt_topic_matches(dps_mqtt_str filter, dps_mqtt_str topic);

/* ---- IoT Hub property bags (mqtt_topic.c) ------------------------------- */

/* One item of "k1=v1&k2&k3=": key and value percent-decoded, each
 * NUL-terminated inside the caller's scratch buffer. */
typedef struct {
    dps_mqtt_str key;   /* non-empty */
    dps_mqtt_str value; /* "" when has_value is false */
    bool has_value;     /* "k" alone is a null value; "k=" an empty one */
} dps_mqtt_prop;

/* Splits a property bag (the part of a topic after "events/" or "?") into
 * props[0 .. max_props), skipping empty items ("a=1&&b=2"). '+' is kept as
 * it is (these are URL escapes, not form encoding). Decoded text goes to
 * scratch; scratch_cap >= len + 1 always suffices. Sets *count on OK.
 *   MALFORMED a bad %XX escape, a %00, an empty key, decoded text that is
 *             not valid UTF-8;
 *   TOO_MANY  more than max_props items;
 *   NO_SPACE  scratch too small. */
DPS_MQTT_NODISCARD dps_mqtt_result dps_mqtt_props_parse(const char *bag, size_t len,
                                                        dps_mqtt_prop *props, size_t max_props,
                                                        char *scratch, size_t scratch_cap,
                                                        size_t *count);

/* The first item whose decoded key equals key, or NULL. */
const dps_mqtt_prop *dps_mqtt_props_find(const dps_mqtt_prop *props, size_t count,
                                         const char *key);

#endif
