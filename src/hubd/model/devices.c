/* Device identities (devices.h): ID rules, the stored document, validation
 * of the registry's device JSON, create / update / delete with ETags. */
#include "model/devices.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/access_policy.h"
#include "common/log.h"
#include "common/secret.h"
#include "common/timeutil.h"
#include "model/hub_errors.h"
#include "model/twin.h"

static const char id_punct[] = "-.+%_#*?!(),=@$'";

bool hubd_device_id_valid(const char *id)
{
    if (id == NULL)
        return false;
    size_t n = strlen(id);
    if (n == 0 || n > HUBD_DEVICE_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id[i];
        if (c >= 0x80 || (!isalnum(c) && strchr(id_punct, c) == NULL))
            return false;
    }
    return true;
}

bool hubd_device_key(const char *hub, const char *id, char out[HUBD_DEVICE_KEY_SIZE])
{
    char canon[HUBD_HUB_NAME_SIZE];
    if (!hubd_hub_canon(hub, canon) || !hubd_device_id_valid(id))
        return false;
    int w = snprintf(out, HUBD_DEVICE_KEY_SIZE, "%s/%s", canon, id);
    return w > 0 && (size_t)w < HUBD_DEVICE_KEY_SIZE;
}

void hubd_time_or_never(int64_t ns, char out[48])
{
    if (ns <= 0)
        snprintf(out, 48, "%s", HUBD_NEVER_TIME);
    else
        dps_time_iso(ns, out);
}

/* ---- store access -------------------------------------------------------- */

hubd_result hubd_device_load(hubd_ctx *ctx, const char *hub, const char *id, json_t **doc,
                             char **rec_etag)
{
    *doc = NULL;
    if (rec_etag != NULL)
        *rec_etag = NULL;
    char key[HUBD_DEVICE_KEY_SIZE];
    if (!hubd_device_key(hub, id, key))
        return HUBD_NOT_FOUND;
    dps_record rec = {0};
    dps_store_result r = dps_store_get(ctx->store, DPS_COLL_HUB_DEVICE, key, &rec);
    if (r == DPS_STORE_NOT_FOUND)
        return HUBD_NOT_FOUND;
    if (r != DPS_STORE_OK) {
        hubd__set_error("cannot read device %s", id);
        return HUBD_ERROR;
    }
    json_t *d = json_loads(rec.doc, 0, NULL);
    /* The document holds device keys. */
    dps_free_secret_string(rec.doc);
    rec.doc = NULL;
    if (!json_is_object(d)) {
        json_decref(d);
        dps_record_free(&rec);
        log_error("hub device record %s is corrupt", key);
        hubd__set_error("device %s is unreadable", id);
        return HUBD_ERROR;
    }
    if (rec_etag != NULL) {
        *rec_etag = rec.etag;
        rec.etag = NULL;
    }
    dps_record_free(&rec);
    *doc = d;
    return HUBD_OK;
}

/* Writes doc as a new record (expected NULL) or over the version expected. */
static dps_store_result device_save(hubd_ctx *ctx, const char *hub, const char *id,
                                    const json_t *doc, const char *expected)
{
    char key[HUBD_DEVICE_KEY_SIZE];
    char group[HUBD_HUB_NAME_SIZE];
    char etag[HUBD_ETAG_SIZE];
    if (!hubd_device_key(hub, id, key) || !hubd_hub_canon(hub, group) || hubd_etag_new(etag) != 0)
        return DPS_STORE_ERROR;
    char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text == NULL)
        return DPS_STORE_ERROR;
    dps_record rec = {.key = key, .doc = text, .etag = etag, .group = group};
    dps_store_result r = dps_store_put(ctx->store, DPS_COLL_HUB_DEVICE, &rec,
                                       expected != NULL ? DPS_PUT_IF_ETAG : DPS_PUT_CREATE,
                                       expected);
    dps_free_secret_string(text);
    return r;
}

hubd_result hubd_device_modify(hubd_ctx *ctx, const char *hub, const char *id,
                               hubd_device_mutator fn, void *arg, json_t **doc_out)
{
    if (doc_out != NULL)
        *doc_out = NULL;
    for (int attempt = 0; attempt < HUBD_WRITE_RETRIES; attempt++) {
        json_t *doc = NULL;
        char *rec_etag = NULL;
        hubd_result hr = hubd_device_load(ctx, hub, id, &doc, &rec_etag);
        if (hr == HUBD_OK)
            hr = fn(doc, arg);
        if (hr != HUBD_OK) {
            json_decref(doc);
            free(rec_etag);
            return hr;
        }
        dps_store_result r = device_save(ctx, hub, id, doc, rec_etag);
        free(rec_etag);
        if (r == DPS_STORE_OK) {
            if (doc_out != NULL)
                *doc_out = doc;
            else
                json_decref(doc);
            return HUBD_OK;
        }
        json_decref(doc);
        if (r == DPS_STORE_NOT_FOUND)
            return HUBD_NOT_FOUND; /* deleted in between */
        if (r != DPS_STORE_ETAG_MISMATCH) {
            hubd__set_error("cannot write device %s", id);
            return HUBD_ERROR;
        }
    }
    hubd__set_error("device %s is being changed by others; try again", id);
    return HUBD_ERROR;
}

/* ---- validation of the device JSON --------------------------------------- */

/* An optional string member: absent or null gives NULL; another type or a
 * longer string is refused. */
static int opt_string(const json_t *obj, const char *name, size_t max, const char **out)
{
    *out = NULL;
    const json_t *v = json_object_get(obj, name);
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v) || json_string_length(v) > max) {
        hubd__set_error("%s must be a string of at most %zu characters", name, max);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

/* An optional object member (absent / null → NULL). */
static int opt_object(const json_t *obj, const char *name, const json_t **out)
{
    *out = NULL;
    const json_t *v = json_object_get(obj, name);
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_object(v)) {
        hubd__set_error("%s must be an object", name);
        return -1;
    }
    *out = v;
    return 0;
}

static bool key_valid(const char *b64)
{
    return dps_access_policy_key_valid(b64, HUBD_DEVICE_KEY_MIN_BYTES,
                                       HUBD_DEVICE_KEY_MAX_BYTES);
}

static json_t *new_key(void)
{
    char *b64 = dps_access_policy_new_key(HUBD_DEVICE_KEY_BYTES);
    json_t *v = b64 != NULL ? json_string(b64) : NULL;
    dps_free_secret_string(b64);
    return v;
}

/* A thumbprint in hex (SHA-1: 40, SHA-256: 64 digits), stored upper-case. */
static json_t *thumbprint_value(const char *text, const char *name)
{
    size_t n = strlen(text);
    if (n != 40 && n != 64) {
        hubd__set_error("%s must be a SHA-1 (40) or SHA-256 (64) hex thumbprint", name);
        return NULL;
    }
    char up[65];
    for (size_t i = 0; i < n; i++) {
        if (!isxdigit((unsigned char)text[i])) {
            hubd__set_error("%s must be hexadecimal", name);
            return NULL;
        }
        up[i] = (char)toupper((unsigned char)text[i]);
    }
    up[n] = '\0';
    return json_string(up);
}

static const char *const auth_types[] = {"sas", "selfSigned", "certificateAuthority", "none"};

/* The canonical spelling of an authentication type, NULL when unknown. */
static const char *auth_type_canon(const char *t)
{
    for (size_t i = 0; i < sizeof auth_types / sizeof auth_types[0]; i++)
        if (strcasecmp(t, auth_types[i]) == 0)
            return auth_types[i];
    return NULL;
}

/* Sets one key slot: the given key, the old one (an update that sends no
 * keys keeps them) or a new random one (hub.md §5: Node creates devices with
 * empty keys). */
static int set_key(json_t *sk, const char *slot, const char *given, const json_t *old_sk)
{
    json_t *v = NULL;
    if (given != NULL && given[0] != '\0') {
        if (!key_valid(given)) {
            hubd__set_error("symmetricKey.%s must be base64 of %d to %d bytes", slot,
                            HUBD_DEVICE_KEY_MIN_BYTES, HUBD_DEVICE_KEY_MAX_BYTES);
            return -1;
        }
        v = json_string(given);
    } else if (json_is_string(json_object_get(old_sk, slot))) {
        v = json_copy(json_object_get(old_sk, slot));
    } else {
        v = new_key();
    }
    if (v == NULL || json_object_set_new(sk, slot, v) != 0) {
        hubd__set_error("out of memory");
        return -1;
    }
    return 0;
}

static int set_thumbprint(json_t *tp, const char *slot, const char *given, bool required)
{
    json_t *v = NULL;
    if (given == NULL || given[0] == '\0') {
        if (required) {
            hubd__set_error("x509Thumbprint.%s is required for selfSigned devices", slot);
            return -1;
        }
        v = json_null();
    } else {
        v = thumbprint_value(given, slot);
        if (v == NULL)
            return -1;
    }
    return json_object_set_new(tp, slot, v);
}

/* The canonical authentication object from the request's (NULL: default
 * sas). old is the stored one on an update (keys are kept from it). */
static json_t *auth_canon(const json_t *in, const json_t *old)
{
    const json_t *sk_in = NULL, *tp_in = NULL;
    const char *type = NULL, *pk = NULL, *sk2 = NULL, *pt = NULL, *st = NULL;
    if (in != NULL &&
        (opt_string(in, "type", 32, &type) != 0 || opt_object(in, "symmetricKey", &sk_in) != 0 ||
         opt_object(in, "x509Thumbprint", &tp_in) != 0))
        return NULL;
    if ((sk_in != NULL && (opt_string(sk_in, "primaryKey", 256, &pk) != 0 ||
                           opt_string(sk_in, "secondaryKey", 256, &sk2) != 0)) ||
        (tp_in != NULL && (opt_string(tp_in, "primaryThumbprint", 128, &pt) != 0 ||
                           opt_string(tp_in, "secondaryThumbprint", 128, &st) != 0)))
        return NULL;
    const char *canon = type != NULL ? auth_type_canon(type) : "sas";
    if (canon == NULL) {
        hubd__set_error("authentication.type must be sas, selfSigned, certificateAuthority or none");
        return NULL;
    }
    bool has_keys = (pk != NULL && pk[0] != '\0') || (sk2 != NULL && sk2[0] != '\0');
    bool has_tp = (pt != NULL && pt[0] != '\0') || (st != NULL && st[0] != '\0');
    if (strcmp(canon, "sas") != 0 && has_keys) {
        hubd__set_error("symmetric keys are only allowed with authentication type sas");
        return NULL;
    }
    if (strcmp(canon, "selfSigned") != 0 && has_tp) {
        hubd__set_error("thumbprints are only allowed with authentication type selfSigned");
        return NULL;
    }
    json_t *out = json_object();
    json_t *sk = json_pack("{s:n,s:n}", "primaryKey", "secondaryKey");
    json_t *tp = json_pack("{s:n,s:n}", "primaryThumbprint", "secondaryThumbprint");
    if (out == NULL || sk == NULL || tp == NULL)
        goto fail;
    if (strcmp(canon, "sas") == 0) {
        const json_t *old_sk = NULL;
        const char *old_type = json_string_value(json_object_get(old, "type"));
        if (old_type != NULL && strcmp(old_type, "sas") == 0)
            old_sk = json_object_get(old, "symmetricKey");
        if (set_key(sk, "primaryKey", pk, old_sk) != 0 ||
            set_key(sk, "secondaryKey", sk2, old_sk) != 0)
            goto fail;
    } else if (strcmp(canon, "selfSigned") == 0) {
        if (set_thumbprint(tp, "primaryThumbprint", pt, true) != 0 ||
            set_thumbprint(tp, "secondaryThumbprint", st, false) != 0)
            goto fail;
    }
    if (json_object_set_new(out, "symmetricKey", sk) != 0) {
        sk = NULL;
        goto fail;
    }
    sk = NULL;
    if (json_object_set_new(out, "x509Thumbprint", tp) != 0) {
        tp = NULL;
        goto fail;
    }
    tp = NULL;
    if (json_object_set_new(out, "type", json_string(canon)) != 0)
        goto fail;
    return out;
fail:
    json_decref(sk);
    json_decref(tp);
    json_decref(out);
    return NULL;
}

/* Validates the request body and writes the identity members into doc
 * (a fresh document, or the stored one on an update). */
static hubd_result apply_identity(json_t *doc, const char *id, const json_t *body, int64_t now_ns)
{
    const char *body_id = NULL, *status = NULL, *reason = NULL, *scope = NULL;
    const json_t *auth = NULL, *caps = NULL;
    if (opt_string(body, "deviceId", HUBD_DEVICE_ID_MAX, &body_id) != 0 ||
        opt_string(body, "status", 16, &status) != 0 ||
        opt_string(body, "statusReason", HUBD_STATUS_REASON_MAX, &reason) != 0 ||
        opt_string(body, "deviceScope", HUBD_SCOPE_MAX, &scope) != 0 ||
        opt_object(body, "authentication", &auth) != 0 ||
        opt_object(body, "capabilities", &caps) != 0)
        return HUBD_INVALID;
    if (body_id != NULL && strcmp(body_id, id) != 0) {
        hubd__set_error("deviceId in the body (%s) differs from the one in the path", body_id);
        return HUBD_INVALID;
    }
    const char *new_status = "enabled";
    const char *old_status = json_string_value(json_object_get(doc, "status"));
    if (status != NULL) {
        if (strcasecmp(status, "enabled") == 0) {
            new_status = "enabled";
        } else if (strcasecmp(status, "disabled") == 0) {
            new_status = "disabled";
        } else {
            hubd__set_error("status must be enabled or disabled");
            return HUBD_INVALID;
        }
    } else if (old_status != NULL) {
        new_status = old_status;
    }
    const json_t *edge = json_object_get(caps, "iotEdge");
    if (edge != NULL && !json_is_boolean(edge) && !json_is_null(edge)) {
        hubd__set_error("capabilities.iotEdge must be a boolean");
        return HUBD_INVALID;
    }
    const json_t *parents = json_object_get(body, "parentScopes");
    if (parents != NULL && !json_is_null(parents)) {
        bool ok = json_is_array(parents) && json_array_size(parents) <= HUBD_PARENT_SCOPES_MAX;
        for (size_t i = 0; ok && i < json_array_size(parents); i++) {
            const json_t *p = json_array_get(parents, i);
            ok = json_is_string(p) && json_string_length(p) <= HUBD_SCOPE_MAX;
        }
        if (!ok) {
            hubd__set_error("parentScopes must be at most %d strings", HUBD_PARENT_SCOPES_MAX);
            return HUBD_INVALID;
        }
    }
    json_t *auth_new = auth_canon(auth, json_object_get(doc, "authentication"));
    if (auth_new == NULL)
        return HUBD_INVALID;
    char now[DPS_ISO_TIME_LEN];
    dps_time_iso(now_ns, now);
    int rc = 0;
    if (old_status == NULL || strcmp(old_status, new_status) != 0)
        rc |= json_object_set_new(doc, "statusUpdatedTime", json_string(now));
    rc |= json_object_set_new(doc, "status", json_string(new_status));
    rc |= json_object_set_new(doc, "statusReason", reason ? json_string(reason) : json_null());
    rc |= json_object_set_new(doc, "authentication", auth_new);
    rc |= json_object_set_new(doc, "capabilities",
                              json_pack("{s:b}", "iotEdge", json_is_true(edge)));
    rc |= json_object_set_new(doc, "deviceScope", scope ? json_string(scope) : json_null());
    rc |= json_object_set_new(doc, "parentScopes", parents && json_is_array(parents)
                                                        ? json_deep_copy(parents)
                                                        : json_array());
    char etag[HUBD_ETAG_SIZE];
    if (rc != 0 || hubd_etag_new(etag) != 0 ||
        json_object_set_new(doc, "etag", json_string(etag)) != 0) {
        hubd__set_error("out of memory");
        return HUBD_ERROR;
    }
    return HUBD_OK;
}

static hubd_result device_create(hubd_ctx *ctx, const char *hub, const char *id,
                                 const json_t *body, json_t **doc_out)
{
    int64_t now_ns = dps_now_ns();
    char gen[HUBD_ETAG_SIZE];
    json_t *twin = hubd_twin_new(now_ns);
    json_t *doc = json_pack("{s:s}", "deviceId", id);
    hubd_result hr = HUBD_ERROR;
    if (twin == NULL || doc == NULL || hubd_etag_new(gen) != 0) {
        hubd__set_error("out of memory");
        goto done;
    }
    hr = apply_identity(doc, id, body, now_ns);
    if (hr != HUBD_OK)
        goto done;
    /* generationId tells a re-created device from its predecessor. */
    if (json_object_set_new(doc, "generationId", json_string(gen)) != 0 ||
        json_object_set_new(doc, "cloudToDeviceMessageCount", json_integer(0)) != 0 ||
        json_object_set(doc, "twin", twin) != 0) {
        hubd__set_error("out of memory");
        hr = HUBD_ERROR;
        goto done;
    }
    dps_store_result r = device_save(ctx, hub, id, doc, NULL);
    if (r == DPS_STORE_EXISTS) {
        hubd__set_error("A device with ID '%s' is already registered", id);
        hr = HUBD_CONFLICT;
    } else if (r != DPS_STORE_OK) {
        hubd__set_error("cannot store device %s", id);
        hr = HUBD_ERROR;
    } else {
        *doc_out = doc;
        doc = NULL;
        hr = HUBD_OK;
    }
done:
    json_decref(twin);
    json_decref(doc);
    return hr;
}

typedef struct {
    const char *id;
    const json_t *body;
    const hubd_if_match *im;
    bool disconnect;
} update_arg;

static hubd_result update_fn(json_t *doc, void *argp)
{
    update_arg *a = argp;
    const char *etag = json_string_value(json_object_get(doc, "etag"));
    if (a->im->kind == HUBD_IFM_ETAG && (etag == NULL || strcmp(etag, a->im->etag) != 0)) {
        hubd__set_error("the device's ETag does not match If-Match");
        return HUBD_PRECONDITION;
    }
    json_t *old_auth = json_incref(json_object_get(doc, "authentication"));
    const char *old_status = json_string_value(json_object_get(doc, "status"));
    bool was_enabled = old_status == NULL || strcmp(old_status, "enabled") == 0;
    hubd_result hr = apply_identity(doc, a->id, a->body, dps_now_ns());
    if (hr == HUBD_OK) {
        const char *st = json_string_value(json_object_get(doc, "status"));
        bool now_enabled = st != NULL && strcmp(st, "enabled") == 0;
        a->disconnect = (was_enabled && !now_enabled) ||
                        !json_equal(old_auth, json_object_get(doc, "authentication"));
    }
    json_decref(old_auth);
    return hr;
}

hubd_result hubd_device_put(hubd_ctx *ctx, const char *hub, const char *id, const json_t *body,
                            const hubd_if_match *im, json_t **doc_out, bool *disconnect)
{
    *doc_out = NULL;
    *disconnect = false;
    hubd__clear_error();
    if (!hubd_device_id_valid(id)) {
        hubd__set_error("'%.140s' is not a valid device ID", id);
        return HUBD_INVALID;
    }
    if (im->kind == HUBD_IFM_NONE)
        return device_create(ctx, hub, id, body, doc_out);
    update_arg a = {.id = id, .body = body, .im = im, .disconnect = false};
    hubd_result hr = hubd_device_modify(ctx, hub, id, update_fn, &a, doc_out);
    if (hr == HUBD_NOT_FOUND)
        hubd__set_error("Device %s is not registered", id);
    *disconnect = hr == HUBD_OK && a.disconnect;
    return hr;
}

hubd_result hubd_device_delete(hubd_ctx *ctx, const char *hub, const char *id,
                               const hubd_if_match *im)
{
    char key[HUBD_DEVICE_KEY_SIZE];
    hubd__clear_error();
    if (!hubd_device_key(hub, id, key)) {
        hubd__set_error("Device %.140s is not registered", id);
        return HUBD_NOT_FOUND;
    }
    for (int attempt = 0; attempt < HUBD_WRITE_RETRIES; attempt++) {
        json_t *doc = NULL;
        char *rec_etag = NULL;
        hubd_result hr = hubd_device_load(ctx, hub, id, &doc, &rec_etag);
        if (hr == HUBD_NOT_FOUND)
            hubd__set_error("Device %s is not registered", id);
        if (hr != HUBD_OK)
            return hr;
        const char *etag = json_string_value(json_object_get(doc, "etag"));
        bool match = im->kind != HUBD_IFM_ETAG || (etag != NULL && strcmp(etag, im->etag) == 0);
        json_decref(doc);
        if (!match) {
            free(rec_etag);
            hubd__set_error("the device's ETag does not match If-Match");
            return HUBD_PRECONDITION;
        }
        dps_store_result r = dps_store_delete(ctx->store, DPS_COLL_HUB_DEVICE, key, rec_etag);
        free(rec_etag);
        if (r == DPS_STORE_OK)
            return HUBD_OK;
        if (r == DPS_STORE_NOT_FOUND) {
            hubd__set_error("Device %s is not registered", id);
            return HUBD_NOT_FOUND;
        }
        if (r != DPS_STORE_ETAG_MISMATCH) {
            hubd__set_error("cannot delete device %s", id);
            return HUBD_ERROR;
        }
    }
    hubd__set_error("device %s is being changed by others; try again", id);
    return HUBD_ERROR;
}

/* ---- presentation -------------------------------------------------------- */

static json_t *member_or_null(const json_t *doc, const char *name)
{
    json_t *v = json_object_get(doc, name);
    return v != NULL ? json_deep_copy(v) : json_null();
}

json_t *hubd_device_present(const json_t *doc, const hubd_conn_info *conn)
{
    char state_time[48], activity[48];
    hubd_time_or_never(conn->state_updated_ns, state_time);
    hubd_time_or_never(conn->last_activity_ns, activity);
    json_t *out = json_object();
    if (out == NULL)
        return NULL;
    int rc = 0;
    rc |= json_object_set_new(out, "deviceId", member_or_null(doc, "deviceId"));
    rc |= json_object_set_new(out, "generationId", member_or_null(doc, "generationId"));
    rc |= json_object_set_new(out, "etag", member_or_null(doc, "etag"));
    rc |= json_object_set_new(out, "connectionState",
                              json_string(conn->connected ? "Connected" : "Disconnected"));
    rc |= json_object_set_new(out, "status", member_or_null(doc, "status"));
    rc |= json_object_set_new(out, "statusReason", member_or_null(doc, "statusReason"));
    rc |= json_object_set_new(out, "connectionStateUpdatedTime", json_string(state_time));
    rc |= json_object_set_new(out, "statusUpdatedTime", member_or_null(doc, "statusUpdatedTime"));
    rc |= json_object_set_new(out, "lastActivityTime", json_string(activity));
    rc |= json_object_set_new(out, "cloudToDeviceMessageCount",
                              member_or_null(doc, "cloudToDeviceMessageCount"));
    rc |= json_object_set_new(out, "authentication", member_or_null(doc, "authentication"));
    rc |= json_object_set_new(out, "capabilities", member_or_null(doc, "capabilities"));
    rc |= json_object_set_new(out, "deviceScope", member_or_null(doc, "deviceScope"));
    rc |= json_object_set_new(out, "parentScopes", member_or_null(doc, "parentScopes"));
    if (rc != 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}
