/* The MQTT endpoint's sockets (endpoint.h): listeners, accept with
 * TCP_NODELAY and a TLS bufferevent per connection, the connection cap,
 * the deferred free of closed connections, and the session sweep timer. */
#include "mqtt/endpoint.h"

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
#include "mqtt/internal.h"

#define ACCEPT_BACKLOG 1024 /* connection bursts (a fleet coming back) */
#define ACCEPT_PAUSE_MS 500 /* after EMFILE and friends */

typedef struct {
    struct evconnlistener *lev;
    uint16_t port;
    char url[300];
} listener;

struct hubd_mqtt_endpoint {
    hubd_ctx *ctx;
    SSL_CTX *tls;
    listener listeners[HUBD_MQTT_MAX_LISTENERS];
    size_t nlisteners;
    hubd_mqtt_conn *conns; /* open connections (any state but CLOSED) */
    size_t nconns;
    size_t nactive; /* authenticated: counted against max_active */
    size_t max_active;
    hubd_mqtt_conn *grave; /* closed, waiting for the reaper */
    struct event *reaper;
    struct event *sweep;
    struct event *resume_accept;
};

/* ---- connection bookkeeping ---------------------------------------------- */

void hubd_endpoint_link(hubd_mqtt_endpoint *ep, hubd_mqtt_conn *c)
{
    hubd_conn_links *l = hubd_conn_links_of(c);
    l->prev = NULL;
    l->next = ep->conns;
    if (ep->conns != NULL)
        hubd_conn_links_of(ep->conns)->prev = c;
    ep->conns = c;
    ep->nconns++;
}

void hubd_endpoint_defer_free(hubd_mqtt_endpoint *ep, hubd_mqtt_conn *c)
{
    hubd_conn_links *l = hubd_conn_links_of(c);
    if (l->prev != NULL)
        hubd_conn_links_of(l->prev)->next = l->next;
    else
        ep->conns = l->next;
    if (l->next != NULL)
        hubd_conn_links_of(l->next)->prev = l->prev;
    ep->nconns--;
    l->prev = NULL;
    l->next = ep->grave;
    ep->grave = c;
    /* Freed on the next loop pass, once every callback that might still
     * hold c has returned. */
    event_active(ep->reaper, 0, 0);
}

static void reap(hubd_mqtt_endpoint *ep)
{
    while (ep->grave != NULL) {
        hubd_mqtt_conn *c = ep->grave;
        ep->grave = hubd_conn_links_of(c)->next;
        hubd_conn_destroy(c);
    }
}

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    reap(arg);
}

bool hubd_endpoint_take_slot(hubd_mqtt_endpoint *ep, bool force)
{
    if (ep->nactive >= ep->max_active && !force)
        return false;
    ep->nactive++;
    return true;
}

void hubd_endpoint_release_slot(hubd_mqtt_endpoint *ep)
{
    if (ep->nactive > 0)
        ep->nactive--;
}

/* ---- accept -------------------------------------------------------------- */

static void format_peer(const struct sockaddr *sa, char *out, size_t outlen)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
        snprintf(out, outlen, "%s:%u", host, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        port = ntohs(in6->sin6_port);
        snprintf(out, outlen, "[%s]:%u", host, port);
    } else {
        snprintf(out, outlen, "unknown");
    }
}

static void on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    (void)lev;
    (void)salen;
    hubd_mqtt_endpoint *ep = arg;
    char peer[64];
    format_peer(sa, peer, sizeof peer);
    if (ep->nconns >= ep->max_active + HUBD_MQTT_PREAUTH_MARGIN(ep->max_active)) {
        /* Not even room to say CONNACK 3: drop before spending a handshake. */
        log_debug("mqtt: connection from %s dropped at accept (cap)", peer);
        evutil_closesocket(fd);
        return;
    }
    /* hub.md 2: without it a request/response exchange stalls ~40 ms on
     * Nagle plus delayed ACKs. */
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
        log_debug("mqtt: TCP_NODELAY for %s: %s", peer, strerror(errno));

    SSL *ssl = SSL_new(ep->tls);
    if (ssl == NULL) {
        log_error("mqtt: SSL_new failed (out of memory?)");
        evutil_closesocket(fd);
        return;
    }
    /* DEFER_CALLBACKS: our callbacks run from the loop, never nested inside
     * a write we make, so a close inside them cannot pull the rug. */
    struct bufferevent *bev = bufferevent_openssl_socket_new(
        ep->ctx->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
        BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (bev == NULL) {
        log_error("mqtt: cannot create a TLS bufferevent");
        SSL_free(ssl);
        evutil_closesocket(fd);
        return;
    }
    /* Devices often drop the socket without close_notify; that is an
     * ordinary end, not an error. */
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    (void)hubd_conn_new(ep, ep->ctx, bev, peer); /* frees bev itself on failure */
}

static void on_resume_accept(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    hubd_mqtt_endpoint *ep = arg;
    for (size_t i = 0; i < ep->nlisteners; i++)
        evconnlistener_enable(ep->listeners[i].lev);
}

static void on_accept_error(struct evconnlistener *lev, void *arg)
{
    (void)lev;
    hubd_mqtt_endpoint *ep = arg;
    int e = EVUTIL_SOCKET_ERROR();
    log_warn("mqtt: accept failed: %s", evutil_socket_error_to_string(e));
    if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
        /* The pending connection stays in the backlog, so the listener
         * would fire again at once: pause instead of spinning. */
        for (size_t i = 0; i < ep->nlisteners; i++)
            evconnlistener_disable(ep->listeners[i].lev);
        struct timeval tv = {0, ACCEPT_PAUSE_MS * 1000};
        evtimer_add(ep->resume_accept, &tv);
    }
}

/* ---- listeners ----------------------------------------------------------- */

static int bind_listener(hubd_mqtt_endpoint *ep, const dps_listen_addr *a, listener *l, char *err,
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
    l->lev = evconnlistener_new_bind(ep->ctx->base, on_accept, ep,
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

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    hubd_mqtt_endpoint *ep = arg;
    hubd_sessions_sweep(ep->ctx);
}

hubd_mqtt_endpoint *hubd_mqtt_start(hubd_ctx *ctx, SSL_CTX *tls, const dps_listen_addr *addrs,
                                    size_t n, char *err, size_t errlen)
{
    if (n == 0 || n > HUBD_MQTT_MAX_LISTENERS) {
        snprintf(err, errlen, "between 1 and %d MQTT listen addresses are needed",
                 HUBD_MQTT_MAX_LISTENERS);
        return NULL;
    }
    if (ctx == NULL || ctx->base == NULL || ctx->sessions == NULL || tls == NULL) {
        snprintf(err, errlen, "MQTT endpoint started without a loop, sessions or TLS context");
        return NULL;
    }
    hubd_mqtt_endpoint *ep = calloc(1, sizeof *ep);
    if (ep == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ep->ctx = ctx;
    ep->max_active = HUBD_MQTT_DEFAULT_MAX_CONNECTIONS;
    if (SSL_CTX_up_ref(tls) != 1) {
        free(ep);
        snprintf(err, errlen, "cannot reference the TLS context");
        return NULL;
    }
    ep->tls = tls;
    ep->reaper = event_new(ctx->base, -1, 0, on_reap, ep);
    ep->sweep = event_new(ctx->base, -1, EV_PERSIST, on_sweep, ep);
    ep->resume_accept = evtimer_new(ctx->base, on_resume_accept, ep);
    struct timeval every = {HUBD_MQTT_SWEEP_INTERVAL_S, 0};
    if (ep->reaper == NULL || ep->sweep == NULL || ep->resume_accept == NULL ||
        event_add(ep->sweep, &every) != 0) {
        snprintf(err, errlen, "cannot create the MQTT endpoint's events");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        if (bind_listener(ep, &addrs[i], &ep->listeners[i], err, errlen) != 0) {
            if (ep->listeners[i].lev != NULL)
                evconnlistener_free(ep->listeners[i].lev);
            goto fail;
        }
        ep->nlisteners = i + 1;
    }
    return ep;

fail:
    hubd_mqtt_free(&ep);
    return NULL;
}

size_t hubd_mqtt_listener_count(const hubd_mqtt_endpoint *ep)
{
    return ep != NULL ? ep->nlisteners : 0;
}

const char *hubd_mqtt_listener_url(const hubd_mqtt_endpoint *ep, size_t i)
{
    return ep != NULL && i < ep->nlisteners ? ep->listeners[i].url : NULL;
}

uint16_t hubd_mqtt_listener_port(const hubd_mqtt_endpoint *ep, size_t i)
{
    return ep != NULL && i < ep->nlisteners ? ep->listeners[i].port : 0;
}

void hubd_mqtt_set_max_connections(hubd_mqtt_endpoint *ep, size_t max)
{
    if (ep != NULL)
        ep->max_active = max;
}

size_t hubd_mqtt_connection_count(const hubd_mqtt_endpoint *ep)
{
    return ep != NULL ? ep->nactive : 0;
}

void hubd_mqtt_free(hubd_mqtt_endpoint **epp)
{
    if (epp == NULL || *epp == NULL)
        return;
    hubd_mqtt_endpoint *ep = *epp;
    for (size_t i = 0; i < ep->nlisteners; i++)
        evconnlistener_free(ep->listeners[i].lev);
    /* Not inside any connection's callback here, so closing and freeing at
     * once is safe. Sessions keep what persistent sessions keep. */
    while (ep->conns != NULL)
        hubd_conn_close(ep->conns, "shutting down");
    reap(ep);
    if (ep->reaper != NULL)
        event_free(ep->reaper);
    if (ep->sweep != NULL)
        event_free(ep->sweep);
    if (ep->resume_accept != NULL)
        event_free(ep->resume_accept);
    SSL_CTX_free(ep->tls);
    free(ep);
    *epp = NULL;
}
