/* Pending TPM challenges (engine/tpm_challenges.c): matching a SAS token
 * against the live keys, one use per register, expiry and tombstones, the
 * per-registration and overall caps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/sas.h"
#include "engine/tpm_challenges.h"

#define TTL 300000

static dps_tpm_public srk; /* contents do not matter here */
static const uint8_t ek_digest[32] = {9, 9, 9};

static void key_of(uint8_t k[32], int n)
{
    memset(k, 0, 32);
    k[0] = (uint8_t)n;
    k[31] = 0x5a;
}

/* A parsed token for regid signed with key number n. */
static void token(dps_sas_token *t, const char *regid, int n)
{
    uint8_t k[32];
    key_of(k, n);
    char sr[200];
    snprintf(sr, sizeof sr, "scope/registrations/%s", regid);
    char *sig = dps_sas_signature(k, 32, sr, "1767225600");
    assert_non_null(sig);
    char text[800];
    /* sig is base64 and must be URL-encoded in the token. */
    char enc[200];
    size_t o = 0;
    for (const char *p = sig; *p; p++) {
        if (*p == '+' || *p == '/' || *p == '=')
            o += (size_t)snprintf(enc + o, sizeof enc - o, "%%%02X", (unsigned char)*p);
        else
            enc[o++] = *p;
    }
    enc[o] = '\0';
    free(sig);
    snprintf(text, sizeof text, "sr=%s&sig=%s&se=1767225600", sr, enc);
    assert_int_equal(dps_sas_parse(text, strlen(text), t), DPS_SAS_OK);
}

static void add(dps_tpm_challenges *t, const char *regkey, int n, int64_t now)
{
    uint8_t k[32];
    key_of(k, n);
    assert_int_equal(dps_tpm_challenges_add(t, regkey, k, ek_digest, &srk, now), 0);
}

static dps_tpm_ch_result check(dps_tpm_challenges *t, const char *regkey, int n, bool consume,
                               int64_t now)
{
    dps_sas_token tok;
    token(&tok, regkey, n);
    dps_tpm_challenge_info info;
    dps_tpm_ch_result r = dps_tpm_challenges_check(t, regkey, &tok, consume, now, &info);
    if (r == DPS_TPM_CH_MATCH)
        assert_memory_equal(info.ek_digest, ek_digest, 32);
    dps_sas_token_free(&tok);
    return r;
}

static void test_match_and_use(void **state)
{
    (void)state;
    dps_tpm_challenges *t = dps_tpm_challenges_new(TTL, 0);
    assert_non_null(t);
    assert_int_equal(check(t, "dev1", 1, true, 0), DPS_TPM_CH_NONE);
    assert_false(dps_tpm_challenges_known(t, "dev1", 0));
    add(t, "dev1", 1, 0);
    assert_true(dps_tpm_challenges_known(t, "dev1", 0));
    assert_false(dps_tpm_challenges_known(t, "dev2", 0));
    assert_int_equal(check(t, "dev1", 2, true, 10), DPS_TPM_CH_MISMATCH);
    /* A poll before the register: accepted, not used up. */
    assert_int_equal(check(t, "dev1", 1, false, 10), DPS_TPM_CH_MATCH);
    assert_int_equal(check(t, "dev1", 1, true, 20), DPS_TPM_CH_MATCH);
    /* A second register with the same key is a replay. */
    assert_int_equal(check(t, "dev1", 1, true, 30), DPS_TPM_CH_USED);
    /* Polls and lookups still pass until it expires. */
    assert_int_equal(check(t, "dev1", 1, false, 40), DPS_TPM_CH_MATCH);
    /* Another registration's challenge does not answer for this one. */
    add(t, "dev2", 3, 50);
    assert_int_equal(check(t, "dev1", 3, false, 60), DPS_TPM_CH_MISMATCH);
    dps_tpm_challenges_free(&t);
    assert_null(t);
}

static void test_expiry_and_tombstones(void **state)
{
    (void)state;
    dps_tpm_challenges *t = dps_tpm_challenges_new(TTL, 0);
    add(t, "dev1", 1, 1000);
    add(t, "dev1", 2, 2000);
    assert_int_equal(check(t, "dev1", 1, false, 1000 + TTL - 1), DPS_TPM_CH_MATCH);
    /* Key 1 is wiped at its lifetime; key 2 is still alive. */
    assert_int_equal(check(t, "dev1", 1, false, 1000 + TTL), DPS_TPM_CH_EXPIRED);
    assert_int_equal(check(t, "dev1", 2, true, 1000 + TTL), DPS_TPM_CH_MATCH);
    assert_int_equal(check(t, "dev1", 2, false, 2000 + TTL), DPS_TPM_CH_EXPIRED);
    assert_int_equal(dps_tpm_challenges_count(t, 2000 + TTL), 2);
    assert_true(dps_tpm_challenges_known(t, "dev1", 2000 + TTL));
    /* Tombstones go after a second lifetime. */
    assert_int_equal(dps_tpm_challenges_count(t, 1000 + 2 * TTL), 1);
    assert_int_equal(dps_tpm_challenges_count(t, 2000 + 2 * TTL), 0);
    assert_int_equal(check(t, "dev1", 2, false, 2000 + 2 * TTL), DPS_TPM_CH_NONE);
    /* A new challenge after everything expired works. */
    add(t, "dev1", 5, 3000 + 2 * TTL);
    assert_int_equal(check(t, "dev1", 5, true, 3000 + 2 * TTL), DPS_TPM_CH_MATCH);
    dps_tpm_challenges_free(&t);
}

static void test_per_registration_cap(void **state)
{
    (void)state;
    dps_tpm_challenges *t = dps_tpm_challenges_new(TTL, 0);
    for (int i = 1; i <= DPS_TPM_CHALLENGES_PER_ID + 1; i++)
        add(t, "dev1", i, i);
    /* The oldest made room for the newest. */
    assert_int_equal(check(t, "dev1", 1, false, 100), DPS_TPM_CH_MISMATCH);
    for (int i = 2; i <= DPS_TPM_CHALLENGES_PER_ID + 1; i++)
        assert_int_equal(check(t, "dev1", i, false, 100), DPS_TPM_CH_MATCH);
    assert_int_equal(dps_tpm_challenges_count(t, 100), DPS_TPM_CHALLENGES_PER_ID);
    dps_tpm_challenges_free(&t);
}

static void test_overall_cap(void **state)
{
    (void)state;
    dps_tpm_challenges *t = dps_tpm_challenges_new(TTL, 3);
    add(t, "a", 1, 0);
    add(t, "b", 2, 1);
    add(t, "c", 3, 2);
    add(t, "d", 4, 3);
    assert_int_equal(dps_tpm_challenges_count(t, 4), 3);
    assert_int_equal(check(t, "a", 1, false, 4), DPS_TPM_CH_NONE);
    assert_int_equal(check(t, "d", 4, false, 4), DPS_TPM_CH_MATCH);
    /* Expiry still works after evictions moved the live cursor. */
    assert_int_equal(check(t, "b", 2, false, 1 + TTL), DPS_TPM_CH_EXPIRED);
    assert_int_equal(check(t, "d", 4, false, 1 + TTL), DPS_TPM_CH_MATCH);
    assert_int_equal(check(t, "d", 4, false, 3 + TTL), DPS_TPM_CH_EXPIRED);
    assert_int_equal(dps_tpm_challenges_count(t, 3 + 2 * TTL), 0);
    dps_tpm_challenges_free(&t);
}

static void test_many_registrations(void **state)
{
    (void)state;
    /* Enough IDs to share buckets: every one still finds its own key. */
    dps_tpm_challenges *t = dps_tpm_challenges_new(TTL, 0);
    char id[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(id, sizeof id, "device-%d", i);
        add(t, id, i % 250, i);
    }
    for (int i = 0; i < 3000; i += 97) {
        snprintf(id, sizeof id, "device-%d", i);
        assert_int_equal(check(t, id, i % 250, true, 5000), DPS_TPM_CH_MATCH);
        assert_int_equal(check(t, id, i % 250, true, 5000), DPS_TPM_CH_USED);
    }
    assert_null(dps_tpm_challenges_new(0, 0));
    dps_tpm_challenges_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_and_use),
        cmocka_unit_test(test_expiry_and_tombstones),
        cmocka_unit_test(test_per_registration_cap),
        cmocka_unit_test(test_overall_cap),
        cmocka_unit_test(test_many_registrations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
