/* Query and paging (service-api.md §5). */
#include "service_fixture.h"

static void make_enrollments(svc_fx *fx, const char *prefix, int n)
{
    for (int i = 0; i < n; i++) {
        char path[64];
        snprintf(path, sizeof path, "/%s/dev-%02d", prefix, i);
        json_t *j = svc_put_expect(fx, path, "{\"attestation\":{\"type\":\"symmetricKey\"}}", 200);
        json_decref(j);
    }
}

/* One page: returns the number of items, copies the continuation (or ""). */
static size_t query_page(svc_fx *fx, const char *path, const char *body, const char *count,
                         const char *token, const char *item_type, char *next, size_t nextlen)
{
    const char *h[] = {"x-ms-max-item-count", count, "x-ms-continuation", token, NULL};
    svc_reply r;
    svc_callv(fx, DPS_HTTP_POST, path, body, h, &r);
    svc_assert_status(&r, 200);
    assert_true(json_is_array(r.json));
    assert_non_null(svc_header(&r, "x-ms-item-type"));
    assert_string_equal(svc_header(&r, "x-ms-item-type"), item_type);
    assert_string_equal(svc_header(&r, "x-ms-max-item-count"), count ? count : "100");
    const char *cont = svc_header(&r, "x-ms-continuation");
    if (cont != NULL)
        assert_true(cont[0] != '\0'); /* never empty */
    snprintf(next, nextlen, "%s", cont ? cont : "");
    size_t n = json_array_size(r.json);
    svc_reply_free(&r);
    return n;
}

static void test_paging(void **state)
{
    svc_fx *fx = *state;
    make_enrollments(fx, "enrollments", 5);
    char tok[256], tok2[256];
    const char *body = "{\"query\":\"SELECT * FROM enrollments\"}";
    assert_int_equal(query_page(fx, "/enrollments/query", body, "2", NULL, "Enrollment", tok,
                                sizeof tok),
                     2);
    assert_true(tok[0] != '\0');
    assert_int_equal(query_page(fx, "/enrollments/query", body, "2", tok, "Enrollment", tok2,
                                sizeof tok2),
                     2);
    assert_true(tok2[0] != '\0');
    assert_int_equal(query_page(fx, "/enrollments/query", body, "2", tok2, "Enrollment", tok,
                                sizeof tok),
                     1);
    assert_string_equal(tok, ""); /* last page: no continuation */
    /* default page size, everything in one page */
    assert_int_equal(query_page(fx, "/enrollments/query", body, NULL, NULL, "Enrollment", tok,
                                sizeof tok),
                     5);
    assert_string_equal(tok, "");
}

static void test_page_boundaries(void **state)
{
    svc_fx *fx = *state;
    make_enrollments(fx, "enrollmentGroups", 4);
    char tok[256], tok2[256];
    /* four records in pages of two: the second page is the last */
    assert_int_equal(query_page(fx, "/enrollmentGroups/query", "{\"query\":\"*\"}", "2", NULL,
                                "EnrollmentGroup", tok, sizeof tok),
                     2);
    assert_int_equal(query_page(fx, "/enrollmentGroups/query", "{\"query\":\"*\"}", "2", tok,
                                "EnrollmentGroup", tok2, sizeof tok2),
                     2);
    assert_string_equal(tok2, "");
    /* an empty collection gives an empty array */
    assert_int_equal(query_page(fx, "/enrollments/query", NULL, "10", NULL, "Enrollment", tok,
                                sizeof tok),
                     0);
    /* the page size is capped at 1000 */
    const char *h[] = {"x-ms-max-item-count", "5000", NULL};
    svc_reply r;
    svc_callv(fx, DPS_HTTP_POST, "/enrollmentGroups/query", "{\"query\":\"*\"}", h, &r);
    svc_assert_status(&r, 200);
    assert_string_equal(svc_header(&r, "x-ms-max-item-count"), "1000");
    svc_reply_free(&r);
}

static void test_bad_paging_input(void **state)
{
    svc_fx *fx = *state;
    svc_reply r;
    const char *h1[] = {"x-ms-max-item-count", "ten", NULL};
    svc_callv(fx, DPS_HTTP_POST, "/enrollments/query", "{}", h1, &r);
    svc_assert_error(&r, 400, 400001);
    svc_reply_free(&r);
    const char *h2[] = {"x-ms-max-item-count", "0", NULL};
    svc_callv(fx, DPS_HTTP_POST, "/enrollments/query", "{}", h2, &r);
    svc_assert_error(&r, 400, 400001);
    svc_reply_free(&r);
    const char *h3[] = {"x-ms-continuation", "%%%", NULL};
    svc_callv(fx, DPS_HTTP_POST, "/enrollments/query", "{}", h3, &r);
    svc_assert_error(&r, 400, 400001);
    svc_reply_free(&r);
    /* base64 of something that is not a key */
    const char *h4[] = {"x-ms-continuation", "Li4vZXRj", NULL};
    svc_callv(fx, DPS_HTTP_POST, "/enrollments/query", "{}", h4, &r);
    svc_assert_error(&r, 400, 400001);
    svc_reply_free(&r);
    svc_call(fx, DPS_HTTP_POST, "/enrollments/query", "{\"query\":5}", &r);
    svc_assert_error(&r, 400, 400003);
    svc_reply_free(&r);
    svc_call(fx, DPS_HTTP_POST, "/enrollments/query", "SELECT *", &r);
    svc_assert_error(&r, 400, 400002);
    svc_reply_free(&r);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, svc_setup, svc_teardown)
    const struct CMUnitTest tests[] = {
        T(test_paging),
        T(test_page_boundaries),
        T(test_bad_paging_input),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
