#include "api/etag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64.h"
#include "common/rand.h"

int dps_etag_new(char out[DPS_ETAG_MAX])
{
    char uuid[DPS_UUID_LEN];
    if (dps_uuid_v4(uuid) != 0)
        return -1;
    /* Azure's REST form: base64 of the quoted value, so clients that quote
     * or strip quotes themselves cannot corrupt it. */
    char quoted[DPS_UUID_LEN + 2];
    int n = snprintf(quoted, sizeof quoted, "\"%s\"", uuid);
    if (n < 0 || (size_t)n >= sizeof quoted)
        return -1;
    char *b64 = dps_b64_encode((const uint8_t *)quoted, (size_t)n);
    if (b64 == NULL)
        return -1;
    int rc = -1;
    if (strlen(b64) < DPS_ETAG_MAX) {
        memcpy(out, b64, strlen(b64) + 1);
        rc = 0;
    }
    free(b64);
    return rc;
}

static bool blank(char c)
{
    return c == ' ' || c == '\t';
}

int dps_if_match_parse(const char *value, dps_if_match *out)
{
    out->kind = DPS_IFM_NONE;
    out->etag[0] = '\0';
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
    if (end - p == 1 && *p == '*') {
        out->kind = DPS_IFM_ANY;
        return 0;
    }
    if (end - p >= 2 && (p[0] == 'W' || p[0] == 'w') && p[1] == '/')
        p += 2;
    if (end - p >= 2 && p[0] == '"' && end[-1] == '"') {
        p++;
        end--;
    }
    size_t n = (size_t)(end - p);
    if (n == 0 || n >= DPS_ETAG_MAX)
        return -1;
    memcpy(out->etag, p, n);
    out->etag[n] = '\0';
    out->kind = DPS_IFM_ETAG;
    return 0;
}
