/* Logging: one small, printf-checked API (log_error ... log_debug).
 * Lines go to stderr as logfmt-style records so they read well on a terminal
 * and parse well in a log pipeline:
 *   ts=2026-11-26T09:42:00.123Z level=info msg="..."
 * The level is checked before anything is formatted. Secrets are never
 * passed to these functions. */
#ifndef DPS_COMMON_LOG_H
#define DPS_COMMON_LOG_H

#include <stdbool.h>

typedef enum {
    DPS_LOG_ERROR = 0,
    DPS_LOG_WARN = 1,
    DPS_LOG_INFO = 2,
    DPS_LOG_DEBUG = 3,
} dps_log_level;

void dps_log_set_level(dps_log_level level);
dps_log_level dps_log_get_level(void);
/* "error", "warn", "info", "debug" (any case); false when unknown. */
bool dps_log_level_parse(const char *name, dps_log_level *out);
const char *dps_log_level_name(dps_log_level level);

void dps_log(dps_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...) dps_log(DPS_LOG_ERROR, __VA_ARGS__)
#define log_warn(...) dps_log(DPS_LOG_WARN, __VA_ARGS__)
#define log_info(...) dps_log(DPS_LOG_INFO, __VA_ARGS__)
#define log_debug(...) dps_log(DPS_LOG_DEBUG, __VA_ARGS__)

#endif
