/* The X.509 lookup index (x509_index.h). */
#include "model/x509_index.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "pki/pki.h"

/* Rows carry no document of their own; the ETag is fixed because nobody
 * writes them conditionally. */
#define ROW_DOC "{}"
#define ROW_ETAG "x509-index"

static void lower_ascii(char *s)
{
    for (; *s != '\0'; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

static int value_of(const char *prefix, const char *text, char *out, size_t outlen)
{
    int n = snprintf(out, outlen, "%s%s", prefix, text);
    if (n < 0 || (size_t)n >= outlen)
        return -1;
    lower_ascii(out);
    return 0;
}

int dps_x509_index_name_value(const X509_NAME *name, char *out, size_t outlen)
{
    char *text = dps_x509_name_text(name);
    int rc = text != NULL ? value_of("n:", text, out, outlen) : -1;
    free(text);
    return rc;
}

/* Writes (value non-NULL) or removes one row. */
static int set_row(dps_store *s, const char *key, const char *value)
{
    dps_store_result r;
    if (value == NULL) {
        r = dps_store_delete(s, DPS_COLL_X509_INDEX, key, NULL);
        if (r == DPS_STORE_NOT_FOUND)
            r = DPS_STORE_OK;
    } else {
        dps_record rec = {.key = (char *)key,
                          .doc = (char *)ROW_DOC,
                          .etag = (char *)ROW_ETAG,
                          .group = (char *)value};
        r = dps_store_put(s, DPS_COLL_X509_INDEX, &rec, DPS_PUT_UPSERT, NULL);
    }
    if (r != DPS_STORE_OK) {
        log_error("x509 index: cannot update row '%s': %s", key, dps_store_result_name(r));
        return -1;
    }
    return 0;
}

int dps_x509_index_group(dps_store *s, const char *group_key, const json_t *doc)
{
    static const char *const slots[] = {"primary", "secondary"};
    const json_t *x509 = json_object_get(json_object_get(doc, "attestation"), "x509");
    const json_t *signing = json_object_get(x509, "signingCertificates");
    const json_t *refs = json_object_get(x509, "caReferences");
    int rc = 0;
    for (size_t i = 0; i < 2; i++) {
        char key[DPS_X509_INDEX_VALUE_MAX], value[DPS_X509_INDEX_VALUE_MAX];
        const char *subject = json_string_value(
            json_object_get(json_object_get(json_object_get(signing, slots[i]), "info"),
                            "subjectName"));
        snprintf(key, sizeof key, "s/%s/%s", group_key, slots[i]);
        if (subject != NULL && value_of("n:", subject, value, sizeof value) != 0) {
            log_error("x509 index: group '%s': signing certificate subject too long to index",
                      group_key);
            subject = NULL;
        }
        rc |= set_row(s, key, subject != NULL ? value : NULL);

        const char *ca = json_string_value(json_object_get(refs, slots[i]));
        snprintf(key, sizeof key, "r/%s/%s", group_key, slots[i]);
        if (ca != NULL && value_of("ca:", ca, value, sizeof value) != 0)
            ca = NULL; /* CA names are capped far below this */
        rc |= set_row(s, key, ca != NULL ? value : NULL);
    }
    return rc != 0 ? -1 : 0;
}

int dps_x509_index_ca(dps_store *s, const char *ca_key, const char *subject)
{
    char key[DPS_X509_INDEX_VALUE_MAX], value[DPS_X509_INDEX_VALUE_MAX];
    snprintf(key, sizeof key, "c/%s", ca_key);
    if (subject != NULL && value_of("n:", subject, value, sizeof value) != 0) {
        log_error("x509 index: CA certificate '%s': subject too long to index", ca_key);
        subject = NULL;
    }
    return set_row(s, key, subject != NULL ? value : NULL);
}

/* "s/<id>/<slot>", "r/<id>/<slot>" or "c/<id>" into hit; false when the
 * key is not one of ours. */
static bool parse_key(const char *key, dps_x509_hit *hit)
{
    if (key[0] == '\0' || key[1] != '/')
        return false;
    const char *id = key + 2;
    const char *slash = strrchr(id, '/');
    memset(hit, 0, sizeof *hit);
    switch (key[0]) {
    case 's':
    case 'r':
        if (slash == NULL || (size_t)(slash - id) >= sizeof hit->id ||
            strlen(slash + 1) >= sizeof hit->slot)
            return false;
        hit->kind = key[0] == 's' ? DPS_X509_HIT_SIGNING : DPS_X509_HIT_CAREF;
        memcpy(hit->id, id, (size_t)(slash - id));
        snprintf(hit->slot, sizeof hit->slot, "%s", slash + 1);
        return true;
    case 'c':
        if (strlen(id) >= sizeof hit->id)
            return false;
        hit->kind = DPS_X509_HIT_CA;
        snprintf(hit->id, sizeof hit->id, "%s", id);
        return true;
    default:
        return false;
    }
}

dps_store_result dps_x509_index_lookup(dps_store *s, const char *value, dps_x509_hit *hits,
                                       size_t max, size_t *n)
{
    *n = 0;
    if (max == 0)
        return DPS_STORE_OK;
    dps_record_list list = {0};
    dps_store_result r = dps_store_list(s, DPS_COLL_X509_INDEX, value, NULL, max, &list);
    if (r != DPS_STORE_OK)
        return r;
    for (size_t i = 0; i < list.count && *n < max; i++)
        if (parse_key(list.items[i].key, &hits[*n]))
            (*n)++;
    if (list.more)
        log_warn("x509 index: more than %zu certificates share one name; the rest are ignored",
                 max);
    dps_record_list_free(&list);
    return DPS_STORE_OK;
}
