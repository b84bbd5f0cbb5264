/* Custom allocation webhook bodies (engine/webhook.h, service-api.md §13)
 * and the webhook URL split (hubclient/webhook_client.h): what Azure sends,
 * how answers are read, and the failure codes. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "engine/registration.h"
#include "engine/webhook.h"
#include "hubclient/webhook_client.h"

static const char *const hubs[] = {"hub1.example.net", "hub2.example.net"};

static json_t *stored_group(void)
{
    /* etag: base64 of "\"0a00b1c2\"", as opendps stores ETags. */
    json_error_t jerr;
    json_t *g = json_loads(
        "{\"enrollmentGroupId\":\"floor-3\",\"attestation\":{\"type\":\"symmetricKey\","
        "\"symmetricKey\":{\"primaryKey\":\"c2VjcmV0\",\"secondaryKey\":\"c2VjcmV0\"}},"
        "\"allocationPolicy\":\"custom\",\"iotHubs\":[\"hub1.example.net\"],"
        "\"customAllocationDefinition\":{\"webhookUrl\":\"https://a.example.net/x?code=k\","
        "\"apiVersion\":\"2021-10-01\"},\"etag\":\"IjBhMDBiMWMyIg==\","
        "\"provisioningStatus\":\"enabled\"}",
        0, &jerr);
    assert_non_null(g);
    return g;
}

static void test_request_first_assignment(void **state)
{
    (void)state;
    json_t *g = stored_group();
    json_t *payload = json_pack("{s:s}", "fw", "2.4.1");
    dps_webhook_input in = {.enrollment = g,
                            .is_group = true,
                            .registration_id = "sensor-0001",
                            .attestation_type = "symmetricKey",
                            .payload = payload,
                            .linked_hubs = hubs,
                            .nlinked = 2};
    json_t *req = dps_webhook_request(&in);
    assert_non_null(req);
    const json_t *eg = json_object_get(req, "enrollmentGroup");
    assert_non_null(eg);
    assert_null(json_object_get(req, "individualEnrollment"));
    /* No secrets: the attestation is reduced to its type. */
    json_t *att = json_pack("{s:s}", "type", "symmetricKey");
    assert_true(json_equal(json_object_get(eg, "attestation"), att));
    json_decref(att);
    char *text = json_dumps(req, 0);
    assert_null(strstr(text, "c2VjcmV0"));
    free(text);
    /* The etag in its raw quoted form; everything else as stored. */
    assert_string_equal(json_string_value(json_object_get(eg, "etag")), "\"0a00b1c2\"");
    assert_string_equal(json_string_value(json_object_get(eg, "allocationPolicy")), "custom");
    const json_t *ctx = json_object_get(req, "deviceRuntimeContext");
    assert_string_equal(json_string_value(json_object_get(ctx, "registrationId")),
                        "sensor-0001");
    assert_true(json_is_object(json_object_get(ctx, "symmetricKey")));
    assert_int_equal(json_object_size(json_object_get(ctx, "symmetricKey")), 0);
    assert_true(json_equal(json_object_get(ctx, "payload"), payload));
    /* A first assignment: no current hub or device. */
    assert_null(json_object_get(ctx, "currentIotHubHostName"));
    assert_null(json_object_get(ctx, "currentDeviceId"));
    const json_t *lh = json_object_get(req, "linkedHubs");
    assert_int_equal(json_array_size(lh), 2);
    assert_string_equal(json_string_value(json_array_get(lh, 1)), "hub2.example.net");
    /* The stored enrollment is untouched. */
    assert_non_null(json_object_get(json_object_get(g, "attestation"), "symmetricKey"));
    json_decref(req);
    json_decref(payload);
    json_decref(g);
}

static void test_request_reregistration_individual(void **state)
{
    (void)state;
    json_error_t jerr;
    json_t *e = json_loads("{\"registrationId\":\"pump-17\",\"attestation\":{\"type\":\"x509\","
                           "\"x509\":{\"clientCertificates\":{}}},\"etag\":\"not-base64!\"}",
                           0, &jerr);
    json_t *x509 = json_pack("{s:{s:s}}", "certificateInfo", "subjectName", "CN=pump-17");
    dps_webhook_input in = {.enrollment = e,
                            .registration_id = "pump-17",
                            .current_hub = "hub2.example.net",
                            .current_device_id = "pump-17-dev",
                            .attestation_type = "x509",
                            .attestation_context = x509,
                            .linked_hubs = hubs + 1,
                            .nlinked = 1};
    json_t *req = dps_webhook_request(&in);
    const json_t *ie = json_object_get(req, "individualEnrollment");
    assert_non_null(ie);
    assert_string_equal(json_string_value(json_object_get(ie, "etag")), "not-base64!");
    assert_null(json_object_get(json_object_get(ie, "attestation"), "x509"));
    const json_t *ctx = json_object_get(req, "deviceRuntimeContext");
    assert_string_equal(json_string_value(json_object_get(ctx, "currentIotHubHostName")),
                        "hub2.example.net");
    assert_string_equal(json_string_value(json_object_get(ctx, "currentDeviceId")),
                        "pump-17-dev");
    assert_true(json_equal(json_object_get(ctx, "x509"), x509));
    assert_null(json_object_get(ctx, "payload")); /* only when the device sent one */
    json_decref(req);
    json_decref(x509);
    json_decref(e);
}

static void parse(int status, const char *body, dps_webhook_result *r)
{
    dps_webhook_parse(status, body, body ? strlen(body) : 0, "10.0.0.1:80 did not answer in time",
                      hubs, 2, r);
}

static void test_parse_success(void **state)
{
    (void)state;
    dps_webhook_result r;
    parse(200,
          "{\"iotHubHostName\":\"HUB2.example.net\",\"initialTwin\":{\"tags\":{\"floor\":3},"
          "\"properties\":{\"desired\":{\"s\":30}}},\"payload\":{\"region\":\"eu-west\"}}",
          &r);
    assert_true(r.ok);
    assert_int_equal(r.hub, 1); /* host names compare without regard to case */
    assert_non_null(r.initial_twin);
    assert_string_equal(json_string_value(json_object_get(r.payload, "region")), "eu-west");
    dps_webhook_result_free(&r);
    /* Minimal answer; 201 is a 2xx too; null members are absent. */
    parse(201, "{\"iotHubHostName\":\"hub1.example.net\",\"initialTwin\":null,\"payload\":null}",
          &r);
    assert_true(r.ok);
    assert_int_equal(r.hub, 0);
    assert_null(r.initial_twin);
    assert_null(r.payload);
    dps_webhook_result_free(&r);
    /* A payload may be any JSON value. */
    parse(200, "{\"iotHubHostName\":\"hub1.example.net\",\"payload\":\"text\"}", &r);
    assert_true(r.ok);
    assert_string_equal(json_string_value(r.payload), "text");
    dps_webhook_result_free(&r);
}

static void test_parse_failures(void **state)
{
    (void)state;
    static const struct {
        int status;
        const char *body;
        int code;
        const char *text;
    } cases[] = {
        {400, "{}", DPS_REG_FAIL_CUSTOM_BAD_REQUEST,
         "Custom allocation failed with status code: 400"},
        {401, NULL, DPS_REG_FAIL_CUSTOM, "Custom allocation failed with status code: 401"},
        {404, NULL, DPS_REG_FAIL_CUSTOM, "status code: 404"},
        {500, "{\"iotHubHostName\":\"hub1.example.net\"}", DPS_REG_FAIL_CUSTOM,
         "status code: 500"},
        {302, NULL, DPS_REG_FAIL_CUSTOM, "status code: 302"},
        {0, NULL, DPS_REG_FAIL_CUSTOM, "did not answer in time"},
        {200, NULL, DPS_REG_FAIL_CUSTOM, "not a JSON object"},
        {200, "[1]", DPS_REG_FAIL_CUSTOM, "not a JSON object"},
        {200, "{\"payload\":{}}", DPS_REG_FAIL_CUSTOM, "no iotHubHostName"},
        {200, "{\"iotHubHostName\":\"hub3.example.net\"}", DPS_REG_FAIL_CUSTOM,
         "not one of the linked hubs"},
        {200, "{\"iotHubHostName\":\"hub1.example.net\",\"initialTwin\":{\"tags\":[]}}",
         DPS_REG_FAIL_CUSTOM, "initialTwin"},
        {200, "{\"iotHubHostName\":\"hub1.example.net\",\"initialTwin\":{\"reported\":{}}}",
         DPS_REG_FAIL_CUSTOM, "initialTwin"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dps_webhook_result r;
        parse(cases[i].status, cases[i].body, &r);
        if (r.ok)
            fail_msg("case %zu accepted", i);
        assert_int_equal(r.error_code, cases[i].code);
        assert_int_equal(r.hub, -1);
        assert_null(r.initial_twin);
        assert_null(r.payload);
        if (strstr(r.message, cases[i].text) == NULL)
            fail_msg("case %zu: '%s' lacks '%s'", i, r.message, cases[i].text);
        dps_webhook_result_free(&r);
    }
}

static void test_url_parse(void **state)
{
    (void)state;
    char host[64], auth[80], pq[128];
    int tls, port;
    assert_int_equal(dps_webhook_url_parse("https://alloc.example.net/api/pick?code=a%2Bb==",
                                           &tls, host, sizeof host, &port, auth, sizeof auth,
                                           pq, sizeof pq),
                     0);
    assert_int_equal(tls, 1);
    assert_int_equal(port, 443);
    assert_string_equal(host, "alloc.example.net");
    assert_string_equal(auth, "alloc.example.net");
    assert_string_equal(pq, "/api/pick?code=a%2Bb=="); /* verbatim */
    assert_int_equal(dps_webhook_url_parse("HTTP://127.0.0.1:8080?x=1#frag", &tls, host,
                                           sizeof host, &port, auth, sizeof auth, pq, sizeof pq),
                     0);
    assert_int_equal(tls, 0);
    assert_int_equal(port, 8080);
    assert_string_equal(auth, "127.0.0.1:8080");
    assert_string_equal(pq, "/?x=1");
    assert_int_equal(dps_webhook_url_parse("http://[::1]:81", &tls, host, sizeof host, &port,
                                           auth, sizeof auth, pq, sizeof pq),
                     0);
    assert_string_equal(host, "::1");
    assert_string_equal(pq, "/");
    static const char *const bad[] = {"ftp://x/", "https://", "https://:80/", "http://a:0/",
                                      "http://a:99999/", "http://u@a/", "http://a/ b",
                                      "http://[::1/"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (dps_webhook_url_parse(bad[i], &tls, host, sizeof host, &port, auth, sizeof auth, pq,
                                  sizeof pq) == 0)
            fail_msg("accepted %s", bad[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_first_assignment),
        cmocka_unit_test(test_request_reregistration_individual),
        cmocka_unit_test(test_parse_success),
        cmocka_unit_test(test_parse_failures),
        cmocka_unit_test(test_url_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
