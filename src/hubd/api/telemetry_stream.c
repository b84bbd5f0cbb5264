/* GET /_hubd/telemetry [project, non-Azure]: a hub's telemetry as
 * Server-Sent Events, like `az iot hub monitor-events`. Each message is
 *   id: <sequence>
 *   event: telemetry
 *   data: <hubd_telemetry_to_json, one line>
 * and a comment line every HEARTBEAT_S keeps proxies and idle timeouts
 * quiet. `since=<sequence>` (or an SSE Last-Event-ID) replays retained
 * messages after that sequence first; without it only new messages come. A
 * client that does not read is dropped once DPS_HTTP_STREAM_MAX_BUFFERED
 * bytes wait for it. */
#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "common/log.h"
#include "common/strparse.h"
#include "model/telemetry.h"
#include "net/http_pending.h"

#define HEARTBEAT_S 15
#define EVENT_MAX (2 * 1024 * 1024) /* one event's text; bigger ones are skipped */

typedef struct {
    hubd_ctx *ctx;
    dps_http_pending *pending;
    uint64_t sub;
    struct event *heartbeat;
    int depth; /* callbacks of ours running: cleanup waits for the outermost */
    bool closing;
    bool client_gone;
} stream;

static void stream_free(stream *st)
{
    if (st->sub != 0)
        hubd_telemetry_unsubscribe(st->ctx, st->sub);
    if (st->heartbeat != NULL)
        event_free(st->heartbeat);
    if (st->client_gone)
        dps_http_pending_stream_end(st->pending); /* only frees it */
    else
        dps_http_pending_abort(st->pending);
    free(st);
}

/* Ends the stream now, or at the end of the running callback. */
static void stream_close(stream *st)
{
    st->closing = true;
    if (st->depth == 0)
        stream_free(st);
}

static void on_event(void *arg, const hubd_telemetry_event *ev)
{
    stream *st = arg;
    if (st->closing)
        return;
    json_t *j = hubd_telemetry_to_json(ev);
    char *data = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    if (data == NULL)
        return;
    size_t dlen = strlen(data);
    if (dlen > EVENT_MAX) {
        log_warn("telemetry stream: message %" PRIu64 " too large to stream", ev->sequence);
        free(data);
        return;
    }
    char head[64];
    int hn = snprintf(head, sizeof head, "id: %" PRIu64 "\nevent: telemetry\ndata: ",
                      ev->sequence);
    st->depth++;
    int rc = dps_http_pending_stream_write(st->pending, head, (size_t)hn);
    if (rc == 0)
        rc = dps_http_pending_stream_write(st->pending, data, dlen);
    if (rc == 0)
        rc = dps_http_pending_stream_write(st->pending, "\n\n", 2);
    st->depth--;
    free(data);
    if (rc != 0) {
        log_info("telemetry stream dropped (client gone or not reading)");
        stream_close(st);
    } else if (st->closing && st->depth == 0) {
        stream_free(st);
    }
}

static void on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    stream *st = arg;
    if (dps_http_pending_stream_write(st->pending, ": keep-alive\n\n", 14) != 0)
        stream_close(st);
}

static void on_cancel(void *arg)
{
    stream *st = arg;
    st->client_gone = true;
    stream_close(st);
}

/* since=<n> or Last-Event-ID: <n>; HUBD_TELEMETRY_LIVE when neither. */
static int read_since(const dps_http_request *req, uint64_t *out)
{
    *out = HUBD_TELEMETRY_LIVE;
    char *q = dps_http_query_get(req, "since");
    const char *text = q != NULL ? q : dps_http_header_get(req, "Last-Event-ID");
    int rc = 0;
    if (text != NULL && text[0] != '\0') {
        int64_t v = 0;
        rc = dps_parse_int64(text, strlen(text), 0, INT64_MAX, &v);
        if (rc == 0)
            *out = (uint64_t)v;
    }
    free(q);
    return rc;
}

void hubd_api__telemetry_stream(const hubd_call *call, dps_http_response *res)
{
    hubd_ctx *ctx = call->ctx;
    uint64_t since = 0;
    if (read_since(call->req, &since) != 0) {
        hubd_api_error(res, HUBD_ERR_ARGUMENT_INVALID, "since must be a sequence number");
        return;
    }
    if (ctx->telemetry == NULL || ctx->base == NULL) {
        hubd_api_error(res, HUBD_ERR_UNAVAILABLE, "telemetry is not available");
        return;
    }
    hubd_telemetry_stats ts;
    hubd_telemetry_get_stats(ctx, call->hub, &ts);
    if (ts.subscribers >= HUBD_TELEMETRY_MAX_SUBSCRIBERS) {
        hubd_api_error(res, HUBD_ERR_THROTTLED, "hub %s has %d telemetry followers already",
                       call->hub, HUBD_TELEMETRY_MAX_SUBSCRIBERS);
        return;
    }
    dps_http_pending *p = dps_http_defer(call->req);
    if (p == NULL) {
        hubd_api_error(res, HUBD_ERR_SERVER, "this transport cannot stream");
        return;
    }
    stream *st = calloc(1, sizeof *st);
    if (st == NULL) {
        dps_http_pending_abort(p);
        return;
    }
    st->ctx = ctx;
    st->pending = p;
    dps_http_pending_set_cancel(p, on_cancel, st);
    struct timeval every = {.tv_sec = HEARTBEAT_S, .tv_usec = 0};
    st->heartbeat = event_new(ctx->base, -1, EV_PERSIST, on_heartbeat, st);
    if (st->heartbeat == NULL || event_add(st->heartbeat, &every) != 0 ||
        dps_http_pending_stream_start(p, 200, "text/event-stream") != 0 ||
        dps_http_pending_stream_write(p, ": hubd telemetry\n\n", 18) != 0) {
        stream_free(st);
        return;
    }
    /* Retained messages arrive from inside subscribe: the stream is ready. */
    st->depth++;
    st->sub = hubd_telemetry_subscribe(ctx, call->hub, since, on_event, st);
    st->depth--;
    if (st->sub == 0 || st->closing)
        stream_free(st);
}
