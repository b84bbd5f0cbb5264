#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static dps_log_level current_level = DPS_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void dps_log_set_level(dps_log_level level) { current_level = level; }

dps_log_level dps_log_get_level(void) { return current_level; }

const char *dps_log_level_name(dps_log_level level)
{
    if (level < DPS_LOG_ERROR || level > DPS_LOG_DEBUG)
        return "unknown";
    return level_names[level];
}

bool dps_log_level_parse(const char *name, dps_log_level *out)
{
    for (int i = 0; i <= DPS_LOG_DEBUG; i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            *out = (dps_log_level)i;
            return true;
        }
    }
    return false;
}

void dps_log(dps_log_level level, const char *fmt, ...)
{
    if (level > current_level)
        return;

    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    /* Quote the message for logfmt: escape backslashes, quotes and newlines. */
    char quoted[4200];
    size_t q = 0;
    for (const char *p = msg; *p != '\0' && q + 3 < sizeof quoted; p++) {
        if (*p == '"' || *p == '\\') {
            quoted[q++] = '\\';
            quoted[q++] = *p;
        } else if (*p == '\n') {
            quoted[q++] = '\\';
            quoted[q++] = 'n';
        } else {
            quoted[q++] = *p;
        }
    }
    quoted[q] = '\0';

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s msg=\"%s\"\n",
            tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
            tm.tm_sec, ts.tv_nsec / 1000000L, level_names[level], quoted);
}
