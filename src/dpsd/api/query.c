/* Query and paging (service-api.md §5): the shared x-ms-max-item-count /
 * x-ms-continuation handling, and POST /enrollments/query and
 * /enrollmentGroups/query. The query text itself is not interpreted: every
 * query returns all records, in key order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/enroll_ops.h"
#include "api/errors.h"
#include "api/service_internal.h"
#include "common/b64.h"
#include "common/strparse.h"

static bool page_limit(const char *text, size_t *limit)
{
    *limit = DPS_QUERY_DEFAULT_PAGE;
    if (text == NULL)
        return true;
    size_t n = strlen(text);
    while (n > 0 && text[n - 1] == ' ')
        n--;
    while (n > 0 && *text == ' ') {
        text++;
        n--;
    }
    if (n == 0)
        return true;
    int64_t v = 0;
    if (dps_parse_int64(text, n, 1, INT64_MAX, &v) != 0)
        return false;
    *limit = v > DPS_QUERY_MAX_PAGE ? DPS_QUERY_MAX_PAGE : (size_t)v;
    return true;
}

/* The token is opaque to clients; it decodes to a store key, which must be
 * a valid lower-case ID so a forged token cannot smuggle anything else. */
static bool page_token(const char *text, dps_page *pg)
{
    pg->has_after = false;
    if (text == NULL || text[0] == '\0')
        return true;
    uint8_t *raw = NULL;
    size_t len = 0;
    if (dps_b64_decode(text, strlen(text), &raw, &len) != 0)
        return false;
    bool ok = false;
    if (len > 0 && len <= DPS_ID_MAX) {
        char id[DPS_ID_KEY_SIZE];
        memcpy(id, raw, len);
        id[len] = '\0';
        ok = dps_id_key(id, pg->after) && strcmp(id, pg->after) == 0;
    }
    free(raw);
    pg->has_after = ok;
    return ok;
}

int dps_api__page_parse(const dps_http_request *req, dps_page *pg, dps_http_response *res)
{
    if (!page_limit(dps_http_header_get(req, "x-ms-max-item-count"), &pg->limit)) {
        dps_api_error(res, DPS_ERR_BAD_REQUEST, "x-ms-max-item-count must be a positive integer");
        return -1;
    }
    if (!page_token(dps_http_header_get(req, "x-ms-continuation"), pg)) {
        dps_api_error(res, DPS_ERR_BAD_REQUEST, "x-ms-continuation is not a valid token");
        return -1;
    }
    return 0;
}

void dps_api__page_send(dps_http_response *res, const char *item_type, const dps_page *pg,
                        const dps_record_list *list, json_t *items)
{
    char *token = NULL;
    if (list->more && list->count > 0) {
        const char *last = list->items[list->count - 1].key;
        token = dps_b64_encode((const uint8_t *)last, strlen(last));
        if (token == NULL) {
            json_decref(items);
            dps_api_error(res, DPS_ERR_INTERNAL, "cannot build the continuation token");
            return;
        }
    }
    dps_api__send(res, 200, items);
    char count[24];
    snprintf(count, sizeof count, "%zu", pg->limit);
    dps_http_response_add_header(res, "x-ms-item-type", item_type);
    dps_http_response_add_header(res, "x-ms-max-item-count", count);
    if (token != NULL)
        dps_http_response_add_header(res, "x-ms-continuation", token);
    free(token);
}

void dps_api__enroll_query(dpsd_ctx *ctx, const dps_http_request *req, const dps_route_match *m,
                           dps_http_response *res)
{
    const dps_enroll_desc *d = m->arg;
    dps_record_list list = {0};
    json_t *items = NULL;
    /* QuerySpecification: {"query": "<text>"}; the text is accepted as is. */
    json_t *body = dps_api__parse_body(ctx, req, true, res);
    if (body == NULL)
        goto done;
    json_t *q = json_object_get(body, "query");
    if (q != NULL && !json_is_string(q) && !json_is_null(q)) {
        dps_api_error(res, DPS_ERR_INVALID_FIELD, "query must be a string");
        goto done;
    }
    dps_page pg;
    if (dps_api__page_parse(req, &pg, res) != 0)
        goto done;
    dps_store_result r = dps_store_list(ctx->store, d->coll, NULL, pg.has_after ? pg.after : NULL,
                                        pg.limit, &list);
    if (r != DPS_STORE_OK) {
        dps_api_error(res, DPS_ERR_INTERNAL, "cannot list %s records", d->noun);
        goto done;
    }
    items = json_array();
    for (size_t i = 0; items != NULL && i < list.count; i++) {
        json_t *doc = dps_api__record_doc(&list.items[i]);
        if (doc == NULL)
            continue; /* logged; one corrupt record must not hide the rest */
        if (dps_enroll_present(ctx, d, doc, false) != 0) {
            json_decref(doc);
            json_decref(items);
            items = NULL;
        } else if (json_array_append_new(items, doc) != 0) {
            json_decref(items);
            items = NULL;
        }
    }
    if (items == NULL) {
        dps_api_error(res, DPS_ERR_INTERNAL, "cannot build the %s list", d->noun);
        goto done;
    }
    dps_api__page_send(res, d->item_type, &pg, &list, items);
    items = NULL;
done:
    json_decref(items);
    json_decref(body);
    dps_record_list_free(&list);
}
