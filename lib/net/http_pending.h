/* Answering a request later: deferred responses (a direct method waits for
 * the device) and streamed responses (Server-Sent Events).
 *
 * A handler calls dps_http_defer(req) and returns without filling res; the
 * transport keeps the connection open. The handler's code then finishes the
 * pending request exactly once, with dps_http_pending_complete (a whole
 * response), dps_http_pending_stream_end (after stream_start / writes) or
 * dps_http_pending_abort (drop the connection); each frees the pending.
 * The request struct itself is gone when the handler returns: copy what is
 * needed later.
 *
 * When the client goes away first, the cancel callback (if set) is called
 * once, from the transport's event loop; afterwards finishing calls only
 * free the pending, and stream writes fail. The callback may finish the
 * pending itself. */
#ifndef DPS_NET_HTTP_PENDING_H
#define DPS_NET_HTTP_PENDING_H

#include <stdbool.h>
#include <stddef.h>

#include "net/http_request.h"

/* Bytes a stream may have queued for a client that does not read; a write
 * beyond it fails and the owner drops the stream. */
#define DPS_HTTP_STREAM_MAX_BUFFERED (1024 * 1024)

typedef void (*dps_http_cancel_fn)(void *arg);

/* What a transport implements; tests can build fakes on it. Each finishing
 * operation frees p. */
typedef struct {
    void (*complete)(dps_http_pending *p, dps_http_response *res);
    int (*stream_start)(dps_http_pending *p, int status, const char *content_type);
    int (*stream_write)(dps_http_pending *p, const void *data, size_t len);
    void (*stream_end)(dps_http_pending *p);
    void (*abort)(dps_http_pending *p);
} dps_http_pending_ops;

struct dps_http_pending {
    const dps_http_pending_ops *ops;
    dps_http_cancel_fn on_cancel;
    void *cancel_arg;
    bool gone; /* the client went away */
};

/* The pending form of req, or NULL when its transport cannot defer (the
 * handler must then answer now). Calling it twice gives the same pending. */
dps_http_pending *dps_http_defer(const dps_http_request *req);

void dps_http_pending_set_cancel(dps_http_pending *p, dps_http_cancel_fn fn, void *arg);

/* Sends res (its content is taken and res emptied) and frees p. */
void dps_http_pending_complete(dps_http_pending *p, dps_http_response *res);

/* Starts a chunked response (Cache-Control: no-cache added).
 * 0, or -1 when the client is gone. */
int dps_http_pending_stream_start(dps_http_pending *p, int status, const char *content_type);
/* Queues bytes; -1 when the client is gone or has more than
 * DPS_HTTP_STREAM_MAX_BUFFERED bytes unread. */
int dps_http_pending_stream_write(dps_http_pending *p, const void *data, size_t len);
/* Ends the stream (or answers 500 if it never started) and frees p. */
void dps_http_pending_stream_end(dps_http_pending *p);
/* Closes the connection without a proper end and frees p. */
void dps_http_pending_abort(dps_http_pending *p);

/* For transports: the client went away. Marks p and calls the cancel
 * callback once; p may be freed by that callback, so the transport must not
 * touch p afterwards. */
void dps_http_pending_gone(dps_http_pending *p);

#endif
