/* DPS over MQTT wire rules (src/dpsd/mqtt/device_rules.c): the CONNECT
 * username of device-api.md §6.1 as each SDK sends it, request-topic
 * routing with raw $rid, the one allowed filter, response topics and the
 * error payload. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "mqtt/device_rules.h"

static dps_mqtt_str S(const char *s)
{
    return dps_mqtt_cstr(s);
}

static void assert_view(dps_mqtt_str v, const char *want)
{
    if (!dps_mqtt_str_eq(v, want))
        fail_msg("\"%.*s\", want \"%s\"", (int)v.len, v.ptr, want);
}

/* ---- username ---------------------------------------------------------------- */

static void test_username_sdk_forms(void **state)
{
    (void)state;
    dpsd_mqtt_username u;
    const char *why = NULL;
    /* Node: ClientVersion percent-encoded. */
    assert_int_equal(dpsd_mqtt_parse_username(
                         S("0ne000AB12C/registrations/sensor-0001/api-version=2019-03-31"
                           "&ClientVersion=azure-iot-provisioning-device%2F1.9.1"),
                         &u, &why),
                     0);
    assert_string_equal(u.id_scope, "0ne000AB12C");
    assert_string_equal(u.registration_id, "sensor-0001");
    assert_true(u.has_api_version);
    assert_string_equal(u.api_version, "2019-03-31");
    assert_string_equal(u.client_version, "azure-iot-provisioning-device/1.9.1");
    /* C SDK: a bare version. */
    assert_int_equal(dpsd_mqtt_parse_username(
                         S("0ne000AB12C/registrations/dev/api-version=2021-06-01&ClientVersion=1.15.0"),
                         &u, &why),
                     0);
    assert_string_equal(u.api_version, "2021-06-01");
    assert_string_equal(u.client_version, "1.15.0");
    /* azure-sdk-for-c: no ClientVersion. */
    assert_int_equal(
        dpsd_mqtt_parse_username(S("0ne000AB12C/registrations/dev/api-version=2019-03-31"), &u,
                                 &why),
        0);
    assert_string_equal(u.client_version, "");
    /* Percent-encoded scope and registration ID are decoded; '+' stays. */
    assert_int_equal(dpsd_mqtt_parse_username(
                         S("0ne000AB12C/registrations/my%3Adevice+1/api-version=2019-03-31"), &u,
                         &why),
                     0);
    assert_string_equal(u.registration_id, "my:device+1");
    /* Keys in any case, items in any order, unknown items ignored. */
    assert_int_equal(dpsd_mqtt_parse_username(
                         S("0ne000AB12C/registrations/dev/ClientVersion=x&foo&API-VERSION=2021-06-01"),
                         &u, &why),
                     0);
    assert_string_equal(u.api_version, "2021-06-01");
    /* No list at all, or an empty one: accepted; the engine refuses the
     * missing api-version on each request. */
    assert_int_equal(dpsd_mqtt_parse_username(S("0ne000AB12C/registrations/dev"), &u, &why), 0);
    assert_false(u.has_api_version);
    assert_int_equal(dpsd_mqtt_parse_username(S("0ne000AB12C/registrations/dev/"), &u, &why), 0);
    assert_false(u.has_api_version);
    assert_string_equal(u.registration_id, "dev");
}

static void test_username_refusals(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "0ne000AB12C",
        "/registrations/dev/api-version=2019-03-31",       /* no scope */
        "0ne000AB12C/registrations//api-version=2019-03-31", /* no registration ID */
        "0ne000AB12C/registrations/",
        "0ne000AB12C/devices/dev/api-version=2019-03-31",  /* not "registrations" */
        "hub1.example.net/dev/?api-version=2021-04-12",    /* a hub username */
        "0ne000AB12C/registrations/de%zzv/api-version=2019-03-31", /* bad escape */
        "0ne000AB12C/registrations/de%00v/api-version=2019-03-31", /* %00 */
        "0ne%00/registrations/dev/api-version=2019-03-31",
        "0ne000AB12C/registrations/dev/api-version=%4",   /* bad escape in a value */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dpsd_mqtt_username u;
        const char *why = NULL;
        if (dpsd_mqtt_parse_username(S(bad[i]), &u, &why) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_non_null(why);
    }
    /* Over the caps. */
    char big[600];
    memset(big, 'a', sizeof big);
    memcpy(big, "0ne000AB12C/registrations/", 26);
    dpsd_mqtt_username u;
    assert_int_equal(dpsd_mqtt_parse_username((dps_mqtt_str){big, sizeof big}, &u, NULL), -1);
    char scope[100];
    memset(scope, 'b', sizeof scope);
    memcpy(scope + 70, "/registrations/d", 16);
    assert_int_equal(dpsd_mqtt_parse_username((dps_mqtt_str){scope, 86}, &u, NULL), -1);
    /* A view is not read past its length. */
    const char *s = "0ne000AB12C/registrations/devXYZ";
    assert_int_equal(dpsd_mqtt_parse_username((dps_mqtt_str){s, 29}, &u, NULL), 0);
    assert_string_equal(u.registration_id, "dev");
}

/* ---- topics -------------------------------------------------------------------- */

static void test_route_register(void **state)
{
    (void)state;
    dpsd_mqtt_route r;
    assert_int_equal(dpsd_mqtt_route_publish(
                         S("$dps/registrations/PUT/iotdps-register/?$rid=6c1f0a3e-2b4d"), &r),
                     DPSD_MQTT_ROUTE_REGISTER);
    assert_view(r.rid, "6c1f0a3e-2b4d");
    /* The raw value, escapes and all, for a byte-for-byte echo. */
    assert_int_equal(
        dpsd_mqtt_route_publish(S("$dps/registrations/PUT/iotdps-register/?x=1&$rid=a%2Db&y"), &r),
        DPSD_MQTT_ROUTE_REGISTER);
    assert_view(r.rid, "a%2Db");
}

static void test_route_status(void **state)
{
    (void)state;
    dpsd_mqtt_route r;
    assert_int_equal(dpsd_mqtt_route_publish(
                         S("$dps/registrations/GET/iotdps-get-operationstatus/"
                           "?$rid=7&operationId=4.9f3c1d2e4b5a6078.5b8e2f1a"),
                         &r),
                     DPSD_MQTT_ROUTE_STATUS);
    assert_view(r.rid, "7");
    assert_true(r.has_operation_id);
    assert_view(r.operation_id, "4.9f3c1d2e4b5a6078.5b8e2f1a");
    /* Order does not matter; a missing operationId is the endpoint's to
     * answer with 400. */
    assert_int_equal(dpsd_mqtt_route_publish(
                         S("$dps/registrations/GET/iotdps-get-operationstatus/?operationId=x&$rid=1"),
                         &r),
                     DPSD_MQTT_ROUTE_STATUS);
    assert_view(r.rid, "1");
    assert_int_equal(
        dpsd_mqtt_route_publish(S("$dps/registrations/GET/iotdps-get-operationstatus/?$rid=1"), &r),
        DPSD_MQTT_ROUTE_STATUS);
    assert_false(r.has_operation_id);
}

static void test_route_refusals(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "$dps/registrations/PUT/iotdps-register/",            /* no query */
        "$dps/registrations/PUT/iotdps-register/?$rid=",      /* empty $rid */
        "$dps/registrations/PUT/iotdps-register/?rid=1",      /* no $rid */
        "$dps/registrations/PUT/iotdps-register?$rid=1",      /* no "/" before "?" */
        "$dps/registrations/PUT/iotdps-register/x?$rid=1",
        "$dps/registrations/POST/iotdps-register/?$rid=1",
        "$dps/registrations/res/202/?$rid=1",                 /* the server's topic */
        "$dps/registrations/GET/iotdps-get-operationstatus?$rid=1&operationId=x",
        "$iothub/twin/GET/?$rid=1",
        "devices/dev/messages/events/",
        "telemetry",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dpsd_mqtt_route r;
        if (dpsd_mqtt_route_publish(S(bad[i]), &r) != DPSD_MQTT_ROUTE_REFUSED)
            fail_msg("routed \"%s\"", bad[i]);
        assert_non_null(r.why);
    }
    /* $rid over its cap. */
    char topic[300];
    int n = snprintf(topic, sizeof topic, "$dps/registrations/PUT/iotdps-register/?$rid=");
    memset(topic + n, '1', DPSD_MQTT_MAX_RID + 1);
    dpsd_mqtt_route r;
    assert_int_equal(
        dpsd_mqtt_route_publish((dps_mqtt_str){topic, (size_t)n + DPSD_MQTT_MAX_RID + 1}, &r),
        DPSD_MQTT_ROUTE_REFUSED);
    assert_int_equal(
        dpsd_mqtt_route_publish((dps_mqtt_str){topic, (size_t)n + DPSD_MQTT_MAX_RID}, &r),
        DPSD_MQTT_ROUTE_REGISTER);
}

/* ---- subscriptions and responses ------------------------------------------- */

static void test_filters(void **state)
{
    (void)state;
    assert_true(dpsd_mqtt_filter_allowed(S("$dps/registrations/res/#")));
    assert_false(dpsd_mqtt_filter_allowed(S("$dps/registrations/res/+")));
    assert_false(dpsd_mqtt_filter_allowed(S("$dps/#")));
    assert_false(dpsd_mqtt_filter_allowed(S("#")));
    assert_false(dpsd_mqtt_filter_allowed(S("$iothub/twin/res/#")));
    assert_int_equal(dpsd_mqtt_granted_qos(0), 0);
    assert_int_equal(dpsd_mqtt_granted_qos(1), 1);
    assert_int_equal(dpsd_mqtt_granted_qos(2), 1); /* never more than 1 (§6.2) */
}

static void test_response_topic(void **state)
{
    (void)state;
    char t[DPSD_MQTT_MAX_RESPONSE_TOPIC];
    int n = dpsd_mqtt_response_topic(202, S("6c1f-%2D"), 2, t, sizeof t);
    assert_string_equal(t, "$dps/registrations/res/202/?$rid=6c1f-%2D&retry-after=2");
    assert_int_equal(n, (int)strlen(t));
    n = dpsd_mqtt_response_topic(200, S("1"), 0, t, sizeof t);
    assert_string_equal(t, "$dps/registrations/res/200/?$rid=1");
    /* The longest $rid fits the named size. */
    char rid[DPSD_MQTT_MAX_RID];
    memset(rid, 'r', sizeof rid);
    assert_true(dpsd_mqtt_response_topic(429, (dps_mqtt_str){rid, sizeof rid}, 300, t,
                                         sizeof t) > 0);
    assert_int_equal(dpsd_mqtt_response_topic(200, S("1"), 0, t, 20), -1); /* too small */
    assert_int_equal(dpsd_mqtt_response_topic(99, S("1"), 0, t, sizeof t), -1);
    assert_int_equal(dpsd_mqtt_response_topic(1000, S("1"), 0, t, sizeof t), -1);
}

static void test_error_payload(void **state)
{
    (void)state;
    /* 2026-01-01T00:00:00Z */
    char *text = dpsd_mqtt_error_payload(401002, "bad \"sas\"", 1767225600LL * 1000000000LL);
    assert_non_null(text);
    json_error_t e;
    json_t *doc = json_loads(text, 0, &e);
    assert_non_null(doc);
    assert_int_equal(json_integer_value(json_object_get(doc, "errorCode")), 401002);
    assert_string_equal(json_string_value(json_object_get(doc, "message")), "bad \"sas\"");
    assert_string_equal(json_string_value(json_object_get(doc, "timestampUtc")),
                        "2026-01-01T00:00:00.0000000Z");
    assert_int_equal(strlen(json_string_value(json_object_get(doc, "trackingId"))), 36);
    /* errorCode comes first, as Azure writes it. */
    assert_int_equal(strncmp(text, "{\"errorCode\":401002,", 20), 0);
    json_decref(doc);
    free(text);
}

static void test_tpm_payload(void **state)
{
    (void)state;
    static const char tpm[] = "{\"registrationId\":\"d\",\"tpm\":{\"endorsementKey\":\"AA==\"}}";
    static const char plain[] = "{\"registrationId\":\"d\",\"payload\":{\"tpm\":1}}";
    static const char broken[] = "{\"tpm\":";
    assert_true(dpsd_mqtt_payload_has_tpm(tpm, strlen(tpm)));
    assert_false(dpsd_mqtt_payload_has_tpm(plain, strlen(plain))); /* nested: not attestation */
    assert_false(dpsd_mqtt_payload_has_tpm(broken, strlen(broken)));
    assert_false(dpsd_mqtt_payload_has_tpm("", 0));
    assert_false(dpsd_mqtt_payload_has_tpm(" ", 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_username_sdk_forms),
        cmocka_unit_test(test_username_refusals),
        cmocka_unit_test(test_route_register),
        cmocka_unit_test(test_route_status),
        cmocka_unit_test(test_route_refusals),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_response_topic),
        cmocka_unit_test(test_error_payload),
        cmocka_unit_test(test_tpm_payload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
