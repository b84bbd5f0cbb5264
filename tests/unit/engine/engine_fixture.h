/* Shared by the engine tests: a real SQLite store in a temporary
 * directory, a fixed clock, a fake hub provisioner behind the production
 * seam (engine/provision.h) that records jobs and completes them when the
 * test says so, and calls that capture the engine's answer. */
#ifndef TEST_ENGINE_FIXTURE_H
#define TEST_ENGINE_FIXTURE_H

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/b64.h"
#include "common/log.h"
#include "common/sas.h"
#include "engine/registration.h"
#include "store/store.h"

#define FX_SCOPE "0ne000AB12C"
/* device-api.md §5.8 / §9 vectors */
#define FX_DEVICE_KEY "i0zgJJQIisMn48jO9KzXjzmFC/Zmqh1rCMPQc2ibKwY="
#define FX_GROUP_KEY                                                                              \
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw=="
#define FX_SE 1767225600LL
#define FX_HUB1 "hub1.example.net"
#define FX_HUB2 "hub2.example.net"
#define FX_HUB_KEY "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

/* The clock: 10 s before the vectors' expiry. */
static int64_t fx_clock_ns = (FX_SE - 10) * 1000000000LL;
static int64_t fx_now(void)
{
    return fx_clock_ns;
}

#define FX_MAX_JOBS 16
typedef struct {
    char hub[64];
    char device_id[160];
    char primary[128];
    char secondary[128];
    bool iot_edge;
    char *twin; /* serialised initial twin or NULL */
    /* Reprovisioning moves (provision.h): "" when none. */
    char old_hub[64];
    bool migrate, replace_twin, old_has_migration, has_migration;
    dps_hub_done_fn done;
    void *arg;
    bool pending;
} fx_job;

typedef struct {
    char dir[64];
    dps_store *store;
    dps_engine *engine;
    fx_job jobs[FX_MAX_JOBS];
    size_t njobs;
    bool refuse_start; /* start returns -1 */
    /* last answer */
    int status, code, retry_after;
    char message[300];
    json_t *body;
} engine_fx;

static int fx_start(void *self, const dps_hub_job *job, dps_hub_done_fn done, void *arg,
                    char *err, size_t errlen)
{
    engine_fx *fx = self;
    if (fx->refuse_start || fx->njobs == FX_MAX_JOBS) {
        snprintf(err, errlen, "refused by the fake");
        return -1;
    }
    fx_job *j = &fx->jobs[fx->njobs++];
    memset(j, 0, sizeof *j);
    snprintf(j->hub, sizeof j->hub, "%s", job->hub_name);
    snprintf(j->device_id, sizeof j->device_id, "%s", job->device_id);
    snprintf(j->primary, sizeof j->primary, "%s", job->primary_key);
    snprintf(j->secondary, sizeof j->secondary, "%s", job->secondary_key);
    j->iot_edge = job->iot_edge;
    j->twin = job->initial_twin ? json_dumps(job->initial_twin, JSON_COMPACT | JSON_SORT_KEYS)
                                : NULL;
    snprintf(j->old_hub, sizeof j->old_hub, "%s", job->old_hub_name ? job->old_hub_name : "");
    j->migrate = job->migrate;
    j->replace_twin = job->replace_twin;
    j->has_migration = job->migration_connection_string != NULL;
    j->old_has_migration = job->old_migration_connection_string != NULL;
    j->done = done;
    j->arg = arg;
    j->pending = true;
    return 0;
}

/* Completes job i as the hub client would, from "the loop". */
static inline void fx_complete(engine_fx *fx, size_t i, bool ok, int code, const char *msg)
{
    assert_true(i < fx->njobs);
    fx_job *j = &fx->jobs[i];
    assert_true(j->pending);
    j->pending = false;
    dps_hub_outcome o = {.ok = ok, .error_code = code, .message = msg};
    j->done(j->arg, &o);
}

static inline void fx_put(engine_fx *fx, dps_collection c, const char *key, const char *doc,
                          const char *group)
{
    dps_record rec = {
        .key = (char *)key, .doc = (char *)doc, .etag = "IjEi", .group = (char *)group};
    assert_int_equal(dps_store_put(fx->store, c, &rec, DPS_PUT_UPSERT, NULL), DPS_STORE_OK);
}

static inline void fx_link_hub(engine_fx *fx, const char *name, int weight)
{
    char doc[512];
    snprintf(doc, sizeof doc,
             "{\"name\":\"%s\",\"connectionString\":\"HostName=%s;SharedAccessKeyName=iothubowner;"
             "SharedAccessKey=" FX_HUB_KEY "\",\"registryUrl\":\"https://127.0.0.1:8444\","
             "\"allocationWeight\":%d}",
             name, name, weight);
    fx_put(fx, DPS_COLL_LINKED_HUB, name, doc, NULL);
}

/* An individual symmetric-key enrollment; extra is more JSON members
 * (starting with ',') or "". */
static inline void fx_enroll(engine_fx *fx, const char *regid, const char *primary,
                             const char *secondary, const char *extra)
{
    char key[200], doc[2048];
    snprintf(key, sizeof key, "%s", regid);
    for (char *p = key; *p; p++)
        *p = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
    snprintf(doc, sizeof doc,
             "{\"registrationId\":\"%s\",\"attestation\":{\"type\":\"symmetricKey\","
             "\"symmetricKey\":{\"primaryKey\":\"%s\",\"secondaryKey\":\"%s\"}},"
             "\"capabilities\":{\"iotEdge\":false}%s}",
             regid, primary, secondary, extra);
    fx_put(fx, DPS_COLL_ENROLLMENT, key, doc, NULL);
}

static inline void fx_group(engine_fx *fx, const char *gid, const char *primary,
                            const char *secondary, const char *extra)
{
    char key[200], doc[2048];
    snprintf(key, sizeof key, "%s", gid);
    for (char *p = key; *p; p++)
        *p = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
    snprintf(doc, sizeof doc,
             "{\"enrollmentGroupId\":\"%s\",\"attestation\":{\"type\":\"symmetricKey\","
             "\"symmetricKey\":{\"primaryKey\":\"%s\",\"secondaryKey\":\"%s\"}},"
             "\"capabilities\":{\"iotEdge\":false}%s}",
             gid, primary, secondary, extra);
    fx_put(fx, DPS_COLL_ENROLLMENT_GROUP, key, doc, NULL);
}

static inline engine_fx *fx_new(void)
{
    engine_fx *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    dps_log_set_level(DPS_LOG_ERROR);
    fx_clock_ns = (FX_SE - 10) * 1000000000LL;
    snprintf(fx->dir, sizeof fx->dir, "/tmp/dps-engine-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    char url[128], err[256] = "";
    snprintf(url, sizeof url, "sqlite:%s/x.db", fx->dir);
    fx->store = dps_store_open(url, err, sizeof err);
    if (fx->store == NULL)
        fail_msg("store: %s", err);
    return fx;
}

static inline void fx_engine(engine_fx *fx, const dps_engine_options *extra)
{
    dps_engine_options o = {0};
    if (extra != NULL)
        o = *extra;
    o.store = fx->store;
    o.id_scope = FX_SCOPE;
    o.provisioner = (dps_hub_provisioner){.start = fx_start, .self = fx};
    o.now_ns = fx_now;
    fx->engine = dps_engine_new(&o);
    assert_non_null(fx->engine);
}

static inline int fx_setup(void **state)
{
    engine_fx *fx = fx_new();
    fx_engine(fx, NULL);
    *state = fx;
    return 0;
}

static inline int fx_teardown(void **state)
{
    engine_fx *fx = *state;
    dps_engine_free(&fx->engine);
    dps_store_close(&fx->store);
    for (size_t i = 0; i < fx->njobs; i++)
        free(fx->jobs[i].twin);
    json_decref(fx->body);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", fx->dir);
    free(fx);
    return 0;
}

static void fx_on_answer(void *arg, const dps_reg_answer *a)
{
    engine_fx *fx = arg;
    assert_int_equal(fx->status, -1); /* exactly once */
    fx->status = a->status;
    fx->code = a->error_code;
    fx->retry_after = a->retry_after;
    snprintf(fx->message, sizeof fx->message, "%s", a->message ? a->message : "");
    fx->body = a->body != NULL ? json_deep_copy(a->body) : NULL;
}

typedef enum { FX_REGISTER, FX_POLL, FX_LOOKUP } fx_call;

/* One request; token NULL = none. Returns the status. */
static inline int fx_call_full(engine_fx *fx, fx_call what, const char *scope, const char *regid,
                               const char *api_version, const char *token, const char *body,
                               const char *op)
{
    json_decref(fx->body);
    fx->body = NULL;
    fx->status = -1;
    dps_reg_request r = {.transport = DPS_TRANSPORT_HTTPS,
                         .id_scope = scope,
                         .registration_id = regid,
                         .api_version = api_version,
                         .operation_id = op,
                         .sas_token = token,
                         .body = body,
                         .body_len = body ? strlen(body) : 0,
                         .peer = "test"};
    switch (what) {
    case FX_REGISTER:
        dps_engine_register(fx->engine, &r, fx_on_answer, fx);
        break;
    case FX_POLL:
        dps_engine_operation_status(fx->engine, &r, fx_on_answer, fx);
        break;
    case FX_LOOKUP:
        dps_engine_registration_status(fx->engine, &r, fx_on_answer, fx);
        break;
    }
    assert_int_not_equal(fx->status, -1); /* answered before returning */
    return fx->status;
}

/* A token signed with key_b64 over "{scope}/registrations/{regid}" sent
 * raw, expiring at FX_SE. Caller frees. */
static inline char *fx_token(const char *regid, const char *key_b64)
{
    char sr[300];
    snprintf(sr, sizeof sr, FX_SCOPE "/registrations/%s", regid);
    char se[24];
    snprintf(se, sizeof se, "%lld", FX_SE);
    uint8_t *key = NULL;
    size_t klen = 0;
    assert_int_equal(dps_b64_decode(key_b64, strlen(key_b64), &key, &klen), 0);
    char *sig = dps_sas_signature(key, klen, sr, se);
    free(key);
    assert_non_null(sig);
    char enc[200];
    size_t o = 0;
    for (const char *p = sig; *p && o + 4 < sizeof enc; p++) {
        if (*p == '+' || *p == '/' || *p == '=')
            o += (size_t)snprintf(enc + o, sizeof enc - o, "%%%02X", (unsigned char)*p);
        else
            enc[o++] = *p;
    }
    enc[o] = '\0';
    free(sig);
    size_t n = strlen(sr) + strlen(enc) + 80;
    char *tok = malloc(n);
    assert_non_null(tok);
    snprintf(tok, n, "SharedAccessSignature sr=%s&sig=%s&se=%s&skn=registration", sr, enc, se);
    return tok;
}

static inline int fx_register(engine_fx *fx, const char *regid, const char *token)
{
    return fx_call_full(fx, FX_REGISTER, FX_SCOPE, regid, "2021-06-01", token, NULL, NULL);
}

static inline int fx_poll(engine_fx *fx, const char *regid, const char *token, const char *op)
{
    return fx_call_full(fx, FX_POLL, FX_SCOPE, regid, "2021-06-01", token, NULL, op);
}

/* The operation ID of the last 202/200 answer (copied into out). */
static inline void fx_op_id(engine_fx *fx, char out[80])
{
    const char *id = json_string_value(json_object_get(fx->body, "operationId"));
    assert_non_null(id);
    snprintf(out, 80, "%s", id);
}

static inline const char *fx_state_str(engine_fx *fx, const char *member)
{
    return json_string_value(json_object_get(json_object_get(fx->body, "registrationState"),
                                             member));
}

#endif
