/* The registration engine end to end on a real store with a fake hub
 * provisioner: the operation life cycle (202 assigning, polls, final 200),
 * the registration record it stores, what the hub job carries, and the
 * refusals with their codes. */
#include "engine_fixture.h"
#include "engine/record.h"

#define REG "Sensor-0001"
#define OTHER_KEY "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

static char *token_for(const char *regid, const char *key)
{
    return fx_token(regid, key);
}

static dps_record stored(engine_fx *fx, const char *key, json_t **doc)
{
    dps_record rec = {0};
    assert_int_equal(dps_store_get(fx->store, DPS_COLL_REGISTRATION, key, &rec), DPS_STORE_OK);
    json_error_t jerr;
    *doc = json_loads(rec.doc, 0, &jerr);
    assert_non_null(*doc);
    /* The one engine-private member (record.h): the first hub, which the
     * engine strips from every answer and the service API never shows. */
    const json_t *first = json_object_get(*doc, DPS_RECORD_INITIAL_HUB);
    assert_true(first == NULL || json_is_string(first));
    json_object_del(*doc, DPS_RECORD_INITIAL_HUB);
    return rec;
}

/* Only DeviceRegistrationState members: nothing internal in the record. */
static void assert_public_members(const json_t *doc)
{
    static const char *const allowed[] = {
        "registrationId", "createdDateTimeUtc", "assignedHub",   "deviceId",
        "status",         "substatus",          "lastUpdatedDateTimeUtc", "etag",
        "errorCode",      "errorMessage",       "payload",       "symmetricKey"};
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)doc, k, v)
    {
        bool ok = false;
        for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
            ok = ok || strcmp(k, allowed[i]) == 0;
        if (!ok)
            fail_msg("record member %s is not a DeviceRegistrationState field", k);
    }
}

static void test_register_poll_assigned(void **state)
{
    engine_fx *fx = *state;
    fx_link_hub(fx, FX_HUB1, 1);
    fx_enroll(fx, REG, FX_DEVICE_KEY, OTHER_KEY,
              ",\"deviceId\":\"dev-x\",\"initialTwin\":{\"tags\":{\"a\":1,"
              "\"version\":3,\"$x\":1},\"properties\":{\"desired\":{\"b\":2,\"metadata\":{}}}}");
    char *tok = token_for(REG, FX_DEVICE_KEY);
    assert_int_equal(fx_register(fx, REG, tok), 202);
    assert_int_equal(fx->retry_after, 1);
    assert_string_equal(json_string_value(json_object_get(fx->body, "status")), "assigning");
    assert_null(json_object_get(fx->body, "registrationState"));
    char op[80];
    fx_op_id(fx, op);

    /* The job: hub, device ID, keys, twin without reserved members. */
    assert_int_equal(fx->njobs, 1);
    assert_string_equal(fx->jobs[0].hub, FX_HUB1);
    assert_string_equal(fx->jobs[0].device_id, "dev-x");
    assert_string_equal(fx->jobs[0].primary, FX_DEVICE_KEY);
    assert_string_equal(fx->jobs[0].secondary, OTHER_KEY);
    assert_false(fx->jobs[0].iot_edge);
    assert_string_equal(fx->jobs[0].twin,
                        "{\"properties\":{\"desired\":{\"b\":2}},\"tags\":{\"a\":1}}");

    /* Still assigning: 202 with a minimal registrationState; no record yet. */
    assert_int_equal(fx_poll(fx, REG, tok, op), 202);
    assert_int_equal(fx->retry_after, 1);
    assert_string_equal(fx_state_str(fx, "registrationId"), REG);
    assert_string_equal(fx_state_str(fx, "status"), "assigning");
    dps_record none = {0};
    assert_int_equal(dps_store_get(fx->store, DPS_COLL_REGISTRATION, "sensor-0001", &none),
                     DPS_STORE_NOT_FOUND);

    fx_complete(fx, 0, true, 0, NULL);
    assert_int_equal(fx_poll(fx, REG, tok, op), 200);
    assert_int_equal(fx->retry_after, 0);
    assert_string_equal(json_string_value(json_object_get(fx->body, "operationId")), op);
    assert_string_equal(json_string_value(json_object_get(fx->body, "status")), "assigned");
    assert_string_equal(fx_state_str(fx, "registrationId"), REG);
    assert_string_equal(fx_state_str(fx, "assignedHub"), FX_HUB1);
    assert_string_equal(fx_state_str(fx, "deviceId"), "dev-x");
    assert_string_equal(fx_state_str(fx, "status"), "assigned");
    assert_string_equal(fx_state_str(fx, "substatus"), "initialAssignment");
    assert_string_equal(fx_state_str(fx, "createdDateTimeUtc"), "2025-12-31T23:59:50.0000000Z");
    assert_non_null(fx_state_str(fx, "lastUpdatedDateTimeUtc"));
    assert_non_null(fx_state_str(fx, "etag"));
    json_t *state_doc = json_object_get(fx->body, "registrationState");
    assert_null(json_object_get(state_doc, "errorCode"));
    assert_null(json_object_get(state_doc, "symmetricKey"));

    /* The record is exactly what the device saw, under the lower-case key. */
    json_t *doc;
    dps_record rec = stored(fx, "sensor-0001", &doc);
    assert_true(json_equal(doc, state_doc));
    assert_null(rec.group);
    assert_string_equal(rec.etag, fx_state_str(fx, "etag"));
    assert_public_members(doc);
    json_decref(doc);
    dps_record_free(&rec);

    /* Lookup: the bare record. */
    assert_int_equal(fx_call_full(fx, FX_LOOKUP, FX_SCOPE, REG, "2021-06-01", tok,
                                  "{\"registrationId\":\"sensor-0001\"}", NULL),
                     200);
    assert_string_equal(json_string_value(json_object_get(fx->body, "assignedHub")), FX_HUB1);
    assert_null(json_object_get(fx->body, "operationId"));
    free(tok);
}

static void test_failed_outcome_recorded(void **state)
{
    engine_fx *fx = *state;
    fx_link_hub(fx, FX_HUB1, 1);
    fx_enroll(fx, REG, FX_DEVICE_KEY, OTHER_KEY, "");
    char *tok = token_for(REG, FX_DEVICE_KEY);
    assert_int_equal(fx_register(fx, REG, tok), 202);
    char op[80];
    fx_op_id(fx, op);
    fx_complete(fx, 0, false, DPS_REG_FAIL_HUB_UNREACHABLE, "IoT hub hub1 is unreachable");
    assert_int_equal(fx_poll(fx, REG, tok, op), 200);
    assert_string_equal(json_string_value(json_object_get(fx->body, "status")), "failed");
    json_t *st = json_object_get(fx->body, "registrationState");
    assert_int_equal(json_integer_value(json_object_get(st, "errorCode")), 503101);
    assert_string_equal(fx_state_str(fx, "errorMessage"), "IoT hub hub1 is unreachable");
    assert_null(json_object_get(st, "assignedHub"));
    assert_null(json_object_get(st, "deviceId"));
    json_t *doc;
    dps_record rec = stored(fx, "sensor-0001", &doc);
    assert_string_equal(json_string_value(json_object_get(doc, "status")), "failed");
    assert_null(json_object_get(doc, "assignedHub"));
    json_decref(doc);
    dps_record_free(&rec);
    free(tok);
}

static void test_running_operation_reused(void **state)
{
    engine_fx *fx = *state;
    fx_link_hub(fx, FX_HUB1, 1);
    fx_enroll(fx, REG, FX_DEVICE_KEY, OTHER_KEY, "");
    char *tok = token_for(REG, FX_DEVICE_KEY);
    char op1[80], op2[80];
    assert_int_equal(fx_register(fx, REG, tok), 202);
    fx_op_id(fx, op1);
    assert_int_equal(fx_register(fx, "SENSOR-0001", tok), 202);
    fx_op_id(fx, op2);
    assert_string_equal(op1, op2);
    assert_int_equal(fx->njobs, 1);
    fx_complete(fx, 0, true, 0, NULL);
    /* After it finished, a new registration is a new operation. */
    assert_int_equal(fx_register(fx, REG, tok), 202);
    fx_op_id(fx, op2);
    assert_string_not_equal(op1, op2);
    assert_int_equal(fx->njobs, 2);
    free(tok);
}

static void test_disabled_final_without_hub(void **state)
{
    engine_fx *fx = *state;
    fx_link_hub(fx, FX_HUB1, 1);
    fx_enroll(fx, REG, FX_DEVICE_KEY, OTHER_KEY, ",\"provisioningStatus\":\"disabled\"");
    char *tok = token_for(REG, FX_DEVICE_KEY);
    assert_int_equal(fx_register(fx, REG, tok), 202);
    assert_string_equal(json_string_value(json_object_get(fx->body, "status")), "assigning");
    char op[80];
    fx_op_id(fx, op);
    assert_int_equal(fx->njobs, 0);
    assert_int_equal(fx_poll(fx, REG, tok, op), 200);
    assert_string_equal(json_string_value(json_object_get(fx->body, "status")), "disabled");
    assert_string_equal(fx_state_str(fx, "status"), "disabled");
    free(tok);
}

static void test_allocation_failures(void **state)
{
    engine_fx *fx = *state;
    fx_enroll(fx, REG, FX_DEVICE_KEY, OTHER_KEY, "");
    char *tok = token_for(REG, FX_DEVICE_KEY);
    char op[80];
    /* No linked hub at all. */
    assert_int_equal(fx_register(fx, REG, tok), 202);
    fx_op_id(fx, op);
    assert_int_equal(fx_poll(fx, REG, tok, op), 200);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(fx->body, "registrationState"), "errorCode")),
                     400208);
    /* The hub client cannot start the job. */
    fx_link_hub(fx, FX_HUB1, 1);
    fx->refuse_start = true;
    assert_int_equal(fx_register(fx, REG, tok), 202);
    fx_op_id(fx, op);
    assert_int_equal(fx_poll(fx, REG, tok, op), 200);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(fx->body, "registrationState"), "errorCode")),
                     503101);
    free(tok);
}

static void test_refusals(void **state)
{
    engine_fx *fx = *state;
    fx_link_hub(fx, FX_HUB1, 1);
    fx_enroll(fx, REG, FX_DEVICE_KEY, OTHER_KEY, "");
    char *tok = token_for(REG, FX_DEVICE_KEY);
    char *wrong = token_for(REG, "AAAAAAAAAAAAAAAAAAAAAA==");
    struct {
        const char *scope, *regid, *version, *body;
        const char *token;
        int status, code;
    } cases[] = {
        {"0ne00000000", REG, "2021-06-01", NULL, tok, 404, 404201},
        {FX_SCOPE, REG, "2099-01-01", NULL, tok, 400, 400003},
        {FX_SCOPE, REG, NULL, NULL, tok, 400, 400003},
        {FX_SCOPE, "bad/id", "2021-06-01", NULL, tok, 400, 400005},
        {FX_SCOPE, REG, "2021-06-01", "{\"registrationId\":\"other\"}", tok, 400, 400006},
        {FX_SCOPE, REG, "2021-06-01", "{\"registrationId\":5}", tok, 400, 400006},
        {FX_SCOPE, REG, "2021-06-01", "{nope", tok, 400, 400002},
        {FX_SCOPE, REG, "2021-06-01", "[]", tok, 400, 400002},
        {FX_SCOPE, REG, "2021-06-01", NULL, NULL, 401, 401002},
        {FX_SCOPE, REG, "2021-06-01", NULL, wrong, 401, 401002},
        {FX_SCOPE, "sensor-0002", "2021-06-01", NULL, tok, 401, 401002},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int st = fx_call_full(fx, FX_REGISTER, cases[i].scope, cases[i].regid, cases[i].version,
                              cases[i].token, cases[i].body, NULL);
        if (st != cases[i].status || fx->code != cases[i].code)
            fail_msg("case %zu: %d %d (%s)", i, st, fx->code, fx->message);
        assert_null(fx->body);
    }
    /* Unknown devices: 404. */
    char *ghost = token_for("ghost-1", FX_DEVICE_KEY);
    assert_int_equal(fx_register(fx, "ghost-1", ghost), 404);
    assert_int_equal(fx->code, 404201);
    /* None of it started a job or wrote a record. */
    assert_int_equal(fx->njobs, 0);
    size_t n = 99;
    assert_int_equal(dps_store_count(fx->store, DPS_COLL_REGISTRATION, &n), DPS_STORE_OK);
    assert_int_equal(n, 0);
    /* Accepted bodies: empty, blank, payload null, extra members. */
    const char *bodies[] = {"", " ", "{\"payload\":null,\"registrationId\":\"sensor-0001\"}",
                            "{\"payload\":{\"fw\":\"1\"},\"unknown\":true}"};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(fx_call_full(fx, FX_REGISTER, FX_SCOPE, REG, "2019-03-31", tok,
                                      bodies[i], NULL),
                         202);
    /* Polls: unknown or malformed operation IDs, another device's operation. */
    char op[80];
    fx_op_id(fx, op);
    assert_int_equal(fx_poll(fx, REG, tok, "1.0.00000000-0000-0000-0000-000000000000"), 404);
    assert_int_equal(fx_poll(fx, REG, tok, "../x"), 404);
    fx_enroll(fx, "sensor-0002", FX_DEVICE_KEY, OTHER_KEY, "");
    char *tok2 = token_for("sensor-0002", FX_DEVICE_KEY);
    assert_int_equal(fx_poll(fx, "sensor-0002", tok2, op), 404);
    /* A poll with a wrong token is refused even for a known operation. */
    assert_int_equal(fx_poll(fx, REG, wrong, op), 401);
    assert_int_equal(fx_poll(fx, REG, tok, op), 202);
    free(tok);
    free(tok2);
    free(wrong);
    free(ghost);
}

static void test_throttled_when_full(void **state)
{
    engine_fx *fx = *state;
    dps_engine_free(&fx->engine);
    dps_engine_options o = {.max_operations = 1};
    fx_engine(fx, &o);
    fx_link_hub(fx, FX_HUB1, 1);
    fx_enroll(fx, REG, FX_DEVICE_KEY, OTHER_KEY, "");
    fx_enroll(fx, "sensor-0002", FX_DEVICE_KEY, OTHER_KEY, "");
    char *t1 = token_for(REG, FX_DEVICE_KEY), *t2 = token_for("sensor-0002", FX_DEVICE_KEY);
    assert_int_equal(fx_register(fx, REG, t1), 202);
    assert_int_equal(fx_register(fx, "sensor-0002", t2), 429);
    assert_int_equal(fx->code, 429001);
    assert_true(fx->retry_after > 0);
    free(t1);
    free(t2);
}

static void test_poll_after_ttl_reads_record(void **state)
{
    engine_fx *fx = *state;
    dps_engine_free(&fx->engine);
    dps_engine_options o = {.operation_ttl_s = 10, .retry_after_s = 3};
    fx_engine(fx, &o);
    fx_link_hub(fx, FX_HUB1, 1);
    fx_enroll(fx, REG, FX_DEVICE_KEY, OTHER_KEY, "");
    char *tok = token_for(REG, FX_DEVICE_KEY);
    assert_int_equal(fx_register(fx, REG, tok), 202);
    assert_int_equal(fx->retry_after, 3);
    char op[80];
    fx_op_id(fx, op);
    fx_complete(fx, 0, true, 0, NULL);
    assert_int_equal(fx_poll(fx, REG, tok, op), 200);
    json_t *first = json_deep_copy(json_object_get(fx->body, "registrationState"));
    fx_clock_ns += 11 * 1000000000LL;
    assert_int_equal(fx_poll(fx, REG, tok, op), 200);
    assert_int_equal(dps_engine_operation_count(fx->engine), 0); /* answered from the record */
    assert_true(json_equal(first, json_object_get(fx->body, "registrationState")));
    assert_string_equal(json_string_value(json_object_get(fx->body, "operationId")), op);
    json_decref(first);
    /* Same for a new engine on the same store (a dpsd restart). */
    dps_engine_free(&fx->engine);
    fx_engine(fx, NULL);
    assert_int_equal(fx_poll(fx, REG, tok, op), 200);
    assert_string_equal(json_string_value(json_object_get(fx->body, "status")), "assigned");
    free(tok);
}

static void test_reregistration_keeps_hub(void **state)
{
    engine_fx *fx = *state;
    fx_link_hub(fx, FX_HUB1, 1);
    fx_link_hub(fx, FX_HUB2, 1000);
    fx_enroll(fx, REG, FX_DEVICE_KEY, OTHER_KEY,
              ",\"initialTwin\":{\"tags\":{\"a\":1}},\"iotHubs\":[\"" FX_HUB1 "\"]");
    char *tok = token_for(REG, FX_DEVICE_KEY);
    char op[80];
    assert_int_equal(fx_register(fx, REG, tok), 202);
    fx_complete(fx, 0, true, 0, NULL);
    fx_op_id(fx, op);
    assert_int_equal(fx_poll(fx, REG, tok, op), 200);
    char created[64];
    snprintf(created, sizeof created, "%s", fx_state_str(fx, "createdDateTimeUtc"));
    /* The enrollment now prefers hub2, but under "never reprovision" an
     * assigned device keeps its hub, and its twin is not written again. */
    fx_enroll(fx, REG, FX_DEVICE_KEY, OTHER_KEY,
              ",\"initialTwin\":{\"tags\":{\"a\":1}},\"reprovisionPolicy\":"
              "{\"updateHubAssignment\":false,\"migrateDeviceData\":false}");
    fx_clock_ns += 5 * 1000000000LL;
    assert_int_equal(fx_register(fx, REG, tok), 202);
    fx_op_id(fx, op);
    assert_int_equal(fx->njobs, 2);
    assert_string_equal(fx->jobs[1].hub, FX_HUB1);
    assert_null(fx->jobs[1].twin);
    fx_complete(fx, 1, true, 0, NULL);
    assert_int_equal(fx_poll(fx, REG, tok, op), 200);
    assert_string_equal(fx_state_str(fx, "createdDateTimeUtc"), created);
    assert_string_not_equal(fx_state_str(fx, "lastUpdatedDateTimeUtc"), created);
    free(tok);
}

static void test_group_record_and_device_id(void **state)
{
    engine_fx *fx = *state;
    fx_link_hub(fx, FX_HUB1, 1);
    fx_group(fx, "Floor-3", FX_GROUP_KEY, FX_GROUP_KEY, "");
    /* §9 vector: sensor-0001's device key under the group key. */
    char *tok = token_for("sensor-0001", FX_DEVICE_KEY);
    char op[80];
    assert_int_equal(fx_register(fx, "sensor-0001", tok), 202);
    fx_op_id(fx, op);
    assert_string_equal(fx->jobs[0].device_id, "sensor-0001");
    assert_string_equal(fx->jobs[0].primary, FX_DEVICE_KEY);
    fx_complete(fx, 0, true, 0, NULL);
    assert_int_equal(fx_poll(fx, "sensor-0001", tok, op), 200);
    json_t *sk = json_object_get(json_object_get(fx->body, "registrationState"), "symmetricKey");
    assert_string_equal(json_string_value(json_object_get(sk, "enrollmentGroupId")), "Floor-3");
    json_t *doc;
    dps_record rec = stored(fx, "sensor-0001", &doc);
    assert_string_equal(rec.group, "floor-3");
    assert_public_members(doc);
    json_decref(doc);
    dps_record_free(&rec);
    /* The device registers again in other case: its key is derived from
     * the ID as sent, and the hub device keeps its first spelling. */
    char *upper_key = dps_derive_device_key(FX_GROUP_KEY, "SENSOR-0001");
    char *tok2 = token_for("SENSOR-0001", upper_key);
    assert_int_equal(fx_register(fx, "SENSOR-0001", tok2), 202);
    assert_int_equal(fx->njobs, 2);
    assert_string_equal(fx->jobs[1].device_id, "sensor-0001");
    assert_string_equal(fx->jobs[1].primary, upper_key);
    free(upper_key);
    free(tok2);
    free(tok);
}

static void test_lookup(void **state)
{
    engine_fx *fx = *state;
    fx_enroll(fx, REG, FX_DEVICE_KEY, OTHER_KEY, "");
    char *tok = token_for(REG, FX_DEVICE_KEY);
    assert_int_equal(fx_call_full(fx, FX_LOOKUP, FX_SCOPE, REG, "2021-06-01", tok, NULL, NULL),
                     404);
    assert_int_equal(fx->code, 404201);
    assert_int_equal(fx_call_full(fx, FX_LOOKUP, FX_SCOPE, REG, "2025-07-01-preview", tok,
                                  "{\"csr\":\"MIIB\"}", NULL),
                     400);
    free(tok);
}

#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_register_poll_assigned),
        T(test_failed_outcome_recorded),
        T(test_running_operation_reused),
        T(test_disabled_final_without_hub),
        T(test_allocation_failures),
        T(test_refusals),
        T(test_throttled_when_full),
        T(test_poll_after_ttl_reads_record),
        T(test_reregistration_keeps_hub),
        T(test_group_record_and_device_id),
        T(test_lookup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
