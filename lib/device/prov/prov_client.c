/* The provisioning client: options, the registration state machine
 * (register -> assigning -> poll ... -> assigned | failed | disabled,
 * device-api.md §3) with retry-after and an overall deadline, on top of one
 * of the transports in prov_transport.h. */
#include <assert.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/secret.h"
#include "device/devlog.h"
#include "device/io/addr.h"
#include "device/prov/prov_transport.h"

#define CLIENT_VERSION "libdpsdevice/" DPS_VERSION
#define SLEEP_SLICE_MS 100
/* Re-sign when the token has less than this left (s). */
#define SAS_MARGIN_S 60

void dps_prov_options_default(dps_prov_options *o)
{
    assert(o != NULL);
    memset(o, 0, sizeof *o);
    o->transport = DPS_TRANSPORT_HTTPS;
    o->api_version = DPS_PROV_DEFAULT_API_VERSION;
    o->client_version = CLIENT_VERSION;
    o->timeout_ms = 60000;
    o->sas_lifetime_s = 3600;
    o->mqtt_keep_alive_s = 60;
    o->log.level = DPS_DEVICE_LOG_INFO;
}

static const dps_prov_transport_ops *transport_of(const dps_prov_options *o)
{
    switch (o->transport) {
    case DPS_TRANSPORT_HTTPS: return &dps__prov_https;
    case DPS_TRANSPORT_MQTT: return &dps__prov_mqtt;
    }
    return NULL;
}

void dps__prov_tls_params(const dps_prov_client *c, dps_tls_params *out)
{
    out->server_name = c->opt->host;
    out->connect_host = c->connect_host;
    out->port = c->connect_port;
    out->ca_file = c->opt->ca_file;
    out->credential = c->opt->credential;
    out->log = &c->opt->log;
}

dps_result dps__prov_sleep(const dps_prov_client *c, int64_t until_ms)
{
    for (;;) {
        if (c->opt->stop != NULL && *c->opt->stop)
            return DPS_E_CANCELLED;
        int64_t left = until_ms - dps_monotonic_ms();
        if (left <= 0)
            return DPS_OK;
        if (left > SLEEP_SLICE_MS)
            left = SLEEP_SLICE_MS;
        struct timespec ts = {0, (long)left * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* Checks the options and derives the addresses; logs what is wrong. */
static dps_result setup(dps_prov_client *c, const dps_prov_options *o)
{
    const dps_device_logger *log = &o->log;
    const dps_prov_transport_ops *t = transport_of(o);
    if (t == NULL) {
        DLOG_ERROR(log, "unknown transport %d", (int)o->transport);
        return DPS_E_INVALID;
    }
    if (o->host == NULL || o->host[0] == '\0' || strlen(o->host) > DPS_MAX_HOST_NAME) {
        DLOG_ERROR(log, "a provisioning host name is required (at most %d characters)",
                   DPS_MAX_HOST_NAME);
        return DPS_E_INVALID;
    }
    if (!dps_id_scope_valid(o->id_scope)) {
        DLOG_ERROR(log, "invalid or missing ID scope");
        return DPS_E_INVALID;
    }
    if (o->registration_id == NULL) {
        DLOG_ERROR(log, "a registration ID is required (an X.509 credential supplies its "
                        "leaf's CN, when it has one)");
        return DPS_E_INVALID;
    }
    if (!dps_registration_id_valid(o->registration_id)) {
        DLOG_ERROR(log, "invalid registration ID: 1..128 characters from A-Z a-z 0-9 - . _ :");
        return DPS_E_INVALID;
    }
    if (o->credential == NULL || o->credential->ops == NULL ||
        o->credential->ops->sign_sas == NULL) {
        DLOG_ERROR(log, "a credential is required");
        return DPS_E_INVALID;
    }
    if (o->timeout_ms == 0 || o->sas_lifetime_s < 60) {
        DLOG_ERROR(log, "timeout must be positive and the SAS lifetime at least 60 s");
        return DPS_E_INVALID;
    }
    if (o->payload_json != NULL && o->payload_json[0] != '\0') {
        json_error_t err;
        json_t *p = json_loads(o->payload_json, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);
        if (p == NULL) {
            DLOG_ERROR(log, "payload is not JSON: %s", err.text);
            return DPS_E_INVALID;
        }
        json_decref(p);
    }
    uint16_t port = o->port != 0 ? o->port : t->default_port;
    const char *addr = o->connect_address != NULL ? o->connect_address : NULL;
    if (addr != NULL) {
        if (dps__split_hostport(addr, port, c->connect_host, sizeof c->connect_host,
                                &c->connect_port) != DPS_OK) {
            DLOG_ERROR(log, "invalid connect address '%s' (ADDR[:PORT])", addr);
            return DPS_E_INVALID;
        }
    } else {
        snprintf(c->connect_host, sizeof c->connect_host, "%s", o->host);
        c->connect_port = port;
    }
    /* Host header: the logical name, with the port when it is not 443. */
    bool v6 = strchr(o->host, ':') != NULL;
    if (port == DPS_PROV_HTTPS_PORT)
        snprintf(c->host_header, sizeof c->host_header, v6 ? "[%s]" : "%s", o->host);
    else
        snprintf(c->host_header, sizeof c->host_header, v6 ? "[%s]:%u" : "%s:%u", o->host,
                 (unsigned)port);
    size_t n = 0;
    dps_result rc;
    if (o->credential->ops->tpm_keys != NULL) {
        /* TPM (tpm.md §4): HTTPS only, as in Azure; EK and SRK in the body. */
        if (o->transport != DPS_TRANSPORT_HTTPS) {
            DLOG_ERROR(log, "TPM attestation registers over HTTPS only (MQTT has no TPM flow)");
            return DPS_E_UNSUPPORTED;
        }
        const char *ek = NULL, *srk = NULL;
        rc = o->credential->ops->tpm_keys(o->credential, &ek, &srk);
        if (rc == DPS_OK)
            rc = dps_prov_register_body_tpm(o->registration_id, ek, srk, o->payload_json,
                                            c->body, sizeof c->body, &n);
    } else {
        rc = dps_prov_register_body(o->registration_id, o->payload_json, c->body,
                                    sizeof c->body, &n);
    }
    if (rc != DPS_OK) {
        DLOG_ERROR(log, "cannot build the register body (%s; at most %zu bytes)",
                   dps_result_name(rc), sizeof c->body);
        return rc == DPS_E_NO_SPACE ? DPS_E_INVALID : rc;
    }
    return DPS_OK;
}

/* (Re-)signs the SAS token when there is none or it is about to expire. */
static dps_result refresh_sas(dps_prov_client *c)
{
    int64_t now = (int64_t)time(NULL);
    if (c->sas_expiry_s != 0 && c->sas_expiry_s - now > SAS_MARGIN_S)
        return DPS_OK;
    const dps_prov_options *o = c->opt;
    if (o->credential->ops->tpm_keys != NULL && !c->tpm_activated) {
        c->sas[0] = '\0'; /* TPM: no key yet; the first request asks for the challenge */
        return DPS_OK;
    }
    char sr[DPS_MAX_ID_SCOPE + DPS_MAX_REGISTRATION_ID + 32];
    size_t n = 0;
    dps_result rc = dps_prov_sas_resource(o->id_scope, o->registration_id, sr, sizeof sr, &n);
    if (rc != DPS_OK)
        return rc;
    int64_t expiry = now + (int64_t)o->sas_lifetime_s;
    const char *skn = c->tpm_skn[0] != '\0' ? c->tpm_skn : "registration";
    rc = o->credential->ops->sign_sas(o->credential, sr, skn, expiry, c->sas, sizeof c->sas, &n);
    if (rc == DPS_E_UNSUPPORTED) {
        c->sas[0] = '\0'; /* X.509: the TLS client certificate authenticates */
        c->sas_expiry_s = INT64_MAX;
        return DPS_OK;
    }
    if (rc != DPS_OK) {
        DLOG_ERROR(&o->log, "cannot sign the SAS token: %s", dps_result_name(rc));
        return rc;
    }
    c->sas_expiry_s = expiry;
    return DPS_OK;
}

/* Copies the service's refusal into *out (status unknown, its error code). */
static void refusal(const dps_prov_response *r, dps_registration_result *out)
{
    memset(out, 0, sizeof *out);
    out->status = DPS_PROV_STATUS_UNKNOWN;
    out->error_code = r->error_code != 0 ? r->error_code : (int64_t)r->status_code * 1000;
    snprintf(out->error_message, sizeof out->error_message, "%s", r->error_message);
}

static dps_result map_refusal(int status)
{
    if (status == 401)
        return DPS_E_UNAUTHORIZED;
    if (status == 404)
        return DPS_E_NOT_FOUND;
    return DPS_E_REJECTED;
}

/* What retry-after means when waiting: 1..300 s, else the default. */
static uint32_t wait_seconds(uint32_t retry_after_s)
{
    if (retry_after_s < DPS_RETRY_AFTER_MIN_S || retry_after_s > DPS_RETRY_AFTER_MAX_S)
        return DPS_RETRY_AFTER_DEFAULT_S;
    return retry_after_s;
}

/* Waits before the next request; DPS_E_TIMEOUT when the wait would pass the
 * deadline (there would be no time left to ask again). */
static dps_result wait_before_retry(dps_prov_client *c, const dps_prov_transport_ops *t, uint32_t seconds,
                        int64_t deadline_ms)
{
    int64_t until = dps_monotonic_ms() + (int64_t)seconds * 1000;
    if (until >= deadline_ms) {
        DLOG_ERROR(&c->opt->log, "registration did not finish within %u ms",
                   (unsigned)c->opt->timeout_ms);
        return DPS_E_TIMEOUT;
    }
    dps_result rc = t->idle(c, until);
    if (rc == DPS_E_CANCELLED)
        return rc;
    if (rc != DPS_OK) { /* the connection went; the next request reconnects */
        t->close(c);
        rc = dps__prov_sleep(c, until);
    }
    return rc;
}

/* TPM (tpm.md §4.1 step 2): the 401 challenge's blob goes into the TPM; the
 * next request carries a SAS signed there, with the challenge's keyName. */
static dps_result tpm_challenge(dps_prov_client *c, const dps_prov_response *r)
{
    const dps_prov_options *o = c->opt;
    DLOG_INFO(&o->log, "TPM challenge received; activating its key in the TPM");
    dps_result rc = o->credential->ops->tpm_activate(o->credential, r->authentication_key);
    if (rc != DPS_OK) {
        DLOG_ERROR(&o->log, "the TPM did not accept the challenge: %s", dps_result_name(rc));
        return rc;
    }
    c->tpm_activated = true;
    snprintf(c->tpm_skn, sizeof c->tpm_skn, "%s", r->key_name);
    c->sas_expiry_s = 0; /* sign now */
    return DPS_OK;
}

/* TPM (tpm.md §10): the assignment's second blob becomes the hub key. */
static dps_result tpm_hub_key(dps_prov_client *c, const dps_registration_result *out)
{
    const dps_prov_options *o = c->opt;
    if (out->tpm_authentication_key[0] == '\0') {
        DLOG_ERROR(&o->log, "assigned without registrationState.tpm.authenticationKey: "
                            "no hub key for the TPM");
        return DPS_E_PROTOCOL;
    }
    dps_result rc = o->credential->ops->tpm_activate(o->credential, out->tpm_authentication_key);
    if (rc != DPS_OK)
        DLOG_ERROR(&o->log, "the TPM did not accept the hub key: %s", dps_result_name(rc));
    return rc;
}

/* The state machine. *out is written for final answers and refusals. */
static dps_result run(dps_prov_client *c, const dps_prov_transport_ops *t,
                      dps_registration_result *out)
{
    const dps_prov_options *o = c->opt;
    const dps_device_logger *log = &o->log;
    int64_t deadline = dps__deadline_in(o->timeout_ms);
    char operation_id[DPS_MAX_OPERATION_ID + 1] = "";
    DLOG_INFO(log, "registering %s in scope %s with %s port %u over %s", o->registration_id,
              o->id_scope, o->host, (unsigned)c->connect_port, t->name);
    for (;;) {
        if (o->stop != NULL && *o->stop)
            return DPS_E_CANCELLED;
        dps_result rc = refresh_sas(c);
        if (rc != DPS_OK)
            return rc;
        dps_prov_response *r = &c->resp;
        rc = t->exchange(c, operation_id[0] != '\0' ? operation_id : NULL, deadline, r);
        if (rc == DPS_E_TIMEOUT)
            DLOG_ERROR(log, "registration did not finish within %u ms", (unsigned)o->timeout_ms);
        if (rc == DPS_E_UNAUTHORIZED || rc == DPS_E_REJECTED) {
            /* MQTT says no in CONNACK or SUBACK, without an error body. */
            memset(out, 0, sizeof *out);
            snprintf(out->error_message, sizeof out->error_message, "%s",
                     rc == DPS_E_UNAUTHORIZED ? "the server refused the credentials (MQTT CONNACK)"
                                              : "the server refused the MQTT connection");
        }
        if (rc != DPS_OK)
            return rc;

        int code = r->status_code;
        if (code == 429 || code >= 500) {
            uint32_t s = wait_seconds(r->retry_after_s);
            DLOG_WARN(log, "service answered %d (error %lld); retrying in %u s", code,
                      (long long)r->error_code, (unsigned)s);
            rc = wait_before_retry(c, t, s, deadline);
            if (rc != DPS_OK)
                return rc;
            continue;
        }
        if (code == 401 && o->credential->ops->tpm_activate != NULL && !c->tpm_activated &&
            operation_id[0] == '\0' && r->authentication_key[0] != '\0') {
            rc = tpm_challenge(c, r);
            if (rc != DPS_OK)
                return rc;
            continue; /* the same register request, now with a SAS */
        }
        if (code < 200 || code >= 300) {
            DLOG_ERROR(log, "service refused the registration: %d, error %lld: %s", code,
                       (long long)r->error_code, r->error_message);
            refusal(r, out);
            return map_refusal(code);
        }

        dps_prov_status st =
            r->kind == DPS_PROV_BODY_OPERATION ? r->status : r->registration.status;
        if (st == DPS_PROV_STATUS_ASSIGNING || st == DPS_PROV_STATUS_UNASSIGNED) {
            if (r->kind != DPS_PROV_BODY_OPERATION) {
                DLOG_ERROR(log, "an unfinished answer without an operation ID");
                return DPS_E_PROTOCOL;
            }
            memcpy(operation_id, r->operation_id, sizeof operation_id);
            uint32_t s = wait_seconds(r->retry_after_s);
            DLOG_INFO(log, "operation %s is %s; next poll in %u s", operation_id,
                      dps_prov_status_name(st), (unsigned)s);
            rc = wait_before_retry(c, t, s, deadline);
            if (rc != DPS_OK)
                return rc;
            continue;
        }
        if (st != DPS_PROV_STATUS_ASSIGNED && st != DPS_PROV_STATUS_FAILED &&
            st != DPS_PROV_STATUS_DISABLED) {
            DLOG_ERROR(log, "answer with an unknown status");
            return DPS_E_PROTOCOL;
        }
        if (!r->has_registration_state && st != DPS_PROV_STATUS_DISABLED) {
            DLOG_ERROR(log, "final answer without registrationState");
            return DPS_E_PROTOCOL;
        }
        if (st == DPS_PROV_STATUS_ASSIGNED &&
            (r->registration.assigned_hub[0] == '\0' || r->registration.device_id[0] == '\0')) {
            DLOG_ERROR(log, "assigned without assignedHub or deviceId");
            return DPS_E_PROTOCOL;
        }
        *out = r->registration;
        out->status = st;
        if (st == DPS_PROV_STATUS_ASSIGNED) {
            DLOG_INFO(log, "assigned to %s as %s (%s)", out->assigned_hub, out->device_id,
                      out->substatus[0] != '\0' ? out->substatus : "no substatus");
            return o->credential->ops->tpm_activate != NULL ? tpm_hub_key(c, out) : DPS_OK;
        }
        if (st == DPS_PROV_STATUS_FAILED) {
            DLOG_ERROR(log, "registration failed: error %lld: %s", (long long)out->error_code,
                       out->error_message);
            return DPS_E_FAILED;
        }
        DLOG_ERROR(log, "the enrollment is disabled");
        return DPS_E_DISABLED;
    }
}

dps_result dps_prov_register(dps_prov_client *client, const dps_prov_options *opt,
                             dps_registration_result *out)
{
    assert(client != NULL && opt != NULL && out != NULL);
    memset(client, 0, offsetof(dps_prov_client, body)); /* the buffers need no clearing */
    client->opt = opt;
    if (opt->registration_id == NULL && opt->credential != NULL &&
        opt->credential->ops != NULL && opt->credential->ops->identity != NULL) {
        /* X.509: the registration ID is the leaf's CN (device-api.md §10) */
        client->opt_resolved = *opt;
        client->opt_resolved.registration_id = opt->credential->ops->identity(opt->credential);
        client->opt = &client->opt_resolved;
    }
    dps__tls_init(&client->tls);
    dps__tls_init(&client->mqtt.tls);
    dps_result rc = setup(client, client->opt);
    if (rc != DPS_OK)
        return rc;
    const dps_prov_transport_ops *t = transport_of(client->opt);
    rc = run(client, t, out);
    t->close(client);
    dps_wipe(client->sas, sizeof client->sas);
    dps_wipe(client->req, sizeof client->req); /* held the Authorization header */
    dps_wipe(client->tx, sizeof client->tx);   /* held the MQTT password */
    client->opt = NULL;
    return rc;
}
