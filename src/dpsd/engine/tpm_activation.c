/* The TPM activation blob (tpm_activation.h), following tpm.md §9.2 step by
 * step. The TPM on the other side accepts it only if every byte is where
 * TPM 2.0 Part 1 (§24 "Protected Storage", §22 credential protection) puts
 * it, so the construction is written as plainly as the reference: one
 * helper per primitive, one bounded writer for every structure.
 *
 * Secrets live in one struct (work) that is wiped on every exit path. */
#include "engine/tpm_activation.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/secret.h"

/* TPM 2.0 Part 2 constants used here. */
#define TPM_ALG_RSA 0x0001
#define TPM_ALG_KEYEDHASH 0x0008
#define TPM_ALG_SHA256 0x000B
#define TPM_ALG_HMAC 0x0005
#define TPM_ALG_AES 0x0006
#define TPM_ALG_NULL 0x0010
#define TPM_ALG_CFB 0x0043
#define TPMA_OBJECT_RESTRICTED 0x00010000u
#define TPMA_OBJECT_DECRYPT 0x00020000u
/* sign | userWithAuth | noDA. fixedTPM and fixedParent must stay clear:
 * Import refuses a duplicate that claims them (§9.2 step 1). */
#define IDENTITY_ATTRIBUTES 0x00040440u
#define SHA256_LEN 32
#define MAX_POLICY 32
#define RSA_BITS 2048
#define RSA_BYTES (RSA_BITS / 8)
/* What element 6 holds: devices ignore it (only Microsoft's samples
 * decrypt it), but Node refuses a blob without it. */
#define ELEMENT6_TEXT "opendps"

/* ---- a bounded writer ---------------------------------------------------- */

typedef struct {
    uint8_t *p;
    size_t len;
    size_t cap;
    bool overflow;
} writer;

static void put(writer *w, const void *data, size_t n)
{
    if (w->overflow || w->cap - w->len < n) {
        w->overflow = true;
        return;
    }
    if (n > 0)
        memcpy(w->p + w->len, data, n);
    w->len += n;
}

static void put_u16(writer *w, unsigned v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    put(w, b, 2);
}

static void put_u32(writer *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    put(w, b, 4);
}

/* TPM2B(x): UINT16 length, then x. */
static void put_tpm2b(writer *w, const void *data, size_t n)
{
    if (n > 0xFFFF) {
        w->overflow = true;
        return;
    }
    put_u16(w, (unsigned)n);
    put(w, data, n);
}

/* ---- checked reads of a public area (already parsed by lib/pki) ---------- */

typedef struct {
    const uint8_t *p;
    size_t len, pos;
    bool bad;
} reader;

static unsigned get_u16(reader *r)
{
    if (r->bad || r->len - r->pos < 2) {
        r->bad = true;
        return 0;
    }
    unsigned v = (unsigned)r->p[r->pos] << 8 | r->p[r->pos + 1];
    r->pos += 2;
    return v;
}

static uint32_t get_u32(reader *r)
{
    uint32_t hi = get_u16(r);
    uint32_t lo = get_u16(r);
    return hi << 16 | lo;
}

static void skip_tpm2b(reader *r)
{
    size_t n = get_u16(r);
    if (r->bad || r->len - r->pos < n) {
        r->bad = true;
        return;
    }
    r->pos += n;
}

int dps_tpm_activation_check_key(const dps_tpm_public *pub, const char *what, char *err,
                                 size_t errlen)
{
    /* lib/pki's parser keeps type, nameAlg, attributes and the RSA fields
     * but not the symmetric definition, which drives the wrapper's cipher:
     * read it again from the area. */
    reader r = {.p = pub->area, .len = pub->area_len};
    unsigned type = get_u16(&r), name_alg = get_u16(&r);
    uint32_t attrs = get_u32(&r);
    skip_tpm2b(&r); /* authPolicy */
    unsigned sym = get_u16(&r), sym_bits = 0, sym_mode = 0;
    if (sym != TPM_ALG_NULL) {
        sym_bits = get_u16(&r);
        sym_mode = get_u16(&r);
    }
    if (r.bad || pub->area_len > sizeof pub->area) {
        snprintf(err, errlen, "the %s is not a complete TPM public area", what);
        return -1;
    }
    if (type != TPM_ALG_RSA || pub->rsa_key_bits != RSA_BITS || pub->unique_len != RSA_BYTES) {
        snprintf(err, errlen, "the %s must be an RSA-2048 key (type 0x%04x, %u bits)", what,
                 type, (unsigned)pub->rsa_key_bits);
        return -1;
    }
    if (name_alg != TPM_ALG_SHA256) {
        snprintf(err, errlen, "the %s must have nameAlg SHA-256 (it has 0x%04x)", what,
                 name_alg);
        return -1;
    }
    if (sym != TPM_ALG_AES || sym_bits != 128 || sym_mode != TPM_ALG_CFB) {
        snprintf(err, errlen,
                 "the %s must have the symmetric definition AES-128-CFB (it has 0x%04x/%u/0x%04x)",
                 what, sym, sym_bits, sym_mode);
        return -1;
    }
    if ((attrs & (TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT)) !=
        (TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT)) {
        snprintf(err, errlen, "the %s must be a restricted decryption key (attributes 0x%08x)",
                 what, (unsigned)attrs);
        return -1;
    }
    uint32_t e = pub->rsa_exponent;
    if (e != 0 && (e < 3 || (e & 1) == 0)) {
        snprintf(err, errlen, "the %s has an unusable RSA exponent %u", what, (unsigned)e);
        return -1;
    }
    return 0;
}

/* ---- primitives ----------------------------------------------------------- */

/* One HMAC-SHA256 context for a whole blob: fetching and setting up a MAC
 * per call is what makes one-shot HMAC slow on OpenSSL 3 (§9.5). */
typedef struct {
    EVP_MAC *mac;
    EVP_MAC_CTX *ctx;
} hmac_state;

static int hmac_open(hmac_state *h)
{
    h->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    h->ctx = h->mac != NULL ? EVP_MAC_CTX_new(h->mac) : NULL;
    return h->ctx != NULL ? 0 : -1;
}

static void hmac_close(hmac_state *h)
{
    EVP_MAC_CTX_free(h->ctx); /* OpenSSL cleanses the key it holds */
    EVP_MAC_free(h->mac);
    memset(h, 0, sizeof *h);
}

/* HMAC-SHA256(key, a || b || c); parts may be NULL with length 0. */
static int hmac3(hmac_state *h, const uint8_t *key, size_t keylen, const void *a, size_t alen,
                 const void *b, size_t blen, const void *c, size_t clen, uint8_t out[SHA256_LEN])
{
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    size_t n = 0;
    if (EVP_MAC_init(h->ctx, key, keylen, params) != 1 ||
        (alen > 0 && EVP_MAC_update(h->ctx, a, alen) != 1) ||
        (blen > 0 && EVP_MAC_update(h->ctx, b, blen) != 1) ||
        (clen > 0 && EVP_MAC_update(h->ctx, c, clen) != 1) ||
        EVP_MAC_final(h->ctx, out, &n, SHA256_LEN) != 1 || n != SHA256_LEN)
        return -1;
    return 0;
}

static int kdfa(hmac_state *h, const uint8_t *key, size_t keylen, const char *label,
                const uint8_t *u, size_t ulen, const uint8_t *v, size_t vlen, size_t bits,
                uint8_t *out)
{
    if (bits == 0 || bits % 8 != 0 || bits > 512)
        return -1;
    /* The fixed part after the counter: label, its terminating zero, the
     * two contexts and the requested size in bits. */
    uint8_t fixed[128 + 2 * DPS_TPM_NAME_LEN];
    writer w = {.p = fixed, .cap = sizeof fixed};
    put(&w, label, strlen(label) + 1);
    put(&w, u, ulen);
    put(&w, v, vlen);
    put_u32(&w, (uint32_t)bits);
    if (w.overflow)
        return -1;
    size_t need = bits / 8;
    int rc = 0;
    uint8_t block[SHA256_LEN];
    for (uint32_t i = 1, done = 0; done < need; i++) {
        uint8_t ctr[4] = {(uint8_t)(i >> 24), (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
        if (hmac3(h, key, keylen, ctr, sizeof ctr, fixed, w.len, NULL, 0, block) != 0) {
            rc = -1;
            break;
        }
        size_t take = need - done < SHA256_LEN ? need - done : SHA256_LEN;
        memcpy(out + done, block, take);
        done += (uint32_t)take;
    }
    dps_wipe(block, sizeof block);
    dps_wipe(fixed, sizeof fixed); /* holds no key, but the contexts of a secret's use */
    return rc;
}

int dps_tpm_kdfa_sha256(const uint8_t *key, size_t keylen, const char *label,
                        const uint8_t *u, size_t ulen, const uint8_t *v, size_t vlen,
                        size_t bits, uint8_t *out)
{
    hmac_state h = {0};
    int rc = hmac_open(&h) == 0 ? kdfa(&h, key, keylen, label, u, ulen, v, vlen, bits, out)
                                : -1;
    hmac_close(&h);
    return rc;
}

static int sha256_2(const void *a, size_t alen, const void *b, size_t blen,
                    uint8_t out[SHA256_LEN])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned n = 0;
    int ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(md, a, alen) == 1 &&
             (blen == 0 || EVP_DigestUpdate(md, b, blen) == 1) &&
             EVP_DigestFinal_ex(md, out, &n) == 1 && n == SHA256_LEN;
    EVP_MD_CTX_free(md);
    return ok ? 0 : -1;
}

int dps_tpm_name_sha256(const uint8_t *area, size_t len, uint8_t out[DPS_TPM_NAME_LEN])
{
    out[0] = (uint8_t)(TPM_ALG_SHA256 >> 8);
    out[1] = (uint8_t)TPM_ALG_SHA256;
    return sha256_2(area, len, NULL, 0, out + 2);
}

/* AES-128 in full-block CFB with an all-zero IV, as the TPM uses for every
 * wrapper here (§9.1). out may not overlap in. */
static int aes128_cfb(const uint8_t key[16], const uint8_t *in, size_t n, uint8_t *out)
{
    static const uint8_t iv[16] = {0};
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int l1 = 0, l2 = 0;
    int ok = c != NULL && n <= 0x7FFFFFFF &&
             EVP_EncryptInit_ex(c, EVP_aes_128_cfb128(), NULL, key, iv) == 1 &&
             EVP_EncryptUpdate(c, out, &l1, in, (int)n) == 1 &&
             EVP_EncryptFinal_ex(c, out + l1, &l2) == 1 && (size_t)(l1 + l2) == n;
    EVP_CIPHER_CTX_free(c); /* cleanses the key schedule */
    return ok ? 0 : -1;
}

/* The TPM's RSA public key as an EVP_PKEY (exponent 0 means 65537). */
static EVP_PKEY *rsa_public(const dps_tpm_public *pub)
{
    EVP_PKEY *pkey = NULL;
    BIGNUM *n = BN_bin2bn(pub->unique, (int)pub->unique_len, NULL);
    BIGNUM *e = BN_new();
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    if (n != NULL && e != NULL && bld != NULL &&
        BN_set_word(e, pub->rsa_exponent != 0 ? pub->rsa_exponent : 65537) == 1 &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) == 1 &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) == 1 &&
        (params = OSSL_PARAM_BLD_to_param(bld)) != NULL &&
        (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) != NULL &&
        EVP_PKEY_fromdata_init(ctx) == 1)
        (void)EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    return pkey;
}

/* RSAES-OAEP with SHA-256 (digest and MGF1) and a label that includes its
 * terminating zero byte, as the TPM computes it (§9.1). Writes exactly
 * RSA_BYTES bytes. */
static int oaep_encrypt(const dps_tpm_public *pub, const char *label, const uint8_t *in,
                        size_t inlen, uint8_t out[RSA_BYTES])
{
    EVP_PKEY *pkey = rsa_public(pub);
    EVP_PKEY_CTX *ctx = pkey != NULL ? EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL) : NULL;
    size_t lablen = strlen(label) + 1;
    size_t outlen = RSA_BYTES;
    int rc = -1;
    if (ctx != NULL && EVP_PKEY_encrypt_init(ctx) == 1 &&
        EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
        EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) == 1 &&
        EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) == 1) {
        /* set0 takes ownership of the label only on success. */
        unsigned char *lab = OPENSSL_memdup(label, lablen);
        if (lab != NULL && EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, lab, (int)lablen) != 1) {
            OPENSSL_free(lab);
            lab = NULL;
        }
        if (lab != NULL && EVP_PKEY_encrypt(ctx, out, &outlen, in, inlen) == 1 &&
            outlen == RSA_BYTES)
            rc = 0;
    }
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    return rc;
}

/* ---- the identity key ------------------------------------------------------ */

size_t dps_tpm_identity_public(const uint8_t seed_value[DPS_TPM_SEED_LEN],
                               const uint8_t key[DPS_TPM_HMAC_KEY_LEN],
                               const uint8_t *auth_policy, size_t auth_policy_len,
                               uint8_t *out, size_t outmax)
{
    if (auth_policy_len > MAX_POLICY)
        return 0;
    /* unique binds the public area to the secret: the TPM recomputes it
     * from the imported sensitive area on Load. */
    uint8_t unique[SHA256_LEN];
    if (sha256_2(seed_value, DPS_TPM_SEED_LEN, key, DPS_TPM_HMAC_KEY_LEN, unique) != 0)
        return 0;
    writer w = {.p = out, .cap = outmax};
    put_u16(&w, TPM_ALG_KEYEDHASH);
    put_u16(&w, TPM_ALG_SHA256);
    put_u32(&w, IDENTITY_ATTRIBUTES);
    put_tpm2b(&w, auth_policy, auth_policy_len);
    put_u16(&w, TPM_ALG_HMAC); /* TPMT_KEYEDHASH_SCHEME */
    put_u16(&w, TPM_ALG_SHA256);
    put_tpm2b(&w, unique, sizeof unique);
    return w.overflow ? 0 : w.len;
}

/* ---- the blob --------------------------------------------------------------- */

/* TPM2B_SENSITIVE: UINT16 size, then sensitiveType, empty authValue,
 * TPM2B(V), TPM2B(K). */
#define SENSITIVE_LEN (2 + 2 + 2 + 2 + DPS_TPM_SEED_LEN + 2 + DPS_TPM_HMAC_KEY_LEN)
/* TPM2B(innerIntegrity) || TPM2B_SENSITIVE */
#define INNER_LEN (2 + SHA256_LEN + SENSITIVE_LEN)

/* Everything secret or derived from a secret, wiped in one place. */
typedef struct {
    uint8_t sensitive[SENSITIVE_LEN];
    uint8_t inner_integrity[SHA256_LEN];
    uint8_t inner_plain[INNER_LEN];
    uint8_t inner_enc[INNER_LEN]; /* only W stands between it and K */
    uint8_t sym_key[16];
    uint8_t hmac_key[SHA256_LEN];
    uint8_t w_plain[2 + DPS_TPM_INNER_KEY_LEN];
} work;

int dps_tpm_activation_build_with(const dps_tpm_public *ek, const dps_tpm_public *srk,
                                  const uint8_t key[DPS_TPM_HMAC_KEY_LEN],
                                  const dps_tpm_activation_inputs *in, uint8_t **out,
                                  size_t *outlen, char *err, size_t errlen)
{
    *out = NULL;
    *outlen = 0;
    if (dps_tpm_activation_check_key(ek, "endorsement key", err, errlen) != 0 ||
        dps_tpm_activation_check_key(srk, "storage root key", err, errlen) != 0)
        return -1;
    if (in->auth_policy_len > MAX_POLICY) {
        snprintf(err, errlen, "identity key policy too long");
        return -1;
    }

    work *s = OPENSSL_secure_zalloc(sizeof *s);
    uint8_t *blob = malloc(DPS_TPM_ACTIVATION_MAX);
    hmac_state h = {0};
    int rc = -1;
    if (s == NULL || blob == NULL || hmac_open(&h) != 0) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    snprintf(err, errlen, "cannot build the TPM activation blob (crypto failure)");

    /* Step 1: the identity key's public area and its Name. */
    uint8_t pub_area[64 + MAX_POLICY];
    size_t pub_len = dps_tpm_identity_public(in->seed_value, key, in->auth_policy,
                                             in->auth_policy_len, pub_area, sizeof pub_area);
    uint8_t id_name[DPS_TPM_NAME_LEN], srk_name[DPS_TPM_NAME_LEN];
    if (pub_len == 0 || dps_tpm_name_sha256(pub_area, pub_len, id_name) != 0 ||
        dps_tpm_name_sha256(srk->area, srk->area_len, srk_name) != 0)
        goto done;

    /* TPM2B_SENSITIVE = TPM2B(TPMT_SENSITIVE{KEYEDHASH, empty authValue,
     * seedValue V, sensitive K}). */
    writer ws = {.p = s->sensitive, .cap = sizeof s->sensitive};
    put_u16(&ws, SENSITIVE_LEN - 2);
    put_u16(&ws, TPM_ALG_KEYEDHASH);
    put_tpm2b(&ws, NULL, 0);
    put_tpm2b(&ws, in->seed_value, DPS_TPM_SEED_LEN);
    put_tpm2b(&ws, key, DPS_TPM_HMAC_KEY_LEN);
    if (ws.overflow || ws.len != sizeof s->sensitive)
        goto done;

    /* Step 2: inner wrapper: AES-CFB(W, TPM2B(SHA-256(sensitive || Name))
     * || sensitive). */
    if (sha256_2(s->sensitive, sizeof s->sensitive, id_name, sizeof id_name,
                 s->inner_integrity) != 0)
        goto done;
    writer wi = {.p = s->inner_plain, .cap = sizeof s->inner_plain};
    put_tpm2b(&wi, s->inner_integrity, sizeof s->inner_integrity);
    put(&wi, s->sensitive, sizeof s->sensitive);
    if (wi.overflow || aes128_cfb(in->inner_key, s->inner_plain, wi.len, s->inner_enc) != 0)
        goto done;
    size_t inner_len = wi.len;

    writer b = {.p = blob, .cap = DPS_TPM_ACTIVATION_MAX};
    uint8_t dup_secret[RSA_BYTES], cred_secret[RSA_BYTES];
    uint8_t dup_sensitive[INNER_LEN], outer_hmac[SHA256_LEN];
    uint8_t enc_identity[sizeof s->w_plain], integrity_hmac[SHA256_LEN];

    /* Step 3: outer wrapper to the SRK, keyed by seed S. */
    if (oaep_encrypt(srk, "DUPLICATE", in->dup_seed, DPS_TPM_SEED_LEN, dup_secret) != 0 ||
        kdfa(&h, in->dup_seed, DPS_TPM_SEED_LEN, "STORAGE", id_name, sizeof id_name, NULL, 0,
             128, s->sym_key) != 0 ||
        aes128_cfb(s->sym_key, s->inner_enc, inner_len, dup_sensitive) != 0 ||
        kdfa(&h, in->dup_seed, DPS_TPM_SEED_LEN, "INTEGRITY", NULL, 0, NULL, 0, 256,
             s->hmac_key) != 0 ||
        hmac3(&h, s->hmac_key, sizeof s->hmac_key, dup_sensitive, inner_len, id_name,
              sizeof id_name, NULL, 0, outer_hmac) != 0)
        goto done;

    /* Step 4: the credential carrying W, bound to the SRK's Name (the
     * TPM checks that the key named in ActivateCredential is this SRK),
     * sealed to the EK with seed C. */
    writer ww = {.p = s->w_plain, .cap = sizeof s->w_plain};
    put_tpm2b(&ww, in->inner_key, DPS_TPM_INNER_KEY_LEN);
    if (ww.overflow ||
        oaep_encrypt(ek, "IDENTITY", in->cred_seed, DPS_TPM_SEED_LEN, cred_secret) != 0 ||
        kdfa(&h, in->cred_seed, DPS_TPM_SEED_LEN, "STORAGE", srk_name, sizeof srk_name, NULL,
             0, 128, s->sym_key) != 0 ||
        aes128_cfb(s->sym_key, s->w_plain, ww.len, enc_identity) != 0 ||
        kdfa(&h, in->cred_seed, DPS_TPM_SEED_LEN, "INTEGRITY", NULL, 0, NULL, 0, 256,
             s->hmac_key) != 0 ||
        hmac3(&h, s->hmac_key, sizeof s->hmac_key, enc_identity, ww.len, srk_name,
              sizeof srk_name, NULL, 0, integrity_hmac) != 0)
        goto done;

    /* Element 6: any short text under W. */
    uint8_t e6[sizeof ELEMENT6_TEXT - 1];
    if (aes128_cfb(in->inner_key, (const uint8_t *)ELEMENT6_TEXT, sizeof e6, e6) != 0)
        goto done;

    /* Elements 1-6, back to back (§6). */
    put_u16(&b, 2 + SHA256_LEN + ww.len); /* 1: TPM2B_ID_OBJECT */
    put_tpm2b(&b, integrity_hmac, sizeof integrity_hmac);
    put(&b, enc_identity, ww.len);
    put_tpm2b(&b, cred_secret, sizeof cred_secret); /* 2: TPM2B_ENCRYPTED_SECRET */
    put_u16(&b, 2 + SHA256_LEN + inner_len);        /* 3: TPM2B_PRIVATE */
    put_tpm2b(&b, outer_hmac, sizeof outer_hmac);
    put(&b, dup_sensitive, inner_len);
    put_tpm2b(&b, dup_secret, sizeof dup_secret); /* 4: TPM2B_ENCRYPTED_SECRET */
    put_tpm2b(&b, pub_area, pub_len);             /* 5: TPM2B_PUBLIC */
    put_tpm2b(&b, e6, sizeof e6);                 /* 6: TPM2B_DATA */
    if (b.overflow)
        goto done;
    *out = blob;
    *outlen = b.len;
    blob = NULL;
    err[0] = '\0';
    rc = 0;
done:
    hmac_close(&h);
    if (s != NULL)
        OPENSSL_secure_clear_free(s, sizeof *s);
    free(blob);
    if (rc != 0)
        ERR_clear_error();
    return rc;
}

int dps_tpm_activation_build(const dps_tpm_public *ek, const dps_tpm_public *srk,
                             const uint8_t key[DPS_TPM_HMAC_KEY_LEN], uint8_t **out,
                             size_t *outlen, char *err, size_t errlen)
{
    dps_tpm_activation_inputs in;
    memset(&in, 0, sizeof in);
    int rc = -1;
    /* RAND_priv_bytes: OpenSSL's generator for values that stay secret. */
    if (RAND_priv_bytes(in.seed_value, sizeof in.seed_value) == 1 &&
        RAND_priv_bytes(in.inner_key, sizeof in.inner_key) == 1 &&
        RAND_priv_bytes(in.dup_seed, sizeof in.dup_seed) == 1 &&
        RAND_priv_bytes(in.cred_seed, sizeof in.cred_seed) == 1)
        rc = dps_tpm_activation_build_with(ek, srk, key, &in, out, outlen, err, errlen);
    else
        snprintf(err, errlen, "no randomness for the TPM activation blob");
    dps_wipe(&in, sizeof in);
    return rc;
}
