/* Transport-neutral HTTP request and response, as the API handlers see them.
 * The HTTPS server (net/https_server.c) fills a dps_http_request from libevent
 * and writes a dps_http_response back; handlers never touch libevent, so they
 * can be unit-tested and fuzzed on plain structs. */
#ifndef DPS_NET_HTTP_REQUEST_H
#define DPS_NET_HTTP_REQUEST_H

#include <jansson.h>
#include <openssl/x509.h>
#include <stddef.h>

#define DPS_HTTP_MAX_SEGMENTS 16
#define DPS_HTTP_MAX_HEADERS 64

typedef enum {
    DPS_HTTP_GET,
    DPS_HTTP_PUT,
    DPS_HTTP_POST,
    DPS_HTTP_DELETE,
    DPS_HTTP_PATCH,
    DPS_HTTP_OTHER,
} dps_http_method;

typedef struct {
    const char *name;
    const char *value;
} dps_http_header;

/* A request answered later (net/http_pending.h). */
typedef struct dps_http_pending dps_http_pending;

typedef struct {
    dps_http_method method;
    const char *path;                       /* raw path, without the query */
    char *segments[DPS_HTTP_MAX_SEGMENTS];  /* percent-decoded path segments */
    size_t nsegments;                       /* empty segments are dropped */
    const char *query;                      /* raw query string or NULL */
    const dps_http_header *headers;         /* as received, names in any case */
    size_t nheaders;
    const char *body;                       /* not NUL-terminated; NULL when empty */
    size_t body_len;
    const char *peer;                       /* client address, for logs */
    /* The TLS client certificate, when the listener asked for one and the
     * client sent it (X.509 attestation); NULL otherwise. client_chain is
     * what the client sent after its leaf (intermediates, unverified), NULL
     * or empty when nothing. Borrowed from the connection for the call. */
    X509 *client_leaf;
    STACK_OF(X509) *client_chain;
    /* Set by a transport that can answer later (net/http_pending.h: use
     * dps_http_defer, not these); NULL elsewhere (tests, fuzzers). */
    dps_http_pending *(*defer)(void *transport);
    void *transport;
} dps_http_request;

typedef struct {
    int status;
    char *body;                             /* owned; NULL for no body */
    size_t body_len;
    const char *content_type;               /* static string or NULL */
    char *header_names[8];                  /* owned extra headers */
    char *header_values[8];
    size_t nheaders;
} dps_http_response;

/* Case-insensitive header lookup; NULL when absent. */
const char *dps_http_header_get(const dps_http_request *req, const char *name);
/* Value of one query parameter, percent-decoded into a new string (caller
 * frees); NULL when absent. */
char *dps_http_query_get(const dps_http_request *req, const char *name);
/* Splits and decodes path into req->segments (which the caller frees with
 * dps_http_request_free_segments). Returns 0, or -1 for a malformed path
 * (bad escape, too many segments). */
int dps_http_split_path(dps_http_request *req, const char *path);
void dps_http_request_free_segments(dps_http_request *req);

/* Response helpers. Setting a JSON body serialises it (compact) and sets
 * Content-Type to application/json; charset=utf-8. */
void dps_http_response_set_json(dps_http_response *res, int status, const json_t *body);
void dps_http_response_add_header(dps_http_response *res, const char *name,
                                  const char *value);
void dps_http_response_free(dps_http_response *res);

const char *dps_http_method_name(dps_http_method m);

#endif
