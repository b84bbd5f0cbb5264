/* The local CA: first creation, the certificates' profile, verification of
 * the chain as a TLS client would do it, reuse of files, and each reason
 * to reissue the server certificate. Runs in a fresh temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "pki/pki.h"

#define CA_NAME "opendps test CA"
#define DAY (24 * 60 * 60)

typedef struct {
    char root[64];  /* mkdtemp result */
    char dir[128];  /* root/state: created by the code under test */
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->root, sizeof f->root, "/tmp/dps-pki-test-XXXXXX");
    assert_non_null(mkdtemp(f->root));
    snprintf(f->dir, sizeof f->dir, "%s/state", f->root);
    *state = f;
    return 0;
}

static void remove_in(const char *dir, const char *name)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    unlink(p);
}

static int teardown(void **state)
{
    fixture *f = *state;
    static const char *const files[] = {"ca.pem", "ca.key", "server.pem", "server.key"};
    for (size_t i = 0; i < 4; i++)
        remove_in(f->dir, files[i]);
    rmdir(f->dir);
    remove_in(f->root, "notadir");
    rmdir(f->root);
    free(f);
    return 0;
}

/* Whole file contents (NUL-terminated) or NULL when absent. */
static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return NULL;
    char *buf = malloc(65536);
    assert_non_null(buf);
    size_t n = fread(buf, 1, 65535, fp);
    fclose(fp);
    buf[n] = '\0';
    *len = n;
    return buf;
}

typedef struct {
    char *data[4];
    size_t len[4];
} snapshot;

static void take(snapshot *s, const dps_pki_paths *p)
{
    const char *paths[4] = {p->ca_cert, p->ca_key, p->server_cert, p->server_key};
    for (int i = 0; i < 4; i++) {
        s->data[i] = slurp(paths[i], &s->len[i]);
        assert_non_null(s->data[i]);
    }
}

static bool same(const snapshot *a, const snapshot *b, int i)
{
    return a->len[i] == b->len[i] && memcmp(a->data[i], b->data[i], a->len[i]) == 0;
}

static void drop(snapshot *s)
{
    for (int i = 0; i < 4; i++)
        free(s->data[i]);
}

static int ensure(fixture *f, const char *const *names, size_t n, dps_pki_paths *p)
{
    char err[300] = "";
    int rc = dps_pki_ensure_local_ca(f->dir, CA_NAME, names, n, p, err, sizeof err);
    if (rc != 0)
        print_message("ensure failed: %s\n", err);
    return rc;
}

/* Every certificate in a PEM file, in order. */
static STACK_OF(X509) *read_chain(const char *path)
{
    BIO *bio = BIO_new_file(path, "r");
    assert_non_null(bio);
    STACK_OF(X509) *chain = sk_X509_new_null();
    assert_non_null(chain);
    X509 *c;
    while ((c = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
        assert_true(sk_X509_push(chain, c) > 0);
    ERR_clear_error(); /* end of file */
    BIO_free(bio);
    return chain;
}

static X509 *read_one(const char *path)
{
    STACK_OF(X509) *chain = read_chain(path);
    assert_int_equal(sk_X509_num(chain), 1);
    X509 *c = sk_X509_shift(chain);
    sk_X509_free(chain);
    return c;
}

static EVP_PKEY *read_key(const char *path)
{
    BIO *bio = BIO_new_file(path, "r");
    assert_non_null(bio);
    EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    assert_non_null(k);
    return k;
}

/* What a TLS client does: chain to the trusted CA, purpose sslserver, and
 * the name it connected to (DNS name or IP address). Returns X509_V_OK or
 * the verification error. */
static int client_verifies(X509 *ca, X509 *leaf, const char *name)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    assert_non_null(store);
    assert_non_null(ctx);
    assert_int_equal(X509_STORE_add_cert(store, ca), 1);
    assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, NULL), 1);
    X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
    assert_int_equal(X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER), 1);
    if (strchr(name, ':') != NULL || strspn(name, "0123456789.") == strlen(name))
        assert_int_equal(X509_VERIFY_PARAM_set1_ip_asc(param, name), 1);
    else
        assert_int_equal(X509_VERIFY_PARAM_set1_host(param, name, 0), 1);
    int rc = X509_verify_cert(ctx) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
    if (rc == X509_V_OK)
        assert_int_equal(X509_STORE_CTX_get_error(ctx), X509_V_OK);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    ERR_clear_error();
    return rc;
}

static bool ext_critical(X509 *cert, int nid)
{
    int idx = X509_get_ext_by_NID(cert, nid, -1);
    assert_true(idx >= 0);
    return X509_EXTENSION_get_critical(X509_get_ext(cert, idx)) == 1;
}

static void assert_p256(X509 *cert)
{
    EVP_PKEY *pub = X509_get0_pubkey(cert);
    assert_non_null(pub);
    assert_true(EVP_PKEY_is_a(pub, "EC"));
    char group[64];
    size_t glen = 0;
    assert_int_equal(EVP_PKEY_get_group_name(pub, group, sizeof group, &glen), 1);
    assert_string_equal(group, "prime256v1");
}

/* notAfter lies within [now + lo, now + hi] seconds. */
static void assert_expiry_between(X509 *cert, int64_t lo, int64_t hi)
{
    time_t a = (time_t)(dps_now_s() + lo), b = (time_t)(dps_now_s() + hi);
    assert_true(X509_cmp_time(X509_get0_notAfter(cert), &a) > 0);
    assert_true(X509_cmp_time(X509_get0_notAfter(cert), &b) < 0);
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 07777;
}

static void test_first_start_creates_valid_pki(void **state)
{
    fixture *f = *state;
    const char *names[] = {"dps.example.net", "10.1.2.3", "fd00::17"};
    dps_pki_paths p;
    assert_int_equal(ensure(f, names, 3, &p), 0);

    assert_int_equal(mode_of(f->dir), 0700);
    assert_int_equal(mode_of(p.ca_key), 0600);
    assert_int_equal(mode_of(p.server_key), 0600);
    assert_int_equal(mode_of(p.ca_cert), 0644);
    char want[256];
    snprintf(want, sizeof want, "%s/server.pem", f->dir);
    assert_string_equal(p.server_cert, want);

    X509 *ca = read_one(p.ca_cert);
    STACK_OF(X509) *chain = read_chain(p.server_cert);
    assert_int_equal(sk_X509_num(chain), 2);
    X509 *leaf = sk_X509_value(chain, 0);
    /* server.pem = server certificate, then the CA. */
    assert_int_equal(X509_cmp(sk_X509_value(chain, 1), ca), 0);

    /* CA profile. */
    assert_int_equal(X509_check_ca(ca), 1);
    assert_true(ext_critical(ca, NID_basic_constraints));
    assert_int_equal(X509_get_key_usage(ca), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
    assert_non_null(X509_get0_subject_key_id(ca));
    assert_int_equal(X509_check_issued(ca, ca), X509_V_OK);
    assert_p256(ca);
    assert_expiry_between(ca, 3640LL * DAY, 3660LL * DAY);
    char cn[64];
    assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(ca), NID_commonName, cn,
                                          sizeof cn) > 0);
    assert_string_equal(cn, CA_NAME);
    EVP_PKEY *ca_key = read_key(p.ca_key);
    assert_int_equal(X509_check_private_key(ca, ca_key), 1);
    EVP_PKEY_free(ca_key);

    /* Server profile. */
    assert_int_equal(X509_check_ca(leaf), 0);
    assert_true(ext_critical(leaf, NID_basic_constraints));
    assert_int_equal(X509_get_key_usage(leaf), KU_DIGITAL_SIGNATURE);
    assert_int_equal(X509_get_extended_key_usage(leaf), XKU_SSL_SERVER);
    assert_non_null(X509_get0_authority_key_id(leaf));
    assert_int_equal(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(leaf),
                                           X509_get0_subject_key_id(ca)), 0);
    assert_int_equal(ASN1_STRING_length(X509_get0_serialNumber(leaf)), 16);
    assert_p256(leaf);
    assert_expiry_between(leaf, 700LL * DAY, 760LL * DAY);
    EVP_PKEY *leaf_key = read_key(p.server_key);
    assert_int_equal(X509_check_private_key(leaf, leaf_key), 1);
    EVP_PKEY_free(leaf_key);
    assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, cn,
                                          sizeof cn) > 0);
    assert_string_equal(cn, "dps.example.net");

    /* Every default and configured name verifies; others do not. */
    const char *good[] = {"localhost", "127.0.0.1", "::1", "dps.example.net",
                          "DPS.Example.NET", "10.1.2.3", "fd00:0::17"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_int_equal(client_verifies(ca, leaf, good[i]), X509_V_OK);
    assert_int_equal(client_verifies(ca, leaf, "evil.example.net"),
                     X509_V_ERR_HOSTNAME_MISMATCH);
    assert_int_equal(client_verifies(ca, leaf, "10.1.2.4"), X509_V_ERR_IP_ADDRESS_MISMATCH);

    /* An IP literal became an IP SAN, not a DNS name. */
    assert_true(dps_x509_has_san(leaf, "10.1.2.3"));
    assert_int_not_equal(X509_check_host(leaf, "10.1.2.3", 0, 0, NULL), 1);

    sk_X509_pop_free(chain, X509_free);
    X509_free(ca);
}

static void test_second_start_reuses_files(void **state)
{
    fixture *f = *state;
    const char *names[] = {"dps.example.net"};
    dps_pki_paths p;
    snapshot a, b, c;
    assert_int_equal(ensure(f, names, 1, &p), 0);
    take(&a, &p);
    assert_int_equal(ensure(f, names, 1, &p), 0);
    take(&b, &p);
    /* A subset of the names (here: none beyond the defaults) fits too. */
    assert_int_equal(ensure(f, NULL, 0, &p), 0);
    take(&c, &p);
    for (int i = 0; i < 4; i++) {
        assert_true(same(&a, &b, i));
        assert_true(same(&a, &c, i));
    }
    drop(&a);
    drop(&b);
    drop(&c);
}

static void assert_reissued(const snapshot *before, const snapshot *after,
                            const dps_pki_paths *p)
{
    assert_true(same(before, after, 0)); /* CA untouched */
    assert_true(same(before, after, 1));
    assert_false(same(before, after, 2));
    assert_false(same(before, after, 3));
    X509 *ca = read_one(p->ca_cert);
    STACK_OF(X509) *chain = read_chain(p->server_cert);
    assert_int_equal(client_verifies(ca, sk_X509_value(chain, 0), "localhost"), X509_V_OK);
    assert_expiry_between(sk_X509_value(chain, 0), 700LL * DAY, 760LL * DAY);
    sk_X509_pop_free(chain, X509_free);
    X509_free(ca);
}

static void test_new_hostname_reissues(void **state)
{
    fixture *f = *state;
    const char *names[] = {"dps.example.net"};
    const char *more[] = {"dps.example.net", "other.example.org"};
    dps_pki_paths p;
    snapshot a, b;
    assert_int_equal(ensure(f, names, 1, &p), 0);
    take(&a, &p);
    assert_int_equal(ensure(f, more, 2, &p), 0);
    take(&b, &p);
    assert_reissued(&a, &b, &p);

    X509 *ca = read_one(p.ca_cert);
    STACK_OF(X509) *chain = read_chain(p.server_cert);
    X509 *leaf = sk_X509_value(chain, 0);
    assert_int_equal(client_verifies(ca, leaf, "other.example.org"), X509_V_OK);
    assert_int_equal(client_verifies(ca, leaf, "dps.example.net"), X509_V_OK);
    sk_X509_pop_free(chain, X509_free);
    X509_free(ca);
    drop(&a);
    drop(&b);
}

/* Writes a server certificate + key pair of the test's choosing. */
static void plant_server(const dps_pki_paths *p, X509 *cert, X509 *chain_ca, EVP_PKEY *key)
{
    BIO *bio = BIO_new_file(p->server_cert, "w");
    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_X509(bio, cert), 1);
    assert_int_equal(PEM_write_bio_X509(bio, chain_ca), 1);
    BIO_free(bio);
    bio = BIO_new_file(p->server_key, "w");
    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL), 1);
    BIO_free(bio);
}

static X509 *mint_server(X509 *issuer, EVP_PKEY *issuer_key, EVP_PKEY *key, int64_t days)
{
    static const char *const san[] = {"localhost", "127.0.0.1", "::1"};
    int64_t now = dps_now_s();
    dps_cert_spec spec = {.common_name = "localhost", .not_before_s = now - 60,
                          .not_after_s = now + days * DAY, .server_auth = true,
                          .path_len = -1, .san = san, .nsan = 3};
    char err[200] = "";
    X509 *c = dps_pki_issue_cert(&spec, key, issuer, issuer_key, err, sizeof err);
    assert_non_null(c);
    return c;
}

static void test_expiring_soon_reissues(void **state)
{
    fixture *f = *state;
    dps_pki_paths p;
    snapshot a, b;
    assert_int_equal(ensure(f, NULL, 0, &p), 0);
    X509 *ca = read_one(p.ca_cert);
    EVP_PKEY *ca_key = read_key(p.ca_key);
    EVP_PKEY *key = dps_pki_generate_p256();
    assert_non_null(key);

    /* 31 days left: kept. */
    X509 *cert = mint_server(ca, ca_key, key, 31);
    plant_server(&p, cert, ca, key);
    X509_free(cert);
    take(&a, &p);
    assert_int_equal(ensure(f, NULL, 0, &p), 0);
    take(&b, &p);
    for (int i = 0; i < 4; i++)
        assert_true(same(&a, &b, i));
    drop(&a);
    drop(&b);

    /* 29 days left: replaced. */
    cert = mint_server(ca, ca_key, key, 29);
    plant_server(&p, cert, ca, key);
    X509_free(cert);
    take(&a, &p);
    assert_int_equal(ensure(f, NULL, 0, &p), 0);
    take(&b, &p);
    assert_reissued(&a, &b, &p);
    drop(&a);
    drop(&b);

    EVP_PKEY_free(key);
    EVP_PKEY_free(ca_key);
    X509_free(ca);
}

static void test_foreign_or_mismatched_server_reissues(void **state)
{
    fixture *f = *state;
    dps_pki_paths p;
    snapshot a, b;
    assert_int_equal(ensure(f, NULL, 0, &p), 0);
    X509 *ca = read_one(p.ca_cert);
    EVP_PKEY *ca_key = read_key(p.ca_key);

    /* Signed by some other CA with the same name. */
    EVP_PKEY *other_key = dps_pki_generate_p256();
    assert_non_null(other_key);
    int64_t now = dps_now_s();
    dps_cert_spec spec = {.common_name = CA_NAME, .not_before_s = now - 60,
                          .not_after_s = now + 100LL * DAY, .is_ca = true, .path_len = 0};
    char err[200] = "";
    X509 *other = dps_pki_issue_cert(&spec, other_key, NULL, other_key, err, sizeof err);
    assert_non_null(other);
    EVP_PKEY *key = dps_pki_generate_p256();
    X509 *cert = mint_server(other, other_key, key, 300);
    plant_server(&p, cert, other, key);
    X509_free(cert);
    take(&a, &p);
    assert_int_equal(ensure(f, NULL, 0, &p), 0);
    take(&b, &p);
    assert_reissued(&a, &b, &p);
    drop(&a);
    drop(&b);

    /* Right CA, but server.key belongs to another certificate. */
    cert = mint_server(ca, ca_key, key, 300);
    plant_server(&p, cert, ca, other_key);
    X509_free(cert);
    take(&a, &p);
    assert_int_equal(ensure(f, NULL, 0, &p), 0);
    take(&b, &p);
    assert_reissued(&a, &b, &p);
    drop(&a);
    drop(&b);

    /* Garbage in server.pem. */
    FILE *fp = fopen(p.server_cert, "w");
    assert_non_null(fp);
    fputs("not a certificate\n", fp);
    fclose(fp);
    take(&a, &p);
    assert_int_equal(ensure(f, NULL, 0, &p), 0);
    take(&b, &p);
    assert_reissued(&a, &b, &p);
    drop(&a);
    drop(&b);

    X509_free(other);
    EVP_PKEY_free(other_key);
    EVP_PKEY_free(key);
    EVP_PKEY_free(ca_key);
    X509_free(ca);
}

/* A CA close to its end: the server certificate stops when the CA does. */
static void test_server_never_outlives_ca(void **state)
{
    fixture *f = *state;
    dps_pki_paths p;
    assert_int_equal(ensure(f, NULL, 0, &p), 0);
    EVP_PKEY *ca_key = read_key(p.ca_key);
    int64_t now = dps_now_s();
    dps_cert_spec spec = {.common_name = CA_NAME, .not_before_s = now - 60,
                          .not_after_s = now + 100LL * DAY, .is_ca = true, .path_len = 0};
    char err[200] = "";
    X509 *ca = dps_pki_issue_cert(&spec, ca_key, NULL, ca_key, err, sizeof err);
    assert_non_null(ca);
    BIO *bio = BIO_new_file(p.ca_cert, "w");
    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_X509(bio, ca), 1);
    BIO_free(bio);

    assert_int_equal(ensure(f, NULL, 0, &p), 0);
    STACK_OF(X509) *chain = read_chain(p.server_cert);
    X509 *leaf = sk_X509_value(chain, 0);
    assert_int_equal(client_verifies(ca, leaf, "localhost"), X509_V_OK);
    assert_int_equal(ASN1_TIME_compare(X509_get0_notAfter(leaf), X509_get0_notAfter(ca)), 0);
    sk_X509_pop_free(chain, X509_free);
    X509_free(ca);
    EVP_PKEY_free(ca_key);
}

static void test_ca_file_states(void **state)
{
    fixture *f = *state;
    dps_pki_paths p;
    char err[300] = "";
    assert_int_equal(ensure(f, NULL, 0, &p), 0);
    snapshot a, b;
    take(&a, &p);

    /* A CA certificate without its key is not silently replaced. */
    char keep[600];
    snprintf(keep, sizeof keep, "%s.bak", p.ca_key);
    assert_int_equal(rename(p.ca_key, keep), 0);
    assert_int_equal(dps_pki_ensure_local_ca(f->dir, CA_NAME, NULL, 0, &p, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "ca.key"));
    assert_null(strchr(err, '\n'));
    assert_int_equal(rename(keep, p.ca_key), 0);

    /* A key without a certificate (interrupted first start): new CA, and
     * so a new server certificate. */
    assert_int_equal(unlink(p.ca_cert), 0);
    assert_int_equal(ensure(f, NULL, 0, &p), 0);
    take(&b, &p);
    for (int i = 0; i < 4; i++)
        assert_false(same(&a, &b, i));
    X509 *ca = read_one(p.ca_cert);
    STACK_OF(X509) *chain = read_chain(p.server_cert);
    assert_int_equal(client_verifies(ca, sk_X509_value(chain, 0), "::1"), X509_V_OK);
    sk_X509_pop_free(chain, X509_free);
    X509_free(ca);
    drop(&a);
    drop(&b);

    /* A CA key that belongs to another certificate. */
    EVP_PKEY *k = dps_pki_generate_p256();
    assert_non_null(k);
    BIO *bio = BIO_new_file(p.ca_key, "w");
    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL), 1);
    BIO_free(bio);
    EVP_PKEY_free(k);
    assert_int_equal(dps_pki_ensure_local_ca(f->dir, CA_NAME, NULL, 0, &p, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "does not belong"));
}

static void test_bad_arguments(void **state)
{
    fixture *f = *state;
    dps_pki_paths p;
    memset(&p, 0, sizeof p);
    char err[300] = "";
    const char *bad[] = {"dps.example.net", "bad host"};
    assert_int_equal(dps_pki_ensure_local_ca(f->dir, CA_NAME, bad, 2, &p, err, sizeof err), -1);
    assert_non_null(strstr(err, "bad host"));
    /* Refused before anything was created; *out untouched. */
    struct stat st;
    assert_int_not_equal(stat(f->dir, &st), 0);
    assert_int_equal(p.ca_cert[0], '\0');

    assert_int_equal(dps_pki_ensure_local_ca(f->dir, "", NULL, 0, &p, err, sizeof err), -1);
    assert_int_equal(dps_pki_ensure_local_ca("", CA_NAME, NULL, 0, &p, err, sizeof err), -1);

    /* The directory path names a regular file. */
    char file[128];
    snprintf(file, sizeof file, "%s/notadir", f->root);
    FILE *fp = fopen(file, "w");
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(dps_pki_ensure_local_ca(file, CA_NAME, NULL, 0, &p, err, sizeof err), -1);
    assert_non_null(strstr(err, "directory"));

    /* A path too long for the fixed path buffers. */
    char longdir[600];
    memset(longdir, 'a', sizeof longdir - 1);
    longdir[0] = '/';
    longdir[sizeof longdir - 1] = '\0';
    assert_int_equal(dps_pki_ensure_local_ca(longdir, CA_NAME, NULL, 0, &p, err, sizeof err),
                     -1);
}

static void test_san_names_and_issuing(void **state)
{
    (void)state;
    const char *valid[] = {"localhost", "a.b-c.example", "*.example.net", "10.0.0.1", "::1",
                           "fe80::1:2", "x1"};
    const char *invalid[] = {"", "bad host", "-a.example", "a-.example", "a..b", ".a", "a.",
                             "*", "*.", "a.*.b", "ex_ample.net", "a\nb", NULL};
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++)
        assert_true(dps_pki_san_name_valid(valid[i]));
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++)
        assert_false(dps_pki_san_name_valid(invalid[i]));

    /* Duplicates (by address or case) collapse into one SAN entry. */
    EVP_PKEY *k = dps_pki_generate_p256();
    assert_non_null(k);
    const char *dup[] = {"::1", "0:0::1", "Host.Example", "host.example"};
    int64_t now = dps_now_s();
    dps_cert_spec spec = {.common_name = "x", .not_before_s = now, .not_after_s = now + DAY,
                          .path_len = -1, .san = dup, .nsan = 4};
    char err[200] = "";
    X509 *c = dps_pki_issue_cert(&spec, k, NULL, k, err, sizeof err);
    assert_non_null(c);
    GENERAL_NAMES *gens = X509_get_ext_d2i(c, NID_subject_alt_name, NULL, NULL);
    assert_non_null(gens);
    assert_int_equal(sk_GENERAL_NAME_num(gens), 2);
    GENERAL_NAMES_free(gens);
    assert_true(dps_x509_has_san(c, "HOST.example"));
    assert_false(dps_x509_has_san(c, "127.0.0.1"));
    assert_false(dps_x509_has_san(c, "bad name"));
    X509_free(c);

    /* Self-signed with someone else's key, reversed validity, bad SAN. */
    EVP_PKEY *k2 = dps_pki_generate_p256();
    assert_non_null(k2);
    spec.nsan = 0;
    assert_null(dps_pki_issue_cert(&spec, k, NULL, k2, err, sizeof err));
    spec.not_after_s = spec.not_before_s;
    assert_null(dps_pki_issue_cert(&spec, k, NULL, k, err, sizeof err));
    spec.not_after_s = now + DAY;
    const char *badsan[] = {"ok.example", "no way"};
    spec.san = badsan;
    spec.nsan = 2;
    assert_null(dps_pki_issue_cert(&spec, k, NULL, k, err, sizeof err));
    assert_non_null(strstr(err, "no way"));
    assert_int_equal(ERR_peek_error(), 0);
    EVP_PKEY_free(k);
    EVP_PKEY_free(k2);
}

int main(void)
{
    dps_log_set_level(DPS_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_first_start_creates_valid_pki, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_start_reuses_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_hostname_reissues, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiring_soon_reissues, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_or_mismatched_server_reissues, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_server_never_outlives_ca, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ca_file_states, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
        cmocka_unit_test(test_san_names_and_issuing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
