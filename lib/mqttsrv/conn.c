/* One connection's state machine (style.md practice 7): the CONNECT
 * deadline, CONNECT handed to the protocol and its verdict carried out,
 * input framing under the phase's size cap, the packets the server answers
 * itself, keep-alive, and closing (at once for the protocol, memory later).
 *
 *   AWAIT_CONNECT --accepted--> ACTIVE --(anything fatal)--> CLOSED
 *        |  \--refused (CONNACK != 0)--> LINGER --flushed/timeout--> CLOSED
 *        \--timeout / other packet / bad bytes--> CLOSED */
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "mqttsrv/internal.h"

/* Decoded SUBSCRIBE filters live on the stack; the server refuses a
 * max_filters above this at start. */
#define FILTERS_ON_STACK 64

static void on_read(struct bufferevent *bev, void *arg);
static void on_event(struct bufferevent *bev, short what, void *arg);
static void on_timer(evutil_socket_t fd, short what, void *arg);

static const char *log_name(const dps_mqttsrv_conn *c)
{
    return dps_mqttsrv__limits(c->srv)->log_name;
}

static void arm_ms(dps_mqttsrv_conn *c, int64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    if (evtimer_add(c->timer, &tv) != 0)
        log_error("%s: cannot arm a connection timer", log_name(c));
}

dps_mqttsrv_conn *dps_mqttsrv__conn_new(dps_mqttsrv *s, struct bufferevent *bev,
                                        const char *peer)
{
    const dps_mqttsrv_limits *lim = dps_mqttsrv__limits(s);
    dps_mqttsrv_conn *c = calloc(1, sizeof *c + lim->max_inflight * sizeof c->inflight[0]);
    if (c == NULL) {
        bufferevent_free(bev);
        return NULL;
    }
    c->timer = evtimer_new(dps_mqttsrv__base(s), on_timer, c);
    if (c->timer == NULL) {
        bufferevent_free(bev);
        free(c);
        return NULL;
    }
    c->srv = s;
    c->bev = bev;
    c->phase = CONN_AWAIT_CONNECT;
    c->last_rx_ms = dps_monotonic_ms();
    snprintf(c->peer, sizeof c->peer, "%s", peer);
    /* Reading pauses once a whole maximal packet is buffered; since every
     * complete packet is consumed at once, more never needs to wait. */
    bufferevent_setwatermark(bev, EV_READ, 0, lim->max_packet);
    bufferevent_setcb(bev, on_read, NULL, on_event, c);
    dps_mqttsrv__link(s, c);
    if (bufferevent_enable(bev, EV_READ | EV_WRITE) != 0) {
        dps_mqttsrv_close(c, "cannot enable the connection");
        return NULL;
    }
    arm_ms(c, (int64_t)lim->connect_timeout_s * 1000);
    return c;
}

void dps_mqttsrv__conn_destroy(dps_mqttsrv_conn *c)
{
    void *arg;
    const dps_mqttsrv_callbacks *cb = dps_mqttsrv__cb(c->srv, &arg);
    if (c->accepted && cb->on_free != NULL)
        cb->on_free(arg, c->state);
    event_free(c->timer);
    bufferevent_free(c->bev); /* closes the socket and frees the SSL */
    free(c);
}

void dps_mqttsrv_close(dps_mqttsrv_conn *c, const char *why)
{
    if (c->phase == CONN_CLOSED)
        return;
    bool was_active = c->phase == CONN_ACTIVE;
    c->phase = CONN_CLOSED;
    log_debug("%s close peer=%s reason=\"%s\"", log_name(c), c->peer, why);
    if (c->has_slot) {
        c->has_slot = false;
        dps_mqttsrv__release_slot(c->srv);
    }
    evtimer_del(c->timer);
    bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
    void *arg;
    const dps_mqttsrv_callbacks *cb = dps_mqttsrv__cb(c->srv, &arg);
    /* The phase is CLOSED already, so sends from inside on_close fail
     * quietly instead of recursing. */
    if (was_active && c->accepted && cb->on_close != NULL)
        cb->on_close(arg, c, why);
    dps_mqttsrv__defer_free(c->srv, c);
}

/* ---- accessors ------------------------------------------------------------ */

bool dps_mqttsrv_take_slot(dps_mqttsrv_conn *c, bool force)
{
    if (c->has_slot)
        return true;
    if (!dps_mqttsrv__take_slot(c->srv, force))
        return false;
    c->has_slot = true;
    return true;
}

void *dps_mqttsrv_conn_state(const dps_mqttsrv_conn *c)
{
    return c->state;
}

const char *dps_mqttsrv_conn_peer(const dps_mqttsrv_conn *c)
{
    return c->peer;
}

bool dps_mqttsrv_conn_is_open(const dps_mqttsrv_conn *c)
{
    return c->phase == CONN_ACTIVE;
}

size_t dps_mqttsrv_conn_inflight(const dps_mqttsrv_conn *c)
{
    return c->ninflight;
}

/* ---- closing politely ---------------------------------------------------- */

static void on_drained(struct bufferevent *bev, void *arg)
{
    (void)bev;
    dps_mqttsrv_close(arg, "refused");
}

/* Sends a refusing CONNACK and closes once it is written (or after the
 * linger time, whichever comes first). Nothing more is read. */
static void refuse(dps_mqttsrv_conn *c, uint8_t code, const char *why)
{
    log_info("%s refused peer=%s code=%u reason=\"%s\"", log_name(c), c->peer, (unsigned)code,
             why != NULL ? why : "refused");
    /* A refused connection must not hold a slot while it lingers. */
    if (c->has_slot) {
        c->has_slot = false;
        dps_mqttsrv__release_slot(c->srv);
    }
    dps_mqtt_packet p = {.type = DPS_MQTT_CONNACK};
    p.u.connack.return_code = code;
    if (dps_mqttsrv__send(c, &p) != DPS_MQTTSRV_SENT) {
        dps_mqttsrv_close(c, why);
        return;
    }
    c->phase = CONN_LINGER;
    bufferevent_disable(c->bev, EV_READ);
    bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
    bufferevent_setcb(c->bev, NULL, on_drained, on_event, c);
    evtimer_del(c->timer);
    arm_ms(c, (int64_t)dps_mqttsrv__limits(c->srv)->linger_s * 1000);
}

/* ---- CONNECT ------------------------------------------------------------- */

static void handle_connect(dps_mqttsrv_conn *c, const dps_mqtt_connect *k)
{
    void *arg;
    const dps_mqttsrv_callbacks *cb = dps_mqttsrv__cb(c->srv, &arg);
    SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
    dps_mqttsrv_peer peer = {
        .leaf = ssl != NULL ? SSL_get0_peer_certificate(ssl) : NULL,
        .chain = ssl != NULL ? SSL_get_peer_cert_chain(ssl) : NULL,
        .addr = c->peer,
    };
    dps_mqttsrv_verdict v = {.code = DPS_MQTT_CONNACK_ACCEPTED};
    cb->on_connect(arg, c, k, &peer, &v);
    if (c->phase != CONN_AWAIT_CONNECT) {
        /* The protocol closed this connection itself; a state it handed
         * over anyway is still owed its free. */
        if (v.code == DPS_MQTT_CONNACK_ACCEPTED && v.state != NULL && cb->on_free != NULL)
            cb->on_free(arg, v.state);
        return;
    }
    if (v.code != DPS_MQTT_CONNACK_ACCEPTED) {
        refuse(c, v.code, v.why);
        return;
    }
    c->accepted = true; /* on_close and on_free are owed from here on */
    c->state = v.state;
    c->phase = CONN_ACTIVE;
    if (!dps_mqttsrv_take_slot(c, false)) {
        dps_mqttsrv_close(c, "connection cap reached");
        return;
    }
    c->keepalive_ms = dps_mqttsrv_keepalive_timeout_ms(
        k->keep_alive, dps_mqttsrv__limits(c->srv)->keepalive_cap_s);
    evtimer_del(c->timer);
    if (c->keepalive_ms > 0)
        arm_ms(c, c->keepalive_ms);
    dps_mqtt_packet ack = {.type = DPS_MQTT_CONNACK};
    ack.u.connack.session_present = v.session_present;
    ack.u.connack.return_code = DPS_MQTT_CONNACK_ACCEPTED;
    if (dps_mqttsrv__send(c, &ack) != DPS_MQTTSRV_SENT)
        return; /* closed: on_close has run */
    if (cb->on_accepted != NULL)
        cb->on_accepted(arg, c);
}

/* ---- input --------------------------------------------------------------- */

/* A packet of an ACTIVE connection the server answers or refuses itself;
 * true when it is handled (the protocol does not see it). */
static bool server_handles(dps_mqttsrv_conn *c, const dps_mqtt_packet *p)
{
    switch (p->type) {
    case DPS_MQTT_PUBLISH:
        if (p->u.publish.qos > 1) {
            dps_mqttsrv_close(c, "QoS 2 publish");
            return true;
        }
        return false;
    case DPS_MQTT_PUBACK:
        dps_mqttsrv__release_id(c, p->u.packet_id);
        return false;
    case DPS_MQTT_SUBSCRIBE:
    case DPS_MQTT_UNSUBSCRIBE:
        return false;
    case DPS_MQTT_PINGREQ: {
        dps_mqtt_packet pong = {.type = DPS_MQTT_PINGRESP};
        (void)dps_mqttsrv__send(c, &pong); /* a failure has closed c */
        return c->phase != CONN_ACTIVE;
    }
    case DPS_MQTT_DISCONNECT:
        dps_mqttsrv_close(c, "DISCONNECT");
        return true;
    case DPS_MQTT_CONNECT:
        dps_mqttsrv_close(c, "second CONNECT");
        return true;
    case DPS_MQTT_PUBREC:
    case DPS_MQTT_PUBREL:
    case DPS_MQTT_PUBCOMP:
        dps_mqttsrv_close(c, "QoS 2 flow");
        return true;
    case DPS_MQTT_CONNACK:
    case DPS_MQTT_SUBACK:
    case DPS_MQTT_UNSUBACK:
    case DPS_MQTT_PINGRESP:
        dps_mqttsrv_close(c, "server-to-client packet from a client");
        return true;
    }
    dps_mqttsrv_close(c, "unknown packet type");
    return true;
}

/* One whole packet of len bytes. */
static void handle_packet(dps_mqttsrv_conn *c, const uint8_t *buf, size_t len)
{
    dps_mqtt_sub subs[FILTERS_ON_STACK];
    size_t max_filters = dps_mqttsrv__limits(c->srv)->max_filters;
    dps_mqtt_packet pkt;
    dps_mqtt_result rc = dps_mqtt_decode(buf, len, subs, max_filters, &pkt);
    unsigned type = buf[0] >> 4;

    if (c->phase == CONN_AWAIT_CONNECT) {
        if (type != DPS_MQTT_CONNECT)
            dps_mqttsrv_close(c, "first packet is not CONNECT");
        else if (rc == DPS_MQTT_PROTOCOL)
            refuse(c, DPS_MQTT_CONNACK_BAD_PROTOCOL, "unsupported protocol level");
        else if (rc != DPS_MQTT_OK)
            dps_mqttsrv_close(c, "malformed CONNECT");
        else
            handle_connect(c, &pkt.u.connect);
        return;
    }
    if (rc == DPS_MQTT_TOO_MANY) {
        dps_mqttsrv_close(c, "too many filters in one packet");
        return;
    }
    if (rc != DPS_MQTT_OK) {
        log_debug("%s: %s from %s: %s", log_name(c), dps_mqtt_type_name(type), c->peer,
                  dps_mqtt_result_name(rc));
        dps_mqttsrv_close(c, "malformed packet");
        return;
    }
    if (server_handles(c, &pkt))
        return;
    void *arg;
    const dps_mqttsrv_callbacks *cb = dps_mqttsrv__cb(c->srv, &arg);
    const char *why = NULL;
    if (cb->on_packet(arg, c, &pkt, &why) != 0)
        dps_mqttsrv_close(c, why != NULL ? why : "refused by the protocol");
}

static void on_read(struct bufferevent *bev, void *arg)
{
    dps_mqttsrv_conn *c = arg;
    const dps_mqttsrv_limits *lim = dps_mqttsrv__limits(c->srv);
    struct evbuffer *in = bufferevent_get_input(bev);
    /* Bounded: the read watermark keeps at most about one maximal packet
     * (plus one TLS record) in the buffer. */
    while (c->phase == CONN_AWAIT_CONNECT || c->phase == CONN_ACTIVE) {
        size_t avail = evbuffer_get_length(in);
        if (avail == 0)
            return;
        uint8_t head[DPS_MQTT_MAX_FIXED_HEADER];
        size_t hn = avail < sizeof head ? avail : sizeof head;
        if (evbuffer_copyout(in, head, hn) != (ev_ssize_t)hn) {
            dps_mqttsrv_close(c, "cannot read input");
            return;
        }
        size_t cap = c->phase == CONN_ACTIVE ? lim->max_packet : lim->max_packet_preauth;
        dps_mqtt_frame fr;
        dps_mqtt_result rc = dps_mqtt_frame_peek(head, hn, cap, &fr);
        if (rc == DPS_MQTT_TOO_LARGE) {
            dps_mqttsrv_close(c, "packet over the size cap");
            return;
        }
        if (rc != DPS_MQTT_OK && rc != DPS_MQTT_NEED_MORE) {
            dps_mqttsrv_close(c, "malformed fixed header");
            return;
        }
        if (fr.total_len == 0 || avail < fr.total_len)
            return; /* wait for the rest */
        const uint8_t *pkt = evbuffer_pullup(in, (ev_ssize_t)fr.total_len);
        if (pkt == NULL) {
            dps_mqttsrv_close(c, "out of memory");
            return;
        }
        c->last_rx_ms = dps_monotonic_ms();
        handle_packet(c, pkt, fr.total_len);
        /* Views into pkt are dead from here on. The buffer itself is alive
         * even when c closed: the bufferevent goes with the reaper. */
        evbuffer_drain(in, fr.total_len);
    }
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    dps_mqttsrv_conn *c = arg;
    if (what & BEV_EVENT_CONNECTED)
        return; /* TLS handshake done; the CONNECT deadline keeps running */
    if (what & BEV_EVENT_ERROR) {
        unsigned long e = bufferevent_get_openssl_error(bev);
        if (e != 0) {
            char text[160];
            ERR_error_string_n(e, text, sizeof text);
            log_debug("%s: TLS error from %s: %s", log_name(c), c->peer, text);
        }
        dps_mqttsrv_close(c, "connection lost (TLS or socket error)");
        return;
    }
    if (what & BEV_EVENT_EOF)
        dps_mqttsrv_close(c, "peer closed the connection");
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    dps_mqttsrv_conn *c = arg;
    switch (c->phase) {
    case CONN_AWAIT_CONNECT:
        dps_mqttsrv_close(c, "no CONNECT in time");
        return;
    case CONN_LINGER:
        dps_mqttsrv_close(c, "refused; peer did not read the CONNACK");
        return;
    case CONN_ACTIVE: {
        /* One timer per connection, re-armed for the remaining time rather
         * than reset on every packet. */
        int64_t idle = dps_monotonic_ms() - c->last_rx_ms;
        if (idle >= c->keepalive_ms)
            dps_mqttsrv_close(c, "keep-alive expired");
        else
            arm_ms(c, c->keepalive_ms - idle);
        return;
    }
    case CONN_CLOSED:
        return;
    }
}
