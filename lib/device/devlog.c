/* The library's only way out for human-readable text: the application's
 * log callback (style.md practice 15). */
#include "device/devlog.h"

#include <stdarg.h>
#include <stdio.h>

void dps__log(const dps_device_logger *l, dps_device_log_level level, const char *fmt, ...)
{
    if (l == NULL || l->fn == NULL || level > l->level)
        return;
    char line[DPS_DEVICE_LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    l->fn(l->ctx, level, line);
}
