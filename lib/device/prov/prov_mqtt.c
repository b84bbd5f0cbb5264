/* The MQTT provisioning transport (device-api.md §6): CONNECT with the
 * registration username and SAS, SUBSCRIBE $dps/registrations/res/#, then
 * register and status publishes matched to their answers by $rid. */
#include <stdio.h>
#include <string.h>

#include "device/devlog.h"
#include "device/io/addr.h"
#include "device/io/mqtt_session.h"
#include "device/prov/prov_transport.h"

/* Called by the session for every PUBLISH: keeps the answer to our $rid. */
static void on_publish(void *ctx, const char *topic, size_t topic_len, const uint8_t *payload,
                       size_t payload_len)
{
    dps_prov_client *c = ctx;
    int status = 0;
    uint32_t retry_after = 0;
    char rid[DPS_MAX_RID + 1];
    dps_result rc = dps_prov_mqtt_parse_response_topic(topic, topic_len, &status, rid,
                                                       &retry_after);
    if (rc != DPS_OK) {
        DLOG_WARN(&c->opt->log, "MQTT: ignoring a publish on an unexpected topic (%.*s)",
                  (int)(topic_len > 120 ? 120 : topic_len), topic);
        return;
    }
    if (strcmp(rid, c->rid) != 0 || c->mqtt_response_ready) {
        DLOG_DEBUG(&c->opt->log, "MQTT: ignoring an answer for $rid=%s", rid);
        return;
    }
    DLOG_DEBUG(&c->opt->log, "MQTT: status %d for $rid=%s, %zu payload bytes", status, rid,
               payload_len);
    c->mqtt_response_rc = dps_prov_parse_mqtt_response(status, retry_after,
                                                       (const char *)payload, payload_len,
                                                       &c->resp);
    c->mqtt_response_ready = true;
}

static dps_result mqtt_open(dps_prov_client *c, int64_t deadline_ms)
{
    const dps_prov_options *o = c->opt;
    char username[DPS_MAX_ID_SCOPE + DPS_MAX_REGISTRATION_ID + DPS_MAX_API_VERSION +
                  3 * DPS_MAX_CLIENT_VERSION + 64];
    size_t n = 0;
    dps_result rc = dps_prov_mqtt_username(o->id_scope, o->registration_id, o->api_version,
                                           o->client_version, username, sizeof username, &n);
    if (rc != DPS_OK)
        return rc;
    dps__mqtt_init(&c->mqtt, c->rx, sizeof c->rx, c->tx, sizeof c->tx, &o->log);
    c->mqtt.on_publish = on_publish;
    c->mqtt.on_publish_ctx = c;
    dps_tls_params tp;
    dps__prov_tls_params(c, &tp);
    dps_mqtt_connect_params cp = {
        .client_id = o->registration_id,
        .username = username,
        .password = c->sas[0] != '\0' ? c->sas : NULL,
        .keep_alive_s = o->mqtt_keep_alive_s,
        .clean_session = true,
    };
    rc = dps__mqtt_connect(&c->mqtt, &tp, &cp, deadline_ms, NULL);
    if (rc != DPS_OK)
        return rc;
    const char *filters[] = {DPS_PROV_TOPIC_SUBSCRIBE};
    rc = dps__mqtt_subscribe(&c->mqtt, filters, 1, 1, deadline_ms, NULL);
    if (rc != DPS_OK)
        dps__mqtt_disconnect(&c->mqtt);
    return rc;
}

static dps_result mqtt_exchange(dps_prov_client *c, const char *operation_id,
                                int64_t deadline_ms, dps_prov_response *out)
{
    dps_result rc = DPS_OK;
    if (!c->mqtt.connected) {
        rc = mqtt_open(c, deadline_ms);
        if (rc != DPS_OK)
            return rc;
    }
    snprintf(c->rid, sizeof c->rid, "%u", (unsigned)++c->rid_counter);
    char topic[DPS_PROV_MAX_TOPIC];
    size_t n = 0;
    if (operation_id == NULL)
        rc = dps_prov_mqtt_register_topic(c->rid, topic, sizeof topic, &n);
    else
        rc = dps_prov_mqtt_status_topic(c->rid, operation_id, topic, sizeof topic, &n);
    if (rc != DPS_OK)
        return rc;
    c->mqtt_response_ready = false;
    /* A status request carries no payload (C#, azure-sdk-for-c); the
     * registration ID comes from the connection. */
    const char *payload = operation_id == NULL ? c->body : "";
    DLOG_DEBUG(&c->opt->log, "MQTT: publish %s", topic);
    rc = dps__mqtt_publish(&c->mqtt, topic, payload, strlen(payload), 1, deadline_ms);
    while (rc == DPS_OK && !c->mqtt_response_ready)
        rc = dps__mqtt_pump(&c->mqtt, deadline_ms);
    if (rc != DPS_OK)
        return rc;
    if (c->mqtt_response_rc != DPS_OK) {
        DLOG_ERROR(&c->opt->log, "MQTT: unusable answer: %s", dps_result_name(c->mqtt_response_rc));
        return c->mqtt_response_rc;
    }
    if (out != &c->resp)
        *out = c->resp;
    return DPS_OK;
}

static dps_result mqtt_idle(dps_prov_client *c, int64_t until_ms)
{
    if (!c->mqtt.connected)
        return dps__prov_sleep(c, until_ms);
    /* Keep reading so PINGREQs go out and the server never sees us idle. */
    for (;;) {
        if (c->opt->stop != NULL && *c->opt->stop)
            return DPS_E_CANCELLED;
        int64_t now = dps_monotonic_ms();
        if (now >= until_ms)
            return DPS_OK;
        int64_t slice = now + 200 < until_ms ? now + 200 : until_ms;
        dps_result rc = dps__mqtt_pump(&c->mqtt, slice);
        if (rc != DPS_OK && rc != DPS_E_TIMEOUT)
            return rc;
    }
}

static void mqtt_close(dps_prov_client *c)
{
    dps__mqtt_disconnect(&c->mqtt);
}

const dps_prov_transport_ops dps__prov_mqtt = {
    .name = "mqtt",
    .default_port = DPS_MQTT_TLS_PORT,
    .exchange = mqtt_exchange,
    .idle = mqtt_idle,
    .close = mqtt_close,
};
