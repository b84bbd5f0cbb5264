/* The attestation member of enrollments and groups (service-api.md §8.3):
 * type/sub-object consistency, TPM endorsement keys, symmetric keys (checked,
 * kept or generated), X.509 certificates (parsed, `info` computed) and CA
 * references. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/errors.h"
#include "common/b64.h"
#include "common/rand.h"
#include "common/secret.h"
#include "model/enrollment.h"
#include "pki/pki.h"

#define TPM_ALG_RSA 0x0001

static const char *const att_types[] = {"none", "tpm", "x509", "symmetricKey"};

/* The stored sub-object of the given type, when the stored attestation is
 * of that type (keys and certificates never carry over between types). */
static const json_t *prev_part(const json_t *prev_att, const char *type)
{
    const char *t = json_string_value(json_object_get(prev_att, "type"));
    if (t == NULL || strcmp(t, type) != 0)
        return NULL;
    return json_object_get(prev_att, type);
}

/* ---- symmetric keys ------------------------------------------------------ */

/* A supplied key must be standard base64 of 16..64 bytes. */
static bool symkey_valid(const char *b64)
{
    uint8_t *raw = NULL;
    size_t len = 0;
    if (dps_b64_decode(b64, strlen(b64), &raw, &len) != 0)
        return false;
    dps_wipe(raw, len);
    free(raw);
    return len >= DPS_SYMKEY_MIN_BYTES && len <= DPS_SYMKEY_MAX_BYTES;
}

static char *symkey_generate(void)
{
    uint8_t raw[DPS_SYMKEY_GEN_BYTES];
    if (dps_random_bytes(raw, sizeof raw) != 0)
        return NULL;
    char *b64 = dps_b64_encode(raw, sizeof raw);
    dps_wipe(raw, sizeof raw);
    return b64;
}

/* One key slot: supplied, else the stored one, else a new one. */
static int symkey_slot(const json_t *in, const json_t *prev, const char *name, json_t *out,
                       dps_model_err *err)
{
    json_t *v = in ? dps_model__member(in, name) : NULL;
    if (v != NULL && !json_is_string(v))
        return dps_model__fail(err, DPS_ERR_INVALID_FIELD,
                               "attestation.symmetricKey.%s must be a string", name);
    /* null means "not given"; an empty string is a key of zero bytes and
     * fails the size rule like any other bad key. */
    const char *given = v ? json_string_value(v) : NULL;
    if (given != NULL) {
        if (!symkey_valid(given))
            return dps_model__fail(err, DPS_ERR_INVALID_FIELD,
                                   "attestation.symmetricKey.%s must be base64 of %d to %d bytes",
                                   name, DPS_SYMKEY_MIN_BYTES, DPS_SYMKEY_MAX_BYTES);
        return json_object_set_new(out, name, json_string(given)) == 0
                   ? 0
                   : dps_model__fail(err, DPS_ERR_INTERNAL, "out of memory");
    }
    const char *stored = prev ? json_string_value(json_object_get(prev, name)) : NULL;
    if (stored != NULL && stored[0] != '\0')
        return json_object_set_new(out, name, json_string(stored)) == 0
                   ? 0
                   : dps_model__fail(err, DPS_ERR_INTERNAL, "out of memory");
    char *fresh = symkey_generate();
    if (fresh == NULL)
        return dps_model__fail(err, DPS_ERR_INTERNAL, "cannot generate a key");
    int rc = json_object_set_new(out, name, json_string(fresh));
    dps_free_secret_string(fresh);
    return rc == 0 ? 0 : dps_model__fail(err, DPS_ERR_INTERNAL, "out of memory");
}

static int att_symmetric(const json_t *sub, const json_t *prev_att, json_t *out,
                         dps_model_err *err)
{
    if (sub != NULL && !json_is_object(sub))
        return dps_model__fail(err, DPS_ERR_INVALID_FIELD,
                               "attestation.symmetricKey must be an object");
    /* Keys are kept only from a stored symmetric-key attestation. */
    const json_t *prev_sub = prev_part(prev_att, "symmetricKey");
    json_t *keys = json_object();
    if (keys == NULL || json_object_set_new(out, "symmetricKey", keys) != 0)
        return dps_model__fail(err, DPS_ERR_INTERNAL, "out of memory");
    if (symkey_slot(sub, prev_sub, "primaryKey", keys, err) != 0)
        return -1;
    return symkey_slot(sub, prev_sub, "secondaryKey", keys, err);
}

/* ---- TPM ----------------------------------------------------------------- */

static int att_tpm(const json_t *sub, json_t *out, dps_model_err *err)
{
    if (sub == NULL || !json_is_object(sub))
        return dps_model__fail(err, DPS_ERR_INVALID_FIELD,
                               "attestation.tpm must be an object when attestation.type is tpm");
    json_t *ek = dps_model__member(sub, "endorsementKey");
    if (ek == NULL || !json_is_string(ek))
        return dps_model__fail(err, DPS_ERR_INVALID_FIELD,
                               "attestation.tpm.endorsementKey must be a string");
    dps_tpm_public pub;
    char why[160] = "";
    if (dps_tpm2b_public_parse_b64(json_string_value(ek), &pub, why, sizeof why) != 0)
        return dps_model__fail(err, DPS_ERR_INVALID_EK,
                               "Endorsement key is invalid, or does not match the Enrollment (%s)",
                               why);
    if (pub.type != TPM_ALG_RSA)
        return dps_model__fail(err, DPS_ERR_INVALID_EK,
                               "Endorsement key is invalid, or does not match the Enrollment "
                               "(not an RSA key)");
    json_t *tpm = json_pack("{s:s}", "endorsementKey", json_string_value(ek));
    if (tpm == NULL || json_object_set_new(out, "tpm", tpm) != 0)
        return dps_model__fail(err, DPS_ERR_INTERNAL, "out of memory");
    json_t *srk = dps_model__member(sub, "storageRootKey");
    if (srk == NULL)
        return 0;
    if (!json_is_string(srk))
        return dps_model__fail(err, DPS_ERR_INVALID_FIELD,
                               "attestation.tpm.storageRootKey must be a string");
    uint8_t *raw = NULL;
    size_t rawlen = 0;
    const char *s = json_string_value(srk);
    if (dps_b64_decode(s, strlen(s), &raw, &rawlen) != 0)
        return dps_model__fail(err, DPS_ERR_INVALID_FIELD,
                               "attestation.tpm.storageRootKey must be base64");
    free(raw);
    return json_object_set_new(tpm, "storageRootKey", json_string(s)) == 0
               ? 0
               : dps_model__fail(err, DPS_ERR_INTERNAL, "out of memory");
}

/* ---- X.509 --------------------------------------------------------------- */

/* One certificate slot ("primary"/"secondary") of container `where`. A slot
 * with a certificate is parsed and gets a fresh `info`; a slot with only
 * `info` (a read-back document) keeps the stored slot. */
static int x509_slot(const json_t *in, const json_t *prev_slot, const char *where,
                     const char *name, json_t **out, dps_model_err *err)
{
    *out = NULL;
    if (!json_is_object(in))
        return dps_model__fail(err, DPS_ERR_INVALID_FIELD,
                               "attestation.x509.%s.%s must be an object", where, name);
    json_t *cert = dps_model__member(in, "certificate");
    if (cert != NULL && !json_is_string(cert))
        return dps_model__fail(err, DPS_ERR_INVALID_FIELD,
                               "attestation.x509.%s.%s.certificate must be a string", where, name);
    const char *text = cert ? json_string_value(cert) : "";
    if (text[0] == '\0') {
        if (dps_model__member(in, "info") != NULL && prev_slot != NULL &&
            json_is_string(json_object_get(prev_slot, "certificate"))) {
            *out = json_deep_copy(prev_slot);
            return *out ? 0 : dps_model__fail(err, DPS_ERR_INTERNAL, "out of memory");
        }
        return dps_model__fail(err, DPS_ERR_INVALID_FIELD,
                               "attestation.x509.%s.%s.certificate is required", where, name);
    }
    size_t len = strlen(text);
    if (len > DPS_PKI_MAX_CERT_TEXT)
        return dps_model__fail(err, DPS_ERR_INVALID_CERT,
                               "attestation.x509.%s.%s.certificate is longer than %d characters",
                               where, name, DPS_PKI_MAX_CERT_TEXT);
    char why[160] = "";
    X509 *x = dps_x509_parse_text(text, len, why, sizeof why);
    if (x == NULL)
        return dps_model__fail(err, DPS_ERR_INVALID_CERT,
                               "attestation.x509.%s.%s.certificate is not a certificate: %s",
                               where, name, why);
    json_t *info = dps_x509_info(x);
    X509_free(x);
    json_t *slot = info ? json_pack("{s:s,s:o}", "certificate", text, "info", info) : NULL;
    if (slot == NULL)
        return dps_model__fail(err, DPS_ERR_INTERNAL, "cannot describe the certificate");
    *out = slot;
    return 0;
}

/* A {"primary", "secondary"} certificate container; primary required. */
static int x509_certs(const json_t *in, const json_t *prev_x509, const char *where,
                      json_t *out_x509, dps_model_err *err)
{
    if (!json_is_object(in))
        return dps_model__fail(err, DPS_ERR_INVALID_FIELD, "attestation.x509.%s must be an object",
                               where);
    const json_t *prev = prev_x509 ? json_object_get(prev_x509, where) : NULL;
    json_t *certs = json_object();
    if (certs == NULL || json_object_set_new(out_x509, where, certs) != 0)
        return dps_model__fail(err, DPS_ERR_INTERNAL, "out of memory");
    static const char *const slots[] = {"primary", "secondary"};
    for (size_t i = 0; i < 2; i++) {
        json_t *slot_in = dps_model__member(in, slots[i]);
        if (slot_in == NULL) {
            if (i == 0)
                return dps_model__fail(err, DPS_ERR_INVALID_FIELD,
                                       "attestation.x509.%s.primary is required", where);
            continue;
        }
        json_t *slot = NULL;
        if (x509_slot(slot_in, prev ? json_object_get(prev, slots[i]) : NULL, where, slots[i],
                      &slot, err) != 0)
            return -1;
        if (json_object_set_new(certs, slots[i], slot) != 0)
            return dps_model__fail(err, DPS_ERR_INTERNAL, "out of memory");
    }
    return 0;
}

static int x509_ca_refs(const json_t *in, const dps_enroll_env *env, json_t *out_x509,
                        dps_model_err *err)
{
    if (!json_is_object(in))
        return dps_model__fail(err, DPS_ERR_INVALID_FIELD,
                               "attestation.x509.caReferences must be an object");
    json_t *refs = json_object();
    if (refs == NULL || json_object_set_new(out_x509, "caReferences", refs) != 0)
        return dps_model__fail(err, DPS_ERR_INTERNAL, "out of memory");
    static const char *const slots[] = {"primary", "secondary"};
    for (size_t i = 0; i < 2; i++) {
        json_t *v = dps_model__member(in, slots[i]);
        if (v == NULL && i == 1)
            continue;
        if (v == NULL || !json_is_string(v) || json_string_length(v) == 0)
            return dps_model__fail(err, DPS_ERR_INVALID_FIELD,
                                   "attestation.x509.caReferences.%s must be a CA certificate name",
                                   slots[i]);
        const char *name = json_string_value(v);
        dps_ca_state st = env && env->ca_state ? env->ca_state(env->arg, name) : DPS_CA_MISSING;
        if (st == DPS_CA_MISSING)
            return dps_model__fail(err, DPS_ERR_INVALID_FIELD,
                                   "attestation.x509.caReferences.%s: no CA certificate named '%s'",
                                   slots[i], name);
        if (st == DPS_CA_UNVERIFIED)
            return dps_model__fail(err, DPS_ERR_INVALID_FIELD,
                                   "attestation.x509.caReferences.%s: CA certificate '%s' is not "
                                   "verified",
                                   slots[i], name);
        if (json_object_set_new(refs, slots[i], json_string(name)) != 0)
            return dps_model__fail(err, DPS_ERR_INTERNAL, "out of memory");
    }
    return 0;
}

static int att_x509(dps_enroll_kind kind, const json_t *sub, const json_t *prev_att,
                    const dps_enroll_env *env, json_t *out, dps_model_err *err)
{
    if (sub == NULL || !json_is_object(sub))
        return dps_model__fail(err, DPS_ERR_INVALID_FIELD,
                               "attestation.x509 must be an object when attestation.type is x509");
    const json_t *prev_x509 = prev_part(prev_att, "x509");
    json_t *client = dps_model__member(sub, "clientCertificates");
    json_t *signing = dps_model__member(sub, "signingCertificates");
    json_t *refs = dps_model__member(sub, "caReferences");
    json_t *x509 = json_object();
    if (x509 == NULL || json_object_set_new(out, "x509", x509) != 0)
        return dps_model__fail(err, DPS_ERR_INTERNAL, "out of memory");
    if (kind == DPS_ENROLL_INDIVIDUAL) {
        if (signing != NULL || refs != NULL)
            return dps_model__fail(err, DPS_ERR_INVALID_FIELD,
                                   "an individual enrollment takes attestation.x509."
                                   "clientCertificates only");
        if (client == NULL)
            return dps_model__fail(err, DPS_ERR_INVALID_FIELD,
                                   "attestation.x509.clientCertificates.primary is required");
        return x509_certs(client, prev_x509, "clientCertificates", x509, err);
    }
    if (client != NULL)
        return dps_model__fail(err, DPS_ERR_INVALID_FIELD,
                               "an enrollment group takes attestation.x509.signingCertificates "
                               "or caReferences, not clientCertificates");
    if ((signing == NULL) == (refs == NULL))
        return dps_model__fail(err, DPS_ERR_INVALID_FIELD,
                               "attestation.x509 needs exactly one of signingCertificates and "
                               "caReferences");
    if (signing != NULL)
        return x509_certs(signing, prev_x509, "signingCertificates", x509, err);
    return x509_ca_refs(refs, env, x509, err);
}

/* ---- the attestation object ---------------------------------------------- */

/* Canonical spelling of a type name given in any case; NULL when unknown. */
static const char *att_type_canonical(const char *s)
{
    for (size_t i = 0; i < sizeof att_types / sizeof att_types[0]; i++)
        if (strcasecmp(s, att_types[i]) == 0)
            return att_types[i];
    return NULL;
}

/* A sub-object of another type than the declared one is a contradiction the
 * client should hear about rather than have silently dropped. */
static int att_check_subobjects(const json_t *in, const char *type, dps_model_err *err)
{
    for (size_t i = 1; i < sizeof att_types / sizeof att_types[0]; i++) {
        if (strcmp(att_types[i], type) != 0 && dps_model__member(in, att_types[i]) != NULL)
            return dps_model__fail(err, DPS_ERR_INVALID_FIELD,
                                   "attestation.%s does not match attestation.type %s",
                                   att_types[i], type);
    }
    return 0;
}

int dps_attestation_normalise(dps_enroll_kind kind, const json_t *in, const json_t *prev,
                              const dps_enroll_env *env, json_t **out, dps_model_err *err)
{
    *out = NULL;
    json_t *res = NULL;
    int rc = -1;
    if (in == NULL || !json_is_object(in)) {
        dps_model__fail(err, DPS_ERR_INVALID_FIELD, "attestation must be an object");
        goto done;
    }
    json_t *tv = dps_model__member(in, "type");
    if (tv == NULL || !json_is_string(tv)) {
        dps_model__fail(err, DPS_ERR_INVALID_FIELD, "attestation.type must be a string");
        goto done;
    }
    const char *type = att_type_canonical(json_string_value(tv));
    if (type == NULL) {
        dps_model__fail(err, DPS_ERR_INVALID_FIELD,
                        "attestation.type must be one of none, tpm, x509, symmetricKey");
        goto done;
    }
    if (kind == DPS_ENROLL_GROUP && (strcmp(type, "tpm") == 0 || strcmp(type, "none") == 0)) {
        dps_model__fail(err, DPS_ERR_INVALID_FIELD,
                        "an enrollment group needs attestation.type x509 or symmetricKey, not %s",
                        type);
        goto done;
    }
    if (att_check_subobjects(in, type, err) != 0)
        goto done;
    res = json_pack("{s:s}", "type", type);
    if (res == NULL) {
        dps_model__fail(err, DPS_ERR_INTERNAL, "out of memory");
        goto done;
    }
    json_t *sub = dps_model__member(in, type);
    if (strcmp(type, "tpm") == 0)
        rc = att_tpm(sub, res, err);
    else if (strcmp(type, "x509") == 0)
        rc = att_x509(kind, sub, prev, env, res, err);
    else if (strcmp(type, "symmetricKey") == 0)
        rc = att_symmetric(sub, prev, res, err);
    else
        rc = 0;
    if (rc == 0) {
        *out = res;
        res = NULL;
    }
done:
    json_decref(res);
    return rc;
}

void dps_enrollment_hide_secrets(json_t *doc)
{
    json_t *att = json_object_get(doc, "attestation");
    if (json_is_object(att))
        json_object_del(att, "symmetricKey");
}
