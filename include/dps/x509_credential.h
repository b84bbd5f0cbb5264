/* libdpsdevice: X.509 credentials (device-api.md §10, hub.md §8.1).
 *
 * A device certificate, the intermediates up to the certificate its
 * enrollment names, and the private key, loaded once from PEM. The
 * credential implements tls_configure (the certificate, its chain and the
 * key go into every new SSL_CTX, so the server sees leaf + intermediates in
 * the TLS Certificate message) and refuses sign_sas with DPS_E_UNSUPPORTED,
 * which makes the transports send no Authorization header and no MQTT
 * password. Its identity is the leaf's subject CN: the provisioning client
 * uses it as the registration ID when the options leave that NULL.
 *
 *     dps_x509_credential x;
 *     rc = dps_x509_credential_init(&x, "device.pem", "chain.pem", "device.key", &log);
 *     o.credential = &x.base;          (prov and hub options alike)
 *     o.registration_id = NULL;        (the leaf CN: x.common_name)
 *     ...
 *     dps_x509_credential_free(&x);
 *
 * Ownership: the caller allocates the struct. Unlike the symmetric key, the
 * certificate, chain and key live in OpenSSL objects (OpenSSL allocates
 * them); dps_x509_credential_free() releases them and wipes the struct. The
 * credential is read-only after init: several clients, on several threads,
 * may use one credential at once. It must outlive every client using it.
 * The key never reaches the log. */
#ifndef DPS_DEVICE_X509_CREDENTIAL_H
#define DPS_DEVICE_X509_CREDENTIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dps/credential.h"
#include "dps/log.h"
#include "dps/result.h"
#include "dps/wire.h"

#define DPS_X509_MAX_CHAIN 8            /* intermediates sent after the leaf */
#define DPS_X509_MAX_PEM (256 * 1024)   /* largest PEM file read */

struct x509_st;
struct evp_pkey_st;

/* base is first so that &cred->base is the credential to hand to a client.
 * The text fields may be read; the rest is private. */
typedef struct {
    dps_credential base;
    char common_name[DPS_MAX_REGISTRATION_ID + 1]; /* leaf subject CN; "" when it has none
                                                       or it is longer than 128 */
    char thumbprint_sha1[41];   /* of the leaf's DER, upper-case hex */
    char thumbprint_sha256[65];
    int64_t not_before_s;       /* leaf validity, Unix seconds */
    int64_t not_after_s;
    size_t chain_len;           /* intermediates held */
    struct x509_st *cert;       /* private */
    struct x509_st *chain[DPS_X509_MAX_CHAIN]; /* private */
    struct evp_pkey_st *key;    /* private */
} dps_x509_credential;

/* Loads the credential from PEM files:
 *   cert_file   the device (leaf) certificate; further certificates in the
 *               same file are taken as its chain (the C SDK's one-file form);
 *   chain_file  optional (NULL): more intermediates, appended in file order;
 *               give them leaf-side first, up to (and not including, though
 *               including it does no harm) the certificate the enrollment or
 *               the verified CA names;
 *   key_file    the leaf's private key, RSA or EC (PKCS#8 or traditional;
 *               an encrypted key is refused, there is no passphrase prompt).
 * Checks that the key belongs to the leaf. log may be NULL; otherwise the
 * reason for a failure is logged at error level.
 * Results: DPS_OK; DPS_E_IO (a file cannot be read); DPS_E_INVALID (no
 * certificate, not PEM, key mismatch, encrypted key, more than
 * DPS_X509_MAX_CHAIN intermediates, file over DPS_X509_MAX_PEM);
 * DPS_E_CRYPTO. *out is written on DPS_OK only. */
DPS_NODISCARD dps_result dps_x509_credential_init(dps_x509_credential *out,
                                                  const char *cert_file, const char *chain_file,
                                                  const char *key_file,
                                                  const dps_device_logger *log);

/* Same from PEM text in memory (firmware, tests, certificates made on the
 * fly). chain_pem may be NULL. Lengths are of the text, without a NUL. */
DPS_NODISCARD dps_result dps_x509_credential_init_pem(dps_x509_credential *out,
                                                      const char *cert_pem, size_t cert_len,
                                                      const char *chain_pem, size_t chain_len,
                                                      const char *key_pem, size_t key_len,
                                                      const dps_device_logger *log);

/* Releases the OpenSSL objects and wipes the struct. Does nothing for NULL
 * or for a zeroed struct (init leaves *out untouched when it fails, so zero
 * it first if the cleanup path cannot tell). */
void dps_x509_credential_free(dps_x509_credential *cred);

/* True when cred is an X.509 credential of this library. */
bool dps_credential_is_x509(const dps_credential *cred);

#endif
