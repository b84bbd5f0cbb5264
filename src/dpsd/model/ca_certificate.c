/* CA certificates and proof of possession (ca_certificate.h). */
#include "model/ca_certificate.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/rand.h"
#include "common/timeutil.h"
#include "pki/pki.h"

bool dps_ca_name_valid(const char *name)
{
    size_t n = name != NULL ? strlen(name) : 0;
    if (n == 0 || n > DPS_CA_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.' || c == '_';
        if (!ok)
            return false;
    }
    return true;
}

static char *cert_pem(X509 *cert)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *out = NULL;
    if (bio != NULL && PEM_write_bio_X509(bio, cert) == 1) {
        char *data = NULL;
        long n = BIO_get_mem_data(bio, &data);
        if (n > 0 && (out = malloc((size_t)n + 1)) != NULL) {
            memcpy(out, data, (size_t)n);
            out[n] = '\0';
        }
    }
    BIO_free(bio);
    return out;
}

/* notAfter as RFC 1123 text; years past what time_t holds are clamped by
 * the conversion, which no CA reaches in practice. */
static int expiry_text(const X509 *cert, char out[DPS_RFC1123_TIME_LEN])
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1)
        return -1;
    dps_time_rfc1123((int64_t)timegm(&tm), out);
    return 0;
}

json_t *dps_ca_doc_build(const char *name, X509 *cert, bool verified, const char *created,
                         const char *updated)
{
    json_t *info = dps_x509_info(cert);
    char *pem = cert_pem(cert);
    char expiry[DPS_RFC1123_TIME_LEN];
    json_t *doc = NULL;
    if (info != NULL && pem != NULL && expiry_text(cert, expiry) == 0)
        doc = json_pack("{s:s,s:{s:O,s:s,s:O,s:O,s:b,s:s,s:s,s:s}}", "name", name, "properties",
                        "subject", json_object_get(info, "subjectName"), "expiry", expiry,
                        "thumbprint", json_object_get(info, "sha1Thumbprint"),
                        "sha256Thumbprint", json_object_get(info, "sha256Thumbprint"),
                        "isVerified", verified, "created", created, "updated", updated,
                        "certificate", pem);
    json_decref(info);
    free(pem);
    return doc;
}

X509 *dps_ca_doc_cert(const json_t *doc)
{
    const char *text =
        json_string_value(json_object_get(json_object_get(doc, "properties"), "certificate"));
    if (text == NULL)
        text = json_string_value(json_object_get(doc, "certificate"));
    char err[160];
    return text != NULL ? dps_x509_parse_text(text, strlen(text), err, sizeof err) : NULL;
}

bool dps_ca_doc_verified(const json_t *doc)
{
    const json_t *v = json_object_get(doc, "isVerified");
    if (v == NULL)
        v = json_object_get(json_object_get(doc, "properties"), "isVerified");
    return json_is_true(v);
}

int dps_ca_upload_check(X509 *cert, int64_t now_s, char *msg, size_t msglen)
{
    /* 1 = basicConstraints CA:TRUE; the other non-zero answers (v1 roots,
     * keyUsage or Netscape types alone) are not CAs under RFC 5280, and
     * chain validation would refuse them as issuers anyway. */
    if (X509_check_ca(cert) != 1) {
        snprintf(msg, msglen, "the certificate is not a CA certificate (basicConstraints "
                              "CA:TRUE is required)");
        return -1;
    }
    time_t now = (time_t)now_s;
    if (X509_cmp_time(X509_get0_notAfter(cert), &now) <= 0) {
        snprintf(msg, msglen, "the certificate has expired");
        return -1;
    }
    return 0;
}

int dps_ca_pop_check(X509 *ca, X509 *pop, const char *code, int64_t now_s, char *msg,
                     size_t msglen)
{
    char cn[DPS_CA_CODE_LEN + 8];
    int n = X509_NAME_get_text_by_NID(X509_get_subject_name(pop), NID_commonName, cn, sizeof cn);
    if (n <= 0 || (size_t)n != strlen(code) || strcasecmp(cn, code) != 0) {
        snprintf(msg, msglen, "the certificate's subject CN is not the verification code");
        return -1;
    }
    if (X509_NAME_cmp(X509_get_issuer_name(pop), X509_get_subject_name(ca)) != 0) {
        snprintf(msg, msglen, "the certificate's issuer is not the CA certificate's subject");
        return -1;
    }
    EVP_PKEY *key = X509_get0_pubkey(ca);
    if (key == NULL || X509_verify(pop, key) != 1) {
        snprintf(msg, msglen, "the certificate is not signed with the CA certificate's key");
        return -1;
    }
    time_t now = (time_t)now_s;
    if (X509_cmp_time(X509_get0_notBefore(pop), &now) >= 0) {
        snprintf(msg, msglen, "the certificate is not valid yet");
        return -1;
    }
    if (X509_cmp_time(X509_get0_notAfter(pop), &now) <= 0) {
        snprintf(msg, msglen, "the certificate has expired");
        return -1;
    }
    return 0;
}

int dps_ca_new_code(char out[DPS_CA_CODE_LEN + 1])
{
    uint8_t raw[DPS_CA_CODE_BYTES];
    if (dps_random_bytes(raw, sizeof raw) != 0)
        return -1;
    dps_hex_encode(raw, sizeof raw, true, out);
    out[DPS_CA_CODE_LEN] = '\0';
    return 0;
}
