/* The HTTP response parser of the I/O layer (lib/device/io/http_parse.c):
 * heads, framing rules, caps and chunked bodies, fed in pieces. */
#include "device_test.h"

#include "device/io/http_parse.h"

static dps_http_parse_rc head(const char *s, dps_http_head *h)
{
    return dps__http_parse_head(s, strlen(s), DPS_HTTP_MAX_HEAD, h);
}

static void test_head(void **state)
{
    (void)state;
    dps_http_head h;
    const char *r = "HTTP/1.1 202 Accepted\r\nContent-Type: application/json; charset=utf-8\r\n"
                    "retry-after: 2\r\nContent-Length: 10\r\nX-Other:  v \r\n\r\n0123456789";
    assert_int_equal(head(r, &h), DPS_HTTP_PARSE_OK);
    assert_int_equal(h.status, 202);
    assert_int_equal(h.minor_version, 1);
    assert_true(h.has_content_length);
    assert_int_equal(h.content_length, 10);
    assert_true(h.has_retry_after);
    assert_string_equal(h.retry_after, "2");
    assert_string_equal(h.content_type, "application/json; charset=utf-8");
    assert_false(h.close);
    assert_false(h.chunked);
    assert_int_equal(h.head_len, strlen(r) - 10);

    /* every prefix of the head needs more */
    for (size_t i = 0; i < h.head_len; i++) {
        dps_http_head x;
        if (dps__http_parse_head(r, i, DPS_HTTP_MAX_HEAD, &x) != DPS_HTTP_PARSE_NEED_MORE)
            fail_msg("prefix %zu", i);
    }

    assert_int_equal(head("HTTP/1.1 200\r\nRetry-After: 7\r\nTransfer-Encoding: Chunked\r\n"
                          "Connection: close\r\n\r\n", &h),
                     DPS_HTTP_PARSE_OK);
    assert_int_equal(h.status, 200);
    assert_true(h.chunked);
    assert_true(h.close);
    assert_string_equal(h.retry_after, "7");
    assert_int_equal(head("HTTP/1.0 200 OK\r\n\r\n", &h), DPS_HTTP_PARSE_OK);
    assert_true(h.close);
    assert_int_equal(head("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", &h), DPS_HTTP_PARSE_OK);
    assert_false(h.close);
    /* the same Content-Length twice is fine */
    assert_int_equal(head("HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\n", &h),
                     DPS_HTTP_PARSE_OK);
}

static void test_head_refused(void **state)
{
    (void)state;
    dps_http_head h;
    const char *bad[] = {
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 099 OK\r\n\r\n",
        "HTTP/1.1 200OK\r\n\r\n",
        "ICY 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\nX: y\r\n\r\n",                      /* bare LF */
        "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
        "HTTP/1.1 200 OK\r\nName : v\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (head(bad[i], &h) != DPS_HTTP_PARSE_BAD)
            fail_msg("accepted case %zu", i);
    }
    assert_int_equal(head("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999\r\n\r\n", &h),
                     DPS_HTTP_PARSE_TOO_LARGE);
    /* a head that does not end within the cap */
    char big[DPS_HTTP_MAX_HEAD + 100];
    strcpy(big, "HTTP/1.1 200 OK\r\nX: ");
    memset(big + strlen(big), 'a', sizeof big - strlen(big) - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(head(big, &h), DPS_HTTP_PARSE_TOO_LARGE);
    /* too many headers */
    char many[4096] = "HTTP/1.1 200 OK\r\n";
    for (int i = 0; i < DPS_HTTP_MAX_HEADERS + 1; i++)
        strcat(many, "A: b\r\n");
    strcat(many, "\r\n");
    assert_int_equal(head(many, &h), DPS_HTTP_PARSE_TOO_LARGE);
}

static dps_http_parse_rc dechunk(const char *in, char *buf, size_t max, size_t *bl, size_t *used)
{
    size_t n = strlen(in);
    memcpy(buf, in, n + 1);
    return dps__http_dechunk(buf, n, max, bl, used);
}

static void test_chunked(void **state)
{
    (void)state;
    char buf[512];
    size_t bl = 0, used = 0;
    const char *in = "4\r\n{\"a\"\r\n5;ext=1\r\n:1234\r\nA\r\n567890123}\r\n0\r\nTrailer: x\r\n\r\nNEXT";
    assert_int_equal(dechunk(in, buf, 100, &bl, &used), DPS_HTTP_PARSE_OK);
    assert_int_equal(bl, 19);
    assert_memory_equal(buf, "{\"a\":1234567890123}", 19);
    assert_int_equal(used, strlen(in) - 4);

    /* every prefix needs more and leaves the buffer alone */
    size_t total = strlen(in) - 4;
    for (size_t i = 0; i < total; i++) {
        char b2[512];
        memcpy(b2, in, i);
        memset(b2 + i, 0x5A, 16);
        if (dps__http_dechunk(b2, i, 100, &bl, &used) != DPS_HTTP_PARSE_NEED_MORE)
            fail_msg("prefix %zu", i);
        assert_memory_equal(b2, in, i);
    }
    assert_int_equal(dechunk("0\r\n\r\n", buf, 100, &bl, &used), DPS_HTTP_PARSE_OK);
    assert_int_equal(bl, 0);
    assert_int_equal(dechunk("5\r\nabcde\r\n0\r\n\r\n", buf, 4, &bl, &used), DPS_HTTP_PARSE_TOO_LARGE);
    assert_int_equal(dechunk("3\r\nab\r\n0\r\n\r\n", buf, 100, &bl, &used), DPS_HTTP_PARSE_BAD);
    assert_int_equal(dechunk("x\r\nab\r\n", buf, 100, &bl, &used), DPS_HTTP_PARSE_BAD);
    assert_int_equal(dechunk("2\nab\r\n", buf, 100, &bl, &used), DPS_HTTP_PARSE_BAD);
    assert_int_equal(dechunk("2\r\nabXY0\r\n\r\n", buf, 100, &bl, &used), DPS_HTTP_PARSE_BAD);
    assert_int_equal(dechunk("ffffffffffffffff1\r\n", buf, 100, &bl, &used), DPS_HTTP_PARSE_TOO_LARGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head),
        cmocka_unit_test(test_head_refused),
        cmocka_unit_test(test_chunked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
