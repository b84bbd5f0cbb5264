/* Internal: one HTTP/1.1 request/response exchange over a dps_tls_conn.
 * Responses are framed by Content-Length or chunked encoding (or, without
 * either, by the end of the connection); head and body are capped. */
#ifndef DPS_DEVICE_IO_HTTP_CLIENT_H
#define DPS_DEVICE_IO_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "dps/log.h"
#include "dps/result.h"
#include "dps/transport.h"
#include "device/io/http_parse.h"

typedef struct {
    dps_http_head head;
    char *body;      /* inside the caller's rx buffer, NUL-terminated */
    size_t body_len;
} dps_http_response;

/* Sends req and reads one response into rx. rx_cap must be at least
 * DPS_HTTP_MAX_HEAD + 2 * max_body + 1 (chunk framing may double a body).
 * DPS_E_TOO_LARGE over a cap, DPS_E_PROTOCOL for a malformed response,
 * DPS_E_CLOSED when the server closed before a response started (the caller
 * may retry on a new connection), DPS_E_TIMEOUT, DPS_E_IO, DPS_E_TLS.
 * *out written on DPS_OK only. */
DPS_NODISCARD dps_result dps__http_exchange(dps_tls_conn *conn, const char *req, size_t req_len,
                                            uint8_t *rx, size_t rx_cap, size_t max_body,
                                            int64_t deadline_ms, const dps_device_logger *log,
                                            dps_http_response *out);

#endif
