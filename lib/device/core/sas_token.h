/* The SAS token text around a signature, internal to libdpsdevice: every
 * credential that signs (the symmetric key in core/sas.c, the TPM in
 * tpm/tpm_credential.c) computes its HMAC its own way and then writes the
 * same token, so a device's token reads alike whatever holds its key. */
#ifndef DPS_DEVICE_CORE_SAS_TOKEN_H
#define DPS_DEVICE_CORE_SAS_TOKEN_H

#include <stddef.h>

#include "dps/result.h"
#include "dps/wire.h"

/* Longest "sr\nse" message a credential signs: a percent-encoded audience
 * fits a token. */
#define DPS__SAS_MSG_MAX DPS_MAX_SAS_TOKEN

/* "SharedAccessSignature sr=SR&sig=SIG&se=SE[&skn=SKN]" into out: sr (the
 * audience already percent-encoded, as it was signed) and se go out as
 * they are, sig (base64) and skn are percent-encoded here. Sizes as
 * dps_w_run reports them. */
dps_result dps__sas_token_write(const char *sr, const char *sig, const char *se,
                                const char *skn, char *out, size_t cap, size_t *out_len);

#endif
