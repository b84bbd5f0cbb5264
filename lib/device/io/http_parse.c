/* HTTP/1.1 response parsing without I/O (see http_parse.h). Strict where
 * leniency would let one response be read two ways (RFC 9112 §6.3). */
#include "device/io/http_parse.h"

#include <string.h>
#include <strings.h>

#include "dps/wire.h"

static bool is_tchar(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Copies value (trimmed) into dst, cut to fit; returns false when cut. */
static bool copy_value(const char *v, size_t n, char *dst, size_t cap)
{
    bool fits = n < cap;
    if (!fits)
        n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
    return fits;
}

static bool has_token(const char *v, size_t n, const char *token)
{
    size_t tl = strlen(token);
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e - s == tl && strncasecmp(v + s, token, tl) == 0)
            return true;
    }
    return false;
}

static dps_http_parse_rc parse_status_line(const char *p, size_t n, dps_http_head *h)
{
    /* "HTTP/1.x SP 3DIGIT [SP reason]" */
    if (n < 12 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') || p[8] != ' ')
        return DPS_HTTP_PARSE_BAD;
    for (int i = 9; i < 12; i++) {
        if (p[i] < '0' || p[i] > '9')
            return DPS_HTTP_PARSE_BAD;
    }
    if (n > 12 && p[12] != ' ')
        return DPS_HTTP_PARSE_BAD;
    h->minor_version = p[7] - '0';
    h->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    if (h->status < 100 || h->status > 599)
        return DPS_HTTP_PARSE_BAD;
    return DPS_HTTP_PARSE_OK;
}

static dps_http_parse_rc parse_header(const char *p, size_t n, dps_http_head *h,
                                      bool *keep_alive)
{
    const char *colon = memchr(p, ':', n);
    if (colon == NULL || colon == p)
        return DPS_HTTP_PARSE_BAD;
    size_t nl = (size_t)(colon - p);
    for (size_t i = 0; i < nl; i++) {
        if (!is_tchar((unsigned char)p[i]))
            return DPS_HTTP_PARSE_BAD; /* also refuses "Name :" */
    }
    const char *v = colon + 1, *end = p + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t vl = (size_t)(end - v);
    for (size_t i = 0; i < vl; i++) {
        unsigned char c = (unsigned char)v[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return DPS_HTTP_PARSE_BAD;
    }

    if (nl == 14 && strncasecmp(p, "content-length", nl) == 0) {
        uint64_t cl = 0;
        if (vl == 0 || vl > 15)
            return vl == 0 ? DPS_HTTP_PARSE_BAD : DPS_HTTP_PARSE_TOO_LARGE;
        for (size_t i = 0; i < vl; i++) {
            if (v[i] < '0' || v[i] > '9')
                return DPS_HTTP_PARSE_BAD;
            cl = cl * 10 + (uint64_t)(v[i] - '0');
        }
        if (h->has_content_length && h->content_length != cl)
            return DPS_HTTP_PARSE_BAD;
        h->has_content_length = true;
        h->content_length = cl;
    } else if (nl == 17 && strncasecmp(p, "transfer-encoding", nl) == 0) {
        if (!(vl == 7 && strncasecmp(v, "chunked", 7) == 0))
            return DPS_HTTP_PARSE_BAD; /* no other coding is ever sent to a device */
        h->chunked = true;
    } else if (nl == 10 && strncasecmp(p, "connection", nl) == 0) {
        if (has_token(v, vl, "close"))
            h->close = true;
        if (has_token(v, vl, "keep-alive"))
            *keep_alive = true;
    } else if (nl == 11 && strncasecmp(p, "retry-after", nl) == 0) {
        /* a value too long for the field cannot be a 1..300 integer anyway */
        h->has_retry_after = copy_value(v, vl, h->retry_after, sizeof h->retry_after);
        if (!h->has_retry_after)
            h->retry_after[0] = '\0';
    } else if (nl == 12 && strncasecmp(p, "content-type", nl) == 0) {
        (void)copy_value(v, vl, h->content_type, sizeof h->content_type);
    }
    return DPS_HTTP_PARSE_OK;
}

dps_http_parse_rc dps__http_parse_head(const char *buf, size_t len, size_t max_head,
                                       dps_http_head *out)
{
    size_t lim = len < max_head ? len : max_head;
    const char *end = NULL;
    for (size_t i = 0; i < lim; i++) {
        if (buf[i] == '\n') {
            if (i == 0 || buf[i - 1] != '\r')
                return DPS_HTTP_PARSE_BAD; /* bare LF */
            if (i >= 3 && buf[i - 2] == '\n' && buf[i - 3] == '\r') {
                end = buf + i + 1;
                break;
            }
        }
    }
    if (end == NULL)
        return len >= max_head ? DPS_HTTP_PARSE_TOO_LARGE : DPS_HTTP_PARSE_NEED_MORE;

    dps_http_head h;
    memset(&h, 0, sizeof h);
    h.head_len = (size_t)(end - buf);
    const char *p = buf;
    /* Exists: the head ends in CRLF CRLF and bare LFs were refused above. */
    const char *eol = memchr(p, '\r', (size_t)(end - p));
    if (eol[1] != '\n')
        return DPS_HTTP_PARSE_BAD;
    dps_http_parse_rc rc = parse_status_line(p, (size_t)(eol - p), &h);
    if (rc != DPS_HTTP_PARSE_OK)
        return rc;
    p = eol + 2;
    bool keep_alive = false;
    size_t count = 0;
    while (p < end - 2) {
        eol = memchr(p, '\r', (size_t)(end - p));
        if (eol == NULL || eol[1] != '\n')
            return DPS_HTTP_PARSE_BAD; /* a CR inside a line */
        if (*p == ' ' || *p == '\t')
            return DPS_HTTP_PARSE_BAD; /* obsolete line folding */
        if (++count > DPS_HTTP_MAX_HEADERS)
            return DPS_HTTP_PARSE_TOO_LARGE;
        rc = parse_header(p, (size_t)(eol - p), &h, &keep_alive);
        if (rc != DPS_HTTP_PARSE_OK)
            return rc;
        p = eol + 2;
    }
    if (h.chunked && h.has_content_length)
        return DPS_HTTP_PARSE_BAD; /* ambiguous framing */
    if (h.minor_version == 0 && !keep_alive)
        h.close = true;
    *out = h;
    return DPS_HTTP_PARSE_OK;
}

/* Finds "\r\n" at or after i; returns its index or len when absent. A lone
 * LF makes the whole body malformed (*bad). */
static size_t find_crlf(const char *buf, size_t i, size_t len, bool *bad)
{
    for (; i < len; i++) {
        if (buf[i] == '\n') {
            *bad = true;
            return len;
        }
        if (buf[i] == '\r') {
            if (i + 1 >= len)
                return len;
            if (buf[i + 1] != '\n') {
                *bad = true;
                return len;
            }
            return i;
        }
    }
    return len;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* One pass over the chunked body; writes the data to buf only when write. */
static dps_http_parse_rc dechunk_pass(char *buf, size_t len, size_t max_body, bool write,
                                      size_t *body_len, size_t *consumed)
{
    size_t i = 0, out = 0;
    bool bad = false;
    for (;;) {
        size_t eol = find_crlf(buf, i, len, &bad);
        if (bad)
            return DPS_HTTP_PARSE_BAD;
        if (eol == len)
            return DPS_HTTP_PARSE_NEED_MORE;
        uint64_t size = 0;
        size_t j = i, digits = 0;
        for (; j < eol && hexval(buf[j]) >= 0; j++) {
            if (++digits > 15)
                return DPS_HTTP_PARSE_TOO_LARGE;
            size = size * 16 + (uint64_t)hexval(buf[j]);
        }
        while (j < eol && (buf[j] == ' ' || buf[j] == '\t'))
            j++;
        if (digits == 0 || (j < eol && buf[j] != ';'))
            return DPS_HTTP_PARSE_BAD;
        i = eol + 2;
        if (size == 0)
            break;
        if (size > max_body || out > max_body - size)
            return DPS_HTTP_PARSE_TOO_LARGE;
        if (len - i < size + 2)
            return DPS_HTTP_PARSE_NEED_MORE;
        if (buf[i + size] != '\r' || buf[i + size + 1] != '\n')
            return DPS_HTTP_PARSE_BAD;
        if (write)
            memmove(buf + out, buf + i, size); /* out <= i: moves only backwards */
        out += size;
        i += size + 2;
    }
    /* Trailers: header lines until an empty one. */
    for (;;) {
        size_t eol = find_crlf(buf, i, len, &bad);
        if (bad)
            return DPS_HTTP_PARSE_BAD;
        if (eol == len)
            return DPS_HTTP_PARSE_NEED_MORE;
        bool empty = eol == i;
        i = eol + 2;
        if (empty)
            break;
    }
    *body_len = out;
    *consumed = i;
    return DPS_HTTP_PARSE_OK;
}

dps_http_parse_rc dps__http_dechunk(char *buf, size_t len, size_t max_body, size_t *body_len,
                                    size_t *consumed)
{
    size_t bl = 0, used = 0;
    dps_http_parse_rc rc = dechunk_pass(buf, len, max_body, false, &bl, &used);
    if (rc != DPS_HTTP_PARSE_OK)
        return rc;
    rc = dechunk_pass(buf, len, max_body, true, &bl, &used);
    if (rc == DPS_HTTP_PARSE_OK) {
        *body_len = bl;
        *consumed = used;
    }
    return rc;
}
