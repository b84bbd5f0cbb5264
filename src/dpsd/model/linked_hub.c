#include "model/linked_hub.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/b64.h"
#include "common/secret.h"
#include "common/strparse.h"

enum { F_HOST, F_KEY_NAME, F_KEY, F_COUNT };
static const char *const field_names[F_COUNT] = {"HostName", "SharedAccessKeyName",
                                                 "SharedAccessKey"};

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

/* Trims blanks from both ends of [*p, *p + *n). */
static void trim(const char **p, size_t *n)
{
    while (*n > 0 && is_blank(**p)) {
        (*p)++;
        (*n)--;
    }
    while (*n > 0 && is_blank((*p)[*n - 1]))
        (*n)--;
}

static bool key_is_base64(const char *key)
{
    uint8_t *raw = NULL;
    size_t rawlen = 0;
    if (dps_b64_decode(key, strlen(key), &raw, &rawlen) != 0)
        return false;
    bool ok = rawlen > 0 && rawlen <= DPS_HUB_KEY_MAX_BYTES;
    dps_wipe(raw, rawlen);
    free(raw);
    return ok;
}

static bool key_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > DPS_HUB_KEY_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7F)
            return false;
    }
    return true;
}

/* Stores one "name=value" segment into vals; -1 with err on a problem. */
static int take_segment(const char *seg, size_t n, char *vals[F_COUNT], char *err,
                        size_t errlen)
{
    const char *eq = memchr(seg, '=', n);
    if (eq == NULL) {
        snprintf(err, errlen, "connection string segment without '='");
        return -1;
    }
    const char *name = seg;
    size_t namelen = (size_t)(eq - seg);
    const char *val = eq + 1;
    size_t vallen = n - namelen - 1;
    trim(&name, &namelen);
    trim(&val, &vallen);
    int f = -1;
    for (int i = 0; i < F_COUNT; i++) {
        if (strlen(field_names[i]) == namelen &&
            strncasecmp(field_names[i], name, namelen) == 0)
            f = i;
    }
    if (f < 0) {
        snprintf(err, errlen, "connection string field '%.*s' is not allowed",
                 (int)(namelen > 40 ? 40 : namelen), name);
        return -1;
    }
    if (vals[f] != NULL) {
        snprintf(err, errlen, "connection string repeats %s", field_names[f]);
        return -1;
    }
    if (vallen == 0) {
        snprintf(err, errlen, "connection string has an empty %s", field_names[f]);
        return -1;
    }
    vals[f] = strndup(val, vallen);
    if (vals[f] == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

int dps_hub_connstr_parse(const char *text, unsigned flags, dps_hub_connstr *out,
                          char *err, size_t errlen)
{
    char *vals[F_COUNT] = {NULL, NULL, NULL};
    int rc = -1;
    size_t len = strlen(text);
    if (len > DPS_HUB_CONNSTR_MAX) {
        snprintf(err, errlen, "connection string longer than %d characters",
                 DPS_HUB_CONNSTR_MAX);
        goto done;
    }
    for (const char *p = text; *p != '\0';) {
        const char *semi = strchr(p, ';');
        size_t n = semi ? (size_t)(semi - p) : strlen(p);
        const char *seg = p;
        size_t seglen = n;
        trim(&seg, &seglen);
        /* Empty segments (a trailing ';', ";;") carry nothing and are skipped. */
        if (seglen > 0 && take_segment(seg, seglen, vals, err, errlen) != 0)
            goto done;
        p += n;
        if (*p == ';')
            p++;
    }
    for (int i = 0; i < F_COUNT; i++) {
        if (vals[i] == NULL) {
            snprintf(err, errlen, "connection string lacks %s", field_names[i]);
            goto done;
        }
    }
    if (!dps_hub_name_valid(vals[F_HOST])) {
        snprintf(err, errlen, "connection string HostName is not a valid host name");
        goto done;
    }
    if (!key_name_valid(vals[F_KEY_NAME])) {
        snprintf(err, errlen, "connection string SharedAccessKeyName is not valid");
        goto done;
    }
    bool masked = strcmp(vals[F_KEY], DPS_HUB_KEY_MASK) == 0;
    if (masked && (flags & DPS_CONNSTR_ALLOW_MASKED) == 0) {
        snprintf(err, errlen, "connection string SharedAccessKey is masked");
        goto done;
    }
    if (!masked && !key_is_base64(vals[F_KEY])) {
        snprintf(err, errlen, "connection string SharedAccessKey is not valid base64");
        goto done;
    }
    out->host_name = vals[F_HOST];
    out->key_name = vals[F_KEY_NAME];
    out->key = vals[F_KEY];
    out->key_masked = masked;
    vals[F_HOST] = vals[F_KEY_NAME] = vals[F_KEY] = NULL;
    rc = 0;
done:
    free(vals[F_HOST]);
    free(vals[F_KEY_NAME]);
    dps_free_secret_string(vals[F_KEY]);
    return rc;
}

void dps_hub_connstr_free(dps_hub_connstr *c)
{
    free(c->host_name);
    free(c->key_name);
    dps_free_secret_string(c->key);
    c->host_name = c->key_name = c->key = NULL;
    c->key_masked = false;
}

char *dps_hub_connstr_format(const dps_hub_connstr *c, bool mask_key)
{
    const char *key = mask_key ? DPS_HUB_KEY_MASK : c->key;
    size_t n = strlen(c->host_name) + strlen(c->key_name) + strlen(key) + 64;
    char *out = malloc(n);
    if (out == NULL)
        return NULL;
    snprintf(out, n, "HostName=%s;SharedAccessKeyName=%s;SharedAccessKey=%s",
             c->host_name, c->key_name, key);
    return out;
}

char *dps_hub_connstr_mask(const char *text)
{
    dps_hub_connstr c = {0};
    char err[128];
    if (dps_hub_connstr_parse(text, DPS_CONNSTR_ALLOW_MASKED, &c, err, sizeof err) != 0)
        return NULL;
    char *out = dps_hub_connstr_format(&c, true);
    dps_hub_connstr_free(&c);
    return out;
}

static bool valid_port(const char *s)
{
    int64_t port = 0;
    return dps_parse_int64(s, strlen(s), 1, 65535, &port) == 0;
}

bool dps_hub_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > DPS_HUB_NAME_MAX)
        return false;
    const char *colon = strchr(name, ':');
    size_t hostlen = colon ? (size_t)(colon - name) : n;
    if (colon != NULL && !valid_port(colon + 1))
        return false;
    /* DNS labels (RFC 1123): 1..63 letters, digits and hyphens, neither
     * starting nor ending with a hyphen. */
    size_t label = 0;
    for (size_t i = 0; i < hostlen; i++) {
        char c = name[i];
        if (c == '.') {
            if (label == 0 || name[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || (c == '-' && label > 0);
        if (!ok || ++label > 63)
            return false;
    }
    return label > 0 && name[hostlen - 1] != '-';
}

bool dps_hub_registry_url_valid(const char *url)
{
    size_t n = strlen(url);
    if (n > DPS_HUB_URL_MAX)
        return false;
    size_t skip = 0;
    if (strncasecmp(url, "https://", 8) == 0)
        skip = 8;
    else if (strncasecmp(url, "http://", 7) == 0)
        skip = 7;
    else
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= 0x20 || c >= 0x7F)
            return false;
    }
    /* The authority must not be empty: "https://" and "https:///x" are refused. */
    return url[skip] != '\0' && url[skip] != '/' && url[skip] != '?' && url[skip] != '#';
}

/* Copies an optional string member: absent or null gives NULL. */
static int opt_string(const json_t *doc, const char *key, char **out)
{
    const json_t *v = json_object_get(doc, key);
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return -1;
    *out = strdup(json_string_value(v));
    return *out == NULL ? -1 : 0;
}

int dps_linked_hub_from_json(const json_t *doc, dps_linked_hub *out, char *err,
                             size_t errlen)
{
    dps_linked_hub h = {0};
    if (errlen > 0)
        err[0] = '\0';
    h.weight = 1;
    h.apply_allocation_policy = true;
    const char *name = json_string_value(json_object_get(doc, "name"));
    const char *cs = json_string_value(json_object_get(doc, "connectionString"));
    if (name == NULL || cs == NULL) {
        snprintf(err, errlen, "hub document lacks name or connectionString");
        goto fail;
    }
    h.name = strdup(name);
    if (h.name == NULL || dps_hub_connstr_parse(cs, 0, &h.conn, err, errlen) != 0)
        goto fail;
    if (opt_string(doc, "registryUrl", &h.registry_url) != 0 ||
        opt_string(doc, "location", &h.location) != 0) {
        snprintf(err, errlen, "hub document has a malformed registryUrl or location");
        goto fail;
    }
    if (h.registry_url == NULL) {
        size_t n = strlen(name) + 9;
        h.registry_url = malloc(n);
        if (h.registry_url == NULL)
            goto fail;
        snprintf(h.registry_url, n, "https://%s", name);
    }
    const json_t *w = json_object_get(doc, "allocationWeight");
    if (json_is_integer(w) && json_integer_value(w) >= DPS_HUB_WEIGHT_MIN &&
        json_integer_value(w) <= DPS_HUB_WEIGHT_MAX)
        h.weight = (int)json_integer_value(w);
    else if (w != NULL && !json_is_null(w)) {
        snprintf(err, errlen, "hub document has a malformed allocationWeight");
        goto fail;
    }
    const json_t *a = json_object_get(doc, "applyAllocationPolicy");
    if (json_is_boolean(a))
        h.apply_allocation_policy = json_is_true(a);
    else if (a != NULL && !json_is_null(a)) {
        snprintf(err, errlen, "hub document has a malformed applyAllocationPolicy");
        goto fail;
    }
    const char *mcs = json_string_value(json_object_get(doc, "migrationConnectionString"));
    if (mcs != NULL) {
        if (dps_hub_connstr_parse(mcs, 0, &h.migration, err, errlen) != 0)
            goto fail;
        h.has_migration = true;
    }
    *out = h;
    return 0;
fail:
    if (err[0] == '\0')
        snprintf(err, errlen, "out of memory");
    dps_linked_hub_free(&h);
    return -1;
}

void dps_linked_hub_free(dps_linked_hub *h)
{
    free(h->name);
    dps_hub_connstr_free(&h->conn);
    free(h->registry_url);
    free(h->location);
    dps_hub_connstr_free(&h->migration);
    h->has_migration = false;
    h->name = h->registry_url = h->location = NULL;
}
