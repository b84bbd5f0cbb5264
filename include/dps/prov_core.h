/* libdpsdevice: the provisioning core. Builds DPS requests (HTTPS request
 * bytes, MQTT usernames and topics, register bodies, SAS tokens) into caller
 * buffers and parses DPS answers into caller structs. No sockets, no TLS;
 * the library's own I/O layer (dps/provisioning.h) is one user, firmware with
 * its own network stack can be another.
 *
 * Builders follow the contract in dps/credential.h: DPS_OK with *out_len the
 * text length, DPS_E_NO_SPACE with *out_len the cap needed and nothing
 * written, DPS_E_INVALID for arguments that break a rule.
 *
 * Parsers read only known members (others are skipped), refuse duplicate
 * keys and inputs over DPS_PROV_MAX_BODY, and write *out on DPS_OK only. They
 * use jansson for a temporary tree that is freed before they return; nothing
 * is left for the caller to free. */
#ifndef DPS_DEVICE_PROV_CORE_H
#define DPS_DEVICE_PROV_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dps/result.h"
#include "dps/wire.h"

/* ---- Status (device-api.md §3) -------------------------------------------- */

typedef enum {
    DPS_PROV_STATUS_UNKNOWN = 0, /* absent or a value no client knows */
    DPS_PROV_STATUS_UNASSIGNED,
    DPS_PROV_STATUS_ASSIGNING,
    DPS_PROV_STATUS_ASSIGNED,
    DPS_PROV_STATUS_FAILED,
    DPS_PROV_STATUS_DISABLED,
} dps_prov_status;

/* "assigning", "assigned", ...; "unknown" for DPS_PROV_STATUS_UNKNOWN. */
const char *dps_prov_status_name(dps_prov_status s);

/* ---- The registration result (registrationState, device-api.md §5.4) ----- */

/* Every field is a NUL-terminated copy, "" when the service did not send it.
 * Caps are in dps/wire.h; identifiers over their cap make the whole answer
 * DPS_E_TOO_LARGE, errorMessage is cut at DPS_MAX_ERROR_MESSAGE, a payload
 * over DPS_MAX_PAYLOAD is dropped and payload_dropped set (the assignment
 * itself is still good). About 13 KiB: not for a small stack. */
typedef struct {
    dps_prov_status status;
    char registration_id[DPS_MAX_REGISTRATION_ID + 1];
    char assigned_hub[DPS_MAX_HOST_NAME + 1];
    char device_id[DPS_MAX_DEVICE_ID + 1];
    char substatus[DPS_MAX_SUBSTATUS + 1];        /* "initialAssignment", ... */
    int64_t error_code;                           /* six digits with "failed"; 0 = none */
    char error_message[DPS_MAX_ERROR_MESSAGE + 1];
    char created_utc[DPS_MAX_TIMESTAMP + 1];
    char last_updated_utc[DPS_MAX_TIMESTAMP + 1];
    char etag[DPS_MAX_ETAG + 1];
    char enrollment_group_id[DPS_MAX_GROUP_ID + 1]; /* symmetricKey or x509 group */
    char payload[DPS_MAX_PAYLOAD + 1];            /* compact JSON text, "" when absent or null */
    bool payload_dropped;                         /* there was one, over the cap */
    /* registrationState.tpm.authenticationKey: a TPM registration's hub key,
     * as an activation blob only the device's TPM can import (tpm.md §10) */
    char tpm_authentication_key[DPS_MAX_TPM_AUTH_KEY + 1];
} dps_registration_result;

typedef enum {
    DPS_PROV_BODY_OPERATION = 1, /* RegistrationOperationStatus */
    DPS_PROV_BODY_ERROR,         /* ProvisioningServiceErrorDetails (§5.7) */
    DPS_PROV_BODY_REGISTRATION,  /* a bare DeviceRegistrationResult (status lookup) */
} dps_prov_body_kind;

/* One answer of the service, transport-neutral. */
typedef struct {
    int status_code;        /* HTTP status, or the {status} of the MQTT topic */
    uint32_t retry_after_s; /* as sent, 0 when absent or not a number */
    dps_prov_body_kind kind;
    dps_prov_status status; /* top-level status (OPERATION) */
    char operation_id[DPS_MAX_OPERATION_ID + 1];
    bool has_registration_state;
    dps_registration_result registration; /* OPERATION with registrationState, REGISTRATION */
    /* ERROR bodies */
    int64_t error_code;
    char error_message[DPS_MAX_ERROR_MESSAGE + 1];
    char tracking_id[DPS_MAX_TRACKING_ID + 1];
    /* the TPM challenge: a 401 body with authenticationKey (tpm.md §4.2) */
    char authentication_key[DPS_MAX_TPM_AUTH_KEY + 1];
    char key_name[DPS_MAX_KEY_NAME + 1];
} dps_prov_response;

/* ---- Identifier rules ----------------------------------------------------- */

/* 1..128 characters from A-Z a-z 0-9 - . _ : (device-api.md §2). */
bool dps_registration_id_valid(const char *id);
/* 1..64 printable ASCII characters without '/', '?', '#', '&', '%' or space. */
bool dps_id_scope_valid(const char *scope);
/* [A-Za-z0-9.-], 1..DPS_MAX_OPERATION_ID (device-api.md §2). */
bool dps_operation_id_valid(const char *op);

/* ---- Shared --------------------------------------------------------------- */

/* Retry-after as clients use it (§5.6): a decimal integer in 1..300, else
 * DPS_RETRY_AFTER_DEFAULT_S. text may be NULL (absent). */
uint32_t dps_prov_retry_after(const char *text, size_t len);

/* The SAS audience "{scope}/registrations/{registrationId}", unencoded
 * (a credential's sign_sas encodes it). */
DPS_NODISCARD dps_result dps_prov_sas_resource(const char *id_scope, const char *registration_id,
                                               char *out, size_t cap, size_t *out_len);

/* {"registrationId":"<id>"} or {"registrationId":"<id>","payload":<payload>}.
 * payload_json is inserted as given and must be JSON text (the provisioning
 * client checks it with jansson first); NULL or "" means none. */
DPS_NODISCARD dps_result dps_prov_register_body(const char *registration_id,
                                                const char *payload_json, char *out, size_t cap,
                                                size_t *out_len);

/* The TPM register body (tpm.md §4.1):
 * {"registrationId":"<id>","tpm":{"endorsementKey":"<ek>","storageRootKey":"<srk>"}[,"payload":..]}.
 * ek_b64 and srk_b64 must be non-empty base64 text. */
DPS_NODISCARD dps_result dps_prov_register_body_tpm(const char *registration_id,
                                                    const char *ek_b64, const char *srk_b64,
                                                    const char *payload_json, char *out,
                                                    size_t cap, size_t *out_len);

/* ---- HTTPS (device-api.md §5) --------------------------------------------- */

typedef struct {
    const char *host;            /* Host header value: "name" or "name:port" */
    const char *id_scope;
    const char *registration_id;
    const char *api_version;     /* NULL: DPS_PROV_DEFAULT_API_VERSION */
    const char *user_agent;      /* NULL: no User-Agent header */
    const char *authorization;   /* SAS token; NULL for X.509 */
} dps_prov_http_params;

/* The whole register request: request line, headers, blank line, body.
 *   PUT /{scope}/registrations/{id}/register?api-version=V HTTP/1.1
 *   Host, Accept: application/json, Content-Type: application/json;
 *   charset=utf-8, [User-Agent], [Authorization], Content-Length.
 * Path segments are percent-encoded. body is the register body above. */
DPS_NODISCARD dps_result dps_prov_http_register_request(const dps_prov_http_params *p,
                                                        const char *body, char *out, size_t cap,
                                                        size_t *out_len);

/* The operation-status poll (GET .../operations/{operationId}, no body). */
DPS_NODISCARD dps_result dps_prov_http_operation_request(const dps_prov_http_params *p,
                                                         const char *operation_id, char *out,
                                                         size_t cap, size_t *out_len);

/* Parses an HTTP answer: status code, the retry-after header value (NULL when
 * absent) and the body. A 2xx body must be an operation or a registration; a
 * 4xx/5xx body may be an error body, or empty or not JSON (then kind is
 * DPS_PROV_BODY_ERROR with no code). DPS_E_PROTOCOL for a malformed 2xx body,
 * DPS_E_TOO_LARGE over DPS_PROV_MAX_BODY or an identifier over its cap. */
DPS_NODISCARD dps_result dps_prov_parse_http_response(int status_code, const char *retry_after,
                                                      const char *body, size_t body_len,
                                                      dps_prov_response *out);

/* ---- MQTT (device-api.md §6) ---------------------------------------------- */

/* "{scope}/registrations/{id}/api-version={v}[&ClientVersion={enc(cv)}]". */
DPS_NODISCARD dps_result dps_prov_mqtt_username(const char *id_scope, const char *registration_id,
                                                const char *api_version,
                                                const char *client_version, char *out, size_t cap,
                                                size_t *out_len);

/* "$dps/registrations/PUT/iotdps-register/?$rid={rid}". rid: 1..DPS_MAX_RID
 * characters from [A-Za-z0-9.-]. */
DPS_NODISCARD dps_result dps_prov_mqtt_register_topic(const char *rid, char *out, size_t cap,
                                                      size_t *out_len);

/* "$dps/registrations/GET/iotdps-get-operationstatus/?$rid={rid}&operationId={op}". */
DPS_NODISCARD dps_result dps_prov_mqtt_status_topic(const char *rid, const char *operation_id,
                                                    char *out, size_t cap, size_t *out_len);

/* A response topic "$dps/registrations/res/{status}/?$rid={rid}[&retry-after=N]".
 * rid receives the decoded $rid (DPS_MAX_RID + 1 bytes). DPS_E_PROTOCOL for
 * another topic or a malformed one; status_code, retry_after_s and rid are written
 * on DPS_OK only (retry_after_s 0 when absent). */
DPS_NODISCARD dps_result dps_prov_mqtt_parse_response_topic(const char *topic, size_t len,
                                                            int *status_code, char *rid,
                                                            uint32_t *retry_after_s);

/* Parses the payload of a response whose topic gave status_code and
 * retry_after_s; same rules as dps_prov_parse_http_response. */
DPS_NODISCARD dps_result dps_prov_parse_mqtt_response(int status_code, uint32_t retry_after_s,
                                                      const char *payload, size_t len,
                                                      dps_prov_response *out);

#endif
