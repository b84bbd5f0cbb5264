/* Sessions: who is connected, what a persistent session keeps between
 * connections, and the calls the REST side makes into the device side
 * (sessions.h). One connection per device: a new CONNECT replaces the old
 * connection (hub.md 8.2). Clean session 0 keeps subscriptions and queued
 * C2D messages for HUBD_MQTT_SESSION_TTL_S after the connection goes;
 * clean session 1 starts empty and leaves nothing behind. Direct methods
 * live in methods.c, C2D queues in c2d.c. */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "mqtt/internal.h"

hubd_sessions *hubd_sessions_new(void)
{
    hubd_sessions *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->table = hubd_devtable_new(HUBD_MQTT_MAX_DEVICES);
    s->methods = hubd_methods_new();
    if (s->table == NULL || s->methods == NULL) {
        hubd_sessions_free(&s);
        return NULL;
    }
    return s;
}

void hubd_sessions_free(hubd_sessions **sp)
{
    if (sp == NULL || *sp == NULL)
        return;
    hubd_sessions *s = *sp;
    hubd_methods_free(&s->methods); /* first: calls point at device entries */
    hubd_devtable_free(&s->table);
    free(s);
    *sp = NULL;
}

/* Forgets what a session keeps: subscriptions and queued messages. */
static void drop_session(hubd_sessions *s, hubd_device *d)
{
    for (size_t k = 0; k < HUBD_SUB_KINDS; k++)
        d->sub_qos[k] = -1;
    hubd_c2d_prune(s, d, true);
    d->has_session = false;
}

/* ---- the endpoint's side ------------------------------------------------- */

hubd_device *hubd_sessions_attach(hubd_ctx *ctx, const char *hub, const char *device_id,
                                  hubd_mqtt_conn *c, bool clean, bool *session_present)
{
    hubd_sessions *s = ctx->sessions;
    hubd_device *d = hubd_devtable_get(s->table, hub, device_id);
    if (d == NULL)
        return NULL;
    if (d->conn != NULL)
        dps_mqttsrv_close(d->conn, "replaced by a new connection"); /* detaches */
    if (d->has_session && dps_monotonic_ms() >= d->session_expires_ms)
        drop_session(s, d);
    if (clean)
        drop_session(s, d);
    *session_present = !clean && d->has_session;
    d->conn = c;
    d->persistent = !clean;
    if (!clean)
        d->has_session = true;
    int64_t now = dps_now_ns();
    d->live.connected = true;
    d->live.state_updated_ns = now;
    d->live.last_activity_ns = now;
    return d;
}

void hubd_sessions_resume(hubd_ctx *ctx, hubd_device *d)
{
    /* C2D first: a method call must not wait behind a queue of messages,
     * but both only go out when their subscription is there. */
    hubd_c2d_pump(ctx->sessions, d);
    if (d->conn != NULL && d->sub_qos[HUBD_SUB_METHODS] >= 0)
        hubd_methods_pump(ctx, d);
}

void hubd_sessions_detach(hubd_ctx *ctx, hubd_device *d, hubd_mqtt_conn *c)
{
    if (d->conn != c)
        return;
    d->conn = NULL;
    d->live.connected = false;
    d->live.state_updated_ns = dps_now_ns();
    hubd_c2d_unflight(d);
    if (d->persistent)
        d->session_expires_ms = dps_monotonic_ms() + (int64_t)HUBD_MQTT_SESSION_TTL_S * 1000;
    else
        drop_session(ctx->sessions, d);
    /* Method calls already sent stay until their response timeout: the
     * device may answer after reconnecting (the $rid is still good). */
}

void hubd_sessions_subscribed(hubd_ctx *ctx, hubd_device *d, hubd_sub_kind kind)
{
    if (kind == HUBD_SUB_C2D)
        hubd_c2d_pump(ctx->sessions, d);
    else if (kind == HUBD_SUB_METHODS)
        hubd_methods_pump(ctx, d);
}

typedef struct {
    hubd_sessions *s;
    int64_t now_ms;
    int64_t now_ns;
} sweep_ctx;

static void sweep_one(hubd_device *d, void *arg)
{
    sweep_ctx *w = arg;
    hubd_c2d_prune(w->s, d, false);
    if (d->conn != NULL)
        return;
    if (d->has_session && w->now_ms >= d->session_expires_ms)
        drop_session(w->s, d);
    bool idle = w->now_ns - d->live.state_updated_ns >= (int64_t)HUBD_MQTT_IDLE_ENTRY_TTL_S * 1000000000;
    if (!d->has_session && d->c2d_head == NULL && d->methods == NULL && idle)
        hubd_devtable_remove(w->s->table, d);
}

void hubd_sessions_sweep(hubd_ctx *ctx)
{
    if (ctx->sessions == NULL)
        return;
    /* O(devices) once a minute, never per message. */
    sweep_ctx w = {ctx->sessions, dps_monotonic_ms(), dps_now_ns()};
    hubd_devtable_each(ctx->sessions->table, sweep_one, &w);
}

/* ---- sessions.h: the REST side's calls ----------------------------------- */

void hubd_sessions_live_state(hubd_ctx *ctx, const char *hub, const char *device_id,
                              hubd_live_state *out)
{
    memset(out, 0, sizeof *out);
    if (ctx->sessions == NULL || hub == NULL || device_id == NULL)
        return;
    const hubd_device *d = hubd_devtable_find(ctx->sessions->table, hub, device_id);
    if (d != NULL)
        *out = d->live;
}

void hubd_sessions_disconnect(hubd_ctx *ctx, const char *hub, const char *device_id)
{
    if (ctx->sessions == NULL || hub == NULL || device_id == NULL)
        return;
    hubd_device *d = hubd_devtable_find(ctx->sessions->table, hub, device_id);
    if (d != NULL && d->conn != NULL)
        dps_mqttsrv_close(d->conn, "disconnected by the service");
}

void hubd_sessions_notify_desired(hubd_ctx *ctx, const char *hub, const char *device_id,
                                  const json_t *patch, int64_t version)
{
    if (ctx->sessions == NULL || hub == NULL || device_id == NULL || !json_is_object(patch))
        return;
    hubd_device *d = hubd_devtable_find(ctx->sessions->table, hub, device_id);
    if (d == NULL || d->conn == NULL || d->sub_qos[HUBD_SUB_DESIRED] < 0)
        return;
    /* The notification carries the change plus its $version (hub.md 8.3). */
    json_t *body = json_deep_copy(patch);
    char *text = NULL;
    if (body == NULL || json_object_set_new(body, "$version", json_integer(version)) != 0 ||
        (text = json_dumps(body, JSON_COMPACT)) == NULL) {
        log_error("mqtt: out of memory building a desired notification for %s", device_id);
        json_decref(body);
        return;
    }
    json_decref(body);
    char topic[96];
    int n = snprintf(topic, sizeof topic, "$iothub/twin/PATCH/properties/desired/?$version=%lld",
                     (long long)version);
    if (n > 0 && (size_t)n < sizeof topic)
        hubd_topics_deliver(d, HUBD_SUB_DESIRED, topic, (size_t)n, text, strlen(text));
    free(text);
}

int hubd_sessions_send_c2d(hubd_ctx *ctx, const char *hub, const char *device_id,
                           const void *body, size_t len, const json_t *props,
                           const char *message_id)
{
    if (ctx->sessions == NULL || hub == NULL || device_id == NULL || (body == NULL && len > 0))
        return -1;
    hubd_device *d = hubd_devtable_get(ctx->sessions->table, hub, device_id);
    if (d == NULL)
        return -1;
    if (hubd_c2d_enqueue(ctx->sessions, d, body, len, props, message_id) != 0)
        return -1; /* an entry made just now is empty and goes with the sweep */
    hubd_c2d_pump(ctx->sessions, d);
    return 0;
}
