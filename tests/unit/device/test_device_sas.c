/* SAS tokens and symmetric keys of the device core: the test vectors of
 * device-api.md §8.5 and §9 and hub.md §3.2, agreement with the daemons'
 * allocating builders (common/sas.h), strict base64, and the builder
 * contract (exact fit, one byte short, size query). */
#include "device_test.h"

#include "common/sas.h"

#define DEVICE_KEY "i0zgJJQIisMn48jO9KzXjzmFC/Zmqh1rCMPQc2ibKwY="
#define GROUP_KEY "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw=="
#define EXPIRY 1767225600

static void device_key(uint8_t key[32])
{
    size_t n = 0;
    assert_int_equal(dps_base64_decode(DEVICE_KEY, strlen(DEVICE_KEY), key, 32, &n), DPS_OK);
    assert_int_equal(n, 32);
}

static void test_signature_vectors(void **state)
{
    (void)state;
    uint8_t key[32];
    device_key(key);
    const struct {
        const char *sr;
        const char *sig;
    } v[] = {
        /* device-api.md §8.5: the three encodings sign differently */
        {"0ne000AB12C%2fregistrations%2fsensor-0001", "DXg0SkbXhXQjBAbNUnrLwUKZd7v/g9fTYNSKb1RSYqA="},
        {"0ne000AB12C%2Fregistrations%2Fsensor-0001", "3gwgdq9RR21kfB8B2rGI2JDF6xWhKRXE2m0DOcxGKEg="},
        {"0ne000AB12C/registrations/sensor-0001", "5MaucSK0+g7sCnKxUPAlsHk06ciTGgK6Fcp+MqIok38="},
        /* hub.md §3.2 */
        {"hub1.example.net%2Fdevices%2Fsensor-0001", "/n+dCeGE27iXh+eEc023nejkOsuvFvFZ8KedwdItU3s="},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char sig[64];
        size_t n = 0;
        assert_int_equal(
            dps_sas_signature_write(key, sizeof key, v[i].sr, "1767225600", sig, sizeof sig, &n),
            DPS_OK);
        assert_string_equal(sig, v[i].sig);
        assert_int_equal(n, strlen(v[i].sig));
    }
}

typedef struct {
    const uint8_t *key;
    size_t key_len;
    const char *resource;
    const char *skn;
} sas_ctx;

static dps_result build_sas(void *ctx, char *out, size_t cap, size_t *out_len)
{
    const sas_ctx *c = ctx;
    return dps_sas_write(c->key, c->key_len, c->resource, c->skn, EXPIRY, out, cap, out_len);
}

static void test_device_token(void **state)
{
    (void)state;
    uint8_t key[32];
    device_key(key);
    sas_ctx c = {key, sizeof key, "0ne000AB12C/registrations/sensor-0001", "registration"};
    const char *expected = "SharedAccessSignature sr=0ne000AB12C%2Fregistrations%2Fsensor-0001"
                           "&sig=3gwgdq9RR21kfB8B2rGI2JDF6xWhKRXE2m0DOcxGKEg%3D&se=1767225600"
                           "&skn=registration";
    check_builder(build_sas, &c, expected);
    /* the daemons' allocating builder produces the very same token */
    char *ref = dps_sas_build(c.resource, DEVICE_KEY, "registration", EXPIRY);
    assert_non_null(ref);
    assert_string_equal(ref, expected);
    free(ref);
}

static void test_hub_token(void **state)
{
    (void)state;
    uint8_t key[32];
    device_key(key);
    char sr[128];
    size_t n = 0;
    assert_int_equal(dps_hub_sas_resource("hub1.example.net", "sensor-0001", sr, sizeof sr, &n),
                     DPS_OK);
    assert_string_equal(sr, "hub1.example.net/devices/sensor-0001");
    sas_ctx c = {key, sizeof key, sr, NULL};
    /* exactly the password of hub.md §8.4 (no skn on device tokens) */
    check_builder(build_sas, &c,
                  "SharedAccessSignature sr=hub1.example.net%2Fdevices%2Fsensor-0001"
                  "&sig=%2Fn%2BdCeGE27iXh%2BeEc023nejkOsuvFvFZ8KedwdItU3s%3D&se=1767225600");
}

static void test_sas_invalid(void **state)
{
    (void)state;
    uint8_t key[32] = {0};
    char out[256];
    size_t n = 99;
    assert_int_equal(dps_sas_write(key, sizeof key, "", NULL, EXPIRY, out, sizeof out, &n),
                     DPS_E_INVALID);
    assert_int_equal(n, 0);
    assert_int_equal(dps_sas_write(key, sizeof key, "a/b", "", EXPIRY, out, sizeof out, &n),
                     DPS_E_INVALID);
    assert_int_equal(dps_sas_write(key, sizeof key, "a/b", NULL, -1, out, sizeof out, &n),
                     DPS_E_INVALID);
    /* an audience too long to sign */
    char longsr[2000];
    memset(longsr, '/', sizeof longsr - 1);
    longsr[sizeof longsr - 1] = '\0';
    assert_int_equal(dps_sas_write(key, sizeof key, longsr, NULL, EXPIRY, out, sizeof out, &n),
                     DPS_E_INVALID);
}

typedef struct {
    const char *group;
    const char *reg;
} derive_ctx;

static dps_result build_derived(void *ctx, char *out, size_t cap, size_t *out_len)
{
    const derive_ctx *c = ctx;
    return dps_group_key_derive(c->group, c->reg, out, cap, out_len);
}

static void test_group_key_vector(void **state)
{
    (void)state;
    derive_ctx c = {GROUP_KEY, "sensor-0001"};
    check_builder(build_derived, &c, DEVICE_KEY); /* device-api.md §9 */
    char *ref = dps_derive_device_key(GROUP_KEY, "sensor-0001");
    assert_string_equal(ref, DEVICE_KEY);
    free(ref);

    char out[64];
    size_t n = 0;
    assert_int_equal(dps_group_key_derive("not base64!", "sensor-0001", out, sizeof out, &n),
                     DPS_E_INVALID);
    assert_int_equal(dps_group_key_derive(GROUP_KEY, "bad/id", out, sizeof out, &n),
                     DPS_E_INVALID);
    assert_int_equal(dps_group_key_derive("", "sensor-0001", out, sizeof out, &n),
                     DPS_E_INVALID);
}

static void test_symmetric_key_credential(void **state)
{
    (void)state;
    dps_symmetric_key direct, derived;
    assert_int_equal(dps_symmetric_key_init(&direct, DEVICE_KEY), DPS_OK);
    assert_int_equal(dps_symmetric_key_init_group(&derived, GROUP_KEY, "sensor-0001"), DPS_OK);
    char a[64], b[64];
    size_t n = 0;
    assert_int_equal(dps_symmetric_key_export(&derived, a, sizeof a, &n), DPS_OK);
    assert_string_equal(a, DEVICE_KEY);

    /* both sign the same token through the vtable */
    const dps_credential *cd = &direct.base, *cg = &derived.base;
    assert_string_equal(cd->ops->name, "symmetric-key");
    assert_null(cd->ops->tls_configure);
    assert_int_equal(cd->ops->sign_sas(cd, "0ne000AB12C/registrations/sensor-0001",
                                       "registration", EXPIRY, a, sizeof a, &n),
                     DPS_E_NO_SPACE); /* 64 bytes is too small for a token */
    char ta[512], tb[512];
    assert_int_equal(cd->ops->sign_sas(cd, "0ne000AB12C/registrations/sensor-0001",
                                       "registration", EXPIRY, ta, sizeof ta, &n),
                     DPS_OK);
    assert_int_equal(cg->ops->sign_sas(cg, "0ne000AB12C/registrations/sensor-0001",
                                       "registration", EXPIRY, tb, sizeof tb, &n),
                     DPS_OK);
    assert_string_equal(ta, tb);
    (void)b;

    dps_symmetric_key_wipe(&direct);
    assert_int_equal(direct.key_len, 0);
    for (size_t i = 0; i < sizeof direct.key; i++)
        assert_int_equal(direct.key[i], 0);

    /* bad keys leave the struct alone */
    dps_symmetric_key k;
    memset(&k, 0x5A, sizeof k);
    assert_int_equal(dps_symmetric_key_init(&k, "QQ="), DPS_E_INVALID);
    assert_int_equal(dps_symmetric_key_init(&k, ""), DPS_E_INVALID);
    assert_int_equal(((unsigned char *)&k)[0], 0x5A);
    dps_symmetric_key_wipe(&derived);
}

static void test_base64_strict(void **state)
{
    (void)state;
    uint8_t out[16];
    size_t n = 0;
    assert_int_equal(dps_base64_decode("QQ==", 4, out, sizeof out, &n), DPS_OK);
    assert_int_equal(n, 1);
    assert_int_equal(out[0], 'A');
    assert_int_equal(dps_base64_decode("QUI=", 4, out, sizeof out, &n), DPS_OK);
    assert_int_equal(n, 2);
    assert_int_equal(dps_base64_decode("", 0, out, sizeof out, &n), DPS_OK);
    assert_int_equal(n, 0);
    const char *bad[] = {"QQ", "QQ=", "Q===", "QR==", "QUJ=", "QU I", "QQ=A", "-_==", "QUJD\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (dps_base64_decode(bad[i], strlen(bad[i]), out, sizeof out, &n) != DPS_E_INVALID)
            fail_msg("accepted '%s'", bad[i]);
    }
    /* too small a buffer reports the size and writes nothing */
    uint8_t small[2] = {0xEE, 0xEE};
    assert_int_equal(dps_base64_decode("QUJD", 4, small, sizeof small, &n), DPS_E_NO_SPACE);
    assert_int_equal(n, 3);
    assert_int_equal(small[0], 0xEE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signature_vectors),
        cmocka_unit_test(test_device_token),
        cmocka_unit_test(test_hub_token),
        cmocka_unit_test(test_sas_invalid),
        cmocka_unit_test(test_group_key_vector),
        cmocka_unit_test(test_symmetric_key_credential),
        cmocka_unit_test(test_base64_strict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
