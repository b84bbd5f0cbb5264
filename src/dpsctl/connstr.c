#include "connstr.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/secret.h"

void dpsctl_connstr_free(dpsctl_connstr *cs)
{
    free(cs->host_name);
    free(cs->key_name);
    dps_free_secret_string(cs->key);
    memset(cs, 0, sizeof *cs);
}

static bool name_is(const char *name, size_t len, const char *want)
{
    return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

int dpsctl_connstr_parse(const char *text, dpsctl_connstr *out, char *err, size_t errlen)
{
    dpsctl_connstr cs = {0};
    const char *p = text;
    while (*p != '\0') {
        const char *end = strchr(p, ';');
        size_t flen = end ? (size_t)(end - p) : strlen(p);
        /* tolerate blanks around fields, as people paste these by hand */
        while (flen > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            flen--;
        }
        while (flen > 0 && (p[flen - 1] == ' ' || p[flen - 1] == '\t'))
            flen--;
        if (flen > 0) {
            const char *eq = memchr(p, '=', flen);
            if (eq == NULL || eq == p) {
                snprintf(err, errlen, "connection string field without a name=value form");
                goto fail;
            }
            size_t nlen = (size_t)(eq - p);
            char **slot = NULL;
            if (name_is(p, nlen, "HostName"))
                slot = &cs.host_name;
            else if (name_is(p, nlen, "SharedAccessKeyName"))
                slot = &cs.key_name;
            else if (name_is(p, nlen, "SharedAccessKey"))
                slot = &cs.key;
            if (slot != NULL) {
                if (*slot != NULL) {
                    snprintf(err, errlen, "connection string repeats %.*s", (int)nlen, p);
                    goto fail;
                }
                *slot = strndup(eq + 1, flen - nlen - 1);
                if (*slot == NULL) {
                    snprintf(err, errlen, "out of memory");
                    goto fail;
                }
            }
        }
        if (end == NULL)
            break;
        p = end + 1;
    }
    if (cs.host_name == NULL || cs.host_name[0] == '\0') {
        snprintf(err, errlen, "connection string has no HostName");
        goto fail;
    }
    *out = cs;
    return 0;
fail:
    dpsctl_connstr_free(&cs);
    return -1;
}
