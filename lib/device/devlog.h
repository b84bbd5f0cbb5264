/* Internal: how the library writes to the application's log callback. The
 * level is checked before formatting; nothing is printed otherwise. */
#ifndef DPS_DEVICE_DEVLOG_H
#define DPS_DEVICE_DEVLOG_H

#include "dps/log.h"

void dps__log(const dps_device_logger *l, dps_device_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define DLOG_ERROR(l, ...) dps__log((l), DPS_DEVICE_LOG_ERROR, __VA_ARGS__)
#define DLOG_WARN(l, ...) dps__log((l), DPS_DEVICE_LOG_WARN, __VA_ARGS__)
#define DLOG_INFO(l, ...) dps__log((l), DPS_DEVICE_LOG_INFO, __VA_ARGS__)
#define DLOG_DEBUG(l, ...) dps__log((l), DPS_DEVICE_LOG_DEBUG, __VA_ARGS__)

#endif
