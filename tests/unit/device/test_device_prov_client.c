/* The provisioning client end to end against scripted fake DPS servers over
 * real TLS: HTTPS register + poll with retry-after and reconnection, MQTT
 * register + status matched by $rid, refusals, failed and disabled results,
 * throttling, deadline, cancellation and option checks. The SAS tokens the
 * servers receive are verified with the daemons' verifier (common/sas.h). */
#include "device_test.h"

#include <signal.h>

#include "common/sas.h"
#include "device/io/addr.h"
#include "tls_fixture.h"

#define GROUP_KEY "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw=="
#define DEVICE_KEY "i0zgJJQIisMn48jO9KzXjzmFC/Zmqh1rCMPQc2ibKwY="
#define SCOPE "0ne000AB12C"
#define REG "sensor-0001"

static fx_server srv;
static dps_prov_client client; /* about 120 KiB: not on the stack */
static dps_registration_result result;
static dps_symmetric_key key;

static int setup(void **state)
{
    (void)state;
    fx_init(&srv);
    assert_int_equal(dps_symmetric_key_init_group(&key, GROUP_KEY, REG), DPS_OK);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fx_free(&srv);
    dps_symmetric_key_wipe(&key);
    return 0;
}

static char log_text[8192];

static void capture_log(void *ctx, dps_device_log_level level, const char *msg)
{
    (void)ctx;
    (void)level;
    strncat(log_text, msg, sizeof log_text - strlen(log_text) - 2);
    strcat(log_text, "\n");
}

static dps_prov_options options(dps_prov_transport t)
{
    dps_prov_options o;
    dps_prov_options_default(&o);
    o.transport = t;
    o.host = "localhost";
    o.port = srv.port;
    o.connect_address = "127.0.0.1";
    o.id_scope = SCOPE;
    o.registration_id = REG;
    o.credential = &key.base;
    o.ca_file = srv.ca_path;
    o.timeout_ms = 10000;
    o.log.fn = capture_log;
    o.log.level = DPS_DEVICE_LOG_DEBUG;
    log_text[0] = '\0';
    return o;
}

/* True when a SAS token was signed with the device key for this device. */
static bool sas_ok(const char *token, size_t len, const char *audience)
{
    dps_sas_token t;
    if (dps_sas_parse(token, len, &t) != DPS_SAS_OK)
        return false;
    uint8_t k[32];
    size_t n = 0;
    bool ok = dps_base64_decode(DEVICE_KEY, strlen(DEVICE_KEY), k, sizeof k, &n) == DPS_OK &&
              dps_sas_signed_with(&t, k, n) && dps_sas_audience_covers(t.sr, audience) &&
              !dps_sas_expired(&t, time(NULL), 0) && t.skn != NULL &&
              strcmp(t.skn, "registration") == 0;
    dps_sas_token_free(&t);
    return ok;
}

/* ---- HTTPS ------------------------------------------------------------------ */

typedef struct {
    const char *responses[6]; /* in order; "" closes the connection */
    int next;
    char requests[6][4096];
    int count;
} http_script;

static void serve_script(SSL *ssl, int index, void *arg)
{
    (void)index;
    http_script *s = arg;
    while (s->responses[s->next] != NULL) {
        char *req = s->requests[s->count];
        if (fx_read_request(ssl, req, sizeof s->requests[0]) == 0)
            return;
        s->count++;
        const char *resp = s->responses[s->next++];
        fx_write(ssl, resp);
        if (strstr(resp, "Connection: close") != NULL)
            return; /* the next request comes on a new connection */
    }
}

#define OP "4.9f3c1d2e4b5a6078.5b8e2f1a-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
static const char *json_response(int code, const char *reason, const char *extra_headers,
                                 const char *body, char *buf, size_t cap)
{
    snprintf(buf, cap,
             "HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=utf-8\r\n%s"
             "Content-Length: %zu\r\n\r\n%s",
             code, reason, extra_headers, strlen(body), body);
    return buf;
}

static char r0[1024], r1[1024];

static void test_https_group_device(void **state)
{
    (void)state;
    http_script s = {.next = 0};
    s.responses[0] = json_response(202, "Accepted", "retry-after: 1\r\nConnection: close\r\n",
                                   "{\"operationId\":\"" OP "\",\"status\":\"assigning\"}", r0,
                                   sizeof r0);
    s.responses[1] = json_response(
        200, "OK", "",
        "{\"operationId\":\"" OP "\",\"status\":\"assigned\",\"registrationState\":{"
        "\"registrationId\":\"sensor-0001\",\"symmetricKey\":{\"enrollmentGroupId\":\"floor-3\"},"
        "\"assignedHub\":\"hub1.opendps.local\",\"deviceId\":\"sensor-0001\",\"status\":\"assigned\","
        "\"substatus\":\"initialAssignment\",\"payload\":{\"region\":\"eu-west\"}}}",
        r1, sizeof r1);
    fx_start(&srv, serve_script, &s, 2); /* the server closes after the 202 */
    dps_prov_options o = options(DPS_TRANSPORT_HTTPS);
    o.payload_json = "{\"fw\":\"2.4.1\"}";
    int64_t t0 = dps_monotonic_ms();
    assert_int_equal(dps_prov_register(&client, &o, &result), DPS_OK);
    int64_t took = dps_monotonic_ms() - t0;
    fx_join(&srv);
    assert_true(took >= 1000); /* retry-after: 1 was honoured */
    assert_int_equal(result.status, DPS_PROV_STATUS_ASSIGNED);
    assert_string_equal(result.assigned_hub, "hub1.opendps.local");
    assert_string_equal(result.device_id, "sensor-0001");
    assert_string_equal(result.substatus, "initialAssignment");
    assert_string_equal(result.enrollment_group_id, "floor-3");
    assert_string_equal(result.payload, "{\"region\":\"eu-west\"}");

    assert_int_equal(s.count, 2);
    const char *put = s.requests[0];
    assert_non_null(strstr(put, "PUT /" SCOPE "/registrations/" REG "/register?api-version=2021-06-01 HTTP/1.1\r\n"));
    char host[64];
    snprintf(host, sizeof host, "\r\nHost: localhost:%u\r\n", (unsigned)srv.port);
    assert_non_null(strstr(put, host));
    assert_non_null(strstr(put, "\r\n\r\n{\"registrationId\":\"sensor-0001\",\"payload\":{\"fw\":\"2.4.1\"}}"));
    const char *auth = strstr(put, "Authorization: ");
    assert_non_null(auth);
    auth += strlen("Authorization: ");
    assert_true(sas_ok(auth, strcspn(auth, "\r"), SCOPE "/registrations/" REG));
    assert_non_null(strstr(s.requests[1], "GET /" SCOPE "/registrations/" REG "/operations/" OP "?api-version=2021-06-01 HTTP/1.1\r\n"));
    /* the client's own memory no longer holds the token */
    assert_null(memmem(client.req, sizeof client.req, "SharedAccessSignature", 21));
    assert_null(strstr(log_text, "sig="));
}

static void test_https_final_answers(void **state)
{
    (void)state;
    /* failed */
    http_script s = {.next = 0};
    s.responses[0] = json_response(
        200, "OK", "",
        "{\"operationId\":\"a\",\"status\":\"failed\",\"registrationState\":{\"registrationId\":\"sensor-0001\","
        "\"status\":\"failed\",\"errorCode\":400208,\"errorMessage\":\"IoT hub not specified\"}}",
        r0, sizeof r0);
    fx_start(&srv, serve_script, &s, 1);
    dps_prov_options o = options(DPS_TRANSPORT_HTTPS);
    assert_int_equal(dps_prov_register(&client, &o, &result), DPS_E_FAILED);
    fx_join(&srv);
    assert_int_equal(result.status, DPS_PROV_STATUS_FAILED);
    assert_int_equal(result.error_code, 400208);
    assert_string_equal(result.error_message, "IoT hub not specified");

    /* disabled */
    http_script d = {.next = 0};
    d.responses[0] = json_response(200, "OK", "",
                                   "{\"operationId\":\"a\",\"status\":\"disabled\",\"registrationState\":"
                                   "{\"registrationId\":\"sensor-0001\",\"status\":\"disabled\"}}",
                                   r0, sizeof r0);
    fx_start(&srv, serve_script, &d, 1);
    assert_int_equal(dps_prov_register(&client, &o, &result), DPS_E_DISABLED);
    fx_join(&srv);
    assert_int_equal(result.status, DPS_PROV_STATUS_DISABLED);

    /* 401 and 404 refusals carry the service's error */
    http_script u = {.next = 0};
    u.responses[0] = json_response(401, "Unauthorized", "",
                                   "{\"errorCode\":401002,\"trackingId\":\"t\",\"message\":\"Unauthorized\"}",
                                   r0, sizeof r0);
    fx_start(&srv, serve_script, &u, 1);
    assert_int_equal(dps_prov_register(&client, &o, &result), DPS_E_UNAUTHORIZED);
    fx_join(&srv);
    assert_int_equal(result.error_code, 401002);
    assert_string_equal(result.error_message, "Unauthorized");
    http_script n = {.next = 0};
    n.responses[0] = json_response(404, "Not Found", "", "", r0, sizeof r0);
    fx_start(&srv, serve_script, &n, 1);
    assert_int_equal(dps_prov_register(&client, &o, &result), DPS_E_NOT_FOUND);
    fx_join(&srv);
    assert_int_equal(result.error_code, 404000);

    /* assigned without a hub is a broken answer, and *out stays as it was */
    http_script b = {.next = 0};
    b.responses[0] = json_response(200, "OK", "",
                                   "{\"operationId\":\"a\",\"status\":\"assigned\",\"registrationState\":{\"deviceId\":\"d\"}}",
                                   r0, sizeof r0);
    fx_start(&srv, serve_script, &b, 1);
    memset(&result, 0x5A, sizeof result);
    assert_int_equal(dps_prov_register(&client, &o, &result), DPS_E_PROTOCOL);
    fx_join(&srv);
    assert_int_equal(((unsigned char *)&result)[0], 0x5A);
}

static void test_https_throttled_then_assigned(void **state)
{
    (void)state;
    http_script s = {.next = 0};
    s.responses[0] = json_response(429, "Too Many Requests", "retry-after: 1\r\n",
                                   "{\"errorCode\":429001,\"message\":\"Too many requests\"}", r0, sizeof r0);
    s.responses[1] = json_response(200, "OK", "",
                                   "{\"operationId\":\"a\",\"status\":\"assigned\",\"registrationState\":"
                                   "{\"assignedHub\":\"hub2.opendps.local\",\"deviceId\":\"sensor-0001\"}}",
                                   r1, sizeof r1);
    fx_start(&srv, serve_script, &s, 1);
    dps_prov_options o = options(DPS_TRANSPORT_HTTPS);
    assert_int_equal(dps_prov_register(&client, &o, &result), DPS_OK);
    fx_join(&srv);
    assert_string_equal(result.assigned_hub, "hub2.opendps.local");
    /* both requests were the register PUT (the same request is repeated) */
    assert_int_equal(strncmp(s.requests[0], "PUT ", 4), 0);
    assert_int_equal(strncmp(s.requests[1], "PUT ", 4), 0);
    assert_non_null(strstr(log_text, "retrying in 1 s"));
}

static void test_https_deadline_and_stop(void **state)
{
    (void)state;
    http_script s = {.next = 0};
    s.responses[0] = json_response(202, "Accepted", "retry-after: 5\r\n",
                                   "{\"operationId\":\"a\",\"status\":\"assigning\"}", r0, sizeof r0);
    fx_start(&srv, serve_script, &s, 1);
    dps_prov_options o = options(DPS_TRANSPORT_HTTPS);
    o.timeout_ms = 1500;
    int64_t t0 = dps_monotonic_ms();
    memset(&result, 0x5A, sizeof result);
    assert_int_equal(dps_prov_register(&client, &o, &result), DPS_E_TIMEOUT);
    assert_true(dps_monotonic_ms() - t0 < 1500); /* no point sleeping past the deadline */
    fx_join(&srv);
    assert_int_equal(((unsigned char *)&result)[0], 0x5A);

    volatile sig_atomic_t stop = 1;
    o = options(DPS_TRANSPORT_HTTPS);
    o.stop = &stop;
    assert_int_equal(dps_prov_register(&client, &o, &result), DPS_E_CANCELLED);
}

static void test_options_checked(void **state)
{
    (void)state;
    dps_prov_options o = options(DPS_TRANSPORT_HTTPS);
    o.registration_id = "bad id";
    assert_int_equal(dps_prov_register(&client, &o, &result), DPS_E_INVALID);
    o = options(DPS_TRANSPORT_HTTPS);
    o.payload_json = "{not json";
    assert_int_equal(dps_prov_register(&client, &o, &result), DPS_E_INVALID);
    assert_non_null(strstr(log_text, "payload is not JSON"));
    o = options(DPS_TRANSPORT_HTTPS);
    o.connect_address = "127.0.0.1:99999";
    assert_int_equal(dps_prov_register(&client, &o, &result), DPS_E_INVALID);
    o = options(DPS_TRANSPORT_HTTPS);
    o.credential = NULL;
    assert_int_equal(dps_prov_register(&client, &o, &result), DPS_E_INVALID);
    o = options((dps_prov_transport)7);
    assert_int_equal(dps_prov_register(&client, &o, &result), DPS_E_INVALID);
}

/* ---- MQTT ------------------------------------------------------------------- */

typedef struct {
    uint8_t connack;
    char client_id[64];
    char username[256];
    char password[512];
    char register_topic[256];
    char register_payload[256];
    char status_topic[256];
    size_t status_payload_len;
    bool saw_disconnect;
} mqtt_script;

static fx_mqtt fm;

static char *rid_of(const dps_mqtt_publish *p, char *out)
{
    const char *r = memmem(p->topic.ptr, p->topic.len, "$rid=", 5);
    size_t start = (size_t)(r + 5 - p->topic.ptr);
    size_t n = strcspn(r + 5, "&");
    if (start + n > p->topic.len)
        n = p->topic.len - start;
    fx_copy(out, 64, r + 5, n);
    return out;
}

static void serve_dps_mqtt(SSL *ssl, int index, void *arg)
{
    (void)index;
    mqtt_script *s = arg;
    dps_mqtt_packet pkt;
    memset(&fm, 0, sizeof fm);
    if (fx_mqtt_read(ssl, &fm, &pkt) != 0 || pkt.type != DPS_MQTT_CONNECT)
        return;
    const dps_mqtt_connect *c = &pkt.u.connect;
    fx_copy(s->client_id, sizeof s->client_id, c->client_id.ptr, c->client_id.len);
    fx_copy(s->username, sizeof s->username, c->username.ptr, c->username.len);
    fx_copy(s->password, sizeof s->password, c->password.ptr, c->password.len);
    fx_mqtt_connack(ssl, s->connack);
    if (s->connack != 0)
        return;
    if (fx_mqtt_read(ssl, &fm, &pkt) != 0 || pkt.type != DPS_MQTT_SUBSCRIBE ||
        !dps_mqtt_str_eq(pkt.u.subscribe.subs[0].filter, "$dps/registrations/res/#"))
        return;
    fx_mqtt_suback(ssl, pkt.u.subscribe.packet_id, 1, 1);

    /* register */
    if (fx_mqtt_read(ssl, &fm, &pkt) != 0 || pkt.type != DPS_MQTT_PUBLISH)
        return;
    char rid[64], topic[256];
    fx_copy(s->register_topic, sizeof s->register_topic, pkt.u.publish.topic.ptr, pkt.u.publish.topic.len);
    fx_copy(s->register_payload, sizeof s->register_payload, pkt.u.publish.payload.ptr, pkt.u.publish.payload.len);
    rid_of(&pkt.u.publish, rid);
    if (pkt.u.publish.qos == 1)
        fx_mqtt_ack(ssl, DPS_MQTT_PUBACK, pkt.u.publish.packet_id);
    /* an answer for someone else's $rid first: must be ignored */
    fx_mqtt_publish(ssl, "$dps/registrations/res/200/?$rid=zz-other", "{\"operationId\":\"x\",\"status\":\"failed\"}", 0, 0);
    snprintf(topic, sizeof topic, "$dps/registrations/res/202/?$rid=%s&retry-after=1", rid);
    fx_mqtt_publish(ssl, topic, "{\"operationId\":\"" OP "\",\"status\":\"assigning\"}", 1, 7);
    if (fx_mqtt_read(ssl, &fm, &pkt) != 0 || pkt.type != DPS_MQTT_PUBACK || pkt.u.packet_id != 7)
        return;

    /* operation status */
    if (fx_mqtt_read(ssl, &fm, &pkt) != 0 || pkt.type != DPS_MQTT_PUBLISH)
        return;
    fx_copy(s->status_topic, sizeof s->status_topic, pkt.u.publish.topic.ptr, pkt.u.publish.topic.len);
    s->status_payload_len = pkt.u.publish.payload.len;
    rid_of(&pkt.u.publish, rid);
    if (pkt.u.publish.qos == 1)
        fx_mqtt_ack(ssl, DPS_MQTT_PUBACK, pkt.u.publish.packet_id);
    snprintf(topic, sizeof topic, "$dps/registrations/res/200/?$rid=%s", rid);
    fx_mqtt_publish(ssl, topic,
                    "{\"operationId\":\"" OP "\",\"status\":\"assigned\",\"registrationState\":{"
                    "\"assignedHub\":\"hub1.opendps.local\",\"deviceId\":\"sensor-0001\",\"status\":\"assigned\"}}",
                    1, 8);
    while (fx_mqtt_read(ssl, &fm, &pkt) == 0) {
        if (pkt.type == DPS_MQTT_DISCONNECT) {
            s->saw_disconnect = true;
            return;
        }
    }
}

static void test_mqtt_register(void **state)
{
    (void)state;
    mqtt_script s;
    memset(&s, 0, sizeof s);
    fx_start(&srv, serve_dps_mqtt, &s, 1);
    dps_prov_options o = options(DPS_TRANSPORT_MQTT);
    o.api_version = "2019-03-31";
    o.client_version = "test/1.0";
    assert_int_equal(dps_prov_register(&client, &o, &result), DPS_OK);
    fx_join(&srv);
    assert_string_equal(result.assigned_hub, "hub1.opendps.local");
    assert_string_equal(s.client_id, REG);
    assert_string_equal(s.username, SCOPE "/registrations/" REG "/api-version=2019-03-31&ClientVersion=test%2F1.0");
    assert_true(sas_ok(s.password, strlen(s.password), SCOPE "/registrations/" REG));
    assert_string_equal(s.register_topic, "$dps/registrations/PUT/iotdps-register/?$rid=1");
    assert_string_equal(s.register_payload, "{\"registrationId\":\"sensor-0001\"}");
    assert_string_equal(s.status_topic,
                        "$dps/registrations/GET/iotdps-get-operationstatus/?$rid=2&operationId=" OP);
    assert_int_equal(s.status_payload_len, 0);
    assert_true(s.saw_disconnect);
    assert_non_null(strstr(log_text, "ignoring an answer for $rid=zz-other"));
}

static void test_mqtt_refused(void **state)
{
    (void)state;
    mqtt_script s;
    memset(&s, 0, sizeof s);
    s.connack = 5;
    fx_start(&srv, serve_dps_mqtt, &s, 1);
    dps_prov_options o = options(DPS_TRANSPORT_MQTT);
    assert_int_equal(dps_prov_register(&client, &o, &result), DPS_E_UNAUTHORIZED);
    fx_join(&srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_https_group_device),
        cmocka_unit_test(test_https_final_answers),
        cmocka_unit_test(test_https_throttled_then_assigned),
        cmocka_unit_test(test_https_deadline_and_stop),
        cmocka_unit_test(test_options_checked),
        cmocka_unit_test(test_mqtt_register),
        cmocka_unit_test(test_mqtt_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
