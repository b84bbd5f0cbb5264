/* MQTT framing: packets found in input that arrives one byte at a time,
 * the size cap enforced from the fixed header before any body is buffered,
 * and malformed headers refused as early as the bytes allow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mqtt/mqtt.h"

/* Peeks at an exact-size heap copy of the first n bytes. */
static dps_mqtt_result peek(const uint8_t *b, size_t n, size_t cap, dps_mqtt_frame *fr)
{
    uint8_t *copy = malloc(n > 0 ? n : 1);
    assert_non_null(copy);
    if (n > 0)
        memcpy(copy, b, n);
    dps_mqtt_result rc = dps_mqtt_frame_peek(copy, n, cap, fr);
    free(copy);
    return rc;
}

/* Appends a packet to a stream buffer. */
static size_t put(uint8_t *stream, size_t at, const dps_mqtt_packet *p)
{
    size_t n;
    assert_int_equal(dps_mqtt_encode(p, stream + at, 4096 - at, &n), DPS_MQTT_OK);
    return at + n;
}

/* A client's session as one byte stream, delivered one byte at a time into a
 * growing buffer, with packets consumed as soon as they are whole. */
static void test_byte_at_a_time(void **state)
{
    (void)state;
    static uint8_t stream[4096];
    static uint8_t big_payload[300]; /* forces a 2-byte remaining length */
    memset(big_payload, 'x', sizeof big_payload);
    const dps_mqtt_sub subs[] = {{dps_mqtt_cstr("$dps/registrations/res/#"), 1}};
    dps_mqtt_packet pk[6];
    memset(pk, 0, sizeof pk);
    pk[0].type = DPS_MQTT_CONNECT;
    pk[0].u.connect.client_id = dps_mqtt_cstr("sensor-0001");
    pk[0].u.connect.clean_session = true;
    pk[0].u.connect.keep_alive = 180;
    pk[1].type = DPS_MQTT_SUBSCRIBE;
    pk[1].u.subscribe = (dps_mqtt_subscribe){1, subs, 1};
    pk[2].type = DPS_MQTT_PUBLISH;
    pk[2].u.publish.topic = dps_mqtt_cstr("$dps/registrations/PUT/iotdps-register/?$rid=1");
    pk[2].u.publish.qos = 1;
    pk[2].u.publish.packet_id = 2;
    pk[2].u.publish.payload = (dps_mqtt_bin){big_payload, sizeof big_payload};
    pk[3].type = DPS_MQTT_PUBACK;
    pk[3].u.packet_id = 9;
    pk[4].type = DPS_MQTT_PINGREQ;
    pk[5].type = DPS_MQTT_DISCONNECT;
    size_t total = 0;
    size_t ends[6];
    for (size_t i = 0; i < 6; i++) {
        total = put(stream, total, &pk[i]);
        ends[i] = total;
    }

    uint8_t *inbuf = malloc(total);
    assert_non_null(inbuf);
    size_t have = 0;     /* bytes in inbuf */
    size_t consumed = 0; /* stream offset of inbuf[0] */
    size_t found = 0;
    for (size_t pos = 0; pos < total; pos++) {
        inbuf[have++] = stream[pos];
        dps_mqtt_frame fr;
        dps_mqtt_result rc = dps_mqtt_frame_peek(inbuf, have, 1024, &fr);
        if (consumed + have < ends[found]) {
            assert_int_equal(rc, DPS_MQTT_NEED_MORE);
            /* Once the header is in, the size is known. */
            if (fr.total_len != 0)
                assert_int_equal(fr.total_len, ends[found] - consumed);
            continue;
        }
        assert_int_equal(rc, DPS_MQTT_OK);
        assert_int_equal(fr.total_len, have);
        assert_int_equal(fr.type, pk[found].type);
        assert_int_equal(fr.header_len + fr.remaining_len, fr.total_len);
        dps_mqtt_sub got[2];
        dps_mqtt_packet out;
        assert_int_equal(dps_mqtt_decode(inbuf, fr.total_len, got, 2, &out), DPS_MQTT_OK);
        assert_int_equal(out.type, pk[found].type);
        consumed += have;
        have = 0;
        found++;
    }
    assert_int_equal(found, 6);
    assert_int_equal(have, 0);
    free(inbuf);
}

/* The whole stream at once: packets are found back to back. */
static void test_back_to_back(void **state)
{
    (void)state;
    static uint8_t stream[4096];
    dps_mqtt_packet ping = {.type = DPS_MQTT_PINGREQ};
    dps_mqtt_packet ack = {.type = DPS_MQTT_PUBACK, .u.packet_id = 3};
    size_t n = put(stream, 0, &ping);
    n = put(stream, n, &ack);
    n = put(stream, n, &ping);
    size_t off = 0;
    const size_t want[] = {2, 4, 2};
    for (size_t i = 0; i < 3; i++) {
        dps_mqtt_frame fr;
        assert_int_equal(dps_mqtt_frame_peek(stream + off, n - off, 64, &fr), DPS_MQTT_OK);
        assert_int_equal(fr.total_len, want[i]);
        off += fr.total_len;
    }
    assert_int_equal(off, n);
    dps_mqtt_frame fr;
    assert_int_equal(dps_mqtt_frame_peek(stream + off, 0, 64, &fr), DPS_MQTT_NEED_MORE);
}

/* The cap is decided from the header alone, as early as possible. */
static void test_size_cap_from_header(void **state)
{
    (void)state;
    dps_mqtt_frame fr;
    /* Remaining length 98 + 2 header bytes = exactly the cap of 100. */
    static const uint8_t fits[] = {0x30, 98};
    assert_int_equal(peek(fits, 2, 100, &fr), DPS_MQTT_NEED_MORE);
    assert_int_equal(fr.total_len, 100);
    assert_int_equal(fr.header_len, 2);
    assert_int_equal(fr.remaining_len, 98);
    /* One more byte: refused with only the two header bytes seen. */
    static const uint8_t over[] = {0x30, 99};
    assert_int_equal(peek(over, 2, 100, &fr), DPS_MQTT_TOO_LARGE);
    /* A continuation bit alone proves >= 128 body bytes: refused before the
     * second length byte arrives. */
    static const uint8_t cont[] = {0x30, 0x80};
    assert_int_equal(peek(cont, 2, 100, &fr), DPS_MQTT_TOO_LARGE);
    assert_int_equal(peek(cont, 2, 130, &fr), DPS_MQTT_TOO_LARGE);
    assert_int_equal(peek(cont, 2, 131, &fr), DPS_MQTT_NEED_MORE); /* 3 + 128 fits */
    assert_int_equal(fr.total_len, 0); /* header not complete yet */
    /* The largest length the protocol allows, against a small cap, a
     * large one and no cap. */
    static const uint8_t max[] = {0x30, 0xff, 0xff, 0xff, 0x7f};
    assert_int_equal(peek(max, 5, 65536, &fr), DPS_MQTT_TOO_LARGE);
    assert_int_equal(peek(max, 3, 65536, &fr), DPS_MQTT_NEED_MORE); /* >= 32771 so far */
    assert_int_equal(peek(max, 4, 65536, &fr), DPS_MQTT_TOO_LARGE);  /* >= 4194308 */
    assert_int_equal(peek(max, 5, SIZE_MAX, &fr), DPS_MQTT_NEED_MORE);
    assert_int_equal(fr.total_len, 5 + (size_t)DPS_MQTT_MAX_REMAINING_LENGTH);
    /* A cap below the smallest packet. */
    static const uint8_t ping[] = {0xc0, 0};
    assert_int_equal(peek(ping, 1, 1, &fr), DPS_MQTT_TOO_LARGE);
    assert_int_equal(peek(ping, 2, 2, &fr), DPS_MQTT_OK);
}

/* The early TOO_LARGE never refuses a packet that fits: for lengths at every
 * varint boundary and every header prefix, a cap equal to the packet's size
 * passes and one byte less is refused once the header is complete. */
static void test_size_cap_is_exact(void **state)
{
    (void)state;
    const uint32_t values[] = {0,       1,       127,     128,      129,     16383,
                               16384,   2097151, 2097152, 2097153,  10000000,
                               DPS_MQTT_MAX_REMAINING_LENGTH};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        uint8_t hdr[5] = {0x30};
        size_t h = 1;
        uint32_t v = values[i];
        do {
            uint8_t b = v & 0x7f;
            v >>= 7;
            hdr[h++] = (uint8_t)(b | (v > 0 ? 0x80 : 0));
        } while (v > 0);
        size_t total = h + values[i];
        dps_mqtt_frame fr;
        for (size_t k = 1; k <= h; k++) {
            dps_mqtt_result rc = peek(hdr, k, total, &fr);
            if (k == h && values[i] == 0) {
                assert_int_equal(rc, DPS_MQTT_OK);
            } else {
                assert_int_equal(rc, DPS_MQTT_NEED_MORE);
            }
        }
        assert_int_equal(fr.total_len, total);
        assert_int_equal(peek(hdr, h, total - 1, &fr), DPS_MQTT_TOO_LARGE);
    }
}

static void test_malformed_headers(void **state)
{
    (void)state;
    dps_mqtt_frame fr;
    /* Reserved types and wrong flags fail on the first byte. */
    static const uint8_t t0[] = {0x00};
    static const uint8_t t15[] = {0xf0};
    static const uint8_t sub_flags[] = {0x80};
    static const uint8_t pub_qos3[] = {0x36};
    assert_int_equal(peek(t0, 1, 100, &fr), DPS_MQTT_MALFORMED);
    assert_int_equal(peek(t15, 1, 100, &fr), DPS_MQTT_MALFORMED);
    assert_int_equal(peek(sub_flags, 1, 100, &fr), DPS_MQTT_MALFORMED);
    assert_int_equal(peek(pub_qos3, 1, 100, &fr), DPS_MQTT_MALFORMED);
    /* TLS on a plain port (a handshake record) and HTTP are refused at once. */
    static const uint8_t tls[] = {0x16, 0x03, 0x01};
    static const uint8_t http[] = {'G', 'E', 'T', ' '};
    assert_int_equal(peek(tls, 1, 100, &fr), DPS_MQTT_MALFORMED);
    assert_int_equal(peek(http, 1, 100, &fr), DPS_MQTT_MALFORMED);
    /* A fifth length byte is refused as soon as the fourth shows a
     * continuation bit, whatever the cap. */
    static const uint8_t five[] = {0x30, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(peek(five, 5, SIZE_MAX, &fr), DPS_MQTT_MALFORMED);
    for (size_t k = 1; k < 5; k++)
        assert_int_equal(peek(five, k, SIZE_MAX, &fr), DPS_MQTT_NEED_MORE);
    /* Lengths not in shortest form. */
    static const uint8_t over2[] = {0x30, 0x80, 0x00};
    static const uint8_t over3[] = {0x30, 0xff, 0x80, 0x00};
    static const uint8_t over4[] = {0x30, 0x80, 0x80, 0x80, 0x00};
    assert_int_equal(peek(over2, 3, SIZE_MAX, &fr), DPS_MQTT_MALFORMED);
    assert_int_equal(peek(over3, 4, SIZE_MAX, &fr), DPS_MQTT_MALFORMED);
    assert_int_equal(peek(over4, 5, SIZE_MAX, &fr), DPS_MQTT_MALFORMED);
    /* A zero digit in the middle is fine: 128 = 0x80 0x01. */
    static const uint8_t mid0[] = {0x30, 0x80, 0x01};
    assert_int_equal(peek(mid0, 3, SIZE_MAX, &fr), DPS_MQTT_NEED_MORE);
    assert_int_equal(fr.remaining_len, 128);
    assert_int_equal(fr.header_len, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_byte_at_a_time),
        cmocka_unit_test(test_back_to_back),
        cmocka_unit_test(test_size_cap_from_header),
        cmocka_unit_test(test_size_cap_is_exact),
        cmocka_unit_test(test_malformed_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
