#include "common/sas.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/b64.h"
#include "common/secret.h"
#include "common/strparse.h"
#include "common/urlcode.h"

static const char sas_prefix[] = "SharedAccessSignature ";

void dps_sas_token_free(dps_sas_token *t)
{
    free(t->sr_raw);
    free(t->sr);
    free(t->sig);
    free(t->se_raw);
    free(t->skn);
    memset(t, 0, sizeof *t);
}

/* Stores a copy of a field value; refuses a second occurrence. */
static int take_field(char **slot, const char *v, size_t n, bool decode)
{
    if (*slot != NULL)
        return -1;
    if (decode) {
        *slot = dps_url_decode(v, n, false);
    } else {
        *slot = strndup(v, n);
    }
    return *slot == NULL ? -1 : 0;
}

dps_sas_result dps_sas_parse(const char *text, size_t len, dps_sas_token *out)
{
    if (len > DPS_SAS_MAX_TOKEN_LEN)
        return DPS_SAS_MALFORMED;
    size_t plen = sizeof sas_prefix - 1;
    if (len >= plen && strncasecmp(text, sas_prefix, plen) == 0) {
        text += plen;
        len -= plen;
    }
    while (len > 0 && *text == ' ') {
        text++;
        len--;
    }

    dps_sas_token t = {0};
    const char *p = text;
    const char *end = text + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *fend = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(fend - p));
        if (eq == NULL)
            goto malformed;
        size_t klen = (size_t)(eq - p);
        const char *v = eq + 1;
        size_t vlen = (size_t)(fend - v);
        int rc = 0;
        if (klen == 2 && strncmp(p, "sr", 2) == 0) {
            rc = take_field(&t.sr_raw, v, vlen, false);
        } else if (klen == 3 && strncmp(p, "sig", 3) == 0) {
            rc = take_field(&t.sig, v, vlen, true);
        } else if (klen == 2 && strncmp(p, "se", 2) == 0) {
            rc = take_field(&t.se_raw, v, vlen, true);
        } else if (klen == 3 && strncmp(p, "skn", 3) == 0) {
            rc = take_field(&t.skn, v, vlen, true);
        }
        if (rc != 0)
            goto malformed;
        p = amp ? amp + 1 : end;
    }
    if (t.sr_raw == NULL || t.sig == NULL || t.se_raw == NULL || t.sig[0] == '\0')
        goto malformed;
    t.sr = dps_url_decode(t.sr_raw, strlen(t.sr_raw), false);
    if (t.sr == NULL || t.sr[0] == '\0')
        goto malformed;
    /* Some clients send milliseconds or far-future values: accept any
     * non-negative 64-bit number. */
    if (dps_parse_int64(t.se_raw, strlen(t.se_raw), 0, INT64_MAX, &t.se) != 0)
        goto malformed;
    *out = t;
    return DPS_SAS_OK;

malformed:
    dps_sas_token_free(&t);
    return DPS_SAS_MALFORMED;
}

int dps_hmac_sha256(const uint8_t *key, size_t keylen, const void *data, size_t len,
                    uint8_t out[DPS_HMAC_SHA256_LEN])
{
    unsigned int outlen = 0;
    if (keylen > INT32_MAX)
        return -1;
    if (HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &outlen) == NULL ||
        outlen != DPS_HMAC_SHA256_LEN)
        return -1;
    return 0;
}

char *dps_sas_signature(const uint8_t *key, size_t keylen, const char *sr_raw,
                        const char *se_text)
{
    size_t srl = strlen(sr_raw), sel = strlen(se_text);
    char *msg = malloc(srl + 1 + sel + 1);
    if (msg == NULL)
        return NULL;
    memcpy(msg, sr_raw, srl);
    msg[srl] = '\n';
    memcpy(msg + srl + 1, se_text, sel + 1);
    uint8_t mac[DPS_HMAC_SHA256_LEN];
    char *sig = NULL;
    if (dps_hmac_sha256(key, keylen, msg, srl + 1 + sel, mac) == 0)
        sig = dps_b64_encode(mac, sizeof mac);
    dps_wipe(mac, sizeof mac);
    free(msg);
    return sig;
}

bool dps_sas_signed_with(const dps_sas_token *t, const uint8_t *key, size_t keylen)
{
    char *expect = dps_sas_signature(key, keylen, t->sr_raw, t->se_raw);
    if (expect == NULL)
        return false;
    bool ok = dps_ct_equal(expect, strlen(expect), t->sig, strlen(t->sig));
    dps_free_secret_string(expect);
    return ok;
}

bool dps_sas_expired(const dps_sas_token *t, int64_t now_s, int64_t skew_s)
{
    return t->se < now_s - skew_s;
}

/* Lower-cases s and takes out a ":digits" port that ends the first segment,
 * returning the port text (without ':') in *port, or "" when there is none. */
static char *audience_normalise(const char *s, char port[8])
{
    size_t n = strlen(s);
    char *out = malloc(n + 1);
    if (out == NULL)
        return NULL;
    port[0] = '\0';
    size_t o = 0;
    size_t i = 0;
    while (i < n && s[i] != '/') { /* host part */
        if (s[i] == ':') {
            size_t j = i + 1;
            while (j < n && isdigit((unsigned char)s[j]))
                j++;
            if (j > i + 1 && j - i - 1 < 8 && (j == n || s[j] == '/')) {
                memcpy(port, s + i + 1, j - i - 1);
                port[j - i - 1] = '\0';
                i = j;
                break;
            }
        }
        out[o++] = (char)tolower((unsigned char)s[i++]);
    }
    for (; i < n; i++)
        out[o++] = (char)tolower((unsigned char)s[i]);
    /* a trailing '/' does not change what the token covers */
    while (o > 0 && out[o - 1] == '/')
        o--;
    out[o] = '\0';
    return out;
}

bool dps_sas_audience_covers(const char *sr_decoded, const char *target)
{
    char aport[8], bport[8];
    char *a = audience_normalise(sr_decoded, aport);
    char *b = audience_normalise(target, bport);
    bool ok = false;
    /* A port on one side only is fine (clients differ in whether they sign
     * one); two different ports name two different services. */
    bool ports_ok = aport[0] == '\0' || bport[0] == '\0' || strcmp(aport, bport) == 0;
    if (a != NULL && b != NULL && a[0] != '\0' && ports_ok) {
        size_t al = strlen(a);
        ok = strncmp(a, b, al) == 0 && (b[al] == '\0' || b[al] == '/');
    }
    free(a);
    free(b);
    return ok;
}

char *dps_sas_build(const char *resource, const char *key_b64, const char *skn,
                    int64_t expiry_s)
{
    uint8_t *key = NULL;
    size_t keylen = 0;
    if (dps_b64_decode(key_b64, strlen(key_b64), &key, &keylen) != 0)
        return NULL;
    char se[24];
    snprintf(se, sizeof se, "%lld", (long long)expiry_s);
    char *sr = dps_url_encode(resource);
    char *sig = sr ? dps_sas_signature(key, keylen, sr, se) : NULL;
    char *sig_enc = sig ? dps_url_encode(sig) : NULL;
    char *skn_enc = skn ? dps_url_encode(skn) : NULL;
    char *out = NULL;
    if (sig_enc != NULL && (skn == NULL || skn_enc != NULL)) {
        size_t n = strlen(sas_prefix) + strlen(sr) + strlen(sig_enc) + strlen(se) +
                   (skn_enc ? strlen(skn_enc) : 0) + 32;
        out = malloc(n);
        if (out != NULL) {
            snprintf(out, n, "%ssr=%s&sig=%s&se=%s%s%s", sas_prefix, sr, sig_enc, se,
                     skn_enc ? "&skn=" : "", skn_enc ? skn_enc : "");
        }
    }
    dps_wipe(key, keylen);
    free(key);
    free(sr);
    free(sig);
    free(sig_enc);
    free(skn_enc);
    return out;
}

char *dps_derive_device_key(const char *group_key_b64, const char *registration_id)
{
    uint8_t *key = NULL;
    size_t keylen = 0;
    if (dps_b64_decode(group_key_b64, strlen(group_key_b64), &key, &keylen) != 0)
        return NULL;
    uint8_t mac[DPS_HMAC_SHA256_LEN];
    char *out = NULL;
    if (dps_hmac_sha256(key, keylen, registration_id, strlen(registration_id), mac) == 0)
        out = dps_b64_encode(mac, sizeof mac);
    dps_wipe(mac, sizeof mac);
    dps_wipe(key, keylen);
    free(key);
    return out;
}
