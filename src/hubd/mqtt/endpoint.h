/* hubd's MQTT device endpoint: MQTT 3.1.1 over TLS on one or more
 * listeners (hub.md section 8). Devices authenticate with a SAS token or a
 * TLS client certificate, then send telemetry, use their twin, answer
 * direct methods and receive cloud-to-device messages. What the rest of
 * the daemon can ask of connected devices is in sessions.h.
 *
 * Start-up order: ctx->sessions = hubd_sessions_new(); then
 * hubd_mqtt_start(...). Shut-down: free the REST side, hubd_mqtt_free(),
 * then hubd_sessions_free(&ctx->sessions). */
#ifndef HUBD_MQTT_ENDPOINT_H
#define HUBD_MQTT_ENDPOINT_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

#include "hubd.h"
#include "net/listen_addr.h"

typedef struct hubd_mqtt_endpoint hubd_mqtt_endpoint;

/* Binds every address (1..8; port 0 picks a free port) and starts serving
 * on ctx->base. tls is shared (the endpoint takes its own reference); it
 * should be built with request_client_cert so X.509 devices can present a
 * certificate (whatever they present is judged by the registry, not by
 * OpenSSL). ctx and ctx->sessions must outlive the endpoint. Returns NULL
 * with the reason in err; nothing stays bound then. */
hubd_mqtt_endpoint *hubd_mqtt_start(hubd_ctx *ctx, SSL_CTX *tls, const dps_listen_addr *addrs,
                                    size_t n, char *err, size_t errlen);

size_t hubd_mqtt_listener_count(const hubd_mqtt_endpoint *ep);
/* "mqtts://127.0.0.1:8883" / "mqtts://[::1]:8883", with the bound port;
 * NULL when i is out of range. */
const char *hubd_mqtt_listener_url(const hubd_mqtt_endpoint *ep, size_t i);
uint16_t hubd_mqtt_listener_port(const hubd_mqtt_endpoint *ep, size_t i);

/* Caps authenticated connections (default 100000). Over the cap a CONNECT
 * gets CONNACK 3 (server unavailable); sockets still in the TLS handshake
 * or before CONNECT get a margin of an eighth above it, beyond which they
 * are closed at accept. Lowering it closes nobody. */
void hubd_mqtt_set_max_connections(hubd_mqtt_endpoint *ep, size_t max);
/* Authenticated connections now (for metrics and tests). */
size_t hubd_mqtt_connection_count(const hubd_mqtt_endpoint *ep);

/* Closes the listeners and every connection (persistent sessions stay in
 * ctx->sessions); sets *ep to NULL. */
void hubd_mqtt_free(hubd_mqtt_endpoint **ep);

#endif
