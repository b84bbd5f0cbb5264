/* TPM attestation (tpm.md §4, §5, §9, §10; docs/internals/tpm.md).
 *
 * First PUT: the body names the EK and SRK and there is no Authorization.
 * The EK must be the one an individual TPM enrollment holds; the answer is
 * a 401 whose body carries a blob only that EK's TPM can open, delivering a
 * fresh HMAC key imported under the SRK. Second PUT: a SAS token signed
 * with that key, which only the TPM that opened the blob can have made.
 * The accepted register gets a second blob with another fresh key, which
 * becomes the hub device's primary key so the device signs hub tokens
 * inside its TPM too.
 *
 * Keys are generated here, copied once into the challenge table (K1) or
 * into base64 strings the hub job takes (K2), and wiped at once. */
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/b64.h"
#include "common/json.h"
#include "common/log.h"
#include "common/sas.h"
#include "common/secret.h"
#include "engine/attest.h"
#include "engine/tpm_activation.h"
#include "engine/tpm_challenges.h"

/* What the C SDK uses as skn for the second PUT (tpm.md §4.2); the verifier
 * accepts any skn, as for symmetric keys. */
#define KEY_NAME "registration"
#define CHALLENGE_MESSAGE                                                                         \
    "TPM challenge: activate the credential, import the key under the storage root key and "     \
    "sign the SAS token with it"

/* The "tpm" member of a DeviceRegistration body, parsed. */
typedef struct {
    bool present;
    bool has_srk;
    dps_tpm_public ek;
    dps_tpm_public srk;
} tpm_body;

static int64_t now_ms(const dps_attest_ctx *ctx)
{
    return ctx->now_s * 1000;
}

/* Reads "tpm" from the body. 0 (present or not), or -1 with out->message
 * for a body the challenge cannot use (400). */
static int read_body(const dps_reg_request *req, tpm_body *tb, dps_attest_result *out)
{
    memset(tb, 0, sizeof *tb);
    if (req->body == NULL || req->body_len == 0 ||
        memmem(req->body, req->body_len, "\"tpm\"", 5) == NULL)
        return 0;
    char err[200];
    json_t *doc = dps_json_parse_object(req->body, req->body_len, DPS_JSON_MAX_BODY, err,
                                        sizeof err);
    if (doc == NULL) {
        snprintf(out->message, sizeof out->message, "the body is not a JSON object: %s", err);
        return -1;
    }
    int rc = 0;
    const json_t *t = json_object_get(doc, "tpm");
    if (t != NULL && !json_is_null(t)) {
        const char *ek = json_string_value(json_object_get(t, "endorsementKey"));
        const json_t *srk = json_object_get(t, "storageRootKey");
        char why[160] = "";
        tb->present = true;
        if (!json_is_object(t) || ek == NULL) {
            snprintf(out->message, sizeof out->message,
                     "tpm must be an object with the endorsementKey and storageRootKey strings");
            rc = -1;
        } else if (dps_tpm2b_public_parse_b64(ek, &tb->ek, why, sizeof why) != 0) {
            snprintf(out->message, sizeof out->message, "tpm.endorsementKey: %s", why);
            rc = -1;
        } else if (srk != NULL && !json_is_null(srk)) {
            if (!json_is_string(srk) ||
                dps_tpm2b_public_parse_b64(json_string_value(srk), &tb->srk, why, sizeof why) !=
                    0) {
                snprintf(out->message, sizeof out->message, "tpm.storageRootKey: %s",
                         json_is_string(srk) ? why : "must be a string");
                rc = -1;
            } else {
                tb->has_srk = true;
            }
        }
    }
    json_decref(doc);
    return rc;
}

/* Does the body have a non-null "tpm" member? Cheap for every other body:
 * the JSON is parsed only when the text contains "tpm" at all. A "tpm"
 * the parser refuses later still counts (the mechanism answers 400). */
static bool body_has_tpm(const dps_reg_request *req)
{
    if (req->body == NULL || req->body_len == 0 ||
        memmem(req->body, req->body_len, "\"tpm\"", 5) == NULL)
        return false;
    char err[8];
    json_t *doc = dps_json_parse_object(req->body, req->body_len, DPS_JSON_MAX_BODY, err,
                                        sizeof err);
    const json_t *t = json_object_get(doc, "tpm");
    bool has = t != NULL && !json_is_null(t);
    json_decref(doc);
    return has;
}

bool dps_attest__tpm_wanted(const dps_attest_ctx *ctx, const dps_reg_request *req,
                            const char *regkey)
{
    if (body_has_tpm(req))
        return true;
    /* The second PUT of IoT Edge carries no "tpm": a SAS for a
     * registration with a challenge is TPM. */
    return req->sas_token != NULL && req->sas_token[0] != '\0' &&
           ctx->tpm_challenges != NULL &&
           dps_tpm_challenges_known(ctx->tpm_challenges, regkey, now_ms(ctx));
}

static json_t *load_enrollment(const dps_record *rec)
{
    json_error_t jerr;
    json_t *doc = json_loads(rec->doc, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(doc)) {
        log_error("registration: stored enrollment '%s' is not a JSON object", rec->key);
        json_decref(doc);
        return NULL;
    }
    return doc;
}

static bool is_disabled(const json_t *doc)
{
    const char *s = json_string_value(json_object_get(doc, "provisioningStatus"));
    return s != NULL && strcasecmp(s, "disabled") == 0;
}

static int area_digest(const dps_tpm_public *pub, uint8_t out[32])
{
    unsigned n = 0;
    return EVP_Digest(pub->area, pub->area_len, out, &n, EVP_sha256(), NULL) == 1 && n == 32
               ? 0
               : -1;
}

/* base64 of a fresh random 32-byte key, or NULL. The raw key stays in
 * key (the caller wipes it). */
static char *fresh_key(uint8_t key[DPS_TPM_HMAC_KEY_LEN])
{
    if (RAND_priv_bytes(key, DPS_TPM_HMAC_KEY_LEN) != 1)
        return NULL;
    return dps_b64_encode(key, DPS_TPM_HMAC_KEY_LEN);
}

/* The first PUT: a new challenge for the enrolled EK, wrapped to the SRK
 * the device sent. */
static dps_attest_status issue_challenge(const dps_attest_ctx *ctx, const dps_reg_request *req,
                                         const char *regkey, const dps_tpm_public *ek,
                                         const tpm_body *tb, dps_attest_result *out)
{
    if (!tb->has_srk) {
        snprintf(out->message, sizeof out->message,
                 "tpm.storageRootKey is required to receive the TPM challenge");
        return DPS_ATTEST_BAD_REQUEST;
    }
    char why[200];
    if (dps_tpm_activation_check_key(ek, "endorsement key", why, sizeof why) != 0 ||
        dps_tpm_activation_check_key(&tb->srk, "storage root key", why, sizeof why) != 0) {
        snprintf(out->message, sizeof out->message, "cannot make a TPM challenge: %s", why);
        return DPS_ATTEST_BAD_REQUEST;
    }
    uint8_t key[DPS_TPM_HMAC_KEY_LEN], ek_digest[32];
    uint8_t *blob = NULL;
    size_t bloblen = 0;
    char *blob64 = NULL;
    dps_attest_status st = DPS_ATTEST_ERROR;
    if (RAND_priv_bytes(key, sizeof key) != 1 || area_digest(ek, ek_digest) != 0) {
        snprintf(out->message, sizeof out->message, "no randomness for the TPM challenge");
        goto done;
    }
    if (dps_tpm_activation_build(ek, &tb->srk, key, &blob, &bloblen, why, sizeof why) != 0) {
        log_error("registration %s: %s", req->registration_id, why);
        snprintf(out->message, sizeof out->message, "%s", why);
        goto done;
    }
    blob64 = dps_b64_encode(blob, bloblen);
    /* Members in the order of tpm.md §4.3, and no "status": the C SDK
     * recognises the challenge by its absence. */
    out->challenge = blob64 != NULL ? json_pack("{s:s,s:s,s:s}", "message", CHALLENGE_MESSAGE,
                                                "authenticationKey", blob64, "keyName",
                                                KEY_NAME)
                                    : NULL;
    if (out->challenge == NULL ||
        dps_tpm_challenges_add(ctx->tpm_challenges, regkey, key, ek_digest, &tb->srk,
                               now_ms(ctx)) != 0) {
        snprintf(out->message, sizeof out->message, "out of memory");
        goto done;
    }
    snprintf(out->message, sizeof out->message, "TPM challenge");
    log_info("registration %s: TPM challenge issued (valid %d s)", req->registration_id,
             DPS_TPM_CHALLENGE_TTL_S);
    st = DPS_ATTEST_CHALLENGE;
done:
    dps_wipe(key, sizeof key);
    free(blob);
    free(blob64);
    return st;
}

/* The webhook's view of the device's keys: the EK as enrolled and the SRK
 * the blob is wrapped to, both base64 TPM2B_PUBLIC. */
static json_t *webhook_context(const char *ek_b64, const dps_tpm_public *srk)
{
    uint8_t raw[2 + DPS_TPM_MAX_PUBLIC];
    if (srk->area_len > DPS_TPM_MAX_PUBLIC)
        return NULL;
    raw[0] = (uint8_t)(srk->area_len >> 8);
    raw[1] = (uint8_t)srk->area_len;
    memcpy(raw + 2, srk->area, srk->area_len);
    char *srk_b64 = dps_b64_encode(raw, 2 + srk->area_len);
    json_t *ctx = srk_b64 != NULL ? json_pack("{s:s,s:s}", "endorsementKey", ek_b64,
                                              "storageRootKey", srk_b64)
                                  : NULL;
    free(srk_b64);
    return ctx;
}

/* The accepted register's hub key (tpm.md §10): K2 goes to the hub as the
 * primary key and to the device in a second blob; the secondary key is
 * random and handed to nobody (the hub wants two). */
static dps_attest_status hub_key(const dps_reg_request *req, const dps_tpm_public *ek,
                                 const char *ek_b64, const dps_tpm_public *srk,
                                 dps_attest_result *out)
{
    uint8_t k2[DPS_TPM_HMAC_KEY_LEN], spare[DPS_TPM_HMAC_KEY_LEN];
    uint8_t *blob = NULL;
    size_t bloblen = 0;
    char *blob64 = NULL;
    char why[200] = "";
    dps_attest_status st = DPS_ATTEST_ERROR;
    out->primary_key = fresh_key(k2);
    out->secondary_key = fresh_key(spare);
    if (out->primary_key == NULL || out->secondary_key == NULL)
        goto done;
    if (dps_tpm_activation_build(ek, srk, k2, &blob, &bloblen, why, sizeof why) != 0) {
        log_error("registration %s: hub key blob: %s", req->registration_id, why);
        goto done;
    }
    blob64 = dps_b64_encode(blob, bloblen);
    out->tpm = blob64 != NULL ? json_pack("{s:s}", "authenticationKey", blob64) : NULL;
    out->tpm_context = webhook_context(ek_b64, srk);
    if (out->tpm != NULL && out->tpm_context != NULL)
        st = DPS_ATTEST_OK;
done:
    dps_wipe(k2, sizeof k2);
    dps_wipe(spare, sizeof spare);
    free(blob);
    free(blob64);
    if (st != DPS_ATTEST_OK)
        snprintf(out->message, sizeof out->message, "cannot make the TPM hub key");
    return st;
}

/* The second PUT (and polls, lookups): the SAS must verify with the key of
 * a live challenge made for the EK enrolled now. */
static dps_attest_status answer_challenge(const dps_attest_ctx *ctx,
                                          const dps_reg_request *req, const char *regkey,
                                          const dps_tpm_public *ek, const char *ek_b64,
                                          dps_attest_result *out)
{
    dps_attest_status st =
        dps_attest_sas_precheck(req, ctx->now_s, out->message, sizeof out->message);
    if (st != DPS_ATTEST_OK)
        return st;
    dps_sas_token t = {0};
    if (dps_sas_parse(req->sas_token, strlen(req->sas_token), &t) != DPS_SAS_OK)
        return DPS_ATTEST_UNAUTHORIZED; /* the precheck parsed it already */
    dps_tpm_challenge_info *info = malloc(sizeof *info);
    if (info == NULL) {
        dps_sas_token_free(&t);
        return DPS_ATTEST_ERROR;
    }
    dps_tpm_ch_result r = dps_tpm_challenges_check(ctx->tpm_challenges, regkey, &t,
                                                   ctx->registering, now_ms(ctx), info);
    dps_sas_token_free(&t);
    uint8_t ek_digest[32];
    st = DPS_ATTEST_UNAUTHORIZED;
    switch (r) {
    case DPS_TPM_CH_NONE:
        snprintf(out->message, sizeof out->message,
                 "no TPM challenge is pending for '%.128s': send the register request with tpm "
                 "and without Authorization first",
                 req->registration_id);
        break;
    case DPS_TPM_CH_MISMATCH:
        snprintf(out->message, sizeof out->message,
                 "the SAS token was not signed with the key of a pending TPM challenge");
        break;
    case DPS_TPM_CH_EXPIRED:
        snprintf(out->message, sizeof out->message,
                 "the TPM challenge has expired (valid %d s): register again without "
                 "Authorization for a new one",
                 DPS_TPM_CHALLENGE_TTL_S);
        break;
    case DPS_TPM_CH_USED:
        snprintf(out->message, sizeof out->message,
                 "the TPM challenge was already used by a registration: register again without "
                 "Authorization for a new one");
        break;
    case DPS_TPM_CH_MATCH:
        if (area_digest(ek, ek_digest) != 0) {
            st = DPS_ATTEST_ERROR;
        } else if (memcmp(ek_digest, info->ek_digest, sizeof ek_digest) != 0) {
            /* Public values: no constant-time compare needed. */
            snprintf(out->message, sizeof out->message,
                     "the enrollment's endorsement key changed after the TPM challenge");
        } else {
            st = DPS_ATTEST_OK;
        }
        break;
    }
    if (st == DPS_ATTEST_OK && ctx->registering && !out->disabled)
        st = hub_key(req, ek, ek_b64, &info->srk, out);
    free(info);
    return st;
}

dps_attest_status dps_attest__tpm(const dps_attest_ctx *ctx, const dps_reg_request *req,
                                  const char *regkey, dps_attest_result *out)
{
    if (req->transport == DPS_TRANSPORT_MQTT) {
        /* device-api.md §6.6: no SDK offers it, and the challenge is an
         * HTTP 401 with a body. */
        snprintf(out->message, sizeof out->message,
                 "TPM attestation is not available over MQTT; register over HTTPS");
        return DPS_ATTEST_UNAUTHORIZED;
    }
    tpm_body *tb = malloc(sizeof *tb); /* two public areas: too big for the stack */
    dps_tpm_public *ek = malloc(sizeof *ek);
    dps_record rec = {0};
    json_t *doc = NULL;
    dps_attest_status st = DPS_ATTEST_ERROR;
    if (tb == NULL || ek == NULL)
        goto done;
    if (read_body(req, tb, out) != 0) {
        st = DPS_ATTEST_BAD_REQUEST;
        goto done;
    }
    if (ctx->tpm_challenges == NULL) {
        snprintf(out->message, sizeof out->message, "TPM attestation is not available");
        st = DPS_ATTEST_UNAUTHORIZED;
        goto done;
    }
    /* Groups never take TPM (the service API refuses such groups), so only
     * an individual enrollment can accept the device (tpm.md §5 step 1). */
    dps_store_result r = dps_store_get(ctx->store, DPS_COLL_ENROLLMENT, regkey, &rec);
    if (r == DPS_STORE_ERROR)
        goto done;
    if (r == DPS_STORE_NOT_FOUND) {
        snprintf(out->message, sizeof out->message,
                 "no enrollment found for registration ID '%.128s'", req->registration_id);
        st = DPS_ATTEST_NOT_FOUND;
        goto done;
    }
    doc = load_enrollment(&rec);
    if (doc == NULL)
        goto done;
    const json_t *att = json_object_get(doc, "attestation");
    const char *type = json_string_value(json_object_get(att, "type"));
    const char *enrolled =
        json_string_value(json_object_get(json_object_get(att, "tpm"), "endorsementKey"));
    if (type == NULL || strcasecmp(type, "tpm") != 0 || enrolled == NULL) {
        snprintf(out->message, sizeof out->message,
                 "the enrollment for '%.128s' does not use TPM attestation",
                 req->registration_id);
        st = DPS_ATTEST_UNAUTHORIZED;
        goto done;
    }
    char why[160];
    if (dps_tpm2b_public_parse_b64(enrolled, ek, why, sizeof why) != 0) {
        log_error("registration: enrollment '%s' holds an unusable endorsement key: %s", regkey,
                  why);
        goto done;
    }
    /* The public areas, not the base64 text, decide (tpm.md §5 step 2). */
    if (tb->present && !dps_tpm_public_equal(ek, &tb->ek)) {
        snprintf(out->message, sizeof out->message,
                 "the endorsement key does not match the enrollment for '%.128s'",
                 req->registration_id);
        st = DPS_ATTEST_UNAUTHORIZED;
        goto done;
    }
    out->disabled = is_disabled(doc);
    if (req->sas_token == NULL || req->sas_token[0] == '\0') {
        if (!ctx->registering) {
            snprintf(out->message, sizeof out->message,
                     "a SAS token signed with the key of a TPM challenge is required");
            st = DPS_ATTEST_UNAUTHORIZED;
        } else {
            /* A disabled enrollment still gets its challenge: the status
             * is told only after authentication (tpm.md §5 step 3). */
            st = issue_challenge(ctx, req, regkey, ek, tb, out);
        }
        goto done;
    }
    st = answer_challenge(ctx, req, regkey, ek, enrolled, out);
    if (st == DPS_ATTEST_OK) {
        if (ctx->registering)
            log_info("registration %s: TPM challenge answered", req->registration_id);
        out->enrollment = doc;
        doc = NULL;
    }
done:
    if (st != DPS_ATTEST_OK && st != DPS_ATTEST_CHALLENGE) {
        dps_free_secret_string(out->primary_key);
        dps_free_secret_string(out->secondary_key);
        out->primary_key = out->secondary_key = NULL;
        json_decref(out->tpm);
        json_decref(out->tpm_context);
        out->tpm = out->tpm_context = NULL;
        out->disabled = false;
    }
    if (st == DPS_ATTEST_ERROR && out->message[0] == '\0')
        snprintf(out->message, sizeof out->message, "cannot read the enrollment");
    json_decref(doc);
    dps_record_free(&rec);
    free(tb);
    free(ek);
    return st;
}
