/* The hubs this hubd hosts (hubs.h): records, start-up creation, listing,
 * connection strings. */
#include "model/hubs.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/dynbuf.h"
#include "common/log.h"
#include "common/secret.h"
#include "common/timeutil.h"
#include "model/etags.h"
#include "model/hub_errors.h"
#include "model/hub_policies.h"
#include "model/registry.h"

#define CONNSTR_MAX 1024

bool hubd_hub_canon(const char *hub, char out[HUBD_HUB_NAME_SIZE])
{
    if (hub == NULL)
        return false;
    size_t n = strlen(hub);
    if (n == 0 || n > HUBD_HUB_NAME_MAX || hub[0] == '.' || hub[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)hub[i];
        if (!isalnum(c) && c != '-' && c != '.')
            return false;
        out[i] = (char)tolower(c);
    }
    out[n] = '\0';
    return true;
}

bool hubd_hub_exists(hubd_ctx *ctx, const char *hub, char *canon)
{
    char name[HUBD_HUB_NAME_SIZE];
    if (!hubd_hub_canon(hub, name))
        return false;
    dps_record rec = {0};
    if (dps_store_get(ctx->store, DPS_COLL_HUB, name, &rec) != DPS_STORE_OK)
        return false;
    dps_record_free(&rec);
    if (canon != NULL)
        memcpy(canon, name, strlen(name) + 1);
    return true;
}

int hubd_hub_ensure(hubd_ctx *ctx, const char *hub_host, char *err, size_t errlen)
{
    char name[HUBD_HUB_NAME_SIZE];
    json_t *doc = NULL;
    char *text = NULL;
    int rc = -1;
    if (!hubd_hub_canon(hub_host, name)) {
        snprintf(err, errlen, "'%.64s' is not a valid hub host name", hub_host ? hub_host : "");
        return -1;
    }
    char now[DPS_ISO_TIME_LEN];
    dps_time_iso(dps_now_ns(), now);
    char etag[HUBD_ETAG_SIZE];
    doc = json_pack("{s:s,s:s}", "hostName", name, "createdTime", now);
    text = doc != NULL ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (text == NULL || hubd_etag_new(etag) != 0) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    dps_record rec = {.key = name, .doc = text, .etag = etag, .group = NULL};
    dps_store_result r = dps_store_put(ctx->store, DPS_COLL_HUB, &rec, DPS_PUT_CREATE, NULL);
    if (r != DPS_STORE_OK && r != DPS_STORE_EXISTS) {
        snprintf(err, errlen, "cannot store hub %s", name);
        goto done;
    }
    if (r == DPS_STORE_OK)
        log_info("hub %s created", name);
    /* Policies are checked on every start so a hub whose creation was
     * interrupted half-way still ends up complete. */
    if (hubd_policies_ensure(ctx, name) != 0) {
        snprintf(err, errlen, "%s", hubd_last_error());
        goto done;
    }
    rc = 0;
done:
    json_decref(doc);
    free(text);
    return rc;
}

char *hubd_hub_connection_string(hubd_ctx *ctx, const char *hub, const char *policy)
{
    char name[HUBD_HUB_NAME_SIZE];
    if (!hubd_hub_exists(ctx, hub, name))
        return NULL;
    json_t *doc = NULL;
    if (hubd_policy_load(ctx, name, policy, &doc) != HUBD_OK)
        return NULL;
    const char *key_name = json_string_value(json_object_get(doc, "keyName"));
    const char *key = json_string_value(json_object_get(doc, "primaryKey"));
    char *out = NULL;
    if (key_name != NULL && key != NULL) {
        dps_buf b;
        dps_buf_init(&b, CONNSTR_MAX);
        if (dps_buf_printf(&b, "HostName=%s;SharedAccessKeyName=%s;SharedAccessKey=%s", name,
                           key_name, key) == 0)
            out = dps_buf_take(&b);
        else
            dps_buf_free(&b);
    }
    json_decref(doc); /* the key text stays in freed jansson memory: unavoidable */
    return out;
}

int hubd_hub_list(hubd_ctx *ctx, char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    dps_record_list list = {0};
    if (dps_store_list(ctx->store, DPS_COLL_HUB, NULL, NULL, HUBD_MAX_HUBS, &list) !=
        DPS_STORE_OK)
        return -1;
    char **out = calloc(list.count > 0 ? list.count : 1, sizeof *out);
    int rc = out != NULL ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < list.count; i++) {
        out[i] = strdup(list.items[i].key);
        if (out[i] == NULL) {
            hubd_hub_list_free(out, i);
            out = NULL;
            rc = -1;
        }
    }
    if (rc == 0) {
        *names = out;
        *n = list.count;
    }
    dps_record_list_free(&list);
    return rc;
}

void hubd_hub_list_free(char **names, size_t n)
{
    if (names == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}
