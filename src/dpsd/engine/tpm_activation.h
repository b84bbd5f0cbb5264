/* The TPM activation blob (tpm.md §6, §9): how dpsd hands a device's TPM an
 * HMAC key without a TPM of its own. The key is duplicated (in software) to
 * the device's storage root key, and the inner wrapper key of that
 * duplicate travels in a credential (software MakeCredential) that only the
 * enrolled endorsement key can open, bound to the SRK's Name. The device
 * runs ActivateCredential, Import and Load, and from then on signs with the
 * key inside its TPM.
 *
 * OpenSSL 3 only; no state, no store, no engine types, so the whole
 * construction is unit tested by playing the TPM's side with the private
 * keys (tests/unit/engine/test_tpm_activation.c). Every secret (the key's
 * seed value, the inner wrapper key, both seeds, the sensitive area, the
 * derived keys) is wiped before a function returns. */
#ifndef DPSD_ENGINE_TPM_ACTIVATION_H
#define DPSD_ENGINE_TPM_ACTIVATION_H

#include <stddef.h>
#include <stdint.h>

#include "pki/pki.h"

#define DPS_TPM_HMAC_KEY_LEN 32 /* K: the HMAC-SHA256 key delivered */
#define DPS_TPM_SEED_LEN 32     /* V, S, C: SHA-256 digest size */
#define DPS_TPM_INNER_KEY_LEN 16 /* W: AES-128 */
#define DPS_TPM_NAME_LEN 34     /* UINT16 nameAlg || SHA-256 */
/* The blob of an RSA-2048 EK and SRK with an empty identity-key policy:
 * 54 + 258 + 144 + 258 + 50 + 9 bytes (docs/internals/tpm.md). */
#define DPS_TPM_ACTIVATION_MAX 2048

/* The randomness of one blob, given explicitly only by tests (known
 * answers, round trips); dps_tpm_activation_build draws it itself. */
typedef struct {
    uint8_t seed_value[DPS_TPM_SEED_LEN];     /* V: the identity key's seedValue */
    uint8_t inner_key[DPS_TPM_INNER_KEY_LEN]; /* W: the inner wrapper key */
    uint8_t dup_seed[DPS_TPM_SEED_LEN];       /* S: seed of the outer wrapper (to the SRK) */
    uint8_t cred_seed[DPS_TPM_SEED_LEN];      /* C: seed of the credential (to the EK) */
    /* The identity key's authPolicy: opendps sends none (empty: the key can
     * never be duplicated again); tests pass §3.3's PolicyCommandCode
     * (Duplicate) digest to reproduce §9.4. At most 32 bytes. */
    const uint8_t *auth_policy;
    size_t auth_policy_len;
} dps_tpm_activation_inputs;

/* 0 when pub can take part in the construction as `what` ("endorsement
 * key", "storage root key"): RSA-2048, nameAlg SHA-256, symmetric
 * AES-128-CFB, restricted and decrypt. Otherwise -1 with the reason in
 * err. */
int dps_tpm_activation_check_key(const dps_tpm_public *pub, const char *what, char *err,
                                 size_t errlen);

/* Builds the six-part blob delivering key (DPS_TPM_HMAC_KEY_LEN bytes) to
 * the TPM holding ek, imported under srk. Returns 0 with *out (malloc'ed,
 * *outlen bytes; not secret: only that TPM can open it), or -1 with the
 * reason in err (unsupported key: the message names it; crypto failure). */
int dps_tpm_activation_build(const dps_tpm_public *ek, const dps_tpm_public *srk,
                             const uint8_t key[DPS_TPM_HMAC_KEY_LEN], uint8_t **out,
                             size_t *outlen, char *err, size_t errlen);
/* The same with the randomness given (tests). */
int dps_tpm_activation_build_with(const dps_tpm_public *ek, const dps_tpm_public *srk,
                                  const uint8_t key[DPS_TPM_HMAC_KEY_LEN],
                                  const dps_tpm_activation_inputs *in, uint8_t **out,
                                  size_t *outlen, char *err, size_t errlen);

/* ---- building blocks (exposed for the §9.4 known answers) ----------------- */

/* KDFa with SHA-256 (TPM 2.0 Part 1, 11.4.10.2): HMAC(key, UINT32 i ||
 * label || 0x00 || u || v || UINT32 bits) for i = 1, 2, ..., truncated to
 * bits / 8 bytes (bits a multiple of 8, at most 512). 0 or -1. */
int dps_tpm_kdfa_sha256(const uint8_t *key, size_t keylen, const char *label,
                        const uint8_t *u, size_t ulen, const uint8_t *v, size_t vlen,
                        size_t bits, uint8_t *out);

/* The identity key's TPMT_PUBLIC (KEYEDHASH, HMAC-SHA256, attributes sign |
 * userWithAuth | noDA, unique = SHA-256(seed_value || key)) into out.
 * Returns its length, or 0 when out is too small or the policy too long. */
size_t dps_tpm_identity_public(const uint8_t seed_value[DPS_TPM_SEED_LEN],
                               const uint8_t key[DPS_TPM_HMAC_KEY_LEN],
                               const uint8_t *auth_policy, size_t auth_policy_len,
                               uint8_t *out, size_t outmax);

/* Name of a TPMT_PUBLIC whose nameAlg is SHA-256: 0x000B || SHA-256(area).
 * 0 or -1. */
int dps_tpm_name_sha256(const uint8_t *area, size_t len, uint8_t out[DPS_TPM_NAME_LEN]);

#endif
