/* The MQTT endpoint (endpoint.h): lib/mqttsrv owns the listeners and the
 * connections; this file starts it with the hub's caps and protocol
 * (connection.c) and runs the session sweep timer. */
#include "mqtt/endpoint.h"

#include <stdio.h>
#include <stdlib.h>

#include "mqtt/internal.h"

struct hubd_mqtt_endpoint {
    hubd_ctx *ctx;
    dps_mqttsrv *srv;
    struct event *sweep;
};

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    hubd_mqtt_endpoint *ep = arg;
    hubd_sessions_sweep(ep->ctx);
}

hubd_mqtt_endpoint *hubd_mqtt_start(hubd_ctx *ctx, SSL_CTX *tls, const dps_listen_addr *addrs,
                                    size_t n, char *err, size_t errlen)
{
    if (n == 0 || n > HUBD_MQTT_MAX_LISTENERS) {
        snprintf(err, errlen, "between 1 and %d MQTT listen addresses are needed",
                 HUBD_MQTT_MAX_LISTENERS);
        return NULL;
    }
    if (ctx == NULL || ctx->base == NULL || ctx->sessions == NULL || tls == NULL) {
        snprintf(err, errlen, "MQTT endpoint started without a loop, sessions or TLS context");
        return NULL;
    }
    hubd_mqtt_endpoint *ep = calloc(1, sizeof *ep);
    if (ep == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ep->ctx = ctx;
    ep->sweep = event_new(ctx->base, -1, EV_PERSIST, on_sweep, ep);
    struct timeval every = {HUBD_MQTT_SWEEP_INTERVAL_S, 0};
    if (ep->sweep == NULL || event_add(ep->sweep, &every) != 0) {
        snprintf(err, errlen, "cannot create the MQTT endpoint's sweep timer");
        goto fail;
    }
    dps_mqttsrv_options o = {
        .listen = addrs,
        .nlisten = n,
        .cb = &hubd_mqtt_protocol,
        .arg = ctx,
        .max_packet_preauth = HUBD_MQTT_MAX_PACKET_PREAUTH,
        .max_packet = HUBD_MQTT_MAX_PACKET,
        .max_output = HUBD_MQTT_MAX_OUTPUT,
        .max_filters = HUBD_MQTT_MAX_FILTERS,
        .max_connections = HUBD_MQTT_DEFAULT_MAX_CONNECTIONS,
        .connect_timeout_s = HUBD_MQTT_CONNECT_TIMEOUT_S,
        .linger_s = HUBD_MQTT_CLOSE_LINGER_S,
        .keepalive_cap_s = HUBD_MQTT_KEEPALIVE_CAP_S,
        .max_inflight = HUBD_MQTT_MAX_INFLIGHT,
        .log_name = "mqtt",
    };
    ep->srv = dps_mqttsrv_start(ctx->base, tls, &o, err, errlen);
    if (ep->srv == NULL)
        goto fail;
    return ep;

fail:
    hubd_mqtt_free(&ep);
    return NULL;
}

size_t hubd_mqtt_listener_count(const hubd_mqtt_endpoint *ep)
{
    return ep != NULL ? dps_mqttsrv_listener_count(ep->srv) : 0;
}

const char *hubd_mqtt_listener_url(const hubd_mqtt_endpoint *ep, size_t i)
{
    return ep != NULL ? dps_mqttsrv_listener_url(ep->srv, i) : NULL;
}

uint16_t hubd_mqtt_listener_port(const hubd_mqtt_endpoint *ep, size_t i)
{
    return ep != NULL ? dps_mqttsrv_listener_port(ep->srv, i) : 0;
}

void hubd_mqtt_set_max_connections(hubd_mqtt_endpoint *ep, size_t max)
{
    if (ep != NULL)
        dps_mqttsrv_set_max_connections(ep->srv, max);
}

size_t hubd_mqtt_connection_count(const hubd_mqtt_endpoint *ep)
{
    return ep != NULL ? dps_mqttsrv_connection_count(ep->srv) : 0;
}

void hubd_mqtt_free(hubd_mqtt_endpoint **epp)
{
    if (epp == NULL || *epp == NULL)
        return;
    hubd_mqtt_endpoint *ep = *epp;
    /* Every connection detaches from its device (on_close); sessions keep
     * what persistent sessions keep. */
    dps_mqttsrv_free(&ep->srv);
    if (ep->sweep != NULL)
        event_free(ep->sweep);
    free(ep);
    *epp = NULL;
}
