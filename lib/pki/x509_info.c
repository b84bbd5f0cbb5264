/* X.509 certificates as the DPS service API shows them: parsing the text a
 * client uploads (PEM or bare base64 DER) and computing the read-only
 * X509CertificateInfo block. */
#include "pki/pki.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64.h"
#include "common/rand.h"
#include "common/timeutil.h"

static const char pem_begin[] = "-----BEGIN CERTIFICATE-----";

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

static bool only_space(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_space(s[i]))
            return false;
    return true;
}

/* DER to X509, refusing bytes after the certificate: a blob with a tail is
 * not "one certificate", and silently ignoring it would hide mistakes. */
static X509 *der_to_x509(const uint8_t *der, size_t len, char *err, size_t errlen)
{
    if (len == 0 || len > (size_t)INT32_MAX) {
        snprintf(err, errlen, "certificate is empty");
        return NULL;
    }
    const unsigned char *p = der;
    X509 *cert = d2i_X509(NULL, &p, (long)len);
    if (cert == NULL) {
        snprintf(err, errlen, "certificate is not valid DER X.509");
        return NULL;
    }
    if ((size_t)(p - der) != len) {
        X509_free(cert);
        snprintf(err, errlen, "certificate has %zu unexpected bytes after it",
                 len - (size_t)(p - der));
        return NULL;
    }
    return cert;
}

static X509 *parse_pem(const char *text, size_t len, char *err, size_t errlen)
{
    X509 *cert = NULL;
    char *name = NULL, *header = NULL;
    unsigned char *der = NULL;
    long derlen = 0;
    BIO *bio = BIO_new_mem_buf(text, (int)len);
    if (bio == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (PEM_read_bio(bio, &name, &header, &der, &derlen) != 1) {
        snprintf(err, errlen, "certificate PEM is malformed");
        goto done;
    }
    if (strcmp(name, "CERTIFICATE") != 0 || header[0] != '\0') {
        snprintf(err, errlen, "PEM block is not a plain CERTIFICATE");
        goto done;
    }
    /* Whatever follows the END line must be blank: a second certificate
     * (a chain) or stray text is refused rather than dropped. */
    char *rest = NULL;
    long restlen = BIO_get_mem_data(bio, &rest);
    if (restlen < 0 || !only_space(rest, (size_t)restlen)) {
        snprintf(err, errlen, "unexpected text after the certificate PEM block");
        goto done;
    }
    cert = der_to_x509(der, (size_t)derlen, err, errlen);
done:
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(der);
    BIO_free(bio);
    return cert;
}

static X509 *parse_b64_der(const char *text, size_t len, char *err, size_t errlen)
{
    /* dps_b64_decode is strict, so drop the whitespace (line breaks from
     * copy-and-paste) first. */
    char *compact = malloc(len + 1);
    if (compact == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (!is_space(text[i]))
            compact[n++] = text[i];
    uint8_t *der = NULL;
    size_t derlen = 0;
    int rc = dps_b64_decode(compact, n, &der, &derlen);
    free(compact);
    if (rc != 0) {
        snprintf(err, errlen, "certificate is neither PEM nor valid base64 DER");
        return NULL;
    }
    X509 *cert = der_to_x509(der, derlen, err, errlen);
    free(der);
    return cert;
}

X509 *dps_x509_parse_text(const char *text, size_t len, char *err, size_t errlen)
{
    if (text == NULL || len == 0) {
        snprintf(err, errlen, "certificate is empty");
        return NULL;
    }
    if (len > DPS_PKI_MAX_CERT_TEXT) {
        snprintf(err, errlen, "certificate text longer than %d bytes", DPS_PKI_MAX_CERT_TEXT);
        return NULL;
    }
    if (memchr(text, '\0', len) != NULL) {
        snprintf(err, errlen, "certificate text contains a NUL byte");
        return NULL;
    }
    size_t start = 0;
    while (start < len && is_space(text[start]))
        start++;
    if (start == len) {
        snprintf(err, errlen, "certificate is empty");
        return NULL;
    }
    const char *t = text + start;
    size_t n = len - start;
    X509 *cert;
    if (n >= sizeof pem_begin - 1 && memcmp(t, pem_begin, sizeof pem_begin - 1) == 0)
        cert = parse_pem(t, n, err, errlen);
    else
        cert = parse_b64_der(t, n, err, errlen);
    /* Failures are reported through err; leave no stale entries in
     * OpenSSL's thread error queue for unrelated code to trip over. */
    ERR_clear_error();
    return cert;
}

/* ---- the info block ---------------------------------------------------- */

static int thumbprint(const X509 *cert, const EVP_MD *md, size_t want, char *out)
{
    unsigned char buf[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (X509_digest(cert, md, buf, &n) != 1 || n != want)
        return -1;
    dps_hex_encode(buf, n, true, out);
    return 0;
}

int dps_x509_thumbprint_sha1(const X509 *cert, char out[41])
{
    return thumbprint(cert, EVP_sha1(), 20, out);
}

int dps_x509_thumbprint_sha256(const X509 *cert, char out[65])
{
    return thumbprint(cert, EVP_sha256(), 32, out);
}

char *dps_x509_to_base64_der(const X509 *cert)
{
    unsigned char *der = NULL;
    int n = i2d_X509(cert, &der);
    if (n <= 0)
        return NULL;
    char *b64 = dps_b64_encode(der, (size_t)n);
    OPENSSL_free(der);
    return b64;
}

static json_t *name_with_flags(const X509_NAME *name, unsigned long flags)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL)
        return NULL;
    json_t *s = NULL;
    if (X509_NAME_print_ex(bio, name, 0, flags) >= 0) {
        char *data = NULL;
        long n = BIO_get_mem_data(bio, &data);
        if (n >= 0)
            s = json_stringn(n == 0 ? "" : data, (size_t)n);
    }
    BIO_free(bio);
    return s;
}

/* "CN=device1, O=Contoso": most specific RDN first (the order of RFC 4514
 * and of .NET's X500DistinguishedName, which Azure shows), ", " between
 * RDNs, no spaces around '=', RFC 2253 escaping, but UTF-8 kept as is
 * (ESC_MSB off) because the result goes into a JSON string. OpenSSL
 * already refuses names whose strings do not convert to UTF-8 when it
 * decodes them; should one still print as invalid UTF-8, escaping every
 * non-ASCII byte beats failing the whole info block. */
static json_t *name_string(const X509_NAME *name)
{
    const unsigned long base = XN_FLAG_SEP_CPLUS_SPC | XN_FLAG_DN_REV | XN_FLAG_FN_SN;
    json_t *s = name_with_flags(name, base | (ASN1_STRFLGS_RFC2253 & ~ASN1_STRFLGS_ESC_MSB));
    if (s == NULL)
        s = name_with_flags(name, base | ASN1_STRFLGS_RFC2253);
    return s;
}

char *dps_x509_name_text(const X509_NAME *name)
{
    json_t *s = name != NULL ? name_string(name) : NULL;
    char *out = s != NULL ? strdup(json_string_value(s)) : NULL;
    json_decref(s);
    return out;
}

/* The same 7-digit form as dps_time_iso, built from the broken-down time:
 * certificates often say 9999-12-31, beyond the int64 nanosecond range that
 * dps_time_iso takes. */
static json_t *time_string(const ASN1_TIME *t)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return NULL;
    char buf[DPS_ISO_TIME_LEN];
    int n = snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.0000000Z",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec);
    if (n < 0 || (size_t)n >= sizeof buf)
        return NULL;
    return json_string(buf);
}

/* Serial as .NET's X509Certificate.SerialNumber prints it (Azure's style):
 * the DER content octets of the INTEGER in hex, so a serial whose top bit
 * is set keeps its leading 00. */
static json_t *serial_string(const X509 *cert)
{
    const ASN1_INTEGER *serial = X509_get0_serialNumber(cert);
    unsigned char *der = NULL;
    int n = i2d_ASN1_INTEGER(serial, &der);
    json_t *s = NULL;
    if (n < 3 || der[0] != V_ASN1_INTEGER)
        goto done;
    /* Skip tag and length (short form, or long form 0x8N + N bytes). */
    size_t hdr = 2;
    if (der[1] & 0x80)
        hdr += der[1] & 0x7F;
    if (hdr >= (size_t)n)
        goto done;
    size_t clen = (size_t)n - hdr;
    char *hex = malloc(2 * clen + 1);
    if (hex == NULL)
        goto done;
    dps_hex_encode(der + hdr, clen, true, hex);
    s = json_string(hex);
    free(hex);
done:
    OPENSSL_free(der);
    return s;
}

/* Adds value under key, taking ownership; a NULL value fails. */
static int put(json_t *obj, const char *key, json_t *value)
{
    if (value == NULL)
        return -1;
    return json_object_set_new(obj, key, value);
}

json_t *dps_x509_info(const X509 *cert)
{
    if (cert == NULL)
        return NULL;
    char sha1[41], sha256[65];
    if (dps_x509_thumbprint_sha1(cert, sha1) != 0 ||
        dps_x509_thumbprint_sha256(cert, sha256) != 0)
        return NULL;
    json_t *info = json_object();
    if (info == NULL)
        return NULL;
    /* Member order follows the service API documentation. */
    if (put(info, "subjectName", name_string(X509_get_subject_name(cert))) != 0 ||
        put(info, "sha1Thumbprint", json_string(sha1)) != 0 ||
        put(info, "sha256Thumbprint", json_string(sha256)) != 0 ||
        put(info, "issuerName", name_string(X509_get_issuer_name(cert))) != 0 ||
        put(info, "notBeforeUtc", time_string(X509_get0_notBefore(cert))) != 0 ||
        put(info, "notAfterUtc", time_string(X509_get0_notAfter(cert))) != 0 ||
        put(info, "serialNumber", serial_string(cert)) != 0 ||
        put(info, "version", json_integer(X509_get_version(cert) + 1)) != 0) {
        json_decref(info);
        return NULL;
    }
    return info;
}
