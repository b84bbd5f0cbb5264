/* Per-hub telemetry: a bounded in-memory log of device-to-cloud messages
 * (enqueued time, device ID, system and application properties, body) that
 * operators read or follow live (Server-Sent Events), like
 * `az iot hub monitor-events`. The oldest messages drop out when the log is
 * full; nothing here is persisted.
 *
 * Each hub has its own log (created on first use) with its own sequence
 * numbers: 1 for the first message after start, +1 per message, never
 * reused, so a reader that remembers the last sequence it saw can resume
 * after it and can tell from a jump that messages dropped out meanwhile.
 *
 * Everything runs on the event loop thread; nothing blocks or allocates in
 * proportion to the log size. */
#ifndef HUBD_TELEMETRY_H
#define HUBD_TELEMETRY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hubd.h"

/* Caps. The per-hub message count and byte budget come from the
 * configuration (telemetry_log_size, telemetry_log_bytes). */
#define HUBD_TELEMETRY_MAX_HUBS 1024           /* logs kept at all */
#define HUBD_TELEMETRY_MAX_SUBSCRIBERS 64      /* live followers per hub */
#define HUBD_TELEMETRY_DEFAULT_MESSAGES 10000  /* telemetry_log_size default */
#define HUBD_TELEMETRY_DEFAULT_BYTES (64u * 1024 * 1024) /* telemetry_log_bytes default */

/* Pass as since_seq to follow only messages that arrive from now on. */
#define HUBD_TELEMETRY_LIVE UINT64_MAX

/* One message as it arrived on devices/{id}/messages/events/{property bag}.
 * system_props and app_props are JSON objects (may be empty or NULL), built by
 * the MQTT side from the decoded property bag ("$.ct" etc. go to system_props
 * without the "$." prefix: contentType, contentEncoding, messageId,
 * correlationId, userId, creationTimeUtc). The log copies the strings and
 * the body; the property objects are deep-copied unless share_props is set,
 * in which case the log keeps a reference to them instead (one copy less per
 * message) and the caller must not change them afterwards. */
typedef struct {
    const char *hub;
    const char *device_id;
    const json_t *system_props;
    const json_t *app_props;
    const void *body;
    size_t body_len;
    bool share_props;
} hubd_telemetry_message;

/* A message in the log, as readers see it. Every pointer is valid only
 * during the callback it is passed to; copy what must outlive it (or call
 * hubd_telemetry_to_json). */
typedef struct {
    uint64_t subscription;      /* the subscription being served; 0 for hubd_telemetry_read */
    uint64_t sequence;          /* per hub, from 1 */
    int64_t enqueued_ns;        /* Unix nanoseconds when the hub took the message */
    const char *hub;            /* canonical (lower-case) hub host */
    const char *device_id;
    const json_t *system_props; /* object, never NULL */
    const json_t *app_props;    /* object, never NULL */
    const void *body;
    size_t body_len;
} hubd_telemetry_event;

/* Creates the logs of one hubd: at most max_messages (>= 1) and max_bytes of
 * body + property text per hub, whichever is reached first. NULL when out of
 * memory. */
hubd_telemetry *hubd_telemetry_new(size_t max_messages, size_t max_bytes);

/* Frees every log and drops every subscription without calling anyone; sets
 * *t to NULL. Only at shutdown, never from a callback. */
void hubd_telemetry_free(hubd_telemetry **t);

/* Appends a message to its hub's log (evicting the oldest as needed) and
 * passes it to that hub's subscribers before returning. A message bigger
 * than the whole byte budget is kept alone (the log never refuses one). */
void hubd_telemetry_append(hubd_ctx *ctx, const hubd_telemetry_message *m);

/* Follows a hub's telemetry. cb first gets every retained message with a
 * sequence above since_seq, oldest first (0 = all retained;
 * HUBD_TELEMETRY_LIVE = none), synchronously from inside this call, then
 * each new message as it is appended, in order and never twice.
 *
 * The callback may call hubd_telemetry_unsubscribe (for its own id, which it
 * finds in ev->subscription, or any other), hubd_telemetry_subscribe and
 * hubd_telemetry_append: the log defers freeing whatever it is iterating
 * until the outermost callback has returned. It must not call
 * hubd_telemetry_free.
 *
 * Returns the subscription id (never 0), or 0 when the hub already has
 * HUBD_TELEMETRY_MAX_SUBSCRIBERS followers or memory ran out (cb is then not
 * called). An id is never reused within a process. */
typedef void (*hubd_telemetry_cb)(void *arg, const hubd_telemetry_event *ev);
uint64_t hubd_telemetry_subscribe(hubd_ctx *ctx, const char *hub, uint64_t since_seq,
                                  hubd_telemetry_cb cb, void *arg);

/* Stops a subscription: cb is not called for it afterwards, even when the
 * call comes from inside a callback that is delivering to it. Unknown or
 * already cancelled ids are ignored. */
void hubd_telemetry_unsubscribe(hubd_ctx *ctx, uint64_t id);

/* Reads up to max retained messages with a sequence above after_seq, oldest
 * first, calling cb for each (ev->subscription is 0): a pull interface for a
 * paged, non-streaming GET. Returns how many were passed. */
size_t hubd_telemetry_read(hubd_ctx *ctx, const char *hub, uint64_t after_seq, size_t max,
                           hubd_telemetry_cb cb, void *arg);

/* What a hub's log holds now (all zero for a hub without messages). */
typedef struct {
    size_t count;           /* messages retained */
    size_t bytes;           /* bytes they account for */
    uint64_t first_sequence; /* oldest retained, 0 when empty */
    uint64_t last_sequence;  /* newest ever appended, 0 when none */
    uint64_t dropped;        /* messages evicted so far */
    size_t subscribers;      /* live followers */
} hubd_telemetry_stats;

void hubd_telemetry_get_stats(hubd_ctx *ctx, const char *hub, hubd_telemetry_stats *out);

/* One message as JSON (a new object, NULL when out of memory):
 *   {"sequence": 17, "enqueuedTimeUtc": "2026-03-02T08:15:30.1234567Z",
 *    "hub": "hub1.opendps.local", "deviceId": "sensor-0001",
 *    "systemProperties": {...}, "applicationProperties": {...},
 *    "body": "{\"temp\":21.5}"}
 * The body is a JSON string when it is valid UTF-8 without NUL bytes (text
 * and JSON payloads read as sent); otherwise it is the base64 of the bytes
 * and "bodyEncoding": "base64" is added. */
json_t *hubd_telemetry_to_json(const hubd_telemetry_event *ev);

#endif
