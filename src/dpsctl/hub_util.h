/* Text-level helpers of the hub commands, kept free of libcurl so the unit
 * tests can compile them in: a Server-Sent Events parser (monitor-events),
 * the C2D property list, thumbprint and JSON value checks, and the one-line
 * rendering of a telemetry event. */
#ifndef DPSCTL_HUB_UTIL_H
#define DPSCTL_HUB_UTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/dynbuf.h"
#include "output.h"

/* ---- Server-Sent Events (the WHATWG event-stream format) */

/* Called for each complete event: type ("message" when the stream named
 * none), its id (empty when none was ever given) and the data lines joined
 * by '\n'. Returns 0 to go on, > 0 to stop, < 0 on failure. */
typedef int (*dpsctl_sse_fn)(void *arg, const char *event, const char *id, const char *data,
                             size_t len);

typedef struct {
    dps_buf line;   /* the line being read, carried across chunks */
    dps_buf data;   /* data lines of the event being read */
    char event[64]; /* event field of the event being read, "" for none */
    char id[64];    /* last event ID seen (it persists across events) */
    bool after_cr;  /* the previous chunk ended in CR: a leading LF belongs to it */
} dpsctl_sse;

/* max bounds one line and one event's data (hubd skips events over 2 MiB). */
void dpsctl_sse_init(dpsctl_sse *p, size_t max);
void dpsctl_sse_free(dpsctl_sse *p);
/* Feeds len bytes. Returns 0, the first non-zero value fn returned (the rest
 * of buf is then left unread), or -2 when a line or an event exceeds max. */
int dpsctl_sse_feed(dpsctl_sse *p, const char *buf, size_t len, dpsctl_sse_fn fn, void *arg);

/* ---- cloud-to-device properties */

/* Most application properties hubd takes per C2D message, and their sizes
 * (docs/hubd-api.md). */
#define DPSCTL_C2D_MAX_PROPS 32
#define DPSCTL_C2D_MAX_PROP_NAME 128
#define DPSCTL_C2D_MAX_PROP_VALUE 1024

/* Parses "name=value,name2=value2" (',' or ';' between pairs; empty pairs
 * are skipped) into a NULL-terminated array of "x-hubd-prop-<name>: <value>"
 * header lines in libcurl's spelling ("x-hubd-prop-<name>;" for an empty
 * value). Names must be HTTP header tokens and unique (any case);
 * values must not hold control characters. NULL with a reason in err.
 * Free with dpsctl_strv_free. */
char **dpsctl_c2d_prop_headers(const char *text, char *err, size_t errlen);
void dpsctl_strv_free(char **v);

/* ---- values */

/* 40 (SHA-1) or 64 (SHA-256) hex digits. */
bool dpsctl_thumbprint_valid(const char *text);

/* Any JSON value (object, array, string, number, true, false, null), inline
 * or "@path" (a file of at most max bytes). NULL with a reason in err. */
json_t *dpsctl_parse_json_value(const char *text, size_t max, char *err, size_t errlen);

/* One telemetry event (the data of hubd's SSE event) as one line without
 * the newline: compact JSON (json), "time device body [props]" (table), or
 * sequence, time, device, body and properties separated by tabs (tsv).
 * Control characters in the body become spaces in table and tsv. Returns a
 * new string, NULL without memory. */
char *dpsctl_event_line(const json_t *ev, dpsctl_output_format fmt);

#endif
