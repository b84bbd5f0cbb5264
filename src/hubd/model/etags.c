/* hubd's ETags (etags.h) on the shared implementation in common/etag.c. */
#include "model/etags.h"

int hubd_etag_new(char out[HUBD_ETAG_SIZE])
{
    return dps_etag_make_random(out, HUBD_ETAG_SIZE, 8);
}

int hubd_if_match_parse(const char *value, hubd_if_match *out)
{
    dps_ifm_kind kind;
    int rc = dps_if_match_read(value, DPS_IFM_QUOTED_STAR, &kind, out->etag, sizeof out->etag);
    out->kind = (hubd_ifm_kind)kind;
    return rc;
}
