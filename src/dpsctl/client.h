/* The HTTP side of dpsctl: one libcurl easy handle per run, a fresh SAS
 * token per request, TLS verification always on, JSON in and out, paging
 * through x-ms-continuation, and every failure turned into one line on
 * stderr plus an exit code (1 service error, 3 connection or TLS problem). */
#ifndef DPSCTL_CLIENT_H
#define DPSCTL_CLIENT_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#define DPSCTL_DEFAULT_API_VERSION "2021-10-01"
#define DPSCTL_DEFAULT_TIMEOUT_S 60L

typedef struct dpsctl_client dpsctl_client;

typedef struct {
    const char *connection_string; /* required */
    const char *cafile;            /* NULL: the system trust store */
    const char *endpoint;          /* NULL: https://<HostName> */
    const char *api_version;       /* never NULL */
    long timeout_s;
    /* how the user gave the three settings above, for messages: hub
     * commands take --hub-login etc. NULL: "--login", "--cafile",
     * "--endpoint". */
    const char *login_option;
    const char *cafile_option;
    const char *endpoint_option;
    const char *cafile_env; /* NULL: "DPSCTL_CA_FILE" */
} dpsctl_client_config;

/* Parses the connection string, checks the endpoint and sets up libcurl.
 * Returns an exit code (2 for an unusable connection string or endpoint);
 * the reason has been printed when it is not 0. */
int dpsctl_client_open(const dpsctl_client_config *cfg, dpsctl_client **out);
void dpsctl_client_close(dpsctl_client **c);

typedef struct {
    const char *if_match;     /* sent verbatim as If-Match, or NULL */
    const char *continuation; /* x-ms-continuation, or NULL */
    long max_items;           /* x-ms-max-item-count when > 0 */
    const char *query;        /* extra query text after api-version ("force=true"), already encoded */
    bool empty_body;          /* POST/PUT with a zero-length JSON body */
    const char *raw_body;     /* sent as is instead of body (hubd's C2D payload) */
    size_t raw_len;
    const char *content_type; /* of raw_body; default application/octet-stream */
    const char *const *headers; /* extra "Name: value" lines, NULL-terminated, or NULL */
    long timeout_s;           /* > 0: limit of this request instead of the client's */
} dpsctl_req_opts;

typedef struct {
    long status;
    json_t *body;       /* parsed JSON (object, array or string), NULL when empty */
    char *continuation; /* response x-ms-continuation, NULL when absent */
} dpsctl_response;

/* Sends method path (path already percent-encoded, starting with '/') with
 * body as JSON (may be NULL). Returns 0 for a 2xx answer (filling *res),
 * else prints the error line and returns 1 (service) or 3 (connection). */
int dpsctl_call(dpsctl_client *c, const char *method, const char *path, const json_t *body,
                const dpsctl_req_opts *opts, dpsctl_response *res);
void dpsctl_response_free(dpsctl_response *r);

/* How a stream ended when dpsctl_stream returns 0. */
typedef enum {
    DPSCTL_STREAM_STOPPED,  /* on_data asked to stop, or *stop was set */
    DPSCTL_STREAM_DURATION, /* duration_s passed */
    DPSCTL_STREAM_CLOSED,   /* the server ended the response */
} dpsctl_stream_end;

/* Receives a streamed response body piece by piece: 0 goes on, 1 stops
 * (a clean end), -1 fails (the reason has been printed). */
typedef int (*dpsctl_stream_fn)(void *arg, const char *data, size_t len);

typedef struct {
    const char *const *headers;      /* extra request headers, NULL-terminated, or NULL */
    long duration_s;                 /* end after this long; 0: no limit */
    long idle_max_s;                 /* > 0: fail when nothing arrives this long */
    volatile sig_atomic_t *stop;     /* set (by a signal handler) to end the stream, or NULL */
    dpsctl_stream_fn on_data;
    void *arg;
} dpsctl_stream_opts;

/* GETs path (already percent-encoded) and hands a 2xx body to on_data as it
 * arrives, for endpoints that never finish on their own (Server-Sent
 * Events). The client's timeout bounds the wait for the response headers
 * only. Returns 0 with *end saying why it stopped, else an exit code
 * (errors printed as by dpsctl_call). */
int dpsctl_stream(dpsctl_client *c, const char *path, const dpsctl_stream_opts *o,
                  dpsctl_stream_end *end);

/* POSTs a query to path and follows x-ms-continuation until the server has
 * no more pages or top items (top <= 0: no limit) are collected. body NULL
 * sends a zero-length body (registration queries). On success *out is a new
 * JSON array. Returns an exit code. */
int dpsctl_query_all(dpsctl_client *c, const char *path, const json_t *body, long top,
                     json_t **out);

/* prefix + percent-encoded id + suffix (suffix may be NULL), or NULL
 * without memory. */
char *dpsctl_path(const char *prefix, const char *id, const char *suffix);

#endif
