/* One simulated device: derive or take its key (or load or issue its X.509
 * certificate), register, print the
 * assignment, then (unless --no-hub) connect to the assigned hub through the
 * gateway, report a twin property, send telemetry and answer direct methods
 * until the messages are out and --run-seconds have passed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/timeutil.h"
#include "sim.h"

/* Hub buffers: telemetry and twin documents of the simulator stay small. */
#define SIM_HUB_BUFFER 16384

typedef struct {
    dps_prov_client prov;
    dps_hub_client hub;
    uint8_t rx[SIM_HUB_BUFFER];
    uint8_t tx[SIM_HUB_BUFFER];
    char twin[SIM_HUB_BUFFER];
} device_state;

/* "echo" answers with the request payload (or {} for an empty one); every
 * other method is unknown: 404 with a message, as a hub would say. */
static int on_method(void *ctx, const char *name, const char *payload, size_t len,
                     char *resp, size_t cap, size_t *resp_len)
{
    const char *who = ctx;
    if (strcmp(name, "echo") == 0) {
        const char *body = len > 0 ? payload : "{}";
        size_t n = len > 0 ? len : 2;
        if (n > cap)
            n = 0; /* too big to echo: answer with an empty body */
        memcpy(resp, body, n);
        *resp_len = n;
        sim_printf("%s: method echo answered 200\n", who);
        return 200;
    }
    int n = snprintf(resp, cap, "{\"message\":\"unknown method\"}");
    *resp_len = n > 0 && (size_t)n < cap ? (size_t)n : 0;
    sim_printf("%s: method %s answered 404\n", who, name);
    return 404;
}

static void on_desired(void *ctx, const char *json, size_t len, int64_t version)
{
    sim_printf("%s: desired properties version %lld: %.*s\n", (const char *)ctx,
               (long long)version, (int)(len > 512 ? 512 : len), json);
}

static dps_result hub_session(const sim_config *cfg, const char *who,
                              const dps_registration_result *reg, const dps_credential *cred,
                              device_state *st, uint32_t *sent)
{
    dps_hub_options o;
    dps_hub_options_default(&o);
    o.hub_host = reg->assigned_hub;
    o.gateway_address = cfg->hub_gateway;
    o.device_id = reg->device_id;
    o.credential = cred;
    o.ca_file = cfg->hub_ca_file;
    o.client_type = "opendps-dps-device/" DPS_VERSION;
    o.rx_buffer = st->rx;
    o.rx_buffer_size = sizeof st->rx;
    o.tx_buffer = st->tx;
    o.tx_buffer_size = sizeof st->tx;
    o.on_method = on_method;
    o.method_ctx = (void *)who;
    o.on_desired = on_desired;
    o.desired_ctx = (void *)who;
    o.stop = &sim_stop;
    o.log.fn = sim_log_sink;
    o.log.ctx = (void *)who;
    o.log.level = cfg->log_level;

    int64_t end = dps_monotonic_ms() + (int64_t)cfg->run_seconds * 1000;
    dps_result rc = dps_hub_client_connect(&st->hub, &o);
    if (rc != DPS_OK)
        return rc;
    sim_printf("%s: connected to %s through %s\n", who, reg->assigned_hub, cfg->hub_gateway);

    size_t n = 0;
    rc = dps_hub_client_twin_get(&st->hub, st->twin, sizeof st->twin, &n);
    if (rc == DPS_OK)
        sim_printf("%s: twin %s\n", who, st->twin);
    char report[256];
    int len = snprintf(report, sizeof report,
                       "{\"simulator\":{\"name\":\"dps-device\",\"version\":\"%s\","
                       "\"transport\":\"%s\"}}",
                       dps_device_version(), cfg->transport == DPS_TRANSPORT_MQTT ? "mqtt" : "https");
    int64_t version = -1;
    if (rc == DPS_OK)
        rc = dps_hub_client_twin_report(&st->hub, report, (size_t)len, &version);
    if (rc == DPS_OK)
        sim_printf("%s: reported twin property simulator (reported version %lld)\n", who,
                   (long long)version);

    for (uint32_t i = 0; rc == DPS_OK && i < cfg->messages; i++) {
        if (i > 0 && cfg->interval_ms > 0)
            rc = dps_hub_client_poll(&st->hub, cfg->interval_ms); /* answers methods meanwhile */
        if (rc != DPS_OK)
            break;
        char msg[160], mid[32];
        int ml = snprintf(msg, sizeof msg,
                          "{\"deviceId\":\"%s\",\"messageId\":%u,\"temperature\":%.1f,"
                          "\"humidity\":%u}",
                          reg->device_id, i + 1, 20.0 + (double)((i * 7) % 50) / 10.0,
                          40 + (i * 3) % 20);
        snprintf(mid, sizeof mid, "msg-%u", i + 1);
        dps_hub_property app[] = {{"source", "dps-device"}};
        dps_hub_message_props props = {.message_id = mid,
                                       .content_type = "application/json",
                                       .content_encoding = "utf-8",
                                       .properties = app,
                                       .property_count = 1};
        rc = dps_hub_client_send_telemetry(&st->hub, msg, (size_t)ml, &props);
        if (rc == DPS_OK) {
            (*sent)++;
            if (cfg->count == 1)
                sim_printf("%s: sent %s\n", who, msg);
        }
    }
    while (rc == DPS_OK && dps_monotonic_ms() < end) {
        int64_t left = end - dps_monotonic_ms();
        rc = dps_hub_client_poll(&st->hub, left > 1000 ? 1000 : (uint32_t)left);
        if (rc == DPS_E_CLOSED) {
            sim_printf("%s: hub connection lost; reconnecting\n", who);
            rc = dps_hub_client_reconnect(&st->hub);
        }
    }
    if (rc == DPS_E_CANCELLED)
        rc = DPS_OK; /* SIGINT or SIGTERM: a normal end */
    dps_hub_client_close(&st->hub);
    sim_printf("%s: sent %u message%s; disconnected\n", who, *sent, *sent == 1 ? "" : "s");
    return rc;
}

/* The device's credential: a symmetric key or an X.509 certificate. */
typedef struct {
    dps_symmetric_key key;
    dps_x509_credential x509;
    const dps_credential *cred;
} device_credential;

static void credential_free(device_credential *c)
{
    dps_symmetric_key_wipe(&c->key);
    dps_x509_credential_free(&c->x509);
}

/* Loads (or issues) the credential; *who becomes the registration ID the
 * device goes by (an X.509 certificate's CN when none was given). Prints why
 * it failed. */
static dps_result load_credential(const sim_config *cfg, const char *registration_id,
                                  device_credential *c, const char **who)
{
    memset(c, 0, sizeof *c);
    *who = registration_id;
    const char *label = registration_id != NULL ? registration_id : "device";
    dps_device_logger log = {sim_log_sink, (void *)label, DPS_DEVICE_LOG_ERROR};
    dps_result rc;
    if (cfg->tpm_credential != NULL) { /* --tpm: tpm.c opened it and closes it */
        c->cred = cfg->tpm_credential;
        return DPS_OK;
    }
    if (cfg->x509_cert != NULL) {
        rc = dps_x509_credential_init(&c->x509, cfg->x509_cert, cfg->x509_chain, cfg->x509_key,
                                      &log);
        if (rc != DPS_OK) {
            sim_printf("%s: cannot load the X.509 credential: %s (the reason is on stderr)\n",
                       label, dps_result_name(rc));
            return rc;
        }
        c->cred = &c->x509.base;
        if (*who == NULL && c->x509.common_name[0] != '\0')
            *who = c->x509.common_name;
        if (*who == NULL) {
            sim_printf("%s: the certificate has no usable CN: give --registration-id\n", label);
            return DPS_E_INVALID;
        }
    } else if (cfg->x509_ca_cert != NULL) {
        char err[512];
        char *cert = NULL, *key = NULL;
        size_t cert_len = 0, key_len = 0;
        if (sim_x509_issue_pem(cfg->x509_ca_cert, cfg->x509_ca_key, cfg->x509_chain,
                               registration_id, cfg->x509_days, &cert, &cert_len, &key, &key_len,
                               err, sizeof err) != 0) {
            sim_printf("%s: cannot issue a device certificate: %s\n", label, err);
            return DPS_E_INVALID;
        }
        rc = dps_x509_credential_init_pem(&c->x509, cert, cert_len, NULL, 0, key, key_len, &log);
        sim_x509_free_pem(cert, cert_len);
        sim_x509_free_pem(key, key_len);
        if (rc != DPS_OK) {
            sim_printf("%s: the issued certificate is unusable: %s\n", label,
                       dps_result_name(rc));
            return rc;
        }
        c->cred = &c->x509.base;
    } else {
        rc = cfg->group_key != NULL
                 ? dps_symmetric_key_init_group(&c->key, cfg->group_key, registration_id)
                 : dps_symmetric_key_init(&c->key, cfg->symmetric_key);
        if (rc != DPS_OK) {
            sim_printf("%s: invalid %s (base64 expected) or registration ID\n", label,
                       cfg->group_key != NULL ? "--group-key" : "--symmetric-key");
            return rc;
        }
        c->cred = &c->key.base;
        return DPS_OK;
    }
    /* X.509: say which certificate, and warn when the service is bound to
     * refuse it for its dates */
    int64_t now = (int64_t)time(NULL);
    if (cfg->count == 1)
        sim_printf("%s: X.509 certificate CN=%s, %zu intermediate%s, SHA-256 thumbprint %s\n",
                   *who, c->x509.common_name, c->x509.chain_len,
                   c->x509.chain_len == 1 ? "" : "s", c->x509.thumbprint_sha256);
    if (now < c->x509.not_before_s || now > c->x509.not_after_s) {
        char msg[160];
        snprintf(msg, sizeof msg, "the certificate is %s (the service will refuse it)",
                 now > c->x509.not_after_s ? "expired" : "not valid yet");
        sim_log_sink((void *)*who, DPS_DEVICE_LOG_WARN, msg);
    }
    return DPS_OK;
}

int sim_run_device(const sim_config *cfg, const char *registration_id,
                   sim_device_outcome *outcome)
{
    memset(outcome, 0, sizeof *outcome);
    outcome->hub_rc = DPS_OK;
    device_credential *cred = malloc(sizeof *cred);
    if (cred == NULL) {
        outcome->register_rc = DPS_E_IO;
        return 1;
    }
    dps_result rc = load_credential(cfg, registration_id, cred, &registration_id);
    if (rc != DPS_OK) {
        outcome->register_rc = rc;
        credential_free(cred);
        free(cred);
        return 1;
    }
    device_state *st = malloc(sizeof *st);
    if (st == NULL) {
        credential_free(cred);
        free(cred);
        outcome->register_rc = DPS_E_IO;
        return 1;
    }

    dps_prov_options o;
    dps_prov_options_default(&o);
    o.transport = cfg->transport;
    o.host = cfg->prov_host;
    o.port = cfg->prov_port != 0                        ? cfg->prov_port
             : cfg->transport == DPS_TRANSPORT_MQTT ? cfg->mqtt_port
                                                    : 8443;
    o.connect_address = cfg->connect_address;
    o.id_scope = cfg->id_scope;
    o.registration_id = registration_id;
    o.credential = cred->cred;
    o.ca_file = cfg->ca_file;
    o.payload_json = cfg->payload;
    if (cfg->api_version != NULL)
        o.api_version = cfg->api_version;
    o.client_version = "opendps-dps-device/" DPS_VERSION;
    o.timeout_ms = cfg->timeout_s * 1000;
    o.stop = &sim_stop;
    o.log.fn = sim_log_sink;
    o.log.ctx = (void *)registration_id;
    o.log.level = cfg->log_level;

    rc = dps_prov_register(&st->prov, &o, &outcome->reg);
    outcome->register_rc = rc;
    sim_print_assignment(cfg, registration_id, rc, &outcome->reg);
    if (rc == DPS_OK && !cfg->no_hub && !sim_stop) {
        outcome->hub_rc = hub_session(cfg, registration_id, &outcome->reg, cred->cred, st,
                                      &outcome->messages_sent);
        if (outcome->hub_rc != DPS_OK)
            sim_printf("%s: hub session ended: %s\n", registration_id,
                       dps_result_name(outcome->hub_rc));
    }
    credential_free(cred);
    free(cred);
    free(st);
    return rc == DPS_OK && outcome->hub_rc == DPS_OK ? 0 : 1;
}
