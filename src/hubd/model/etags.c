/* ETags and If-Match parsing (etags.h). */
#include "model/etags.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64.h"
#include "common/rand.h"

int hubd_etag_new(char out[HUBD_ETAG_SIZE])
{
    uint8_t raw[8];
    if (dps_random_bytes(raw, sizeof raw) != 0)
        return -1;
    char *b64 = dps_b64_encode(raw, sizeof raw);
    if (b64 == NULL)
        return -1;
    size_t n = strlen(b64);
    int rc = -1;
    if (n < HUBD_ETAG_SIZE) {
        memcpy(out, b64, n + 1);
        rc = 0;
    }
    free(b64);
    return rc;
}

static int blank(char c)
{
    return c == ' ' || c == '\t';
}

int hubd_if_match_parse(const char *value, hubd_if_match *out)
{
    out->kind = HUBD_IFM_NONE;
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
    if (end - p >= 2 && (p[0] == 'W' || p[0] == 'w') && p[1] == '/')
        p += 2;
    if (end - p >= 2 && p[0] == '"' && end[-1] == '"') {
        p++;
        end--;
    }
    size_t n = (size_t)(end - p);
    if (n == 1 && *p == '*') {
        out->kind = HUBD_IFM_ANY;
        return 0;
    }
    if (n == 0 || n > HUBD_IF_MATCH_MAX)
        return -1;
    memcpy(out->etag, p, n);
    out->etag[n] = '\0';
    out->kind = HUBD_IFM_ETAG;
    return 0;
}
