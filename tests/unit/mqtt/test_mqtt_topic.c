/* MQTT topic rules: UTF-8 validity, topic name and filter syntax, the
 * matching table of 4.7 (including $-topics), and IoT Hub property bags. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mqtt/mqtt.h"

static void test_utf8(void **state)
{
    (void)state;
    const struct {
        const char *s;
        size_t n;
        bool ok;
    } cases[] = {
        {"", 0, true},
        {"plain ascii/with $ signs", 24, true},
        {"\xc3\xa9", 2, true},              /* U+00E9 */
        {"\xe2\x82\xac", 3, true},          /* U+20AC */
        {"\xef\xbf\xbf", 3, true},          /* U+FFFF (a noncharacter, allowed) */
        {"\xf0\x9f\x98\x80", 4, true},      /* U+1F600 */
        {"\xf1\x80\x80\x80", 4, true},      /* U+40000 */
        {"\xf3\xbf\xbf\xbf", 4, true},      /* U+FFFFF */
        {"\xf4\x8f\xbf\xbf", 4, true},      /* U+10FFFF */
        {"\xed\x9f\xbf", 3, true},          /* U+D7FF, just below the surrogates */
        {"\xee\x80\x80", 3, true},          /* U+E000, just above */
        {"a\0b", 3, false},                 /* U+0000 */
        {"\xc0\x80", 2, false},             /* overlong U+0000 */
        {"\xc1\xbf", 2, false},             /* overlong U+007F */
        {"\xe0\x9f\xbf", 3, false},         /* overlong U+07FF */
        {"\xf0\x8f\xbf\xbf", 4, false},     /* overlong U+FFFF */
        {"\xed\xa0\x80", 3, false},         /* U+D800 */
        {"\xed\xbf\xbf", 3, false},         /* U+DFFF */
        {"\xf4\x90\x80\x80", 4, false},     /* U+110000 */
        {"\xf5\x80\x80\x80", 4, false},
        {"\xff", 1, false},
        {"\x80", 1, false},                 /* lone continuation */
        {"\xc3", 1, false},                 /* cut */
        {"\xe2\x82", 2, false},             /* cut */
        {"\xf0\x9f\x98", 3, false},         /* cut */
        {"\xc3\x28", 2, false},             /* bad continuation */
        {"\xe2\x28\xac", 3, false},
        {"\xf0\x9f\x28\x80", 4, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* Exact-size copy so a read past the end is caught. */
        char *copy = malloc(cases[i].n + 1);
        assert_non_null(copy);
        memcpy(copy, cases[i].s, cases[i].n);
        if (dps_mqtt_utf8_valid(copy, cases[i].n) != cases[i].ok)
            fail_msg("case %zu", i);
        free(copy);
    }
}

static void test_topic_names(void **state)
{
    (void)state;
    assert_true(dps_mqtt_topic_name_valid(dps_mqtt_cstr("a")));
    assert_true(dps_mqtt_topic_name_valid(dps_mqtt_cstr("/")));
    assert_true(dps_mqtt_topic_name_valid(dps_mqtt_cstr("a//b/")));
    assert_true(dps_mqtt_topic_name_valid(dps_mqtt_cstr("$iothub/twin/GET/?$rid=1")));
    assert_false(dps_mqtt_topic_name_valid(dps_mqtt_cstr("")));
    assert_false(dps_mqtt_topic_name_valid(dps_mqtt_cstr("a/+")));
    assert_false(dps_mqtt_topic_name_valid(dps_mqtt_cstr("#")));
    assert_false(dps_mqtt_topic_name_valid(dps_mqtt_cstr("a+b")));
    assert_false(dps_mqtt_topic_name_valid((dps_mqtt_str){"a\0", 2}));
    char *big = malloc(DPS_MQTT_MAX_STRING + 1);
    assert_non_null(big);
    memset(big, 'a', DPS_MQTT_MAX_STRING + 1);
    assert_true(dps_mqtt_topic_name_valid((dps_mqtt_str){big, DPS_MQTT_MAX_STRING}));
    assert_false(dps_mqtt_topic_name_valid((dps_mqtt_str){big, DPS_MQTT_MAX_STRING + 1}));
    free(big);
}

static void test_topic_filters(void **state)
{
    (void)state;
    const char *good[] = {"#",   "+",   "/",   "a",   "a/#", "a/+", "+/+", "+/#", "/+",
                          "a//b", "/#", "$iothub/twin/res/#", "$dps/registrations/res/#",
                          "devices/d1/messages/devicebound/#", "+/tennis/#", "a/+/c/"};
    const char *bad[] = {"",  "a#",  "#a", "a/#/b", "a/b#", "#/", "a+",
                         "+a", "a/+b", "a/b+/c", "++", "##", "a/#/"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        if (!dps_mqtt_topic_filter_valid(dps_mqtt_cstr(good[i])))
            fail_msg("should be valid: %s", good[i]);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (dps_mqtt_topic_filter_valid(dps_mqtt_cstr(bad[i])))
            fail_msg("should be invalid: %s", bad[i]);
    }
    assert_false(dps_mqtt_topic_filter_valid((dps_mqtt_str){"a/\xc0\x80", 4}));
}

static void test_matching_table(void **state)
{
    (void)state;
    const struct {
        const char *filter;
        const char *topic;
        bool match;
    } cases[] = {
        /* Exact. */
        {"a/b", "a/b", true},
        {"a/b", "a/c", false},
        {"a/b", "a/b/c", false},
        {"a/b/c", "a/b", false},
        {"a/b", "A/b", false},
        {"a/b", "a/b/", false},
        /* Multi-level wildcard, including the parent level (4.7.1.2). */
        {"#", "a", true},
        {"#", "a/b/c", true},
        {"#", "/", true},
        {"a/#", "a", true},
        {"a/#", "a/", true},
        {"a/#", "a/b/c", true},
        {"a/#", "ab", false},
        {"a/#", "b/a", false},
        {"sport/tennis/player1/#", "sport/tennis/player1", true},
        {"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
        {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
        {"sport/tennis/player1/#", "sport/tennis", false},
        /* Single-level wildcard (4.7.1.3). */
        {"sport/tennis/+", "sport/tennis/player1", true},
        {"sport/tennis/+", "sport/tennis/player2", true},
        {"sport/tennis/+", "sport/tennis/player1/ranking", false},
        {"sport/tennis/+", "sport/tennis", false},
        {"sport/+", "sport", false},
        {"sport/+", "sport/", true},
        {"+", "a", true},
        {"+", "a/b", false},
        {"+", "/", false},
        {"+/+", "/finance", true},
        {"/+", "/finance", true},
        {"+", "/finance", false},
        {"+/b/+", "a/b/c", true},
        {"+/b/+", "a/x/c", false},
        {"a/+/#", "a/b", true},
        {"a/+/#", "a", false},
        {"+/#", "a", true},
        /* Empty levels are levels. */
        {"a//b", "a//b", true},
        {"a/+/b", "a//b", true},
        {"/", "/", true},
        {"+/+", "/", true},
        /* $-topics are not matched by a leading wildcard (4.7.2). */
        {"#", "$SYS/x", false},
        {"+/x", "$SYS/x", false},
        {"+", "$iothub", false},
        {"$SYS/#", "$SYS/x", true},
        {"$SYS/+", "$SYS/x", true},
        {"$iothub/twin/res/#", "$iothub/twin/res/200/?$rid=1", true},
        {"$iothub/methods/POST/#", "$iothub/methods/POST/reboot/?$rid=9", true},
        {"$dps/registrations/res/#", "$dps/registrations/res/202/?$rid=x&retry-after=2", true},
        {"devices/d1/messages/devicebound/#", "devices/d1/messages/devicebound/%24.mid=1", true},
        {"devices/d1/messages/devicebound/#", "devices/d2/messages/devicebound/x", false},
        {"a/$b", "a/$b", true},
        {"a/+", "a/$b", true}, /* only a leading '$' is special */
        /* Invalid inputs never match. */
        {"a/#/b", "a/x/b", false},
        {"a", "", false},
        {"", "a", false},
        {"a/+", "a/+", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool got = dps_mqtt_topic_matches(dps_mqtt_cstr(cases[i].filter),
                                          dps_mqtt_cstr(cases[i].topic));
        if (got != cases[i].match)
            fail_msg("filter '%s' topic '%s': got %d", cases[i].filter, cases[i].topic, got);
    }
}

/* Parses into an exact-size scratch of len + 1 bytes. */
static dps_mqtt_result parse(const char *bag, dps_mqtt_prop *props, size_t max, char **scratch,
                             size_t *count)
{
    size_t len = strlen(bag);
    *scratch = malloc(len + 1);
    assert_non_null(*scratch);
    return dps_mqtt_props_parse(bag, len, props, max, *scratch, len + 1, count);
}

static void assert_prop(const dps_mqtt_prop *p, const char *key, const char *value)
{
    assert_int_equal(p->key.len, strlen(key));
    assert_memory_equal(p->key.ptr, key, p->key.len);
    assert_int_equal(p->key.ptr[p->key.len], '\0');
    if (value == NULL) {
        assert_false(p->has_value);
        assert_int_equal(p->value.len, 0);
    } else {
        assert_true(p->has_value);
        assert_int_equal(p->value.len, strlen(value));
        assert_memory_equal(p->value.ptr, value, p->value.len);
    }
    assert_int_equal(p->value.ptr[p->value.len], '\0');
}

static void test_props_telemetry(void **state)
{
    (void)state;
    /* Node's telemetry topic suffix (hub.md 8.3). */
    const char *bag = "%24.mid=msg-1&%24.ct=application%2Fjson&%24.ce=utf-8&alert=no";
    dps_mqtt_prop props[8];
    char *scratch;
    size_t n = 0;
    assert_int_equal(parse(bag, props, 8, &scratch, &n), DPS_MQTT_OK);
    assert_int_equal(n, 4);
    assert_prop(&props[0], "$.mid", "msg-1");
    assert_prop(&props[1], "$.ct", "application/json");
    assert_prop(&props[2], "$.ce", "utf-8");
    assert_prop(&props[3], "alert", "no");
    const dps_mqtt_prop *ct = dps_mqtt_props_find(props, n, "$.ct");
    assert_ptr_equal(ct, &props[1]);
    assert_null(dps_mqtt_props_find(props, n, "%24.ct"));
    assert_null(dps_mqtt_props_find(props, n, "missing"));
    free(scratch);
}

static void test_props_twin(void **state)
{
    (void)state;
    dps_mqtt_prop props[4];
    char *scratch;
    size_t n = 0;
    assert_int_equal(parse("$rid=1&$version=3", props, 4, &scratch, &n), DPS_MQTT_OK);
    assert_int_equal(n, 2);
    assert_prop(&props[0], "$rid", "1");
    assert_prop(&props[1], "$version", "3");
    free(scratch);

    /* A null value, an empty value, '+' kept, empty items skipped, UTF-8. */
    assert_int_equal(parse("&flag&empty=&a+b=c+d&&x=%C3%A9&", props, 4, &scratch, &n),
                     DPS_MQTT_OK);
    assert_int_equal(n, 4);
    assert_prop(&props[0], "flag", NULL);
    assert_prop(&props[1], "empty", "");
    assert_prop(&props[2], "a+b", "c+d");
    assert_prop(&props[3], "x", "\xc3\xa9");
    free(scratch);

    /* Escapes in either case (the C SDK sends lower-case %2f). */
    assert_int_equal(parse("%24.to=%2fdevices%2Fd1", props, 4, &scratch, &n), DPS_MQTT_OK);
    assert_int_equal(n, 1);
    assert_prop(&props[0], "$.to", "/devices/d1");
    free(scratch);

    /* '=' inside a value stays there. */
    assert_int_equal(parse("k=a=b", props, 4, &scratch, &n), DPS_MQTT_OK);
    assert_int_equal(n, 1);
    assert_prop(&props[0], "k", "a=b");
    free(scratch);

    /* Nothing at all. */
    assert_int_equal(dps_mqtt_props_parse("", 0, props, 4, NULL, 0, &n), DPS_MQTT_OK);
    assert_int_equal(n, 0);
    assert_int_equal(dps_mqtt_props_parse("&&", 2, NULL, 0, NULL, 0, &n), DPS_MQTT_OK);
    assert_int_equal(n, 0);
}

static void test_props_errors(void **state)
{
    (void)state;
    dps_mqtt_prop props[2];
    char *scratch;
    size_t n = 77;
    const char *malformed[] = {"a=%",  "a=%2",     "a=%zz", "a=%2g", "%00=x", "a=%00",
                               "=v",   "a=1&=2",   "a=%C0%80", "a=%ED%A0%80", "%FF"};
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        if (parse(malformed[i], props, 2, &scratch, &n) != DPS_MQTT_MALFORMED)
            fail_msg("should be malformed: %s", malformed[i]);
        free(scratch);
    }
    assert_int_equal(n, 77); /* *count untouched on failure */

    assert_int_equal(parse("a=1&b=2&c=3", props, 2, &scratch, &n), DPS_MQTT_TOO_MANY);
    free(scratch);
    assert_int_equal(parse("a=1&b=2", props, 2, &scratch, &n), DPS_MQTT_OK);
    assert_int_equal(n, 2);
    free(scratch);

    /* len + 1 bytes of scratch always suffice; one fewer may not. */
    const char *bag = "key=value";
    char small[9];
    assert_int_equal(dps_mqtt_props_parse(bag, 9, props, 2, small, sizeof small, &n),
                     DPS_MQTT_NO_SPACE);
    char exact[10];
    assert_int_equal(dps_mqtt_props_parse(bag, 9, props, 2, exact, sizeof exact, &n),
                     DPS_MQTT_OK);
    const char *keyonly = "key";
    char tiny[3];
    assert_int_equal(dps_mqtt_props_parse(keyonly, 3, props, 2, tiny, sizeof tiny, &n),
                     DPS_MQTT_NO_SPACE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_topic_names),
        cmocka_unit_test(test_topic_filters),
        cmocka_unit_test(test_matching_table),
        cmocka_unit_test(test_props_telemetry),
        cmocka_unit_test(test_props_twin),
        cmocka_unit_test(test_props_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
