/* Bulk enrollment operations (service-api.md §6). */
#include "service_fixture.h"

#define SYM "\"attestation\":{\"type\":\"symmetricKey\"}"

/* Runs a bulk call that must answer 200; returns the result (new ref). */
static json_t *bulk(svc_fx *fx, const char *path, const char *body)
{
    svc_reply r;
    svc_call(fx, DPS_HTTP_POST, path, body, &r);
    svc_assert_status(&r, 200);
    assert_true(json_is_boolean(json_object_get(r.json, "isSuccessful")));
    assert_true(json_is_array(json_object_get(r.json, "errors")));
    json_t *j = json_incref(r.json);
    svc_reply_free(&r);
    return j;
}

/* The error entry for id, or NULL. */
static const json_t *error_for(const json_t *res, const char *field, const char *id)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(res, "errors"), i, e) {
        const char *v = json_string_value(json_object_get(e, field));
        if (v != NULL && strcmp(v, id) == 0)
            return e;
    }
    return NULL;
}

static void assert_item_error(const json_t *res, const char *field, const char *id, int code)
{
    const json_t *e = error_for(res, field, id);
    if (e == NULL)
        fail_msg("no error for %s", id);
    assert_int_equal(json_integer_value(json_object_get(e, "errorCode")), code);
    assert_non_null(json_string_value(json_object_get(e, "errorStatus")));
}

static char *etag_of(svc_fx *fx, const char *path)
{
    svc_reply r;
    svc_call(fx, DPS_HTTP_GET, path, NULL, &r);
    svc_assert_status(&r, 200);
    char *etag = strdup(svc_str(r.json, "etag"));
    svc_reply_free(&r);
    return etag;
}

static void test_create_mixed(void **state)
{
    svc_fx *fx = *state;
    json_t *j = svc_put_expect(fx, "/enrollments/dev3", "{" SYM "}", 200);
    json_decref(j);
    j = bulk(fx, "/enrollments/",
             "{\"mode\":\"Create\",\"enrollments\":["
             "{\"registrationId\":\"dev1\"," SYM "},"
             "{\"registrationId\":\"dev2\",\"attestation\":{\"type\":\"bogus\"}},"
             "{\"registrationId\":\"dev3\"," SYM "},"
             "{" SYM "}]}");
    assert_true(json_is_false(json_object_get(j, "isSuccessful")));
    assert_int_equal(json_array_size(json_object_get(j, "errors")), 3);
    assert_item_error(j, "registrationId", "dev2", 400003);
    assert_item_error(j, "registrationId", "dev3", 409201);
    assert_item_error(j, "registrationId", "", 400005);
    json_decref(j);
    svc_reply r;
    svc_call(fx, DPS_HTTP_GET, "/enrollments/dev1", NULL, &r);
    svc_assert_status(&r, 200);
    svc_reply_free(&r);
}

static void test_all_succeed_and_update(void **state)
{
    svc_fx *fx = *state;
    json_t *j = bulk(fx, "/enrollmentGroups",
                     "{\"mode\":\"create\",\"enrollmentGroups\":["
                     "{\"enrollmentGroupId\":\"g1\"," SYM "},"
                     "{\"enrollmentGroupId\":\"g2\"," SYM "}]}");
    assert_true(json_is_true(json_object_get(j, "isSuccessful")));
    assert_int_equal(json_array_size(json_object_get(j, "errors")), 0);
    json_decref(j);
    /* update: create or replace without conditions */
    j = bulk(fx, "/enrollmentGroups",
             "{\"mode\":\"UPDATE\",\"enrollmentGroups\":["
             "{\"enrollmentGroupId\":\"g1\"," SYM ",\"provisioningStatus\":\"disabled\"},"
             "{\"enrollmentGroupId\":\"g3\"," SYM "},"
             "{\"enrollmentGroupId\":\"g4\",\"attestation\":{\"type\":\"tpm\"}}]}");
    assert_true(json_is_false(json_object_get(j, "isSuccessful")));
    assert_int_equal(json_array_size(json_object_get(j, "errors")), 1);
    assert_item_error(j, "enrollmentGroupId", "g4", 400003);
    json_decref(j);
    svc_reply r;
    svc_call(fx, DPS_HTTP_GET, "/enrollmentGroups/g1", NULL, &r);
    assert_string_equal(svc_str(r.json, "provisioningStatus"), "disabled");
    svc_reply_free(&r);
}

static void test_update_if_match(void **state)
{
    svc_fx *fx = *state;
    json_t *j = svc_put_expect(fx, "/enrollments/dev1", "{" SYM "}", 200);
    json_decref(j);
    j = svc_put_expect(fx, "/enrollments/dev2", "{" SYM "}", 200);
    json_decref(j);
    char *etag = etag_of(fx, "/enrollments/dev1");
    char body[1024];
    /* Node spells the mode updateIfMatchEtag */
    snprintf(body, sizeof body,
             "{\"mode\":\"updateIfMatchEtag\",\"enrollments\":["
             "{\"registrationId\":\"dev1\",\"etag\":\"%s\"," SYM "},"
             "{\"registrationId\":\"dev2\",\"etag\":\"IjAi\"," SYM "},"
             "{\"registrationId\":\"dev9\",\"etag\":\"IjAi\"," SYM "},"
             "{\"registrationId\":\"dev2\"," SYM "}]}",
             etag);
    j = bulk(fx, "/enrollments", body);
    assert_int_equal(json_array_size(json_object_get(j, "errors")), 3);
    assert_null(error_for(j, "registrationId", "dev1"));
    assert_item_error(j, "registrationId", "dev9", 404201);
    /* both dev2 items fail with 412: stale, and no etag at all */
    size_t i, n412 = 0;
    json_t *e;
    json_array_foreach(json_object_get(j, "errors"), i, e) {
        if (json_integer_value(json_object_get(e, "errorCode")) == 412001)
            n412++;
    }
    assert_int_equal(n412, 2);
    json_decref(j);
    char *etag2 = etag_of(fx, "/enrollments/dev1");
    assert_string_not_equal(etag, etag2);
    free(etag);
    free(etag2);
}

static void test_delete_mode(void **state)
{
    svc_fx *fx = *state;
    json_t *j = svc_put_expect(fx, "/enrollments/dev1", "{" SYM "}", 200);
    json_decref(j);
    j = svc_put_expect(fx, "/enrollments/dev2", "{" SYM "}", 200);
    json_decref(j);
    j = bulk(fx, "/enrollments",
             "{\"mode\":\"DELETE\",\"enrollments\":["
             "{\"registrationId\":\"DEV1\"},"
             "{\"registrationId\":\"dev2\",\"etag\":\"IjAi\"},"
             "{\"registrationId\":\"dev7\"}]}");
    assert_int_equal(json_array_size(json_object_get(j, "errors")), 2);
    assert_item_error(j, "registrationId", "dev2", 412001);
    assert_item_error(j, "registrationId", "dev7", 404201);
    json_decref(j);
    svc_reply r;
    svc_call(fx, DPS_HTTP_GET, "/enrollments/dev1", NULL, &r);
    svc_assert_error(&r, 404, 404201);
    svc_reply_free(&r);
}

static void test_refused_requests(void **state)
{
    svc_fx *fx = *state;
    char body[4096];
    size_t n = (size_t)snprintf(body, sizeof body, "{\"mode\":\"create\",\"enrollments\":[");
    for (int i = 0; i < 11; i++)
        n += (size_t)snprintf(body + n, sizeof body - n, "%s{\"registrationId\":\"d%d\"," SYM "}",
                              i ? "," : "", i);
    snprintf(body + n, sizeof body - n, "]}");
    svc_reply r;
    svc_call(fx, DPS_HTTP_POST, "/enrollments", body, &r);
    svc_assert_error(&r, 400, 400008);
    svc_reply_free(&r);
    /* nothing was written */
    svc_call(fx, DPS_HTTP_GET, "/enrollments/d0", NULL, &r);
    svc_assert_error(&r, 404, 404201);
    svc_reply_free(&r);
    svc_call(fx, DPS_HTTP_POST, "/enrollments", "{\"mode\":\"merge\",\"enrollments\":[]}", &r);
    svc_assert_error(&r, 400, 400003);
    svc_assert_message_has(&r, "mode");
    svc_reply_free(&r);
    svc_call(fx, DPS_HTTP_POST, "/enrollments", "{\"mode\":\"create\",\"enrollmentGroups\":[]}",
             &r);
    svc_assert_error(&r, 400, 400003);
    svc_assert_message_has(&r, "enrollments");
    svc_reply_free(&r);
    svc_call(fx, DPS_HTTP_POST, "/enrollments", "{\"mode\":\"create\"", &r);
    svc_assert_error(&r, 400, 400002);
    svc_reply_free(&r);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, svc_setup, svc_teardown)
    const struct CMUnitTest tests[] = {
        T(test_create_mixed),
        T(test_all_succeed_and_update),
        T(test_update_if_match),
        T(test_delete_mode),
        T(test_refused_requests),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
