/* One device connection: the state machine (style.md practice 7), CONNECT
 * with its authentication (hub.md 8.1), input framing under a size cap,
 * keep-alive, and output with a high-water mark.
 *
 *   AWAIT_CONNECT --CONNECT ok--> ACTIVE --(anything fatal)--> CLOSED
 *        |  \--CONNECT refused (CONNACK != 0)--> LINGER --flushed/timeout--> CLOSED
 *        \--timeout / other packet / bad bytes--> CLOSED
 *
 * CLOSED connections are unlinked from everything at once and freed later
 * by the endpoint (never inside their own callbacks, practice 13). */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "model/registry.h"
#include "mqtt/internal.h"

typedef enum {
    CONN_AWAIT_CONNECT,
    CONN_ACTIVE,
    CONN_LINGER, /* a refusing CONNACK is being flushed */
    CONN_CLOSED,
} conn_state;

struct hubd_mqtt_conn {
    hubd_conn_links links; /* endpoint.c's lists */
    hubd_mqtt_endpoint *ep;
    hubd_ctx *ctx;
    struct bufferevent *bev;
    struct event *timer; /* CONNECT deadline, keep-alive, or linger */
    conn_state state;
    bool has_slot;       /* counted against the connection cap */
    hubd_device *dev;    /* while ACTIVE */
    int64_t last_rx_ms;  /* monotonic, last whole packet */
    int64_t keepalive_ms;
    uint16_t last_packet_id;
    char peer[64];
};

static void on_read(struct bufferevent *bev, void *arg);
static void on_event(struct bufferevent *bev, short what, void *arg);
static void on_timer(evutil_socket_t fd, short what, void *arg);

hubd_conn_links *hubd_conn_links_of(hubd_mqtt_conn *c)
{
    return &c->links;
}

hubd_device *hubd_conn_device(const hubd_mqtt_conn *c)
{
    return c->dev;
}

const char *hubd_conn_peer(const hubd_mqtt_conn *c)
{
    return c->peer;
}

bool hubd_conn_is_open(const hubd_mqtt_conn *c)
{
    return c->state == CONN_ACTIVE;
}

static void arm_ms(hubd_mqtt_conn *c, int64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    if (evtimer_add(c->timer, &tv) != 0)
        log_error("mqtt: cannot arm a connection timer");
}

hubd_mqtt_conn *hubd_conn_new(hubd_mqtt_endpoint *ep, hubd_ctx *ctx, struct bufferevent *bev,
                              const char *peer)
{
    hubd_mqtt_conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        bufferevent_free(bev);
        return NULL;
    }
    c->timer = evtimer_new(ctx->base, on_timer, c);
    if (c->timer == NULL) {
        bufferevent_free(bev);
        free(c);
        return NULL;
    }
    c->ep = ep;
    c->ctx = ctx;
    c->bev = bev;
    c->state = CONN_AWAIT_CONNECT;
    c->last_rx_ms = dps_monotonic_ms();
    snprintf(c->peer, sizeof c->peer, "%s", peer);
    /* Reading pauses once a whole maximal packet is buffered; since every
     * complete packet is consumed at once, more never needs to wait. */
    bufferevent_setwatermark(bev, EV_READ, 0, HUBD_MQTT_MAX_PACKET);
    bufferevent_setcb(bev, on_read, NULL, on_event, c);
    hubd_endpoint_link(ep, c);
    if (bufferevent_enable(bev, EV_READ | EV_WRITE) != 0) {
        hubd_conn_close(c, "cannot enable the connection");
        return NULL;
    }
    arm_ms(c, (int64_t)HUBD_MQTT_CONNECT_TIMEOUT_S * 1000);
    return c;
}

void hubd_conn_close(hubd_mqtt_conn *c, const char *why)
{
    if (c->state == CONN_CLOSED)
        return;
    bool was_active = c->state == CONN_ACTIVE;
    c->state = CONN_CLOSED;
    if (c->dev != NULL) {
        hubd_device *d = c->dev;
        c->dev = NULL;
        if (was_active)
            log_info("mqtt disconnect hub=%s device=%s peer=%s reason=\"%s\"",
                     hubd_device_hub(d), hubd_device_id(d), c->peer, why);
        hubd_sessions_detach(c->ctx, d, c);
    } else {
        log_debug("mqtt close peer=%s reason=\"%s\"", c->peer, why);
    }
    if (c->has_slot) {
        c->has_slot = false;
        hubd_endpoint_release_slot(c->ep);
    }
    evtimer_del(c->timer);
    bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
    hubd_endpoint_defer_free(c->ep, c);
}

void hubd_conn_destroy(hubd_mqtt_conn *c)
{
    event_free(c->timer);
    bufferevent_free(c->bev); /* closes the socket and frees the SSL */
    free(c);
}

/* ---- output -------------------------------------------------------------- */

int hubd_conn_send(hubd_mqtt_conn *c, const dps_mqtt_packet *p)
{
    if (c->state != CONN_ACTIVE && !(c->state == CONN_AWAIT_CONNECT && p->type == DPS_MQTT_CONNACK))
        return -1;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    size_t need = 0;
    dps_mqtt_result rc = dps_mqtt_encode(p, NULL, 0, &need);
    if (rc != DPS_MQTT_NO_SPACE) {
        /* Only our own bad input gets here (a device ID that is not a
         * valid topic level, say); the connection itself is fine. */
        log_warn("mqtt: cannot encode a %s for %s: %s", dps_mqtt_type_name(p->type), c->peer,
                 dps_mqtt_result_name(rc));
        return -1;
    }
    if (evbuffer_get_length(out) + need > HUBD_MQTT_MAX_OUTPUT) {
        hubd_conn_close(c, "device is not reading (output over the high-water mark)");
        return -1;
    }
    /* Encoded straight into the output buffer: no copy, no allocation
     * beyond the evbuffer's own chains. */
    struct evbuffer_iovec v;
    if (evbuffer_reserve_space(out, (ev_ssize_t)need, &v, 1) < 1 || v.iov_len < need) {
        hubd_conn_close(c, "out of memory");
        return -1;
    }
    size_t n = 0;
    rc = dps_mqtt_encode(p, v.iov_base, v.iov_len, &n);
    if (rc != DPS_MQTT_OK) {
        v.iov_len = 0;
        (void)evbuffer_commit_space(out, &v, 1);
        return -1;
    }
    v.iov_len = n;
    if (evbuffer_commit_space(out, &v, 1) != 0) {
        hubd_conn_close(c, "cannot queue output");
        return -1;
    }
    return 0;
}

/* A fresh non-zero ID not held by an unacknowledged C2D message. */
static uint16_t next_packet_id(hubd_mqtt_conn *c)
{
    for (unsigned tries = 0; tries < 65536; tries++) {
        uint16_t id = ++c->last_packet_id;
        if (id == 0)
            continue;
        if (c->dev == NULL || !hubd_c2d_id_in_use(c->dev, id))
            return id;
    }
    return 1; /* unreachable: at most HUBD_MQTT_C2D_MAX_INFLIGHT IDs are held */
}

int hubd_conn_publish(hubd_mqtt_conn *c, const char *topic, size_t topic_len, const void *payload,
                      size_t len, uint8_t qos, bool dup, uint16_t *used_id)
{
    if (c->state != CONN_ACTIVE)
        return -1;
    dps_mqtt_packet p = {.type = DPS_MQTT_PUBLISH};
    p.u.publish.topic.ptr = topic;
    p.u.publish.topic.len = topic_len;
    p.u.publish.payload.ptr = payload;
    p.u.publish.payload.len = len;
    p.u.publish.qos = qos > 0 ? 1 : 0;
    p.u.publish.dup = dup && qos > 0;
    p.u.publish.packet_id = qos > 0 ? next_packet_id(c) : 0;
    if (hubd_conn_send(c, &p) != 0)
        return -1;
    if (used_id != NULL)
        *used_id = p.u.publish.packet_id;
    return 0;
}

/* ---- closing politely ---------------------------------------------------- */

static void on_drained(struct bufferevent *bev, void *arg)
{
    (void)bev;
    hubd_conn_close(arg, "refused");
}

/* Sends a refusing CONNACK and closes once it is written (or after
 * HUBD_MQTT_CLOSE_LINGER_S, whichever comes first). Nothing more is read. */
static void refuse(hubd_mqtt_conn *c, uint8_t code, const char *why)
{
    log_info("mqtt refused peer=%s code=%u reason=\"%s\"", c->peer, (unsigned)code, why);
    /* A refused connection must not hold a slot while it lingers. */
    if (c->has_slot) {
        c->has_slot = false;
        hubd_endpoint_release_slot(c->ep);
    }
    dps_mqtt_packet p = {.type = DPS_MQTT_CONNACK};
    p.u.connack.return_code = code;
    if (hubd_conn_send(c, &p) != 0) {
        hubd_conn_close(c, why);
        return;
    }
    c->state = CONN_LINGER;
    bufferevent_disable(c->bev, EV_READ);
    bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
    bufferevent_setcb(c->bev, NULL, on_drained, on_event, c);
    evtimer_del(c->timer);
    arm_ms(c, (int64_t)HUBD_MQTT_CLOSE_LINGER_S * 1000);
}

/* ---- CONNECT ------------------------------------------------------------- */

static bool copy_view(dps_mqtt_str v, char *out, size_t cap)
{
    if (v.len >= cap)
        return false;
    memcpy(out, v.ptr, v.len);
    out[v.len] = '\0';
    return true;
}

static void handle_connect(hubd_mqtt_conn *c, const dps_mqtt_connect *k)
{
    if (k->client_id.len == 0) {
        refuse(c, DPS_MQTT_CONNACK_ID_REJECTED, "empty client ID");
        return;
    }
    hubd_mqtt_username u;
    if (!k->has_username || hubd_mqtt_parse_username(k->username, &u) != 0) {
        refuse(c, DPS_MQTT_CONNACK_NOT_AUTHORIZED, "no usable username");
        return;
    }
    /* Byte for byte: device IDs are case-sensitive (hub.md 8.1). */
    if (u.device_id.len != k->client_id.len ||
        memcmp(u.device_id.ptr, k->client_id.ptr, k->client_id.len) != 0) {
        refuse(c, DPS_MQTT_CONNACK_ID_REJECTED, "username and client ID name different devices");
        return;
    }
    char hub[256];
    char canon[256];
    char id[260];
    if (!copy_view(u.hub, hub, sizeof hub) || !copy_view(k->client_id, id, sizeof id)) {
        refuse(c, DPS_MQTT_CONNACK_NOT_AUTHORIZED, "hub name or device ID too long");
        return;
    }
    if (!hubd_hub_exists(c->ctx, hub, canon)) {
        refuse(c, DPS_MQTT_CONNACK_NOT_AUTHORIZED, "unknown hub");
        return;
    }
    /* The cap is checked before the (costly) authentication. A device
     * replacing its own connection does not grow the count, so it is let
     * through even at the cap. */
    hubd_device *prev = hubd_devtable_find(c->ctx->sessions->table, canon, id);
    bool replacing = prev != NULL && prev->conn != NULL;
    if (!hubd_endpoint_take_slot(c->ep, replacing)) {
        refuse(c, DPS_MQTT_CONNACK_UNAVAILABLE, "connection cap reached");
        return;
    }
    c->has_slot = true;

    SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
    X509 *leaf = ssl != NULL ? SSL_get0_peer_certificate(ssl) : NULL;
    bool empty_password = !k->has_password || k->password.len == 0;
    hubd_auth_result ar;
    const char *method;
    if (leaf != NULL && empty_password) {
        method = "x509";
        ar = hubd_device_auth_x509(c->ctx, canon, id, leaf, SSL_get_peer_cert_chain(ssl));
    } else if (!empty_password) {
        method = "sas";
        ar = hubd_device_auth_sas(c->ctx, canon, id, (const char *)k->password.ptr,
                                  k->password.len);
    } else {
        method = "none";
        ar = HUBD_AUTH_DENIED;
    }
    if (ar != HUBD_AUTH_OK) {
        static const char *const reasons[] = {
            [HUBD_AUTH_DENIED] = "bad credentials",
            [HUBD_AUTH_DISABLED] = "device disabled",
            [HUBD_AUTH_UNKNOWN_DEVICE] = "unknown device",
            [HUBD_AUTH_ERROR] = "store failure",
        };
        const char *why = (unsigned)ar < sizeof reasons / sizeof reasons[0] && reasons[ar] != NULL
                              ? reasons[ar]
                              : "authentication failed";
        log_debug("mqtt auth failed hub=%s device=%s method=%s", canon, id, method);
        refuse(c, ar == HUBD_AUTH_ERROR ? DPS_MQTT_CONNACK_UNAVAILABLE
                                        : DPS_MQTT_CONNACK_NOT_AUTHORIZED,
               why);
        return;
    }

    bool present = false;
    hubd_device *d = hubd_sessions_attach(c->ctx, canon, id, c, k->clean_session, &present);
    if (d == NULL) {
        refuse(c, DPS_MQTT_CONNACK_UNAVAILABLE, "device table full");
        return;
    }
    c->dev = d;
    c->state = CONN_ACTIVE;
    c->keepalive_ms = hubd_mqtt_keepalive_timeout_ms(k->keep_alive);
    evtimer_del(c->timer);
    if (c->keepalive_ms > 0)
        arm_ms(c, c->keepalive_ms);
    /* The will is not kept: IoT Hub's will-as-telemetry is not offered. */

    dps_mqtt_packet ack = {.type = DPS_MQTT_CONNACK};
    ack.u.connack.session_present = present;
    ack.u.connack.return_code = DPS_MQTT_CONNACK_ACCEPTED;
    if (hubd_conn_send(c, &ack) != 0)
        return;
    log_info("mqtt connect hub=%s device=%s peer=%s auth=%s clean=%d keepalive=%u present=%d",
             canon, id, c->peer, method, k->clean_session ? 1 : 0, (unsigned)k->keep_alive,
             present ? 1 : 0);
    hubd_sessions_resume(c->ctx, d);
}

/* ---- input --------------------------------------------------------------- */

/* One whole packet of len bytes. */
static void handle_packet(hubd_mqtt_conn *c, const uint8_t *buf, size_t len)
{
    dps_mqtt_sub subs[HUBD_MQTT_MAX_FILTERS];
    dps_mqtt_packet pkt;
    dps_mqtt_result rc = dps_mqtt_decode(buf, len, subs, HUBD_MQTT_MAX_FILTERS, &pkt);
    unsigned type = buf[0] >> 4;

    if (c->state == CONN_AWAIT_CONNECT) {
        if (type != DPS_MQTT_CONNECT)
            hubd_conn_close(c, "first packet is not CONNECT");
        else if (rc == DPS_MQTT_PROTOCOL)
            refuse(c, DPS_MQTT_CONNACK_BAD_PROTOCOL, "unsupported protocol level");
        else if (rc != DPS_MQTT_OK)
            hubd_conn_close(c, "malformed CONNECT");
        else
            handle_connect(c, &pkt.u.connect);
        return;
    }

    if (rc == DPS_MQTT_TOO_MANY) {
        hubd_conn_close(c, "more than 5 filters in one packet");
        return;
    }
    if (rc != DPS_MQTT_OK) {
        log_debug("mqtt: %s from %s: %s", dps_mqtt_type_name(type), c->peer,
                  dps_mqtt_result_name(rc));
        hubd_conn_close(c, "malformed packet");
        return;
    }
    hubd_device *d = c->dev;
    d->live.last_activity_ns = dps_now_ns();
    const char *why = NULL;
    switch (pkt.type) {
    case DPS_MQTT_PUBLISH:
        if (hubd_topics_publish(c->ctx, c, d, &pkt.u.publish, &why) != 0)
            hubd_conn_close(c, why != NULL ? why : "bad publish");
        break;
    case DPS_MQTT_PUBACK:
        /* Acks of twin or method publishes settle nothing; that is fine. */
        (void)hubd_c2d_settle(c->ctx->sessions, d, pkt.u.packet_id);
        break;
    case DPS_MQTT_SUBSCRIBE:
        if (hubd_topics_subscribe(c->ctx, c, d, &pkt.u.subscribe) != 0)
            hubd_conn_close(c, "bad subscribe");
        break;
    case DPS_MQTT_UNSUBSCRIBE:
        (void)hubd_topics_unsubscribe(c, d, &pkt.u.subscribe);
        break;
    case DPS_MQTT_PINGREQ: {
        dps_mqtt_packet pong = {.type = DPS_MQTT_PINGRESP};
        (void)hubd_conn_send(c, &pong);
        break;
    }
    case DPS_MQTT_DISCONNECT:
        hubd_conn_close(c, "DISCONNECT");
        break;
    case DPS_MQTT_CONNECT:
        hubd_conn_close(c, "second CONNECT");
        break;
    case DPS_MQTT_PUBREC:
    case DPS_MQTT_PUBREL:
    case DPS_MQTT_PUBCOMP:
        hubd_conn_close(c, "QoS 2 flow");
        break;
    case DPS_MQTT_CONNACK:
    case DPS_MQTT_SUBACK:
    case DPS_MQTT_UNSUBACK:
    case DPS_MQTT_PINGRESP:
        hubd_conn_close(c, "server-to-client packet from a device");
        break;
    }
}

static void on_read(struct bufferevent *bev, void *arg)
{
    hubd_mqtt_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    /* Bounded: the read watermark keeps at most about one maximal packet
     * (plus one TLS record) in the buffer. */
    while (c->state == CONN_AWAIT_CONNECT || c->state == CONN_ACTIVE) {
        size_t avail = evbuffer_get_length(in);
        if (avail == 0)
            return;
        uint8_t head[DPS_MQTT_MAX_FIXED_HEADER];
        size_t hn = avail < sizeof head ? avail : sizeof head;
        if (evbuffer_copyout(in, head, hn) != (ev_ssize_t)hn) {
            hubd_conn_close(c, "cannot read input");
            return;
        }
        size_t cap = c->state == CONN_ACTIVE ? HUBD_MQTT_MAX_PACKET : HUBD_MQTT_MAX_PACKET_PREAUTH;
        dps_mqtt_frame fr;
        dps_mqtt_result rc = dps_mqtt_frame_peek(head, hn, cap, &fr);
        if (rc == DPS_MQTT_TOO_LARGE) {
            hubd_conn_close(c, "packet over the size cap");
            return;
        }
        if (rc != DPS_MQTT_OK && rc != DPS_MQTT_NEED_MORE) {
            hubd_conn_close(c, "malformed fixed header");
            return;
        }
        if (fr.total_len == 0 || avail < fr.total_len)
            return; /* wait for the rest */
        const uint8_t *pkt = evbuffer_pullup(in, (ev_ssize_t)fr.total_len);
        if (pkt == NULL) {
            hubd_conn_close(c, "out of memory");
            return;
        }
        c->last_rx_ms = dps_monotonic_ms();
        handle_packet(c, pkt, fr.total_len);
        /* Views into pkt are dead from here on. */
        evbuffer_drain(in, fr.total_len);
    }
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    hubd_mqtt_conn *c = arg;
    if (what & BEV_EVENT_CONNECTED)
        return; /* TLS handshake done; the CONNECT deadline keeps running */
    if (what & BEV_EVENT_ERROR) {
        unsigned long e = bufferevent_get_openssl_error(bev);
        if (e != 0) {
            char text[160];
            ERR_error_string_n(e, text, sizeof text);
            log_debug("mqtt: TLS error from %s: %s", c->peer, text);
        }
        hubd_conn_close(c, "connection lost (TLS or socket error)");
        return;
    }
    if (what & BEV_EVENT_EOF)
        hubd_conn_close(c, "peer closed the connection");
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    hubd_mqtt_conn *c = arg;
    switch (c->state) {
    case CONN_AWAIT_CONNECT:
        hubd_conn_close(c, "no CONNECT in time");
        return;
    case CONN_LINGER:
        hubd_conn_close(c, "refused; peer did not read the CONNACK");
        return;
    case CONN_ACTIVE: {
        /* One timer per connection, re-armed for the remaining time rather
         * than reset on every packet. */
        int64_t idle = dps_monotonic_ms() - c->last_rx_ms;
        if (idle >= c->keepalive_ms)
            hubd_conn_close(c, "keep-alive expired");
        else
            arm_ms(c, c->keepalive_ms - idle);
        return;
    }
    case CONN_CLOSED:
        return;
    }
}
