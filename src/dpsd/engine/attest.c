/* Attestation dispatch (attest.h): the credentials a request carries pick
 * the mechanism. Symmetric key (a SAS token) and X.509 (a TLS client
 * certificate) and TPM (an EK in the body, the 401 challenge, then a SAS
 * signed with the challenge's key). TPM is asked first: its second PUT
 * carries a SAS token that only the TPM mechanism can verify. */
#include "engine/attest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/secret.h"

dps_attest_status dps_attest(const dps_attest_ctx *ctx, const dps_reg_request *req,
                             const char *regkey, dps_attest_result *out)
{
    memset(out, 0, sizeof *out);
    if (dps_attest__tpm_wanted(ctx, req, regkey))
        return dps_attest__tpm(ctx, req, regkey, out);
    if (req->sas_token != NULL && req->sas_token[0] != '\0')
        return dps_attest__symkey(ctx, req, regkey, out);
    if (req->client_leaf != NULL)
        return dps_attest__x509(ctx, req, regkey, out);
    snprintf(out->message, sizeof out->message,
             "no credentials: a SAS token, a TLS client certificate or a tpm member (TPM "
             "attestation) is required");
    return DPS_ATTEST_UNAUTHORIZED;
}

void dps_attest_result_free(dps_attest_result *r)
{
    json_decref(r->enrollment);
    dps_free_secret_string(r->primary_key);
    dps_free_secret_string(r->secondary_key);
    json_decref(r->x509);
    free(r->x509_thumbprint);
    json_decref(r->challenge);
    json_decref(r->tpm);
    json_decref(r->tpm_context);
    memset(r, 0, sizeof *r);
}
