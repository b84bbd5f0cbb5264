/* hubd's MQTT device endpoint end to end, in one process: the real endpoint,
 * sessions and model over a temporary SQLite store, a self-signed TLS
 * context, and a blocking TLS client driving it packet by packet.
 *
 * The event loop runs in a second thread; the test thread is the device.
 * Calls that must run on the loop (sending C2D, invoking a method, reading
 * the telemetry log) are handed over through a pipe and waited for. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/sas.h"
#include "model/devices.h"
#include "model/hubs.h"
#include "model/telemetry.h"
#include "mqtt/endpoint.h"
#include "mqtt/internal.h"

#define TLS_LOOPBACK_RECV_BUF (HUBD_MQTT_MAX_PACKET + 64)
#define TLS_LOOPBACK_SEND_BUF (HUBD_MQTT_MAX_PACKET + 64)
#include "../tls_loopback.h"

#define HUB "hub1.test"
#define KEY1 "i0zgJJQIisMn48jO9KzXjzmFC/Zmqh1rCMPQc2ibKwY="
#define KEY2 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

/* ---- the server side, on its own thread ---------------------------------- */

static struct {
    char dir[64];
    hubd_ctx ctx;
    SSL_CTX *tls;
    hubd_mqtt_endpoint *ep;
    uint16_t port;
    tls_loop loop;
} S;

/* Runs fn(arg) on the loop thread and waits for it. */
static void on_loop(loop_fn fn, void *arg)
{
    tls_loop_run(&S.loop, fn, arg);
}

static void put_device(const char *id, const char *status)
{
    json_t *body = json_pack("{s:s, s:s, s:{s:s, s:{s:s, s:s}}}", "deviceId", id, "status",
                             status, "authentication", "type", "sas", "symmetricKey",
                             "primaryKey", KEY1, "secondaryKey", KEY2);
    hubd_if_match im = {.kind = HUBD_IFM_NONE};
    json_t *doc = NULL;
    bool disc = false;
    hubd_result r = hubd_device_put(&S.ctx, HUB, id, body, &im, &doc, &disc);
    if (r != HUBD_OK)
        fail_msg("device put %s: %d %s", id, r, hubd_last_error());
    json_decref(body);
    json_decref(doc);
}

static int setup(void **state)
{
    (void)state;
    char err[256];
    snprintf(S.dir, sizeof S.dir, "/tmp/hubd-mqtt-XXXXXX");
    assert_non_null(mkdtemp(S.dir));
    char url[128];
    snprintf(url, sizeof url, "sqlite:%s/hubd.db", S.dir);
    S.ctx.store = dps_store_open(url, err, sizeof err);
    if (S.ctx.store == NULL)
        fail_msg("store: %s", err);
    S.ctx.base = event_base_new();
    S.ctx.telemetry = hubd_telemetry_new(100, 1 << 20);
    S.ctx.sessions = hubd_sessions_new();
    assert_non_null(S.ctx.base);
    assert_non_null(S.ctx.telemetry);
    assert_non_null(S.ctx.sessions);
    if (hubd_hub_ensure(&S.ctx, HUB, err, sizeof err) != 0)
        fail_msg("hub: %s", err);
    put_device("dev1", "enabled");
    put_device("dev2", "enabled");
    put_device("off1", "disabled");

    S.tls = tls_server_ctx(NULL);
    dps_listen_addr a = {.host = "127.0.0.1", .port = 0};
    S.ep = hubd_mqtt_start(&S.ctx, S.tls, &a, 1, err, sizeof err);
    if (S.ep == NULL)
        fail_msg("start: %s", err);
    S.port = hubd_mqtt_listener_port(S.ep, 0);
    assert_true(S.port != 0);
    char want[64];
    snprintf(want, sizeof want, "mqtts://127.0.0.1:%u", (unsigned)S.port);
    assert_string_equal(hubd_mqtt_listener_url(S.ep, 0), want);

    tls_loop_start(&S.loop, S.ctx.base);
    return 0;
}

static void do_shutdown(void *arg)
{
    (void)arg;
    hubd_mqtt_free(&S.ep);
    hubd_sessions_free(&S.ctx.sessions);
    event_base_loopbreak(S.ctx.base);
}

static int teardown(void **state)
{
    (void)state;
    on_loop(do_shutdown, NULL);
    tls_loop_join(&S.loop);
    hubd_telemetry_free(&S.ctx.telemetry);
    dps_store_close(&S.ctx.store);
    event_base_free(S.ctx.base);
    SSL_CTX_free(S.tls);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", S.dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", S.dir);
    return 0;
}

/* ---- the device side: a blocking TLS client (tls_loopback.h) ------------- */

static client *cl_open(void)
{
    return cl_open_port(S.port, NULL);
}

static char *sas_for(const char *id, const char *key)
{
    char res[128];
    snprintf(res, sizeof res, "%s/devices/%s", HUB, id);
    char *tok = dps_sas_build(res, key, NULL, (int64_t)time(NULL) + 3600);
    assert_non_null(tok);
    return tok;
}

/* CONNECT with explicit fields; returns the CONNACK code (-1 when closed). */
static int cl_connect_raw(client *c, const char *client_id, const char *username,
                          const char *password, bool clean, uint16_t keep_alive, bool *present)
{
    dps_mqtt_packet p = {.type = DPS_MQTT_CONNECT};
    p.u.connect.client_id = dps_mqtt_cstr(client_id);
    p.u.connect.has_username = username != NULL;
    p.u.connect.username = dps_mqtt_cstr(username);
    p.u.connect.has_password = password != NULL;
    p.u.connect.password.ptr = (const uint8_t *)password;
    p.u.connect.password.len = password != NULL ? strlen(password) : 0;
    p.u.connect.clean_session = clean;
    p.u.connect.keep_alive = keep_alive;
    cl_send(c, &p);
    dps_mqtt_packet ack;
    if (cl_recv(c, &ack, 5000) != GOT)
        return -1;
    assert_int_equal(ack.type, DPS_MQTT_CONNACK);
    if (present != NULL)
        *present = ack.u.connack.session_present;
    return ack.u.connack.return_code;
}

static client *cl_device(const char *id, bool clean, bool *present)
{
    client *c = cl_open();
    char user[256];
    snprintf(user, sizeof user, "%s/%s/?api-version=2021-04-12&DeviceClientType=test", HUB, id);
    char *tok = sas_for(id, KEY1);
    int code = cl_connect_raw(c, id, user, tok, clean, 60, present);
    free(tok);
    assert_int_equal(code, 0);
    return c;
}

static void cl_publish(client *c, const char *topic, const char *payload, uint8_t qos,
                       uint16_t id)
{
    dps_mqtt_packet p = {.type = DPS_MQTT_PUBLISH};
    p.u.publish.topic = dps_mqtt_cstr(topic);
    p.u.publish.payload.ptr = (const uint8_t *)payload;
    p.u.publish.payload.len = strlen(payload);
    p.u.publish.qos = qos;
    p.u.publish.packet_id = qos > 0 ? id : 0;
    cl_send(c, &p);
}

static void cl_subscribe(client *c, const char *const *filters, const uint8_t *qos, size_t n,
                         uint8_t *codes)
{
    dps_mqtt_sub subs[8];
    for (size_t i = 0; i < n; i++) {
        subs[i].filter = dps_mqtt_cstr(filters[i]);
        subs[i].qos = qos[i];
    }
    dps_mqtt_packet p = {.type = DPS_MQTT_SUBSCRIBE};
    p.u.subscribe.packet_id = 77;
    p.u.subscribe.subs = subs;
    p.u.subscribe.count = n;
    cl_send(c, &p);
    dps_mqtt_packet ack;
    cl_expect(c, &ack, DPS_MQTT_SUBACK);
    assert_int_equal(ack.u.suback.packet_id, 77);
    assert_int_equal(ack.u.suback.codes.len, n);
    memcpy(codes, ack.u.suback.codes.ptr, n);
}

static void cl_sub1(client *c, const char *filter, uint8_t qos)
{
    uint8_t code;
    cl_subscribe(c, &filter, &qos, 1, &code);
    assert_int_equal(code, qos > 1 ? 1 : qos);
}

static void assert_topic(const dps_mqtt_packet *p, const char *want)
{
    if (!dps_mqtt_str_eq(p->u.publish.topic, want))
        fail_msg("topic \"%.*s\", want \"%s\"", (int)p->u.publish.topic.len,
                 p->u.publish.topic.ptr, want);
}

/* ---- tests --------------------------------------------------------------- */

static void test_connect_refusals(void **state)
{
    (void)state;
    char *good = sas_for("dev1", KEY1);
    char *wrong_key = sas_for("dev1", KEY2 /* secondary works too */);
    char *bad = sas_for("dev1", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    char *off = sas_for("off1", KEY1);
    char *ghost = sas_for("ghost", KEY1);
    const struct {
        const char *client_id, *user, *pass;
        int code;
    } cases[] = {
        {"dev1", HUB "/dev1/?api-version=2021-04-12", good, 0},
        {"dev1", HUB "/dev1/?api-version=2020-09-30", wrong_key, 0},
        {"dev1", HUB "/dev1/?api-version=2021-04-12", bad, 5},
        {"dev1", HUB "/dev1/?api-version=2021-04-12", NULL, 5},        /* no credentials */
        {"dev1", HUB "/dev1/?api-version=2021-04-12", "", 5},
        {"dev1", HUB "/dev2/?api-version=2021-04-12", good, 2},        /* ID mismatch */
        {"DEV1", HUB "/dev1/?api-version=2021-04-12", good, 2},        /* case matters */
        {"", HUB "/dev1/?api-version=2021-04-12", good, 2},            /* empty client ID */
        {"dev1", "hub9.test/dev1/?api-version=2021-04-12", good, 5},   /* unknown hub */
        {"dev1", NULL, NULL, 5},                                       /* no username */
        {"off1", HUB "/off1/?api-version=1", off, 5},                  /* disabled */
        {"ghost", HUB "/ghost/?api-version=1", ghost, 5},              /* unknown device */
        {"dev1", "HUB1.TEST/dev1/?api-version=1", good, 0},            /* hub in any case */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        client *c = cl_open();
        int code = cl_connect_raw(c, cases[i].client_id, cases[i].user, cases[i].pass, true, 60,
                                  NULL);
        if (code != cases[i].code)
            fail_msg("case %zu: CONNACK %d, want %d", i, code, cases[i].code);
        if (code != 0)
            cl_expect_closed(c); /* a refusal ends the connection */
        cl_free(c);
    }
    free(good);
    free(wrong_key);
    free(bad);
    free(off);
    free(ghost);
}

static void test_bad_first_packets(void **state)
{
    (void)state;
    /* Not a CONNECT first. */
    client *c = cl_open();
    cl_raw(c, "\xc0\x00", 2); /* PINGREQ */
    cl_expect_closed(c);
    cl_free(c);
    /* MQTT 3.1 ("MQIsdp", level 3): CONNACK 1, then closed. */
    c = cl_open();
    static const uint8_t v31[] = {0x10, 0x11, 0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', 0x03,
                                  0x02, 0x00, 0x3c, 0x00, 0x03, 'a',  'b', 'c'};
    cl_raw(c, v31, sizeof v31);
    dps_mqtt_packet p;
    cl_expect(c, &p, DPS_MQTT_CONNACK);
    assert_int_equal(p.u.connack.return_code, 1);
    cl_expect_closed(c);
    cl_free(c);
    /* A remaining length over the pre-CONNECT cap is refused from the
     * header alone. */
    c = cl_open();
    cl_raw(c, "\x10\xff\xff\x7f", 4);
    cl_expect_closed(c);
    cl_free(c);
    /* Garbage (an HTTP request) is refused from the first byte. */
    c = cl_open();
    cl_raw(c, "GET / HTTP/1.1\r\n\r\n", 18);
    cl_expect_closed(c);
    cl_free(c);
}

static void read_count(void *arg)
{
    *(size_t *)arg = hubd_mqtt_connection_count(S.ep);
}

/* A client's close reaches the server asynchronously: wait until the
 * endpoint has no authenticated connection left (or ~5 s). */
static void wait_all_closed(void)
{
    for (int i = 0; i < 500; i++) {
        size_t n = 1;
        on_loop(read_count, &n);
        if (n == 0)
            return;
        usleep(10000);
    }
    fail_msg("connections still open");
}

typedef struct {
    size_t n;
    char device[32];
    char body[64];
    json_t *sys;
    json_t *app;
} tele_seen;

static void tele_cb(void *arg, const hubd_telemetry_event *ev)
{
    tele_seen *t = arg;
    t->n++;
    snprintf(t->device, sizeof t->device, "%s", ev->device_id);
    snprintf(t->body, sizeof t->body, "%.*s", (int)ev->body_len, (const char *)ev->body);
    json_decref(t->sys);
    json_decref(t->app);
    t->sys = json_deep_copy(ev->system_props);
    t->app = json_deep_copy(ev->app_props);
}

static void read_telemetry(void *arg)
{
    hubd_telemetry_read(&S.ctx, HUB, 0, 1000, tele_cb, arg);
}

static void test_telemetry(void **state)
{
    (void)state;
    client *c = cl_device("dev1", true, NULL);
    cl_publish(c, "devices/dev1/messages/events/%24.mid=msg-1&%24.ct=application%2Fjson&alert=no&flag",
               "{\"temp\":21.5}", 1, 9);
    dps_mqtt_packet p;
    cl_expect(c, &p, DPS_MQTT_PUBACK);
    assert_int_equal(p.u.packet_id, 9);

    tele_seen t = {0};
    on_loop(read_telemetry, &t);
    assert_true(t.n >= 1);
    assert_string_equal(t.device, "dev1");
    assert_string_equal(t.body, "{\"temp\":21.5}");
    assert_string_equal(json_string_value(json_object_get(t.sys, "messageId")), "msg-1");
    assert_string_equal(json_string_value(json_object_get(t.sys, "contentType")),
                        "application/json");
    assert_string_equal(json_string_value(json_object_get(t.app, "alert")), "no");
    assert_true(json_is_null(json_object_get(t.app, "flag")));
    size_t before = t.n;

    /* QoS 0 with RETAIN: no ack, and the flag travels as a property. */
    dps_mqtt_packet pub = {.type = DPS_MQTT_PUBLISH};
    pub.u.publish.topic = dps_mqtt_cstr("devices/dev1/messages/events/");
    pub.u.publish.payload.ptr = (const uint8_t *)"x";
    pub.u.publish.payload.len = 1;
    pub.u.publish.retain = true;
    cl_send(c, &pub);
    dps_mqtt_packet ping = {.type = DPS_MQTT_PINGREQ};
    cl_send(c, &ping);
    cl_expect(c, &p, DPS_MQTT_PINGRESP); /* in order: the publish was handled */
    on_loop(read_telemetry, &t);
    assert_int_equal(t.n, before * 2 + 1); /* read again from the start */
    assert_string_equal(json_string_value(json_object_get(t.app, "mqtt-retain")), "true");
    json_decref(t.sys);
    json_decref(t.app);

    /* A bad property bag closes the connection. */
    cl_publish(c, "devices/dev1/messages/events/%zz=1", "x", 0, 0);
    cl_expect_closed(c);
    cl_free(c);
}

static void test_twin(void **state)
{
    (void)state;
    client *c = cl_device("dev2", true, NULL);
    /* Not subscribed yet: a GET gets no answer (nobody to deliver to). */
    cl_publish(c, "$iothub/twin/GET/?$rid=0", " ", 0, 0);
    cl_sub1(c, "$iothub/twin/res/#", 0);
    dps_mqtt_packet p;
    cl_publish(c, "$iothub/twin/GET/?$rid=3f2e-1d0c", " ", 0, 0);
    cl_expect(c, &p, DPS_MQTT_PUBLISH);
    assert_topic(&p, "$iothub/twin/res/200/?$rid=3f2e-1d0c");
    json_error_t jerr;
    json_t *twin = json_loadb((const char *)p.u.publish.payload.ptr, p.u.publish.payload.len, 0,
                              &jerr);
    assert_non_null(twin);
    assert_true(json_is_object(json_object_get(twin, "desired")));
    json_int_t v0 = json_integer_value(json_object_get(json_object_get(twin, "reported"),
                                                       "$version"));
    json_decref(twin);

    cl_publish(c, "$iothub/twin/PATCH/properties/reported/?$rid=4a&$version=9", "{\"fw\":\"2.4.1\"}",
               1, 3);
    /* PUBACK and the response, in that order (the response goes out
     * while the PUBLISH is handled, the PUBACK after it). */
    cl_expect(c, &p, DPS_MQTT_PUBLISH);
    char want[96];
    snprintf(want, sizeof want, "$iothub/twin/res/204/?$rid=4a&$version=%lld",
             (long long)v0 + 1);
    assert_topic(&p, want);
    assert_int_equal(p.u.publish.payload.len, 0);
    cl_expect(c, &p, DPS_MQTT_PUBACK);

    cl_publish(c, "$iothub/twin/PATCH/properties/reported/?$rid=5", "{not json", 0, 0);
    cl_expect(c, &p, DPS_MQTT_PUBLISH);
    assert_topic(&p, "$iothub/twin/res/400/?$rid=5");
    cl_publish(c, "$iothub/twin/PATCH/properties/reported/?$rid=6", "[1,2]", 0, 0);
    cl_expect(c, &p, DPS_MQTT_PUBLISH);
    assert_topic(&p, "$iothub/twin/res/400/?$rid=6");

    /* The new reported value is there. */
    cl_publish(c, "$iothub/twin/GET/?$rid=7", "", 0, 0);
    cl_expect(c, &p, DPS_MQTT_PUBLISH);
    assert_topic(&p, "$iothub/twin/res/200/?$rid=7");
    twin = json_loadb((const char *)p.u.publish.payload.ptr, p.u.publish.payload.len, 0, &jerr);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(twin, "reported"), "fw")), "2.4.1");
    json_decref(twin);
    cl_free(c);
}

static void test_subscribe_rules(void **state)
{
    (void)state;
    client *c = cl_device("dev1", true, NULL);
    const char *filters[] = {"$iothub/twin/res/#", "#", "devices/dev2/messages/devicebound/#",
                             "$iothub/methods/POST/#", "devices/dev1/messages/devicebound/#"};
    const uint8_t qos[] = {0, 1, 1, 2, 1};
    uint8_t codes[5];
    cl_subscribe(c, filters, qos, 5, codes);
    assert_int_equal(codes[0], 0);
    assert_int_equal(codes[1], 0x80);
    assert_int_equal(codes[2], 0x80);
    assert_int_equal(codes[3], 1); /* QoS 2 granted 1 */
    assert_int_equal(codes[4], 1);

    /* UNSUBSCRIBE is acknowledged. */
    dps_mqtt_sub us = {.filter = dps_mqtt_cstr("$iothub/methods/POST/#")};
    dps_mqtt_packet u = {.type = DPS_MQTT_UNSUBSCRIBE};
    u.u.subscribe.packet_id = 5;
    u.u.subscribe.subs = &us;
    u.u.subscribe.count = 1;
    cl_send(c, &u);
    dps_mqtt_packet p;
    cl_expect(c, &p, DPS_MQTT_UNSUBACK);
    assert_int_equal(p.u.packet_id, 5);

    /* Six filters in one SUBSCRIBE: over the cap, closed. */
    const char *six[] = {"a", "b", "c", "d", "e", "f"};
    dps_mqtt_sub subs[6];
    for (int i = 0; i < 6; i++) {
        subs[i].filter = dps_mqtt_cstr(six[i]);
        subs[i].qos = 0;
    }
    dps_mqtt_packet s6 = {.type = DPS_MQTT_SUBSCRIBE};
    s6.u.subscribe.packet_id = 6;
    s6.u.subscribe.subs = subs;
    s6.u.subscribe.count = 6;
    cl_send(c, &s6);
    cl_expect_closed(c);
    cl_free(c);
}

static void test_forbidden_publishes(void **state)
{
    (void)state;
    const char *topics[] = {
        "devices/dev2/messages/events/",
        "devices/dev1/messages/devicebound/x",
        "$iothub/twin/PATCH/properties/desired/?$rid=1",
        "some/topic",
        "$iothub/twin/GET/", /* no $rid */
    };
    for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++) {
        client *c = cl_device("dev1", true, NULL);
        cl_publish(c, topics[i], "x", 1, 1);
        cl_expect_closed(c);
        cl_free(c);
    }
    /* QoS 2 publish. */
    client *c = cl_device("dev1", true, NULL);
    cl_publish(c, "devices/dev1/messages/events/", "x", 2, 1);
    cl_expect_closed(c);
    cl_free(c);
    /* A second CONNECT. */
    c = cl_device("dev1", true, NULL);
    char *tok = sas_for("dev1", KEY1);
    assert_int_equal(cl_connect_raw(c, "dev1", HUB "/dev1/?api-version=1", tok, true, 60, NULL),
                     -1);
    free(tok);
    cl_free(c);
}

typedef struct {
    const char *id;
    hubd_live_state st;
} live_q;

static void read_live(void *arg)
{
    live_q *q = arg;
    hubd_sessions_live_state(&S.ctx, "HUB1.test", q->id, &q->st);
}

static void test_replace_and_live_state(void **state)
{
    (void)state;
    client *a = cl_device("dev1", true, NULL);
    live_q q = {.id = "dev1"};
    on_loop(read_live, &q);
    assert_true(q.st.connected);
    assert_true(q.st.state_updated_ns > 0);
    int64_t first = q.st.state_updated_ns;

    client *b = cl_device("dev1", true, NULL); /* replaces a */
    cl_expect_closed(a);
    cl_free(a);
    dps_mqtt_packet ping = {.type = DPS_MQTT_PINGREQ};
    dps_mqtt_packet p;
    cl_send(b, &ping);
    cl_expect(b, &p, DPS_MQTT_PINGRESP);
    on_loop(read_live, &q);
    assert_true(q.st.connected);
    assert_true(q.st.state_updated_ns >= first);

    dps_mqtt_packet disc = {.type = DPS_MQTT_DISCONNECT};
    cl_send(b, &disc);
    cl_expect_closed(b);
    cl_free(b);
    on_loop(read_live, &q);
    assert_false(q.st.connected);
    assert_true(q.st.last_activity_ns > 0);

    q.id = "never-seen";
    on_loop(read_live, &q);
    assert_false(q.st.connected);
    assert_int_equal(q.st.state_updated_ns, 0);
}

typedef struct {
    const char *id;
    const char *body;
    int rc;
} c2d_q;

static void send_c2d(void *arg)
{
    c2d_q *q = arg;
    json_t *props = json_pack("{s:s, s:n, s:s}", "color", "red blue", "flag", "$.ct",
                              "text/plain");
    q->rc = hubd_sessions_send_c2d(&S.ctx, HUB, q->id, q->body, strlen(q->body), props, "m-1");
    json_decref(props);
}

static void test_c2d_persistent_session(void **state)
{
    (void)state;
    bool present = true;
    client *c = cl_device("dev2", false, &present);
    cl_sub1(c, "devices/dev2/messages/devicebound/#", 1);

    c2d_q q = {.id = "dev2", .body = "hello"};
    on_loop(send_c2d, &q);
    assert_int_equal(q.rc, 0);
    dps_mqtt_packet p;
    cl_expect(c, &p, DPS_MQTT_PUBLISH);
    assert_topic(&p, "devices/dev2/messages/devicebound/%24.mid=m-1"
                     "&%24.to=%2Fdevices%2Fdev2%2Fmessages%2FdeviceBound&%24.ct=text%2Fplain"
                     "&iothub-ack=none&color=red%20blue&flag");
    assert_int_equal(p.u.publish.qos, 1);
    assert_false(p.u.publish.dup);
    assert_int_equal(p.u.publish.payload.len, 5);
    /* No PUBACK: the device goes away with the message in flight. */
    cl_free(c);
    wait_all_closed();

    /* Offline: another message queues. */
    q.body = "second";
    on_loop(send_c2d, &q);
    assert_int_equal(q.rc, 0);

    c = cl_device("dev2", false, &present);
    assert_true(present); /* the subscription survived */
    cl_expect(c, &p, DPS_MQTT_PUBLISH);
    assert_true(p.u.publish.dup); /* redelivery */
    assert_int_equal(p.u.publish.payload.len, 5);
    uint16_t id1 = p.u.publish.packet_id;
    cl_expect(c, &p, DPS_MQTT_PUBLISH);
    assert_false(p.u.publish.dup);
    assert_int_equal(p.u.publish.payload.len, 6);
    uint16_t id2 = p.u.publish.packet_id;
    assert_int_not_equal(id1, id2);
    dps_mqtt_packet ack = {.type = DPS_MQTT_PUBACK, .u.packet_id = id1};
    cl_send(c, &ack);
    ack.u.packet_id = id2;
    cl_send(c, &ack);
    dps_mqtt_packet ping = {.type = DPS_MQTT_PINGREQ};
    cl_send(c, &ping);
    cl_expect(c, &p, DPS_MQTT_PINGRESP);
    cl_free(c);

    /* Settled: nothing comes again. */
    c = cl_device("dev2", false, &present);
    assert_true(present);
    assert_int_equal(cl_recv(c, &p, 300), TIMEOUT);
    cl_free(c);

    /* Clean session: the state is gone, and a queued message with it. */
    q.body = "dropped";
    on_loop(send_c2d, &q);
    c = cl_device("dev2", true, &present);
    assert_false(present);
    cl_sub1(c, "devices/dev2/messages/devicebound/#", 1);
    assert_int_equal(cl_recv(c, &p, 300), TIMEOUT);
    cl_free(c);
}

typedef struct {
    uint64_t handle;
    int status;
    char payload[64];
    int calls;
    int connect_timeout;
} method_q;

static void method_done(void *arg, int status, const char *payload, size_t len)
{
    method_q *m = arg;
    m->calls++;
    m->status = status;
    snprintf(m->payload, sizeof m->payload, "%.*s", (int)len, payload);
}

static void invoke(void *arg)
{
    method_q *m = arg;
    m->handle = hubd_sessions_invoke_method(&S.ctx, HUB, "dev1", "reboot", "{\"delay\":1}", 11, 5,
                                            m->connect_timeout, method_done, m);
}

static void read_method(void *arg)
{
    method_q *src = ((method_q **)arg)[0];
    method_q *dst = ((method_q **)arg)[1];
    *dst = *src;
}

/* Polls the loop until the call completed (or ~6 s). */
static method_q wait_method(method_q *m)
{
    method_q copy = {0};
    method_q *args[2] = {m, &copy};
    for (int i = 0; i < 600; i++) {
        on_loop(read_method, args);
        if (copy.calls > 0)
            break;
        usleep(10000);
    }
    return copy;
}

static void test_direct_method(void **state)
{
    (void)state;
    /* Offline, no connect timeout: -1, from a timer (never inside invoke). */
    method_q off = {0};
    on_loop(invoke, &off);
    assert_true(off.handle != 0);
    method_q r = wait_method(&off);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.status, -1);

    client *c = cl_device("dev1", true, NULL);
    cl_sub1(c, "$iothub/methods/POST/#", 0);
    method_q m = {0};
    on_loop(invoke, &m);
    assert_int_equal(m.calls, 0);
    dps_mqtt_packet p;
    cl_expect(c, &p, DPS_MQTT_PUBLISH);
    char want[96];
    snprintf(want, sizeof want, "$iothub/methods/POST/reboot/?$rid=%llx",
             (unsigned long long)m.handle);
    assert_topic(&p, want);
    assert_int_equal(p.u.publish.payload.len, 11);

    /* A response with an unknown $rid is ignored; the right one ends it. */
    cl_publish(c, "$iothub/methods/res/500/?$rid=ffff", "{}", 0, 0);
    char topic[96];
    snprintf(topic, sizeof topic, "$iothub/methods/res/201/?$rid=%llx",
             (unsigned long long)m.handle);
    cl_publish(c, topic, "{\"ok\":true}", 1, 4);
    cl_expect(c, &p, DPS_MQTT_PUBACK);
    r = wait_method(&m);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.payload, "{\"ok\":true}");

    /* Waiting for the device to subscribe within the connect timeout. */
    cl_free(c);
    wait_all_closed();
    method_q w = {.connect_timeout = 5};
    on_loop(invoke, &w);
    c = cl_device("dev1", true, NULL);
    cl_sub1(c, "$iothub/methods/POST/#", 1);
    cl_expect(c, &p, DPS_MQTT_PUBLISH);
    assert_int_equal(p.u.publish.qos, 1);
    snprintf(topic, sizeof topic, "$iothub/methods/res/200/?$rid=%llx",
             (unsigned long long)w.handle);
    cl_publish(c, topic, "", 0, 0);
    r = wait_method(&w);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.payload, "");
    cl_free(c);
}

typedef struct {
    const char *id;
} desired_q;

static void notify(void *arg)
{
    desired_q *q = arg;
    json_t *patch = json_pack("{s:i, s:n}", "sampleSeconds", 30, "gone");
    hubd_sessions_notify_desired(&S.ctx, HUB, q->id, patch, 7);
    json_decref(patch);
}

static void test_desired_notification(void **state)
{
    (void)state;
    client *c = cl_device("dev1", true, NULL);
    desired_q q = {"dev1"};
    on_loop(notify, &q); /* not subscribed: nothing */
    dps_mqtt_packet p;
    assert_int_equal(cl_recv(c, &p, 200), TIMEOUT);
    cl_sub1(c, "$iothub/twin/PATCH/properties/desired/#", 0);
    on_loop(notify, &q);
    cl_expect(c, &p, DPS_MQTT_PUBLISH);
    assert_topic(&p, "$iothub/twin/PATCH/properties/desired/?$version=7");
    json_error_t jerr;
    json_t *body = json_loadb((const char *)p.u.publish.payload.ptr, p.u.publish.payload.len, 0,
                              &jerr);
    assert_int_equal(json_integer_value(json_object_get(body, "sampleSeconds")), 30);
    assert_true(json_is_null(json_object_get(body, "gone")));
    assert_int_equal(json_integer_value(json_object_get(body, "$version")), 7);
    json_decref(body);
    cl_free(c);
}

static void test_keepalive_expiry(void **state)
{
    (void)state;
    client *c = cl_open();
    char *tok = sas_for("dev1", KEY1);
    assert_int_equal(cl_connect_raw(c, "dev1", HUB "/dev1/?api-version=1", tok, true, 1, NULL), 0);
    free(tok);
    /* 1 s keep-alive: closed after 1.5 s of silence. */
    dps_mqtt_packet p;
    int rc = cl_recv(c, &p, 3000);
    assert_int_equal(rc, CLOSED);
    cl_free(c);
}

static void set_cap(void *arg)
{
    hubd_mqtt_set_max_connections(S.ep, *(size_t *)arg);
}

static void test_connection_cap(void **state)
{
    (void)state;
    wait_all_closed();
    size_t one = 1;
    on_loop(set_cap, &one);
    /* A refused connect gives its slot back at once, not after it is
     * closed: the next device gets in while the refused one is open. */
    client *r = cl_open();
    char *wrong = sas_for("dev1", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    assert_int_equal(cl_connect_raw(r, "dev1", HUB "/dev1/?api-version=1", wrong, true, 60, NULL),
                     5);
    free(wrong);
    client *a = cl_device("dev1", true, NULL);
    cl_expect_closed(r);
    cl_free(r);
    client *b = cl_open();
    char *tok = sas_for("dev2", KEY1);
    assert_int_equal(cl_connect_raw(b, "dev2", HUB "/dev2/?api-version=1", tok, true, 60, NULL),
                     3);
    free(tok);
    cl_expect_closed(b);
    cl_free(b);
    /* The device at the cap may still replace its own connection. */
    client *a2 = cl_device("dev1", true, NULL);
    cl_expect_closed(a);
    cl_free(a);
    cl_free(a2);
    size_t many = 1000;
    on_loop(set_cap, &many);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_refusals),
        cmocka_unit_test(test_bad_first_packets),
        cmocka_unit_test(test_telemetry),
        cmocka_unit_test(test_twin),
        cmocka_unit_test(test_subscribe_rules),
        cmocka_unit_test(test_forbidden_publishes),
        cmocka_unit_test(test_replace_and_live_state),
        cmocka_unit_test(test_c2d_persistent_session),
        cmocka_unit_test(test_direct_method),
        cmocka_unit_test(test_desired_notification),
        cmocka_unit_test(test_keepalive_expiry),
        cmocka_unit_test(test_connection_cap),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
