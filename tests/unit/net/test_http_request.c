/* net/http_request.c: header and query lookup, path splitting and decoding,
 * response helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/log.h"
#include "net/http_request.h"

static void test_header_lookup_ignores_case(void **state)
{
    (void)state;
    dps_http_header headers[] = {
        {"Content-Type", "application/json"},
        {"authorization", "SharedAccessSignature sr=x"},
        {"X-Dup", "first"},
        {"x-dup", "second"},
    };
    dps_http_request req = {.headers = headers, .nheaders = 4};
    assert_string_equal(dps_http_header_get(&req, "content-type"), "application/json");
    assert_string_equal(dps_http_header_get(&req, "AUTHORIZATION"),
                        "SharedAccessSignature sr=x");
    assert_string_equal(dps_http_header_get(&req, "x-dup"), "first");
    assert_null(dps_http_header_get(&req, "If-Match"));
    assert_null(dps_http_header_get(&req, "Content")); /* no prefix match */

    dps_http_request empty = {0};
    assert_null(dps_http_header_get(&empty, "Content-Type"));
}

static void test_query_lookup_decodes(void **state)
{
    (void)state;
    dps_http_request req = {
        .query = "api-version=2021-10-01&name=a%20b+c&flag&empty=&Mixed=1&x=%41"};
    char *v = dps_http_query_get(&req, "api-version");
    assert_string_equal(v, "2021-10-01");
    free(v);
    v = dps_http_query_get(&req, "name");
    assert_string_equal(v, "a b c"); /* %20 and '+' both mean space */
    free(v);
    v = dps_http_query_get(&req, "flag");
    assert_string_equal(v, "");
    free(v);
    v = dps_http_query_get(&req, "empty");
    assert_string_equal(v, "");
    free(v);
    v = dps_http_query_get(&req, "mixed"); /* names ignore case */
    assert_string_equal(v, "1");
    free(v);
    v = dps_http_query_get(&req, "x");
    assert_string_equal(v, "A");
    free(v);
    assert_null(dps_http_query_get(&req, "missing"));
    assert_null(dps_http_query_get(&req, "api")); /* no prefix match */
}

static void test_query_lookup_edge_cases(void **state)
{
    (void)state;
    dps_http_request req = {.query = NULL};
    assert_null(dps_http_query_get(&req, "a"));

    req.query = "";
    assert_null(dps_http_query_get(&req, "a"));

    /* first occurrence wins; empty pairs are skipped */
    req.query = "&&a=1&a=2&";
    char *v = dps_http_query_get(&req, "a");
    assert_string_equal(v, "1");
    free(v);

    /* an encoded name matches its decoded form */
    req.query = "api%2Dversion=3";
    v = dps_http_query_get(&req, "api-version");
    assert_string_equal(v, "3");
    free(v);

    /* a malformed value reads as absent; a decoded NUL too */
    req.query = "a=%4&b=%00&c=ok";
    assert_null(dps_http_query_get(&req, "a"));
    assert_null(dps_http_query_get(&req, "b"));
    v = dps_http_query_get(&req, "c");
    assert_string_equal(v, "ok");
    free(v);

    /* '=' inside the value stays */
    req.query = "sig=abc==";
    v = dps_http_query_get(&req, "sig");
    assert_string_equal(v, "abc==");
    free(v);
}

static void test_split_path_basic(void **state)
{
    (void)state;
    dps_http_request req = {0};
    assert_int_equal(dps_http_split_path(&req, "/enrollments/dev-1"), 0);
    assert_int_equal(req.nsegments, 2);
    assert_string_equal(req.segments[0], "enrollments");
    assert_string_equal(req.segments[1], "dev-1");
    dps_http_request_free_segments(&req);
    assert_int_equal(req.nsegments, 0);
    assert_null(req.segments[0]);

    /* empty segments vanish, the query is stripped */
    assert_int_equal(dps_http_split_path(&req, "//a///b/?x=/c/d"), 0);
    assert_int_equal(req.nsegments, 2);
    assert_string_equal(req.segments[0], "a");
    assert_string_equal(req.segments[1], "b");
    dps_http_request_free_segments(&req);

    assert_int_equal(dps_http_split_path(&req, "/"), 0);
    assert_int_equal(req.nsegments, 0);
    assert_int_equal(dps_http_split_path(&req, ""), 0);
    assert_int_equal(req.nsegments, 0);
    assert_int_equal(dps_http_split_path(&req, "/?q"), 0);
    assert_int_equal(req.nsegments, 0);

    /* a path without a leading slash still splits */
    assert_int_equal(dps_http_split_path(&req, "x/y"), 0);
    assert_int_equal(req.nsegments, 2);
    assert_string_equal(req.segments[1], "y");
    dps_http_request_free_segments(&req);
}

static void test_split_path_decodes(void **state)
{
    (void)state;
    dps_http_request req = {0};
    /* '+' is a literal plus in a path, unlike in a query */
    assert_int_equal(dps_http_split_path(&req, "/enrollments/my%20dev+1%3A%7e"), 0);
    assert_int_equal(req.nsegments, 2);
    assert_string_equal(req.segments[1], "my dev+1:~");
    dps_http_request_free_segments(&req);

    /* "%2E%2E" decodes to "..", which is just a segment named "..": the
     * router matches segments literally, so it cannot climb anywhere */
    assert_int_equal(dps_http_split_path(&req, "/a/%2E%2E"), 0);
    assert_string_equal(req.segments[1], "..");
    dps_http_request_free_segments(&req);
}

static void test_split_path_refuses(void **state)
{
    (void)state;
    dps_http_request req = {0};
    const char *bad[] = {
        "/enrollments/a%2Fb", /* encoded slash */
        "/enrollments/a%2fb",
        "/enrollments/a%00b", /* encoded NUL */
        "/enrollments/a%",    /* truncated escapes */
        "/enrollments/a%4",
        "/enrollments/%zz",   /* not hex */
        "/ok/%4/later",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(dps_http_split_path(&req, bad[i]), -1);
        /* on failure nothing is left allocated */
        assert_int_equal(req.nsegments, 0);
    }
    assert_int_equal(dps_http_split_path(&req, NULL), -1);
    /* a bad escape in the query is not the path's business */
    assert_int_equal(dps_http_split_path(&req, "/a?x=%zz"), 0);
    assert_int_equal(req.nsegments, 1);
    dps_http_request_free_segments(&req);
}

static void test_split_path_segment_cap(void **state)
{
    (void)state;
    char path[256] = "";
    for (int i = 0; i < DPS_HTTP_MAX_SEGMENTS; i++)
        strcat(path, "/s");
    dps_http_request req = {0};
    assert_int_equal(dps_http_split_path(&req, path), 0);
    assert_int_equal(req.nsegments, DPS_HTTP_MAX_SEGMENTS);
    dps_http_request_free_segments(&req);

    strcat(path, "/one-too-many");
    assert_int_equal(dps_http_split_path(&req, path), -1);
    assert_int_equal(req.nsegments, 0);

    /* trailing and doubled slashes do not count as segments */
    char path2[256] = "";
    for (int i = 0; i < DPS_HTTP_MAX_SEGMENTS; i++)
        strcat(path2, "/s/");
    assert_int_equal(dps_http_split_path(&req, path2), 0);
    assert_int_equal(req.nsegments, DPS_HTTP_MAX_SEGMENTS);
    dps_http_request_free_segments(&req);
}

static void test_set_json_compact_ordered(void **state)
{
    (void)state;
    dps_http_response res = {0};
    json_t *body = json_pack("{s:i, s:s, s:[i,i], s:{}}", "zeta", 1, "alpha", "x", "list",
                             1, 2, "obj");
    assert_non_null(body);
    dps_http_response_set_json(&res, 201, body);
    assert_int_equal(res.status, 201);
    assert_string_equal(res.content_type, "application/json; charset=utf-8");
    assert_string_equal(res.body, "{\"zeta\":1,\"alpha\":\"x\",\"list\":[1,2],\"obj\":{}}");
    assert_int_equal(res.body_len, strlen(res.body));
    json_decref(body);

    /* a second call replaces the first body (no leak under ASan) */
    json_t *arr = json_pack("[s]", "a");
    dps_http_response_set_json(&res, 200, arr);
    json_decref(arr);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.body, "[\"a\"]");

    /* NULL body: status only, no content type */
    dps_http_response_set_json(&res, 204, NULL);
    assert_int_equal(res.status, 204);
    assert_null(res.body);
    assert_int_equal(res.body_len, 0);
    assert_null(res.content_type);
    dps_http_response_free(&res);
}

static void test_add_header_caps_and_checks(void **state)
{
    (void)state;
    dps_http_response res = {0};
    dps_http_response_add_header(&res, "x-ms-request-id", "abc");
    dps_http_response_add_header(&res, "bad", "a\r\nInjected: 1");
    dps_http_response_add_header(&res, "bad\nname", "v");
    dps_http_response_add_header(&res, "", "v");
    dps_http_response_add_header(&res, NULL, "v");
    dps_http_response_add_header(&res, "n", NULL);
    assert_int_equal(res.nheaders, 1);
    assert_string_equal(res.header_names[0], "x-ms-request-id");
    assert_string_equal(res.header_values[0], "abc");

    for (int i = 0; i < 20; i++) {
        char name[16];
        snprintf(name, sizeof name, "h%d", i);
        dps_http_response_add_header(&res, name, "v");
    }
    assert_int_equal(res.nheaders, 8);
    assert_string_equal(res.header_names[7], "h6");

    dps_http_response_free(&res);
    assert_int_equal(res.nheaders, 0);
    assert_null(res.header_names[0]);
    dps_http_response_free(&res); /* twice is harmless */
}

static void test_method_names(void **state)
{
    (void)state;
    assert_string_equal(dps_http_method_name(DPS_HTTP_GET), "GET");
    assert_string_equal(dps_http_method_name(DPS_HTTP_PUT), "PUT");
    assert_string_equal(dps_http_method_name(DPS_HTTP_POST), "POST");
    assert_string_equal(dps_http_method_name(DPS_HTTP_DELETE), "DELETE");
    assert_string_equal(dps_http_method_name(DPS_HTTP_PATCH), "PATCH");
    assert_string_equal(dps_http_method_name(DPS_HTTP_OTHER), "OTHER");
}

int main(void)
{
    dps_log_set_level(DPS_LOG_ERROR); /* the dropped-header warnings are expected */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_lookup_ignores_case),
        cmocka_unit_test(test_query_lookup_decodes),
        cmocka_unit_test(test_query_lookup_edge_cases),
        cmocka_unit_test(test_split_path_basic),
        cmocka_unit_test(test_split_path_decodes),
        cmocka_unit_test(test_split_path_refuses),
        cmocka_unit_test(test_split_path_segment_cap),
        cmocka_unit_test(test_set_json_compact_ordered),
        cmocka_unit_test(test_add_header_caps_and_checks),
        cmocka_unit_test(test_method_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
