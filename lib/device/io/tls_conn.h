/* Internal: TLS client connections over non-blocking sockets, every step
 * bounded by an absolute deadline (monotonic ms, see io/addr.h).
 *
 * The server is always verified against the CA file (or the system store
 * when none is given), under the logical server name: SNI and the
 * certificate name check use server_name, while the TCP connection goes to
 * connect_host:port. That is how a device reaches "hub1.opendps.local"
 * through a gateway address, like the SDKs' GatewayHostName. */
#ifndef DPS_DEVICE_IO_TLS_CONN_H
#define DPS_DEVICE_IO_TLS_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dps/credential.h"
#include "dps/log.h"
#include "dps/result.h"
#include "dps/transport.h"

typedef struct {
    const char *server_name;  /* SNI and certificate check */
    const char *connect_host; /* TCP address (name or literal) */
    uint16_t port;
    const char *ca_file;      /* NULL: the system's default trust store */
    const dps_credential *credential; /* may add a client certificate */
    const dps_device_logger *log;
} dps_tls_params;

void dps__tls_init(dps_tls_conn *c);
bool dps__tls_is_open(const dps_tls_conn *c);

/* Resolves, connects (non-blocking connect + poll) and completes the
 * handshake before deadline_ms. On failure the connection stays closed. */
DPS_NODISCARD dps_result dps__tls_connect(dps_tls_conn *c, const dps_tls_params *p,
                                          int64_t deadline_ms);
/* Writes all len bytes. */
DPS_NODISCARD dps_result dps__tls_write(dps_tls_conn *c, const void *buf, size_t len,
                                        int64_t deadline_ms);
/* Reads at least one byte (up to cap) into buf; DPS_E_TIMEOUT when nothing
 * came before the deadline, DPS_E_CLOSED at the end of the stream. */
DPS_NODISCARD dps_result dps__tls_read(dps_tls_conn *c, void *buf, size_t cap, size_t *n,
                                       int64_t deadline_ms);
/* Sends close_notify (best effort, no waiting) and frees everything. */
void dps__tls_close(dps_tls_conn *c);

#endif
