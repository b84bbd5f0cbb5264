/* Public-key infrastructure helpers on OpenSSL 3:
 *  - X.509 certificates as DPS shows them (parse PEM or base64 DER, compute
 *    the `info` block),
 *  - the local CA and server certificate dpsd/hubd generate on first start,
 *  - TPM 2.0 public areas (TPM2B_PUBLIC), as enrolled endorsement keys. */
#ifndef DPS_PKI_PKI_H
#define DPS_PKI_PKI_H

#include <jansson.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DPS_PKI_MAX_CERT_TEXT (64 * 1024)

/* ---- X.509 certificates ------------------------------------------------ */

/* Parses one certificate given as PEM text or as base64 of DER (whitespace
 * inside base64 tolerated). Returns the certificate (X509_free) or NULL with
 * a one-line reason in err. */
X509 *dps_x509_parse_text(const char *text, size_t len, char *err, size_t errlen);

/* The X509CertificateInfo object of the DPS service API:
 * {"subjectName", "sha1Thumbprint", "sha256Thumbprint", "issuerName",
 *  "notBeforeUtc", "notAfterUtc", "serialNumber", "version"}.
 * Names in RFC 4514-like "CN=x, O=y" order as OpenSSL prints them, thumbprints
 * and serial in upper-case hex without separators, dates in the 7-digit ISO
 * form, version as an integer (3 for v3). Returns a new object or NULL. */
json_t *dps_x509_info(const X509 *cert);

/* A name in the form of the info block's subjectName / issuerName (a new
 * string, free()) or NULL: the issuer of one certificate and the subject
 * of the certificate that issued it print alike, which X.509 attestation
 * uses to find stored certificates by name. */
char *dps_x509_name_text(const X509_NAME *name);

/* Upper-case hex SHA-1 (40 chars) / SHA-256 (64 chars) of the DER encoding. */
int dps_x509_thumbprint_sha1(const X509 *cert, char out[41]);
int dps_x509_thumbprint_sha256(const X509 *cert, char out[65]);

/* Base64 of the DER encoding (a new string) or NULL. */
char *dps_x509_to_base64_der(const X509 *cert);

/* ---- Local CA and server certificate ------------------------------------ */

typedef struct {
    char ca_cert[512];     /* DIR/ca.pem     the CA certificate clients trust */
    char ca_key[512];      /* DIR/ca.key     CA private key, mode 0600 */
    char server_cert[512]; /* DIR/server.pem server certificate + CA chain */
    char server_key[512];  /* DIR/server.key server private key, mode 0600 */
} dps_pki_paths;

/* Makes sure DIR holds a local CA (ECDSA P-256, 10 years) and a server
 * certificate signed by it (ECDSA P-256, ~2 years, EKU serverAuth) whose SANs
 * cover "localhost", "127.0.0.1", "::1" and every name in hostnames (DNS name
 * or IP literal). Existing files are reused; a server certificate that lacks
 * a requested name or expires within 30 days is reissued from the same CA.
 * ca_common_name names the CA (e.g. "opendps local CA"). Returns 0 or -1 with
 * the reason in err. */
int dps_pki_ensure_local_ca(const char *dir, const char *ca_common_name,
                            const char *const *hostnames, size_t nhostnames,
                            dps_pki_paths *out, char *err, size_t errlen);

/* ---- Issuing certificates ---------------------------------------------- */
/* Used by the local CA above; public so that tools and other modules' tests
 * can mint CA, device and server certificates without data files. */

#define DPS_PKI_MAX_SAN 64 /* subjectAltName entries per certificate */

typedef struct {
    const char *common_name;     /* subject CN (required) */
    const char *organization;    /* subject O, or NULL */
    int64_t not_before_s;        /* validity, Unix seconds */
    int64_t not_after_s;
    bool is_ca;                  /* CA:TRUE + keyCertSign|cRLSign, else CA:FALSE +
                                    digitalSignature (both critical) */
    int path_len;                /* CA only: pathLenConstraint, or -1 for none */
    bool server_auth;            /* extendedKeyUsage serverAuth */
    bool client_auth;            /* extendedKeyUsage clientAuth */
    const char *const *san;      /* DNS names or IP literals (may be NULL) */
    size_t nsan;                 /* duplicates are dropped; at most DPS_PKI_MAX_SAN */
} dps_cert_spec;

/* A new ECDSA P-256 key (EVP_PKEY_free) or NULL. */
EVP_PKEY *dps_pki_generate_p256(void);

/* Issues a v3 certificate for subject_key with a random positive 16-byte
 * serial, SKI and AKI, signed with SHA-256 (or pure EdDSA) by issuer_key.
 * issuer NULL means self-signed (issuer_key must then be subject_key).
 * issuer_key is not checked against issuer, so tests can mint a certificate
 * with a bad signature on purpose. Returns the certificate (X509_free) or
 * NULL with the reason in err. */
X509 *dps_pki_issue_cert(const dps_cert_spec *spec, EVP_PKEY *subject_key, X509 *issuer,
                         EVP_PKEY *issuer_key, char *err, size_t errlen);

/* True when name is usable as a SAN: an IPv4/IPv6 literal, or a DNS name
 * (LDH labels, at most 253 characters, optional leading "*." wildcard). */
bool dps_pki_san_name_valid(const char *name);

/* True when cert's subjectAltName holds name exactly: DNS names compared
 * case-insensitively, IP literals by address (so "::1" matches "0::1"). */
bool dps_x509_has_san(const X509 *cert, const char *name);

/* ---- TPM 2.0 public areas ---------------------------------------------- */

#define DPS_TPM_MAX_PUBLIC 1024

typedef struct {
    uint16_t type;          /* TPM_ALG_RSA (0x0001) or TPM_ALG_ECC (0x0023) */
    uint16_t name_alg;      /* TPM_ALG_SHA256 (0x000B) ... */
    uint32_t object_attributes;
    uint16_t rsa_key_bits;  /* RSA only */
    uint32_t rsa_exponent;  /* RSA only, 0 means 65537 */
    uint8_t unique[512];    /* RSA modulus or ECC x||y */
    size_t unique_len;
    uint8_t area[DPS_TPM_MAX_PUBLIC]; /* the TPMT_PUBLIC bytes (no size prefix) */
    size_t area_len;
} dps_tpm_public;

/* Parses a TPM2B_PUBLIC (2-byte big-endian size, then TPMT_PUBLIC) with every
 * length checked against the input. Trailing bytes after the structure are
 * refused. Returns 0 or -1 with the reason in err. */
int dps_tpm2b_public_parse(const uint8_t *data, size_t len, dps_tpm_public *out,
                           char *err, size_t errlen);
/* Same, from base64 text (the enrollment's endorsementKey). */
int dps_tpm2b_public_parse_b64(const char *b64, dps_tpm_public *out, char *err,
                               size_t errlen);
/* Canonical comparison: the public areas, byte for byte. */
bool dps_tpm_public_equal(const dps_tpm_public *a, const dps_tpm_public *b);

#endif
