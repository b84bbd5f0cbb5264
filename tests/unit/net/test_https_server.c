/* net/https_server.c and net/tls_server.c over real TLS on 127.0.0.1: the
 * handler sees the decoded request, the answers the server gives itself go
 * through the daemon's error writer (or plain text without one), and the
 * listener reports its bound port. The client runs on a second thread with
 * blocking OpenSSL calls; the event loop runs on the test's thread. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/log.h"
#include "net/https_server.h"
#include "net/tls_server.h"

static char cert_path[64];
static char key_path[64];

/* A throw-away P-256 key and self-signed certificate in two temp files. */
static int make_cert(void **state)
{
    (void)state;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    assert_non_null(key);
    X509 *x = X509_new();
    assert_non_null(x);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1,
                               -1, 0);
    X509_set_issuer_name(x, name);
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);

    snprintf(cert_path, sizeof cert_path, "/tmp/dps-net-cert-XXXXXX");
    snprintf(key_path, sizeof key_path, "/tmp/dps-net-key-XXXXXX");
    int cfd = mkstemp(cert_path);
    int kfd = mkstemp(key_path);
    assert_true(cfd >= 0 && kfd >= 0);
    FILE *cf = fdopen(cfd, "w");
    FILE *kf = fdopen(kfd, "w");
    assert_true(PEM_write_X509(cf, x) == 1);
    assert_true(PEM_write_PrivateKey(kf, key, NULL, NULL, 0, NULL, NULL) == 1);
    fclose(cf);
    fclose(kf);
    X509_free(x);
    EVP_PKEY_free(key);
    return 0;
}

static int remove_cert(void **state)
{
    (void)state;
    unlink(cert_path);
    unlink(key_path);
    return 0;
}

/* ---- what the server side records --------------------------------------- */

typedef struct {
    int handled;          /* handler calls */
    char seen[512];       /* what the handler saw */
    int error_status;     /* last write_error call, 0 if none */
    char error_message[256];
} record;

static void echo_handler(void *arg, const dps_http_request *req, dps_http_response *res)
{
    record *r = arg;
    r->handled++;
    int n = snprintf(r->seen, sizeof r->seen, "%s %s q=%s n=%zu",
                     dps_http_method_name(req->method), req->path,
                     req->query != NULL ? req->query : "-", req->nsegments);
    for (size_t i = 0; i < req->nsegments && n > 0 && (size_t)n < sizeof r->seen; i++)
        n += snprintf(r->seen + n, sizeof r->seen - (size_t)n, " [%s]", req->segments[i]);
    if (req->nsegments == 1 && strcmp(req->segments[0], "nostatus") == 0)
        return; /* a handler bug: the server must answer 500 */
    json_t *body = json_pack("{s:s, s:I}", "peer", req->peer != NULL ? req->peer : "",
                             "body", (json_int_t)req->body_len);
    dps_http_response_set_json(res, 200, body);
    json_decref(body);
    dps_http_response_add_header(res, "X-Test", "yes");
}

static void record_error(void *arg, dps_http_response *res, int http_status,
                         const char *message)
{
    record *r = arg;
    r->error_status = http_status;
    snprintf(r->error_message, sizeof r->error_message, "%s", message);
    json_t *body = json_pack("{s:s}", "shape", "test");
    dps_http_response_set_json(res, http_status, body);
    json_decref(body);
}

/* ---- the client thread -------------------------------------------------- */

typedef struct {
    uint16_t port;
    const char *request;
    size_t request_len;
    char response[8192];
    int wake_fd; /* written once the exchange is over */
} client_job;

static void *client_main(void *arg)
{
    client_job *job = arg;
    job->response[0] = '\0';
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = NULL;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(job->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (ctx == NULL || fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        goto out;
    ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1)
        goto out;
    size_t off = 0;
    while (off < job->request_len) {
        int n = SSL_write(ssl, job->request + off, (int)(job->request_len - off));
        if (n <= 0)
            goto out;
        off += (size_t)n;
    }
    size_t got = 0;
    for (;;) {
        int n = SSL_read(ssl, job->response + got, (int)(sizeof job->response - 1 - got));
        if (n <= 0)
            break;
        got += (size_t)n;
        if (got == sizeof job->response - 1)
            break;
    }
    job->response[got] = '\0';
out:
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    if (fd >= 0)
        close(fd);
    if (write(job->wake_fd, "x", 1) != 1)
        abort();
    return NULL;
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopexit(arg, NULL);
}

/* Starts a server with opt (listen on 127.0.0.1:0), runs one exchange,
 * stops; the raw response lands in job->response. */
static void exchange(dps_https_server_options *opt, client_job *job)
{
    char err[512];
    dps_tls_server_config tc = {.cert_file = cert_path, .key_file = key_path};
    SSL_CTX *tls = dps_tls_server_ctx(&tc, err, sizeof err);
    if (tls == NULL)
        fail_msg("%s", err);
    struct event_base *base = event_base_new();
    assert_non_null(base);
    dps_listen_addr addr = {.host = "127.0.0.1", .port = 0};
    opt->listen = &addr;
    opt->nlisten = 1;
    dps_https_server *srv = dps_https_server_start(base, tls, opt, err, sizeof err);
    if (srv == NULL)
        fail_msg("%s", err);
    SSL_CTX_free(tls); /* the server holds its own reference */

    assert_int_equal(dps_https_server_listener_count(srv), 1);
    uint16_t port = dps_https_server_listener_port(srv, 0);
    assert_true(port != 0);
    char url[64];
    snprintf(url, sizeof url, "https://127.0.0.1:%u", (unsigned)port);
    assert_string_equal(dps_https_server_listener_url(srv, 0), url);
    assert_null(dps_https_server_listener_url(srv, 1));

    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    struct event *wake = event_new(base, pipefd[0], EV_READ, on_wake, base);
    assert_non_null(wake);
    assert_int_equal(event_add(wake, NULL), 0);
    job->port = port;
    job->wake_fd = pipefd[1];
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, client_main, job), 0);
    assert_int_equal(event_base_dispatch(base), 0);
    assert_int_equal(pthread_join(th, NULL), 0);

    event_free(wake);
    close(pipefd[0]);
    close(pipefd[1]);
    dps_https_server_free(&srv);
    assert_null(srv);
    event_base_free(base);
}

static void run(dps_https_server_options *opt, client_job *job, const char *request,
                size_t len)
{
    memset(job, 0, sizeof *job);
    job->request = request;
    job->request_len = len;
    exchange(opt, job);
}

static dps_https_server_options default_options(record *r)
{
    dps_https_server_options opt = {
        .max_body_bytes = 1024,
        .timeout_s = 10,
        .handle = echo_handler,
        .write_error = record_error,
        .arg = r,
    };
    return opt;
}

/* ---- tests -------------------------------------------------------------- */

static void test_request_reaches_handler(void **state)
{
    (void)state;
    record r = {0};
    dps_https_server_options opt = default_options(&r);
    client_job job;
    const char *req = "POST /Enrollments/b%20c?api-version=1&x=%41 HTTP/1.1\r\n"
                      "Host: localhost\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello";
    run(&opt, &job, req, strlen(req));
    assert_int_equal(r.handled, 1);
    assert_string_equal(r.seen,
                        "POST /Enrollments/b%20c q=api-version=1&x=%41 n=2 [Enrollments] [b c]");
    assert_int_equal(r.error_status, 0);
    if (strncmp(job.response, "HTTP/1.1 200", 12) != 0)
        fail_msg("response: %s", job.response);
    assert_non_null(strstr(job.response, "X-Test: yes"));
    assert_non_null(strstr(job.response, "Content-Type: application/json; charset=utf-8"));
    assert_non_null(strstr(job.response, "\"peer\":\"127.0.0.1:"));
    assert_non_null(strstr(job.response, "\"body\":5"));
}

static void test_oversized_body_uses_error_writer(void **state)
{
    (void)state;
    record r = {0};
    dps_https_server_options opt = default_options(&r);
    client_job job;
    char req[4096];
    int n = snprintf(req, sizeof req,
                     "PUT /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                     "Content-Length: 2000\r\n\r\n");
    memset(req + n, 'a', 2000);
    run(&opt, &job, req, (size_t)n + 2000);
    assert_int_equal(r.handled, 0);
    assert_int_equal(r.error_status, 413);
    assert_string_equal(r.error_message, "request body of 2000 bytes exceeds 1024");
    if (strncmp(job.response, "HTTP/1.1 413", 12) != 0)
        fail_msg("response: %s", job.response);
    assert_non_null(strstr(job.response, "{\"shape\":\"test\"}"));
}

static void test_bad_path_and_missing_status(void **state)
{
    (void)state;
    record r = {0};
    dps_https_server_options opt = default_options(&r);
    client_job job;
    /* an encoded '/' inside a segment is refused before the handler */
    const char *bad = "GET /a%2Fb HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    run(&opt, &job, bad, strlen(bad));
    assert_int_equal(r.handled, 0);
    assert_int_equal(r.error_status, 400);
    assert_string_equal(r.error_message, "malformed request path");
    assert_int_equal(strncmp(job.response, "HTTP/1.1 400", 12), 0);

    /* a handler that sets no status gets a 500 through the error writer */
    memset(&r, 0, sizeof r);
    const char *nostatus = "GET /nostatus HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    run(&opt, &job, nostatus, strlen(nostatus));
    assert_int_equal(r.handled, 1);
    assert_int_equal(r.error_status, 500);
    assert_string_equal(r.error_message, "internal error");
    assert_int_equal(strncmp(job.response, "HTTP/1.1 500", 12), 0);
}

static void test_too_many_headers(void **state)
{
    (void)state;
    record r = {0};
    dps_https_server_options opt = default_options(&r);
    client_job job;
    char req[4096];
    int n = snprintf(req, sizeof req, "GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for (int i = 0; i < DPS_HTTP_MAX_HEADERS; i++)
        n += snprintf(req + n, sizeof req - (size_t)n, "X-H%d: v\r\n", i);
    n += snprintf(req + n, sizeof req - (size_t)n, "\r\n");
    run(&opt, &job, req, (size_t)n);
    assert_int_equal(r.handled, 0);
    assert_int_equal(r.error_status, 400);
    assert_non_null(strstr(r.error_message, "more than 64 request headers"));
}

static void test_default_error_writer_is_plain_text(void **state)
{
    (void)state;
    record r = {0};
    dps_https_server_options opt = default_options(&r);
    opt.write_error = NULL;
    client_job job;
    const char *bad = "GET /a%zz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    run(&opt, &job, bad, strlen(bad));
    assert_int_equal(r.handled, 0);
    assert_int_equal(strncmp(job.response, "HTTP/1.1 400", 12), 0);
    assert_non_null(strstr(job.response, "Content-Type: text/plain; charset=utf-8"));
    assert_non_null(strstr(job.response, "\r\n\r\nmalformed request path"));
}

static void test_start_errors(void **state)
{
    (void)state;
    char err[512];
    dps_tls_server_config tc = {.cert_file = cert_path, .key_file = key_path};
    SSL_CTX *tls = dps_tls_server_ctx(&tc, err, sizeof err);
    assert_non_null(tls);
    struct event_base *base = event_base_new();
    record r = {0};
    dps_https_server_options opt = default_options(&r);

    opt.nlisten = 0;
    assert_null(dps_https_server_start(base, tls, &opt, err, sizeof err));
    assert_non_null(strstr(err, "listen addresses are needed"));

    dps_listen_addr addr = {.host = "127.0.0.1", .port = 0};
    opt.listen = &addr;
    opt.nlisten = 1;
    opt.handle = NULL;
    assert_null(dps_https_server_start(base, tls, &opt, err, sizeof err));
    assert_string_equal(err, "no request handler");

    /* a port in use: the message names the address */
    opt.handle = echo_handler;
    dps_https_server *first = dps_https_server_start(base, tls, &opt, err, sizeof err);
    assert_non_null(first);
    addr.port = dps_https_server_listener_port(first, 0);
    assert_null(dps_https_server_start(base, tls, &opt, err, sizeof err));
    char expect[64];
    snprintf(expect, sizeof expect, "cannot listen on 127.0.0.1:%u", (unsigned)addr.port);
    assert_non_null(strstr(err, expect));
    dps_https_server_free(&first);
    dps_https_server_free(&first); /* NULL again: harmless */

    SSL_CTX_free(tls);
    event_base_free(base);
}

static void test_tls_config_errors(void **state)
{
    (void)state;
    char err[1024];
    dps_tls_server_config none = {0};
    assert_null(dps_tls_server_ctx(&none, err, sizeof err));
    assert_string_equal(err, "TLS: no certificate or key configured");
    dps_tls_server_config missing = {.cert_file = "/nonexistent.pem", .key_file = key_path};
    assert_null(dps_tls_server_ctx(&missing, err, sizeof err));
    assert_non_null(strstr(err, "cannot load the certificate chain /nonexistent.pem"));
    /* the certificate given as its own key */
    dps_tls_server_config swapped = {.cert_file = cert_path, .key_file = cert_path};
    assert_null(dps_tls_server_ctx(&swapped, err, sizeof err));
    assert_non_null(strstr(err, "cannot load the private key"));
    /* an over-long session context is refused, not truncated */
    char sid[64];
    memset(sid, 's', sizeof sid - 1);
    sid[sizeof sid - 1] = '\0';
    dps_tls_server_config longsid = {
        .cert_file = cert_path, .key_file = key_path, .session_id_context = sid};
    assert_null(dps_tls_server_ctx(&longsid, err, sizeof err));
    assert_non_null(strstr(err, "session id context"));
    /* the client-certificate seam */
    dps_tls_server_config x509 = {
        .cert_file = cert_path, .key_file = key_path, .request_client_cert = true};
    SSL_CTX *ctx = dps_tls_server_ctx(&x509, err, sizeof err);
    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_get_verify_mode(ctx), SSL_VERIFY_PEER);
    assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
    SSL_CTX_free(ctx);
}

int main(void)
{
    dps_log_set_level(DPS_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_reaches_handler),
        cmocka_unit_test(test_oversized_body_uses_error_writer),
        cmocka_unit_test(test_bad_path_and_missing_status),
        cmocka_unit_test(test_too_many_headers),
        cmocka_unit_test(test_default_error_writer_is_plain_text),
        cmocka_unit_test(test_start_errors),
        cmocka_unit_test(test_tls_config_errors),
    };
    return cmocka_run_group_tests(tests, make_cert, remove_cert);
}
