/* X.509 attestation through the engine (engine/attest_x509.c): a PKI built
 * at run time (root -> intermediate -> leaves, an unrelated root, a forger
 * who reuses the root's name with another key), enrollments and groups as
 * the service API stores them (with their X.509 index rows), and the
 * engine's answers for the device: who is admitted, which group decides,
 * what the record and the hub job carry, and the exact refusal for each
 * negative case of issue 5. */
#include "engine_fixture.h"

#include <openssl/x509.h>

#include "model/ca_certificate.h"
#include "model/x509_index.h"
#include "pki/pki.h"

#define DAY 86400LL
#define NOW_S (FX_SE - 10)

typedef struct {
    X509 *cert;
    EVP_PKEY *key;
} kc;

/* The thumbprint the engine handed to the (fake) hub job. */
static char job_thumbprint[80];

static int x_start(void *self, const dps_hub_job *job, dps_hub_done_fn done, void *arg,
                   char *err, size_t errlen)
{
    engine_fx *fx = self;
    (void)err;
    (void)errlen;
    assert_true(fx->njobs < FX_MAX_JOBS);
    /* An X.509 device gets a thumbprint, never keys. */
    assert_null(job->primary_key);
    assert_null(job->secondary_key);
    assert_non_null(job->x509_thumbprint);
    snprintf(job_thumbprint, sizeof job_thumbprint, "%s", job->x509_thumbprint);
    fx_job *j = &fx->jobs[fx->njobs++];
    memset(j, 0, sizeof *j);
    snprintf(j->hub, sizeof j->hub, "%s", job->hub_name);
    snprintf(j->device_id, sizeof j->device_id, "%s", job->device_id);
    j->done = done;
    j->arg = arg;
    j->pending = true;
    return 0;
}

static kc issue(const char *cn, bool ca, int path_len, const kc *issuer, EVP_PKEY *sign_with,
                int64_t nb, int64_t na)
{
    kc out = {.key = dps_pki_generate_p256()};
    assert_non_null(out.key);
    dps_cert_spec spec = {.common_name = cn,
                          .organization = "opendps tests",
                          .not_before_s = nb,
                          .not_after_s = na,
                          .is_ca = ca,
                          .path_len = path_len,
                          .client_auth = !ca};
    char err[256] = "";
    EVP_PKEY *signer = sign_with != NULL ? sign_with : issuer != NULL ? issuer->key : out.key;
    out.cert = dps_pki_issue_cert(&spec, out.key, issuer != NULL ? issuer->cert : NULL, signer,
                                  err, sizeof err);
    if (out.cert == NULL)
        fail_msg("issue %s: %s", cn, err);
    return out;
}

static kc valid(const char *cn, bool ca, const kc *issuer)
{
    return issue(cn, ca, -1, issuer, NULL, NOW_S - 30 * DAY, NOW_S + 365 * DAY);
}

static void kc_free(kc *k)
{
    X509_free(k->cert);
    EVP_PKEY_free(k->key);
}

typedef struct {
    engine_fx *fx;
    kc root, inter, other_root;
} x_fx;

static int x_setup(void **state)
{
    x_fx *x = calloc(1, sizeof *x);
    assert_non_null(x);
    x->fx = fx_new();
    dps_engine_options o = {.store = x->fx->store,
                            .id_scope = FX_SCOPE,
                            .provisioner = {.start = x_start, .self = x->fx},
                            .now_ns = fx_now};
    x->fx->engine = dps_engine_new(&o);
    assert_non_null(x->fx->engine);
    fx_link_hub(x->fx, FX_HUB1, 1);
    x->root = valid("Test Root CA", true, NULL);
    x->inter = valid("Test Intermediate CA", true, &x->root);
    x->other_root = valid("Unrelated Root CA", true, NULL);
    *state = x;
    return 0;
}

static int x_teardown(void **state)
{
    x_fx *x = *state;
    kc_free(&x->root);
    kc_free(&x->inter);
    kc_free(&x->other_root);
    void *fx = x->fx;
    free(x);
    return fx_teardown(&fx);
}

/* ---- stored enrollments, as the service API writes them ------------------ */

static json_t *cert_slot(X509 *c)
{
    char *b64 = dps_x509_to_base64_der(c);
    assert_non_null(b64);
    json_t *slot = json_pack("{s:s,s:o}", "certificate", b64, "info", dps_x509_info(c));
    free(b64);
    assert_non_null(slot);
    return slot;
}

static void put_doc(engine_fx *fx, dps_collection coll, const char *key, json_t *doc)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    fx_put(fx, coll, key, text, NULL);
    free(text);
}

static void enroll_individual(engine_fx *fx, const char *regid, X509 *leaf, bool enabled)
{
    json_t *doc = json_pack("{s:s,s:{s:s,s:{s:{s:o}}},s:s}", "registrationId", regid,
                            "attestation", "type", "x509", "x509", "clientCertificates",
                            "primary", cert_slot(leaf), "provisioningStatus",
                            enabled ? "enabled" : "disabled");
    put_doc(fx, DPS_COLL_ENROLLMENT, regid, doc);
    json_decref(doc);
}

static void group_signing(engine_fx *fx, const char *gid, X509 *signing, bool enabled)
{
    json_t *doc = json_pack("{s:s,s:{s:s,s:{s:{s:o}}},s:s}", "enrollmentGroupId", gid,
                            "attestation", "type", "x509", "x509", "signingCertificates",
                            "primary", cert_slot(signing), "provisioningStatus",
                            enabled ? "enabled" : "disabled");
    put_doc(fx, DPS_COLL_ENROLLMENT_GROUP, gid, doc);
    assert_int_equal(dps_x509_index_group(fx->store, gid, doc), 0);
    json_decref(doc);
}

static void group_caref(engine_fx *fx, const char *gid, const char *ca_name)
{
    json_t *doc = json_pack("{s:s,s:{s:s,s:{s:{s:s}}}}", "enrollmentGroupId", gid, "attestation",
                            "type", "x509", "x509", "caReferences", "primary", ca_name);
    put_doc(fx, DPS_COLL_ENROLLMENT_GROUP, gid, doc);
    assert_int_equal(dps_x509_index_group(fx->store, gid, doc), 0);
    json_decref(doc);
}

static void delete_group(engine_fx *fx, const char *gid)
{
    assert_int_equal(dps_store_delete(fx->store, DPS_COLL_ENROLLMENT_GROUP, gid, NULL),
                     DPS_STORE_OK);
    assert_int_equal(dps_x509_index_group(fx->store, gid, NULL), 0);
}

static void upload_ca(engine_fx *fx, const char *name, X509 *ca, bool verified)
{
    json_t *doc = dps_ca_doc_build(name, ca, verified, "Thu, 01 Jan 2026 00:00:00 GMT",
                                   "Thu, 01 Jan 2026 00:00:00 GMT");
    assert_non_null(doc);
    put_doc(fx, DPS_COLL_CA_CERTIFICATE, name, doc);
    assert_int_equal(
        dps_x509_index_ca(fx->store, name,
                          json_string_value(json_object_get(json_object_get(doc, "properties"),
                                                            "subject"))),
        0);
    json_decref(doc);
}

/* ---- device requests ------------------------------------------------------ */

/* One request with a client certificate and what the device sent after it
 * (a NULL-terminated list). */
static int x_call(engine_fx *fx, fx_call what, const char *regid, X509 *leaf, X509 *const *chain,
                  const char *op)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    assert_non_null(sk);
    for (size_t i = 0; chain != NULL && chain[i] != NULL; i++)
        assert_true(sk_X509_push(sk, chain[i]) > 0);
    json_decref(fx->body);
    fx->body = NULL;
    fx->status = -1;
    dps_reg_request r = {.transport = DPS_TRANSPORT_HTTPS,
                         .id_scope = FX_SCOPE,
                         .registration_id = regid,
                         .api_version = "2021-06-01",
                         .operation_id = op,
                         .client_leaf = leaf,
                         .client_chain = sk,
                         .peer = "test"};
    if (what == FX_REGISTER)
        dps_engine_register(fx->engine, &r, fx_on_answer, fx);
    else if (what == FX_POLL)
        dps_engine_operation_status(fx->engine, &r, fx_on_answer, fx);
    else
        dps_engine_registration_status(fx->engine, &r, fx_on_answer, fx);
    sk_X509_free(sk);
    assert_int_not_equal(fx->status, -1);
    return fx->status;
}

/* Registers, lets the hub job succeed, polls: the final answer's
 * registrationState (borrowed from fx->body). */
static const json_t *register_assigned(engine_fx *fx, const char *regid, X509 *leaf,
                                       X509 *const *chain)
{
    assert_int_equal(x_call(fx, FX_REGISTER, regid, leaf, chain, NULL), 202);
    char op[80];
    fx_op_id(fx, op);
    assert_int_equal(fx->njobs, 1);
    fx_complete(fx, 0, true, 0, NULL);
    assert_int_equal(x_call(fx, FX_POLL, regid, leaf, chain, op), 200);
    assert_string_equal(json_string_value(json_object_get(fx->body, "status")), "assigned");
    return json_object_get(fx->body, "registrationState");
}

static void expect_refused(engine_fx *fx, const char *regid, X509 *leaf, X509 *const *chain,
                           const char *needle)
{
    assert_int_equal(x_call(fx, FX_REGISTER, regid, leaf, chain, NULL), 401);
    assert_int_equal(fx->code, 401002);
    if (strstr(fx->message, needle) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", fx->message, needle);
    assert_int_equal(fx->njobs, 0); /* nothing started */
    /* The MQTT CONNECT check refuses the same device the same way. */
    dps_reg_request r = {.transport = DPS_TRANSPORT_MQTT,
                         .id_scope = FX_SCOPE,
                         .registration_id = regid,
                         .client_leaf = leaf,
                         .peer = "test"};
    STACK_OF(X509) *sk = sk_X509_new_null();
    for (size_t i = 0; chain != NULL && chain[i] != NULL; i++)
        sk_X509_push(sk, chain[i]);
    r.client_chain = sk;
    json_decref(fx->body);
    fx->body = NULL;
    fx->status = -1;
    dps_engine_authenticate(fx->engine, &r, fx_on_answer, fx);
    sk_X509_free(sk);
    assert_int_equal(fx->status, 401);
}

static const char *x509_member(const json_t *state, const char *obj, const char *member)
{
    const json_t *x = json_object_get(state, "x509");
    assert_non_null(x);
    return json_string_value(obj != NULL ? json_object_get(json_object_get(x, obj), member)
                                         : json_object_get(x, member));
}

/* ---- admitted devices ------------------------------------------------------- */

static void test_individual_by_leaf(void **state)
{
    x_fx *x = *state;
    kc leaf = valid("dev-ind", false, &x->inter);
    enroll_individual(x->fx, "dev-ind", leaf.cert, true);
    const json_t *st = register_assigned(x->fx, "dev-ind", leaf.cert, NULL);
    char tp[65];
    assert_int_equal(dps_x509_thumbprint_sha256(leaf.cert, tp), 0);
    assert_string_equal(x509_member(st, "certificateInfo", "sha256Thumbprint"), tp);
    assert_null(json_object_get(json_object_get(st, "x509"), "enrollmentGroupId"));
    assert_null(json_object_get(st, "symmetricKey"));
    /* The hub identity is the leaf's SHA-256 thumbprint. */
    assert_string_equal(job_thumbprint, tp);
    assert_string_equal(x->fx->jobs[0].device_id, "dev-ind");
    /* The stored record carries the same x509 block (status lookup). */
    assert_int_equal(x_call(x->fx, FX_LOOKUP, "dev-ind", leaf.cert, NULL, NULL), 200);
    assert_string_equal(x509_member(x->fx->body, "certificateInfo", "sha256Thumbprint"), tp);
    kc_free(&leaf);
}

static void test_group_by_root_with_intermediate(void **state)
{
    x_fx *x = *state;
    group_signing(x->fx, "g-root", x->root.cert, true);
    kc leaf = valid("Dev-Root-1", false, &x->inter);
    X509 *chain[] = {x->inter.cert, NULL};
    /* The registration ID matches the CN without regard to case. */
    const json_t *st = register_assigned(x->fx, "dev-root-1", leaf.cert, chain);
    assert_string_equal(x509_member(st, NULL, "enrollmentGroupId"), "g-root");
    assert_string_equal(x509_member(st, "signingCertificateInfo", "subjectName"),
                        "CN=Test Root CA, O=opendps tests");
    kc_free(&leaf);
}

static void test_group_by_intermediate_nearest_wins(void **state)
{
    x_fx *x = *state;
    group_signing(x->fx, "g-root", x->root.cert, true);
    group_signing(x->fx, "g-inter", x->inter.cert, true);
    kc leaf = valid("dev-int-1", false, &x->inter);
    /* The intermediate is attached to a group: the leaf alone suffices,
     * and the nearer group decides even though the root's would too. */
    const json_t *st = register_assigned(x->fx, "dev-int-1", leaf.cert, NULL);
    assert_string_equal(x509_member(st, NULL, "enrollmentGroupId"), "g-inter");
    assert_string_equal(x509_member(st, "signingCertificateInfo", "subjectName"),
                        "CN=Test Intermediate CA, O=opendps tests");
    kc_free(&leaf);
}

static void test_group_by_verified_ca_reference(void **state)
{
    x_fx *x = *state;
    upload_ca(x->fx, "fleet-root", x->root.cert, true);
    group_caref(x->fx, "g-ca", "fleet-root");
    kc leaf = valid("dev-ca-1", false, &x->inter);
    X509 *chain[] = {x->inter.cert, NULL};
    const json_t *st = register_assigned(x->fx, "dev-ca-1", leaf.cert, chain);
    assert_string_equal(x509_member(st, NULL, "enrollmentGroupId"), "g-ca");
    kc_free(&leaf);
}

static void test_disabled_group_gives_disabled(void **state)
{
    x_fx *x = *state;
    group_signing(x->fx, "g-off", x->root.cert, false);
    kc leaf = valid("dev-off", false, &x->root);
    assert_int_equal(x_call(x->fx, FX_REGISTER, "dev-off", leaf.cert, NULL, NULL), 202);
    char op[80];
    fx_op_id(x->fx, op);
    assert_int_equal(x->fx->njobs, 0);
    assert_int_equal(x_call(x->fx, FX_POLL, "dev-off", leaf.cert, NULL, op), 200);
    assert_string_equal(json_string_value(json_object_get(x->fx->body, "status")), "disabled");
    kc_free(&leaf);
}

/* ---- the negative cases of issue 5 ----------------------------------------- */

static void test_expired_leaf(void **state)
{
    x_fx *x = *state;
    group_signing(x->fx, "g-root", x->root.cert, true);
    kc leaf = issue("dev-old", false, -1, &x->root, NULL, NOW_S - 60 * DAY, NOW_S - DAY);
    expect_refused(x->fx, "dev-old", leaf.cert, NULL, "certificate has expired");
    kc_free(&leaf);
}

static void test_not_yet_valid_leaf(void **state)
{
    x_fx *x = *state;
    group_signing(x->fx, "g-root", x->root.cert, true);
    kc leaf = issue("dev-new", false, -1, &x->root, NULL, NOW_S + DAY, NOW_S + 60 * DAY);
    expect_refused(x->fx, "dev-new", leaf.cert, NULL, "certificate is not yet valid");
    kc_free(&leaf);
}

static void test_expired_individual_leaf(void **state)
{
    x_fx *x = *state;
    kc leaf = issue("dev-ind-old", false, -1, NULL, NULL, NOW_S - 60 * DAY, NOW_S - DAY);
    enroll_individual(x->fx, "dev-ind-old", leaf.cert, true);
    expect_refused(x->fx, "dev-ind-old", leaf.cert, NULL, "certificate has expired");
    kc_free(&leaf);
}

static void test_cn_differs_from_registration_id(void **state)
{
    x_fx *x = *state;
    group_signing(x->fx, "g-root", x->root.cert, true);
    kc leaf = valid("dev-a", false, &x->root);
    expect_refused(x->fx, "dev-b", leaf.cert, NULL,
                   "its subject CN 'dev-a' is not the registration ID 'dev-b'");
    kc_free(&leaf);
}

static void test_chain_reaching_no_enrollment(void **state)
{
    x_fx *x = *state;
    group_signing(x->fx, "g-root", x->root.cert, true);
    kc leaf = valid("dev-stranger", false, &x->other_root);
    expect_refused(x->fx, "dev-stranger", leaf.cert, NULL, "no enrollment accepts it");
    kc_free(&leaf);
}

static void test_missing_intermediate(void **state)
{
    x_fx *x = *state;
    group_signing(x->fx, "g-root", x->root.cert, true);
    kc leaf = valid("dev-short", false, &x->inter);
    /* The root's group is only reachable through the intermediate, which
     * the device did not send. */
    expect_refused(x->fx, "dev-short", leaf.cert, NULL, "no enrollment accepts it");
    X509 *chain[] = {x->inter.cert, NULL};
    x->fx->njobs = 0;
    assert_int_equal(x_call(x->fx, FX_REGISTER, "dev-short", leaf.cert, chain, NULL), 202);
    kc_free(&leaf);
}

static void test_unverified_ca(void **state)
{
    x_fx *x = *state;
    upload_ca(x->fx, "fleet-root", x->root.cert, true);
    group_caref(x->fx, "g-ca", "fleet-root");
    /* The CA is replaced by an unverified upload after the group named it. */
    upload_ca(x->fx, "fleet-root", x->root.cert, false);
    kc leaf = valid("dev-unv", false, &x->root);
    expect_refused(x->fx, "dev-unv", leaf.cert, NULL,
                   "CA certificate 'fleet-root' named by enrollment group 'g-ca' is not "
                   "verified");
    kc_free(&leaf);
}

static void test_disabled_individual_inside_enabled_group(void **state)
{
    x_fx *x = *state;
    group_signing(x->fx, "g-root", x->root.cert, true);
    kc leaf = valid("dev-banned", false, &x->root);
    /* The individual enrollment holds another certificate: the group proves
     * the device, the disabled individual enrollment decides. */
    kc other = valid("dev-banned", false, &x->root);
    enroll_individual(x->fx, "dev-banned", other.cert, false);
    assert_int_equal(x_call(x->fx, FX_REGISTER, "dev-banned", leaf.cert, NULL, NULL), 202);
    char op[80];
    fx_op_id(x->fx, op);
    assert_int_equal(x->fx->njobs, 0);
    assert_int_equal(x_call(x->fx, FX_POLL, "dev-banned", leaf.cert, NULL, op), 200);
    assert_string_equal(json_string_value(json_object_get(x->fx->body, "status")), "disabled");
    /* Without the group the same device is simply not admitted. */
    delete_group(x->fx, "g-root");
    expect_refused(x->fx, "dev-banned", leaf.cert, NULL, "not the certificate enrolled");
    kc_free(&leaf);
    kc_free(&other);
}

static void test_deleted_group(void **state)
{
    x_fx *x = *state;
    group_signing(x->fx, "g-inter", x->inter.cert, true);
    kc leaf = valid("dev-del", false, &x->inter);
    assert_int_equal(x_call(x->fx, FX_REGISTER, "dev-del", leaf.cert, NULL, NULL), 202);
    fx_complete(x->fx, 0, true, 0, NULL);
    delete_group(x->fx, "g-inter");
    x->fx->njobs = 0;
    expect_refused(x->fx, "dev-del", leaf.cert, NULL, "no enrollment accepts it");
    /* With a higher group the device gets in through it (service-api.md
     * §12.1 rule 4) once it sends the intermediate. */
    group_signing(x->fx, "g-root", x->root.cert, true);
    X509 *chain[] = {x->inter.cert, NULL};
    assert_int_equal(x_call(x->fx, FX_REGISTER, "dev-del", leaf.cert, chain, NULL), 202);
    kc_free(&leaf);
}

static void test_non_ca_issuer(void **state)
{
    x_fx *x = *state;
    group_signing(x->fx, "g-root", x->root.cert, true);
    kc ee = valid("not-a-ca", false, &x->inter);
    kc leaf = valid("dev-under-ee", false, &ee);
    X509 *chain[] = {ee.cert, x->inter.cert, NULL};
    expect_refused(x->fx, "dev-under-ee", leaf.cert, chain, "invalid CA certificate");
    kc_free(&leaf);
    kc_free(&ee);
}

static void test_non_ca_signing_certificate(void **state)
{
    x_fx *x = *state;
    /* A group whose "signing certificate" is an end-entity certificate. */
    kc ee = valid("ee-signer", false, &x->root);
    group_signing(x->fx, "g-ee", ee.cert, true);
    kc leaf = valid("dev-ee", false, &ee);
    expect_refused(x->fx, "dev-ee", leaf.cert, NULL, "Invalid certificate");
    kc_free(&leaf);
    kc_free(&ee);
}

static void test_right_name_wrong_key(void **state)
{
    x_fx *x = *state;
    group_signing(x->fx, "g-root", x->root.cert, true);
    EVP_PKEY *forger = dps_pki_generate_p256();
    assert_non_null(forger);
    /* Issuer name (and key identifier) of the root, signature by another
     * key. */
    kc leaf = issue("dev-forged", false, -1, &x->root, forger, NOW_S - DAY, NOW_S + DAY);
    expect_refused(x->fx, "dev-forged", leaf.cert, NULL, "certificate signature failure");
    EVP_PKEY_free(forger);
    kc_free(&leaf);
}

static void test_individual_other_leaf_refused(void **state)
{
    x_fx *x = *state;
    kc enrolled = valid("dev-pin", false, &x->root);
    kc other = valid("dev-pin", false, &x->root);
    enroll_individual(x->fx, "dev-pin", enrolled.cert, true);
    /* A group would admit it, but the individual enrollment decides. */
    group_signing(x->fx, "g-root", x->root.cert, true);
    expect_refused(x->fx, "dev-pin", other.cert, NULL,
                   "it is not the certificate enrolled for 'dev-pin'");
    kc_free(&enrolled);
    kc_free(&other);
}

static void test_symmetric_enrollment_with_certificate(void **state)
{
    x_fx *x = *state;
    fx_enroll(x->fx, "dev-sym", FX_DEVICE_KEY, FX_DEVICE_KEY, "");
    kc leaf = valid("dev-sym", false, &x->root);
    expect_refused(x->fx, "dev-sym", leaf.cert, NULL, "does not use X.509 attestation");
    kc_free(&leaf);
}

static void test_stale_index_row_is_harmless(void **state)
{
    x_fx *x = *state;
    group_signing(x->fx, "g-root", x->root.cert, true);
    /* The group is rewritten as symmetric-key behind the index's back. */
    fx_group(x->fx, "g-root", FX_GROUP_KEY, FX_GROUP_KEY, "");
    kc leaf = valid("dev-stale", false, &x->root);
    expect_refused(x->fx, "dev-stale", leaf.cert, NULL, "no enrollment accepts it");
    kc_free(&leaf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_individual_by_leaf, x_setup, x_teardown),
        cmocka_unit_test_setup_teardown(test_group_by_root_with_intermediate, x_setup,
                                        x_teardown),
        cmocka_unit_test_setup_teardown(test_group_by_intermediate_nearest_wins, x_setup,
                                        x_teardown),
        cmocka_unit_test_setup_teardown(test_group_by_verified_ca_reference, x_setup, x_teardown),
        cmocka_unit_test_setup_teardown(test_disabled_group_gives_disabled, x_setup, x_teardown),
        cmocka_unit_test_setup_teardown(test_expired_leaf, x_setup, x_teardown),
        cmocka_unit_test_setup_teardown(test_not_yet_valid_leaf, x_setup, x_teardown),
        cmocka_unit_test_setup_teardown(test_expired_individual_leaf, x_setup, x_teardown),
        cmocka_unit_test_setup_teardown(test_cn_differs_from_registration_id, x_setup,
                                        x_teardown),
        cmocka_unit_test_setup_teardown(test_chain_reaching_no_enrollment, x_setup, x_teardown),
        cmocka_unit_test_setup_teardown(test_missing_intermediate, x_setup, x_teardown),
        cmocka_unit_test_setup_teardown(test_unverified_ca, x_setup, x_teardown),
        cmocka_unit_test_setup_teardown(test_disabled_individual_inside_enabled_group, x_setup,
                                        x_teardown),
        cmocka_unit_test_setup_teardown(test_deleted_group, x_setup, x_teardown),
        cmocka_unit_test_setup_teardown(test_non_ca_issuer, x_setup, x_teardown),
        cmocka_unit_test_setup_teardown(test_non_ca_signing_certificate, x_setup, x_teardown),
        cmocka_unit_test_setup_teardown(test_right_name_wrong_key, x_setup, x_teardown),
        cmocka_unit_test_setup_teardown(test_individual_other_leaf_refused, x_setup, x_teardown),
        cmocka_unit_test_setup_teardown(test_symmetric_enrollment_with_certificate, x_setup,
                                        x_teardown),
        cmocka_unit_test_setup_teardown(test_stale_index_row_is_harmless, x_setup, x_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
