/* A minimal HTTP/1.1 client exchange (see http_client.h). */
#include "device/io/http_client.h"

#include <assert.h>
#include <string.h>

#include "device/devlog.h"
#include "dps/wire.h"
#include "device/io/tls_conn.h"

static dps_result map_parse(dps_http_parse_rc rc)
{
    return rc == DPS_HTTP_PARSE_TOO_LARGE ? DPS_E_TOO_LARGE : DPS_E_PROTOCOL;
}

dps_result dps__http_exchange(dps_tls_conn *conn, const char *req, size_t req_len, uint8_t *rx,
                              size_t rx_cap, size_t max_body, int64_t deadline_ms,
                              const dps_device_logger *log, dps_http_response *out)
{
    assert(rx_cap >= DPS_HTTP_MAX_HEAD + 2 * max_body + 1);
    dps_result rc = dps__tls_write(conn, req, req_len, deadline_ms);
    if (rc != DPS_OK)
        return rc;

    char *buf = (char *)rx;
    size_t len = 0;
    bool have_head = false;
    dps_http_head head;
    memset(&head, 0, sizeof head);
    for (;;) {
        if (len >= rx_cap - 1)
            return DPS_E_TOO_LARGE;
        size_t n = 0;
        rc = dps__tls_read(conn, buf + len, rx_cap - 1 - len, &n, deadline_ms);
        bool eof = rc == DPS_E_CLOSED;
        if (rc != DPS_OK && !eof)
            return rc;
        len += n;

        if (!have_head) {
            dps_http_parse_rc pr = dps__http_parse_head(buf, len, DPS_HTTP_MAX_HEAD, &head);
            if (pr == DPS_HTTP_PARSE_NEED_MORE) {
                if (eof) /* closed before (the rest of) a head: a stale keep-alive */
                    return len == 0 ? DPS_E_CLOSED : DPS_E_PROTOCOL;
                continue;
            }
            if (pr != DPS_HTTP_PARSE_OK) {
                DLOG_ERROR(log, "HTTP: malformed or oversized response head");
                return map_parse(pr);
            }
            if (head.status < 200) {
                DLOG_ERROR(log, "HTTP: unexpected interim response %d", head.status);
                return DPS_E_PROTOCOL; /* we never send Expect: 100-continue */
            }
            if (head.has_content_length && head.content_length > max_body)
                return DPS_E_TOO_LARGE;
            have_head = true;
        }

        char *body = buf + head.head_len;
        size_t have = len - head.head_len;
        if (head.status == 204 || head.status == 304) {
            out->head = head;
            out->body = body;
            out->body_len = 0;
            body[0] = '\0';
            return DPS_OK;
        }
        if (head.has_content_length) {
            if (have >= head.content_length) {
                out->head = head;
                out->body = body;
                out->body_len = (size_t)head.content_length;
                body[out->body_len] = '\0';
                return DPS_OK;
            }
        } else if (head.chunked) {
            size_t body_len = 0, used = 0;
            dps_http_parse_rc pr = dps__http_dechunk(body, have, max_body, &body_len, &used);
            if (pr == DPS_HTTP_PARSE_OK) {
                out->head = head;
                out->body = body;
                out->body_len = body_len;
                body[body_len] = '\0';
                return DPS_OK;
            }
            if (pr != DPS_HTTP_PARSE_NEED_MORE)
                return map_parse(pr);
        } else {
            /* No framing: the body runs to the end of the connection. */
            if (have > max_body)
                return DPS_E_TOO_LARGE;
            if (eof) {
                head.close = true;
                out->head = head;
                out->body = body;
                out->body_len = have;
                body[have] = '\0';
                return DPS_OK;
            }
        }
        if (eof)
            return DPS_E_PROTOCOL; /* closed in the middle of a body */
    }
}
