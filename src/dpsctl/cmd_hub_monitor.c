/* dpsctl hub monitor-events: follows the hub's telemetry, like `az iot hub
 * monitor-events`, from hubd's Server-Sent Events endpoint GET
 * /_hubd/telemetry (not an Azure API). Each event is printed as soon as it
 * arrives, one line each; the command ends cleanly (exit 0) on Ctrl-C or
 * SIGTERM, after --timeout seconds, or after --max-events events. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fields.h"
#include "hub.h"
#include "hub_util.h"

/* hubd skips events over 2 MiB; twice that bounds a line of the stream. */
#define EVENT_MAX (4u * 1024u * 1024u)
/* hubd writes a comment every 15 s: a minute of silence means the
 * connection is gone even if TCP has not noticed. */
#define IDLE_MAX_S 60
#define DURATION_MAX_S (7L * 24 * 3600)
#define MAX_EVENTS_MAX 1000000

const dpsctl_cmd_opt dpsctl_hub_monitor_opts[] = {
    {DPSCTL_OPT_DEVICE_ID, NULL, false, "show only this device's messages"},
    {DPSCTL_OPT_TIMEOUT, NULL, false,
     "stop after this many seconds, 0..604800; 0 runs until Ctrl-C (default: 0)"},
    {DPSCTL_OPT_MAX_EVENTS, NULL, false, NULL},
    DPSCTL_HUB_CONN_OPTS};

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

typedef struct {
    dpsctl_ctx *ctx;
    const char *device_id; /* filter, or NULL */
    long long max_events;  /* 0: no limit */
    long long shown;
    dpsctl_sse sse;
} monitor;

static int on_event(void *arg, const char *event, const char *id, const char *data, size_t len)
{
    monitor *m = arg;
    /* hubd names its events "telemetry"; anything else is not ours to show */
    if (strcmp(event, "telemetry") != 0)
        return 0;
    json_t *ev = json_loadb(data, len, 0, NULL);
    if (!json_is_object(ev)) {
        json_decref(ev);
        fprintf(stderr, "dpsctl: skipping event %s: its data is not a JSON object\n",
                id[0] ? id : "(no id)");
        return 0;
    }
    if (m->device_id != NULL) {
        const char *dev = json_string_value(json_object_get(ev, "deviceId"));
        if (dev == NULL || strcmp(dev, m->device_id) != 0) {
            json_decref(ev);
            return 0;
        }
    }
    char *line = dpsctl_event_line(ev, m->ctx->output);
    json_decref(ev);
    if (line == NULL) {
        fprintf(stderr, "dpsctl: out of memory\n");
        return -1;
    }
    /* flushed per event: a pipe reader (grep, jq) sees it at once */
    int wrc = printf("%s\n", line) < 0 || fflush(stdout) != 0 ? -1 : 0;
    free(line);
    if (wrc != 0) {
        fprintf(stderr, "dpsctl: cannot write the output\n");
        return -1;
    }
    m->shown++;
    return (m->max_events > 0 && m->shown >= m->max_events) ? 1 : 0;
}

static int on_data(void *arg, const char *data, size_t len)
{
    monitor *m = arg;
    int rc = dpsctl_sse_feed(&m->sse, data, len, on_event, m);
    if (rc == -2) {
        fprintf(stderr, "dpsctl: the hub sent an event longer than %u bytes\n", EVENT_MAX);
        return -1;
    }
    return rc;
}

int dpsctl_hub_monitor_events(dpsctl_ctx *ctx)
{
    long long duration = 0, max_events = 0;
    const char *t = dpsctl_opt_value(ctx, DPSCTL_OPT_TIMEOUT);
    if (t != NULL && dpsctl_parse_long(t, 0, DURATION_MAX_S, &duration) != 0)
        return dpsctl_usage(ctx, "--timeout: '%s' is not a number of seconds from 0 to %ld", t,
                            DURATION_MAX_S);
    const char *n = dpsctl_opt_value(ctx, DPSCTL_OPT_MAX_EVENTS);
    if (n != NULL && dpsctl_parse_long(n, 1, MAX_EVENTS_MAX, &max_events) != 0)
        return dpsctl_usage(ctx, "--max-events: '%s' is not a number from 1 to %d", n,
                            MAX_EVENTS_MAX);
    dpsctl_client *c;
    int rc = dpsctl_connect(ctx, &c);
    if (rc != 0)
        return rc;

    monitor m = {.ctx = ctx,
                 .device_id = dpsctl_opt_value(ctx, DPSCTL_OPT_DEVICE_ID),
                 .max_events = max_events};
    dpsctl_sse_init(&m.sse, EVENT_MAX);
    static const char *const headers[] = {"Accept: text/event-stream", "Cache-Control: no-cache",
                                          NULL};
    dpsctl_stream_opts so = {.headers = headers,
                             .duration_s = (long)duration,
                             .idle_max_s = IDLE_MAX_S,
                             .stop = &stop_requested,
                             .on_data = on_data,
                             .arg = &m};

    /* Ctrl-C is the normal way to end an open-ended monitor: it ends the
     * stream from libcurl's progress callback, and the command exits 0
     * with every printed line flushed. */
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    stop_requested = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    if (isatty(STDERR_FILENO))
        fprintf(stderr, "dpsctl: following the hub's telemetry; Ctrl-C stops\n");

    dpsctl_stream_end end;
    rc = dpsctl_stream(c, "/_hubd/telemetry", &so, &end);

    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    dpsctl_sse_free(&m.sse);
    if (rc == 0 && end == DPSCTL_STREAM_CLOSED)
        rc = dpsctl_fail("the hub ended the telemetry stream");
    return rc;
}
