/* Minting X.509 v3 certificates: keys, subject, validity, extensions,
 * subjectAltName, signature. The local CA uses this for its own files;
 * tests use it to build whatever chain they need at run time, so no
 * checked-in certificate ever expires. */
#include "pki/pki.h"

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/rand.h"

#define DNS_NAME_MAX 253
#define DNS_LABEL_MAX 63

/* A SAN entry in comparable form: DNS text or raw IP address bytes. */
typedef struct {
    int type; /* GEN_DNS or GEN_IPADD */
    unsigned char ip[16];
    size_t iplen;
    const char *dns;
} san_entry;

static bool dns_name_valid(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > DNS_NAME_MAX)
        return false;
    const char *p = name;
    /* A wildcard may only be the whole left-most label. */
    if (p[0] == '*') {
        if (p[1] != '.' || p[2] == '\0')
            return false;
        p += 2;
    }
    size_t label = 0;
    for (; *p != '\0'; p++) {
        char ch = *p;
        if (ch == '.') {
            if (label == 0 || p[-1] == '-')
                return false;
            label = 0;
            continue;
        }
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '-';
        if (!ok || (ch == '-' && label == 0) || ++label > DNS_LABEL_MAX)
            return false;
    }
    return label > 0 && p[-1] != '-';
}

static bool classify(const char *name, san_entry *e)
{
    memset(e, 0, sizeof *e);
    if (name == NULL)
        return false;
    if (inet_pton(AF_INET, name, e->ip) == 1) {
        e->type = GEN_IPADD;
        e->iplen = 4;
        return true;
    }
    if (inet_pton(AF_INET6, name, e->ip) == 1) {
        e->type = GEN_IPADD;
        e->iplen = 16;
        return true;
    }
    if (!dns_name_valid(name))
        return false;
    e->type = GEN_DNS;
    e->dns = name;
    return true;
}

bool dps_pki_san_name_valid(const char *name)
{
    san_entry e;
    return classify(name, &e);
}

static bool entry_matches(const san_entry *e, const GENERAL_NAME *gn)
{
    if (gn->type != e->type)
        return false;
    if (e->type == GEN_IPADD) {
        const ASN1_OCTET_STRING *ip = gn->d.iPAddress;
        return (size_t)ASN1_STRING_length(ip) == e->iplen &&
               memcmp(ASN1_STRING_get0_data(ip), e->ip, e->iplen) == 0;
    }
    const ASN1_IA5STRING *dns = gn->d.dNSName;
    size_t n = strlen(e->dns);
    return (size_t)ASN1_STRING_length(dns) == n &&
           strncasecmp((const char *)ASN1_STRING_get0_data(dns), e->dns, n) == 0;
}

static bool names_hold(const GENERAL_NAMES *names, const san_entry *e)
{
    for (int i = 0; i < sk_GENERAL_NAME_num(names); i++)
        if (entry_matches(e, sk_GENERAL_NAME_value(names, i)))
            return true;
    return false;
}

bool dps_x509_has_san(const X509 *cert, const char *name)
{
    san_entry e;
    if (cert == NULL || !classify(name, &e))
        return false;
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    if (names == NULL)
        return false;
    bool found = names_hold(names, &e);
    GENERAL_NAMES_free(names);
    return found;
}

static GENERAL_NAME *make_general_name(const san_entry *e)
{
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_STRING *s = ASN1_STRING_type_new(e->type == GEN_IPADD ? V_ASN1_OCTET_STRING
                                                                : V_ASN1_IA5STRING);
    int ok = gn != NULL && s != NULL;
    if (ok && e->type == GEN_IPADD)
        ok = ASN1_STRING_set(s, e->ip, (int)e->iplen);
    else if (ok)
        ok = ASN1_STRING_set(s, e->dns, (int)strlen(e->dns));
    if (!ok) {
        ASN1_STRING_free(s);
        GENERAL_NAME_free(gn);
        return NULL;
    }
    GENERAL_NAME_set0_value(gn, e->type, s);
    return gn;
}

/* Builds the subjectAltName extension, dropping repeated names. */
static int add_san(X509 *cert, const dps_cert_spec *spec, char *err, size_t errlen)
{
    if (spec->nsan == 0)
        return 0;
    if (spec->san == NULL || spec->nsan > DPS_PKI_MAX_SAN) {
        snprintf(err, errlen, "too many subjectAltName entries (at most %d)", DPS_PKI_MAX_SAN);
        return -1;
    }
    GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
    if (names == NULL)
        goto oom;
    for (size_t i = 0; i < spec->nsan; i++) {
        san_entry e;
        if (!classify(spec->san[i], &e)) {
            snprintf(err, errlen, "invalid certificate host name \"%.64s\"",
                     spec->san[i] == NULL ? "(null)" : spec->san[i]);
            GENERAL_NAMES_free(names);
            return -1;
        }
        if (names_hold(names, &e))
            continue;
        GENERAL_NAME *gn = make_general_name(&e);
        if (gn == NULL || sk_GENERAL_NAME_push(names, gn) <= 0) {
            GENERAL_NAME_free(gn);
            goto oom;
        }
    }
    int rc = X509_add1_ext_i2d(cert, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT);
    GENERAL_NAMES_free(names);
    if (rc != 1) {
        snprintf(err, errlen, "cannot add subjectAltName");
        return -1;
    }
    return 0;
oom:
    GENERAL_NAMES_free(names);
    snprintf(err, errlen, "out of memory building subjectAltName");
    return -1;
}

/* One extension from OpenSSL's configuration syntax; only fixed strings
 * are passed here, never user input (SANs are built structurally above). */
static int add_conf_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    if (ext == NULL)
        return -1;
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok == 1 ? 0 : -1;
}

static int add_extensions(X509 *cert, X509 *issuer, const dps_cert_spec *spec)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    char bc[48];
    if (spec->is_ca && spec->path_len >= 0)
        snprintf(bc, sizeof bc, "critical,CA:TRUE,pathlen:%d", spec->path_len);
    else
        snprintf(bc, sizeof bc, "critical,CA:%s", spec->is_ca ? "TRUE" : "FALSE");
    const char *ku = spec->is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature";
    /* SKI first: for a self-signed certificate the AKI is taken from it. */
    if (add_conf_ext(cert, &ctx, NID_basic_constraints, bc) != 0 ||
        add_conf_ext(cert, &ctx, NID_key_usage, ku) != 0 ||
        add_conf_ext(cert, &ctx, NID_subject_key_identifier, "hash") != 0 ||
        add_conf_ext(cert, &ctx, NID_authority_key_identifier, "keyid:always") != 0)
        return -1;
    const char *eku = NULL;
    if (spec->server_auth && spec->client_auth)
        eku = "serverAuth,clientAuth";
    else if (spec->server_auth)
        eku = "serverAuth";
    else if (spec->client_auth)
        eku = "clientAuth";
    if (eku != NULL && add_conf_ext(cert, &ctx, NID_ext_key_usage, eku) != 0)
        return -1;
    return 0;
}

static int set_serial(X509 *cert)
{
    unsigned char b[16];
    if (dps_random_bytes(b, sizeof b) != 0)
        return -1;
    /* Positive (top bit clear) and exactly 16 octets (next bit set). */
    b[0] = (unsigned char)((b[0] & 0x7F) | 0x40);
    BIGNUM *bn = BN_bin2bn(b, sizeof b, NULL);
    int ok = bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL;
    BN_free(bn);
    return ok ? 0 : -1;
}

static int set_subject(X509 *cert, const dps_cert_spec *spec)
{
    X509_NAME *name = X509_get_subject_name(cert);
    /* Conventional order: O before CN, so CN prints first in "CN=.., O=..". */
    if (spec->organization != NULL &&
        X509_NAME_add_entry_by_NID(name, NID_organizationName, MBSTRING_UTF8,
                                   (const unsigned char *)spec->organization, -1, -1, 0) != 1)
        return -1;
    if (X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                   (const unsigned char *)spec->common_name, -1, -1, 0) != 1)
        return -1;
    return 0;
}

static const EVP_MD *digest_for(EVP_PKEY *key)
{
    /* EdDSA signs the message itself and takes no separate digest. */
    if (EVP_PKEY_is_a(key, "ED25519") || EVP_PKEY_is_a(key, "ED448"))
        return NULL;
    return EVP_sha256();
}

EVP_PKEY *dps_pki_generate_p256(void)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

X509 *dps_pki_issue_cert(const dps_cert_spec *spec, EVP_PKEY *subject_key, X509 *issuer,
                         EVP_PKEY *issuer_key, char *err, size_t errlen)
{
    if (spec == NULL || spec->common_name == NULL || spec->common_name[0] == '\0' ||
        subject_key == NULL || issuer_key == NULL || spec->not_after_s <= spec->not_before_s) {
        snprintf(err, errlen, "certificate request incomplete");
        return NULL;
    }
    if (issuer == NULL && EVP_PKEY_eq(subject_key, issuer_key) != 1) {
        snprintf(err, errlen, "self-signed certificate needs its own key");
        return NULL;
    }
    X509 *cert = X509_new();
    if (cert == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (X509_set_version(cert, X509_VERSION_3) != 1 || set_serial(cert) != 0 ||
        set_subject(cert, spec) != 0 ||
        X509_set_issuer_name(cert, issuer != NULL ? X509_get_subject_name(issuer)
                                                  : X509_get_subject_name(cert)) != 1 ||
        ASN1_TIME_set(X509_getm_notBefore(cert), (time_t)spec->not_before_s) == NULL ||
        ASN1_TIME_set(X509_getm_notAfter(cert), (time_t)spec->not_after_s) == NULL ||
        X509_set_pubkey(cert, subject_key) != 1) {
        snprintf(err, errlen, "cannot fill in certificate fields");
        goto fail;
    }
    if (add_extensions(cert, issuer != NULL ? issuer : cert, spec) != 0) {
        snprintf(err, errlen, "cannot add certificate extensions");
        goto fail;
    }
    if (add_san(cert, spec, err, errlen) != 0)
        goto fail;
    if (X509_sign(cert, issuer_key, digest_for(issuer_key)) <= 0) {
        snprintf(err, errlen, "cannot sign certificate");
        goto fail;
    }
    return cert;
fail:
    ERR_clear_error();
    X509_free(cert);
    return NULL;
}
