/* The hub client: MQTT/TLS session with a hub (hub.md §8), SAS renewal by
 * reconnecting, telemetry, twin GET and reported patches matched to their
 * answers by $rid, and dispatch of desired patches and direct methods to
 * the application's callbacks. */
#include "dps/hub_client.h"

#include <assert.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/secret.h"
#include "device/devlog.h"
#include "device/io/addr.h"
#include "device/io/mqtt_session.h"

#define CLIENT_TYPE "libdpsdevice/" DPS_VERSION
#define HUB_MAX_TOPIC 2048
#define POLL_SLICE_MS 200
#define METHOD_NOT_IMPLEMENTED 501

void dps_hub_options_default(dps_hub_options *o)
{
    assert(o != NULL);
    memset(o, 0, sizeof *o);
    o->api_version = DPS_HUB_DEFAULT_API_VERSION;
    o->client_type = CLIENT_TYPE;
    o->keep_alive_s = 60;
    o->sas_lifetime_s = 3600;
    o->timeout_ms = 30000;
    o->telemetry_qos = 1;
    o->log.level = DPS_DEVICE_LOG_INFO;
}

static bool stopped(const dps_hub_client *c)
{
    return c->opt.stop != NULL && *c->opt.stop;
}

/* ---- Dispatch of what the hub publishes ------------------------------------ */

static void on_twin_response(dps_hub_client *c, const dps_hub_topic *t, const uint8_t *payload,
                             size_t len)
{
    if (c->wait_rid[0] == '\0' || strcmp(t->rid, c->wait_rid) != 0 || c->wait_done) {
        DLOG_DEBUG(&c->opt.log, "hub: ignoring a twin answer for $rid=%s", t->rid);
        return;
    }
    c->wait_status = t->status;
    c->wait_version = t->has_version ? t->version : -1;
    c->wait_len = len;
    c->wait_too_large = false;
    if (c->wait_out != NULL) {
        if (len >= c->wait_cap) {
            c->wait_too_large = true;
        } else {
            memcpy(c->wait_out, payload, len);
            c->wait_out[len] = '\0';
        }
    }
    c->wait_done = true;
}

static void on_method(dps_hub_client *c, const dps_hub_topic *t, const uint8_t *payload,
                      size_t len)
{
    size_t resp_len = 0;
    int status = METHOD_NOT_IMPLEMENTED;
    if (c->opt.on_method != NULL) {
        status = c->opt.on_method(c->opt.method_ctx, t->method_name, (const char *)payload, len,
                                  c->method_response, sizeof c->method_response, &resp_len);
        if (resp_len > sizeof c->method_response)
            resp_len = 0; /* a callback bug must not make us read past the buffer */
    }
    DLOG_INFO(&c->opt.log, "hub: method %s answered %d", t->method_name, status);
    char topic[HUB_MAX_TOPIC];
    size_t n = 0;
    dps_result rc = dps_hub_method_response_topic(status, t->rid, topic, sizeof topic, &n);
    if (rc == DPS_OK)
        rc = dps__mqtt_publish(&c->mqtt, topic, c->method_response, resp_len, 0,
                               dps__deadline_in(c->opt.timeout_ms));
    if (rc != DPS_OK)
        DLOG_ERROR(&c->opt.log, "hub: cannot answer method %s: %s", t->method_name,
                   dps_result_name(rc));
}

static void on_publish(void *ctx, const char *topic, size_t topic_len, const uint8_t *payload,
                       size_t payload_len)
{
    dps_hub_client *c = ctx;
    dps_hub_topic t;
    dps_result rc = dps_hub_parse_topic(topic, topic_len, &t);
    if (rc != DPS_OK) {
        DLOG_WARN(&c->opt.log, "hub: ignoring a malformed topic (%s)", dps_result_name(rc));
        return;
    }
    switch (t.kind) {
    case DPS_HUB_TOPIC_TWIN_RESPONSE:
        on_twin_response(c, &t, payload, payload_len);
        break;
    case DPS_HUB_TOPIC_DESIRED: {
        int64_t version = t.has_version ? t.version : -1;
        if (!t.has_version &&
            dps_hub_twin_versions((const char *)payload, payload_len, &version, NULL) != DPS_OK)
            version = -1;
        DLOG_INFO(&c->opt.log, "hub: desired properties patch, version %lld",
                  (long long)version);
        if (c->opt.on_desired != NULL)
            c->opt.on_desired(c->opt.desired_ctx, (const char *)payload, payload_len, version);
        break;
    }
    case DPS_HUB_TOPIC_METHOD:
        on_method(c, &t, payload, payload_len);
        break;
    case DPS_HUB_TOPIC_C2D:
    case DPS_HUB_TOPIC_OTHER:
        DLOG_DEBUG(&c->opt.log, "hub: ignoring a message on %.*s",
                   (int)(topic_len > 120 ? 120 : topic_len), topic);
        break;
    }
}

/* ---- Connection -------------------------------------------------------------- */

static dps_result copy_str(char *dst, size_t cap, const char *src)
{
    if (src == NULL || strlen(src) >= cap)
        return DPS_E_INVALID;
    memcpy(dst, src, strlen(src) + 1);
    return DPS_OK;
}

static dps_result take_options(dps_hub_client *c, const dps_hub_options *o)
{
    const dps_device_logger *log = &o->log;
    if (!dps_hub_host_valid(o->hub_host)) {
        DLOG_ERROR(log, "invalid or missing hub host name");
        return DPS_E_INVALID;
    }
    if (!dps_hub_device_id_valid(o->device_id)) {
        DLOG_ERROR(log, "invalid or missing device ID");
        return DPS_E_INVALID;
    }
    if (o->credential == NULL || o->credential->ops == NULL ||
        o->credential->ops->sign_sas == NULL || o->rx_buffer == NULL ||
        o->tx_buffer == NULL || o->rx_buffer_size < DPS_HUB_MIN_BUFFER ||
        o->tx_buffer_size < DPS_HUB_MIN_BUFFER || o->telemetry_qos > 1 ||
        o->sas_lifetime_s < 60 || o->timeout_ms == 0) {
        DLOG_ERROR(log, "hub options: credential, two buffers of at least %d bytes, "
                        "QoS 0 or 1, SAS lifetime >= 60 s and a timeout are required",
                   DPS_HUB_MIN_BUFFER);
        return DPS_E_INVALID;
    }
    dps_hub_client tmp;
    memset(&tmp, 0, offsetof(dps_hub_client, mqtt));
    dps_result rc = copy_str(tmp.hub_host, sizeof tmp.hub_host, o->hub_host);
    if (rc == DPS_OK)
        rc = copy_str(tmp.device_id, sizeof tmp.device_id, o->device_id);
    if (rc == DPS_OK && o->ca_file != NULL)
        rc = copy_str(tmp.ca_file, sizeof tmp.ca_file, o->ca_file);
    if (rc == DPS_OK)
        rc = copy_str(tmp.api_version, sizeof tmp.api_version,
                      o->api_version != NULL ? o->api_version : DPS_HUB_DEFAULT_API_VERSION);
    if (rc == DPS_OK && o->client_type != NULL)
        rc = copy_str(tmp.client_type, sizeof tmp.client_type, o->client_type);
    if (rc == DPS_OK)
        rc = dps__split_hostport(o->gateway_address != NULL ? o->gateway_address : o->hub_host,
                                 DPS_MQTT_TLS_PORT, tmp.gateway_host, sizeof tmp.gateway_host,
                                 &tmp.gateway_port);
    if (rc != DPS_OK) {
        DLOG_ERROR(log, "hub options: a string is too long or the gateway address is invalid");
        return rc;
    }
    memcpy(c, &tmp, offsetof(dps_hub_client, mqtt));
    c->opt = *o;
    c->opt.hub_host = c->hub_host;
    c->opt.device_id = c->device_id;
    c->opt.gateway_address = NULL; /* split into gateway_host/port */
    c->opt.ca_file = o->ca_file != NULL ? c->ca_file : NULL;
    c->opt.api_version = c->api_version;
    c->opt.client_type = o->client_type != NULL ? c->client_type : NULL;
    return DPS_OK;
}

static dps_result open_session(dps_hub_client *c)
{
    const dps_hub_options *o = &c->opt;
    int64_t deadline = dps__deadline_in(o->timeout_ms);
    char username[DPS_MAX_HOST_NAME + DPS_MAX_DEVICE_ID + DPS_MAX_API_VERSION +
                  3 * DPS_MAX_CLIENT_VERSION + 64];
    char sr[DPS_MAX_HOST_NAME + DPS_MAX_DEVICE_ID + 16];
    char sas[DPS_MAX_SAS_TOKEN + 1];
    size_t n = 0;
    dps_result rc = dps_hub_mqtt_username(o->hub_host, o->device_id, o->api_version,
                                          o->client_type, username, sizeof username, &n);
    if (rc == DPS_OK)
        rc = dps_hub_sas_resource(o->hub_host, o->device_id, sr, sizeof sr, &n);
    int64_t expiry = (int64_t)time(NULL) + (int64_t)o->sas_lifetime_s;
    bool has_sas = false;
    if (rc == DPS_OK) {
        rc = o->credential->ops->sign_sas(o->credential, sr, NULL, expiry, sas, sizeof sas, &n);
        has_sas = rc == DPS_OK;
        if (rc == DPS_E_UNSUPPORTED)
            rc = DPS_OK; /* X.509: no password */
    }
    if (rc != DPS_OK) {
        DLOG_ERROR(&o->log, "hub: cannot build the username or SAS token: %s",
                   dps_result_name(rc));
        return rc;
    }

    dps__mqtt_init(&c->mqtt, o->rx_buffer, o->rx_buffer_size, o->tx_buffer, o->tx_buffer_size,
                   &c->opt.log);
    c->mqtt.on_publish = on_publish;
    c->mqtt.on_publish_ctx = c;
    dps_tls_params tp = {
        .server_name = o->hub_host,
        .connect_host = c->gateway_host,
        .port = c->gateway_port,
        .ca_file = o->ca_file,
        .credential = o->credential,
        .log = &c->opt.log,
    };
    dps_mqtt_connect_params cp = {
        .client_id = o->device_id,
        .username = username,
        .password = has_sas ? sas : NULL,
        .keep_alive_s = o->keep_alive_s,
        .clean_session = true, /* no C2D subscription to keep */
    };
    rc = dps__mqtt_connect(&c->mqtt, &tp, &cp, deadline, NULL);
    dps_wipe(sas, sizeof sas);
    dps_wipe(o->tx_buffer, o->tx_buffer_size); /* the CONNECT held the token */
    if (rc != DPS_OK)
        return rc;
    const char *filters[] = {DPS_HUB_TOPIC_TWIN_RES_FILTER, DPS_HUB_TOPIC_DESIRED_FILTER,
                             DPS_HUB_TOPIC_METHODS_FILTER};
    rc = dps__mqtt_subscribe(&c->mqtt, filters, 3, 0, deadline, NULL);
    if (rc != DPS_OK) {
        dps__mqtt_disconnect(&c->mqtt);
        return rc;
    }
    /* Renew at 80 % of the token's life: MQTT 3.1.1 cannot re-authenticate,
     * so renewal is a new connection with a new token. */
    c->renew_at_ms = has_sas ? dps_monotonic_ms() + (int64_t)o->sas_lifetime_s * 800
                             : INT64_MAX; /* X.509: nothing expires with the session */
    DLOG_INFO(&o->log, "hub: connected to %s (%s port %u) as %s", o->hub_host, c->gateway_host,
              (unsigned)c->gateway_port, o->device_id);
    return DPS_OK;
}

dps_result dps_hub_client_connect(dps_hub_client *c, const dps_hub_options *opt)
{
    assert(c != NULL && opt != NULL);
    if (c->initialised && c->mqtt.in_dispatch)
        return DPS_E_BUSY;
    if (c->initialised)
        dps_hub_client_close(c);
    memset(c, 0, sizeof *c);
    dps__tls_init(&c->mqtt.tls);
    dps_result rc = take_options(c, opt);
    if (rc != DPS_OK)
        return rc;
    c->initialised = true;
    return open_session(c);
}

dps_result dps_hub_client_reconnect(dps_hub_client *c)
{
    assert(c != NULL);
    if (!c->initialised)
        return DPS_E_INVALID;
    if (c->mqtt.in_dispatch)
        return DPS_E_BUSY;
    dps__mqtt_disconnect(&c->mqtt);
    return open_session(c);
}

void dps_hub_client_close(dps_hub_client *c)
{
    if (c == NULL || !c->initialised || c->mqtt.in_dispatch)
        return;
    dps__mqtt_disconnect(&c->mqtt);
}

/* ---- Requests ------------------------------------------------------------------ */

static dps_result ready(const dps_hub_client *c)
{
    if (!c->initialised)
        return DPS_E_INVALID;
    if (c->mqtt.in_dispatch)
        return DPS_E_BUSY;
    if (!c->mqtt.connected)
        return DPS_E_CLOSED;
    return DPS_OK;
}

dps_result dps_hub_client_send_telemetry(dps_hub_client *c, const void *payload, size_t len,
                                         const dps_hub_message_props *props)
{
    assert(c != NULL && (payload != NULL || len == 0));
    dps_result rc = ready(c);
    if (rc != DPS_OK)
        return rc;
    char topic[HUB_MAX_TOPIC];
    size_t n = 0;
    rc = dps_hub_telemetry_topic(c->device_id, props, topic, sizeof topic, &n);
    if (rc == DPS_OK)
        rc = dps__mqtt_publish(&c->mqtt, topic, payload != NULL ? payload : "", len,
                               c->opt.telemetry_qos, dps__deadline_in(c->opt.timeout_ms));
    if (rc != DPS_OK)
        DLOG_ERROR(&c->opt.log, "hub: telemetry not sent: %s", dps_result_name(rc));
    return rc;
}

/* Publishes a twin request and waits for its answer. */
static dps_result twin_request(dps_hub_client *c, bool get, const char *json, size_t len,
                               char *out, size_t cap)
{
    dps_result rc = ready(c);
    if (rc != DPS_OK)
        return rc;
    snprintf(c->wait_rid, sizeof c->wait_rid, "%u", (unsigned)++c->rid_counter);
    char topic[HUB_MAX_TOPIC];
    size_t n = 0;
    rc = get ? dps_hub_twin_get_topic(c->wait_rid, topic, sizeof topic, &n)
             : dps_hub_twin_patch_topic(c->wait_rid, topic, sizeof topic, &n);
    if (rc != DPS_OK)
        return rc;
    c->wait_done = false;
    c->wait_out = out;
    c->wait_cap = cap;
    int64_t deadline = dps__deadline_in(c->opt.timeout_ms);
    rc = dps__mqtt_publish(&c->mqtt, topic, json, len, 0, deadline);
    while (rc == DPS_OK && !c->wait_done) {
        if (stopped(c)) {
            rc = DPS_E_CANCELLED;
            break;
        }
        int64_t now = dps_monotonic_ms();
        rc = dps__mqtt_pump(&c->mqtt, now + POLL_SLICE_MS < deadline ? now + POLL_SLICE_MS
                                                                     : deadline);
        if (rc == DPS_E_TIMEOUT && dps_monotonic_ms() < deadline)
            rc = DPS_OK;
    }
    c->wait_rid[0] = '\0';
    c->wait_out = NULL;
    if (rc == DPS_E_TIMEOUT)
        DLOG_ERROR(&c->opt.log, "hub: no twin answer within %u ms", (unsigned)c->opt.timeout_ms);
    return rc;
}

dps_result dps_hub_client_twin_get(dps_hub_client *c, char *out, size_t cap, size_t *out_len)
{
    assert(c != NULL && out != NULL && out_len != NULL);
    dps_result rc = twin_request(c, true, "", 0, out, cap);
    if (rc != DPS_OK)
        return rc;
    if (c->wait_status != 200) {
        DLOG_ERROR(&c->opt.log, "hub: twin GET answered %d", c->wait_status);
        return DPS_E_REJECTED;
    }
    if (c->wait_too_large) {
        *out_len = c->wait_len + 1;
        return DPS_E_NO_SPACE;
    }
    *out_len = c->wait_len;
    return DPS_OK;
}

dps_result dps_hub_client_twin_report(dps_hub_client *c, const char *json, size_t len,
                                      int64_t *new_version)
{
    assert(c != NULL && json != NULL);
    dps_result rc = twin_request(c, false, json, len, NULL, 0);
    if (rc != DPS_OK)
        return rc;
    if (c->wait_status != 204 && c->wait_status != 200) {
        DLOG_ERROR(&c->opt.log, "hub: reported patch answered %d", c->wait_status);
        return DPS_E_REJECTED;
    }
    if (new_version != NULL)
        *new_version = c->wait_version;
    return DPS_OK;
}

dps_result dps_hub_client_poll(dps_hub_client *c, uint32_t timeout_ms)
{
    assert(c != NULL);
    dps_result rc = ready(c);
    if (rc != DPS_OK)
        return rc;
    int64_t deadline = dps__deadline_in(timeout_ms);
    for (;;) {
        if (stopped(c))
            return DPS_E_CANCELLED;
        int64_t now = dps_monotonic_ms();
        if (now >= c->renew_at_ms) {
            DLOG_INFO(&c->opt.log, "hub: renewing the SAS token (reconnecting)");
            rc = dps_hub_client_reconnect(c);
            if (rc != DPS_OK)
                return rc;
            continue;
        }
        int64_t until = now + POLL_SLICE_MS;
        if (until > deadline)
            until = deadline;
        if (until > c->renew_at_ms)
            until = c->renew_at_ms;
        rc = dps__mqtt_pump(&c->mqtt, until);
        if (rc == DPS_E_TIMEOUT)
            rc = DPS_OK;
        if (rc != DPS_OK)
            return rc;
        if (dps_monotonic_ms() >= deadline)
            return DPS_OK;
    }
}
