/* Validation of enrollment and group bodies (service-api.md §9.1) and of
 * the request body itself, through PUT. */
#include "service_fixture.h"

#define SYM "\"attestation\":{\"type\":\"symmetricKey\"}"

/* PUTs body at path and expects the error code and a message naming what. */
static void expect_refused(svc_fx *fx, const char *path, const char *body, int code,
                           const char *what)
{
    svc_reply r;
    svc_call(fx, DPS_HTTP_PUT, path, body, &r);
    svc_assert_error(&r, code / 1000, code);
    if (what != NULL)
        svc_assert_message_has(&r, what);
    svc_reply_free(&r);
}

static void expect_ok(svc_fx *fx, const char *path, const char *body)
{
    json_t *j = svc_put_expect(fx, path, body, 200);
    json_decref(j);
}

static void test_id_syntax(void **state)
{
    svc_fx *fx = *state;
    char path[300], body[400];
    char id[140];
    memset(id, 'a', 128);
    id[128] = '\0';
    snprintf(path, sizeof path, "/enrollments/%s", id);
    expect_ok(fx, path, "{" SYM "}");
    memset(id, 'b', 129);
    id[129] = '\0';
    snprintf(path, sizeof path, "/enrollments/%s", id);
    expect_refused(fx, path, "{" SYM "}", 400005, "registrationId");
    expect_refused(fx, "/enrollments/-dev", "{" SYM "}", 400005, "registrationId");
    expect_refused(fx, "/enrollments/dev.", "{" SYM "}", 400005, NULL);
    expect_refused(fx, "/enrollments/de!v", "{" SYM "}", 400005, NULL);
    expect_refused(fx, "/enrollmentGroups/g%20x", "{" SYM "}", 400005, "enrollmentGroupId");
    /* ':' raw or encoded, '.', '_' and '-' inside */
    expect_ok(fx, "/enrollments/site:a.b_c-d", "{" SYM "}");
    svc_reply r;
    svc_call(fx, DPS_HTTP_GET, "/enrollments/SITE%3Aa.b_c-d", NULL, &r);
    svc_assert_status(&r, 200);
    svc_reply_free(&r);
    /* a body ID of the wrong type */
    snprintf(body, sizeof body, "{\"registrationId\":5," SYM "}");
    expect_refused(fx, "/enrollments/dev9", body, 400003, "registrationId");
}

static void test_path_and_body_ids(void **state)
{
    svc_fx *fx = *state;
    expect_refused(fx, "/enrollments/dev1", "{\"registrationId\":\"dev2\"," SYM "}", 400006,
                   "dev2");
    expect_refused(fx, "/enrollmentGroups/g1", "{\"enrollmentGroupId\":\"g2\"," SYM "}", 400006,
                   NULL);
    /* same ID in another case: accepted, the body's spelling is kept */
    json_t *j = svc_put_expect(fx, "/enrollments/dev1", "{\"registrationId\":\"Dev1\"," SYM "}",
                               200);
    assert_string_equal(svc_str(j, "registrationId"), "Dev1");
    json_decref(j);
    /* absent body ID: the path's */
    j = svc_put_expect(fx, "/enrollmentGroups/Floor-3", "{" SYM "}", 200);
    assert_string_equal(svc_str(j, "enrollmentGroupId"), "Floor-3");
    json_decref(j);
}

static void test_attestation_type(void **state)
{
    svc_fx *fx = *state;
    expect_refused(fx, "/enrollments/d1", "{}", 400003, "attestation");
    expect_refused(fx, "/enrollments/d1", "{\"attestation\":[]}", 400003, "attestation");
    expect_refused(fx, "/enrollments/d1", "{\"attestation\":{}}", 400003, "attestation.type");
    expect_refused(fx, "/enrollments/d1", "{\"attestation\":{\"type\":\"psk\"}}", 400003,
                   "attestation.type");
    expect_refused(fx, "/enrollments/d1",
                   "{\"attestation\":{\"type\":\"symmetricKey\",\"x509\":{}}}", 400003,
                   "attestation.x509");
    expect_refused(fx, "/enrollments/d1", "{\"attestation\":{\"type\":\"tpm\"}}", 400003,
                   "attestation.tpm");
    /* groups refuse tpm and none */
    expect_refused(fx, "/enrollmentGroups/g1", "{\"attestation\":{\"type\":\"none\"}}", 400003,
                   "enrollment group");
    char *ek = svc_make_ek_b64(0x0001);
    char body[1024];
    snprintf(body, sizeof body,
             "{\"attestation\":{\"type\":\"tpm\",\"tpm\":{\"endorsementKey\":\"%s\"}}}", ek);
    expect_refused(fx, "/enrollmentGroups/g1", body, 400003, "enrollment group");
    free(ek);
    /* individual none is fine; the type is matched without regard to case */
    json_t *j = svc_put_expect(fx, "/enrollments/d1",
                               "{\"attestation\":{\"type\":\"SymmetricKey\"}}", 200);
    assert_string_equal(svc_str(j, "attestation.type"), "symmetricKey");
    json_decref(j);
    expect_ok(fx, "/enrollments/d2", "{\"attestation\":{\"type\":\"none\",\"tpm\":null}}");
}

static void test_tpm_endorsement_key(void **state)
{
    svc_fx *fx = *state;
    char body[1200];
    char *ek = svc_make_ek_b64(0x0001);
    snprintf(body, sizeof body,
             "{\"attestation\":{\"type\":\"tpm\",\"tpm\":{\"endorsementKey\":\"%s\","
             "\"storageRootKey\":\"%s\"}}}",
             ek, ek);
    json_t *j = svc_put_expect(fx, "/enrollments/tpm1", body, 200);
    assert_string_equal(svc_str(j, "attestation.tpm.endorsementKey"), ek);
    json_decref(j);
    /* truncated */
    ek[40] = '\0';
    snprintf(body, sizeof body,
             "{\"attestation\":{\"type\":\"tpm\",\"tpm\":{\"endorsementKey\":\"%s\"}}}", ek);
    expect_refused(fx, "/enrollments/tpm2", body, 400004, "Endorsement key");
    free(ek);
    /* not base64 */
    expect_refused(fx, "/enrollments/tpm2",
                   "{\"attestation\":{\"type\":\"tpm\",\"tpm\":{\"endorsementKey\":\"!!\"}}}",
                   400004, NULL);
    /* an ECC key is not an RSA endorsement key */
    ek = svc_make_ek_b64(0x0023);
    snprintf(body, sizeof body,
             "{\"attestation\":{\"type\":\"tpm\",\"tpm\":{\"endorsementKey\":\"%s\"}}}", ek);
    expect_refused(fx, "/enrollments/tpm3", body, 400004, "RSA");
    free(ek);
    expect_refused(fx, "/enrollments/tpm4",
                   "{\"attestation\":{\"type\":\"tpm\",\"tpm\":{\"endorsementKey\":7}}}", 400003,
                   "attestation.tpm.endorsementKey");
}

static void test_symmetric_keys(void **state)
{
    svc_fx *fx = *state;
    /* 8 bytes: too short */
    expect_refused(fx, "/enrollments/s1",
                   "{\"attestation\":{\"type\":\"symmetricKey\",\"symmetricKey\":"
                   "{\"primaryKey\":\"MDEyMzQ1Njc=\"}}}",
                   400003, "attestation.symmetricKey.primaryKey");
    /* 65 bytes: too long */
    char body[512];
    uint8_t raw[65];
    memset(raw, 7, sizeof raw);
    char *k65 = dps_b64_encode(raw, sizeof raw);
    snprintf(body, sizeof body,
             "{\"attestation\":{\"type\":\"symmetricKey\",\"symmetricKey\":"
             "{\"secondaryKey\":\"%s\"}}}",
             k65);
    expect_refused(fx, "/enrollments/s1", body, 400003, "secondaryKey");
    free(k65);
    expect_refused(fx, "/enrollments/s1",
                   "{\"attestation\":{\"type\":\"symmetricKey\",\"symmetricKey\":"
                   "{\"primaryKey\":\"not base64!\"}}}",
                   400003, "primaryKey");
    expect_refused(fx, "/enrollments/s1",
                   "{\"attestation\":{\"type\":\"symmetricKey\",\"symmetricKey\":"
                   "{\"primaryKey\":true}}}",
                   400003, "primaryKey");
    expect_refused(fx, "/enrollments/s1",
                   "{\"attestation\":{\"type\":\"symmetricKey\",\"symmetricKey\":"
                   "{\"primaryKey\":\"\"}}}",
                   400003, "primaryKey");
    /* null is "not given": generated */
    json_t *g = svc_put_expect(fx, "/enrollments/s0",
                               "{\"attestation\":{\"type\":\"symmetricKey\",\"symmetricKey\":"
                               "{\"primaryKey\":null,\"secondaryKey\":null}}}",
                               200);
    assert_non_null(svc_str(g, "attestation.symmetricKey.primaryKey"));
    json_decref(g);
    /* 16 and 32 bytes are fine */
    json_t *j = svc_put_expect(fx, "/enrollments/s1",
                               "{\"attestation\":{\"type\":\"symmetricKey\",\"symmetricKey\":"
                               "{\"primaryKey\":\"" SVC_SYMKEY
                               "\",\"secondaryKey\":\"MDEyMzQ1Njc4OWFiY2RlZg==\"}}}",
                               200);
    assert_string_equal(svc_str(j, "attestation.symmetricKey.primaryKey"), SVC_SYMKEY);
    assert_string_equal(svc_str(j, "attestation.symmetricKey.secondaryKey"),
                        "MDEyMzQ1Njc4OWFiY2RlZg==");
    json_decref(j);
}

static void test_x509_rules(void **state)
{
    svc_fx *fx = *state;
    char *pem = svc_make_cert_pem("dev-x1");
    json_t *cert = json_pack("{s:s}", "certificate", pem);
    json_t *body;
    char *text;
    /* individual: client certificates, primary required */
    expect_refused(fx, "/enrollments/x1", "{\"attestation\":{\"type\":\"x509\",\"x509\":{}}}",
                   400003, "clientCertificates");
    expect_refused(fx, "/enrollments/x1",
                   "{\"attestation\":{\"type\":\"x509\",\"x509\":{\"clientCertificates\":"
                   "{\"secondary\":{\"certificate\":\"x\"}}}}}",
                   400003, "clientCertificates.primary");
    expect_refused(fx, "/enrollments/x1",
                   "{\"attestation\":{\"type\":\"x509\",\"x509\":{\"clientCertificates\":"
                   "{\"primary\":{\"certificate\":\"bm90IGEgY2VydA==\"}}}}}",
                   400007, "clientCertificates.primary.certificate");
    body = json_pack("{s:{s:s,s:{s:{s:O}}}}", "attestation", "type", "x509", "x509",
                     "signingCertificates", "primary", cert);
    text = json_dumps(body, 0);
    expect_refused(fx, "/enrollments/x1", text, 400003, "clientCertificates");
    free(text);
    json_decref(body);
    /* group: signing certificates or CA references, not both, not neither */
    expect_refused(fx, "/enrollmentGroups/gx", "{\"attestation\":{\"type\":\"x509\",\"x509\":{}}}",
                   400003, "exactly one");
    body = json_pack("{s:{s:s,s:{s:{s:O},s:{s:s}}}}", "attestation", "type", "x509", "x509",
                     "signingCertificates", "primary", cert, "caReferences", "primary", "root");
    text = json_dumps(body, 0);
    expect_refused(fx, "/enrollmentGroups/gx", text, 400003, "exactly one");
    free(text);
    json_decref(body);
    body = json_pack("{s:{s:s,s:{s:{s:O}}}}", "attestation", "type", "x509", "x509",
                     "clientCertificates", "primary", cert);
    text = json_dumps(body, 0);
    expect_refused(fx, "/enrollmentGroups/gx", text, 400003, "clientCertificates");
    free(text);
    json_decref(body);
    body = json_pack("{s:{s:s,s:{s:{s:O}}}}", "attestation", "type", "x509", "x509",
                     "signingCertificates", "primary", cert);
    text = json_dumps(body, 0);
    expect_ok(fx, "/enrollmentGroups/gx", text);
    free(text);
    json_decref(body);
    json_decref(cert);
    free(pem);
}

static void test_ca_references(void **state)
{
    svc_fx *fx = *state;
    const char *body = "{\"attestation\":{\"type\":\"x509\",\"x509\":{\"caReferences\":"
                       "{\"primary\":\"MyRoot\"}}}}";
    expect_refused(fx, "/enrollmentGroups/gc", body, 400003, "no CA certificate named 'MyRoot'");
    svc_put_raw(fx, DPS_COLL_CA_CERTIFICATE, "myroot",
                "{\"name\":\"MyRoot\",\"properties\":{\"isVerified\":false}}", "IjEi", NULL);
    expect_refused(fx, "/enrollmentGroups/gc", body, 400003, "not verified");
    svc_put_raw(fx, DPS_COLL_CA_CERTIFICATE, "myroot",
                "{\"name\":\"MyRoot\",\"properties\":{\"isVerified\":true}}", "IjIi", NULL);
    json_t *j = svc_put_expect(fx, "/enrollmentGroups/gc", body, 200);
    assert_string_equal(svc_str(j, "attestation.x509.caReferences.primary"), "MyRoot");
    json_decref(j);
}

static void test_allocation(void **state)
{
    svc_fx *fx = *state;
    json_t *j = svc_put_expect(fx, "/enrollments/a1",
                               "{" SYM ",\"allocationPolicy\":\"GEOLATENCY\"}", 200);
    assert_string_equal(svc_str(j, "allocationPolicy"), "geoLatency");
    json_decref(j);
    expect_refused(fx, "/enrollments/a2", "{" SYM ",\"allocationPolicy\":\"random\"}", 400003,
                   "allocationPolicy");
    expect_refused(fx, "/enrollments/a2", "{" SYM ",\"allocationPolicy\":3}", 400003,
                   "allocationPolicy");
    expect_refused(fx, "/enrollments/a2", "{" SYM ",\"allocationPolicy\":\"static\"}", 400003,
                   "exactly one");
    expect_refused(fx, "/enrollments/a2",
                   "{" SYM ",\"allocationPolicy\":\"static\",\"iotHubs\":[\"" SVC_HUB1
                   "\",\"" SVC_HUB2 "\"]}",
                   400003, "exactly one");
    j = svc_put_expect(fx, "/enrollments/a3",
                       "{" SYM ",\"allocationPolicy\":\"Static\",\"iotHubs\":[\"HUB1.example.net\"]}",
                       200);
    assert_string_equal(svc_str(j, "allocationPolicy"), "static");
    json_decref(j);
    expect_refused(fx, "/enrollments/a4",
                   "{" SYM ",\"iotHubs\":[\"" SVC_HUB1 "\",\"nothub.example.net\"]}", 400003,
                   "nothub.example.net");
    expect_refused(fx, "/enrollments/a4", "{" SYM ",\"iotHubs\":\"" SVC_HUB1 "\"}", 400003,
                   "iotHubs");
    expect_refused(fx, "/enrollments/a4", "{" SYM ",\"iotHubs\":[1]}", 400003, "iotHubs[0]");
    expect_refused(fx, "/enrollments/a4", "{" SYM ",\"iotHubHostName\":\"other.example.net\"}",
                   400003, "iotHubHostName");
    /* custom needs both members of customAllocationDefinition */
    expect_refused(fx, "/enrollments/a5", "{" SYM ",\"allocationPolicy\":\"custom\"}", 400003,
                   "customAllocationDefinition");
    expect_refused(fx, "/enrollments/a5",
                   "{" SYM ",\"allocationPolicy\":\"custom\",\"customAllocationDefinition\":"
                   "{\"webhookUrl\":\"https://alloc.example.net/api?code=x\"}}",
                   400003, "apiVersion");
    expect_refused(fx, "/enrollments/a5",
                   "{" SYM ",\"allocationPolicy\":\"custom\",\"customAllocationDefinition\":"
                   "{\"webhookUrl\":\"ftp://x\",\"apiVersion\":\"2021-10-01\"}}",
                   400003, "webhookUrl");
    j = svc_put_expect(fx, "/enrollmentGroups/a6",
                       "{" SYM ",\"allocationPolicy\":\"custom\",\"customAllocationDefinition\":"
                       "{\"webhookUrl\":\"https://alloc.example.net/api?code=x\","
                       "\"apiVersion\":\"2021-10-01\"}}",
                       200);
    assert_string_equal(svc_str(j, "customAllocationDefinition.webhookUrl"),
                        "https://alloc.example.net/api?code=x");
    json_decref(j);
}

static void test_status_reprovision_twin_capabilities(void **state)
{
    svc_fx *fx = *state;
    json_t *j = svc_put_expect(fx, "/enrollments/p1", "{" SYM ",\"provisioningStatus\":\"Disabled\"}",
                               200);
    assert_string_equal(svc_str(j, "provisioningStatus"), "disabled");
    json_decref(j);
    expect_refused(fx, "/enrollments/p2", "{" SYM ",\"provisioningStatus\":\"paused\"}", 400003,
                   "provisioningStatus");
    expect_refused(fx, "/enrollments/p2",
                   "{" SYM ",\"reprovisionPolicy\":{\"updateHubAssignment\":true}}", 400003,
                   "reprovisionPolicy");
    expect_refused(fx, "/enrollments/p2",
                   "{" SYM ",\"reprovisionPolicy\":{\"updateHubAssignment\":\"yes\","
                   "\"migrateDeviceData\":false}}",
                   400003, "reprovisionPolicy");
    j = svc_put_expect(fx, "/enrollments/p3",
                       "{" SYM ",\"reprovisionPolicy\":{\"updateHubAssignment\":false,"
                       "\"migrateDeviceData\":false}}",
                       200);
    assert_true(json_is_false(svc_get(j, "reprovisionPolicy.updateHubAssignment")));
    json_decref(j);
    expect_refused(fx, "/enrollments/p4", "{" SYM ",\"initialTwin\":[]}", 400003, "initialTwin");
    expect_refused(fx, "/enrollments/p4", "{" SYM ",\"initialTwin\":{\"tags\":[1]}}", 400003,
                   "initialTwin.tags");
    expect_refused(fx, "/enrollments/p4",
                   "{" SYM ",\"initialTwin\":{\"properties\":{\"desired\":3}}}", 400003,
                   "initialTwin.properties.desired");
    expect_refused(fx, "/enrollments/p4", "{" SYM ",\"capabilities\":{\"iotEdge\":\"yes\"}}",
                   400003, "capabilities.iotEdge");
    expect_refused(fx, "/enrollments/p4", "{" SYM ",\"deviceId\":12}", 400003, "deviceId");
    expect_refused(fx, "/enrollments/p4", "{" SYM ",\"optionalDeviceInformation\":\"x\"}", 400003,
                   "optionalDeviceInformation");
    j = svc_put_expect(fx, "/enrollments/p5",
                       "{" SYM ",\"initialTwin\":{\"tags\":{\"plant\":\"north\"},\"properties\":"
                       "{\"desired\":{\"s\":15}}},\"capabilities\":{\"iotEdge\":true}}",
                       200);
    assert_string_equal(svc_str(j, "initialTwin.tags.plant"), "north");
    assert_int_equal(json_integer_value(svc_get(j, "initialTwin.properties.desired.s")), 15);
    assert_true(json_is_true(svc_get(j, "capabilities.iotEdge")));
    json_decref(j);
}

static void test_body_errors(void **state)
{
    svc_fx *fx = *state;
    expect_refused(fx, "/enrollments/b1", "{\"attestation\":", 400002, "JSON");
    expect_refused(fx, "/enrollments/b1",
                   "{\"attestation\":{\"type\":\"symmetricKey\"},\"attestation\":{}}", 400002,
                   NULL);
    expect_refused(fx, "/enrollments/b1", "[1,2]", 400002, "object");
    expect_refused(fx, "/enrollments/b1", "", 400002, "body");
    /* over the cap: refused before parsing */
    size_t n = 200 * 1024;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    big[n] = '\0';
    expect_refused(fx, "/enrollments/b1", big, 413001, "limit");
    free(big);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, svc_setup, svc_teardown)
    const struct CMUnitTest tests[] = {
        T(test_id_syntax),
        T(test_path_and_body_ids),
        T(test_attestation_type),
        T(test_tpm_endorsement_key),
        T(test_symmetric_keys),
        T(test_x509_rules),
        T(test_ca_references),
        T(test_allocation),
        T(test_status_reprovision_twin_capabilities),
        T(test_body_errors),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
