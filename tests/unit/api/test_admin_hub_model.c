/* model/linked_hub: hub connection strings, names, URLs, stored documents. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model/linked_hub.h"

#define KEY "c2VjcmV0LWh1Yi1rZXktMDEyMzQ1Njc4OWFiY2RlZg=="

static void test_parse_any_order_and_case(void **state)
{
    (void)state;
    dps_hub_connstr c = {0};
    char err[160];
    assert_int_equal(dps_hub_connstr_parse("sharedaccesskey=" KEY "; SHAREDACCESSKEYNAME = "
                                           "iothubowner;HostName=Hub1.example.net;",
                                           0, &c, err, sizeof err),
                     0);
    assert_string_equal(c.host_name, "Hub1.example.net");
    assert_string_equal(c.key_name, "iothubowner");
    /* The key ends in '=' padding: values may contain '='. */
    assert_string_equal(c.key, KEY);
    assert_false(c.key_masked);
    char *full = dps_hub_connstr_format(&c, false);
    assert_string_equal(full, "HostName=Hub1.example.net;SharedAccessKeyName=iothubowner;"
                              "SharedAccessKey=" KEY);
    char *masked = dps_hub_connstr_format(&c, true);
    assert_string_equal(masked, "HostName=Hub1.example.net;SharedAccessKeyName=iothubowner;"
                                "SharedAccessKey=****");
    char *again = dps_hub_connstr_mask(full);
    assert_string_equal(again, masked);
    free(full);
    free(masked);
    free(again);
    dps_hub_connstr_free(&c);
    assert_null(c.key);
}

static void test_parse_refusals(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "HostName=h.example.net;SharedAccessKeyName=p",                    /* no key */
        "HostName=h.example.net;SharedAccessKey=" KEY,                     /* no key name */
        "SharedAccessKeyName=p;SharedAccessKey=" KEY,                      /* no host */
        "HostName=h.example.net;HostName=h.example.net;SharedAccessKeyName=p;SharedAccessKey=" KEY,
        "HostName=h.example.net;SharedAccessKeyName=p;SharedAccessKey=not base64!",
        "HostName=h.example.net;SharedAccessKeyName=p;SharedAccessKey=****", /* masked */
        "HostName=h.example.net;SharedAccessKeyName=p;SharedAccessKey=" KEY ";DeviceId=d",
        "HostName=h_x.example.net;SharedAccessKeyName=p;SharedAccessKey=" KEY,
        "HostName=h.example.net;SharedAccessKeyName=;SharedAccessKey=" KEY,
        "HostName=h.example.net;SharedAccessKeyName=p;garbage;SharedAccessKey=" KEY,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dps_hub_connstr c = {0};
        char err[160] = "";
        assert_int_equal(dps_hub_connstr_parse(bad[i], 0, &c, err, sizeof err), -1);
        assert_true(err[0] != '\0');
        assert_null(c.host_name);
    }
}

static void test_parse_masked_when_allowed(void **state)
{
    (void)state;
    dps_hub_connstr c = {0};
    char err[160];
    assert_int_equal(dps_hub_connstr_parse("HostName=h.example.net;SharedAccessKeyName=p;"
                                           "SharedAccessKey=****",
                                           DPS_CONNSTR_ALLOW_MASKED, &c, err, sizeof err),
                     0);
    assert_true(c.key_masked);
    dps_hub_connstr_free(&c);
}

static void test_names_and_urls(void **state)
{
    (void)state;
    assert_true(dps_hub_name_valid("hub1.example.net"));
    assert_true(dps_hub_name_valid("localhost:8883"));
    assert_true(dps_hub_name_valid("HUB-2"));
    assert_false(dps_hub_name_valid(""));
    assert_false(dps_hub_name_valid("a..b"));
    assert_false(dps_hub_name_valid(".a"));
    assert_false(dps_hub_name_valid("a."));
    assert_false(dps_hub_name_valid("a b"));
    assert_false(dps_hub_name_valid("a/b"));
    assert_false(dps_hub_name_valid("host:0"));
    assert_false(dps_hub_name_valid("-hub.example.net"));
    assert_false(dps_hub_name_valid("hub-.example.net"));
    assert_false(dps_hub_name_valid("hub.example-"));
    assert_false(dps_hub_name_valid("host:65536"));
    assert_false(dps_hub_name_valid("host:"));
    assert_false(dps_hub_name_valid("host:-1"));

    assert_true(dps_hub_registry_url_valid("https://127.0.0.1:8444"));
    assert_true(dps_hub_registry_url_valid("HTTP://hub.local/base"));
    assert_false(dps_hub_registry_url_valid("ftp://hub.local"));
    assert_false(dps_hub_registry_url_valid("https://"));
    assert_false(dps_hub_registry_url_valid("https:///path"));
    assert_false(dps_hub_registry_url_valid("https://a b"));
    assert_false(dps_hub_registry_url_valid("hub.local"));
}

static void test_from_json_defaults(void **state)
{
    (void)state;
    json_t *doc = json_pack("{s:s, s:s, s:n, s:n, s:n}", "name", "hub1.example.net",
                            "connectionString",
                            "HostName=hub1.example.net;SharedAccessKeyName=o;SharedAccessKey=" KEY,
                            "allocationWeight", "applyAllocationPolicy", "location");
    dps_linked_hub h;
    char err[160];
    assert_int_equal(dps_linked_hub_from_json(doc, &h, err, sizeof err), 0);
    assert_string_equal(h.registry_url, "https://hub1.example.net");
    assert_int_equal(h.weight, 1);
    assert_true(h.apply_allocation_policy);
    assert_null(h.location);
    assert_string_equal(h.conn.key, KEY);
    dps_linked_hub_free(&h);

    json_object_set_new(doc, "allocationWeight", json_integer(250));
    json_object_set_new(doc, "applyAllocationPolicy", json_false());
    json_object_set_new(doc, "registryUrl", json_string("https://127.0.0.1:8444"));
    json_object_set_new(doc, "location", json_string("rack-3"));
    assert_int_equal(dps_linked_hub_from_json(doc, &h, err, sizeof err), 0);
    assert_int_equal(h.weight, 250);
    assert_false(h.apply_allocation_policy);
    assert_string_equal(h.registry_url, "https://127.0.0.1:8444");
    assert_string_equal(h.location, "rack-3");
    dps_linked_hub_free(&h);

    json_object_set_new(doc, "allocationWeight", json_integer(0));
    assert_int_equal(dps_linked_hub_from_json(doc, &h, err, sizeof err), -1);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_any_order_and_case),
        cmocka_unit_test(test_parse_refusals),
        cmocka_unit_test(test_parse_masked_when_allowed),
        cmocka_unit_test(test_names_and_urls),
        cmocka_unit_test(test_from_json_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
