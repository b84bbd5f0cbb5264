/* lib/mqttsrv end to end, in one process: the real server with a small
 * test protocol plugged in, a self-signed TLS context that asks for client
 * certificates, and a blocking TLS client driving it packet by packet.
 *
 * The event loop runs in a second thread; the test thread is the client.
 * What the protocol saw (counters, the last close reason) lives on the loop
 * thread and is read through on_loop(). */
#include <arpa/inet.h>
#include <netinet/in.h>
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

#include "common/timeutil.h"
#include "mqttsrv/mqtt_server.h"

#define MAX_PACKET 4096
#define MAX_OUTPUT 8192
#define MAX_INFLIGHT 3

#define TLS_LOOPBACK_RECV_BUF (MAX_OUTPUT * 2)
#define TLS_LOOPBACK_SEND_BUF (MAX_PACKET * 2)
#include "../tls_loopback.h"

/* ---- the test protocol ------------------------------------------------------ */

typedef struct {
    int serial;
    int packets;
    char cn[64]; /* subject CN of the client certificate, "" without one */
} tstate;

static struct {
    int connects, accepted, closes, frees, pings, pubacks, busy;
    int serial;
    char last_close[96];
    char last_cn[64];
} P;

static void on_connect(void *arg, dps_mqttsrv_conn *c, const dps_mqtt_connect *k,
                       const dps_mqttsrv_peer *peer, dps_mqttsrv_verdict *out)
{
    (void)arg;
    P.connects++;
    if (dps_mqtt_str_eq(k->client_id, "refuse5")) {
        out->code = DPS_MQTT_CONNACK_NOT_AUTHORIZED;
        out->why = "test refusal";
        return;
    }
    if (!dps_mqttsrv_take_slot(c, false)) {
        out->code = DPS_MQTT_CONNACK_UNAVAILABLE;
        out->why = "cap";
        return;
    }
    tstate *st = calloc(1, sizeof *st);
    assert_non_null(st);
    st->serial = ++P.serial;
    P.last_cn[0] = '\0';
    if (peer->leaf != NULL) {
        X509_NAME_get_text_by_NID(X509_get_subject_name(peer->leaf), NID_commonName, st->cn,
                                  sizeof st->cn);
        snprintf(P.last_cn, sizeof P.last_cn, "%s", st->cn);
    }
    out->state = st;
    out->session_present = dps_mqtt_str_eq(k->client_id, "present");
}

static void on_accepted(void *arg, dps_mqttsrv_conn *c)
{
    (void)arg;
    P.accepted++;
    /* What waited for the client goes out right after the CONNACK. */
    static const char hello[] = "hello";
    assert_int_equal(dps_mqttsrv_publish(c, "hello", 5, hello, 5, 0, false, NULL),
                     DPS_MQTTSRV_SENT);
}

static int on_publish(dps_mqttsrv_conn *c, tstate *st, const dps_mqtt_publish *p,
                      const char **why)
{
    if (dps_mqtt_str_eq(p->topic, "echo")) {
        uint16_t id = 0xffff;
        dps_mqttsrv_send_result r = dps_mqttsrv_publish(c, "echo/res", 8, p->payload.ptr,
                                                        p->payload.len, p->qos, false, &id);
        if (r == DPS_MQTTSRV_BUSY)
            P.busy++;
        if (p->qos == 0)
            assert_int_equal(id, r == DPS_MQTTSRV_SENT ? 0 : 0xffff);
    } else if (dps_mqtt_str_eq(p->topic, "flood")) {
        /* Ten 1000-byte publishes in one go: the output cap (8 KiB) is hit
         * before the loop gets a chance to write anything. */
        static uint8_t big[1000];
        for (int i = 0; i < 10; i++) {
            if (dps_mqttsrv_publish(c, "flood/res", 9, big, sizeof big, 0, false, NULL) !=
                DPS_MQTTSRV_SENT)
                break;
        }
        assert_false(dps_mqttsrv_conn_is_open(c));
        return 0;
    } else if (dps_mqtt_str_eq(p->topic, "close")) {
        dps_mqttsrv_close(c, "asked to close");
        /* The state stays readable after a close from inside a callback
         * (on_free comes later): ASan checks this line. */
        st->packets++;
        assert_int_equal(dps_mqttsrv_puback(c, 1), DPS_MQTTSRV_CLOSED);
        return 0;
    } else if (dps_mqtt_str_eq(p->topic, "bad")) {
        *why = "bad topic";
        return -1;
    } else if (dps_mqtt_str_eq(p->topic, "wildcard")) {
        /* The protocol's own mistake: refused, connection kept. */
        assert_int_equal(dps_mqttsrv_publish(c, "a/#", 3, "", 0, 0, false, NULL),
                         DPS_MQTTSRV_INVALID);
    }
    if (p->qos == 1)
        (void)dps_mqttsrv_puback(c, p->packet_id);
    return 0;
}

static int on_packet(void *arg, dps_mqttsrv_conn *c, const dps_mqtt_packet *p, const char **why)
{
    (void)arg;
    tstate *st = dps_mqttsrv_conn_state(c);
    st->packets++;
    switch (p->type) {
    case DPS_MQTT_PUBLISH:
        return on_publish(c, st, &p->u.publish, why);
    case DPS_MQTT_SUBSCRIBE: {
        uint8_t codes[8];
        for (size_t i = 0; i < p->u.subscribe.count; i++)
            codes[i] = p->u.subscribe.subs[i].qos > 1 ? 1 : p->u.subscribe.subs[i].qos;
        (void)dps_mqttsrv_suback(c, p->u.subscribe.packet_id, codes, p->u.subscribe.count);
        return 0;
    }
    case DPS_MQTT_UNSUBSCRIBE:
        (void)dps_mqttsrv_unsuback(c, p->u.subscribe.packet_id);
        return 0;
    case DPS_MQTT_PUBACK:
        P.pubacks++;
        return 0;
    case DPS_MQTT_PINGREQ:
        P.pings++;
        return 0;
    default:
        fail_msg("the server passed a %s on", dps_mqtt_type_name(p->type));
        return -1;
    }
}

static void on_close(void *arg, dps_mqttsrv_conn *c, const char *why)
{
    (void)arg;
    assert_non_null(dps_mqttsrv_conn_state(c));
    assert_false(dps_mqttsrv_conn_is_open(c));
    P.closes++;
    snprintf(P.last_close, sizeof P.last_close, "%s", why);
}

static void on_free(void *arg, void *state)
{
    (void)arg;
    P.frees++;
    free(state);
}

static const dps_mqttsrv_callbacks protocol = {
    .on_connect = on_connect,
    .on_accepted = on_accepted,
    .on_packet = on_packet,
    .on_close = on_close,
    .on_free = on_free,
};

/* ---- the server, on its own thread ----------------------------------------- */

static struct {
    struct event_base *base;
    SSL_CTX *tls;
    dps_mqttsrv *srv;
    uint16_t port;
    tls_loop loop;
} S;

/* Runs fn(arg) on the loop thread and waits for it. */
static void on_loop(loop_fn fn, void *arg)
{
    tls_loop_run(&S.loop, fn, arg);
}

static int accept_any(int ok, X509_STORE_CTX *store)
{
    (void)ok;
    (void)store;
    return 1; /* the protocol judges the chain, not OpenSSL */
}

static dps_mqttsrv_options server_options(const dps_listen_addr *a)
{
    dps_mqttsrv_options o = {
        .listen = a,
        .nlisten = 1,
        .cb = &protocol,
        .max_packet_preauth = 1024,
        .max_packet = MAX_PACKET,
        .max_output = MAX_OUTPUT,
        .max_filters = 2,
        .connect_timeout_s = 1,
        .linger_s = 1,
        .max_inflight = MAX_INFLIGHT,
        .log_name = "test-mqtt",
    };
    return o;
}

static int setup(void **state)
{
    (void)state;
    char err[256];
    S.base = event_base_new();
    assert_non_null(S.base);
    S.tls = tls_server_ctx(accept_any);
    dps_listen_addr a = {.host = "127.0.0.1", .port = 0};
    dps_mqttsrv_options o = server_options(&a);
    S.srv = dps_mqttsrv_start(S.base, S.tls, &o, err, sizeof err);
    if (S.srv == NULL)
        fail_msg("start: %s", err);
    assert_int_equal(dps_mqttsrv_listener_count(S.srv), 1);
    S.port = dps_mqttsrv_listener_port(S.srv, 0);
    assert_true(S.port != 0);
    char want[64];
    snprintf(want, sizeof want, "mqtts://127.0.0.1:%u", (unsigned)S.port);
    assert_string_equal(dps_mqttsrv_listener_url(S.srv, 0), want);
    assert_null(dps_mqttsrv_listener_url(S.srv, 1));

    tls_loop_start(&S.loop, S.base);
    return 0;
}

static void do_shutdown(void *arg)
{
    (void)arg;
    dps_mqttsrv_free(&S.srv);
    assert_null(S.srv);
    event_base_loopbreak(S.base);
}

static int teardown(void **state)
{
    (void)state;
    on_loop(do_shutdown, NULL);
    tls_loop_join(&S.loop);
    event_base_free(S.base);
    SSL_CTX_free(S.tls);
    /* Every accepted connection was closed and freed exactly once. */
    assert_int_equal(P.closes, P.frees);
    return 0;
}

/* ---- the client: blocking TLS (tls_loopback.h) ------------------------------ */

static client *cl_open(void)
{
    return cl_open_port(S.port, NULL);
}

/* CONNECT; the CONNACK code, or -1 when the server closed instead. */
static int cl_connect(client *c, const char *client_id, uint16_t keep_alive, bool *present)
{
    dps_mqtt_packet p = {.type = DPS_MQTT_CONNECT};
    p.u.connect.client_id = dps_mqtt_cstr(client_id);
    p.u.connect.clean_session = true;
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

/* An accepted client past the "hello" the protocol sends on acceptance. */
static client *cl_accepted(const char *client_id)
{
    client *c = cl_open();
    assert_int_equal(cl_connect(c, client_id, 60, NULL), 0);
    dps_mqtt_packet p;
    cl_expect(c, &p, DPS_MQTT_PUBLISH);
    assert_true(dps_mqtt_str_eq(p.u.publish.topic, "hello"));
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

static void cl_puback(client *c, uint16_t id)
{
    dps_mqtt_packet p = {.type = DPS_MQTT_PUBACK, .u.packet_id = id};
    cl_send(c, &p);
}

/* ---- reading the loop side --------------------------------------------------- */

typedef struct {
    int connects, accepted, closes, frees, pings, pubacks, busy;
    size_t active;
    char last_close[96];
    char last_cn[64];
} snapshot;

static void take_snapshot(void *arg)
{
    snapshot *s = arg;
    s->connects = P.connects;
    s->accepted = P.accepted;
    s->closes = P.closes;
    s->frees = P.frees;
    s->pings = P.pings;
    s->pubacks = P.pubacks;
    s->busy = P.busy;
    s->active = dps_mqttsrv_connection_count(S.srv);
    snprintf(s->last_close, sizeof s->last_close, "%s", P.last_close);
    snprintf(s->last_cn, sizeof s->last_cn, "%s", P.last_cn);
}

static snapshot snap(void)
{
    snapshot s;
    on_loop(take_snapshot, &s);
    return s;
}

/* A client's close reaches the server asynchronously: wait until no
 * authenticated connection is left and every closed one is freed. */
static snapshot wait_idle(void)
{
    for (int i = 0; i < 500; i++) {
        snapshot s = snap();
        if (s.active == 0 && s.closes == s.frees)
            return s;
        usleep(10000);
    }
    fail_msg("connections still open");
    return snap();
}

/* ---- tests ---------------------------------------------------------------- */

static void test_keepalive_rule(void **state)
{
    (void)state;
    assert_int_equal(dps_mqttsrv_keepalive_timeout_ms(0, 1767), 0); /* none */
    assert_int_equal(dps_mqttsrv_keepalive_timeout_ms(1, 1767), 1500);
    assert_int_equal(dps_mqttsrv_keepalive_timeout_ms(180, 1767), 270000); /* Node */
    assert_int_equal(dps_mqttsrv_keepalive_timeout_ms(240, 1767), 360000); /* C SDK */
    assert_int_equal(dps_mqttsrv_keepalive_timeout_ms(1178, 1767), 1767000);
    assert_int_equal(dps_mqttsrv_keepalive_timeout_ms(1179, 1767), 1767000); /* capped */
    assert_int_equal(dps_mqttsrv_keepalive_timeout_ms(65535, 1767), 1767000);
    assert_int_equal(dps_mqttsrv_keepalive_timeout_ms(100, 60), 60000);
    assert_int_equal(dps_mqttsrv_keepalive_timeout_ms(65535, 0), 1767000); /* default cap */
}

/* On the loop thread: the base is not shared across threads. */
static void start_refusals(void *arg)
{
    (void)arg;
    char err[256];
    dps_listen_addr a = {.host = "127.0.0.1", .port = 0};
    dps_mqttsrv_options o = server_options(&a);
    o.nlisten = 0;
    assert_null(dps_mqttsrv_start(S.base, S.tls, &o, err, sizeof err));
    assert_non_null(strstr(err, "listen addresses"));
    o = server_options(&a);
    o.max_packet_preauth = MAX_PACKET + 1; /* over the post-CONNECT cap */
    assert_null(dps_mqttsrv_start(S.base, S.tls, &o, err, sizeof err));
    o = server_options(&a);
    o.cb = NULL;
    assert_null(dps_mqttsrv_start(S.base, S.tls, &o, err, sizeof err));
    /* A port already taken: nothing stays bound. */
    dps_listen_addr taken = {.host = "127.0.0.1", .port = S.port};
    o = server_options(&taken);
    assert_null(dps_mqttsrv_start(S.base, S.tls, &o, err, sizeof err));
    assert_non_null(strstr(err, "cannot listen"));
}

static void test_start_refusals(void **state)
{
    (void)state;
    on_loop(start_refusals, NULL);
}

static void test_refusal_and_bad_first_packets(void **state)
{
    (void)state;
    snapshot before = wait_idle();
    /* The protocol refuses: CONNACK 5, then closed; on_close is not owed. */
    client *c = cl_open();
    assert_int_equal(cl_connect(c, "refuse5", 60, NULL), 5);
    cl_expect_closed(c);
    cl_free(c);
    /* Not a CONNECT first. */
    c = cl_open();
    cl_raw(c, "\xc0\x00", 2); /* PINGREQ */
    cl_expect_closed(c);
    cl_free(c);
    /* MQTT 3.1: CONNACK 1 from the server itself, then closed. */
    c = cl_open();
    static const uint8_t v31[] = {0x10, 0x11, 0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', 0x03,
                                  0x02, 0x00, 0x3c, 0x00, 0x03, 'a',  'b', 'c'};
    cl_raw(c, v31, sizeof v31);
    dps_mqtt_packet p;
    cl_expect(c, &p, DPS_MQTT_CONNACK);
    assert_int_equal(p.u.connack.return_code, 1);
    cl_expect_closed(c);
    cl_free(c);
    /* A CONNECT over the pre-CONNECT cap (1 KiB) is refused from its
     * header: 2000 bytes announced, 3 sent. */
    c = cl_open();
    cl_raw(c, "\x10\xd0\x0f", 3);
    cl_expect_closed(c);
    cl_free(c);
    /* HTTP instead of MQTT. */
    c = cl_open();
    cl_raw(c, "GET / HTTP/1.1\r\n\r\n", 18);
    cl_expect_closed(c);
    cl_free(c);
    /* A malformed CONNECT (client ID length beyond the packet). */
    c = cl_open();
    static const uint8_t bad[] = {0x10, 0x0e, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04,
                                  0x02, 0x00, 0x3c, 0x00, 0x09, 'a',  'b'};
    cl_raw(c, bad, sizeof bad);
    cl_expect_closed(c);
    cl_free(c);
    snapshot after = wait_idle();
    assert_int_equal(after.connects, before.connects + 1); /* only "refuse5" got that far */
    assert_int_equal(after.accepted, before.accepted);
    assert_int_equal(after.closes, before.closes);
}

static void test_connect_deadline(void **state)
{
    (void)state;
    /* connect_timeout_s is 1: TLS done, no CONNECT, closed soon after. */
    client *c = cl_open();
    int64_t t0 = dps_monotonic_ms();
    cl_expect_closed(c);
    int64_t took = dps_monotonic_ms() - t0;
    assert_true(took >= 800 && took < 4000);
    cl_free(c);
}

static void test_accepted_session(void **state)
{
    (void)state;
    snapshot before = wait_idle();
    client *c = cl_open();
    bool present = false;
    assert_int_equal(cl_connect(c, "present", 60, &present), 0);
    assert_true(present);
    dps_mqtt_packet p;
    cl_expect(c, &p, DPS_MQTT_PUBLISH); /* on_accepted's, after the CONNACK */
    assert_true(dps_mqtt_str_eq(p.u.publish.topic, "hello"));
    assert_int_equal(snap().active, 1);

    /* PINGREQ is the server's to answer; the protocol sees it too. */
    static const uint8_t ping[] = {0xc0, 0x00};
    cl_raw(c, ping, sizeof ping);
    cl_expect(c, &p, DPS_MQTT_PINGRESP);
    assert_int_equal(snap().pings, before.pings + 1);

    /* SUBSCRIBE and UNSUBSCRIBE reach the protocol, which acknowledges. */
    dps_mqtt_sub subs[2] = {{dps_mqtt_cstr("a/#"), 2}, {dps_mqtt_cstr("b"), 0}};
    dps_mqtt_packet sub = {.type = DPS_MQTT_SUBSCRIBE};
    sub.u.subscribe.packet_id = 9;
    sub.u.subscribe.subs = subs;
    sub.u.subscribe.count = 2;
    cl_send(c, &sub);
    cl_expect(c, &p, DPS_MQTT_SUBACK);
    assert_int_equal(p.u.suback.packet_id, 9);
    assert_int_equal(p.u.suback.codes.len, 2);
    assert_int_equal(p.u.suback.codes.ptr[0], 1);
    sub.type = DPS_MQTT_UNSUBSCRIBE;
    sub.u.subscribe.packet_id = 10;
    cl_send(c, &sub);
    cl_expect(c, &p, DPS_MQTT_UNSUBACK);
    assert_int_equal(p.u.packet_id, 10);

    /* QoS 0 echo: the answer comes at QoS 0 without a packet ID. */
    cl_publish(c, "echo", "zero", 0, 0);
    cl_expect(c, &p, DPS_MQTT_PUBLISH);
    assert_true(dps_mqtt_str_eq(p.u.publish.topic, "echo/res"));
    assert_int_equal(p.u.publish.qos, 0);

    /* The protocol's own bad topic is refused without closing. */
    cl_publish(c, "wildcard", "", 0, 0);
    cl_publish(c, "echo", "still here", 0, 0);
    cl_expect(c, &p, DPS_MQTT_PUBLISH);
    assert_int_equal(p.u.publish.payload.len, 10);

    /* DISCONNECT: the protocol hears why. */
    static const uint8_t disc[] = {0xe0, 0x00};
    cl_raw(c, disc, sizeof disc);
    cl_expect_closed(c);
    cl_free(c);
    snapshot after = wait_idle();
    assert_int_equal(after.accepted, before.accepted + 1);
    assert_int_equal(after.closes, before.closes + 1);
    assert_string_equal(after.last_close, "DISCONNECT");
}

static void test_qos1_packet_ids(void **state)
{
    (void)state;
    snapshot before = wait_idle();
    client *c = cl_accepted("ids");
    dps_mqtt_packet p;
    uint16_t ids[MAX_INFLIGHT];
    /* Three QoS 1 echoes, none acknowledged: three distinct, non-zero
     * IDs, each request PUBACKed after its response. */
    for (int i = 0; i < MAX_INFLIGHT; i++) {
        cl_publish(c, "echo", "one", 1, (uint16_t)(100 + i));
        cl_expect(c, &p, DPS_MQTT_PUBLISH);
        assert_int_equal(p.u.publish.qos, 1);
        ids[i] = p.u.publish.packet_id;
        assert_true(ids[i] != 0);
        for (int j = 0; j < i; j++)
            assert_true(ids[j] != ids[i]);
        cl_expect(c, &p, DPS_MQTT_PUBACK);
        assert_int_equal(p.u.packet_id, 100 + i);
    }
    /* The window is full: the next QoS 1 publish is BUSY, nothing sent. */
    cl_publish(c, "echo", "one", 1, 200);
    cl_expect(c, &p, DPS_MQTT_PUBACK);
    assert_int_equal(p.u.packet_id, 200);
    assert_int_equal(snap().busy, before.busy + 1);
    /* Acknowledging one frees one slot, and its ID is not reused while
     * the other two are held. */
    cl_puback(c, ids[1]);
    cl_publish(c, "echo", "two", 1, 201);
    cl_expect(c, &p, DPS_MQTT_PUBLISH);
    uint16_t fresh = p.u.publish.packet_id;
    assert_true(fresh != ids[0] && fresh != ids[2] && fresh != 0);
    cl_expect(c, &p, DPS_MQTT_PUBACK);
    assert_int_equal(snap().pubacks, before.pubacks + 1);
    /* An unknown PUBACK is passed on and harms nothing. */
    cl_puback(c, 0x7777);
    cl_publish(c, "echo", "zero", 0, 0);
    cl_expect(c, &p, DPS_MQTT_PUBLISH);
    cl_free(c);
    wait_idle();
}

static void test_server_closes(void **state)
{
    (void)state;
    static const uint8_t second_connect[] = {0x10, 0x0d, 0x00, 0x04, 'M', 'Q', 'T', 'T',
                                             0x04, 0x02, 0x00, 0x3c, 0x00, 0x01, 'x'};
    static const uint8_t qos2[] = {0x34, 0x05, 0x00, 0x01, 't', 0x00, 0x01};
    static const uint8_t pubrel[] = {0x62, 0x02, 0x00, 0x01};
    static const uint8_t suback[] = {0x90, 0x03, 0x00, 0x01, 0x00};
    /* Three filters where max_filters is 2 (the codec's TOO_MANY). */
    static const uint8_t three[] = {0x82, 0x0e, 0x00, 0x01, 0x00, 0x01, 'a', 0x00,
                                    0x00, 0x01, 'b',  0x00, 0x00, 0x01, 'c', 0x00};
    static const uint8_t malformed[] = {0x30, 0x02, 0x00, 0x05};
    static const struct {
        const char *name;
        const uint8_t *bytes;
        size_t len;
        const char *reason;
    } cases[] = {
        {"second CONNECT", second_connect, sizeof second_connect, "second CONNECT"},
        {"QoS 2 publish", qos2, sizeof qos2, "QoS 2 publish"},
        {"PUBREL", pubrel, sizeof pubrel, "QoS 2 flow"},
        {"SUBACK from a client", suback, sizeof suback, "server-to-client packet from a client"},
        {"three filters", three, sizeof three, "too many filters in one packet"},
        {"malformed", malformed, sizeof malformed, "malformed packet"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        client *c = cl_accepted("closer");
        cl_raw(c, cases[i].bytes, cases[i].len);
        cl_expect_closed(c);
        cl_free(c);
        snapshot s = wait_idle();
        if (strcmp(s.last_close, cases[i].reason) != 0)
            fail_msg("%s: closed for \"%s\"", cases[i].name, s.last_close);
    }
}

static void test_protocol_closes(void **state)
{
    (void)state;
    /* on_packet returns -1 with a reason. */
    client *c = cl_accepted("p1");
    cl_publish(c, "bad", "", 0, 0);
    cl_expect_closed(c);
    cl_free(c);
    assert_string_equal(wait_idle().last_close, "bad topic");
    /* The protocol closes from inside its own callback and goes on using
     * its state: freed only later. */
    c = cl_accepted("p2");
    cl_publish(c, "close", "", 1, 5);
    cl_expect_closed(c);
    cl_free(c);
    assert_string_equal(wait_idle().last_close, "asked to close");
    /* Output over the high-water mark closes a client that is not
     * reading. */
    c = cl_accepted("p3");
    cl_publish(c, "flood", "", 0, 0);
    cl_expect_closed(c);
    cl_free(c);
    assert_non_null(strstr(wait_idle().last_close, "high-water mark"));
    /* A packet over the post-CONNECT cap (4 KiB) closes. */
    c = cl_accepted("p4");
    cl_raw(c, "\x30\xff\x7f", 3); /* 16383 bytes announced */
    cl_expect_closed(c);
    cl_free(c);
    assert_string_equal(wait_idle().last_close, "packet over the size cap");
}

static void test_keepalive_expiry(void **state)
{
    (void)state;
    client *c = cl_open();
    assert_int_equal(cl_connect(c, "ka", 1, NULL), 0);
    dps_mqtt_packet p;
    cl_expect(c, &p, DPS_MQTT_PUBLISH); /* hello */
    /* Traffic keeps it alive past 1.5 s ... */
    for (int i = 0; i < 3; i++) {
        usleep(700 * 1000);
        static const uint8_t ping[] = {0xc0, 0x00};
        cl_raw(c, ping, sizeof ping);
        cl_expect(c, &p, DPS_MQTT_PINGRESP);
    }
    /* ... silence does not. */
    int64_t t0 = dps_monotonic_ms();
    assert_int_equal(cl_recv(c, &p, 4000), CLOSED);
    int64_t took = dps_monotonic_ms() - t0;
    assert_true(took >= 1200 && took < 3500);
    cl_free(c);
    assert_string_equal(wait_idle().last_close, "keep-alive expired");
}

static void set_cap(void *arg)
{
    dps_mqttsrv_set_max_connections(S.srv, *(size_t *)arg);
}

static void test_connection_cap(void **state)
{
    (void)state;
    wait_idle();
    size_t one = 1;
    on_loop(set_cap, &one);
    client *a = cl_accepted("a");
    client *b = cl_open();
    assert_int_equal(cl_connect(b, "b", 60, NULL), 3);
    cl_expect_closed(b);
    cl_free(b);
    /* A refusal holds no slot: after a goes, the next one gets in. */
    cl_free(a);
    wait_idle();
    a = cl_accepted("a2");
    assert_int_equal(snap().active, 1);
    cl_free(a);
    size_t many = 1000;
    on_loop(set_cap, &many);
    wait_idle();
}

static void test_peer_certificate(void **state)
{
    (void)state;
    client *c = cl_open_port(S.port, "device-x509");
    assert_int_equal(cl_connect(c, "x", 60, NULL), 0);
    snapshot s = snap();
    assert_string_equal(s.last_cn, "device-x509");
    cl_free(c);
    c = cl_accepted("no-cert");
    assert_string_equal(snap().last_cn, "");
    cl_free(c);
    wait_idle();
}

/* A second server, freed while a client is connected: the protocol hears
 * "shutting down" and its state is freed. */
static struct {
    dps_mqttsrv *srv;
    uint16_t port;
} T;

static void start_second(void *arg)
{
    (void)arg;
    char err[256];
    dps_listen_addr a = {.host = "127.0.0.1", .port = 0};
    dps_mqttsrv_options o = server_options(&a);
    T.srv = dps_mqttsrv_start(S.base, S.tls, &o, err, sizeof err);
    assert_non_null(T.srv);
    T.port = dps_mqttsrv_listener_port(T.srv, 0);
}

static void count_second(void *arg)
{
    *(size_t *)arg = dps_mqttsrv_connection_count(T.srv);
}

static void free_second(void *arg)
{
    (void)arg;
    dps_mqttsrv_free(&T.srv);
}

static void test_free_with_connections(void **state)
{
    (void)state;
    snapshot before = wait_idle();
    on_loop(start_second, NULL);
    client *c = cl_open_port(T.port, NULL);
    assert_int_equal(cl_connect(c, "late", 60, NULL), 0);
    size_t n = 0;
    on_loop(count_second, &n);
    assert_int_equal(n, 1);
    on_loop(free_second, NULL);
    snapshot after = snap();
    assert_int_equal(after.closes, before.closes + 1);
    assert_int_equal(after.frees, before.frees + 1);
    assert_string_equal(after.last_close, "shutting down");
    cl_expect_closed(c);
    cl_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keepalive_rule),
        cmocka_unit_test(test_start_refusals),
        cmocka_unit_test(test_refusal_and_bad_first_packets),
        cmocka_unit_test(test_connect_deadline),
        cmocka_unit_test(test_accepted_session),
        cmocka_unit_test(test_qos1_packet_ids),
        cmocka_unit_test(test_server_closes),
        cmocka_unit_test(test_protocol_closes),
        cmocka_unit_test(test_keepalive_expiry),
        cmocka_unit_test(test_connection_cap),
        cmocka_unit_test(test_peer_certificate),
        cmocka_unit_test(test_free_with_connections),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
