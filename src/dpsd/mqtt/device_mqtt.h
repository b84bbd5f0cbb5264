/* dpsd's device API over MQTT 3.1.1 and TLS (device-api.md §6): a thin
 * adapter between lib/mqttsrv (sockets, framing, keep-alive) and the
 * registration engine (engine/registration.h). A device connects with
 * "{idScope}/registrations/{registrationId}/api-version=..." and its SAS
 * token, is authenticated by the engine at CONNECT, subscribes to
 * $dps/registrations/res/#, and publishes register and operation-status
 * requests; each answer goes back on $dps/registrations/res/{status}/
 * ?$rid={rid}[&retry-after={s}] at the granted QoS. The adapter never sees
 * enrollments, keys or hubs. docs/internals/dpsd-mqtt.md is the manual. */
#ifndef DPSD_MQTT_DEVICE_MQTT_H
#define DPSD_MQTT_DEVICE_MQTT_H

#include <event2/event.h>
#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

#include "net/listen_addr.h"

struct dps_engine;
typedef struct dpsd_mqtt_endpoint dpsd_mqtt_endpoint;

typedef struct {
    struct event_base *base;
    struct dps_engine *engine;     /* must outlive the endpoint */
    const dps_listen_addr *listen; /* 1..8 addresses; port 0 picks a free port */
    size_t nlisten;
    size_t max_connections;        /* authenticated at once; 0 = 100000 */
} dpsd_mqtt_options;

/* Binds every address and starts serving. tls is shared (the endpoint takes
 * its own reference). NULL with the reason in err; nothing stays bound. */
dpsd_mqtt_endpoint *dpsd_mqtt_start(SSL_CTX *tls, const dpsd_mqtt_options *opt, char *err,
                                    size_t errlen);

size_t dpsd_mqtt_listener_count(const dpsd_mqtt_endpoint *ep);
/* "mqtts://127.0.0.1:8883" with the bound port; NULL when out of range. */
const char *dpsd_mqtt_listener_url(const dpsd_mqtt_endpoint *ep, size_t i);
uint16_t dpsd_mqtt_listener_port(const dpsd_mqtt_endpoint *ep, size_t i);
/* Authenticated connections now. */
size_t dpsd_mqtt_connection_count(const dpsd_mqtt_endpoint *ep);

/* Closes the listeners and every connection; sets *ep to NULL. Free it
 * before the engine. */
void dpsd_mqtt_free(dpsd_mqtt_endpoint **ep);

#endif
