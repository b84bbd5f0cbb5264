/* Hub access policies (hub_policies.h): the rights vocabulary, the default
 * set every hub gets, loading a policy and checking a signature against its
 * keys. Keys never leave this file except inside connection strings. */
#include "model/hub_policies.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/access_policy.h"
#include "common/log.h"
#include "common/secret.h"
#include "model/etags.h"
#include "model/hub_errors.h"
#include "model/hubs.h"

#define POLICY_KEY_SIZE (HUBD_HUB_NAME_SIZE + 1 + HUBD_POLICY_NAME_MAX + 1)

static const dps_right_name rights_table[] = {
    {"RegistryRead", HUBD_RIGHT_REGISTRY_READ},
    {"RegistryWrite", HUBD_RIGHT_REGISTRY_WRITE},
    {"ServiceConnect", HUBD_RIGHT_SERVICE_CONNECT},
    {"DeviceConnect", HUBD_RIGHT_DEVICE_CONNECT},
};
#define NRIGHTS (sizeof rights_table / sizeof rights_table[0])

/* hub.md §3.1: Azure's default set. */
const hubd_policy_default hubd_policy_defaults[] = {
    {"iothubowner", HUBD_RIGHTS_ALL},
    {"service", HUBD_RIGHT_SERVICE_CONNECT},
    {"device", HUBD_RIGHT_DEVICE_CONNECT},
    {"registryRead", HUBD_RIGHT_REGISTRY_READ},
    {"registryReadWrite", HUBD_RIGHT_REGISTRY_READ | HUBD_RIGHT_REGISTRY_WRITE},
};
const size_t hubd_policy_ndefaults = sizeof hubd_policy_defaults / sizeof hubd_policy_defaults[0];

int hubd_rights_parse(const char *text, unsigned *mask)
{
    return dps_rights_table_parse(rights_table, NRIGHTS, text, mask);
}

char *hubd_rights_format(unsigned mask)
{
    return dps_rights_table_format(rights_table, NRIGHTS, mask);
}

/* "<hub>/<policy lower-case>"; false when the name cannot be a policy. */
static bool policy_key(const char *hub, const char *name, char out[POLICY_KEY_SIZE])
{
    size_t n = strlen(name);
    if (n == 0 || n > HUBD_POLICY_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!isalnum(c) && c != '-' && c != '_' && c != '.')
            return false;
    }
    int w = snprintf(out, POLICY_KEY_SIZE, "%s/%s", hub, name);
    if (w < 0 || (size_t)w >= POLICY_KEY_SIZE)
        return false;
    for (char *p = out + strlen(hub) + 1; *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    return true;
}

/* Creates one default policy unless it exists already. */
static int ensure_one(hubd_ctx *ctx, const char *hub, const hubd_policy_default *d)
{
    char key[POLICY_KEY_SIZE];
    char *primary = NULL, *secondary = NULL, *rights = NULL, *text = NULL;
    json_t *doc = NULL;
    int rc = -1;
    if (!policy_key(hub, d->name, key)) {
        hubd__set_error("policy name %s is too long for hub %s", d->name, hub);
        goto done;
    }
    primary = dps_access_policy_new_key(HUBD_POLICY_KEY_BYTES);
    secondary = dps_access_policy_new_key(HUBD_POLICY_KEY_BYTES);
    rights = hubd_rights_format(d->rights);
    if (primary == NULL || secondary == NULL || rights == NULL)
        goto nomem;
    doc = json_pack("{s:s,s:s,s:s,s:s}", "keyName", d->name, "primaryKey", primary,
                    "secondaryKey", secondary, "rights", rights);
    text = doc != NULL ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (text == NULL)
        goto nomem;
    char etag[HUBD_ETAG_SIZE];
    if (hubd_etag_new(etag) != 0)
        goto nomem;
    dps_record rec = {.key = key, .doc = text, .etag = etag, .group = (char *)hub};
    dps_store_result r = dps_store_put(ctx->store, DPS_COLL_HUB_POLICY, &rec, DPS_PUT_CREATE, NULL);
    if (r != DPS_STORE_OK && r != DPS_STORE_EXISTS) {
        hubd__set_error("cannot store policy %s of hub %s", d->name, hub);
        goto done;
    }
    if (r == DPS_STORE_OK)
        log_info("hub %s: created access policy %s", hub, d->name);
    rc = 0;
    goto done;
nomem:
    hubd__set_error("out of memory creating policy %s", d->name);
done:
    json_decref(doc);
    dps_free_secret_string(text);
    dps_free_secret_string(primary);
    dps_free_secret_string(secondary);
    free(rights);
    return rc;
}

int hubd_policies_ensure(hubd_ctx *ctx, const char *hub)
{
    for (size_t i = 0; i < hubd_policy_ndefaults; i++)
        if (ensure_one(ctx, hub, &hubd_policy_defaults[i]) != 0)
            return -1;
    return 0;
}

hubd_result hubd_policy_load(hubd_ctx *ctx, const char *hub, const char *name, json_t **out)
{
    *out = NULL;
    char key[POLICY_KEY_SIZE];
    if (name == NULL || !policy_key(hub, name, key))
        return HUBD_NOT_FOUND;
    dps_record rec = {0};
    dps_store_result r = dps_store_get(ctx->store, DPS_COLL_HUB_POLICY, key, &rec);
    if (r == DPS_STORE_NOT_FOUND)
        return HUBD_NOT_FOUND;
    if (r != DPS_STORE_OK) {
        hubd__set_error("cannot read the access policies of hub %s", hub);
        return HUBD_ERROR;
    }
    json_t *doc = json_loads(rec.doc, 0, NULL);
    dps_free_secret_string(rec.doc);
    rec.doc = NULL;
    dps_record_free(&rec);
    if (!json_is_object(doc)) {
        json_decref(doc);
        hubd__set_error("access policy %s is unreadable", key);
        return HUBD_ERROR;
    }
    *out = doc;
    return HUBD_OK;
}

unsigned hubd_policy_rights(const json_t *policy)
{
    unsigned m = 0;
    if (hubd_rights_parse(json_string_value(json_object_get(policy, "rights")), &m) != 0)
        return 0;
    return m;
}

bool hubd_policy_signed(const json_t *policy, const dps_sas_token *t)
{
    return dps_access_policy_signed(policy, t);
}
