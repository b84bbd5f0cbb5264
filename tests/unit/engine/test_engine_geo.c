/* The geoLatency model (engine/geo.h) and the geoLatency policy
 * (engine/allocate.c): parsing and its refusals, where a device is (hint,
 * longest network, default), the latency estimate (configured, same
 * place, distance) and the nearest-hub choice with weighted ties. */
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "engine/allocate.h"
#include "engine/geo.h"

static const char model_text[] =
    "{\"locations\": {\"eu\": {\"latitude\": 50.1, \"longitude\": 8.7},"
    "                 \"us\": {\"latitude\": 38.9, \"longitude\": -77.0},"
    "                 \"ap\": {\"latitude\": 1.35, \"longitude\": 103.8},"
    "                 \"lab\": {}},"
    " \"networks\": {\"10.0.0.0/8\": \"us\", \"10.1.0.0/16\": \"eu\", \"192.0.2.7\": \"ap\","
    "               \"2001:db8::/32\": \"ap\"},"
    " \"latencyMs\": [{\"from\": \"lab\", \"to\": \"eu\", \"ms\": 3}],"
    " \"hintMember\": \"location\", \"defaultLocation\": \"us\", \"tieMs\": 0}";

static dps_geo_model *load(const char *text, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    assert_non_null(doc);
    dps_geo_model *m = dps_geo_parse(doc, err, errlen);
    json_decref(doc);
    return m;
}

static void test_parse_refusals(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "[]",
        "{}",
        "{\"locations\": {}}",
        "{\"locations\": {\"a\": {\"latitude\": 1}}}",
        "{\"locations\": {\"a\": {\"latitude\": 91, \"longitude\": 0}}}",
        "{\"locations\": {\"a\": {}, \"A\": {}}}",
        "{\"locations\": {\"a\": {}}, \"networks\": {\"10.0.0.0/33\": \"a\"}}",
        "{\"locations\": {\"a\": {}}, \"networks\": {\"nonsense\": \"a\"}}",
        "{\"locations\": {\"a\": {}}, \"networks\": {\"10.0.0.0/8\": \"b\"}}",
        "{\"locations\": {\"a\": {}}, \"latencyMs\": [{\"from\": \"a\", \"to\": \"b\", \"ms\": 1}]}",
        "{\"locations\": {\"a\": {}}, \"latencyMs\": [{\"from\": \"a\", \"to\": \"a\", \"ms\": -1}]}",
        "{\"locations\": {\"a\": {}}, \"defaultLocation\": \"b\"}",
        "{\"locations\": {\"a\": {}}, \"hintMember\": 3}",
        "{\"locations\": {\"a\": {}}, \"tieMs\": -2}",
        "{\"locations\": {\"a\": {}}, \"typo\": 1}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[300] = "";
        dps_geo_model *m = load(bad[i], err, sizeof err);
        if (m != NULL)
            fail_msg("accepted: %s", bad[i]);
        assert_true(err[0] != '\0');
    }
    char err[300];
    assert_null(dps_geo_load_file("/nonexistent/geo.json", err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/geo.json"));
}

static void test_locate(void **state)
{
    (void)state;
    char err[300];
    dps_geo_model *m = load(model_text, err, sizeof err);
    assert_non_null(m);
    const char *src;
    /* Longest prefix wins; a host route is a /32. */
    assert_string_equal(dps_geo_locate(m, "10.2.3.4:5000", NULL, &src), "us");
    assert_string_equal(src, "network");
    assert_string_equal(dps_geo_locate(m, "10.1.3.4:5000", NULL, &src), "eu");
    assert_string_equal(dps_geo_locate(m, "192.0.2.7:1", NULL, &src), "ap");
    assert_string_equal(dps_geo_locate(m, "[2001:db8::1]:443", NULL, &src), "ap");
    /* An IPv4 client on a dual-stack socket. */
    assert_string_equal(dps_geo_locate(m, "[::ffff:10.1.0.9]:1", NULL, &src), "eu");
    /* A bare address (the dry run's clientAddress). */
    assert_string_equal(dps_geo_locate(m, "10.1.0.9", NULL, &src), "eu");
    /* The hint names a configured location (any case); else it is ignored. */
    json_t *hint = json_pack("{s:s}", "location", "AP");
    assert_string_equal(dps_geo_locate(m, "10.1.3.4:1", hint, &src), "ap");
    assert_string_equal(src, "hint");
    json_decref(hint);
    hint = json_pack("{s:s}", "location", "mars");
    assert_string_equal(dps_geo_locate(m, "10.1.3.4:1", hint, &src), "eu");
    json_decref(hint);
    /* Nothing matches: the default. */
    assert_string_equal(dps_geo_locate(m, "172.16.0.1:1", NULL, &src), "us");
    assert_string_equal(src, "default");
    assert_string_equal(dps_geo_locate(m, "unknown", NULL, &src), "us");
    assert_null(dps_geo_locate(NULL, "10.0.0.1:1", NULL, &src));
    assert_null(src);
    dps_geo_free(&m);
    assert_null(m);
}

static void test_latency(void **state)
{
    (void)state;
    char err[300];
    dps_geo_model *m = load(model_text, err, sizeof err);
    assert_non_null(m);
    /* Frankfurt - Washington is about 6500 km: about 65 ms. */
    double fra_was = dps_geo_distance_km(50.1, 8.7, 38.9, -77.0);
    assert_true(fra_was > 6400 && fra_was < 6700);
    assert_true(fabs(dps_geo_latency_ms(m, "eu", "us") - fra_was / 100.0) < 1e-9);
    assert_true(dps_geo_latency_ms(m, "us", "eu") == dps_geo_latency_ms(m, "eu", "us"));
    assert_true(dps_geo_latency_ms(m, "eu", "EU") == 0);
    /* Configured in one direction, used in both. */
    assert_true(dps_geo_latency_ms(m, "eu", "lab") == 3);
    /* No coordinates and nothing configured: unknown. */
    assert_true(dps_geo_latency_ms(m, "lab", "us") < 0);
    assert_true(dps_geo_latency_ms(m, "eu", "mars") < 0);
    dps_geo_free(&m);
}

static int pick(const dps_geo_model *m, const char *loc, const dps_alloc_hub *hubs, size_t n,
                const char *key, dps_alloc_result *r)
{
    dps_alloc_input in = {.policy = "geoLatency",
                          .linked = hubs,
                          .nlinked = n,
                          .registration_key = key,
                          .geo = m,
                          .device_location = loc};
    return dps_allocate(&in, r);
}

static void test_geo_policy(void **state)
{
    (void)state;
    char err[300];
    dps_geo_model *m = load(model_text, err, sizeof err);
    assert_non_null(m);
    dps_alloc_hub hubs[] = {{"h-eu.example.net", 1, true, "eu"},
                            {"h-us.example.net", 1, true, "us"},
                            {"h-ap.example.net", 1, true, "ap"},
                            {"h-none.example.net", 1000, true, NULL}};
    dps_alloc_result r;
    char key[32];
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof key, "d%d", i);
        assert_int_equal(pick(m, "eu", hubs, 4, key, &r), 0);
        assert_int_equal(r.hub, 0);
        assert_int_equal(pick(m, "ap", hubs, 4, key, &r), 0);
        assert_int_equal(r.hub, 2);
        assert_int_equal(pick(m, "lab", hubs, 4, key, &r), 0); /* 3 ms to eu */
        assert_int_equal(r.hub, 0);
    }
    assert_non_null(strstr(r.detail, "nearest"));
    /* Unknown device location: weighted hash over every candidate (the
     * weight-1000 hub without a location wins nearly always). */
    int heavy = 0;
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof key, "u%d", i);
        assert_int_equal(pick(m, NULL, hubs, 4, key, &r), 0);
        heavy += r.hub == 3;
    }
    assert_true(heavy > 190);
    /* Two hubs in the same place tie: hashed by weight between them. */
    dps_alloc_hub twins[] = {{"a.example.net", 1, true, "eu"},
                             {"b.example.net", 3, true, "eu"},
                             {"c.example.net", 1000, true, "us"}};
    int count[3] = {0};
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof key, "t%d", i);
        assert_int_equal(pick(m, "eu", twins, 3, key, &r), 0);
        count[r.hub]++;
    }
    assert_int_equal(count[2], 0);
    assert_true(count[1] > 1300 && count[1] < 1700); /* about 3 in 4 */
    /* With a tie margin, us and eu tie for a device in between. */
    dps_geo_free(&m);
    m = load("{\"locations\": {\"eu\": {}, \"us\": {}, \"mid\": {}},"
             " \"latencyMs\": [{\"from\": \"mid\", \"to\": \"eu\", \"ms\": 40},"
             "                 {\"from\": \"mid\", \"to\": \"us\", \"ms\": 45}], \"tieMs\": 10}",
             err, sizeof err);
    assert_non_null(m);
    dps_alloc_hub two[] = {{"a.example.net", 1, true, "eu"}, {"b.example.net", 1, true, "us"}};
    int seen[2] = {0};
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof key, "m%d", i);
        assert_int_equal(pick(m, "mid", two, 2, key, &r), 0);
        seen[r.hub]++;
    }
    assert_true(seen[0] > 50 && seen[1] > 50);
    dps_geo_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_refusals),
        cmocka_unit_test(test_locate),
        cmocka_unit_test(test_latency),
        cmocka_unit_test(test_geo_policy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
