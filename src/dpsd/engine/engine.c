/* The registration engine (registration.h): the order of checks for each
 * device request, the operation life cycle and the hand-off to the hub
 * provisioner. Attestation (attest*.c), allocation (allocate.c), the
 * record shape (record.c) and the operation table (operations.c) are in
 * their own files; this one wires them together.
 *
 * Order of checks for every request: ID scope (404) -> api-version (400)
 * -> registration ID (400) -> body (400) -> SAS shape, expiry, audience
 * (401) -> enrollment and key (401 / 404) -> operation. Nothing is written
 * before the device has proven itself. */
#include "engine/registration.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/json.h"
#include "common/log.h"
#include "common/secret.h"
#include "common/timeutil.h"
#include "engine/allocate.h"
#include "engine/attest.h"
#include "engine/decide.h"
#include "engine/explain.h"
#include "engine/hubset.h"
#include "engine/operations.h"
#include "engine/record.h"
#include "engine/reprovision.h"
#include "engine/tpm_challenges.h"
#include "engine/webhook.h"
#include "model/linked_hub.h"

typedef struct hub_wait hub_wait;
typedef struct webhook_wait webhook_wait;

struct dps_engine {
    dps_store *store;
    char id_scope[16];
    int retry_after_s;
    int64_t ttl_ms;
    size_t max_operations;
    char *extra_versions[DPS_REG_MAX_EXTRA_VERSIONS];
    size_t nextra;
    dps_hub_provisioner prov;
    int64_t (*now_ns)(void);
    dps_op_table *ops;
    hub_wait *waits; /* operations whose hub job is running */
    dps_webhook_caller webhook;
    const dps_geo_model *geo;
    webhook_wait *webhooks; /* operations waiting for their allocation webhook */
    dps_tpm_challenges *tpm; /* pending TPM challenges (attest_tpm.c) */
};

/* One operation waiting for its hub; linked into the engine so that what
 * is still waiting at shutdown is freed. */
struct hub_wait {
    dps_engine *e;
    hub_wait *prev, *next;
    dps_op *op;
    char *hub_name;
    char *device_id;
    char *group_id;  /* enrollmentGroupId as written on the group */
    char *group_key; /* store group of the record */
    char *created;
    json_t *x509; /* registrationState.x509, X.509 devices only */
    json_t *tpm;  /* registrationState.tpm (the hub key blob), TPM devices only */
    dps_transport_kind transport;
    /* Reprovisioning: what the record says if the job fails (the device's
     * identity is still where it was), the substatus if it succeeds, the
     * webhook's payload and the hub of the first assignment. */
    char *prev_hub;
    char *prev_device_id;
    const char *substatus; /* static text */
    json_t *payload;
    char *initial_hub;
};

static const char *transport_name(dps_transport_kind t)
{
    return t == DPS_TRANSPORT_MQTT ? "mqtt" : "https";
}

static int64_t now_ns(const dps_engine *e)
{
    return e->now_ns != NULL ? e->now_ns() : dps_now_ns();
}

/* Operation ages: the injected clock in tests, else the monotonic one. */
static int64_t age_ms(const dps_engine *e)
{
    return e->now_ns != NULL ? e->now_ns() / 1000000 : dps_monotonic_ms();
}

/* ---- answers ------------------------------------------------------------ */

static void answer_error(dps_reg_answer_fn fn, void *arg, int code, const char *msg)
{
    dps_reg_answer a = {.status = code / 1000, .error_code = code, .message = msg};
    if (code == DPS_REG_ERR_THROTTLED)
        a.retry_after = DPS_REG_RETRY_AFTER_DEFAULT * 5;
    fn(arg, &a);
}

static void answer_json(dps_reg_answer_fn fn, void *arg, int status, int retry_after,
                        json_t *body)
{
    if (body == NULL) {
        answer_error(fn, arg, DPS_REG_ERR_INTERNAL, "out of memory");
        return;
    }
    dps_reg_answer a = {.status = status, .retry_after = retry_after, .body = body};
    fn(arg, &a);
    json_decref(body);
}

/* ---- life cycle --------------------------------------------------------- */

dps_engine *dps_engine_new(const dps_engine_options *opt)
{
    if (opt->store == NULL || opt->id_scope == NULL || opt->provisioner.start == NULL ||
        strlen(opt->id_scope) >= sizeof(((dps_engine *)0)->id_scope) ||
        opt->retry_after_s < 0 || opt->retry_after_s > DPS_REG_RETRY_AFTER_MAX ||
        opt->operation_ttl_s < 0 || opt->n_extra_api_versions > DPS_REG_MAX_EXTRA_VERSIONS) {
        log_error("registration engine: invalid options");
        return NULL;
    }
    dps_engine *e = calloc(1, sizeof *e);
    if (e == NULL)
        return NULL;
    e->store = opt->store;
    snprintf(e->id_scope, sizeof e->id_scope, "%s", opt->id_scope);
    e->retry_after_s = opt->retry_after_s > 0 ? opt->retry_after_s : DPS_REG_RETRY_AFTER_DEFAULT;
    e->ttl_ms = (opt->operation_ttl_s > 0 ? opt->operation_ttl_s : DPS_REG_OPERATION_TTL_DEFAULT) *
                1000;
    e->max_operations =
        opt->max_operations > 0 ? opt->max_operations : DPS_REG_MAX_OPERATIONS_DEFAULT;
    e->prov = opt->provisioner;
    e->now_ns = opt->now_ns;
    e->webhook = opt->webhook;
    e->geo = opt->geo;
    e->ops = dps_op_table_new();
    e->tpm = dps_tpm_challenges_new((int64_t)DPS_TPM_CHALLENGE_TTL_S * 1000, 0);
    bool ok = e->ops != NULL && e->tpm != NULL;
    for (size_t i = 0; ok && i < opt->n_extra_api_versions; i++) {
        e->extra_versions[i] = strdup(opt->extra_api_versions[i]);
        ok = e->extra_versions[i] != NULL;
        e->nextra = i + 1;
    }
    if (!ok)
        dps_engine_free(&e);
    return e;
}

static void hub_wait_free(hub_wait *w);
static void cancel_webhooks(dps_engine *e);

void dps_engine_free(dps_engine **ep)
{
    dps_engine *e = *ep;
    if (e == NULL)
        return;
    /* Jobs of operations still assigning were cancelled with the
     * provisioner (it is freed first and calls nobody back). */
    while (e->waits != NULL)
        hub_wait_free(e->waits);
    cancel_webhooks(e);
    dps_op_table_free(&e->ops);
    dps_tpm_challenges_free(&e->tpm);
    for (size_t i = 0; i < e->nextra; i++)
        free(e->extra_versions[i]);
    free(e);
    *ep = NULL;
}

dps_store *dps_engine__store(const dps_engine *e)
{
    return e->store;
}

const dps_geo_model *dps_engine__geo(const dps_engine *e)
{
    return e->geo;
}

size_t dps_engine_operation_count(dps_engine *e)
{
    return dps_op_count(e->ops);
}

/* ---- the checks every request shares ---------------------------------- */

typedef struct {
    char regkey[DPS_ID_KEY_SIZE];
    json_t *body; /* register / lookup only */
} checked;

/* Scope, api-version and registration ID. -1 after answering. */
static int check_common(dps_engine *e, const dps_reg_request *req, checked *c,
                        dps_reg_answer_fn fn, void *arg)
{
    char msg[300];
    if (req->id_scope == NULL || strcasecmp(req->id_scope, e->id_scope) != 0) {
        answer_error(fn, arg, DPS_REG_ERR_NOT_FOUND, "unknown ID scope");
        return -1;
    }
    if (!dps_api_version_supported(req->api_version, (const char *const *)e->extra_versions,
                                   e->nextra)) {
        if (req->api_version == NULL)
            snprintf(msg, sizeof msg, "api-version is required");
        else
            snprintf(msg, sizeof msg, "api-version '%.40s' is not supported",
                     req->api_version);
        answer_error(fn, arg, DPS_REG_ERR_BAD_API_VERSION, msg);
        return -1;
    }
    if (req->registration_id == NULL || !dps_id_key(req->registration_id, c->regkey)) {
        answer_error(fn, arg, DPS_REG_ERR_INVALID_ID,
                     "the registration ID must be 1 to 128 characters of A-Z a-z 0-9 - . _ :, "
                     "starting and ending with a letter or digit");
        return -1;
    }
    return 0;
}

static bool blank_body(const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isspace((unsigned char)b[i]))
            return false;
    return true;
}

/* The DeviceRegistration body: empty means {}; registrationId, when sent,
 * must be the path's; payload, csr and unknown members are read by the
 * features that need them. -1 after answering. */
static int check_body(const dps_reg_request *req, checked *c, dps_reg_answer_fn fn, void *arg)
{
    char err[200];
    if (req->body == NULL || blank_body(req->body, req->body_len)) {
        c->body = json_object();
    } else {
        c->body = dps_json_parse_object(req->body, req->body_len, DPS_JSON_MAX_BODY, err,
                                        sizeof err);
        if (c->body == NULL) {
            char msg[300];
            snprintf(msg, sizeof msg, "the body is not a DeviceRegistration object: %s", err);
            answer_error(fn, arg, DPS_REG_ERR_INVALID_JSON, msg);
            return -1;
        }
    }
    if (c->body == NULL) {
        answer_error(fn, arg, DPS_REG_ERR_INTERNAL, "out of memory");
        return -1;
    }
    const json_t *id = json_object_get(c->body, "registrationId");
    if (id != NULL && !json_is_null(id) &&
        (!json_is_string(id) || strcasecmp(json_string_value(id), req->registration_id) != 0)) {
        answer_error(fn, arg, DPS_REG_ERR_ID_MISMATCH,
                     "registrationId in the body differs from the one in the path");
        return -1;
    }
    return 0;
}

static void token_digest(const char *token, unsigned char out[32])
{
    unsigned int n = 0;
    if (EVP_Digest(token, strlen(token), out, &n, EVP_sha256(), NULL) != 1)
        memset(out, 0, 32);
}

/* Full attestation, answering the refusals (and the TPM challenge). 0
 * with *res filled (free it), or -1 after answering. registering: the
 * request is a register, the only one a TPM challenge answers and the one
 * that uses a challenge key up. */
static int attest_as(dps_engine *e, const dps_reg_request *req, const char *regkey,
                     const char *group_hint, bool registering, dps_attest_result *res,
                     dps_reg_answer_fn fn, void *arg)
{
    dps_attest_ctx ac = {.store = e->store,
                         .now_s = now_ns(e) / 1000000000,
                         .group_hint = group_hint,
                         .tpm_challenges = e->tpm,
                         .registering = registering};
    dps_attest_status st = dps_attest(&ac, req, regkey, res);
    switch (st) {
    case DPS_ATTEST_OK:
        return 0;
    case DPS_ATTEST_UNAUTHORIZED:
        log_debug("registration %s (%s, %s): refused: %s", req->registration_id,
                  transport_name(req->transport), req->peer ? req->peer : "-", res->message);
        answer_error(fn, arg, DPS_REG_ERR_UNAUTHORIZED, res->message);
        break;
    case DPS_ATTEST_NOT_FOUND:
        answer_error(fn, arg, DPS_REG_ERR_NOT_FOUND, res->message);
        break;
    case DPS_ATTEST_ERROR:
        answer_error(fn, arg, DPS_REG_ERR_INTERNAL, "cannot read the enrollments");
        break;
    case DPS_ATTEST_BAD_REQUEST:
        answer_error(fn, arg, DPS_REG_ERR_BAD_REQUEST, res->message);
        break;
    case DPS_ATTEST_CHALLENGE: {
        /* The TPM challenge: a 401 whose body is the challenge itself, not
         * the error shape (tpm.md §4.2). */
        dps_reg_answer a = {.status = 401,
                            .error_code = DPS_REG_ERR_UNAUTHORIZED,
                            .message = res->message,
                            .body = res->challenge};
        fn(arg, &a);
        break;
    }
    }
    dps_attest_result_free(res);
    return -1;
}

static int attest(dps_engine *e, const dps_reg_request *req, const char *regkey,
                  const char *group_hint, dps_attest_result *res, dps_reg_answer_fn fn,
                  void *arg)
{
    return attest_as(e, req, regkey, group_hint, false, res, fn, arg);
}

/* ---- finishing an operation -------------------------------------------- */

typedef struct {
    dps_op_state status;
    const char *hub;
    const char *device_id;
    const char *group_id;
    const char *group_key;
    const char *created; /* NULL: now */
    int error_code;
    const char *error_message;
    const json_t *x509; /* registrationState.x509 of an X.509 device */
    const json_t *tpm;  /* registrationState.tpm of a TPM device (assigned only) */
    const char *substatus;   /* with assigned; NULL = initialAssignment */
    const json_t *payload;   /* the webhook's, returned to the device */
    const char *initial_hub; /* kept in the record (reprovision.h) */
} final_fields;

/* Stores the final record, then makes the operation final: the answer a
 * poll will see is durable before anyone can see it. When the store
 * refuses, the operation fails with 500001 and the record is left as it
 * was (nothing claims an assignment that was not recorded). */
static void finish(dps_engine *e, dps_op *op, const final_fields *f)
{
    char now[DPS_ISO_TIME_LEN], etag[128];
    dps_time_iso(now_ns(e), now);
    dps_record_fields rf = {
        .registration_id = op->registration_id,
        .group_id = f->group_id,
        .created = f->created != NULL ? f->created : now,
        .updated = now,
        .etag = etag,
        .status = f->status,
        .assigned_hub = f->hub,
        .device_id = f->device_id,
        .error_code = f->error_code,
        .error_message = f->error_message,
        .x509 = f->x509,
        .tpm = f->tpm,
        .substatus = f->substatus,
        .payload = f->payload,
        .initial_hub = f->initial_hub,
    };
    json_t *doc = NULL;
    char *text = NULL;
    bool stored = false;
    if (dps_op_record_etag(op->uuid, etag, sizeof etag) == 0)
        doc = dps_record_build(&rf);
    if (doc != NULL)
        text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    /* The record keeps the first hub for the engine; devices never see it. */
    if (doc != NULL)
        json_object_del(doc, DPS_RECORD_INITIAL_HUB);
    if (text != NULL) {
        dps_record rec = {.key = op->regkey,
                          .doc = text,
                          .etag = etag,
                          .group = (char *)f->group_key};
        stored = dps_store_put(e->store, DPS_COLL_REGISTRATION, &rec, DPS_PUT_UPSERT, NULL) ==
                 DPS_STORE_OK;
    }
    free(text);
    if (!stored) {
        json_decref(doc);
        rf.status = DPS_OP_FAILED;
        rf.error_code = DPS_REG_ERR_INTERNAL;
        rf.error_message = "cannot store the registration record";
        rf.etag = NULL;
        rf.initial_hub = NULL;
        doc = dps_record_build(&rf);
        if (doc == NULL)
            doc = json_pack("{s:s,s:s}", "registrationId", op->registration_id, "status",
                            "failed");
        log_error("registration %s: cannot store the registration record", op->registration_id);
    }
    dps_op_state to = stored ? f->status : DPS_OP_FAILED;
    if (doc == NULL || dps_op_finish(e->ops, op, to, doc, age_ms(e)) != 0)
        log_error("registration %s: operation %s cannot become %s", op->registration_id,
                  op->id, dps_op_state_name(to));
}

static void hub_wait_free(hub_wait *w)
{
    if (w->e != NULL) { /* linked */
        if (w->prev != NULL)
            w->prev->next = w->next;
        else
            w->e->waits = w->next;
        if (w->next != NULL)
            w->next->prev = w->prev;
    }
    free(w->hub_name);
    free(w->device_id);
    free(w->group_id);
    free(w->group_key);
    free(w->created);
    json_decref(w->x509);
    json_decref(w->tpm);
    free(w->prev_hub);
    free(w->prev_device_id);
    json_decref(w->payload);
    free(w->initial_hub);
    free(w);
}

static void on_hub_done(void *arg, const dps_hub_outcome *o)
{
    hub_wait *w = arg;
    final_fields f = {.status = o->ok ? DPS_OP_ASSIGNED : DPS_OP_FAILED,
                      /* A failed job leaves the device where it was. */
                      .hub = o->ok ? w->hub_name : w->prev_hub,
                      .device_id = o->ok ? w->device_id : w->prev_device_id,
                      .substatus = w->substatus,
                      .payload = o->ok ? w->payload : NULL,
                      .initial_hub = w->initial_hub,
                      .group_id = w->group_id,
                      .group_key = w->group_key,
                      .created = w->created,
                      .error_code = o->error_code,
                      .error_message = o->message,
                      .x509 = w->x509,
                      .tpm = o->ok ? w->tpm : NULL};
    finish(w->e, w->op, &f);
    if (o->ok)
        log_info("registration %s (%s): assigned to %s as device %s (%s)",
                 w->op->registration_id, transport_name(w->transport), w->hub_name,
                 w->device_id, w->substatus != NULL ? w->substatus : "initialAssignment");
    else
        log_warn("registration %s (%s): failed on hub %s: %d %s", w->op->registration_id,
                 transport_name(w->transport), w->hub_name, o->error_code,
                 o->message ? o->message : "");
    hub_wait_free(w);
}

/* ---- allocation and the hub job ---------------------------------------- */

/* The linked hubs and the decision are read through hubset.h and made by
 * decide.h, the code the dry run (explain.c) shares. */

/* A copy of one TwinCollection without the reserved members (version,
 * count, metadata, and anything starting with '$') that the hub would
 * refuse or that describe the enrollment's copy, not the twin. */
static json_t *twin_collection(const json_t *in)
{
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)in, k, v)
    {
        if (k[0] == '$' || (strcmp(k, "version") == 0 && json_is_integer(v)) ||
            (strcmp(k, "count") == 0 && json_is_integer(v)) ||
            (strcmp(k, "metadata") == 0 && json_is_object(v)))
            continue;
        if (out != NULL)
            json_object_set_new(out, k, json_deep_copy(v));
    }
    return out;
}

/* The enrollment's initial twin as a twin PATCH body, or NULL when it has
 * nothing to write. */
static json_t *initial_twin(const json_t *enr)
{
    const json_t *it = json_object_get(enr, "initialTwin");
    const json_t *tags = json_object_get(it, "tags");
    const json_t *desired = json_object_get(json_object_get(it, "properties"), "desired");
    json_t *t = json_is_object(tags) ? twin_collection(tags) : NULL;
    json_t *d = json_is_object(desired) ? twin_collection(desired) : NULL;
    if ((t == NULL || json_object_size(t) == 0) && (d == NULL || json_object_size(d) == 0)) {
        json_decref(t);
        json_decref(d);
        return NULL;
    }
    json_t *body = json_object();
    if (body != NULL && t != NULL && json_object_size(t) > 0)
        json_object_set(body, "tags", t);
    if (body != NULL && d != NULL && json_object_size(d) > 0)
        json_object_set_new(body, "properties", json_pack("{s:O}", "desired", d));
    json_decref(t);
    json_decref(d);
    return body;
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

/* The twin a hub action writes (§13.3, dps_reprov_twin_source) as a twin
 * body, or NULL. A reset always writes tags and desired (empty when there
 * is no initial twin): its PUT replaces the twin, so nothing of an older
 * one survives on the new hub. */
static json_t *action_twin(dps_hub_action act, const json_t *webhook_twin, const json_t *enr)
{
    const json_t *src =
        dps_reprov_twin_source(act, webhook_twin, json_object_get(enr, "initialTwin"));
    json_t *holder = src != NULL ? json_pack("{s:O}", "initialTwin", (json_t *)src) : NULL;
    json_t *twin = holder != NULL ? initial_twin(holder) : NULL;
    json_decref(holder);
    if (act != DPS_HUB_ACT_RESET)
        return twin;
    if (twin == NULL)
        twin = json_object();
    if (twin != NULL && json_object_get(twin, "tags") == NULL)
        json_object_set_new(twin, "tags", json_object());
    if (twin != NULL && json_object_get(twin, "properties") == NULL)
        json_object_set_new(twin, "properties", json_pack("{s:{}}", "desired"));
    return twin;
}

/* What a failed registration records: the device keeps the hub (and
 * device ID) it had, since its identity there is untouched. */
static final_fields failed_fields(const dps_attest_result *ar, const dps_prev_record *prev)
{
    const json_t *enr = ar->enrollment;
    return (final_fields){
        .status = DPS_OP_FAILED,
        .hub = prev->assigned_hub,
        .device_id = prev->device_id,
        .group_id = ar->is_group ? json_string_value(json_object_get(enr, "enrollmentGroupId"))
                                 : NULL,
        .group_key = ar->is_group ? ar->group_key : NULL,
        .created = prev->created,
        .x509 = ar->x509,
        .initial_hub = prev->initial_hub,
    };
}

/* Starts the hub work once the hub is known: writes the device into it and,
 * for a move, carries or resets its data and removes it from the hub it
 * leaves (reprovision.h, hub.md §9.3). wr is the webhook's answer (custom
 * allocation) or NULL. Any failure finishes the operation as failed. */
static void start_hub_work(dps_engine *e, dps_op *op, dps_transport_kind transport,
                           dps_attest_result *ar, const dps_prev_record *prev,
                           const dps_hub_set *hubs, const dps_decision *d, int hub_index,
                           const dps_webhook_result *wr)
{
    const json_t *enr = ar->enrollment;
    const char *group_id =
        ar->is_group ? json_string_value(json_object_get(enr, "enrollmentGroupId")) : NULL;
    final_fields fail = failed_fields(ar, prev);
    const dps_linked_hub *hub = &hubs->hubs[hub_index];
    dps_hub_action act;
    const char *substatus;
    dps_reprov_outcome(&d->plan, prev->assigned_hub, hub->name, prev->initial_hub, &act,
                       &substatus);
    const dps_linked_hub *old =
        (act == DPS_HUB_ACT_MIGRATE || act == DPS_HUB_ACT_RESET) && d->current >= 0
            ? &hubs->hubs[d->current]
            : NULL;
    /* The hub of the first assignment; a record older than this field
     * counts its current hub as the first. */
    const char *initial = prev->initial_hub != NULL ? prev->initial_hub
                          : act == DPS_HUB_ACT_CREATE ? hub->name
                                                      : prev->assigned_hub;

    const char *device_id =
        dps_decide_device_id(enr, ar->is_group, prev->device_id, op->registration_id);
    json_t *twin = action_twin(act, wr != NULL ? wr->initial_twin : NULL, enr);
    char *conn = dps_hub_connstr_format(&hub->conn, false);
    char *mconn = hub->has_migration ? dps_hub_connstr_format(&hub->migration, false) : NULL;
    char *old_conn = old != NULL ? dps_hub_connstr_format(&old->conn, false) : NULL;
    char *old_mconn =
        old != NULL && old->has_migration ? dps_hub_connstr_format(&old->migration, false) : NULL;
    hub_wait *w = calloc(1, sizeof *w);
    if (w != NULL) {
        w->e = e;
        w->next = e->waits;
        if (e->waits != NULL)
            e->waits->prev = w;
        e->waits = w;
        w->op = op;
        w->transport = transport;
        w->hub_name = strdup(hub->name);
        w->device_id = strdup(device_id);
        w->group_id = dup_or_null(group_id);
        w->group_key = ar->is_group ? strdup(ar->group_key) : NULL;
        w->created = dup_or_null(prev->created);
        w->x509 = json_incref(ar->x509);
        w->tpm = json_incref(ar->tpm);
        w->prev_hub = dup_or_null(prev->assigned_hub);
        w->prev_device_id = dup_or_null(prev->device_id);
        w->substatus = substatus;
        w->payload = wr != NULL ? json_incref(wr->payload) : NULL;
        w->initial_hub = dup_or_null(initial);
    }
    char err[240] = "out of memory";
    int rc = -1;
    if (w != NULL && conn != NULL && w->hub_name != NULL && w->device_id != NULL &&
        (group_id == NULL || w->group_id != NULL) && (!ar->is_group || w->group_key != NULL) &&
        (prev->created == NULL || w->created != NULL) &&
        (prev->assigned_hub == NULL || w->prev_hub != NULL) &&
        (prev->device_id == NULL || w->prev_device_id != NULL) &&
        (initial == NULL || w->initial_hub != NULL) && (!hub->has_migration || mconn != NULL) &&
        (old == NULL || old_conn != NULL) && (old == NULL || !old->has_migration || old_mconn)) {
        dps_hub_job job = {
            .hub_name = hub->name,
            .registry_url = hub->registry_url,
            .connection_string = conn,
            .device_id = device_id,
            .primary_key = ar->primary_key,
            .secondary_key = ar->secondary_key,
            .x509_thumbprint = ar->x509_thumbprint,
            .iot_edge = json_is_true(json_object_get(json_object_get(enr, "capabilities"),
                                                     "iotEdge")),
            .initial_twin = twin,
            .replace_twin = act == DPS_HUB_ACT_RESET,
            .migration_connection_string = mconn,
            .old_hub_name = old != NULL ? old->name : NULL,
            .old_registry_url = old != NULL ? old->registry_url : NULL,
            .old_connection_string = old_conn,
            .old_migration_connection_string = old_mconn,
            .migrate = act == DPS_HUB_ACT_MIGRATE,
        };
        if (old != NULL)
            log_info("registration %s: moving device %s from %s to %s (%s)",
                     op->registration_id, device_id, old->name, hub->name,
                     dps_hub_action_name(act));
        op->work = w;
        rc = e->prov.start(e->prov.self, &job, on_hub_done, w, err, sizeof err);
    }
    dps_free_secret_string(conn);
    dps_free_secret_string(mconn);
    dps_free_secret_string(old_conn);
    dps_free_secret_string(old_mconn);
    json_decref(twin);
    if (rc != 0) {
        op->work = NULL;
        char msg[300];
        snprintf(msg, sizeof msg, "cannot contact hub %s: %s", hub->name, err);
        fail.error_code = DPS_REG_FAIL_HUB_UNREACHABLE;
        fail.error_message = msg;
        finish(e, op, &fail);
        if (w != NULL)
            hub_wait_free(w);
    }
}

/* ---- custom allocation: the webhook call ---------------------------------- */

/* One operation waiting for its webhook. It owns what the hub work needs
 * afterwards: the attestation result (keys), the previous record, the hub
 * set the candidates index and the decision. */
struct webhook_wait {
    dps_engine *e;
    webhook_wait *prev_w, *next_w;
    dps_op *op;
    dps_transport_kind transport;
    dps_attest_result ar;
    dps_prev_record prev;
    dps_hub_set hubs;
    dps_decision d;
    void *call; /* the caller's handle while the call runs */
};

static void webhook_wait_free(webhook_wait *ww)
{
    if (ww->prev_w != NULL)
        ww->prev_w->next_w = ww->next_w;
    else if (ww->e->webhooks == ww)
        ww->e->webhooks = ww->next_w;
    if (ww->next_w != NULL)
        ww->next_w->prev_w = ww->prev_w;
    dps_attest_result_free(&ww->ar); /* wipes the keys */
    dps_prev_record_free(&ww->prev);
    dps_hub_set_free(&ww->hubs);
    free(ww);
}

/* Webhook calls still out at shutdown are dropped (the caller outlives
 * the engine, see registration.h). */
static void cancel_webhooks(dps_engine *e)
{
    while (e->webhooks != NULL) {
        if (e->webhooks->call != NULL && e->webhook.cancel != NULL)
            e->webhook.cancel(e->webhook.self, e->webhooks->call);
        webhook_wait_free(e->webhooks);
    }
}

static void on_webhook_done(void *arg, const dps_webhook_reply *r)
{
    webhook_wait *ww = arg;
    ww->call = NULL;
    ww->op->work = NULL;
    const char *names[DPS_ALLOC_MAX_CANDIDATES];
    for (size_t i = 0; i < ww->d.ncand; i++)
        names[i] = ww->hubs.hubs[ww->d.cand[i]].name;
    dps_webhook_result res;
    dps_webhook_parse(r->status, r->body, r->body_len, r->error, names, ww->d.ncand, &res);
    if (res.ok) {
        log_debug("registration %s: the allocation webhook chose %s", ww->op->registration_id,
                  names[res.hub]);
        start_hub_work(ww->e, ww->op, ww->transport, &ww->ar, &ww->prev, &ww->hubs, &ww->d,
                       ww->d.cand[res.hub], &res);
    } else {
        final_fields f = failed_fields(&ww->ar, &ww->prev);
        f.error_code = res.error_code;
        f.error_message = res.message;
        log_warn("registration %s: %d %s", ww->op->registration_id, res.error_code,
                 res.message);
        finish(ww->e, ww->op, &f);
    }
    dps_webhook_result_free(&res);
    webhook_wait_free(ww);
}

/* Sends the AllocationRequest (webhook.h). Takes over *ar, *prev and *hubs
 * (left zeroed); the hub work starts when the webhook answers. */
static void ask_webhook(dps_engine *e, dps_op *op, dps_transport_kind transport,
                        const json_t *payload, dps_attest_result *ar, dps_prev_record *prev,
                        dps_hub_set *hubs, const dps_decision *d)
{
    webhook_wait *ww = calloc(1, sizeof *ww);
    if (ww == NULL) {
        final_fields f = failed_fields(ar, prev);
        f.error_code = DPS_REG_ERR_INTERNAL;
        f.error_message = "out of memory";
        finish(e, op, &f);
        return;
    }
    ww->e = e;
    ww->op = op;
    ww->transport = transport;
    ww->ar = *ar;
    memset(ar, 0, sizeof *ar);
    ww->prev = *prev;
    memset(prev, 0, sizeof *prev);
    ww->hubs = *hubs;
    memset(hubs, 0, sizeof *hubs);
    ww->d = *d;
    ww->next_w = e->webhooks;
    if (e->webhooks != NULL)
        e->webhooks->prev_w = ww;
    e->webhooks = ww;

    const char *names[DPS_ALLOC_MAX_CANDIDATES];
    for (size_t i = 0; i < ww->d.ncand; i++)
        names[i] = ww->hubs.hubs[ww->d.cand[i]].name;
    const json_t *def = json_object_get(ww->ar.enrollment, "customAllocationDefinition");
    const char *url = json_string_value(json_object_get(def, "webhookUrl"));
    dps_webhook_input wi = {
        .enrollment = ww->ar.enrollment,
        .is_group = ww->ar.is_group,
        .registration_id = op->registration_id,
        /* Only a device that still has a hub dpsd knows was "assigned
         * before"; a deleted record or an unlinked hub is a first one. */
        .current_hub = ww->d.current >= 0 ? ww->prev.assigned_hub : NULL,
        .current_device_id = ww->prev.device_id,
        .attestation_type = ww->ar.x509 != NULL          ? "x509"
                            : ww->ar.tpm_context != NULL ? "tpm"
                                                         : "symmetricKey",
        .attestation_context = ww->ar.x509 != NULL ? ww->ar.x509 : ww->ar.tpm_context,
        .payload = payload,
        .linked_hubs = names,
        .nlinked = ww->d.ncand,
    };
    json_t *body = dps_webhook_request(&wi);
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    char err[240] = "out of memory";
    int rc = -1;
    if (url == NULL)
        snprintf(err, sizeof err, "the enrollment has no customAllocationDefinition.webhookUrl");
    else if (e->webhook.start == NULL)
        snprintf(err, sizeof err, "no webhook client is configured");
    else if (text != NULL)
        rc = e->webhook.start(e->webhook.self, url, text, on_webhook_done, ww, &ww->call, err,
                              sizeof err);
    free(text);
    if (rc != 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "Custom allocation failed: %s", err);
        final_fields f = failed_fields(&ww->ar, &ww->prev);
        f.error_code = DPS_REG_FAIL_CUSTOM;
        f.error_message = msg;
        log_warn("registration %s: %s", op->registration_id, msg);
        finish(e, op, &f);
        webhook_wait_free(ww);
        return;
    }
    op->work = ww;
    log_debug("registration %s: asked the allocation webhook (%zu hub(s))", op->registration_id,
              ww->d.ncand);
}

/* Decides (decide.h) and either starts the hub work or, for custom
 * allocation, asks the webhook first; any failure finishes the operation as
 * failed. A webhook call takes over *ar and *prev (left zeroed). */
static void assign(dps_engine *e, dps_op *op, const dps_reg_request *req, const json_t *body,
                   dps_attest_result *ar, dps_prev_record *prev)
{
    const json_t *payload = json_object_get(body, "payload");
    dps_decide_request dr = {.enrollment = ar->enrollment,
                             .regkey = op->regkey,
                             .api_version = req->api_version,
                             .peer = req->peer,
                             .payload = payload,
                             .current_hub = prev->assigned_hub};
    dps_hub_set hubs;
    dps_decision d;
    int rc = dps_decide_with_store(e->store, e->geo, &dr, &hubs, &d);
    if (rc != 0) {
        final_fields fail = failed_fields(ar, prev);
        fail.error_code = rc == -2 ? DPS_REG_ERR_INTERNAL : d.error_code;
        fail.error_message = rc == -2 ? "cannot read the linked hubs" : d.message;
        log_warn("registration %s: %s", op->registration_id, fail.error_message);
        finish(e, op, &fail);
    } else if (d.webhook) {
        ask_webhook(e, op, req->transport, payload, ar, prev, &hubs, &d);
    } else {
        start_hub_work(e, op, req->transport, ar, prev, &hubs, &d, d.hub, NULL);
    }
    dps_hub_set_free(&hubs);
}

/* ---- the three requests ------------------------------------------------- */

void dps_engine_register(dps_engine *e, const dps_reg_request *req, dps_reg_answer_fn fn,
                         void *arg)
{
    checked c = {0};
    dps_prev_record prev = {0};
    dps_attest_result ar = {0};
    char msg[240];
    dps_op_expire(e->ops, age_ms(e), e->ttl_ms);
    if (check_common(e, req, &c, fn, arg) != 0 || check_body(req, &c, fn, arg) != 0)
        goto done;
    if (req->sas_token != NULL &&
        dps_attest_sas_precheck(req, now_ns(e) / 1000000000, msg, sizeof msg) != DPS_ATTEST_OK) {
        answer_error(fn, arg, DPS_REG_ERR_UNAUTHORIZED, msg);
        goto done;
    }
    if (dps_record_load(e->store, c.regkey, &prev) != 0) {
        answer_error(fn, arg, DPS_REG_ERR_INTERNAL, "cannot read the registration record");
        goto done;
    }
    if (attest_as(e, req, c.regkey, prev.group, true, &ar, fn, arg) != 0)
        goto done;

    /* A second register while one is running gets the running operation
     * (device-api.md §13 [project]): one hub job per device at a time. */
    dps_op *op = dps_op_running(e->ops, c.regkey);
    if (op != NULL) {
        answer_json(fn, arg, 202, e->retry_after_s,
                    dps_operation_body(op->id, DPS_OP_ASSIGNING, NULL));
        goto done;
    }
    if (dps_op_count(e->ops) >= e->max_operations) {
        log_warn("registration %s: %zu operations in memory, refusing with 429",
                 req->registration_id, dps_op_count(e->ops));
        answer_error(fn, arg, DPS_REG_ERR_THROTTLED, "too many registrations in progress");
        goto done;
    }
    op = dps_op_new(c.regkey, req->registration_id);
    if (op == NULL) {
        answer_error(fn, arg, DPS_REG_ERR_INTERNAL, "cannot create the operation");
        goto done;
    }
    if (req->sas_token != NULL) {
        token_digest(req->sas_token, op->token_digest);
        op->has_token = true;
    }
    dps_op_add(e->ops, op);
    log_debug("registration %s (%s): accepted as operation %s", req->registration_id,
              transport_name(req->transport), op->id);

    if (ar.disabled) {
        final_fields f = {
            .status = DPS_OP_DISABLED,
            .hub = prev.assigned_hub,
            .device_id = prev.device_id,
            .group_id = ar.is_group
                            ? json_string_value(json_object_get(ar.enrollment, "enrollmentGroupId"))
                            : NULL,
            .group_key = ar.is_group ? ar.group_key : NULL,
            .created = prev.created,
            .x509 = ar.x509,
            .initial_hub = prev.initial_hub,
        };
        finish(e, op, &f);
        log_info("registration %s (%s): enrollment disabled", req->registration_id,
                 transport_name(req->transport));
    } else {
        assign(e, op, req, c.body, &ar, &prev);
    }
    /* Always 202 "assigning", even when the outcome is already known: the
     * IoT Edge identity service accepts nothing else from the PUT. */
    answer_json(fn, arg, 202, e->retry_after_s,
                dps_operation_body(op->id, DPS_OP_ASSIGNING, NULL));
done:
    dps_attest_result_free(&ar);
    dps_prev_record_free(&prev);
    json_decref(c.body);
}

static bool operation_id_valid(const char *id)
{
    size_t n = id != NULL ? strlen(id) : 0;
    if (n == 0 || n >= DPS_OP_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)id[i]) && id[i] != '.' && id[i] != '-')
            return false;
    return true;
}

void dps_engine_operation_status(dps_engine *e, const dps_reg_request *req,
                                 dps_reg_answer_fn fn, void *arg)
{
    checked c = {0};
    dps_prev_record prev = {0};
    dps_attest_result ar = {0};
    char msg[240];
    dps_op_expire(e->ops, age_ms(e), e->ttl_ms);
    if (check_common(e, req, &c, fn, arg) != 0)
        goto done;
    if (!operation_id_valid(req->operation_id)) {
        answer_error(fn, arg, DPS_REG_ERR_NOT_FOUND, "unknown operation ID");
        goto done;
    }
    if (req->sas_token != NULL &&
        dps_attest_sas_precheck(req, now_ns(e) / 1000000000, msg, sizeof msg) != DPS_ATTEST_OK) {
        answer_error(fn, arg, DPS_REG_ERR_UNAUTHORIZED, msg);
        goto done;
    }
    dps_op *op = dps_op_find(e->ops, req->operation_id);
    if (op != NULL && strcmp(op->regkey, c.regkey) != 0)
        op = NULL; /* another device's operation is as good as unknown */
    bool token_known = false;
    if (op != NULL && op->has_token && req->sas_token != NULL) {
        /* The token the operation was accepted with (already checked for
         * expiry and audience above) needs no second HMAC. */
        unsigned char d[32];
        token_digest(req->sas_token, d);
        token_known = dps_ct_equal(d, sizeof d, op->token_digest, sizeof op->token_digest);
    }
    if (op == NULL || !token_known) {
        if (dps_record_load(e->store, c.regkey, &prev) != 0) {
            answer_error(fn, arg, DPS_REG_ERR_INTERNAL, "cannot read the registration record");
            goto done;
        }
        if (attest(e, req, c.regkey, prev.group, &ar, fn, arg) != 0)
            goto done;
    }
    if (op != NULL && op->state == DPS_OP_ASSIGNING) {
        json_t *st = dps_record_assigning(op->registration_id);
        answer_json(fn, arg, 202, e->retry_after_s,
                    st != NULL ? dps_operation_body(op->id, DPS_OP_ASSIGNING, st) : NULL);
        json_decref(st);
        goto done;
    }
    if (op != NULL) {
        answer_json(fn, arg, 200, 0, dps_operation_body(op->id, op->state, op->result));
        goto done;
    }
    /* Not in memory (expired, or dpsd restarted): the record written by
     * this operation, recognised by its ETag, is the final answer. */
    if (prev.doc != NULL && dps_op_matches_record_etag(req->operation_id, prev.etag)) {
        const char *st = json_string_value(json_object_get(prev.doc, "status"));
        dps_op_state s = DPS_OP_FAILED;
        if (st != NULL && strcmp(st, "assigned") == 0)
            s = DPS_OP_ASSIGNED;
        else if (st != NULL && strcmp(st, "disabled") == 0)
            s = DPS_OP_DISABLED;
        answer_json(fn, arg, 200, 0, dps_operation_body(req->operation_id, s, prev.doc));
        goto done;
    }
    answer_error(fn, arg, DPS_REG_ERR_NOT_FOUND, "unknown operation ID");
done:
    dps_attest_result_free(&ar);
    dps_prev_record_free(&prev);
    json_decref(c.body);
}

void dps_engine_registration_status(dps_engine *e, const dps_reg_request *req,
                                    dps_reg_answer_fn fn, void *arg)
{
    checked c = {0};
    dps_prev_record prev = {0};
    dps_attest_result ar = {0};
    char msg[240];
    if (check_common(e, req, &c, fn, arg) != 0 || check_body(req, &c, fn, arg) != 0)
        goto done;
    if (json_object_get(c.body, "csr") != NULL) {
        answer_error(fn, arg, DPS_REG_ERR_BAD_REQUEST,
                     "a csr is not accepted by the registration status lookup");
        goto done;
    }
    if (req->sas_token != NULL &&
        dps_attest_sas_precheck(req, now_ns(e) / 1000000000, msg, sizeof msg) != DPS_ATTEST_OK) {
        answer_error(fn, arg, DPS_REG_ERR_UNAUTHORIZED, msg);
        goto done;
    }
    if (dps_record_load(e->store, c.regkey, &prev) != 0) {
        answer_error(fn, arg, DPS_REG_ERR_INTERNAL, "cannot read the registration record");
        goto done;
    }
    if (attest(e, req, c.regkey, prev.group, &ar, fn, arg) != 0)
        goto done;
    if (prev.doc == NULL) {
        answer_error(fn, arg, DPS_REG_ERR_NOT_FOUND, "the device has not registered");
        goto done;
    }
    answer_json(fn, arg, 200, 0, json_incref(prev.doc));
done:
    dps_attest_result_free(&ar);
    dps_prev_record_free(&prev);
    json_decref(c.body);
}

void dps_engine_authenticate(dps_engine *e, const dps_reg_request *req, dps_reg_answer_fn fn,
                             void *arg)
{
    char regkey[DPS_ID_KEY_SIZE];
    char msg[240];
    dps_prev_record prev = {0};
    dps_attest_result ar = {0};
    if (req->id_scope == NULL || strcasecmp(req->id_scope, e->id_scope) != 0) {
        answer_error(fn, arg, DPS_REG_ERR_NOT_FOUND, "unknown ID scope");
        return;
    }
    if (req->registration_id == NULL || !dps_id_key(req->registration_id, regkey)) {
        answer_error(fn, arg, DPS_REG_ERR_INVALID_ID, "invalid registration ID");
        return;
    }
    if (req->sas_token != NULL &&
        dps_attest_sas_precheck(req, now_ns(e) / 1000000000, msg, sizeof msg) != DPS_ATTEST_OK) {
        answer_error(fn, arg, DPS_REG_ERR_UNAUTHORIZED, msg);
        return;
    }
    /* The record names the group the device came through last time, which
     * attestation tries first. */
    if (dps_record_load(e->store, regkey, &prev) != 0) {
        answer_error(fn, arg, DPS_REG_ERR_INTERNAL, "cannot read the registration record");
        goto done;
    }
    if (attest(e, req, regkey, prev.group, &ar, fn, arg) != 0)
        goto done;
    dps_reg_answer ok = {.status = 200};
    fn(arg, &ok);
done:
    dps_attest_result_free(&ar);
    dps_prev_record_free(&prev);
}
