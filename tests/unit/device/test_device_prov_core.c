/* The provisioning core: request, username, topic and body builders with
 * exact expected bytes and guard bytes; response parsing of every shape in
 * device-api.md §5.4-§5.8 and §6.4-§6.5 (assigning, assigned, failed,
 * disabled, error bodies, status lookup), retry-after, response topics. */
#include "device_test.h"

#define SAS "SharedAccessSignature sr=0ne000AB12C%2fregistrations%2fsensor-0001&sig=DXg0SkbXhXQjBAbNUnrLwUKZd7v%2Fg9fTYNSKb1RSYqA%3D&se=1767225600&skn=registration"
#define OPID "4.9f3c1d2e4b5a6078.5b8e2f1a-3c4d-4e5f-8a9b-0c1d2e3f4a5b"

/* ---- builders ------------------------------------------------------------------ */

static dps_result build_body(void *ctx, char *out, size_t cap, size_t *n)
{
    return dps_prov_register_body("sensor-0001", ctx, out, cap, n);
}

static void test_register_body(void **state)
{
    (void)state;
    check_builder(build_body, NULL, "{\"registrationId\":\"sensor-0001\"}");
    check_builder(build_body, "", "{\"registrationId\":\"sensor-0001\"}");
    check_builder(build_body, "{\"fw\":\"2.4.1\"}",
                  "{\"registrationId\":\"sensor-0001\",\"payload\":{\"fw\":\"2.4.1\"}}");
    char out[64];
    size_t n = 0;
    assert_int_equal(dps_prov_register_body("bad\"id", NULL, out, sizeof out, &n), DPS_E_INVALID);
    assert_int_equal(dps_prov_register_body("", NULL, out, sizeof out, &n), DPS_E_INVALID);
}

static dps_prov_http_params params(void)
{
    dps_prov_http_params p = {
        .host = "localhost:8443",
        .id_scope = "0ne000AB12C",
        .registration_id = "sensor-0001",
        .api_version = "2021-06-01",
        .user_agent = "libdpsdevice/0.1.0",
        .authorization = SAS,
    };
    return p;
}

static dps_result build_put(void *ctx, char *out, size_t cap, size_t *n)
{
    dps_prov_http_params p = params();
    if (ctx != NULL)
        p.authorization = NULL;
    return dps_prov_http_register_request(&p, "{\"registrationId\":\"sensor-0001\",\"payload\":{\"fw\":\"2.4.1\"}}",
                                          out, cap, n);
}

static void test_http_register_request(void **state)
{
    (void)state;
    check_builder(build_put, NULL,
                  "PUT /0ne000AB12C/registrations/sensor-0001/register?api-version=2021-06-01 HTTP/1.1\r\n"
                  "Host: localhost:8443\r\n"
                  "Accept: application/json\r\n"
                  "Content-Type: application/json; charset=utf-8\r\n"
                  "User-Agent: libdpsdevice/0.1.0\r\n"
                  "Authorization: " SAS "\r\n"
                  "Content-Length: 57\r\n"
                  "\r\n"
                  "{\"registrationId\":\"sensor-0001\",\"payload\":{\"fw\":\"2.4.1\"}}");
    /* X.509: no Authorization header */
    check_builder(build_put, "x509",
                  "PUT /0ne000AB12C/registrations/sensor-0001/register?api-version=2021-06-01 HTTP/1.1\r\n"
                  "Host: localhost:8443\r\n"
                  "Accept: application/json\r\n"
                  "Content-Type: application/json; charset=utf-8\r\n"
                  "User-Agent: libdpsdevice/0.1.0\r\n"
                  "Content-Length: 57\r\n"
                  "\r\n"
                  "{\"registrationId\":\"sensor-0001\",\"payload\":{\"fw\":\"2.4.1\"}}");
}

static dps_result build_get(void *ctx, char *out, size_t cap, size_t *n)
{
    dps_prov_http_params p = params();
    p.registration_id = ctx;
    p.user_agent = NULL;
    p.api_version = NULL; /* default */
    return dps_prov_http_operation_request(&p, OPID, out, cap, n);
}

static void test_http_operation_request(void **state)
{
    (void)state;
    check_builder(build_get, "sensor-0001",
                  "GET /0ne000AB12C/registrations/sensor-0001/operations/" OPID
                  "?api-version=2021-06-01 HTTP/1.1\r\n"
                  "Host: localhost:8443\r\n"
                  "Accept: application/json\r\n"
                  "Authorization: " SAS "\r\n"
                  "\r\n");
    /* ':' in a registration ID is percent-encoded in the path */
    check_builder(build_get, "dev:1",
                  "GET /0ne000AB12C/registrations/dev%3A1/operations/" OPID
                  "?api-version=2021-06-01 HTTP/1.1\r\n"
                  "Host: localhost:8443\r\n"
                  "Accept: application/json\r\n"
                  "Authorization: " SAS "\r\n"
                  "\r\n");
}

static void test_http_request_invalid(void **state)
{
    (void)state;
    char out[1024];
    size_t n = 0;
    dps_prov_http_params p = params();
    assert_int_equal(dps_prov_http_operation_request(&p, "op/../x", out, sizeof out, &n),
                     DPS_E_INVALID);
    assert_int_equal(dps_prov_http_operation_request(&p, "", out, sizeof out, &n), DPS_E_INVALID);
    p.authorization = "SharedAccessSignature a\r\nX-Injected: 1";
    assert_int_equal(dps_prov_http_register_request(&p, "{}", out, sizeof out, &n), DPS_E_INVALID);
    p = params();
    p.host = "";
    assert_int_equal(dps_prov_http_register_request(&p, "{}", out, sizeof out, &n), DPS_E_INVALID);
    p = params();
    p.id_scope = "0ne/../x";
    assert_int_equal(dps_prov_http_register_request(&p, "{}", out, sizeof out, &n), DPS_E_INVALID);
    p = params();
    p.api_version = "2021-06-01&x=1";
    assert_int_equal(dps_prov_http_register_request(&p, "{}", out, sizeof out, &n), DPS_E_INVALID);
}

static dps_result build_username(void *ctx, char *out, size_t cap, size_t *n)
{
    return dps_prov_mqtt_username("0ne000AB12C", "sensor-0001", "2019-03-31", ctx, out, cap, n);
}

static void test_mqtt_username(void **state)
{
    (void)state;
    /* device-api.md §6.5 */
    check_builder(build_username, "azure-iot-provisioning-device/1.9.1",
                  "0ne000AB12C/registrations/sensor-0001/api-version=2019-03-31"
                  "&ClientVersion=azure-iot-provisioning-device%2F1.9.1");
    check_builder(build_username, NULL,
                  "0ne000AB12C/registrations/sensor-0001/api-version=2019-03-31");
}

static dps_result build_reg_topic(void *ctx, char *out, size_t cap, size_t *n)
{
    return dps_prov_mqtt_register_topic(ctx, out, cap, n);
}

static dps_result build_status_topic(void *ctx, char *out, size_t cap, size_t *n)
{
    return dps_prov_mqtt_status_topic(ctx, OPID, out, cap, n);
}

static void test_mqtt_topics(void **state)
{
    (void)state;
    check_builder(build_reg_topic, "6c1f0a3e-2b4d-4c8e-9f70-1a2b3c4d5e6f",
                  "$dps/registrations/PUT/iotdps-register/?$rid=6c1f0a3e-2b4d-4c8e-9f70-1a2b3c4d5e6f");
    check_builder(build_status_topic, "2",
                  "$dps/registrations/GET/iotdps-get-operationstatus/?$rid=2&operationId=" OPID);
    char out[256];
    size_t n = 0;
    assert_int_equal(dps_prov_mqtt_register_topic("a&b", out, sizeof out, &n), DPS_E_INVALID);
    assert_int_equal(dps_prov_mqtt_register_topic("", out, sizeof out, &n), DPS_E_INVALID);
    assert_int_equal(dps_prov_mqtt_status_topic("1", "op#1", out, sizeof out, &n), DPS_E_INVALID);
}

static dps_result build_sr(void *ctx, char *out, size_t cap, size_t *n)
{
    (void)ctx;
    return dps_prov_sas_resource("0ne000AB12C", "sensor-0001", out, cap, n);
}

static void test_sas_resource(void **state)
{
    (void)state;
    check_builder(build_sr, NULL, "0ne000AB12C/registrations/sensor-0001");
}

static void test_ids(void **state)
{
    (void)state;
    char id128[129], id129[130];
    memset(id128, 'a', 128);
    id128[128] = '\0';
    memset(id129, 'a', 129);
    id129[129] = '\0';
    assert_true(dps_registration_id_valid("sensor-0001"));
    assert_true(dps_registration_id_valid("A.b_c:d-1"));
    assert_true(dps_registration_id_valid(id128));
    assert_false(dps_registration_id_valid(id129));
    assert_false(dps_registration_id_valid(""));
    assert_false(dps_registration_id_valid("a b"));
    assert_false(dps_registration_id_valid("a/b"));
    assert_true(dps_operation_id_valid(OPID));
    assert_false(dps_operation_id_valid("a_b"));
    assert_true(dps_id_scope_valid("0ne000AB12C"));
    assert_false(dps_id_scope_valid("0ne/x"));
}

/* ---- parsing ------------------------------------------------------------------- */

static dps_prov_response *resp_new(void)
{
    dps_prov_response *r = malloc(sizeof *r);
    assert_non_null(r);
    memset(r, 0x5A, sizeof *r);
    return r;
}

static void assert_untouched(const dps_prov_response *r)
{
    const unsigned char *p = (const unsigned char *)r;
    for (size_t i = 0; i < sizeof *r; i++) {
        if (p[i] != 0x5A)
            fail_msg("byte %zu of the response changed on failure", i);
    }
}

static dps_result parse(int code, const char *ra, const char *body, dps_prov_response *r)
{
    return dps_prov_parse_http_response(code, ra, body, strlen(body), r);
}

static void test_parse_assigning(void **state)
{
    (void)state;
    dps_prov_response *r = resp_new();
    /* the first 202 of §5.8 */
    assert_int_equal(parse(202, "2", "{\"operationId\":\"" OPID "\",\"status\":\"assigning\"}", r),
                     DPS_OK);
    assert_int_equal(r->status_code, 202);
    assert_int_equal(r->retry_after_s, 2);
    assert_int_equal(r->kind, DPS_PROV_BODY_OPERATION);
    assert_int_equal(r->status, DPS_PROV_STATUS_ASSIGNING);
    assert_string_equal(r->operation_id, OPID);
    assert_false(r->has_registration_state);
    /* a poll with registrationState */
    assert_int_equal(parse(202, NULL,
                           "{\"operationId\":\"" OPID "\",\"status\":\"assigning\","
                           "\"registrationState\":{\"registrationId\":\"sensor-0001\","
                           "\"status\":\"assigning\"}}",
                           r),
                     DPS_OK);
    assert_int_equal(r->retry_after_s, 0);
    assert_true(r->has_registration_state);
    assert_string_equal(r->registration.registration_id, "sensor-0001");
    assert_int_equal(r->registration.status, DPS_PROV_STATUS_ASSIGNING);
    assert_string_equal(r->registration.assigned_hub, "");
    free(r);
}

static void test_parse_assigned(void **state)
{
    (void)state;
    dps_prov_response *r = resp_new();
    const char *body =
        "{\"operationId\":\"" OPID "\",\"status\":\"assigned\","
        "\"registrationState\":{\"registrationId\":\"sensor-0001\",\"symmetricKey\":{\"enrollmentGroupId\":\"floor-3\"},"
        "\"createdDateTimeUtc\":\"2026-03-02T08:15:30.1234567Z\",\"assignedHub\":\"hub1.example.net\","
        "\"deviceId\":\"sensor-0001\",\"status\":\"assigned\",\"substatus\":\"initialAssignment\","
        "\"lastUpdatedDateTimeUtc\":\"2026-03-02T08:15:31.0000000Z\","
        "\"etag\":\"IjBhMDBiMWMyLTAwMDAtMGQwMC0wMDAwLTY1ZjBhMWIyMDAwMCI=\",\"payload\":{\"region\":\"eu-west\"},"
        "\"unknownMember\":[1,2,3]}}";
    assert_int_equal(parse(200, NULL, body, r), DPS_OK);
    assert_int_equal(r->status, DPS_PROV_STATUS_ASSIGNED);
    const dps_registration_result *g = &r->registration;
    assert_int_equal(g->status, DPS_PROV_STATUS_ASSIGNED);
    assert_string_equal(g->assigned_hub, "hub1.example.net");
    assert_string_equal(g->device_id, "sensor-0001");
    assert_string_equal(g->substatus, "initialAssignment");
    assert_string_equal(g->enrollment_group_id, "floor-3");
    assert_string_equal(g->created_utc, "2026-03-02T08:15:30.1234567Z");
    assert_string_equal(g->last_updated_utc, "2026-03-02T08:15:31.0000000Z");
    assert_string_equal(g->etag, "IjBhMDBiMWMyLTAwMDAtMGQwMC0wMDAwLTY1ZjBhMWIyMDAwMCI=");
    assert_string_equal(g->payload, "{\"region\":\"eu-west\"}");
    assert_false(g->payload_dropped);
    assert_int_equal(g->error_code, 0);

    /* payload null is no payload; x509 group IDs are found too */
    assert_int_equal(parse(200, NULL,
                           "{\"operationId\":\"a\",\"status\":\"assigned\",\"registrationState\":"
                           "{\"assignedHub\":\"h\",\"deviceId\":\"d\",\"payload\":null,"
                           "\"x509\":{\"enrollmentGroupId\":\"g1\"}}}",
                           r),
                     DPS_OK);
    assert_string_equal(r->registration.payload, "");
    assert_string_equal(r->registration.enrollment_group_id, "g1");
    free(r);
}

static void test_parse_payload_too_large(void **state)
{
    (void)state;
    size_t big = DPS_MAX_PAYLOAD + 10;
    char *body = malloc(big + 200);
    assert_non_null(body);
    int n = snprintf(body, 200, "{\"operationId\":\"a\",\"status\":\"assigned\",\"registrationState\":"
                                "{\"assignedHub\":\"h\",\"deviceId\":\"d\",\"payload\":\"");
    memset(body + n, 'x', big);
    strcpy(body + n + big, "\"}}");
    dps_prov_response *r = resp_new();
    assert_int_equal(parse(200, NULL, body, r), DPS_OK);
    assert_true(r->registration.payload_dropped);
    assert_string_equal(r->registration.payload, "");
    assert_string_equal(r->registration.assigned_hub, "h");
    free(body);
    free(r);
}

static void test_parse_failed_disabled(void **state)
{
    (void)state;
    dps_prov_response *r = resp_new();
    /* the failed allocation of §5.8 */
    assert_int_equal(parse(200, NULL,
                           "{\"operationId\":\"" OPID "\",\"status\":\"failed\",\"registrationState\":"
                           "{\"registrationId\":\"sensor-0001\",\"status\":\"failed\",\"errorCode\":400209,"
                           "\"errorMessage\":\"Custom allocation failed with status code: 401\","
                           "\"createdDateTimeUtc\":\"x\",\"lastUpdatedDateTimeUtc\":\"y\",\"etag\":\"z\"}}",
                           r),
                     DPS_OK);
    assert_int_equal(r->status, DPS_PROV_STATUS_FAILED);
    assert_int_equal(r->registration.error_code, 400209);
    assert_string_equal(r->registration.error_message,
                        "Custom allocation failed with status code: 401");
    assert_int_equal(parse(200, NULL,
                           "{\"operationId\":\"a\",\"status\":\"disabled\",\"registrationState\":"
                           "{\"registrationId\":\"sensor-0001\",\"status\":\"disabled\"}}",
                           r),
                     DPS_OK);
    assert_int_equal(r->status, DPS_PROV_STATUS_DISABLED);
    /* unknown and unassigned statuses are parsed, not refused */
    assert_int_equal(parse(202, NULL, "{\"operationId\":\"a\",\"status\":\"unassigned\"}", r), DPS_OK);
    assert_int_equal(r->status, DPS_PROV_STATUS_UNASSIGNED);
    assert_int_equal(parse(202, NULL, "{\"operationId\":\"a\",\"status\":\"weird\"}", r), DPS_OK);
    assert_int_equal(r->status, DPS_PROV_STATUS_UNKNOWN);
    free(r);
}

static void test_parse_error_bodies(void **state)
{
    (void)state;
    dps_prov_response *r = resp_new();
    assert_int_equal(parse(401, NULL,
                           "{\"errorCode\":401002,\"trackingId\":\"1f0e2d3c-4b5a-4968-8776-a5b4c3d2e1f0\","
                           "\"message\":\"Invalid certificate\",\"timestampUtc\":\"2026-03-02T08:15:30.5000000Z\"}",
                           r),
                     DPS_OK);
    assert_int_equal(r->kind, DPS_PROV_BODY_ERROR);
    assert_int_equal(r->status_code, 401);
    assert_int_equal(r->error_code, 401002);
    assert_string_equal(r->error_message, "Invalid certificate");
    assert_string_equal(r->tracking_id, "1f0e2d3c-4b5a-4968-8776-a5b4c3d2e1f0");
    /* the throttled poll */
    assert_int_equal(parse(429, "5", "{\"errorCode\":429001,\"trackingId\":\"t\",\"message\":\"Too many requests\"}", r),
                     DPS_OK);
    assert_int_equal(r->retry_after_s, 5);
    assert_int_equal(r->error_code, 429001);
    /* non-JSON and empty error bodies keep the status */
    assert_int_equal(parse(502, NULL, "<html>bad gateway</html>", r), DPS_OK);
    assert_int_equal(r->kind, DPS_PROV_BODY_ERROR);
    assert_int_equal(r->error_code, 0);
    assert_int_equal(parse(404, NULL, "", r), DPS_OK);
    assert_int_equal(r->status_code, 404);
    /* a string errorCode is accepted, a message over the cap is cut */
    char body[2048];
    char msg[1200];
    memset(msg, 'm', sizeof msg - 1);
    msg[sizeof msg - 1] = '\0';
    snprintf(body, sizeof body, "{\"errorCode\":\"404201\",\"message\":\"%s\"}", msg);
    assert_int_equal(parse(404, NULL, body, r), DPS_OK);
    assert_int_equal(r->error_code, 404201);
    assert_int_equal(strlen(r->error_message), DPS_MAX_ERROR_MESSAGE);
    free(r);
}

static void test_parse_message_cut_at_utf8_boundary(void **state)
{
    (void)state;
    /* 511 ASCII bytes then "é" (2 bytes): byte 512 would split it */
    char body[1024];
    char msg[600];
    memset(msg, 'a', 511);
    strcpy(msg + 511, "\xc3\xa9tail");
    snprintf(body, sizeof body, "{\"errorCode\":1,\"message\":\"%s\"}", msg);
    dps_prov_response *r = resp_new();
    assert_int_equal(parse(400, NULL, body, r), DPS_OK);
    assert_int_equal(strlen(r->error_message), 511);
    free(r);
}

static void test_parse_status_lookup(void **state)
{
    (void)state;
    dps_prov_response *r = resp_new();
    /* §11.5: a bare DeviceRegistrationResult */
    assert_int_equal(parse(200, NULL,
                           "{\"registrationId\":\"sensor-0001\",\"assignedHub\":\"hub1.example.net\","
                           "\"deviceId\":\"sensor-0001\",\"status\":\"assigned\",\"substatus\":\"initialAssignment\"}",
                           r),
                     DPS_OK);
    assert_int_equal(r->kind, DPS_PROV_BODY_REGISTRATION);
    assert_int_equal(r->status, DPS_PROV_STATUS_ASSIGNED);
    assert_string_equal(r->registration.assigned_hub, "hub1.example.net");
    free(r);
}

static void test_parse_refused(void **state)
{
    (void)state;
    dps_prov_response *r = resp_new();
    const char *bad[] = {
        "",                                                   /* 2xx needs a body */
        "not json",
        "[1,2]",
        "{}",                                                 /* neither shape */
        "{\"operationId\":\"a\",\"operationId\":\"b\"}",      /* duplicate key */
        "{\"operationId\":\"a/b\",\"status\":\"assigning\"}", /* bad operation ID */
        "{\"operationId\":7}",
        "{\"operationId\":\"a\",\"status\":3}",
        "{\"operationId\":\"a\",\"registrationState\":[]}",
        "{\"operationId\":\"a\",\"registrationState\":{\"assignedHub\":5}}",
        "{\"operationId\":\"a\",\"registrationState\":{\"errorCode\":\"x\"}}",
        "{\"operationId\":\"a\",\"registrationState\":{\"deviceId\":\"a\\u0000b\"}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (parse(200, NULL, bad[i], r) != DPS_E_PROTOCOL)
            fail_msg("accepted case %zu: %s", i, bad[i]);
        assert_untouched(r);
    }
    /* an identifier over its cap */
    char body[512];
    char hub[300];
    memset(hub, 'h', sizeof hub - 1);
    hub[sizeof hub - 1] = '\0';
    snprintf(body, sizeof body, "{\"operationId\":\"a\",\"registrationState\":{\"assignedHub\":\"%s\"}}", hub);
    assert_int_equal(parse(200, NULL, body, r), DPS_E_TOO_LARGE);
    assert_untouched(r);
    /* a body over the cap */
    char *huge = malloc(DPS_PROV_MAX_BODY + 2);
    memset(huge, ' ', DPS_PROV_MAX_BODY + 1);
    huge[DPS_PROV_MAX_BODY + 1] = '\0';
    assert_int_equal(parse(200, NULL, huge, r), DPS_E_TOO_LARGE);
    free(huge);
    assert_int_equal(parse(99, NULL, "{}", r), DPS_E_PROTOCOL);
    assert_untouched(r);
    free(r);
}

static void test_retry_after(void **state)
{
    (void)state;
    assert_int_equal(dps_prov_retry_after(NULL, 0), 2);
    assert_int_equal(dps_prov_retry_after("1", 1), 1);
    assert_int_equal(dps_prov_retry_after("300", 3), 300);
    assert_int_equal(dps_prov_retry_after("301", 3), 2);
    assert_int_equal(dps_prov_retry_after("0", 1), 2);
    assert_int_equal(dps_prov_retry_after("-1", 2), 2);
    assert_int_equal(dps_prov_retry_after("abc", 3), 2);
    assert_int_equal(dps_prov_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 29), 2);
}

static void test_response_topic(void **state)
{
    (void)state;
    int code = 0;
    uint32_t ra = 99;
    char rid[DPS_MAX_RID + 1];
    const char *t = "$dps/registrations/res/202/?$rid=6c1f0a3e-2b4d-4c8e-9f70-1a2b3c4d5e6f&retry-after=3";
    assert_int_equal(dps_prov_mqtt_parse_response_topic(t, strlen(t), &code, rid, &ra), DPS_OK);
    assert_int_equal(code, 202);
    assert_int_equal(ra, 3);
    assert_string_equal(rid, "6c1f0a3e-2b4d-4c8e-9f70-1a2b3c4d5e6f");
    t = "$dps/registrations/res/200/?$rid=1";
    assert_int_equal(dps_prov_mqtt_parse_response_topic(t, strlen(t), &code, rid, &ra), DPS_OK);
    assert_int_equal(code, 200);
    assert_int_equal(ra, 0);
    assert_string_equal(rid, "1");
    /* retry-after first is fine too; unknown items are ignored */
    t = "$dps/registrations/res/429/?retry-after=5&x=y&$rid=abc";
    assert_int_equal(dps_prov_mqtt_parse_response_topic(t, strlen(t), &code, rid, &ra), DPS_OK);
    assert_int_equal(code, 429);
    assert_int_equal(ra, 5);
    assert_string_equal(rid, "abc");

    const char *bad[] = {
        "$dps/registrations/res/202",
        "$dps/registrations/res/202/",
        "$dps/registrations/res/202/?retry-after=3",  /* no $rid */
        "$dps/registrations/res/2x2/?$rid=1",
        "$dps/registrations/res/99/?$rid=1",
        "$dps/registrations/res/600/?$rid=1",
        "$dps/registrations/res//?$rid=1",
        "$dps/registrations/res/202/?$rid=",
        "$dps/registrations/res/202/?$rid=%zz",
        "$iothub/twin/res/200/?$rid=1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        code = -7;
        if (dps_prov_mqtt_parse_response_topic(bad[i], strlen(bad[i]), &code, rid, &ra) !=
            DPS_E_PROTOCOL)
            fail_msg("accepted %s", bad[i]);
        assert_int_equal(code, -7);
    }
    char longrid[200] = "$dps/registrations/res/200/?$rid=";
    memset(longrid + strlen(longrid), 'r', 100);
    assert_int_equal(dps_prov_mqtt_parse_response_topic(longrid, strlen(longrid), &code, rid, &ra),
                     DPS_E_TOO_LARGE);

    dps_prov_response *r = resp_new();
    const char *pl = "{\"operationId\":\"a\",\"status\":\"assigning\"}";
    assert_int_equal(dps_prov_parse_mqtt_response(202, 3, pl, strlen(pl), r), DPS_OK);
    assert_int_equal(r->retry_after_s, 3);
    assert_int_equal(r->status_code, 202);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_body),
        cmocka_unit_test(test_http_register_request),
        cmocka_unit_test(test_http_operation_request),
        cmocka_unit_test(test_http_request_invalid),
        cmocka_unit_test(test_mqtt_username),
        cmocka_unit_test(test_mqtt_topics),
        cmocka_unit_test(test_sas_resource),
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_parse_assigning),
        cmocka_unit_test(test_parse_assigned),
        cmocka_unit_test(test_parse_payload_too_large),
        cmocka_unit_test(test_parse_failed_disabled),
        cmocka_unit_test(test_parse_error_bodies),
        cmocka_unit_test(test_parse_message_cut_at_utf8_boundary),
        cmocka_unit_test(test_parse_status_lookup),
        cmocka_unit_test(test_parse_refused),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_response_topic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
