/* The server-side TLS context: protocol floor, groups, certificate chain and
 * key, all in one place so every listener speaks the same TLS. */
#ifndef DPSD_TLS_H
#define DPSD_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *cert_file; /* PEM: server certificate, then its chain */
    const char *key_file;  /* PEM private key of the certificate */
    /* Seam for X.509 attestation: when set, the server asks every client for
     * a certificate and accepts whatever arrives (or nothing); the
     * application decides later from the enrollment, not OpenSSL from a
     * trust store. Off until the device API needs it. */
    bool request_client_cert;
} dpsd_tls_config;

/* Builds the SSL_CTX (free with SSL_CTX_free). Returns NULL with a one-line
 * reason in err (it includes OpenSSL's message). */
SSL_CTX *dpsd_tls_server_ctx(const dpsd_tls_config *cfg, char *err, size_t errlen);

#endif
