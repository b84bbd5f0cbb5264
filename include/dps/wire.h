/* libdpsdevice: every wire constant and every cap of the device library in
 * one place (device-api.md, hub.md). Field sizes below are the capacities of
 * the fixed char arrays in the public structs, without the terminating NUL. */
#ifndef DPS_DEVICE_WIRE_H
#define DPS_DEVICE_WIRE_H

/* ---- Identifiers (device-api.md §2, hub.md §6) ---------------------------- */
#define DPS_MAX_ID_SCOPE 64          /* "0ne000AB12C" is 11; room for other forms */
#define DPS_MAX_REGISTRATION_ID 128  /* alphanumerics and - . _ : */
#define DPS_MAX_DEVICE_ID 128        /* hub device IDs */
#define DPS_MAX_HOST_NAME 253        /* a DNS name */
#define DPS_MAX_OPERATION_ID 128     /* Azure's "4.<16 hex>.<GUID>" is 55 */
#define DPS_MAX_API_VERSION 32
#define DPS_MAX_CLIENT_VERSION 96    /* ClientVersion / DeviceClientType / User-Agent */
#define DPS_MAX_RID 64               /* MQTT $rid values the library generates or echoes */
#define DPS_MAX_METHOD_NAME 128
#define DPS_MAX_KEY_BYTES 128        /* decoded symmetric key (Azure: 32 or 64) */
#define DPS_MAX_SAS_TOKEN 1024       /* a whole "SharedAccessSignature ..." */
#define DPS_MAX_TPM_AUTH_KEY 3072    /* authenticationKey, base64 (tpm.md §6: ~1.1 kB
                                        for RSA-2048 keys) */
#define DPS_MAX_KEY_NAME 64          /* keyName of the TPM challenge ("registration") */

/* ---- Registration result fields (device-api.md §5.4) ---------------------- */
#define DPS_MAX_SUBSTATUS 48
#define DPS_MAX_ERROR_MESSAGE 512    /* longer messages are cut at a UTF-8 boundary */
#define DPS_MAX_TIMESTAMP 40
#define DPS_MAX_ETAG 128
#define DPS_MAX_GROUP_ID 128
#define DPS_MAX_TRACKING_ID 64
#define DPS_MAX_PAYLOAD 8192         /* registrationState.payload as compact JSON text */

/* ---- Message caps --------------------------------------------------------- */
#define DPS_HTTP_MAX_HEAD 8192       /* status line + headers of one response */
#define DPS_HTTP_MAX_HEADERS 64
#define DPS_PROV_MAX_BODY 32768      /* one DPS response body (JSON) */
#define DPS_PROV_MAX_REQUEST 16384   /* one DPS request: head + register body */
#define DPS_PROV_MAX_TOPIC 512
#define DPS_PROV_MAX_PROPS 8         /* items in a response topic's query */

/* ---- Defaults ------------------------------------------------------------- */
#define DPS_PROV_DEFAULT_API_VERSION "2021-06-01" /* the C SDK's; payload works from 2019-03-31 */
#define DPS_HUB_DEFAULT_API_VERSION "2021-04-12"
#define DPS_PROV_HTTPS_PORT 443
#define DPS_MQTT_TLS_PORT 8883
#define DPS_RETRY_AFTER_DEFAULT_S 2  /* when absent or outside 1..300 */
#define DPS_RETRY_AFTER_MIN_S 1
#define DPS_RETRY_AFTER_MAX_S 300

/* ---- DPS MQTT topics (device-api.md §6) ----------------------------------- */
#define DPS_PROV_TOPIC_SUBSCRIBE "$dps/registrations/res/#"
#define DPS_PROV_TOPIC_RESPONSE_PREFIX "$dps/registrations/res/"
#define DPS_PROV_TOPIC_REGISTER_PREFIX "$dps/registrations/PUT/iotdps-register/?$rid="
#define DPS_PROV_TOPIC_STATUS_PREFIX "$dps/registrations/GET/iotdps-get-operationstatus/?$rid="

/* ---- Hub MQTT topics (hub.md §8.3) ---------------------------------------- */
#define DPS_HUB_TOPIC_TWIN_RES_FILTER "$iothub/twin/res/#"
#define DPS_HUB_TOPIC_TWIN_RES_PREFIX "$iothub/twin/res/"
#define DPS_HUB_TOPIC_DESIRED_FILTER "$iothub/twin/PATCH/properties/desired/#"
#define DPS_HUB_TOPIC_DESIRED_PREFIX "$iothub/twin/PATCH/properties/desired/"
#define DPS_HUB_TOPIC_METHODS_FILTER "$iothub/methods/POST/#"
#define DPS_HUB_TOPIC_METHODS_PREFIX "$iothub/methods/POST/"
#define DPS_HUB_TOPIC_TWIN_GET_PREFIX "$iothub/twin/GET/?$rid="
#define DPS_HUB_TOPIC_TWIN_PATCH_PREFIX "$iothub/twin/PATCH/properties/reported/?$rid="
#define DPS_HUB_TOPIC_METHOD_RES_PREFIX "$iothub/methods/res/"

#endif
