/* CA certificates of the instance (DPS_COLL_CA_CERTIFICATE, key = lower-case
 * name) and their proof of possession (service-api.md §11.4). The admin API
 * (api/admin_certificates.c) writes them, the service API checks that a
 * group's caReferences name verified ones (api/enroll_ops.c), and X.509
 * attestation trusts verified ones (engine/attest_x509.c).
 *
 * Stored document, ARM-shaped so the admin API can show it as is:
 *   {"name": "<as first written>",
 *    "properties": {"subject", "expiry", "thumbprint", "sha256Thumbprint",
 *                   "isVerified", "created", "updated", "certificate": PEM},
 *    "verificationCode": "<hex>"}   outstanding proof-of-possession code,
 *                                   internal: never shown by GET */
#ifndef DPSD_MODEL_CA_CERTIFICATE_H
#define DPSD_MODEL_CA_CERTIFICATE_H

#include <jansson.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DPS_CA_NAME_MAX 128
/* 20 random bytes in upper-case hex, the length IoT Hub samples show. */
#define DPS_CA_CODE_BYTES 20
#define DPS_CA_CODE_LEN (2 * DPS_CA_CODE_BYTES)

/* 1..128 characters of A-Z a-z 0-9 - . _ */
bool dps_ca_name_valid(const char *name);

/* A new stored document for cert. created/updated are RFC 1123 times. NULL
 * without memory. */
json_t *dps_ca_doc_build(const char *name, X509 *cert, bool verified, const char *created,
                         const char *updated);

/* The certificate a stored document holds (X509_free), or NULL. */
X509 *dps_ca_doc_cert(const json_t *doc);
/* isVerified, at the top of the document or under properties. */
bool dps_ca_doc_verified(const json_t *doc);

/* Checks a certificate given for upload: a CA (basicConstraints CA:TRUE)
 * that has not expired at now_s. 0, or -1 with the reason in msg. */
int dps_ca_upload_check(X509 *cert, int64_t now_s, char *msg, size_t msglen);

/* Proof of possession: pop must be signed by ca's key, name ca's subject
 * as its issuer, carry code as its subject CN (any case) and be valid at
 * now_s. 0, or -1 with the reason in msg. */
int dps_ca_pop_check(X509 *ca, X509 *pop, const char *code, int64_t now_s, char *msg,
                     size_t msglen);

/* A fresh verification code, DPS_CA_CODE_LEN upper-case hex digits. */
int dps_ca_new_code(char out[DPS_CA_CODE_LEN + 1]);

#endif
