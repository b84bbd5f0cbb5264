/* libdpsdevice: the TPM 2.0 credential (../shared/protocol/tpm.md).
 *
 * A device whose identity is its TPM's endorsement key (EK). The credential
 * talks to the TPM through tpm2-tss (ESAPI over the TCTI loader), so the
 * same code drives a software TPM ("swtpm:host=127.0.0.1,port=2321") or a
 * real one ("device:/dev/tpmrm0", the kernel's resource manager).
 *
 *     dps_tpm tpm;
 *     rc = dps_tpm_open(&tpm, "swtpm:host=127.0.0.1,port=2321", &log);
 *     printf("%s\n%s\n", dps_tpm_registration_id(&tpm), dps_tpm_endorsement_key(&tpm));
 *     o.credential = &tpm.base;        (prov and hub options alike)
 *     o.registration_id = NULL;        (the derived ID, or any other one)
 *     rc = dps_prov_register(&client, &o, &result);   (HTTPS only)
 *     ... the hub client signs its tokens in the TPM as well ...
 *     dps_tpm_close(&tpm);
 *
 * What open does (tpm.md §3): reads the EK at 0x81010001 and the SRK at
 * 0x81000001, creating either from its standard template (RSA-2048, the
 * TCG EK template with the PolicySecret(endorsement) policy; the SRK
 * template of tpm.md §3.1) and persisting it with EvictControl when the
 * handle is empty; then derives the registration ID (lower-case base32 of
 * SHA-256 over the EK's TPM2B_PUBLIC, 52 characters).
 *
 * In a registration the provisioning client sends EK and SRK, receives the
 * 401 challenge and calls dps_tpm_activate() with its authenticationKey:
 * ActivateCredential (EK under a PolicySecret(endorsement) session, SRK as
 * the credentialed key), Import of the server's HMAC key under the SRK,
 * Load, EvictControl to 0x81000100 (replacing what was there). SAS tokens
 * are then signed by TPM2_HMAC with that key: the key never leaves the TPM.
 * The final result's registrationState.tpm.authenticationKey is imported
 * the same way and becomes the hub key.
 *
 * Ownership and threads: the caller allocates the struct; tpm2-tss
 * allocates its own contexts, which dps_tpm_close() releases. One TPM
 * connection is not shareable across threads: use a credential from one
 * thread at a time. Owner and endorsement hierarchy authorisations are
 * taken to be empty (as on a fresh swtpm and most provisioned devices).
 * tpm2-tss itself logs to stderr according to TSS2_LOG; this library never
 * prints, its messages go to the logger given to open. */
#ifndef DPS_DEVICE_TPM_H
#define DPS_DEVICE_TPM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dps/credential.h"
#include "dps/log.h"
#include "dps/result.h"
#include "dps/wire.h"

#define DPS_TPM_DEFAULT_TCTI "swtpm:host=127.0.0.1,port=2321"
#define DPS_TPM_EK_HANDLE 0x81010001u
#define DPS_TPM_SRK_HANDLE 0x81000001u
#define DPS_TPM_KEY_HANDLE 0x81000100u
#define DPS_TPM_MAX_TCTI 256
#define DPS_TPM_MAX_PUBLIC_BYTES 640 /* marshalled TPM2B_PUBLIC (RSA-2048 EK: 316, SRK: 284) */
#define DPS_TPM_MAX_PUBLIC_B64 ((DPS_TPM_MAX_PUBLIC_BYTES + 2) / 3 * 4)
#define DPS_TPM_REGISTRATION_ID_LEN 52

/* base is first so that &tpm->base is the credential to hand to a client.
 * All other fields are private; use the accessors below. */
typedef struct {
    dps_credential base;
    void *tcti;              /* TSS2_TCTI_CONTEXT * */
    void *esys;              /* ESYS_CONTEXT * */
    uint32_t ek_tr, srk_tr;  /* ESYS_TR of the persistent EK and SRK */
    bool has_key;            /* 0x81000100 holds a key (imported, or found at open) */
    size_t ek_len, srk_len;
    uint8_t ek[DPS_TPM_MAX_PUBLIC_BYTES];
    uint8_t srk[DPS_TPM_MAX_PUBLIC_BYTES];
    char ek_b64[DPS_TPM_MAX_PUBLIC_B64 + 1];
    char srk_b64[DPS_TPM_MAX_PUBLIC_B64 + 1];
    char registration_id[DPS_TPM_REGISTRATION_ID_LEN + 1];
    dps_device_logger log;
} dps_tpm;

/* Connects to the TPM through the TCTI loader (tcti NULL:
 * DPS_TPM_DEFAULT_TCTI), sends Startup(CLEAR) (an already started TPM is
 * fine), reads or creates and persists EK and SRK, and derives the
 * registration ID. A key already at 0x81000100 is used for signing until a
 * blob replaces it. log may be NULL.
 * Results: DPS_OK; DPS_E_INVALID (TCTI string over DPS_TPM_MAX_TCTI);
 * DPS_E_CONNECT (no TPM behind the TCTI); DPS_E_TPM (a command failed; the
 * response code is logged); DPS_E_UNSUPPORTED (an object at the EK or SRK
 * handle that is not an RSA decryption key). *t is written on DPS_OK only;
 * nothing stays allocated otherwise. */
DPS_NODISCARD dps_result dps_tpm_open(dps_tpm *t, const char *tcti, const dps_device_logger *log);

/* Closes the TPM connection and wipes the struct. The persistent objects
 * stay in the TPM. Does nothing for NULL or a zeroed struct. */
void dps_tpm_close(dps_tpm *t);

/* The EK and SRK as base64 TPM2B_PUBLIC (what the register body carries and
 * what an operator enrolls), and the derived registration ID. */
const char *dps_tpm_endorsement_key(const dps_tpm *t);
const char *dps_tpm_storage_root_key(const dps_tpm *t);
const char *dps_tpm_registration_id(const dps_tpm *t);
/* The marshalled EK (TPM2B_PUBLIC bytes exactly as sent). */
const uint8_t *dps_tpm_endorsement_key_bytes(const dps_tpm *t, size_t *len);

/* Imports an activation blob (tpm.md §6, base64 as authenticationKey
 * carries it) to 0x81000100, per tpm.md §7. Results: DPS_OK; DPS_E_INVALID
 * (not base64, or not the six-part layout); DPS_E_TPM (the TPM refused the
 * blob: not made for this EK and SRK, or tampered with). On failure an
 * earlier key at 0x81000100 may be gone (it is evicted before the new one is
 * persisted). */
DPS_NODISCARD dps_result dps_tpm_activate(dps_tpm *t, const char *authentication_key_b64);

/* True when there is a key at 0x81000100 to sign with. */
bool dps_tpm_has_key(const dps_tpm *t);

/* HMAC-SHA256 over data, computed by the TPM with the key at 0x81000100
 * (sequence commands above 1024 bytes). DPS_E_UNSUPPORTED without a key. */
DPS_NODISCARD dps_result dps_tpm_hmac(dps_tpm *t, const void *data, size_t len,
                                      uint8_t mac[32]);

/* The registration ID of an EK: lower-case RFC 4648 base32 of SHA-256 over
 * the TPM2B_PUBLIC bytes, without padding (tpm.md §3.4). Builder contract
 * of dps/credential.h (52 characters and a NUL). */
DPS_NODISCARD dps_result dps_tpm_registration_id_derive(const uint8_t *ek, size_t ek_len,
                                                        char *out, size_t cap, size_t *out_len);

/* True when cred is a TPM credential of this library. */
bool dps_credential_is_tpm(const dps_credential *cred);

#endif
