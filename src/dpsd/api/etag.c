/* dpsd's ETags (etag.h) on the shared implementation in common/etag.c. */
#include "api/etag.h"

int dps_etag_new(char out[DPS_ETAG_MAX])
{
    return dps_etag_make_uuid(out, DPS_ETAG_MAX);
}

int dps_if_match_parse(const char *value, dps_if_match *out)
{
    return dps_if_match_read(value, 0, &out->kind, out->etag, sizeof out->etag);
}
