/* TPM2B_PUBLIC parsing (TPM 2.0 Library, Part 2: TPMT_PUBLIC and its
 * parameter unions) for RSA and ECC keys, the only kinds enrolled as
 * endorsement or storage root keys.
 *
 * Every byte comes from the network, so all reads go through a cursor that
 * checks the remaining length before touching memory; sizes are compared by
 * subtraction (never pos + n), so no length can wrap. */
#include "pki/pki.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64.h"

#define TPM_ALG_RSA 0x0001
#define TPM_ALG_NULL 0x0010
#define TPM_ALG_ECDAA 0x001A
#define TPM_ALG_ECC 0x0023

/* sizeof(TPMU_HA): the largest digest (SHA-512) an authPolicy can hold. */
#define TPM_MAX_DIGEST 64
/* TPM2B_PUBLIC_KEY_RSA holds up to MAX_RSA_KEY_BYTES; 4096-bit keys are the
 * largest any TPM profile defines. */
#define TPM_MAX_RSA_BYTES 512
/* One ECC coordinate; 128 bytes covers every curve in the TCG registry. */
#define TPM_MAX_ECC_BYTES 128

typedef struct {
    const uint8_t *p;
    size_t len;
    size_t pos;
    char *err;
    size_t errlen;
} tpm_cursor;

static void fail(tpm_cursor *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(tpm_cursor *c, const char *fmt, ...)
{
    if (c->err == NULL || c->errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
}

static int need(tpm_cursor *c, size_t n, const char *what)
{
    if (c->len - c->pos < n) {
        fail(c, "TPM public key truncated in %s at byte %zu", what, c->pos);
        return -1;
    }
    return 0;
}

static int read_u16(tpm_cursor *c, const char *what, uint16_t *out)
{
    if (need(c, 2, what) != 0)
        return -1;
    *out = (uint16_t)((unsigned)c->p[c->pos] << 8 | c->p[c->pos + 1]);
    c->pos += 2;
    return 0;
}

static int read_u32(tpm_cursor *c, const char *what, uint32_t *out)
{
    if (need(c, 4, what) != 0)
        return -1;
    *out = (uint32_t)c->p[c->pos] << 24 | (uint32_t)c->p[c->pos + 1] << 16 |
           (uint32_t)c->p[c->pos + 2] << 8 | (uint32_t)c->p[c->pos + 3];
    c->pos += 4;
    return 0;
}

/* A TPM2B: UINT16 size, then that many bytes, refused above max. The bytes
 * are returned as a view into the input. */
static int read_tpm2b(tpm_cursor *c, const char *what, size_t max, const uint8_t **data,
                      size_t *n)
{
    uint16_t size;
    if (read_u16(c, what, &size) != 0)
        return -1;
    if (size > max) {
        fail(c, "TPM public key %s too long (%u bytes, at most %zu)", what, (unsigned)size,
             max);
        return -1;
    }
    if (need(c, size, what) != 0)
        return -1;
    *data = c->p + c->pos;
    *n = size;
    c->pos += size;
    return 0;
}

/* TPMT_SYM_DEF_OBJECT: algorithm, and keyBits + mode unless it is NULL. */
static int read_symmetric(tpm_cursor *c)
{
    uint16_t alg, bits, mode;
    if (read_u16(c, "symmetric algorithm", &alg) != 0)
        return -1;
    if (alg == TPM_ALG_NULL)
        return 0;
    if (read_u16(c, "symmetric keyBits", &bits) != 0 ||
        read_u16(c, "symmetric mode", &mode) != 0)
        return -1;
    return 0;
}

/* TPMT_RSA_SCHEME / TPMT_ECC_SCHEME / TPMT_KDF_SCHEME: scheme, then its
 * details. Every asymmetric scheme carries a hashAlg; ECDAA adds a count. */
static int read_scheme(tpm_cursor *c, const char *what, bool ecdaa_allowed)
{
    uint16_t scheme, hash, count;
    if (read_u16(c, what, &scheme) != 0)
        return -1;
    if (scheme == TPM_ALG_NULL)
        return 0;
    if (read_u16(c, "scheme hashAlg", &hash) != 0)
        return -1;
    if (ecdaa_allowed && scheme == TPM_ALG_ECDAA && read_u16(c, "ECDAA count", &count) != 0)
        return -1;
    return 0;
}

static int read_rsa(tpm_cursor *c, dps_tpm_public *out)
{
    const uint8_t *mod;
    size_t modlen;
    if (read_symmetric(c) != 0 || read_scheme(c, "RSA scheme", false) != 0 ||
        read_u16(c, "RSA keyBits", &out->rsa_key_bits) != 0 ||
        read_u32(c, "RSA exponent", &out->rsa_exponent) != 0 ||
        read_tpm2b(c, "RSA modulus", TPM_MAX_RSA_BYTES, &mod, &modlen) != 0)
        return -1;
    /* The modulus is what later code encrypts to, so it must be exactly as
     * long as the key claims (a template's empty unique is not a key). */
    if (out->rsa_key_bits == 0 || out->rsa_key_bits % 8 != 0 ||
        modlen != (size_t)out->rsa_key_bits / 8) {
        fail(c, "TPM RSA key: modulus of %zu bytes does not match keyBits %u", modlen,
             (unsigned)out->rsa_key_bits);
        return -1;
    }
    memcpy(out->unique, mod, modlen);
    out->unique_len = modlen;
    return 0;
}

static int read_ecc(tpm_cursor *c, dps_tpm_public *out)
{
    uint16_t curve;
    const uint8_t *x, *y;
    size_t xlen, ylen;
    if (read_symmetric(c) != 0 || read_scheme(c, "ECC scheme", true) != 0 ||
        read_u16(c, "ECC curveID", &curve) != 0 ||
        read_scheme(c, "ECC kdf", false) != 0 ||
        read_tpm2b(c, "ECC point x", TPM_MAX_ECC_BYTES, &x, &xlen) != 0 ||
        read_tpm2b(c, "ECC point y", TPM_MAX_ECC_BYTES, &y, &ylen) != 0)
        return -1;
    if (xlen == 0 || xlen != ylen) {
        fail(c, "TPM ECC key: point coordinates of %zu and %zu bytes", xlen, ylen);
        return -1;
    }
    memcpy(out->unique, x, xlen);
    memcpy(out->unique + xlen, y, ylen);
    out->unique_len = xlen + ylen;
    return 0;
}

int dps_tpm2b_public_parse(const uint8_t *data, size_t len, dps_tpm_public *out, char *err,
                           size_t errlen)
{
    /* Parsed into a local copy so *out changes only on success. */
    dps_tpm_public pub;
    memset(&pub, 0, sizeof pub);
    tpm_cursor c = {.p = data, .len = data == NULL ? 0 : len, .err = err, .errlen = errlen};

    uint16_t size;
    if (read_u16(&c, "size", &size) != 0)
        return -1;
    if (size == 0 || size > DPS_TPM_MAX_PUBLIC) {
        fail(&c, "TPM public key size %u out of range (1..%d)", (unsigned)size,
             DPS_TPM_MAX_PUBLIC);
        return -1;
    }
    if (c.len - c.pos != size) {
        fail(&c, "TPM public key size field says %u bytes but %zu follow", (unsigned)size,
             c.len - c.pos);
        return -1;
    }
    size_t area_start = c.pos;

    const uint8_t *policy;
    size_t policylen;
    if (read_u16(&c, "type", &pub.type) != 0 || read_u16(&c, "nameAlg", &pub.name_alg) != 0 ||
        read_u32(&c, "objectAttributes", &pub.object_attributes) != 0 ||
        read_tpm2b(&c, "authPolicy", TPM_MAX_DIGEST, &policy, &policylen) != 0)
        return -1;

    int rc;
    if (pub.type == TPM_ALG_RSA) {
        rc = read_rsa(&c, &pub);
    } else if (pub.type == TPM_ALG_ECC) {
        rc = read_ecc(&c, &pub);
    } else {
        fail(&c, "TPM public key type 0x%04x is neither RSA nor ECC", (unsigned)pub.type);
        rc = -1;
    }
    if (rc != 0)
        return -1;
    /* The size prefix covered the whole input, so anything left over is
     * inside the TPMT_PUBLIC but not part of it. */
    if (c.pos != c.len) {
        fail(&c, "TPM public key has %zu unexpected bytes after the structure",
             c.len - c.pos);
        return -1;
    }
    pub.area_len = c.len - area_start;
    memcpy(pub.area, c.p + area_start, pub.area_len);
    *out = pub;
    return 0;
}

int dps_tpm2b_public_parse_b64(const char *b64, dps_tpm_public *out, char *err,
                               size_t errlen)
{
    if (b64 == NULL) {
        snprintf(err, errlen, "TPM public key missing");
        return -1;
    }
    /* Cap the text before decoding: base64 of the largest accepted blob. */
    size_t maxtext = 4 * ((DPS_TPM_MAX_PUBLIC + 2 + 2) / 3);
    size_t n = strnlen(b64, maxtext + 1);
    if (n == 0 || n > maxtext) {
        snprintf(err, errlen, "TPM public key: base64 text empty or longer than %zu characters",
                 maxtext);
        return -1;
    }
    uint8_t *raw = NULL;
    size_t rawlen = 0;
    if (dps_b64_decode(b64, n, &raw, &rawlen) != 0) {
        snprintf(err, errlen, "TPM public key is not valid base64");
        return -1;
    }
    int rc = dps_tpm2b_public_parse(raw, rawlen, out, err, errlen);
    free(raw);
    return rc;
}

bool dps_tpm_public_equal(const dps_tpm_public *a, const dps_tpm_public *b)
{
    /* Public data: no need for a constant-time comparison. */
    return a->area_len == b->area_len && a->area_len <= sizeof a->area &&
           memcmp(a->area, b->area, a->area_len) == 0;
}
