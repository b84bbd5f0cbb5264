/* Connection strings of the form
 *   HostName=<host[:port]>;SharedAccessKeyName=<policy>;SharedAccessKey=<base64>
 * as printed by dpsd and by `az iot dps connection-string show` (service) or
 * `az iot hub connection-string show` (hub). */
#ifndef DPSCTL_CONNSTR_H
#define DPSCTL_CONNSTR_H

#include <stddef.h>

typedef struct {
    char *host_name; /* always set on success */
    char *key_name;  /* NULL when absent */
    char *key;       /* NULL when absent; wiped by dpsctl_connstr_free */
} dpsctl_connstr;

/* Splits text at ';' into Name=Value fields (the value runs to the next ';',
 * so base64 '=' padding is kept). Field names are compared without regard
 * to case, unknown fields are ignored, a repeated field is refused, and
 * HostName is required. Returns 0, or -1 with a reason in err that never
 * quotes the key. */
int dpsctl_connstr_parse(const char *text, dpsctl_connstr *out, char *err, size_t errlen);
void dpsctl_connstr_free(dpsctl_connstr *cs);

#endif
