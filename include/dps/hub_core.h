/* libdpsdevice: the hub core. Builds the IoT hub MQTT strings a device
 * sends (username, SAS token, telemetry, twin and method topics) into caller
 * buffers and parses what the hub publishes (twin responses, desired-property
 * patches, method requests), following hub.md §3.2 and §8. No I/O; the hub
 * client (dps/hub_client.h) is built on it.
 *
 * Builders follow the contract in dps/credential.h. Parsers write their
 * output on DPS_OK only. */
#ifndef DPS_DEVICE_HUB_CORE_H
#define DPS_DEVICE_HUB_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dps/result.h"
#include "dps/wire.h"

/* A hub device ID usable in MQTT topics: 1..128 ASCII characters from
 * alphanumerics and - . % _ * ? ! ( ) , = @ $ ' (hub.md §6 without '+' and
 * '#', which MQTT topic names cannot carry). */
bool dps_hub_device_id_valid(const char *device_id);
/* A host name: 1..253 characters of letters, digits, '-' and '.'. */
bool dps_hub_host_valid(const char *host);

/* "{hub}/{deviceId}/?api-version={v}[&DeviceClientType={enc(client_type)}]". */
DPS_NODISCARD dps_result dps_hub_mqtt_username(const char *hub_host, const char *device_id,
                                               const char *api_version, const char *client_type,
                                               char *out, size_t cap, size_t *out_len);

/* The SAS audience "{hub}/devices/{deviceId}", unencoded; the token carries
 * it percent-encoded and has no skn (hub.md §3.2). */
DPS_NODISCARD dps_result dps_hub_sas_resource(const char *hub_host, const char *device_id,
                                              char *out, size_t cap, size_t *out_len);

/* ---- Telemetry ------------------------------------------------------------ */

typedef struct {
    const char *name;  /* non-empty */
    const char *value; /* NULL: a property without value ("k" alone) */
} dps_hub_property;

/* System properties go first, each only when non-NULL, then the application
 * properties in order; keys and values are percent-encoded ("%24.ct="). */
typedef struct {
    const char *message_id;       /* $.mid */
    const char *correlation_id;   /* $.cid */
    const char *content_type;     /* $.ct, e.g. "application/json" */
    const char *content_encoding; /* $.ce, e.g. "utf-8" */
    const dps_hub_property *properties;
    size_t property_count;
} dps_hub_message_props;

/* "devices/{deviceId}/messages/events/{property bag}"; props may be NULL. */
DPS_NODISCARD dps_result dps_hub_telemetry_topic(const char *device_id,
                                                 const dps_hub_message_props *props, char *out,
                                                 size_t cap, size_t *out_len);

/* ---- Twin and methods ----------------------------------------------------- */

/* rid: 1..DPS_MAX_RID characters from [A-Za-z0-9.-]. */
DPS_NODISCARD dps_result dps_hub_twin_get_topic(const char *rid, char *out, size_t cap,
                                                size_t *out_len);
DPS_NODISCARD dps_result dps_hub_twin_patch_topic(const char *rid, char *out, size_t cap,
                                                  size_t *out_len);
/* "$iothub/methods/res/{status}/?$rid={rid}". The rid of a method request is
 * echoed byte for byte, so it may hold any character a topic name allows
 * except '&', '#', '+' (it comes from the hub, not from us). */
DPS_NODISCARD dps_result dps_hub_method_response_topic(int status, const char *rid, char *out,
                                                       size_t cap, size_t *out_len);

typedef enum {
    DPS_HUB_TOPIC_OTHER = 0,     /* not one the device library handles */
    DPS_HUB_TOPIC_TWIN_RESPONSE, /* $iothub/twin/res/{status}/?$rid=..[&$version=..] */
    DPS_HUB_TOPIC_DESIRED,       /* $iothub/twin/PATCH/properties/desired/?$version=.. */
    DPS_HUB_TOPIC_METHOD,        /* $iothub/methods/POST/{name}/?$rid=.. */
    DPS_HUB_TOPIC_C2D,           /* devices/{id}/messages/devicebound/... */
} dps_hub_topic_kind;

typedef struct {
    dps_hub_topic_kind kind;
    int status;                              /* TWIN_RESPONSE */
    char rid[DPS_MAX_RID + 1];               /* TWIN_RESPONSE, METHOD: as in the topic */
    char method_name[DPS_MAX_METHOD_NAME + 1]; /* METHOD, percent-decoded */
    bool has_version;                        /* TWIN_RESPONSE (204), DESIRED */
    int64_t version;
} dps_hub_topic;

/* Classifies a topic the hub published. DPS_OK with kind OTHER for topics
 * the library does not handle; DPS_E_PROTOCOL for one of the handled kinds
 * that is malformed (bad status, missing $rid, bad escapes), DPS_E_TOO_LARGE
 * for a rid or method name over its cap. */
DPS_NODISCARD dps_result dps_hub_parse_topic(const char *topic, size_t len, dps_hub_topic *out);

/* The "$version" members of a twin document {"desired":{..},"reported":{..}}
 * (twin GET) or of a desired patch {..,"$version":n} (pass NULL for
 * reported_version). A missing member gives -1. DPS_E_PROTOCOL for text that
 * is not a JSON object. */
DPS_NODISCARD dps_result dps_hub_twin_versions(const char *json, size_t len,
                                               int64_t *desired_version,
                                               int64_t *reported_version);

#endif
