/* Reprovisioning (engine/reprovision.h, service-api.md §14) and custom
 * allocation through the engine: the pure decisions, then registrations on
 * a real store with the fake provisioner and a fake webhook caller: which
 * hub job a re-registration starts (migrate, reset, keep), what a failure
 * leaves in the record, the webhook's twin and payload rules (§13.3), and
 * the dry run agreeing with what the engine does. */
#include "engine_fixture.h"
#include "engine/explain.h"
#include "engine/reprovision.h"

#define REG "pump-17"
#define OTHER_KEY "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
#define HUB3 "hub3.example.net"

/* ---- pure decisions --------------------------------------------------------- */

static dps_reprov_plan plan(const char *cur, bool linked, const char *policy_json,
                            const char *api)
{
    json_error_t jerr;
    json_t *p = policy_json != NULL ? json_loads(policy_json, 0, &jerr) : NULL;
    dps_reprov_input in = {.current_hub = cur, .current_linked = linked, .policy = p,
                           .api_version = api};
    dps_reprov_plan out;
    dps_reprov_plan_make(&in, &out);
    json_decref(p);
    assert_non_null(out.reason);
    return out;
}

#define MIGRATE "{\"updateHubAssignment\":true,\"migrateDeviceData\":true}"
#define RESET "{\"updateHubAssignment\":true,\"migrateDeviceData\":false}"
#define NEVER "{\"updateHubAssignment\":false,\"migrateDeviceData\":false}"

static void test_plans(void **state)
{
    (void)state;
    assert_int_equal(plan(NULL, false, MIGRATE, "2021-06-01").mode, DPS_REPROV_FIRST);
    /* A hub that is no longer linked cannot be read or cleaned: start over. */
    assert_int_equal(plan("h", false, NEVER, "2021-06-01").mode, DPS_REPROV_FIRST);
    assert_int_equal(plan("h", true, NEVER, "2021-06-01").mode, DPS_REPROV_KEEP);
    dps_reprov_plan p = plan("h", true, MIGRATE, "2021-06-01");
    assert_int_equal(p.mode, DPS_REPROV_REALLOCATE);
    assert_true(p.migrate);
    p = plan("h", true, RESET, "2021-06-01");
    assert_int_equal(p.mode, DPS_REPROV_REALLOCATE);
    assert_false(p.migrate);
    /* No policy: legacy clients stick, newer ones get true/true. */
    assert_int_equal(plan("h", true, NULL, "2018-04-01").mode, DPS_REPROV_KEEP);
    assert_int_equal(plan("h", true, NULL, "2017-11-15").mode, DPS_REPROV_KEEP);
    p = plan("h", true, NULL, "2018-09-01-preview");
    assert_int_equal(p.mode, DPS_REPROV_REALLOCATE);
    assert_true(p.migrate);
    /* A stored policy beats the legacy rule. */
    assert_int_equal(plan("h", true, MIGRATE, "2018-04-01").mode, DPS_REPROV_REALLOCATE);
    assert_true(dps_reprov_legacy_client("2018-04-01"));
    assert_false(dps_reprov_legacy_client("2019-03-31"));
    assert_false(dps_reprov_legacy_client(NULL));
}

static void test_outcomes(void **state)
{
    (void)state;
    dps_hub_action act;
    const char *sub;
    dps_reprov_plan first = {.mode = DPS_REPROV_FIRST, .migrate = true};
    dps_reprov_outcome(&first, NULL, "a", NULL, &act, &sub);
    assert_int_equal(act, DPS_HUB_ACT_CREATE);
    assert_string_equal(sub, "initialAssignment");
    dps_reprov_plan mig = {.mode = DPS_REPROV_REALLOCATE, .migrate = true};
    dps_reprov_outcome(&mig, "a", "A", "a", &act, &sub); /* same hub, any case */
    assert_int_equal(act, DPS_HUB_ACT_SAME);
    assert_string_equal(sub, "initialAssignment");
    dps_reprov_outcome(&mig, "a", "b", "a", &act, &sub);
    assert_int_equal(act, DPS_HUB_ACT_MIGRATE);
    assert_string_equal(sub, "deviceDataMigrated");
    dps_reprov_plan reset = {.mode = DPS_REPROV_REALLOCATE, .migrate = false};
    dps_reprov_outcome(&reset, "a", "b", "a", &act, &sub);
    assert_int_equal(act, DPS_HUB_ACT_RESET);
    assert_string_equal(sub, "deviceDataReset");
    /* Back to the hub of the first assignment. */
    dps_reprov_outcome(&reset, "b", "a", "a", &act, &sub);
    assert_int_equal(act, DPS_HUB_ACT_RESET);
    assert_string_equal(sub, "reprovisionedToInitialAssignment");
    dps_reprov_plan keep = {.mode = DPS_REPROV_KEEP};
    dps_reprov_outcome(&keep, "a", "b", "a", &act, &sub);
    assert_int_equal(act, DPS_HUB_ACT_SAME);
    /* §13.3: whose initial twin. */
    json_t *w = json_object(), *e = json_object();
    assert_ptr_equal(dps_reprov_twin_source(DPS_HUB_ACT_CREATE, w, e), w);
    assert_ptr_equal(dps_reprov_twin_source(DPS_HUB_ACT_CREATE, NULL, e), e);
    json_t *null = json_null();
    assert_ptr_equal(dps_reprov_twin_source(DPS_HUB_ACT_RESET, null, e), e);
    assert_null(dps_reprov_twin_source(DPS_HUB_ACT_MIGRATE, w, e));
    assert_null(dps_reprov_twin_source(DPS_HUB_ACT_SAME, w, e));
    json_decref(w);
    json_decref(e);
    json_decref(null);
}

/* ---- through the engine ----------------------------------------------------- */

/* A fake webhook caller: records the request, answers when told. */
typedef struct {
    char url[256];
    json_t *request;
    dps_webhook_done_fn done;
    void *arg;
    bool pending, cancelled, refuse;
} fake_hook;

static fake_hook hook;

static int hook_start(void *self, const char *url, const char *body, dps_webhook_done_fn done,
                      void *arg, void **call, char *err, size_t errlen)
{
    (void)self;
    if (hook.refuse) {
        snprintf(err, errlen, "refused by the fake");
        return -1;
    }
    assert_false(hook.pending);
    snprintf(hook.url, sizeof hook.url, "%s", url);
    json_decref(hook.request);
    json_error_t jerr;
    hook.request = json_loads(body, 0, &jerr);
    assert_non_null(hook.request);
    hook.done = done;
    hook.arg = arg;
    hook.pending = true;
    *call = &hook;
    return 0;
}

static void hook_cancel(void *self, void *call)
{
    (void)self;
    assert_ptr_equal(call, &hook);
    hook.pending = false;
    hook.cancelled = true;
}

static void hook_answer(int status, const char *body)
{
    assert_true(hook.pending);
    hook.pending = false;
    dps_webhook_reply r = {.status = status,
                           .body = body,
                           .body_len = body ? strlen(body) : 0,
                           .error = status == 0 ? "127.0.0.1:9 did not answer in time" : NULL};
    hook.done(hook.arg, &r);
}

static int setup(void **state)
{
    memset(&hook, 0, sizeof hook);
    engine_fx *fx = fx_new();
    dps_engine_options o = {
        .webhook = {.start = hook_start, .cancel = hook_cancel, .self = NULL}};
    fx_engine(fx, &o);
    fx_link_hub(fx, FX_HUB1, 1);
    fx_link_hub(fx, FX_HUB2, 1);
    fx_link_hub(fx, HUB3, 1);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    int rc = fx_teardown(state);
    json_decref(hook.request);
    hook.request = NULL;
    return rc;
}

static char *tok(void)
{
    return fx_token(REG, FX_DEVICE_KEY);
}

/* Registers and completes the job the registration starts; returns the
 * final registrationState status. */
static const char *register_and_finish(engine_fx *fx, const char *body, bool ok)
{
    char *t = tok();
    size_t before = fx->njobs;
    assert_int_equal(fx_call_full(fx, FX_REGISTER, FX_SCOPE, REG, "2021-06-01", t, body, NULL),
                     202);
    char op[80];
    fx_op_id(fx, op);
    if (fx->njobs > before)
        fx_complete(fx, fx->njobs - 1, ok, ok ? 0 : DPS_REG_FAIL_HUB_REFUSED, "refused");
    assert_int_equal(fx_poll(fx, REG, t, op), 200);
    free(t);
    return fx_state_str(fx, "status");
}

static void enroll_static(engine_fx *fx, const char *hub, const char *policy)
{
    char extra[512];
    snprintf(extra, sizeof extra,
             ",\"allocationPolicy\":\"static\",\"iotHubs\":[\"%s\"],\"reprovisionPolicy\":%s,"
             "\"initialTwin\":{\"tags\":{\"t\":1}}",
             hub, policy);
    fx_enroll(fx, REG, FX_DEVICE_KEY, OTHER_KEY, extra);
}

/* explain's answer for REG, for comparing with what the engine does. */
static json_t *explain(engine_fx *fx)
{
    dps_explain_request r = {.registration_id = REG};
    json_t *out = NULL;
    char msg[300];
    assert_int_equal(dps_engine_explain(fx->engine, &r, &out, msg, sizeof msg), 200);
    return out;
}

static void test_migrate_reset_keep_jobs(void **state)
{
    engine_fx *fx = *state;
    enroll_static(fx, FX_HUB1, MIGRATE);
    assert_string_equal(register_and_finish(fx, NULL, true), "assigned");
    assert_string_equal(fx->jobs[0].old_hub, "");
    /* Moved to hub2 carrying the data. */
    enroll_static(fx, FX_HUB2, MIGRATE);
    json_t *ex = explain(fx);
    assert_string_equal(json_string_value(json_object_get(ex, "action")), "migrate");
    assert_string_equal(register_and_finish(fx, NULL, true), "assigned");
    fx_job *j = &fx->jobs[1];
    assert_string_equal(j->hub, FX_HUB2);
    assert_string_equal(j->old_hub, FX_HUB1);
    assert_true(j->migrate);
    assert_null(j->twin); /* the old twin travels, not the initial one */
    assert_string_equal(fx_state_str(fx, "assignedHub"), FX_HUB2);
    assert_string_equal(fx_state_str(fx, "substatus"), "deviceDataMigrated");
    assert_string_equal(fx_state_str(fx, "substatus"),
                        json_string_value(json_object_get(ex, "substatus")));
    json_decref(ex);
    /* Reset onto hub3: the initial twin, replacing. */
    enroll_static(fx, HUB3, RESET);
    assert_string_equal(register_and_finish(fx, NULL, true), "assigned");
    j = &fx->jobs[2];
    assert_string_equal(j->old_hub, FX_HUB2);
    assert_false(j->migrate);
    assert_true(j->replace_twin);
    assert_string_equal(j->twin, "{\"properties\":{\"desired\":{}},\"tags\":{\"t\":1}}");
    assert_string_equal(fx_state_str(fx, "substatus"), "deviceDataReset");
    /* Back to hub1, the first hub. */
    enroll_static(fx, FX_HUB1, MIGRATE);
    assert_string_equal(register_and_finish(fx, NULL, true), "assigned");
    assert_string_equal(fx_state_str(fx, "substatus"), "reprovisionedToInitialAssignment");
    /* Never: stays, no move, no twin. */
    enroll_static(fx, FX_HUB2, NEVER);
    assert_string_equal(register_and_finish(fx, NULL, true), "assigned");
    j = &fx->jobs[4];
    assert_string_equal(j->hub, FX_HUB1);
    assert_string_equal(j->old_hub, "");
    assert_null(j->twin);
    assert_string_equal(fx_state_str(fx, "substatus"), "initialAssignment");
    /* Devices never see the engine's note of the first hub. */
    assert_null(json_object_get(json_object_get(fx->body, "registrationState"), "$initialHub"));
}

static void test_failed_move_keeps_the_old_hub(void **state)
{
    engine_fx *fx = *state;
    enroll_static(fx, FX_HUB1, MIGRATE);
    register_and_finish(fx, NULL, true);
    enroll_static(fx, FX_HUB2, MIGRATE);
    assert_string_equal(register_and_finish(fx, NULL, false), "failed");
    /* The record still names hub1, where the identity is: the next try
     * moves from there again. */
    assert_string_equal(fx_state_str(fx, "assignedHub"), FX_HUB1);
    assert_string_equal(register_and_finish(fx, NULL, true), "assigned");
    assert_string_equal(fx->jobs[fx->njobs - 1].old_hub, FX_HUB1);
}

#define CUSTOM_ENROLLMENT                                                                         \
    ",\"allocationPolicy\":\"custom\",\"customAllocationDefinition\":{\"webhookUrl\":"            \
    "\"https://alloc.example.net/pick?code=k\",\"apiVersion\":\"2021-10-01\"},"                   \
    "\"initialTwin\":{\"tags\":{\"from\":\"enrollment\"}}"

static void test_webhook_flow(void **state)
{
    engine_fx *fx = *state;
    fx_enroll(fx, REG, FX_DEVICE_KEY, OTHER_KEY, CUSTOM_ENROLLMENT);
    char *t = tok();
    assert_int_equal(fx_call_full(fx, FX_REGISTER, FX_SCOPE, REG, "2021-06-01", t,
                                  "{\"payload\":{\"fw\":\"1\"}}", NULL),
                     202);
    char op[80];
    fx_op_id(fx, op);
    assert_true(hook.pending);
    assert_int_equal(fx->njobs, 0); /* no hub work before the webhook answers */
    assert_string_equal(hook.url, "https://alloc.example.net/pick?code=k");
    assert_int_equal(json_array_size(json_object_get(hook.request, "linkedHubs")), 3);
    assert_int_equal(fx_poll(fx, REG, t, op), 202); /* still assigning */
    hook_answer(200, "{\"iotHubHostName\":\"" HUB3 "\",\"initialTwin\":{\"tags\":"
                     "{\"from\":\"webhook\"}},\"payload\":{\"p\":1}}");
    assert_int_equal(fx->njobs, 1);
    assert_string_equal(fx->jobs[0].hub, HUB3);
    assert_string_equal(fx->jobs[0].twin, "{\"tags\":{\"from\":\"webhook\"}}");
    fx_complete(fx, 0, true, 0, NULL);
    assert_int_equal(fx_poll(fx, REG, t, op), 200);
    assert_string_equal(fx_state_str(fx, "assignedHub"), HUB3);
    json_t *payload = json_object_get(json_object_get(fx->body, "registrationState"), "payload");
    assert_int_equal(json_integer_value(json_object_get(payload, "p")), 1);

    /* Re-registration under "never": offered only the current hub; its twin
     * is ignored, its payload returned. */
    fx_enroll(fx, REG, FX_DEVICE_KEY, OTHER_KEY,
              CUSTOM_ENROLLMENT ",\"reprovisionPolicy\":" NEVER);
    assert_int_equal(fx_register(fx, REG, t), 202);
    fx_op_id(fx, op);
    const json_t *lh = json_object_get(hook.request, "linkedHubs");
    assert_int_equal(json_array_size(lh), 1);
    assert_string_equal(json_string_value(json_array_get(lh, 0)), HUB3);
    const json_t *ctx = json_object_get(hook.request, "deviceRuntimeContext");
    assert_string_equal(json_string_value(json_object_get(ctx, "currentIotHubHostName")), HUB3);
    hook_answer(200, "{\"iotHubHostName\":\"" HUB3 "\",\"initialTwin\":{\"tags\":{\"x\":1}},"
                     "\"payload\":{\"p\":2}}");
    assert_null(fx->jobs[1].twin);
    fx_complete(fx, 1, true, 0, NULL);
    assert_int_equal(fx_poll(fx, REG, t, op), 200);
    payload = json_object_get(json_object_get(fx->body, "registrationState"), "payload");
    assert_int_equal(json_integer_value(json_object_get(payload, "p")), 2);

    /* Failures: codes, and the device keeps its hub in the record. */
    assert_int_equal(fx_register(fx, REG, t), 202);
    fx_op_id(fx, op);
    hook_answer(400, NULL);
    assert_int_equal(fx_poll(fx, REG, t, op), 200);
    assert_string_equal(fx_state_str(fx, "status"), "failed");
    json_t *st = json_object_get(fx->body, "registrationState");
    assert_int_equal(json_integer_value(json_object_get(st, "errorCode")), 400207);
    assert_string_equal(fx_state_str(fx, "assignedHub"), HUB3);
    assert_int_equal(fx_register(fx, REG, t), 202);
    fx_op_id(fx, op);
    hook_answer(0, NULL);
    assert_int_equal(fx_poll(fx, REG, t, op), 200);
    st = json_object_get(fx->body, "registrationState");
    assert_int_equal(json_integer_value(json_object_get(st, "errorCode")), 400209);
    assert_non_null(strstr(fx_state_str(fx, "errorMessage"), "did not answer in time"));
    /* A caller that cannot even start fails the registration at once. */
    hook.refuse = true;
    assert_int_equal(fx_register(fx, REG, t), 202);
    fx_op_id(fx, op);
    assert_int_equal(fx_poll(fx, REG, t, op), 200);
    assert_string_equal(fx_state_str(fx, "status"), "failed");
    hook.refuse = false;
    /* A call still out at shutdown is cancelled, not answered. */
    assert_int_equal(fx_register(fx, REG, t), 202);
    assert_true(hook.pending);
    dps_engine_free(&fx->engine);
    assert_true(hook.cancelled);
    free(t);
}

static void test_webhook_without_caller(void **state)
{
    engine_fx *fx = *state;
    dps_engine_free(&fx->engine);
    fx_engine(fx, NULL);
    fx_enroll(fx, REG, FX_DEVICE_KEY, OTHER_KEY, CUSTOM_ENROLLMENT);
    assert_string_equal(register_and_finish(fx, NULL, true), "failed");
    json_t *st = json_object_get(fx->body, "registrationState");
    assert_int_equal(json_integer_value(json_object_get(st, "errorCode")), 400209);
}

/* An enrollment stored without reprovisionPolicy (fx_enroll writes none):
 * legacy clients stick to their hub, newer ones are migrated. */
static void test_legacy_sticky(void **state)
{
    engine_fx *fx = *state;
    fx_enroll(fx, REG, FX_DEVICE_KEY, OTHER_KEY,
              ",\"allocationPolicy\":\"static\",\"iotHubs\":[\"" FX_HUB1 "\"]");
    char *t = tok();
    char op[80];
    assert_int_equal(fx_call_full(fx, FX_REGISTER, FX_SCOPE, REG, "2018-04-01", t, NULL, NULL),
                     202);
    fx_op_id(fx, op);
    fx_complete(fx, 0, true, 0, NULL);
    fx_enroll(fx, REG, FX_DEVICE_KEY, OTHER_KEY,
              ",\"allocationPolicy\":\"static\",\"iotHubs\":[\"" FX_HUB2 "\"]");
    assert_int_equal(fx_call_full(fx, FX_REGISTER, FX_SCOPE, REG, "2018-04-01", t, NULL, NULL),
                     202);
    assert_string_equal(fx->jobs[1].hub, FX_HUB1); /* sticky */
    assert_string_equal(fx->jobs[1].old_hub, "");
    fx_complete(fx, 1, true, 0, NULL);
    assert_int_equal(fx_call_full(fx, FX_REGISTER, FX_SCOPE, REG, "2019-03-31", t, NULL, NULL),
                     202);
    assert_string_equal(fx->jobs[2].hub, FX_HUB2); /* the default: migrate */
    assert_string_equal(fx->jobs[2].old_hub, FX_HUB1);
    assert_true(fx->jobs[2].migrate);
    fx_complete(fx, 2, true, 0, NULL);
    free(t);
}

static void test_explain_does_not_write(void **state)
{
    engine_fx *fx = *state;
    enroll_static(fx, FX_HUB2, MIGRATE);
    json_t *ex = explain(fx);
    assert_string_equal(json_string_value(json_object_get(ex, "assignedHub")), FX_HUB2);
    assert_string_equal(json_string_value(json_object_get(ex, "action")), "create");
    json_decref(ex);
    dps_record rec = {0};
    assert_int_equal(dps_store_get(fx->store, DPS_COLL_REGISTRATION, REG, &rec),
                     DPS_STORE_NOT_FOUND);
    assert_int_equal(fx->njobs, 0);
    assert_int_equal(dps_engine_operation_count(fx->engine), 0);
    /* Custom: the request is shown, the webhook is not called. */
    fx_enroll(fx, REG, FX_DEVICE_KEY, OTHER_KEY, CUSTOM_ENROLLMENT);
    ex = explain(fx);
    assert_false(hook.pending);
    assert_non_null(json_object_get(json_object_get(ex, "webhookRequest"), "linkedHubs"));
    json_decref(ex);
    /* Unknown device with no groups: 404. */
    dps_explain_request r = {.registration_id = "nobody"};
    json_t *out = NULL;
    char msg[300];
    assert_int_equal(dps_engine_explain(fx->engine, &r, &out, msg, sizeof msg), 404);
    assert_null(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plans),
        cmocka_unit_test(test_outcomes),
        cmocka_unit_test_setup_teardown(test_migrate_reset_keep_jobs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_move_keeps_the_old_hub, setup, teardown),
        cmocka_unit_test_setup_teardown(test_webhook_flow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_webhook_without_caller, setup, teardown),
        cmocka_unit_test_setup_teardown(test_legacy_sticky, setup, teardown),
        cmocka_unit_test_setup_teardown(test_explain_does_not_write, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
