/* Internal: the provisioning transport seam. The state machine in
 * prov_client.c knows nothing about HTTP or MQTT; a transport sends one
 * request (register, or the status of an operation) and returns the
 * service's answer as a dps_prov_response. AMQP or WebSocket transports
 * would be further rows of this table. */
#ifndef DPS_DEVICE_PROV_TRANSPORT_H
#define DPS_DEVICE_PROV_TRANSPORT_H

#include <stdint.h>

#include "dps/provisioning.h"
#include "device/io/tls_conn.h"

typedef struct {
    const char *name;
    uint16_t default_port;
    /* Sends register (operation_id NULL) or an operation-status request and
     * waits for the answer; *out written on DPS_OK. c->sas and c->body are
     * ready. */
    dps_result (*exchange)(dps_prov_client *c, const char *operation_id, int64_t deadline_ms,
                           dps_prov_response *out);
    /* Waits until until_ms, keeping the connection alive where needed.
     * DPS_OK, or an error that ends the connection (the next exchange
     * reconnects). */
    dps_result (*idle)(dps_prov_client *c, int64_t until_ms);
    void (*close)(dps_prov_client *c);
} dps_prov_transport_ops;

extern const dps_prov_transport_ops dps__prov_https;
extern const dps_prov_transport_ops dps__prov_mqtt;

/* Shared by the transports: the TLS parameters of the provisioning host. */
void dps__prov_tls_params(const dps_prov_client *c, dps_tls_params *out);
/* Sleeps until until_ms in short slices, watching the stop flag. */
dps_result dps__prov_sleep(const dps_prov_client *c, int64_t until_ms);

#endif
