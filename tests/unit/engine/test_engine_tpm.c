/* TPM attestation through the engine (engine/attest_tpm.c): the 401
 * challenge, the second PUT signed with the key the challenge delivered
 * (opened by the software TPM of tpm_soft.h), the hub key in the final
 * result, and every refusal of issue 6: unknown registration, another EK,
 * expired and replayed challenges, MQTT, bad SRKs. */
#include "engine_fixture.h"

#include "engine/attest.h"
#include "engine/tpm_challenges.h"
#include "tpm_soft.h"

#define REG "tpm-device-01"

typedef struct {
    engine_fx *fx;
    soft_key ek, srk;
} tpm_fx;

static int setup(void **state)
{
    tpm_fx *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->fx = fx_new();
    fx_engine(t->fx, NULL);
    assert_int_equal(soft_key_make(&t->ek, true, 2048, 0x0043), 0);
    assert_int_equal(soft_key_make(&t->srk, false, 2048, 0x0043), 0);
    fx_link_hub(t->fx, FX_HUB1, 1);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    tpm_fx *t = *state;
    void *fs = t->fx;
    fx_teardown(&fs);
    soft_key_free(&t->ek);
    soft_key_free(&t->srk);
    free(t);
    return 0;
}

static void enroll_tpm(engine_fx *fx, const char *regid, const char *ek_b64, const char *extra)
{
    char key[200], doc[2048];
    snprintf(key, sizeof key, "%s", regid);
    for (char *p = key; *p; p++)
        *p = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
    snprintf(doc, sizeof doc,
             "{\"registrationId\":\"%s\",\"attestation\":{\"type\":\"tpm\",\"tpm\":"
             "{\"endorsementKey\":\"%s\"}},\"capabilities\":{\"iotEdge\":false}%s}",
             regid, ek_b64, extra);
    fx_put(fx, DPS_COLL_ENROLLMENT, key, doc, NULL);
}

/* {"registrationId", "tpm": {ek, srk}}; srk NULL leaves it out; with_tpm
 * false sends only the registration ID (IoT Edge's second PUT). */
static char *body(const char *regid, const char *ek, const char *srk, bool with_tpm)
{
    char *b = malloc(2048);
    assert_non_null(b);
    if (!with_tpm)
        snprintf(b, 2048, "{\"registrationId\":\"%s\"}", regid);
    else if (srk == NULL)
        snprintf(b, 2048, "{\"registrationId\":\"%s\",\"tpm\":{\"endorsementKey\":\"%s\"}}",
                 regid, ek);
    else
        snprintf(b, 2048,
                 "{\"registrationId\":\"%s\",\"tpm\":{\"endorsementKey\":\"%s\","
                 "\"storageRootKey\":\"%s\"}}",
                 regid, ek, srk);
    return b;
}

static int call(engine_fx *fx, fx_call what, const char *regid, const char *token,
                const char *b, const char *op)
{
    return fx_call_full(fx, what, FX_SCOPE, regid, "2021-06-01", token, b, op);
}

/* First PUT: answers the challenge and returns the key the software TPM
 * got out of it (base64, caller frees). */
static char *challenge(tpm_fx *t, const char *regid)
{
    char *b = body(regid, t->ek.b64, t->srk.b64, true);
    assert_int_equal(call(t->fx, FX_REGISTER, regid, NULL, b, NULL), 401);
    free(b);
    assert_int_equal(t->fx->code, 401002);
    json_t *c = t->fx->body;
    assert_non_null(c);
    /* tpm.md §4.2: exactly message, authenticationKey, keyName; no status. */
    assert_int_equal(json_object_size(c), 3);
    assert_null(json_object_get(c, "status"));
    assert_non_null(json_string_value(json_object_get(c, "message")));
    assert_string_equal(json_string_value(json_object_get(c, "keyName")), "registration");
    soft_result r;
    const char *blob = json_string_value(json_object_get(c, "authenticationKey"));
    if (soft_tpm_open_b64(&t->ek, &t->srk, blob, &r) != 0)
        fail_msg("the software TPM refused the challenge: %s", r.why);
    return dps_b64_encode(r.key, 32);
}

static void test_happy_path(void **state)
{
    tpm_fx *t = *state;
    engine_fx *fx = t->fx;
    enroll_tpm(fx, REG, t->ek.b64, "");
    char *k1 = challenge(t, REG);
    char *tok = fx_token(REG, k1);
    char *b = body(REG, t->ek.b64, t->srk.b64, true);
    assert_int_equal(call(fx, FX_REGISTER, REG, tok, b, NULL), 202);
    char op[80];
    fx_op_id(fx, op);
    assert_int_equal(fx->njobs, 1);
    assert_int_equal(fx_poll(fx, REG, tok, op), 202);
    fx_complete(fx, 0, true, 0, NULL);
    assert_int_equal(fx_poll(fx, REG, tok, op), 200);
    assert_string_equal(fx_state_str(fx, "status"), "assigned");
    const json_t *tpm = json_object_get(json_object_get(fx->body, "registrationState"), "tpm");
    const char *blob2 = json_string_value(json_object_get(tpm, "authenticationKey"));
    assert_non_null(blob2);
    /* The second blob carries the hub device's primary key. */
    soft_result r;
    if (soft_tpm_open_b64(&t->ek, &t->srk, blob2, &r) != 0)
        fail_msg("the software TPM refused the hub key blob: %s", r.why);
    char *k2 = dps_b64_encode(r.key, 32);
    assert_string_equal(fx->jobs[0].primary, k2);
    assert_string_not_equal(k2, k1);
    assert_string_not_equal(fx->jobs[0].secondary, k2);
    assert_string_equal(fx->jobs[0].device_id, REG);
    /* A hub token signed with K2 would verify with the hub's primary key:
     * the device signs inside its TPM with exactly that key. */

    /* The same register again is a replay. */
    assert_int_equal(call(fx, FX_REGISTER, REG, tok, b, NULL), 401);
    assert_int_equal(fx->code, 401002);
    assert_non_null(strstr(fx->message, "already used"));
    /* Polls and the lookup still accept the token while the challenge lives. */
    assert_int_equal(fx_poll(fx, REG, tok, op), 200);
    assert_int_equal(call(fx, FX_LOOKUP, REG, tok, b, NULL), 200);
    assert_string_equal(json_string_value(json_object_get(fx->body, "status")), "assigned");

    /* Registering again: a new challenge, a new hub key. */
    char *k1b = challenge(t, REG);
    char *tok2 = fx_token(REG, k1b);
    assert_int_equal(call(fx, FX_REGISTER, REG, tok2, b, NULL), 202);
    assert_int_equal(fx->njobs, 2);
    assert_string_not_equal(fx->jobs[1].primary, fx->jobs[0].primary);
    fx_complete(fx, 1, true, 0, NULL);
    free(k1b);
    free(tok2);
    free(k2);
    free(b);
    free(tok);
    free(k1);
}

/* IoT Edge sends only the registration ID on the second PUT; the key name
 * may be missing from the token (azure-sdk-for-c style). */
static void test_second_put_without_tpm(void **state)
{
    tpm_fx *t = *state;
    engine_fx *fx = t->fx;
    enroll_tpm(fx, REG, t->ek.b64, "");
    char *k1 = challenge(t, REG);
    char *tok = fx_token(REG, k1);
    /* Drop "&skn=registration". */
    char *skn = strstr(tok, "&skn=");
    assert_non_null(skn);
    *skn = '\0';
    char *b = body(REG, NULL, NULL, false);
    assert_int_equal(call(fx, FX_REGISTER, REG, tok, b, NULL), 202);
    assert_int_equal(fx->njobs, 1);
    char op[80];
    fx_op_id(fx, op);
    fx_complete(fx, 0, true, 0, NULL);
    assert_int_equal(fx_poll(fx, REG, tok, op), 200);
    const json_t *tpm = json_object_get(json_object_get(fx->body, "registrationState"), "tpm");
    soft_result r;
    assert_int_equal(soft_tpm_open_b64(&t->ek, &t->srk,
                                       json_string_value(json_object_get(tpm, "authenticationKey")),
                                       &r),
                     0);
    free(b);
    free(tok);
    free(k1);
}

static void test_expired_challenge(void **state)
{
    tpm_fx *t = *state;
    engine_fx *fx = t->fx;
    enroll_tpm(fx, REG, t->ek.b64, "");
    char *k1 = challenge(t, REG);
    char *tok = fx_token(REG, k1);
    char *b = body(REG, t->ek.b64, t->srk.b64, true);
    fx_clock_ns += 300LL * 1000000000LL; /* the token itself is still valid (skew) */
    assert_int_equal(call(fx, FX_REGISTER, REG, tok, b, NULL), 401);
    assert_int_equal(fx->code, 401002);
    assert_non_null(strstr(fx->message, "expired"));
    assert_null(fx->body); /* the DPS error shape, not a challenge */
    assert_int_equal(fx->njobs, 0);
    free(b);
    free(tok);
    free(k1);
}

static void test_refusals(void **state)
{
    tpm_fx *t = *state;
    engine_fx *fx = t->fx;
    enroll_tpm(fx, REG, t->ek.b64, "");
    char *b = NULL;

    /* Unknown registration ID: 404 (groups never take TPM). */
    fx_group(fx, "some-group", FX_GROUP_KEY, FX_GROUP_KEY, "");
    b = body("nobody", t->ek.b64, t->srk.b64, true);
    assert_int_equal(call(fx, FX_REGISTER, "nobody", NULL, b, NULL), 404);
    assert_int_equal(fx->code, 404201);
    free(b);

    /* Another EK: 401, no challenge. */
    soft_key other;
    assert_int_equal(soft_key_make(&other, true, 2048, 0x0043), 0);
    b = body(REG, other.b64, t->srk.b64, true);
    assert_int_equal(call(fx, FX_REGISTER, REG, NULL, b, NULL), 401);
    assert_int_equal(fx->code, 401002);
    assert_null(fx->body);
    assert_non_null(strstr(fx->message, "endorsement key does not match"));
    free(b);

    /* A symmetric-key enrollment does not take TPM. */
    fx_enroll(fx, "sym-device", FX_DEVICE_KEY, FX_DEVICE_KEY, "");
    b = body("sym-device", t->ek.b64, t->srk.b64, true);
    assert_int_equal(call(fx, FX_REGISTER, "sym-device", NULL, b, NULL), 401);
    assert_non_null(strstr(fx->message, "does not use TPM"));
    free(b);

    /* Bad SRKs and bodies: 400. */
    b = body(REG, t->ek.b64, NULL, true);
    assert_int_equal(call(fx, FX_REGISTER, REG, NULL, b, NULL), 400);
    assert_int_equal(fx->code, 400001);
    free(b);
    b = body(REG, t->ek.b64, "AAAA", true);
    assert_int_equal(call(fx, FX_REGISTER, REG, NULL, b, NULL), 400);
    assert_non_null(strstr(fx->message, "storageRootKey"));
    free(b);
    soft_key ctr;
    assert_int_equal(soft_key_make(&ctr, false, 2048, 0x0040), 0);
    b = body(REG, t->ek.b64, ctr.b64, true);
    assert_int_equal(call(fx, FX_REGISTER, REG, NULL, b, NULL), 400);
    assert_non_null(strstr(fx->message, "AES-128-CFB"));
    free(b);
    soft_key_free(&ctr);
    assert_int_equal(call(fx, FX_REGISTER, REG, NULL,
                          "{\"registrationId\":\"" REG "\",\"tpm\":\"x\"}", NULL),
                     400);

    /* A SAS before any challenge, and one signed with a wrong key. */
    char *tok = fx_token(REG, FX_DEVICE_KEY);
    b = body(REG, t->ek.b64, t->srk.b64, true);
    assert_int_equal(call(fx, FX_REGISTER, REG, tok, b, NULL), 401);
    assert_non_null(strstr(fx->message, "no TPM challenge"));
    char *k1 = challenge(t, REG);
    assert_int_equal(call(fx, FX_REGISTER, REG, tok, b, NULL), 401);
    assert_non_null(strstr(fx->message, "not signed with the key"));
    /* The right key, but the EK in the body is another one. */
    char *good = fx_token(REG, k1);
    char *wrong_ek = body(REG, other.b64, t->srk.b64, true);
    assert_int_equal(call(fx, FX_REGISTER, REG, good, wrong_ek, NULL), 401);
    /* The enrollment's EK changed after the challenge. */
    enroll_tpm(fx, REG, other.b64, "");
    char *nothing = body(REG, NULL, NULL, false);
    assert_int_equal(call(fx, FX_REGISTER, REG, good, nothing, NULL), 401);
    assert_non_null(strstr(fx->message, "changed"));
    /* Without a SAS the status lookup never hands out a challenge. */
    enroll_tpm(fx, REG, t->ek.b64, "");
    assert_int_equal(call(fx, FX_LOOKUP, REG, NULL, b, NULL), 401);
    assert_null(fx->body);
    assert_int_equal(fx->njobs, 0);
    free(nothing);
    free(wrong_ek);
    free(good);
    free(k1);
    free(tok);
    free(b);
    soft_key_free(&other);
}

static void test_disabled(void **state)
{
    tpm_fx *t = *state;
    engine_fx *fx = t->fx;
    enroll_tpm(fx, REG, t->ek.b64, ",\"provisioningStatus\":\"disabled\"");
    /* The challenge comes first; the status is told after authentication. */
    char *k1 = challenge(t, REG);
    char *tok = fx_token(REG, k1);
    char *b = body(REG, t->ek.b64, t->srk.b64, true);
    assert_int_equal(call(fx, FX_REGISTER, REG, tok, b, NULL), 202);
    char op[80];
    fx_op_id(fx, op);
    assert_int_equal(fx->njobs, 0);
    assert_int_equal(fx_poll(fx, REG, tok, op), 200);
    assert_string_equal(fx_state_str(fx, "status"), "disabled");
    assert_null(json_object_get(json_object_get(fx->body, "registrationState"), "tpm"));
    free(b);
    free(tok);
    free(k1);
}

static void test_failed_hub_has_no_key(void **state)
{
    tpm_fx *t = *state;
    engine_fx *fx = t->fx;
    enroll_tpm(fx, REG, t->ek.b64, "");
    char *k1 = challenge(t, REG);
    char *tok = fx_token(REG, k1);
    char *b = body(REG, t->ek.b64, t->srk.b64, true);
    assert_int_equal(call(fx, FX_REGISTER, REG, tok, b, NULL), 202);
    char op[80];
    fx_op_id(fx, op);
    fx_complete(fx, 0, false, 500101, "refused");
    assert_int_equal(fx_poll(fx, REG, tok, op), 200);
    assert_string_equal(fx_state_str(fx, "status"), "failed");
    assert_null(json_object_get(json_object_get(fx->body, "registrationState"), "tpm"));
    free(b);
    free(tok);
    free(k1);
}

static void test_mqtt_refused(void **state)
{
    tpm_fx *t = *state;
    engine_fx *fx = t->fx;
    enroll_tpm(fx, REG, t->ek.b64, "");
    char *b = body(REG, t->ek.b64, t->srk.b64, true);
    dps_reg_request r = {.transport = DPS_TRANSPORT_MQTT,
                         .id_scope = FX_SCOPE,
                         .registration_id = REG,
                         .api_version = "2021-06-01",
                         .body = b,
                         .body_len = strlen(b),
                         .peer = "test"};
    json_decref(fx->body);
    fx->body = NULL;
    fx->status = -1;
    dps_engine_register(fx->engine, &r, fx_on_answer, fx);
    assert_int_equal(fx->status, 401);
    assert_null(fx->body);
    assert_non_null(strstr(fx->message, "not available over MQTT"));
    free(b);
}

/* The attestation result a register gets: the hub keys, the second blob
 * and the allocation webhook's deviceRuntimeContext.tpm. */
static void test_attest_result(void **state)
{
    tpm_fx *t = *state;
    engine_fx *fx = t->fx;
    enroll_tpm(fx, REG, t->ek.b64, "");
    dps_tpm_challenges *ch = dps_tpm_challenges_new(300000, 0);
    assert_non_null(ch);
    char key[DPS_ID_KEY_SIZE];
    assert_true(dps_id_key(REG, key));
    char *b = body(REG, t->ek.b64, t->srk.b64, true);
    dps_reg_request r = {.id_scope = FX_SCOPE, .registration_id = REG, .body = b,
                         .body_len = strlen(b)};
    dps_attest_ctx ac = {.store = fx->store, .now_s = fx_clock_ns / 1000000000,
                         .tpm_challenges = ch, .registering = true};
    dps_attest_result res;
    assert_int_equal(dps_attest(&ac, &r, key, &res), DPS_ATTEST_CHALLENGE);
    soft_result sr;
    assert_int_equal(
        soft_tpm_open_b64(&t->ek, &t->srk,
                          json_string_value(json_object_get(res.challenge, "authenticationKey")),
                          &sr),
        0);
    dps_attest_result_free(&res);
    char *k1 = dps_b64_encode(sr.key, 32);
    char *tok = fx_token(REG, k1);
    r.sas_token = tok;
    /* Without a table (an engine without TPM) the device is refused. */
    ac.tpm_challenges = NULL;
    assert_int_equal(dps_attest(&ac, &r, key, &res), DPS_ATTEST_UNAUTHORIZED);
    dps_attest_result_free(&res);
    ac.tpm_challenges = ch;
    /* A poll or lookup does not use the key up and gets no hub key. */
    ac.registering = false;
    assert_int_equal(dps_attest(&ac, &r, key, &res), DPS_ATTEST_OK);
    assert_null(res.primary_key);
    assert_null(res.tpm);
    dps_attest_result_free(&res);
    ac.registering = true;
    assert_int_equal(dps_attest(&ac, &r, key, &res), DPS_ATTEST_OK);
    assert_false(res.is_group);
    assert_non_null(res.enrollment);
    assert_non_null(res.primary_key);
    assert_non_null(res.secondary_key);
    assert_string_not_equal(res.primary_key, res.secondary_key);
    assert_string_equal(json_string_value(json_object_get(res.tpm_context, "endorsementKey")),
                        t->ek.b64);
    assert_string_equal(json_string_value(json_object_get(res.tpm_context, "storageRootKey")),
                        t->srk.b64);
    assert_int_equal(soft_tpm_open_b64(&t->ek, &t->srk,
                                       json_string_value(
                                           json_object_get(res.tpm, "authenticationKey")),
                                       &sr),
                     0);
    char *k2 = dps_b64_encode(sr.key, 32);
    assert_string_equal(res.primary_key, k2);
    dps_attest_result_free(&res);
    assert_int_equal(dps_attest(&ac, &r, key, &res), DPS_ATTEST_UNAUTHORIZED);
    dps_attest_result_free(&res);
    free(k2);
    free(tok);
    free(k1);
    free(b);
    dps_tpm_challenges_free(&ch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_happy_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_put_without_tpm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired_challenge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disabled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_hub_has_no_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mqtt_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attest_result, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
