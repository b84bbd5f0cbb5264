/* DPS over MQTT, the wire rules as pure functions (device-api.md §6): the
 * CONNECT username, which topics a device may publish to and subscribe to,
 * the response topic, and the error payload. No I/O, no state, no libevent:
 * device_mqtt.c calls these, and tests/unit/dpsd tests them on strings. */
#ifndef DPSD_MQTT_DEVICE_RULES_H
#define DPSD_MQTT_DEVICE_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mqtt/mqtt.h"

/* Caps on what a username may carry (decoded). The engine judges the
 * registration ID's syntax (at most 128 characters); the parser only keeps
 * enough to let it say why. */
#define DPSD_MQTT_MAX_SCOPE 64
#define DPSD_MQTT_MAX_REGID 256
#define DPSD_MQTT_MAX_API_VERSION 64
#define DPSD_MQTT_MAX_CLIENT_VERSION 128
/* $rid is echoed byte for byte; SDKs send counters or (URL-quoted) UUIDs. */
#define DPSD_MQTT_MAX_RID 128
/* Longest response topic: the fixed parts, a status, $rid and retry-after. */
#define DPSD_MQTT_MAX_RESPONSE_TOPIC (64 + DPSD_MQTT_MAX_RID)

/* The filter every device subscribes to (§6.2); no other is served. */
#define DPSD_MQTT_RESPONSE_FILTER "$dps/registrations/res/#"

/* ---- CONNECT username (§6.1) ------------------------------------------------ */

/* "{idScope}/registrations/{registrationId}/api-version={v}[&ClientVersion={c}]",
 * every part percent-decoded. */
typedef struct {
    char id_scope[DPSD_MQTT_MAX_SCOPE + 1];
    char registration_id[DPSD_MQTT_MAX_REGID + 1];
    char api_version[DPSD_MQTT_MAX_API_VERSION + 1]; /* "" when absent */
    bool has_api_version;
    char client_version[DPSD_MQTT_MAX_CLIENT_VERSION + 1]; /* for logs; "" when absent */
} dpsd_mqtt_username;

/* 0, or -1 with a short reason in *why when the username does not have the
 * shape above: no "/registrations/" after a non-empty scope, an empty
 * registration ID, a bad %XX escape or %00, a part over its cap. The
 * key=value list after the registration ID is optional (an absent
 * api-version is the engine's to refuse, on each request, in the DPS error
 * shape); keys are compared without regard to case, unknown ones ignored. */
int dpsd_mqtt_parse_username(dps_mqtt_str username, dpsd_mqtt_username *out, const char **why);

/* ---- topics a device publishes to (§6.3) ------------------------------------ */

typedef enum {
    DPSD_MQTT_ROUTE_REFUSED = 0, /* not a DPS request topic: close the connection */
    DPSD_MQTT_ROUTE_REGISTER,    /* $dps/registrations/PUT/iotdps-register/?$rid= */
    DPSD_MQTT_ROUTE_STATUS,      /* $dps/registrations/GET/iotdps-get-operationstatus/?$rid=&operationId= */
} dpsd_mqtt_route_kind;

typedef struct {
    dpsd_mqtt_route_kind kind;
    dps_mqtt_str rid;          /* the raw $rid value: non-empty, at most DPSD_MQTT_MAX_RID */
    dps_mqtt_str operation_id; /* STATUS: the raw operationId value */
    bool has_operation_id;     /* STATUS: whether operationId was there */
    const char *why;           /* REFUSED: a short reason for the log */
} dpsd_mqtt_route;

/* Classifies a PUBLISH topic; always fills *out and returns out->kind.
 * Query items are matched by their raw key; others are ignored. */
dpsd_mqtt_route_kind dpsd_mqtt_route_publish(dps_mqtt_str topic, dpsd_mqtt_route *out);

/* ---- subscriptions (§6.2) ------------------------------------------------- */

/* True for DPSD_MQTT_RESPONSE_FILTER exactly. */
bool dpsd_mqtt_filter_allowed(dps_mqtt_str filter);
/* QoS granted for a requested QoS: never more than 1. */
uint8_t dpsd_mqtt_granted_qos(uint8_t requested);

/* ---- responses (§6.4) ----------------------------------------------------- */

/* "$dps/registrations/res/{status}/?$rid={rid}" plus "&retry-after={s}"
 * when retry_after > 0, rid copied byte for byte, into out (NUL-terminated).
 * Returns the length, or -1 when it does not fit or status is not 100..999. */
int dpsd_mqtt_response_topic(int status, dps_mqtt_str rid, int retry_after, char *out,
                             size_t cap);

/* The DPS error shape (device-api.md §5.7) as compact JSON text:
 * {"errorCode":..,"trackingId":"<uuid>","message":"..","timestampUtc":".."}
 * with now_ns as the time. NULL when out of memory; free() it. */
char *dpsd_mqtt_error_payload(int error_code, const char *message, int64_t now_ns);

/* True when the register payload is a JSON object with a "tpm" member:
 * TPM attestation is not offered over MQTT (§6.6). Anything that does not
 * parse is the engine's to refuse. */
bool dpsd_mqtt_payload_has_tpm(const void *payload, size_t len);

#endif
