/* The hub protocol on one device connection, as lib/mqttsrv's callback
 * table: CONNECT with its authentication (hub.md 8.1), the packets of an
 * authenticated device dispatched to topics.c and c2d.c, and detaching
 * from the device when the connection closes. Sockets, framing, caps,
 * keep-alive and the packets every MQTT server answers alike are
 * lib/mqttsrv's. The protocol state of a connection is its hubd_device
 * entry, which the device table owns (so there is nothing to free). */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "model/registry.h"
#include "mqtt/internal.h"

static bool copy_view(dps_mqtt_str v, char *out, size_t cap)
{
    if (v.len >= cap)
        return false;
    memcpy(out, v.ptr, v.len);
    out[v.len] = '\0';
    return true;
}

static void refuse(dps_mqttsrv_verdict *out, uint8_t code, const char *why)
{
    out->code = code;
    out->why = why;
}

static const char *auth_reason(hubd_auth_result ar)
{
    switch (ar) {
    case HUBD_AUTH_DENIED:
        return "bad credentials";
    case HUBD_AUTH_DISABLED:
        return "device disabled";
    case HUBD_AUTH_UNKNOWN_DEVICE:
        return "unknown device";
    case HUBD_AUTH_ERROR:
        return "store failure";
    case HUBD_AUTH_OK:
        break;
    }
    return "authentication failed";
}

/* The checks of hub.md 8.1 in order, each failure a CONNACK refusal. */
static void on_connect(void *arg, dps_mqttsrv_conn *c, const dps_mqtt_connect *k,
                       const dps_mqttsrv_peer *peer, dps_mqttsrv_verdict *out)
{
    hubd_ctx *ctx = arg;
    if (k->client_id.len == 0) {
        refuse(out, DPS_MQTT_CONNACK_ID_REJECTED, "empty client ID");
        return;
    }
    hubd_mqtt_username u;
    if (!k->has_username || hubd_mqtt_parse_username(k->username, &u) != 0) {
        refuse(out, DPS_MQTT_CONNACK_NOT_AUTHORIZED, "no usable username");
        return;
    }
    /* Byte for byte: device IDs are case-sensitive (hub.md 8.1). */
    if (u.device_id.len != k->client_id.len ||
        memcmp(u.device_id.ptr, k->client_id.ptr, k->client_id.len) != 0) {
        refuse(out, DPS_MQTT_CONNACK_ID_REJECTED, "username and client ID name different devices");
        return;
    }
    char hub[256];
    char canon[256];
    char id[260];
    if (!copy_view(u.hub, hub, sizeof hub) || !copy_view(k->client_id, id, sizeof id)) {
        refuse(out, DPS_MQTT_CONNACK_NOT_AUTHORIZED, "hub name or device ID too long");
        return;
    }
    if (!hubd_hub_exists(ctx, hub, canon)) {
        refuse(out, DPS_MQTT_CONNACK_NOT_AUTHORIZED, "unknown hub");
        return;
    }
    /* The cap is checked before the (costly) authentication. A device
     * replacing its own connection does not grow the count, so it is let
     * through even at the cap. */
    hubd_device *prev = hubd_devtable_find(ctx->sessions->table, canon, id);
    bool replacing = prev != NULL && prev->conn != NULL;
    if (!dps_mqttsrv_take_slot(c, replacing)) {
        refuse(out, DPS_MQTT_CONNACK_UNAVAILABLE, "connection cap reached");
        return;
    }

    bool empty_password = !k->has_password || k->password.len == 0;
    hubd_auth_result ar;
    const char *method;
    if (peer->leaf != NULL && empty_password) {
        method = "x509";
        ar = hubd_device_auth_x509(ctx, canon, id, peer->leaf, peer->chain);
    } else if (!empty_password) {
        method = "sas";
        ar = hubd_device_auth_sas(ctx, canon, id, (const char *)k->password.ptr, k->password.len);
    } else {
        method = "none";
        ar = HUBD_AUTH_DENIED;
    }
    if (ar != HUBD_AUTH_OK) {
        log_debug("mqtt auth failed hub=%s device=%s method=%s", canon, id, method);
        refuse(out,
               ar == HUBD_AUTH_ERROR ? DPS_MQTT_CONNACK_UNAVAILABLE
                                     : DPS_MQTT_CONNACK_NOT_AUTHORIZED,
               auth_reason(ar));
        return;
    }

    bool present = false;
    hubd_device *d = hubd_sessions_attach(ctx, canon, id, c, k->clean_session, &present);
    if (d == NULL) {
        refuse(out, DPS_MQTT_CONNACK_UNAVAILABLE, "device table full");
        return;
    }
    /* The will is not kept: IoT Hub's will-as-telemetry is not offered. */
    out->state = d;
    out->session_present = present;
    log_info("mqtt connect hub=%s device=%s peer=%s auth=%s clean=%d keepalive=%u present=%d",
             canon, id, peer->addr, method, k->clean_session ? 1 : 0, (unsigned)k->keep_alive,
             present ? 1 : 0);
}

static void on_accepted(void *arg, dps_mqttsrv_conn *c)
{
    hubd_device *d = hubd_conn_device(c);
    if (d != NULL && d->conn == c)
        hubd_sessions_resume(arg, d);
}

static int on_packet(void *arg, dps_mqttsrv_conn *c, const dps_mqtt_packet *p, const char **why)
{
    hubd_ctx *ctx = arg;
    hubd_device *d = hubd_conn_device(c);
    d->live.last_activity_ns = dps_now_ns();
    switch (p->type) {
    case DPS_MQTT_PUBLISH:
        return hubd_topics_publish(ctx, c, d, &p->u.publish, why);
    case DPS_MQTT_PUBACK:
        /* Acks of twin or method publishes settle nothing; they may have
         * made room in flight for C2D messages that waited for it. */
        if (!hubd_c2d_settle(ctx->sessions, d, p->u.packet_id) && d->c2d_head != NULL)
            hubd_c2d_pump(ctx->sessions, d);
        return 0;
    case DPS_MQTT_SUBSCRIBE:
        if (hubd_topics_subscribe(ctx, c, d, &p->u.subscribe) != 0) {
            *why = "bad subscribe";
            return -1;
        }
        return 0;
    case DPS_MQTT_UNSUBSCRIBE:
        (void)hubd_topics_unsubscribe(c, d, &p->u.subscribe);
        return 0;
    default:
        return 0; /* PINGREQ: answered by the server; activity noted above */
    }
}

static void on_close(void *arg, dps_mqttsrv_conn *c, const char *why)
{
    hubd_device *d = hubd_conn_device(c);
    if (d == NULL)
        return;
    log_info("mqtt disconnect hub=%s device=%s peer=%s reason=\"%s\"", hubd_device_hub(d),
             hubd_device_id(d), dps_mqttsrv_conn_peer(c), why);
    hubd_sessions_detach(arg, d, c);
}

const dps_mqttsrv_callbacks hubd_mqtt_protocol = {
    .on_connect = on_connect,
    .on_accepted = on_accepted,
    .on_packet = on_packet,
    .on_close = on_close,
    .on_free = NULL, /* the device entry belongs to the device table */
};
