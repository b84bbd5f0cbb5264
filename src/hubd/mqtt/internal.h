/* What the files of the MQTT device endpoint share, and nobody else sees:
 * the named caps, the device entry, and the calls between
 *   endpoint.c    start/stop over lib/mqttsrv (which owns sockets and
 *                 connections), the session sweep timer
 *   connection.c  the hub protocol on a connection: CONNECT and auth,
 *                 packet dispatch, close
 *   topics.c      PUBLISH/SUBSCRIBE handling and what the hub publishes
 *   devtable.c    the device table (hash map by hub + device ID)
 *   sessions.c    sessions.h's API and session attach/detach
 *   c2d.c         cloud-to-device queues
 *   methods.c     pending direct-method invocations
 *   rules.c       pure wire rules (rules.h)
 * Everything runs on the event-loop thread. */
#ifndef HUBD_MQTT_INTERNAL_H
#define HUBD_MQTT_INTERNAL_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hubd.h"
#include "mqtt/mqtt.h"
#include "mqtt/rules.h"
#include "mqtt/sessions.h"
#include "mqttsrv/mqtt_server.h"

/* ---- caps (style.md practice 3) ------------------------------------------ */

/* Packet size before CONNECT is accepted: a CONNECT with a SAS token and a
 * long DeviceClientType is well under 4 KiB. */
#define HUBD_MQTT_MAX_PACKET_PREAUTH (16 * 1024)
/* IoT Hub caps a device-to-cloud message at 256 KiB; the rest is room for
 * the topic with its property bag and the headers. */
#define HUBD_MQTT_MAX_D2C_BODY (256 * 1024)
#define HUBD_MQTT_MAX_TOPIC (16 * 1024)
#define HUBD_MQTT_MAX_PACKET (HUBD_MQTT_MAX_D2C_BODY + HUBD_MQTT_MAX_TOPIC + 16)
/* Bytes queued towards one device before it counts as "not reading" and is
 * disconnected. */
#define HUBD_MQTT_MAX_OUTPUT (1024 * 1024)
/* Items of one telemetry property bag. */
#define HUBD_MQTT_MAX_PROPS 64
/* Filters in one SUBSCRIBE/UNSUBSCRIBE (and per device: hub.md 8.2). */
#define HUBD_MQTT_MAX_FILTERS 5
/* TLS handshake plus CONNECT must be done within this. */
#define HUBD_MQTT_CONNECT_TIMEOUT_S 10
/* After a refusing CONNACK, how long the peer gets to read it. */
#define HUBD_MQTT_CLOSE_LINGER_S 5
/* Reported-properties patch body (the twin allows 32 KiB of reported
 * properties; the patch itself is capped a little above). */
#define HUBD_MQTT_MAX_PATCH (64 * 1024)
/* Authenticated connections, unless hubd_mqtt_set_max_connections says
 * otherwise; sockets still in TLS or CONNECT get a margin above it so a
 * refusal (CONNACK 3) can be sent instead of a reset. */
#define HUBD_MQTT_DEFAULT_MAX_CONNECTIONS 100000
#define HUBD_MQTT_PREAUTH_MARGIN(max) ((max) / 8 + 64)
/* Entries of the device table (live state, sessions, C2D queues). */
#define HUBD_MQTT_MAX_DEVICES 2000000
/* A persistent session outlives its connection this long. */
#define HUBD_MQTT_SESSION_TTL_S (24 * 3600)
/* An entry with nothing in it (disconnected, no session) keeps its live
 * state this long for the registry's connectionStateUpdatedTime. */
#define HUBD_MQTT_IDLE_ENTRY_TTL_S (7 * 24 * 3600)
/* How often expired sessions, messages and idle entries are swept. */
#define HUBD_MQTT_SWEEP_INTERVAL_S 60
/* C2D: Azure's per-device queue depth and message size; a time to live
 * (Azure's default); a total across devices so memory stays bounded;
 * messages in flight (sent, not yet PUBACKed) per device. */
#define HUBD_MQTT_C2D_MAX_QUEUE 50
#define HUBD_MQTT_C2D_MAX_BODY (64 * 1024)
#define HUBD_MQTT_C2D_TTL_S 3600
#define HUBD_MQTT_C2D_MAX_TOTAL_BYTES ((size_t)256 * 1024 * 1024)
#define HUBD_MQTT_C2D_MAX_INFLIGHT 8
/* Direct methods: Azure's payload limit and timeout range; pending calls
 * per device and in total. */
#define HUBD_MQTT_METHOD_MAX_PAYLOAD (128 * 1024)
#define HUBD_MQTT_METHOD_MAX_NAME 128
#define HUBD_MQTT_METHOD_MIN_TIMEOUT_S 5
#define HUBD_MQTT_METHOD_MAX_TIMEOUT_S 300
#define HUBD_MQTT_METHOD_MAX_PER_DEVICE 32
#define HUBD_MQTT_METHOD_MAX_TOTAL 10000
/* Listen addresses per endpoint. */
#define HUBD_MQTT_MAX_LISTENERS DPS_MQTTSRV_MAX_LISTENERS
/* QoS 1 publishes a device may leave unacknowledged: C2D keeps at most
 * HUBD_MQTT_C2D_MAX_INFLIGHT of them; the rest is room for twin responses,
 * notifications and method requests. Beyond it those go at QoS 0
 * (hubd_topics_deliver). */
#define HUBD_MQTT_MAX_INFLIGHT 64

/* A device connection is lib/mqttsrv's; its protocol state is the
 * hubd_device it authenticated as. */
typedef dps_mqttsrv_conn hubd_mqtt_conn;
typedef struct hubd_mqtt_endpoint hubd_mqtt_endpoint;
typedef struct hubd_c2d_msg hubd_c2d_msg;
typedef struct hubd_method_call hubd_method_call;
typedef struct hubd_devtable hubd_devtable;

/* ---- C2D message (c2d.c) ------------------------------------------------- */

/* One queued cloud-to-device message: the whole topic (with its property
 * bag) is built at enqueue time, so a redelivery costs no formatting. */
struct hubd_c2d_msg {
    hubd_c2d_msg *next;
    int64_t expires_ms; /* monotonic */
    uint16_t packet_id; /* non-zero while in flight */
    bool sent;          /* delivered at least once: DUP on a resend */
    size_t topic_len;
    size_t body_len;
    size_t charge; /* bytes counted against the caps */
    char data[];   /* topic, then body */
};

/* ---- device entry (devtable.c) ------------------------------------------- */

/* One device the endpoint knows about: connected now, or holding a
 * persistent session, queued C2D messages, waiting method calls, or just
 * its last connection state. */
typedef struct hubd_device {
    struct hubd_device *hnext; /* hash chain */
    uint64_t hash;
    hubd_live_state live;
    hubd_mqtt_conn *conn;   /* the one live connection, or NULL */
    bool has_session;       /* persistent session state exists */
    bool persistent;        /* the current/last connection had clean session 0 */
    int64_t session_expires_ms; /* monotonic; while disconnected with a session */
    int8_t sub_qos[HUBD_SUB_KINDS]; /* granted QoS, -1 = not subscribed */
    /* C2D queue, oldest first (c2d.c). */
    hubd_c2d_msg *c2d_head;
    hubd_c2d_msg *c2d_tail;
    size_t c2d_count;
    size_t c2d_bytes;
    size_t c2d_inflight;
    /* Method calls of this device, waiting or sent (methods.c). */
    hubd_method_call *methods;
    size_t nmethods;
    size_t hub_len;
    size_t id_len;
    char key[]; /* "<hub lower-case>\0<device id>\0" */
} hubd_device;

static inline const char *hubd_device_hub(const hubd_device *d)
{
    return d->key;
}
static inline const char *hubd_device_id(const hubd_device *d)
{
    return d->key + d->hub_len + 1;
}

hubd_devtable *hubd_devtable_new(size_t max_entries);
/* Frees every entry (their C2D queues included); method calls must be gone. */
void hubd_devtable_free(hubd_devtable **t);
/* hub in any case; device_id byte for byte. NULL when absent. */
hubd_device *hubd_devtable_find(hubd_devtable *t, const char *hub, const char *device_id);
/* Finds or inserts an empty entry; NULL when the table is full, a name is
 * too long, or out of memory. */
hubd_device *hubd_devtable_get(hubd_devtable *t, const char *hub, const char *device_id);
/* Unlinks and frees an entry that has no connection, no queued messages
 * and no method calls. */
void hubd_devtable_remove(hubd_devtable *t, hubd_device *d);
size_t hubd_devtable_count(const hubd_devtable *t);
/* Calls fn for each entry; fn may remove the entry it is given. */
void hubd_devtable_each(hubd_devtable *t, void (*fn)(hubd_device *d, void *arg), void *arg);

/* ---- sessions (sessions.c) ----------------------------------------------- */

struct hubd_sessions {
    hubd_devtable *table;
    hubd_methods *methods;
    size_t c2d_total_bytes; /* across all queues */
};

/* CONNECT accepted for hub/device_id on c: drops any older connection of
 * the device, applies clean session. *session_present says whether
 * persistent state survived. NULL when the table is full. */
hubd_device *hubd_sessions_attach(hubd_ctx *ctx, const char *hub, const char *device_id,
                                  hubd_mqtt_conn *c, bool clean, bool *session_present);
/* After the CONNACK went out: delivers what waited for the device. */
void hubd_sessions_resume(hubd_ctx *ctx, hubd_device *d);
/* The connection of d closed. */
void hubd_sessions_detach(hubd_ctx *ctx, hubd_device *d, hubd_mqtt_conn *c);
/* A subscription of kind became active. */
void hubd_sessions_subscribed(hubd_ctx *ctx, hubd_device *d, hubd_sub_kind kind);
/* Expired sessions, messages and idle entries (the sweep timer). */
void hubd_sessions_sweep(hubd_ctx *ctx);

/* ---- C2D queues (c2d.c) -------------------------------------------------- */

/* Queues one message (topic built here). 0, or -1 when refused. */
int hubd_c2d_enqueue(hubd_sessions *s, hubd_device *d, const void *body, size_t len,
                     const json_t *props, const char *message_id);
/* Sends what can be sent now (connected, subscribed, room in flight). */
void hubd_c2d_pump(hubd_sessions *s, hubd_device *d);
/* A PUBACK from the device: true when it settled a message. */
bool hubd_c2d_settle(hubd_sessions *s, hubd_device *d, uint16_t packet_id);
/* The connection went away: in-flight messages go back to the queue. */
void hubd_c2d_unflight(hubd_device *d);
/* Drops expired messages (all of them when all is set). */
void hubd_c2d_prune(hubd_sessions *s, hubd_device *d, bool all);

/* ---- method calls (methods.c) -------------------------------------------- */

hubd_methods *hubd_methods_new(void);
void hubd_methods_free(hubd_methods **m);
/* The device is connected and subscribed to methods: send what waits. */
void hubd_methods_pump(hubd_ctx *ctx, hubd_device *d);
/* A response on $iothub/methods/res/{status}/?$rid={rid} from d. */
void hubd_methods_response(hubd_ctx *ctx, hubd_device *d, dps_mqtt_str rid, int status,
                           const void *payload, size_t len);

/* ---- the hub protocol (connection.c) ------------------------------------- */

/* The callback table endpoint.c gives lib/mqttsrv; arg is the hubd_ctx. */
extern const dps_mqttsrv_callbacks hubd_mqtt_protocol;

static inline hubd_device *hubd_conn_device(const hubd_mqtt_conn *c)
{
    return dps_mqttsrv_conn_state(c);
}

/* ---- topics (topics.c) --------------------------------------------------- */

/* Handles a PUBLISH from the connected device d. Returns 0, or -1 when the
 * connection must close (why says the reason). */
int hubd_topics_publish(hubd_ctx *ctx, hubd_mqtt_conn *c, hubd_device *d,
                        const dps_mqtt_publish *p, const char **why);
/* SUBSCRIBE / UNSUBSCRIBE; -1 when the connection must close. */
int hubd_topics_subscribe(hubd_ctx *ctx, hubd_mqtt_conn *c, hubd_device *d,
                          const dps_mqtt_subscribe *s);
int hubd_topics_unsubscribe(hubd_mqtt_conn *c, hubd_device *d, const dps_mqtt_subscribe *s);
/* Publishes on a topic of kind at the granted QoS if d is connected and
 * subscribed; quietly drops it otherwise. A QoS 1 publish to a device
 * that leaves HUBD_MQTT_MAX_INFLIGHT publishes unacknowledged goes at QoS
 * 0 instead. 0 when sent, -1 when not (dropped, or the connection closed). */
int hubd_topics_deliver(hubd_device *d, hubd_sub_kind kind, const char *topic, size_t topic_len,
                         const void *payload, size_t len);

#endif
