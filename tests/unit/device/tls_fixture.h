/* A TLS test server for the libdpsdevice I/O tests: a fresh CA and a
 * server certificate (localhost, hub1.opendps.local, 127.0.0.1) made with
 * OpenSSL at start, a listener on 127.0.0.1 with an ephemeral port, and a
 * thread that accepts N connections and runs a scripted handler on each.
 * Plus small MQTT helpers (lib/mqtt) for fake DPS and hub brokers.
 * Header-only: each test executable includes it once. */
#ifndef DPS_TEST_TLS_FIXTURE_H
#define DPS_TEST_TLS_FIXTURE_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "mqtt/mqtt.h"

typedef struct {
    EVP_PKEY *key;
    X509 *cert;
} fx_cert;

static EVP_PKEY *fx_key(void)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    if (k == NULL)
        abort();
    return k;
}

static inline void fx_add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL || X509_add_ext(cert, ext, -1) != 1)
        abort();
    X509_EXTENSION_free(ext);
}

/* A certificate for cn signed by issuer (self-signed when issuer is NULL). */
static inline fx_cert fx_make_cert(const char *cn, const fx_cert *issuer, const char *san, long serial)
{
    fx_cert c = {fx_key(), X509_new()};
    X509_set_version(c.cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c.cert), serial);
    X509_gmtime_adj(X509_getm_notBefore(c.cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(c.cert), 3600 * 24);
    X509_NAME *name = X509_get_subject_name(c.cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(c.cert, issuer != NULL ? X509_get_subject_name(issuer->cert) : name);
    X509_set_pubkey(c.cert, c.key);
    X509 *iss = issuer != NULL ? issuer->cert : c.cert;
    if (issuer == NULL) {
        fx_add_ext(c.cert, iss, NID_basic_constraints, "critical,CA:TRUE");
        fx_add_ext(c.cert, iss, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        fx_add_ext(c.cert, iss, NID_basic_constraints, "critical,CA:FALSE");
        fx_add_ext(c.cert, iss, NID_subject_alt_name, san);
    }
    if (X509_sign(c.cert, issuer != NULL ? issuer->key : c.key, EVP_sha256()) == 0)
        abort();
    return c;
}

static inline void fx_cert_free(fx_cert *c)
{
    EVP_PKEY_free(c->key);
    X509_free(c->cert);
}

/* Writes a CA certificate to a new temporary file; path has 64 bytes. */
static inline void fx_write_pem(const fx_cert *ca, char *path)
{
    strcpy(path, "/tmp/dps-device-test-ca-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        abort();
    FILE *f = fdopen(fd, "w");
    PEM_write_X509(f, ca->cert);
    fclose(f);
}

typedef void (*fx_handler)(SSL *ssl, int index, void *arg);

typedef struct {
    fx_cert ca, server, other_ca;
    char ca_path[64];       /* the CA that issued the server certificate */
    char other_ca_path[64]; /* an unrelated CA */
    SSL_CTX *ctx;
    int listen_fd;
    uint16_t port;
    pthread_t thread;
    fx_handler handler;
    void *arg;
    int connections;
    bool raw;               /* no TLS: the handler gets NULL and raw_fd */
    int raw_fd;
} fx_server;

static void *fx_thread(void *p)
{
    fx_server *s = p;
    /* SIGPIPE is sent to the writing thread: blocked here, the test server
     * survives clients that hang up, while the library under test (on the
     * main thread) must protect itself. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    for (int i = 0; i < s->connections; i++) {
        int fd = accept(s->listen_fd, NULL, NULL);
        if (fd < 0)
            break;
        struct timeval tv = {5, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (s->raw) {
            s->raw_fd = fd;
            s->handler(NULL, i, s->arg);
            close(fd);
            continue;
        }
        SSL *ssl = SSL_new(s->ctx);
        SSL_set_fd(ssl, fd);
        if (SSL_accept(ssl) == 1)
            s->handler(ssl, i, s->arg);
        SSL_shutdown(ssl);
        SSL_free(ssl);
        close(fd);
        ERR_clear_error();
    }
    return NULL;
}

/* Creates the PKI and the listener (no thread yet). */
static inline void fx_init(fx_server *s)
{
    memset(s, 0, sizeof *s);
    s->ca = fx_make_cert("opendps test CA", NULL, NULL, 1);
    s->other_ca = fx_make_cert("unrelated CA", NULL, NULL, 2);
    s->server = fx_make_cert("localhost", &s->ca,
                             "DNS:localhost,DNS:hub1.opendps.local,IP:127.0.0.1", 3);
    fx_write_pem(&s->ca, s->ca_path);
    fx_write_pem(&s->other_ca, s->other_ca_path);
    s->ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate(s->ctx, s->server.cert);
    SSL_CTX_use_PrivateKey(s->ctx, s->server.key);
    s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(s->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s->listen_fd, 16) != 0)
        abort();
    socklen_t len = sizeof a;
    getsockname(s->listen_fd, (struct sockaddr *)&a, &len);
    s->port = ntohs(a.sin_port);
}

static inline void fx_start(fx_server *s, fx_handler h, void *arg, int connections)
{
    s->handler = h;
    s->arg = arg;
    s->connections = connections;
    pthread_create(&s->thread, NULL, fx_thread, s);
}

static inline void fx_join(fx_server *s)
{
    pthread_join(s->thread, NULL);
}

static inline void fx_free(fx_server *s)
{
    close(s->listen_fd);
    SSL_CTX_free(s->ctx);
    unlink(s->ca_path);
    unlink(s->other_ca_path);
    fx_cert_free(&s->ca);
    fx_cert_free(&s->other_ca);
    fx_cert_free(&s->server);
}

/* ---- HTTP helpers ---------------------------------------------------------- */

/* Reads one request (head + Content-Length body) into buf; returns its
 * length, 0 on EOF or error. */
static inline size_t fx_read_request(SSL *ssl, char *buf, size_t cap)
{
    size_t len = 0;
    for (;;) {
        buf[len] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end != NULL) {
            size_t head = (size_t)(end + 4 - buf);
            const char *cl = strcasestr(buf, "content-length:");
            size_t body = cl != NULL && cl < end ? strtoul(cl + 15, NULL, 10) : 0;
            if (len >= head + body)
                return len;
        }
        int n = SSL_read(ssl, buf + len, (int)(cap - 1 - len));
        if (n <= 0)
            return 0;
        len += (size_t)n;
    }
}

static inline void fx_write(SSL *ssl, const char *s)
{
    SSL_write(ssl, s, (int)strlen(s));
}

/* ---- MQTT helpers ---------------------------------------------------------- */

typedef struct {
    uint8_t buf[65536];
    size_t len;
    size_t last; /* size of the packet returned last; dropped on the next read */
    dps_mqtt_sub subs[8];
} fx_mqtt;

/* Reads the next packet (views into m->buf until the next call). */
static inline int fx_mqtt_read(SSL *ssl, fx_mqtt *m, dps_mqtt_packet *pkt)
{
    memmove(m->buf, m->buf + m->last, m->len - m->last);
    m->len -= m->last;
    m->last = 0;
    for (;;) {
        dps_mqtt_frame fr;
        dps_mqtt_result r = dps_mqtt_frame_peek(m->buf, m->len, sizeof m->buf, &fr);
        if (r == DPS_MQTT_OK) {
            if (dps_mqtt_decode(m->buf, fr.total_len, m->subs, 8, pkt) != DPS_MQTT_OK)
                return -1;
            m->last = fr.total_len;
            return 0;
        }
        if (r != DPS_MQTT_NEED_MORE)
            return -1;
        int n = SSL_read(ssl, m->buf + m->len, (int)(sizeof m->buf - m->len));
        if (n <= 0)
            return -1;
        m->len += (size_t)n;
    }
}

static inline void fx_mqtt_send(SSL *ssl, const dps_mqtt_packet *p)
{
    uint8_t out[65536];
    size_t n = 0;
    if (dps_mqtt_encode(p, out, sizeof out, &n) != DPS_MQTT_OK)
        abort();
    SSL_write(ssl, out, (int)n);
}

static inline void fx_mqtt_publish(SSL *ssl, const char *topic, const char *payload, uint8_t qos,
                            uint16_t id)
{
    dps_mqtt_packet p = {.type = DPS_MQTT_PUBLISH};
    p.u.publish.topic = dps_mqtt_cstr(topic);
    p.u.publish.payload.ptr = (const uint8_t *)payload;
    p.u.publish.payload.len = strlen(payload);
    p.u.publish.qos = qos;
    p.u.publish.packet_id = qos > 0 ? id : 0;
    fx_mqtt_send(ssl, &p);
}

static inline void fx_mqtt_connack(SSL *ssl, uint8_t code)
{
    dps_mqtt_packet p = {.type = DPS_MQTT_CONNACK};
    p.u.connack.return_code = code;
    fx_mqtt_send(ssl, &p);
}

static inline void fx_mqtt_suback(SSL *ssl, uint16_t id, size_t n, uint8_t code)
{
    uint8_t codes[8];
    memset(codes, code, sizeof codes);
    dps_mqtt_packet p = {.type = DPS_MQTT_SUBACK};
    p.u.suback.packet_id = id;
    p.u.suback.codes.ptr = codes;
    p.u.suback.codes.len = n;
    fx_mqtt_send(ssl, &p);
}

static inline void fx_mqtt_ack(SSL *ssl, dps_mqtt_type type, uint16_t id)
{
    dps_mqtt_packet p = {.type = type};
    p.u.packet_id = id;
    fx_mqtt_send(ssl, &p);
}

/* Copies a view into a NUL-terminated buffer. */
static inline void fx_copy(char *dst, size_t cap, const void *src, size_t n)
{
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

#endif
