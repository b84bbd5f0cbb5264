/* TLS client connections with deadlines (see tls_conn.h).
 *
 * A library must not let SIGPIPE kill its host process, and OpenSSL's socket
 * BIO writes without MSG_NOSIGNAL, so every call that may write to the
 * socket runs with SIGPIPE blocked for the calling thread; a SIGPIPE raised
 * meanwhile is consumed before the mask is restored (curl does the same). */
#include "device/io/tls_conn.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "device/devlog.h"
#include "device/io/addr.h"

typedef struct {
    sigset_t old;
    bool pending_before;
} sigpipe_guard;

static void sigpipe_block(sigpipe_guard *g)
{
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigpending(&pending);
    g->pending_before = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &set, &g->old);
}

static void sigpipe_restore(sigpipe_guard *g)
{
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigpending(&pending);
    if (!g->pending_before && sigismember(&pending, SIGPIPE) == 1) {
        struct timespec zero = {0, 0};
        (void)sigtimedwait(&set, NULL, &zero); /* ours: take it out */
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

void dps__tls_init(dps_tls_conn *c)
{
    c->fd = -1;
    c->ssl = NULL;
    c->ctx = NULL;
}

bool dps__tls_is_open(const dps_tls_conn *c)
{
    return c->ssl != NULL;
}

/* Waits until fd is ready for events or the deadline passes. */
static dps_result wait_fd(int fd, short events, int64_t deadline_ms)
{
    for (;;) {
        int64_t left = deadline_ms - dps_monotonic_ms();
        if (left <= 0)
            return DPS_E_TIMEOUT;
        struct pollfd pfd = {.fd = fd, .events = events};
        int r = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
        if (r > 0)
            return DPS_OK;
        if (r < 0 && errno != EINTR)
            return DPS_E_IO;
    }
}

static dps_result tcp_connect(dps_tls_conn *c, const dps_tls_params *p, int64_t deadline_ms)
{
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)p->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    /* getaddrinfo has no deadline: a numeric address (the usual case for a
     * gateway or connect address) never blocks. */
    int gr = getaddrinfo(p->connect_host, port, &hints, &res);
    if (gr != 0) {
        DLOG_ERROR(p->log, "cannot resolve %s: %s", p->connect_host, gai_strerror(gr));
        return DPS_E_RESOLVE;
    }
    dps_result rc = DPS_E_CONNECT;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        ai->ai_protocol);
        if (fd < 0)
            continue;
        int one = 1;
        /* Request/response traffic: never wait for Nagle (hub.md §2). */
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        int r = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (r != 0 && errno == EINPROGRESS) {
            rc = wait_fd(fd, POLLOUT, deadline_ms);
            if (rc == DPS_OK) {
                int err = 0;
                socklen_t len = sizeof err;
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
                    DLOG_WARN(p->log, "connect to %s port %s: %s", p->connect_host, port,
                              strerror(err != 0 ? err : errno));
                    rc = DPS_E_CONNECT;
                }
            }
        } else if (r != 0) {
            DLOG_WARN(p->log, "connect to %s port %s: %s", p->connect_host, port,
                      strerror(errno));
            rc = DPS_E_CONNECT;
        } else {
            rc = DPS_OK;
        }
        if (rc == DPS_OK) {
            c->fd = fd;
            break;
        }
        close(fd);
        if (rc == DPS_E_TIMEOUT)
            break;
    }
    freeaddrinfo(res);
    return rc;
}

static void log_ssl_errors(const dps_device_logger *log, const char *what)
{
    unsigned long e;
    char buf[256];
    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, buf, sizeof buf);
        DLOG_ERROR(log, "%s: %s", what, buf);
    }
}

/* The context first, before any network traffic: a bad CA file fails
 * without leaving a half-open connection at the server. */
static dps_result make_ctx(dps_tls_conn *c, const dps_tls_params *p)
{
    c->ctx = SSL_CTX_new(TLS_client_method());
    if (c->ctx == NULL)
        return DPS_E_CRYPTO;
    SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
    int ok = p->ca_file != NULL ? SSL_CTX_load_verify_locations(c->ctx, p->ca_file, NULL)
                                : SSL_CTX_set_default_verify_paths(c->ctx);
    if (ok != 1) {
        DLOG_ERROR(p->log, "cannot load trusted CAs from %s",
                   p->ca_file != NULL ? p->ca_file : "the system store");
        log_ssl_errors(p->log, "CA file");
        return DPS_E_CRYPTO;
    }
    if (p->credential != NULL && p->credential->ops->tls_configure != NULL) {
        dps_result rc = p->credential->ops->tls_configure(p->credential, c->ctx);
        if (rc != DPS_OK)
            return rc;
    }
    return DPS_OK;
}

static dps_result make_ssl(dps_tls_conn *c, const dps_tls_params *p)
{
    c->ssl = SSL_new(c->ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1)
        return DPS_E_CRYPTO;
    if (dps__is_ip_literal(p->server_name)) {
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), p->server_name) != 1)
            return DPS_E_CRYPTO;
    } else {
        if (SSL_set_tlsext_host_name(c->ssl, p->server_name) != 1 ||
            SSL_set1_host(c->ssl, p->server_name) != 1)
            return DPS_E_CRYPTO;
    }
    SSL_set_connect_state(c->ssl);
    return DPS_OK;
}

/* One step of an SSL call that returned r <= 0: wait as asked, or fail. */
static dps_result ssl_wait(dps_tls_conn *c, int r, int64_t deadline_ms)
{
    int err = SSL_get_error(c->ssl, r);
    switch (err) {
    case SSL_ERROR_WANT_READ: return wait_fd(c->fd, POLLIN, deadline_ms);
    case SSL_ERROR_WANT_WRITE: return wait_fd(c->fd, POLLOUT, deadline_ms);
    case SSL_ERROR_ZERO_RETURN: return DPS_E_CLOSED;
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        return errno == 0 || errno == EPIPE || errno == ECONNRESET ? DPS_E_CLOSED : DPS_E_IO;
    default: return DPS_E_TLS;
    }
}

dps_result dps__tls_connect(dps_tls_conn *c, const dps_tls_params *p, int64_t deadline_ms)
{
    dps__tls_close(c);
    ERR_clear_error();
    dps_result rc = make_ctx(c, p);
    if (rc == DPS_OK)
        rc = tcp_connect(c, p, deadline_ms);
    if (rc == DPS_OK)
        rc = make_ssl(c, p);
    sigpipe_guard g;
    sigpipe_block(&g);
    while (rc == DPS_OK) {
        errno = 0;
        int r = SSL_connect(c->ssl);
        if (r == 1)
            break;
        rc = ssl_wait(c, r, deadline_ms);
        if (rc == DPS_E_CLOSED || rc == DPS_E_IO)
            rc = DPS_E_TLS; /* the handshake did not finish */
    }
    sigpipe_restore(&g);
    if (rc == DPS_E_TLS && c->ssl != NULL) {
        long v = SSL_get_verify_result(c->ssl);
        if (v != X509_V_OK)
            DLOG_ERROR(p->log, "TLS: server certificate for %s not accepted: %s",
                       p->server_name, X509_verify_cert_error_string(v));
        else
            DLOG_ERROR(p->log, "TLS handshake with %s (%s port %u) failed", p->server_name,
                       p->connect_host, (unsigned)p->port);
        log_ssl_errors(p->log, "TLS");
    } else if (rc == DPS_E_TIMEOUT) {
        DLOG_ERROR(p->log, "connecting to %s (%s port %u) timed out", p->server_name,
                   p->connect_host, (unsigned)p->port);
    }
    if (rc != DPS_OK) {
        ERR_clear_error();
        dps__tls_close(c);
        return rc;
    }
    DLOG_DEBUG(p->log, "TLS connected to %s (%s port %u), %s", p->server_name, p->connect_host,
               (unsigned)p->port, SSL_get_version(c->ssl));
    return DPS_OK;
}

dps_result dps__tls_write(dps_tls_conn *c, const void *buf, size_t len, int64_t deadline_ms)
{
    if (c->ssl == NULL)
        return DPS_E_CLOSED;
    const uint8_t *p = buf;
    dps_result rc = DPS_OK;
    sigpipe_guard g;
    sigpipe_block(&g);
    while (len > 0 && rc == DPS_OK) {
        size_t n = 0;
        errno = 0;
        int r = SSL_write_ex(c->ssl, p, len, &n);
        if (r == 1) {
            p += n;
            len -= n;
            continue;
        }
        rc = ssl_wait(c, r, deadline_ms);
    }
    sigpipe_restore(&g);
    ERR_clear_error();
    return rc;
}

dps_result dps__tls_read(dps_tls_conn *c, void *buf, size_t cap, size_t *n, int64_t deadline_ms)
{
    *n = 0;
    if (c->ssl == NULL)
        return DPS_E_CLOSED;
    dps_result rc = DPS_OK;
    sigpipe_guard g;
    sigpipe_block(&g);
    for (;;) {
        errno = 0;
        int r = SSL_read_ex(c->ssl, buf, cap, n);
        if (r == 1)
            break;
        rc = ssl_wait(c, r, deadline_ms);
        if (rc != DPS_OK)
            break;
    }
    sigpipe_restore(&g);
    ERR_clear_error();
    return rc;
}

void dps__tls_close(dps_tls_conn *c)
{
    if (c->ssl != NULL && SSL_is_init_finished(c->ssl)) {
        sigpipe_guard g;
        sigpipe_block(&g);
        (void)SSL_shutdown(c->ssl); /* one close_notify, no waiting for the peer's */
        sigpipe_restore(&g);
    }
    if (c->ssl != NULL)
        SSL_free(c->ssl);
    if (c->ctx != NULL)
        SSL_CTX_free(c->ctx);
    if (c->fd >= 0)
        close(c->fd);
    ERR_clear_error();
    dps__tls_init(c);
}
