/* The bounded text writer of the core builders (see writer.h). */
#include "device/core/writer.h"

#include <assert.h>
#include <string.h>

void dps_w_count(dps_w *w)
{
    w->buf = NULL;
    w->cap = 0;
    w->len = 0;
}

void dps_w_target(dps_w *w, char *buf, size_t cap)
{
    w->buf = buf;
    w->cap = cap;
    w->len = 0;
}

void dps_w_mem(dps_w *w, const void *p, size_t n)
{
    /* The writing pass only runs after the counting pass proved the text
     * fits, so this check can only fail on a builder bug; it still keeps
     * the write inside the buffer. */
    if (w->buf != NULL && n <= w->cap && w->len <= w->cap - n && n > 0)
        memcpy(w->buf + w->len, p, n);
    w->len += n;
}

void dps_w_str(dps_w *w, const char *s)
{
    dps_w_mem(w, s, strlen(s));
}

void dps_w_char(dps_w *w, char c)
{
    dps_w_mem(w, &c, 1);
}

void dps_w_u64(dps_w *w, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[sizeof tmp - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    dps_w_mem(w, tmp + sizeof tmp - n, n);
}

void dps_w_i64(dps_w *w, int64_t v)
{
    if (v < 0) {
        dps_w_char(w, '-');
        dps_w_u64(w, (uint64_t)0 - (uint64_t)v);
    } else {
        dps_w_u64(w, (uint64_t)v);
    }
}

void dps_w_pct(dps_w *w, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            dps_w_char(w, (char)c);
        } else {
            char esc[3] = {'%', hex[c >> 4], hex[c & 0x0F]};
            dps_w_mem(w, esc, 3);
        }
    }
}

void dps_w_b64(dps_w *w, const uint8_t *p, size_t n)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        char q[4] = {alphabet[v >> 18], alphabet[(v >> 12) & 63], alphabet[(v >> 6) & 63],
                     alphabet[v & 63]};
        dps_w_mem(w, q, 4);
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        char q[4] = {alphabet[v >> 18], alphabet[(v >> 12) & 63], '=', '='};
        dps_w_mem(w, q, 4);
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        char q[4] = {alphabet[v >> 18], alphabet[(v >> 12) & 63], alphabet[(v >> 6) & 63], '='};
        dps_w_mem(w, q, 4);
    }
}

dps_result dps_w_fits(const dps_w *w, size_t cap, size_t *out_len)
{
    if (w->len >= cap) {
        *out_len = w->len + 1;
        return DPS_E_NO_SPACE;
    }
    return DPS_OK;
}

dps_result dps_w_done(dps_w *w, size_t *out_len)
{
    assert(w->buf != NULL && w->len < w->cap);
    w->buf[w->len] = '\0';
    *out_len = w->len;
    return DPS_OK;
}

dps_result dps_w_run(dps_w_build_fn fn, const void *arg, char *out, size_t cap,
                     size_t *out_len)
{
    dps_w w;
    dps_w_count(&w);
    fn(&w, arg);
    dps_result rc = dps_w_fits(&w, cap, out_len);
    if (rc != DPS_OK)
        return rc;
    dps_w_target(&w, out, cap);
    fn(&w, arg);
    return dps_w_done(&w, out_len);
}
