/* The hub client against a scripted fake hub over real TLS, reached through
 * a gateway address while verifying the hub's logical name: CONNECT
 * username and SAS, subscriptions, QoS 1 telemetry with a property bag,
 * twin GET (with a desired patch arriving while it waits), reported patch,
 * direct methods answered from the callback, DPS_E_BUSY from inside a
 * callback, keep-alive pings, and a refused CONNECT. */
#include "device_test.h"

#include "common/sas.h"
#include "device/io/addr.h"
#include "tls_fixture.h"

#define DEVICE_KEY "i0zgJJQIisMn48jO9KzXjzmFC/Zmqh1rCMPQc2ibKwY="
#define HUB "hub1.opendps.local"
#define DEV "sensor-0001"

static fx_server srv;
static dps_hub_client hub;
static dps_symmetric_key key;
static uint8_t rxbuf[16384], txbuf[16384];

static int setup(void **state)
{
    (void)state;
    fx_init(&srv);
    assert_int_equal(dps_symmetric_key_init(&key, DEVICE_KEY), DPS_OK);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fx_free(&srv);
    return 0;
}

typedef struct {
    uint8_t connack;
    char client_id[64], username[256], password[512];
    size_t filters;
    char filter[3][64];
    uint8_t telemetry_qos;
    char telemetry_topic[512], telemetry_payload[128];
    char reported[128];
    char method_topic[2][128], method_payload[2][128];
    int pings;
    bool saw_disconnect;
} hub_script;

static fx_mqtt fm;

static void rid_of(const dps_mqtt_publish *p, char *out)
{
    const char *r = memmem(p->topic.ptr, p->topic.len, "$rid=", 5);
    size_t start = (size_t)(r + 5 - p->topic.ptr);
    fx_copy(out, 64, r + 5, p->topic.len - start);
}

static void serve_hub(SSL *ssl, int index, void *arg)
{
    (void)index;
    hub_script *s = arg;
    dps_mqtt_packet pkt;
    char rid[64], topic[256];
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
    if (fx_mqtt_read(ssl, &fm, &pkt) != 0 || pkt.type != DPS_MQTT_SUBSCRIBE)
        return;
    s->filters = pkt.u.subscribe.count;
    for (size_t i = 0; i < s->filters && i < 3; i++)
        fx_copy(s->filter[i], 64, pkt.u.subscribe.subs[i].filter.ptr, pkt.u.subscribe.subs[i].filter.len);
    fx_mqtt_suback(ssl, pkt.u.subscribe.packet_id, pkt.u.subscribe.count, 0);

    int methods = 0;
    while (fx_mqtt_read(ssl, &fm, &pkt) == 0) {
        if (pkt.type == DPS_MQTT_DISCONNECT) {
            s->saw_disconnect = true;
            return;
        }
        if (pkt.type == DPS_MQTT_PINGREQ) {
            s->pings++;
            dps_mqtt_packet resp = {.type = DPS_MQTT_PINGRESP};
            fx_mqtt_send(ssl, &resp);
            continue;
        }
        if (pkt.type != DPS_MQTT_PUBLISH)
            continue;
        const dps_mqtt_publish *p = &pkt.u.publish;
        if (dps_mqtt_str_eq(p->topic, "") || p->topic.len < 8)
            continue;
        if (memcmp(p->topic.ptr, "devices/", 8) == 0) {
            s->telemetry_qos = p->qos;
            fx_copy(s->telemetry_topic, sizeof s->telemetry_topic, p->topic.ptr, p->topic.len);
            fx_copy(s->telemetry_payload, sizeof s->telemetry_payload, p->payload.ptr, p->payload.len);
            if (p->qos == 1)
                fx_mqtt_ack(ssl, DPS_MQTT_PUBACK, p->packet_id);
        } else if (p->topic.len > 17 && memcmp(p->topic.ptr, "$iothub/twin/GET/", 17) == 0) {
            rid_of(p, rid);
            /* a desired patch arrives while the client waits for its answer */
            fx_mqtt_publish(ssl, "$iothub/twin/PATCH/properties/desired/?$version=3",
                            "{\"sampleSeconds\":10,\"$version\":3}", 0, 0);
            fx_mqtt_publish(ssl, "$iothub/twin/res/200/?$rid=not-yours", "{}", 0, 0);
            snprintf(topic, sizeof topic, "$iothub/twin/res/200/?$rid=%s", rid);
            fx_mqtt_publish(ssl, topic,
                            "{\"desired\":{\"sampleSeconds\":30,\"$version\":2},\"reported\":{\"$version\":1}}",
                            0, 0);
        } else if (p->topic.len > 36 &&
                   memcmp(p->topic.ptr, "$iothub/twin/PATCH/properties/reported/", 39) == 0) {
            rid_of(p, rid);
            fx_copy(s->reported, sizeof s->reported, p->payload.ptr, p->payload.len);
            snprintf(topic, sizeof topic, "$iothub/twin/res/204/?$rid=%s&$version=5", rid);
            fx_mqtt_publish(ssl, topic, "", 0, 0);
            /* then two direct methods, at QoS 1 like a hub may send them */
            fx_mqtt_publish(ssl, "$iothub/methods/POST/echo/?$rid=m%2F1", "{\"x\":1}", 1, 11);
            fx_mqtt_publish(ssl, "$iothub/methods/POST/nope/?$rid=m2", "", 1, 12);
        } else if (p->topic.len > 20 && memcmp(p->topic.ptr, "$iothub/methods/res/", 20) == 0) {
            if (methods < 2) {
                fx_copy(s->method_topic[methods], 128, p->topic.ptr, p->topic.len);
                fx_copy(s->method_payload[methods], 128, p->payload.ptr, p->payload.len);
                methods++;
            }
        }
    }
}

static int64_t desired_version;
static char desired_json[128];
static dps_result busy_rc;

static void on_desired(void *ctx, const char *json, size_t len, int64_t version)
{
    (void)ctx;
    desired_version = version;
    fx_copy(desired_json, sizeof desired_json, json, len);
}

static int on_method(void *ctx, const char *name, const char *payload, size_t len, char *resp,
                     size_t cap, size_t *resp_len)
{
    dps_hub_client *c = ctx;
    char tmp[16];
    size_t n = 0;
    busy_rc = dps_hub_client_twin_get(c, tmp, sizeof tmp, &n); /* not from here */
    if (strcmp(name, "echo") == 0 && len < cap) {
        memcpy(resp, payload, len);
        *resp_len = len;
        return 200;
    }
    *resp_len = 0;
    return 404;
}

static dps_hub_options options(void)
{
    dps_hub_options o;
    dps_hub_options_default(&o);
    char gw[32];
    static char gateway[32];
    snprintf(gw, sizeof gw, "127.0.0.1:%u", (unsigned)srv.port);
    memcpy(gateway, gw, sizeof gateway);
    o.hub_host = HUB;
    o.gateway_address = gateway;
    o.device_id = DEV;
    o.credential = &key.base;
    o.ca_file = srv.ca_path;
    o.rx_buffer = rxbuf;
    o.rx_buffer_size = sizeof rxbuf;
    o.tx_buffer = txbuf;
    o.tx_buffer_size = sizeof txbuf;
    o.client_type = "test/1.0";
    o.timeout_ms = 5000;
    o.on_desired = on_desired;
    o.on_method = on_method;
    o.method_ctx = &hub;
    return o;
}

static void test_session(void **state)
{
    (void)state;
    hub_script s;
    memset(&s, 0, sizeof s);
    fx_start(&srv, serve_hub, &s, 1);
    dps_hub_options o = options();
    o.keep_alive_s = 1; /* a PINGREQ within about 750 ms of quiet */
    assert_int_equal(dps_hub_client_connect(&hub, &o), DPS_OK);

    dps_hub_property app[] = {{"alert", "no"}};
    dps_hub_message_props props = {.content_type = "application/json",
                                   .content_encoding = "utf-8",
                                   .properties = app,
                                   .property_count = 1};
    const char *msg = "{\"temp\":21.5}";
    assert_int_equal(dps_hub_client_send_telemetry(&hub, msg, strlen(msg), &props), DPS_OK);

    char twin[256];
    size_t n = 0;
    assert_int_equal(dps_hub_client_twin_get(&hub, twin, sizeof twin, &n), DPS_OK);
    assert_string_equal(twin, "{\"desired\":{\"sampleSeconds\":30,\"$version\":2},\"reported\":{\"$version\":1}}");
    assert_int_equal(n, strlen(twin));
    assert_int_equal(desired_version, 3);
    assert_string_equal(desired_json, "{\"sampleSeconds\":10,\"$version\":3}");

    int64_t version = 0;
    assert_int_equal(dps_hub_client_twin_report(&hub, "{\"fw\":\"2.4.1\"}", 14, &version), DPS_OK);
    assert_int_equal(version, 5);

    /* the methods arrive; answered from inside poll */
    assert_int_equal(dps_hub_client_poll(&hub, 1500), DPS_OK);
    assert_int_equal(busy_rc, DPS_E_BUSY);
    dps_hub_client_close(&hub);
    fx_join(&srv);

    assert_string_equal(s.client_id, DEV);
    assert_string_equal(s.username, HUB "/" DEV "/?api-version=2021-04-12&DeviceClientType=test%2F1.0");
    dps_sas_token t;
    assert_int_equal(dps_sas_parse(s.password, strlen(s.password), &t), DPS_SAS_OK);
    assert_string_equal(t.sr_raw, "hub1.opendps.local%2Fdevices%2Fsensor-0001");
    assert_null(t.skn);
    assert_true(dps_sas_signed_with(&t, key.key, key.key_len));
    assert_true(t.se > time(NULL) + 3500);
    dps_sas_token_free(&t);
    assert_int_equal(s.filters, 3);
    assert_string_equal(s.filter[0], "$iothub/twin/res/#");
    assert_string_equal(s.filter[1], "$iothub/twin/PATCH/properties/desired/#");
    assert_string_equal(s.filter[2], "$iothub/methods/POST/#");
    assert_int_equal(s.telemetry_qos, 1);
    assert_string_equal(s.telemetry_topic,
                        "devices/" DEV "/messages/events/%24.ct=application%2Fjson&%24.ce=utf-8&alert=no");
    assert_string_equal(s.telemetry_payload, msg);
    assert_string_equal(s.reported, "{\"fw\":\"2.4.1\"}");
    assert_string_equal(s.method_topic[0], "$iothub/methods/res/200/?$rid=m%2F1");
    assert_string_equal(s.method_payload[0], "{\"x\":1}");
    assert_string_equal(s.method_topic[1], "$iothub/methods/res/404/?$rid=m2");
    assert_true(s.pings >= 1);
    assert_true(s.saw_disconnect);
}

static void test_refused_and_invalid(void **state)
{
    (void)state;
    hub_script s;
    memset(&s, 0, sizeof s);
    s.connack = 5;
    fx_start(&srv, serve_hub, &s, 1);
    dps_hub_options o = options();
    assert_int_equal(dps_hub_client_connect(&hub, &o), DPS_E_UNAUTHORIZED);
    fx_join(&srv);
    /* after a failed connect nothing works, but nothing breaks either */
    const char *msg = "x";
    assert_int_equal(dps_hub_client_send_telemetry(&hub, msg, 1, NULL), DPS_E_CLOSED);
    assert_int_equal(dps_hub_client_poll(&hub, 10), DPS_E_CLOSED);

    o = options();
    o.rx_buffer_size = 100;
    assert_int_equal(dps_hub_client_connect(&hub, &o), DPS_E_INVALID);
    o = options();
    o.device_id = "has#hash";
    assert_int_equal(dps_hub_client_connect(&hub, &o), DPS_E_INVALID);
    o = options();
    o.gateway_address = "127.0.0.1:0";
    assert_int_equal(dps_hub_client_connect(&hub, &o), DPS_E_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session),
        cmocka_unit_test(test_refused_and_invalid),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
