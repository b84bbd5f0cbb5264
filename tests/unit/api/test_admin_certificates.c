/* Admin API: /admin/certificates (docs/admin-api.md "CA certificates"):
 * upload, list, show, replace rules, the proof-of-possession flow
 * (generateVerificationCode, verify) with every refusal, DELETE with
 * If-Match and the caReferences guard, and the X.509 index rows the writes
 * keep in step. Certificates are minted at run time with lib/pki. */
#include <openssl/pem.h>

#include "model/x509_index.h"
#include "pki/pki.h"
#include "test_admin_fixture.h"

#define DAY 86400LL

typedef struct {
    X509 *cert;
    EVP_PKEY *key;
} kc;

static kc mint(const char *cn, bool ca, const kc *issuer, EVP_PKEY *sign_with, int64_t nb,
               int64_t na)
{
    kc out = {.key = dps_pki_generate_p256()};
    assert_non_null(out.key);
    dps_cert_spec spec = {.common_name = cn,
                          .organization = "opendps tests",
                          .not_before_s = nb,
                          .not_after_s = na,
                          .is_ca = ca,
                          .path_len = -1};
    char err[256] = "";
    EVP_PKEY *signer = sign_with ? sign_with : issuer ? issuer->key : out.key;
    out.cert = dps_pki_issue_cert(&spec, out.key, issuer ? issuer->cert : NULL, signer, err,
                                  sizeof err);
    if (out.cert == NULL)
        fail_msg("mint %s: %s", cn, err);
    return out;
}

static kc mint_now(const char *cn, bool ca, const kc *issuer)
{
    int64_t now = dps_now_s();
    return mint(cn, ca, issuer, NULL, now - DAY, now + 365 * DAY);
}

static void kc_free(kc *k)
{
    X509_free(k->cert);
    EVP_PKEY_free(k->key);
}

/* {"certificate": "<PEM>"} plus extra members (starting with ','). */
static char *cert_body(X509 *c, const char *extra)
{
    BIO *b = BIO_new(BIO_s_mem());
    assert_non_null(b);
    assert_int_equal(PEM_write_bio_X509(b, c), 1);
    char *pem = NULL;
    long n = BIO_get_mem_data(b, &pem);
    json_t *o = json_pack("{s:s%}", "certificate", pem, (size_t)n);
    assert_non_null(o);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    BIO_free(b);
    size_t len = strlen(text) + strlen(extra) + 1;
    char *out = malloc(len);
    assert_non_null(out);
    /* Splice extra before the closing brace. */
    snprintf(out, len, "%.*s%s}", (int)strlen(text) - 1, text, extra);
    free(text);
    return out;
}

static const char *prop_str(const fx_result *r, const char *member)
{
    return json_string_value(json_object_get(json_object_get(r->json, "properties"), member));
}

static bool prop_verified(const fx_result *r)
{
    return json_is_true(json_object_get(json_object_get(r->json, "properties"), "isVerified"));
}

static fx_result put_cert(admin_fx *fx, const char *name, X509 *c, const char *if_match,
                          const char *extra)
{
    char path[200];
    snprintf(path, sizeof path, "/admin/certificates/%s", name);
    char *body = cert_body(c, extra);
    fx_result r = fx_call(fx, DPS_HTTP_PUT, path, NULL, if_match, body);
    free(body);
    return r;
}

static size_t index_hits(admin_fx *fx, const char *value)
{
    dps_x509_hit hits[DPS_X509_INDEX_MAX_HITS];
    size_t n = 0;
    assert_int_equal(dps_x509_index_lookup(fx->ctx.store, value, hits, DPS_X509_INDEX_MAX_HITS,
                                           &n),
                     DPS_STORE_OK);
    return n;
}

static void test_upload_show_list(void **state)
{
    admin_fx *fx = *state;
    kc root = mint_now("Fleet Root CA", true, NULL);
    fx_result r = put_cert(fx, "Fleet-Root", root.cert, NULL, "");
    fx_expect(&r, 200, 0);
    assert_string_equal(fx_str(&r, "name"), "Fleet-Root");
    assert_non_null(fx_str(&r, "etag"));
    assert_string_equal(prop_str(&r, "subject"), "CN=Fleet Root CA, O=opendps tests");
    char sha1[41], sha256[65];
    assert_int_equal(dps_x509_thumbprint_sha1(root.cert, sha1), 0);
    assert_int_equal(dps_x509_thumbprint_sha256(root.cert, sha256), 0);
    assert_string_equal(prop_str(&r, "thumbprint"), sha1);
    assert_string_equal(prop_str(&r, "sha256Thumbprint"), sha256);
    assert_false(prop_verified(&r));
    /* RFC 1123: "Sat, 31 Dec 2039 23:59:59 GMT" */
    const char *expiry = prop_str(&r, "expiry");
    assert_non_null(expiry);
    assert_int_equal(strlen(expiry), 29);
    assert_non_null(strstr(expiry, " GMT"));
    assert_non_null(strstr(prop_str(&r, "certificate"), "-----BEGIN CERTIFICATE-----"));
    assert_null(json_object_get(json_object_get(r.json, "properties"), "verificationCode"));
    fx_free(&r);

    /* Names are case-insensitive; the first spelling is kept. */
    r = fx_call(fx, DPS_HTTP_GET, "/admin/certificates/fleet-root", NULL, NULL, NULL);
    fx_expect(&r, 200, 0);
    assert_string_equal(fx_str(&r, "name"), "Fleet-Root");
    fx_free(&r);

    kc other = mint_now("Other CA", true, NULL);
    r = put_cert(fx, "a-other", other.cert, NULL, ",\"isVerified\":true");
    fx_expect(&r, 200, 0);
    assert_true(prop_verified(&r)); /* --verified at upload */
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_GET, "/admin/certificates", NULL, NULL, NULL);
    fx_expect(&r, 200, 0);
    assert_int_equal(json_array_size(r.json), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(r.json, 0), "name")),
                        "a-other");
    fx_free(&r);

    /* The index finds the CA by its subject for X.509 attestation. */
    assert_int_equal(index_hits(fx, "n:cn=fleet root ca, o=opendps tests"), 1);

    r = fx_call(fx, DPS_HTTP_GET, "/admin/certificates/missing", NULL, NULL, NULL);
    fx_expect(&r, 404, 404201);
    fx_free(&r);
    kc_free(&root);
    kc_free(&other);
}

static void test_upload_refusals(void **state)
{
    admin_fx *fx = *state;
    kc root = mint_now("Root", true, NULL);
    kc leaf = mint_now("device-1", false, &root);
    int64_t now = dps_now_s();
    kc expired = mint("Old Root", true, NULL, NULL, now - 60 * DAY, now - DAY);

    fx_result r = put_cert(fx, "leaf", leaf.cert, NULL, "");
    fx_expect(&r, 400, 400003); /* not a CA */
    assert_true(fx_body_has(&r, "not a CA certificate"));
    fx_free(&r);
    r = put_cert(fx, "old", expired.cert, NULL, "");
    fx_expect(&r, 400, 400003);
    assert_true(fx_body_has(&r, "expired"));
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_PUT, "/admin/certificates/x", NULL, NULL,
                "{\"certificate\":\"bm90IGEgY2VydGlmaWNhdGU=\"}");
    fx_expect(&r, 400, 400007);
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_PUT, "/admin/certificates/x", NULL, NULL, "{}");
    fx_expect(&r, 400, 400003);
    fx_free(&r);
    r = put_cert(fx, "x", root.cert, NULL, ",\"colour\":\"blue\"");
    fx_expect(&r, 400, 400003);
    fx_free(&r);
    r = put_cert(fx, "x", root.cert, NULL, ",\"isVerified\":\"yes\"");
    fx_expect(&r, 400, 400003);
    fx_free(&r);
    r = put_cert(fx, "x", root.cert, NULL, ",\"name\":\"y\"");
    fx_expect(&r, 400, 400006);
    fx_free(&r);
    r = put_cert(fx, "bad%20name", root.cert, NULL, "");
    fx_expect(&r, 400, 400005);
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_POST, "/admin/certificates", NULL, NULL, NULL);
    fx_expect(&r, 405, 405001);
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_POST, "/admin/certificates/x/frobnicate", NULL, "*", NULL);
    fx_expect(&r, 404, 404001);
    fx_free(&r);
    kc_free(&root);
    kc_free(&leaf);
    kc_free(&expired);
}

static void test_replace_rules(void **state)
{
    admin_fx *fx = *state;
    kc root = mint_now("Root", true, NULL);
    kc root2 = mint_now("Root Two", true, NULL);
    fx_result r = put_cert(fx, "ca", root.cert, NULL, ",\"isVerified\":true");
    fx_expect(&r, 200, 0);
    char etag[128];
    snprintf(etag, sizeof etag, "%s", fx_str(&r, "etag"));
    fx_free(&r);
    /* Without If-Match a PUT only creates. */
    r = put_cert(fx, "ca", root.cert, NULL, "");
    fx_expect(&r, 409, 409201);
    fx_free(&r);
    r = put_cert(fx, "ca", root.cert, "\"Indyb25nIg==\"", "");
    fx_expect(&r, 412, 412001);
    fx_free(&r);
    /* The same certificate again keeps its verification. */
    r = put_cert(fx, "ca", root.cert, etag, "");
    fx_expect(&r, 200, 0);
    assert_true(prop_verified(&r));
    assert_string_not_equal(fx_str(&r, "etag"), etag);
    fx_free(&r);
    /* Another certificate has to be proven again, and the index follows. */
    r = put_cert(fx, "ca", root2.cert, "*", "");
    fx_expect(&r, 200, 0);
    assert_false(prop_verified(&r));
    fx_free(&r);
    assert_int_equal(index_hits(fx, "n:cn=root, o=opendps tests"), 0);
    assert_int_equal(index_hits(fx, "n:cn=root two, o=opendps tests"), 1);
    kc_free(&root);
    kc_free(&root2);
}

static void test_proof_of_possession(void **state)
{
    admin_fx *fx = *state;
    kc root = mint_now("PoP Root", true, NULL);
    kc impostor = mint_now("PoP Root", true, NULL); /* same name, other key */
    fx_result r = put_cert(fx, "pop", root.cert, NULL, "");
    fx_expect(&r, 200, 0);
    fx_free(&r);

    r = fx_call(fx, DPS_HTTP_POST, "/admin/certificates/pop/verify", NULL, "*",
                "{\"certificate\":\"x\"}");
    fx_expect(&r, 400, 400003); /* no code outstanding yet */
    assert_true(fx_body_has(&r, "generate one first"));
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_POST, "/admin/certificates/pop/generateVerificationCode", NULL,
                NULL, NULL);
    fx_expect(&r, 400, 400001); /* If-Match required */
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_POST, "/admin/certificates/pop/generateVerificationCode", NULL,
                "*", NULL);
    fx_expect(&r, 200, 0);
    char code[64], etag[128];
    snprintf(code, sizeof code, "%s", prop_str(&r, "verificationCode"));
    snprintf(etag, sizeof etag, "%s", fx_str(&r, "etag"));
    assert_int_equal(strlen(code), 40);
    assert_int_equal(strspn(code, "0123456789ABCDEF"), 40);
    fx_free(&r);
    /* The code is not shown by GET. */
    r = fx_call(fx, DPS_HTTP_GET, "/admin/certificates/pop", NULL, NULL, NULL);
    assert_null(json_object_get(json_object_get(r.json, "properties"), "verificationCode"));
    assert_false(fx_body_has(&r, code));
    fx_free(&r);

    int64_t now = dps_now_s();
    kc wrong_cn = mint("not-the-code", false, &root, NULL, now - DAY, now + DAY);
    kc wrong_key = mint(code, false, &root, impostor.key, now - DAY, now + DAY);
    kc by_impostor = mint(code, false, &impostor, NULL, now - DAY, now + DAY);
    kc expired = mint(code, false, &root, NULL, now - 3 * DAY, now - DAY);
    kc good = mint(code, false, &root, NULL, now - DAY, now + DAY);

    struct {
        X509 *c;
        const char *why;
    } bad[] = {
        {wrong_cn.cert, "not the verification code"},
        {wrong_key.cert, "not signed with the CA certificate's key"},
        {by_impostor.cert, "not signed with the CA certificate's key"},
        {expired.cert, "has expired"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *body = cert_body(bad[i].c, "");
        r = fx_call(fx, DPS_HTTP_POST, "/admin/certificates/pop/verify", NULL, etag, body);
        free(body);
        fx_expect(&r, 400, 400003);
        if (!fx_body_has(&r, bad[i].why))
            fail_msg("case %zu: %.*s", i, (int)r.res.body_len, r.res.body);
        fx_free(&r);
    }
    char *body = cert_body(good.cert, "");
    r = fx_call(fx, DPS_HTTP_POST, "/admin/certificates/pop/verify", NULL, "\"Indyb25nIg==\"",
                body);
    fx_expect(&r, 412, 412001); /* stale ETag */
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_POST, "/admin/certificates/pop/verify", NULL, etag, body);
    fx_expect(&r, 200, 0);
    assert_true(prop_verified(&r));
    fx_free(&r);
    /* The code was single-use. */
    r = fx_call(fx, DPS_HTTP_POST, "/admin/certificates/pop/verify", NULL, "*", body);
    fx_expect(&r, 400, 400003);
    fx_free(&r);
    free(body);
    r = fx_call(fx, DPS_HTTP_GET, "/admin/certificates/pop", NULL, NULL, NULL);
    assert_true(prop_verified(&r));
    fx_free(&r);

    kc *all[] = {&root, &impostor, &wrong_cn, &wrong_key, &by_impostor, &expired, &good};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        kc_free(all[i]);
}

static void test_delete(void **state)
{
    admin_fx *fx = *state;
    kc root = mint_now("Del Root", true, NULL);
    fx_result r = put_cert(fx, "del-ca", root.cert, NULL, ",\"isVerified\":true");
    fx_expect(&r, 200, 0);
    fx_free(&r);
    const char *group = "{\"enrollmentGroupId\":\"Line-A\",\"attestation\":{\"type\":\"x509\","
                        "\"x509\":{\"caReferences\":{\"primary\":\"DEL-CA\"}}}}";
    fx_put_doc(fx, DPS_COLL_ENROLLMENT_GROUP, "line-a", group);
    json_t *gdoc = json_loads(group, 0, NULL);
    assert_int_equal(dps_x509_index_group(fx->ctx.store, "line-a", gdoc), 0);
    json_decref(gdoc);

    r = fx_call(fx, DPS_HTTP_DELETE, "/admin/certificates/del-ca", NULL, NULL, NULL);
    fx_expect(&r, 400, 400001); /* If-Match required */
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_DELETE, "/admin/certificates/del-ca", NULL, "*", NULL);
    fx_expect(&r, 409, 409201);
    assert_true(fx_body_has(&r, "'line-a'"));
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_DELETE, "/admin/certificates/del-ca", "force=true",
                "\"Indyb25nIg==\"", NULL);
    fx_expect(&r, 412, 412001);
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_DELETE, "/admin/certificates/del-ca", "force=true", "*", NULL);
    fx_expect(&r, 204, 0);
    fx_free(&r);
    assert_int_equal(index_hits(fx, "n:cn=del root, o=opendps tests"), 0);
    r = fx_call(fx, DPS_HTTP_DELETE, "/admin/certificates/del-ca", NULL, "*", NULL);
    fx_expect(&r, 404, 404201);
    fx_free(&r);

    /* A stale index row (the group no longer names the CA) does not block. */
    r = put_cert(fx, "del-ca", root.cert, NULL, "");
    fx_expect(&r, 200, 0);
    fx_free(&r);
    fx_put_doc(fx, DPS_COLL_ENROLLMENT_GROUP, "line-a",
               "{\"enrollmentGroupId\":\"Line-A\",\"attestation\":{\"type\":\"symmetricKey\"}}");
    r = fx_call(fx, DPS_HTTP_DELETE, "/admin/certificates/del-ca", NULL, "*", NULL);
    fx_expect(&r, 204, 0);
    fx_free(&r);
    kc_free(&root);
}

static void test_needs_service_config(void **state)
{
    admin_fx *fx = *state;
    fx_result r = fx_call_as(fx, NULL, NULL, DPS_HTTP_GET, "/admin/certificates", NULL, NULL,
                             NULL);
    fx_expect(&r, 401, 401002);
    fx_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_upload_show_list, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_upload_refusals, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_replace_rules, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_proof_of_possession, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_delete, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_needs_service_config, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
