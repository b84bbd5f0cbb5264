/* Direct-method invocations in flight (sessions.h): each call waits for the
 * device to be connected and subscribed to $iothub/methods/POST/# (up to
 * its connect timeout), is published on $iothub/methods/POST/{name}/?$rid=
 * {handle in hex}, and ends with the device's answer on
 * $iothub/methods/res/{status}/?$rid=..., or with a timeout. Calls are
 * found by handle in a small hash (the $rid and cancellation) and per
 * device in a list (sending when the device subscribes). done is always
 * called from a timer or from the device's packet, never from the call
 * that started the invocation. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "mqtt/internal.h"

#define METHOD_BUCKETS 1024 /* handles are sequential, so this spreads evenly */

struct hubd_method_call {
    hubd_method_call *hnext; /* handle hash chain */
    hubd_method_call *dnext; /* the device's list */
    hubd_methods *owner;
    hubd_device *dev;        /* NULL when the device was unknown and offline */
    uint64_t handle;
    bool sent;
    int response_timeout_s;
    struct event *timer;
    hubd_method_done done;
    void *arg;
    size_t name_len;
    size_t payload_len;
    char data[]; /* name, NUL, payload */
};

struct hubd_methods {
    hubd_method_call *buckets[METHOD_BUCKETS];
    size_t count;
    uint64_t next_handle;
};

hubd_methods *hubd_methods_new(void)
{
    return calloc(1, sizeof(hubd_methods));
}

static void free_call(hubd_method_call *call)
{
    if (call->timer != NULL)
        event_free(call->timer);
    free(call);
}

void hubd_methods_free(hubd_methods **mp)
{
    if (mp == NULL || *mp == NULL)
        return;
    hubd_methods *m = *mp;
    for (size_t i = 0; i < METHOD_BUCKETS; i++) {
        hubd_method_call *call = m->buckets[i];
        while (call != NULL) {
            hubd_method_call *next = call->hnext;
            if (call->dev != NULL) {
                call->dev->methods = NULL;
                call->dev->nmethods = 0;
            }
            free_call(call);
            call = next;
        }
    }
    free(m);
    *mp = NULL;
}

static hubd_method_call *lookup(hubd_methods *m, uint64_t handle)
{
    for (hubd_method_call *c = m->buckets[handle % METHOD_BUCKETS]; c != NULL; c = c->hnext) {
        if (c->handle == handle)
            return c;
    }
    return NULL;
}

/* Takes the call out of the hash and its device's list. */
static void unlink_call(hubd_method_call *call)
{
    hubd_methods *m = call->owner;
    hubd_method_call **pp = &m->buckets[call->handle % METHOD_BUCKETS];
    while (*pp != NULL && *pp != call)
        pp = &(*pp)->hnext;
    if (*pp != NULL)
        *pp = call->hnext;
    m->count--;
    if (call->dev != NULL) {
        pp = &call->dev->methods;
        while (*pp != NULL && *pp != call)
            pp = &(*pp)->dnext;
        if (*pp != NULL)
            *pp = call->dnext;
        call->dev->nmethods--;
    }
}

/* Ends a call: unlinked first, so a done callback that cancels the same
 * handle or starts a new call finds consistent tables. The timer may be the
 * one whose callback is running; libevent allows freeing a non-persistent
 * event from its own callback, and nothing touches it afterwards. */
static void finish(hubd_method_call *call, int status, const void *payload, size_t len)
{
    unlink_call(call);
    hubd_method_done done = call->done;
    void *arg = call->arg;
    free_call(call);
    done(arg, status, len > 0 ? payload : "", len);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    hubd_method_call *call = arg;
    finish(call, call->sent ? -2 : -1, NULL, 0);
}

static void arm(hubd_method_call *call, int seconds)
{
    struct timeval tv = {seconds, 0};
    evtimer_del(call->timer);
    if (evtimer_add(call->timer, &tv) != 0)
        log_error("mqtt: cannot arm a method timer");
}

/* Publishes the request; false when the connection closed meanwhile. */
static bool send_call(hubd_method_call *call)
{
    hubd_device *d = call->dev;
    char topic[64 + HUBD_MQTT_METHOD_MAX_NAME];
    int n = snprintf(topic, sizeof topic, "$iothub/methods/POST/%s/?$rid=%" PRIx64, call->data,
                     call->handle);
    if (n < 0 || (size_t)n >= sizeof topic)
        return false;
    if (hubd_topics_deliver(d, HUBD_SUB_METHODS, topic, (size_t)n,
                            call->data + call->name_len + 1, call->payload_len) != 0)
        return false;
    call->sent = true;
    arm(call, call->response_timeout_s);
    return true;
}

static bool can_send(const hubd_device *d)
{
    return d != NULL && d->conn != NULL && dps_mqttsrv_conn_is_open(d->conn) &&
           d->sub_qos[HUBD_SUB_METHODS] >= 0;
}

void hubd_methods_pump(hubd_ctx *ctx, hubd_device *d)
{
    (void)ctx;
    for (hubd_method_call *call = d->methods; call != NULL; call = call->dnext) {
        if (!can_send(d))
            return;
        if (!call->sent && !send_call(call))
            return;
    }
}

static bool name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > HUBD_MQTT_METHOD_MAX_NAME || strpbrk(name, "/+#") != NULL)
        return false;
    return dps_mqtt_utf8_valid(name, n);
}

static int clamp(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

uint64_t hubd_sessions_invoke_method(hubd_ctx *ctx, const char *hub, const char *device_id,
                                     const char *method_name, const char *payload,
                                     size_t payload_len, int response_timeout_s,
                                     int connect_timeout_s, hubd_method_done done, void *arg)
{
    hubd_sessions *s = ctx->sessions;
    if (s == NULL || hub == NULL || device_id == NULL || method_name == NULL || done == NULL ||
        !name_ok(method_name) || payload_len > HUBD_MQTT_METHOD_MAX_PAYLOAD ||
        (payload == NULL && payload_len > 0) || s->methods->count >= HUBD_MQTT_METHOD_MAX_TOTAL)
        return 0;
    response_timeout_s = clamp(response_timeout_s, HUBD_MQTT_METHOD_MIN_TIMEOUT_S,
                               HUBD_MQTT_METHOD_MAX_TIMEOUT_S);
    connect_timeout_s = clamp(connect_timeout_s, 0, HUBD_MQTT_METHOD_MAX_TIMEOUT_S);

    hubd_device *d = hubd_devtable_find(s->table, hub, device_id);
    if (d == NULL && connect_timeout_s > 0)
        d = hubd_devtable_get(s->table, hub, device_id); /* somewhere to wait */
    if (d != NULL && d->nmethods >= HUBD_MQTT_METHOD_MAX_PER_DEVICE)
        return 0;

    size_t name_len = strlen(method_name);
    hubd_method_call *call = calloc(1, sizeof *call + name_len + 1 + payload_len);
    if (call == NULL)
        return 0;
    call->timer = evtimer_new(ctx->base, on_timer, call);
    if (call->timer == NULL) {
        free(call);
        return 0;
    }
    memcpy(call->data, method_name, name_len + 1);
    if (payload_len > 0)
        memcpy(call->data + name_len + 1, payload, payload_len);
    call->name_len = name_len;
    call->payload_len = payload_len;
    call->owner = s->methods;
    call->dev = d;
    call->response_timeout_s = response_timeout_s;
    call->done = done;
    call->arg = arg;
    call->handle = ++s->methods->next_handle;

    hubd_method_call **bucket = &s->methods->buckets[call->handle % METHOD_BUCKETS];
    call->hnext = *bucket;
    *bucket = call;
    s->methods->count++;
    if (d != NULL) {
        /* Appended, so calls go out in the order they were made. */
        hubd_method_call **pp = &d->methods;
        while (*pp != NULL)
            pp = &(*pp)->dnext;
        *pp = call;
        d->nmethods++;
    }

    uint64_t handle = call->handle;
    if (can_send(d) && send_call(call))
        return handle;
    /* Not reachable now: wait for the device, or fail from a zero timer
     * so done never runs inside this call. */
    arm(call, d != NULL ? connect_timeout_s : 0);
    return handle;
}

void hubd_sessions_cancel_method(hubd_ctx *ctx, uint64_t handle)
{
    if (ctx->sessions == NULL || handle == 0)
        return;
    hubd_method_call *call = lookup(ctx->sessions->methods, handle);
    if (call == NULL)
        return;
    unlink_call(call);
    free_call(call);
}

/* The $rid we send is the handle in lower-case hex. */
static bool parse_rid(dps_mqtt_str rid, uint64_t *out)
{
    if (rid.len == 0 || rid.len > 16)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < rid.len; i++) {
        char ch = rid.ptr[i];
        unsigned digit;
        if (ch >= '0' && ch <= '9')
            digit = (unsigned)(ch - '0');
        else if (ch >= 'a' && ch <= 'f')
            digit = (unsigned)(ch - 'a' + 10);
        else if (ch >= 'A' && ch <= 'F')
            digit = (unsigned)(ch - 'A' + 10);
        else
            return false;
        v = v << 4 | digit;
    }
    *out = v;
    return true;
}

void hubd_methods_response(hubd_ctx *ctx, hubd_device *d, dps_mqtt_str rid, int status,
                           const void *payload, size_t len)
{
    uint64_t handle;
    hubd_method_call *call = NULL;
    if (parse_rid(rid, &handle))
        call = lookup(ctx->sessions->methods, handle);
    /* Only the device the call went to can answer it; a late answer (after
     * the timeout) finds nothing and is dropped. */
    if (call == NULL || call->dev != d || !call->sent) {
        log_debug("mqtt: method response for an unknown $rid from %s", hubd_device_id(d));
        return;
    }
    finish(call, status, payload, len);
}
