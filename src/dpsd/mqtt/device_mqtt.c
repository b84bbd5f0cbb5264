/* DPS over MQTT (device_mqtt.h): the DPS protocol as lib/mqttsrv's callback
 * table. CONNECT is checked and authenticated by the engine; each request
 * publish becomes one dps_reg_request and the engine's answer one response
 * publish. The engine answers before it returns (registration.h), so a
 * request is finished, response and PUBACK queued, when on_packet returns.
 *
 * Connection state: the parsed username and a copy of the SAS token (the
 * engine checks it again on every request: a token may expire while the
 * device stays connected), wiped when the connection is freed; for X.509
 * devices, references to the TLS client certificate and chain, which the
 * engine attests on every request as well (an enrollment may change while
 * the device stays connected). */
#include "mqtt/device_mqtt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "common/secret.h"
#include "common/timeutil.h"
#include "common/urlcode.h"
#include "engine/registration.h"
#include "mqtt/device_rules.h"
#include "mqttsrv/mqtt_server.h"

/* ---- caps (style.md practice 3) ------------------------------------------ */

/* Before CONNECT is accepted: a username plus a SAS token is well under
 * 2 KiB. */
#define MAX_PACKET_PREAUTH (16 * 1024)
/* A register payload may be as large as a DPS message (96 KiB); the rest is
 * the topic and headers. */
#define MAX_PACKET (DPS_JSON_MAX_BODY + 2048)
/* A SAS token for a 128-character registration ID is about 600 bytes. */
#define MAX_PASSWORD 4096
/* Responses are small and answer one request each; a device that lets this
 * much pile up is not reading. */
#define MAX_OUTPUT (256 * 1024)
/* Devices subscribe to one filter; room for a few refused ones. */
#define MAX_FILTERS 8
/* Requests are answered one by one; a device acknowledges each response. */
#define MAX_INFLIGHT 16
#define CONNECT_TIMEOUT_S 10
#define LINGER_S 5
#define KEEPALIVE_CAP_S 1767

struct dpsd_mqtt_endpoint {
    struct dps_engine *engine;
    dps_mqttsrv *srv;
};

typedef struct {
    dpsd_mqtt_username user;
    char *sas;       /* NUL-terminated copy of the password (a secret), or NULL */
    /* The TLS client certificate and the chain sent after it (references
     * taken at CONNECT: lib/mqttsrv lends them for on_connect only), for
     * X.509 devices; NULL otherwise. */
    X509 *leaf;
    STACK_OF(X509) *chain;
    int res_qos;     /* granted QoS of $dps/registrations/res/#, -1 = not subscribed */
} dps_conn;

static void conn_state_free(dps_conn *st)
{
    dps_free_secret_string(st->sas);
    X509_free(st->leaf);
    sk_X509_pop_free(st->chain, X509_free);
    free(st);
}

/* ---- answers --------------------------------------------------------------- */

/* What the engine answered, kept for building the response publish. */
typedef struct {
    bool answered;
    int status;
    int retry_after;
    char *payload; /* JSON text, never empty */
} answer_copy;

static void on_answer(void *arg, const dps_reg_answer *a)
{
    answer_copy *out = arg;
    out->answered = true;
    out->status = a->status;
    out->retry_after = a->retry_after;
    if (a->status < 400)
        out->payload = a->body != NULL ? json_dumps(a->body, JSON_COMPACT | JSON_PRESERVE_ORDER)
                                       : strdup("{}"); /* never empty: Node parses it */
    else
        out->payload = dpsd_mqtt_error_payload(a->error_code != 0 ? a->error_code
                                                                  : a->status * 1000 + 1,
                                               a->message, dps_now_ns());
}

static void answer_error(answer_copy *out, int error_code, const char *message)
{
    dps_reg_answer a = {.status = error_code / 1000, .error_code = error_code, .message = message};
    on_answer(out, &a);
}

/* Publishes the response to the request with raw $rid rid, at the QoS the
 * response filter was granted; without that subscription MQTT has nobody
 * to deliver to. */
static void respond(dps_mqttsrv_conn *c, dps_conn *st, dps_mqtt_str rid, const answer_copy *a)
{
    if (st->res_qos < 0) {
        log_debug("dps-mqtt: %s is not subscribed to %s; response %d dropped",
                  st->user.registration_id, DPSD_MQTT_RESPONSE_FILTER, a->status);
        return;
    }
    if (a->payload == NULL) {
        log_error("dps-mqtt: out of memory answering %s", st->user.registration_id);
        return;
    }
    char topic[DPSD_MQTT_MAX_RESPONSE_TOPIC];
    int retry = a->retry_after > DPS_REG_RETRY_AFTER_MAX ? DPS_REG_RETRY_AFTER_MAX : a->retry_after;
    int n = dpsd_mqtt_response_topic(a->status, rid, retry, topic, sizeof topic);
    if (n < 0)
        return; /* cannot happen: the router caps $rid */
    size_t len = strlen(a->payload);
    dps_mqttsrv_send_result r =
        dps_mqttsrv_publish(c, topic, (size_t)n, a->payload, len, (uint8_t)st->res_qos, false, NULL);
    if (r == DPS_MQTTSRV_BUSY) {
        /* The device leaves its responses unacknowledged: better without
         * the guarantee than not at all. */
        r = dps_mqttsrv_publish(c, topic, (size_t)n, a->payload, len, 0, false, NULL);
    }
    /* CLOSED: the connection is gone (output over its cap); nothing to do. */
    (void)r;
}

/* ---- CONNECT (§6.1) -------------------------------------------------------- */

static void refuse(dps_mqttsrv_verdict *out, uint8_t code, const char *why)
{
    out->code = code;
    out->why = why;
}

typedef struct {
    int status;
    int error_code;
    char message[200];
} auth_result;

static void on_auth(void *arg, const dps_reg_answer *a)
{
    auth_result *r = arg;
    r->status = a->status;
    r->error_code = a->error_code;
    snprintf(r->message, sizeof r->message, "%s", a->message != NULL ? a->message : "");
}

/* The engine authenticates at CONNECT (device-api.md §6.1, §8.3 step 7): a
 * bad or expired SAS, or a device no enrollment knows, is refused with
 * CONNACK 5 before any request. */
static void on_connect(void *arg, dps_mqttsrv_conn *c, const dps_mqtt_connect *k,
                       const dps_mqttsrv_peer *peer, dps_mqttsrv_verdict *out)
{
    dpsd_mqtt_endpoint *ep = arg;
    if (k->client_id.len == 0) {
        refuse(out, DPS_MQTT_CONNACK_ID_REJECTED, "empty client ID");
        return;
    }
    if (!k->has_username) {
        refuse(out, DPS_MQTT_CONNACK_NOT_AUTHORIZED, "no username");
        return;
    }
    dps_conn *st = calloc(1, sizeof *st);
    if (st == NULL) {
        refuse(out, DPS_MQTT_CONNACK_UNAVAILABLE, "out of memory");
        return;
    }
    st->res_qos = -1;
    const char *why = NULL;
    if (dpsd_mqtt_parse_username(k->username, &st->user, &why) != 0) {
        refuse(out, DPS_MQTT_CONNACK_NOT_AUTHORIZED, why);
        goto fail;
    }
    /* The registration ID in the username must be the client ID, byte for
     * byte (§6.1): every SDK sends the same string twice. */
    if (strlen(st->user.registration_id) != k->client_id.len ||
        memcmp(st->user.registration_id, k->client_id.ptr, k->client_id.len) != 0) {
        refuse(out, DPS_MQTT_CONNACK_ID_REJECTED,
               "registration ID in the username differs from the client ID");
        goto fail;
    }
    /* The cap is checked before the (costly) authentication. */
    if (!dps_mqttsrv_take_slot(c, false)) {
        refuse(out, DPS_MQTT_CONNACK_UNAVAILABLE, "connection cap reached");
        goto fail;
    }
    if (k->has_password && k->password.len > 0) {
        if (k->password.len > MAX_PASSWORD || memchr(k->password.ptr, '\0', k->password.len)) {
            refuse(out, DPS_MQTT_CONNACK_NOT_AUTHORIZED, "unusable password");
            goto fail;
        }
        st->sas = malloc(k->password.len + 1);
        if (st->sas == NULL) {
            refuse(out, DPS_MQTT_CONNACK_UNAVAILABLE, "out of memory");
            goto fail;
        }
        memcpy(st->sas, k->password.ptr, k->password.len);
        st->sas[k->password.len] = '\0';
    }
    if (peer->leaf != NULL) {
        st->leaf = peer->leaf;
        X509_up_ref(st->leaf);
        st->chain = peer->chain != NULL ? X509_chain_up_ref(peer->chain) : NULL;
        if (peer->chain != NULL && st->chain == NULL) {
            refuse(out, DPS_MQTT_CONNACK_UNAVAILABLE, "out of memory");
            goto fail;
        }
    }
    dps_reg_request req = {
        .transport = DPS_TRANSPORT_MQTT,
        .id_scope = st->user.id_scope,
        .registration_id = st->user.registration_id,
        .api_version = st->user.has_api_version ? st->user.api_version : NULL,
        .sas_token = st->sas,
        .client_leaf = st->leaf,
        .client_chain = st->chain,
        .peer = peer->addr,
    };
    auth_result ar = {.status = 500, .message = "no answer"};
    dps_engine_authenticate(ep->engine, &req, on_auth, &ar);
    if (ar.status != 200) {
        log_info("dps-mqtt auth failed registration=%s peer=%s status=%d code=%d reason=\"%s\"",
                 st->user.registration_id, peer->addr, ar.status, ar.error_code, ar.message);
        uint8_t code = DPS_MQTT_CONNACK_NOT_AUTHORIZED;
        if (ar.status == 400)
            code = DPS_MQTT_CONNACK_ID_REJECTED; /* the registration ID's syntax */
        else if (ar.status == 429 || ar.status >= 500)
            code = DPS_MQTT_CONNACK_UNAVAILABLE; /* throttled or the store failed */
        refuse(out, code, ar.status == 400 ? "invalid registration ID" : "not authorized");
        goto fail;
    }
    log_info("dps-mqtt connect registration=%s scope=%s peer=%s api-version=%s client=\"%s\" "
             "keepalive=%u",
             st->user.registration_id, st->user.id_scope, peer->addr,
             st->user.has_api_version ? st->user.api_version : "-", st->user.client_version,
             (unsigned)k->keep_alive);
    /* Clean session is ignored: DPS keeps no sessions (§6.1). */
    out->state = st;
    return;

fail:
    conn_state_free(st);
}

/* ---- requests (§6.3) ------------------------------------------------------- */

static void handle_register(dpsd_mqtt_endpoint *ep, dps_mqttsrv_conn *c, dps_conn *st,
                            const dps_mqtt_publish *p, dps_mqtt_str rid)
{
    answer_copy a = {0};
    if (dpsd_mqtt_payload_has_tpm(p->payload.ptr, p->payload.len)) {
        answer_error(&a, DPS_REG_ERR_BAD_REQUEST,
                     "TPM attestation is not available over MQTT; register over HTTPS");
    } else {
        /* The registration ID always comes from the connection; the engine
         * checks one in the payload against it and treats an empty (or
         * blank) payload as {} (the C# and Python variants). */
        dps_reg_request req = {
            .transport = DPS_TRANSPORT_MQTT,
            .id_scope = st->user.id_scope,
            .registration_id = st->user.registration_id,
            .api_version = st->user.has_api_version ? st->user.api_version : NULL,
            .sas_token = st->sas,
            .client_leaf = st->leaf,
            .client_chain = st->chain,
            .body = (const char *)p->payload.ptr,
            .body_len = p->payload.len,
            .peer = dps_mqttsrv_conn_peer(c),
        };
        dps_engine_register(ep->engine, &req, on_answer, &a);
    }
    if (!a.answered)
        answer_error(&a, DPS_REG_ERR_INTERNAL, "the registration engine did not answer");
    respond(c, st, rid, &a);
    free(a.payload);
}

static void handle_status(dpsd_mqtt_endpoint *ep, dps_mqttsrv_conn *c, dps_conn *st,
                          const dpsd_mqtt_route *r)
{
    answer_copy a = {0};
    char *opid = r->has_operation_id
                     ? dps_url_decode(r->operation_id.ptr, r->operation_id.len, false)
                     : NULL;
    if (!r->has_operation_id || r->operation_id.len == 0) {
        answer_error(&a, DPS_REG_ERR_BAD_REQUEST, "operationId is required in the topic");
    } else if (opid == NULL) {
        answer_error(&a, DPS_REG_ERR_BAD_REQUEST, "operationId is not properly encoded");
    } else {
        /* The payload is ignored: empty, " " or the registration JSON again,
         * depending on the SDK (§6.3). */
        dps_reg_request req = {
            .transport = DPS_TRANSPORT_MQTT,
            .id_scope = st->user.id_scope,
            .registration_id = st->user.registration_id,
            .api_version = st->user.has_api_version ? st->user.api_version : NULL,
            .operation_id = opid,
            .sas_token = st->sas,
            .client_leaf = st->leaf,
            .client_chain = st->chain,
            .peer = dps_mqttsrv_conn_peer(c),
        };
        dps_engine_operation_status(ep->engine, &req, on_answer, &a);
    }
    free(opid);
    if (!a.answered)
        answer_error(&a, DPS_REG_ERR_INTERNAL, "the registration engine did not answer");
    respond(c, st, r->rid, &a);
    free(a.payload);
}

static int on_publish(dpsd_mqtt_endpoint *ep, dps_mqttsrv_conn *c, dps_conn *st,
                      const dps_mqtt_publish *p, const char **why)
{
    dpsd_mqtt_route r;
    switch (dpsd_mqtt_route_publish(p->topic, &r)) {
    case DPSD_MQTT_ROUTE_REFUSED:
        log_info("dps-mqtt: %s published to \"%.*s\": %s", st->user.registration_id,
                 (int)(p->topic.len > 200 ? 200 : p->topic.len), p->topic.ptr, r.why);
        *why = r.why;
        return -1;
    case DPSD_MQTT_ROUTE_REGISTER:
        handle_register(ep, c, st, p, r.rid);
        break;
    case DPSD_MQTT_ROUTE_STATUS:
        handle_status(ep, c, st, &r);
        break;
    }
    /* After the response, as the request's acknowledgement (§6.3: PUBACK
     * every QoS 1 publish). A failure has closed the connection. */
    if (p->qos == 1)
        (void)dps_mqttsrv_puback(c, p->packet_id);
    return 0;
}

static void on_subscribe(dps_mqttsrv_conn *c, dps_conn *st, const dps_mqtt_subscribe *s)
{
    uint8_t codes[MAX_FILTERS];
    for (size_t i = 0; i < s->count && i < MAX_FILTERS; i++) {
        if (dpsd_mqtt_filter_allowed(s->subs[i].filter)) {
            codes[i] = dpsd_mqtt_granted_qos(s->subs[i].qos);
            st->res_qos = codes[i];
        } else {
            codes[i] = DPS_MQTT_SUBACK_FAILURE;
            log_debug("dps-mqtt: %s: refused subscription %.*s", st->user.registration_id,
                      (int)s->subs[i].filter.len, s->subs[i].filter.ptr);
        }
    }
    (void)dps_mqttsrv_suback(c, s->packet_id, codes, s->count);
}

static void on_unsubscribe(dps_mqttsrv_conn *c, dps_conn *st, const dps_mqtt_subscribe *s)
{
    for (size_t i = 0; i < s->count; i++) {
        if (dpsd_mqtt_filter_allowed(s->subs[i].filter))
            st->res_qos = -1;
    }
    (void)dps_mqttsrv_unsuback(c, s->packet_id);
}

static int on_packet(void *arg, dps_mqttsrv_conn *c, const dps_mqtt_packet *p, const char **why)
{
    dps_conn *st = dps_mqttsrv_conn_state(c);
    switch (p->type) {
    case DPS_MQTT_PUBLISH:
        return on_publish(arg, c, st, &p->u.publish, why);
    case DPS_MQTT_SUBSCRIBE:
        on_subscribe(c, st, &p->u.subscribe);
        return 0;
    case DPS_MQTT_UNSUBSCRIBE:
        on_unsubscribe(c, st, &p->u.subscribe);
        return 0;
    default:
        return 0; /* PUBACK of a response, PINGREQ: nothing to do */
    }
}

static void on_close(void *arg, dps_mqttsrv_conn *c, const char *why)
{
    (void)arg;
    const dps_conn *st = dps_mqttsrv_conn_state(c);
    log_info("dps-mqtt disconnect registration=%s peer=%s reason=\"%s\"",
             st->user.registration_id, dps_mqttsrv_conn_peer(c), why);
}

static void on_free(void *arg, void *state)
{
    (void)arg;
    conn_state_free(state);
}

static const dps_mqttsrv_callbacks protocol = {
    .on_connect = on_connect,
    .on_packet = on_packet,
    .on_close = on_close,
    .on_free = on_free,
};

/* ---- the endpoint ---------------------------------------------------------- */

dpsd_mqtt_endpoint *dpsd_mqtt_start(SSL_CTX *tls, const dpsd_mqtt_options *opt, char *err,
                                    size_t errlen)
{
    if (opt == NULL || opt->engine == NULL || opt->base == NULL) {
        snprintf(err, errlen, "MQTT endpoint started without an event loop or engine");
        return NULL;
    }
    dpsd_mqtt_endpoint *ep = calloc(1, sizeof *ep);
    if (ep == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ep->engine = opt->engine;
    _Static_assert(MAX_FILTERS <= 64, "lib/mqttsrv decodes at most 64 filters");
    dps_mqttsrv_options o = {
        .listen = opt->listen,
        .nlisten = opt->nlisten,
        .cb = &protocol,
        .arg = ep,
        .max_packet_preauth = MAX_PACKET_PREAUTH,
        .max_packet = MAX_PACKET,
        .max_output = MAX_OUTPUT,
        .max_filters = MAX_FILTERS,
        .max_connections = opt->max_connections,
        .connect_timeout_s = CONNECT_TIMEOUT_S,
        .linger_s = LINGER_S,
        .keepalive_cap_s = KEEPALIVE_CAP_S,
        .max_inflight = MAX_INFLIGHT,
        .log_name = "dps-mqtt",
    };
    ep->srv = dps_mqttsrv_start(opt->base, tls, &o, err, errlen);
    if (ep->srv == NULL) {
        free(ep);
        return NULL;
    }
    return ep;
}

size_t dpsd_mqtt_listener_count(const dpsd_mqtt_endpoint *ep)
{
    return ep != NULL ? dps_mqttsrv_listener_count(ep->srv) : 0;
}

const char *dpsd_mqtt_listener_url(const dpsd_mqtt_endpoint *ep, size_t i)
{
    return ep != NULL ? dps_mqttsrv_listener_url(ep->srv, i) : NULL;
}

uint16_t dpsd_mqtt_listener_port(const dpsd_mqtt_endpoint *ep, size_t i)
{
    return ep != NULL ? dps_mqttsrv_listener_port(ep->srv, i) : 0;
}

size_t dpsd_mqtt_connection_count(const dpsd_mqtt_endpoint *ep)
{
    return ep != NULL ? dps_mqttsrv_connection_count(ep->srv) : 0;
}

void dpsd_mqtt_free(dpsd_mqtt_endpoint **epp)
{
    if (epp == NULL || *epp == NULL)
        return;
    dps_mqttsrv_free(&(*epp)->srv);
    free(*epp);
    *epp = NULL;
}
