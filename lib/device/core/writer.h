/* Internal: the bounded text writer every core builder uses.
 *
 * Builders run twice: once with a NULL buffer to count the bytes, then, only
 * if the count fits the caller's cap, again to write. That is how the
 * builders keep their promise of never truncating and of leaving the
 * caller's buffer untouched on DPS_E_NO_SPACE. */
#ifndef DPS_DEVICE_CORE_WRITER_H
#define DPS_DEVICE_CORE_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "dps/result.h"

typedef struct {
    char *buf;  /* NULL while counting */
    size_t cap;
    size_t len; /* bytes produced so far (counted or written) */
} dps_w;

void dps_w_count(dps_w *w);
void dps_w_target(dps_w *w, char *buf, size_t cap);
void dps_w_mem(dps_w *w, const void *p, size_t n);
void dps_w_str(dps_w *w, const char *s);
void dps_w_char(dps_w *w, char c);
void dps_w_u64(dps_w *w, uint64_t v);
void dps_w_i64(dps_w *w, int64_t v);
/* RFC 3986 percent-encoding: A-Z a-z 0-9 - . _ ~ stay, the rest "%XX". */
void dps_w_pct(dps_w *w, const char *s);
/* Standard base64 with padding. */
void dps_w_b64(dps_w *w, const uint8_t *p, size_t n);

/* After the counting pass: DPS_OK when len + 1 fits cap, else
 * DPS_E_NO_SPACE with *out_len = len + 1. */
dps_result dps_w_fits(const dps_w *w, size_t cap, size_t *out_len);
/* After the writing pass: NUL-terminates, *out_len = len. */
dps_result dps_w_done(dps_w *w, size_t *out_len);

/* Builds with fn(w, arg) into out following the builder contract. */
typedef void (*dps_w_build_fn)(dps_w *w, const void *arg);
dps_result dps_w_run(dps_w_build_fn fn, const void *arg, char *out, size_t cap,
                     size_t *out_len);

#endif
