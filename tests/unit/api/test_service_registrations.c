/* Registration records through the service API: get, delete, group query. */
#include "service_fixture.h"

#include <ctype.h>

static void put_record(svc_fx *fx, const char *id, const char *group, const char *etag)
{
    char key[64], doc[256];
    size_t i = 0;
    for (; id[i] != '\0' && i < sizeof key - 1; i++)
        key[i] = (char)tolower((unsigned char)id[i]);
    key[i] = '\0';
    snprintf(doc, sizeof doc,
             "{\"registrationId\":\"%s\",\"status\":\"assigned\",\"assignedHub\":\"%s\","
             "\"tpm\":{\"authenticationKey\":\"c2VjcmV0\"}}",
             id, SVC_HUB1);
    svc_put_raw(fx, DPS_COLL_REGISTRATION, key, doc, etag, group);
}

static void test_get(void **state)
{
    svc_fx *fx = *state;
    put_record(fx, "Sensor-1", "floor-3", "IjEi");
    svc_reply r;
    svc_call(fx, DPS_HTTP_GET, "/Registrations/SENSOR-1", NULL, &r);
    svc_assert_status(&r, 200);
    assert_string_equal(svc_str(r.json, "registrationId"), "Sensor-1");
    assert_string_equal(svc_str(r.json, "etag"), "IjEi");
    assert_null(svc_get(r.json, "tpm.authenticationKey"));
    svc_reply_free(&r);
    svc_call(fx, DPS_HTTP_GET, "/registrations/nobody", NULL, &r);
    svc_assert_error(&r, 404, 404201);
    svc_reply_free(&r);
}

static void test_delete(void **state)
{
    svc_fx *fx = *state;
    put_record(fx, "sensor-1", NULL, "IjEi");
    svc_reply r;
    const char *stale[] = {"If-Match", "\"IjIi\"", NULL};
    svc_callv(fx, DPS_HTTP_DELETE, "/registrations/sensor-1", NULL, stale, &r);
    svc_assert_error(&r, 412, 412001);
    svc_reply_free(&r);
    const char *good[] = {"If-Match", "\"IjEi\"", NULL};
    svc_callv(fx, DPS_HTTP_DELETE, "/registrations/sensor-1", NULL, good, &r);
    svc_assert_status(&r, 204);
    svc_reply_free(&r);
    svc_call(fx, DPS_HTTP_DELETE, "/registrations/sensor-1", NULL, &r);
    svc_assert_error(&r, 404, 404201);
    svc_reply_free(&r);
    /* unconditional */
    put_record(fx, "sensor-2", NULL, "IjEi");
    svc_call(fx, DPS_HTTP_DELETE, "/registrations/sensor-2", NULL, &r);
    svc_assert_status(&r, 204);
    svc_reply_free(&r);
}

static void test_group_query(void **state)
{
    svc_fx *fx = *state;
    put_record(fx, "a-1", "floor-3", "IjEi");
    put_record(fx, "a-2", "floor-3", "IjEi");
    put_record(fx, "a-3", "floor-3", "IjEi");
    put_record(fx, "b-1", "floor-4", "IjEi");
    svc_reply r;
    /* no body at all (C client, CLI), any case of the group ID */
    svc_call(fx, DPS_HTTP_POST, "/registrations/Floor-3/query", NULL, &r);
    svc_assert_status(&r, 200);
    assert_int_equal(json_array_size(r.json), 3);
    assert_string_equal(svc_header(&r, "x-ms-item-type"), "DeviceRegistration");
    assert_null(svc_header(&r, "x-ms-continuation"));
    assert_null(strstr(r.res.body, "authenticationKey"));
    svc_reply_free(&r);
    /* a QuerySpecification, or anything else, is ignored; paging works */
    const char *h[] = {"x-ms-max-item-count", "2", NULL};
    svc_callv(fx, DPS_HTTP_POST, "/registrations/floor-3/query", "not even json", h, &r);
    svc_assert_status(&r, 200);
    assert_int_equal(json_array_size(r.json), 2);
    const char *cont = svc_header(&r, "x-ms-continuation");
    assert_non_null(cont);
    char tok[128];
    snprintf(tok, sizeof tok, "%s", cont);
    svc_reply_free(&r);
    const char *h2[] = {"x-ms-max-item-count", "2", "x-ms-continuation", tok, NULL};
    svc_callv(fx, DPS_HTTP_POST, "/registrations/floor-3/query", "{\"query\":\"*\"}", h2, &r);
    svc_assert_status(&r, 200);
    assert_int_equal(json_array_size(r.json), 1);
    assert_string_equal(svc_str(json_array_get(r.json, 0), "registrationId"), "a-3");
    assert_null(svc_header(&r, "x-ms-continuation"));
    svc_reply_free(&r);
    /* unknown group: empty array */
    svc_call(fx, DPS_HTTP_POST, "/registrations/nogroup/query", "", &r);
    svc_assert_status(&r, 200);
    assert_true(json_is_array(r.json));
    assert_int_equal(json_array_size(r.json), 0);
    svc_reply_free(&r);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, svc_setup, svc_teardown)
    const struct CMUnitTest tests[] = {
        T(test_get),
        T(test_delete),
        T(test_group_query),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
