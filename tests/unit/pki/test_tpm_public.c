/* TPM2B_PUBLIC parsing: hand-built RSA and ECC endorsement keys, a real EK
 * from tpm.md §3.4, every truncation, size and trailing-byte mistakes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64.h"
#include "common/rand.h"
#include "pki/pki.h"

/* A marshalling buffer for building test inputs. */
typedef struct {
    uint8_t b[2048];
    size_t n;
} wbuf;

static void put16(wbuf *w, uint16_t v)
{
    w->b[w->n++] = (uint8_t)(v >> 8);
    w->b[w->n++] = (uint8_t)v;
}

static void put32(wbuf *w, uint32_t v)
{
    put16(w, (uint16_t)(v >> 16));
    put16(w, (uint16_t)v);
}

static void putbytes(wbuf *w, const uint8_t *p, size_t n)
{
    memcpy(w->b + w->n, p, n);
    w->n += n;
}

/* Prefixes a TPMT_PUBLIC with its UINT16 size: the TPM2B_PUBLIC. */
static void wrap(const wbuf *area, wbuf *out)
{
    out->n = 0;
    put16(out, (uint16_t)area->n);
    putbytes(out, area->b, area->n);
}

static const uint8_t ek_policy[32] = {
    0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc,
    0x8d, 0x46, 0xa5, 0xd7, 0x24, 0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52,
    0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa};

/* The default RSA-2048 EK template (tpm.md §3.1) with a made-up modulus. */
static void build_rsa_ek(wbuf *area, uint8_t fill)
{
    area->n = 0;
    put16(area, 0x0001);     /* TPM_ALG_RSA */
    put16(area, 0x000B);     /* SHA-256 */
    put32(area, 0x000300B2); /* EK attributes */
    put16(area, sizeof ek_policy);
    putbytes(area, ek_policy, sizeof ek_policy);
    put16(area, 0x0006); /* AES */
    put16(area, 128);
    put16(area, 0x0043); /* CFB */
    put16(area, 0x0010); /* scheme NULL */
    put16(area, 2048);
    put32(area, 0);
    put16(area, 256);
    for (int i = 0; i < 256; i++)
        area->b[area->n++] = (uint8_t)(fill + i);
}

/* An ECC P-256 EK: the TCG template shape with a made-up point. */
static void build_ecc_ek(wbuf *area, uint16_t scheme, uint16_t kdf)
{
    area->n = 0;
    put16(area, 0x0023); /* TPM_ALG_ECC */
    put16(area, 0x000B);
    put32(area, 0x000300B2);
    put16(area, sizeof ek_policy);
    putbytes(area, ek_policy, sizeof ek_policy);
    put16(area, 0x0006);
    put16(area, 128);
    put16(area, 0x0043);
    put16(area, scheme);
    if (scheme != 0x0010)
        put16(area, 0x000B);
    if (scheme == 0x001A)
        put16(area, 7); /* ECDAA count */
    put16(area, 0x0003); /* NIST P-256 */
    put16(area, kdf);
    if (kdf != 0x0010)
        put16(area, 0x000B);
    put16(area, 32);
    for (int i = 0; i < 32; i++)
        area->b[area->n++] = (uint8_t)(0x10 + i);
    put16(area, 32);
    for (int i = 0; i < 32; i++)
        area->b[area->n++] = (uint8_t)(0x80 + i);
}

static void assert_one_line(const char *err)
{
    assert_true(strlen(err) > 0);
    assert_null(strchr(err, '\n'));
}

static void test_rsa_ek_fields(void **state)
{
    (void)state;
    wbuf area, blob;
    build_rsa_ek(&area, 0x5A);
    wrap(&area, &blob);
    assert_int_equal(blob.n, 316); /* the size tpm.md §3.2 gives for an EK */

    dps_tpm_public pub;
    char err[200] = "";
    assert_int_equal(dps_tpm2b_public_parse(blob.b, blob.n, &pub, err, sizeof err), 0);
    assert_int_equal(pub.type, 0x0001);
    assert_int_equal(pub.name_alg, 0x000B);
    assert_int_equal(pub.object_attributes, 0x000300B2);
    assert_int_equal(pub.rsa_key_bits, 2048);
    assert_int_equal(pub.rsa_exponent, 0);
    assert_int_equal(pub.unique_len, 256);
    assert_int_equal(pub.unique[0], 0x5A);
    assert_int_equal(pub.unique[255], (uint8_t)(0x5A + 255));
    assert_int_equal(pub.area_len, 314);
    assert_memory_equal(pub.area, area.b, area.n);
}

static void test_rsa_with_scheme_and_exponent(void **state)
{
    (void)state;
    wbuf area, blob;
    area.n = 0;
    put16(&area, 0x0001);
    put16(&area, 0x000B);
    put32(&area, 0x00040072);
    put16(&area, 0); /* empty authPolicy */
    put16(&area, 0x0010); /* symmetric NULL: no keyBits or mode follow */
    put16(&area, 0x0014); /* RSASSA */
    put16(&area, 0x000B);
    put16(&area, 1024);
    put32(&area, 3);
    put16(&area, 128);
    for (int i = 0; i < 128; i++)
        area.b[area.n++] = (uint8_t)i;
    wrap(&area, &blob);

    dps_tpm_public pub;
    char err[200];
    assert_int_equal(dps_tpm2b_public_parse(blob.b, blob.n, &pub, err, sizeof err), 0);
    assert_int_equal(pub.rsa_key_bits, 1024);
    assert_int_equal(pub.rsa_exponent, 3);
    assert_int_equal(pub.unique_len, 128);
}

static void test_ecc_keys(void **state)
{
    (void)state;
    static const uint16_t schemes[][2] = {
        {0x0010, 0x0010}, /* NULL scheme, NULL kdf */
        {0x0018, 0x0020}, /* ECDSA + SHA-256, KDF1_SP800_56A + SHA-256 */
        {0x001A, 0x0010}, /* ECDAA carries a count as well */
    };
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        wbuf area, blob;
        build_ecc_ek(&area, schemes[i][0], schemes[i][1]);
        wrap(&area, &blob);
        dps_tpm_public pub;
        char err[200] = "";
        assert_int_equal(dps_tpm2b_public_parse(blob.b, blob.n, &pub, err, sizeof err), 0);
        assert_int_equal(pub.type, 0x0023);
        assert_int_equal(pub.unique_len, 64);
        assert_int_equal(pub.unique[0], 0x10);
        assert_int_equal(pub.unique[32], 0x80);
        assert_int_equal(pub.area_len, area.n);
    }
}

/* Real EK from tpm.md §3.4; its Name is given there too, which pins down
 * that area holds exactly the TPMT_PUBLIC bytes. */
static const char real_ek_b64[] =
    "AToAAQALAAMAsgAgg3GXZ0SEs/gakMyNRqXXJP1S124GUgtk8qHaGzMUaaoABgCAAEMAEAgAAAAAAAEAtKEADl/"
    "sNRgmYAjP6gXmbccRaJoTnVixisUaek0OwAzFGN70xt9ZOYp6fhIwfcft3fdVKOrKpXYcTe72CGNkGJGlQz5ti9n2"
    "pQ0uJhcX8aefh4Onm7lVlUCQAVp1K0r6zI8vkEXWsBIvwvxk0eMJbFaq146kbTkJHIGczb89RkFH2TX+CgXeZOG9o"
    "XQzUNwktmTUacspamune5Wywc/ce8HsDFYchyUHogFhrZ/LPnzyTDXO8sSC5z5dvsUBtUME3iRYDyKgZOfBtmRMqQ"
    "ewD+4iH+ZEJjtsyJiWR8hFhyKROnOuqXfNFwjd5IcNU4wtlKO0cLyXmTOfQK6Da1pr5Q==";

static void test_real_ek(void **state)
{
    (void)state;
    dps_tpm_public pub;
    char err[200] = "";
    assert_int_equal(dps_tpm2b_public_parse_b64(real_ek_b64, &pub, err, sizeof err), 0);
    assert_int_equal(pub.type, 0x0001);
    assert_int_equal(pub.name_alg, 0x000B);
    assert_int_equal(pub.object_attributes, 0x000300B2);
    assert_int_equal(pub.rsa_key_bits, 2048);
    assert_int_equal(pub.rsa_exponent, 0);
    assert_int_equal(pub.unique_len, 256);
    assert_int_equal(pub.area_len, 314);
    assert_int_equal(pub.unique[0], 0xB4);
    assert_int_equal(pub.unique[1], 0xA1);

    uint8_t name[34];
    name[0] = 0x00;
    name[1] = 0x0B;
    SHA256(pub.area, pub.area_len, name + 2);
    char hex[69];
    dps_hex_encode(name, sizeof name, false, hex);
    assert_string_equal(hex,
                        "000b9a97017ebea04c4918bae042bd49ac97449f5dfef060d27b0f748767b4220bc4");
}

/* Cutting the input anywhere must fail without reading past the cut (ASan
 * builds check the latter: each attempt gets an exact-size heap copy). */
static void check_all_cuts(const wbuf *area)
{
    for (size_t cut = 0; cut < area->n + 2; cut++) {
        /* As received: the size prefix no longer matches. */
        wbuf blob;
        wrap(area, &blob);
        uint8_t *copy = malloc(cut + 1);
        assert_non_null(copy);
        memcpy(copy, blob.b, cut);
        dps_tpm_public pub;
        char err[200] = "";
        assert_int_equal(dps_tpm2b_public_parse(copy, cut, &pub, err, sizeof err), -1);
        assert_one_line(err);
        free(copy);
    }
    for (size_t cut = 0; cut < area->n; cut++) {
        /* Consistent size prefix: the cut must be found inside TPMT_PUBLIC. */
        size_t n = 2 + cut;
        uint8_t *copy = malloc(n);
        assert_non_null(copy);
        copy[0] = (uint8_t)(cut >> 8);
        copy[1] = (uint8_t)cut;
        memcpy(copy + 2, area->b, cut);
        dps_tpm_public pub;
        char err[200] = "";
        assert_int_equal(dps_tpm2b_public_parse(copy, n, &pub, err, sizeof err), -1);
        assert_one_line(err);
        free(copy);
    }
}

static void test_truncation_everywhere(void **state)
{
    (void)state;
    wbuf area;
    build_rsa_ek(&area, 1);
    check_all_cuts(&area);
    build_ecc_ek(&area, 0x001A, 0x0020);
    check_all_cuts(&area);
}

static void test_size_prefix_and_trailing_bytes(void **state)
{
    (void)state;
    wbuf area, blob;
    build_rsa_ek(&area, 9);
    wrap(&area, &blob);
    dps_tpm_public pub;
    char err[200];

    /* Size says one byte more, or one less, than follows. */
    blob.b[1]++;
    assert_int_equal(dps_tpm2b_public_parse(blob.b, blob.n, &pub, err, sizeof err), -1);
    assert_one_line(err);
    blob.b[1] -= 2;
    assert_int_equal(dps_tpm2b_public_parse(blob.b, blob.n, &pub, err, sizeof err), -1);
    blob.b[1]++;
    assert_int_equal(dps_tpm2b_public_parse(blob.b, blob.n, &pub, err, sizeof err), 0);

    /* A byte after the TPM2B, with the size left alone. */
    blob.b[blob.n] = 0;
    assert_int_equal(dps_tpm2b_public_parse(blob.b, blob.n + 1, &pub, err, sizeof err), -1);

    /* A byte after the TPMT_PUBLIC, inside a size that covers it. */
    area.b[area.n++] = 0;
    wrap(&area, &blob);
    assert_int_equal(dps_tpm2b_public_parse(blob.b, blob.n, &pub, err, sizeof err), -1);
    assert_non_null(strstr(err, "unexpected"));

    /* Zero and oversize size fields. */
    uint8_t zero[2] = {0, 0};
    assert_int_equal(dps_tpm2b_public_parse(zero, 2, &pub, err, sizeof err), -1);
    uint8_t *big = calloc(1, 2 + 2000);
    assert_non_null(big);
    big[0] = 2000 >> 8;
    big[1] = 2000 & 0xFF;
    assert_int_equal(dps_tpm2b_public_parse(big, 2 + 2000, &pub, err, sizeof err), -1);
    free(big);
    assert_int_equal(dps_tpm2b_public_parse(NULL, 0, &pub, err, sizeof err), -1);
}

/* Fields that are well-formed TPM encoding but not a usable key. */
static void test_bad_contents(void **state)
{
    (void)state;
    wbuf area, blob;
    dps_tpm_public pub;
    char err[200];

    build_rsa_ek(&area, 0);
    area.b[0] = 0x00; /* type KEYEDHASH */
    area.b[1] = 0x08;
    wrap(&area, &blob);
    assert_int_equal(dps_tpm2b_public_parse(blob.b, blob.n, &pub, err, sizeof err), -1);
    assert_one_line(err);
    assert_non_null(strstr(err, "neither RSA nor ECC"));

    build_rsa_ek(&area, 0);
    area.b[8] = 0; /* authPolicy size 0x0041: longer than any digest */
    area.b[9] = 65;
    wrap(&area, &blob);
    assert_int_equal(dps_tpm2b_public_parse(blob.b, blob.n, &pub, err, sizeof err), -1);
    assert_non_null(strstr(err, "authPolicy too long"));

    build_rsa_ek(&area, 0);
    area.b[50] = 0x04; /* keyBits 1024 with a 256-byte modulus */
    area.b[51] = 0x00;
    wrap(&area, &blob);
    assert_int_equal(dps_tpm2b_public_parse(blob.b, blob.n, &pub, err, sizeof err), -1);
    assert_non_null(strstr(err, "keyBits"));

    /* An ECC point whose coordinates differ in length. */
    build_ecc_ek(&area, 0x0010, 0x0010);
    area.n -= 1; /* drop the last byte of y and say y has 31 bytes */
    area.b[area.n - 32] = 31;
    wrap(&area, &blob);
    assert_int_equal(dps_tpm2b_public_parse(blob.b, blob.n, &pub, err, sizeof err), -1);
    assert_non_null(strstr(err, "coordinates of 32 and 31"));
}

static void test_output_untouched_on_failure(void **state)
{
    (void)state;
    wbuf area, blob;
    build_rsa_ek(&area, 3);
    wrap(&area, &blob);
    dps_tpm_public pub, before;
    memset(&pub, 0xAA, sizeof pub);
    before = pub;
    char err[200];
    assert_int_equal(dps_tpm2b_public_parse(blob.b, blob.n - 1, &pub, err, sizeof err), -1);
    assert_memory_equal(&pub, &before, sizeof pub);
}

static void test_equality(void **state)
{
    (void)state;
    wbuf area, blob;
    dps_tpm_public a, b, c;
    char err[200];
    build_rsa_ek(&area, 7);
    wrap(&area, &blob);
    assert_int_equal(dps_tpm2b_public_parse(blob.b, blob.n, &a, err, sizeof err), 0);
    assert_int_equal(dps_tpm2b_public_parse(blob.b, blob.n, &b, err, sizeof err), 0);
    assert_true(dps_tpm_public_equal(&a, &b));

    /* Same key, from base64. */
    char *text = dps_b64_encode(blob.b, blob.n);
    assert_non_null(text);
    assert_int_equal(dps_tpm2b_public_parse_b64(text, &c, err, sizeof err), 0);
    free(text);
    assert_true(dps_tpm_public_equal(&a, &c));

    /* One modulus bit, or one attribute bit, makes another key. */
    area.b[area.n - 1] ^= 1;
    wrap(&area, &blob);
    assert_int_equal(dps_tpm2b_public_parse(blob.b, blob.n, &b, err, sizeof err), 0);
    assert_false(dps_tpm_public_equal(&a, &b));
    build_rsa_ek(&area, 7);
    area.b[7] ^= 0x40;
    wrap(&area, &blob);
    assert_int_equal(dps_tpm2b_public_parse(blob.b, blob.n, &b, err, sizeof err), 0);
    assert_false(dps_tpm_public_equal(&a, &b));

    build_ecc_ek(&area, 0x0010, 0x0010);
    wrap(&area, &blob);
    assert_int_equal(dps_tpm2b_public_parse(blob.b, blob.n, &b, err, sizeof err), 0);
    assert_false(dps_tpm_public_equal(&a, &b));
}

static void test_b64_wrapper_errors(void **state)
{
    (void)state;
    dps_tpm_public pub;
    char err[200];
    assert_int_equal(dps_tpm2b_public_parse_b64(NULL, &pub, err, sizeof err), -1);
    assert_int_equal(dps_tpm2b_public_parse_b64("", &pub, err, sizeof err), -1);
    assert_int_equal(dps_tpm2b_public_parse_b64("AToA!QAL", &pub, err, sizeof err), -1);
    assert_one_line(err);
    /* Valid base64 of something that is not a public area. */
    assert_int_equal(dps_tpm2b_public_parse_b64("AAAA", &pub, err, sizeof err), -1);
    /* Whitespace is not part of the stored form. */
    char spaced[sizeof real_ek_b64 + 1];
    memcpy(spaced, real_ek_b64, 80);
    spaced[80] = '\n';
    memcpy(spaced + 81, real_ek_b64 + 80, sizeof real_ek_b64 - 80);
    assert_int_equal(dps_tpm2b_public_parse_b64(spaced, &pub, err, sizeof err), -1);
    /* Text far longer than any public area is refused before decoding. */
    size_t n = 8000;
    char *longtext = malloc(n + 1);
    assert_non_null(longtext);
    memset(longtext, 'A', n);
    longtext[n] = '\0';
    assert_int_equal(dps_tpm2b_public_parse_b64(longtext, &pub, err, sizeof err), -1);
    assert_non_null(strstr(err, "longer"));
    free(longtext);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rsa_ek_fields),
        cmocka_unit_test(test_rsa_with_scheme_and_exponent),
        cmocka_unit_test(test_ecc_keys),
        cmocka_unit_test(test_real_ek),
        cmocka_unit_test(test_truncation_everywhere),
        cmocka_unit_test(test_size_prefix_and_trailing_bytes),
        cmocka_unit_test(test_bad_contents),
        cmocka_unit_test(test_output_untouched_on_failure),
        cmocka_unit_test(test_equality),
        cmocka_unit_test(test_b64_wrapper_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
