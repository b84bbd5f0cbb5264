/* The server-side TLS context: protocol floor, groups, certificate chain and
 * key, all in one place so every listener of every daemon speaks the same
 * TLS. */
#ifndef DPS_NET_TLS_SERVER_H
#define DPS_NET_TLS_SERVER_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *cert_file; /* PEM: server certificate, then its chain */
    const char *key_file;  /* PEM private key of the certificate */
    /* Seam for X.509 attestation: when set, the server asks every client for
     * a certificate and accepts whatever arrives (or nothing); the
     * application decides later from the enrollment, not OpenSSL from a
     * trust store. A session that holds a client certificate is never
     * resumed (tls_server.c says why); other sessions resume. */
    bool request_client_cert;
    /* Names the service in session resumption, so a session from one
     * daemon is never resumed on another that shares the certificate; NULL
     * means "opendps". */
    const char *session_id_context;
} dps_tls_server_config;

/* Builds the SSL_CTX (free with SSL_CTX_free). Returns NULL with a one-line
 * reason in err (it includes OpenSSL's message). */
SSL_CTX *dps_tls_server_ctx(const dps_tls_server_config *cfg, char *err, size_t errlen);

#endif
