/* ID syntax and store keys (model/ids.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "model/ids.h"

static void test_valid_ids(void **state)
{
    (void)state;
    assert_true(dps_id_valid("a"));
    assert_true(dps_id_valid("Dev-1"));
    assert_true(dps_id_valid("site:a.b_c-d"));
    char id[130];
    memset(id, 'x', 128);
    id[128] = '\0';
    assert_true(dps_id_valid(id));
    id[128] = 'x';
    id[129] = '\0';
    assert_false(dps_id_valid(id));
    assert_false(dps_id_valid(""));
    assert_false(dps_id_valid(NULL));
    assert_false(dps_id_valid("-a"));
    assert_false(dps_id_valid("a:"));
    assert_false(dps_id_valid("_"));
    assert_false(dps_id_valid("a b"));
    assert_false(dps_id_valid("a/b"));
    assert_false(dps_id_valid("caf\xc3\xa9"));
}

static void test_keys_and_equality(void **state)
{
    (void)state;
    char key[DPS_ID_KEY_SIZE];
    assert_true(dps_id_key("Floor-3:A", key));
    assert_string_equal(key, "floor-3:a");
    assert_false(dps_id_key("bad id", key));
    assert_true(dps_id_equal("Dev1", "dEV1"));
    assert_false(dps_id_equal("dev1", "dev2"));
    assert_false(dps_id_equal(NULL, "dev2"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_ids),
        cmocka_unit_test(test_keys_and_equality),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
