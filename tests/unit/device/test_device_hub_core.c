/* The hub core: username, telemetry property bags, twin and method topics
 * with exact bytes and guard bytes; parsing of what the hub publishes
 * (hub.md §8.3-§8.4), and twin $version extraction. */
#include "device_test.h"

static dps_result build_user(void *ctx, char *out, size_t cap, size_t *n)
{
    return dps_hub_mqtt_username("hub1.example.net", "sensor-0001", "2021-04-12", ctx, out, cap,
                                 n);
}

static void test_username(void **state)
{
    (void)state;
    /* hub.md §8.4 */
    check_builder(build_user, "azure-iot-device/1.18.4 (node v20.20.2; Debian 12; x64)",
                  "hub1.example.net/sensor-0001/?api-version=2021-04-12&DeviceClientType="
                  "azure-iot-device%2F1.18.4%20%28node%20v20.20.2%3B%20Debian%2012%3B%20x64%29");
    check_builder(build_user, NULL, "hub1.example.net/sensor-0001/?api-version=2021-04-12");
    char out[256];
    size_t n = 0;
    assert_int_equal(dps_hub_mqtt_username("hub1.example.net", "a+b", NULL, NULL, out, sizeof out, &n),
                     DPS_E_INVALID);
    assert_int_equal(dps_hub_mqtt_username("hub_1", "a", NULL, NULL, out, sizeof out, &n),
                     DPS_E_INVALID);
}

static dps_result build_telemetry(void *ctx, char *out, size_t cap, size_t *n)
{
    return dps_hub_telemetry_topic("sensor-0001", ctx, out, cap, n);
}

static void test_telemetry_topic(void **state)
{
    (void)state;
    check_builder(build_telemetry, NULL, "devices/sensor-0001/messages/events/");
    dps_hub_property app[] = {{"alert", "no"}, {"flag", NULL}, {"empty", ""}, {"a b", "x&y=z"}};
    dps_hub_message_props props = {
        .message_id = "msg-1",
        .content_type = "application/json",
        .content_encoding = "utf-8",
        .properties = app,
        .property_count = 4,
    };
    /* the Node example of hub.md §8.3, plus null, empty and escaped items */
    check_builder(build_telemetry, &props,
                  "devices/sensor-0001/messages/events/%24.mid=msg-1&%24.ct=application%2Fjson"
                  "&%24.ce=utf-8&alert=no&flag&empty=&a%20b=x%26y%3Dz");
    dps_hub_message_props only_cid = {.correlation_id = "c1"};
    check_builder(build_telemetry, &only_cid, "devices/sensor-0001/messages/events/%24.cid=c1");

    char out[256];
    size_t n = 0;
    dps_hub_property noname[] = {{"", "v"}};
    dps_hub_message_props bad = {.properties = noname, .property_count = 1};
    assert_int_equal(dps_hub_telemetry_topic("sensor-0001", &bad, out, sizeof out, &n), DPS_E_INVALID);
    assert_int_equal(dps_hub_telemetry_topic("dev#1", NULL, out, sizeof out, &n), DPS_E_INVALID);
}

static dps_result build_get(void *ctx, char *out, size_t cap, size_t *n)
{
    return dps_hub_twin_get_topic(ctx, out, cap, n);
}

static dps_result build_patch(void *ctx, char *out, size_t cap, size_t *n)
{
    return dps_hub_twin_patch_topic(ctx, out, cap, n);
}

static dps_result build_method_res(void *ctx, char *out, size_t cap, size_t *n)
{
    return dps_hub_method_response_topic(404, ctx, out, cap, n);
}

static void test_twin_and_method_topics(void **state)
{
    (void)state;
    check_builder(build_get, "3f2e1d0c", "$iothub/twin/GET/?$rid=3f2e1d0c");
    check_builder(build_patch, "4a5b6c7d", "$iothub/twin/PATCH/properties/reported/?$rid=4a5b6c7d");
    check_builder(build_method_res, "1", "$iothub/methods/res/404/?$rid=1");
    /* an echoed $rid may hold characters we would never generate */
    check_builder(build_method_res, "a%2Fb$c", "$iothub/methods/res/404/?$rid=a%2Fb$c");
    char out[128];
    size_t n = 0;
    assert_int_equal(dps_hub_method_response_topic(200, "a&b", out, sizeof out, &n), DPS_E_INVALID);
    assert_int_equal(dps_hub_method_response_topic(200, "a+b", out, sizeof out, &n), DPS_E_INVALID);
    assert_int_equal(dps_hub_method_response_topic(-1, "1", out, sizeof out, &n), DPS_E_INVALID);
    assert_int_equal(dps_hub_twin_get_topic("a b", out, sizeof out, &n), DPS_E_INVALID);
}

static dps_result parse_topic(const char *t, dps_hub_topic *out)
{
    return dps_hub_parse_topic(t, strlen(t), out);
}

static void test_parse_topics(void **state)
{
    (void)state;
    dps_hub_topic t;
    assert_int_equal(parse_topic("$iothub/twin/res/200/?$rid=3f2e1d0c", &t), DPS_OK);
    assert_int_equal(t.kind, DPS_HUB_TOPIC_TWIN_RESPONSE);
    assert_int_equal(t.status, 200);
    assert_string_equal(t.rid, "3f2e1d0c");
    assert_false(t.has_version);

    assert_int_equal(parse_topic("$iothub/twin/res/204/?$rid=4a5b&$version=2", &t), DPS_OK);
    assert_int_equal(t.status, 204);
    assert_true(t.has_version);
    assert_int_equal(t.version, 2);
    assert_string_equal(t.rid, "4a5b");

    assert_int_equal(parse_topic("$iothub/twin/PATCH/properties/desired/?$version=7", &t), DPS_OK);
    assert_int_equal(t.kind, DPS_HUB_TOPIC_DESIRED);
    assert_true(t.has_version);
    assert_int_equal(t.version, 7);

    assert_int_equal(parse_topic("$iothub/methods/POST/echo/?$rid=1", &t), DPS_OK);
    assert_int_equal(t.kind, DPS_HUB_TOPIC_METHOD);
    assert_string_equal(t.method_name, "echo");
    assert_string_equal(t.rid, "1");
    /* the $rid is kept raw for the echo; the name is decoded */
    assert_int_equal(parse_topic("$iothub/methods/POST/set%20mode/?$rid=a%2Fb", &t), DPS_OK);
    assert_string_equal(t.method_name, "set mode");
    assert_string_equal(t.rid, "a%2Fb");

    assert_int_equal(parse_topic("devices/sensor-0001/messages/devicebound/%24.mid=1", &t), DPS_OK);
    assert_int_equal(t.kind, DPS_HUB_TOPIC_C2D);
    assert_int_equal(parse_topic("some/other/topic", &t), DPS_OK);
    assert_int_equal(t.kind, DPS_HUB_TOPIC_OTHER);

    const char *bad[] = {
        "$iothub/twin/res/200",
        "$iothub/twin/res/abc/?$rid=1",
        "$iothub/twin/res/200/?x=1",             /* no $rid */
        "$iothub/twin/res/200/?$rid=",
        "$iothub/twin/res/204/?$rid=1&$version=x",
        "$iothub/twin/PATCH/properties/desired/x",
        "$iothub/methods/POST//?$rid=1",
        "$iothub/methods/POST/echo",
        "$iothub/methods/POST/echo/?x=1",
        "$iothub/methods/POST/e%zz/?$rid=1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&t, 0x5A, sizeof t);
        if (parse_topic(bad[i], &t) != DPS_E_PROTOCOL)
            fail_msg("accepted %s", bad[i]);
        assert_int_equal(((unsigned char *)&t)[0], 0x5A);
    }
    char longrid[200] = "$iothub/twin/res/200/?$rid=";
    memset(longrid + strlen(longrid), 'r', 80);
    assert_int_equal(parse_topic(longrid, &t), DPS_E_TOO_LARGE);
}

static void test_twin_versions(void **state)
{
    (void)state;
    const char *twin = "{\"desired\":{\"sampleSeconds\":30,\"$version\":2},\"reported\":{\"$version\":1}}";
    int64_t d = 0, r = 0;
    assert_int_equal(dps_hub_twin_versions(twin, strlen(twin), &d, &r), DPS_OK);
    assert_int_equal(d, 2);
    assert_int_equal(r, 1);
    const char *patch = "{\"sampleSeconds\":10,\"$version\":3}";
    assert_int_equal(dps_hub_twin_versions(patch, strlen(patch), &d, NULL), DPS_OK);
    assert_int_equal(d, 3);
    assert_int_equal(dps_hub_twin_versions("{}", 2, &d, &r), DPS_OK);
    assert_int_equal(d, -1);
    assert_int_equal(r, -1);
    assert_int_equal(dps_hub_twin_versions("[]", 2, &d, &r), DPS_E_PROTOCOL);
    assert_int_equal(dps_hub_twin_versions(" ", 1, &d, &r), DPS_E_PROTOCOL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_username),
        cmocka_unit_test(test_telemetry_topic),
        cmocka_unit_test(test_twin_and_method_topics),
        cmocka_unit_test(test_parse_topics),
        cmocka_unit_test(test_twin_versions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
