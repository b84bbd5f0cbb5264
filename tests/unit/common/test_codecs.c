/* base64, percent-encoding, strict numbers, bounded buffers and time text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/b64.h"
#include "common/dynbuf.h"
#include "common/rand.h"
#include "common/secret.h"
#include "common/strparse.h"
#include "common/timeutil.h"
#include "common/urlcode.h"

static void test_b64_round_trip(void **state)
{
    (void)state;
    const char *cases[][2] = {{"", ""},         {"f", "Zg=="},     {"fo", "Zm8="},
                              {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
                              {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *enc = dps_b64_encode((const uint8_t *)cases[i][0], strlen(cases[i][0]));
        assert_string_equal(enc, cases[i][1]);
        uint8_t *dec;
        size_t n;
        assert_int_equal(dps_b64_decode(enc, strlen(enc), &dec, &n), 0);
        assert_int_equal(n, strlen(cases[i][0]));
        assert_memory_equal(dec, cases[i][0], n);
        free(dec);
        free(enc);
    }
}

static void test_b64_rejects_invalid(void **state)
{
    (void)state;
    const char *bad[] = {"Zg=", "Zg", "Z===", "Zm9v\n", "Zm 9v", "Zm9-", "Zh==", "Zm9=Zm9v",
                         "=Zm9"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t *dec = NULL;
        size_t n = 0;
        assert_int_equal(dps_b64_decode(bad[i], strlen(bad[i]), &dec, &n), -1);
        assert_null(dec);
    }
}

static void test_url_decode(void **state)
{
    (void)state;
    char *s = dps_url_decode("a%3Ab%2fc+d", 11, true);
    assert_string_equal(s, "a:b/c d");
    free(s);
    s = dps_url_decode("a+b", 3, false);
    assert_string_equal(s, "a+b");
    free(s);
    assert_null(dps_url_decode("%", 1, false));
    assert_null(dps_url_decode("%4", 2, false));
    assert_null(dps_url_decode("%zz", 3, false));
    assert_null(dps_url_decode("a%00b", 5, false)); /* no embedded NUL */
    s = dps_url_encode("dev:1/a b~");
    assert_string_equal(s, "dev%3A1%2Fa%20b~");
    free(s);
}

static void test_parse_int64(void **state)
{
    (void)state;
    int64_t v = 0;
    assert_int_equal(dps_parse_int64("42", 2, 0, 100, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(dps_parse_int64("-9223372036854775808", 20, INT64_MIN, 0, &v), 0);
    assert_true(v == INT64_MIN);
    assert_int_equal(dps_parse_int64("9223372036854775807", 19, 0, INT64_MAX, &v), 0);
    assert_true(v == INT64_MAX);
    v = 7;
    assert_int_equal(dps_parse_int64("9223372036854775808", 19, 0, INT64_MAX, &v), -1);
    assert_int_equal(dps_parse_int64("101", 3, 0, 100, &v), -1);
    assert_int_equal(dps_parse_int64("", 0, 0, 100, &v), -1);
    assert_int_equal(dps_parse_int64("-", 1, -5, 100, &v), -1);
    assert_int_equal(dps_parse_int64("1a", 2, 0, 100, &v), -1);
    assert_int_equal(dps_parse_int64(" 1", 2, 0, 100, &v), -1);
    assert_int_equal(v, 7); /* untouched on failure */
}

static void test_dynbuf_cap(void **state)
{
    (void)state;
    dps_buf b;
    dps_buf_init(&b, 10);
    assert_int_equal(dps_buf_append_str(&b, "hello"), 0);
    assert_int_equal(dps_buf_printf(&b, "%d", 12345), 0);
    assert_int_equal(b.len, 10);
    assert_string_equal(b.data, "hello12345");
    assert_int_equal(dps_buf_append(&b, "x", 1), -1); /* over the cap */
    assert_string_equal(b.data, "hello12345");      /* unchanged */
    char *s = dps_buf_take(&b);
    assert_string_equal(s, "hello12345");
    assert_null(b.data);
    free(s);
    s = dps_buf_take(&b);
    assert_string_equal(s, "");
    free(s);
    dps_buf_free(&b);
}

static void test_time_formats(void **state)
{
    (void)state;
    char iso[DPS_ISO_TIME_LEN];
    dps_time_iso(1772439330123456789LL, iso);
    assert_string_equal(iso, "2026-03-02T08:15:30.1234567Z");
    char rfc[DPS_RFC1123_TIME_LEN];
    dps_time_rfc1123(2208988799LL, rfc);
    assert_string_equal(rfc, "Sat, 31 Dec 2039 23:59:59 GMT");
}

static void test_random_ids(void **state)
{
    (void)state;
    char a[DPS_UUID_LEN], b[DPS_UUID_LEN];
    assert_int_equal(dps_uuid_v4(a), 0);
    assert_int_equal(dps_uuid_v4(b), 0);
    assert_int_equal(strlen(a), 36);
    assert_int_equal(a[14], '4');
    assert_string_not_equal(a, b);
    char hex[9];
    dps_hex_encode((const uint8_t *)"\x0a\xbc\xde\xff", 4, true, hex);
    assert_string_equal(hex, "0ABCDEFF");
    assert_true(dps_ct_equal("abc", 3, "abc", 3));
    assert_false(dps_ct_equal("abc", 3, "abd", 3));
    assert_false(dps_ct_equal("abc", 3, "ab", 2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64_round_trip),  cmocka_unit_test(test_b64_rejects_invalid),
        cmocka_unit_test(test_url_decode),      cmocka_unit_test(test_parse_int64),
        cmocka_unit_test(test_dynbuf_cap),      cmocka_unit_test(test_time_formats),
        cmocka_unit_test(test_random_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
