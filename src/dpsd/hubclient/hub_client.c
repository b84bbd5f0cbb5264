/* The hub registry client (hub_client.h): a job per provisioned device,
 * one state per REST call. */
#include "hubclient/hub_client.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/sas.h"
#include "common/secret.h"
#include "common/timeutil.h"
#include "common/urlcode.h"
#include "engine/registration.h"
#include "hubclient/hub_http.h"
#include "hubclient/migrate.h"
#include "model/linked_hub.h"

#define SAS_LIFETIME_S 3600
#define MAX_RETRIES 2 /* GET + PUT rounds after 412 / a vanished device */

typedef enum {
    STEP_CREATE,   /* PUT /devices/{id} without If-Match */
    STEP_GET,      /* GET /devices/{id} after 409 */
    STEP_UPDATE,   /* PUT /devices/{id} with If-Match */
    STEP_TWIN,     /* PATCH /twins/{id} */
    STEP_ROLLBACK, /* DELETE /devices/{id} of a device this job created */
} step;

typedef struct job job;
struct job {
    dps_hub_client *c;
    job *prev, *next; /* active list or wait queue */
    dps_hub_done_fn done;
    void *arg;
    char *hub_name;
    char *connect_host;
    char *prefix;
    int port;
    bool tls;
    char *device_id;
    char *device_path; /* prefix + "/devices/" + encoded ID */
    char *twin_path;
    char *create_body; /* a secret: holds the keys */
    char *twin_body;   /* NULL: leave the twin alone */
    bool replace_twin; /* PUT the twin (a reset) instead of PATCH */
    char *primary;     /* secrets (or, with x509, the leaf thumbprints) */
    char *secondary;
    bool x509;         /* selfSigned thumbprints instead of sas keys */
    bool iot_edge;
    char *sas; /* service token, a secret */
    bool created;
    int retries;
    step step;
    dps_hub_http *http;
    int fail_code;
    char fail_msg[320];
};

struct dps_hub_client {
    struct event_base *base;
    dps_hub_http_env env;
    int timeout_s;
    size_t max_inflight;
    job *active;
    size_t nactive;
    job *queue_head, *queue_tail;
    size_t nqueued;
    dps_hub_move *moves; /* reprovisioning moves (migrate.c) */
};

/* ---- registry URL -------------------------------------------------------- */

int dps_hub_url_parse(const char *url, int *tls, char *host, size_t hostlen, int *port,
                      char *prefix, size_t prefixlen)
{
    const char *authority, *path;
    if (dps_hub_http_url_origin(url, tls, host, hostlen, port, &authority, &path) != 0)
        return -1;
    size_t pl = strcspn(path, "?#");
    while (pl > 0 && path[pl - 1] == '/')
        pl--;
    if (pl >= prefixlen)
        return -1;
    memcpy(prefix, path, pl);
    prefix[pl] = '\0';
    return 0;
}

/* ---- job bookkeeping ------------------------------------------------------ */

static void job_free(job *j)
{
    if (j == NULL)
        return;
    dps_hub_http_cancel(j->http);
    free(j->hub_name);
    free(j->connect_host);
    free(j->prefix);
    free(j->device_id);
    free(j->device_path);
    free(j->twin_path);
    dps_free_secret_string(j->create_body);
    free(j->twin_body);
    dps_free_secret_string(j->primary);
    dps_free_secret_string(j->secondary);
    dps_free_secret_string(j->sas);
    free(j);
}

static void list_remove(job **head, job *j)
{
    if (j->prev != NULL)
        j->prev->next = j->next;
    else
        *head = j->next;
    if (j->next != NULL)
        j->next->prev = j->prev;
    j->prev = j->next = NULL;
}

static void run_step(job *j);

/* Starts waiting jobs while there is room. */
static void pump(dps_hub_client *c)
{
    while (c->queue_head != NULL && c->nactive < c->max_inflight) {
        job *j = c->queue_head;
        c->queue_head = j->next;
        if (c->queue_head != NULL)
            c->queue_head->prev = NULL;
        else
            c->queue_tail = NULL;
        j->next = j->prev = NULL;
        c->nqueued--;
        j->next = c->active;
        if (c->active != NULL)
            c->active->prev = j;
        c->active = j;
        c->nactive++;
        run_step(j);
    }
}

/* Ends a job: reports, frees, lets the next one in. */
static void complete(job *j, bool ok, int code, const char *msg)
{
    dps_hub_client *c = j->c;
    list_remove(&c->active, j);
    c->nactive--;
    /* msg may live in the job (fail_msg): copy it before the job goes. */
    char text[400];
    snprintf(text, sizeof text, "%s", msg != NULL ? msg : "");
    dps_hub_outcome o = {.ok = ok, .error_code = ok ? 0 : code, .message = ok ? NULL : text};
    dps_hub_done_fn done = j->done;
    void *arg = j->arg;
    j->http = NULL; /* finished: nothing to cancel */
    job_free(j);
    done(arg, &o);
    pump(c);
}

static void fail_unreachable(job *j, const char *what, const char *error)
{
    char msg[400];
    snprintf(msg, sizeof msg, "IoT hub %s is unreachable (%s): %s", j->hub_name, what, error);
    complete(j, false, DPS_REG_FAIL_HUB_UNREACHABLE, msg);
}

/* The hub's own words, from its legacy error body (hub.md §4). */
static void hub_message(const dps_hub_http_reply *r, char *out, size_t outlen)
{
    out[0] = '\0';
    json_error_t jerr;
    json_t *b = r->body != NULL ? json_loads(r->body, 0, &jerr) : NULL;
    const char *m = json_string_value(json_object_get(b, "Message"));
    if (m != NULL)
        snprintf(out, outlen, ": %.160s", m);
    json_decref(b);
}

static void fail_refused(job *j, const char *what, const dps_hub_http_reply *r)
{
    char hm[200], msg[400];
    hub_message(r, hm, sizeof hm);
    snprintf(msg, sizeof msg, "IoT hub %s refused %s with %d%s", j->hub_name, what, r->status,
             hm);
    complete(j, false, DPS_REG_FAIL_HUB_REFUSED, msg);
}

static void on_reply(void *arg, const dps_hub_http_reply *r);

static void deferred_fail(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    fail_unreachable(arg, "request", "cannot start the request");
}

static void send_request(job *j, enum evhttp_cmd_type cmd, const char *path,
                         const char *if_match, const char *body)
{
    dps_hub_client *c = j->c;
    dps_hub_http_target t = {.base = c->base,
                             .dns = c->env.dns,
                             .tls = j->tls ? c->env.tls : NULL,
                             .connect_host = j->connect_host,
                             .port = j->port,
                             .host_name = j->hub_name,
                             .timeout_s = c->timeout_s};
    j->http = dps_hub_http_start(&t, cmd, path, j->sas, if_match, body, on_reply, j);
    if (j->http != NULL)
        return;
    /* Reported from the loop, not from here: start_job promises the
     * engine never to call back before it returns. */
    struct timeval now = {0, 0};
    if (event_base_once(c->base, -1, EV_TIMEOUT, deferred_fail, j, &now) != 0)
        fail_unreachable(j, "request", "cannot start the request");
}

static void run_step(job *j)
{
    switch (j->step) {
    case STEP_CREATE:
        send_request(j, EVHTTP_REQ_PUT, j->device_path, NULL, j->create_body);
        break;
    case STEP_GET:
        send_request(j, EVHTTP_REQ_GET, j->device_path, NULL, NULL);
        break;
    case STEP_TWIN:
        send_request(j, j->replace_twin ? EVHTTP_REQ_PUT : EVHTTP_REQ_PATCH, j->twin_path, NULL,
                     j->twin_body);
        break;
    case STEP_ROLLBACK:
        send_request(j, EVHTTP_REQ_DELETE, j->device_path, "*", NULL);
        break;
    case STEP_UPDATE:
        /* sent from after_get, which has the body and the ETag */
        break;
    }
}

/* Identity written; the twin next, if there is one. */
static void identity_done(job *j)
{
    if (j->twin_body == NULL) {
        complete(j, true, 0, NULL);
        return;
    }
    j->step = STEP_TWIN;
    run_step(j);
}

static bool same_string(const json_t *v, const char *s)
{
    const char *t = json_string_value(v);
    return t != NULL && s != NULL && dps_ct_equal(t, strlen(t), s, strlen(s));
}

/* The hub authentication DPS writes (hub.md §9.2): sas with the device's
 * keys, or for X.509 devices selfSigned with the leaf's thumbprint in
 * both slots. */
static json_t *auth_json(bool x509, const char *primary, const char *secondary)
{
    if (x509)
        return json_pack("{s:s,s:{s:s,s:s}}", "type", "selfSigned", "x509Thumbprint",
                         "primaryThumbprint", primary, "secondaryThumbprint", secondary);
    return json_pack("{s:s,s:{s:s,s:s}}", "type", "sas", "symmetricKey", "primaryKey", primary,
                     "secondaryKey", secondary);
}

/* After 409: keep the device as it is when it already has these keys and
 * capabilities; otherwise put it back with them, conditional on its ETag. */
static void after_get(job *j, const dps_hub_http_reply *r)
{
    json_error_t jerr;
    json_t *dev = r->body != NULL ? json_loads(r->body, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (!json_is_object(dev)) {
        json_decref(dev);
        complete(j, false, DPS_REG_FAIL_HUB_REFUSED, "the hub sent an unreadable device");
        return;
    }
    const json_t *auth = json_object_get(dev, "authentication");
    const json_t *sk = json_object_get(auth, j->x509 ? "x509Thumbprint" : "symmetricKey");
    const char *type = json_string_value(json_object_get(auth, "type"));
    bool keys_same =
        type != NULL && strcmp(type, j->x509 ? "selfSigned" : "sas") == 0 &&
        same_string(json_object_get(sk, j->x509 ? "primaryThumbprint" : "primaryKey"),
                    j->primary) &&
        same_string(json_object_get(sk, j->x509 ? "secondaryThumbprint" : "secondaryKey"),
                    j->secondary);
    bool edge_same = json_is_true(json_object_get(json_object_get(dev, "capabilities"),
                                                  "iotEdge")) == j->iot_edge;
    if (keys_same && edge_same) {
        json_decref(dev);
        identity_done(j);
        return;
    }
    /* Everything the hub keeps (status, scopes) goes back unchanged; only
     * the credentials and capabilities are DPS's to set. */
    const char *etag = json_string_value(json_object_get(dev, "etag"));
    char if_match[160];
    snprintf(if_match, sizeof if_match, "\"%.150s\"", etag != NULL ? etag : "*");
    json_t *newauth = auth_json(j->x509, j->primary, j->secondary);
    char *body = NULL;
    if (newauth != NULL && json_object_set_new(dev, "authentication", newauth) == 0 &&
        json_object_set_new(dev, "capabilities", json_pack("{s:b}", "iotEdge", j->iot_edge)) ==
            0)
        body = json_dumps(dev, JSON_COMPACT);
    json_decref(dev);
    if (body == NULL) {
        complete(j, false, DPS_REG_FAIL_HUB_REFUSED, "out of memory");
        return;
    }
    j->step = STEP_UPDATE;
    send_request(j, EVHTTP_REQ_PUT, j->device_path, etag != NULL ? if_match : "*", body);
    dps_free_secret_string(body);
}

static void on_reply(void *arg, const dps_hub_http_reply *r)
{
    job *j = arg;
    j->http = NULL;
    switch (j->step) {
    case STEP_CREATE:
        if (r->status == 0)
            fail_unreachable(j, "create device", r->error);
        else if (r->status == 200 || r->status == 201) {
            j->created = true;
            identity_done(j);
        } else if (r->status == 409) {
            j->step = STEP_GET;
            run_step(j);
        } else
            fail_refused(j, "creating the device", r);
        break;
    case STEP_GET:
        if (r->status == 0)
            fail_unreachable(j, "read device", r->error);
        else if (r->status == 200)
            after_get(j, r);
        else if (r->status == 404 && j->retries++ < MAX_RETRIES) {
            j->step = STEP_CREATE; /* deleted in between: create it after all */
            run_step(j);
        } else
            fail_refused(j, "reading the existing device", r);
        break;
    case STEP_UPDATE:
        if (r->status == 0)
            fail_unreachable(j, "update device", r->error);
        else if (r->status == 200)
            identity_done(j);
        else if ((r->status == 412 || r->status == 404) && j->retries++ < MAX_RETRIES) {
            j->step = r->status == 412 ? STEP_GET : STEP_CREATE;
            run_step(j);
        } else
            fail_refused(j, "updating the device's keys", r);
        break;
    case STEP_TWIN:
        if (r->status == 200) {
            complete(j, true, 0, NULL);
            break;
        }
        if (r->status == 0) {
            j->fail_code = DPS_REG_FAIL_HUB_UNREACHABLE;
            snprintf(j->fail_msg, sizeof j->fail_msg,
                     "IoT hub %s is unreachable (initial twin): %s", j->hub_name, r->error);
        } else {
            char hm[200];
            hub_message(r, hm, sizeof hm);
            j->fail_code = DPS_REG_FAIL_HUB_REFUSED;
            snprintf(j->fail_msg, sizeof j->fail_msg,
                     "IoT hub %s refused the initial twin with %d%s", j->hub_name, r->status,
                     hm);
        }
        if (!j->created) {
            complete(j, false, j->fail_code, j->fail_msg);
            break;
        }
        /* Take back the device this job created: a failed registration
         * leaves no identity without its twin behind. */
        j->step = STEP_ROLLBACK;
        run_step(j);
        break;
    case STEP_ROLLBACK:
        if (r->status != 204 && r->status != 200 && r->status != 404)
            log_warn("hub %s: device %s created without its twin could not be removed (%d%s)",
                     j->hub_name, j->device_id, r->status, r->status == 0 ? ", no answer" : "");
        complete(j, false, j->fail_code, j->fail_msg);
        break;
    }
}

/* ---- the provisioner ------------------------------------------------------ */

static char *join3(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
    char *s = malloc(n);
    if (s != NULL)
        snprintf(s, n, "%s%s%s", a, b, c);
    return s;
}

static int start_job(void *self, const dps_hub_job *in, dps_hub_done_fn done, void *arg,
                     char *err, size_t errlen)
{
    dps_hub_client *c = self;
    if (in->old_hub_name != NULL) /* a reprovisioning move */
        return dps_hub_move_start(c, in, done, arg, err, errlen);
    char host[256], prefix[256];
    int tls = 0, port = 0;
    if (dps_hub_url_parse(in->registry_url, &tls, host, sizeof host, &port, prefix,
                          sizeof prefix) != 0) {
        snprintf(err, errlen, "registry URL '%.200s' is not usable", in->registry_url);
        return -1;
    }
    dps_hub_connstr cs = {0};
    char cerr[200];
    if (dps_hub_connstr_parse(in->connection_string, 0, &cs, cerr, sizeof cerr) != 0) {
        snprintf(err, errlen, "connection string: %s", cerr);
        return -1;
    }
    job *j = calloc(1, sizeof *j);
    char *enc = dps_url_encode(in->device_id);
    char q[64];
    snprintf(q, sizeof q, "?api-version=%s", DPS_HUB_API_VERSION);
    /* An X.509 device's identity is its leaf thumbprint, in both slots. */
    bool x509 = in->x509_thumbprint != NULL;
    const char *cred1 = x509 ? in->x509_thumbprint : in->primary_key;
    const char *cred2 = x509 ? in->x509_thumbprint : in->secondary_key;
    json_t *create = cred1 != NULL && cred2 != NULL
                         ? json_pack("{s:s,s:s,s:{s:b},s:o}", "deviceId", in->device_id,
                                     "status", "enabled", "capabilities", "iotEdge",
                                     in->iot_edge, "authentication",
                                     auth_json(x509, cred1, cred2))
                         : NULL;
    bool ok = j != NULL && enc != NULL && create != NULL;
    if (ok) {
        j->c = c;
        j->done = done;
        j->arg = arg;
        j->port = port;
        j->tls = tls != 0;
        j->iot_edge = in->iot_edge;
        j->hub_name = strdup(cs.host_name);
        j->connect_host = strdup(host);
        j->prefix = strdup(prefix);
        j->device_id = strdup(in->device_id);
        char *dev = join3(prefix, "/devices/", enc);
        char *twin = join3(prefix, "/twins/", enc);
        j->device_path = dev != NULL ? join3(dev, q, "") : NULL;
        j->twin_path = twin != NULL ? join3(twin, q, "") : NULL;
        free(dev);
        free(twin);
        j->create_body = json_dumps(create, JSON_COMPACT);
        j->twin_body = in->initial_twin != NULL ? json_dumps(in->initial_twin, JSON_COMPACT)
                                                : NULL;
        j->replace_twin = in->replace_twin;
        j->x509 = x509;
        j->primary = strdup(cred1);
        j->secondary = strdup(cred2);
        j->sas = dps_sas_build(cs.host_name, cs.key, cs.key_name,
                               dps_now_s() + SAS_LIFETIME_S);
        ok = j->hub_name && j->connect_host && j->prefix && j->device_id && j->device_path &&
             j->twin_path && j->create_body && (in->initial_twin == NULL || j->twin_body) &&
             j->primary && j->secondary && j->sas;
    }
    json_decref(create); /* holds the keys; jansson frees without wiping (noted) */
    free(enc);
    dps_hub_connstr_free(&cs);
    if (!ok) {
        job_free(j);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    j->step = STEP_CREATE;
    /* Queue it; pump starts it now when there is room. The first request
     * is only sent, never answered, before start returns. */
    j->prev = c->queue_tail;
    if (c->queue_tail != NULL)
        c->queue_tail->next = j;
    else
        c->queue_head = j;
    c->queue_tail = j;
    c->nqueued++;
    pump(c);
    return 0;
}

dps_hub_provisioner dps_hub_client_provisioner(dps_hub_client *c)
{
    return (dps_hub_provisioner){.start = start_job, .self = c};
}

void dps_hub_client__target(const dps_hub_client *c, dps_hub_http_target *t)
{
    *t = (dps_hub_http_target){
        .base = c->base, .dns = c->env.dns, .tls = c->env.tls, .timeout_s = c->timeout_s};
}

dps_hub_move **dps_hub_client__moves(dps_hub_client *c)
{
    return &c->moves;
}

size_t dps_hub_client_active(const dps_hub_client *c)
{
    return c->nactive;
}

size_t dps_hub_client_queued(const dps_hub_client *c)
{
    return c->nqueued;
}

dps_hub_client *dps_hub_client_new(const dps_hub_client_options *opt, char *err, size_t errlen)
{
    dps_hub_client *c = calloc(1, sizeof *c);
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->base = opt->base;
    c->timeout_s = opt->timeout_s > 0 ? opt->timeout_s : DPS_HUB_TIMEOUT_DEFAULT;
    c->max_inflight = opt->max_inflight > 0 ? opt->max_inflight : DPS_HUB_MAX_INFLIGHT_DEFAULT;
    static const dps_hub_http_env_names names = {.client = "hub client",
                                                 .ca_option = "hub_ca_file",
                                                 .trust_use = "hub connections",
                                                 .urls = "registry"};
    if (dps_hub_http_env_init(&c->env, c->base, opt->ca_file, &names, err, errlen) != 0)
        dps_hub_client_free(&c);
    return c;
}

void dps_hub_client_free(dps_hub_client **cp)
{
    dps_hub_client *c = *cp;
    if (c == NULL)
        return;
    dps_hub_move_free_all(c); /* before the jobs: a move may wait for one */
    while (c->active != NULL) {
        job *j = c->active;
        list_remove(&c->active, j);
        job_free(j); /* cancels its request: nobody is called back */
    }
    while (c->queue_head != NULL) {
        job *j = c->queue_head;
        list_remove(&c->queue_head, j);
        job_free(j);
    }
    dps_hub_http_env_clear(&c->env);
    free(c);
    *cp = NULL;
}
