/* Reprovisioning moves (migrate.h): a small state machine per device. */
#include "hubclient/migrate.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/sas.h"
#include "common/secret.h"
#include "common/timeutil.h"
#include "common/urlcode.h"
#include "engine/registration.h"
#include "model/linked_hub.h"

#define SAS_LIFETIME_S 3600
#define PREFIX_MAX 256

typedef enum {
    M_EXPORT,    /* GET the old device through the internal endpoint */
    M_READ_TWIN, /* GET /twins/{id} on the old hub (no migration credential) */
    M_PROVISION, /* the provisioning job on the new hub */
    M_IMPORT,    /* PUT the carried twin through the new hub's internal endpoint */
    M_DELETE,    /* DELETE /devices/{id} on the old hub */
} move_step;

/* One side of a move: where a hub's registry listens and how to sign. */
typedef struct {
    char *hub;          /* host name: TLS name, Host header */
    char *connect_host; /* registry URL's host */
    int port;
    bool tls;
    char *prefix;       /* registry URL's path prefix */
    char *sas;          /* service SAS from the hub's connection string (a secret) */
    char *migration_sas; /* from its migration credential, or NULL (a secret) */
} side;

struct dps_hub_move {
    dps_hub_client *c;
    dps_hub_move *prev, *next;
    dps_hub_done_fn done;
    void *arg;
    side from, to;
    char *device_id;
    /* What the provisioning job on the new hub needs, copied. */
    char *registry_url;
    char *connection_string; /* secret */
    char *migration_connection_string; /* secret */
    char *primary_key, *secondary_key, *x509_thumbprint; /* secrets */
    bool iot_edge;
    json_t *initial_twin; /* reset: what the new twin becomes */
    bool migrate;
    bool internal; /* both hubs have migration credentials */
    json_t *carried; /* migrate: the old twin, as read */
    move_step step;
    dps_hub_http *http;
};

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

char *dps_hub_migration_path(const char *prefix, const char *hub, const char *device_id)
{
    char *eh = dps_url_encode(hub), *ed = dps_url_encode(device_id);
    char *out = NULL;
    if (eh != NULL && ed != NULL) {
        size_t n = strlen(prefix) + strlen(eh) + strlen(ed) + 40;
        out = malloc(n);
        if (out != NULL)
            snprintf(out, n, "%s/_hubd/migration/%s/devices/%s", prefix, eh, ed);
    }
    free(eh);
    free(ed);
    return out;
}

static char *sas_from(const char *connection_string)
{
    dps_hub_connstr cs = {0};
    char err[200];
    char *sas = NULL;
    if (dps_hub_connstr_parse(connection_string, 0, &cs, err, sizeof err) == 0)
        sas = dps_sas_build(cs.host_name, cs.key, cs.key_name, dps_now_s() + SAS_LIFETIME_S);
    dps_hub_connstr_free(&cs);
    return sas;
}

static int side_init(side *s, const char *hub, const char *registry_url, const char *conn,
                     const char *migration)
{
    char host[256], prefix[PREFIX_MAX];
    int tls = 0;
    if (hub == NULL || registry_url == NULL || conn == NULL ||
        dps_hub_url_parse(registry_url, &tls, host, sizeof host, &s->port, prefix,
                          sizeof prefix) != 0)
        return -1;
    s->tls = tls != 0;
    s->hub = strdup(hub);
    s->connect_host = strdup(host);
    s->prefix = strdup(prefix);
    s->sas = sas_from(conn);
    s->migration_sas = migration != NULL ? sas_from(migration) : NULL;
    return s->hub && s->connect_host && s->prefix && s->sas &&
                   (migration == NULL || s->migration_sas)
               ? 0
               : -1;
}

static void side_free(side *s)
{
    free(s->hub);
    free(s->connect_host);
    free(s->prefix);
    dps_free_secret_string(s->sas);
    dps_free_secret_string(s->migration_sas);
}

static void move_free(dps_hub_move *m)
{
    if (m == NULL)
        return;
    dps_hub_http_cancel(m->http);
    side_free(&m->from);
    side_free(&m->to);
    free(m->device_id);
    free(m->registry_url);
    dps_free_secret_string(m->connection_string);
    dps_free_secret_string(m->migration_connection_string);
    dps_free_secret_string(m->primary_key);
    dps_free_secret_string(m->secondary_key);
    dps_free_secret_string(m->x509_thumbprint);
    json_decref(m->initial_twin);
    json_decref(m->carried);
    free(m);
}

static void unlink_move(dps_hub_move *m)
{
    dps_hub_move **head = dps_hub_client__moves(m->c);
    if (m->prev != NULL)
        m->prev->next = m->next;
    else if (*head == m)
        *head = m->next;
    if (m->next != NULL)
        m->next->prev = m->prev;
    m->prev = m->next = NULL;
}

static void complete(dps_hub_move *m, bool ok, int code, const char *msg)
{
    char text[400];
    snprintf(text, sizeof text, "%s", msg != NULL ? msg : "");
    dps_hub_outcome o = {.ok = ok, .error_code = ok ? 0 : code, .message = ok ? NULL : text};
    dps_hub_done_fn done = m->done;
    void *arg = m->arg;
    m->http = NULL;
    unlink_move(m);
    move_free(m);
    done(arg, &o);
}

static void on_reply(void *arg, const dps_hub_http_reply *r);

static void deferred_fail(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    complete(arg, false, DPS_REG_FAIL_HUB_UNREACHABLE, "cannot start a request to a hub");
}

/* One request to one side; failures to start are reported from the loop
 * (never before start returns). */
static void send_to(dps_hub_move *m, const side *s, enum evhttp_cmd_type cmd, const char *path,
                 const char *auth, const char *if_match, const char *body)
{
    dps_hub_http_target t;
    dps_hub_client__target(m->c, &t);
    if (!s->tls)
        t.tls = NULL;
    t.connect_host = s->connect_host;
    t.port = s->port;
    t.host_name = s->hub;
    m->http = dps_hub_http_start(&t, cmd, path, auth, if_match, body, on_reply, m);
    if (m->http != NULL)
        return;
    struct timeval now = {0, 0};
    if (event_base_once(t.base, -1, EV_TIMEOUT, deferred_fail, m, &now) != 0)
        log_error("hub move of %s: cannot report a failed request", m->device_id);
}

/* "<prefix>/<what>/<id>?api-version=..." for the public API. */
static char *public_path(const side *s, const char *what, const char *id)
{
    char *enc = dps_url_encode(id);
    char *out = NULL;
    if (enc != NULL) {
        size_t n = strlen(s->prefix) + strlen(what) + strlen(enc) + 64;
        out = malloc(n);
        if (out != NULL)
            snprintf(out, n, "%s/%s/%s?api-version=%s", s->prefix, what, enc,
                     DPS_HUB_API_VERSION);
    }
    free(enc);
    return out;
}

static void run(dps_hub_move *m);

static void fail_reply(dps_hub_move *m, const char *hub, const char *what,
                       const dps_hub_http_reply *r)
{
    char msg[400];
    if (r->status == 0) {
        snprintf(msg, sizeof msg, "IoT hub %s is unreachable (%s): %s", hub, what,
                 r->error != NULL ? r->error : "no answer");
        complete(m, false, DPS_REG_FAIL_HUB_UNREACHABLE, msg);
    } else {
        snprintf(msg, sizeof msg, "IoT hub %s refused %s with %d", hub, what, r->status);
        complete(m, false, DPS_REG_FAIL_HUB_REFUSED, msg);
    }
}

/* The public twin as a twin body carrying tags and desired properties. */
static json_t *public_twin_body(const json_t *twin)
{
    json_t *tags = json_object();
    json_t *desired = json_object();
    const char *k;
    const json_t *v;
    json_object_foreach ((json_t *)json_object_get(twin, "tags"), k, v)
        json_object_set_new(tags, k, json_deep_copy(v));
    json_object_foreach (
        (json_t *)json_object_get(json_object_get(twin, "properties"), "desired"), k, v)
        if (k[0] != '$')
            json_object_set_new(desired, k, json_deep_copy(v));
    if (tags == NULL || desired == NULL) {
        json_decref(tags);
        json_decref(desired);
        return NULL;
    }
    return json_pack("{s:o,s:{s:o}}", "tags", tags, "properties", "desired", desired);
}

static void on_provisioned(void *arg, const dps_hub_outcome *o)
{
    dps_hub_move *m = arg;
    if (!o->ok) {
        /* The old identity is untouched: the device stays where it was. */
        complete(m, false, o->error_code, o->message);
        return;
    }
    m->step = m->migrate && m->internal && m->carried != NULL ? M_IMPORT : M_DELETE;
    run(m);
}

static void provision(dps_hub_move *m)
{
    const json_t *twin = NULL;
    bool replace = false;
    json_t *fallback = NULL;
    if (!m->migrate) {
        twin = m->initial_twin;
        replace = true;
    } else if (!m->internal && m->carried != NULL) {
        fallback = public_twin_body(m->carried);
        twin = fallback;
        replace = true;
    }
    dps_hub_job job = {.hub_name = m->to.hub,
                       .registry_url = m->registry_url,
                       .connection_string = m->connection_string,
                       .device_id = m->device_id,
                       .primary_key = m->primary_key,
                       .secondary_key = m->secondary_key,
                       .x509_thumbprint = m->x509_thumbprint,
                       .iot_edge = m->iot_edge,
                       .initial_twin = twin,
                       .replace_twin = replace,
                       .migration_connection_string = m->migration_connection_string};
    dps_hub_provisioner p = dps_hub_client_provisioner(m->c);
    char err[240];
    int rc = p.start(p.self, &job, on_provisioned, m, err, sizeof err);
    json_decref(fallback);
    if (rc != 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "cannot write the device into %s: %s", m->to.hub, err);
        /* Reported from the loop like every other failure. */
        struct timeval now = {0, 0};
        dps_hub_http_target t;
        dps_hub_client__target(m->c, &t);
        log_warn("hub move of %s: %s", m->device_id, msg);
        if (event_base_once(t.base, -1, EV_TIMEOUT, deferred_fail, m, &now) != 0)
            log_error("hub move of %s: cannot report a failed start", m->device_id);
    }
}

static void run(dps_hub_move *m)
{
    char *path = NULL;
    char *body = NULL;
    switch (m->step) {
    case M_EXPORT:
        path = dps_hub_migration_path(m->from.prefix, m->from.hub, m->device_id);
        if (path != NULL)
            send_to(m, &m->from, EVHTTP_REQ_GET, path, m->from.migration_sas, NULL, NULL);
        break;
    case M_READ_TWIN:
        path = public_path(&m->from, "twins", m->device_id);
        if (path != NULL)
            send_to(m, &m->from, EVHTTP_REQ_GET, path, m->from.sas, NULL, NULL);
        break;
    case M_PROVISION:
        provision(m);
        return;
    case M_IMPORT: {
        char *base = dps_hub_migration_path(m->to.prefix, m->to.hub, m->device_id);
        size_t n = base != NULL ? strlen(base) + 8 : 0;
        path = base != NULL ? malloc(n) : NULL;
        if (path != NULL)
            snprintf(path, n, "%s/twin", base);
        free(base);
        body = path != NULL ? json_dumps(m->carried, JSON_COMPACT) : NULL;
        if (body != NULL)
            send_to(m, &m->to, EVHTTP_REQ_PUT, path, m->to.migration_sas, NULL, body);
        break;
    }
    case M_DELETE:
        path = public_path(&m->from, "devices", m->device_id);
        if (path != NULL)
            send_to(m, &m->from, EVHTTP_REQ_DELETE, path, m->from.sas, "*", NULL);
        break;
    }
    bool started = path != NULL && (m->step != M_IMPORT || body != NULL);
    free(path);
    free(body);
    if (!started) {
        struct timeval now = {0, 0};
        dps_hub_http_target t;
        dps_hub_client__target(m->c, &t);
        if (event_base_once(t.base, -1, EV_TIMEOUT, deferred_fail, m, &now) != 0)
            log_error("hub move of %s: out of memory", m->device_id);
    }
}

static void on_reply(void *arg, const dps_hub_http_reply *r)
{
    dps_hub_move *m = arg;
    m->http = NULL;
    json_error_t jerr;
    switch (m->step) {
    case M_EXPORT:
    case M_READ_TWIN: {
        const char *what = m->step == M_EXPORT ? "the device export" : "reading the twin";
        if (r->status == 404) {
            /* Gone from the old hub already: nothing to carry. */
            log_warn("hub move of %s: not on %s any more; nothing to carry", m->device_id,
                     m->from.hub);
        } else if (r->status != 200) {
            fail_reply(m, m->from.hub, what, r);
            return;
        } else {
            json_t *doc = r->body != NULL ? json_loads(r->body, 0, &jerr) : NULL;
            json_t *twin = m->step == M_EXPORT ? json_object_get(doc, "twin") : doc;
            if (!json_is_object(twin)) {
                json_decref(doc);
                complete(m, false, DPS_REG_FAIL_HUB_REFUSED, "the old hub sent an unreadable twin");
                return;
            }
            m->carried = json_incref(twin);
            json_decref(doc);
            if (m->step == M_READ_TWIN)
                log_warn("hub move of %s from %s to %s: no migration credential on both hubs; "
                         "tags and desired properties carried, reported properties are not",
                         m->device_id, m->from.hub, m->to.hub);
        }
        m->step = M_PROVISION;
        run(m);
        return;
    }
    case M_IMPORT:
        if (r->status != 200) {
            fail_reply(m, m->to.hub, "the twin import", r);
            return;
        }
        m->step = M_DELETE;
        run(m);
        return;
    case M_DELETE:
        if (r->status != 204 && r->status != 200 && r->status != 404)
            log_warn("hub move of %s: the identity on %s could not be removed (%d); remove it "
                     "by hand", m->device_id, m->from.hub, r->status);
        complete(m, true, 0, NULL);
        return;
    case M_PROVISION:
        break;
    }
}

int dps_hub_move_start(dps_hub_client *c, const dps_hub_job *in, dps_hub_done_fn done,
                       void *arg, char *err, size_t errlen)
{
    dps_hub_move *m = calloc(1, sizeof *m);
    if (m == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    m->c = c;
    m->done = done;
    m->arg = arg;
    m->migrate = in->migrate;
    m->iot_edge = in->iot_edge;
    m->internal = in->migration_connection_string != NULL &&
                  in->old_migration_connection_string != NULL;
    bool ok = side_init(&m->from, in->old_hub_name, in->old_registry_url,
                        in->old_connection_string, in->old_migration_connection_string) == 0 &&
              side_init(&m->to, in->hub_name, in->registry_url, in->connection_string,
                        in->migration_connection_string) == 0;
    m->device_id = strdup(in->device_id);
    m->registry_url = strdup(in->registry_url);
    m->connection_string = strdup(in->connection_string);
    m->migration_connection_string = dup_or_null(in->migration_connection_string);
    m->primary_key = dup_or_null(in->primary_key);
    m->secondary_key = dup_or_null(in->secondary_key);
    m->x509_thumbprint = dup_or_null(in->x509_thumbprint);
    m->initial_twin = in->initial_twin != NULL ? json_deep_copy(in->initial_twin) : NULL;
    ok = ok && m->device_id && m->registry_url && m->connection_string &&
         (in->migration_connection_string == NULL || m->migration_connection_string) &&
         (in->primary_key == NULL || m->primary_key) &&
         (in->secondary_key == NULL || m->secondary_key) &&
         (in->x509_thumbprint == NULL || m->x509_thumbprint) &&
         (in->initial_twin == NULL || m->initial_twin);
    if (!ok) {
        move_free(m);
        snprintf(err, errlen, "cannot prepare the move to %s (a registry URL or connection "
                 "string is unusable, or no memory)", in->hub_name);
        return -1;
    }
    dps_hub_move **head = dps_hub_client__moves(c);
    m->next = *head;
    if (*head != NULL)
        (*head)->prev = m;
    *head = m;
    m->step = !m->migrate ? M_PROVISION : m->internal ? M_EXPORT : M_READ_TWIN;
    /* The first step only sends (or starts the job); answers come later. */
    run(m);
    return 0;
}

void dps_hub_move_free_all(dps_hub_client *c)
{
    dps_hub_move **head = dps_hub_client__moves(c);
    while (*head != NULL) {
        dps_hub_move *m = *head;
        unlink_move(m);
        move_free(m);
    }
}
