/* Time: wall-clock reading and the two text forms the APIs use. */
#ifndef DPS_COMMON_TIMEUTIL_H
#define DPS_COMMON_TIMEUTIL_H

#include <stdint.h>
#include <time.h>

#define DPS_ISO_TIME_LEN 48 /* "2026-03-02T08:15:30.1234567Z" (28) + NUL, with room to spare */
#define DPS_RFC1123_TIME_LEN 48 /* "Sat, 31 Dec 2039 23:59:59 GMT" (29) + NUL, with room */

/* Nanoseconds since the Unix epoch (wall clock). */
int64_t dps_now_ns(void);
/* Seconds since the Unix epoch (wall clock). */
int64_t dps_now_s(void);
/* Monotonic milliseconds, for timeouts. */
int64_t dps_monotonic_ms(void);

/* UTC with 7 fractional digits and 'Z', the form DPS uses on the wire. */
void dps_time_iso(int64_t unix_ns, char out[DPS_ISO_TIME_LEN]);
/* RFC 1123 form, used for certificate dates in the admin API. */
void dps_time_rfc1123(int64_t unix_s, char out[DPS_RFC1123_TIME_LEN]);

#endif
