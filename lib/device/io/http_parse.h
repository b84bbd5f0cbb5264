/* Internal: parsing of HTTP/1.1 responses from a byte buffer, without I/O:
 * the status line and headers (strict CRLF, capped), and chunked bodies.
 * Only what a DPS client needs is kept: status, Content-Length,
 * Transfer-Encoding: chunked, Connection: close, retry-after, Content-Type. */
#ifndef DPS_DEVICE_IO_HTTP_PARSE_H
#define DPS_DEVICE_IO_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    DPS_HTTP_PARSE_OK = 0,
    DPS_HTTP_PARSE_NEED_MORE,
    DPS_HTTP_PARSE_BAD,       /* not HTTP, or breaks a rule below */
    DPS_HTTP_PARSE_TOO_LARGE, /* over a cap */
} dps_http_parse_rc;

typedef struct {
    int status;          /* 100..599 */
    int minor_version;   /* HTTP/1.x */
    size_t head_len;     /* bytes up to and including the empty line */
    bool has_content_length;
    uint64_t content_length;
    bool chunked;
    bool close;          /* Connection: close, or HTTP/1.0 without keep-alive */
    bool has_retry_after;
    char retry_after[16];   /* value as sent (trimmed), if it fits */
    char content_type[128]; /* value as sent (trimmed), cut to fit */
} dps_http_head;

/* Parses the head at the start of buf. NEED_MORE until the empty line is
 * in; TOO_LARGE when max_head bytes hold no complete head or there are more
 * than DPS_HTTP_MAX_HEADERS headers; BAD for a malformed status line, a bare
 * LF, a header without ':', obsolete line folding, two different
 * Content-Length values, a Transfer-Encoding other than chunked, or both
 * Content-Length and chunked. */
dps_http_parse_rc dps__http_parse_head(const char *buf, size_t len, size_t max_head,
                                       dps_http_head *out);

/* Decodes a chunked body held in buf[0..len) in place: on OK the data is in
 * buf[0..*body_len) and *consumed bytes of input (through the last CRLF
 * after the trailers) were used. Without a complete body: NEED_MORE and buf
 * untouched. TOO_LARGE when the data exceeds max_body; BAD for a malformed
 * size line or a missing CRLF after a chunk. Chunk extensions and trailers
 * are skipped. */
dps_http_parse_rc dps__http_dechunk(char *buf, size_t len, size_t max_body, size_t *body_len,
                                    size_t *consumed);

#endif
