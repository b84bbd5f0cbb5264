/* The I/O layer against a real TLS server in a thread: server verification
 * (CA file, name check under the logical host while connecting to
 * 127.0.0.1), deadlines (silent server, refused port), the HTTP exchange
 * (Content-Length, chunked, caps, early close), and address splitting. */
#include "device_test.h"

#include "device/io/addr.h"
#include "device/io/http_client.h"
#include "device/io/tls_conn.h"
#include "tls_fixture.h"

static fx_server srv;

static int setup(void **state)
{
    (void)state;
    fx_init(&srv);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fx_free(&srv);
    return 0;
}

static dps_tls_params params(const char *name, const char *ca)
{
    dps_tls_params p = {
        .server_name = name,
        .connect_host = "127.0.0.1",
        .port = srv.port,
        .ca_file = ca,
    };
    return p;
}

typedef struct {
    const char *response;
    char request[4096];
} http_script;

static void serve_http(SSL *ssl, int index, void *arg)
{
    (void)index;
    http_script *s = arg;
    if (fx_read_request(ssl, s->request, sizeof s->request) > 0)
        fx_write(ssl, s->response);
}

static void serve_nothing(SSL *ssl, int index, void *arg)
{
    (void)ssl;
    (void)index;
    (void)arg;
}

static uint8_t rx[DPS_HTTP_MAX_HEAD + 2 * 1024 + 1];

static dps_result exchange(const char *name, const char *response, dps_http_response *out,
                           http_script *s)
{
    s->response = response;
    fx_start(&srv, serve_http, s, 1);
    dps_tls_conn c;
    dps__tls_init(&c);
    dps_tls_params p = params(name, srv.ca_path);
    dps_result rc = dps__tls_connect(&c, &p, dps__deadline_in(5000));
    if (rc == DPS_OK) {
        const char *req = "GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n";
        rc = dps__http_exchange(&c, req, strlen(req), rx, sizeof rx, 1024,
                                dps__deadline_in(5000), NULL, out);
    }
    dps__tls_close(&c);
    fx_join(&srv);
    return rc;
}

static void test_content_length(void **state)
{
    (void)state;
    http_script s;
    dps_http_response r;
    assert_int_equal(exchange("localhost",
                              "HTTP/1.1 202 Accepted\r\nretry-after: 3\r\nContent-Length: 5\r\n\r\nhello",
                              &r, &s),
                     DPS_OK);
    assert_int_equal(r.head.status, 202);
    assert_string_equal(r.head.retry_after, "3");
    assert_int_equal(r.body_len, 5);
    assert_string_equal(r.body, "hello");
    assert_non_null(strstr(s.request, "GET /x HTTP/1.1\r\n"));
}

static void test_chunked_and_ip_name(void **state)
{
    (void)state;
    http_script s;
    dps_http_response r;
    /* verified under an IP literal name (no SNI) */
    assert_int_equal(exchange("127.0.0.1",
                              "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n",
                              &r, &s),
                     DPS_OK);
    assert_string_equal(r.body, "{\"a\":1}");
    assert_int_equal(r.body_len, 7);
}

static void test_read_to_close(void **state)
{
    (void)state;
    http_script s;
    dps_http_response r;
    assert_int_equal(exchange("localhost", "HTTP/1.1 500 Oops\r\n\r\nbroken", &r, &s), DPS_OK);
    assert_int_equal(r.head.status, 500);
    assert_true(r.head.close);
    assert_string_equal(r.body, "broken");
}

static void test_caps_and_errors(void **state)
{
    (void)state;
    http_script s;
    dps_http_response r;
    assert_int_equal(exchange("localhost", "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n", &r, &s),
                     DPS_E_TOO_LARGE);
    assert_int_equal(exchange("localhost", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", &r, &s),
                     DPS_E_PROTOCOL);
    assert_int_equal(exchange("localhost", "garbage\r\n\r\n", &r, &s), DPS_E_PROTOCOL);
    assert_int_equal(exchange("localhost", "HTTP/1.1 100 Continue\r\n\r\n", &r, &s), DPS_E_PROTOCOL);
    assert_int_equal(exchange("localhost", "", &r, &s), DPS_E_CLOSED);
}

static void test_verification(void **state)
{
    (void)state;
    http_script s = {.response = ""};
    /* a name the certificate does not carry */
    fx_start(&srv, serve_nothing, &s, 1);
    dps_tls_conn c;
    dps__tls_init(&c);
    dps_tls_params p = params("wrong.example", srv.ca_path);
    assert_int_equal(dps__tls_connect(&c, &p, dps__deadline_in(5000)), DPS_E_TLS);
    assert_false(dps__tls_is_open(&c));
    fx_join(&srv);
    /* the right name, the wrong CA */
    fx_start(&srv, serve_nothing, &s, 1);
    p = params("localhost", srv.other_ca_path);
    assert_int_equal(dps__tls_connect(&c, &p, dps__deadline_in(5000)), DPS_E_TLS);
    fx_join(&srv);
    /* the hub's logical name through the gateway address */
    fx_start(&srv, serve_nothing, &s, 1);
    p = params("hub1.opendps.local", srv.ca_path);
    assert_int_equal(dps__tls_connect(&c, &p, dps__deadline_in(5000)), DPS_OK);
    dps__tls_close(&c);
    fx_join(&srv);
    /* a CA file that does not exist */
    p = params("localhost", "/nonexistent/ca.pem");
    assert_int_equal(dps__tls_connect(&c, &p, dps__deadline_in(5000)), DPS_E_CRYPTO);
}

static void serve_silence(SSL *ssl, int index, void *arg)
{
    (void)ssl;
    (void)index;
    (void)arg;
    usleep(600 * 1000); /* accept TCP, never speak TLS */
}

static void test_deadlines(void **state)
{
    (void)state;
    srv.raw = true;
    fx_start(&srv, serve_silence, NULL, 1);
    dps_tls_conn c;
    dps__tls_init(&c);
    dps_tls_params p = params("localhost", srv.ca_path);
    int64_t t0 = dps_monotonic_ms();
    assert_int_equal(dps__tls_connect(&c, &p, dps__deadline_in(200)), DPS_E_TIMEOUT);
    int64_t took = dps_monotonic_ms() - t0;
    assert_true(took >= 190 && took < 550);
    fx_join(&srv);
    srv.raw = false;

    /* a port nobody listens on */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    p.port = ntohs(a.sin_port);
    assert_int_equal(dps__tls_connect(&c, &p, dps__deadline_in(2000)), DPS_E_CONNECT);
    p.connect_host = "no-such-host.invalid";
    assert_int_equal(dps__tls_connect(&c, &p, dps__deadline_in(2000)), DPS_E_RESOLVE);
}

static void serve_slow_answer(SSL *ssl, int index, void *arg)
{
    (void)index;
    (void)arg;
    char buf[1024];
    (void)fx_read_request(ssl, buf, sizeof buf);
    usleep(500 * 1000);
}

static void test_read_timeout(void **state)
{
    (void)state;
    fx_start(&srv, serve_slow_answer, NULL, 1);
    dps_tls_conn c;
    dps__tls_init(&c);
    dps_tls_params p = params("localhost", srv.ca_path);
    assert_int_equal(dps__tls_connect(&c, &p, dps__deadline_in(5000)), DPS_OK);
    dps_http_response r;
    const char *req = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    int64_t t0 = dps_monotonic_ms();
    assert_int_equal(dps__http_exchange(&c, req, strlen(req), rx, sizeof rx, 1024,
                                        dps__deadline_in(150), NULL, &r),
                     DPS_E_TIMEOUT);
    assert_true(dps_monotonic_ms() - t0 < 450);
    dps__tls_close(&c);
    fx_join(&srv);
}

static void test_split_hostport(void **state)
{
    (void)state;
    char host[64];
    uint16_t port = 0;
    assert_int_equal(dps__split_hostport("127.0.0.1:8443", 1, host, sizeof host, &port), DPS_OK);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 8443);
    assert_int_equal(dps__split_hostport("localhost", 8883, host, sizeof host, &port), DPS_OK);
    assert_string_equal(host, "localhost");
    assert_int_equal(port, 8883);
    assert_int_equal(dps__split_hostport("[::1]:9000", 1, host, sizeof host, &port), DPS_OK);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 9000);
    assert_int_equal(dps__split_hostport("::1", 443, host, sizeof host, &port), DPS_OK);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 443);
    const char *bad[] = {"", ":80", "h:0", "h:65536", "h:x", "[::1", "[::1]x", "h:"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (dps__split_hostport(bad[i], 1, host, sizeof host, &port) != DPS_E_INVALID)
            fail_msg("accepted '%s'", bad[i]);
    }
    assert_int_equal(dps__split_hostport("averyveryverylonghostname", 1, host, 8, &port),
                     DPS_E_INVALID);
    assert_true(dps__is_ip_literal("10.0.0.1"));
    assert_true(dps__is_ip_literal("::1"));
    assert_false(dps__is_ip_literal("localhost"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_length),
        cmocka_unit_test(test_chunked_and_ip_name),
        cmocka_unit_test(test_read_to_close),
        cmocka_unit_test(test_caps_and_errors),
        cmocka_unit_test(test_verification),
        cmocka_unit_test(test_deadlines),
        cmocka_unit_test(test_read_timeout),
        cmocka_unit_test(test_split_hostport),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
