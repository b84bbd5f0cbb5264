/* The TPM credential (dps/tpm.h, tpm.md §3 and §7) on tpm2-tss ESAPI
 * through the TCTI loader: EK and SRK read or created and persisted, the
 * activation blob turned into a persistent HMAC key at 0x81000100, and SAS
 * tokens signed by TPM2_HMAC with it.
 *
 * Without a resource manager (swtpm driven directly) every transient object
 * and session must be flushed: each function below flushes what it created,
 * on every path. Outputs tpm2-tss allocates are released with Esys_Free;
 * the ones that held key material are wiped first. */
#include "dps/tpm.h"

#include <assert.h>
#include <inttypes.h>
#include <string.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_tctildr.h>

#include "common/secret.h"
#include "device/core/sas_token.h"
#include "device/core/writer.h"
#include "device/devlog.h"
#include "device/tpm/tpm_blob.h"

#define ESYS(t) ((ESYS_CONTEXT *)(t)->esys)

/* TPM2_PolicySecret(TPM_RH_ENDORSEMENT): the EK template's admin policy. */
static const uint8_t ek_policy[32] = {
    0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc, 0x8d, 0x46, 0xa5, 0xd7, 0x24,
    0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52, 0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa,
};

/* ---- Helpers ------------------------------------------------------------ */

static bool is_connection_error(TSS2_RC rc)
{
    TSS2_RC base = rc & 0xFFFFu;
    return (rc & TSS2_RC_LAYER_MASK) != 0 &&
           (base == TSS2_BASE_RC_NO_CONNECTION || base == TSS2_BASE_RC_IO_ERROR);
}

static dps_result tss_fail(const dps_tpm *t, const char *what, TSS2_RC rc)
{
    DLOG_ERROR(&t->log, "TPM: %s failed: response code 0x%08" PRIx32, what, (uint32_t)rc);
    return is_connection_error(rc) ? DPS_E_CONNECT : DPS_E_TPM;
}

static void flush(dps_tpm *t, ESYS_TR *tr)
{
    if (*tr != ESYS_TR_NONE) {
        TSS2_RC rc = Esys_FlushContext(ESYS(t), *tr);
        if (rc != TSS2_RC_SUCCESS)
            DLOG_WARN(&t->log, "TPM: FlushContext failed: 0x%08" PRIx32, (uint32_t)rc);
        *tr = ESYS_TR_NONE;
    }
}

/* Whether a persistent handle is in use (GetCapability, so that an empty
 * handle is not an error tpm2-tss would log). */
static dps_result handle_present(dps_tpm *t, TPM2_HANDLE handle, bool *present)
{
    TPMS_CAPABILITY_DATA *cap = NULL;
    TPMI_YES_NO more = TPM2_NO;
    TSS2_RC rc = Esys_GetCapability(ESYS(t), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                    TPM2_CAP_HANDLES, handle, 1, &more, &cap);
    if (rc != TSS2_RC_SUCCESS)
        return tss_fail(t, "GetCapability(handles)", rc);
    /* The answer starts at the first handle >= the one asked for. */
    *present = cap->data.handles.count > 0 && cap->data.handles.handle[0] == handle;
    Esys_Free(cap);
    return DPS_OK;
}

static void rsa_template(TPM2B_PUBLIC *p, TPMA_OBJECT attributes, const uint8_t *policy,
                         size_t policy_len)
{
    memset(p, 0, sizeof *p);
    TPMT_PUBLIC *a = &p->publicArea;
    a->type = TPM2_ALG_RSA;
    a->nameAlg = TPM2_ALG_SHA256;
    a->objectAttributes = attributes;
    a->authPolicy.size = (UINT16)policy_len;
    if (policy_len > 0)
        memcpy(a->authPolicy.buffer, policy, policy_len);
    a->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_AES;
    a->parameters.rsaDetail.symmetric.keyBits.aes = 128;
    a->parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG_CFB;
    a->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
    a->parameters.rsaDetail.keyBits = 2048;
    a->parameters.rsaDetail.exponent = 0;
    a->unique.rsa.size = 256; /* all zero: the TCG templates' unique field */
}

/* The EK template of tpm.md §3.1 (TCG EK Credential Profile, RSA 2048 L-1):
 * attributes 0x000300B2. */
static void ek_template(TPM2B_PUBLIC *p)
{
    rsa_template(p,
                 TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                     TPMA_OBJECT_ADMINWITHPOLICY | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT,
                 ek_policy, sizeof ek_policy);
}

/* The SRK template: attributes 0x00030472, empty policy. */
static void srk_template(TPM2B_PUBLIC *p)
{
    rsa_template(p,
                 TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                     TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED |
                     TPMA_OBJECT_DECRYPT,
                 NULL, 0);
}

/* Reads the persistent key at handle, or creates it in hierarchy from the
 * template and persists it; marshals its public area into buf. */
static dps_result ensure_primary(dps_tpm *t, const char *what, TPM2_HANDLE handle,
                                 ESYS_TR hierarchy, const TPM2B_PUBLIC *tmpl, ESYS_TR *out_tr,
                                 uint8_t *buf, size_t cap, size_t *len)
{
    bool present = false;
    dps_result r = handle_present(t, handle, &present);
    if (r != DPS_OK)
        return r;
    ESYS_TR tr = ESYS_TR_NONE;
    TSS2_RC rc;
    if (present) {
        rc = Esys_TR_FromTPMPublic(ESYS(t), handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &tr);
        if (rc != TSS2_RC_SUCCESS)
            return tss_fail(t, "reading a persistent handle", rc);
        DLOG_DEBUG(&t->log, "TPM: %s found at 0x%08" PRIx32, what, (uint32_t)handle);
    } else {
        DLOG_INFO(&t->log, "TPM: creating the %s (RSA 2048) and persisting it at 0x%08" PRIx32,
                  what, (uint32_t)handle);
        TPM2B_SENSITIVE_CREATE sens;
        TPM2B_DATA outside;
        TPML_PCR_SELECTION pcrs;
        memset(&sens, 0, sizeof sens);
        memset(&outside, 0, sizeof outside);
        memset(&pcrs, 0, sizeof pcrs);
        ESYS_TR transient = ESYS_TR_NONE;
        rc = Esys_CreatePrimary(ESYS(t), hierarchy, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                &sens, tmpl, &outside, &pcrs, &transient, NULL, NULL, NULL, NULL);
        if (rc != TSS2_RC_SUCCESS)
            return tss_fail(t, "CreatePrimary", rc);
        rc = Esys_EvictControl(ESYS(t), ESYS_TR_RH_OWNER, transient, ESYS_TR_PASSWORD,
                               ESYS_TR_NONE, ESYS_TR_NONE, handle, &tr);
        flush(t, &transient);
        if (rc != TSS2_RC_SUCCESS)
            return tss_fail(t, "EvictControl (persisting a primary key)", rc);
    }
    TPM2B_PUBLIC *pub = NULL;
    rc = Esys_ReadPublic(ESYS(t), tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, NULL, NULL);
    if (rc != TSS2_RC_SUCCESS)
        return tss_fail(t, "ReadPublic", rc);
    dps_result result = DPS_OK;
    const TPMT_PUBLIC *a = &pub->publicArea;
    if (a->type != TPM2_ALG_RSA || (a->objectAttributes & TPMA_OBJECT_DECRYPT) == 0 ||
        (a->objectAttributes & TPMA_OBJECT_RESTRICTED) == 0) {
        DLOG_ERROR(&t->log, "TPM: the object at 0x%08" PRIx32 " is not an RSA storage key; "
                            "the %s must be one", (uint32_t)handle, what);
        result = DPS_E_UNSUPPORTED;
    } else {
        size_t off = 0;
        rc = Tss2_MU_TPM2B_PUBLIC_Marshal(pub, buf, cap, &off);
        if (rc != TSS2_RC_SUCCESS)
            result = tss_fail(t, "marshalling a public area", rc);
        *len = off;
    }
    Esys_Free(pub);
    if (result == DPS_OK)
        *out_tr = tr;
    return result;
}

static void b64_into(char *dst, size_t cap, const uint8_t *p, size_t n)
{
    dps_w w;
    dps_w_target(&w, dst, cap);
    dps_w_b64(&w, p, n);
    size_t len = 0;
    (void)dps_w_done(&w, &len); /* cap is DPS_TPM_MAX_PUBLIC_B64 + 1: always fits */
}

/* ---- The credential vtable ------------------------------------------------ */

/* The token of device-api.md §8 (same bytes as dps_sas_write() would give
 * with the key), the HMAC computed inside the TPM. */
static dps_result tpm_sign_sas(const dps_credential *cred, const char *resource, const char *skn,
                               int64_t expiry_s, char *out, size_t cap, size_t *out_len)
{
    /* The credential is const for the transports; the TPM behind it is not. */
    dps_tpm *t = (dps_tpm *)(uintptr_t)cred;
    assert(resource != NULL && out_len != NULL);
    *out_len = 0;
    if (resource[0] == '\0' || expiry_s < 0 || (skn != NULL && skn[0] == '\0'))
        return DPS_E_INVALID;
    if (!t->has_key) {
        DLOG_ERROR(&t->log, "TPM: no key at 0x%08x to sign with (the registration has not "
                            "delivered one yet)", DPS_TPM_KEY_HANDLE);
        return DPS_E_UNSUPPORTED;
    }
    char msg[DPS__SAS_MSG_MAX];
    dps_w w;
    dps_w_count(&w);
    dps_w_pct(&w, resource);
    dps_w_char(&w, '\n');
    dps_w_i64(&w, expiry_s);
    if (w.len >= sizeof msg)
        return DPS_E_INVALID;
    dps_w_target(&w, msg, sizeof msg);
    dps_w_pct(&w, resource);
    size_t srl = w.len;
    dps_w_char(&w, '\n');
    dps_w_i64(&w, expiry_s);
    size_t msg_len = 0;
    dps_result rc = dps_w_done(&w, &msg_len);
    if (rc != DPS_OK)
        return rc;

    uint8_t mac[32];
    rc = dps_tpm_hmac(t, msg, msg_len, mac);
    if (rc != DPS_OK)
        return rc;
    char sig[48];
    dps_w_target(&w, sig, sizeof sig);
    dps_w_b64(&w, mac, sizeof mac);
    size_t sig_len = 0;
    rc = dps_w_done(&w, &sig_len);
    dps_wipe(mac, sizeof mac);
    if (rc != DPS_OK)
        return rc;
    msg[srl] = '\0'; /* msg now holds the encoded audience and, after it, se */
    rc = dps__sas_token_write(msg, sig, msg + srl + 1, skn, out, cap, out_len);
    dps_wipe(sig, sizeof sig);
    return rc;
}

static const char *tpm_identity(const dps_credential *cred)
{
    return ((const dps_tpm *)cred)->registration_id;
}

static dps_result tpm_keys(const dps_credential *cred, const char **ek_b64, const char **srk_b64)
{
    const dps_tpm *t = (const dps_tpm *)cred;
    *ek_b64 = t->ek_b64;
    *srk_b64 = t->srk_b64;
    return DPS_OK;
}

static dps_result tpm_activate_op(const dps_credential *cred, const char *authentication_key_b64)
{
    return dps_tpm_activate((dps_tpm *)(uintptr_t)cred, authentication_key_b64);
}

static const dps_credential_ops tpm_ops = {
    .name = "tpm",
    .sign_sas = tpm_sign_sas,
    .tls_configure = NULL,
    .identity = tpm_identity,
    .tpm_keys = tpm_keys,
    .tpm_activate = tpm_activate_op,
};

bool dps_credential_is_tpm(const dps_credential *cred)
{
    return cred != NULL && cred->ops == &tpm_ops;
}

/* ---- Open and close --------------------------------------------------------- */

static void release(dps_tpm *t)
{
    if (t->esys != NULL) {
        ESYS_CONTEXT *e = ESYS(t);
        Esys_Finalize(&e);
        t->esys = NULL;
    }
    if (t->tcti != NULL) {
        TSS2_TCTI_CONTEXT *c = t->tcti;
        Tss2_TctiLdr_Finalize(&c);
        t->tcti = NULL;
    }
}

static dps_result open_keys(dps_tpm *t)
{
    TPM2B_PUBLIC tmpl;
    ESYS_TR tr = ESYS_TR_NONE;
    ek_template(&tmpl);
    dps_result rc = ensure_primary(t, "endorsement key", DPS_TPM_EK_HANDLE,
                                   ESYS_TR_RH_ENDORSEMENT, &tmpl, &tr, t->ek, sizeof t->ek,
                                   &t->ek_len);
    if (rc != DPS_OK)
        return rc;
    t->ek_tr = tr;
    srk_template(&tmpl);
    rc = ensure_primary(t, "storage root key", DPS_TPM_SRK_HANDLE, ESYS_TR_RH_OWNER, &tmpl, &tr,
                        t->srk, sizeof t->srk, &t->srk_len);
    if (rc != DPS_OK)
        return rc;
    t->srk_tr = tr;
    b64_into(t->ek_b64, sizeof t->ek_b64, t->ek, t->ek_len);
    b64_into(t->srk_b64, sizeof t->srk_b64, t->srk, t->srk_len);
    size_t n = 0;
    rc = dps_tpm_registration_id_derive(t->ek, t->ek_len, t->registration_id,
                                        sizeof t->registration_id, &n);
    if (rc != DPS_OK)
        return rc;
    bool present = false;
    rc = handle_present(t, DPS_TPM_KEY_HANDLE, &present);
    t->has_key = present;
    return rc;
}

dps_result dps_tpm_open(dps_tpm *out, const char *tcti, const dps_device_logger *log)
{
    assert(out != NULL);
    const char *conf = tcti != NULL ? tcti : DPS_TPM_DEFAULT_TCTI;
    dps_tpm t;
    memset(&t, 0, sizeof t);
    t.base.ops = &tpm_ops;
    t.ek_tr = t.srk_tr = ESYS_TR_NONE;
    if (log != NULL)
        t.log = *log;
    if (strlen(conf) > DPS_TPM_MAX_TCTI) {
        DLOG_ERROR(&t.log, "TPM: the TCTI string is over %d characters", DPS_TPM_MAX_TCTI);
        return DPS_E_INVALID;
    }
    TSS2_TCTI_CONTEXT *tc = NULL;
    TSS2_RC rc = Tss2_TctiLdr_Initialize(conf, &tc);
    if (rc != TSS2_RC_SUCCESS) {
        DLOG_ERROR(&t.log, "TPM: no TPM reachable through TCTI '%s' (0x%08" PRIx32 ")", conf,
                   (uint32_t)rc);
        return DPS_E_CONNECT;
    }
    t.tcti = tc;
    ESYS_CONTEXT *e = NULL;
    rc = Esys_Initialize(&e, tc, NULL);
    if (rc != TSS2_RC_SUCCESS) {
        dps_result r = tss_fail(&t, "Esys_Initialize", rc);
        release(&t);
        return r;
    }
    t.esys = e;
    /* TPM_RC_INITIALIZE: already started (swtpm with startup-clear, the
     * kernel). A resource manager may refuse Startup otherwise: only a dead
     * connection is fatal here; a TPM really not started fails below. */
    rc = Esys_Startup(e, TPM2_SU_CLEAR);
    if (rc != TSS2_RC_SUCCESS && rc != TPM2_RC_INITIALIZE) {
        if (is_connection_error(rc)) {
            dps_result r = tss_fail(&t, "Startup", rc);
            release(&t);
            return r;
        }
        DLOG_DEBUG(&t.log, "TPM: Startup answered 0x%08" PRIx32 "; going on", (uint32_t)rc);
    }
    dps_result r = open_keys(&t);
    if (r != DPS_OK) {
        release(&t);
        return r;
    }
    DLOG_INFO(&t.log, "TPM: ready through '%s'; registration ID %s%s", conf, t.registration_id,
              t.has_key ? "; a key is at 0x81000100" : "");
    *out = t;
    return DPS_OK;
}

void dps_tpm_close(dps_tpm *t)
{
    if (t == NULL)
        return;
    release(t);
    dps_wipe(t, sizeof *t);
}

const char *dps_tpm_endorsement_key(const dps_tpm *t)
{
    return t->ek_b64;
}

const char *dps_tpm_storage_root_key(const dps_tpm *t)
{
    return t->srk_b64;
}

const char *dps_tpm_registration_id(const dps_tpm *t)
{
    return t->registration_id;
}

const uint8_t *dps_tpm_endorsement_key_bytes(const dps_tpm *t, size_t *len)
{
    *len = t->ek_len;
    return t->ek;
}

bool dps_tpm_has_key(const dps_tpm *t)
{
    return t->has_key;
}

/* ---- Activation (tpm.md §7) ------------------------------------------------- */

/* Steps 1-2: a policy session satisfying the EK's PolicySecret(endorsement),
 * then ActivateCredential → the inner wrapper key W (into *w, wiped by the
 * caller). */
static dps_result activate_credential(dps_tpm *t, const dps_tpm_blob *b, TPM2B_DATA *w)
{
    TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_NULL};
    ESYS_TR session = ESYS_TR_NONE;
    TSS2_RC rc = Esys_StartAuthSession(ESYS(t), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                       ESYS_TR_NONE, ESYS_TR_NONE, NULL, TPM2_SE_POLICY, &sym,
                                       TPM2_ALG_SHA256, &session);
    if (rc != TSS2_RC_SUCCESS)
        return tss_fail(t, "StartAuthSession", rc);
    dps_result result = DPS_OK;
    /* continueSession: the session outlives ActivateCredential and is
     * flushed below on every path. */
    rc = Esys_TRSess_SetAttributes(ESYS(t), session, TPMA_SESSION_CONTINUESESSION,
                                   TPMA_SESSION_CONTINUESESSION);
    if (rc == TSS2_RC_SUCCESS)
        rc = Esys_PolicySecret(ESYS(t), ESYS_TR_RH_ENDORSEMENT, session, ESYS_TR_PASSWORD,
                           ESYS_TR_NONE, ESYS_TR_NONE, NULL, NULL, NULL, 0, NULL, NULL);
    if (rc != TSS2_RC_SUCCESS) {
        result = tss_fail(t, "PolicySecret(endorsement)", rc);
    } else {
        TPM2B_DIGEST *cert = NULL;
        rc = Esys_ActivateCredential(ESYS(t), t->srk_tr, t->ek_tr, ESYS_TR_PASSWORD, session,
                                     ESYS_TR_NONE, &b->credential, &b->secret, &cert);
        if (rc != TSS2_RC_SUCCESS) {
            result = tss_fail(t, "ActivateCredential (a blob made for another EK or SRK?)", rc);
        } else {
            if (cert->size == 16 || cert->size == 32) {
                w->size = cert->size;
                memcpy(w->buffer, cert->buffer, cert->size);
            } else {
                DLOG_ERROR(&t->log, "TPM: the activated credential has %u bytes, not an AES key",
                           (unsigned)cert->size);
                result = DPS_E_INVALID;
            }
            dps_wipe(cert, sizeof *cert);
            Esys_Free(cert);
        }
    }
    flush(t, &session);
    return result;
}

/* Step 5's first half: whatever sits at 0x81000100 goes. */
static dps_result evict_key(dps_tpm *t)
{
    bool present = false;
    dps_result r = handle_present(t, DPS_TPM_KEY_HANDLE, &present);
    if (r != DPS_OK || !present)
        return r;
    ESYS_TR tr = ESYS_TR_NONE, none = ESYS_TR_NONE;
    TSS2_RC rc = Esys_TR_FromTPMPublic(ESYS(t), DPS_TPM_KEY_HANDLE, ESYS_TR_NONE, ESYS_TR_NONE,
                                       ESYS_TR_NONE, &tr);
    if (rc == TSS2_RC_SUCCESS)
        rc = Esys_EvictControl(ESYS(t), ESYS_TR_RH_OWNER, tr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                               ESYS_TR_NONE, DPS_TPM_KEY_HANDLE, &none);
    if (tr != ESYS_TR_NONE)
        (void)Esys_TR_Close(ESYS(t), &tr); /* ESYS keeps the evicted object's TR otherwise */
    if (rc != TSS2_RC_SUCCESS)
        return tss_fail(t, "EvictControl (removing the earlier key)", rc);
    t->has_key = false;
    return DPS_OK;
}

dps_result dps_tpm_activate(dps_tpm *t, const char *authentication_key_b64)
{
    assert(t != NULL && t->esys != NULL && authentication_key_b64 != NULL);
    static _Thread_local dps_tpm_blob blob; /* ~3 KiB: not for a small stack */
    dps_result r = dps__tpm_blob_decode(authentication_key_b64, &blob);
    if (r != DPS_OK) {
        DLOG_ERROR(&t->log, "TPM: authenticationKey is not a six-part activation blob");
        return r;
    }
    TPM2B_DATA w;
    memset(&w, 0, sizeof w);
    r = activate_credential(t, &blob, &w);
    TPM2B_PRIVATE *priv = NULL;
    ESYS_TR key = ESYS_TR_NONE, persisted = ESYS_TR_NONE;
    TSS2_RC rc = TSS2_RC_SUCCESS;
    if (r == DPS_OK) { /* step 3: Import under the SRK with W as the inner key */
        TPMT_SYM_DEF_OBJECT sym = {.algorithm = TPM2_ALG_AES};
        sym.keyBits.aes = (TPM2_KEY_BITS)(w.size * 8);
        sym.mode.aes = TPM2_ALG_CFB;
        rc = Esys_Import(ESYS(t), t->srk_tr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &w,
                         &blob.public_area, &blob.duplicate, &blob.sym_seed, &sym, &priv);
        if (rc != TSS2_RC_SUCCESS)
            r = tss_fail(t, "Import (the duplicated key)", rc);
    }
    dps_wipe(&w, sizeof w);
    if (r == DPS_OK) { /* step 4 */
        rc = Esys_Load(ESYS(t), t->srk_tr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, priv,
                       &blob.public_area, &key);
        if (rc != TSS2_RC_SUCCESS)
            r = tss_fail(t, "Load (the imported key)", rc);
    }
    if (r == DPS_OK) /* step 5 */
        r = evict_key(t);
    if (r == DPS_OK) {
        rc = Esys_EvictControl(ESYS(t), ESYS_TR_RH_OWNER, key, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                               ESYS_TR_NONE, DPS_TPM_KEY_HANDLE, &persisted);
        if (rc != TSS2_RC_SUCCESS)
            r = tss_fail(t, "EvictControl (persisting the imported key)", rc);
    }
    flush(t, &key);
    if (persisted != ESYS_TR_NONE)
        (void)Esys_TR_Close(ESYS(t), &persisted); /* signing reads the handle afresh */
    if (priv != NULL)
        Esys_Free(priv);
    dps_wipe(&blob, sizeof blob);
    if (r == DPS_OK) {
        t->has_key = true;
        DLOG_INFO(&t->log, "TPM: activation blob imported; the key is at 0x%08x",
                  DPS_TPM_KEY_HANDLE);
    }
    return r;
}

/* ---- Signing ---------------------------------------------------------------- */

static dps_result hmac_sequence(dps_tpm *t, ESYS_TR key, const uint8_t *p, size_t len,
                                TPM2B_DIGEST **out)
{
    ESYS_TR seq = ESYS_TR_NONE;
    TSS2_RC rc = Esys_HMAC_Start(ESYS(t), key, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, NULL,
                                 TPM2_ALG_SHA256, &seq);
    if (rc != TSS2_RC_SUCCESS)
        return tss_fail(t, "HMAC_Start", rc);
    TPM2B_MAX_BUFFER chunk;
    size_t off = 0;
    while (rc == TSS2_RC_SUCCESS && len - off > TPM2_MAX_DIGEST_BUFFER) {
        chunk.size = TPM2_MAX_DIGEST_BUFFER;
        memcpy(chunk.buffer, p + off, chunk.size);
        off += chunk.size;
        rc = Esys_SequenceUpdate(ESYS(t), seq, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                 &chunk);
    }
    if (rc != TSS2_RC_SUCCESS) {
        flush(t, &seq);
        return tss_fail(t, "SequenceUpdate", rc);
    }
    chunk.size = (UINT16)(len - off);
    memcpy(chunk.buffer, p + off, chunk.size);
    rc = Esys_SequenceComplete(ESYS(t), seq, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &chunk,
                               ESYS_TR_RH_NULL, out, NULL);
    if (rc != TSS2_RC_SUCCESS) {
        flush(t, &seq);
        return tss_fail(t, "SequenceComplete", rc);
    }
    return DPS_OK; /* SequenceComplete ends the sequence object */
}

dps_result dps_tpm_hmac(dps_tpm *t, const void *data, size_t len, uint8_t mac[32])
{
    assert(t != NULL && (data != NULL || len == 0) && mac != NULL);
    if (t->esys == NULL || !t->has_key)
        return DPS_E_UNSUPPORTED;
    ESYS_TR key = ESYS_TR_NONE;
    TSS2_RC rc = Esys_TR_FromTPMPublic(ESYS(t), DPS_TPM_KEY_HANDLE, ESYS_TR_NONE, ESYS_TR_NONE,
                                       ESYS_TR_NONE, &key);
    if (rc != TSS2_RC_SUCCESS)
        return tss_fail(t, "reading the key at 0x81000100", rc);
    TPM2B_DIGEST *d = NULL;
    dps_result r = DPS_OK;
    if (len <= TPM2_MAX_DIGEST_BUFFER) {
        TPM2B_MAX_BUFFER buf;
        buf.size = (UINT16)len;
        if (len > 0)
            memcpy(buf.buffer, data, len);
        rc = Esys_HMAC(ESYS(t), key, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &buf,
                       TPM2_ALG_SHA256, &d);
        if (rc != TSS2_RC_SUCCESS)
            r = tss_fail(t, "HMAC", rc);
        dps_wipe(&buf, sizeof buf);
    } else {
        r = hmac_sequence(t, key, data, len, &d);
    }
    (void)Esys_TR_Close(ESYS(t), &key);
    if (r == DPS_OK && d->size != 32) {
        DLOG_ERROR(&t->log, "TPM: HMAC gave %u bytes, not 32", (unsigned)d->size);
        r = DPS_E_TPM;
    }
    if (r == DPS_OK)
        memcpy(mac, d->buffer, 32);
    if (d != NULL) {
        dps_wipe(d, sizeof *d);
        Esys_Free(d);
    }
    return r;
}
