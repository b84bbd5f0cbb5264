/* ETag and If-Match rules of PUT and DELETE (service-api.md §4). */
#include "service_fixture.h"

#include "api/etag.h"

#define SYM_BODY "{\"registrationId\":\"dev1\",\"attestation\":{\"type\":\"symmetricKey\"}}"
#define GROUP_BODY "{\"enrollmentGroupId\":\"g1\",\"attestation\":{\"type\":\"symmetricKey\"}}"

static void test_if_match_parse(void **state)
{
    (void)state;
    dps_if_match im;
    assert_int_equal(dps_if_match_parse(NULL, &im), 0);
    assert_int_equal(im.kind, DPS_IFM_NONE);
    assert_int_equal(dps_if_match_parse("  ", &im), 0);
    assert_int_equal(im.kind, DPS_IFM_NONE);
    assert_int_equal(dps_if_match_parse("*", &im), 0);
    assert_int_equal(im.kind, DPS_IFM_ANY);
    assert_int_equal(dps_if_match_parse("\"abc=\"", &im), 0);
    assert_int_equal(im.kind, DPS_IFM_ETAG);
    assert_string_equal(im.etag, "abc=");
    assert_int_equal(dps_if_match_parse("W/\"abc=\"", &im), 0);
    assert_string_equal(im.etag, "abc=");
    assert_int_equal(dps_if_match_parse("abc=", &im), 0);
    assert_string_equal(im.etag, "abc=");
    char longv[300];
    memset(longv, 'a', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    assert_int_equal(dps_if_match_parse(longv, &im), -1);
    assert_int_equal(dps_if_match_parse("\"\"", &im), -1);
}

static void test_new_etag_shape(void **state)
{
    (void)state;
    char a[DPS_ETAG_MAX], b[DPS_ETAG_MAX];
    assert_int_equal(dps_etag_new(a), 0);
    assert_int_equal(dps_etag_new(b), 0);
    assert_string_not_equal(a, b);
    /* base64 of a quoted UUID: 38 bytes → 52 characters */
    assert_int_equal(strlen(a), 52);
    uint8_t *raw = NULL;
    size_t len = 0;
    assert_int_equal(dps_b64_decode(a, strlen(a), &raw, &len), 0);
    assert_int_equal(len, 38);
    assert_int_equal(raw[0], '"');
    assert_int_equal(raw[37], '"');
    assert_int_equal(raw[15], '4'); /* "xxxxxxxx-xxxx-4xxx-...": a version 4 UUID */
    free(raw);
}

static void test_create_only(void **state)
{
    svc_fx *fx = *state;
    json_t *j = svc_put_expect(fx, "/enrollments/dev1", SYM_BODY, 200);
    json_decref(j);
    svc_reply r;
    svc_call(fx, DPS_HTTP_PUT, "/enrollments/dev1", SYM_BODY, &r);
    svc_assert_error(&r, 409, 409201);
    svc_reply_free(&r);
    /* same for groups, and the ID is compared without regard to case */
    j = svc_put_expect(fx, "/enrollmentGroups/g1", GROUP_BODY, 200);
    json_decref(j);
    svc_call(fx, DPS_HTTP_PUT, "/enrollmentGroups/G1", GROUP_BODY, &r);
    svc_assert_error(&r, 409, 409201);
    svc_reply_free(&r);
}

static void test_star_creates_and_replaces(void **state)
{
    svc_fx *fx = *state;
    const char *star[] = {"If-Match", "*", NULL};
    svc_reply r;
    svc_callv(fx, DPS_HTTP_PUT, "/enrollments/dev1", SYM_BODY, star, &r);
    svc_assert_status(&r, 200);
    char etag1[DPS_ETAG_MAX];
    snprintf(etag1, sizeof etag1, "%s", json_string_value(json_object_get(r.json, "etag")));
    char created[64];
    snprintf(created, sizeof created, "%s", svc_str(r.json, "createdDateTimeUtc"));
    svc_reply_free(&r);
    svc_callv(fx, DPS_HTTP_PUT, "/enrollments/dev1", SYM_BODY, star, &r);
    svc_assert_status(&r, 200);
    /* a new ETag on every write; the creation time stays */
    assert_string_not_equal(svc_str(r.json, "etag"), etag1);
    assert_string_equal(svc_str(r.json, "createdDateTimeUtc"), created);
    assert_non_null(svc_str(r.json, "lastUpdatedDateTimeUtc"));
    svc_reply_free(&r);
}

static void test_etag_match_and_stale(void **state)
{
    svc_fx *fx = *state;
    json_t *j = svc_put_expect(fx, "/enrollments/dev1", SYM_BODY, 200);
    char etag[DPS_ETAG_MAX], quoted[DPS_ETAG_MAX + 8];
    snprintf(etag, sizeof etag, "%s", svc_str(j, "etag"));
    json_decref(j);
    /* C# quotes the value; W/ is also stripped */
    snprintf(quoted, sizeof quoted, "W/\"%s\"", etag);
    const char *h1[] = {"If-Match", quoted, NULL};
    svc_reply r;
    svc_callv(fx, DPS_HTTP_PUT, "/enrollments/dev1", SYM_BODY, h1, &r);
    svc_assert_status(&r, 200);
    svc_reply_free(&r);
    /* the first ETag is stale now */
    const char *h2[] = {"If-Match", etag, NULL};
    svc_callv(fx, DPS_HTTP_PUT, "/enrollments/dev1", SYM_BODY, h2, &r);
    svc_assert_error(&r, 412, 412001);
    svc_reply_free(&r);
    /* a concrete ETag on a missing record: 412 */
    svc_callv(fx, DPS_HTTP_PUT, "/enrollments/dev2",
              "{\"attestation\":{\"type\":\"symmetricKey\"}}", h2, &r);
    svc_assert_error(&r, 412, 412001);
    svc_reply_free(&r);
}

static void test_delete_rules(void **state)
{
    svc_fx *fx = *state;
    json_t *j = svc_put_expect(fx, "/enrollments/dev1", SYM_BODY, 200);
    char etag[DPS_ETAG_MAX];
    snprintf(etag, sizeof etag, "%s", svc_str(j, "etag"));
    json_decref(j);
    svc_reply r;
    const char *stale[] = {"If-Match", "\"IjAwMCI=\"", NULL};
    svc_callv(fx, DPS_HTTP_DELETE, "/enrollments/dev1", NULL, stale, &r);
    svc_assert_error(&r, 412, 412001);
    svc_reply_free(&r);
    const char *good[] = {"If-Match", etag, NULL};
    svc_callv(fx, DPS_HTTP_DELETE, "/enrollments/DEV1", NULL, good, &r);
    svc_assert_status(&r, 204);
    assert_null(r.res.body);
    svc_reply_free(&r);
    svc_call(fx, DPS_HTTP_DELETE, "/enrollments/dev1", NULL, &r);
    svc_assert_error(&r, 404, 404201);
    svc_reply_free(&r);
    /* without If-Match: unconditional */
    j = svc_put_expect(fx, "/enrollmentGroups/g1", GROUP_BODY, 200);
    json_decref(j);
    svc_call(fx, DPS_HTTP_DELETE, "/enrollmentGroups/g1", NULL, &r);
    svc_assert_status(&r, 204);
    svc_reply_free(&r);
    svc_call(fx, DPS_HTTP_GET, "/enrollmentGroups/g1", NULL, &r);
    svc_assert_error(&r, 404, 404201);
    svc_reply_free(&r);
}

static void test_get_returns_current_etag(void **state)
{
    svc_fx *fx = *state;
    json_t *j = svc_put_expect(fx, "/enrollments/dev1", SYM_BODY, 200);
    svc_reply r;
    svc_call(fx, DPS_HTTP_GET, "/enrollments/dev1", NULL, &r);
    svc_assert_status(&r, 200);
    assert_string_equal(svc_str(r.json, "etag"), svc_str(j, "etag"));
    svc_reply_free(&r);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_if_match_parse),
        cmocka_unit_test(test_new_etag_shape),
        cmocka_unit_test_setup_teardown(test_create_only, svc_setup, svc_teardown),
        cmocka_unit_test_setup_teardown(test_star_creates_and_replaces, svc_setup, svc_teardown),
        cmocka_unit_test_setup_teardown(test_etag_match_and_stale, svc_setup, svc_teardown),
        cmocka_unit_test_setup_teardown(test_delete_rules, svc_setup, svc_teardown),
        cmocka_unit_test_setup_teardown(test_get_returns_current_etag, svc_setup, svc_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
