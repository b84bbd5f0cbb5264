/* The server's side of tpm.md §9, in the test: an activation blob that
 * delivers a chosen HMAC key K to one TPM (its EK and SRK public areas),
 * built in software with OpenSSL 3 and tpm2-tss's marshallers, exactly as
 * §9.2 describes. The TPM tests feed it to a real swtpm through the
 * credential and compare the TPM's HMAC with a software one. Independent of
 * dpsd's builder on purpose: two implementations of one recipe. */
#ifndef DPS_TEST_TPM_BLOB_BUILDER_H
#define DPS_TEST_TPM_BLOB_BUILDER_H

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <string.h>
#include <tss2/tss2_mu.h>

typedef struct {
    uint8_t b[4096];
    size_t n;
} bb_buf;

static inline void bb_put(bb_buf *o, const void *p, size_t n)
{
    assert_true(o->n + n <= sizeof o->b);
    if (n == 0)
        return; /* p may be NULL */
    memcpy(o->b + o->n, p, n);
    o->n += n;
}

static inline void bb_put16(bb_buf *o, size_t v)
{
    uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    bb_put(o, x, 2);
}

static inline void bb_tpm2b(bb_buf *o, const void *p, size_t n)
{
    bb_put16(o, n);
    bb_put(o, p, n);
}

static inline void bb_sha256(const void *p, size_t n, uint8_t out[32])
{
    unsigned int l = 0;
    assert_int_equal(EVP_Digest(p, n, out, &l, EVP_sha256(), NULL), 1);
}

/* KDFa with SHA-256 (§9.1). */
static inline void bb_kdfa(const uint8_t *key, size_t key_len, const char *label,
                           const uint8_t *u, size_t ul, const uint8_t *v, size_t vl, uint32_t bits,
                           uint8_t *out)
{
    size_t need = bits / 8, done = 0;
    for (uint32_t i = 1; done < need; i++) {
        bb_buf m = {.n = 0};
        uint8_t c[4] = {(uint8_t)(i >> 24), (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
        bb_put(&m, c, 4);
        bb_put(&m, label, strlen(label) + 1); /* the label's terminating zero */
        bb_put(&m, u, ul);
        bb_put(&m, v, vl);
        uint8_t bb[4] = {(uint8_t)(bits >> 24), (uint8_t)(bits >> 16), (uint8_t)(bits >> 8),
                         (uint8_t)bits};
        bb_put(&m, bb, 4);
        uint8_t h[32];
        unsigned int hl = 0;
        assert_non_null(HMAC(EVP_sha256(), key, (int)key_len, m.b, m.n, h, &hl));
        size_t take = need - done < 32 ? need - done : 32;
        memcpy(out + done, h, take);
        done += take;
    }
}

static inline void bb_hmac(const uint8_t *key, size_t kl, const uint8_t *a, size_t al,
                           const uint8_t *b, size_t bl, uint8_t out[32])
{
    bb_buf m = {.n = 0};
    bb_put(&m, a, al);
    bb_put(&m, b, bl);
    unsigned int hl = 0;
    assert_non_null(HMAC(EVP_sha256(), key, (int)kl, m.b, m.n, out, &hl));
}

/* AES-CFB (full-block), zero IV; key 16 bytes. */
static inline void bb_cfb(const uint8_t key[16], const uint8_t *in, size_t n, uint8_t *out)
{
    static const uint8_t iv[16];
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int l1 = 0, l2 = 0;
    assert_int_equal(EVP_EncryptInit_ex(c, EVP_aes_128_cfb128(), NULL, key, iv), 1);
    assert_int_equal(EVP_EncryptUpdate(c, out, &l1, in, (int)n), 1);
    assert_int_equal(EVP_EncryptFinal_ex(c, out + l1, &l2), 1);
    assert_int_equal((size_t)(l1 + l2), n);
    EVP_CIPHER_CTX_free(c);
}

/* Name = nameAlg || SHA-256(marshalled TPMT_PUBLIC). */
static inline void bb_name(const TPMT_PUBLIC *p, uint8_t name[34])
{
    uint8_t m[1024];
    size_t off = 0;
    assert_int_equal(Tss2_MU_TPMT_PUBLIC_Marshal(p, m, sizeof m, &off), TSS2_RC_SUCCESS);
    name[0] = 0x00;
    name[1] = 0x0b;
    bb_sha256(m, off, name + 2);
}

/* RSAES-OAEP(SHA-256, MGF1-SHA-256) to an RSA TPM key with a label that
 * includes its zero byte. */
static inline void bb_oaep(const TPMT_PUBLIC *key, const char *label, const uint8_t *in,
                           size_t n, bb_buf *out)
{
    uint32_t e = key->parameters.rsaDetail.exponent != 0 ? key->parameters.rsaDetail.exponent
                                                         : 65537;
    BIGNUM *bn_n = BN_bin2bn(key->unique.rsa.buffer, key->unique.rsa.size, NULL);
    BIGNUM *bn_e = BN_new();
    BN_set_word(bn_e, e);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n);
    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e);
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *fc = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    EVP_PKEY *pk = NULL;
    assert_int_equal(EVP_PKEY_fromdata_init(fc), 1);
    assert_int_equal(EVP_PKEY_fromdata(fc, &pk, EVP_PKEY_PUBLIC_KEY, params), 1);
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(pk, NULL);
    assert_int_equal(EVP_PKEY_encrypt_init(c), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha256()), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha256()), 1);
    size_t ll = strlen(label) + 1;
    unsigned char *lab = OPENSSL_malloc(ll);
    memcpy(lab, label, ll);
    assert_int_equal(EVP_PKEY_CTX_set0_rsa_oaep_label(c, lab, (int)ll), 1);
    uint8_t ct[512];
    size_t cl = sizeof ct;
    assert_int_equal(EVP_PKEY_encrypt(c, ct, &cl, in, n), 1);
    bb_tpm2b(out, ct, cl);
    EVP_PKEY_CTX_free(c);
    EVP_PKEY_free(pk);
    EVP_PKEY_CTX_free(fc);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
}

/* The identity key's public area for K and V (§9.2 step 1). */
static inline void bb_identity_public(const uint8_t k[32], const uint8_t v[32],
                                      const uint8_t *policy, size_t policy_len, TPMT_PUBLIC *p)
{
    memset(p, 0, sizeof *p);
    p->type = TPM2_ALG_KEYEDHASH;
    p->nameAlg = TPM2_ALG_SHA256;
    p->objectAttributes = 0x00040440; /* sign, userWithAuth, noDA */
    p->authPolicy.size = (UINT16)policy_len;
    if (policy_len > 0)
        memcpy(p->authPolicy.buffer, policy, policy_len);
    p->parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_HMAC;
    p->parameters.keyedHashDetail.scheme.details.hmac.hashAlg = TPM2_ALG_SHA256;
    uint8_t vk[64];
    memcpy(vk, v, 32);
    memcpy(vk + 32, k, 32);
    p->unique.keyedHash.size = 32;
    bb_sha256(vk, sizeof vk, p->unique.keyedHash.buffer);
}

/* The whole blob (§9.2), base64 into b64 (cap >= 4096). ek and srk are the
 * marshalled TPM2B_PUBLICs. */
static inline void bb_build(const uint8_t *ek_bytes, size_t ek_len, const uint8_t *srk_bytes,
                            size_t srk_len, const uint8_t k[32], char *b64)
{
    TPM2B_PUBLIC ek, srk;
    memset(&ek, 0, sizeof ek); /* the unmarshaller insists on zeroed sizes */
    memset(&srk, 0, sizeof srk);
    size_t off = 0;
    assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Unmarshal(ek_bytes, ek_len, &off, &ek), TSS2_RC_SUCCESS);
    off = 0;
    assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Unmarshal(srk_bytes, srk_len, &off, &srk),
                     TSS2_RC_SUCCESS);
    uint8_t v[32], w[16], s[32], c[32];
    assert_int_equal(RAND_bytes(v, 32), 1);
    assert_int_equal(RAND_bytes(w, 16), 1);
    assert_int_equal(RAND_bytes(s, 32), 1);
    assert_int_equal(RAND_bytes(c, 32), 1);

    /* 1: identity key, sensitive area */
    TPMT_PUBLIC idp;
    bb_identity_public(k, v, NULL, 0, &idp);
    uint8_t id_name[34], srk_name[34];
    bb_name(&idp, id_name);
    bb_name(&srk.publicArea, srk_name);
    bb_buf sens = {.n = 0}; /* TPM2B_SENSITIVE */
    {
        bb_buf t = {.n = 0};
        bb_put16(&t, TPM2_ALG_KEYEDHASH);
        bb_tpm2b(&t, NULL, 0); /* authValue */
        bb_tpm2b(&t, v, 32);   /* seedValue */
        bb_tpm2b(&t, k, 32);   /* sensitive */
        bb_tpm2b(&sens, t.b, t.n);
    }
    assert_int_equal(sens.n, 74);
    /* 2: inner wrapper */
    uint8_t integ[32];
    {
        bb_buf m = {.n = 0};
        bb_put(&m, sens.b, sens.n);
        bb_put(&m, id_name, 34);
        bb_sha256(m.b, m.n, integ);
    }
    bb_buf inner = {.n = 0};
    bb_tpm2b(&inner, integ, 32);
    bb_put(&inner, sens.b, sens.n);
    uint8_t enc_inner[256];
    bb_cfb(w, inner.b, inner.n, enc_inner);
    assert_int_equal(inner.n, 108);
    /* 3: outer wrapper to the SRK */
    bb_buf e4 = {.n = 0};
    bb_oaep(&srk.publicArea, "DUPLICATE", s, 32, &e4);
    uint8_t sym[16], hk[32], outer[32], dup[256];
    bb_kdfa(s, 32, "STORAGE", id_name, 34, NULL, 0, 128, sym);
    bb_cfb(sym, enc_inner, inner.n, dup);
    bb_kdfa(s, 32, "INTEGRITY", NULL, 0, NULL, 0, 256, hk);
    bb_hmac(hk, 32, dup, inner.n, id_name, 34, outer);
    bb_buf e3 = {.n = 0};
    {
        bb_buf t = {.n = 0};
        bb_tpm2b(&t, outer, 32);
        bb_put(&t, dup, inner.n);
        bb_tpm2b(&e3, t.b, t.n);
    }
    /* 4: credential carrying W, sealed to the EK, bound to the SRK's Name */
    bb_buf e2 = {.n = 0};
    bb_oaep(&ek.publicArea, "IDENTITY", c, 32, &e2);
    uint8_t wrapped[18], enc_id[18], hk2[32], ihmac[32];
    wrapped[0] = 0;
    wrapped[1] = 16;
    memcpy(wrapped + 2, w, 16);
    bb_kdfa(c, 32, "STORAGE", srk_name, 34, NULL, 0, 128, sym);
    bb_cfb(sym, wrapped, 18, enc_id);
    bb_kdfa(c, 32, "INTEGRITY", NULL, 0, NULL, 0, 256, hk2);
    bb_hmac(hk2, 32, enc_id, 18, srk_name, 34, ihmac);
    bb_buf e1 = {.n = 0};
    {
        bb_buf t = {.n = 0};
        bb_tpm2b(&t, ihmac, 32);
        bb_put(&t, enc_id, 18);
        bb_tpm2b(&e1, t.b, t.n);
    }
    /* 5 and 6 */
    bb_buf e5 = {.n = 0};
    {
        uint8_t m[256];
        size_t mo = 0;
        assert_int_equal(Tss2_MU_TPMT_PUBLIC_Marshal(&idp, m, sizeof m, &mo), TSS2_RC_SUCCESS);
        bb_tpm2b(&e5, m, mo);
    }
    uint8_t uri[7];
    bb_cfb(w, (const uint8_t *)"opendps", 7, uri);
    bb_buf all = {.n = 0};
    bb_put(&all, e1.b, e1.n);
    bb_put(&all, e2.b, e2.n);
    bb_put(&all, e3.b, e3.n);
    bb_put(&all, e4.b, e4.n);
    bb_put(&all, e5.b, e5.n);
    bb_tpm2b(&all, uri, 7);
    assert_int_equal(e1.n, 54);
    assert_int_equal(e3.n, 144);
    assert_int_equal(e5.n, 50);
    int n = EVP_EncodeBlock((unsigned char *)b64, all.b, (int)all.n);
    assert_true(n > 0);
}

#endif
