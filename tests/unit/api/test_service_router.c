/* The router: 404/405, admin delegation, error shape (api/router.c). */
#include "service_fixture.h"

static void test_unknown_paths(void **state)
{
    svc_fx *fx = *state;
    svc_reply r;
    svc_call(fx, DPS_HTTP_GET, "/", NULL, &r);
    svc_assert_error(&r, 404, 404001);
    svc_reply_free(&r);
    svc_call(fx, DPS_HTTP_GET, "/devices/x", NULL, &r);
    svc_assert_error(&r, 404, 404001);
    svc_reply_free(&r);
    svc_call(fx, DPS_HTTP_GET, "/enrollments/a/b/c/d", NULL, &r);
    svc_assert_error(&r, 404, 404001);
    svc_reply_free(&r);
    /* admin paths the admin API does not know are 404 as well */
    svc_call(fx, DPS_HTTP_GET, "/admin/no-such-thing", NULL, &r);
    assert_int_equal(r.res.status, 404);
    svc_reply_free(&r);
}

static void test_wrong_methods(void **state)
{
    svc_fx *fx = *state;
    svc_reply r;
    svc_call(fx, DPS_HTTP_GET, "/enrollments", NULL, &r);
    svc_assert_error(&r, 405, 405001);
    svc_reply_free(&r);
    svc_call(fx, DPS_HTTP_POST, "/enrollments/dev1", "{}", &r);
    svc_assert_error(&r, 405, 405001);
    svc_reply_free(&r);
    svc_call(fx, DPS_HTTP_PATCH, "/registrations/dev1", "{}", &r);
    svc_assert_error(&r, 405, 405001);
    svc_reply_free(&r);
    svc_call(fx, DPS_HTTP_PUT, "/registrations/dev1", "{}", &r);
    svc_assert_error(&r, 405, 405001);
    svc_reply_free(&r);
    svc_call(fx, DPS_HTTP_GET, "/enrollmentGroups/g1/attestationmechanism", NULL, &r);
    svc_assert_error(&r, 405, 405001);
    svc_reply_free(&r);
}

static void test_admin_is_delegated(void **state)
{
    svc_fx *fx = *state;
    svc_reply r;
    /* the admin API answers for its own paths; without a token it refuses */
    const char *none[] = {"Authorization", NULL, NULL};
    svc_callv(fx, DPS_HTTP_GET, "/ADMIN/linkedHubs", NULL, none, &r);
    assert_int_equal(r.res.status, 401);
    svc_reply_free(&r);
}

static void test_literal_before_parameter(void **state)
{
    svc_fx *fx = *state;
    svc_reply r;
    /* POST /enrollments/query is the query; GET of "query" is an ID */
    svc_call(fx, DPS_HTTP_POST, "/Enrollments/Query", NULL, &r);
    svc_assert_status(&r, 200);
    assert_true(json_is_array(r.json));
    svc_reply_free(&r);
    svc_call(fx, DPS_HTTP_GET, "/enrollments/query", NULL, &r);
    svc_assert_error(&r, 404, 404201);
    svc_reply_free(&r);
}

static void test_auth_before_handler(void **state)
{
    svc_fx *fx = *state;
    svc_reply r;
    const char *none[] = {"Authorization", NULL, NULL};
    svc_callv(fx, DPS_HTTP_PUT, "/enrollments/dev1", "{\"attestation\":{\"type\":\"none\"}}",
              none, &r);
    svc_assert_error(&r, 401, 401002);
    svc_reply_free(&r);
    svc_call(fx, DPS_HTTP_GET, "/enrollments/dev1", NULL, &r);
    svc_assert_error(&r, 404, 404201);
    svc_reply_free(&r);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, svc_setup, svc_teardown)
    const struct CMUnitTest tests[] = {
        T(test_unknown_paths),
        T(test_wrong_methods),
        T(test_admin_is_delegated),
        T(test_literal_before_parameter),
        T(test_auth_before_handler),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
