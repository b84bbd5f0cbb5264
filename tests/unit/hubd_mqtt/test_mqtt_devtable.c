/* hubd's device table (src/hubd/mqtt/devtable.c): lookup by hub (any case)
 * and device ID (exact), insertion, the entry cap, removal, growth past
 * many entries, and iteration that may remove. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mqtt/internal.h"

static void test_find_get(void **state)
{
    (void)state;
    hubd_devtable *t = hubd_devtable_new(100);
    assert_non_null(t);
    assert_null(hubd_devtable_find(t, "hub1.example.net", "dev"));

    hubd_device *d = hubd_devtable_get(t, "Hub1.Example.NET", "dev");
    assert_non_null(d);
    assert_string_equal(hubd_device_hub(d), "hub1.example.net"); /* folded */
    assert_string_equal(hubd_device_id(d), "dev");
    assert_false(d->live.connected);
    assert_null(d->conn);
    for (int k = 0; k < HUBD_SUB_KINDS; k++)
        assert_int_equal(d->sub_qos[k], -1);

    /* Same entry whatever the hub's case; get does not duplicate. */
    assert_ptr_equal(hubd_devtable_find(t, "HUB1.example.net", "dev"), d);
    assert_ptr_equal(hubd_devtable_get(t, "hub1.example.net", "dev"), d);
    assert_int_equal(hubd_devtable_count(t), 1);

    /* Device IDs are case-sensitive; hubs are separate namespaces. */
    assert_null(hubd_devtable_find(t, "hub1.example.net", "Dev"));
    hubd_device *d2 = hubd_devtable_get(t, "hub1.example.net", "Dev");
    hubd_device *d3 = hubd_devtable_get(t, "hub2.example.net", "dev");
    assert_non_null(d2);
    assert_non_null(d3);
    assert_ptr_not_equal(d2, d);
    assert_ptr_not_equal(d3, d);
    /* Hub/ID boundaries do not blur: "a"+"bc" differs from "ab"+"c". */
    hubd_device *e1 = hubd_devtable_get(t, "a", "bc");
    hubd_device *e2 = hubd_devtable_get(t, "ab", "c");
    assert_ptr_not_equal(e1, e2);
    assert_int_equal(hubd_devtable_count(t), 5);

    hubd_devtable_remove(t, d2);
    assert_null(hubd_devtable_find(t, "hub1.example.net", "Dev"));
    assert_ptr_equal(hubd_devtable_find(t, "hub1.example.net", "dev"), d);
    assert_int_equal(hubd_devtable_count(t), 4);
    hubd_devtable_free(&t);
    assert_null(t);
}

static void test_caps(void **state)
{
    (void)state;
    hubd_devtable *t = hubd_devtable_new(2);
    assert_non_null(hubd_devtable_get(t, "h", "a"));
    assert_non_null(hubd_devtable_get(t, "h", "b"));
    assert_null(hubd_devtable_get(t, "h", "c"));      /* full */
    assert_non_null(hubd_devtable_get(t, "h", "a"));  /* existing still found */
    hubd_devtable_free(&t);

    t = hubd_devtable_new(10);
    char big[300];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_null(hubd_devtable_get(t, "h", big));  /* ID over 257 bytes */
    assert_null(hubd_devtable_get(t, big, "d"));  /* hub over 253 bytes */
    assert_null(hubd_devtable_get(t, "", "d"));
    assert_null(hubd_devtable_get(t, "h", ""));
    big[257] = '\0';
    assert_non_null(hubd_devtable_get(t, "h", big)); /* deviceId/moduleId at the limit */
    hubd_devtable_free(&t);
}

static void test_many(void **state)
{
    (void)state;
    enum { N = 20000 };
    hubd_devtable *t = hubd_devtable_new(N);
    char id[32];
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "device-%d", i);
        hubd_device *d = hubd_devtable_get(t, i % 2 ? "hub1" : "hub2", id);
        assert_non_null(d);
        d->live.last_activity_ns = i;
    }
    assert_int_equal(hubd_devtable_count(t), N);
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "device-%d", i);
        hubd_device *d = hubd_devtable_find(t, i % 2 ? "HUB1" : "HUB2", id);
        assert_non_null(d);
        assert_int_equal(d->live.last_activity_ns, i);
        assert_null(hubd_devtable_find(t, i % 2 ? "hub2" : "hub1", id));
    }
    hubd_devtable_free(&t);
}

static void remove_odd(hubd_device *d, void *arg)
{
    hubd_devtable *t = arg;
    if (d->live.last_activity_ns % 2 == 1)
        hubd_devtable_remove(t, d);
}

static void count_each(hubd_device *d, void *arg)
{
    (void)d;
    (*(size_t *)arg)++;
}

static void test_each_may_remove(void **state)
{
    (void)state;
    hubd_devtable *t = hubd_devtable_new(1000);
    char id[32];
    for (int i = 0; i < 500; i++) {
        snprintf(id, sizeof id, "d%d", i);
        hubd_devtable_get(t, "h", id)->live.last_activity_ns = i;
    }
    hubd_devtable_each(t, remove_odd, t);
    assert_int_equal(hubd_devtable_count(t), 250);
    size_t seen = 0;
    hubd_devtable_each(t, count_each, &seen);
    assert_int_equal(seen, 250);
    assert_non_null(hubd_devtable_find(t, "h", "d2"));
    assert_null(hubd_devtable_find(t, "h", "d3"));
    hubd_devtable_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find_get),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_many),
        cmocka_unit_test(test_each_may_remove),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
