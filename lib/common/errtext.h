/* The one-line reason a failing call leaves in its caller's (err, errlen)
 * buffer, the convention across opendps's C code. */
#ifndef DPS_COMMON_ERRTEXT_H
#define DPS_COMMON_ERRTEXT_H

#include <stddef.h>

/* printf into err, truncated to errlen and always NUL-terminated; does
 * nothing when err is NULL or errlen is 0, so callers that do not want the
 * reason may pass NULL. */
void dps_set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
