/* One outgoing request (hub_http.h). Lifetimes follow libevent's rules: a
 * connection is never freed inside its own callback chain, so a finished
 * request schedules its connection's release on the loop (style.md
 * practice 13). */
#include "hubclient/hub_http.h"

#include <ctype.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"

struct dps_hub_http {
    struct event_base *base;
    struct evhttp_connection *conn;
    struct bufferevent *bev;
    struct event *deadline;
    dps_hub_http_fn fn;
    void *arg;
    enum evhttp_request_error err;
    bool have_err;
    bool in_start;    /* inside evhttp_make_request */
    bool failed_sync; /* it called back before returning */
    char host[256];
};

static void free_conn_later(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    evhttp_connection_free(arg);
}

/* Releases h; the connection goes on the next loop turn when deferred. */
static void release(dps_hub_http *h, bool defer)
{
    if (h->deadline != NULL)
        event_free(h->deadline);
    if (h->conn != NULL) {
        struct timeval now = {0, 0};
        if (!defer || event_base_once(h->base, -1, EV_TIMEOUT, free_conn_later, h->conn,
                                      &now) != 0)
            evhttp_connection_free(h->conn);
    }
    free(h);
}

static const char *error_text(const dps_hub_http *h, char *buf, size_t len)
{
    unsigned long ssl_err = h->bev != NULL ? bufferevent_get_openssl_error(h->bev) : 0;
    if (ssl_err != 0) {
        char e[200];
        ERR_error_string_n(ssl_err, e, sizeof e);
        snprintf(buf, len, "TLS failure with %.100s: %.160s", h->host, e);
        return buf;
    }
    if (!h->have_err) {
        snprintf(buf, len, "no answer from %s", h->host);
        return buf;
    }
    switch (h->err) {
    case EVREQ_HTTP_TIMEOUT:
        snprintf(buf, len, "%s did not answer in time", h->host);
        break;
    case EVREQ_HTTP_EOF:
        snprintf(buf, len, "%s closed the connection", h->host);
        break;
    case EVREQ_HTTP_INVALID_HEADER:
    case EVREQ_HTTP_DATA_TOO_LONG:
        snprintf(buf, len, "%s sent an unreadable answer", h->host);
        break;
    default:
        snprintf(buf, len, "cannot connect to %s", h->host);
        break;
    }
    return buf;
}

static void on_error(enum evhttp_request_error err, void *arg)
{
    dps_hub_http *h = arg;
    h->err = err;
    h->have_err = true;
}

static void on_response(struct evhttp_request *req, void *arg)
{
    dps_hub_http *h = arg;
    if (h->in_start) {
        /* Not expected from libevent 2.1 (connect errors are deferred),
         * but start promises never to call back: it reports the failure. */
        h->failed_sync = true;
        return;
    }
    dps_hub_http_reply r = {0};
    char errbuf[300];
    char *copy = NULL;
    int code = req != NULL ? evhttp_request_get_response_code(req) : 0;
    if (code <= 0) {
        r.error = error_text(h, errbuf, sizeof errbuf);
    } else {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        size_t n = in != NULL ? evbuffer_get_length(in) : 0;
        if (n > DPS_HUB_HTTP_MAX_REPLY) {
            r.error = "the hub's answer is too large";
        } else {
            r.status = code;
            if (n > 0) {
                copy = malloc(n + 1);
                if (copy != NULL && evbuffer_copyout(in, copy, n) == (ev_ssize_t)n) {
                    copy[n] = '\0';
                    r.body = copy;
                    r.body_len = n;
                }
            }
        }
    }
    dps_hub_http_fn fn = h->fn;
    void *fn_arg = h->arg;
    /* libevent frees req after we return and still uses the connection:
     * release it on the next loop turn. */
    release(h, true);
    fn(fn_arg, &r);
    free(copy);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    dps_hub_http *h = arg;
    dps_hub_http_reply r = {0};
    char errbuf[300];
    snprintf(errbuf, sizeof errbuf, "%s did not answer in time", h->host);
    r.error = errbuf;
    dps_hub_http_fn fn = h->fn;
    void *fn_arg = h->arg;
    /* Outside any evhttp callback: the connection (and the request it
     * holds, without calling back) can go at once. */
    release(h, false);
    fn(fn_arg, &r);
}

dps_hub_http *dps_hub_http_start(const dps_hub_http_target *t, enum evhttp_cmd_type cmd,
                                 const char *path, const char *authorization,
                                 const char *if_match, const char *body, dps_hub_http_fn fn,
                                 void *arg)
{
    dps_hub_http *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    h->base = t->base;
    h->fn = fn;
    h->arg = arg;
    snprintf(h->host, sizeof h->host, "%s", t->host_name);
    /* The certificate names the hub, not the address dialled; a ":port" in
     * a hub name is not part of the TLS name. */
    char tls_name[256];
    snprintf(tls_name, sizeof tls_name, "%s", t->host_name);
    char *colon = strchr(tls_name, ':');
    if (colon != NULL)
        *colon = '\0';

    SSL *ssl = NULL;
    if (t->tls != NULL) {
        ssl = SSL_new(t->tls);
        if (ssl == NULL || SSL_set_tlsext_host_name(ssl, tls_name) != 1 ||
            SSL_set1_host(ssl, tls_name) != 1) {
            SSL_free(ssl);
            free(h);
            return NULL;
        }
        h->bev = bufferevent_openssl_socket_new(t->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                                BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
        if (h->bev == NULL) {
            SSL_free(ssl);
            free(h);
            return NULL;
        }
        /* Servers that close without close_notify are common and harmless
         * here: the answer's length is known from its headers. */
        bufferevent_openssl_set_allow_dirty_shutdown(h->bev, 1);
    }
    /* From here on the connection owns the bufferevent (and the SSL). */
    h->conn = evhttp_connection_base_bufferevent_new(t->base, t->dns, h->bev, t->connect_host,
                                                     (unsigned short)t->port);
    if (h->conn == NULL) {
        if (h->bev != NULL)
            bufferevent_free(h->bev);
        free(h);
        return NULL;
    }
    evhttp_connection_set_timeout(h->conn, t->timeout_s);
    evhttp_connection_set_retries(h->conn, 0);
    evhttp_connection_set_max_body_size(h->conn, DPS_HUB_HTTP_MAX_REPLY);
    h->deadline = evtimer_new(t->base, on_deadline, h);
    struct evhttp_request *req = evhttp_request_new(on_response, h);
    if (h->deadline == NULL || req == NULL) {
        if (req != NULL)
            evhttp_request_free(req);
        release(h, false);
        return NULL;
    }
    evhttp_request_set_error_cb(req, on_error);
    struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);
    int rc = evhttp_add_header(hdr, "Host", t->host_name);
    rc |= evhttp_add_header(hdr, "Accept", "application/json");
    rc |= evhttp_add_header(hdr, "User-Agent", "opendps-dpsd");
    if (authorization != NULL)
        rc |= evhttp_add_header(hdr, "Authorization", authorization);
    if (if_match != NULL)
        rc |= evhttp_add_header(hdr, "If-Match", if_match);
    if (body != NULL) {
        /* evhttp adds Content-Length only to POST and PUT; PATCH needs it too. */
        char len[24];
        snprintf(len, sizeof len, "%zu", strlen(body));
        rc |= evhttp_add_header(hdr, "Content-Length", len);
        rc |= evhttp_add_header(hdr, "Content-Type", "application/json; charset=utf-8");
        rc |= evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body));
    }
    struct timeval tv = {t->timeout_s, 0};
    if (rc != 0 || evtimer_add(h->deadline, &tv) != 0) {
        evhttp_request_free(req);
        release(h, false);
        return NULL;
    }
    /* On failure evhttp_make_request disposes of req itself. */
    h->in_start = true;
    int made = evhttp_make_request(h->conn, req, cmd, path);
    h->in_start = false;
    if (made != 0 || h->failed_sync) {
        release(h, true);
        return NULL;
    }
    return h;
}

void dps_hub_http_cancel(dps_hub_http *h)
{
    if (h != NULL)
        release(h, false);
}

int dps_hub_http_env_init(dps_hub_http_env *env, struct event_base *base, const char *ca_file,
                          const dps_hub_http_env_names *names, char *err, size_t errlen)
{
    *env = (dps_hub_http_env){0};
    env->tls = SSL_CTX_new(TLS_client_method());
    if (env->tls == NULL || SSL_CTX_set_min_proto_version(env->tls, TLS1_2_VERSION) != 1) {
        snprintf(err, errlen, "cannot create the %s's TLS context", names->client);
        goto fail;
    }
    /* Verification is never optional: a hub receives device keys, and a
     * webhook decides where devices go and what they are told. */
    SSL_CTX_set_verify(env->tls, SSL_VERIFY_PEER, NULL);
    if (ca_file != NULL && ca_file[0] != '\0') {
        if (SSL_CTX_load_verify_locations(env->tls, ca_file, NULL) != 1) {
            char e[200];
            ERR_error_string_n(ERR_get_error(), e, sizeof e);
            snprintf(err, errlen, "%s %s: %s", names->ca_option, ca_file, e);
            goto fail;
        }
    } else if (SSL_CTX_set_default_verify_paths(env->tls) != 1) {
        snprintf(err, errlen, "cannot load the system trust store for %s", names->trust_use);
        goto fail;
    }
    /* Asynchronous name resolution (and /etc/hosts) for URLs that name a
     * host; without a resolver configuration only numeric addresses stay
     * non-blocking, which is what the default set-up uses. */
    env->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
    if (env->dns == NULL)
        log_warn("%s: no DNS resolver configuration; use numeric %s URLs", names->client,
                 names->urls);
    return 0;
fail:
    ERR_clear_error();
    dps_hub_http_env_clear(env);
    return -1;
}

void dps_hub_http_env_clear(dps_hub_http_env *env)
{
    if (env->dns != NULL)
        evdns_base_free(env->dns, 0);
    SSL_CTX_free(env->tls);
    *env = (dps_hub_http_env){0};
}

int dps_hub_http_url_origin(const char *url, int *tls, char *host, size_t hostlen, int *port,
                            const char **authority, const char **rest)
{
    const char *p;
    if (strncasecmp(url, "https://", 8) == 0) {
        *tls = 1;
        *port = 443;
        p = url + 8;
    } else if (strncasecmp(url, "http://", 7) == 0) {
        *tls = 0;
        *port = 80;
        p = url + 7;
    } else {
        return -1;
    }
    const char *end = p + strcspn(p, "/?#");
    const char *hs = p, *he;
    const char *port_at = NULL;
    if (*p == '[') {
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (rb == NULL)
            return -1;
        hs = p + 1;
        he = rb;
        if (rb + 1 < end) {
            if (rb[1] != ':')
                return -1;
            port_at = rb + 2;
        }
    } else {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        he = colon != NULL ? colon : end;
        if (colon != NULL)
            port_at = colon + 1;
    }
    size_t hl = (size_t)(he - hs);
    if (hl == 0 || hl >= hostlen)
        return -1;
    memcpy(host, hs, hl);
    host[hl] = '\0';
    if (port_at != NULL) {
        long v = 0;
        if (port_at == end)
            return -1;
        for (const char *q = port_at; q < end; q++) {
            if (!isdigit((unsigned char)*q) || (v = v * 10 + (*q - '0')) > 65535)
                return -1;
        }
        if (v == 0)
            return -1;
        *port = (int)v;
    }
    *authority = p;
    *rest = end;
    return 0;
}
