/* MQTT codec: every encoder against hand-written wire bytes, every encoder
 * through the decoder and back, the size-query contract of the encoders, and
 * the inputs encoders refuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mqtt/mqtt.h"

#define GUARD 0xa5u

/* Encodes p into an exact-size heap buffer (so ASan sees any overrun),
 * after checking the size query and the NO_SPACE contract. */
static uint8_t *encode_exact(const dps_mqtt_packet *p, size_t *len)
{
    size_t need = 0;
    assert_int_equal(dps_mqtt_encode(p, NULL, 0, &need), DPS_MQTT_NO_SPACE);
    assert_true(need >= 2);

    /* One byte short: nothing written (guard bytes intact), size reported. */
    uint8_t *small = malloc(need);
    assert_non_null(small);
    memset(small, GUARD, need);
    size_t got = 0;
    assert_int_equal(dps_mqtt_encode(p, small, need - 1, &got), DPS_MQTT_NO_SPACE);
    assert_int_equal(got, need);
    for (size_t i = 0; i < need; i++)
        assert_int_equal(small[i], GUARD);
    free(small);

    uint8_t *buf = malloc(need);
    assert_non_null(buf);
    assert_int_equal(dps_mqtt_encode(p, buf, need, &got), DPS_MQTT_OK);
    assert_int_equal(got, need);
    *len = need;
    return buf;
}

/* Decodes, checks the type, re-encodes, and requires the same bytes. */
static void round_trip(const dps_mqtt_packet *in, dps_mqtt_packet *out, dps_mqtt_sub *subs,
                       size_t max_subs, uint8_t **wire, size_t *wire_len)
{
    size_t len;
    uint8_t *buf = encode_exact(in, &len);
    assert_int_equal(dps_mqtt_decode(buf, len, subs, max_subs, out), DPS_MQTT_OK);
    assert_int_equal(out->type, in->type);

    size_t len2;
    uint8_t *again = encode_exact(out, &len2);
    assert_int_equal(len2, len);
    assert_memory_equal(again, buf, len);
    free(again);
    *wire = buf;
    *wire_len = len;
}

static void assert_str(dps_mqtt_str v, const char *s)
{
    assert_int_equal(v.len, strlen(s));
    assert_memory_equal(v.ptr, s, v.len);
}

static void test_connect_wire_bytes(void **state)
{
    (void)state;
    dps_mqtt_packet p = {.type = DPS_MQTT_CONNECT};
    p.u.connect.client_id = dps_mqtt_cstr("abc");
    p.u.connect.clean_session = true;
    p.u.connect.keep_alive = 60;
    p.u.connect.has_username = true;
    p.u.connect.username = dps_mqtt_cstr("u");
    p.u.connect.has_password = true;
    p.u.connect.password = (dps_mqtt_bin){(const uint8_t *)"p", 1};
    static const uint8_t want[] = {0x10, 21,  0,   4,   'M', 'Q', 'T', 'T', 4,   0xc2, 0,
                                   60,   0,   3,   'a', 'b', 'c', 0,   1,   'u', 0,    1,
                                   'p'};
    size_t len;
    uint8_t *buf = encode_exact(&p, &len);
    assert_int_equal(len, sizeof want);
    assert_memory_equal(buf, want, len);
    free(buf);
}

static void test_connect_round_trip(void **state)
{
    (void)state;
    dps_mqtt_packet in = {.type = DPS_MQTT_CONNECT};
    dps_mqtt_connect *c = &in.u.connect;
    c->client_id = dps_mqtt_cstr("sensor-0001");
    c->keep_alive = 180;
    c->has_will = true;
    c->will_topic = dps_mqtt_cstr("devices/sensor-0001/gone");
    c->will_message = (dps_mqtt_bin){(const uint8_t *)"\x00\x01\xff", 3};
    c->will_qos = 1;
    c->will_retain = true;
    c->has_username = true;
    c->username = dps_mqtt_cstr("hub1.example.net/sensor-0001/?api-version=2021-04-12");
    c->has_password = true;
    c->password = (dps_mqtt_bin){(const uint8_t *)"SharedAccessSignature sr=x", 26};

    dps_mqtt_packet out;
    uint8_t *wire;
    size_t len;
    round_trip(&in, &out, NULL, 0, &wire, &len);
    const dps_mqtt_connect *d = &out.u.connect;
    assert_str(d->client_id, "sensor-0001");
    assert_int_equal(d->keep_alive, 180);
    assert_false(d->clean_session);
    assert_true(d->has_will);
    assert_str(d->will_topic, "devices/sensor-0001/gone");
    assert_int_equal(d->will_message.len, 3);
    assert_memory_equal(d->will_message.ptr, "\x00\x01\xff", 3);
    assert_int_equal(d->will_qos, 1);
    assert_true(d->will_retain);
    assert_true(d->has_username);
    assert_str(d->username, "hub1.example.net/sensor-0001/?api-version=2021-04-12");
    assert_true(d->has_password);
    assert_int_equal(d->password.len, 26);
    /* Views point into the wire buffer: zero copy. */
    assert_true((const uint8_t *)d->client_id.ptr > wire &&
                (const uint8_t *)d->client_id.ptr < wire + len);
    free(wire);

    /* The smallest CONNECT: empty client id, no flags at all. */
    dps_mqtt_packet bare = {.type = DPS_MQTT_CONNECT};
    bare.u.connect.client_id = dps_mqtt_cstr("");
    round_trip(&bare, &out, NULL, 0, &wire, &len);
    assert_int_equal(len, 14);
    assert_int_equal(out.u.connect.client_id.len, 0);
    assert_false(out.u.connect.has_username);
    free(wire);
}

static void test_connack_round_trip(void **state)
{
    (void)state;
    for (uint8_t code = 0; code <= 5; code++) {
        for (int sp = 0; sp <= (code == 0 ? 1 : 0); sp++) {
            dps_mqtt_packet in = {.type = DPS_MQTT_CONNACK};
            in.u.connack.return_code = code;
            in.u.connack.session_present = sp != 0;
            dps_mqtt_packet out;
            uint8_t *wire;
            size_t len;
            round_trip(&in, &out, NULL, 0, &wire, &len);
            const uint8_t want[] = {0x20, 2, (uint8_t)sp, code};
            assert_int_equal(len, 4);
            assert_memory_equal(wire, want, 4);
            assert_int_equal(out.u.connack.return_code, code);
            assert_int_equal(out.u.connack.session_present, sp != 0);
            free(wire);
        }
    }
}

static void test_publish_round_trip(void **state)
{
    (void)state;
    /* Wire bytes first: QoS 1, id 10, "a/b", payload "hi". */
    dps_mqtt_packet in = {.type = DPS_MQTT_PUBLISH};
    in.u.publish.topic = dps_mqtt_cstr("a/b");
    in.u.publish.qos = 1;
    in.u.publish.packet_id = 10;
    in.u.publish.payload = (dps_mqtt_bin){(const uint8_t *)"hi", 2};
    static const uint8_t want[] = {0x32, 9, 0, 3, 'a', '/', 'b', 0, 10, 'h', 'i'};
    dps_mqtt_packet out;
    uint8_t *wire;
    size_t len;
    round_trip(&in, &out, NULL, 0, &wire, &len);
    assert_int_equal(len, sizeof want);
    assert_memory_equal(wire, want, len);
    free(wire);

    /* Every combination of QoS, DUP and RETAIN the spec allows. */
    for (uint8_t qos = 0; qos <= 2; qos++) {
        for (int dup = 0; dup <= (qos > 0 ? 1 : 0); dup++) {
            for (int retain = 0; retain <= 1; retain++) {
                dps_mqtt_packet p = {.type = DPS_MQTT_PUBLISH};
                p.u.publish.topic = dps_mqtt_cstr("$iothub/twin/GET/?$rid=3");
                p.u.publish.qos = qos;
                p.u.publish.packet_id = qos > 0 ? 65535 : 0;
                p.u.publish.dup = dup != 0;
                p.u.publish.retain = retain != 0;
                round_trip(&p, &out, NULL, 0, &wire, &len);
                assert_int_equal(wire[0], 0x30 | dup << 3 | qos << 1 | retain);
                assert_str(out.u.publish.topic, "$iothub/twin/GET/?$rid=3");
                assert_int_equal(out.u.publish.qos, qos);
                assert_int_equal(out.u.publish.packet_id, qos > 0 ? 65535 : 0);
                assert_int_equal(out.u.publish.dup, dup != 0);
                assert_int_equal(out.u.publish.retain, retain != 0);
                assert_int_equal(out.u.publish.payload.len, 0);
                free(wire);
            }
        }
    }
}

/* A payload big enough to need a 3-byte remaining length. */
static void test_publish_large_payload(void **state)
{
    (void)state;
    size_t n = 20000;
    uint8_t *payload = malloc(n);
    assert_non_null(payload);
    for (size_t i = 0; i < n; i++)
        payload[i] = (uint8_t)(i * 7);
    dps_mqtt_packet in = {.type = DPS_MQTT_PUBLISH};
    in.u.publish.topic = dps_mqtt_cstr("devices/d/messages/events/");
    in.u.publish.payload = (dps_mqtt_bin){payload, n};
    dps_mqtt_packet out;
    uint8_t *wire;
    size_t len;
    round_trip(&in, &out, NULL, 0, &wire, &len);
    size_t rem = 2 + strlen("devices/d/messages/events/") + n;
    assert_int_equal(len, 1 + 3 + rem);
    assert_int_equal(out.u.publish.payload.len, n);
    assert_memory_equal(out.u.publish.payload.ptr, payload, n);
    free(wire);
    free(payload);
}

static void test_acks_round_trip(void **state)
{
    (void)state;
    const struct {
        dps_mqtt_type type;
        uint8_t first;
    } cases[] = {{DPS_MQTT_PUBACK, 0x40},  {DPS_MQTT_PUBREC, 0x50},  {DPS_MQTT_PUBREL, 0x62},
                 {DPS_MQTT_PUBCOMP, 0x70}, {DPS_MQTT_UNSUBACK, 0xb0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dps_mqtt_packet in = {.type = cases[i].type};
        in.u.packet_id = 0x1234;
        dps_mqtt_packet out;
        uint8_t *wire;
        size_t len;
        round_trip(&in, &out, NULL, 0, &wire, &len);
        const uint8_t want[] = {cases[i].first, 2, 0x12, 0x34};
        assert_int_equal(len, 4);
        assert_memory_equal(wire, want, 4);
        assert_int_equal(out.u.packet_id, 0x1234);
        free(wire);
    }
}

static void test_empty_packets_round_trip(void **state)
{
    (void)state;
    const struct {
        dps_mqtt_type type;
        uint8_t first;
    } cases[] = {{DPS_MQTT_PINGREQ, 0xc0}, {DPS_MQTT_PINGRESP, 0xd0}, {DPS_MQTT_DISCONNECT, 0xe0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dps_mqtt_packet in = {.type = cases[i].type};
        dps_mqtt_packet out;
        uint8_t *wire;
        size_t len;
        round_trip(&in, &out, NULL, 0, &wire, &len);
        assert_int_equal(len, 2);
        assert_int_equal(wire[0], cases[i].first);
        assert_int_equal(wire[1], 0);
        free(wire);
    }
}

static void test_subscribe_round_trip(void **state)
{
    (void)state;
    const dps_mqtt_sub subs[] = {
        {dps_mqtt_cstr("$iothub/twin/res/#"), 0},
        {dps_mqtt_cstr("devices/d1/messages/devicebound/#"), 1},
        {dps_mqtt_cstr("$iothub/methods/POST/+/x"), 2},
    };
    dps_mqtt_packet in = {.type = DPS_MQTT_SUBSCRIBE};
    in.u.subscribe = (dps_mqtt_subscribe){7, subs, 3};
    dps_mqtt_sub got[3];
    dps_mqtt_packet out;
    uint8_t *wire;
    size_t len;
    round_trip(&in, &out, got, 3, &wire, &len);
    assert_int_equal(wire[0], 0x82);
    assert_int_equal(out.u.subscribe.packet_id, 7);
    assert_int_equal(out.u.subscribe.count, 3);
    assert_ptr_equal(out.u.subscribe.subs, got);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(got[i].filter.len, subs[i].filter.len);
        assert_memory_equal(got[i].filter.ptr, subs[i].filter.ptr, subs[i].filter.len);
        assert_int_equal(got[i].qos, subs[i].qos);
    }

    /* The same packet with room for only two filters: TOO_MANY, out untouched. */
    dps_mqtt_packet untouched;
    memset(&untouched, 0x5a, sizeof untouched);
    dps_mqtt_packet before = untouched;
    assert_int_equal(dps_mqtt_decode(wire, len, got, 2, &untouched), DPS_MQTT_TOO_MANY);
    assert_memory_equal(&untouched, &before, sizeof before);
    assert_int_equal(dps_mqtt_decode(wire, len, NULL, 0, &untouched), DPS_MQTT_TOO_MANY);
    free(wire);
}

static void test_unsubscribe_round_trip(void **state)
{
    (void)state;
    const dps_mqtt_sub subs[] = {{dps_mqtt_cstr("$dps/registrations/res/#"), 0},
                                 {dps_mqtt_cstr("a/+/c"), 0}};
    dps_mqtt_packet in = {.type = DPS_MQTT_UNSUBSCRIBE};
    in.u.subscribe = (dps_mqtt_subscribe){65535, subs, 2};
    dps_mqtt_sub got[4];
    dps_mqtt_packet out;
    uint8_t *wire;
    size_t len;
    round_trip(&in, &out, got, 4, &wire, &len);
    assert_int_equal(wire[0], 0xa2);
    /* 2 (id) + 2+24 + 2+5: no QoS bytes in UNSUBSCRIBE. */
    assert_int_equal(wire[1], 35);
    assert_int_equal(out.u.subscribe.count, 2);
    assert_str(got[1].filter, "a/+/c");
    free(wire);
}

static void test_suback_round_trip(void **state)
{
    (void)state;
    static const uint8_t codes[] = {0, 1, 2, 0x80};
    dps_mqtt_packet in = {.type = DPS_MQTT_SUBACK};
    in.u.suback = (dps_mqtt_suback){9, {codes, 4}};
    dps_mqtt_packet out;
    uint8_t *wire;
    size_t len;
    round_trip(&in, &out, NULL, 0, &wire, &len);
    static const uint8_t want[] = {0x90, 6, 0, 9, 0, 1, 2, 0x80};
    assert_int_equal(len, sizeof want);
    assert_memory_equal(wire, want, len);
    assert_int_equal(out.u.suback.codes.len, 4);
    free(wire);
}

/* Structs the decoder would refuse are refused by the encoders too. */
static void test_encoders_refuse_invalid(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t n = 99;

    dps_mqtt_publish pub = {.topic = dps_mqtt_cstr("a/+"), .qos = 0};
    assert_int_equal(dps_mqtt_encode_publish(&pub, buf, sizeof buf, &n), DPS_MQTT_MALFORMED);
    assert_int_equal(n, 0);
    pub.topic = dps_mqtt_cstr("a/#");
    assert_int_equal(dps_mqtt_encode_publish(&pub, buf, sizeof buf, &n), DPS_MQTT_MALFORMED);
    pub.topic = dps_mqtt_cstr("");
    assert_int_equal(dps_mqtt_encode_publish(&pub, buf, sizeof buf, &n), DPS_MQTT_MALFORMED);
    pub.topic = dps_mqtt_cstr("a");
    pub.qos = 3;
    assert_int_equal(dps_mqtt_encode_publish(&pub, buf, sizeof buf, &n), DPS_MQTT_MALFORMED);
    pub.qos = 1; /* QoS 1 needs a packet id */
    assert_int_equal(dps_mqtt_encode_publish(&pub, buf, sizeof buf, &n), DPS_MQTT_MALFORMED);
    pub.qos = 0;
    pub.packet_id = 5; /* QoS 0 must not carry one */
    assert_int_equal(dps_mqtt_encode_publish(&pub, buf, sizeof buf, &n), DPS_MQTT_MALFORMED);
    pub.packet_id = 0;
    pub.dup = true;
    assert_int_equal(dps_mqtt_encode_publish(&pub, buf, sizeof buf, &n), DPS_MQTT_MALFORMED);
    pub.dup = false;
    pub.topic = (dps_mqtt_str){"a\xc0\x80", 3};
    assert_int_equal(dps_mqtt_encode_publish(&pub, buf, sizeof buf, &n), DPS_MQTT_MALFORMED);

    dps_mqtt_connect con = {.client_id = dps_mqtt_cstr("x"), .has_password = true};
    assert_int_equal(dps_mqtt_encode_connect(&con, buf, sizeof buf, &n), DPS_MQTT_MALFORMED);
    con.has_password = false;
    con.will_qos = 1; /* no will */
    assert_int_equal(dps_mqtt_encode_connect(&con, buf, sizeof buf, &n), DPS_MQTT_MALFORMED);
    con.will_qos = 0;
    con.has_will = true;
    con.will_topic = dps_mqtt_cstr("w/#");
    assert_int_equal(dps_mqtt_encode_connect(&con, buf, sizeof buf, &n), DPS_MQTT_MALFORMED);

    dps_mqtt_connack ack = {.session_present = true, .return_code = 5};
    assert_int_equal(dps_mqtt_encode_connack(&ack, buf, sizeof buf, &n), DPS_MQTT_MALFORMED);
    ack = (dps_mqtt_connack){false, 6};
    assert_int_equal(dps_mqtt_encode_connack(&ack, buf, sizeof buf, &n), DPS_MQTT_MALFORMED);

    assert_int_equal(dps_mqtt_encode_ack(DPS_MQTT_PUBACK, 0, buf, sizeof buf, &n),
                     DPS_MQTT_MALFORMED);
    assert_int_equal(dps_mqtt_encode_ack(DPS_MQTT_PUBLISH, 1, buf, sizeof buf, &n),
                     DPS_MQTT_MALFORMED);
    assert_int_equal(dps_mqtt_encode_empty(DPS_MQTT_CONNECT, buf, sizeof buf, &n),
                     DPS_MQTT_MALFORMED);

    dps_mqtt_sub bad[] = {{dps_mqtt_cstr("a/#/b"), 0}};
    dps_mqtt_subscribe sub = {1, bad, 1};
    assert_int_equal(dps_mqtt_encode_subscribe(&sub, buf, sizeof buf, &n), DPS_MQTT_MALFORMED);
    bad[0] = (dps_mqtt_sub){dps_mqtt_cstr("a/b"), 3};
    assert_int_equal(dps_mqtt_encode_subscribe(&sub, buf, sizeof buf, &n), DPS_MQTT_MALFORMED);
    bad[0].qos = 1;
    sub.count = 0;
    assert_int_equal(dps_mqtt_encode_subscribe(&sub, buf, sizeof buf, &n), DPS_MQTT_MALFORMED);
    sub.count = 1;
    sub.packet_id = 0;
    assert_int_equal(dps_mqtt_encode_unsubscribe(&sub, buf, sizeof buf, &n), DPS_MQTT_MALFORMED);

    static const uint8_t codes[] = {0, 3};
    dps_mqtt_suback sa = {1, {codes, 2}};
    assert_int_equal(dps_mqtt_encode_suback(&sa, buf, sizeof buf, &n), DPS_MQTT_MALFORMED);
    sa.codes.len = 0;
    assert_int_equal(dps_mqtt_encode_suback(&sa, buf, sizeof buf, &n), DPS_MQTT_MALFORMED);
}

static void test_encoders_refuse_oversize(void **state)
{
    (void)state;
    size_t big = DPS_MQTT_MAX_STRING + 1;
    char *s = malloc(big);
    assert_non_null(s);
    memset(s, 'a', big);
    size_t n = 99;

    dps_mqtt_publish pub = {.topic = {s, big}};
    assert_int_equal(dps_mqtt_encode_publish(&pub, NULL, 0, &n), DPS_MQTT_TOO_LARGE);
    assert_int_equal(n, 0);
    dps_mqtt_connect con = {.client_id = {s, big}};
    assert_int_equal(dps_mqtt_encode_connect(&con, NULL, 0, &n), DPS_MQTT_TOO_LARGE);
    con.client_id = dps_mqtt_cstr("c");
    con.has_username = true;
    con.username = (dps_mqtt_str){s, big};
    assert_int_equal(dps_mqtt_encode_connect(&con, NULL, 0, &n), DPS_MQTT_TOO_LARGE);
    dps_mqtt_sub f = {{s, big}, 0};
    dps_mqtt_subscribe sub = {1, &f, 1};
    assert_int_equal(dps_mqtt_encode_subscribe(&sub, NULL, 0, &n), DPS_MQTT_TOO_LARGE);

    /* A 65535-byte string is the largest allowed. */
    pub.topic.len = DPS_MQTT_MAX_STRING;
    assert_int_equal(dps_mqtt_encode_publish(&pub, NULL, 0, &n), DPS_MQTT_NO_SPACE);
    assert_int_equal(n, 1 + 3 + 2 + DPS_MQTT_MAX_STRING);

    /* A payload over the 268435455-byte protocol ceiling: refused from the
     * length alone, the payload pointer is never read. */
    pub.topic = dps_mqtt_cstr("t");
    pub.payload = (dps_mqtt_bin){(const uint8_t *)s, DPS_MQTT_MAX_REMAINING_LENGTH};
    assert_int_equal(dps_mqtt_encode_publish(&pub, NULL, 0, &n), DPS_MQTT_TOO_LARGE);
    pub.payload.len = DPS_MQTT_MAX_REMAINING_LENGTH - 3; /* 2 + 1 topic bytes */
    assert_int_equal(dps_mqtt_encode_publish(&pub, NULL, 0, &n), DPS_MQTT_NO_SPACE);
    assert_int_equal(n, 1 + 4 + (size_t)DPS_MQTT_MAX_REMAINING_LENGTH);
    free(s);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(dps_mqtt_result_name(DPS_MQTT_OK), "OK");
    assert_string_equal(dps_mqtt_result_name(DPS_MQTT_NEED_MORE), "NEED_MORE");
    assert_string_equal(dps_mqtt_result_name(DPS_MQTT_MALFORMED), "MALFORMED");
    assert_string_equal(dps_mqtt_result_name(DPS_MQTT_TOO_LARGE), "TOO_LARGE");
    assert_string_equal(dps_mqtt_result_name(DPS_MQTT_PROTOCOL), "PROTOCOL");
    assert_string_equal(dps_mqtt_result_name(DPS_MQTT_NO_SPACE), "NO_SPACE");
    assert_string_equal(dps_mqtt_result_name(DPS_MQTT_TOO_MANY), "TOO_MANY");
    assert_string_equal(dps_mqtt_result_name((dps_mqtt_result)7), "UNKNOWN");
    assert_string_equal(dps_mqtt_type_name(DPS_MQTT_CONNECT), "CONNECT");
    assert_string_equal(dps_mqtt_type_name(DPS_MQTT_DISCONNECT), "DISCONNECT");
    assert_string_equal(dps_mqtt_type_name(0), "RESERVED");
    assert_string_equal(dps_mqtt_type_name(15), "RESERVED");
    assert_string_equal(dps_mqtt_type_name(1000), "RESERVED");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_wire_bytes),
        cmocka_unit_test(test_connect_round_trip),
        cmocka_unit_test(test_connack_round_trip),
        cmocka_unit_test(test_publish_round_trip),
        cmocka_unit_test(test_publish_large_payload),
        cmocka_unit_test(test_acks_round_trip),
        cmocka_unit_test(test_empty_packets_round_trip),
        cmocka_unit_test(test_subscribe_round_trip),
        cmocka_unit_test(test_unsubscribe_round_trip),
        cmocka_unit_test(test_suback_round_trip),
        cmocka_unit_test(test_encoders_refuse_invalid),
        cmocka_unit_test(test_encoders_refuse_oversize),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
