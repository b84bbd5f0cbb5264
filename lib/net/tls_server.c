/* Server TLS context (see tls_server.h). */
#include "net/tls_server.h"

#include <openssl/err.h>
#include <stdio.h>
#include <string.h>

/* TLS 1.2 suites: forward secrecy and AEAD only, ECDSA first (the generated
 * server key is P-256), RSA kept for operators who bring an RSA certificate.
 * TLS 1.3 suites stay at OpenSSL's defaults, which are all good. */
#define TLS12_CIPHERS                                                                    \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"                       \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256:"                         \
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305"

/* X25519 first (fastest), P-256 for clients without it (many embedded TLS
 * stacks and FIPS builds). */
#define TLS_GROUPS "X25519:P-256"

static void tls_err(char *err, size_t errlen, const char *what)
{
    /* The first queued error is the root cause; later ones are context. */
    unsigned long e = ERR_get_error();
    char reason[256] = "no further detail";
    if (e != 0)
        ERR_error_string_n(e, reason, sizeof reason);
    ERR_clear_error();
    snprintf(err, errlen, "%s: %s", what, reason);
}

/* Accepts any client certificate (or none): X.509 attestation happens in
 * the application against the enrollment, which may pin a self-signed leaf
 * that no trust store would accept. */
static int accept_any_client_cert(int preverify_ok, X509_STORE_CTX *store)
{
    (void)preverify_ok;
    (void)store;
    return 1;
}

/* Session resumption and client certificates: a resumed session carries
 * the peer's leaf (in the session) but not the chain it sent (a ticket
 * holds no chain, and the handshake has no Certificate message), so X.509
 * attestation would see a leaf without its intermediates, and a revoked or
 * re-enrolled device could skip presenting its chain at all. A session that
 * holds a client certificate is therefore never resumed: the client does a
 * full handshake and presents the chain again. Sessions without one (SAS
 * devices, service callers) resume as usual. */
static SSL_TICKET_RETURN no_resume_with_client_cert(SSL *s, SSL_SESSION *ss,
                                                    const unsigned char *keyname,
                                                    size_t keyname_len,
                                                    SSL_TICKET_STATUS status, void *arg)
{
    (void)s;
    (void)keyname;
    (void)keyname_len;
    (void)arg;
    switch (status) {
    case SSL_TICKET_SUCCESS:
    case SSL_TICKET_SUCCESS_RENEW:
        if (ss != NULL && SSL_SESSION_get0_peer(ss) != NULL)
            return SSL_TICKET_RETURN_IGNORE_RENEW;
        return status == SSL_TICKET_SUCCESS ? SSL_TICKET_RETURN_USE
                                            : SSL_TICKET_RETURN_USE_RENEW;
    case SSL_TICKET_EMPTY:
    case SSL_TICKET_NO_DECRYPT:
    default:
        return SSL_TICKET_RETURN_IGNORE_RENEW;
    }
}

SSL_CTX *dps_tls_server_ctx(const dps_tls_server_config *cfg, char *err, size_t errlen)
{
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        tls_err(err, errlen, "TLS: cannot create context");
        return NULL;
    }
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
        tls_err(err, errlen, "TLS: cannot set the minimum version");
        goto fail;
    }
    /* Renegotiation only adds attack surface; compression invites CRIME. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* Idle keep-alive connections give their buffers back. */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1) {
        tls_err(err, errlen, "TLS: cannot set the TLS 1.2 cipher list");
        goto fail;
    }
    if (SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) != 1) {
        tls_err(err, errlen, "TLS: cannot set the key exchange groups");
        goto fail;
    }
    /* One TLS 1.3 ticket is enough for a device that reconnects once; the
     * default two cost a signature-free but non-trivial encryption each. */
    if (SSL_CTX_set_num_tickets(ctx, 1) != 1) {
        tls_err(err, errlen, "TLS: cannot set the ticket count");
        goto fail;
    }
    /* Needed for session resumption as soon as client certificates are
     * requested; harmless without. */
    const char *sid = cfg->session_id_context != NULL ? cfg->session_id_context : "opendps";
    /* OpenSSL refuses a context longer than SSL_MAX_SID_CTX_LENGTH itself. */
    if (SSL_CTX_set_session_id_context(ctx, (const unsigned char *)sid,
                                       (unsigned)strlen(sid)) != 1) {
        tls_err(err, errlen, "TLS: cannot set the session id context");
        goto fail;
    }

    if (cfg->cert_file == NULL || cfg->key_file == NULL) {
        snprintf(err, errlen, "TLS: no certificate or key configured");
        goto fail;
    }
    char what[700];
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->cert_file) != 1) {
        snprintf(what, sizeof what, "TLS: cannot load the certificate chain %s",
                 cfg->cert_file);
        tls_err(err, errlen, what);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg->key_file, SSL_FILETYPE_PEM) != 1) {
        snprintf(what, sizeof what, "TLS: cannot load the private key %s", cfg->key_file);
        tls_err(err, errlen, what);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(what, sizeof what, "TLS: %s does not match the certificate %s",
                 cfg->key_file, cfg->cert_file);
        tls_err(err, errlen, what);
        goto fail;
    }

    if (cfg->request_client_cert) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any_client_cert);
        /* Tickets are judged by the callback above; the stateful session
         * cache (TLS 1.2 session IDs) is off so that no resumption path
         * bypasses it. */
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        if (SSL_CTX_set_session_ticket_cb(ctx, NULL, no_resume_with_client_cert, NULL) != 1) {
            tls_err(err, errlen, "TLS: cannot set the session ticket callback");
            goto fail;
        }
    } else
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    return ctx;

fail:
    SSL_CTX_free(ctx);
    return NULL;
}
