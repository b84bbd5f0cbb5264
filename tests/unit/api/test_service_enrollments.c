/* Enrollments and groups: server values, secrets visibility, round trips,
 * X.509 info, registration state (service-api.md §2, §7, §8). */
#include "service_fixture.h"

#include <openssl/bio.h>

#define SYM_BODY "{\"attestation\":{\"type\":\"symmetricKey\"}}"

static void test_defaults_and_generated_keys(void **state)
{
    svc_fx *fx = *state;
    json_t *j = svc_put_expect(fx, "/enrollments/dev1", SYM_BODY, 200);
    assert_string_equal(svc_str(j, "registrationId"), "dev1");
    assert_string_equal(svc_str(j, "provisioningStatus"), "enabled");
    assert_true(json_is_false(svc_get(j, "capabilities.iotEdge")));
    assert_true(json_is_true(svc_get(j, "reprovisionPolicy.updateHubAssignment")));
    assert_true(json_is_true(svc_get(j, "reprovisionPolicy.migrateDeviceData")));
    const char *created = svc_str(j, "createdDateTimeUtc");
    assert_non_null(created);
    assert_int_equal(strlen(created), 28); /* 7 fractional digits and Z */
    assert_non_null(svc_str(j, "lastUpdatedDateTimeUtc"));
    assert_null(svc_get(j, "allocationPolicy"));
    /* generated keys: 64 random bytes each, and different */
    const char *pk = svc_str(j, "attestation.symmetricKey.primaryKey");
    const char *sk = svc_str(j, "attestation.symmetricKey.secondaryKey");
    assert_non_null(pk);
    assert_non_null(sk);
    assert_string_not_equal(pk, sk);
    uint8_t *raw = NULL;
    size_t len = 0;
    assert_int_equal(dps_b64_decode(pk, strlen(pk), &raw, &len), 0);
    assert_int_equal(len, 64);
    free(raw);
    json_decref(j);
}

static void test_keys_hidden_and_shown(void **state)
{
    svc_fx *fx = *state;
    json_t *put = svc_put_expect(fx, "/enrollments/dev1", SYM_BODY, 200);
    const char *pk = svc_str(put, "attestation.symmetricKey.primaryKey");
    svc_reply r;
    svc_call(fx, DPS_HTTP_GET, "/enrollments/dev1", NULL, &r);
    svc_assert_status(&r, 200);
    assert_string_equal(svc_str(r.json, "attestation.type"), "symmetricKey");
    assert_null(svc_get(r.json, "attestation.symmetricKey"));
    assert_null(strstr(r.res.body, pk));
    svc_reply_free(&r);
    /* attestationmechanism: a POST with an empty body, keys included */
    svc_call(fx, DPS_HTTP_POST, "/enrollments/dev1/attestationmechanism", NULL, &r);
    svc_assert_status(&r, 200);
    assert_string_equal(svc_str(r.json, "type"), "symmetricKey");
    assert_string_equal(svc_str(r.json, "symmetricKey.primaryKey"), pk);
    svc_reply_free(&r);
    svc_call(fx, DPS_HTTP_POST, "/enrollments/nobody/attestationmechanism", "", &r);
    svc_assert_error(&r, 404, 404201);
    svc_reply_free(&r);
    /* query hides them too */
    svc_call(fx, DPS_HTTP_POST, "/enrollments/query", "{\"query\":\"SELECT *\"}", &r);
    svc_assert_status(&r, 200);
    assert_int_equal(json_array_size(r.json), 1);
    assert_null(svc_get(json_array_get(r.json, 0), "attestation.symmetricKey"));
    assert_null(strstr(r.res.body, pk));
    svc_reply_free(&r);
    json_decref(put);
}

static void test_keys_kept_on_update(void **state)
{
    svc_fx *fx = *state;
    json_t *first = svc_put_expect(fx, "/enrollments/dev1", SYM_BODY, 200);
    const char *star[] = {"If-Match", "*", NULL};
    svc_reply r;
    svc_callv(fx, DPS_HTTP_PUT, "/enrollments/dev1",
              "{\"attestation\":{\"type\":\"symmetricKey\"},\"provisioningStatus\":\"disabled\"}",
              star, &r);
    svc_assert_status(&r, 200);
    assert_string_equal(svc_str(r.json, "attestation.symmetricKey.primaryKey"),
                        svc_str(first, "attestation.symmetricKey.primaryKey"));
    assert_string_equal(svc_str(r.json, "attestation.symmetricKey.secondaryKey"),
                        svc_str(first, "attestation.symmetricKey.secondaryKey"));
    assert_string_equal(svc_str(r.json, "provisioningStatus"), "disabled");
    svc_reply_free(&r);
    /* a supplied key replaces one slot, the other is kept */
    svc_callv(fx, DPS_HTTP_PUT, "/enrollments/dev1",
              "{\"attestation\":{\"type\":\"symmetricKey\",\"symmetricKey\":{\"primaryKey\":\"" SVC_SYMKEY
              "\"}}}",
              star, &r);
    svc_assert_status(&r, 200);
    assert_string_equal(svc_str(r.json, "attestation.symmetricKey.primaryKey"), SVC_SYMKEY);
    assert_string_equal(svc_str(r.json, "attestation.symmetricKey.secondaryKey"),
                        svc_str(first, "attestation.symmetricKey.secondaryKey"));
    svc_reply_free(&r);
    json_decref(first);
}

/* Node's e2e round trip: PUT back what PUT returned, read-only fields and
 * all, with a changed status and the ETag. */
static void test_round_trip_ignores_read_only(void **state)
{
    svc_fx *fx = *state;
    json_t *first = svc_put_expect(fx, "/enrollments/dev1",
                                   "{\"attestation\":{\"type\":\"symmetricKey\"},"
                                   "\"unknownThing\":{\"a\":1},\"deviceId\":\"pump-17\"}",
                                   200);
    assert_null(json_object_get(first, "unknownThing"));
    assert_string_equal(svc_str(first, "deviceId"), "pump-17");
    json_t *again = json_deep_copy(first);
    json_object_set_new(again, "provisioningStatus", json_string("disabled"));
    json_object_set_new(again, "createdDateTimeUtc", json_string("2001-01-01T00:00:00.0000000Z"));
    json_object_set_new(again, "registrationState", json_pack("{s:s}", "status", "assigned"));
    char *text = json_dumps(again, 0);
    const char *h[] = {"If-Match", svc_str(first, "etag"), NULL};
    svc_reply r;
    svc_callv(fx, DPS_HTTP_PUT, "/enrollments/dev1", text, h, &r);
    svc_assert_status(&r, 200);
    assert_string_equal(svc_str(r.json, "provisioningStatus"), "disabled");
    assert_string_equal(svc_str(r.json, "createdDateTimeUtc"), svc_str(first, "createdDateTimeUtc"));
    assert_null(json_object_get(r.json, "registrationState"));
    assert_string_not_equal(svc_str(r.json, "etag"), svc_str(first, "etag"));
    svc_reply_free(&r);
    free(text);
    json_decref(again);
    json_decref(first);
}

/* The SHA-1 thumbprint of a PEM certificate, upper-case hex, for checking. */
static void pem_sha1(const char *pem, char out[41])
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    assert_non_null(x);
    unsigned char md[20];
    unsigned int n = 0;
    assert_int_equal(X509_digest(x, EVP_sha1(), md, &n), 1);
    for (unsigned i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02X", md[i]);
    X509_free(x);
    BIO_free(bio);
}

static void test_x509_info(void **state)
{
    svc_fx *fx = *state;
    char *pem = svc_make_cert_pem("device-x509-1");
    char sha1[41];
    pem_sha1(pem, sha1);
    json_t *body = json_pack("{s:{s:s,s:{s:{s:{s:s}}}}}", "attestation", "type", "x509", "x509",
                             "clientCertificates", "primary", "certificate", pem);
    char *text = json_dumps(body, 0);
    json_t *j = svc_put_expect(fx, "/enrollments/x1", text, 200);
    const json_t *info = svc_get(j, "attestation.x509.clientCertificates.primary.info");
    assert_true(json_is_object(info));
    assert_non_null(strstr(json_string_value(json_object_get(info, "subjectName")),
                           "CN=device-x509-1"));
    assert_string_equal(json_string_value(json_object_get(info, "sha1Thumbprint")), sha1);
    assert_int_equal(json_integer_value(json_object_get(info, "version")), 3);
    free(text);
    json_decref(body);

    /* GET shows the info as well */
    svc_reply r;
    svc_call(fx, DPS_HTTP_GET, "/enrollments/x1", NULL, &r);
    svc_assert_status(&r, 200);
    assert_string_equal(
        svc_str(r.json, "attestation.x509.clientCertificates.primary.info.sha1Thumbprint"), sha1);
    svc_reply_free(&r);

    /* a slot with info but no certificate keeps the stored certificate; an
     * info block the client sends is never trusted */
    body = json_pack("{s:{s:s,s:{s:{s:{s:{s:s}}}}}}", "attestation", "type", "x509", "x509",
                     "clientCertificates", "primary", "info", "sha1Thumbprint", "FORGED");
    text = json_dumps(body, 0);
    const char *star[] = {"If-Match", "*", NULL};
    svc_callv(fx, DPS_HTTP_PUT, "/enrollments/x1", text, star, &r);
    svc_assert_status(&r, 200);
    assert_string_equal(
        svc_str(r.json, "attestation.x509.clientCertificates.primary.info.sha1Thumbprint"), sha1);
    assert_string_equal(svc_str(r.json, "attestation.x509.clientCertificates.primary.certificate"),
                        pem);
    svc_reply_free(&r);
    /* ... but not on create */
    svc_call(fx, DPS_HTTP_PUT, "/enrollments/x2", text, &r);
    svc_assert_error(&r, 400, 400003);
    svc_reply_free(&r);
    free(text);
    json_decref(body);
    json_decref(j);

    /* base64 DER works as well as PEM */
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    unsigned char *der = NULL;
    int derlen = i2d_X509(x, &der);
    assert_true(derlen > 0);
    char *b64 = dps_b64_encode(der, (size_t)derlen);
    body = json_pack("{s:{s:s,s:{s:{s:{s:s}}}}}", "attestation", "type", "x509", "x509",
                     "signingCertificates", "primary", "certificate", b64);
    text = json_dumps(body, 0);
    j = svc_put_expect(fx, "/enrollmentGroups/gx", text, 200);
    assert_string_equal(
        svc_str(j, "attestation.x509.signingCertificates.primary.info.sha1Thumbprint"), sha1);
    json_decref(j);
    svc_call(fx, DPS_HTTP_POST, "/enrollmentGroups/gx/attestationmechanism", NULL, &r);
    svc_assert_status(&r, 200);
    assert_string_equal(svc_str(r.json, "x509.signingCertificates.primary.certificate"), b64);
    svc_reply_free(&r);
    free(text);
    json_decref(body);
    free(b64);
    OPENSSL_free(der);
    X509_free(x);
    BIO_free(bio);
    free(pem);
}

static void test_registration_state_embedded(void **state)
{
    svc_fx *fx = *state;
    json_t *j = svc_put_expect(fx, "/enrollments/Pump-17", SYM_BODY, 200);
    json_decref(j);
    svc_put_raw(fx, DPS_COLL_REGISTRATION, "pump-17",
                "{\"registrationId\":\"Pump-17\",\"status\":\"assigned\",\"assignedHub\":\"" SVC_HUB2
                "\",\"tpm\":{\"authenticationKey\":\"c2VjcmV0\"}}",
                "IjEwIg==", NULL);
    svc_reply r;
    svc_call(fx, DPS_HTTP_GET, "/enrollments/pump-17", NULL, &r);
    svc_assert_status(&r, 200);
    assert_string_equal(svc_str(r.json, "registrationId"), "Pump-17");
    assert_string_equal(svc_str(r.json, "registrationState.status"), "assigned");
    assert_string_equal(svc_str(r.json, "registrationState.etag"), "IjEwIg==");
    assert_null(svc_get(r.json, "registrationState.tpm.authenticationKey"));
    svc_reply_free(&r);
    /* a record made through a group is not this enrollment's state */
    svc_put_raw(fx, DPS_COLL_REGISTRATION, "pump-17", "{\"registrationId\":\"pump-17\"}",
                "IjExIg==", "floor-3");
    svc_call(fx, DPS_HTTP_GET, "/enrollments/pump-17", NULL, &r);
    svc_assert_status(&r, 200);
    assert_null(json_object_get(r.json, "registrationState"));
    svc_reply_free(&r);
}

static void test_case_insensitive_segments(void **state)
{
    svc_fx *fx = *state;
    json_t *j = svc_put_expect(fx, "/ENROLLMENTGROUPS/Floor-3",
                               "{\"attestation\":{\"type\":\"symmetricKey\"},\"deviceId\":\"x\"}",
                               200);
    /* groups have no deviceId */
    assert_null(json_object_get(j, "deviceId"));
    json_decref(j);
    svc_reply r;
    svc_call(fx, DPS_HTTP_POST, "/enrollmentgroups/floor-3/AttestationMechanism", NULL, &r);
    svc_assert_status(&r, 200);
    assert_non_null(svc_str(r.json, "symmetricKey.primaryKey"));
    svc_reply_free(&r);
    svc_call(fx, DPS_HTTP_GET, "/EnrollmentGroups/FLOOR-3/", NULL, &r);
    svc_assert_status(&r, 200);
    assert_string_equal(svc_str(r.json, "enrollmentGroupId"), "Floor-3");
    assert_null(svc_get(r.json, "attestation.symmetricKey"));
    svc_reply_free(&r);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, svc_setup, svc_teardown)
    const struct CMUnitTest tests[] = {
        T(test_defaults_and_generated_keys),
        T(test_keys_hidden_and_shown),
        T(test_keys_kept_on_update),
        T(test_round_trip_ignores_read_only),
        T(test_x509_info),
        T(test_registration_state_embedded),
        T(test_case_insensitive_segments),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
