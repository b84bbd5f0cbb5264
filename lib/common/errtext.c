/* Error text into a caller buffer (errtext.h). */
#include "common/errtext.h"

#include <stdarg.h>
#include <stdio.h>

void dps_set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}
