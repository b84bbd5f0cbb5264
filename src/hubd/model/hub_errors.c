/* Thread-local reason text behind hubd_last_error (hub_errors.h). */
#include "model/hub_errors.h"

#include <stdarg.h>
#include <stdio.h>

#include "model/registry.h"

static _Thread_local char last_error[HUBD_ERROR_TEXT_MAX];

void hubd__set_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
}

void hubd__clear_error(void)
{
    last_error[0] = '\0';
}

const char *hubd_last_error(void)
{
    return last_error;
}
