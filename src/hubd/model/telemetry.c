/* The per-hub telemetry logs (see telemetry.h).
 *
 * Each hub log is a ring of pointers to entries, grown by doubling up to the
 * message cap, so an idle hub costs little and a busy one never moves
 * entries. An entry is one allocation (device ID and body inline) plus the
 * copied property objects.
 *
 * Re-entrancy: callbacks may subscribe, unsubscribe and append. Two rules
 * make that safe without reference counts:
 *   - while any call that runs callbacks is active on a log (log->depth > 0),
 *     evicted entries go to a graveyard and cancelled subscribers are only
 *     marked dead; both are settled when the outermost such call returns;
 *   - delivery to a subscriber is a catch-up loop over sequence numbers
 *     ("everything after the last one it got"), guarded by a busy flag, so a
 *     nested append never delivers out of order or twice: the outer loop
 *     picks the new message up after the callback returns. */
#include "model/telemetry.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64.h"
#include "common/log.h"
#include "common/timeutil.h"

#define HUB_NAME_MAX 255 /* a DNS name plus room; longer names are never a hub */
#define RING_INITIAL 64

typedef struct entry {
    struct entry *next_dead; /* graveyard chain */
    uint64_t seq;
    int64_t enqueued_ns;
    json_t *sys; /* NULL = empty */
    json_t *app; /* NULL = empty */
    size_t cost; /* bytes charged against the budget */
    const char *device_id;
    const unsigned char *body;
    size_t body_len;
    unsigned char data[]; /* device ID, NUL, body */
} entry;

typedef struct {
    uint64_t id;
    hubd_telemetry_cb cb;
    void *arg;
    uint64_t delivered; /* highest sequence passed (or skipped by choice) */
    bool busy;          /* its callback is running: no nested delivery */
    bool dead;          /* unsubscribed; removed when the log settles */
} subscriber;

typedef struct {
    char name[HUB_NAME_MAX + 1];
    entry **ring;
    size_t ring_cap; /* allocated slots (grows to the message cap) */
    size_t head;     /* slot of the oldest entry */
    size_t count;
    size_t bytes;
    uint64_t last_seq;
    uint64_t dropped;
    subscriber subs[HUBD_TELEMETRY_MAX_SUBSCRIBERS];
    size_t nsubs;
    unsigned depth;    /* calls running callbacks on this log */
    entry *graveyard;  /* evicted while depth > 0 */
} hub_log;

struct hubd_telemetry {
    size_t max_messages;
    size_t max_bytes;
    hub_log *logs[HUBD_TELEMETRY_MAX_HUBS];
    size_t nlogs;
    uint64_t next_sub_id;
    json_t *empty; /* the object events show for absent properties */
};

/* ---- helpers ------------------------------------------------------------ */

static void entry_free(entry *e)
{
    if (e == NULL)
        return;
    json_decref(e->sys);
    json_decref(e->app);
    free(e);
}

/* Lower-cases hub into out; false when it cannot be a hub name. */
static bool canon_hub(const char *hub, char out[HUB_NAME_MAX + 1])
{
    if (hub == NULL)
        return false;
    size_t n = strlen(hub);
    if (n == 0 || n > HUB_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)hub[i]);
    out[n] = '\0';
    return true;
}

static hub_log *find_log(hubd_telemetry *t, const char *hub)
{
    char canon[HUB_NAME_MAX + 1];
    if (t == NULL || !canon_hub(hub, canon))
        return NULL;
    for (size_t i = 0; i < t->nlogs; i++)
        if (strcmp(t->logs[i]->name, canon) == 0)
            return t->logs[i];
    return NULL;
}

static hub_log *get_log(hubd_telemetry *t, const char *hub)
{
    hub_log *l = find_log(t, hub);
    if (l != NULL || t == NULL)
        return l;
    if (t->nlogs == HUBD_TELEMETRY_MAX_HUBS) {
        log_warn("telemetry: more than %d hubs; messages of %s are not kept",
                 HUBD_TELEMETRY_MAX_HUBS, hub);
        return NULL;
    }
    l = calloc(1, sizeof *l);
    if (l == NULL || !canon_hub(hub, l->name)) {
        free(l);
        return NULL;
    }
    t->logs[t->nlogs++] = l;
    return l;
}

/* The oldest retained entry with a sequence above after, or NULL. */
static entry *next_after(const hub_log *l, uint64_t after)
{
    if (l->count == 0 || after >= l->last_seq)
        return NULL;
    uint64_t first = l->last_seq - l->count + 1;
    uint64_t want = after + 1 > first ? after + 1 : first;
    size_t slot = (l->head + (size_t)(want - first)) % l->ring_cap;
    return l->ring[slot];
}

static void evict_oldest(hub_log *l)
{
    entry *e = l->ring[l->head];
    l->ring[l->head] = NULL;
    l->head = (l->head + 1) % l->ring_cap;
    l->count--;
    l->bytes -= e->cost;
    l->dropped++;
    if (l->depth > 0) {
        /* A callback up the stack may be holding it. */
        e->next_dead = l->graveyard;
        l->graveyard = e;
    } else {
        entry_free(e);
    }
}

/* Frees the graveyard and drops dead subscribers; only at depth 0, when no
 * callback can hold an entry or iterate the subscriber array. */
static void settle(hub_log *l)
{
    if (l->depth > 0)
        return;
    while (l->graveyard != NULL) {
        entry *e = l->graveyard;
        l->graveyard = e->next_dead;
        entry_free(e);
    }
    size_t w = 0;
    for (size_t r = 0; r < l->nsubs; r++) {
        if (l->subs[r].dead)
            continue;
        if (w != r)
            l->subs[w] = l->subs[r];
        w++;
    }
    for (size_t i = w; i < l->nsubs; i++)
        memset(&l->subs[i], 0, sizeof l->subs[i]);
    l->nsubs = w;
}

static int grow_ring(hub_log *l, size_t max_messages)
{
    size_t cap = l->ring_cap == 0 ? RING_INITIAL : l->ring_cap * 2;
    if (cap > max_messages)
        cap = max_messages;
    entry **ring = calloc(cap, sizeof *ring);
    if (ring == NULL)
        return -1;
    /* Unwrap so the oldest lands in slot 0. */
    for (size_t i = 0; i < l->count; i++)
        ring[i] = l->ring[(l->head + i) % l->ring_cap];
    free(l->ring);
    l->ring = ring;
    l->ring_cap = cap;
    l->head = 0;
    return 0;
}

static void fill_event(const hubd_telemetry *t, const hub_log *l, const entry *e,
                       uint64_t sub_id, hubd_telemetry_event *ev)
{
    ev->subscription = sub_id;
    ev->sequence = e->seq;
    ev->enqueued_ns = e->enqueued_ns;
    ev->hub = l->name;
    ev->device_id = e->device_id;
    ev->system_props = e->sys != NULL ? e->sys : t->empty;
    ev->app_props = e->app != NULL ? e->app : t->empty;
    ev->body = e->body;
    ev->body_len = e->body_len;
}

/* Passes a subscriber everything it has not had yet. Re-reads the
 * subscriber by index after each callback: the array never moves while
 * depth > 0, but the callback may have cancelled it. */
static void pump(hubd_telemetry *t, hub_log *l, size_t idx)
{
    subscriber *s = &l->subs[idx];
    if (s->busy || s->dead)
        return;
    s->busy = true;
    entry *e;
    while (!s->dead && (e = next_after(l, s->delivered)) != NULL) {
        hubd_telemetry_event ev;
        fill_event(t, l, e, s->id, &ev);
        s->delivered = e->seq;
        s->cb(s->arg, &ev);
    }
    s->busy = false;
}

/* Bytes a property object accounts for: its compact JSON text. */
static size_t props_cost(const json_t *o)
{
    return o != NULL ? json_dumpb(o, NULL, 0, JSON_COMPACT) : 0;
}

static json_t *props_copy(const json_t *o, bool share, bool *failed)
{
    if (o == NULL || !json_is_object(o) || json_object_size(o) == 0)
        return NULL;
    /* The caller promised not to change a shared object, so a reference is
     * as good as a copy; jansson's refcount is not const-aware. */
    if (share)
        return json_incref((json_t *)o);
    json_t *c = json_deep_copy(o);
    if (c == NULL)
        *failed = true;
    return c;
}

/* ---- public ------------------------------------------------------------- */

hubd_telemetry *hubd_telemetry_new(size_t max_messages, size_t max_bytes)
{
    if (max_messages == 0 || max_bytes == 0)
        return NULL;
    hubd_telemetry *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->empty = json_object();
    if (t->empty == NULL) {
        free(t);
        return NULL;
    }
    t->max_messages = max_messages;
    t->max_bytes = max_bytes;
    t->next_sub_id = 1;
    return t;
}

void hubd_telemetry_free(hubd_telemetry **tp)
{
    if (tp == NULL || *tp == NULL)
        return;
    hubd_telemetry *t = *tp;
    for (size_t i = 0; i < t->nlogs; i++) {
        hub_log *l = t->logs[i];
        for (size_t k = 0; k < l->count; k++)
            entry_free(l->ring[(l->head + k) % l->ring_cap]);
        l->depth = 0;
        l->nsubs = 0;
        settle(l);
        free(l->ring);
        free(l);
    }
    json_decref(t->empty);
    free(t);
    *tp = NULL;
}

void hubd_telemetry_append(hubd_ctx *ctx, const hubd_telemetry_message *m)
{
    hubd_telemetry *t = ctx != NULL ? ctx->telemetry : NULL;
    if (t == NULL || m == NULL || m->device_id == NULL || (m->body == NULL && m->body_len > 0))
        return;
    hub_log *l = get_log(t, m->hub);
    if (l == NULL)
        return;

    size_t idlen = strlen(m->device_id);
    if (m->body_len > SIZE_MAX / 2 || idlen > SIZE_MAX / 4)
        return;
    entry *e = malloc(sizeof *e + idlen + 1 + m->body_len);
    if (e == NULL) {
        log_warn("telemetry: out of memory; a message from %s was not kept", m->device_id);
        return;
    }
    memset(e, 0, sizeof *e);
    bool failed = false;
    e->sys = props_copy(m->system_props, m->share_props, &failed);
    e->app = props_copy(m->app_props, m->share_props, &failed);
    if (failed) {
        entry_free(e);
        log_warn("telemetry: out of memory; a message from %s was not kept", m->device_id);
        return;
    }
    memcpy(e->data, m->device_id, idlen + 1);
    if (m->body_len > 0)
        memcpy(e->data + idlen + 1, m->body, m->body_len);
    e->device_id = (const char *)e->data;
    e->body = e->data + idlen + 1;
    e->body_len = m->body_len;
    e->enqueued_ns = dps_now_ns();
    e->cost = sizeof *e + idlen + 1 + m->body_len + props_cost(e->sys) + props_cost(e->app);

    /* Make room: by count, then by bytes (a message bigger than the whole
     * budget still gets in, alone). */
    while (l->count > 0 && (l->count >= t->max_messages || l->bytes + e->cost > t->max_bytes))
        evict_oldest(l);
    if (l->count == l->ring_cap && grow_ring(l, t->max_messages) != 0) {
        entry_free(e);
        log_warn("telemetry: out of memory; a message from %s was not kept", m->device_id);
        return;
    }
    e->seq = ++l->last_seq;
    l->ring[(l->head + l->count) % l->ring_cap] = e;
    l->count++;
    l->bytes += e->cost;

    l->depth++;
    /* nsubs is re-read each round: a callback may add a subscriber, which
     * then gets its own replay and would skip nothing here either. */
    for (size_t i = 0; i < l->nsubs; i++)
        pump(t, l, i);
    l->depth--;
    settle(l);
}

uint64_t hubd_telemetry_subscribe(hubd_ctx *ctx, const char *hub, uint64_t since_seq,
                                  hubd_telemetry_cb cb, void *arg)
{
    hubd_telemetry *t = ctx != NULL ? ctx->telemetry : NULL;
    if (t == NULL || cb == NULL)
        return 0;
    hub_log *l = get_log(t, hub);
    if (l == NULL || l->nsubs == HUBD_TELEMETRY_MAX_SUBSCRIBERS)
        return 0;

    size_t idx = l->nsubs++;
    subscriber *s = &l->subs[idx];
    memset(s, 0, sizeof *s);
    s->id = t->next_sub_id++;
    s->cb = cb;
    s->arg = arg;
    /* A since_seq above anything appended comes from an earlier run of the
     * process (sequences restart at 1): everything retained is new to that
     * reader, so it gets the whole log. */
    if (since_seq == HUBD_TELEMETRY_LIVE)
        s->delivered = l->last_seq;
    else if (since_seq > l->last_seq)
        s->delivered = 0;
    else
        s->delivered = since_seq;
    uint64_t id = s->id;

    l->depth++;
    pump(t, l, idx);
    l->depth--;
    settle(l);
    return id;
}

void hubd_telemetry_unsubscribe(hubd_ctx *ctx, uint64_t id)
{
    hubd_telemetry *t = ctx != NULL ? ctx->telemetry : NULL;
    if (t == NULL || id == 0)
        return;
    for (size_t i = 0; i < t->nlogs; i++) {
        hub_log *l = t->logs[i];
        for (size_t k = 0; k < l->nsubs; k++) {
            subscriber *s = &l->subs[k];
            if (s->id != id || s->dead)
                continue;
            s->dead = true;
            s->cb = NULL;
            s->arg = NULL;
            settle(l); /* removes it now unless callbacks are running */
            return;
        }
    }
}

size_t hubd_telemetry_read(hubd_ctx *ctx, const char *hub, uint64_t after_seq, size_t max,
                           hubd_telemetry_cb cb, void *arg)
{
    hubd_telemetry *t = ctx != NULL ? ctx->telemetry : NULL;
    hub_log *l = find_log(t, hub);
    if (l == NULL || cb == NULL)
        return 0;
    size_t n = 0;
    uint64_t at = after_seq;
    entry *e;
    l->depth++;
    while (n < max && (e = next_after(l, at)) != NULL) {
        hubd_telemetry_event ev;
        fill_event(t, l, e, 0, &ev);
        at = e->seq;
        n++;
        cb(arg, &ev);
    }
    l->depth--;
    settle(l);
    return n;
}

void hubd_telemetry_get_stats(hubd_ctx *ctx, const char *hub, hubd_telemetry_stats *out)
{
    memset(out, 0, sizeof *out);
    hub_log *l = find_log(ctx != NULL ? ctx->telemetry : NULL, hub);
    if (l == NULL)
        return;
    out->count = l->count;
    out->bytes = l->bytes;
    out->first_sequence = l->count > 0 ? l->last_seq - l->count + 1 : 0;
    out->last_sequence = l->last_seq;
    out->dropped = l->dropped;
    for (size_t i = 0; i < l->nsubs; i++)
        if (!l->subs[i].dead)
            out->subscribers++;
}

/* Sets key to v (taking the reference); false when v is NULL or the set
 * fails, so the caller can bail out once. */
static bool put(json_t *o, const char *key, json_t *v)
{
    return v != NULL && json_object_set_new(o, key, v) == 0;
}

json_t *hubd_telemetry_to_json(const hubd_telemetry_event *ev)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    char when[DPS_ISO_TIME_LEN];
    dps_time_iso(ev->enqueued_ns, when);

    /* Sequences fit: 2^63 messages will not arrive in one process life. */
    bool ok = put(o, "sequence", json_integer((json_int_t)ev->sequence)) &&
              put(o, "enqueuedTimeUtc", json_string(when)) &&
              put(o, "hub", json_string(ev->hub != NULL ? ev->hub : "")) &&
              put(o, "deviceId", json_string(ev->device_id != NULL ? ev->device_id : "")) &&
              put(o, "systemProperties", ev->system_props != NULL
                                             ? json_deep_copy(ev->system_props)
                                             : json_object()) &&
              put(o, "applicationProperties", ev->app_props != NULL
                                                  ? json_deep_copy(ev->app_props)
                                                  : json_object());
    if (ok) {
        /* json_stringn refuses invalid UTF-8; NUL bytes are legal there but
         * would read badly on a console, so they also go to base64. */
        json_t *body = NULL;
        if (ev->body_len == 0)
            body = json_string("");
        else if (memchr(ev->body, 0, ev->body_len) == NULL)
            body = json_stringn(ev->body, ev->body_len);
        if (body != NULL) {
            ok = put(o, "body", body);
        } else if (ev->body_len > 0) {
            char *b64 = dps_b64_encode(ev->body, ev->body_len);
            ok = b64 != NULL && put(o, "body", json_string(b64)) &&
                 put(o, "bodyEncoding", json_string("base64"));
            free(b64);
        } else {
            ok = false;
        }
    }
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}
