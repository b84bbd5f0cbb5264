/* net/listen_addr.c: listen addresses, host[:port] splitting, host name
 * checks, display form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "net/listen_addr.h"

static void test_parse_listen(void **state)
{
    (void)state;
    dps_listen_addr a;
    char err[256];
    assert_int_equal(dps_listen_addr_parse("127.0.0.1:8443", &a, err, sizeof err), 0);
    assert_string_equal(a.host, "127.0.0.1");
    assert_int_equal(a.port, 8443);
    assert_int_equal(dps_listen_addr_parse("[::1]:0", &a, err, sizeof err), 0);
    assert_string_equal(a.host, "::1");
    assert_int_equal(a.port, 0);
    assert_int_equal(dps_listen_addr_parse("[::]:443", &a, err, sizeof err), 0);
    assert_string_equal(a.host, "::");
    assert_int_equal(dps_listen_addr_parse("localhost:65535", &a, err, sizeof err), 0);
    assert_int_equal(a.port, 65535);
    /* NULL out: validate only */
    assert_int_equal(dps_listen_addr_parse("0.0.0.0:1", NULL, err, sizeof err), 0);

    const char *bad[] = {"8443", "::1:8443", "[::1]8443", "[::1]", "[zz]:1", "[]:1",
                         "host:65536", "host:-1", "host:", ":8443", "ho st:1", "host:+1",
                         "host:0x10", "[127.0.0.1]:1", "host:-0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (dps_listen_addr_parse(bad[i], &a, err, sizeof err) != -1)
            fail_msg("'%s' accepted", bad[i]);
        assert_true(strlen(err) > 0);
        /* the message names what was written */
        assert_non_null(strstr(err, bad[i]));
    }
}

static void test_parse_listen_overlong_host(void **state)
{
    (void)state;
    char text[300];
    memset(text, 'a', 256);
    snprintf(text + 256, sizeof text - 256, ":1");
    dps_listen_addr a;
    char err[512];
    assert_int_equal(dps_listen_addr_parse(text, &a, err, sizeof err), -1);
    assert_non_null(strstr(err, "overlong host"));
    text[255] = '\0'; /* 255 bytes of host fit */
    snprintf(text + 255, sizeof text - 255, ":1");
    assert_int_equal(dps_listen_addr_parse(text, &a, err, sizeof err), 0);
    assert_int_equal(strlen(a.host), 255);
}

static void test_format(void **state)
{
    (void)state;
    char out[300];
    dps_listen_addr v4 = {.host = "127.0.0.1", .port = 8443};
    dps_listen_addr v6 = {.host = "::1", .port = 0};
    dps_listen_addr name = {.host = "localhost", .port = 443};
    dps_listen_addr_format(&v4, out, sizeof out);
    assert_string_equal(out, "127.0.0.1:8443");
    dps_listen_addr_format(&v6, out, sizeof out);
    assert_string_equal(out, "[::1]:0");
    dps_listen_addr_format(&name, out, sizeof out);
    assert_string_equal(out, "localhost:443");
}

static void test_split_host_port(void **state)
{
    (void)state;
    char host[64];
    int port;
    assert_int_equal(dps_split_host_port("dps.example.net", host, sizeof host, &port), 0);
    assert_string_equal(host, "dps.example.net");
    assert_int_equal(port, -1);
    assert_int_equal(dps_split_host_port("localhost:8443", host, sizeof host, &port), 0);
    assert_string_equal(host, "localhost");
    assert_int_equal(port, 8443);
    assert_int_equal(dps_split_host_port("localhost:0", host, sizeof host, &port), -1);
    assert_int_equal(dps_split_host_port("localhost:", host, sizeof host, &port), -1);
    assert_int_equal(dps_split_host_port(":1", host, sizeof host, &port), -1);
    assert_int_equal(dps_split_host_port("abcdefgh", host, 8, &port), -1); /* too long */
}

static void test_host_port_check(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(dps_host_port_check("dps.example.net", err, sizeof err), 0);
    assert_int_equal(dps_host_port_check("10.0.0.1:443", err, sizeof err), 0);
    assert_int_equal(dps_host_port_check("bad;name", err, sizeof err), -1);
    assert_non_null(strstr(err, "only letters, digits"));
    assert_int_equal(dps_host_port_check("host:0", err, sizeof err), -1);
    assert_non_null(strstr(err, "optionally with :port"));
    assert_int_equal(dps_host_port_check("", err, sizeof err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_listen),
        cmocka_unit_test(test_parse_listen_overlong_host),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_split_host_port),
        cmocka_unit_test(test_host_port_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
