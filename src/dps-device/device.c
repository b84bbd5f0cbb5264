/* One simulated device: derive or take its key, register, print the
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

int sim_run_device(const sim_config *cfg, const char *registration_id,
                   sim_device_outcome *outcome)
{
    memset(outcome, 0, sizeof *outcome);
    outcome->hub_rc = DPS_OK;
    dps_symmetric_key key;
    dps_result rc = cfg->group_key != NULL
                        ? dps_symmetric_key_init_group(&key, cfg->group_key, registration_id)
                        : dps_symmetric_key_init(&key, cfg->symmetric_key);
    if (rc != DPS_OK) {
        sim_printf("%s: invalid %s (base64 expected) or registration ID\n", registration_id,
                   cfg->group_key != NULL ? "--group-key" : "--symmetric-key");
        outcome->register_rc = rc;
        return 1;
    }
    device_state *st = malloc(sizeof *st);
    if (st == NULL) {
        dps_symmetric_key_wipe(&key);
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
    o.credential = &key.base;
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
        outcome->hub_rc = hub_session(cfg, registration_id, &outcome->reg, &key.base, st,
                                      &outcome->messages_sent);
        if (outcome->hub_rc != DPS_OK)
            sim_printf("%s: hub session ended: %s\n", registration_id,
                       dps_result_name(outcome->hub_rc));
    }
    dps_symmetric_key_wipe(&key);
    free(st);
    return rc == DPS_OK && outcome->hub_rc == DPS_OK ? 0 : 1;
}
