/* A daemon's generated PKI in its data directory (see daemon_ca.h). */
#include "pki/daemon_ca.h"

#include <stdio.h>
#include <string.h>

#include "common/daemon.h"

int dps_pki_daemon_local_ca(const char *data_dir, const char *ca_name,
                            const char *const *names, size_t nnames, dps_pki_paths *out,
                            char *err, size_t errlen)
{
    char dir[600];
    if (snprintf(dir, sizeof dir, "%s/pki", data_dir) >= (int)sizeof dir) {
        snprintf(err, errlen, "data_dir path too long");
        return -1;
    }
    if (dps_daemon_make_dirs(dir, 0700, err, errlen) != 0)
        return -1;
    char reason[512];
    if (dps_pki_ensure_local_ca(dir, ca_name, names, nnames, out, reason, sizeof reason) != 0) {
        snprintf(err, errlen, "local CA in %s: %s", dir, reason);
        return -1;
    }
    return 0;
}

void dps_pki_daemon_add_name(const char **names, size_t *nnames, size_t cap, const char *name)
{
    for (size_t i = 0; i < *nnames; i++)
        if (strcmp(names[i], name) == 0)
            return;
    if (*nnames < cap)
        names[(*nnames)++] = name;
}
