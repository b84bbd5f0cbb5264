/* The activation blob of tpm.md §6: six marshalled TPM structures back to
 * back, big-endian, read with tpm2-tss's bounds-checked unmarshallers (every
 * size field comes from the network). */
#include "device/tpm/tpm_blob.h"

#include <string.h>
#include <tss2/tss2_mu.h>

#include "common/secret.h"
#include "dps/credential.h"
#include "dps/wire.h"

dps_result dps__tpm_blob_parse(const uint8_t *p, size_t len, dps_tpm_blob *out)
{
    dps_tpm_blob b;
    memset(&b, 0, sizeof b);
    size_t off = 0;
    if (Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(p, len, &off, &b.credential) != TSS2_RC_SUCCESS ||
        Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(p, len, &off, &b.secret) != TSS2_RC_SUCCESS ||
        Tss2_MU_TPM2B_PRIVATE_Unmarshal(p, len, &off, &b.duplicate) != TSS2_RC_SUCCESS ||
        Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(p, len, &off, &b.sym_seed) != TSS2_RC_SUCCESS ||
        Tss2_MU_TPM2B_PUBLIC_Unmarshal(p, len, &off, &b.public_area) != TSS2_RC_SUCCESS)
        return DPS_E_INVALID;
    /* Element 6 is optional for the parsers of the SDKs that read 1-5 only;
     * when it is there it must be well formed and the last thing. */
    if (off < len &&
        (Tss2_MU_TPM2B_DATA_Unmarshal(p, len, &off, &b.uri) != TSS2_RC_SUCCESS || off != len))
        return DPS_E_INVALID;
    if (b.credential.size == 0 || b.secret.size == 0 || b.duplicate.size == 0 ||
        b.sym_seed.size == 0 || b.public_area.publicArea.type != TPM2_ALG_KEYEDHASH)
        return DPS_E_INVALID;
    *out = b;
    dps_wipe(&b, sizeof b);
    return DPS_OK;
}

dps_result dps__tpm_blob_decode(const char *b64, dps_tpm_blob *out)
{
    size_t n = strlen(b64);
    if (n == 0 || n > DPS_MAX_TPM_AUTH_KEY)
        return DPS_E_INVALID;
    uint8_t raw[DPS_MAX_TPM_AUTH_KEY / 4 * 3];
    size_t len = 0;
    dps_result rc = dps_base64_decode(b64, n, raw, sizeof raw, &len);
    if (rc == DPS_OK)
        rc = dps__tpm_blob_parse(raw, len, out);
    else
        rc = DPS_E_INVALID;
    dps_wipe(raw, sizeof raw);
    return rc;
}
