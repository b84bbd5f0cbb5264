/* Attestation dispatch (attest.h): the credentials a request carries pick
 * the mechanism. Symmetric key (a SAS token) is the only one so far; X.509
 * (a TLS client chain) and TPM (an EK in the body, the 401 challenge) add a
 * case here and a file of their own. */
#include "engine/attest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/secret.h"

dps_attest_status dps_attest(const dps_attest_ctx *ctx, const dps_reg_request *req,
                             const char *regkey, dps_attest_result *out)
{
    memset(out, 0, sizeof *out);
    if (req->sas_token != NULL && req->sas_token[0] != '\0')
        return dps_attest__symkey(ctx, req, regkey, out);
    snprintf(out->message, sizeof out->message,
             "no credentials: a SAS token is required (X.509 and TPM attestation are not "
             "available yet)");
    return DPS_ATTEST_UNAUTHORIZED;
}

void dps_attest_result_free(dps_attest_result *r)
{
    json_decref(r->enrollment);
    dps_free_secret_string(r->primary_key);
    dps_free_secret_string(r->secondary_key);
    memset(r, 0, sizeof *r);
}
