/* MQTT decoder: every way a packet can be malformed is refused with the
 * right result, and truncation at any offset never reads out of bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mqtt/mqtt.h"

/* Decodes an exact-size heap copy so ASan flags any read past the end. */
static dps_mqtt_result decode_copy(const uint8_t *b, size_t n, dps_mqtt_packet *out)
{
    uint8_t *copy = malloc(n > 0 ? n : 1);
    assert_non_null(copy);
    if (n > 0)
        memcpy(copy, b, n);
    dps_mqtt_sub subs[4];
    dps_mqtt_packet scratch;
    dps_mqtt_result rc = dps_mqtt_decode(copy, n, subs, 4, out != NULL ? out : &scratch);
    free(copy);
    return rc;
}

/* Frames body with the given first byte (one-byte remaining length) and
 * decodes it. */
static dps_mqtt_result decode_body(uint8_t first, const uint8_t *body, size_t n)
{
    assert_true(n < 128);
    uint8_t pkt[130];
    pkt[0] = first;
    pkt[1] = (uint8_t)n;
    if (n > 0)
        memcpy(pkt + 2, body, n);
    return decode_copy(pkt, n + 2, NULL);
}

#define BODY(first, ...)                                                                      \
    decode_body((first), (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}))

/* CONNECT variable header for "MQTT" level 4 with the given flags, keep-alive 0. */
#define CONNECT_VH(flags) 0, 4, 'M', 'Q', 'T', 'T', 4, (flags), 0, 0

static void test_remaining_length(void **state)
{
    (void)state;
    /* Five length bytes. */
    static const uint8_t five[] = {0x30, 0xff, 0xff, 0xff, 0xff, 0x7f};
    assert_int_equal(decode_copy(five, sizeof five, NULL), DPS_MQTT_MALFORMED);
    /* Overlong forms of 0 and of 1. */
    static const uint8_t zero2[] = {0xc0, 0x80, 0x00};
    assert_int_equal(decode_copy(zero2, sizeof zero2, NULL), DPS_MQTT_MALFORMED);
    static const uint8_t one3[] = {0xc0, 0x81, 0x80, 0x00};
    assert_int_equal(decode_copy(one3, sizeof one3, NULL), DPS_MQTT_MALFORMED);
    /* A length that runs past the input: more is needed. */
    static const uint8_t short_body[] = {0x40, 0x02, 0x00};
    assert_int_equal(decode_copy(short_body, sizeof short_body, NULL), DPS_MQTT_NEED_MORE);
    assert_int_equal(decode_copy(short_body, 1, NULL), DPS_MQTT_NEED_MORE);
    assert_int_equal(decode_copy(short_body, 0, NULL), DPS_MQTT_NEED_MORE);
    /* Bytes after the packet. */
    static const uint8_t two[] = {0xc0, 0x00, 0xc0, 0x00};
    assert_int_equal(decode_copy(two, sizeof two, NULL), DPS_MQTT_MALFORMED);
}

/* Every type with every flag nibble: only the spec's flags decode. */
static void test_fixed_header_flags(void **state)
{
    (void)state;
    /* A body that is valid for each non-PUBLISH type. */
    static const uint8_t connect[] = {CONNECT_VH(0x02), 0, 1, 'c'};
    static const uint8_t connack[] = {0, 0};
    static const uint8_t id[] = {0, 1};
    static const uint8_t sub[] = {0, 1, 0, 1, 'a', 0};
    static const uint8_t suback[] = {0, 1, 0};
    static const uint8_t unsub[] = {0, 1, 0, 1, 'a'};
    const struct {
        unsigned type;
        const uint8_t *body;
        size_t n;
        unsigned flags;
    } cases[] = {
        {DPS_MQTT_CONNECT, connect, sizeof connect, 0},
        {DPS_MQTT_CONNACK, connack, sizeof connack, 0},
        {DPS_MQTT_PUBACK, id, sizeof id, 0},
        {DPS_MQTT_PUBREC, id, sizeof id, 0},
        {DPS_MQTT_PUBREL, id, sizeof id, 2},
        {DPS_MQTT_PUBCOMP, id, sizeof id, 0},
        {DPS_MQTT_SUBSCRIBE, sub, sizeof sub, 2},
        {DPS_MQTT_SUBACK, suback, sizeof suback, 0},
        {DPS_MQTT_UNSUBSCRIBE, unsub, sizeof unsub, 2},
        {DPS_MQTT_UNSUBACK, id, sizeof id, 0},
        {DPS_MQTT_PINGREQ, NULL, 0, 0},
        {DPS_MQTT_PINGRESP, NULL, 0, 0},
        {DPS_MQTT_DISCONNECT, NULL, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (unsigned f = 0; f < 16; f++) {
            dps_mqtt_result want = f == cases[i].flags ? DPS_MQTT_OK : DPS_MQTT_MALFORMED;
            uint8_t first = (uint8_t)(cases[i].type << 4 | f);
            assert_int_equal(decode_body(first, cases[i].body, cases[i].n), want);
            assert_int_equal(dps_mqtt_fixed_flags_valid(cases[i].type, f), f == cases[i].flags);
        }
    }
    /* Reserved types 0 and 15, whatever the flags. */
    for (unsigned f = 0; f < 16; f++) {
        assert_int_equal(decode_body((uint8_t)f, NULL, 0), DPS_MQTT_MALFORMED);
        assert_int_equal(decode_body((uint8_t)(0xf0 | f), NULL, 0), DPS_MQTT_MALFORMED);
    }
    /* PUBLISH: QoS 3 and DUP at QoS 0 are the only bad nibbles. */
    for (unsigned f = 0; f < 16; f++) {
        unsigned qos = (f >> 1) & 3;
        bool ok = qos != 3 && !((f & 8) && qos == 0);
        assert_int_equal(dps_mqtt_fixed_flags_valid(DPS_MQTT_PUBLISH, f), ok);
        uint8_t body[] = {0, 1, 't', 0, 1};
        size_t n = qos > 0 ? 5 : 3;
        assert_int_equal(decode_body((uint8_t)(0x30 | f), body, n),
                         ok ? DPS_MQTT_OK : DPS_MQTT_MALFORMED);
    }
}

static void test_connect_flags(void **state)
{
    (void)state;
    /* The baseline decodes. */
    assert_int_equal(BODY(0x10, CONNECT_VH(0x02), 0, 1, 'c'), DPS_MQTT_OK);
    /* Reserved flag bit 0. */
    assert_int_equal(BODY(0x10, CONNECT_VH(0x03), 0, 1, 'c'), DPS_MQTT_MALFORMED);
    /* Password without user name (the password is there, still refused). */
    assert_int_equal(BODY(0x10, CONNECT_VH(0x40), 0, 1, 'c', 0, 1, 'p'), DPS_MQTT_MALFORMED);
    /* User name and password: fine. */
    assert_int_equal(BODY(0x10, CONNECT_VH(0xc0), 0, 1, 'c', 0, 1, 'u', 0, 1, 'p'),
                     DPS_MQTT_OK);
    /* Will QoS or will retain without the will flag. */
    assert_int_equal(BODY(0x10, CONNECT_VH(0x08), 0, 1, 'c'), DPS_MQTT_MALFORMED);
    assert_int_equal(BODY(0x10, CONNECT_VH(0x10), 0, 1, 'c'), DPS_MQTT_MALFORMED);
    assert_int_equal(BODY(0x10, CONNECT_VH(0x20), 0, 1, 'c'), DPS_MQTT_MALFORMED);
    /* A will with QoS 2 decodes; with QoS 3 it does not. */
    assert_int_equal(BODY(0x10, CONNECT_VH(0x14), 0, 1, 'c', 0, 1, 'w', 0, 0), DPS_MQTT_OK);
    assert_int_equal(BODY(0x10, CONNECT_VH(0x1c), 0, 1, 'c', 0, 1, 'w', 0, 0),
                     DPS_MQTT_MALFORMED);
    /* A will topic with a wildcard, or empty. */
    assert_int_equal(BODY(0x10, CONNECT_VH(0x04), 0, 1, 'c', 0, 1, '#', 0, 0),
                     DPS_MQTT_MALFORMED);
    assert_int_equal(BODY(0x10, CONNECT_VH(0x04), 0, 1, 'c', 0, 0, 0, 0), DPS_MQTT_MALFORMED);
    /* A flag announcing a field that is not there. */
    assert_int_equal(BODY(0x10, CONNECT_VH(0x80), 0, 1, 'c'), DPS_MQTT_MALFORMED);
    /* A field no flag announces. */
    assert_int_equal(BODY(0x10, CONNECT_VH(0x00), 0, 1, 'c', 0, 1, 'u'), DPS_MQTT_MALFORMED);
}

static void test_connect_protocol(void **state)
{
    (void)state;
    /* MQTT 3.1 ("MQIsdp", level 3): PROTOCOL, so the server answers CONNACK 1. */
    assert_int_equal(BODY(0x10, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 3, 0x02, 0, 60, 0, 1, 'c'),
                     DPS_MQTT_PROTOCOL);
    /* "MQTT" at levels 3 and 5. */
    assert_int_equal(BODY(0x10, 0, 4, 'M', 'Q', 'T', 'T', 3, 0x02, 0, 60, 0, 1, 'c'),
                     DPS_MQTT_PROTOCOL);
    assert_int_equal(BODY(0x10, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 60, 0, 1, 'c'),
                     DPS_MQTT_PROTOCOL);
    /* The level wins over flags an older or newer client may use differently. */
    assert_int_equal(BODY(0x10, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x01, 0, 60), DPS_MQTT_PROTOCOL);
    /* Not MQTT at all: close without CONNACK. */
    assert_int_equal(BODY(0x10, 0, 4, 'M', 'Q', 'T', 'X', 4, 0x02, 0, 60, 0, 1, 'c'),
                     DPS_MQTT_MALFORMED);
    assert_int_equal(BODY(0x10, 0, 4, 'm', 'q', 't', 't', 4, 0x02, 0, 60, 0, 1, 'c'),
                     DPS_MQTT_MALFORMED);
}

/* A full CONNECT cut short at every offset, framed two ways: with its
 * original length (more is needed) and re-framed to the cut (malformed). */
static void test_connect_truncated_everywhere(void **state)
{
    (void)state;
    dps_mqtt_connect c = {
        .client_id = dps_mqtt_cstr("dev"),
        .has_will = true,
        .will_topic = dps_mqtt_cstr("w/t"),
        .will_message = {(const uint8_t *)"bye", 3},
        .has_username = true,
        .username = dps_mqtt_cstr("user"),
        .has_password = true,
        .password = {(const uint8_t *)"pw", 2},
        .keep_alive = 30,
    };
    uint8_t wire[128];
    size_t len;
    assert_int_equal(dps_mqtt_encode_connect(&c, wire, sizeof wire, &len), DPS_MQTT_OK);
    assert_true(len < 128 + 2 && wire[1] == len - 2);
    assert_int_equal(decode_copy(wire, len, NULL), DPS_MQTT_OK);
    for (size_t cut = 0; cut < len; cut++)
        assert_int_equal(decode_copy(wire, cut, NULL), DPS_MQTT_NEED_MORE);
    for (size_t body = 0; body < len - 2; body++)
        assert_int_equal(decode_body(wire[0], wire + 2, body), DPS_MQTT_MALFORMED);
}

static void test_publish_truncated_everywhere(void **state)
{
    (void)state;
    /* QoS 1: topic and packet id are mandatory, the payload is not. */
    static const uint8_t body[] = {0, 3, 'a', '/', 'b', 0, 9, 'x', 'y'};
    assert_int_equal(decode_body(0x32, body, sizeof body), DPS_MQTT_OK);
    for (size_t n = 0; n < 7; n++)
        assert_int_equal(decode_body(0x32, body, n), DPS_MQTT_MALFORMED);
    for (size_t n = 7; n <= sizeof body; n++)
        assert_int_equal(decode_body(0x32, body, n), DPS_MQTT_OK);
}

static void test_subscribe_truncated_everywhere(void **state)
{
    (void)state;
    static const uint8_t body[] = {0, 1, 0, 5, 'a', '/', 'b', '/', '#', 1};
    assert_int_equal(decode_body(0x82, body, sizeof body), DPS_MQTT_OK);
    for (size_t n = 0; n < sizeof body; n++)
        assert_int_equal(decode_body(0x82, body, n), DPS_MQTT_MALFORMED);
    for (size_t n = 0; n < sizeof body - 1; n++)
        assert_int_equal(decode_body(0xa2, body, n), DPS_MQTT_MALFORMED);
}

static void test_publish_rules(void **state)
{
    (void)state;
    dps_mqtt_packet p;
    static const uint8_t ok[] = {0x30, 5, 0, 1, 't', 'h', 'i'};
    assert_int_equal(decode_copy(ok, sizeof ok, &p), DPS_MQTT_OK);
    assert_int_equal(p.u.publish.qos, 0);
    assert_int_equal(p.u.publish.packet_id, 0);
    assert_int_equal(p.u.publish.payload.len, 2);

    /* QoS 1 and 2 with packet id 0. */
    assert_int_equal(BODY(0x32, 0, 1, 't', 0, 0), DPS_MQTT_MALFORMED);
    assert_int_equal(BODY(0x34, 0, 1, 't', 0, 0), DPS_MQTT_MALFORMED);
    /* QoS 1 without room for a packet id. */
    assert_int_equal(BODY(0x32, 0, 1, 't'), DPS_MQTT_MALFORMED);
    assert_int_equal(BODY(0x32, 0, 1, 't', 0), DPS_MQTT_MALFORMED);
    /* QoS 3. */
    assert_int_equal(BODY(0x36, 0, 1, 't', 0, 1), DPS_MQTT_MALFORMED);
    /* Wildcards anywhere in the topic name, and an empty topic. */
    assert_int_equal(BODY(0x30, 0, 3, 'a', '/', '+'), DPS_MQTT_MALFORMED);
    assert_int_equal(BODY(0x30, 0, 1, '#'), DPS_MQTT_MALFORMED);
    assert_int_equal(BODY(0x30, 0, 3, 'a', '#', 'b'), DPS_MQTT_MALFORMED);
    assert_int_equal(BODY(0x30, 0, 0), DPS_MQTT_MALFORMED);
    /* A topic longer than the packet. */
    assert_int_equal(BODY(0x30, 0, 9, 't'), DPS_MQTT_MALFORMED);
    assert_int_equal(BODY(0x30, 0xff, 0xff), DPS_MQTT_MALFORMED);
    assert_int_equal(BODY(0x30, 0), DPS_MQTT_MALFORMED);
}

static void test_utf8_in_packets(void **state)
{
    (void)state;
    /* U+0000 in a topic, a client id and a user name. */
    assert_int_equal(BODY(0x30, 0, 3, 'a', 0, 'b'), DPS_MQTT_MALFORMED);
    assert_int_equal(BODY(0x10, CONNECT_VH(0x02), 0, 2, 'c', 0), DPS_MQTT_MALFORMED);
    assert_int_equal(BODY(0x10, CONNECT_VH(0x82), 0, 1, 'c', 0, 2, 0, 'u'), DPS_MQTT_MALFORMED);
    /* Overlong NUL, a surrogate, a stray continuation byte, 0xff, a cut
     * sequence, a code point past U+10FFFF. */
    assert_int_equal(BODY(0x30, 0, 2, 0xc0, 0x80), DPS_MQTT_MALFORMED);
    assert_int_equal(BODY(0x30, 0, 3, 0xed, 0xa0, 0x80), DPS_MQTT_MALFORMED);
    assert_int_equal(BODY(0x30, 0, 1, 0x80), DPS_MQTT_MALFORMED);
    assert_int_equal(BODY(0x30, 0, 1, 0xff), DPS_MQTT_MALFORMED);
    assert_int_equal(BODY(0x30, 0, 2, 0xe2, 0x82), DPS_MQTT_MALFORMED);
    assert_int_equal(BODY(0x30, 0, 4, 0xf4, 0x90, 0x80, 0x80), DPS_MQTT_MALFORMED);
    /* Valid multi-byte text passes: "é", "€", U+10FFFF. */
    assert_int_equal(BODY(0x30, 0, 2, 0xc3, 0xa9), DPS_MQTT_OK);
    assert_int_equal(BODY(0x30, 0, 3, 0xe2, 0x82, 0xac), DPS_MQTT_OK);
    assert_int_equal(BODY(0x30, 0, 4, 0xf4, 0x8f, 0xbf, 0xbf), DPS_MQTT_OK);
    /* Binary fields are not UTF-8 checked: password and will message. */
    assert_int_equal(BODY(0x10, CONNECT_VH(0xc0), 0, 1, 'c', 0, 1, 'u', 0, 2, 0, 0xff),
                     DPS_MQTT_OK);
    /* A SUBSCRIBE filter with bad UTF-8. */
    assert_int_equal(BODY(0x82, 0, 1, 0, 1, 0xc1, 0), DPS_MQTT_MALFORMED);
}

static void test_subscribe_rules(void **state)
{
    (void)state;
    /* No filters at all. */
    assert_int_equal(BODY(0x82, 0, 1), DPS_MQTT_MALFORMED);
    assert_int_equal(BODY(0xa2, 0, 1), DPS_MQTT_MALFORMED);
    /* Packet id 0. */
    assert_int_equal(BODY(0x82, 0, 0, 0, 1, 'a', 0), DPS_MQTT_MALFORMED);
    assert_int_equal(BODY(0xa2, 0, 0, 0, 1, 'a'), DPS_MQTT_MALFORMED);
    /* QoS 3 and reserved bits in the options byte. */
    assert_int_equal(BODY(0x82, 0, 1, 0, 1, 'a', 3), DPS_MQTT_MALFORMED);
    assert_int_equal(BODY(0x82, 0, 1, 0, 1, 'a', 0x04), DPS_MQTT_MALFORMED);
    assert_int_equal(BODY(0x82, 0, 1, 0, 1, 'a', 0x81), DPS_MQTT_MALFORMED);
    /* Missing options byte. */
    assert_int_equal(BODY(0x82, 0, 1, 0, 1, 'a'), DPS_MQTT_MALFORMED);
    /* Bad filters: empty, '#' not last, '+' sharing a level. */
    assert_int_equal(BODY(0x82, 0, 1, 0, 0, 0), DPS_MQTT_MALFORMED);
    assert_int_equal(BODY(0x82, 0, 1, 0, 3, '#', '/', 'a', 0), DPS_MQTT_MALFORMED);
    assert_int_equal(BODY(0x82, 0, 1, 0, 2, 'a', '+', 0), DPS_MQTT_MALFORMED);
    assert_int_equal(BODY(0xa2, 0, 1, 0, 2, 'a', '#'), DPS_MQTT_MALFORMED);
    /* Good ones with every QoS. */
    assert_int_equal(BODY(0x82, 0, 1, 0, 1, '#', 0, 0, 3, '+', '/', '+', 1, 0, 1, 'x', 2),
                     DPS_MQTT_OK);
}

/* TOO_MANY only for packets that are otherwise well-formed. */
static void test_too_many_filters(void **state)
{
    (void)state;
    static const uint8_t three[] = {0x82, 14, 0, 1, 0, 1, 'a', 0, 0, 1, 'b', 1, 0, 1, 'c', 2};
    dps_mqtt_sub subs[3];
    dps_mqtt_packet p;
    assert_int_equal(dps_mqtt_decode(three, sizeof three, subs, 3, &p), DPS_MQTT_OK);
    assert_int_equal(dps_mqtt_decode(three, sizeof three, subs, 2, &p), DPS_MQTT_TOO_MANY);
    /* Third filter malformed: MALFORMED wins over TOO_MANY. */
    static const uint8_t bad_third[] = {0x82, 14, 0, 1, 0, 1, 'a', 0, 0, 1, 'b', 1, 0, 1, 'c', 3};
    assert_int_equal(dps_mqtt_decode(bad_third, sizeof bad_third, subs, 1, &p),
                     DPS_MQTT_MALFORMED);
}

static void test_ack_rules(void **state)
{
    (void)state;
    /* Packet id 0 in every ack. */
    assert_int_equal(BODY(0x40, 0, 0), DPS_MQTT_MALFORMED);
    assert_int_equal(BODY(0x50, 0, 0), DPS_MQTT_MALFORMED);
    assert_int_equal(BODY(0x62, 0, 0), DPS_MQTT_MALFORMED);
    assert_int_equal(BODY(0x70, 0, 0), DPS_MQTT_MALFORMED);
    assert_int_equal(BODY(0xb0, 0, 0), DPS_MQTT_MALFORMED);
    /* Wrong lengths: short and with trailing bytes. */
    assert_int_equal(BODY(0x40, 1), DPS_MQTT_MALFORMED);
    assert_int_equal(BODY(0x40, 0, 1, 0), DPS_MQTT_MALFORMED);
    assert_int_equal(BODY(0xb0, 0, 1, 0), DPS_MQTT_MALFORMED);
    assert_int_equal(BODY(0xc0, 0), DPS_MQTT_MALFORMED);
    assert_int_equal(BODY(0xe0, 0), DPS_MQTT_MALFORMED);
    /* CONNACK: reserved ack flags, unknown code, session with a refusal. */
    assert_int_equal(BODY(0x20, 0, 0), DPS_MQTT_OK);
    assert_int_equal(BODY(0x20, 1, 0), DPS_MQTT_OK);
    assert_int_equal(BODY(0x20, 2, 0), DPS_MQTT_MALFORMED);
    assert_int_equal(BODY(0x20, 0, 6), DPS_MQTT_MALFORMED);
    assert_int_equal(BODY(0x20, 1, 5), DPS_MQTT_MALFORMED);
    assert_int_equal(BODY(0x20, 0, 5, 0), DPS_MQTT_MALFORMED);
    assert_int_equal(BODY(0x20, 0), DPS_MQTT_MALFORMED);
    /* SUBACK: no codes, a code outside {0, 1, 2, 0x80}. */
    assert_int_equal(BODY(0x90, 0, 1), DPS_MQTT_MALFORMED);
    assert_int_equal(BODY(0x90, 0, 1, 3), DPS_MQTT_MALFORMED);
    assert_int_equal(BODY(0x90, 0, 1, 0x81), DPS_MQTT_MALFORMED);
    assert_int_equal(BODY(0x90, 0, 1, 0x80, 2, 1, 0), DPS_MQTT_OK);
}

/* A failed decode leaves *out alone. */
static void test_out_untouched_on_error(void **state)
{
    (void)state;
    dps_mqtt_packet p;
    memset(&p, 0x5a, sizeof p);
    dps_mqtt_packet before = p;
    static const uint8_t bad[] = {0x32, 5, 0, 1, 't', 0, 0};
    assert_int_equal(decode_copy(bad, sizeof bad, &p), DPS_MQTT_MALFORMED);
    assert_memory_equal(&p, &before, sizeof p);
    static const uint8_t old[] = {0x10, 14, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 3, 2, 0, 0, 0, 0};
    assert_int_equal(decode_copy(old, sizeof old, &p), DPS_MQTT_PROTOCOL);
    assert_memory_equal(&p, &before, sizeof p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_remaining_length),
        cmocka_unit_test(test_fixed_header_flags),
        cmocka_unit_test(test_connect_flags),
        cmocka_unit_test(test_connect_protocol),
        cmocka_unit_test(test_connect_truncated_everywhere),
        cmocka_unit_test(test_publish_truncated_everywhere),
        cmocka_unit_test(test_subscribe_truncated_everywhere),
        cmocka_unit_test(test_publish_rules),
        cmocka_unit_test(test_utf8_in_packets),
        cmocka_unit_test(test_subscribe_rules),
        cmocka_unit_test(test_too_many_filters),
        cmocka_unit_test(test_ack_rules),
        cmocka_unit_test(test_out_untouched_on_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
