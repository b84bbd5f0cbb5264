/* What the files of lib/mqttsrv share and nobody else sees:
 *   server.c   listeners, accept, the connection cap, deferred frees
 *   conn.c     one connection's state machine: CONNECT, input, timers
 *   send.c     output: encoding, the high-water mark, QoS 1 packet IDs
 *   keepalive.c the keep-alive rule
 * Everything runs on the event-loop thread. */
#ifndef DPS_MQTTSRV_INTERNAL_H
#define DPS_MQTTSRV_INTERNAL_H

#include <event2/bufferevent.h>

#include "mqttsrv/mqtt_server.h"

typedef enum {
    CONN_AWAIT_CONNECT,
    CONN_ACTIVE,
    CONN_LINGER, /* a refusing CONNACK is being flushed */
    CONN_CLOSED,
} dps_mqttsrv_conn_phase;

/* The options with every default resolved. */
typedef struct {
    size_t max_packet_preauth;
    size_t max_packet;
    size_t max_output;
    size_t max_filters;
    int connect_timeout_s;
    int linger_s;
    int keepalive_cap_s;
    size_t max_inflight;
    const char *log_name;
} dps_mqttsrv_limits;

struct dps_mqttsrv_conn {
    dps_mqttsrv_conn *prev; /* the server's open list, or its grave list */
    dps_mqttsrv_conn *next;
    dps_mqttsrv *srv;
    struct bufferevent *bev;
    struct event *timer; /* CONNECT deadline, keep-alive, or linger */
    dps_mqttsrv_conn_phase phase;
    bool has_slot;  /* counted against the connection cap */
    bool accepted;  /* on_connect accepted: on_close/on_free are owed */
    void *state;    /* the protocol's */
    int64_t last_rx_ms; /* monotonic, last whole packet */
    int64_t keepalive_ms;
    uint16_t last_packet_id;
    size_t ninflight;
    char peer[64];
    uint16_t inflight[]; /* limits.max_inflight packet IDs awaiting PUBACK */
};

/* ---- server.c ------------------------------------------------------------- */

const dps_mqttsrv_limits *dps_mqttsrv__limits(const dps_mqttsrv *s);
const dps_mqttsrv_callbacks *dps_mqttsrv__cb(const dps_mqttsrv *s, void **arg);
struct event_base *dps_mqttsrv__base(const dps_mqttsrv *s);
/* Links a new connection into the open list. */
void dps_mqttsrv__link(dps_mqttsrv *s, dps_mqttsrv_conn *c);
/* Moves a closed connection to the grave; freed on the next loop pass. */
void dps_mqttsrv__defer_free(dps_mqttsrv *s, dps_mqttsrv_conn *c);
bool dps_mqttsrv__take_slot(dps_mqttsrv *s, bool force);
void dps_mqttsrv__release_slot(dps_mqttsrv *s);

/* ---- conn.c --------------------------------------------------------------- */

/* Creates the connection for an accepted, TLS-wrapped socket (bev owned
 * from here on) and links it. NULL on failure (bev freed). */
dps_mqttsrv_conn *dps_mqttsrv__conn_new(dps_mqttsrv *s, struct bufferevent *bev,
                                        const char *peer);
/* Frees a closed connection (the reaper); on_free runs first. */
void dps_mqttsrv__conn_destroy(dps_mqttsrv_conn *c);

/* ---- send.c --------------------------------------------------------------- */

/* Encodes p into the output buffer. CONNACK is allowed before ACTIVE. */
dps_mqttsrv_send_result dps_mqttsrv__send(dps_mqttsrv_conn *c, const dps_mqtt_packet *p);
/* A PUBACK from the client: releases the packet ID if it was held. */
void dps_mqttsrv__release_id(dps_mqttsrv_conn *c, uint16_t packet_id);

#endif
