/* hubd: a small IoT hub daemon hosting one or more hubs, each known by its
 * host name (hub1.opendps.local, ...), each with its own devices, twins,
 * telemetry and access policies.
 *
 * The process has three parts that meet only through the functions declared
 * in this directory's headers:
 *   api/    the REST side: registry, twins, direct-method invocation, C2D
 *           send, telemetry stream, hubd admin (over lib/net's HTTPS server)
 *   model/  the rules and data: device and twin documents, hub policies and
 *           SAS, registry queries (over the store), and the bounded per-hub
 *           telemetry log operators follow live (in memory)
 *   mqtt/   the device side: MQTT 3.1.1 over TLS, sessions, topics
 * plus main.c/config.c/instance.c (start-up).
 * Library layering (src/hubd/CMakeLists.txt): model <- mqtt <- api <- core.
 *
 * Everything runs on one libevent loop; nothing blocks it. */
#ifndef HUBD_HUBD_H
#define HUBD_HUBD_H

#include <event2/event.h>

#include "store/store.h"

typedef struct hubd_config hubd_config;       /* config.h */
typedef struct hubd_sessions hubd_sessions;   /* mqtt/sessions.h */
typedef struct hubd_telemetry hubd_telemetry; /* model/telemetry.h */
typedef struct hubd_methods hubd_methods;     /* mqtt/sessions.h: pending method calls */

typedef struct {
    const hubd_config *config;
    dps_store *store;
    struct event_base *base;
    hubd_sessions *sessions;   /* live MQTT connections, by hub + device ID */
    hubd_telemetry *telemetry; /* per-hub telemetry logs */
    char ca_cert_path[512];    /* CA clients should trust ("" if configured certs) */
    char rest_url[320];        /* first REST listener, e.g. https://127.0.0.1:8444 */
    char mqtt_url[320];        /* first MQTT listener, e.g. mqtts://127.0.0.1:8884 */
} hubd_ctx;

#endif
