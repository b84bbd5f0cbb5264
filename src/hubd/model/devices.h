/* Device identities (hub.md §5, §6): the device document in the store, its
 * validation, create/update/delete with the device ETag, and the device JSON
 * of the registry API.
 *
 * One record per device in DPS_COLL_HUB_DEVICE, key "<hub>/<deviceId>" (hub
 * lower-case, device ID as given: IDs are case-sensitive), group "<hub>".
 * The document holds the identity and the twin:
 *   {"deviceId", "generationId", "etag" (device ETag), "status",
 *    "statusReason", "statusUpdatedTime", "authentication" (canonical form),
 *    "capabilities": {"iotEdge"}, "deviceScope", "parentScopes",
 *    "cloudToDeviceMessageCount",
 *    "twin": {"etag", "version", "tags",
 *             "properties": {"desired": {..., "$metadata", "$version"},
 *                            "reported": {..., "$metadata", "$version"}}}}
 * The store record's own ETag is separate: it changes on every write (also
 * for reported properties) and guards read-modify-write cycles. */
#ifndef HUBD_MODEL_DEVICES_H
#define HUBD_MODEL_DEVICES_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "hubd.h"
#include "model/etags.h"
#include "model/hubs.h"
#include "model/registry.h"

#define HUBD_DEVICE_ID_MAX 128
#define HUBD_DEVICE_KEY_SIZE (HUBD_HUB_NAME_SIZE + 1 + HUBD_DEVICE_ID_MAX + 1)
#define HUBD_DEVICE_KEY_BYTES 32       /* random bytes of a generated device key */
#define HUBD_DEVICE_KEY_MIN_BYTES 16   /* Azure's accepted key sizes */
#define HUBD_DEVICE_KEY_MAX_BYTES 64
#define HUBD_STATUS_REASON_MAX 128
#define HUBD_SCOPE_MAX 256
#define HUBD_PARENT_SCOPES_MAX 10
#define HUBD_WRITE_RETRIES 4           /* read-modify-write attempts on a race */
#define HUBD_NEVER_TIME "0001-01-01T00:00:00Z" /* Azure's "never" timestamp */

/* Device ID syntax (hub.md §6): 1..128 ASCII alphanumerics and
 * - . + % _ # * ? ! ( ) , = @ $ ' */
bool hubd_device_id_valid(const char *id);

/* "<hub lower-case>/<id>"; false when the hub or ID is invalid. */
bool hubd_device_key(const char *hub, const char *id, char out[HUBD_DEVICE_KEY_SIZE]);

/* The live part of a device, which the model does not own (the MQTT side
 * does): the REST side fills it from hubd_sessions_live_state. */
typedef struct {
    bool connected;
    int64_t state_updated_ns; /* 0 = never */
    int64_t last_activity_ns; /* 0 = never */
} hubd_conn_info;
typedef void (*hubd_conn_fn)(void *arg, const char *hub, const char *device_id,
                             hubd_conn_info *out);

/* Reads the stored document (*doc new reference) and, when rec_etag is not
 * NULL, the record ETag (caller frees). */
hubd_result hubd_device_load(hubd_ctx *ctx, const char *hub, const char *id, json_t **doc,
                             char **rec_etag);

/* Read-modify-write of one device: loads it, calls fn on the document, and
 * writes it back only if no other writer got in between, retrying the whole
 * cycle (fn included) a few times when one did. fn returns HUBD_OK to write
 * or any other result to abandon; it must be safe to call again. *doc_out
 * (optional) receives the written document. */
typedef hubd_result (*hubd_device_mutator)(json_t *doc, void *arg);
hubd_result hubd_device_modify(hubd_ctx *ctx, const char *hub, const char *id,
                               hubd_device_mutator fn, void *arg, json_t **doc_out);

/* PUT /devices/{id}: no If-Match creates (HUBD_CONFLICT when present);
 * If-Match * or the device ETag updates (HUBD_NOT_FOUND when absent,
 * HUBD_PRECONDITION on another ETag). *doc_out is the stored document;
 * *disconnect tells whether the device's live connection must go (disabled,
 * or its credentials changed). */
hubd_result hubd_device_put(hubd_ctx *ctx, const char *hub, const char *id, const json_t *body,
                            const hubd_if_match *im, json_t **doc_out, bool *disconnect);

/* DELETE /devices/{id}: If-Match NONE or ANY deletes whatever is there. */
hubd_result hubd_device_delete(hubd_ctx *ctx, const char *hub, const char *id,
                               const hubd_if_match *im);

/* The registry's device JSON for a stored document. NULL without memory. */
json_t *hubd_device_present(const json_t *doc, const hubd_conn_info *conn);

/* ISO text of a live-state time, HUBD_NEVER_TIME for 0. */
void hubd_time_or_never(int64_t ns, char out[48]);

#endif
