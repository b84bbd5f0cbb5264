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
#include "engine/operations.h"
#include "engine/record.h"
#include "model/linked_hub.h"

/* The instance default policy, in the store's meta table (admin API). */
#define META_ALLOCATION_POLICY "allocation_policy"
#define HUB_PAGE 1000

typedef struct hub_wait hub_wait;

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
    dps_transport_kind transport;
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
    e->ops = dps_op_table_new();
    bool ok = e->ops != NULL;
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

void dps_engine_free(dps_engine **ep)
{
    dps_engine *e = *ep;
    if (e == NULL)
        return;
    /* Jobs of operations still assigning were cancelled with the
     * provisioner (it is freed first and calls nobody back). */
    while (e->waits != NULL)
        hub_wait_free(e->waits);
    dps_op_table_free(&e->ops);
    for (size_t i = 0; i < e->nextra; i++)
        free(e->extra_versions[i]);
    free(e);
    *ep = NULL;
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

/* Full attestation, answering the refusals. 0 with *res filled (free it),
 * or -1 after answering. */
static int attest(dps_engine *e, const dps_reg_request *req, const char *regkey,
                  const char *group_hint, dps_attest_result *res, dps_reg_answer_fn fn,
                  void *arg)
{
    dps_attest_ctx ac = {.store = e->store,
                         .now_s = now_ns(e) / 1000000000,
                         .group_hint = group_hint};
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
    }
    dps_attest_result_free(res);
    return -1;
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
    };
    json_t *doc = NULL;
    char *text = NULL;
    bool stored = false;
    if (dps_op_record_etag(op->uuid, etag, sizeof etag) == 0)
        doc = dps_record_build(&rf);
    if (doc != NULL)
        text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
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
    free(w);
}

static void on_hub_done(void *arg, const dps_hub_outcome *o)
{
    hub_wait *w = arg;
    final_fields f = {.status = o->ok ? DPS_OP_ASSIGNED : DPS_OP_FAILED,
                      .hub = w->hub_name,
                      .device_id = w->device_id,
                      .group_id = w->group_id,
                      .group_key = w->group_key,
                      .created = w->created,
                      .error_code = o->error_code,
                      .error_message = o->message};
    finish(w->e, w->op, &f);
    if (o->ok)
        log_info("registration %s (%s): assigned to %s as device %s", w->op->registration_id,
                 transport_name(w->transport), w->hub_name, w->device_id);
    else
        log_warn("registration %s (%s): failed on hub %s: %d %s", w->op->registration_id,
                 transport_name(w->transport), w->hub_name, o->error_code,
                 o->message ? o->message : "");
    hub_wait_free(w);
}

/* ---- allocation and the hub job ---------------------------------------- */

typedef struct {
    dps_linked_hub *hubs;
    dps_alloc_hub *alloc;
    size_t n;
} hub_set;

static void hub_set_free(hub_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        dps_linked_hub_free(&s->hubs[i]);
    free(s->hubs);
    free(s->alloc);
    memset(s, 0, sizeof *s);
}

static int hub_set_load(dps_store *store, hub_set *s)
{
    memset(s, 0, sizeof *s);
    char after[DPS_HUB_NAME_MAX + 1] = "";
    for (;;) {
        dps_record_list list = {0};
        if (dps_store_list(store, DPS_COLL_LINKED_HUB, NULL, after[0] ? after : NULL, HUB_PAGE,
                           &list) != DPS_STORE_OK)
            return -1;
        dps_linked_hub *nh = realloc(s->hubs, (s->n + list.count + 1) * sizeof *nh);
        if (nh != NULL)
            s->hubs = nh;
        dps_alloc_hub *na = realloc(s->alloc, (s->n + list.count + 1) * sizeof *na);
        if (na != NULL)
            s->alloc = na;
        if (nh == NULL || na == NULL) {
            dps_record_list_free(&list);
            return -1;
        }
        for (size_t i = 0; i < list.count; i++) {
            char err[200];
            json_error_t jerr;
            json_t *doc = json_loads(list.items[i].doc, 0, &jerr);
            dps_linked_hub h = {0};
            if (doc == NULL || dps_linked_hub_from_json(doc, &h, err, sizeof err) != 0) {
                log_error("linked hub '%s' is unusable: %s", list.items[i].key,
                          doc == NULL ? "not JSON" : err);
                json_decref(doc);
                continue;
            }
            json_decref(doc);
            s->hubs[s->n] = h;
            s->alloc[s->n] = (dps_alloc_hub){.name = h.name,
                                             .weight = h.weight,
                                             .apply_allocation_policy =
                                                 h.apply_allocation_policy};
            s->n++;
        }
        bool more = list.more && list.count > 0;
        if (more)
            snprintf(after, sizeof after, "%s", list.items[list.count - 1].key);
        dps_record_list_free(&list);
        if (!more)
            return 0;
    }
}

static int hub_index(const hub_set *s, const char *name)
{
    for (size_t i = 0; name != NULL && i < s->n; i++)
        if (strcasecmp(s->hubs[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* Picks the hub: an assigned device keeps its hub while that hub is still
 * linked (reprovisioning policies come later); otherwise the enrollment's
 * policy over its candidates. */
static int choose_hub(dps_engine *e, const json_t *enr, const dps_prev_record *prev,
                      const hub_set *hubs, const char *regkey, dps_alloc_result *out)
{
    int kept = hub_index(hubs, prev->assigned_hub);
    if (kept >= 0) {
        out->hub = kept;
        return 0;
    }
    const char *policy = json_string_value(json_object_get(enr, "allocationPolicy"));
    const json_t *list = json_object_get(enr, "iotHubs");
    const char *legacy = json_string_value(json_object_get(enr, "iotHubHostName"));
    const char *listed[64];
    size_t nlisted = 0;
    for (size_t i = 0; json_is_array(list) && i < json_array_size(list) && nlisted < 64; i++) {
        const char *h = json_string_value(json_array_get(list, i));
        if (h != NULL)
            listed[nlisted++] = h;
    }
    char *stored_default = NULL;
    if (nlisted == 0 && policy == NULL && legacy != NULL && legacy[0] != '\0') {
        /* The legacy single-hub field alone means static to it (§12.2). */
        policy = "static";
        listed[nlisted++] = legacy;
    }
    if (policy == NULL && dps_store_meta_get(e->store, META_ALLOCATION_POLICY,
                                             &stored_default) == DPS_STORE_OK)
        policy = stored_default;
    dps_alloc_input in = {.policy = policy,
                          .listed = listed,
                          .nlisted = nlisted,
                          .linked = hubs->alloc,
                          .nlinked = hubs->n,
                          .registration_key = regkey};
    int rc = dps_allocate(&in, out);
    free(stored_default);
    return rc;
}

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

/* Runs allocation and starts the hub job for an accepted, enabled device;
 * any failure finishes the operation as failed. */
static void assign(dps_engine *e, dps_op *op, const dps_reg_request *req,
                   dps_attest_result *ar, const dps_prev_record *prev)
{
    const json_t *enr = ar->enrollment;
    const char *group_id =
        ar->is_group ? json_string_value(json_object_get(enr, "enrollmentGroupId")) : NULL;
    final_fields fail = {.status = DPS_OP_FAILED,
                         .group_id = group_id,
                         .group_key = ar->is_group ? ar->group_key : NULL,
                         .created = prev->created};
    hub_set hubs;
    if (hub_set_load(e->store, &hubs) != 0) {
        fail.error_code = DPS_REG_ERR_INTERNAL;
        fail.error_message = "cannot read the linked hubs";
        finish(e, op, &fail);
        hub_set_free(&hubs);
        return;
    }
    dps_alloc_result al;
    if (choose_hub(e, enr, prev, &hubs, op->regkey, &al) != 0) {
        fail.error_code = al.error_code;
        fail.error_message = al.message;
        log_warn("registration %s: %s", op->registration_id, al.message);
        finish(e, op, &fail);
        hub_set_free(&hubs);
        return;
    }
    const dps_linked_hub *hub = &hubs.hubs[al.hub];

    /* Device ID (hub.md §6): the enrollment's deviceId, else its
     * registrationId spelling; a group device keeps the spelling of its
     * first registration. */
    const char *device_id = NULL;
    if (ar->is_group) {
        device_id = prev->device_id != NULL ? prev->device_id : req->registration_id;
    } else {
        device_id = json_string_value(json_object_get(enr, "deviceId"));
        if (device_id == NULL || device_id[0] == '\0')
            device_id = json_string_value(json_object_get(enr, "registrationId"));
        if (device_id == NULL)
            device_id = req->registration_id;
    }
    bool same_hub = prev->assigned_hub != NULL && strcasecmp(prev->assigned_hub, hub->name) == 0;
    json_t *twin = same_hub ? NULL : initial_twin(enr);
    char *conn = dps_hub_connstr_format(&hub->conn, false);
    hub_wait *w = calloc(1, sizeof *w);
    if (w != NULL) {
        w->e = e;
        w->next = e->waits;
        if (e->waits != NULL)
            e->waits->prev = w;
        e->waits = w;
        w->op = op;
        w->transport = req->transport;
        w->hub_name = strdup(hub->name);
        w->device_id = strdup(device_id);
        w->group_id = dup_or_null(group_id);
        w->group_key = ar->is_group ? strdup(ar->group_key) : NULL;
        w->created = dup_or_null(prev->created);
    }
    char err[240] = "out of memory";
    int rc = -1;
    if (w != NULL && conn != NULL && w->hub_name != NULL && w->device_id != NULL &&
        (group_id == NULL || w->group_id != NULL) && (!ar->is_group || w->group_key != NULL) &&
        (prev->created == NULL || w->created != NULL)) {
        dps_hub_job job = {
            .hub_name = hub->name,
            .registry_url = hub->registry_url,
            .connection_string = conn,
            .device_id = device_id,
            .primary_key = ar->primary_key,
            .secondary_key = ar->secondary_key,
            .iot_edge = json_is_true(json_object_get(json_object_get(enr, "capabilities"),
                                                     "iotEdge")),
            .initial_twin = twin,
        };
        op->work = w;
        rc = e->prov.start(e->prov.self, &job, on_hub_done, w, err, sizeof err);
    }
    dps_free_secret_string(conn);
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
    hub_set_free(&hubs);
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
    if (attest(e, req, c.regkey, prev.group, &ar, fn, arg) != 0)
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
        };
        finish(e, op, &f);
        log_info("registration %s (%s): enrollment disabled", req->registration_id,
                 transport_name(req->transport));
    } else {
        assign(e, op, req, &ar, &prev);
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
