/* A growable byte buffer with a hard cap fixed at creation. Appends beyond the
 * cap fail (and leave the buffer unchanged); the content is always
 * NUL-terminated so it can be used as a C string. */
#ifndef DPS_COMMON_DYNBUF_H
#define DPS_COMMON_DYNBUF_H

#include <stddef.h>

typedef struct {
    char *data;   /* NULL until the first append */
    size_t len;   /* bytes used, not counting the terminating NUL */
    size_t cap;   /* bytes allocated */
    size_t max;   /* the cap: len never exceeds it */
} dps_buf;

void dps_buf_init(dps_buf *b, size_t max);
int dps_buf_append(dps_buf *b, const void *p, size_t n);
int dps_buf_append_str(dps_buf *b, const char *s);
int dps_buf_printf(dps_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the content to the caller (who frees it) and resets the buffer.
 * Returns an empty allocated string for an empty buffer, NULL without memory. */
char *dps_buf_take(dps_buf *b);
void dps_buf_free(dps_buf *b);

#endif
