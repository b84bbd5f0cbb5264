/* The HTTP side of dpsctl: one libcurl easy handle per run, a fresh SAS
 * token per request, TLS verification always on, JSON in and out, paging
 * through x-ms-continuation, and every failure turned into one line on
 * stderr plus an exit code (1 service error, 3 connection or TLS problem). */
#ifndef DPSCTL_CLIENT_H
#define DPSCTL_CLIENT_H

#include <jansson.h>
#include <stdbool.h>

#define DPSCTL_DEFAULT_API_VERSION "2021-10-01"
#define DPSCTL_DEFAULT_TIMEOUT_S 60L

typedef struct dpsctl_client dpsctl_client;

typedef struct {
    const char *connection_string; /* required */
    const char *cafile;            /* NULL: the system trust store */
    const char *endpoint;          /* NULL: https://<HostName> */
    const char *api_version;       /* never NULL */
    long timeout_s;
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
