/* The HTTP(S) client of custom allocation webhooks (engine/webhook.h,
 * service-api.md §13): one POST per registration on dpsd's event loop,
 * through the same one-request evhttp client the hub client uses
 * (hub_http.h), with its own trust store and deadline. Never blocks; no
 * retries (a failed call fails the registration with 400209). */
#ifndef DPSD_HUBCLIENT_WEBHOOK_CLIENT_H
#define DPSD_HUBCLIENT_WEBHOOK_CLIENT_H

#include <event2/event.h>
#include <stddef.h>

#include "engine/webhook.h"

typedef struct {
    struct event_base *base;
    /* PEM bundle of the CAs webhook certificates must chain to; NULL or ""
     * = the system trust store. The certificate must name the URL's host. */
    const char *ca_file;
    int timeout_s; /* whole call, connect included; 0 = DPS_WEBHOOK_TIMEOUT_DEFAULT */
} dps_webhook_client_options;

typedef struct dps_webhook_client dps_webhook_client;

/* NULL with the reason in err (an unreadable CA file, no memory). */
dps_webhook_client *dps_webhook_client_new(const dps_webhook_client_options *opt, char *err,
                                           size_t errlen);
/* Drops every call without calling back, then frees; *c = NULL. */
void dps_webhook_client_free(dps_webhook_client **c);

/* The engine's view of the client. */
dps_webhook_caller dps_webhook_client_caller(dps_webhook_client *c);

/* Calls running now. */
size_t dps_webhook_client_active(const dps_webhook_client *c);

/* "http(s)://host[:port][/path][?query]" into its parts: tls, the host to
 * connect to (brackets of an IPv6 literal removed), port, the authority as
 * written (Host header, certificate name), and the path with the query
 * string verbatim ("/" when the URL has none). -1 when it is not such a
 * URL. Exposed for tests. */
int dps_webhook_url_parse(const char *url, int *tls, char *host, size_t hostlen, int *port,
                          char *authority, size_t authlen, char *pathq, size_t pathqlen);

#endif
