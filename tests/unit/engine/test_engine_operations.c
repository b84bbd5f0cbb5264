/* The operation table and state machine (engine/operations.c), the
 * record ETag link, and the api-version table (engine/api_version.c). */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "engine/operations.h"
#include "engine/registration.h"

static void test_transitions(void **state)
{
    (void)state;
    const dps_op_state all[] = {DPS_OP_ASSIGNING, DPS_OP_ASSIGNED, DPS_OP_FAILED,
                                DPS_OP_DISABLED};
    for (size_t f = 0; f < 4; f++)
        for (size_t t = 0; t < 4; t++)
            assert_int_equal(dps_op_transition_ok(all[f], all[t]),
                             all[f] == DPS_OP_ASSIGNING && all[t] != DPS_OP_ASSIGNING);
    assert_string_equal(dps_op_state_name(DPS_OP_ASSIGNING), "assigning");
    assert_string_equal(dps_op_state_name(DPS_OP_DISABLED), "disabled");
}

static void test_ids_opaque_and_unique(void **state)
{
    (void)state;
    char seen[64][DPS_OP_ID_MAX];
    for (int i = 0; i < 64; i++) {
        dps_op *op = dps_op_new("dev", "Dev");
        assert_non_null(op);
        for (const char *p = op->id; *p; p++)
            assert_true(isalnum((unsigned char)*p) || *p == '.' || *p == '-');
        for (int j = 0; j < i; j++)
            assert_string_not_equal(seen[j], op->id);
        memcpy(seen[i], op->id, sizeof seen[i]);
        dps_op_free(op);
    }
}

static void test_table_life_cycle(void **state)
{
    (void)state;
    dps_op_table *t = dps_op_table_new();
    assert_non_null(t);
    dps_op *a = dps_op_new("dev-a", "Dev-A");
    dps_op *b = dps_op_new("dev-b", "dev-b");
    dps_op_add(t, a);
    dps_op_add(t, b);
    assert_int_equal(dps_op_count(t), 2);
    assert_ptr_equal(dps_op_find(t, a->id), a);
    assert_ptr_equal(dps_op_running(t, "dev-a"), a);
    assert_null(dps_op_find(t, "1.nothing"));

    json_t *res = json_pack("{s:s}", "status", "assigned");
    assert_int_equal(dps_op_finish(t, a, DPS_OP_ASSIGNED, res, 1000), 0);
    assert_int_equal(a->state, DPS_OP_ASSIGNED);
    assert_null(dps_op_running(t, "dev-a")); /* no longer running, still findable */
    assert_ptr_equal(dps_op_find(t, a->id), a);
    /* No way out of a final state. */
    assert_int_equal(dps_op_finish(t, a, DPS_OP_FAILED, json_object(), 1001), -1);
    assert_int_equal(a->state, DPS_OP_ASSIGNED);
    assert_int_equal(dps_op_finish(t, b, DPS_OP_ASSIGNING, json_object(), 1001), -1);

    /* Expiry: finished operations older than the TTL go; running ones stay. */
    dps_op_expire(t, 1000 + 599, 600);
    assert_int_equal(dps_op_count(t), 2);
    dps_op_expire(t, 1000 + 600, 600);
    assert_int_equal(dps_op_count(t), 1);
    assert_ptr_equal(dps_op_find(t, b->id), b);
    dps_op_expire(t, 1000000, 600);
    assert_int_equal(dps_op_count(t), 1);
    dps_op_table_free(&t);
    assert_null(t);
}

static void test_record_etag_link(void **state)
{
    (void)state;
    dps_op *op = dps_op_new("dev", "dev");
    char etag[128];
    assert_int_equal(dps_op_record_etag(op->uuid, etag, sizeof etag), 0);
    assert_true(dps_op_matches_record_etag(op->id, etag));
    dps_op *other = dps_op_new("dev", "dev");
    assert_false(dps_op_matches_record_etag(other->id, etag));
    assert_false(dps_op_matches_record_etag("garbage", etag));
    assert_false(dps_op_matches_record_etag(op->id, NULL));
    assert_false(dps_op_matches_record_etag(op->id, "IjEi"));
    dps_op_free(op);
    dps_op_free(other);
}

static void test_api_versions(void **state)
{
    (void)state;
    const char *ok[] = {"2017-08-31-preview", "2017-11-15",         "2018-04-01",
                        "2018-09-01-preview", "2019-03-31",         "2021-06-01",
                        "2021-10-01",         "2021-11-01-preview", "2025-07-01-preview",
                        "2026-04-01",         "2025-07-01-PREVIEW", "2026-11-15-preview"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        assert_true(dps_api_version_supported(ok[i], NULL, 0));
    const char *bad[] = {"2022-12-01", "2022-12-12", "", "2019-03-31 ", "latest"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(dps_api_version_supported(bad[i], NULL, 0));
    assert_false(dps_api_version_supported(NULL, NULL, 0));
    const char *extra[] = {"2016-01-01-firmware"};
    assert_true(dps_api_version_supported("2016-01-01-FIRMWARE", extra, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transitions),      cmocka_unit_test(test_ids_opaque_and_unique),
        cmocka_unit_test(test_table_life_cycle), cmocka_unit_test(test_record_etag_link),
        cmocka_unit_test(test_api_versions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
