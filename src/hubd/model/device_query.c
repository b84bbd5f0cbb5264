/* Registry queries, the legacy device list and statistics (device_query.h):
 * a small tokenizer and parser for the one query shape hubd supports, and
 * the scans over a hub's records in key order. */
#include "model/device_query.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/dynbuf.h"
#include "common/strparse.h"
#include "model/hub_errors.h"
#include "model/twin.h"

#define SCAN_BATCH 200 /* records per store call */

/* ---- tokenizer ----------------------------------------------------------- */

typedef enum { T_END, T_WORD, T_STAR, T_EQ, T_NE, T_STRING, T_NUMBER, T_BAD } tok_kind;

typedef struct {
    tok_kind kind;
    const char *start; /* T_WORD, T_NUMBER: the text */
    size_t len;
    char *text;        /* T_STRING: the unescaped value (owned) */
} token;

typedef struct {
    const char *p;
    token cur;
} lexer;

static bool word_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '$';
}

/* A quoted literal; the quote doubled inside stands for itself. */
static int lex_string(lexer *lx, char quote)
{
    dps_buf b;
    dps_buf_init(&b, HUBD_QUERY_MAX_TEXT);
    const char *p = lx->p + 1;
    for (;;) {
        if (*p == '\0') {
            dps_buf_free(&b);
            hubd__set_error("the query has an unterminated string");
            return -1;
        }
        if (*p == quote) {
            if (p[1] != quote)
                break;
            p++;
        }
        if (dps_buf_append(&b, p, 1) != 0) {
            dps_buf_free(&b);
            hubd__set_error("out of memory");
            return -1;
        }
        p++;
    }
    lx->cur.text = dps_buf_take(&b);
    if (lx->cur.text == NULL) {
        hubd__set_error("out of memory");
        return -1;
    }
    lx->cur.kind = T_STRING;
    lx->p = p + 1;
    return 0;
}

static int next_token(lexer *lx)
{
    free(lx->cur.text);
    memset(&lx->cur, 0, sizeof lx->cur);
    while (isspace((unsigned char)*lx->p))
        lx->p++;
    const char *p = lx->p;
    lx->cur.start = p;
    if (*p == '\0') {
        lx->cur.kind = T_END;
        return 0;
    }
    if (*p == '\'' || *p == '"')
        return lex_string(lx, *p);
    if (*p == '*' || *p == '=') {
        lx->cur.kind = *p == '*' ? T_STAR : T_EQ;
        lx->p++;
        return 0;
    }
    if ((p[0] == '!' && p[1] == '=') || (p[0] == '<' && p[1] == '>')) {
        lx->cur.kind = T_NE;
        lx->p += 2;
        return 0;
    }
    if (*p == '-' || isdigit((unsigned char)*p)) {
        const char *q = p + 1;
        while (isdigit((unsigned char)*q) || *q == '.')
            q++;
        lx->cur.kind = T_NUMBER;
        lx->cur.len = (size_t)(q - p);
        lx->p = q;
        return 0;
    }
    if (word_char(*p)) {
        const char *q = p;
        while (word_char(*q))
            q++;
        lx->cur.kind = T_WORD;
        lx->cur.len = (size_t)(q - p);
        lx->p = q;
        return 0;
    }
    lx->cur.kind = T_BAD;
    hubd__set_error("unexpected character '%c' in the query", *p);
    return -1;
}

static bool is_word(const token *t, const char *w)
{
    return t->kind == T_WORD && t->len == strlen(w) && strncasecmp(t->start, w, t->len) == 0;
}

/* ---- parser -------------------------------------------------------------- */

static int expect_word(lexer *lx, const char *w)
{
    if (!is_word(&lx->cur, w)) {
        hubd__set_error("the query must read SELECT * FROM devices [WHERE ...]; expected %s", w);
        return -1;
    }
    return next_token(lx);
}

static json_t *literal(const token *t)
{
    if (t->kind == T_STRING)
        return json_string(t->text);
    if (t->kind == T_NUMBER) {
        int64_t i = 0;
        if (dps_parse_int64(t->start, t->len, INT64_MIN, INT64_MAX, &i) == 0)
            return json_integer(i);
        char buf[64];
        if (t->len >= sizeof buf)
            return NULL;
        memcpy(buf, t->start, t->len);
        buf[t->len] = '\0';
        char *end = NULL;
        double d = strtod(buf, &end);
        return end != NULL && *end == '\0' ? json_real(d) : NULL;
    }
    if (is_word(t, "true"))
        return json_true();
    if (is_word(t, "false"))
        return json_false();
    if (is_word(t, "null"))
        return json_null();
    return NULL;
}

static int parse_cond(lexer *lx, hubd_query_cond *c)
{
    if (lx->cur.kind != T_WORD || lx->cur.len > HUBD_QUERY_MAX_PATH || lx->cur.start[0] == '.' ||
        lx->cur.start[lx->cur.len - 1] == '.') {
        hubd__set_error("expected a property path in the WHERE clause");
        return -1;
    }
    memcpy(c->path, lx->cur.start, lx->cur.len);
    c->path[lx->cur.len] = '\0';
    if (strstr(c->path, "..") != NULL) {
        hubd__set_error("bad property path %.64s", c->path);
        return -1;
    }
    if (next_token(lx) != 0)
        return -1;
    if (lx->cur.kind != T_EQ && lx->cur.kind != T_NE) {
        hubd__set_error("only = and != comparisons are supported");
        return -1;
    }
    c->negate = lx->cur.kind == T_NE;
    if (next_token(lx) != 0)
        return -1;
    c->value = literal(&lx->cur);
    if (c->value == NULL) {
        hubd__set_error("expected a literal after %.64s", c->path);
        return -1;
    }
    return next_token(lx);
}

int hubd_query_parse(const char *text, hubd_query *q)
{
    memset(q, 0, sizeof *q);
    if (text == NULL || strlen(text) > HUBD_QUERY_MAX_TEXT) {
        hubd__set_error("the query is missing or longer than %d bytes", HUBD_QUERY_MAX_TEXT);
        return -1;
    }
    lexer lx = {.p = text};
    int rc = -1;
    if (next_token(&lx) != 0 || expect_word(&lx, "select") != 0)
        goto done;
    if (lx.cur.kind != T_STAR) {
        hubd__set_error("only SELECT * is supported");
        goto done;
    }
    if (next_token(&lx) != 0 || expect_word(&lx, "from") != 0 || expect_word(&lx, "devices") != 0)
        goto done;
    if (is_word(&lx.cur, "where")) {
        if (next_token(&lx) != 0)
            goto done;
        for (;;) {
            if (q->nconds == HUBD_QUERY_MAX_CONDS) {
                hubd__set_error("at most %d conditions are supported", HUBD_QUERY_MAX_CONDS);
                goto done;
            }
            if (parse_cond(&lx, &q->conds[q->nconds++]) != 0)
                goto done;
            if (!is_word(&lx.cur, "and"))
                break;
            if (next_token(&lx) != 0)
                goto done;
        }
    }
    if (lx.cur.kind != T_END) {
        hubd__set_error("unsupported query text after the %s",
                        q->nconds > 0 ? "conditions (only AND is supported)" : "FROM clause");
        goto done;
    }
    rc = 0;
done:
    free(lx.cur.text);
    return rc;
}

void hubd_query_free(hubd_query *q)
{
    for (size_t i = 0; i < q->nconds; i++) {
        json_decref(q->conds[i].value);
        q->conds[i].value = NULL;
    }
    q->nconds = 0;
}

/* ---- evaluation ---------------------------------------------------------- */

/* The member of obj named by the first len bytes of name; the first
 * segment of a path is looked up without regard to case. */
static const json_t *member(const json_t *obj, const char *name, size_t len, bool fold)
{
    const char *key;
    const json_t *v;
    json_object_foreach ((json_t *)obj, key, v) {
        if (strlen(key) != len)
            continue;
        if (fold ? strncasecmp(key, name, len) == 0 : strncmp(key, name, len) == 0)
            return v;
    }
    return NULL;
}

static const json_t *resolve(const json_t *twin, const char *path)
{
    const json_t *cur = twin;
    const char *p = path;
    bool first = true;
    for (int seg = 0; cur != NULL && seg < HUBD_QUERY_MAX_SEGMENTS; seg++) {
        size_t len = strcspn(p, ".");
        cur = json_is_object(cur) ? member(cur, p, len, first) : NULL;
        first = false;
        if (p[len] == '\0')
            return cur;
        p += len + 1;
    }
    return NULL;
}

static bool values_equal(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    return json_equal(a, b);
}

bool hubd_query_matches(const hubd_query *q, const json_t *twin)
{
    for (size_t i = 0; i < q->nconds; i++) {
        const hubd_query_cond *c = &q->conds[i];
        const json_t *v = resolve(twin, c->path);
        /* A missing member equals nothing, not even null, and != on it is
         * false too (SQL-like: an undefined value fails every comparison). */
        if (v == NULL)
            return false;
        if (values_equal(v, c->value) == c->negate)
            return false;
    }
    return true;
}

/* ---- scans --------------------------------------------------------------- */

typedef bool (*visit_fn)(void *arg, const char *id, const json_t *doc);

/* Calls visit for each device of the hub after after_id (in key order) until
 * it returns false or max records were seen. *last (optional, caller frees)
 * is the ID of the last record visited; *more tells whether records follow. */
static hubd_result scan(hubd_ctx *ctx, const char *hub, const char *after_id, size_t max,
                        visit_fn visit, void *arg, char **last, bool *more)
{
    char group[HUBD_HUB_NAME_SIZE];
    char cursor[HUBD_DEVICE_KEY_SIZE] = "";
    if (last != NULL)
        *last = NULL;
    *more = false;
    if (!hubd_hub_canon(hub, group))
        return HUBD_NOT_FOUND;
    if (after_id != NULL && !hubd_device_key(group, after_id, cursor)) {
        hubd__set_error("bad continuation");
        return HUBD_INVALID;
    }
    size_t seen = 0;
    size_t prefix = strlen(group) + 1;
    for (;;) {
        dps_record_list list = {0};
        if (dps_store_list(ctx->store, DPS_COLL_HUB_DEVICE, group, cursor[0] ? cursor : NULL,
                           SCAN_BATCH, &list) != DPS_STORE_OK) {
            hubd__set_error("cannot list the devices of hub %s", group);
            return HUBD_ERROR;
        }
        bool stop = false;
        size_t i = 0;
        for (; i < list.count && !stop; i++) {
            const dps_record *r = &list.items[i];
            snprintf(cursor, sizeof cursor, "%s", r->key);
            json_t *doc = json_loads(r->doc, 0, NULL);
            seen++;
            /* A corrupt record is skipped rather than hiding all others. */
            if (json_is_object(doc) && strlen(r->key) > prefix)
                stop = !visit(arg, r->key + prefix, doc);
            json_decref(doc);
            if (seen >= max)
                stop = true;
        }
        bool tail = i < list.count || list.more;
        dps_record_list_free(&list);
        if (stop || !tail) {
            *more = tail;
            break;
        }
    }
    if (last != NULL && *more && cursor[0] != '\0') {
        *last = strdup(cursor + prefix);
        if (*last == NULL) {
            hubd__set_error("out of memory");
            return HUBD_ERROR;
        }
    }
    return HUBD_OK;
}

typedef struct {
    const char *hub;
    const hubd_query *q;
    hubd_conn_fn conn;
    void *conn_arg;
    size_t limit;
    json_t *items;
    bool twins;  /* twin JSON (query) or device JSON (list) */
    bool failed;
} collect_arg;

static bool collect(void *argp, const char *id, const json_t *doc)
{
    collect_arg *a = argp;
    hubd_conn_info ci = {0};
    if (a->conn != NULL)
        a->conn(a->conn_arg, a->hub, id, &ci);
    json_t *v = a->twins ? hubd_twin_present(doc, &ci) : hubd_device_present(doc, &ci);
    if (v == NULL) {
        a->failed = true;
        return false;
    }
    if (a->q != NULL && !hubd_query_matches(a->q, v)) {
        json_decref(v);
        return true;
    }
    if (json_array_append_new(a->items, v) != 0) {
        a->failed = true;
        return false;
    }
    return json_array_size(a->items) < a->limit;
}

hubd_result hubd_query_run(hubd_ctx *ctx, const char *hub, const hubd_query *q,
                           const char *after_id, size_t limit, hubd_conn_fn conn, void *conn_arg,
                           json_t **items, char **next_after)
{
    *items = NULL;
    *next_after = NULL;
    collect_arg a = {.hub = hub, .q = q, .conn = conn, .conn_arg = conn_arg,
                     .limit = limit > 0 ? limit : 1, .items = json_array(), .twins = true};
    if (a.items == NULL) {
        hubd__set_error("out of memory");
        return HUBD_ERROR;
    }
    bool more = false;
    hubd_result hr = scan(ctx, hub, after_id, HUBD_QUERY_SCAN_MAX, collect, &a, next_after, &more);
    if (hr == HUBD_OK && a.failed) {
        hubd__set_error("out of memory");
        hr = HUBD_ERROR;
    }
    if (hr != HUBD_OK) {
        free(*next_after);
        *next_after = NULL;
        json_decref(a.items);
        return hr;
    }
    *items = a.items;
    return HUBD_OK;
}

hubd_result hubd_device_list(hubd_ctx *ctx, const char *hub, size_t top, hubd_conn_fn conn,
                             void *conn_arg, json_t **items)
{
    *items = NULL;
    collect_arg a = {.hub = hub, .conn = conn, .conn_arg = conn_arg, .limit = top > 0 ? top : 1,
                     .items = json_array(), .twins = false};
    if (a.items == NULL) {
        hubd__set_error("out of memory");
        return HUBD_ERROR;
    }
    bool more = false;
    hubd_result hr = scan(ctx, hub, NULL, a.limit, collect, &a, NULL, &more);
    if (hr == HUBD_OK && a.failed) {
        hubd__set_error("out of memory");
        hr = HUBD_ERROR;
    }
    if (hr != HUBD_OK) {
        json_decref(a.items);
        return hr;
    }
    *items = a.items;
    return HUBD_OK;
}

typedef struct {
    const char *hub;
    hubd_conn_fn conn;
    void *conn_arg;
    hubd_device_stats *st;
} stats_arg;

static bool count_one(void *argp, const char *id, const json_t *doc)
{
    stats_arg *a = argp;
    a->st->total++;
    const char *status = json_string_value(json_object_get(doc, "status"));
    if (status != NULL && strcmp(status, "enabled") == 0)
        a->st->enabled++;
    else
        a->st->disabled++;
    if (a->conn != NULL) {
        hubd_conn_info ci = {0};
        a->conn(a->conn_arg, a->hub, id, &ci);
        if (ci.connected)
            a->st->connected++;
    }
    return true;
}

hubd_result hubd_device_stats_count(hubd_ctx *ctx, const char *hub, hubd_conn_fn conn,
                                    void *conn_arg, hubd_device_stats *out)
{
    memset(out, 0, sizeof *out);
    stats_arg a = {.hub = hub, .conn = conn, .conn_arg = conn_arg, .st = out};
    bool more = false;
    return scan(ctx, hub, NULL, SIZE_MAX, count_one, &a, NULL, &more);
}
