/* Twins: merge with null deletes, $version and $metadata, limits, the
 * service PATCH / PUT with If-Match, the device's reported patch and twin
 * GET (hub.md §7.1, §8.3). */
#include "hubd_model_fixture.h"

#include "model/devices.h"
#include "model/twin.h"

static void create(hubd_ctx *ctx, const char *id)
{
    json_t *b = json_object();
    hubd_if_match none = {.kind = HUBD_IFM_NONE};
    json_t *doc = NULL;
    bool disc = false;
    assert_int_equal(hubd_device_put(ctx, HUB1, id, b, &none, &doc, &disc), HUBD_OK);
    json_decref(doc);
    json_decref(b);
}

/* Service write; returns the twin JSON (or NULL when want is not OK). */
static json_t *svc(hubd_ctx *ctx, const char *id, const char *body, bool replace,
                   const char *etag, hubd_result want, json_t **change, int64_t *version)
{
    json_t *b = json_loads(body, 0, NULL);
    assert_non_null(b);
    hubd_if_match im = {.kind = etag ? HUBD_IFM_ETAG : HUBD_IFM_NONE};
    if (etag != NULL)
        snprintf(im.etag, sizeof im.etag, "%s", etag);
    json_t *doc = NULL, *ch = NULL;
    int64_t v = 0;
    hubd_result hr = hubd_twin_service_write(ctx, HUB1, id, b, replace, &im, &doc, &ch, &v);
    json_decref(b);
    if (hr != want)
        fail_msg("twin write: got %d want %d (%s)", hr, want, hubd_last_error());
    if (change != NULL)
        *change = ch;
    else
        json_decref(ch);
    if (version != NULL)
        *version = v;
    if (doc == NULL)
        return NULL;
    hubd_conn_info ci = {0};
    json_t *twin = hubd_twin_present(doc, &ci);
    json_decref(doc);
    return twin;
}

static const json_t *desired_of(const json_t *twin)
{
    return json_object_get(json_object_get(twin, "properties"), "desired");
}

static void test_new_twin(void **state)
{
    hubd_ctx *ctx = hubd_fixture_ctx(state);
    create(ctx, "t1");
    json_t *props = NULL;
    assert_int_equal(hubd_twin_get_properties(ctx, HUB1, "t1", &props), HUBD_OK);
    json_t *want = json_loads("{\"desired\":{\"$version\":1},\"reported\":{\"$version\":1}}", 0,
                              NULL);
    assert_true(json_equal(props, want));
    json_decref(want);
    json_decref(props);
    assert_int_equal(hubd_twin_get_properties(ctx, HUB1, "nobody", &props), HUBD_NOT_FOUND);
}

static void test_patch_merge(void **state)
{
    hubd_ctx *ctx = hubd_fixture_ctx(state);
    create(ctx, "t1");
    json_t *change = NULL;
    int64_t v = 0;
    json_t *twin = svc(ctx, "t1",
                       "{\"tags\":{\"site\":\"lab\",\"rack\":{\"row\":1}},\"properties\":"
                       "{\"desired\":{\"cfg\":{\"rate\":30,\"mode\":\"eco\"},\"fw\":\"1.0\"}}}",
                       false, NULL, HUBD_OK, &change, &v);
    assert_int_equal(v, 2);
    assert_int_equal(json_integer_value(json_object_get(desired_of(twin), "$version")), 2);
    assert_int_equal(json_integer_value(json_object_get(twin, "version")), 2);
    json_t *want = json_loads("{\"cfg\":{\"rate\":30,\"mode\":\"eco\"},\"fw\":\"1.0\"}", 0, NULL);
    assert_true(json_equal(change, want));
    json_decref(want);
    json_decref(change);
    /* metadata per node, with the version on desired */
    const json_t *meta = json_object_get(desired_of(twin), "$metadata");
    assert_non_null(json_object_get(meta, "$lastUpdated"));
    assert_int_equal(json_integer_value(json_object_get(meta, "$lastUpdatedVersion")), 2);
    const json_t *rate_meta = json_object_get(json_object_get(meta, "cfg"), "rate");
    assert_int_equal(json_integer_value(json_object_get(rate_meta, "$lastUpdatedVersion")), 2);
    char etag[HUBD_ETAG_SIZE];
    snprintf(etag, sizeof etag, "%s", json_string_value(json_object_get(twin, "etag")));
    json_decref(twin);

    /* null deletes (nested too); other members stay; the notified change
     * keeps the nulls */
    twin = svc(ctx, "t1",
               "{\"tags\":{\"rack\":null},\"properties\":{\"desired\":{\"cfg\":{\"mode\":null,"
               "\"burst\":true},\"fw\":null}}}",
               false, etag, HUBD_OK, &change, &v);
    assert_int_equal(v, 3);
    want = json_loads("{\"cfg\":{\"mode\":null,\"burst\":true},\"fw\":null}", 0, NULL);
    assert_true(json_equal(change, want));
    json_decref(want);
    json_decref(change);
    const json_t *d = desired_of(twin);
    assert_null(json_object_get(d, "fw"));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(d, "cfg"), "rate")), 30);
    assert_null(json_object_get(json_object_get(d, "cfg"), "mode"));
    meta = json_object_get(d, "$metadata");
    assert_null(json_object_get(meta, "fw"));
    assert_null(json_object_get(json_object_get(meta, "cfg"), "mode"));
    /* untouched node keeps its older version stamp, touched parent is new */
    rate_meta = json_object_get(json_object_get(meta, "cfg"), "rate");
    assert_int_equal(json_integer_value(json_object_get(rate_meta, "$lastUpdatedVersion")), 2);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(meta, "cfg"),
                                                        "$lastUpdatedVersion")),
                     3);
    const json_t *tags = json_object_get(twin, "tags");
    assert_null(json_object_get(tags, "rack"));
    assert_string_equal(json_string_value(json_object_get(tags, "site")), "lab");
    /* the twin ETag moved; the old one is now stale */
    assert_string_not_equal(json_string_value(json_object_get(twin, "etag")), etag);
    json_decref(twin);
    assert_null(svc(ctx, "t1", "{\"tags\":{\"x\":1}}", false, etag, HUBD_PRECONDITION, NULL,
                    NULL));
    /* tags only: no desired change to notify */
    twin = svc(ctx, "t1", "{\"tags\":{\"x\":1}}", false, NULL, HUBD_OK, &change, &v);
    assert_null(change);
    json_decref(twin);
    assert_null(svc(ctx, "nobody", "{\"tags\":{}}", false, NULL, HUBD_NOT_FOUND, NULL, NULL));
}

static void test_put_replaces(void **state)
{
    hubd_ctx *ctx = hubd_fixture_ctx(state);
    create(ctx, "t2");
    json_decref(svc(ctx, "t2", "{\"tags\":{\"a\":1},\"properties\":{\"desired\":{\"x\":1}}}",
                    false, NULL, HUBD_OK, NULL, NULL));
    json_t *change = NULL;
    int64_t v = 0;
    /* a twin read back carries $metadata/$version and reported: accepted */
    json_t *twin = svc(ctx, "t2",
                       "{\"deviceId\":\"t2\",\"tags\":{\"b\":2},\"properties\":{\"desired\":"
                       "{\"y\":2,\"$version\":7,\"$metadata\":{}},\"reported\":{\"$version\":1}}}",
                       true, NULL, HUBD_OK, &change, &v);
    assert_int_equal(v, 3);
    json_t *want = json_loads("{\"y\":2}", 0, NULL);
    assert_true(json_equal(change, want));
    json_decref(want);
    json_decref(change);
    assert_null(json_object_get(json_object_get(twin, "tags"), "a"));
    assert_null(json_object_get(desired_of(twin), "x"));
    assert_int_equal(json_integer_value(json_object_get(desired_of(twin), "y")), 2);
    assert_null(json_object_get(json_object_get(desired_of(twin), "$metadata"), "x"));
    json_decref(twin);
}

static void test_limits(void **state)
{
    hubd_ctx *ctx = hubd_fixture_ctx(state);
    create(ctx, "t3");
    static const char *const bad[] = {
        "{\"properties\":{\"desired\":{\"a.b\":1}}}",
        "{\"properties\":{\"desired\":{\"a b\":1}}}",
        "{\"tags\":{\"$x\":1}}",
        "{\"properties\":{\"desired\":{\"arr\":[1,2]}}}",
        "{\"properties\":{\"desired\":{\"big\":4503599627370496}}}",
        "{\"properties\":{\"reported\":{\"fw\":\"2\"}}}",
        "{\"properties\":{\"desired\":{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":"
        "{\"i\":{\"j\":{\"k\":1}}}}}}}}}}}}}",
        "{\"tags\":5}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_null(svc(ctx, "t3", bad[i], false, NULL, HUBD_INVALID, NULL, NULL));
    /* ten levels are fine */
    json_decref(svc(ctx, "t3",
                    "{\"properties\":{\"desired\":{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":"
                    "{\"g\":{\"h\":{\"i\":{\"j\":1}}}}}}}}}}}}",
                    false, NULL, HUBD_OK, NULL, NULL));
    /* long strings and total size */
    char *body = malloc(40000);
    char *s = malloc(4200);
    memset(s, 'v', 4097);
    s[4097] = '\0';
    snprintf(body, 40000, "{\"properties\":{\"desired\":{\"s\":\"%s\"}}}", s);
    assert_null(svc(ctx, "t3", body, false, NULL, HUBD_INVALID, NULL, NULL));
    s[4090] = '\0';
    for (int i = 0; i < 8; i++) {
        snprintf(body, 40000, "{\"properties\":{\"desired\":{\"k%d\":\"%s\"}}}", i, s);
        json_decref(svc(ctx, "t3", body, false, NULL, i < 7 ? HUBD_OK : HUBD_INVALID, NULL,
                        NULL));
    }
    snprintf(body, 40000, "{\"tags\":{\"a\":\"%s\",\"b\":\"%s\",\"c\":\"%s\"}}", s, s, s);
    assert_null(svc(ctx, "t3", body, false, NULL, HUBD_INVALID, NULL, NULL));
    free(s);
    free(body);
}

static void test_reported(void **state)
{
    hubd_ctx *ctx = hubd_fixture_ctx(state);
    create(ctx, "t4");
    json_t *patch = json_loads("{\"fw\":\"2.4.1\",\"net\":{\"rssi\":-60}}", 0, NULL);
    int64_t v = 0;
    assert_int_equal(hubd_twin_patch_reported(ctx, HUB1, "t4", patch, &v), HUBD_OK);
    assert_int_equal(v, 2);
    json_decref(patch);
    patch = json_loads("{\"net\":null}", 0, NULL);
    assert_int_equal(hubd_twin_patch_reported(ctx, HUB1, "t4", patch, &v), HUBD_OK);
    assert_int_equal(v, 3);
    json_decref(patch);
    patch = json_loads("{\"bad.key\":1}", 0, NULL);
    assert_int_equal(hubd_twin_patch_reported(ctx, HUB1, "t4", patch, &v), HUBD_INVALID);
    json_decref(patch);
    patch = json_loads("{\"a\":1}", 0, NULL);
    assert_int_equal(hubd_twin_patch_reported(ctx, HUB1, "nobody", patch, &v), HUBD_NOT_FOUND);
    json_decref(patch);

    json_t *props = NULL;
    assert_int_equal(hubd_twin_get_properties(ctx, HUB1, "t4", &props), HUBD_OK);
    json_t *want = json_loads("{\"desired\":{\"$version\":1},\"reported\":{\"fw\":\"2.4.1\","
                              "\"$version\":3}}",
                              0, NULL);
    assert_true(json_equal(props, want));
    json_decref(want);
    json_decref(props);

    /* reported writes leave the twin ETag alone but bump the twin version;
     * reported $metadata has no $lastUpdatedVersion */
    json_t *doc = NULL;
    assert_int_equal(hubd_device_load(ctx, HUB1, "t4", &doc, NULL), HUBD_OK);
    hubd_conn_info ci = {0};
    json_t *twin = hubd_twin_present(doc, &ci);
    assert_int_equal(json_integer_value(json_object_get(twin, "version")), 3);
    const json_t *rmeta = json_object_get(
        json_object_get(json_object_get(twin, "properties"), "reported"), "$metadata");
    assert_non_null(json_object_get(json_object_get(rmeta, "fw"), "$lastUpdated"));
    assert_null(json_object_get(json_object_get(rmeta, "fw"), "$lastUpdatedVersion"));
    assert_string_equal(json_string_value(json_object_get(twin, "deviceEtag")),
                        json_string_value(json_object_get(doc, "etag")));
    assert_string_equal(json_string_value(json_object_get(twin, "authenticationType")), "sas");
    json_decref(twin);
    json_decref(doc);
}

#define T(f) cmocka_unit_test_setup_teardown(f, hubd_fixture_setup, hubd_fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_new_twin), T(test_patch_merge), T(test_put_replaces), T(test_limits),
        T(test_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
