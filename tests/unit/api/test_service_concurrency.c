/* Two writers of one record: the API's read-then-write is conditional on
 * the version read, so a writer that slips in between makes the request
 * fail (412 / 409) instead of being silently overwritten. The interleaving
 * is forced with a store wrapper whose put lets a "concurrent writer" in
 * first. */
#include "service_fixture.h"

typedef struct {
    dps_store base;
    dps_store *inner;
    bool armed; /* the next put is preceded by a competing write */
} race_store;

static dps_store_result race_get(dps_store *s, dps_collection c, const char *key,
                                 dps_record *out)
{
    return dps_store_get(((race_store *)s)->inner, c, key, out);
}

static dps_store_result race_put(dps_store *s, dps_collection c, const dps_record *rec,
                                 dps_put_mode mode, const char *expected)
{
    race_store *rs = (race_store *)s;
    if (rs->armed && c == DPS_COLL_ENROLLMENT) {
        rs->armed = false;
        dps_record other = {.key = rec->key,
                            .doc = "{\"registrationId\":\"dev1\",\"attestation\":{\"type\":\"none\"}}",
                            .etag = "ImNvbmN1cnJlbnQi", .group = NULL};
        assert_int_equal(dps_store_put(rs->inner, c, &other, DPS_PUT_UPSERT, NULL), DPS_STORE_OK);
    }
    return dps_store_put(rs->inner, c, rec, mode, expected);
}

static dps_store_result race_del(dps_store *s, dps_collection c, const char *key,
                                 const char *expected)
{
    return dps_store_delete(((race_store *)s)->inner, c, key, expected);
}

static dps_store_result race_list(dps_store *s, dps_collection c, const char *group,
                                  const char *after, size_t limit, dps_record_list *out)
{
    return dps_store_list(((race_store *)s)->inner, c, group, after, limit, out);
}

static dps_store_result race_count(dps_store *s, dps_collection c, size_t *out)
{
    return dps_store_count(((race_store *)s)->inner, c, out);
}

static dps_store_result race_meta_get(dps_store *s, const char *name, char **value)
{
    return dps_store_meta_get(((race_store *)s)->inner, name, value);
}

static dps_store_result race_meta_set(dps_store *s, const char *name, const char *value)
{
    return dps_store_meta_set(((race_store *)s)->inner, name, value);
}

static void race_close(dps_store *s)
{
    race_store *rs = (race_store *)s;
    dps_store_close(&rs->inner);
    free(rs);
}

static const dps_store_ops race_ops = {
    .name = "race",
    .get = race_get,
    .put = race_put,
    .del = race_del,
    .list = race_list,
    .count = race_count,
    .meta_get = race_meta_get,
    .meta_set = race_meta_set,
    .close = race_close,
};

static int race_setup(void **state)
{
    int rc = svc_setup(state);
    svc_fx *fx = *state;
    race_store *rs = calloc(1, sizeof *rs);
    assert_non_null(rs);
    rs->base.ops = &race_ops;
    rs->inner = fx->ctx.store;
    fx->ctx.store = &rs->base;
    return rc;
}

static void arm(svc_fx *fx)
{
    ((race_store *)fx->ctx.store)->armed = true;
}

static void test_replace_loses_to_concurrent_writer(void **state)
{
    svc_fx *fx = *state;
    json_t *j = svc_put_expect(fx, "/enrollments/dev1",
                               "{\"attestation\":{\"type\":\"symmetricKey\"}}", 200);
    json_decref(j);
    arm(fx);
    const char *star[] = {"If-Match", "*", NULL};
    svc_reply r;
    svc_callv(fx, DPS_HTTP_PUT, "/enrollments/dev1",
              "{\"attestation\":{\"type\":\"symmetricKey\"}}", star, &r);
    svc_assert_error(&r, 412, 412001);
    svc_reply_free(&r);
    /* the concurrent writer's version survived */
    svc_call(fx, DPS_HTTP_GET, "/enrollments/dev1", NULL, &r);
    svc_assert_status(&r, 200);
    assert_string_equal(svc_str(r.json, "etag"), "ImNvbmN1cnJlbnQi");
    assert_string_equal(svc_str(r.json, "attestation.type"), "none");
    svc_reply_free(&r);
}

static void test_create_loses_to_concurrent_creator(void **state)
{
    svc_fx *fx = *state;
    arm(fx);
    const char *star[] = {"If-Match", "*", NULL};
    svc_reply r;
    svc_callv(fx, DPS_HTTP_PUT, "/enrollments/dev1",
              "{\"attestation\":{\"type\":\"symmetricKey\"}}", star, &r);
    svc_assert_error(&r, 409, 409201);
    svc_reply_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_replace_loses_to_concurrent_writer, race_setup,
                                        svc_teardown),
        cmocka_unit_test_setup_teardown(test_create_loses_to_concurrent_creator, race_setup,
                                        svc_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
