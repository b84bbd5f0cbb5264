/* A TPM played in software for the TPM tests: RSA endorsement and storage
 * root keys with their private halves, marshalled as the TPM2B_PUBLIC a
 * device sends (the default EK and SRK templates of tpm.md §3.1), and the
 * TPM's side of the activation blob: ActivateCredential (OAEP with the EK,
 * the credential's HMAC over the SRK's Name, decrypting W) and Import +
 * Load (OAEP with the SRK, outer HMAC, two CFB layers, inner integrity, the
 * sensitive area's layout, unique = SHA-256(seedValue || key)). Written
 * from TPM 2.0 Part 1 and tpm.md, independently of the builder except for
 * KDFa, which the tests pin to the §9.4 known answers first. */
#ifndef TEST_TPM_SOFT_H
#define TEST_TPM_SOFT_H

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64.h"
#include "engine/tpm_activation.h"
#include "pki/pki.h"

/* EK admin policy, PolicySecret(TPM_RH_ENDORSEMENT) (tpm.md §3.3). */
static const uint8_t soft_ek_policy[32] = {
    0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc, 0x8d, 0x46, 0xa5, 0xd7, 0x24,
    0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52, 0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa};

typedef struct {
    EVP_PKEY *key;      /* the private key, which only the TPM has */
    uint8_t pub[512];   /* TPM2B_PUBLIC as the device sends it */
    size_t publen;
    char *b64;          /* base64 of pub */
    dps_tpm_public parsed;
} soft_key;

static inline void soft_u16(uint8_t *p, size_t *n, unsigned v)
{
    p[(*n)++] = (uint8_t)(v >> 8);
    p[(*n)++] = (uint8_t)v;
}

static inline void soft_u32(uint8_t *p, size_t *n, uint32_t v)
{
    soft_u16(p, n, v >> 16);
    soft_u16(p, n, v & 0xFFFF);
}

/* A fresh RSA key as an EK (ek true) or SRK, with the standard template.
 * sym_mode lets a test send a key with another symmetric mode. Returns 0. */
static inline int soft_key_make(soft_key *k, bool ek, int bits, unsigned sym_mode)
{
    memset(k, 0, sizeof *k);
    k->key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
    if (k->key == NULL)
        return -1;
    BIGNUM *n = NULL;
    if (EVP_PKEY_get_bn_param(k->key, OSSL_PKEY_PARAM_RSA_N, &n) != 1)
        return -1;
    size_t modlen = (size_t)bits / 8;
    uint8_t *p = k->pub;
    size_t o = 2; /* size filled in below */
    soft_u16(p, &o, 0x0001);                         /* RSA */
    soft_u16(p, &o, 0x000B);                         /* SHA-256 */
    soft_u32(p, &o, ek ? 0x000300B2u : 0x00030472u); /* attributes */
    if (ek) {
        soft_u16(p, &o, 32);
        memcpy(p + o, soft_ek_policy, 32);
        o += 32;
    } else {
        soft_u16(p, &o, 0);
    }
    soft_u16(p, &o, 0x0006); /* AES */
    soft_u16(p, &o, 128);
    soft_u16(p, &o, sym_mode);
    soft_u16(p, &o, 0x0010); /* scheme NULL */
    soft_u16(p, &o, (unsigned)bits);
    soft_u32(p, &o, 0); /* exponent: default 65537 */
    soft_u16(p, &o, (unsigned)modlen);
    BN_bn2binpad(n, p + o, (int)modlen);
    o += modlen;
    BN_free(n);
    p[0] = (uint8_t)((o - 2) >> 8);
    p[1] = (uint8_t)(o - 2);
    k->publen = o;
    k->b64 = dps_b64_encode(k->pub, k->publen);
    char err[200];
    if (dps_tpm2b_public_parse(k->pub, k->publen, &k->parsed, err, sizeof err) != 0) {
        fprintf(stderr, "soft key: %s\n", err);
        return -1;
    }
    return 0;
}

static inline void soft_key_free(soft_key *k)
{
    EVP_PKEY_free(k->key);
    free(k->b64);
    memset(k, 0, sizeof *k);
}

/* RSAES-OAEP-SHA256 decryption with a label that includes its zero byte. */
static inline int soft_oaep_decrypt(EVP_PKEY *key, const char *label, const uint8_t *in,
                                    size_t inlen, uint8_t *out, size_t *outlen)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    int rc = -1;
    size_t lablen = strlen(label) + 1;
    unsigned char *lab = OPENSSL_memdup(label, lablen);
    if (c != NULL && lab != NULL && EVP_PKEY_decrypt_init(c) == 1 &&
        EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) == 1 &&
        EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha256()) == 1 &&
        EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha256()) == 1 &&
        EVP_PKEY_CTX_set0_rsa_oaep_label(c, lab, (int)lablen) == 1) {
        lab = NULL;
        if (EVP_PKEY_decrypt(c, out, outlen, in, inlen) == 1)
            rc = 0;
    }
    OPENSSL_free(lab);
    EVP_PKEY_CTX_free(c);
    return rc;
}

static inline int soft_cfb_decrypt(const uint8_t key[16], const uint8_t *in, size_t n,
                                   uint8_t *out)
{
    static const uint8_t iv[16] = {0};
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int l1 = 0, l2 = 0;
    int ok = c != NULL && EVP_DecryptInit_ex(c, EVP_aes_128_cfb128(), NULL, key, iv) == 1 &&
             EVP_DecryptUpdate(c, out, &l1, in, (int)n) == 1 &&
             EVP_DecryptFinal_ex(c, out + l1, &l2) == 1 && (size_t)(l1 + l2) == n;
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : -1;
}

static inline int soft_hmac(const uint8_t *key, size_t keylen, const uint8_t *a, size_t alen,
                            const uint8_t *b, size_t blen, uint8_t out[32])
{
    uint8_t buf[1024];
    if (alen + blen > sizeof buf)
        return -1;
    memcpy(buf, a, alen);
    memcpy(buf + alen, b, blen);
    size_t n = 0;
    return EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, keylen, buf, alen + blen, out, 32,
                     &n) != NULL && n == 32
               ? 0
               : -1;
}

static inline void soft_sha256(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                               uint8_t out[32])
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    EVP_DigestInit_ex(m, EVP_sha256(), NULL);
    EVP_DigestUpdate(m, a, alen);
    if (blen > 0)
        EVP_DigestUpdate(m, b, blen);
    EVP_DigestFinal_ex(m, out, NULL);
    EVP_MD_CTX_free(m);
}

/* One TPM2B element of the blob: a view into it. */
typedef struct {
    const uint8_t *p;
    size_t n;
} soft_elem;

/* What the TPM learns from a blob. */
typedef struct {
    soft_elem e[6];
    uint8_t w[16];            /* ActivateCredential's output */
    uint8_t key[32];          /* the imported HMAC key */
    uint8_t seed_value[32];
    uint8_t inner_integrity[32];
    uint8_t identity_public[128];
    size_t identity_public_len;
    char element6[64];
    char why[200]; /* the first check that failed */
} soft_result;

static inline int soft_fail(soft_result *r, const char *why)
{
    snprintf(r->why, sizeof r->why, "%s", why);
    return -1;
}

static inline uint16_t soft_rd16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

/* Splits the blob into its six TPM2B elements; nothing may follow. */
static inline int soft_split(const uint8_t *blob, size_t len, soft_result *r)
{
    size_t o = 0;
    for (int i = 0; i < 6; i++) {
        if (len - o < 2)
            return soft_fail(r, "blob truncated at a size field");
        size_t n = soft_rd16(blob + o);
        if (len - o - 2 < n)
            return soft_fail(r, "blob element longer than the blob");
        r->e[i].p = blob + o + 2;
        r->e[i].n = n;
        o += 2 + n;
    }
    return o == len ? 0 : soft_fail(r, "bytes after element 6");
}

/* ActivateCredential, Import and Load as a TPM holding ek and srk runs
 * them (TPM 2.0 Part 1 §24, Part 3 ActivateCredential / Import / Load). */
static inline int soft_tpm_open(const soft_key *ek, const soft_key *srk, const uint8_t *blob,
                                size_t len, soft_result *r)
{
    memset(r, 0, sizeof *r);
    if (soft_split(blob, len, r) != 0)
        return -1;
    uint8_t srk_name[34], id_name[34];
    if (dps_tpm_name_sha256(srk->parsed.area, srk->parsed.area_len, srk_name) != 0)
        return soft_fail(r, "srk name");

    /* ActivateCredential: seed C from element 2, HMAC check of element 1
     * over the credentialed key's (SRK's) Name, then decrypt W. */
    uint8_t c[512], s[512];
    size_t clen = sizeof c, slen = sizeof s;
    if (soft_oaep_decrypt(ek->key, "IDENTITY", r->e[1].p, r->e[1].n, c, &clen) != 0)
        return soft_fail(r, "element 2 does not OAEP-decrypt with the EK and label IDENTITY");
    const soft_elem *id = &r->e[0];
    if (id->n < 2 + 32 || soft_rd16(id->p) != 32)
        return soft_fail(r, "element 1: integrityHMAC is not a 32-byte TPM2B");
    const uint8_t *enc_identity = id->p + 34;
    size_t enc_identity_len = id->n - 34;
    uint8_t hkey[32], skey[16], mac[32];
    if (dps_tpm_kdfa_sha256(c, clen, "INTEGRITY", NULL, 0, NULL, 0, 256, hkey) != 0 ||
        soft_hmac(hkey, 32, enc_identity, enc_identity_len, srk_name, 34, mac) != 0 ||
        memcmp(mac, id->p + 2, 32) != 0)
        return soft_fail(r, "element 1: integrityHMAC does not verify (TPM_RC_INTEGRITY)");
    uint8_t plain[64];
    if (enc_identity_len > sizeof plain ||
        dps_tpm_kdfa_sha256(c, clen, "STORAGE", srk_name, 34, NULL, 0, 128, skey) != 0 ||
        soft_cfb_decrypt(skey, enc_identity, enc_identity_len, plain) != 0)
        return soft_fail(r, "element 1: cannot decrypt encIdentity");
    if (enc_identity_len != 18 || soft_rd16(plain) != 16)
        return soft_fail(r, "element 1: the credential is not a 16-byte TPM2B");
    memcpy(r->w, plain + 2, 16);

    /* Import: the identity key's Name from element 5, seed S from
     * element 4, outer HMAC, outer then inner decryption. */
    const soft_elem *pub = &r->e[4];
    if (pub->n > sizeof r->identity_public)
        return soft_fail(r, "element 5 too long");
    memcpy(r->identity_public, pub->p, pub->n);
    r->identity_public_len = pub->n;
    if (dps_tpm_name_sha256(pub->p, pub->n, id_name) != 0)
        return soft_fail(r, "identity name");
    if (soft_oaep_decrypt(srk->key, "DUPLICATE", r->e[3].p, r->e[3].n, s, &slen) != 0)
        return soft_fail(r, "element 4 does not OAEP-decrypt with the SRK and label DUPLICATE");
    const soft_elem *dup = &r->e[2];
    if (dup->n < 34 || soft_rd16(dup->p) != 32)
        return soft_fail(r, "element 3: outer HMAC is not a 32-byte TPM2B");
    const uint8_t *dup_sens = dup->p + 34;
    size_t dup_len = dup->n - 34;
    if (dps_tpm_kdfa_sha256(s, slen, "INTEGRITY", NULL, 0, NULL, 0, 256, hkey) != 0 ||
        soft_hmac(hkey, 32, dup_sens, dup_len, id_name, 34, mac) != 0 ||
        memcmp(mac, dup->p + 2, 32) != 0)
        return soft_fail(r, "element 3: outer HMAC does not verify (TPM_RC_INTEGRITY)");
    uint8_t mid[256], inner[256];
    if (dup_len > sizeof mid ||
        dps_tpm_kdfa_sha256(s, slen, "STORAGE", id_name, 34, NULL, 0, 128, skey) != 0 ||
        soft_cfb_decrypt(skey, dup_sens, dup_len, mid) != 0 ||
        soft_cfb_decrypt(r->w, mid, dup_len, inner) != 0)
        return soft_fail(r, "element 3: cannot decrypt the duplicate");
    if (dup_len < 2 + 32 + 2 || soft_rd16(inner) != 32)
        return soft_fail(r, "element 3: innerIntegrity is not a 32-byte TPM2B");
    const uint8_t *sens = inner + 34;
    size_t sens_len = dup_len - 34;
    uint8_t check[32];
    soft_sha256(sens, sens_len, id_name, 34, check);
    if (memcmp(check, inner + 2, 32) != 0)
        return soft_fail(r, "element 3: innerIntegrity does not verify");
    memcpy(r->inner_integrity, inner + 2, 32);
    /* TPM2B_SENSITIVE: size, type KEYEDHASH, empty authValue, seedValue,
     * the key. */
    if (soft_rd16(sens) != sens_len - 2 || sens_len != 74 || soft_rd16(sens + 2) != 0x0008 ||
        soft_rd16(sens + 4) != 0 || soft_rd16(sens + 6) != 32 || soft_rd16(sens + 40) != 32)
        return soft_fail(r, "element 3: the sensitive area is not the expected layout");
    memcpy(r->seed_value, sens + 8, 32);
    memcpy(r->key, sens + 42, 32);

    /* Load: the public area must be a KEYEDHASH HMAC-SHA256 key whose
     * unique is SHA-256(seedValue || key); fixedTPM/fixedParent clear. */
    const uint8_t *pp = pub->p;
    size_t pn = pub->n;
    if (pn < 10 || soft_rd16(pp) != 0x0008 || soft_rd16(pp + 2) != 0x000B)
        return soft_fail(r, "element 5: not a KEYEDHASH key with nameAlg SHA-256");
    uint32_t attrs = (uint32_t)soft_rd16(pp + 4) << 16 | soft_rd16(pp + 6);
    if ((attrs & 0x00000012u) != 0) /* fixedTPM 0x2, fixedParent 0x10 */
        return soft_fail(r, "element 5: fixedTPM or fixedParent set (Import refuses it)");
    size_t pol = soft_rd16(pp + 8);
    if (pn != 10 + pol + 4 + 2 + 32 || soft_rd16(pp + 10 + pol) != 0x0005 ||
        soft_rd16(pp + 12 + pol) != 0x000B || soft_rd16(pp + 14 + pol) != 32)
        return soft_fail(r, "element 5: not an HMAC-SHA256 scheme with a 32-byte unique");
    soft_sha256(r->seed_value, 32, r->key, 32, check);
    if (memcmp(check, pp + 16 + pol, 32) != 0)
        return soft_fail(r, "element 5: unique is not SHA-256(seedValue || key) (Load fails)");

    /* Element 6: readable with W. */
    if (r->e[5].n >= sizeof r->element6 ||
        soft_cfb_decrypt(r->w, r->e[5].p, r->e[5].n, (uint8_t *)r->element6) != 0)
        return soft_fail(r, "element 6: cannot decrypt");
    r->element6[r->e[5].n] = '\0';
    return 0;
}

/* Decodes base64 and opens it; returns 0 with r->key. */
static inline int soft_tpm_open_b64(const soft_key *ek, const soft_key *srk, const char *b64,
                                    soft_result *r)
{
    uint8_t *raw = NULL;
    size_t n = 0;
    if (b64 == NULL || dps_b64_decode(b64, strlen(b64), &raw, &n) != 0)
        return soft_fail(r, "not base64");
    int rc = soft_tpm_open(ek, srk, raw, n, r);
    free(raw);
    return rc;
}

#endif
