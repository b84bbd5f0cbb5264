/* The hub's MQTT wire rules as pure functions (hub.md section 8): the CONNECT
 * username, which topics a device may publish to and
 * subscribe to, and how a telemetry property bag becomes message properties.
 * No I/O, no state, no libevent: connection.c and topics.c call these, and
 * tests/unit/hubd_mqtt tests them on plain strings. */
#ifndef HUBD_MQTT_RULES_H
#define HUBD_MQTT_RULES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mqtt/mqtt.h"

/* A $rid is echoed byte for byte; longer ones are refused so response
 * topics stay small (SDKs send UUIDs or short counters). */
#define HUBD_MQTT_MAX_RID 128
/* Server-side keep-alive timeout ceiling (hub.md 8.1), handed to
 * lib/mqttsrv, which applies the 1.5 x rule. */
#define HUBD_MQTT_KEEPALIVE_CAP_S 1767

/* ---- CONNECT username ---------------------------------------------------- */

/* "{hubHost}/{deviceId}/?api-version=...&..." cut at the first "/?" (or the
 * end: the old "{hub}/{deviceId}" form). Views into the username. */
typedef struct {
    dps_mqtt_str hub;       /* non-empty */
    dps_mqtt_str device_id; /* non-empty; "dev/module" for modules */
} hubd_mqtt_username;

/* 0, or -1 when there is no '/' separating a non-empty hub from a non-empty
 * device ID. Query items (api-version, DeviceClientType, model-id, ...) are
 * not looked at (hub.md 10.4). */
int hubd_mqtt_parse_username(dps_mqtt_str username, hubd_mqtt_username *out);

/* ---- topics a device publishes to ---------------------------------------- */

typedef enum {
    HUBD_ROUTE_REFUSED = 0,       /* not one of the device's topics: close */
    HUBD_ROUTE_TELEMETRY,         /* devices/{id}/messages/events/{bag} */
    HUBD_ROUTE_TWIN_GET,          /* $iothub/twin/GET/?$rid= */
    HUBD_ROUTE_TWIN_PATCH,        /* $iothub/twin/PATCH/properties/reported/?$rid= */
    HUBD_ROUTE_METHOD_RESPONSE,   /* $iothub/methods/res/{status}/?$rid= */
} hubd_route_kind;

typedef struct {
    hubd_route_kind kind;
    dps_mqtt_str bag; /* TELEMETRY: the raw property bag (may be empty) */
    dps_mqtt_str rid; /* twin and method: the raw $rid value, non-empty */
    int status;       /* METHOD_RESPONSE */
    const char *why;  /* REFUSED: a short reason for the log */
} hubd_mqtt_route;

/* Classifies a PUBLISH topic of the device device_id (compared byte for
 * byte). Always fills *out; returns out->kind. */
hubd_route_kind hubd_mqtt_route_publish(dps_mqtt_str topic, dps_mqtt_str device_id,
                                        hubd_mqtt_route *out);

/* The raw (not percent-decoded) value of key in a query "a=1&$rid=7&b",
 * for echoing. False when absent. */
bool hubd_mqtt_query_raw(dps_mqtt_str query, const char *key, dps_mqtt_str *out);

/* ---- topic filters a device subscribes to -------------------------------- */

typedef enum {
    HUBD_SUB_C2D = 0,   /* devices/{id}/messages/devicebound/# */
    HUBD_SUB_TWIN_RES,  /* $iothub/twin/res/# */
    HUBD_SUB_DESIRED,   /* $iothub/twin/PATCH/properties/desired/# */
    HUBD_SUB_METHODS,   /* $iothub/methods/POST/# */
    HUBD_SUB_KINDS,
} hubd_sub_kind;

/* The kind of an allowed filter (exactly one of hub.md 8.3), or -1 when the
 * filter is refused (SUBACK 0x80). */
int hubd_mqtt_filter_kind(dps_mqtt_str filter, dps_mqtt_str device_id);

/* QoS granted for a requested QoS: 2 becomes 1 (hub.md 8.2). */
uint8_t hubd_mqtt_granted_qos(uint8_t requested);

/* ---- telemetry properties ------------------------------------------------ */

/* Maps decoded property-bag items (dps_mqtt_props_parse) onto the telemetry
 * log's two objects: "$.mid" -> messageId, "$.cid" -> correlationId,
 * "$.uid" -> userId, "$.ct" -> contentType, "$.ce" -> contentEncoding,
 * "$.ctime" -> creationTimeUtc go to system; other "$." items are not
 * ours to keep and are dropped; everything else goes to app as a string
 * ("k" alone -> null). A later duplicate key wins. retain adds the app
 * property "mqtt-retain": "true" (hub.md 8.2). Returns 0, or -1 when out
 * of memory. */
int hubd_mqtt_telemetry_props(const dps_mqtt_prop *props, size_t n, bool retain, json_t *system,
                              json_t *app);

#endif
