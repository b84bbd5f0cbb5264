/* Admin API: dispatch, authentication, GET/PATCH /admin/instance. */
#include "test_admin_fixture.h"

static void test_not_admin_paths_are_left_alone(void **state)
{
    admin_fx *fx = *state;
    fx_result r = fx_call(fx, DPS_HTTP_GET, "/enrollments/x", NULL, NULL, NULL);
    assert_false(r.handled);
    assert_int_equal(r.res.status, 0);
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_GET, "/administrator", NULL, NULL, NULL);
    assert_false(r.handled);
    fx_free(&r);
}

static void test_requires_authentication(void **state)
{
    admin_fx *fx = *state;
    fx_result r = fx_call_as(fx, NULL, NULL, DPS_HTTP_GET, "/admin/instance", NULL, NULL, NULL);
    assert_true(r.handled);
    fx_expect(&r, 401, 401002);
    fx_free(&r);
    /* A wrong key is refused too. */
    r = fx_call_as(fx, DPS_OWNER_POLICY, "AAAAAAAAAAAAAAAAAAAAAA==", DPS_HTTP_GET,
                   "/admin/instance", NULL, NULL, NULL);
    fx_expect(&r, 401, 401002);
    fx_free(&r);
    /* Even unknown admin paths answer 401 first: nothing leaks before auth. */
    r = fx_call_as(fx, NULL, NULL, DPS_HTTP_GET, "/admin/nothing", NULL, NULL, NULL);
    fx_expect(&r, 401, 401002);
    fx_free(&r);
}

static void test_policy_without_service_config_is_refused(void **state)
{
    admin_fx *fx = *state;
    const char *k = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    fx_put_policy(fx, "reader", k, "EnrollmentRead, EnrollmentWrite, RegistrationStatusWrite");
    fx_result r = fx_call_as(fx, "reader", k, DPS_HTTP_GET, "/admin/instance", NULL, NULL,
                             NULL);
    fx_expect(&r, 401, 401002);
    fx_free(&r);
    fx_put_policy(fx, "configonly", k, "ServiceConfig");
    r = fx_call_as(fx, "configonly", k, DPS_HTTP_GET, "/admin/instance", NULL, NULL, NULL);
    fx_expect(&r, 200, 0);
    fx_free(&r);
}

static void test_unknown_resource_and_method(void **state)
{
    admin_fx *fx = *state;
    fx_result r = fx_call(fx, DPS_HTTP_GET, "/admin/widgets", NULL, NULL, NULL);
    assert_true(r.handled);
    fx_expect(&r, 404, 404001);
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_GET, "/admin", NULL, NULL, NULL);
    fx_expect(&r, 404, 404001);
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_GET, "/admin/instance/extra", NULL, NULL, NULL);
    fx_expect(&r, 404, 404001);
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_DELETE, "/admin/instance", NULL, NULL, NULL);
    fx_expect(&r, 405, 405001);
    fx_free(&r);
}

static void test_get_instance(void **state)
{
    admin_fx *fx = *state;
    /* Fixed segments match without regard to case; api-version is accepted. */
    fx_result r = fx_call(fx, DPS_HTTP_GET, "/ADMIN/Instance", "api-version=2021-10-01", NULL,
                          NULL);
    assert_true(r.handled);
    fx_expect(&r, 200, 0);
    assert_string_equal(fx_str(&r, "name"), "opendps");
    assert_string_equal(fx_str(&r, "state"), "Active");
    assert_string_equal(fx_str(&r, "idScope"), "0ne00A1B2C3");
    assert_string_equal(fx_str(&r, "serviceOperationsHostName"), FX_SERVICE_HOST);
    assert_string_equal(fx_str(&r, "deviceProvisioningHostName"), "global.test.example");
    assert_string_equal(fx_str(&r, "allocationPolicy"), "Hashed"); /* default */
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r.json, "endpoints"), "https")),
        "https://127.0.0.1:8443");
    assert_string_equal(fx_str(&r, "caCertificate"), "/var/lib/opendps/ca.pem");
    fx_free(&r);

    fx->ctx.ca_cert_path[0] = '\0';
    r = fx_call(fx, DPS_HTTP_GET, "/admin/instance/", NULL, NULL, NULL);
    fx_expect(&r, 200, 0);
    assert_true(json_is_null(json_object_get(r.json, "caCertificate")));
    fx_free(&r);
}

static void test_patch_allocation_policy(void **state)
{
    admin_fx *fx = *state;
    fx_result r = fx_call(fx, DPS_HTTP_PATCH, "/admin/instance", NULL, NULL,
                          "{\"allocationPolicy\":\"geolatency\"}");
    fx_expect(&r, 200, 0);
    assert_string_equal(fx_str(&r, "allocationPolicy"), "GeoLatency");
    assert_string_equal(fx_str(&r, "idScope"), "0ne00A1B2C3");
    fx_free(&r);
    char *stored = NULL;
    assert_int_equal(dps_store_meta_get(fx->ctx.store, "allocation_policy", &stored),
                     DPS_STORE_OK);
    assert_string_equal(stored, "geoLatency");
    free(stored);

    r = fx_call(fx, DPS_HTTP_PATCH, "/admin/instance", NULL, NULL,
                "{\"allocationPolicy\":\"Static\"}");
    fx_expect(&r, 200, 0);
    assert_string_equal(fx_str(&r, "allocationPolicy"), "Static");
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_GET, "/admin/instance", NULL, NULL, NULL);
    assert_string_equal(fx_str(&r, "allocationPolicy"), "Static");
    fx_free(&r);

    /* A GET result sent back whole: read-only members are ignored. */
    r = fx_call(fx, DPS_HTTP_PATCH, "/admin/instance", NULL, NULL,
                "{\"name\":\"x\",\"idScope\":\"0ne00000000\",\"state\":\"Active\","
                "\"allocationPolicy\":\"HASHED\",\"endpoints\":{}}");
    fx_expect(&r, 200, 0);
    assert_string_equal(fx_str(&r, "allocationPolicy"), "Hashed");
    assert_string_equal(fx_str(&r, "idScope"), "0ne00A1B2C3");
    fx_free(&r);
}

static void test_patch_refusals(void **state)
{
    admin_fx *fx = *state;
    static const char *const bad[] = {
        "{\"allocationPolicy\":\"custom\"}",  "{\"allocationPolicy\":\"Custom\"}",
        "{\"allocationPolicy\":\"roundRobin\"}", "{\"allocationPolicy\":3}",
        "{\"allocationpolicy\":\"hashed\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fx_result r = fx_call(fx, DPS_HTTP_PATCH, "/admin/instance", NULL, NULL, bad[i]);
        fx_expect(&r, 400, 400003);
        fx_free(&r);
    }
    fx_result r = fx_call(fx, DPS_HTTP_PATCH, "/admin/instance", NULL, NULL, "[1]");
    fx_expect(&r, 400, 400002);
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_PATCH, "/admin/instance", NULL, NULL, NULL);
    fx_expect(&r, 400, 400002);
    fx_free(&r);
    /* Nothing changed. */
    r = fx_call(fx, DPS_HTTP_GET, "/admin/instance", NULL, NULL, NULL);
    assert_string_equal(fx_str(&r, "allocationPolicy"), "Hashed");
    fx_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_not_admin_paths_are_left_alone, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_requires_authentication, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_policy_without_service_config_is_refused,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_resource_and_method, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_get_instance, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_patch_allocation_policy, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_patch_refusals, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
