/* Scaffolding shared by the unit tests that drive an MQTT server over real
 * TLS on loopback (tests/unit/mqttsrv, tests/unit/hubd_mqtt):
 *
 *   - tls_loop: the server's event loop on a second thread, and a way to run
 *     a function on that thread and wait for it (tls_loop_run);
 *   - tls_make_cert / tls_server_ctx: a self-signed P-256 certificate and a
 *     server context that uses it;
 *   - client: a blocking TLS client in the test thread that sends and
 *     receives whole MQTT packets.
 *
 * Include it (by relative path) after <cmocka.h>, once per test executable.
 * Before including, define TLS_LOOPBACK_RECV_BUF (the client's receive
 * buffer) and TLS_LOOPBACK_SEND_BUF (its encode buffer), in bytes.
 * Everything here is static inline: a test uses what it needs. */
#ifndef DPS_TESTS_TLS_LOOPBACK_H
#define DPS_TESTS_TLS_LOOPBACK_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "mqtt/mqtt.h"

#if !defined(TLS_LOOPBACK_RECV_BUF) || !defined(TLS_LOOPBACK_SEND_BUF)
#error "define TLS_LOOPBACK_RECV_BUF and TLS_LOOPBACK_SEND_BUF before including tls_loopback.h"
#endif

/* ---- the server's loop, on its own thread ----------------------------------- */

typedef void (*loop_fn)(void *arg);

typedef struct {
    struct event_base *base;
    pthread_t thread;
    int pipe_fd[2];
    struct event *cmd_ev;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    loop_fn fn;
    void *arg;
    bool done;
} tls_loop;

static inline void tls_loop_on_cmd(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    tls_loop *L = arg;
    char b;
    if (read(fd, &b, 1) != 1)
        return;
    pthread_mutex_lock(&L->mu);
    L->fn(L->arg);
    L->done = true;
    pthread_cond_signal(&L->cv);
    pthread_mutex_unlock(&L->mu);
}

static inline void *tls_loop_main(void *arg)
{
    tls_loop *L = arg;
    event_base_loop(L->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

/* Starts the loop thread over base (which stays the caller's). */
static inline void tls_loop_start(tls_loop *L, struct event_base *base)
{
    L->base = base;
    assert_int_equal(pipe(L->pipe_fd), 0);
    L->cmd_ev = event_new(base, L->pipe_fd[0], EV_READ | EV_PERSIST, tls_loop_on_cmd, L);
    assert_int_equal(event_add(L->cmd_ev, NULL), 0);
    pthread_mutex_init(&L->mu, NULL);
    pthread_cond_init(&L->cv, NULL);
    assert_int_equal(pthread_create(&L->thread, NULL, tls_loop_main, L), 0);
}

/* Runs fn(arg) on the loop thread and waits for it. */
static inline void tls_loop_run(tls_loop *L, loop_fn fn, void *arg)
{
    pthread_mutex_lock(&L->mu);
    L->fn = fn;
    L->arg = arg;
    L->done = false;
    if (write(L->pipe_fd[1], "x", 1) != 1)
        fail_msg("pipe write");
    while (!L->done)
        pthread_cond_wait(&L->cv, &L->mu);
    pthread_mutex_unlock(&L->mu);
}

/* Waits for the loop thread to end (a function run through tls_loop_run must
 * have broken the loop) and frees the command pipe. */
static inline void tls_loop_join(tls_loop *L)
{
    pthread_join(L->thread, NULL);
    event_free(L->cmd_ev);
    close(L->pipe_fd[0]);
    close(L->pipe_fd[1]);
}

/* ---- certificates -------------------------------------------------------------- */

/* A self-signed P-256 certificate for CN=cn, valid from a minute ago for an hour. */
static inline void tls_make_cert(const char *cn, EVP_PKEY **key_out, X509 **crt_out)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *crt = X509_new();
    assert_non_null(key);
    assert_non_null(crt);
    ASN1_INTEGER_set(X509_get_serialNumber(crt), 1);
    X509_gmtime_adj(X509_getm_notBefore(crt), -60);
    X509_gmtime_adj(X509_getm_notAfter(crt), 3600);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(crt), "CN", MBSTRING_ASC,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(crt, X509_get_subject_name(crt));
    X509_set_pubkey(crt, key);
    assert_true(X509_sign(crt, key, EVP_sha256()) > 0);
    *key_out = key;
    *crt_out = crt;
}

/* A server context with a self-signed certificate for "localhost". With a
 * verify callback it asks for a client certificate (SSL_VERIFY_PEER). */
static inline SSL_CTX *tls_server_ctx(SSL_verify_cb verify)
{
    EVP_PKEY *key;
    X509 *crt;
    tls_make_cert("localhost", &key, &crt);
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_use_certificate(ctx, crt), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(ctx, key), 1);
    if (verify != NULL)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify);
    /* No session tickets: the blocking client never has to read a
     * post-handshake record while it only waits for MQTT bytes. */
    SSL_CTX_set_num_tickets(ctx, 0);
    X509_free(crt);
    EVP_PKEY_free(key);
    return ctx;
}

/* ---- the client: blocking TLS ------------------------------------------------ */

typedef struct {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    uint8_t buf[TLS_LOOPBACK_RECV_BUF];
    size_t len;
    size_t consumed; /* the last packet returned, dropped on the next read */
    dps_mqtt_sub subs[8];
} client;

/* Connects to 127.0.0.1:port and completes the TLS handshake; with cert_cn,
 * presents a self-signed client certificate for that CN. */
static inline client *cl_open_port(uint16_t port, const char *cert_cn)
{
    client *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c->fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(c->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    struct timeval tv = {10, 0}; /* a backstop: nothing in a test waits longer */
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    c->ctx = SSL_CTX_new(TLS_client_method());
    if (cert_cn != NULL) {
        EVP_PKEY *key;
        X509 *crt;
        tls_make_cert(cert_cn, &key, &crt);
        assert_int_equal(SSL_CTX_use_certificate(c->ctx, crt), 1);
        assert_int_equal(SSL_CTX_use_PrivateKey(c->ctx, key), 1);
        X509_free(crt);
        EVP_PKEY_free(key);
    }
    c->ssl = SSL_new(c->ctx);
    SSL_set_fd(c->ssl, c->fd);
    assert_int_equal(SSL_connect(c->ssl), 1);
    return c;
}

static inline void cl_free(client *c)
{
    SSL_free(c->ssl);
    SSL_CTX_free(c->ctx);
    close(c->fd);
    free(c);
}

static inline void cl_raw(client *c, const void *p, size_t n)
{
    assert_int_equal(SSL_write(c->ssl, p, (int)n), (int)n);
}

static inline void cl_send(client *c, const dps_mqtt_packet *p)
{
    static uint8_t out[TLS_LOOPBACK_SEND_BUF];
    size_t n = 0;
    assert_int_equal(dps_mqtt_encode(p, out, sizeof out, &n), DPS_MQTT_OK);
    cl_raw(c, out, n);
}

enum { GOT = 0, TIMEOUT = -1, CLOSED = -2 };

/* The next packet within timeout_ms; views stay valid until the next call. */
static inline int cl_recv(client *c, dps_mqtt_packet *out, int timeout_ms)
{
    memmove(c->buf, c->buf + c->consumed, c->len - c->consumed);
    c->len -= c->consumed;
    c->consumed = 0;
    for (;;) {
        dps_mqtt_frame fr;
        dps_mqtt_result rc = dps_mqtt_frame_peek(c->buf, c->len, sizeof c->buf, &fr);
        if (rc == DPS_MQTT_OK) {
            assert_int_equal(dps_mqtt_decode(c->buf, fr.total_len, c->subs, 8, out),
                             DPS_MQTT_OK);
            c->consumed = fr.total_len;
            return GOT;
        }
        assert_int_equal(rc, DPS_MQTT_NEED_MORE);
        if (SSL_pending(c->ssl) == 0) {
            struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
            if (poll(&pfd, 1, timeout_ms) == 0)
                return TIMEOUT;
        }
        int n = SSL_read(c->ssl, c->buf + c->len, (int)(sizeof c->buf - c->len));
        if (n <= 0)
            return CLOSED;
        c->len += (size_t)n;
    }
}

static inline void cl_expect(client *c, dps_mqtt_packet *p, dps_mqtt_type type)
{
    int rc = cl_recv(c, p, 5000);
    if (rc != GOT)
        fail_msg("wanted %s, got %s", dps_mqtt_type_name(type),
                 rc == TIMEOUT ? "a timeout" : "a closed connection");
    if (p->type != type)
        fail_msg("wanted %s, got %s", dps_mqtt_type_name(type), dps_mqtt_type_name(p->type));
}

static inline void cl_expect_closed(client *c)
{
    dps_mqtt_packet p;
    int rc;
    do {
        rc = cl_recv(c, &p, 5000);
    } while (rc == GOT);
    assert_int_equal(rc, CLOSED);
}

#endif
