/* The device API's api-version table (device-api.md §4). Unlike the
 * service API, the device API refuses versions it does not know, so that a
 * client speaking a shape opendps has never seen fails loudly instead of
 * half-working; extra versions come from the configuration. */
#include <stddef.h>
#include <strings.h>

#include "engine/registration.h"

/* Every version a device SDK or the spec is known to send. Feature gates
 * (csr from 2025-07-01-preview, ...) are decided where the feature lives. */
static const char *const known_versions[] = {
    "2017-08-31-preview", "2017-11-15",         "2018-04-01",
    "2018-09-01-preview", "2019-03-31",         "2021-06-01",
    "2021-10-01",         "2021-11-01-preview", "2025-07-01-preview",
    "2026-04-01",         "2026-11-02-preview", "2026-11-15-preview",
};

bool dps_api_version_supported(const char *version, const char *const *extra, size_t nextra)
{
    if (version == NULL || version[0] == '\0')
        return false;
    for (size_t i = 0; i < sizeof known_versions / sizeof known_versions[0]; i++)
        if (strcasecmp(version, known_versions[i]) == 0)
            return true;
    for (size_t i = 0; i < nextra; i++)
        if (extra[i] != NULL && strcasecmp(version, extra[i]) == 0)
            return true;
    return false;
}
