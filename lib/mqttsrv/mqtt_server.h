/* The protocol-independent half of an MQTT 3.1.1 server over TLS, shared by
 * hubd's device endpoint and dpsd's DPS-over-MQTT endpoint: listeners,
 * accept (TCP_NODELAY, a connection cap), one bufferevent_openssl per
 * connection, input framing through lib/mqtt with a small size cap before
 * CONNECT and a larger one after, the CONNECT deadline, keep-alive, output
 * with a high-water mark, packet IDs for QoS 1 publishes, and deferred
 * freeing. What a connection means (who may connect, which topics exist)
 * is the protocol's, plugged in as a small callback table.
 *
 *   AWAIT_CONNECT --on_connect accepts--> ACTIVE --anything fatal--> CLOSED
 *        |  \--on_connect refuses--> LINGER (CONNACK flushing) --> CLOSED
 *        \--deadline / other packet first / bad bytes--> CLOSED
 *
 * The server itself answers PINGREQ, closes on DISCONNECT, a second
 * CONNECT, the QoS 2 flow (a QoS 2 PUBLISH, PUBREC, PUBREL, PUBCOMP),
 * server-to-client packet types, malformed or oversized packets and
 * SUBSCRIBE/UNSUBSCRIBE with more filters than max_filters. Everything runs
 * on one event-loop thread and nothing blocks it. docs/internals/mqttsrv.md
 * is the manual. */
#ifndef DPS_MQTTSRV_MQTT_SERVER_H
#define DPS_MQTTSRV_MQTT_SERVER_H

#include <event2/event.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mqtt/mqtt.h"
#include "net/listen_addr.h"

#define DPS_MQTTSRV_MAX_LISTENERS 8

/* Defaults for the options left 0 (see dps_mqttsrv_options). */
#define DPS_MQTTSRV_DEFAULT_MAX_PACKET_PREAUTH (16 * 1024)
#define DPS_MQTTSRV_DEFAULT_MAX_PACKET (64 * 1024)
#define DPS_MQTTSRV_DEFAULT_MAX_OUTPUT (1024 * 1024)
#define DPS_MQTTSRV_DEFAULT_MAX_FILTERS 8
#define DPS_MQTTSRV_DEFAULT_MAX_CONNECTIONS 100000
#define DPS_MQTTSRV_DEFAULT_CONNECT_TIMEOUT_S 10
#define DPS_MQTTSRV_DEFAULT_LINGER_S 5
#define DPS_MQTTSRV_DEFAULT_KEEPALIVE_CAP_S 1767 /* hub.md 8.1 */
#define DPS_MQTTSRV_DEFAULT_MAX_INFLIGHT 64
/* Sockets still in TLS or before CONNECT may exceed the connection cap by
 * this margin, so that they can be told CONNACK 3 instead of being reset. */
#define DPS_MQTTSRV_PREAUTH_MARGIN(max) ((max) / 8 + 64)

typedef struct dps_mqttsrv dps_mqttsrv;
typedef struct dps_mqttsrv_conn dps_mqttsrv_conn;

/* What the TLS layer saw of the client: a certificate chain when the
 * client presented one (the SSL_CTX must ask for it; OpenSSL does not
 * judge it, the protocol does), and the peer address for logs. The
 * pointers are valid during the callback only (take references to keep
 * them). */
typedef struct {
    X509 *leaf;             /* NULL when the client sent no certificate */
    /* SSL_get_peer_cert_chain: on a server, what the client sent after its
     * leaf (its intermediates); NULL or empty when nothing came. */
    STACK_OF(X509) *chain;
    const char *addr;       /* "192.0.2.1:50000" / "[::1]:50000" */
} dps_mqttsrv_peer;

/* on_connect's verdict. */
typedef struct {
    uint8_t code;         /* DPS_MQTT_CONNACK_*: 0 accepts */
    bool session_present; /* with code 0 only */
    /* With code 0: the protocol's per-connection state (dps_mqttsrv_conn_state).
     * Must stay NULL with a refusal. */
    void *state;
    const char *why;      /* with a refusal: a short reason for the log */
} dps_mqttsrv_verdict;

/* The protocol. arg is dps_mqttsrv_options.arg. Callbacks may send on and
 * close any connection, their own included; none of them may free a
 * connection (the server does, later). */
typedef struct {
    /* A well-formed CONNECT at protocol level 4 arrived (the server has
     * answered every other first packet itself). Fill *out; out->code is 0
     * and out->why NULL on entry. With code 0 the connection becomes
     * ACTIVE, counts against the connection cap (see
     * dps_mqttsrv_take_slot; CONNACK 3 when the cap is reached), the
     * keep-alive starts and CONNACK 0 is queued. From then on on_close
     * and on_free are each called exactly once for out->state. With any
     * other code the CONNACK is sent, nothing more is read and the
     * connection closes once the CONNACK is written. Nothing may be sent
     * to the client from inside on_connect: CONNACK goes first. */
    void (*on_connect)(void *arg, dps_mqttsrv_conn *c, const dps_mqtt_connect *k,
                       const dps_mqttsrv_peer *peer, dps_mqttsrv_verdict *out);
    /* Optional: CONNACK 0 has been queued; the protocol may send what was
     * waiting for the client. */
    void (*on_accepted)(void *arg, dps_mqttsrv_conn *c);
    /* A well-formed packet on an ACTIVE connection: PUBLISH (QoS 0 or 1),
     * PUBACK (after the server released its packet ID), SUBSCRIBE,
     * UNSUBSCRIBE (at most max_filters filters), PINGREQ (already answered:
     * for activity tracking only). Views point into the input buffer and
     * die when the callback returns. Return 0, or -1 to close the
     * connection with *why (which may stay NULL) as the reason. The
     * protocol sends PUBACK, SUBACK and UNSUBACK itself, so it can put a
     * response before the acknowledgement. */
    int (*on_packet)(void *arg, dps_mqttsrv_conn *c, const dps_mqtt_packet *p, const char **why);
    /* Optional: an ACTIVE connection closed (why says why). Called at once,
     * from inside dps_mqttsrv_close, so the protocol can unlink the
     * connection before anything else happens; the state must stay
     * readable until on_free, because the close may happen deep inside
     * one of its own callbacks. */
    void (*on_close)(void *arg, dps_mqttsrv_conn *c, const char *why);
    /* Optional: frees state, later, from the loop, when no callback of the
     * connection is running any more. */
    void (*on_free)(void *arg, void *state);
} dps_mqttsrv_callbacks;

typedef struct {
    const dps_listen_addr *listen; /* 1..DPS_MQTTSRV_MAX_LISTENERS; port 0 picks one */
    size_t nlisten;
    const dps_mqttsrv_callbacks *cb; /* required; must outlive the server */
    void *arg;
    /* Caps and times; 0 takes the DPS_MQTTSRV_DEFAULT_* value. */
    size_t max_packet_preauth; /* whole packet, until CONNECT is accepted */
    size_t max_packet;         /* whole packet, afterwards */
    size_t max_output;         /* bytes queued to one client: more closes it */
    size_t max_filters;        /* per SUBSCRIBE/UNSUBSCRIBE; more closes */
    size_t max_connections;    /* authenticated connections */
    int connect_timeout_s;     /* TLS handshake plus CONNECT */
    int linger_s;              /* a refused client's time to read its CONNACK */
    int keepalive_cap_s;       /* ceiling of the 1.5 x keep-alive timeout */
    size_t max_inflight;       /* unacknowledged QoS 1 publishes per connection */
    const char *log_name;      /* prefix of log lines; NULL = "mqtt" */
} dps_mqttsrv_options;

/* Binds every address and starts serving on base. tls is shared (the server
 * takes its own reference). Returns NULL with the reason in err; nothing
 * stays bound then. */
dps_mqttsrv *dps_mqttsrv_start(struct event_base *base, SSL_CTX *tls,
                               const dps_mqttsrv_options *opt, char *err, size_t errlen);
/* Closes the listeners and every connection (on_close, then on_free, for
 * each ACTIVE one) and frees the server; sets *s to NULL. Must not be
 * called from inside a callback of this server. */
void dps_mqttsrv_free(dps_mqttsrv **s);

size_t dps_mqttsrv_listener_count(const dps_mqttsrv *s);
/* "mqtts://127.0.0.1:8883" / "mqtts://[::1]:8883" with the bound port;
 * NULL when i is out of range. */
const char *dps_mqttsrv_listener_url(const dps_mqttsrv *s, size_t i);
uint16_t dps_mqttsrv_listener_port(const dps_mqttsrv *s, size_t i);

/* Authenticated connections allowed at once; lowering it closes nobody. */
void dps_mqttsrv_set_max_connections(dps_mqttsrv *s, size_t max);
/* Authenticated connections now. */
size_t dps_mqttsrv_connection_count(const dps_mqttsrv *s);

/* ---- a connection --------------------------------------------------------- */

/* Takes the connection's slot under the cap from inside on_connect, before
 * costly work (authentication), so a flood of CONNECTs at the cap costs no
 * signature checks. force lets one in at the cap (a client replacing its
 * own connection, whose slot is about to be freed). False when the cap is
 * reached: refuse with CONNACK 3. A refusal gives the slot back. */
bool dps_mqttsrv_take_slot(dps_mqttsrv_conn *c, bool force);

/* The protocol state from the verdict; NULL before acceptance. */
void *dps_mqttsrv_conn_state(const dps_mqttsrv_conn *c);
const char *dps_mqttsrv_conn_peer(const dps_mqttsrv_conn *c);
/* True while ACTIVE (sending is possible). */
bool dps_mqttsrv_conn_is_open(const dps_mqttsrv_conn *c);
/* QoS 1 publishes sent and not yet acknowledged. */
size_t dps_mqttsrv_conn_inflight(const dps_mqttsrv_conn *c);

/* Closes at once: on_close runs (for an ACTIVE connection), callbacks and
 * timers stop, the memory is freed on a later loop pass. Safe from any
 * callback, idempotent. */
void dps_mqttsrv_close(dps_mqttsrv_conn *c, const char *why);

/* Results of the send helpers. */
typedef enum {
    DPS_MQTTSRV_SENT = 0,
    DPS_MQTTSRV_CLOSED = -1, /* not open, or closed now (client not reading, no memory) */
    DPS_MQTTSRV_INVALID = -2, /* the codec refused the packet (a bad topic, say); still open */
    DPS_MQTTSRV_BUSY = -3,    /* QoS 1 with max_inflight unacknowledged; nothing sent */
} dps_mqttsrv_send_result;

/* Queues a PUBLISH. QoS 1 (anything above 0 is sent as 1) allocates a
 * packet ID not held by an unacknowledged publish and holds it until the
 * client's PUBACK; *used_id (may be NULL) gets it (0 for QoS 0). dup marks
 * a redelivery. */
dps_mqttsrv_send_result dps_mqttsrv_publish(dps_mqttsrv_conn *c, const char *topic,
                                            size_t topic_len, const void *payload, size_t len,
                                            uint8_t qos, bool dup, uint16_t *used_id);
dps_mqttsrv_send_result dps_mqttsrv_puback(dps_mqttsrv_conn *c, uint16_t packet_id);
dps_mqttsrv_send_result dps_mqttsrv_suback(dps_mqttsrv_conn *c, uint16_t packet_id,
                                           const uint8_t *codes, size_t n);
dps_mqttsrv_send_result dps_mqttsrv_unsuback(dps_mqttsrv_conn *c, uint16_t packet_id);
/* Any other packet a server may send (CONNACK aside). */
dps_mqttsrv_send_result dps_mqttsrv_send(dps_mqttsrv_conn *c, const dps_mqtt_packet *p);

/* ---- pure rules ------------------------------------------------------------ */

/* Milliseconds of silence after which a connection closes: 1.5 x the
 * client's keep-alive, at most cap_s seconds; 0 for a keep-alive of 0
 * (none). */
int64_t dps_mqttsrv_keepalive_timeout_ms(uint16_t keep_alive_s, int cap_s);

#endif
