/* Registry queries and statistics over one hub's devices (hub.md §5):
 *   SELECT * FROM devices [WHERE <cond> [AND <cond>]...]
 * where <cond> is `<path> = <literal>` or `<path> != <literal>` ('<>' too),
 * <path> a twin member (deviceId, status, connectionState, tags.<name>...,
 * properties.desired.<name>..., properties.reported.<name>...) and <literal> a
 * 'string' (quotes doubled inside), "string", number, true, false or null.
 * Keywords are case-insensitive, the first path segment too; deeper
 * segments and string values compare exactly. Results are twins in device
 * ID order. */
#ifndef HUBD_MODEL_DEVICE_QUERY_H
#define HUBD_MODEL_DEVICE_QUERY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "hubd.h"
#include "model/devices.h"
#include "model/registry.h"

#define HUBD_QUERY_MAX_TEXT 4096   /* bytes of query text */
#define HUBD_QUERY_MAX_CONDS 8
#define HUBD_QUERY_MAX_PATH 256    /* bytes of one path */
#define HUBD_QUERY_MAX_SEGMENTS 12 /* segments of one path */
#define HUBD_QUERY_SCAN_MAX 10000  /* records one page request examines */
#define HUBD_QUERY_DEFAULT_PAGE 100
#define HUBD_QUERY_MAX_PAGE 1000

typedef struct {
    char path[HUBD_QUERY_MAX_PATH + 1];
    json_t *value;
    bool negate;
} hubd_query_cond;

typedef struct {
    hubd_query_cond conds[HUBD_QUERY_MAX_CONDS];
    size_t nconds;
} hubd_query;

/* Parses text; -1 with the reason in hubd_last_error. Free with
 * hubd_query_free (also after a failure). */
int hubd_query_parse(const char *text, hubd_query *q);
void hubd_query_free(hubd_query *q);
/* True when the twin JSON satisfies every condition. */
bool hubd_query_matches(const hubd_query *q, const json_t *twin);

/* One page: twins of matching devices after device ID after_id (NULL:
 * from the start), at most limit of them. *next_after is the device ID to
 * continue after (caller frees) or NULL when no records follow. At most
 * HUBD_QUERY_SCAN_MAX records are examined, so a page may come back short
 * with a continuation. */
hubd_result hubd_query_run(hubd_ctx *ctx, const char *hub, const hubd_query *q,
                           const char *after_id, size_t limit, hubd_conn_fn conn, void *conn_arg,
                           json_t **items, char **next_after);

/* Legacy list (GET /devices?top=N): device JSON of the first top devices. */
hubd_result hubd_device_list(hubd_ctx *ctx, const char *hub, size_t top, hubd_conn_fn conn,
                             void *conn_arg, json_t **items);

typedef struct {
    size_t total;
    size_t enabled;
    size_t disabled;
    size_t connected;
} hubd_device_stats;

/* Counts one hub's devices (all of them: statistics are exact). */
hubd_result hubd_device_stats_count(hubd_ctx *ctx, const char *hub, hubd_conn_fn conn,
                                    void *conn_arg, hubd_device_stats *out);

#endif
