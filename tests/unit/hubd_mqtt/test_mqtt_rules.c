/* hubd's MQTT wire rules (src/hubd/mqtt/rules.c): CONNECT username parsing,
 * publish-topic routing, allowed subscription filters,
 * raw $rid lookup and the telemetry property-bag mapping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mqtt/rules.h"

static dps_mqtt_str S(const char *s)
{
    return dps_mqtt_cstr(s);
}

static void assert_view(dps_mqtt_str v, const char *want)
{
    if (!dps_mqtt_str_eq(v, want))
        fail_msg("got \"%.*s\", want \"%s\"", (int)v.len, v.ptr, want);
}

/* ---- username ------------------------------------------------------------ */

static void test_username_forms(void **state)
{
    (void)state;
    const struct {
        const char *in;
        const char *hub;
        const char *id;
    } ok[] = {
        /* C SDK */
        {"hub1.example.net/sensor-0001/?api-version=2020-09-30&DeviceClientType=iothubclient%2f1.11",
         "hub1.example.net", "sensor-0001"},
        /* Node, as observed (hub.md 8.4) */
        {"hub1.example.net/sensor-0001/?api-version=2021-04-12&DeviceClientType=azure-iot-device%2F1.18.4%20(node%20v20.20.2%3B%20Debian%2012%3B%20x64)",
         "hub1.example.net", "sensor-0001"},
        /* model-id and unknown items are ignored */
        {"h/d/?api-version=1&model-id=dtmi:x;1&whatever", "h", "d"},
        /* old docs: no query */
        {"hub1.example.net/sensor-0001", "hub1.example.net", "sensor-0001"},
        {"hub1.example.net/sensor-0001/", "hub1.example.net", "sensor-0001"},
        /* a module client ID keeps its slash */
        {"hub/dev/mod/?api-version=1", "hub", "dev/mod"},
        /* the cut is at the FIRST "/?" */
        {"hub/dev/?a=/?b", "hub", "dev"},
        /* '?' without a slash before it belongs to the ID */
        {"hub/de?v/?api-version=1", "hub", "de?v"},
        /* hub with a port, as some clients write the host */
        {"hub1.example.net:8883/dev/?api-version=1", "hub1.example.net:8883", "dev"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        hubd_mqtt_username u;
        if (hubd_mqtt_parse_username(S(ok[i].in), &u) != 0)
            fail_msg("case %zu refused", i);
        assert_view(u.hub, ok[i].hub);
        assert_view(u.device_id, ok[i].id);
    }
    const char *bad[] = {
        "",
        "nohubordevice",
        "hub-only/?api-version=1",   /* no device */
        "/dev/?api-version=1",       /* no hub */
        "hub//?api-version=1",       /* empty device */
        "/",
        "/?",
        "hub/",                      /* trailing slash only */
        "{scope}/registrations/x/api-version=2019-03-31" /* DPS form: device would be "registrations/x/api-version=..." */,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0] - 1; i++) {
        hubd_mqtt_username u;
        if (hubd_mqtt_parse_username(S(bad[i]), &u) == 0)
            fail_msg("bad case %zu accepted", i);
    }
    /* The DPS form parses, but its "device ID" can never equal a client ID
     * that is a registration ID: the caller's byte comparison refuses it. */
    hubd_mqtt_username u;
    assert_int_equal(hubd_mqtt_parse_username(S(bad[8]), &u), 0);
    assert_false(dps_mqtt_str_eq(u.device_id, "x"));
}

static void test_username_not_nul_terminated(void **state)
{
    (void)state;
    /* Views from a packet are not NUL-terminated: parse an exact-size copy. */
    const char *text = "hub/dev/?api-version=1";
    size_t n = strlen(text);
    char *copy = malloc(n);
    assert_non_null(copy);
    memcpy(copy, text, n);
    hubd_mqtt_username u;
    assert_int_equal(hubd_mqtt_parse_username((dps_mqtt_str){copy, n}, &u), 0);
    assert_view(u.device_id, "dev");
    /* The same bytes without the query and with the end right after '/'. */
    assert_int_equal(hubd_mqtt_parse_username((dps_mqtt_str){copy, 8}, &u), 0);
    assert_view(u.device_id, "dev");
    free(copy);
}

/* (The keep-alive rule moved to lib/mqttsrv: tests/unit/mqttsrv.) */

/* ---- publish routing ----------------------------------------------------- */

static void test_route_telemetry(void **state)
{
    (void)state;
    dps_mqtt_str id = S("sensor-0001");
    hubd_mqtt_route r;
    assert_int_equal(hubd_mqtt_route_publish(
                         S("devices/sensor-0001/messages/events/%24.mid=msg-1&alert=no"), id, &r),
                     HUBD_ROUTE_TELEMETRY);
    assert_view(r.bag, "%24.mid=msg-1&alert=no");
    assert_int_equal(hubd_mqtt_route_publish(S("devices/sensor-0001/messages/events/"), id, &r),
                     HUBD_ROUTE_TELEMETRY);
    assert_int_equal(r.bag.len, 0);
    assert_int_equal(hubd_mqtt_route_publish(S("devices/sensor-0001/messages/events"), id, &r),
                     HUBD_ROUTE_TELEMETRY);
    assert_int_equal(r.bag.len, 0);

    const char *refused[] = {
        "devices/sensor-0002/messages/events/",      /* another device */
        "devices/Sensor-0001/messages/events/",      /* IDs are case-sensitive */
        "devices/sensor-00011/messages/events/",     /* prefix of a longer ID */
        "devices/sensor-000/messages/events/",
        "devices/sensor-0001/messages/eventsX",
        "devices/sensor-0001/messages/devicebound/", /* not for publishing */
        "devices/sensor-0001",
        "devices/",
        "something/else",
        "$iothub/twin/res/200/?$rid=1",
        "$iothub/methods/POST/reboot/?$rid=1",
        "$dps/registrations/PUT/iotdps-register/?$rid=1",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        if (hubd_mqtt_route_publish(S(refused[i]), id, &r) != HUBD_ROUTE_REFUSED)
            fail_msg("case %zu (%s) not refused", i, refused[i]);
        assert_non_null(r.why);
    }
}

static void test_route_twin_and_methods(void **state)
{
    (void)state;
    dps_mqtt_str id = S("d");
    hubd_mqtt_route r;
    assert_int_equal(hubd_mqtt_route_publish(S("$iothub/twin/GET/?$rid=3f2e-1d0c"), id, &r),
                     HUBD_ROUTE_TWIN_GET);
    assert_view(r.rid, "3f2e-1d0c");
    /* Node adds $version to reported patches; order does not matter. */
    assert_int_equal(hubd_mqtt_route_publish(
                         S("$iothub/twin/PATCH/properties/reported/?$version=4&$rid=4a5b"), id,
                         &r),
                     HUBD_ROUTE_TWIN_PATCH);
    assert_view(r.rid, "4a5b");
    /* $rid is echoed raw, not decoded. */
    assert_int_equal(hubd_mqtt_route_publish(S("$iothub/twin/GET/?$rid=a%2Fb"), id, &r),
                     HUBD_ROUTE_TWIN_GET);
    assert_view(r.rid, "a%2Fb");
    assert_int_equal(hubd_mqtt_route_publish(S("$iothub/methods/res/200/?$rid=1f"), id, &r),
                     HUBD_ROUTE_METHOD_RESPONSE);
    assert_int_equal(r.status, 200);
    assert_view(r.rid, "1f");
    assert_int_equal(hubd_mqtt_route_publish(S("$iothub/methods/res/-3/?$rid=2"), id, &r),
                     HUBD_ROUTE_METHOD_RESPONSE);
    assert_int_equal(r.status, -3);

    char long_rid[64 + HUBD_MQTT_MAX_RID];
    snprintf(long_rid, sizeof long_rid, "$iothub/twin/GET/?$rid=%0*d", HUBD_MQTT_MAX_RID + 1, 7);
    const char *refused[] = {
        "$iothub/twin/GET/",                       /* no query */
        "$iothub/twin/GET/?",                      /* no $rid */
        "$iothub/twin/GET/?$rid=",                 /* empty $rid */
        "$iothub/twin/GET/?rid=1",
        "$iothub/twin/GETX/?$rid=1",
        "$iothub/twin/PATCH/properties/desired/?$rid=1", /* devices do not write desired */
        "$iothub/methods/res/abc/?$rid=1",         /* status not a number */
        "$iothub/methods/res/99999999999/?$rid=1", /* out of int range */
        "$iothub/methods/res//?$rid=1",
        "$iothub/methods/res/200",
        "$iothub/unknown",
        long_rid,
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        if (hubd_mqtt_route_publish(S(refused[i]), id, &r) != HUBD_ROUTE_REFUSED)
            fail_msg("case %zu (%s) not refused", i, refused[i]);
    }
}

static void test_query_raw(void **state)
{
    (void)state;
    dps_mqtt_str v;
    assert_true(hubd_mqtt_query_raw(S("$rid=1&$version=3"), "$version", &v));
    assert_view(v, "3");
    assert_true(hubd_mqtt_query_raw(S("x=1&&$rid=ab"), "$rid", &v));
    assert_view(v, "ab");
    assert_false(hubd_mqtt_query_raw(S("$ridx=1"), "$rid", &v));
    assert_false(hubd_mqtt_query_raw(S("$rid"), "$rid", &v)); /* no value at all */
    assert_false(hubd_mqtt_query_raw(S(""), "$rid", &v));
    assert_true(hubd_mqtt_query_raw(S("$rid="), "$rid", &v));
    assert_int_equal(v.len, 0);
}

/* ---- subscriptions ------------------------------------------------------- */

static void test_filters(void **state)
{
    (void)state;
    dps_mqtt_str id = S("dev-1");
    assert_int_equal(hubd_mqtt_filter_kind(S("devices/dev-1/messages/devicebound/#"), id),
                     HUBD_SUB_C2D);
    assert_int_equal(hubd_mqtt_filter_kind(S("$iothub/twin/res/#"), id), HUBD_SUB_TWIN_RES);
    assert_int_equal(hubd_mqtt_filter_kind(S("$iothub/twin/PATCH/properties/desired/#"), id),
                     HUBD_SUB_DESIRED);
    assert_int_equal(hubd_mqtt_filter_kind(S("$iothub/methods/POST/#"), id), HUBD_SUB_METHODS);
    const char *refused[] = {
        "#",
        "+/#",
        "$iothub/#",
        "devices/#",
        "devices/+/messages/devicebound/#",
        "devices/dev-2/messages/devicebound/#",
        "devices/DEV-1/messages/devicebound/#",
        "devices/dev-1/messages/events/#",
        "devices/dev-1/messages/devicebound/",
        "$iothub/twin/res/200",
        "$iothub/twin/res/+",
        "$iothub/methods/POST/+",
        "$iothub/twin/PATCH/properties/reported/#",
        "$dps/registrations/res/#",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        if (hubd_mqtt_filter_kind(S(refused[i]), id) != -1)
            fail_msg("filter %zu (%s) allowed", i, refused[i]);
    }
    assert_int_equal(hubd_mqtt_granted_qos(0), 0);
    assert_int_equal(hubd_mqtt_granted_qos(1), 1);
    assert_int_equal(hubd_mqtt_granted_qos(2), 1); /* never QoS 2 */
}

/* ---- telemetry properties ------------------------------------------------ */

static void parse_bag(const char *bag, dps_mqtt_prop *props, size_t max, char *scratch,
                      size_t *n)
{
    dps_mqtt_result rc =
        dps_mqtt_props_parse(bag, strlen(bag), props, max, scratch, strlen(bag) + 1, n);
    assert_int_equal(rc, DPS_MQTT_OK);
}

static void test_telemetry_props(void **state)
{
    (void)state;
    /* Node's shape (hub.md 8.3) plus every system property and the
     * null / empty distinctions. */
    const char *bag = "%24.mid=msg-1&%24.ct=application%2Fjson&%24.ce=utf-8&alert=no"
                      "&%24.cid=c-9&%24.uid=user&%24.ctime=2026-03-02T08%3A15%3A30Z"
                      "&%24.on=out1&%24.unknown=x&flag&empty=&sp=a%20b";
    char scratch[512];
    dps_mqtt_prop props[32];
    size_t n = 0;
    parse_bag(bag, props, 32, scratch, &n);
    json_t *sys = json_object();
    json_t *app = json_object();
    assert_int_equal(hubd_mqtt_telemetry_props(props, n, false, sys, app), 0);

    json_t *want_sys = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "messageId", "msg-1",
                                 "contentType", "application/json", "contentEncoding", "utf-8",
                                 "correlationId", "c-9", "userId", "user", "creationTimeUtc",
                                 "2026-03-02T08:15:30Z");
    json_t *want_app = json_pack("{s:s, s:n, s:s, s:s}", "alert", "no", "flag", "empty", "",
                                 "sp", "a b");
    assert_true(json_equal(sys, want_sys));
    assert_true(json_equal(app, want_app));
    json_decref(want_sys);
    json_decref(want_app);
    json_decref(sys);
    json_decref(app);
}

static void test_telemetry_props_retain_and_dupes(void **state)
{
    (void)state;
    char scratch[64];
    dps_mqtt_prop props[8];
    size_t n = 0;
    parse_bag("k=1&k=2&%24.mid=a&%24.mid=b", props, 8, scratch, &n);
    json_t *sys = json_object();
    json_t *app = json_object();
    assert_int_equal(hubd_mqtt_telemetry_props(props, n, true, sys, app), 0);
    assert_string_equal(json_string_value(json_object_get(app, "k")), "2"); /* later wins */
    assert_string_equal(json_string_value(json_object_get(sys, "messageId")), "b");
    assert_string_equal(json_string_value(json_object_get(app, "mqtt-retain")), "true");
    json_decref(sys);
    json_decref(app);

    /* No properties at all: both objects stay empty. */
    sys = json_object();
    app = json_object();
    assert_int_equal(hubd_mqtt_telemetry_props(NULL, 0, false, sys, app), 0);
    assert_int_equal(json_object_size(sys), 0);
    assert_int_equal(json_object_size(app), 0);
    json_decref(sys);
    json_decref(app);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_username_forms),
        cmocka_unit_test(test_username_not_nul_terminated),
        cmocka_unit_test(test_route_telemetry),
        cmocka_unit_test(test_route_twin_and_methods),
        cmocka_unit_test(test_query_raw),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_telemetry_props),
        cmocka_unit_test(test_telemetry_props_retain_and_dupes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
