/* The live device side of hubd, as the rest of the daemon sees it: which
 * devices are connected, and the calls that need a connected device. All
 * functions run on the event loop thread and never block. Implemented in
 * mqtt/ (the MQTT device endpoint). */
#ifndef HUBD_MQTT_SESSIONS_H
#define HUBD_MQTT_SESSIONS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hubd.h"

/* Connection state of one device, kept in memory (not persisted: after a
 * restart every device is disconnected). Times in Unix nanoseconds, 0 = never. */
typedef struct {
    bool connected;
    int64_t state_updated_ns;  /* last connect or disconnect */
    int64_t last_activity_ns;  /* last packet from the device */
} hubd_live_state;

/* The table behind these calls; ctx->sessions holds it. Create it before
 * hubd_mqtt_start and free it after hubd_mqtt_free. Every call below
 * accepts ctx->sessions == NULL (no device endpoint: nobody is connected). */
hubd_sessions *hubd_sessions_new(void);
/* Frees sessions, queued C2D messages and pending method calls. Pending
 * calls are dropped without calling done: free the REST side (which
 * cancels its calls) first. Sets *s to NULL. */
void hubd_sessions_free(hubd_sessions **s);

void hubd_sessions_live_state(hubd_ctx *ctx, const char *hub, const char *device_id,
                              hubd_live_state *out);

/* Drops the device's connection, if any (device disabled, deleted, or its
 * credentials changed). */
void hubd_sessions_disconnect(hubd_ctx *ctx, const char *hub, const char *device_id);

/* Sends a desired-properties notification to the device if it is connected
 * and subscribed to $iothub/twin/PATCH/properties/desired/#: patch is the
 * change as applied (members set to null included) and version the new
 * desired $version. Nothing is queued for offline devices. */
void hubd_sessions_notify_desired(hubd_ctx *ctx, const char *hub, const char *device_id,
                                  const json_t *patch, int64_t version);

/* Direct method invocation. done is called exactly once, later (never from
 * inside hubd_sessions_invoke_method): with the device's status and payload
 * (JSON text, possibly empty), or with status -1 when the device is offline
 * or not subscribed to methods within connect_timeout_s, or -2 when it did
 * not answer within response_timeout_s. Returns a handle for cancellation,
 * 0 when the call could not be started (done is then not called). */
typedef void (*hubd_method_done)(void *arg, int status, const char *payload, size_t len);
uint64_t hubd_sessions_invoke_method(hubd_ctx *ctx, const char *hub, const char *device_id,
                                     const char *method_name, const char *payload,
                                     size_t payload_len, int response_timeout_s,
                                     int connect_timeout_s, hubd_method_done done,
                                     void *arg);
/* Cancels a pending invocation (the REST client went away): done is not
 * called afterwards. Unknown handles are ignored. */
void hubd_sessions_cancel_method(hubd_ctx *ctx, uint64_t handle);

/* Cloud-to-device message: queued for the device (bounded queue per device,
 * kept while the device has a persistent session), delivered at QoS 1 on
 * devices/{id}/messages/devicebound/{property bag}. props is a JSON object of
 * application properties (string values) or NULL; message_id may be NULL (one
 * is generated). Returns 0, or -1 when the queue is full. */
int hubd_sessions_send_c2d(hubd_ctx *ctx, const char *hub, const char *device_id,
                           const void *body, size_t len, const json_t *props,
                           const char *message_id);

#endif
