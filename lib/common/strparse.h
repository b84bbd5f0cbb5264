/* Strict number parsing: the whole string must be a number in range. */
#ifndef DPS_COMMON_STRPARSE_H
#define DPS_COMMON_STRPARSE_H

#include <stddef.h>
#include <stdint.h>

/* Parses len characters of decimal digits (optional leading '-') into *out
 * when the value lies in [min, max]. Returns 0, or -1 (and *out untouched). */
int dps_parse_int64(const char *s, size_t len, int64_t min, int64_t max, int64_t *out);

#endif
