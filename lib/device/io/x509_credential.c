/* The X.509 credential (dps/x509_credential.h): leaf, intermediates and key
 * from PEM, handed to every new SSL_CTX; no SAS. */
#include "dps/x509_credential.h"

#include <assert.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/secret.h"
#include "device/devlog.h"

/* ---- The vtable ------------------------------------------------------------ */

static dps_result x509_sign(const dps_credential *cred, const char *resource, const char *skn,
                            int64_t expiry_s, char *out, size_t cap, size_t *out_len)
{
    (void)cred;
    (void)resource;
    (void)skn;
    (void)expiry_s;
    (void)out;
    (void)cap;
    if (out_len != NULL)
        *out_len = 0;
    return DPS_E_UNSUPPORTED; /* the TLS client certificate authenticates */
}

static dps_result x509_tls_configure(const dps_credential *cred, void *ssl_ctx)
{
    const dps_x509_credential *x = (const dps_x509_credential *)cred;
    SSL_CTX *ctx = ssl_ctx;
    if (SSL_CTX_use_certificate(ctx, x->cert) != 1 || SSL_CTX_use_PrivateKey(ctx, x->key) != 1)
        return DPS_E_CRYPTO;
    /* the intermediates go into the Certificate message after the leaf
     * (device-api.md §10), in the order they were given */
    for (size_t i = 0; i < x->chain_len; i++) {
        if (SSL_CTX_add1_chain_cert(ctx, x->chain[i]) != 1)
            return DPS_E_CRYPTO;
    }
    return SSL_CTX_check_private_key(ctx) == 1 ? DPS_OK : DPS_E_CRYPTO;
}

static const char *x509_identity(const dps_credential *cred)
{
    const dps_x509_credential *x = (const dps_x509_credential *)cred;
    return x->common_name[0] != '\0' ? x->common_name : NULL;
}

static const dps_credential_ops x509_ops = {
    .name = "x509",
    .sign_sas = x509_sign,
    .tls_configure = x509_tls_configure,
    .identity = x509_identity,
};

bool dps_credential_is_x509(const dps_credential *cred)
{
    return cred != NULL && cred->ops == &x509_ops;
}

/* ---- Loading ----------------------------------------------------------------- */

static void log_openssl(const dps_device_logger *log, const char *what)
{
    unsigned long e = ERR_peek_last_error();
    if (e != 0 && log != NULL) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        DLOG_ERROR(log, "%s: %s", what, buf);
    }
    ERR_clear_error();
}

/* Reads every CERTIFICATE block of pem (other blocks are skipped) into
 * certs, at most cap. *n = how many. DPS_E_INVALID when there are more. */
static dps_result read_certs(const char *pem, size_t len, X509 **certs, size_t cap, size_t *n,
                             const char *what, const dps_device_logger *log)
{
    *n = 0;
    if (len > DPS_X509_MAX_PEM || len > (size_t)INT32_MAX) {
        DLOG_ERROR(log, "%s: over %d bytes", what, DPS_X509_MAX_PEM);
        return DPS_E_INVALID;
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL)
        return DPS_E_CRYPTO;
    dps_result rc = DPS_OK;
    for (;;) {
        X509 *c = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (c == NULL)
            break;
        if (*n == cap) {
            X509_free(c);
            DLOG_ERROR(log, "%s: more than %zu certificates", what, cap);
            rc = DPS_E_INVALID;
            break;
        }
        certs[(*n)++] = c;
    }
    /* the loop ends on "no start line": only that is the normal end */
    unsigned long e = ERR_peek_last_error();
    if (rc == DPS_OK && e != 0 &&
        !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
        log_openssl(log, what);
        rc = DPS_E_INVALID;
    }
    ERR_clear_error();
    BIO_free(bio);
    if (rc != DPS_OK) {
        while (*n > 0)
            X509_free(certs[--(*n)]);
    }
    return rc;
}

typedef struct {
    bool asked;
} pass_state;

/* No passphrase prompts from a library: an encrypted key is refused. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    ((pass_state *)u)->asked = true;
    return -1;
}

static dps_result read_key(const char *pem, size_t len, EVP_PKEY **out,
                           const dps_device_logger *log)
{
    if (len > DPS_X509_MAX_PEM || len > (size_t)INT32_MAX) {
        DLOG_ERROR(log, "private key: over %d bytes", DPS_X509_MAX_PEM);
        return DPS_E_INVALID;
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL)
        return DPS_E_CRYPTO;
    pass_state ps = {false};
    *out = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, &ps);
    BIO_free(bio);
    if (*out != NULL) {
        ERR_clear_error();
        return DPS_OK;
    }
    if (ps.asked)
        DLOG_ERROR(log, "private key: encrypted keys are not supported (store it unencrypted, "
                        "mode 0600)");
    else
        log_openssl(log, "private key: no usable PEM private key");
    ERR_clear_error();
    return DPS_E_INVALID;
}

static int64_t asn1_time_to_unix(const ASN1_TIME *t)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return (int64_t)timegm(&tm);
}

static void hex_digest(const X509 *cert, const EVP_MD *md, char *out, size_t cap)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    out[0] = '\0';
    if (X509_digest(cert, md, d, &n) != 1 || (size_t)n * 2 + 1 > cap)
        return;
    static const char hex[] = "0123456789ABCDEF";
    for (unsigned int i = 0; i < n; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[2 * n] = '\0';
}

/* The leaf's subject CN, when it has one that fits. */
static void common_name(const X509 *cert, char *out, size_t cap, const dps_device_logger *log)
{
    out[0] = '\0';
    const X509_NAME *subject = X509_get_subject_name(cert);
    int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (i < 0) {
        DLOG_WARN(log, "the device certificate has no subject CN: give the registration ID");
        return;
    }
    unsigned char *utf8 = NULL;
    int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i)));
    if (n < 0) {
        ERR_clear_error();
        return;
    }
    if ((size_t)n < cap && memchr(utf8, '\0', (size_t)n) == NULL) {
        memcpy(out, utf8, (size_t)n);
        out[n] = '\0';
    } else {
        DLOG_WARN(log, "the device certificate's CN is longer than %zu characters", cap - 1);
    }
    OPENSSL_free(utf8);
}

static void free_parts(X509 **certs, size_t n, EVP_PKEY *key)
{
    for (size_t i = 0; i < n; i++)
        X509_free(certs[i]);
    EVP_PKEY_free(key);
}

dps_result dps_x509_credential_init_pem(dps_x509_credential *out, const char *cert_pem,
                                        size_t cert_len, const char *chain_pem, size_t chain_len,
                                        const char *key_pem, size_t key_len,
                                        const dps_device_logger *log)
{
    assert(out != NULL && cert_pem != NULL && key_pem != NULL);
    /* leaf + chain in one array while loading: certs[0] is the leaf */
    X509 *certs[1 + DPS_X509_MAX_CHAIN];
    size_t n = 0;
    dps_result rc = read_certs(cert_pem, cert_len, certs, 1 + DPS_X509_MAX_CHAIN, &n,
                               "device certificate", log);
    if (rc != DPS_OK)
        return rc;
    if (n == 0) {
        DLOG_ERROR(log, "device certificate: no PEM CERTIFICATE block");
        return DPS_E_INVALID;
    }
    if (chain_pem != NULL) {
        size_t m = 0;
        rc = read_certs(chain_pem, chain_len, certs + n, 1 + DPS_X509_MAX_CHAIN - n, &m,
                        "certificate chain", log);
        if (rc == DPS_OK && m == 0) {
            DLOG_ERROR(log, "certificate chain: no PEM CERTIFICATE block");
            rc = DPS_E_INVALID;
        }
        if (rc != DPS_OK) {
            free_parts(certs, n, NULL);
            return rc;
        }
        n += m;
    }
    EVP_PKEY *key = NULL;
    rc = read_key(key_pem, key_len, &key, log);
    if (rc == DPS_OK && X509_check_private_key(certs[0], key) != 1) {
        ERR_clear_error();
        DLOG_ERROR(log, "the private key does not belong to the device certificate");
        rc = DPS_E_INVALID;
    }
    if (rc != DPS_OK) {
        free_parts(certs, n, key);
        return rc;
    }

    memset(out, 0, sizeof *out);
    out->base.ops = &x509_ops;
    out->cert = certs[0];
    out->chain_len = n - 1;
    for (size_t i = 1; i < n; i++)
        out->chain[i - 1] = certs[i];
    out->key = key;
    common_name(out->cert, out->common_name, sizeof out->common_name, log);
    hex_digest(out->cert, EVP_sha1(), out->thumbprint_sha1, sizeof out->thumbprint_sha1);
    hex_digest(out->cert, EVP_sha256(), out->thumbprint_sha256, sizeof out->thumbprint_sha256);
    out->not_before_s = asn1_time_to_unix(X509_get0_notBefore(out->cert));
    out->not_after_s = asn1_time_to_unix(X509_get0_notAfter(out->cert));
    DLOG_DEBUG(log, "X.509 credential: CN %s, %zu intermediate%s, SHA-256 thumbprint %s",
               out->common_name[0] != '\0' ? out->common_name : "(none)", out->chain_len,
               out->chain_len == 1 ? "" : "s", out->thumbprint_sha256);
    return DPS_OK;
}

/* Reads a whole file of at most DPS_X509_MAX_PEM bytes. */
static dps_result read_file(const char *path, const char *what, char **out, size_t *len,
                            const dps_device_logger *log)
{
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        DLOG_ERROR(log, "%s %s: %s", what, path, strerror(errno));
        return DPS_E_IO;
    }
    char *buf = malloc(DPS_X509_MAX_PEM + 1);
    if (buf == NULL) {
        fclose(f);
        return DPS_E_IO;
    }
    size_t n = fread(buf, 1, DPS_X509_MAX_PEM + 1, f);
    bool failed = ferror(f) != 0;
    fclose(f);
    if (failed || n > DPS_X509_MAX_PEM) {
        DLOG_ERROR(log, "%s %s: %s", what, path,
                   failed ? "read error" : "file too large for a PEM certificate or key");
        dps_wipe(buf, n > DPS_X509_MAX_PEM ? DPS_X509_MAX_PEM + 1 : n);
        free(buf);
        return failed ? DPS_E_IO : DPS_E_INVALID;
    }
    *out = buf;
    *len = n;
    return DPS_OK;
}

dps_result dps_x509_credential_init(dps_x509_credential *out, const char *cert_file,
                                    const char *chain_file, const char *key_file,
                                    const dps_device_logger *log)
{
    assert(out != NULL && cert_file != NULL && key_file != NULL);
    char *cert = NULL, *chain = NULL, *key = NULL;
    size_t cert_len = 0, chain_len = 0, key_len = 0;
    dps_result rc = read_file(cert_file, "device certificate", &cert, &cert_len, log);
    if (rc == DPS_OK && chain_file != NULL)
        rc = read_file(chain_file, "certificate chain", &chain, &chain_len, log);
    if (rc == DPS_OK)
        rc = read_file(key_file, "private key", &key, &key_len, log);
    if (rc == DPS_OK)
        rc = dps_x509_credential_init_pem(out, cert, cert_len, chain, chain_len, key, key_len,
                                          log);
    /* the certificate file may hold the key too: wipe every buffer */
    if (cert != NULL)
        dps_wipe(cert, cert_len);
    if (chain != NULL)
        dps_wipe(chain, chain_len);
    if (key != NULL)
        dps_wipe(key, key_len);
    free(cert);
    free(chain);
    free(key);
    return rc;
}

void dps_x509_credential_free(dps_x509_credential *cred)
{
    if (cred == NULL || cred->base.ops != &x509_ops)
        return;
    X509_free(cred->cert);
    for (size_t i = 0; i < cred->chain_len && i < DPS_X509_MAX_CHAIN; i++)
        X509_free(cred->chain[i]);
    EVP_PKEY_free(cred->key);
    dps_wipe(cred, sizeof *cred);
}
