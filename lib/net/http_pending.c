/* Deferred and streamed responses (http_pending.h): the transport-neutral
 * part, dispatching to the transport's operations. */
#include "net/http_pending.h"

dps_http_pending *dps_http_defer(const dps_http_request *req)
{
    if (req == NULL || req->defer == NULL)
        return NULL;
    return req->defer(req->transport);
}

void dps_http_pending_set_cancel(dps_http_pending *p, dps_http_cancel_fn fn, void *arg)
{
    p->on_cancel = fn;
    p->cancel_arg = arg;
}

void dps_http_pending_complete(dps_http_pending *p, dps_http_response *res)
{
    p->ops->complete(p, res);
}

int dps_http_pending_stream_start(dps_http_pending *p, int status, const char *content_type)
{
    return p->gone ? -1 : p->ops->stream_start(p, status, content_type);
}

int dps_http_pending_stream_write(dps_http_pending *p, const void *data, size_t len)
{
    return p->gone ? -1 : p->ops->stream_write(p, data, len);
}

void dps_http_pending_stream_end(dps_http_pending *p)
{
    p->ops->stream_end(p);
}

void dps_http_pending_abort(dps_http_pending *p)
{
    p->ops->abort(p);
}

void dps_http_pending_gone(dps_http_pending *p)
{
    if (p->gone)
        return;
    p->gone = true;
    dps_http_cancel_fn fn = p->on_cancel;
    p->on_cancel = NULL;
    if (fn != NULL)
        fn(p->cancel_arg); /* may free p: nothing after this */
}
