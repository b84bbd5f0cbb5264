/* Admin API: /admin/policies CRUD, key generation, the last-ServiceConfig
 * guard, regenerateKey, and /admin/connectionString. */
#include "common/b64.h"
#include "test_admin_fixture.h"

#define KEY16 "MDEyMzQ1Njc4OWFiY2RlZg==" /* 16 bytes */
#define KEY8 "MDEyMzQ1Njc="              /* 8 bytes: too short */

static size_t key_bytes(const char *b64)
{
    uint8_t *raw = NULL;
    size_t n = 0;
    assert_non_null(b64);
    assert_int_equal(dps_b64_decode(b64, strlen(b64), &raw, &n), 0);
    free(raw);
    return n;
}

static void test_list_and_get(void **state)
{
    admin_fx *fx = *state;
    fx_result r = fx_call(fx, DPS_HTTP_GET, "/admin/policies", NULL, NULL, NULL);
    fx_expect(&r, 200, 0);
    assert_int_equal(json_array_size(r.json), 1);
    json_t *p = json_array_get(r.json, 0);
    assert_string_equal(json_string_value(json_object_get(p, "keyName")), DPS_OWNER_POLICY);
    /* ServiceConfig holders see keys, like `az iot dps policy list`. */
    assert_string_equal(json_string_value(json_object_get(p, "primaryKey")), FX_OWNER_KEY);
    assert_non_null(json_string_value(json_object_get(p, "etag")));
    fx_free(&r);

    r = fx_call(fx, DPS_HTTP_GET, "/admin/policies/ProvisioningServiceOwner", NULL, NULL, NULL);
    fx_expect(&r, 200, 0);
    assert_string_equal(fx_str(&r, "rights"), DPS_OWNER_RIGHTS);
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_GET, "/admin/policies/missing", NULL, NULL, NULL);
    fx_expect(&r, 404, 404201);
    fx_free(&r);
}

static void test_create_generates_keys(void **state)
{
    admin_fx *fx = *state;
    fx_result r = fx_call(fx, DPS_HTTP_PUT, "/admin/policies/Reader", NULL, NULL,
                          "{\"rights\":\"enrollmentread,RegistrationStatusRead\"}");
    fx_expect(&r, 200, 0);
    assert_string_equal(fx_str(&r, "keyName"), "Reader");
    assert_string_equal(fx_str(&r, "rights"), "EnrollmentRead, RegistrationStatusRead");
    assert_int_equal(key_bytes(fx_str(&r, "primaryKey")), 32);
    assert_int_equal(key_bytes(fx_str(&r, "secondaryKey")), 32);
    assert_string_not_equal(fx_str(&r, "primaryKey"), fx_str(&r, "secondaryKey"));
    fx_free(&r);

    r = fx_call(fx, DPS_HTTP_PUT, "/admin/policies/given", NULL, NULL,
                "{\"rights\":\"EnrollmentWrite\",\"primaryKey\":\"" KEY16 "\","
                "\"secondaryKey\":\"" FX_OWNER_KEY "\"}");
    fx_expect(&r, 200, 0);
    assert_string_equal(fx_str(&r, "primaryKey"), KEY16);
    assert_string_equal(fx_str(&r, "secondaryKey"), FX_OWNER_KEY);
    fx_free(&r);

    r = fx_call(fx, DPS_HTTP_GET, "/admin/policies", NULL, NULL, NULL);
    assert_int_equal(json_array_size(r.json), 3);
    fx_free(&r);
}

static void test_put_refusals(void **state)
{
    admin_fx *fx = *state;
    static const char *const bad[] = {
        "{}",
        "{\"rights\":\"\"}",
        "{\"rights\":\"Everything\"}",
        "{\"rights\":[\"ServiceConfig\"]}",
        "{\"rights\":\"ServiceConfig\",\"primaryKey\":\"" KEY8 "\"}",
        "{\"rights\":\"ServiceConfig\",\"secondaryKey\":\"not base64\"}",
        "{\"rights\":\"ServiceConfig\",\"primaryKey\":5}",
        "{\"rights\":\"ServiceConfig\",\"extra\":1}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fx_result r = fx_call(fx, DPS_HTTP_PUT, "/admin/policies/p1", NULL, NULL, bad[i]);
        if (r.res.status != 400 || fx_error_code(&r) != 400003)
            fail_msg("case %zu: status %d code %lld", i, r.res.status, fx_error_code(&r));
        fx_free(&r);
    }
    fx_result r = fx_call(fx, DPS_HTTP_PUT, "/admin/policies/p1", NULL, NULL,
                          "{\"keyName\":\"p2\",\"rights\":\"ServiceConfig\"}");
    fx_expect(&r, 400, 400006);
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_PUT, "/admin/policies/bad%20name", NULL, NULL,
                "{\"rights\":\"ServiceConfig\"}");
    fx_expect(&r, 400, 400005);
    fx_free(&r);
    char longpath[128];
    snprintf(longpath, sizeof longpath, "/admin/policies/%065d", 0);
    r = fx_call(fx, DPS_HTTP_PUT, longpath, NULL, NULL, "{\"rights\":\"ServiceConfig\"}");
    fx_expect(&r, 400, 400005);
    fx_free(&r);
}

static void test_update_keeps_keys_and_etags(void **state)
{
    admin_fx *fx = *state;
    const char *path = "/admin/policies/ops";
    fx_result r = fx_call(fx, DPS_HTTP_PUT, path, NULL, NULL, "{\"rights\":\"EnrollmentRead\"}");
    fx_expect(&r, 200, 0);
    char *pk = strdup(fx_str(&r, "primaryKey"));
    char *sk = strdup(fx_str(&r, "secondaryKey"));
    char *etag = strdup(fx_str(&r, "etag"));
    fx_free(&r);

    r = fx_call(fx, DPS_HTTP_PUT, path, NULL, NULL, "{\"rights\":\"EnrollmentWrite\"}");
    fx_expect(&r, 409, 409201);
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_PUT, path, NULL, "\"bm9wZQ==\"", "{\"rights\":\"Nothing\"}");
    fx_expect(&r, 400, 400003);
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_PUT, path, NULL, "\"bm9wZQ==\"", "{\"rights\":\"EnrollmentWrite\"}");
    fx_expect(&r, 412, 412001);
    fx_free(&r);

    r = fx_call(fx, DPS_HTTP_PUT, path, NULL, etag,
                "{\"keyName\":\"OPS\",\"rights\":\"EnrollmentWrite, EnrollmentRead\"}");
    fx_expect(&r, 200, 0);
    assert_string_equal(fx_str(&r, "primaryKey"), pk);
    assert_string_equal(fx_str(&r, "secondaryKey"), sk);
    assert_string_equal(fx_str(&r, "rights"), "EnrollmentRead, EnrollmentWrite");
    assert_string_not_equal(fx_str(&r, "etag"), etag);
    fx_free(&r);

    /* Supplying one key replaces only that one. */
    r = fx_call(fx, DPS_HTTP_PUT, path, NULL, "*",
                "{\"rights\":\"EnrollmentRead\",\"secondaryKey\":\"" KEY16 "\"}");
    fx_expect(&r, 200, 0);
    assert_string_equal(fx_str(&r, "primaryKey"), pk);
    assert_string_equal(fx_str(&r, "secondaryKey"), KEY16);
    fx_free(&r);

    r = fx_call(fx, DPS_HTTP_DELETE, path, NULL, etag, NULL);
    fx_expect(&r, 412, 412001);
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_DELETE, path, NULL, NULL, NULL);
    fx_expect(&r, 204, 0);
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_DELETE, path, NULL, NULL, NULL);
    fx_expect(&r, 404, 404201);
    fx_free(&r);
    free(pk);
    free(sk);
    free(etag);
}

static void test_last_service_config_is_protected(void **state)
{
    admin_fx *fx = *state;
    const char *owner = "/admin/policies/" DPS_OWNER_POLICY;
    fx_result r = fx_call(fx, DPS_HTTP_DELETE, owner, NULL, NULL, NULL);
    fx_expect(&r, 409, 409201);
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_PUT, owner, NULL, "*", "{\"rights\":\"EnrollmentWrite\"}");
    fx_expect(&r, 409, 409201);
    fx_free(&r);
    /* A change that keeps ServiceConfig is fine. */
    r = fx_call(fx, DPS_HTTP_PUT, owner, NULL, "*",
                "{\"rights\":\"ServiceConfig, EnrollmentWrite\",\"primaryKey\":\"" FX_OWNER_KEY
                "\"}");
    fx_expect(&r, 200, 0);
    fx_free(&r);
    /* A policy without ServiceConfig does not count as a second admin. */
    r = fx_call(fx, DPS_HTTP_PUT, "/admin/policies/reader", NULL, NULL,
                "{\"rights\":\"EnrollmentRead\"}");
    fx_expect(&r, 200, 0);
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_DELETE, owner, NULL, NULL, NULL);
    fx_expect(&r, 409, 409201);
    fx_free(&r);

    r = fx_call(fx, DPS_HTTP_PUT, "/admin/policies/admin2", NULL, NULL,
                "{\"rights\":\"ServiceConfig\",\"primaryKey\":\"" KEY16 "\"}");
    fx_expect(&r, 200, 0);
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_DELETE, owner, NULL, NULL, NULL);
    fx_expect(&r, 204, 0);
    fx_free(&r);
    /* The owner is gone: its key no longer works; admin2 is now the last one. */
    r = fx_call(fx, DPS_HTTP_GET, "/admin/policies", NULL, NULL, NULL);
    fx_expect(&r, 401, 401002);
    fx_free(&r);
    r = fx_call_as(fx, "admin2", KEY16, DPS_HTTP_PUT, "/admin/policies/admin2", NULL, "*",
                   "{\"rights\":\"EnrollmentRead\"}");
    fx_expect(&r, 409, 409201);
    fx_free(&r);
    r = fx_call_as(fx, "admin2", KEY16, DPS_HTTP_DELETE, "/admin/policies/admin2", NULL, NULL,
                   NULL);
    fx_expect(&r, 409, 409201);
    fx_free(&r);
}

static void test_policy_without_service_config_gets_401(void **state)
{
    admin_fx *fx = *state;
    fx_result r = fx_call(fx, DPS_HTTP_PUT, "/admin/policies/writer", NULL, NULL,
                          "{\"rights\":\"EnrollmentWrite, EnrollmentRead, DeviceConnect\","
                          "\"primaryKey\":\"" KEY16 "\"}");
    fx_expect(&r, 200, 0);
    fx_free(&r);
    r = fx_call_as(fx, "writer", KEY16, DPS_HTTP_GET, "/admin/policies", NULL, NULL, NULL);
    fx_expect(&r, 401, 401002);
    assert_false(fx_body_has(&r, FX_OWNER_KEY));
    fx_free(&r);
    r = fx_call_as(fx, "writer", KEY16, DPS_HTTP_PUT, "/admin/policies/writer", NULL, "*",
                   "{\"rights\":\"ServiceConfig\"}");
    fx_expect(&r, 401, 401002);
    fx_free(&r);
}

static void test_regenerate_key(void **state)
{
    admin_fx *fx = *state;
    fx_result r = fx_call(fx, DPS_HTTP_PUT, "/admin/policies/rot", NULL, NULL,
                          "{\"rights\":\"ServiceConfig\",\"primaryKey\":\"" KEY16 "\","
                          "\"secondaryKey\":\"" KEY16 "\"}");
    fx_expect(&r, 200, 0);
    char *etag = strdup(fx_str(&r, "etag"));
    fx_free(&r);

    r = fx_call(fx, DPS_HTTP_POST, "/admin/policies/rot/regenerateKey", NULL, NULL,
                "{\"keyType\":\"Primary\"}");
    fx_expect(&r, 200, 0);
    char *pk = strdup(fx_str(&r, "primaryKey"));
    assert_string_not_equal(pk, KEY16);
    assert_int_equal(key_bytes(pk), 32);
    assert_string_equal(fx_str(&r, "secondaryKey"), KEY16);
    assert_string_not_equal(fx_str(&r, "etag"), etag);
    fx_free(&r);

    /* The new primary key signs. */
    r = fx_call_as(fx, "rot", pk, DPS_HTTP_GET, "/admin/policies/rot", NULL, NULL, NULL);
    fx_expect(&r, 200, 0);
    fx_free(&r);

    r = fx_call(fx, DPS_HTTP_POST, "/admin/policies/rot/REGENERATEKEY", NULL, NULL,
                "{\"keyType\":\"secondary\"}");
    fx_expect(&r, 200, 0);
    assert_string_equal(fx_str(&r, "primaryKey"), pk);
    assert_string_not_equal(fx_str(&r, "secondaryKey"), KEY16);
    fx_free(&r);
    r = fx_call_as(fx, "rot", KEY16, DPS_HTTP_GET, "/admin/policies/rot", NULL, NULL, NULL);
    fx_expect(&r, 401, 401002);
    fx_free(&r);

    r = fx_call(fx, DPS_HTTP_POST, "/admin/policies/rot/regenerateKey", NULL, NULL,
                "{\"keyType\":\"tertiary\"}");
    fx_expect(&r, 400, 400003);
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_POST, "/admin/policies/rot/regenerateKey", NULL, NULL, NULL);
    fx_expect(&r, 400, 400002);
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_POST, "/admin/policies/rot/regenerateKey", NULL, etag,
                "{\"keyType\":\"primary\"}");
    fx_expect(&r, 412, 412001);
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_POST, "/admin/policies/none/regenerateKey", NULL, NULL,
                "{\"keyType\":\"primary\"}");
    fx_expect(&r, 404, 404201);
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_GET, "/admin/policies/rot/regenerateKey", NULL, NULL, NULL);
    fx_expect(&r, 405, 405001);
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_POST, "/admin/policies/rot/other", NULL, NULL, NULL);
    fx_expect(&r, 404, 404001);
    fx_free(&r);
    free(pk);
    free(etag);
}

static void test_connection_string(void **state)
{
    admin_fx *fx = *state;
    fx_result r = fx_call(fx, DPS_HTTP_GET, "/admin/connectionString", NULL, NULL, NULL);
    fx_expect(&r, 200, 0);
    assert_string_equal(fx_str(&r, "connectionString"),
                        "HostName=" FX_SERVICE_HOST ";SharedAccessKeyName=" DPS_OWNER_POLICY
                        ";SharedAccessKey=" FX_OWNER_KEY);
    fx_free(&r);

    r = fx_call(fx, DPS_HTTP_PUT, "/admin/policies/Svc", NULL, NULL,
                "{\"rights\":\"EnrollmentRead\",\"primaryKey\":\"" KEY16 "\"}");
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_GET, "/admin/connectionstring", "api-version=1&policy=svc", NULL,
                NULL);
    fx_expect(&r, 200, 0);
    assert_string_equal(fx_str(&r, "connectionString"),
                        "HostName=" FX_SERVICE_HOST
                        ";SharedAccessKeyName=Svc;SharedAccessKey=" KEY16);
    fx_free(&r);

    r = fx_call(fx, DPS_HTTP_GET, "/admin/connectionString", "policy=ghost", NULL, NULL);
    fx_expect(&r, 404, 404201);
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_POST, "/admin/connectionString", NULL, NULL, NULL);
    fx_expect(&r, 405, 405001);
    fx_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_list_and_get, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_create_generates_keys, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_put_refusals, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_update_keeps_keys_and_etags, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_last_service_config_is_protected, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_policy_without_service_config_gets_401, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_regenerate_key, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_connection_string, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
