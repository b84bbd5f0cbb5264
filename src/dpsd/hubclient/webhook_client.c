/* Custom allocation webhook calls (webhook_client.h). */
#include "hubclient/webhook_client.h"

#include <ctype.h>
#include <event2/dns.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "hubclient/hub_http.h"

typedef struct call call;
struct call {
    dps_webhook_client *c;
    call *prev, *next;
    dps_hub_http *http;
    dps_webhook_done_fn done;
    void *arg;
};

struct dps_webhook_client {
    struct event_base *base;
    struct evdns_base *dns;
    SSL_CTX *tls;
    int timeout_s;
    call *calls;
    size_t ncalls;
};

int dps_webhook_url_parse(const char *url, int *tls, char *host, size_t hostlen, int *port,
                          char *authority, size_t authlen, char *pathq, size_t pathqlen)
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
    size_t alen = strcspn(p, "/?#");
    if (alen == 0 || alen >= authlen || memchr(p, '@', alen) != NULL)
        return -1;
    memcpy(authority, p, alen);
    authority[alen] = '\0';
    const char *hs = p, *he, *port_at = NULL;
    if (*p == '[') {
        const char *rb = memchr(p, ']', alen);
        if (rb == NULL)
            return -1;
        hs = p + 1;
        he = rb;
        if (rb + 1 < p + alen) {
            if (rb[1] != ':')
                return -1;
            port_at = rb + 2;
        }
    } else {
        const char *colon = memchr(p, ':', alen);
        he = colon != NULL ? colon : p + alen;
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
        if (port_at == p + alen)
            return -1;
        for (const char *q = port_at; q < p + alen; q++) {
            if (!isdigit((unsigned char)*q) || (v = v * 10 + (*q - '0')) > 65535)
                return -1;
        }
        if (v == 0)
            return -1;
        *port = (int)v;
    }
    /* The path and query go out verbatim (function keys travel as ?code=);
     * a fragment is never sent. */
    const char *rest = p + alen;
    size_t rl = strcspn(rest, "#");
    const char *lead = rest[0] == '/' ? "" : "/";
    if (strlen(lead) + rl >= pathqlen)
        return -1;
    snprintf(pathq, pathqlen, "%s%.*s", lead, (int)rl, rest);
    for (const char *q = pathq; *q != '\0'; q++)
        if ((unsigned char)*q <= ' ' || *q == 0x7f)
            return -1;
    return 0;
}

static void unlink_call(call *k)
{
    dps_webhook_client *c = k->c;
    if (k->prev != NULL)
        k->prev->next = k->next;
    else
        c->calls = k->next;
    if (k->next != NULL)
        k->next->prev = k->prev;
    c->ncalls--;
}

static void on_reply(void *arg, const dps_hub_http_reply *r)
{
    call *k = arg;
    unlink_call(k);
    dps_webhook_reply w = {.status = r->status,
                           .body = r->body,
                           .body_len = r->body_len,
                           .error = r->error};
    dps_webhook_done_fn done = k->done;
    void *darg = k->arg;
    free(k);
    done(darg, &w);
}

static int start_call(void *self, const char *url, const char *body, dps_webhook_done_fn done,
                      void *arg, void **handle, char *err, size_t errlen)
{
    dps_webhook_client *c = self;
    char host[256], authority[300], pathq[2048];
    int tls = 0, port = 0;
    if (dps_webhook_url_parse(url, &tls, host, sizeof host, &port, authority, sizeof authority,
                              pathq, sizeof pathq) != 0) {
        snprintf(err, errlen, "the webhook URL is not a usable http(s) URL");
        return -1;
    }
    call *k = calloc(1, sizeof *k);
    if (k == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    k->c = c;
    k->done = done;
    k->arg = arg;
    dps_hub_http_target t = {.base = c->base,
                             .dns = c->dns,
                             .tls = tls ? c->tls : NULL,
                             .connect_host = host,
                             .port = port,
                             .host_name = authority,
                             .timeout_s = c->timeout_s};
    /* hub_http never calls back before it returns. */
    k->http = dps_hub_http_start(&t, EVHTTP_REQ_POST, pathq, NULL, NULL, body, on_reply, k);
    if (k->http == NULL) {
        free(k);
        snprintf(err, errlen, "cannot start the request to %.200s", authority);
        return -1;
    }
    k->next = c->calls;
    if (c->calls != NULL)
        c->calls->prev = k;
    c->calls = k;
    c->ncalls++;
    *handle = k;
    return 0;
}

static void cancel_call(void *self, void *handle)
{
    (void)self;
    call *k = handle;
    if (k == NULL)
        return;
    dps_hub_http_cancel(k->http);
    unlink_call(k);
    free(k);
}

dps_webhook_caller dps_webhook_client_caller(dps_webhook_client *c)
{
    return (dps_webhook_caller){.start = start_call, .cancel = cancel_call, .self = c};
}

size_t dps_webhook_client_active(const dps_webhook_client *c)
{
    return c->ncalls;
}

dps_webhook_client *dps_webhook_client_new(const dps_webhook_client_options *opt, char *err,
                                           size_t errlen)
{
    dps_webhook_client *c = calloc(1, sizeof *c);
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->base = opt->base;
    c->timeout_s = opt->timeout_s > 0 ? opt->timeout_s : DPS_WEBHOOK_TIMEOUT_DEFAULT;
    c->tls = SSL_CTX_new(TLS_client_method());
    if (c->tls == NULL || SSL_CTX_set_min_proto_version(c->tls, TLS1_2_VERSION) != 1) {
        snprintf(err, errlen, "cannot create the webhook client's TLS context");
        goto fail;
    }
    /* Verification is never optional: a webhook decides where devices go
     * and what they are told. */
    SSL_CTX_set_verify(c->tls, SSL_VERIFY_PEER, NULL);
    if (opt->ca_file != NULL && opt->ca_file[0] != '\0') {
        if (SSL_CTX_load_verify_locations(c->tls, opt->ca_file, NULL) != 1) {
            char e[200];
            ERR_error_string_n(ERR_get_error(), e, sizeof e);
            snprintf(err, errlen, "webhook_ca_file %s: %s", opt->ca_file, e);
            goto fail;
        }
    } else if (SSL_CTX_set_default_verify_paths(c->tls) != 1) {
        snprintf(err, errlen, "cannot load the system trust store for webhook calls");
        goto fail;
    }
    c->dns = evdns_base_new(c->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
    if (c->dns == NULL)
        log_warn("webhook client: no DNS resolver configuration; use numeric webhook URLs");
    return c;
fail:
    ERR_clear_error();
    dps_webhook_client_free(&c);
    return NULL;
}

void dps_webhook_client_free(dps_webhook_client **cp)
{
    dps_webhook_client *c = *cp;
    if (c == NULL)
        return;
    while (c->calls != NULL)
        cancel_call(c, c->calls);
    if (c->dns != NULL)
        evdns_base_free(c->dns, 0);
    SSL_CTX_free(c->tls);
    free(c);
    *cp = NULL;
}
