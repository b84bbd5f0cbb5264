/* The shared HTTPS server (see https_server.h): libevent evhttp, one TLS
 * bufferevent per connection, one call of the daemon's handler per
 * request. */
#include "net/https_server.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <sys/queue.h> /* TAILQ_FOREACH over evhttp headers; before keyvalq_struct.h */
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "common/log.h"
#include "net/http_pending.h"

typedef struct {
    struct evhttp_bound_socket *handle;
    uint16_t port;
    char url[300];
} listener;

struct dps_https_server {
    struct evhttp *http;
    SSL_CTX *tls;
    dps_https_handler_fn handle;
    dps_https_error_fn write_error;
    void *arg;
    size_t max_body;
    int timeout_s;
    listener listeners[DPS_HTTPS_MAX_LISTENERS];
    size_t nlisteners;
};

/* ---- libevent diagnostics ----------------------------------------------- */

static void libevent_log(int severity, const char *msg)
{
    /* libevent's own warnings are mostly about single connections (a reset
     * peer, a failed handshake): useful when debugging, noise otherwise. */
    if (severity >= EVENT_LOG_ERR)
        log_error("libevent: %s", msg);
    else
        log_debug("libevent: %s", msg);
}

/* ---- per connection ----------------------------------------------------- */

/* evhttp asks for a bufferevent for each accepted connection; it sets the
 * socket itself afterwards. */
static struct bufferevent *make_tls_bufferevent(struct event_base *base, void *arg)
{
    dps_https_server *s = arg;
    SSL *ssl = SSL_new(s->tls);
    if (ssl == NULL) {
        /* evhttp would fall back to a plain bufferevent on NULL; on_request
         * refuses such a connection (see there). */
        log_error("http: SSL_new failed (out of memory?)");
        return NULL;
    }
    struct bufferevent *bev = bufferevent_openssl_socket_new(
        base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL) {
        SSL_free(ssl);
        log_error("http: cannot create a TLS bufferevent");
        return NULL;
    }
    /* Many HTTP clients close without close_notify; that is an ordinary end
     * of a connection, not an error worth a log line. */
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

/* ---- per request -------------------------------------------------------- */

static int64_t monotonic_us(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static dps_http_method map_method(enum evhttp_cmd_type t)
{
    switch (t) {
    case EVHTTP_REQ_GET:
        return DPS_HTTP_GET;
    case EVHTTP_REQ_PUT:
        return DPS_HTTP_PUT;
    case EVHTTP_REQ_POST:
        return DPS_HTTP_POST;
    case EVHTTP_REQ_DELETE:
        return DPS_HTTP_DELETE;
    case EVHTTP_REQ_PATCH:
        return DPS_HTTP_PATCH;
    default:
        return DPS_HTTP_OTHER;
    }
}

static void free_body(const void *data, size_t len, void *arg)
{
    (void)len;
    (void)arg;
    free((void *)data);
}

/* Used when the daemon gives no error writer: the message as plain text. */
static void plain_error(dps_http_response *res, int http_status, const char *message)
{
    res->status = http_status;
    res->body = strdup(message);
    if (res->body != NULL) {
        res->body_len = strlen(res->body);
        res->content_type = "text/plain; charset=utf-8";
    }
}

/* Fills the empty res with an answer the server gives itself, in the
 * daemon's error shape. */
static void server_error(const dps_https_server *s, dps_http_response *res, int http_status,
                         const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void server_error(const dps_https_server *s, dps_http_response *res, int http_status,
                         const char *fmt, ...)
{
    char message[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (s->write_error != NULL)
        s->write_error(s->arg, res, http_status, message);
    else
        plain_error(res, http_status, message);
}

static bool status_valid(int status)
{
    return status >= 100 && status <= 599;
}

static void send_response(const dps_https_server *s, struct evhttp_request *ereq,
                          dps_http_response *res)
{
    if (!status_valid(res->status)) {
        /* A handler that left no status is a bug; answer rather than hang. */
        log_error("http: handler left status %d; answering 500", res->status);
        dps_http_response_free(res);
        server_error(s, res, 500, "internal error");
        if (!status_valid(res->status)) { /* the error writer failed too */
            dps_http_response_free(res);
            res->status = 500;
        }
    }
    struct evkeyvalq *oh = evhttp_request_get_output_headers(ereq);
    if (res->content_type != NULL && evhttp_add_header(oh, "Content-Type", res->content_type) != 0)
        log_warn("http: cannot add the Content-Type header");
    const size_t max_headers = sizeof res->header_names / sizeof res->header_names[0];
    for (size_t i = 0; i < res->nheaders && i < max_headers; i++) {
        if (evhttp_add_header(oh, res->header_names[i], res->header_values[i]) != 0)
            log_warn("http: cannot add response header %s", res->header_names[i]);
    }
    struct evbuffer *out = evhttp_request_get_output_buffer(ereq);
    if (res->body != NULL && res->body_len > 0) {
        /* Hand the body to the evbuffer instead of copying it; it frees it
         * once written. */
        if (evbuffer_add_reference(out, res->body, res->body_len, free_body, NULL) == 0)
            res->body = NULL;
        else
            log_error("http: cannot queue a %zu-byte response body", res->body_len);
    }
    evhttp_send_reply(ereq, res->status, NULL, NULL);
}

static bool connection_is_tls(struct evhttp_request *ereq)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(ereq);
    if (evcon == NULL)
        return false;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    return bev != NULL && bufferevent_openssl_get_ssl(bev) != NULL;
}

static void format_peer(struct evhttp_request *ereq, char *out, size_t outlen)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(ereq);
    char *addr = NULL;
    ev_uint16_t port = 0;
    if (evcon != NULL)
        evhttp_connection_get_peer(evcon, &addr, &port);
    if (addr == NULL)
        snprintf(out, outlen, "unknown");
    else if (strchr(addr, ':') != NULL)
        snprintf(out, outlen, "[%s]:%u", addr, (unsigned)port);
    else
        snprintf(out, outlen, "%s:%u", addr, (unsigned)port);
}

/* Fills req from the evhttp request. On a problem the server answers itself
 * (through the error writer) and this returns -1. body is allocated here. */
static int build_request(const dps_https_server *s, struct evhttp_request *ereq,
                         dps_http_request *req, dps_http_header *headers, char **body,
                         dps_http_response *res)
{
    req->method = map_method(evhttp_request_get_command(ereq));

    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ereq);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    if (path == NULL || path[0] == '\0')
        path = "/";
    req->path = path;
    req->query = uri != NULL ? evhttp_uri_get_query(uri) : NULL;

    size_t n = 0;
    struct evkeyval *kv;
    TAILQ_FOREACH(kv, evhttp_request_get_input_headers(ereq), next)
    {
        if (n == DPS_HTTP_MAX_HEADERS) {
            server_error(s, res, 400, "more than %d request headers", DPS_HTTP_MAX_HEADERS);
            return -1;
        }
        headers[n].name = kv->key;
        headers[n].value = kv->value;
        n++;
    }
    req->headers = headers;
    req->nheaders = n;

    struct evbuffer *in = evhttp_request_get_input_buffer(ereq);
    size_t len = evbuffer_get_length(in);
    if (len > s->max_body) {
        server_error(s, res, 413, "request body of %zu bytes exceeds %zu", len, s->max_body);
        return -1;
    }
    if (len > 0) {
        /* One byte more for a NUL, so a handler that forgets body_len still
         * cannot read past the end. */
        *body = malloc(len + 1);
        if (*body == NULL) {
            server_error(s, res, 500, "out of memory");
            return -1;
        }
        if (evbuffer_copyout(in, *body, len) != (ev_ssize_t)len) {
            server_error(s, res, 500, "cannot read the request body");
            return -1;
        }
        (*body)[len] = '\0';
        req->body = *body;
        req->body_len = len;
    }

    if (dps_http_split_path(req, path) != 0) {
        server_error(s, res, 400, "malformed request path");
        return -1;
    }
    return 0;
}

/* ---- deferred and streamed responses (net/http_pending.h) --------------- */

typedef struct {
    dps_http_pending base; /* first: a dps_http_pending * is a server_pending * */
    const dps_https_server *s;
    struct evhttp_request *ereq; /* NULL once the connection is gone */
    bool streaming;
} server_pending;

/* What on_request lends the handler through req->transport. */
typedef struct {
    const dps_https_server *s;
    struct evhttp_request *ereq;
    server_pending *pending;
} request_transport;

static struct bufferevent *pending_bev(const server_pending *p)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(p->ereq);
    return evcon != NULL ? evhttp_connection_get_bufferevent(evcon) : NULL;
}

/* Sets the connection's read timeout (NULL: none) and keeps the write
 * timeout, so a client that stops reading is still dropped. */
static void pending_timeouts(const server_pending *p, bool waiting)
{
    struct bufferevent *bev = pending_bev(p);
    if (bev == NULL || p->s->timeout_s <= 0)
        return;
    struct timeval tv = {.tv_sec = p->s->timeout_s, .tv_usec = 0};
    (void)bufferevent_set_timeouts(bev, waiting ? NULL : &tv, &tv);
}

/* Detaches p from its connection before p is finished. */
static void pending_release(server_pending *p)
{
    if (p->ereq == NULL)
        return;
    struct evhttp_connection *evcon = evhttp_request_get_connection(p->ereq);
    if (evcon != NULL)
        evhttp_connection_set_closecb(evcon, NULL, NULL);
    pending_timeouts(p, false);
}

/* evhttp is closing the connection (client gone, error, timeout, server
 * shutdown). A request libevent detached from the connection (EOF while
 * the reply was outstanding) is ours to free; one still queued is freed by
 * libevent right after this callback. */
static void pending_conn_closed(struct evhttp_connection *evcon, void *arg)
{
    server_pending *p = arg;
    evhttp_connection_set_closecb(evcon, NULL, NULL);
    if (p->ereq != NULL && evhttp_request_get_connection(p->ereq) == NULL)
        evhttp_request_free(p->ereq);
    p->ereq = NULL;
    dps_http_pending_gone(&p->base); /* may free p */
}

static void pending_complete(dps_http_pending *base, dps_http_response *res)
{
    server_pending *p = (server_pending *)base;
    if (p->ereq != NULL && !p->streaming) {
        pending_release(p);
        dps_http_response fallback = {0};
        if (res == NULL) {
            server_error(p->s, &fallback, 500, "no response");
            res = &fallback;
        }
        send_response(p->s, p->ereq, res);
        if (res == &fallback) {
            dps_http_response_free(&fallback);
            res = NULL;
        }
    }
    if (res != NULL)
        dps_http_response_free(res);
    free(p);
}

static int pending_stream_start(dps_http_pending *base, int status, const char *content_type)
{
    server_pending *p = (server_pending *)base;
    if (p->ereq == NULL || p->streaming)
        return -1;
    struct evkeyvalq *oh = evhttp_request_get_output_headers(p->ereq);
    if ((content_type != NULL && evhttp_add_header(oh, "Content-Type", content_type) != 0) ||
        evhttp_add_header(oh, "Cache-Control", "no-cache") != 0)
        return -1;
    evhttp_send_reply_start(p->ereq, status, NULL);
    p->streaming = true;
    return 0;
}

static int pending_stream_write(dps_http_pending *base, const void *data, size_t len)
{
    server_pending *p = (server_pending *)base;
    struct bufferevent *bev = p->ereq != NULL ? pending_bev(p) : NULL;
    if (bev == NULL || !p->streaming)
        return -1;
    size_t queued = evbuffer_get_length(bufferevent_get_output(bev));
    if (len > DPS_HTTP_STREAM_MAX_BUFFERED || queued > DPS_HTTP_STREAM_MAX_BUFFERED - len)
        return -1;
    struct evbuffer *chunk = evbuffer_new();
    if (chunk == NULL || evbuffer_add(chunk, data, len) != 0) {
        evbuffer_free(chunk);
        return -1;
    }
    evhttp_send_reply_chunk(p->ereq, chunk);
    evbuffer_free(chunk);
    return 0;
}

static void pending_stream_end(dps_http_pending *base)
{
    server_pending *p = (server_pending *)base;
    if (p->ereq != NULL) {
        pending_release(p);
        if (p->streaming) {
            evhttp_send_reply_end(p->ereq);
        } else {
            dps_http_response res = {0};
            server_error(p->s, &res, 500, "the response was never started");
            send_response(p->s, p->ereq, &res);
            dps_http_response_free(&res);
        }
    }
    free(p);
}

static void pending_abort(dps_http_pending *base)
{
    server_pending *p = (server_pending *)base;
    if (p->ereq != NULL) {
        struct evhttp_connection *evcon = evhttp_request_get_connection(p->ereq);
        if (evcon != NULL) {
            evhttp_connection_set_closecb(evcon, NULL, NULL);
            evhttp_connection_free(evcon); /* frees the queued request too */
        } else {
            evhttp_request_free(p->ereq);
        }
    }
    free(p);
}

static const dps_http_pending_ops server_pending_ops = {
    .complete = pending_complete,
    .stream_start = pending_stream_start,
    .stream_write = pending_stream_write,
    .stream_end = pending_stream_end,
    .abort = pending_abort,
};

static dps_http_pending *server_defer(void *transport)
{
    request_transport *tr = transport;
    if (tr->pending != NULL)
        return &tr->pending->base;
    struct evhttp_connection *evcon = evhttp_request_get_connection(tr->ereq);
    if (evcon == NULL)
        return NULL;
    server_pending *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->base.ops = &server_pending_ops;
    p->s = tr->s;
    p->ereq = tr->ereq;
    evhttp_connection_set_closecb(evcon, pending_conn_closed, p);
    /* Waiting for a device or following telemetry may take longer than the
     * idle timeout; the write timeout still applies. */
    pending_timeouts(p, true);
    tr->pending = p;
    return &p->base;
}

static void on_request(struct evhttp_request *ereq, void *arg)
{
    const dps_https_server *s = arg;
    int64_t t0 = monotonic_us();

    if (!connection_is_tls(ereq)) {
        /* Only when SSL_new failed for this connection and evhttp fell back
         * to a plain socket: never serve an API in clear text. */
        evhttp_send_error(ereq, 500, "TLS unavailable");
        return;
    }

    dps_http_header headers[DPS_HTTP_MAX_HEADERS];
    dps_http_request req = {0};
    dps_http_response res = {0};
    char *body = NULL;
    char peer[80];
    format_peer(ereq, peer, sizeof peer);
    req.peer = peer;
    request_transport tr = {.s = s, .ereq = ereq, .pending = NULL};
    req.defer = server_defer;
    req.transport = &tr;
    /* The client certificate the handshake asked for (tls_server.c), for
     * X.509 attestation; the handler judges it, not the TLS layer. */
    {
        struct bufferevent *bev =
            evhttp_connection_get_bufferevent(evhttp_request_get_connection(ereq));
        SSL *ssl = bufferevent_openssl_get_ssl(bev);
        req.client_leaf = SSL_get0_peer_certificate(ssl);
        req.client_chain = SSL_get_peer_cert_chain(ssl);
    }

    if (build_request(s, ereq, &req, headers, &body, &res) == 0)
        s->handle(s->arg, &req, &res);

    int status = res.status;
    if (tr.pending != NULL) {
        /* Deferred: the handler's code answers later (http_pending.h). */
        if (res.status != 0)
            log_error("http: handler both deferred and answered; the answer is dropped");
        status = 0;
    } else {
        send_response(s, ereq, &res);
    }

    int64_t us = monotonic_us() - t0;
    /* Path only: the query and the headers (Authorization!) stay out of logs. */
    dps_log(status >= 500 ? DPS_LOG_WARN : DPS_LOG_DEBUG,
            "http method=%s path=%s status=%d duration_us=%lld peer=%s",
            dps_http_method_name(req.method), req.path != NULL ? req.path : "-",
            tr.pending != NULL ? 0 : status_valid(status) ? status : 500, (long long)us, peer);

    dps_http_request_free_segments(&req);
    dps_http_response_free(&res);
    free(body);
}

/* ---- listeners ---------------------------------------------------------- */

static int bind_listener(dps_https_server *s, const dps_listen_addr *a, listener *l,
                         char *err, size_t errlen)
{
    bool v6 = strchr(a->host, ':') != NULL;
    char shown[300];
    dps_listen_addr_format(a, shown, sizeof shown);

    errno = 0;
    l->handle = evhttp_bind_socket_with_handle(s->http, a->host, a->port);
    if (l->handle == NULL) {
        snprintf(err, errlen, "cannot listen on %s: %s", shown,
                 errno != 0 ? strerror(errno) : "address not usable");
        return -1;
    }
    evutil_socket_t fd = evhttp_bound_socket_get_fd(l->handle);

    /* Linux (and the BSDs) copy TCP_NODELAY from the listening socket to
     * each accepted one; evhttp gives us no earlier hook on the accepted
     * socket, so this is where every connection gets it. */
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
        log_warn("http: TCP_NODELAY on %s: %s", shown, strerror(errno));

    struct sockaddr_storage ss;
    socklen_t sslen = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sslen) != 0) {
        snprintf(err, errlen, "cannot read the address of %s: %s", shown, strerror(errno));
        return -1;
    }
    if (ss.ss_family == AF_INET)
        l->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    else if (ss.ss_family == AF_INET6)
        l->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    else
        l->port = a->port;
    snprintf(l->url, sizeof l->url, "https://%s%s%s:%u", v6 ? "[" : "", a->host,
             v6 ? "]" : "", (unsigned)l->port);
    return 0;
}

dps_https_server *dps_https_server_start(struct event_base *base, SSL_CTX *tls,
                                         const dps_https_server_options *opt, char *err,
                                         size_t errlen)
{
    if (opt->nlisten == 0 || opt->nlisten > DPS_HTTPS_MAX_LISTENERS) {
        snprintf(err, errlen, "between 1 and %d listen addresses are needed",
                 DPS_HTTPS_MAX_LISTENERS);
        return NULL;
    }
    if (opt->handle == NULL) {
        snprintf(err, errlen, "no request handler");
        return NULL;
    }
    event_set_log_callback(libevent_log);

    dps_https_server *s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->handle = opt->handle;
    s->write_error = opt->write_error;
    s->arg = opt->arg;
    s->max_body = opt->max_body_bytes;
    s->timeout_s = opt->timeout_s;
    if (SSL_CTX_up_ref(tls) != 1) {
        free(s);
        snprintf(err, errlen, "cannot reference the TLS context");
        return NULL;
    }
    s->tls = tls;
    s->http = evhttp_new(base);
    if (s->http == NULL) {
        snprintf(err, errlen, "cannot create the HTTP server");
        goto fail;
    }

    evhttp_set_bevcb(s->http, make_tls_bufferevent, s);
    evhttp_set_gencb(s->http, on_request, s);
    /* Every method libevent can parse reaches the handler, so an API answers
     * a method it does not serve in its own error shape (405) instead of
     * libevent's bare 501 page. Methods libevent 2.1 cannot parse at all
     * (PROPFIND, ...) still get its 400/501. */
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_PUT | EVHTTP_REQ_POST |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH |
                                            EVHTTP_REQ_HEAD | EVHTTP_REQ_OPTIONS |
                                            EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT);
    evhttp_set_max_headers_size(s->http, DPS_HTTPS_MAX_HEADER_BYTES);
    /* evhttp answers a body over its own cap with a bare HTML 413, and
     * libevent 2.1 has no hook to change that page. So its cap sits above
     * ours by DPS_HTTPS_BODY_SLACK (at least max_body_bytes): a body up to
     * that size reaches on_request and gets the daemon's error shape; only a
     * grossly oversized one gets libevent's page. The buffered bytes per
     * connection stay bounded by the sum. */
    size_t slack = opt->max_body_bytes > DPS_HTTPS_BODY_SLACK ? opt->max_body_bytes
                                                               : DPS_HTTPS_BODY_SLACK;
    evhttp_set_max_body_size(s->http, (ev_ssize_t)(opt->max_body_bytes + slack));
    evhttp_set_timeout(s->http, opt->timeout_s);
    /* Read (and drop) the rest of an oversized body before answering, so
     * the client sees the 413 instead of a reset connection. */
    if (evhttp_set_flags(s->http, EVHTTP_SERVER_LINGERING_CLOSE) != 0)
        log_warn("http: lingering close not available");

    for (size_t i = 0; i < opt->nlisten; i++) {
        if (bind_listener(s, &opt->listen[i], &s->listeners[i], err, errlen) != 0)
            goto fail;
        s->nlisteners = i + 1;
    }
    return s;

fail:
    dps_https_server_free(&s);
    return NULL;
}

size_t dps_https_server_listener_count(const dps_https_server *s)
{
    return s != NULL ? s->nlisteners : 0;
}

const char *dps_https_server_listener_url(const dps_https_server *s, size_t i)
{
    return s != NULL && i < s->nlisteners ? s->listeners[i].url : NULL;
}

uint16_t dps_https_server_listener_port(const dps_https_server *s, size_t i)
{
    return s != NULL && i < s->nlisteners ? s->listeners[i].port : 0;
}

void dps_https_server_free(dps_https_server **sp)
{
    if (sp == NULL || *sp == NULL)
        return;
    dps_https_server *s = *sp;
    if (s->http != NULL)
        evhttp_free(s->http); /* closes the listeners and every connection */
    SSL_CTX_free(s->tls);
    free(s);
    *sp = NULL;
}
