/* libdpsdevice: the hub client. After provisioning, a device connects to its
 * assigned hub over MQTT/TLS with its device ID and key (hub.md §8): sends
 * telemetry, gets and patches its twin, and receives desired-property
 * updates and direct methods through callbacks while the application drives
 * dps_hub_client_poll().
 *
 * Ownership: the caller allocates the client and lends it two buffers
 * (options rx_buffer/tx_buffer) that must outlive it; strings in the options
 * are copied at connect, the credential is borrowed and must outlive the
 * client. Callbacks run inside the client's calls, on the caller's thread;
 * from a callback only the callback's own return path may answer (no
 * twin_get/report/telemetry/poll: they return DPS_E_BUSY). One thread per
 * client; no global state.
 *
 * SAS renewal: MQTT 3.1.1 cannot re-authenticate a connection, so the
 * client reconnects with a fresh token before the old one expires (at 80 %
 * of its lifetime), from inside poll, and subscribes again. */
#ifndef DPS_DEVICE_HUB_CLIENT_H
#define DPS_DEVICE_HUB_CLIENT_H

#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "dps/credential.h"
#include "dps/hub_core.h"
#include "dps/log.h"
#include "dps/result.h"
#include "dps/transport.h"
#include "dps/wire.h"

#define DPS_HUB_MIN_BUFFER 1024          /* smallest rx/tx buffer accepted */
#define DPS_HUB_MAX_METHOD_RESPONSE 4096 /* JSON a method callback may write */
#define DPS_HUB_MAX_PATH 4096            /* ca_file path */

/* A direct method. Write the response JSON (or nothing) into response and
 * set *response_len; return the status the caller of the method sees
 * (200, 404, ...). payload is the request body, not NUL-terminated. */
typedef int (*dps_hub_method_fn)(void *ctx, const char *method_name, const char *payload,
                                 size_t payload_len, char *response, size_t response_cap,
                                 size_t *response_len);

/* A desired-property patch (JSON object text, not NUL-terminated) and its
 * $version (-1 when the hub sent none). */
typedef void (*dps_hub_desired_fn)(void *ctx, const char *patch_json, size_t len,
                                   int64_t version);

typedef struct {
    const char *hub_host;         /* logical host: SNI, certificate check, username, SAS */
    const char *gateway_address;  /* TCP address "addr[:port]" (port default 8883); NULL:
                                     hub_host (which must then resolve) */
    const char *device_id;
    const dps_credential *credential;
    const char *ca_file;
    const char *api_version;      /* default DPS_HUB_DEFAULT_API_VERSION */
    const char *client_type;      /* DeviceClientType; default "libdpsdevice/<v>" */
    uint16_t keep_alive_s;        /* default 60; PINGREQ after that much quiet */
    uint32_t sas_lifetime_s;      /* default 3600, at least 60 */
    uint32_t timeout_ms;          /* connect, and each wait for an answer; default 30000 */
    uint8_t telemetry_qos;        /* 0 or 1 (default: 1, waits for PUBACK) */
    uint8_t *rx_buffer;           /* largest hub message + topic; >= DPS_HUB_MIN_BUFFER */
    size_t rx_buffer_size;
    uint8_t *tx_buffer;           /* largest message we send + topic */
    size_t tx_buffer_size;
    dps_hub_method_fn on_method;  /* NULL: every method is answered 501 */
    void *method_ctx;
    dps_hub_desired_fn on_desired;
    void *desired_ctx;
    const volatile sig_atomic_t *stop; /* optional: non-zero ends waits with DPS_E_CANCELLED */
    dps_device_logger log;
} dps_hub_options;

void dps_hub_options_default(dps_hub_options *o);

/* All fields private. */
typedef struct {
    dps_hub_options opt;          /* copy; its string pointers point into the fields below */
    char hub_host[DPS_MAX_HOST_NAME + 1];
    char device_id[DPS_MAX_DEVICE_ID + 1];
    char gateway_host[DPS_MAX_HOST_NAME + 1];
    uint16_t gateway_port;
    char ca_file[DPS_HUB_MAX_PATH + 1];
    char api_version[DPS_MAX_API_VERSION + 1];
    char client_type[DPS_MAX_CLIENT_VERSION + 1];
    dps_mqtt_session mqtt;
    int64_t renew_at_ms;          /* monotonic time to reconnect with a new token */
    uint32_t rid_counter;
    /* the one request waiting for its $iothub/twin/res answer */
    char wait_rid[DPS_MAX_RID + 1];
    bool wait_done;
    int wait_status;
    int64_t wait_version;
    char *wait_out;
    size_t wait_cap;
    size_t wait_len;
    bool wait_too_large;
    char method_response[DPS_HUB_MAX_METHOD_RESPONSE];
    bool initialised;
} dps_hub_client;

/* Connects (TLS, CONNECT, SUBSCRIBE to twin responses, desired patches and
 * methods). DPS_E_UNAUTHORIZED when the hub refuses the credentials.
 * On failure the client is closed and may be connected again. */
DPS_NODISCARD dps_result dps_hub_client_connect(dps_hub_client *c, const dps_hub_options *opt);

/* Reconnects with the options of the last connect (after DPS_E_CLOSED). */
DPS_NODISCARD dps_result dps_hub_client_reconnect(dps_hub_client *c);

/* Sends one device-to-cloud message to devices/{id}/messages/events/ with
 * the property bag of props (may be NULL). At QoS 1 waits for the PUBACK. */
DPS_NODISCARD dps_result dps_hub_client_send_telemetry(dps_hub_client *c, const void *payload,
                                                       size_t len,
                                                       const dps_hub_message_props *props);

/* Twin GET: waits for the answer with our $rid and copies the twin document
 * ({"desired":..,"reported":..}) into out, NUL-terminated. DPS_E_NO_SPACE
 * (*out_len = size needed) when it does not fit; DPS_E_REJECTED for a
 * non-200 answer. Other messages arriving meanwhile go to the callbacks. */
DPS_NODISCARD dps_result dps_hub_client_twin_get(dps_hub_client *c, char *out, size_t cap,
                                                 size_t *out_len);

/* Reported-properties patch (a JSON object); waits for the 204 and returns
 * the new reported $version (-1 if the hub sent none). DPS_E_REJECTED for
 * any other status. */
DPS_NODISCARD dps_result dps_hub_client_twin_report(dps_hub_client *c, const char *json,
                                                    size_t len, int64_t *new_version);

/* Reads and dispatches what arrives for up to timeout_ms (0: only bytes
 * already received), sends PINGREQ when the connection has been quiet for the
 * keep-alive, and renews the SAS token when due. DPS_OK after the timeout;
 * DPS_E_CLOSED when the hub went away (then reconnect). */
DPS_NODISCARD dps_result dps_hub_client_poll(dps_hub_client *c, uint32_t timeout_ms);

/* Sends DISCONNECT (best effort) and closes; the client can connect again. */
void dps_hub_client_close(dps_hub_client *c);

#endif
