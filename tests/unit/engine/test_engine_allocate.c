/* Allocation (engine/allocate.c): the weighted rendezvous formula of
 * service-api.md §12.3 against values computed independently (Python),
 * determinism, proportions over 10k IDs, the candidate set rules and the
 * policy table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>

#include "engine/allocate.h"
#include "engine/registration.h"

#define H1 "hub1.example.net"
#define H2 "hub2.example.net"
#define H3 "hub3.example.net"

static int pick(const char *policy, const dps_alloc_hub *hubs, size_t n, const char *const *listed,
                size_t nlisted, const char *key, dps_alloc_result *out)
{
    dps_alloc_input in = {.policy = policy,
                          .listed = listed,
                          .nlisted = nlisted,
                          .linked = hubs,
                          .nlinked = n,
                          .registration_key = key};
    return dps_allocate(&in, out);
}

/* Scores computed with Python's hashlib/math from the published formula. */
static void test_score_matches_reference(void **state)
{
    (void)state;
    assert_true(fabs(dps_alloc_hashed_score("sensor-0001", H1, 1) - 1.3487763548039036) < 1e-9);
    assert_true(fabs(dps_alloc_hashed_score("sensor-0001", H2, 3) - 3.3223957899745202) < 1e-9);
    assert_true(fabs(dps_alloc_hashed_score("sensor-0002", H2, 3) - 24.25939490852957) < 1e-9);
    assert_true(fabs(dps_alloc_hashed_score("pump-17", H1, 1) - 1.0059949330627243) < 1e-9);
    /* The hub name is hashed lower-case. */
    assert_true(dps_alloc_hashed_score("pump-17", "HUB1.Example.NET", 1) ==
                dps_alloc_hashed_score("pump-17", H1, 1));
}

static void test_hashed_deterministic(void **state)
{
    (void)state;
    dps_alloc_hub hubs[] = {{H1, 1, true, NULL}, {H2, 3, true, NULL}};
    dps_alloc_hub reversed[] = {{H2, 3, true, NULL}, {H1, 1, true, NULL}};
    char key[32];
    for (int i = 0; i < 500; i++) {
        snprintf(key, sizeof key, "device-%d", i);
        dps_alloc_result a, b, c;
        assert_int_equal(pick("hashed", hubs, 2, NULL, 0, key, &a), 0);
        assert_int_equal(pick("HASHED", hubs, 2, NULL, 0, key, &b), 0);
        assert_int_equal(pick(NULL, reversed, 2, NULL, 0, key, &c), 0);
        assert_int_equal(a.hub, b.hub);
        /* The order hubs are listed in does not matter. */
        assert_string_equal(hubs[a.hub].name, reversed[c.hub].name);
    }
}

static void test_hashed_weights_in_proportion(void **state)
{
    (void)state;
    dps_alloc_hub hubs[] = {{H1, 1, true, NULL}, {H2, 3, true, NULL}, {H3, 6, true, NULL}};
    int count[3] = {0};
    char key[32];
    const int n = 10000;
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "fleet-%05d", i);
        dps_alloc_result r;
        assert_int_equal(pick("hashed", hubs, 3, NULL, 0, key, &r), 0);
        count[r.hub]++;
    }
    /* Expected 10%, 30%, 60%; 4 standard deviations of a binomial. */
    const double share[3] = {0.1, 0.3, 0.6};
    for (int i = 0; i < 3; i++) {
        double expect = n * share[i];
        double sd = sqrt(n * share[i] * (1 - share[i]));
        if (fabs(count[i] - expect) > 4 * sd)
            fail_msg("hub %d got %d of %d, expected about %.0f", i, count[i], n, expect);
    }
}

static void test_few_devices_move_when_a_hub_is_added(void **state)
{
    (void)state;
    dps_alloc_hub two[] = {{H1, 1, true, NULL}, {H2, 1, true, NULL}};
    dps_alloc_hub three[] = {{H1, 1, true, NULL}, {H2, 1, true, NULL}, {H3, 1, true, NULL}};
    int moved_elsewhere = 0;
    char key[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof key, "m-%d", i);
        dps_alloc_result a, b;
        assert_int_equal(pick("hashed", two, 2, NULL, 0, key, &a), 0);
        assert_int_equal(pick("hashed", three, 3, NULL, 0, key, &b), 0);
        /* A device either stays or moves to the new hub, never between old ones. */
        if (b.hub != a.hub && b.hub != 2)
            moved_elsewhere++;
    }
    assert_int_equal(moved_elsewhere, 0);
}

static void test_apply_false_excluded_unless_listed(void **state)
{
    (void)state;
    dps_alloc_hub hubs[] = {{H1, 1, false, NULL}, {H2, 1, true, NULL}};
    char key[32];
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof key, "d%d", i);
        dps_alloc_result r;
        assert_int_equal(pick("hashed", hubs, 2, NULL, 0, key, &r), 0);
        assert_int_equal(r.hub, 1);
    }
    /* Listed explicitly (any case): it takes part again. */
    const char *listed[] = {"HUB1.example.net"};
    dps_alloc_result r;
    assert_int_equal(pick("hashed", hubs, 2, listed, 1, "x", &r), 0);
    assert_int_equal(r.hub, 0);
    /* Only hubs out of automatic allocation: nothing to pick. */
    dps_alloc_hub none[] = {{H1, 1, false, NULL}};
    assert_int_equal(pick("hashed", none, 1, NULL, 0, "x", &r), -1);
    assert_int_equal(r.error_code, DPS_REG_FAIL_NO_HUB);
    assert_int_equal(r.hub, -1);
}

static void test_listed_restricts_candidates(void **state)
{
    (void)state;
    dps_alloc_hub hubs[] = {{H1, 1, true, NULL}, {H2, 1000, true, NULL}, {H3, 1, true, NULL}};
    const char *listed[] = {H1, H3, "not-linked.example.net"};
    char key[32];
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof key, "d%d", i);
        dps_alloc_result r;
        assert_int_equal(pick("geoLatency", hubs, 3, listed, 3, key, &r), 0);
        assert_int_not_equal(r.hub, 1);
    }
}

static void test_static(void **state)
{
    (void)state;
    dps_alloc_hub hubs[] = {{H1, 1, true, NULL}, {H2, 1, false, NULL}};
    const char *listed[] = {H2};
    dps_alloc_result r;
    assert_int_equal(pick("static", hubs, 2, listed, 1, "x", &r), 0);
    assert_int_equal(r.hub, 1); /* applyAllocationPolicy does not matter */
    const char *gone[] = {"gone.example.net"};
    assert_int_equal(pick("Static", hubs, 2, gone, 1, "x", &r), -1);
    assert_int_equal(r.error_code, DPS_REG_FAIL_NO_HUB);
    assert_non_null(strstr(r.message, "not a linked hub"));
    assert_int_equal(pick("static", hubs, 2, NULL, 0, "x", &r), -1);
    assert_int_equal(r.error_code, DPS_REG_FAIL_NO_HUB);
    const char *two[] = {H1, H2};
    assert_int_equal(pick("static", hubs, 2, two, 2, "x", &r), -1);
}

static void test_policy_table(void **state)
{
    (void)state;
    dps_alloc_hub hubs[] = {{H1, 1, true, NULL}};
    dps_alloc_result r;
    assert_int_equal(pick("custom", hubs, 1, NULL, 0, "x", &r), -1);
    assert_int_equal(r.error_code, DPS_REG_FAIL_CUSTOM);
    assert_int_equal(pick("roundRobin", hubs, 1, NULL, 0, "x", &r), -1);
    assert_non_null(strstr(r.message, "roundRobin"));
    assert_int_equal(pick("", hubs, 1, NULL, 0, "x", &r), 0); /* default: hashed */
    assert_int_equal(pick("hashed", hubs, 0, NULL, 0, "x", &r), -1);
    assert_int_equal(r.error_code, DPS_REG_FAIL_NO_HUB);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_score_matches_reference),
        cmocka_unit_test(test_hashed_deterministic),
        cmocka_unit_test(test_hashed_weights_in_proportion),
        cmocka_unit_test(test_few_devices_move_when_a_hub_is_added),
        cmocka_unit_test(test_apply_false_excluded_unless_listed),
        cmocka_unit_test(test_listed_restricts_candidates),
        cmocka_unit_test(test_static),
        cmocka_unit_test(test_policy_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
