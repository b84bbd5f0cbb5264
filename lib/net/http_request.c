/* Transport-neutral request/response helpers (see http_request.h).
 * Everything here works on plain structs so the API handlers and these
 * helpers can be tested and fuzzed without a socket. */
#include "net/http_request.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/urlcode.h"

#define RESPONSE_MAX_HEADERS (sizeof(((dps_http_response *)0)->header_names) / \
                              sizeof(((dps_http_response *)0)->header_names[0]))

const char *dps_http_header_get(const dps_http_request *req, const char *name)
{
    if (req == NULL || name == NULL || req->headers == NULL)
        return NULL;
    for (size_t i = 0; i < req->nheaders; i++) {
        const dps_http_header *h = &req->headers[i];
        if (h->name != NULL && strcasecmp(h->name, name) == 0)
            return h->value;
    }
    return NULL;
}

char *dps_http_query_get(const dps_http_request *req, const char *name)
{
    if (req == NULL || name == NULL || req->query == NULL)
        return NULL;

    const char *p = req->query;
    while (*p != '\0') {
        const char *end = strchr(p, '&');
        size_t pairlen = end != NULL ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', pairlen);
        size_t keylen = eq != NULL ? (size_t)(eq - p) : pairlen;

        if (keylen > 0) {
            char *key = dps_url_decode(p, keylen, true);
            /* Parameter names are compared without regard to case, as the
             * Azure front end does ("api-version" vs "Api-Version"). A name
             * that does not decode cannot match anything. */
            bool match = key != NULL && strcasecmp(key, name) == 0;
            free(key);
            if (match) {
                if (eq == NULL)
                    return strdup(""); /* "?flag" counts as present and empty */
                /* A value with a bad escape is reported as absent: the caller
                 * then answers as for a missing parameter. */
                return dps_url_decode(eq + 1, pairlen - keylen - 1, true);
            }
        }
        if (end == NULL)
            break;
        p = end + 1;
    }
    return NULL;
}

void dps_http_request_free_segments(dps_http_request *req)
{
    if (req == NULL)
        return;
    for (size_t i = 0; i < req->nsegments && i < DPS_HTTP_MAX_SEGMENTS; i++) {
        free(req->segments[i]);
        req->segments[i] = NULL;
    }
    req->nsegments = 0;
}

int dps_http_split_path(dps_http_request *req, const char *path)
{
    if (req == NULL)
        return -1;
    req->nsegments = 0;
    if (path == NULL)
        return -1;

    size_t total = strcspn(path, "?"); /* the query is not part of the path */
    size_t pos = 0;
    while (pos < total) {
        size_t seglen = strcspn(path + pos, "/?");
        if (pos + seglen > total)
            seglen = total - pos;
        if (seglen > 0) {
            if (req->nsegments == DPS_HTTP_MAX_SEGMENTS)
                goto fail;
            char *seg = dps_url_decode(path + pos, seglen, false);
            if (seg == NULL) /* bad escape, decoded NUL, or no memory */
                goto fail;
            /* An encoded '/' would let one segment pose as two after decoding
             * (or hide a path separator inside an ID); refuse it outright. */
            if (strchr(seg, '/') != NULL) {
                free(seg);
                goto fail;
            }
            req->segments[req->nsegments++] = seg;
        }
        pos += seglen + 1; /* skip the '/' */
    }
    return 0;

fail:
    dps_http_request_free_segments(req);
    return -1;
}

static void response_clear_body(dps_http_response *res)
{
    free(res->body);
    res->body = NULL;
    res->body_len = 0;
    res->content_type = NULL;
}

void dps_http_response_set_json(dps_http_response *res, int status, const json_t *body)
{
    if (res == NULL)
        return;
    response_clear_body(res);
    res->status = status;
    if (body == NULL)
        return;
    /* JSON_ENCODE_ANY: a handler may answer with a bare array or value. */
    char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    if (text == NULL) {
        /* Out of memory: a bodiless 500 is the most honest answer left. */
        log_error("http: cannot serialise a JSON response");
        res->status = 500;
        return;
    }
    res->body = text;
    res->body_len = strlen(text);
    res->content_type = "application/json; charset=utf-8";
}

void dps_http_response_add_header(dps_http_response *res, const char *name,
                                  const char *value)
{
    if (res == NULL || name == NULL || value == NULL)
        return;
    if (res->nheaders >= RESPONSE_MAX_HEADERS) {
        log_warn("http: response header %s dropped (more than %zu)", name,
                 RESPONSE_MAX_HEADERS);
        return;
    }
    /* A CR or LF would split the header and let data pose as protocol. */
    if (name[0] == '\0' || strpbrk(name, "\r\n: ") != NULL || strpbrk(value, "\r\n") != NULL) {
        log_warn("http: response header with a control character dropped");
        return;
    }
    char *n = strdup(name);
    char *v = strdup(value);
    if (n == NULL || v == NULL) {
        free(n);
        free(v);
        log_error("http: out of memory adding response header %s", name);
        return;
    }
    res->header_names[res->nheaders] = n;
    res->header_values[res->nheaders] = v;
    res->nheaders++;
}

void dps_http_response_free(dps_http_response *res)
{
    if (res == NULL)
        return;
    response_clear_body(res);
    for (size_t i = 0; i < res->nheaders && i < RESPONSE_MAX_HEADERS; i++) {
        free(res->header_names[i]);
        free(res->header_values[i]);
        res->header_names[i] = NULL;
        res->header_values[i] = NULL;
    }
    res->nheaders = 0;
    res->status = 0;
}

const char *dps_http_method_name(dps_http_method m)
{
    switch (m) {
    case DPS_HTTP_GET:
        return "GET";
    case DPS_HTTP_PUT:
        return "PUT";
    case DPS_HTTP_POST:
        return "POST";
    case DPS_HTTP_DELETE:
        return "DELETE";
    case DPS_HTTP_PATCH:
        return "PATCH";
    case DPS_HTTP_OTHER:
        break;
    }
    return "OTHER";
}
