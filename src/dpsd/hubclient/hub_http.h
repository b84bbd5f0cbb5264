/* One outgoing HTTP(S) request on the event loop: libevent's evhttp client
 * over a bufferevent_openssl that verifies the server certificate against
 * the hub client's trust store and the hub's host name. A fresh connection
 * per request: evhttp cannot reconnect a TLS bufferevent, and a hub job
 * makes at most four calls. Never blocks; every request has a deadline. */
#ifndef DPSD_HUBCLIENT_HUB_HTTP_H
#define DPSD_HUBCLIENT_HUB_HTTP_H

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>
#include <stddef.h>

#define DPS_HUB_HTTP_MAX_REPLY (256 * 1024) /* a device or twin document */

typedef struct {
    struct event_base *base;
    struct evdns_base *dns; /* NULL: numeric addresses only resolve without blocking */
    SSL_CTX *tls;           /* NULL for http:// */
    const char *connect_host; /* where to connect (registryUrl's host) */
    int port;
    const char *host_name;  /* TLS SNI and certificate name; Host header */
    int timeout_s;          /* whole request, connect included */
} dps_hub_http_target;

typedef struct {
    int status;         /* HTTP status; 0 when no answer came */
    const char *body;   /* NUL-terminated copy, NULL when empty */
    size_t body_len;
    const char *error;  /* with status 0: what went wrong */
} dps_hub_http_reply;

typedef void (*dps_hub_http_fn)(void *arg, const dps_hub_http_reply *reply);

typedef struct dps_hub_http dps_hub_http;

/* Starts one request (cmd: EVHTTP_REQ_GET, _PUT, _PATCH, _DELETE).
 * authorization and if_match may be NULL; body NULL sends none. fn runs
 * exactly once, later, from the event loop; NULL when nothing was started
 * (fn never runs). */
dps_hub_http *dps_hub_http_start(const dps_hub_http_target *t, enum evhttp_cmd_type cmd,
                                 const char *path, const char *authorization,
                                 const char *if_match, const char *body, dps_hub_http_fn fn,
                                 void *arg);
/* Drops a request that has not completed; fn never runs. */
void dps_hub_http_cancel(dps_hub_http *h);

#endif
