/* Certificate text parsing and the X509CertificateInfo block, on
 * certificates minted at run time (nothing on disk can expire). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64.h"
#include "common/rand.h"
#include "pki/pki.h"

#define T_2024_01_02 1704164645LL /* 2024-01-02T03:04:05Z */
#define T_9999_END 253402300799LL /* 9999-12-31T23:59:59Z */

typedef struct {
    EVP_PKEY *ca_key;
    X509 *ca;
    EVP_PKEY *dev_key;
    X509 *dev;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    char err[200] = "";
    f->ca_key = dps_pki_generate_p256();
    f->dev_key = dps_pki_generate_p256();
    assert_non_null(f->ca_key);
    assert_non_null(f->dev_key);
    dps_cert_spec ca = {.common_name = "Test Root", .organization = "Contoso",
                        .not_before_s = T_2024_01_02, .not_after_s = T_9999_END,
                        .is_ca = true, .path_len = -1};
    f->ca = dps_pki_issue_cert(&ca, f->ca_key, NULL, f->ca_key, err, sizeof err);
    assert_non_null(f->ca);
    dps_cert_spec dev = {.common_name = "device1", .organization = "Contoso",
                         .not_before_s = T_2024_01_02, .not_after_s = T_9999_END,
                         .client_auth = true};
    f->dev = dps_pki_issue_cert(&dev, f->dev_key, f->ca, f->ca_key, err, sizeof err);
    assert_non_null(f->dev);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    X509_free(f->ca);
    X509_free(f->dev);
    EVP_PKEY_free(f->ca_key);
    EVP_PKEY_free(f->dev_key);
    free(f);
    return 0;
}

static char *to_pem(X509 *cert)
{
    BIO *bio = BIO_new(BIO_s_mem());
    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_X509(bio, cert), 1);
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    assert_true(n > 0);
    char *s = strndup(data, (size_t)n);
    BIO_free(bio);
    assert_non_null(s);
    return s;
}

/* Parses text expecting success and the same certificate back. */
static void expect_parses(const char *text, X509 *want)
{
    char err[200] = "";
    X509 *got = dps_x509_parse_text(text, strlen(text), err, sizeof err);
    assert_non_null(got);
    assert_int_equal(X509_cmp(got, want), 0);
    X509_free(got);
}

static void expect_refused(const char *text, size_t len, const char *reason_part)
{
    char err[200] = "";
    X509 *got = dps_x509_parse_text(text, len, err, sizeof err);
    assert_null(got);
    assert_true(strlen(err) > 0);
    assert_null(strchr(err, '\n'));
    if (reason_part != NULL)
        assert_non_null(strstr(err, reason_part));
    /* Nothing left behind in OpenSSL's error queue. */
    assert_int_equal(ERR_peek_error(), 0);
}

static void test_parse_pem(void **state)
{
    fixture *f = *state;
    char *pem = to_pem(f->dev);
    expect_parses(pem, f->dev);

    /* Surrounding blank space and CRLF line ends, as from a Windows file. */
    size_t n = strlen(pem);
    char *crlf = malloc(2 * n + 16);
    assert_non_null(crlf);
    size_t o = 0;
    crlf[o++] = '\n';
    crlf[o++] = ' ';
    for (size_t i = 0; i < n; i++) {
        if (pem[i] == '\n')
            crlf[o++] = '\r';
        crlf[o++] = pem[i];
    }
    crlf[o++] = '\n';
    crlf[o] = '\0';
    expect_parses(crlf, f->dev);
    free(crlf);
    free(pem);
}

static void test_parse_base64_der(void **state)
{
    fixture *f = *state;
    char *b64 = dps_x509_to_base64_der(f->dev);
    assert_non_null(b64);
    expect_parses(b64, f->dev);

    /* The same, wrapped every 64 characters with mixed line ends and
     * indentation, as pasted from a terminal. */
    size_t n = strlen(b64);
    char *wrapped = malloc(n + n / 8 + 8);
    assert_non_null(wrapped);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && i % 64 == 0) {
            wrapped[o++] = (i / 64) % 2 ? '\r' : ' ';
            wrapped[o++] = '\n';
            wrapped[o++] = '\t';
        }
        wrapped[o++] = b64[i];
    }
    wrapped[o] = '\0';
    expect_parses(wrapped, f->dev);
    free(wrapped);

    /* The round trip through base64 DER keeps every byte. */
    uint8_t *der = NULL;
    size_t derlen = 0;
    assert_int_equal(dps_b64_decode(b64, n, &der, &derlen), 0);
    unsigned char *want = NULL;
    int wantlen = i2d_X509(f->dev, &want);
    assert_int_equal((size_t)wantlen, derlen);
    assert_memory_equal(der, want, derlen);
    OPENSSL_free(want);
    free(der);
    free(b64);
}

static void test_parse_refusals(void **state)
{
    fixture *f = *state;
    char *pem = to_pem(f->dev);
    char *capem = to_pem(f->ca);
    char buf[8192];

    expect_refused("", 0, "empty");
    expect_refused(" \r\n\t ", 5, "empty");
    expect_refused(NULL, 0, "empty");
    expect_refused("hello world", 11, NULL);
    expect_refused("-----BEGIN CERTIFICATE-----\nAAAA\n", 33, "PEM");

    /* Trailing text after the PEM block, and a second certificate. */
    snprintf(buf, sizeof buf, "%sjunk\n", pem);
    expect_refused(buf, strlen(buf), "after");
    snprintf(buf, sizeof buf, "%s%s", pem, capem);
    expect_refused(buf, strlen(buf), "after");

    /* A PEM block of another kind. */
    snprintf(buf, sizeof buf, "%s", pem);
    char *label = strstr(buf, "CERTIFICATE-----");
    memcpy(label, "CERTIFICATX", 11);
    expect_refused(buf, strlen(buf), NULL);

    /* Truncated PEM body. */
    size_t n = strlen(pem);
    snprintf(buf, sizeof buf, "%.*s", (int)(n / 2), pem);
    expect_refused(buf, strlen(buf), NULL);

    /* Base64 DER with a byte appended after the certificate. */
    unsigned char *der = NULL;
    int derlen = i2d_X509(f->dev, &der);
    assert_true(derlen > 0);
    uint8_t *longer = malloc((size_t)derlen + 1);
    assert_non_null(longer);
    memcpy(longer, der, (size_t)derlen);
    longer[derlen] = 0;
    char *b64 = dps_b64_encode(longer, (size_t)derlen + 1);
    assert_non_null(b64);
    expect_refused(b64, strlen(b64), "unexpected bytes");
    free(b64);
    /* And one cut short. */
    b64 = dps_b64_encode(der, (size_t)derlen - 3);
    assert_non_null(b64);
    expect_refused(b64, strlen(b64), "DER");
    free(b64);
    free(longer);
    OPENSSL_free(der);

    /* An embedded NUL, and text over the cap. */
    expect_refused(pem, strlen(pem) + 1, "NUL");
    char *huge = malloc(DPS_PKI_MAX_CERT_TEXT + 2);
    assert_non_null(huge);
    memset(huge, 'A', DPS_PKI_MAX_CERT_TEXT + 1);
    huge[DPS_PKI_MAX_CERT_TEXT + 1] = '\0';
    expect_refused(huge, DPS_PKI_MAX_CERT_TEXT + 1, "longer");
    free(huge);
    free(pem);
    free(capem);
}

static void hex_digest(X509 *cert, const EVP_MD *md, char *out)
{
    unsigned char *der = NULL;
    int n = i2d_X509(cert, &der);
    assert_true(n > 0);
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    assert_int_equal(EVP_Digest(der, (size_t)n, d, &dlen, md, NULL), 1);
    dps_hex_encode(d, dlen, true, out);
    OPENSSL_free(der);
}

static void test_info_fields(void **state)
{
    fixture *f = *state;
    json_t *info = dps_x509_info(f->dev);
    assert_non_null(info);
    assert_string_equal(json_string_value(json_object_get(info, "subjectName")),
                        "CN=device1, O=Contoso");
    assert_string_equal(json_string_value(json_object_get(info, "issuerName")),
                        "CN=Test Root, O=Contoso");
    assert_string_equal(json_string_value(json_object_get(info, "notBeforeUtc")),
                        "2024-01-02T03:04:05.0000000Z");
    assert_string_equal(json_string_value(json_object_get(info, "notAfterUtc")),
                        "9999-12-31T23:59:59.0000000Z");
    assert_int_equal(json_integer_value(json_object_get(info, "version")), 3);

    char want1[41], want256[65];
    hex_digest(f->dev, EVP_sha1(), want1);
    hex_digest(f->dev, EVP_sha256(), want256);
    assert_string_equal(json_string_value(json_object_get(info, "sha1Thumbprint")), want1);
    assert_string_equal(json_string_value(json_object_get(info, "sha256Thumbprint")), want256);
    char got1[41], got256[65];
    assert_int_equal(dps_x509_thumbprint_sha1(f->dev, got1), 0);
    assert_int_equal(dps_x509_thumbprint_sha256(f->dev, got256), 0);
    assert_string_equal(got1, want1);
    assert_string_equal(got256, want256);

    /* Random 16-byte positive serial with its top bits fixed: 32 hex digits,
     * upper case, starting 4..7. */
    const char *serial = json_string_value(json_object_get(info, "serialNumber"));
    assert_non_null(serial);
    assert_int_equal(strlen(serial), 32);
    assert_true(serial[0] >= '4' && serial[0] <= '7');
    assert_int_equal(strspn(serial, "0123456789ABCDEF"), 32);

    /* Members in the documented order, nothing else. */
    static const char *const order[] = {"subjectName", "sha1Thumbprint", "sha256Thumbprint",
                                        "issuerName", "notBeforeUtc", "notAfterUtc",
                                        "serialNumber", "version"};
    size_t i = 0;
    for (void *it = json_object_iter(info); it != NULL; it = json_object_iter_next(info, it)) {
        assert_true(i < 8);
        assert_string_equal(json_object_iter_key(it), order[i]);
        i++;
    }
    assert_int_equal(i, 8);
    json_decref(info);
}

/* Re-serialises cert with serial and signs again, so DER and digests agree. */
static void set_serial(fixture *f, X509 *cert, long value)
{
    ASN1_INTEGER *s = ASN1_INTEGER_new();
    assert_non_null(s);
    assert_int_equal(ASN1_INTEGER_set(s, value), 1);
    assert_int_equal(X509_set_serialNumber(cert, s), 1);
    ASN1_INTEGER_free(s);
    assert_true(X509_sign(cert, f->ca_key, EVP_sha256()) > 0);
}

static void test_info_serial_forms(void **state)
{
    fixture *f = *state;
    static const struct {
        long value;
        const char *hex;
    } cases[] = {
        {0x1234, "1234"},
        {0x80, "0080"},     /* sign byte kept, as .NET and Azure show it */
        {0x01, "01"},
        {-1, "FF"},         /* two's complement, as encoded */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        X509 *cert = X509_dup(f->dev);
        assert_non_null(cert);
        set_serial(f, cert, cases[i].value);
        json_t *info = dps_x509_info(cert);
        assert_non_null(info);
        assert_string_equal(json_string_value(json_object_get(info, "serialNumber")),
                            cases[i].hex);
        json_decref(info);
        X509_free(cert);
    }
}

static void test_info_name_escaping(void **state)
{
    fixture *f = *state;
    char err[200] = "";
    EVP_PKEY *key = dps_pki_generate_p256();
    assert_non_null(key);
    dps_cert_spec spec = {.common_name = "Ger\xc3\xa4t 7", .organization = "Contoso, Ltd",
                          .not_before_s = T_2024_01_02, .not_after_s = T_2024_01_02 + 86400,
                          .path_len = -1};
    X509 *cert = dps_pki_issue_cert(&spec, key, f->ca, f->ca_key, err, sizeof err);
    assert_non_null(cert);
    json_t *info = dps_x509_info(cert);
    assert_non_null(info);
    /* UTF-8 stays readable; the comma inside a value is escaped. */
    assert_string_equal(json_string_value(json_object_get(info, "subjectName")),
                        "CN=Ger\xc3\xa4t 7, O=Contoso\\, Ltd");
    assert_string_equal(json_string_value(json_object_get(info, "notAfterUtc")),
                        "2024-01-03T03:04:05.0000000Z");
    json_decref(info);
    X509_free(cert);
    EVP_PKEY_free(key);
    assert_null(dps_x509_info(NULL));
}

static void test_self_signed_info(void **state)
{
    fixture *f = *state;
    json_t *info = dps_x509_info(f->ca);
    assert_non_null(info);
    assert_string_equal(json_string_value(json_object_get(info, "subjectName")),
                        json_string_value(json_object_get(info, "issuerName")));
    json_decref(info);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_parse_pem, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_base64_der, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_info_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_info_serial_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_info_name_escaping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_self_signed_info, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
