#include "attest.h"

#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/b64.h"
#include "common/secret.h"
#include "fields.h"
#include "pki/pki.h"

/* Symmetric keys the service accepts: base64 of 16..64 bytes (§7). */
#define KEY_MIN_BYTES 16
#define KEY_MAX_BYTES 64

static const char pem_begin[] = "-----BEGIN CERTIFICATE-----";
static const char pem_end[] = "-----END CERTIFICATE-----";

/* Which attestation type each option belongs to (wire spelling). */
static const struct {
    dpsctl_opt opt;
    const char *type;
} option_types[] = {
    {DPSCTL_OPT_PRIMARY_KEY, "symmetricKey"},
    {DPSCTL_OPT_SECONDARY_KEY, "symmetricKey"},
    {DPSCTL_OPT_ENDORSEMENT_KEY, "tpm"},
    {DPSCTL_OPT_CERTIFICATE_PATH, "x509"},
    {DPSCTL_OPT_SECONDARY_CERTIFICATE_PATH, "x509"},
    {DPSCTL_OPT_CA_NAME, "x509"},
    {DPSCTL_OPT_SECONDARY_CA_NAME, "x509"},
};
#define N_OPTION_TYPES (sizeof option_types / sizeof option_types[0])

bool dpsctl_attest_options_given(const dpsctl_args *a)
{
    for (size_t i = 0; i < N_OPTION_TYPES; i++) {
        if (a->val[option_types[i].opt] != NULL)
            return true;
    }
    return false;
}

static const char *opt_name(dpsctl_opt opt) { return dpsctl_opt_get(opt)->name; }

/* Returns obj[key], creating an empty object there when it is missing or
 * not an object. */
static json_t *child_object(json_t *obj, const char *key)
{
    json_t *c = json_object_get(obj, key);
    if (json_is_object(c))
        return c;
    c = json_object();
    if (c == NULL || json_object_set_new(obj, key, c) != 0)
        return NULL;
    return c;
}

int dpsctl_check_key(dpsctl_opt opt, const char *key, char *err, size_t errlen)
{
    uint8_t *raw = NULL;
    size_t len = 0;
    if (dps_b64_decode(key, strlen(key), &raw, &len) != 0) {
        snprintf(err, errlen, "--%s: not valid base64", opt_name(opt));
        return -1;
    }
    dps_wipe(raw, len);
    free(raw);
    if (len < KEY_MIN_BYTES || len > KEY_MAX_BYTES) {
        snprintf(err, errlen, "--%s: the key must decode to %d..%d bytes, not %zu",
                 opt_name(opt), KEY_MIN_BYTES, KEY_MAX_BYTES, len);
        return -1;
    }
    return 0;
}

/* Reads a certificate file (PEM, bare base64 or binary DER) and returns the
 * base64 DER of its first certificate. Taking only the CERTIFICATE block
 * lets people point at a file that also holds the chain or the key. */
char *dpsctl_load_certificate(dpsctl_opt opt, const char *path, char *err, size_t errlen)
{
    char why[200];
    size_t len = 0;
    char *data = dpsctl_read_file(path, DPS_PKI_MAX_CERT_TEXT, &len, why, sizeof why);
    if (data == NULL) {
        snprintf(err, errlen, "--%s: %s", opt_name(opt), why);
        return NULL;
    }
    X509 *cert = NULL;
    const char *begin = strstr(data, pem_begin);
    if (begin != NULL) {
        const char *end = strstr(begin, pem_end);
        if (end != NULL)
            cert = dps_x509_parse_text(begin, (size_t)(end - begin) + strlen(pem_end), why,
                                       sizeof why);
        else
            snprintf(why, sizeof why, "PEM certificate without an END line");
    } else if (memchr(data, '\0', len) == NULL && strlen(data) == len &&
               (cert = dps_x509_parse_text(data, len, why, sizeof why)) != NULL) {
        /* base64 text */
    } else {
        const unsigned char *p = (const unsigned char *)data;
        cert = d2i_X509(NULL, &p, (long)len);
        if (cert == NULL)
            snprintf(why, sizeof why, "not a PEM, base64 or DER certificate");
    }
    /* the file may have held a private key too */
    dps_wipe(data, len);
    free(data);
    if (cert == NULL) {
        snprintf(err, errlen, "--%s: %s: %s", opt_name(opt), path, why);
        return NULL;
    }
    char *b64 = dps_x509_to_base64_der(cert);
    X509_free(cert);
    if (b64 == NULL)
        snprintf(err, errlen, "--%s: cannot encode the certificate", opt_name(opt));
    return b64;
}

/* Sets slots.primary / slots.secondary to {"certificate": "<b64 der>"} for
 * the certificate options that were given. */
static int set_certificates(json_t *slots, const dpsctl_args *a, char *err, size_t errlen)
{
    static const struct {
        dpsctl_opt opt;
        const char *slot;
    } map[] = {{DPSCTL_OPT_CERTIFICATE_PATH, "primary"},
               {DPSCTL_OPT_SECONDARY_CERTIFICATE_PATH, "secondary"}};
    for (size_t i = 0; i < 2; i++) {
        const char *path = a->val[map[i].opt];
        if (path == NULL)
            continue;
        char *b64 = dpsctl_load_certificate(map[i].opt, path, err, errlen);
        if (b64 == NULL)
            return -1;
        json_t *slot = json_pack("{s:s}", "certificate", b64);
        free(b64);
        if (slot == NULL || json_object_set_new(slots, map[i].slot, slot) != 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

static bool slot_present(const json_t *obj, const char *member)
{
    const json_t *slots = json_object_get(obj, member);
    return json_object_get(slots, "primary") != NULL ||
           json_object_get(slots, "secondary") != NULL;
}

static int apply_symmetric(json_t *att, const dpsctl_args *a, char *err, size_t errlen)
{
    static const struct {
        dpsctl_opt opt;
        const char *member;
    } map[] = {{DPSCTL_OPT_PRIMARY_KEY, "primaryKey"},
               {DPSCTL_OPT_SECONDARY_KEY, "secondaryKey"}};
    json_t *sk = NULL;
    for (size_t i = 0; i < 2; i++) {
        const char *key = a->val[map[i].opt];
        if (key == NULL)
            continue;
        if (dpsctl_check_key(map[i].opt, key, err, errlen) != 0)
            return -1;
        if (sk == NULL)
            sk = child_object(att, "symmetricKey");
        if (sk == NULL || json_object_set_new(sk, map[i].member, json_string(key)) != 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

static int apply_tpm(json_t *att, const dpsctl_args *a, char *err, size_t errlen)
{
    const char *ek = a->val[DPSCTL_OPT_ENDORSEMENT_KEY];
    if (ek != NULL) {
        /* parsed here so that a truncated paste is caught before the call */
        dps_tpm_public pub;
        char why[200];
        if (dps_tpm2b_public_parse_b64(ek, &pub, why, sizeof why) != 0) {
            snprintf(err, errlen, "--endorsement-key: %s", why);
            return -1;
        }
        json_t *tpm = child_object(att, "tpm");
        if (tpm == NULL || json_object_set_new(tpm, "endorsementKey", json_string(ek)) != 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    if (!json_is_string(json_object_get(json_object_get(att, "tpm"), "endorsementKey"))) {
        snprintf(err, errlen, "TPM attestation needs --endorsement-key");
        return -1;
    }
    return 0;
}

static int apply_x509(json_t *att, const dpsctl_args *a, bool group, char *err, size_t errlen)
{
    bool certs = a->val[DPSCTL_OPT_CERTIFICATE_PATH] || a->val[DPSCTL_OPT_SECONDARY_CERTIFICATE_PATH];
    bool cas = a->val[DPSCTL_OPT_CA_NAME] || a->val[DPSCTL_OPT_SECONDARY_CA_NAME];
    if (certs && cas) {
        snprintf(err, errlen, "certificate paths and CA names exclude each other");
        return -1;
    }
    json_t *x = child_object(att, "x509");
    if (x == NULL)
        goto oom;
    const char *certs_member = group ? "signingCertificates" : "clientCertificates";
    if (certs) {
        /* a group trusts either its own signing certificates or registered
         * CAs; switching replaces the other kind */
        json_object_del(x, "caReferences");
        json_t *slots = child_object(x, certs_member);
        if (slots == NULL)
            goto oom;
        if (set_certificates(slots, a, err, errlen) != 0)
            return -1;
    }
    if (cas) {
        json_object_del(x, "signingCertificates");
        json_t *refs = child_object(x, "caReferences");
        if (refs == NULL)
            goto oom;
        if (a->val[DPSCTL_OPT_CA_NAME] &&
            json_object_set_new(refs, "primary", json_string(a->val[DPSCTL_OPT_CA_NAME])) != 0)
            goto oom;
        if (a->val[DPSCTL_OPT_SECONDARY_CA_NAME] &&
            json_object_set_new(refs, "secondary",
                                json_string(a->val[DPSCTL_OPT_SECONDARY_CA_NAME])) != 0)
            goto oom;
    }
    bool usable = slot_present(x, certs_member) || (group && slot_present(x, "caReferences"));
    if (!usable) {
        snprintf(err, errlen, group ? "X.509 attestation needs --certificate-path or --ca-name"
                                    : "X.509 attestation needs --certificate-path");
        return -1;
    }
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

int dpsctl_attest_apply(json_t **att, const dpsctl_args *a, bool group, const char *default_type,
                        char *err, size_t errlen)
{
    const char *asked = NULL;
    const char *type_text = a->val[DPSCTL_OPT_ATTESTATION_TYPE];
    if (type_text != NULL) {
        asked = dpsctl_enum_lookup(dpsctl_enum_attestation_type, type_text);
        if (asked == NULL) {
            snprintf(err, errlen, "--attestation-type: '%s' is not symmetrickey, tpm or x509",
                     type_text);
            return -1;
        }
    }
    const char *current = json_string_value(json_object_get(*att, "type"));
    json_t *work;
    if (*att == NULL || (asked != NULL && (current == NULL || strcasecmp(current, asked) != 0))) {
        const char *type = asked ? asked : default_type;
        if (type == NULL) {
            snprintf(err, errlen, "--attestation-type is required (symmetrickey, tpm or x509)");
            return -1;
        }
        work = json_pack("{s:s}", "type", type);
    } else {
        /* edit a copy, so that a failure leaves the caller's record intact */
        work = json_deep_copy(*att);
    }
    if (work == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const char *type = json_string_value(json_object_get(work, "type"));
    if (type == NULL) {
        snprintf(err, errlen, "the record has no attestation type");
        goto fail;
    }
    if (group && strcasecmp(type, "tpm") == 0) {
        snprintf(err, errlen, "enrollment groups cannot use TPM attestation");
        goto fail;
    }
    for (size_t i = 0; i < N_OPTION_TYPES; i++) {
        if (a->val[option_types[i].opt] != NULL && strcasecmp(type, option_types[i].type) != 0) {
            snprintf(err, errlen, "--%s does not apply to %s attestation%s",
                     opt_name(option_types[i].opt), type,
                     asked == NULL ? " (--attestation-type changes the type)" : "");
            goto fail;
        }
    }
    int rc = 0;
    if (strcasecmp(type, "symmetricKey") == 0)
        rc = apply_symmetric(work, a, err, errlen);
    else if (strcasecmp(type, "tpm") == 0)
        rc = apply_tpm(work, a, err, errlen);
    else if (strcasecmp(type, "x509") == 0)
        rc = apply_x509(work, a, group, err, errlen);
    if (rc != 0)
        goto fail;
    json_decref(*att);
    *att = work;
    return 0;
fail:
    json_decref(work);
    return -1;
}
