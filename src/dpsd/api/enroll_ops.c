/* Store-level operations on enrollments and groups (enroll_ops.h). */
#include "api/enroll_ops.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/errors.h"
#include "api/service_internal.h"
#include "common/json.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "model/ids.h"
#include "model/x509_index.h"

#define HOST_KEY_MAX 256

/* ---- what the model may ask about the instance ---------------------------- */

/* Lower-cases s into out; false when it does not fit. */
static bool lower_key(const char *s, char *out, size_t outlen)
{
    size_t n = strlen(s);
    if (n == 0 || n >= outlen)
        return false;
    for (size_t i = 0; i <= n; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    return true;
}

static bool env_hub_linked(void *arg, const char *host)
{
    dpsd_ctx *ctx = arg;
    char key[HOST_KEY_MAX];
    if (!lower_key(host, key, sizeof key))
        return false;
    dps_record rec = {0};
    dps_store_result r = dps_store_get(ctx->store, DPS_COLL_LINKED_HUB, key, &rec);
    if (r == DPS_STORE_OK)
        dps_record_free(&rec);
    return r == DPS_STORE_OK;
}

/* CA certificates are written by the admin API; isVerified may sit at the
 * top of the document or under "properties" (the ARM shape). */
static dps_ca_state env_ca_state(void *arg, const char *name)
{
    dpsd_ctx *ctx = arg;
    char key[HOST_KEY_MAX];
    if (!lower_key(name, key, sizeof key))
        return DPS_CA_MISSING;
    dps_record rec = {0};
    if (dps_store_get(ctx->store, DPS_COLL_CA_CERTIFICATE, key, &rec) != DPS_STORE_OK)
        return DPS_CA_MISSING;
    json_t *doc = dps_api__record_doc(&rec);
    dps_record_free(&rec);
    json_t *v = json_object_get(doc, "isVerified");
    if (v == NULL)
        v = json_object_get(json_object_get(doc, "properties"), "isVerified");
    dps_ca_state st = json_is_true(v) ? DPS_CA_VERIFIED : DPS_CA_UNVERIFIED;
    json_decref(doc);
    return st;
}

/* ---- operations ---------------------------------------------------------- */

/* The ID a write is about: the path's, or the body's for bulk items. */
static bool write_key(const dps_enroll_desc *d, const char *path_id, const json_t *body,
                      char key[DPS_ID_KEY_SIZE], dps_model_err *err)
{
    const char *id = path_id ? path_id : json_string_value(json_object_get(body, d->id_field));
    if (id == NULL) {
        dps_model__fail(err, DPS_ERR_INVALID_ID, "%s is required", d->id_field);
        return false;
    }
    if (!dps_id_key(id, key)) {
        dps_model__fail(err, DPS_ERR_INVALID_ID,
                        "%s must be 1 to %d characters of letters, digits and ':._-', not "
                        "starting or ending with a special character",
                        d->id_field, DPS_ID_MAX);
        return false;
    }
    return true;
}

/* Reads the current version for a conditional write. Sets *prev (NULL when
 * there is none and a create is allowed). */
static int write_prev(dpsd_ctx *ctx, const dps_enroll_desc *d, const char *key,
                      const dps_if_match *im, int missing_code, dps_record *rec, json_t **prev,
                      dps_model_err *err)
{
    *prev = NULL;
    if (im->kind == DPS_IFM_NONE)
        return 0;
    dps_store_result r = dps_store_get(ctx->store, d->coll, key, rec);
    if (r == DPS_STORE_NOT_FOUND) {
        if (im->kind == DPS_IFM_ANY)
            return 0;
        if (missing_code == DPS_ERR_NOT_FOUND)
            dps_api__store_err(err, r, d->noun, key);
        else
            dps_model__fail(err, missing_code, "%s '%s' does not exist: the ETag cannot match",
                            d->noun, key);
        return -1;
    }
    if (r != DPS_STORE_OK) {
        dps_api__store_err(err, r, d->noun, key);
        return -1;
    }
    if (im->kind == DPS_IFM_ETAG && (rec->etag == NULL || strcmp(rec->etag, im->etag) != 0)) {
        dps_api__store_err(err, DPS_STORE_ETAG_MISMATCH, d->noun, key);
        return -1;
    }
    *prev = dps_api__record_doc(rec);
    if (*prev == NULL) {
        dps_model__fail(err, DPS_ERR_INTERNAL, "stored %s '%s' is unreadable", d->noun, key);
        return -1;
    }
    return 0;
}

json_t *dps_enroll_write(dpsd_ctx *ctx, const dps_enroll_desc *d, const char *path_id,
                         const json_t *body, const dps_if_match *im, int missing_code,
                         dps_model_err *err)
{
    char key[DPS_ID_KEY_SIZE];
    dps_record cur = {0};
    json_t *prev = NULL, *doc = NULL, *result = NULL;
    char *text = NULL;
    if (!write_key(d, path_id, body, key, err))
        goto done;
    if (write_prev(ctx, d, key, im, missing_code, &cur, &prev, err) != 0)
        goto done;
    dps_enroll_env env = {.hub_linked = env_hub_linked, .ca_state = env_ca_state, .arg = ctx};
    doc = dps_enrollment_normalise(d->kind, path_id, body, prev, &env, err);
    if (doc == NULL)
        goto done;
    char etag[DPS_ETAG_MAX], now[DPS_ISO_TIME_LEN];
    dps_time_iso(dps_now_ns(), now);
    if (dps_etag_new(etag) == 0 && dps_enrollment_stamp(doc, prev, etag, now) == 0)
        text = dps_json_dump(doc);
    if (text == NULL) {
        dps_model__fail(err, DPS_ERR_INTERNAL, "cannot prepare the %s", d->noun);
        goto done;
    }
    dps_record rec = {.key = key, .doc = text, .etag = etag, .group = NULL};
    /* Replace exactly the version read (or create when none was), so a
     * concurrent writer of the same record loses with 412 or 409. */
    dps_put_mode mode = prev ? DPS_PUT_IF_ETAG : DPS_PUT_CREATE;
    dps_store_result r = dps_store_put(ctx->store, d->coll, &rec, mode, prev ? cur.etag : NULL);
    if (r == DPS_STORE_NOT_FOUND)
        r = DPS_STORE_ETAG_MISMATCH; /* deleted since it was read */
    if (r != DPS_STORE_OK) {
        dps_api__store_err(err, r, d->noun, key);
        goto done;
    }
    /* X.509 attestation finds groups through this index; a failure is
     * logged there and heals on the group's next write. */
    if (d->coll == DPS_COLL_ENROLLMENT_GROUP)
        (void)dps_x509_index_group(ctx->store, key, doc);
    result = doc;
    doc = NULL;
done:
    free(text);
    json_decref(doc);
    json_decref(prev);
    dps_record_free(&cur);
    return result;
}

int dps_enroll_remove(dpsd_ctx *ctx, const dps_enroll_desc *d, const char *id,
                      const dps_if_match *im, dps_model_err *err)
{
    char key[DPS_ID_KEY_SIZE];
    if (!dps_id_key(id, key)) {
        /* No record can have an invalid ID. */
        dps_api__store_err(err, DPS_STORE_NOT_FOUND, d->noun, id);
        return -1;
    }
    const char *expected = im->kind == DPS_IFM_ETAG ? im->etag : NULL;
    dps_store_result r = dps_store_delete(ctx->store, d->coll, key, expected);
    if (r != DPS_STORE_OK) {
        dps_api__store_err(err, r, d->noun, id);
        return -1;
    }
    if (d->coll == DPS_COLL_ENROLLMENT_GROUP)
        (void)dps_x509_index_group(ctx->store, key, NULL);
    return 0;
}

json_t *dps_enroll_load(dpsd_ctx *ctx, const dps_enroll_desc *d, const char *id,
                        dps_model_err *err)
{
    char key[DPS_ID_KEY_SIZE];
    if (!dps_id_key(id, key)) {
        dps_api__store_err(err, DPS_STORE_NOT_FOUND, d->noun, id);
        return NULL;
    }
    dps_record rec = {0};
    dps_store_result r = dps_store_get(ctx->store, d->coll, key, &rec);
    if (r != DPS_STORE_OK) {
        dps_api__store_err(err, r, d->noun, id);
        return NULL;
    }
    json_t *doc = dps_api__record_doc(&rec);
    dps_record_free(&rec);
    if (doc == NULL)
        dps_model__fail(err, DPS_ERR_INTERNAL, "stored %s '%s' is unreadable", d->noun, id);
    return doc;
}

int dps_enroll_present(dpsd_ctx *ctx, const dps_enroll_desc *d, json_t *doc, bool with_secrets)
{
    if (!with_secrets)
        dps_enrollment_hide_secrets(doc);
    if (d->decorate == NULL)
        return 0;
    char key[DPS_ID_KEY_SIZE];
    if (!dps_id_key(json_string_value(json_object_get(doc, d->id_field)), key))
        return 0;
    return d->decorate(ctx, doc, key);
}
