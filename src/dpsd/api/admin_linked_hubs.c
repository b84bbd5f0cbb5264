/* /admin/linkedHubs[/{name}]: the IoT hubs devices may be assigned to
 * (service-api.md §11.3). Documents are described in model/linked_hub.h;
 * responses always mask the hub key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/admin_internal.h"
#include "api/errors.h"
#include "common/dynbuf.h"
#include "common/log.h"
#include "common/secret.h"
#include "common/timeutil.h"
#include "model/linked_hub.h"

#define WHAT "linked hub"
/* How many referencing enrollment IDs a refused delete names. */
#define MAX_REFERENCES 5

static const char *const put_members[] = {
    "name", "connectionString", "registryUrl", "allocationWeight", "applyAllocationPolicy",
    "location", "etag", "createdDateTimeUtc", NULL,
};

/* The stored document as callers may see it: the key replaced by the mask. */
static json_t *public_doc(const dps_record *rec)
{
    json_t *doc = dps_admin__record_doc(rec);
    if (doc == NULL)
        return NULL;
    const char *cs = json_string_value(json_object_get(doc, "connectionString"));
    char *masked = cs ? dps_hub_connstr_mask(cs) : NULL;
    if (masked == NULL || json_object_set_new(doc, "connectionString", json_string(masked))) {
        log_error("admin: linked hub '%s' has a corrupt connection string", rec->key);
        json_decref(doc);
        doc = NULL;
    }
    free(masked);
    return doc;
}

static void list_hubs(dpsd_ctx *ctx, dps_http_response *res)
{
    json_t *arr = json_array();
    char *after = NULL;
    bool more = true;
    while (arr != NULL && more) {
        dps_record_list page = {0};
        dps_store_result r = dps_store_list(ctx->store, DPS_COLL_LINKED_HUB, NULL, after,
                                            DPS_ADMIN_PAGE, &page);
        if (r != DPS_STORE_OK) {
            json_decref(arr);
            arr = NULL;
            break;
        }
        for (size_t i = 0; arr != NULL && i < page.count; i++) {
            json_t *doc = public_doc(&page.items[i]);
            if (doc == NULL || json_array_append_new(arr, doc) != 0) {
                json_decref(arr);
                arr = NULL;
            }
        }
        more = page.more && page.count > 0;
        free(after);
        after = page.count > 0 ? strdup(page.items[page.count - 1].key) : NULL;
        if (more && after == NULL) {
            json_decref(arr);
            arr = NULL;
        }
        dps_record_list_free(&page);
    }
    free(after);
    if (arr == NULL) {
        dps_api_error(res, DPS_ERR_INTERNAL, "cannot list linked hubs");
        return;
    }
    dps_http_response_set_json(res, 200, arr);
    json_decref(arr);
}

static void reply_record(const dps_record *rec, dps_http_response *res)
{
    json_t *doc = public_doc(rec);
    if (doc == NULL) {
        dps_api_error(res, DPS_ERR_INTERNAL, "linked hub '%s' is corrupt", rec->key);
        return;
    }
    dps_http_response_set_json(res, 200, doc);
    json_decref(doc);
}

static void get_hub(dpsd_ctx *ctx, const char *name, const char *key, dps_http_response *res)
{
    dps_record rec = {0};
    dps_store_result r = dps_store_get(ctx->store, DPS_COLL_LINKED_HUB, key, &rec);
    if (r != DPS_STORE_OK)
        dps_admin__store_error(res, r, WHAT, name);
    else
        reply_record(&rec, res);
    dps_record_free(&rec);
}

/* Validates the optional members and copies them, normalised, into doc. */
static int put_options(const json_t *body, const char *name, json_t *doc,
                       dps_http_response *res)
{
    const json_t *url = json_object_get(body, "registryUrl");
    const json_t *w = json_object_get(body, "allocationWeight");
    const json_t *apply = json_object_get(body, "applyAllocationPolicy");
    const json_t *loc = json_object_get(body, "location");
    char defurl[DPS_HUB_NAME_MAX + 16];
    if (url == NULL || json_is_null(url)) {
        snprintf(defurl, sizeof defurl, "https://%s", name);
        url = NULL;
    } else if (!json_is_string(url) || !dps_hub_registry_url_valid(json_string_value(url))) {
        dps_api_error(res, DPS_ERR_INVALID_FIELD, "registryUrl must be an http(s) URL");
        return -1;
    }
    if (w != NULL && !json_is_null(w) &&
        (!json_is_integer(w) || json_integer_value(w) < DPS_HUB_WEIGHT_MIN ||
         json_integer_value(w) > DPS_HUB_WEIGHT_MAX)) {
        dps_api_error(res, DPS_ERR_INVALID_FIELD, "allocationWeight must be an integer %d..%d",
                      DPS_HUB_WEIGHT_MIN, DPS_HUB_WEIGHT_MAX);
        return -1;
    }
    if (apply != NULL && !json_is_null(apply) && !json_is_boolean(apply)) {
        dps_api_error(res, DPS_ERR_INVALID_FIELD, "applyAllocationPolicy must be a boolean");
        return -1;
    }
    if (loc != NULL && !json_is_null(loc) &&
        (!json_is_string(loc) || json_string_length(loc) > DPS_HUB_LOCATION_MAX)) {
        dps_api_error(res, DPS_ERR_INVALID_FIELD, "location must be a string of at most %d "
                      "characters", DPS_HUB_LOCATION_MAX);
        return -1;
    }
    /* Never-set values are stored as null so a read shows them as null (ARM). */
    int rc = 0;
    rc |= json_object_set_new(doc, "registryUrl",
                              url ? json_string(json_string_value(url)) : json_string(defurl));
    rc |= json_object_set_new(doc, "allocationWeight", w ? json_deep_copy(w) : json_null());
    rc |= json_object_set_new(doc, "applyAllocationPolicy",
                              apply ? json_deep_copy(apply) : json_null());
    rc |= json_object_set_new(doc, "location", loc ? json_deep_copy(loc) : json_null());
    if (rc != 0) {
        dps_api_error(res, DPS_ERR_INTERNAL, "out of memory");
        return -1;
    }
    return 0;
}

/* Parses and checks body.connectionString against the path name. A masked
 * key (a string read back from GET) takes the stored key when the record
 * exists and names the same policy. Returns the canonical full string. */
static char *put_connstr(const json_t *body, const char *name, const dps_record *existing,
                         dps_http_response *res)
{
    const char *cs = json_string_value(json_object_get(body, "connectionString"));
    if (cs == NULL) {
        dps_api_error(res, DPS_ERR_INVALID_FIELD, "connectionString (string) is required");
        return NULL;
    }
    dps_hub_connstr c = {0}, old = {0};
    char err[160];
    char *out = NULL;
    if (dps_hub_connstr_parse(cs, DPS_CONNSTR_ALLOW_MASKED, &c, err, sizeof err) != 0) {
        dps_api_error(res, DPS_ERR_INVALID_FIELD, "%s", err);
        return NULL;
    }
    if (strcasecmp(c.host_name, name) != 0) {
        dps_api_error(res, DPS_ERR_INVALID_FIELD,
                      "connectionString HostName '%s' differs from the hub name", c.host_name);
        goto done;
    }
    if (c.key_masked) {
        const char *stored = existing ? json_string_value(json_object_get(
                                            json_loads(existing->doc, 0, NULL), "x")) : NULL;
        (void)stored;
    }
    out = NULL;
done:
    dps_hub_connstr_free(&c);
    dps_hub_connstr_free(&old);
    return out;
}
