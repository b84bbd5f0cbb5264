/* Symmetric-key attestation (engine/attest*.c) with the device-api.md
 * vectors: the three audience encodings of §5.8 signed with the §9 device
 * key, at a fixed clock; the group derivation; individual-before-group and
 * the disabled rules; refusals. */
#include "engine_fixture.h"

#include "engine/attest.h"

/* §5.8, exactly as the SDKs send them. */
#define TOK_C                                                                                     \
    "SharedAccessSignature sr=0ne000AB12C%2fregistrations%2fsensor-0001&sig=DXg0SkbXhXQjBAbNUnrLw" \
    "UKZd7v%2Fg9fTYNSKb1RSYqA%3D&se=1767225600&skn=registration"
#define TOK_UPPER                                                                                 \
    "SharedAccessSignature sr=0ne000AB12C%2Fregistrations%2Fsensor-0001&sig=3gwgdq9RR21kfB8B2rGI2" \
    "JDF6xWhKRXE2m0DOcxGKEg%3D&se=1767225600&skn=registration"
/* Node: raw audience, fields in another order, no skn (azure-sdk-for-c / Python). */
#define TOK_RAW                                                                                   \
    "SharedAccessSignature sig=5MaucSK0%2Bg7sCnKxUPAlsHk06ciTGgK6Fcp%2BMqIok38%3D&se=1767225600&" \
    "sr=0ne000AB12C/registrations/sensor-0001"

#define OTHER_KEY "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

static dps_attest_status attest(engine_fx *fx, const char *scope, const char *regid,
                                const char *token, dps_attest_result *out)
{
    char key[DPS_ID_KEY_SIZE];
    assert_true(dps_id_key(regid, key));
    dps_reg_request r = {.id_scope = scope, .registration_id = regid, .sas_token = token};
    dps_attest_ctx ac = {.store = fx->store, .now_s = fx_clock_ns / 1000000000};
    return dps_attest(&ac, &r, key, out);
}

static void test_vectors_individual(void **state)
{
    engine_fx *fx = *state;
    fx_enroll(fx, "sensor-0001", OTHER_KEY, FX_DEVICE_KEY, ""); /* the secondary signs */
    const char *tokens[] = {TOK_C, TOK_UPPER, TOK_RAW};
    for (size_t i = 0; i < 3; i++) {
        dps_attest_result r;
        assert_int_equal(attest(fx, FX_SCOPE, "sensor-0001", tokens[i], &r), DPS_ATTEST_OK);
        assert_false(r.is_group);
        assert_false(r.disabled);
        assert_string_equal(r.primary_key, OTHER_KEY);
        assert_string_equal(r.secondary_key, FX_DEVICE_KEY);
        dps_attest_result_free(&r);
    }
    /* Scope and registration ID in another case: the audience still matches. */
    dps_attest_result r;
    assert_int_equal(attest(fx, "0NE000ab12c", "SENSOR-0001", TOK_C, &r), DPS_ATTEST_OK);
    dps_attest_result_free(&r);
}

static void test_vectors_group_derivation(void **state)
{
    engine_fx *fx = *state;
    /* §9: the device key of sensor-0001 under this group key is FX_DEVICE_KEY. */
    char *derived = dps_derive_device_key(FX_GROUP_KEY, "sensor-0001");
    assert_string_equal(derived, FX_DEVICE_KEY);
    free(derived);
    fx_group(fx, "floor-3", OTHER_KEY, OTHER_KEY, "");
    fx_group(fx, "Floor-4", FX_GROUP_KEY, OTHER_KEY, "");
    dps_attest_result r;
    assert_int_equal(attest(fx, FX_SCOPE, "sensor-0001", TOK_C, &r), DPS_ATTEST_OK);
    assert_true(r.is_group);
    assert_string_equal(r.group_key, "floor-4");
    assert_string_equal(json_string_value(json_object_get(r.enrollment, "enrollmentGroupId")),
                        "Floor-4");
    /* The hub gets the keys derived from both group keys. */
    assert_string_equal(r.primary_key, FX_DEVICE_KEY);
    char *second = dps_derive_device_key(OTHER_KEY, "sensor-0001");
    assert_string_equal(r.secondary_key, second);
    free(second);
    dps_attest_result_free(&r);
}

static void test_group_hint_first(void **state)
{
    engine_fx *fx = *state;
    fx_group(fx, "g1", FX_GROUP_KEY, FX_GROUP_KEY, "");
    fx_group(fx, "g2", FX_GROUP_KEY, FX_GROUP_KEY, "");
    char key[DPS_ID_KEY_SIZE];
    assert_true(dps_id_key("sensor-0001", key));
    dps_reg_request r = {.id_scope = FX_SCOPE, .registration_id = "sensor-0001",
                         .sas_token = TOK_RAW};
    dps_attest_ctx ac = {.store = fx->store, .now_s = FX_SE - 10, .group_hint = "g2"};
    dps_attest_result out;
    assert_int_equal(dps_attest(&ac, &r, key, &out), DPS_ATTEST_OK);
    assert_string_equal(out.group_key, "g2");
    dps_attest_result_free(&out);
    ac.group_hint = NULL;
    assert_int_equal(dps_attest(&ac, &r, key, &out), DPS_ATTEST_OK);
    assert_string_equal(out.group_key, "g1");
    dps_attest_result_free(&out);
}

static void test_refusals(void **state)
{
    engine_fx *fx = *state;
    dps_attest_result r;
    /* Nothing enrolled: not found. */
    assert_int_equal(attest(fx, FX_SCOPE, "sensor-0001", TOK_C, &r), DPS_ATTEST_NOT_FOUND);
    dps_attest_result_free(&r);
    /* Individual enrollment with other keys: unauthorized, groups not tried. */
    fx_group(fx, "floor-3", FX_GROUP_KEY, FX_GROUP_KEY, "");
    fx_enroll(fx, "sensor-0001", OTHER_KEY, OTHER_KEY, "");
    assert_int_equal(attest(fx, FX_SCOPE, "sensor-0001", TOK_C, &r), DPS_ATTEST_UNAUTHORIZED);
    assert_non_null(strstr(r.message, "neither key"));
    dps_attest_result_free(&r);
    /* A token for another registration. */
    assert_int_equal(attest(fx, FX_SCOPE, "sensor-0002", TOK_C, &r), DPS_ATTEST_UNAUTHORIZED);
    dps_attest_result_free(&r);
    /* Expired: 5 minutes of skew, not more. */
    fx_enroll(fx, "sensor-0001", FX_DEVICE_KEY, FX_DEVICE_KEY, "");
    fx_clock_ns = (FX_SE + 299) * 1000000000LL;
    assert_int_equal(attest(fx, FX_SCOPE, "sensor-0001", TOK_C, &r), DPS_ATTEST_OK);
    dps_attest_result_free(&r);
    fx_clock_ns = (FX_SE + 301) * 1000000000LL;
    assert_int_equal(attest(fx, FX_SCOPE, "sensor-0001", TOK_C, &r), DPS_ATTEST_UNAUTHORIZED);
    assert_non_null(strstr(r.message, "expired"));
    dps_attest_result_free(&r);
    fx_clock_ns = (FX_SE - 10) * 1000000000LL;
    /* Malformed, missing prefix, tampered signature, no token. */
    const char *bad[] = {"SharedAccessSignature sr=x", TOK_C + 22, "garbage",
                         "SharedAccessSignature sr=0ne000AB12C%2fregistrations%2fsensor-0001&sig="
                         "AAAA&se=1767225600"};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(attest(fx, FX_SCOPE, "sensor-0001", bad[i], &r),
                         DPS_ATTEST_UNAUTHORIZED);
        dps_attest_result_free(&r);
    }
    assert_int_equal(attest(fx, FX_SCOPE, "sensor-0001", NULL, &r), DPS_ATTEST_UNAUTHORIZED);
    dps_attest_result_free(&r);
}

static void test_group_key_itself_named(void **state)
{
    engine_fx *fx = *state;
    /* The device signs with the group key instead of its derived key. */
    fx_group(fx, "floor-3", FX_DEVICE_KEY, FX_DEVICE_KEY, "");
    dps_attest_result r;
    assert_int_equal(attest(fx, FX_SCOPE, "sensor-0001", TOK_C, &r), DPS_ATTEST_UNAUTHORIZED);
    assert_non_null(strstr(r.message, "group key itself"));
    dps_attest_result_free(&r);
}

static void test_disabled_rules(void **state)
{
    engine_fx *fx = *state;
    dps_attest_result r;
    /* A disabled group: proven, blocked. */
    fx_group(fx, "floor-3", FX_GROUP_KEY, FX_GROUP_KEY, ",\"provisioningStatus\":\"disabled\"");
    assert_int_equal(attest(fx, FX_SCOPE, "sensor-0001", TOK_C, &r), DPS_ATTEST_OK);
    assert_true(r.disabled);
    assert_null(r.primary_key);
    dps_attest_result_free(&r);
    /* An enabled group, but a disabled individual enrollment with other keys:
     * the group proves the device, the individual enrollment blocks it. */
    fx_group(fx, "floor-3", FX_GROUP_KEY, FX_GROUP_KEY, "");
    fx_enroll(fx, "sensor-0001", OTHER_KEY, OTHER_KEY, ",\"provisioningStatus\":\"disabled\"");
    assert_int_equal(attest(fx, FX_SCOPE, "sensor-0001", TOK_C, &r), DPS_ATTEST_OK);
    assert_true(r.disabled);
    assert_false(r.is_group);
    dps_attest_result_free(&r);
    /* ... but a wrong key still gets 401: status is not told to strangers. */
    fx_group(fx, "floor-3", OTHER_KEY, OTHER_KEY, "");
    assert_int_equal(attest(fx, FX_SCOPE, "sensor-0001", TOK_C, &r), DPS_ATTEST_UNAUTHORIZED);
    dps_attest_result_free(&r);
}

static void test_other_attestation_refused(void **state)
{
    engine_fx *fx = *state;
    fx_put(fx, DPS_COLL_ENROLLMENT, "sensor-0001",
           "{\"registrationId\":\"sensor-0001\",\"attestation\":{\"type\":\"tpm\",\"tpm\":{}}}",
           NULL);
    dps_attest_result r;
    assert_int_equal(attest(fx, FX_SCOPE, "sensor-0001", TOK_C, &r), DPS_ATTEST_UNAUTHORIZED);
    assert_non_null(strstr(r.message, "symmetric-key"));
    dps_attest_result_free(&r);
}

static void test_engine_accepts_vectors(void **state)
{
    engine_fx *fx = *state;
    fx_link_hub(fx, FX_HUB1, 1);
    fx_enroll(fx, "sensor-0001", FX_DEVICE_KEY, OTHER_KEY, "");
    assert_int_equal(fx_register(fx, "sensor-0001", TOK_C), 202);
    assert_int_equal(fx_register(fx, "sensor-0001", TOK_UPPER), 202);
    assert_int_equal(fx_register(fx, "sensor-0001", TOK_RAW), 202);
}

#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_vectors_individual), T(test_vectors_group_derivation), T(test_group_hint_first),
        T(test_refusals),           T(test_group_key_itself_named),  T(test_disabled_rules),
        T(test_other_attestation_refused), T(test_engine_accepts_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
