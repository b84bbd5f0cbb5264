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

/* What an outgoing client (the hub client, the webhook client) keeps for all
 * its requests: a verifying TLS context and, where the system has a resolver
 * configuration, an asynchronous resolver. */
typedef struct {
    SSL_CTX *tls;
    struct evdns_base *dns; /* NULL without a resolver configuration */
} dps_hub_http_env;

/* How a client names itself in the messages of dps_hub_http_env_init. */
typedef struct {
    const char *client;    /* "hub client" */
    const char *ca_option; /* the option naming ca_file: "hub_ca_file" */
    const char *trust_use; /* what the system trust store serves: "hub connections" */
    const char *urls;      /* the URLs to keep numeric without a resolver: "registry" */
} dps_hub_http_env_names;

/* Sets up env: TLS 1.2 or later, the peer always verified against ca_file
 * (PEM; NULL or "" for the system trust store), and the resolver (a warning
 * when there is none). On failure fills err, leaves nothing to free in env
 * and returns -1. */
int dps_hub_http_env_init(dps_hub_http_env *env, struct event_base *base, const char *ca_file,
                          const dps_hub_http_env_names *names, char *err, size_t errlen);
/* Frees what dps_hub_http_env_init set up; safe on a zeroed env. */
void dps_hub_http_env_clear(dps_hub_http_env *env);

/* Reads the origin of an http:// or https:// URL: *tls and *port (443 or 80
 * unless the URL names one), the host without brackets into host, and
 * [*authority, *rest) as the host[:port] text; rest points at the path,
 * query or fragment that follows (or the end). Returns -1 for another scheme,
 * an empty or too long host or a bad port. */
int dps_hub_http_url_origin(const char *url, int *tls, char *host, size_t hostlen, int *port,
                            const char **authority, const char **rest);

#endif
