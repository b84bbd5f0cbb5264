/* The TPM credential against a real software TPM: each test starts its own
 * swtpm (fresh state, free loopback ports) and stops it. EK and SRK are
 * created with the standard templates and persisted (reopening finds them);
 * the registration ID is the EK's; an activation blob built in software
 * (tpm_blob_builder.h, checked against tpm.md §9.4's known answers) goes
 * through ActivateCredential, Import, Load and EvictControl, after which the
 * TPM's HMAC equals a software HMAC with the key the "server" chose, plain
 * and as a sequence, and the SAS token is byte for byte dps_sas_write()'s.
 * A second blob replaces the key; a blob for another EK is refused and
 * leaves the key alone. swtpm missing = failure (scripts/setup.sh installs
 * it). */
#include "device_test.h"

#include "swtpm_fixture.h"
#include "tpm_blob_builder.h"

static swtpm_fx sw;
static dps_tpm tpm;
static char log_text[8192];

static void capture_log(void *ctx, dps_device_log_level level, const char *msg)
{
    (void)ctx;
    (void)level;
    strncat(log_text, msg, sizeof log_text - strlen(log_text) - 2);
    strcat(log_text, "\n");
}

static const dps_device_logger logger = {capture_log, NULL, DPS_DEVICE_LOG_DEBUG};

static int start(void **state)
{
    (void)state;
    setenv("TSS2_LOG", "all+none", 0); /* tpm2-tss's own stderr lines, unless asked for */
    swtpm_start(&sw);
    memset(&tpm, 0, sizeof tpm);
    log_text[0] = '\0';
    return 0;
}

static int stop(void **state)
{
    (void)state;
    dps_tpm_close(&tpm);
    swtpm_stop(&sw);
    return 0;
}

static void hex(const char *h, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        assert_int_equal(sscanf(h + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
}

static void assert_hex(const uint8_t *got, const char *want)
{
    uint8_t w[128];
    size_t n = strlen(want) / 2;
    hex(want, w, n);
    assert_memory_equal(got, w, n);
}

/* ---- The test's blob builder meets tpm.md §9.4 ---------------------------- */

static void test_builder_known_answers(void **state)
{
    (void)state;
    uint8_t key[32], k[32], v[32], out[32];
    for (int i = 0; i < 32; i++) {
        key[i] = k[i] = (uint8_t)i;
        v[i] = (uint8_t)(0x20 + i);
    }
    uint8_t ctx[34] = {0x00, 0x0b};
    memset(ctx + 2, 0x11, 32);
    bb_kdfa(key, 32, "STORAGE", ctx, 34, NULL, 0, 128, out);
    assert_hex(out, "4b6977df7782a6d0312cc5f537456667");
    bb_kdfa(key, 32, "INTEGRITY", NULL, 0, NULL, 0, 256, out);
    assert_hex(out, "bacf689f634ece301e1f1b15b072d9c87db6a69585db42b1a0cb8f73ebe2692e");
    uint8_t policy[32];
    hex("bef56b8c1cc84e11edd717528d2cd99356bd2bbf8f015209c3f84aeeaba8e8a2", policy, 32);
    TPMT_PUBLIC p;
    bb_identity_public(k, v, policy, 32, &p);
    assert_hex(p.unique.keyedHash.buffer,
               "84e4bd6ca2af96412fdc62fe44d4e9709cdc31933081a62486a48a154b582d53");
    uint8_t m[128];
    size_t off = 0;
    assert_int_equal(Tss2_MU_TPMT_PUBLIC_Marshal(&p, m, sizeof m, &off), TSS2_RC_SUCCESS);
    assert_int_equal(off, 80);
    assert_hex(m, "0008000b000404400020bef56b8c1cc84e11edd717528d2cd99356bd2bbf8f015209c3f84aeeaba8"
                  "e8a20005000b002084e4bd6ca2af96412fdc62fe44d4e9709cdc31933081a62486a48a154b582d53");
    uint8_t name[34];
    bb_name(&p, name);
    assert_hex(name, "000b71fa08d0f7d66be8b67e24810cfbbb8a633af10e1eddc0e2b926ecd1c21d2db1");
}

/* ---- Keys ------------------------------------------------------------------- */

static void test_keys_created_and_persisted(void **state)
{
    (void)state;
    assert_int_equal(dps_tpm_open(&tpm, sw.tcti, &logger), DPS_OK);
    assert_non_null(strstr(log_text, "creating the endorsement key"));
    assert_non_null(strstr(log_text, "creating the storage root key"));
    assert_true(dps_credential_is_tpm(&tpm.base));
    assert_false(dps_tpm_has_key(&tpm));

    /* tpm.md §3.2: sizes and the template's fixed prefix */
    size_t ek_len = 0;
    const uint8_t *ek = dps_tpm_endorsement_key_bytes(&tpm, &ek_len);
    assert_int_equal(ek_len, 316);
    assert_int_equal(strlen(dps_tpm_endorsement_key(&tpm)), 424);
    assert_int_equal(strncmp(dps_tpm_endorsement_key(&tpm),
                             "AToAAQALAAMAsgAgg3GXZ0SEs/gakMyNRqXXJP1S124GUgtk8qHaGzMUaaoABgCAAEMAEAgAAAAAAAEA",
                             80),
                     0);
    assert_int_equal(strlen(dps_tpm_storage_root_key(&tpm)), 380);
    uint8_t srk[400];
    size_t srk_len = 0;
    const char *srk_b64 = dps_tpm_storage_root_key(&tpm);
    assert_int_equal(dps_base64_decode(srk_b64, strlen(srk_b64), srk, sizeof srk, &srk_len), DPS_OK);
    assert_int_equal(srk_len, 284);
    assert_hex(srk, "011a0001000b00030472");

    /* the registration ID is the EK's */
    char id[64];
    size_t n = 0;
    assert_int_equal(dps_tpm_registration_id_derive(ek, ek_len, id, sizeof id, &n), DPS_OK);
    assert_string_equal(dps_tpm_registration_id(&tpm), id);
    assert_string_equal(tpm.base.ops->identity(&tpm.base), id);
    const char *ek_b64 = NULL, *srk2 = NULL;
    assert_int_equal(tpm.base.ops->tpm_keys(&tpm.base, &ek_b64, &srk2), DPS_OK);
    assert_string_equal(ek_b64, dps_tpm_endorsement_key(&tpm));
    assert_string_equal(srk2, srk_b64);

    /* persisted: a second open finds the same keys and creates nothing */
    char ek_before[DPS_TPM_MAX_PUBLIC_B64 + 1], srk_before[DPS_TPM_MAX_PUBLIC_B64 + 1];
    strcpy(ek_before, dps_tpm_endorsement_key(&tpm));
    strcpy(srk_before, srk_b64);
    dps_tpm_close(&tpm);
    log_text[0] = '\0';
    assert_int_equal(dps_tpm_open(&tpm, sw.tcti, &logger), DPS_OK);
    assert_null(strstr(log_text, "creating"));
    assert_string_equal(dps_tpm_endorsement_key(&tpm), ek_before);
    assert_string_equal(dps_tpm_storage_root_key(&tpm), srk_before);
    assert_string_equal(dps_tpm_registration_id(&tpm), id);

    /* no key yet: nothing to sign with */
    char sas[512];
    assert_int_equal(tpm.base.ops->sign_sas(&tpm.base, "s/registrations/r", "registration", 1,
                                            sas, sizeof sas, &n),
                     DPS_E_UNSUPPORTED);
    uint8_t mac[32];
    assert_int_equal(dps_tpm_hmac(&tpm, "x", 1, mac), DPS_E_UNSUPPORTED);
}

static void test_no_tpm(void **state)
{
    (void)state;
    /* the swtpm of this test is up; a port next to nothing is not */
    char tcti[96];
    int port = swtpm_free_port_pair();
    snprintf(tcti, sizeof tcti, "swtpm:host=127.0.0.1,port=%d", port);
    dps_tpm t;
    memset(&t, 0x5A, sizeof t);
    assert_int_equal(dps_tpm_open(&t, tcti, &logger), DPS_E_CONNECT);
    assert_int_equal(((unsigned char *)&t)[0], 0x5A); /* untouched */
    assert_non_null(strstr(log_text, "no TPM reachable"));
    char long_tcti[DPS_TPM_MAX_TCTI + 2];
    memset(long_tcti, 'a', sizeof long_tcti - 1);
    long_tcti[sizeof long_tcti - 1] = '\0';
    assert_int_equal(dps_tpm_open(&t, long_tcti, NULL), DPS_E_INVALID);
}

/* ---- Activation and signing ---------------------------------------------- */

static void blob_for(const dps_tpm *t, const uint8_t k[32], char *b64)
{
    size_t ek_len = 0;
    const uint8_t *ek = dps_tpm_endorsement_key_bytes(t, &ek_len);
    uint8_t srk[400];
    size_t srk_len = 0;
    const char *s = dps_tpm_storage_root_key(t);
    assert_int_equal(dps_base64_decode(s, strlen(s), srk, sizeof srk, &srk_len), DPS_OK);
    bb_build(ek, ek_len, srk, srk_len, k, b64);
}

static void assert_tpm_hmac(dps_tpm *t, const uint8_t k[32], const void *data, size_t len)
{
    uint8_t got[32], want[32];
    unsigned int wl = 0;
    assert_int_equal(dps_tpm_hmac(t, data, len, got), DPS_OK);
    assert_non_null(HMAC(EVP_sha256(), k, 32, data, len, want, &wl));
    assert_memory_equal(got, want, 32);
}

static void test_activate_and_sign(void **state)
{
    (void)state;
    assert_int_equal(dps_tpm_open(&tpm, sw.tcti, &logger), DPS_OK);
    static char blob[4096];
    uint8_t k1[32], k2[32];
    assert_int_equal(RAND_bytes(k1, 32), 1);
    assert_int_equal(RAND_bytes(k2, 32), 1);

    blob_for(&tpm, k1, blob);
    assert_int_equal(tpm.base.ops->tpm_activate(&tpm.base, blob), DPS_OK);
    assert_true(dps_tpm_has_key(&tpm));
    assert_tpm_hmac(&tpm, k1, "hello", 5);
    assert_tpm_hmac(&tpm, k1, "", 0);
    static uint8_t big[3000]; /* over TPM2_MAX_DIGEST_BUFFER: an HMAC sequence */
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 7);
    assert_tpm_hmac(&tpm, k1, big, sizeof big);
    assert_tpm_hmac(&tpm, k1, big, 1024);
    assert_tpm_hmac(&tpm, k1, big, 1025);

    /* the SAS: byte for byte the software token with the same key */
    const char *sr = "0ne000AB12C/registrations/tpmreg";
    char got[512], want[512];
    size_t gl = 0, wl = 0;
    assert_int_equal(tpm.base.ops->sign_sas(&tpm.base, sr, "registration", 1900000000, got,
                                            sizeof got, &gl),
                     DPS_OK);
    assert_int_equal(dps_sas_write(k1, 32, sr, "registration", 1900000000, want, sizeof want, &wl),
                     DPS_OK);
    assert_string_equal(got, want);
    assert_int_equal(gl, wl);
    assert_int_equal(tpm.base.ops->sign_sas(&tpm.base, "hub1.opendps.local/devices/d", NULL,
                                            1900000000, got, sizeof got, &gl),
                     DPS_OK);
    assert_int_equal(dps_sas_write(k1, 32, "hub1.opendps.local/devices/d", NULL, 1900000000, want,
                                   sizeof want, &wl),
                     DPS_OK);
    assert_string_equal(got, want);
    /* the builder contract: one byte short writes nothing and says the size */
    memset(got, 0x5A, sizeof got);
    assert_int_equal(tpm.base.ops->sign_sas(&tpm.base, "hub1.opendps.local/devices/d", NULL,
                                            1900000000, got, wl, &gl),
                     DPS_E_NO_SPACE);
    assert_int_equal(gl, wl + 1);
    assert_int_equal((unsigned char)got[0], 0x5A);

    /* the second blob (the hub key) replaces the first; several rounds show
     * that nothing is left behind in the TPM (swtpm has no resource manager
     * and only a few object slots) */
    for (int round = 0; round < 4; round++) {
        const uint8_t *k = round % 2 == 0 ? k2 : k1;
        blob_for(&tpm, k, blob);
        assert_int_equal(dps_tpm_activate(&tpm, blob), DPS_OK);
        assert_tpm_hmac(&tpm, k, "hello", 5);
    }

    /* the key is persistent: a new connection signs with it */
    dps_tpm_close(&tpm);
    assert_int_equal(dps_tpm_open(&tpm, sw.tcti, &logger), DPS_OK);
    assert_true(dps_tpm_has_key(&tpm));
    assert_tpm_hmac(&tpm, k1, "after reopening", 15);
    assert_null(strstr(log_text, "sig=")); /* no token reached the log */
}

/* A blob made for another EK: ActivateCredential refuses, the key stays. */
static void test_foreign_blob_refused(void **state)
{
    (void)state;
    assert_int_equal(dps_tpm_open(&tpm, sw.tcti, &logger), DPS_OK);
    static char blob[4096];
    uint8_t k1[32], k2[32];
    assert_int_equal(RAND_bytes(k1, 32), 1);
    assert_int_equal(RAND_bytes(k2, 32), 1);
    blob_for(&tpm, k1, blob);
    assert_int_equal(dps_tpm_activate(&tpm, blob), DPS_OK);

    /* another EK: this TPM's template with a fresh OpenSSL modulus */
    size_t ek_len = 0;
    const uint8_t *ek = dps_tpm_endorsement_key_bytes(&tpm, &ek_len);
    TPM2B_PUBLIC other;
    memset(&other, 0, sizeof other);
    size_t off = 0;
    assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Unmarshal(ek, ek_len, &off, &other), TSS2_RC_SUCCESS);
    EVP_PKEY *pk = EVP_RSA_gen(2048);
    assert_non_null(pk);
    BIGNUM *n = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &n), 1);
    assert_int_equal(BN_bn2binpad(n, other.publicArea.unique.rsa.buffer, 256), 256);
    BN_free(n);
    EVP_PKEY_free(pk);
    uint8_t other_ek[400];
    off = 0;
    assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Marshal(&other, other_ek, sizeof other_ek, &off),
                     TSS2_RC_SUCCESS);
    uint8_t srk[400];
    size_t srk_len = 0;
    const char *s = dps_tpm_storage_root_key(&tpm);
    assert_int_equal(dps_base64_decode(s, strlen(s), srk, sizeof srk, &srk_len), DPS_OK);
    bb_build(other_ek, off, srk, srk_len, k2, blob);
    log_text[0] = '\0';
    assert_int_equal(dps_tpm_activate(&tpm, blob), DPS_E_TPM);
    assert_non_null(strstr(log_text, "ActivateCredential"));
    assert_tpm_hmac(&tpm, k1, "still k1", 8);

    /* a blob that is not one */
    assert_int_equal(dps_tpm_activate(&tpm, "QUJD"), DPS_E_INVALID);
    assert_int_equal(dps_tpm_activate(&tpm, "not base64"), DPS_E_INVALID);
    assert_tpm_hmac(&tpm, k1, "still k1", 8);
    /* and the connection is still good for a proper one */
    blob_for(&tpm, k2, blob);
    assert_int_equal(dps_tpm_activate(&tpm, blob), DPS_OK);
    assert_tpm_hmac(&tpm, k2, "now k2", 6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builder_known_answers),
        cmocka_unit_test_setup_teardown(test_keys_created_and_persisted, start, stop),
        cmocka_unit_test_setup_teardown(test_no_tpm, start, stop),
        cmocka_unit_test_setup_teardown(test_activate_and_sign, start, stop),
        cmocka_unit_test_setup_teardown(test_foreign_blob_refused, start, stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
