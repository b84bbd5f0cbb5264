/* Access-policy rights and keys (see access_policy.h). */
#include "common/access_policy.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/b64.h"
#include "common/dynbuf.h"
#include "common/rand.h"
#include "common/secret.h"

/* Longer than any table's names joined; the cap only guards against a
 * table that would never fit. */
#define RIGHTS_TEXT_MAX 256

static bool right_lookup(const dps_right_name *table, size_t n, const char *name, size_t len,
                         unsigned *bit)
{
    for (size_t i = 0; i < n; i++) {
        if (strlen(table[i].name) == len && strncasecmp(table[i].name, name, len) == 0) {
            *bit = table[i].bit;
            return true;
        }
    }
    return false;
}

int dps_rights_table_parse(const dps_right_name *table, size_t n, const char *text,
                           unsigned *mask)
{
    if (text == NULL)
        return -1;
    unsigned m = 0;
    const char *p = text;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *start = p;
        while (*p != '\0' && *p != ',' && *p != ' ' && *p != '\t')
            p++;
        size_t len = (size_t)(p - start);
        while (*p == ' ' || *p == '\t')
            p++;
        unsigned bit = 0;
        if (len == 0 || !right_lookup(table, n, start, len, &bit))
            return -1;
        m |= bit;
        if (*p == '\0')
            break;
        if (*p != ',')
            return -1;
        p++;
    }
    *mask = m;
    return 0;
}

char *dps_rights_table_format(const dps_right_name *table, size_t n, unsigned mask)
{
    dps_buf b;
    dps_buf_init(&b, RIGHTS_TEXT_MAX);
    for (size_t i = 0; i < n; i++) {
        if ((mask & table[i].bit) == 0)
            continue;
        if ((b.len > 0 && dps_buf_append_str(&b, ", ") != 0) ||
            dps_buf_append_str(&b, table[i].name) != 0) {
            dps_buf_free(&b);
            return NULL;
        }
    }
    return dps_buf_take(&b);
}

static bool signed_with(const json_t *policy, const char *member, const dps_sas_token *t)
{
    const char *b64 = json_string_value(json_object_get(policy, member));
    if (b64 == NULL || b64[0] == '\0')
        return false;
    uint8_t *key = NULL;
    size_t keylen = 0;
    if (dps_b64_decode(b64, strlen(b64), &key, &keylen) != 0)
        return false;
    bool ok = dps_sas_signed_with(t, key, keylen);
    dps_wipe(key, keylen);
    free(key);
    return ok;
}

bool dps_access_policy_signed(const json_t *policy, const dps_sas_token *t)
{
    bool a = signed_with(policy, "primaryKey", t);
    bool b = signed_with(policy, "secondaryKey", t);
    return a || b;
}

char *dps_access_policy_new_key(size_t nbytes)
{
    uint8_t raw[64];
    if (nbytes > sizeof raw || dps_random_bytes(raw, nbytes) != 0)
        return NULL;
    char *b64 = dps_b64_encode(raw, nbytes);
    dps_wipe(raw, nbytes);
    return b64;
}

bool dps_access_policy_key_valid(const char *b64, size_t min_bytes, size_t max_bytes)
{
    uint8_t *raw = NULL;
    size_t n = 0;
    if (dps_b64_decode(b64, strlen(b64), &raw, &n) != 0)
        return false;
    dps_wipe(raw, n);
    free(raw);
    return n >= min_bytes && n <= max_bytes;
}
