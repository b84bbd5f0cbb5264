/* libdpsdevice: the provisioning client. Registers a device with a DPS
 * (opendps or Azure) over HTTPS or MQTT, polls until the operation is final
 * and returns the assignment. A TPM credential (dps/tpm.h) registers over
 * HTTPS only: first request without a SAS, the 401 challenge imported into
 * the TPM, the same request again with a SAS the TPM signed, then the polls;
 * the final result's hub key is imported too.
 *
 *     dps_symmetric_key key;
 *     rc = dps_symmetric_key_init_group(&key, group_key, "sensor-0001");
 *     dps_prov_options o;
 *     dps_prov_options_default(&o);
 *     o.host = "localhost"; o.port = 8443; o.id_scope = scope;
 *     o.registration_id = "sensor-0001"; o.credential = &key.base;
 *     o.ca_file = "ca.pem";
 *     static dps_prov_client c;           (about 140 KiB)
 *     static dps_registration_result r;
 *     rc = dps_prov_register(&c, &o, &r);
 *
 * Ownership: the caller allocates the client, the options and the result.
 * The strings and the credential the options point to must stay valid for
 * the duration of the call; nothing is kept afterwards (the client's buffers
 * are wiped of the SAS token on return). One client per thread at a time;
 * there is no global state, so different clients may run in parallel. */
#ifndef DPS_DEVICE_PROVISIONING_H
#define DPS_DEVICE_PROVISIONING_H

#include <signal.h>
#include <stdint.h>

#include "dps/credential.h"
#include "dps/log.h"
#include "dps/prov_core.h"
#include "dps/result.h"
#include "dps/transport.h"
#include "dps/wire.h"

typedef enum {
    DPS_TRANSPORT_HTTPS = 1,
    DPS_TRANSPORT_MQTT = 2,
} dps_prov_transport;

typedef struct {
    dps_prov_transport transport;    /* default HTTPS */
    const char *host;                /* logical host: SNI, certificate check, Host header */
    uint16_t port;                   /* 0: 443 for HTTPS, 8883 for MQTT */
    const char *connect_address;     /* optional TCP address "addr[:port]" (port
                                        defaults to `port`); NULL: host */
    const char *id_scope;
    const char *registration_id;     /* NULL: the credential's identity (X.509: leaf CN) */
    const dps_credential *credential;
    const char *ca_file;             /* PEM file of trusted CAs; the server is always verified */
    const char *payload_json;        /* optional custom payload (any JSON text) */
    const char *api_version;         /* default DPS_PROV_DEFAULT_API_VERSION */
    const char *client_version;      /* User-Agent / ClientVersion; default "libdpsdevice/<v>" */
    uint32_t timeout_ms;             /* overall deadline of the registration; default 60000 */
    uint32_t sas_lifetime_s;         /* default 3600 */
    uint16_t mqtt_keep_alive_s;      /* default 60 */
    const volatile sig_atomic_t *stop; /* optional: non-zero ends the call with DPS_E_CANCELLED */
    dps_device_logger log;
} dps_prov_options;

/* Fills every field with its default (host and IDs NULL). */
void dps_prov_options_default(dps_prov_options *o);

/* The client: buffers and connection state for one registration at a time.
 * All fields private. */
typedef struct {
    const dps_prov_options *opt;
    dps_prov_options opt_resolved;   /* opt with the registration ID filled in */
    dps_tls_conn tls;
    dps_mqtt_session mqtt;
    char host_header[DPS_MAX_HOST_NAME + 8];
    char connect_host[DPS_MAX_HOST_NAME + 1];
    uint16_t connect_port;
    char sas[DPS_MAX_SAS_TOKEN + 1];
    int64_t sas_expiry_s;
    uint32_t rid_counter;
    char rid[DPS_MAX_RID + 1];
    bool tpm_activated;              /* TPM: the challenge's key is in the TPM */
    char tpm_skn[DPS_MAX_KEY_NAME + 1]; /* TPM: the challenge's keyName */
    char body[DPS_PROV_MAX_REQUEST];
    char req[DPS_PROV_MAX_REQUEST];
    uint8_t rx[DPS_HTTP_MAX_HEAD + 2 * DPS_PROV_MAX_BODY + 1];
    uint8_t tx[DPS_PROV_MAX_REQUEST];
    dps_prov_response resp;
    bool mqtt_response_ready;        /* set by the MQTT dispatch */
    dps_result mqtt_response_rc;
} dps_prov_client;

/* Runs the whole registration: register, then poll while "assigning",
 * waiting retry-after (1..300 s, default 2) between polls; 429 and 5xx
 * answers are retried after their retry-after; everything until
 * opt->timeout_ms. Results:
 *   DPS_OK             assigned; *out holds hub, device ID, substatus, payload
 *   DPS_E_FAILED       final "failed"; *out has errorCode and errorMessage
 *   DPS_E_DISABLED     final "disabled"
 *   DPS_E_UNAUTHORIZED / DPS_E_NOT_FOUND / DPS_E_REJECTED: the service said
 *                      no; *out has its errorCode and message (status UNKNOWN;
 *                      an MQTT CONNACK or SUBACK refusal has no code, only a
 *                      message)
 *   DPS_E_TIMEOUT, DPS_E_CANCELLED, DPS_E_TLS, DPS_E_CONNECT, DPS_E_PROTOCOL, ...
 * *out is written exactly when the service gave one of the answers above,
 * and left alone otherwise. */
DPS_NODISCARD dps_result dps_prov_register(dps_prov_client *client, const dps_prov_options *opt,
                                           dps_registration_result *out);

#endif
