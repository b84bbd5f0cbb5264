/* Attestation: which enrollment a device request belongs to, and whether
 * the device proved it (device-api.md §8-§10, service-api.md §12.1).
 * attest.c picks the mechanism from the credentials the request carries;
 * each mechanism lives in its own file (attest_symkey.c now; X.509 and TPM
 * join the switch in attest.c). */
#ifndef DPSD_ENGINE_ATTEST_H
#define DPSD_ENGINE_ATTEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine/registration.h"
#include "model/ids.h"
#include "store/store.h"

typedef enum {
    DPS_ATTEST_OK,           /* proven; see the result */
    DPS_ATTEST_UNAUTHORIZED, /* 401 401002 */
    DPS_ATTEST_NOT_FOUND,    /* 404 404201: no enrollment accepts this device */
    DPS_ATTEST_ERROR,        /* 500: store failure or no memory */
    /* TPM (attest_tpm.c): */
    DPS_ATTEST_CHALLENGE,    /* 401 with result.challenge as the body (tpm.md §4.2) */
    DPS_ATTEST_BAD_REQUEST,  /* 400 400001: a tpm member the challenge cannot use */
} dps_attest_status;

typedef struct {
    dps_store *store;
    int64_t now_s;
    /* Lower-case group ID the device registered through last time (from
     * its registration record), tried first: the regId -> group cache of
     * service-api.md §12.1, kept in the record so it survives restarts. */
    const char *group_hint;
    /* TPM: the engine's pending challenges (NULL: TPM unavailable), and
     * whether this is a register, the one request that may be answered
     * with a challenge and that uses a challenge key up. */
    struct dps_tpm_challenges *tpm_challenges;
    bool registering;
} dps_attest_ctx;

typedef struct {
    json_t *enrollment;  /* the deciding individual enrollment or group (owned) */
    bool is_group;
    char group_key[DPS_ID_KEY_SIZE]; /* lower-case group ID when is_group */
    bool disabled;       /* the device is blocked: final status "disabled" */
    /* The device's keys (base64, secrets) for its hub identity: the
     * enrollment's keys, or the ones derived from the group's keys. NULL
     * when disabled. */
    char *primary_key;
    char *secondary_key;
    /* X.509 (attest_x509.c): registrationState.x509 ({certificateInfo,
     * enrollmentGroupId, signingCertificateInfo}) and the SHA-256
     * thumbprint of the device's leaf, which becomes its selfSigned hub
     * identity (hub.md §9.2). NULL for the other mechanisms. */
    json_t *x509;
    char *x509_thumbprint;
    /* TPM (attest_tpm.c): with DPS_ATTEST_CHALLENGE the 401 body
     * {message, authenticationKey, keyName}; with OK on a register,
     * registrationState.tpm ({authenticationKey}: the blob delivering the
     * hub key in primary_key) and the allocation webhook's
     * deviceRuntimeContext.tpm ({endorsementKey, storageRootKey},
     * service-api.md §13.1). NULL otherwise. */
    json_t *challenge;
    json_t *tpm;
    json_t *tpm_context;
    char message[240];   /* why not OK (no key material) */
} dps_attest_result;

/* Attests req for the registration whose lower-case key is regkey. The
 * caller has checked the ID scope and the registration ID syntax. Free
 * out with dps_attest_result_free in every case. */
dps_attest_status dps_attest(const dps_attest_ctx *ctx, const dps_reg_request *req,
                             const char *regkey, dps_attest_result *out);
void dps_attest_result_free(dps_attest_result *r);

/* Cheap checks of a SAS token that need no enrollment: the prefix, the
 * fields, the expiry (with DPS_REG_SAS_SKEW_S) and the audience, which must
 * equal "{scope}/registrations/{registrationId}" of the request without
 * regard to case. Used before every key lookup and on every poll. */
dps_attest_status dps_attest_sas_precheck(const dps_reg_request *req, int64_t now_s,
                                          char *msg, size_t msglen);

/* The TPM mechanism (attest_tpm.c): wanted when the body carries "tpm",
 * or a SAS token comes for a registration with a TPM challenge. */
bool dps_attest__tpm_wanted(const dps_attest_ctx *ctx, const dps_reg_request *req,
                            const char *regkey);
dps_attest_status dps_attest__tpm(const dps_attest_ctx *ctx, const dps_reg_request *req,
                                  const char *regkey, dps_attest_result *out);

/* The X.509 mechanism (attest_x509.c): req->client_leaf is set. */
dps_attest_status dps_attest__x509(const dps_attest_ctx *ctx, const dps_reg_request *req,
                                   const char *regkey, dps_attest_result *out);

/* The symmetric-key mechanism (attest_symkey.c). */
dps_attest_status dps_attest__symkey(const dps_attest_ctx *ctx, const dps_reg_request *req,
                                     const char *regkey, dps_attest_result *out);

#endif
