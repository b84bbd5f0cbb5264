/* ETags and If-Match values (see etag.h). */
#include "common/etag.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64.h"
#include "common/rand.h"

/* Copies the base64 of in into out, or fails without touching out. */
static int b64_into(const uint8_t *in, size_t n, char *out, size_t outsize)
{
    char *b64 = dps_b64_encode(in, n);
    if (b64 == NULL)
        return -1;
    size_t len = strlen(b64);
    int rc = -1;
    if (len < outsize) {
        memcpy(out, b64, len + 1);
        rc = 0;
    }
    free(b64);
    return rc;
}

int dps_etag_make_uuid(char *out, size_t outsize)
{
    char uuid[DPS_UUID_LEN];
    if (dps_uuid_v4(uuid) != 0)
        return -1;
    char quoted[DPS_UUID_LEN + 2];
    int n = snprintf(quoted, sizeof quoted, "\"%s\"", uuid);
    if (n < 0 || (size_t)n >= sizeof quoted)
        return -1;
    return b64_into((const uint8_t *)quoted, (size_t)n, out, outsize);
}

int dps_etag_make_random(char *out, size_t outsize, size_t nbytes)
{
    uint8_t raw[32];
    if (nbytes > sizeof raw || dps_random_bytes(raw, nbytes) != 0)
        return -1;
    return b64_into(raw, nbytes, out, outsize);
}

static bool blank(char c)
{
    return c == ' ' || c == '\t';
}

int dps_if_match_read(const char *value, unsigned flags, dps_ifm_kind *kind, char *etag,
                      size_t etagsize)
{
    *kind = DPS_IFM_NONE;
    etag[0] = '\0';
    if (value == NULL)
        return 0;
    const char *p = value;
    const char *end = value + strlen(value);
    while (p < end && blank(*p))
        p++;
    while (end > p && blank(end[-1]))
        end--;
    if (p == end)
        return 0;
    /* Without the flag, "*" only counts before unquoting: a quoted "*" is
     * then an ETag that matches nothing, as DPS treats it. */
    bool quoted_star = (flags & DPS_IFM_QUOTED_STAR) != 0;
    if (!quoted_star && end - p == 1 && *p == '*') {
        *kind = DPS_IFM_ANY;
        return 0;
    }
    if (end - p >= 2 && (p[0] == 'W' || p[0] == 'w') && p[1] == '/')
        p += 2;
    if (end - p >= 2 && p[0] == '"' && end[-1] == '"') {
        p++;
        end--;
    }
    size_t n = (size_t)(end - p);
    if (quoted_star && n == 1 && *p == '*') {
        *kind = DPS_IFM_ANY;
        return 0;
    }
    if (n == 0 || n >= etagsize)
        return -1;
    memcpy(etag, p, n);
    etag[n] = '\0';
    *kind = DPS_IFM_ETAG;
    return 0;
}
