/* Framing: finds where one MQTT packet ends in a growing input buffer and
 * refuses oversized or malformed fixed headers before the body is buffered. */
#include <assert.h>

#include "mqtt/mqtt.h"

bool dps_mqtt_fixed_flags_valid(unsigned type, unsigned flags)
{
    switch (type) {
    case DPS_MQTT_PUBLISH: {
        unsigned qos = (flags >> 1) & 3u;
        bool dup = (flags & 8u) != 0;
        /* QoS 3 is malformed (3.3.1-4); DUP must be 0 at QoS 0 (3.3.1-2). */
        return qos != 3u && !(dup && qos == 0u);
    }
    case DPS_MQTT_PUBREL:
    case DPS_MQTT_SUBSCRIBE:
    case DPS_MQTT_UNSUBSCRIBE:
        return flags == 2u;
    case DPS_MQTT_CONNECT:
    case DPS_MQTT_CONNACK:
    case DPS_MQTT_PUBACK:
    case DPS_MQTT_PUBREC:
    case DPS_MQTT_PUBCOMP:
    case DPS_MQTT_SUBACK:
    case DPS_MQTT_UNSUBACK:
    case DPS_MQTT_PINGREQ:
    case DPS_MQTT_PINGRESP:
    case DPS_MQTT_DISCONNECT:
        return flags == 0u;
    default:
        return false; /* 0 and 15 are reserved in 3.1.1 */
    }
}

dps_mqtt_result dps_mqtt_frame_peek(const uint8_t *buf, size_t len, size_t max_packet,
                                    dps_mqtt_frame *out)
{
    assert(out != NULL);
    assert(buf != NULL || len == 0);

    if (len == 0)
        return DPS_MQTT_NEED_MORE;

    unsigned type = buf[0] >> 4;
    unsigned flags = buf[0] & 0x0fu;
    /* Type and flags are known from the first byte: refuse early so a peer
     * speaking something else (TLS on a plain port, HTTP) is dropped at once. */
    if (!dps_mqtt_fixed_flags_valid(type, flags))
        return DPS_MQTT_MALFORMED;

    /* Remaining length: 7 bits per byte, least significant first, at most
     * four bytes. 4 * 7 = 28 bits fits in uint32_t and in size_t. */
    uint32_t value = 0;
    uint32_t scale = 1;
    size_t i = 1;
    for (;;) {
        if (i > 4)
            return DPS_MQTT_MALFORMED; /* a fifth length byte */
        if (i >= len) {
            /* Header incomplete. Every length byte read so far had its
             * continuation bit set, so the value is at least value + scale
             * (the digit that ends the number cannot be 0 in shortest form,
             * and a longer number is larger still). If even that does not
             * fit, stop now rather than wait for the rest. */
            uint64_t min_value = i == 1 ? 0u : (uint64_t)value + scale;
            uint64_t min_total = (uint64_t)i + 1u + min_value;
            if (min_total > max_packet)
                return DPS_MQTT_TOO_LARGE;
            out->type = (dps_mqtt_type)type;
            out->flags = (uint8_t)flags;
            out->header_len = 0;
            out->remaining_len = 0;
            out->total_len = 0;
            return DPS_MQTT_NEED_MORE;
        }
        uint8_t b = buf[i];
        value += (uint32_t)(b & 0x7fu) * scale;
        i++;
        if ((b & 0x80u) == 0) {
            /* Shortest form only: a multi-byte length whose last digit is 0
             * could have been written with fewer bytes. */
            if (b == 0 && i > 2)
                return DPS_MQTT_MALFORMED;
            break;
        }
        scale *= 128u;
    }

    /* value <= 268435455 and i <= 5, so the sum cannot overflow 64 bits. */
    uint64_t total = (uint64_t)i + value;
    if (total > max_packet)
        return DPS_MQTT_TOO_LARGE;

    out->type = (dps_mqtt_type)type;
    out->flags = (uint8_t)flags;
    out->header_len = i;
    out->remaining_len = value;
    out->total_len = (size_t)total;
    return len >= out->total_len ? DPS_MQTT_OK : DPS_MQTT_NEED_MORE;
}
