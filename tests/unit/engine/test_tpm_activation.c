/* The TPM activation blob (engine/tpm_activation.c): the known answers of
 * tpm.md §9.4, the element sizes of §6, and round trips through a TPM
 * played in software with the private keys (tpm_soft.h): ActivateCredential
 * yields W, Import and Load accept the duplicate, and the key inside is the
 * one the server chose. Tampering with any element is caught by the same
 * checks a TPM makes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "common/log.h"
#include "tpm_soft.h"

static void hex(const char *h, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        sscanf(h + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
}

static void seq(uint8_t *out, size_t n, uint8_t first)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(first + i);
}

/* PolicyCommandCode(TPM_CC_Duplicate), tpm.md §3.3. */
static const char dup_policy_hex[] =
    "bef56b8c1cc84e11edd717528d2cd99356bd2bbf8f015209c3f84aeeaba8e8a2";

/* ---- §9.4 known answers ---------------------------------------------------- */

static void test_kdfa_known_answers(void **state)
{
    (void)state;
    uint8_t key[32], ctx[34], out[32], want[32];
    seq(key, 32, 0);
    ctx[0] = 0x00;
    ctx[1] = 0x0b;
    memset(ctx + 2, 0x11, 32);
    assert_int_equal(dps_tpm_kdfa_sha256(key, 32, "STORAGE", ctx, 34, NULL, 0, 128, out), 0);
    hex("4b6977df7782a6d0312cc5f537456667", want, 16);
    assert_memory_equal(out, want, 16);
    assert_int_equal(dps_tpm_kdfa_sha256(key, 32, "INTEGRITY", NULL, 0, NULL, 0, 256, out), 0);
    hex("bacf689f634ece301e1f1b15b072d9c87db6a69585db42b1a0cb8f73ebe2692e", want, 32);
    assert_memory_equal(out, want, 32);
    /* More than one HMAC block: the counter goes on (first block equal). */
    uint8_t longer[64];
    assert_int_equal(dps_tpm_kdfa_sha256(key, 32, "INTEGRITY", NULL, 0, NULL, 0, 512, longer), 0);
    assert_memory_not_equal(longer, longer + 32, 32);
    assert_int_equal(dps_tpm_kdfa_sha256(key, 32, "X", NULL, 0, NULL, 0, 7, out), -1);
}

static void test_identity_public_and_name(void **state)
{
    (void)state;
    uint8_t k[32], v[32], policy[32], area[128], name[34], want[80];
    seq(k, 32, 0x00);
    seq(v, 32, 0x20);
    hex(dup_policy_hex, policy, 32);
    size_t n = dps_tpm_identity_public(v, k, policy, 32, area, sizeof area);
    assert_int_equal(n, 80);
    hex("0008000b000404400020bef56b8c1cc84e11edd717528d2cd99356bd2bbf8f015209c3f84aeeaba8e8a2"
        "0005000b002084e4bd6ca2af96412fdc62fe44d4e9709cdc31933081a62486a48a154b582d53",
        want, 80);
    assert_memory_equal(area, want, 80);
    assert_int_equal(dps_tpm_name_sha256(area, n, name), 0);
    hex("000b71fa08d0f7d66be8b67e24810cfbbb8a633af10e1eddc0e2b926ecd1c21d2db1", want, 34);
    assert_memory_equal(name, want, 34);
    /* The empty policy opendps sends: 48 bytes. */
    assert_int_equal(dps_tpm_identity_public(v, k, NULL, 0, area, sizeof area), 48);
    /* Too small a buffer, too long a policy. */
    assert_int_equal(dps_tpm_identity_public(v, k, policy, 32, area, 79), 0);
    uint8_t big[33] = {0};
    assert_int_equal(dps_tpm_identity_public(v, k, big, 33, area, sizeof area), 0);
}

/* ---- round trips ------------------------------------------------------------ */

typedef struct {
    soft_key ek, srk;
} keys;

static int keys_setup(void **state)
{
    dps_log_set_level(DPS_LOG_ERROR);
    keys *k = calloc(1, sizeof *k);
    assert_non_null(k);
    assert_int_equal(soft_key_make(&k->ek, true, 2048, 0x0043), 0);
    assert_int_equal(soft_key_make(&k->srk, false, 2048, 0x0043), 0);
    /* The templates of tpm.md §3.2. */
    assert_int_equal(k->ek.publen, 316);
    assert_int_equal(k->srk.publen, 284);
    assert_int_equal(strlen(k->ek.b64), 424);
    assert_int_equal(strlen(k->srk.b64), 380);
    *state = k;
    return 0;
}

static int keys_teardown(void **state)
{
    keys *k = *state;
    soft_key_free(&k->ek);
    soft_key_free(&k->srk);
    free(k);
    return 0;
}

static void test_round_trip_known_inputs(void **state)
{
    keys *k = *state;
    uint8_t key[32], policy[32];
    seq(key, 32, 0x00);
    hex(dup_policy_hex, policy, 32);
    dps_tpm_activation_inputs in;
    memset(&in, 0, sizeof in);
    seq(in.seed_value, 32, 0x20);
    seq(in.inner_key, 16, 0x40);
    seq(in.dup_seed, 32, 0x60);
    seq(in.cred_seed, 32, 0x80);
    in.auth_policy = policy;
    in.auth_policy_len = 32;
    uint8_t *blob = NULL;
    size_t len = 0;
    char err[200] = "";
    assert_int_equal(dps_tpm_activation_build_with(&k->ek.parsed, &k->srk.parsed, key, &in,
                                                   &blob, &len, err, sizeof err),
                     0);
    soft_result r;
    if (soft_tpm_open(&k->ek, &k->srk, blob, len, &r) != 0)
        fail_msg("software TPM refused the blob: %s", r.why);
    /* §6 sizes with the Duplicate policy: 54, 258, 144, 258, 82, 2 + 7. */
    assert_int_equal(r.e[0].n, 52);
    assert_int_equal(r.e[1].n, 256);
    assert_int_equal(r.e[2].n, 142);
    assert_int_equal(r.e[3].n, 256);
    assert_int_equal(r.e[4].n, 80);
    assert_int_equal(r.e[5].n, 7);
    assert_int_equal(len, 54 + 258 + 144 + 258 + 82 + 9);
    assert_memory_equal(r.w, in.inner_key, 16);
    assert_memory_equal(r.key, key, 32);
    assert_memory_equal(r.seed_value, in.seed_value, 32);
    /* §9.4: innerIntegrity of this K/V with an empty authValue. */
    uint8_t want[32];
    hex("fce79661a61941f3521cf6135596d6f17b417d246dc6e71144d390292bd3e583", want, 32);
    assert_memory_equal(r.inner_integrity, want, 32);
    assert_string_equal(r.element6, "opendps");
    free(blob);
}

static void test_round_trip_random(void **state)
{
    keys *k = *state;
    for (int i = 0; i < 3; i++) {
        uint8_t key[32];
        seq(key, 32, (uint8_t)(0xA0 + i));
        uint8_t *blob = NULL;
        size_t len = 0;
        char err[200] = "";
        assert_int_equal(
            dps_tpm_activation_build(&k->ek.parsed, &k->srk.parsed, key, &blob, &len, err,
                                     sizeof err),
            0);
        /* opendps's blob: empty policy, 773 bytes (docs/internals/tpm.md). */
        assert_int_equal(len, 773);
        soft_result r;
        if (soft_tpm_open(&k->ek, &k->srk, blob, len, &r) != 0)
            fail_msg("software TPM refused the blob: %s", r.why);
        assert_memory_equal(r.key, key, 32);
        assert_int_equal(r.identity_public_len, 48);
        assert_int_equal(r.identity_public[8], 0); /* authPolicy size 0 */
        assert_int_equal(r.identity_public[9], 0);
        free(blob);
    }
}

/* Each element flipped in one byte: the software TPM refuses, at the check
 * a TPM would fail. */
static void test_tamper_detected(void **state)
{
    keys *k = *state;
    uint8_t key[32];
    seq(key, 32, 7);
    uint8_t *blob = NULL;
    size_t len = 0;
    char err[200] = "";
    assert_int_equal(dps_tpm_activation_build(&k->ek.parsed, &k->srk.parsed, key, &blob, &len,
                                              err, sizeof err),
                     0);
    /* Offsets inside elements 1 (encIdentity), 2, 3 (dupSensitive), 4, 5
     * (unique). */
    const size_t at[] = {2 + 40, 54 + 100, 54 + 258 + 2 + 60, 54 + 258 + 144 + 50,
                         54 + 258 + 144 + 258 + 2 + 30};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        blob[at[i]] ^= 0x01;
        soft_result r;
        assert_int_equal(soft_tpm_open(&k->ek, &k->srk, blob, len, &r), -1);
        blob[at[i]] ^= 0x01;
    }
    soft_result r;
    assert_int_equal(soft_tpm_open(&k->ek, &k->srk, blob, len, &r), 0);
    /* Another TPM (another EK, or another SRK) cannot open it. */
    soft_key other;
    assert_int_equal(soft_key_make(&other, true, 2048, 0x0043), 0);
    assert_int_equal(soft_tpm_open(&other, &k->srk, blob, len, &r), -1);
    assert_int_equal(soft_tpm_open(&k->ek, &other, blob, len, &r), -1);
    soft_key_free(&other);
    free(blob);
}

/* A credential bound to one SRK fails the HMAC over another SRK's Name:
 * the device cannot redirect the key to a parent of its choosing. */
static void test_bound_to_srk_name(void **state)
{
    keys *k = *state;
    soft_key srk2;
    assert_int_equal(soft_key_make(&srk2, false, 2048, 0x0043), 0);
    uint8_t key[32] = {1};
    uint8_t *blob = NULL;
    size_t len = 0;
    char err[200] = "";
    assert_int_equal(dps_tpm_activation_build(&k->ek.parsed, &srk2.parsed, key, &blob, &len,
                                              err, sizeof err),
                     0);
    soft_result r;
    assert_int_equal(soft_tpm_open(&k->ek, &srk2, blob, len, &r), 0);
    /* The same private key under another template: same modulus, other
     * Name; ActivateCredential refuses. */
    soft_key alias = srk2;
    alias.parsed.area[4] ^= 0x01; /* an attribute bit */
    assert_int_equal(soft_tpm_open(&k->ek, &alias, blob, len, &r), -1);
    assert_non_null(strstr(r.why, "integrityHMAC"));
    free(blob);
    soft_key_free(&srk2);
}

/* ---- keys the construction refuses -------------------------------------------- */

static void test_check_key(void **state)
{
    keys *k = *state;
    char err[200] = "";
    assert_int_equal(dps_tpm_activation_check_key(&k->ek.parsed, "endorsement key", err,
                                                  sizeof err),
                     0);
    assert_int_equal(dps_tpm_activation_check_key(&k->srk.parsed, "storage root key", err,
                                                  sizeof err),
                     0);
    /* Another symmetric mode (CTR 0x0040). */
    soft_key ctr;
    assert_int_equal(soft_key_make(&ctr, false, 2048, 0x0040), 0);
    assert_int_equal(dps_tpm_activation_check_key(&ctr.parsed, "storage root key", err,
                                                  sizeof err),
                     -1);
    assert_non_null(strstr(err, "AES-128-CFB"));
    uint8_t *blob = NULL, key[32] = {0};
    size_t len = 0;
    assert_int_equal(dps_tpm_activation_build(&k->ek.parsed, &ctr.parsed, key, &blob, &len, err,
                                              sizeof err),
                     -1);
    assert_null(blob);
    soft_key_free(&ctr);
    /* RSA-3072. */
    soft_key big;
    assert_int_equal(soft_key_make(&big, true, 3072, 0x0043), 0);
    assert_int_equal(
        dps_tpm_activation_check_key(&big.parsed, "endorsement key", err, sizeof err), -1);
    assert_non_null(strstr(err, "RSA-2048"));
    soft_key_free(&big);
    /* nameAlg SHA-1, not restricted. */
    dps_tpm_public p = k->srk.parsed;
    p.area[3] = 0x04;
    assert_int_equal(dps_tpm_activation_check_key(&p, "storage root key", err, sizeof err), -1);
    assert_non_null(strstr(err, "nameAlg"));
    p = k->srk.parsed;
    p.area[5] = 0x02; /* attributes 0x00020472: decrypt without restricted */
    assert_int_equal(dps_tpm_activation_check_key(&p, "storage root key", err, sizeof err), -1);
    assert_non_null(strstr(err, "restricted"));
    /* An ECC key. */
    p = k->srk.parsed;
    p.area[1] = 0x23;
    assert_int_equal(dps_tpm_activation_check_key(&p, "storage root key", err, sizeof err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kdfa_known_answers),
        cmocka_unit_test(test_identity_public_and_name),
        cmocka_unit_test_setup_teardown(test_round_trip_known_inputs, keys_setup, keys_teardown),
        cmocka_unit_test_setup_teardown(test_round_trip_random, keys_setup, keys_teardown),
        cmocka_unit_test_setup_teardown(test_tamper_detected, keys_setup, keys_teardown),
        cmocka_unit_test_setup_teardown(test_bound_to_srk_name, keys_setup, keys_teardown),
        cmocka_unit_test_setup_teardown(test_check_key, keys_setup, keys_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
