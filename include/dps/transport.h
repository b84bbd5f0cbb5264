/* libdpsdevice: the layouts of the connection objects the clients embed.
 *
 * These structs are public only so that callers can allocate the clients
 * (dps/provisioning.h, dps/hub_client.h) without the library allocating
 * them; every field is private to the library and may change. The functions
 * that work on them are internal (lib/device/io/). */
#ifndef DPS_DEVICE_TRANSPORT_H
#define DPS_DEVICE_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dps/log.h"

struct ssl_st;
struct ssl_ctx_st;

/* One TLS connection over a non-blocking TCP socket. */
typedef struct {
    int fd;                  /* -1 when closed */
    struct ssl_st *ssl;      /* owned; freed by close */
    struct ssl_ctx_st *ctx;  /* owned; freed by close */
} dps_tls_conn;

/* A PUBLISH handed up by the session; views into the session's receive
 * buffer, valid only during the call. */
typedef void (*dps_mqtt_session_publish_fn)(void *ctx, const char *topic, size_t topic_len,
                                            const uint8_t *payload, size_t payload_len);

/* An MQTT 3.1.1 client session on dps_tls_conn and lib/mqtt. */
typedef struct {
    dps_tls_conn tls;
    uint8_t *rx;             /* receive buffer (lent by the owning client) */
    size_t rx_cap;
    size_t rx_len;
    uint8_t *tx;             /* encode buffer (lent by the owning client) */
    size_t tx_cap;
    uint16_t next_packet_id;
    uint16_t keep_alive_s;
    int64_t last_tx_ms;      /* monotonic time of our last packet */
    int64_t ping_sent_ms;    /* 0 when no PINGREQ is outstanding */
    bool connected;
    bool in_dispatch;        /* inside on_publish: no reads allowed */
    uint8_t wait_type;       /* the ack being waited for (SUBACK, PUBACK) or 0 */
    uint16_t wait_id;
    bool wait_done;
    uint8_t wait_code;       /* SUBACK: the first return code */
    dps_mqtt_session_publish_fn on_publish;
    void *on_publish_ctx;
    const dps_device_logger *log;
} dps_mqtt_session;

#endif
