/* libdpsdevice: credentials and SAS tokens.
 *
 * A credential is a small vtable (style.md practice 12) the transports call:
 *   sign_sas      a SAS token for a resource (DPS and hub over SAS),
 *   tls_configure the client side of TLS (a client certificate for X.509),
 *   identity      the registration ID the credential implies (optional).
 * Symmetric keys (individual, or derived from a group key) are provided here;
 * X.509 certificates in dps/x509_credential.h; the TPM in dps/tpm.h.
 *
 * Ownership: every struct here is allocated by the caller. A credential must
 * outlive every client that uses it. Key material is copied into the
 * dps_symmetric_key and wiped by dps_symmetric_key_wipe(); the library never
 * logs it. Nothing here allocates (HMAC runs through OpenSSL's one-shot call). */
#ifndef DPS_DEVICE_CREDENTIAL_H
#define DPS_DEVICE_CREDENTIAL_H

#include <stddef.h>
#include <stdint.h>

#include "dps/result.h"
#include "dps/wire.h"

typedef struct dps_credential dps_credential;

typedef struct {
    const char *name; /* "symmetric-key", "x509", "tpm": for logs */
    /* Writes "SharedAccessSignature sr=<enc(resource)>&sig=..&se=<expiry>[&skn=..]"
     * into out (NUL-terminated). resource is the audience before encoding;
     * skn NULL means no key name. DPS_E_UNSUPPORTED when the credential does
     * not sign (X.509). Same out/out_len contract as the builders below. */
    dps_result (*sign_sas)(const dps_credential *cred, const char *resource, const char *skn,
                           int64_t expiry_s, char *out, size_t cap, size_t *out_len);
    /* Called with the SSL_CTX of every new connection before the handshake;
     * NULL when the credential adds nothing to TLS. */
    dps_result (*tls_configure)(const dps_credential *cred, void *ssl_ctx);
    /* The registration ID the credential itself names (X.509: the leaf's
     * subject CN), used when the provisioning options give none; NULL (the
     * member or its result) when the credential names nobody. */
    const char *(*identity)(const dps_credential *cred);
    /* TPM attestation (dps/tpm.h, tpm.md §4); NULL for other credentials.
     * tpm_keys: the endorsement and storage root keys (base64 TPM2B_PUBLIC)
     * for the register body; with them the first request goes without a SAS
     * and expects the 401 challenge. tpm_activate: imports an activation blob
     * (authenticationKey, base64) from the challenge or from the final
     * registrationState.tpm; sign_sas signs with that key from then on. */
    dps_result (*tpm_keys)(const dps_credential *cred, const char **ek_b64,
                           const char **srk_b64);
    dps_result (*tpm_activate)(const dps_credential *cred, const char *authentication_key_b64);
} dps_credential_ops;

struct dps_credential {
    const dps_credential_ops *ops;
};

/* ---- Symmetric keys ------------------------------------------------------- */

/* base is first so that &key->base is the credential to hand to a client. */
typedef struct {
    dps_credential base;
    uint8_t key[DPS_MAX_KEY_BYTES]; /* private */
    size_t key_len;                 /* private */
} dps_symmetric_key;

/* An individual enrollment's key (base64). DPS_E_INVALID for bad base64 or a
 * key that is empty or over DPS_MAX_KEY_BYTES. *out written on DPS_OK only. */
DPS_NODISCARD dps_result dps_symmetric_key_init(dps_symmetric_key *out, const char *key_b64);

/* An enrollment group's key: the device key is derived here
 * (HMAC-SHA256(base64dec(group key), registration ID), device-api.md §9). */
DPS_NODISCARD dps_result dps_symmetric_key_init_group(dps_symmetric_key *out,
                                                      const char *group_key_b64,
                                                      const char *registration_id);

/* The key as base64 (the form a hub's device identity stores). */
DPS_NODISCARD dps_result dps_symmetric_key_export(const dps_symmetric_key *k, char *out,
                                                  size_t cap, size_t *out_len);

/* Wipes the key; the struct can be initialised again. */
void dps_symmetric_key_wipe(dps_symmetric_key *k);

/* ---- Building blocks ------------------------------------------------------ */

/* Output contract shared by every builder in the library:
 *   DPS_OK        out holds the text and a NUL; *out_len = its length;
 *   DPS_E_NO_SPACE nothing written; *out_len = the cap needed (NUL included);
 *   DPS_E_INVALID  an argument breaks a rule; nothing written, *out_len = 0.
 * out may be NULL when cap is 0, to ask for the size. Never truncates. */

/* base64(HMAC-SHA256(base64dec(group key), registration ID)). */
DPS_NODISCARD dps_result dps_group_key_derive(const char *group_key_b64,
                                              const char *registration_id, char *out,
                                              size_t cap, size_t *out_len);

/* A SAS token signed with raw key bytes. The audience is percent-encoded
 * (RFC 3986 unreserved characters kept, upper-case hex: "%2F") and signed in
 * that encoded form, exactly as the token carries it (device-api.md §8.2). */
DPS_NODISCARD dps_result dps_sas_write(const uint8_t *key, size_t key_len, const char *resource,
                                       const char *skn, int64_t expiry_s, char *out, size_t cap,
                                       size_t *out_len);

/* The bare signature: base64(HMAC-SHA256(key, sr_as_sent "\n" se_text)), for
 * tests and tools that must sign an audience as some other client encodes it. */
DPS_NODISCARD dps_result dps_sas_signature_write(const uint8_t *key, size_t key_len,
                                                 const char *sr_as_sent, const char *se_text,
                                                 char *out, size_t cap, size_t *out_len);

/* Strict standard base64 into a caller buffer (no whitespace, padding
 * required). DPS_E_INVALID for bad input; DPS_E_NO_SPACE when over cap. */
DPS_NODISCARD dps_result dps_base64_decode(const char *in, size_t len, uint8_t *out, size_t cap,
                                           size_t *out_len);

#endif
