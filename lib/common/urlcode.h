/* Percent-encoding (RFC 3986) for path segments, query values and SAS fields. */
#ifndef DPS_COMMON_URLCODE_H
#define DPS_COMMON_URLCODE_H

#include <stdbool.h>
#include <stddef.h>

/* Decodes %XX escapes (and '+' as space when plus_is_space) into a new
 * NUL-terminated string. Fails (NULL) on a malformed escape or a decoded NUL
 * byte, so the result is always a plain C string. */
char *dps_url_decode(const char *in, size_t len, bool plus_is_space);
/* Encodes everything but unreserved characters (A-Z a-z 0-9 - . _ ~) with
 * upper-case escapes. Returns a new string or NULL. */
char *dps_url_encode(const char *in);

#endif
