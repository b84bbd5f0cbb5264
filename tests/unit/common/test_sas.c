/* SAS tokens: parsing, signing over sr as received, expiry, audience. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/b64.h"
#include "common/sas.h"

/* service-api.md §10.2 test vector */
static const char vector_key[] = "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=";
static const char vector_sig[] = "9XroltssIO6AcxPNSLu7EjwXCBMXQV31orVXZaqjEiY=";

static dps_sas_token parse_ok(const char *text)
{
    dps_sas_token t;
    assert_int_equal(dps_sas_parse(text, strlen(text), &t), DPS_SAS_OK);
    return t;
}

static void test_signature_vector(void **state)
{
    (void)state;
    uint8_t *key;
    size_t keylen;
    assert_int_equal(dps_b64_decode(vector_key, strlen(vector_key), &key, &keylen), 0);
    char *sig = dps_sas_signature(key, keylen, "dps.example.net", "1767225600");
    assert_non_null(sig);
    assert_string_equal(sig, vector_sig);
    free(sig);
    free(key);
}

static void test_parse_fields_any_order(void **state)
{
    (void)state;
    dps_sas_token t = parse_ok("SharedAccessSignature sr=dps.example.net&sig="
                               "9XroltssIO6AcxPNSLu7EjwXCBMXQV31orVXZaqjEiY%3D&skn=owner"
                               "&se=1767225600");
    assert_string_equal(t.sr_raw, "dps.example.net");
    assert_string_equal(t.sig, vector_sig); /* URL-decoded */
    assert_string_equal(t.skn, "owner");
    assert_int_equal(t.se, 1767225600);

    uint8_t *key;
    size_t keylen;
    assert_int_equal(dps_b64_decode(vector_key, strlen(vector_key), &key, &keylen), 0);
    assert_true(dps_sas_signed_with(&t, key, keylen));
    key[0] ^= 1;
    assert_false(dps_sas_signed_with(&t, key, keylen));
    free(key);
    dps_sas_token_free(&t);

    /* without the prefix, and without skn */
    t = parse_ok("se=5&sig=abc&sr=x");
    assert_null(t.skn);
    dps_sas_token_free(&t);
}

static void test_parse_rejects_malformed(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "SharedAccessSignature ",
        "sr=a&sig=b",                /* no se */
        "sr=a&se=1",                 /* no sig */
        "sig=b&se=1",                /* no sr */
        "sr=a&sig=b&se=abc",         /* se not a number */
        "sr=a&sig=b&se=-5",          /* negative */
        "sr=a&sig=b&se=1&sr=c",      /* duplicate field */
        "sr=a&sig=%zz&se=1",         /* bad escape */
        "sr=a&sig=b&se=1&junk",      /* field without '=' */
        "sr=&sig=b&se=1",            /* empty sr */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dps_sas_token t;
        assert_int_equal(dps_sas_parse(bad[i], strlen(bad[i]), &t), DPS_SAS_MALFORMED);
    }
    /* over the size cap */
    size_t n = DPS_SAS_MAX_TOKEN_LEN + 10;
    char *huge = malloc(n + 1);
    memset(huge, 'a', n);
    memcpy(huge, "sr=", 3);
    huge[n] = '\0';
    dps_sas_token t;
    assert_int_equal(dps_sas_parse(huge, n, &t), DPS_SAS_MALFORMED);
    free(huge);
}

static void test_signed_over_sr_as_received(void **state)
{
    (void)state;
    /* A client that URL-encodes sr signs the encoded form: verification must
     * use the raw text, not a re-encoding of the decoded value. */
    char *tok = dps_sas_build("0ne00000001/registrations/dev:1", vector_key, NULL, 2000000000);
    assert_non_null(tok);
    dps_sas_token t = parse_ok(tok);
    assert_string_equal(t.sr_raw, "0ne00000001%2Fregistrations%2Fdev%3A1");
    assert_string_equal(t.sr, "0ne00000001/registrations/dev:1");
    uint8_t *key;
    size_t keylen;
    assert_int_equal(dps_b64_decode(vector_key, strlen(vector_key), &key, &keylen), 0);
    assert_true(dps_sas_signed_with(&t, key, keylen));
    free(key);
    dps_sas_token_free(&t);
    free(tok);
}

static void test_expiry_with_skew(void **state)
{
    (void)state;
    dps_sas_token t = parse_ok("sr=a&sig=b&se=1000");
    assert_false(dps_sas_expired(&t, 1000, 300));
    assert_false(dps_sas_expired(&t, 1300, 300));
    assert_true(dps_sas_expired(&t, 1301, 300));
    dps_sas_token_free(&t);
    /* far-future (milliseconds) values are accepted */
    t = parse_ok("sr=a&sig=b&se=1767225600000");
    assert_false(dps_sas_expired(&t, 1767225600, 300));
    dps_sas_token_free(&t);
}

static void test_audience(void **state)
{
    (void)state;
    assert_true(dps_sas_audience_covers("dps.example.net", "dps.example.net"));
    assert_true(dps_sas_audience_covers("DPS.Example.NET", "dps.example.net"));
    assert_true(dps_sas_audience_covers("localhost:8443", "localhost"));
    assert_true(dps_sas_audience_covers("localhost", "localhost:8443"));
    assert_true(dps_sas_audience_covers("0ne00000001/registrations/dev1",
                                        "0ne00000001/registrations/DEV1"));
    assert_true(dps_sas_audience_covers("0ne00000001", "0ne00000001/registrations/dev1"));
    assert_true(dps_sas_audience_covers("hub1/devices/d1/", "hub1/devices/d1"));
    assert_false(dps_sas_audience_covers("0ne00000001/registrations/dev1",
                                         "0ne00000001/registrations/dev10"));
    assert_false(dps_sas_audience_covers("localhost:9999", "localhost:8443"));
    assert_true(dps_sas_audience_covers("localhost:8443/x", "LOCALHOST:8443/X/y"));
    assert_false(dps_sas_audience_covers("dps.example.net", "dps.example.network"));
    assert_false(dps_sas_audience_covers("other.example.net", "dps.example.net"));
    assert_false(dps_sas_audience_covers("", "dps.example.net"));
}

static void test_derive_device_key(void **state)
{
    (void)state;
    /* HMAC-SHA256 of "device-1" under the vector key, computed independently
     * with: printf device-1 | openssl dgst -sha256 -mac HMAC
     *        -macopt hexkey:<hex of the key> -binary | base64 */
    char *k = dps_derive_device_key(vector_key, "device-1");
    assert_non_null(k);
    assert_string_equal(k, "m7zoVhoIa7eDyG1WO4BJn7fLg14+5WrNhUi4TUfiRWU=");
    free(k);
    assert_null(dps_derive_device_key("not base64!", "device-1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signature_vector),
        cmocka_unit_test(test_parse_fields_any_order),
        cmocka_unit_test(test_parse_rejects_malformed),
        cmocka_unit_test(test_signed_over_sr_as_received),
        cmocka_unit_test(test_expiry_with_skew),
        cmocka_unit_test(test_audience),
        cmocka_unit_test(test_derive_device_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
