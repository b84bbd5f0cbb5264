#include "common/timeutil.h"

#include <stdio.h>

int64_t dps_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t dps_now_s(void) { return dps_now_ns() / 1000000000LL; }

int64_t dps_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000LL + ts.tv_nsec / 1000000L;
}

void dps_time_iso(int64_t unix_ns, char out[DPS_ISO_TIME_LEN])
{
    time_t s = (time_t)(unix_ns / 1000000000LL);
    long frac = (long)((unix_ns % 1000000000LL) / 100); /* 100 ns ticks */
    if (frac < 0) {
        frac += 10000000L;
        s -= 1;
    }
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(out, DPS_ISO_TIME_LEN, "%04d-%02d-%02dT%02d:%02d:%02d.%07ldZ",
             (tm.tm_year + 1900) % 10000, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, frac);
}

void dps_time_rfc1123(int64_t unix_s, char out[DPS_RFC1123_TIME_LEN])
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t s = (time_t)unix_s;
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(out, DPS_RFC1123_TIME_LEN, "%s, %02d %s %04d %02d:%02d:%02d GMT",
             days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], (tm.tm_year + 1900) % 10000,
             tm.tm_hour, tm.tm_min, tm.tm_sec);
}
