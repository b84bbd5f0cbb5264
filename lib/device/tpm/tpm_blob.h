/* Internal: the activation blob of tpm.md §6 (authenticationKey), split
 * into its six TPM structures with tpm2-tss's checked unmarshallers. */
#ifndef DPS_DEVICE_TPM_BLOB_H
#define DPS_DEVICE_TPM_BLOB_H

#include <stddef.h>
#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>

#include "dps/result.h"

typedef struct {
    TPM2B_ID_OBJECT credential;      /* 1: credentialBlob for ActivateCredential */
    TPM2B_ENCRYPTED_SECRET secret;   /* 2: the credential seed, sealed to the EK */
    TPM2B_PRIVATE duplicate;         /* 3: the duplicated HMAC key */
    TPM2B_ENCRYPTED_SECRET sym_seed; /* 4: the duplication seed, sealed to the SRK */
    TPM2B_PUBLIC public_area;        /* 5: the HMAC key's public area */
    TPM2B_DATA uri;                  /* 6: encrypted "URI" (unused; may be absent) */
} dps_tpm_blob;

/* Parses the decoded bytes. Elements 1-5 are required; element 6, when
 * present, must end the blob exactly. Element 5 must be a KEYEDHASH key.
 * DPS_E_INVALID otherwise; *out written on DPS_OK only. */
dps_result dps__tpm_blob_parse(const uint8_t *p, size_t len, dps_tpm_blob *out);

/* Strict base64 (DPS_MAX_TPM_AUTH_KEY characters at most), then the above. */
dps_result dps__tpm_blob_decode(const char *b64, dps_tpm_blob *out);

#endif
