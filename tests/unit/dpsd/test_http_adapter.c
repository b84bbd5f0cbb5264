/* http/adapter.c: the answers the shared HTTPS server gives itself come out
 * in the DPS error shape with the right six-digit code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/log.h"
#include "http/adapter.h"

static void expect_error(int http_status, int code)
{
    dps_http_response res = {0};
    dpsd_http_write_error(NULL, &res, http_status, "the message");
    assert_int_equal(res.status, code / 1000);
    json_error_t jerr;
    json_t *doc = json_loadb(res.body, res.body_len, 0, &jerr);
    assert_non_null(doc);
    assert_int_equal(json_integer_value(json_object_get(doc, "errorCode")), code);
    assert_string_equal(json_string_value(json_object_get(doc, "message")), "the message");
    json_decref(doc);
    char want[16];
    snprintf(want, sizeof want, "%d", code);
    const char *got = NULL;
    for (size_t i = 0; i < res.nheaders; i++)
        if (strcmp(res.header_names[i], "x-ms-error-code") == 0)
            got = res.header_values[i];
    assert_non_null(got);
    assert_string_equal(got, want);
    dps_http_response_free(&res);
}

static void test_status_to_code(void **state)
{
    (void)state;
    expect_error(400, 400001); /* DPS_ERR_BAD_REQUEST */
    expect_error(413, 413001); /* DPS_ERR_TOO_LARGE */
    expect_error(500, 500001); /* DPS_ERR_INTERNAL */
    expect_error(503, 500001); /* anything else is an internal failure */
}

static void test_message_is_not_a_format(void **state)
{
    (void)state;
    dps_http_response res = {0};
    dpsd_http_write_error(NULL, &res, 400, "100%s sure %n");
    assert_non_null(strstr(res.body, "100%s sure %n"));
    dps_http_response_free(&res);
}

int main(void)
{
    dps_log_set_level(DPS_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_to_code),
        cmocka_unit_test(test_message_is_not_a_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
