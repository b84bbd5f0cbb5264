/* POST /devices/query (hub.md §5): the query text through the model's
 * parser, one page of twins, x-ms-continuation only when more follow. The
 * continuation token is base64 of the last device ID examined; a token that
 * does not decode to a valid device ID is refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "common/b64.h"
#include "common/strparse.h"
#include "model/device_query.h"

static int page_size(const dps_http_request *req, size_t *out)
{
    *out = HUBD_QUERY_DEFAULT_PAGE;
    const char *text = dps_http_header_get(req, "x-ms-max-item-count");
    if (text == NULL || text[0] == '\0')
        return 0;
    int64_t v = 0;
    if (dps_parse_int64(text, strlen(text), 1, INT64_MAX, &v) != 0)
        return -1;
    *out = v > HUBD_QUERY_MAX_PAGE ? HUBD_QUERY_MAX_PAGE : (size_t)v;
    return 0;
}

/* The device ID a continuation token names (caller frees), NULL for none;
 * -1 for a forged or broken token. */
static int continuation(const dps_http_request *req, char **after)
{
    *after = NULL;
    const char *text = dps_http_header_get(req, "x-ms-continuation");
    if (text == NULL || text[0] == '\0')
        return 0;
    uint8_t *raw = NULL;
    size_t len = 0;
    if (strlen(text) > 4 * HUBD_DEVICE_ID_MAX || dps_b64_decode(text, strlen(text), &raw, &len) != 0)
        return -1;
    char *id = malloc(len + 1);
    if (id != NULL) {
        memcpy(id, raw, len);
        id[len] = '\0';
    }
    free(raw);
    if (id == NULL || strlen(id) != len || !hubd_device_id_valid(id)) {
        free(id);
        return -1;
    }
    *after = id;
    return 0;
}

void hubd_api__device_query(const hubd_call *call, dps_http_response *res)
{
    hubd_query q = {0};
    char *after = NULL, *next = NULL, *token = NULL;
    json_t *items = NULL;
    json_t *body = hubd_api__parse_body(call->req, false, res);
    if (body == NULL)
        goto done;
    const char *text = json_string_value(json_object_get(body, "query"));
    if (text == NULL) {
        hubd_api_error(res, HUBD_ERR_ARGUMENT_INVALID, "the body needs a \"query\" string");
        goto done;
    }
    if (hubd_query_parse(text, &q) != 0) {
        hubd_api_error(res, HUBD_ERR_ARGUMENT_INVALID, "%s", hubd_last_error());
        goto done;
    }
    size_t limit = 0;
    if (page_size(call->req, &limit) != 0) {
        hubd_api_error(res, HUBD_ERR_ARGUMENT_INVALID,
                       "x-ms-max-item-count must be a positive integer");
        goto done;
    }
    if (continuation(call->req, &after) != 0) {
        hubd_api_error(res, HUBD_ERR_ARGUMENT_INVALID, "x-ms-continuation is not a valid token");
        goto done;
    }
    hubd_result hr = hubd_query_run(call->ctx, call->hub, &q, after, limit, hubd_api__conn,
                                    call->ctx, &items, &next);
    if (hr != HUBD_OK) {
        hubd_api__fail(res, hr, "");
        goto done;
    }
    if (next != NULL) {
        token = dps_b64_encode((const uint8_t *)next, strlen(next));
        if (token == NULL) {
            hubd_api_error(res, HUBD_ERR_SERVER, "cannot build the continuation token");
            goto done;
        }
    }
    hubd_api__send(res, 200, items, NULL);
    items = NULL;
    char count[24];
    snprintf(count, sizeof count, "%zu", limit);
    dps_http_response_add_header(res, "x-ms-item-type", "twin");
    dps_http_response_add_header(res, "x-ms-max-item-count", count);
    if (token != NULL)
        dps_http_response_add_header(res, "x-ms-continuation", token);
done:
    json_decref(items);
    json_decref(body);
    hubd_query_free(&q);
    free(after);
    free(next);
    free(token);
}
