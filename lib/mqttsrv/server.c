/* The server's sockets (mqtt_server.h): listeners, accept with TCP_NODELAY
 * and a TLS bufferevent per connection, the connection cap, and the
 * deferred free of closed connections. */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/log.h"
#include "mqttsrv/internal.h"

#define ACCEPT_BACKLOG 1024 /* connection bursts (a fleet coming back) */
#define ACCEPT_PAUSE_MS 500 /* after EMFILE and friends */

typedef struct {
    struct evconnlistener *lev;
    uint16_t port;
    char url[300];
} listener;

struct dps_mqttsrv {
    struct event_base *base;
    SSL_CTX *tls;
    const dps_mqttsrv_callbacks *cb;
    void *arg;
    dps_mqttsrv_limits lim;
    listener listeners[DPS_MQTTSRV_MAX_LISTENERS];
    size_t nlisteners;
    dps_mqttsrv_conn *conns; /* open connections (any phase but CLOSED) */
    size_t nconns;
    size_t nactive; /* holding a slot: counted against max_active */
    size_t max_active;
    dps_mqttsrv_conn *grave; /* closed, waiting for the reaper */
    struct event *reaper;
    struct event *resume_accept;
};

/* ---- for the other files -------------------------------------------------- */

const dps_mqttsrv_limits *dps_mqttsrv__limits(const dps_mqttsrv *s)
{
    return &s->lim;
}

const dps_mqttsrv_callbacks *dps_mqttsrv__cb(const dps_mqttsrv *s, void **arg)
{
    *arg = s->arg;
    return s->cb;
}

struct event_base *dps_mqttsrv__base(const dps_mqttsrv *s)
{
    return s->base;
}

void dps_mqttsrv__link(dps_mqttsrv *s, dps_mqttsrv_conn *c)
{
    c->prev = NULL;
    c->next = s->conns;
    if (s->conns != NULL)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
}

void dps_mqttsrv__defer_free(dps_mqttsrv *s, dps_mqttsrv_conn *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    s->nconns--;
    c->prev = NULL;
    c->next = s->grave;
    s->grave = c;
    /* Freed on the next loop pass, once every callback that might still
     * hold c has returned (style.md practice 13). */
    event_active(s->reaper, 0, 0);
}

static void reap(dps_mqttsrv *s)
{
    while (s->grave != NULL) {
        dps_mqttsrv_conn *c = s->grave;
        s->grave = c->next;
        dps_mqttsrv__conn_destroy(c);
    }
}

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    reap(arg);
}

bool dps_mqttsrv__take_slot(dps_mqttsrv *s, bool force)
{
    if (s->nactive >= s->max_active && !force)
        return false;
    s->nactive++;
    return true;
}

void dps_mqttsrv__release_slot(dps_mqttsrv *s)
{
    if (s->nactive > 0)
        s->nactive--;
}

/* ---- accept ---------------------------------------------------------------- */

static void format_peer(const struct sockaddr *sa, char *out, size_t outlen)
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        snprintf(out, outlen, "%s:%u", host, (unsigned)ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        snprintf(out, outlen, "[%s]:%u", host, (unsigned)ntohs(in6->sin6_port));
    } else {
        snprintf(out, outlen, "unknown");
    }
}

static void on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    (void)lev;
    (void)salen;
    dps_mqttsrv *s = arg;
    char peer[64];
    format_peer(sa, peer, sizeof peer);
    if (s->nconns >= s->max_active + DPS_MQTTSRV_PREAUTH_MARGIN(s->max_active)) {
        /* Not even room to say CONNACK 3: drop before spending a handshake. */
        log_debug("%s: connection from %s dropped at accept (cap)", s->lim.log_name, peer);
        evutil_closesocket(fd);
        return;
    }
    /* Without it a request/response exchange stalls ~40 ms on Nagle plus
     * delayed ACKs (hub.md 2). */
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
        log_debug("%s: TCP_NODELAY for %s: %s", s->lim.log_name, peer, strerror(errno));

    SSL *ssl = SSL_new(s->tls);
    if (ssl == NULL) {
        log_error("%s: SSL_new failed (out of memory?)", s->lim.log_name);
        evutil_closesocket(fd);
        return;
    }
    /* DEFER_CALLBACKS: our callbacks run from the loop, never nested inside
     * a write we make, so a close inside them cannot pull the rug. */
    struct bufferevent *bev =
        bufferevent_openssl_socket_new(s->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                       BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (bev == NULL) {
        log_error("%s: cannot create a TLS bufferevent", s->lim.log_name);
        SSL_free(ssl);
        evutil_closesocket(fd);
        return;
    }
    /* Devices often drop the socket without close_notify; that is an
     * ordinary end, not an error. */
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    (void)dps_mqttsrv__conn_new(s, bev, peer); /* frees bev itself on failure */
}

static void on_resume_accept(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    dps_mqttsrv *s = arg;
    for (size_t i = 0; i < s->nlisteners; i++)
        evconnlistener_enable(s->listeners[i].lev);
}

static void on_accept_error(struct evconnlistener *lev, void *arg)
{
    (void)lev;
    dps_mqttsrv *s = arg;
    int e = EVUTIL_SOCKET_ERROR();
    log_warn("%s: accept failed: %s", s->lim.log_name, evutil_socket_error_to_string(e));
    if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
        /* The pending connection stays in the backlog, so the listener
         * would fire again at once: pause instead of spinning. */
        for (size_t i = 0; i < s->nlisteners; i++)
            evconnlistener_disable(s->listeners[i].lev);
        struct timeval tv = {0, ACCEPT_PAUSE_MS * 1000};
        evtimer_add(s->resume_accept, &tv);
    }
}

/* ---- listeners --------------------------------------------------------------- */

static int bind_listener(dps_mqttsrv *s, const dps_listen_addr *a, listener *l, char *err,
                         size_t errlen)
{
    bool v6 = strchr(a->host, ':') != NULL;
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)a->port);
    struct addrinfo hints = {0};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    struct addrinfo *ai = NULL;
    /* Start-up only: a name here may need a (blocking) resolver call. */
    int gai = getaddrinfo(a->host[0] != '\0' ? a->host : NULL, port, &hints, &ai);
    if (gai != 0) {
        snprintf(err, errlen, "cannot resolve %s%s%s: %s", v6 ? "[" : "", a->host, v6 ? "]" : "",
                 gai_strerror(gai));
        return -1;
    }
    errno = 0;
    l->lev = evconnlistener_new_bind(s->base, on_accept, s,
                                     LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
                                         LEV_OPT_CLOSE_ON_EXEC,
                                     ACCEPT_BACKLOG, ai->ai_addr, (int)ai->ai_addrlen);
    freeaddrinfo(ai);
    if (l->lev == NULL) {
        snprintf(err, errlen, "cannot listen on %s%s%s:%u: %s", v6 ? "[" : "", a->host,
                 v6 ? "]" : "", (unsigned)a->port, errno != 0 ? strerror(errno) : "not usable");
        return -1;
    }
    evconnlistener_set_error_cb(l->lev, on_accept_error);
    evutil_socket_t fd = evconnlistener_get_fd(l->lev);
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sslen) != 0) {
        snprintf(err, errlen, "cannot read the bound address: %s", strerror(errno));
        return -1;
    }
    if (ss.ss_family == AF_INET)
        l->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    else if (ss.ss_family == AF_INET6)
        l->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    else
        l->port = a->port;
    int n = snprintf(l->url, sizeof l->url, "mqtts://%s%s%s:%u", v6 ? "[" : "", a->host,
                     v6 ? "]" : "", (unsigned)l->port);
    if (n < 0 || (size_t)n >= sizeof l->url) {
        snprintf(err, errlen, "listen address too long");
        return -1;
    }
    return 0;
}

static size_t or_size(size_t v, size_t dflt)
{
    return v != 0 ? v : dflt;
}

static int or_int(int v, int dflt)
{
    return v > 0 ? v : dflt;
}

static void resolve_limits(const dps_mqttsrv_options *o, dps_mqttsrv_limits *l)
{
    l->max_packet_preauth = or_size(o->max_packet_preauth, DPS_MQTTSRV_DEFAULT_MAX_PACKET_PREAUTH);
    l->max_packet = or_size(o->max_packet, DPS_MQTTSRV_DEFAULT_MAX_PACKET);
    l->max_output = or_size(o->max_output, DPS_MQTTSRV_DEFAULT_MAX_OUTPUT);
    l->max_filters = or_size(o->max_filters, DPS_MQTTSRV_DEFAULT_MAX_FILTERS);
    l->connect_timeout_s = or_int(o->connect_timeout_s, DPS_MQTTSRV_DEFAULT_CONNECT_TIMEOUT_S);
    l->linger_s = or_int(o->linger_s, DPS_MQTTSRV_DEFAULT_LINGER_S);
    l->keepalive_cap_s = or_int(o->keepalive_cap_s, DPS_MQTTSRV_DEFAULT_KEEPALIVE_CAP_S);
    l->max_inflight = or_size(o->max_inflight, DPS_MQTTSRV_DEFAULT_MAX_INFLIGHT);
    l->log_name = o->log_name != NULL ? o->log_name : "mqtt";
}

/* The caps that keep one connection's memory bounded must themselves be
 * sane: a packet cap the framer can express, a filter array that fits on
 * the stack, IDs that fit the 16-bit space. */
#define MAX_FILTERS_CEILING 64
#define MAX_INFLIGHT_CEILING 4096

dps_mqttsrv *dps_mqttsrv_start(struct event_base *base, SSL_CTX *tls,
                               const dps_mqttsrv_options *opt, char *err, size_t errlen)
{
    if (base == NULL || tls == NULL || opt == NULL || opt->cb == NULL ||
        opt->cb->on_connect == NULL || opt->cb->on_packet == NULL) {
        snprintf(err, errlen, "MQTT server started without a loop, TLS context or callbacks");
        return NULL;
    }
    if (opt->nlisten == 0 || opt->nlisten > DPS_MQTTSRV_MAX_LISTENERS || opt->listen == NULL) {
        snprintf(err, errlen, "between 1 and %d MQTT listen addresses are needed",
                 DPS_MQTTSRV_MAX_LISTENERS);
        return NULL;
    }
    dps_mqttsrv_limits lim;
    resolve_limits(opt, &lim);
    if (lim.max_packet_preauth > lim.max_packet || lim.max_packet > DPS_MQTT_MAX_REMAINING_LENGTH ||
        lim.max_filters > MAX_FILTERS_CEILING || lim.max_inflight > MAX_INFLIGHT_CEILING) {
        snprintf(err, errlen, "MQTT server limits out of range");
        return NULL;
    }
    dps_mqttsrv *s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->base = base;
    s->cb = opt->cb;
    s->arg = opt->arg;
    s->lim = lim;
    s->max_active = or_size(opt->max_connections, DPS_MQTTSRV_DEFAULT_MAX_CONNECTIONS);
    if (SSL_CTX_up_ref(tls) != 1) {
        free(s);
        snprintf(err, errlen, "cannot reference the TLS context");
        return NULL;
    }
    s->tls = tls;
    s->reaper = event_new(base, -1, 0, on_reap, s);
    s->resume_accept = evtimer_new(base, on_resume_accept, s);
    if (s->reaper == NULL || s->resume_accept == NULL) {
        snprintf(err, errlen, "cannot create the MQTT server's events");
        goto fail;
    }
    for (size_t i = 0; i < opt->nlisten; i++) {
        if (bind_listener(s, &opt->listen[i], &s->listeners[i], err, errlen) != 0) {
            if (s->listeners[i].lev != NULL)
                evconnlistener_free(s->listeners[i].lev);
            goto fail;
        }
        s->nlisteners = i + 1;
    }
    return s;

fail:
    dps_mqttsrv_free(&s);
    return NULL;
}

size_t dps_mqttsrv_listener_count(const dps_mqttsrv *s)
{
    return s != NULL ? s->nlisteners : 0;
}

const char *dps_mqttsrv_listener_url(const dps_mqttsrv *s, size_t i)
{
    return s != NULL && i < s->nlisteners ? s->listeners[i].url : NULL;
}

uint16_t dps_mqttsrv_listener_port(const dps_mqttsrv *s, size_t i)
{
    return s != NULL && i < s->nlisteners ? s->listeners[i].port : 0;
}

void dps_mqttsrv_set_max_connections(dps_mqttsrv *s, size_t max)
{
    if (s != NULL)
        s->max_active = max;
}

size_t dps_mqttsrv_connection_count(const dps_mqttsrv *s)
{
    return s != NULL ? s->nactive : 0;
}

void dps_mqttsrv_free(dps_mqttsrv **sp)
{
    if (sp == NULL || *sp == NULL)
        return;
    dps_mqttsrv *s = *sp;
    for (size_t i = 0; i < s->nlisteners; i++)
        evconnlistener_free(s->listeners[i].lev);
    /* Not inside any connection's callback here (the contract), so closing
     * and freeing at once is safe. */
    while (s->conns != NULL)
        dps_mqttsrv_close(s->conns, "shutting down");
    reap(s);
    if (s->reaper != NULL)
        event_free(s->reaper);
    if (s->resume_accept != NULL)
        event_free(s->resume_accept);
    SSL_CTX_free(s->tls);
    free(s);
    *sp = NULL;
}
