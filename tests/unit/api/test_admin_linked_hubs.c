/* Admin API: /admin/linkedHubs CRUD, key masking, validation, ETag rules,
 * and the refusal to delete a hub enrollments name. */
#include "test_admin_fixture.h"

#define HUBKEY "aHViLWtleS0wMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc="
#define HUB_CS                                                                             \
    "HostName=hub1.example.net;SharedAccessKeyName=iothubowner;SharedAccessKey=" HUBKEY
#define HUB_CS_MASKED                                                                      \
    "HostName=hub1.example.net;SharedAccessKeyName=iothubowner;SharedAccessKey=****"
#define HUB_BODY "{\"connectionString\":\"" HUB_CS "\"}"

static char *stored_doc(admin_fx *fx, const char *key)
{
    dps_record rec = {0};
    if (dps_store_get(fx->ctx.store, DPS_COLL_LINKED_HUB, key, &rec) != DPS_STORE_OK)
        return NULL;
    char *doc = strdup(rec.doc);
    dps_record_free(&rec);
    return doc;
}

static void test_create_masks_key_and_stores_it(void **state)
{
    admin_fx *fx = *state;
    fx_result r = fx_call(fx, DPS_HTTP_PUT, "/admin/linkedHubs/hub1.example.net", NULL, NULL,
                          "{\"connectionString\":\"" HUB_CS "\",\"registryUrl\":"
                          "\"https://127.0.0.1:8444\",\"allocationWeight\":10,"
                          "\"applyAllocationPolicy\":false,\"location\":\"lab\"}");
    fx_expect(&r, 200, 0);
    assert_string_equal(fx_str(&r, "name"), "hub1.example.net");
    assert_string_equal(fx_str(&r, "connectionString"), HUB_CS_MASKED);
    assert_false(fx_body_has(&r, HUBKEY));
    assert_string_equal(fx_str(&r, "registryUrl"), "https://127.0.0.1:8444");
    assert_int_equal(json_integer_value(json_object_get(r.json, "allocationWeight")), 10);
    assert_true(json_is_false(json_object_get(r.json, "applyAllocationPolicy")));
    assert_string_equal(fx_str(&r, "location"), "lab");
    assert_non_null(fx_str(&r, "etag"));
    assert_non_null(fx_str(&r, "createdDateTimeUtc"));
    fx_free(&r);

    /* The store keeps the real key for the code that talks to the hub. */
    char *doc = stored_doc(fx, "hub1.example.net");
    assert_non_null(doc);
    assert_non_null(strstr(doc, HUBKEY));
    free(doc);

    r = fx_call(fx, DPS_HTTP_GET, "/admin/linkedHubs/HUB1.example.net", NULL, NULL, NULL);
    fx_expect(&r, 200, 0);
    assert_string_equal(fx_str(&r, "connectionString"), HUB_CS_MASKED);
    fx_free(&r);
}

static void test_defaults_and_list(void **state)
{
    admin_fx *fx = *state;
    fx_result r = fx_call(fx, DPS_HTTP_GET, "/admin/linkedHubs", NULL, NULL, NULL);
    fx_expect(&r, 200, 0);
    assert_true(json_is_array(r.json));
    assert_int_equal(json_array_size(r.json), 0);
    fx_free(&r);

    r = fx_call(fx, DPS_HTTP_PUT, "/admin/linkedHubs/hub1.example.net", NULL, NULL, HUB_BODY);
    fx_expect(&r, 200, 0);
    assert_string_equal(fx_str(&r, "registryUrl"), "https://hub1.example.net");
    assert_true(json_is_null(json_object_get(r.json, "allocationWeight")));
    assert_true(json_is_null(json_object_get(r.json, "applyAllocationPolicy")));
    assert_true(json_is_null(json_object_get(r.json, "location")));
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_PUT, "/admin/linkedHubs/hub2.example.net", NULL, NULL,
                "{\"connectionString\":\"HostName=HUB2.example.net;SharedAccessKeyName=o;"
                "SharedAccessKey=" HUBKEY "\"}");
    fx_expect(&r, 200, 0);
    fx_free(&r);

    r = fx_call(fx, DPS_HTTP_GET, "/admin/linkedhubs/", NULL, NULL, NULL);
    fx_expect(&r, 200, 0);
    assert_int_equal(json_array_size(r.json), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(r.json, 0), "name")),
                        "hub1.example.net");
    assert_string_equal(json_string_value(json_object_get(json_array_get(r.json, 1), "name")),
                        "hub2.example.net");
    assert_false(fx_body_has(&r, HUBKEY));
    fx_free(&r);

    r = fx_call(fx, DPS_HTTP_GET, "/admin/linkedHubs/nope.example.net", NULL, NULL, NULL);
    fx_expect(&r, 404, 404201);
    fx_free(&r);
}

static void test_etag_rules(void **state)
{
    admin_fx *fx = *state;
    const char *path = "/admin/linkedHubs/hub1.example.net";
    /* A concrete ETag on a missing hub cannot match. */
    fx_result r = fx_call(fx, DPS_HTTP_PUT, path, NULL, "\"abc\"", HUB_BODY);
    fx_expect(&r, 412, 412001);
    fx_free(&r);

    r = fx_call(fx, DPS_HTTP_PUT, path, NULL, NULL, HUB_BODY);
    fx_expect(&r, 200, 0);
    char *etag1 = strdup(fx_str(&r, "etag"));
    char *created = strdup(fx_str(&r, "createdDateTimeUtc"));
    fx_free(&r);

    /* Without If-Match a PUT only creates. */
    r = fx_call(fx, DPS_HTTP_PUT, path, NULL, NULL, HUB_BODY);
    fx_expect(&r, 409, 409201);
    fx_free(&r);
    /* A bad body is reported as such before the If-Match rules apply. */
    r = fx_call(fx, DPS_HTTP_PUT, path, NULL, NULL, "{}");
    fx_expect(&r, 400, 400003);
    fx_free(&r);

    r = fx_call(fx, DPS_HTTP_PUT, path, NULL, "*",
                "{\"connectionString\":\"" HUB_CS "\",\"allocationWeight\":1000}");
    fx_expect(&r, 200, 0);
    char *etag2 = strdup(fx_str(&r, "etag"));
    assert_string_not_equal(etag1, etag2);
    assert_string_equal(fx_str(&r, "createdDateTimeUtc"), created);
    fx_free(&r);

    /* Stale ETag. */
    r = fx_call(fx, DPS_HTTP_PUT, path, NULL, etag1, HUB_BODY);
    fx_expect(&r, 412, 412001);
    fx_free(&r);

    /* Current ETag, quoted and weak as some clients send it. */
    char quoted[160];
    snprintf(quoted, sizeof quoted, "W/\"%s\"", etag2);
    r = fx_call(fx, DPS_HTTP_PUT, path, NULL, quoted, HUB_BODY);
    fx_expect(&r, 200, 0);
    char *etag3 = strdup(fx_str(&r, "etag"));
    fx_free(&r);

    r = fx_call(fx, DPS_HTTP_DELETE, path, NULL, etag2, NULL);
    fx_expect(&r, 412, 412001);
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_DELETE, path, NULL, etag3, NULL);
    fx_expect(&r, 204, 0);
    assert_null(r.res.body);
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_DELETE, path, NULL, NULL, NULL);
    fx_expect(&r, 404, 404201);
    fx_free(&r);

    /* "*" creates a missing hub. */
    r = fx_call(fx, DPS_HTTP_PUT, path, NULL, "*", HUB_BODY);
    fx_expect(&r, 200, 0);
    fx_free(&r);
    free(etag1);
    free(etag2);
    free(etag3);
    free(created);
}

static void test_masked_round_trip_keeps_key(void **state)
{
    admin_fx *fx = *state;
    const char *path = "/admin/linkedHubs/hub1.example.net";
    /* A masked key cannot create a hub: there is no key to keep. */
    fx_result r = fx_call(fx, DPS_HTTP_PUT, path, NULL, "*",
                          "{\"connectionString\":\"" HUB_CS_MASKED "\"}");
    fx_expect(&r, 400, 400003);
    fx_free(&r);

    r = fx_call(fx, DPS_HTTP_PUT, path, NULL, NULL, HUB_BODY);
    fx_expect(&r, 200, 0);
    /* Send the GET result back with one change, read-only members included. */
    json_object_set_new(r.json, "location", json_string("hall-2"));
    char *body = json_dumps(r.json, 0);
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_PUT, path, NULL, "*", body);
    free(body);
    fx_expect(&r, 200, 0);
    assert_string_equal(fx_str(&r, "location"), "hall-2");
    fx_free(&r);
    char *doc = stored_doc(fx, "hub1.example.net");
    assert_non_null(strstr(doc, HUBKEY));
    free(doc);

    /* A masked key under another policy name is refused. */
    r = fx_call(fx, DPS_HTTP_PUT, path, NULL, "*",
                "{\"connectionString\":\"HostName=hub1.example.net;SharedAccessKeyName=other;"
                "SharedAccessKey=****\"}");
    fx_expect(&r, 400, 400003);
    fx_free(&r);
}

static void test_validation(void **state)
{
    admin_fx *fx = *state;
    const char *path = "/admin/linkedHubs/hub1.example.net";
    static const char *const bad[] = {
        "{}",
        "{\"connectionString\":5}",
        "{\"connectionString\":\"HostName=other.example.net;SharedAccessKeyName=o;"
        "SharedAccessKey=" HUBKEY "\"}",
        "{\"connectionString\":\"HostName=hub1.example.net;SharedAccessKeyName=o;"
        "SharedAccessKey=%%%\"}",
        "{\"connectionString\":\"HostName=hub1.example.net;SharedAccessKey=" HUBKEY "\"}",
        "{\"connectionString\":\"" HUB_CS "\",\"allocationWeight\":0}",
        "{\"connectionString\":\"" HUB_CS "\",\"allocationWeight\":1001}",
        "{\"connectionString\":\"" HUB_CS "\",\"allocationWeight\":\"5\"}",
        "{\"connectionString\":\"" HUB_CS "\",\"allocationWeight\":2.5}",
        "{\"connectionString\":\"" HUB_CS "\",\"applyAllocationPolicy\":\"yes\"}",
        "{\"connectionString\":\"" HUB_CS "\",\"registryUrl\":\"ftp://hub\"}",
        "{\"connectionString\":\"" HUB_CS "\",\"registryUrl\":\"https://\"}",
        "{\"connectionString\":\"" HUB_CS "\",\"registryUrl\":true}",
        "{\"connectionString\":\"" HUB_CS "\",\"location\":7}",
        "{\"connectionString\":\"" HUB_CS "\",\"weight\":7}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fx_result r = fx_call(fx, DPS_HTTP_PUT, path, NULL, NULL, bad[i]);
        if (r.res.status != 400 || fx_error_code(&r) != 400003)
            fail_msg("case %zu: status %d code %lld", i, r.res.status, fx_error_code(&r));
        fx_free(&r);
    }
    fx_result r = fx_call(fx, DPS_HTTP_PUT, path, NULL, NULL,
                          "{\"name\":\"hub9.example.net\",\"connectionString\":\"" HUB_CS "\"}");
    fx_expect(&r, 400, 400006);
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_PUT, "/admin/linkedHubs/bad_name", NULL, NULL, HUB_BODY);
    fx_expect(&r, 400, 400005);
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_PUT, path, NULL, NULL, "not json");
    fx_expect(&r, 400, 400002);
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_POST, path, NULL, NULL, HUB_BODY);
    fx_expect(&r, 405, 405001);
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_GET, "/admin/linkedHubs", NULL, NULL, NULL);
    assert_int_equal(json_array_size(r.json), 0);
    fx_free(&r);
}

static void test_delete_refused_when_referenced(void **state)
{
    admin_fx *fx = *state;
    const char *path = "/admin/linkedHubs/hub1.example.net";
    fx_result r = fx_call(fx, DPS_HTTP_PUT, path, NULL, NULL, HUB_BODY);
    fx_expect(&r, 200, 0);
    fx_free(&r);
    fx_put_doc(fx, DPS_COLL_ENROLLMENT, "pump-17",
               "{\"registrationId\":\"Pump-17\",\"iotHubs\":[\"hub0.example.net\","
               "\"HUB1.Example.net\"]}");
    fx_put_doc(fx, DPS_COLL_ENROLLMENT, "other",
               "{\"registrationId\":\"other\",\"iotHubs\":[\"hub2.example.net\"]}");
    fx_put_doc(fx, DPS_COLL_ENROLLMENT_GROUP, "line-a",
               "{\"enrollmentGroupId\":\"line-A\",\"iotHubs\":[\"hub1.example.net\"]}");

    r = fx_call(fx, DPS_HTTP_DELETE, path, NULL, NULL, NULL);
    fx_expect(&r, 409, 409201);
    const char *msg = fx_str(&r, "message");
    assert_non_null(msg);
    assert_non_null(strstr(msg, "Pump-17"));
    assert_non_null(strstr(msg, "line-A"));
    assert_null(strstr(msg, "other"));
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_GET, path, NULL, NULL, NULL);
    fx_expect(&r, 200, 0);
    fx_free(&r);

    r = fx_call(fx, DPS_HTTP_DELETE, path, "force=true", NULL, NULL);
    fx_expect(&r, 204, 0);
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_GET, path, NULL, NULL, NULL);
    fx_expect(&r, 404, 404201);
    fx_free(&r);
}

static void test_delete_unreferenced(void **state)
{
    admin_fx *fx = *state;
    fx_put_doc(fx, DPS_COLL_ENROLLMENT, "e1",
               "{\"registrationId\":\"e1\",\"iotHubs\":[\"hub2.example.net\"]}");
    fx_put_doc(fx, DPS_COLL_ENROLLMENT, "e2", "{\"registrationId\":\"e2\"}");
    fx_result r = fx_call(fx, DPS_HTTP_PUT, "/admin/linkedHubs/hub1.example.net", NULL, NULL,
                          HUB_BODY);
    fx_free(&r);
    r = fx_call(fx, DPS_HTTP_DELETE, "/admin/linkedHubs/hub1.example.net", NULL, "*", NULL);
    fx_expect(&r, 204, 0);
    fx_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_masks_key_and_stores_it, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_defaults_and_list, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_etag_rules, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_masked_round_trip_keeps_key, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_validation, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_delete_refused_when_referenced, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_delete_unreferenced, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
