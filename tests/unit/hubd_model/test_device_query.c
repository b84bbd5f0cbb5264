/* Registry queries (parse, WHERE, paging), the legacy list and statistics
 * (hub.md §5). */
#include "hubd_model_fixture.h"

#include "model/device_query.h"
#include "model/devices.h"
#include "model/twin.h"

static void create(hubd_ctx *ctx, const char *hub, const char *id, const char *body)
{
    json_t *b = json_loads(body, 0, NULL);
    hubd_if_match none = {.kind = HUBD_IFM_NONE};
    json_t *doc = NULL;
    bool disc = false;
    assert_int_equal(hubd_device_put(ctx, hub, id, b, &none, &doc, &disc), HUBD_OK);
    json_decref(doc);
    json_decref(b);
}

static void tag(hubd_ctx *ctx, const char *id, const char *body)
{
    json_t *b = json_loads(body, 0, NULL);
    hubd_if_match none = {.kind = HUBD_IFM_NONE};
    json_t *doc = NULL, *ch = NULL;
    int64_t v = 0;
    assert_int_equal(hubd_twin_service_write(ctx, HUB1, id, b, false, &none, &doc, &ch, &v),
                     HUBD_OK);
    json_decref(doc);
    json_decref(ch);
    json_decref(b);
}

/* Pretends devices whose ID ends in "1" are connected. */
static void fake_conn(void *arg, const char *hub, const char *id, hubd_conn_info *out)
{
    (void)arg;
    (void)hub;
    out->connected = id[strlen(id) - 1] == '1';
}

static void test_parse(void **state)
{
    (void)state;
    static const char *const good[] = {
        "SELECT * FROM devices",
        "select *   from DEVICES ",
        "SELECT * FROM devices WHERE deviceId = 'a''b'",
        "SELECT * FROM devices WHERE status = \"enabled\" AND tags.site.room != 5 AND "
        "connectionState <> 'Connected' and properties.reported.ok = true",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        hubd_query q;
        if (hubd_query_parse(good[i], &q) != 0)
            fail_msg("refused '%s': %s", good[i], hubd_last_error());
        hubd_query_free(&q);
    }
    hubd_query q;
    assert_int_equal(hubd_query_parse(good[2], &q), 0);
    assert_string_equal(json_string_value(q.conds[0].value), "a'b");
    hubd_query_free(&q);
    static const char *const bad[] = {
        "",
        "SELECT deviceId FROM devices",
        "SELECT * FROM devices.modules",
        "SELECT * FROM devices WHERE",
        "SELECT * FROM devices WHERE status = 'x' OR status = 'y'",
        "SELECT * FROM devices WHERE status > 3",
        "SELECT * FROM devices WHERE status = 'open",
        "SELECT * FROM devices WHERE tags..x = 1",
        "SELECT * FROM devices WHERE a=1 AND b=1 AND c=1 AND d=1 AND e=1 AND f=1 AND g=1 AND "
        "h=1 AND i=1",
        "SELECT * FROM devices; DROP TABLE x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (hubd_query_parse(bad[i], &q) == 0)
            fail_msg("accepted '%s'", bad[i]);
        assert_true(hubd_last_error()[0] != '\0');
        hubd_query_free(&q);
    }
}

static size_t run(hubd_ctx *ctx, const char *text, json_t **items)
{
    hubd_query q;
    assert_int_equal(hubd_query_parse(text, &q), 0);
    char *next = NULL;
    assert_int_equal(hubd_query_run(ctx, HUB1, &q, NULL, 100, fake_conn, NULL, items, &next),
                     HUBD_OK);
    assert_null(next);
    hubd_query_free(&q);
    return json_array_size(*items);
}

static void test_where(void **state)
{
    hubd_ctx *ctx = hubd_fixture_ctx(state);
    create(ctx, HUB1, "dev1", "{}");
    create(ctx, HUB1, "dev2", "{\"status\":\"disabled\"}");
    create(ctx, HUB1, "Dev3", "{}");
    create(ctx, HUB2, "dev1", "{}");
    tag(ctx, "dev1", "{\"tags\":{\"site\":\"lab\",\"floor\":2}}");
    tag(ctx, "dev2", "{\"tags\":{\"site\":\"lab\"},\"properties\":{\"desired\":{\"m\":true}}}");
    json_t *items = NULL;
    assert_int_equal(run(ctx, "SELECT * FROM devices", &items), 3);
    /* key order: byte order of IDs, twins as items */
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "deviceId")),
                        "Dev3");
    assert_non_null(json_object_get(json_array_get(items, 0), "properties"));
    json_decref(items);
    assert_int_equal(run(ctx, "SELECT * FROM devices WHERE deviceId = 'dev2'", &items), 1);
    json_decref(items);
    assert_int_equal(run(ctx, "SELECT * FROM devices WHERE deviceId = 'DEV2'", &items), 0);
    json_decref(items);
    assert_int_equal(run(ctx, "SELECT * FROM devices WHERE status = 'enabled'", &items), 2);
    json_decref(items);
    assert_int_equal(run(ctx, "SELECT * FROM devices WHERE connectionState = 'Connected'",
                         &items),
                     1);
    json_decref(items);
    assert_int_equal(run(ctx, "SELECT * FROM devices WHERE tags.site = 'lab' AND status != "
                              "'disabled'",
                         &items),
                     1);
    json_decref(items);
    assert_int_equal(run(ctx, "SELECT * FROM devices WHERE tags.floor = 2", &items), 1);
    json_decref(items);
    assert_int_equal(run(ctx, "SELECT * FROM devices WHERE properties.desired.m = true",
                         &items),
                     1);
    json_decref(items);
    /* a missing member fails = and != alike */
    assert_int_equal(run(ctx, "SELECT * FROM devices WHERE tags.site != 'x'", &items), 2);
    json_decref(items);
}

static void test_paging(void **state)
{
    hubd_ctx *ctx = hubd_fixture_ctx(state);
    char id[16];
    for (int i = 0; i < 25; i++) {
        snprintf(id, sizeof id, "d%02d", i);
        create(ctx, HUB1, id, i % 2 ? "{\"status\":\"disabled\"}" : "{}");
    }
    hubd_query q;
    assert_int_equal(hubd_query_parse("SELECT * FROM devices WHERE status = 'enabled'", &q), 0);
    size_t total = 0;
    char *after = NULL;
    int pages = 0;
    do {
        json_t *items = NULL;
        char *next = NULL;
        assert_int_equal(hubd_query_run(ctx, HUB1, &q, after, 5, NULL, NULL, &items, &next),
                         HUBD_OK);
        total += json_array_size(items);
        assert_true(json_array_size(items) <= 5);
        json_decref(items);
        free(after);
        after = next;
        pages++;
    } while (after != NULL && pages < 10);
    assert_int_equal(total, 13);
    /* 13 matches over pages of 5: 3 pages, the last without continuation */
    assert_int_equal(pages, 3);
    hubd_query_free(&q);

    json_t *list = NULL;
    assert_int_equal(hubd_device_list(ctx, HUB1, 7, fake_conn, NULL, &list), HUBD_OK);
    assert_int_equal(json_array_size(list), 7);
    assert_null(json_object_get(json_array_get(list, 0), "properties")); /* device JSON */
    json_decref(list);

    hubd_device_stats st;
    assert_int_equal(hubd_device_stats_count(ctx, HUB1, fake_conn, NULL, &st), HUBD_OK);
    assert_int_equal(st.total, 25);
    assert_int_equal(st.enabled, 13);
    assert_int_equal(st.disabled, 12);
    assert_int_equal(st.connected, 3); /* d01 d11 d21 */
    assert_int_equal(hubd_device_stats_count(ctx, HUB2, NULL, NULL, &st), HUBD_OK);
    assert_int_equal(st.total, 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, hubd_fixture_setup, hubd_fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        T(test_where),
        T(test_paging),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
