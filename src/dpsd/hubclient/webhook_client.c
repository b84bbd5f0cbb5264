/* Custom allocation webhook calls (webhook_client.h). */
#include "hubclient/webhook_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    dps_hub_http_env env;
    int timeout_s;
    call *calls;
    size_t ncalls;
};

int dps_webhook_url_parse(const char *url, int *tls, char *host, size_t hostlen, int *port,
                          char *authority, size_t authlen, char *pathq, size_t pathqlen)
{
    const char *auth, *rest;
    if (dps_hub_http_url_origin(url, tls, host, hostlen, port, &auth, &rest) != 0)
        return -1;
    /* user@host is refused: the authority goes out as the Host header. */
    size_t alen = (size_t)(rest - auth);
    if (alen >= authlen || memchr(auth, '@', alen) != NULL)
        return -1;
    memcpy(authority, auth, alen);
    authority[alen] = '\0';
    /* The path and query go out verbatim (function keys travel as ?code=);
     * a fragment is never sent. */
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
                             .dns = c->env.dns,
                             .tls = tls ? c->env.tls : NULL,
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
    static const dps_hub_http_env_names names = {.client = "webhook client",
                                                 .ca_option = "webhook_ca_file",
                                                 .trust_use = "webhook calls",
                                                 .urls = "webhook"};
    if (dps_hub_http_env_init(&c->env, c->base, opt->ca_file, &names, err, errlen) != 0)
        dps_webhook_client_free(&c);
    return c;
}

void dps_webhook_client_free(dps_webhook_client **cp)
{
    dps_webhook_client *c = *cp;
    if (c == NULL)
        return;
    while (c->calls != NULL)
        cancel_call(c, c->calls);
    dps_hub_http_env_clear(&c->env);
    free(c);
    *cp = NULL;
}
