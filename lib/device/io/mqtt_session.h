/* Internal: an MQTT 3.1.1 client session over dps_tls_conn, on the
 * project's codec (lib/mqtt). It connects, subscribes, publishes at QoS 0 or
 * 1, PUBACKs what it receives at QoS 1, keeps the connection alive with
 * PINGREQ, and hands every PUBLISH to one callback.
 *
 * Reading happens only in dps__mqtt_pump and in the calls that wait for an
 * acknowledgement; a callback runs while the received bytes are still in the
 * receive buffer, so from inside it only QoS 0 publishes are allowed (they
 * write and never read): anything else returns DPS_E_BUSY. */
#ifndef DPS_DEVICE_IO_MQTT_SESSION_H
#define DPS_DEVICE_IO_MQTT_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dps/log.h"
#include "dps/result.h"
#include "dps/transport.h"
#include "device/io/tls_conn.h"

typedef struct {
    const char *client_id;
    const char *username;
    const char *password; /* NULL: none (X.509) */
    uint16_t keep_alive_s;
    bool clean_session;
} dps_mqtt_connect_params;

void dps__mqtt_init(dps_mqtt_session *s, uint8_t *rx, size_t rx_cap, uint8_t *tx, size_t tx_cap,
                    const dps_device_logger *log);

/* TLS connect, CONNECT, wait for CONNACK. A refusal gives
 * DPS_E_UNAUTHORIZED (codes 4, 5) or DPS_E_REJECTED (others), with the
 * code in *connack_code (may be NULL). */
DPS_NODISCARD dps_result dps__mqtt_connect(dps_mqtt_session *s, const dps_tls_params *tls,
                                           const dps_mqtt_connect_params *cp,
                                           int64_t deadline_ms, uint8_t *connack_code);

/* SUBSCRIBE to n filters at qos, wait for the SUBACK. DPS_E_REJECTED when
 * any filter was refused (0x80). *granted (may be NULL) = the lowest
 * granted QoS. */
DPS_NODISCARD dps_result dps__mqtt_subscribe(dps_mqtt_session *s, const char *const *filters,
                                             size_t n, uint8_t qos, int64_t deadline_ms,
                                             uint8_t *granted);

/* PUBLISH; at QoS 1 waits for the PUBACK (not allowed inside a callback). */
DPS_NODISCARD dps_result dps__mqtt_publish(dps_mqtt_session *s, const char *topic,
                                           const void *payload, size_t len, uint8_t qos,
                                           int64_t deadline_ms);

/* Waits for data until deadline_ms (or until a PINGREQ is due), then handles
 * every whole packet received. DPS_OK when at least one packet was handled,
 * DPS_E_TIMEOUT when the deadline passed without one, DPS_E_CLOSED,
 * DPS_E_PROTOCOL, ... when the session ended (it is then closed). */
DPS_NODISCARD dps_result dps__mqtt_pump(dps_mqtt_session *s, int64_t deadline_ms);

/* DISCONNECT (best effort) and close. */
void dps__mqtt_disconnect(dps_mqtt_session *s);

#endif
