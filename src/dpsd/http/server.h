/* The HTTPS front end: libevent evhttp over OpenSSL bufferevents. It turns
 * each request into a transport-neutral dps_http_request, hands it to the
 * API router and writes the dps_http_response back. It knows nothing of
 * DPS beyond the error shape for the few answers it gives itself. */
#ifndef DPSD_HTTP_SERVER_H
#define DPSD_HTTP_SERVER_H

#include <event2/event.h>
#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "dpsd.h"

#define DPSD_HTTP_MAX_HEADER_BYTES (16 * 1024) /* request line and headers */
/* How far past max_body_bytes a body is still read, so that it can be
 * refused in the DPS error shape (the larger of this and max_body_bytes). */
#define DPSD_HTTP_BODY_SLACK (1024 * 1024)

typedef struct {
    const dpsd_listen_addr *listen; /* at least one */
    size_t nlisten;                 /* at most DPSD_CONFIG_MAX_LIST */
    size_t max_body_bytes;          /* bigger bodies get 413 */
    int timeout_s;                  /* idle / stalled connection timeout */
} dpsd_server_options;

typedef struct dpsd_server dpsd_server;

/* Binds every listener and starts serving on base. tls is shared with the
 * server (it takes its own reference). ctx must outlive the server. Returns
 * NULL with the reason in err; nothing stays bound then. */
dpsd_server *dpsd_server_start(struct event_base *base, dpsd_ctx *ctx, SSL_CTX *tls,
                               const dpsd_server_options *opt, char *err, size_t errlen);

size_t dpsd_server_listener_count(const dpsd_server *s);
/* "https://127.0.0.1:8443" / "https://[::1]:8443", with the bound port. */
const char *dpsd_server_listener_url(const dpsd_server *s, size_t i);
uint16_t dpsd_server_listener_port(const dpsd_server *s, size_t i);

/* Closes the listeners and every connection; sets *s to NULL. */
void dpsd_server_free(dpsd_server **s);

#endif
