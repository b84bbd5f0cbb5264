/* The HTTPS front end every daemon shares: libevent evhttp over OpenSSL
 * bufferevents. It turns each request into a transport-neutral
 * dps_http_request, calls the daemon's handler and writes the
 * dps_http_response back. It knows no API: the few answers it gives itself
 * (oversized body, bad path, too many headers, a handler that set no status)
 * are written by the daemon's error writer, so each daemon keeps its own
 * error shape. */
#ifndef DPS_NET_HTTPS_SERVER_H
#define DPS_NET_HTTPS_SERVER_H

#include <event2/event.h>
#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

#include "net/http_request.h"
#include "net/listen_addr.h"

#define DPS_HTTPS_MAX_LISTENERS 8 /* listen addresses of one server */
#define DPS_HTTPS_MAX_HEADER_BYTES (16 * 1024) /* request line and headers */
/* How far past max_body_bytes a body is still read, so that it can be
 * refused through the error writer (the larger of this and max_body_bytes). */
#define DPS_HTTPS_BODY_SLACK (1024 * 1024)

/* Answers one request: fills res (status, body, headers). Runs on the event
 * loop thread, so it must not block. */
typedef void (*dps_https_handler_fn)(void *arg, const dps_http_request *req,
                                     dps_http_response *res);

/* Fills an empty res with an error answer of the given HTTP status (400,
 * 413 or 500) and a human message. */
typedef void (*dps_https_error_fn)(void *arg, dps_http_response *res, int http_status,
                                   const char *message);

typedef struct {
    const dps_listen_addr *listen; /* at least one */
    size_t nlisten;                /* at most DPS_HTTPS_MAX_LISTENERS */
    size_t max_body_bytes;         /* bigger bodies get 413 */
    int timeout_s;                 /* idle / stalled connection timeout */
    dps_https_handler_fn handle;   /* required */
    dps_https_error_fn write_error; /* NULL: a text/plain body with the message */
    void *arg;                     /* passed to handle and write_error */
} dps_https_server_options;

typedef struct dps_https_server dps_https_server;

/* Binds every listener and starts serving on base. tls is shared with the
 * server (it takes its own reference). opt->arg must outlive the server;
 * opt->listen is not kept. Returns NULL with the reason in err; nothing
 * stays bound then. */
dps_https_server *dps_https_server_start(struct event_base *base, SSL_CTX *tls,
                                         const dps_https_server_options *opt, char *err,
                                         size_t errlen);

size_t dps_https_server_listener_count(const dps_https_server *s);
/* "https://127.0.0.1:8443" / "https://[::1]:8443", with the bound port. */
const char *dps_https_server_listener_url(const dps_https_server *s, size_t i);
uint16_t dps_https_server_listener_port(const dps_https_server *s, size_t i);

/* Closes the listeners and every connection; sets *s to NULL. */
void dps_https_server_free(dps_https_server **s);

#endif
