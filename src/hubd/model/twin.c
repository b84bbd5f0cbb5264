/* Device twins (twin.h): limits, merge with $metadata and $version, the
 * service-side PATCH / PUT and the twin JSON. */
#include "model/twin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"
#include "model/hub_errors.h"

#define DUMP_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY)

/* ---- limits -------------------------------------------------------------- */

static int check_key(const char *key, const char *what)
{
    size_t n = strlen(key);
    if (n == 0 || n > HUBD_TWIN_MAX_KEY) {
        hubd__set_error("%s: member names must be 1 to %d bytes long", what, HUBD_TWIN_MAX_KEY);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)key[i];
        if (c < 0x20 || c == 0x7f || c == '.' || c == '$' || c == ' ') {
            hubd__set_error("%s: member name '%.64s' holds '.', '$', a space or a control "
                            "character", what, key);
            return -1;
        }
    }
    return 0;
}

static int check_value(const char *key, const json_t *v, int depth, bool allow_null,
                       const char *what);

static int check_object(const json_t *obj, int depth, bool allow_null, bool skip_dollar,
                        const char *what)
{
    const char *key;
    const json_t *v;
    json_object_foreach ((json_t *)obj, key, v) {
        if (skip_dollar && key[0] == '$')
            continue;
        if (check_key(key, what) != 0 || check_value(key, v, depth, allow_null, what) != 0)
            return -1;
    }
    return 0;
}

static int check_value(const char *key, const json_t *v, int depth, bool allow_null,
                       const char *what)
{
    switch (json_typeof(v)) {
    case JSON_NULL:
        if (!allow_null) {
            hubd__set_error("%s: '%.64s' is null, which is not a property value", what, key);
            return -1;
        }
        return 0;
    case JSON_OBJECT:
        if (depth + 1 > HUBD_TWIN_MAX_DEPTH) {
            hubd__set_error("%s: objects nest deeper than %d levels", what, HUBD_TWIN_MAX_DEPTH);
            return -1;
        }
        return check_object(v, depth + 1, allow_null, false, what);
    case JSON_ARRAY:
        hubd__set_error("%s: '%.64s' is an array; twin values are bool, number, string or "
                        "object", what, key);
        return -1;
    case JSON_STRING:
        if (json_string_length(v) > HUBD_TWIN_MAX_STRING) {
            hubd__set_error("%s: the string of '%.64s' is longer than %d bytes", what, key,
                            HUBD_TWIN_MAX_STRING);
            return -1;
        }
        return 0;
    case JSON_INTEGER: {
        json_int_t i = json_integer_value(v);
        if (i > HUBD_TWIN_MAX_INT || i < -HUBD_TWIN_MAX_INT) {
            hubd__set_error("%s: the integer of '%.64s' is outside +-%lld", what, key,
                            HUBD_TWIN_MAX_INT);
            return -1;
        }
        return 0;
    }
    default:
        return 0;
    }
}

int hubd_twin_check(const json_t *obj, bool allow_null, bool skip_dollar, const char *what)
{
    if (!json_is_object(obj)) {
        hubd__set_error("%s must be an object", what);
        return -1;
    }
    return check_object(obj, 1, allow_null, skip_dollar, what); /* top members: level 1 */
}

/* Serialised size of a section's user members (the limits count those). */
static size_t section_size(const json_t *sec)
{
    size_t total = 2;
    const char *key;
    const json_t *v;
    json_object_foreach ((json_t *)sec, key, v) {
        if (key[0] == '$')
            continue;
        total += strlen(key) + 4 + json_dumpb(v, NULL, 0, DUMP_FLAGS);
    }
    return total;
}

/* ---- merging ------------------------------------------------------------- */

typedef struct {
    const char *time; /* $lastUpdated */
    int64_t version;  /* $lastUpdatedVersion, or -1 for none */
} stamp;

static int touch(json_t *meta, const stamp *s)
{
    int rc = json_object_set_new(meta, "$lastUpdated", json_string(s->time));
    if (s->version >= 0)
        rc |= json_object_set_new(meta, "$lastUpdatedVersion", json_integer(s->version));
    return rc;
}

/* A copy of v with null members dropped at every level (a new object in a
 * merge patch takes only its non-null members). */
static json_t *copy_without_nulls(const json_t *v)
{
    if (!json_is_object(v))
        return json_deep_copy(v);
    json_t *out = json_object();
    const char *key;
    const json_t *m;
    json_object_foreach ((json_t *)v, key, m) {
        if (out == NULL)
            break;
        if (json_is_null(m))
            continue;
        json_t *c = copy_without_nulls(m);
        if (c == NULL || json_object_set_new(out, key, c) != 0) {
            json_decref(out);
            out = NULL;
        }
    }
    return out;
}

/* $metadata for a freshly written value: one stamp per node. */
static json_t *build_meta(const json_t *v, const stamp *s)
{
    json_t *meta = json_object();
    if (meta == NULL || touch(meta, s) != 0) {
        json_decref(meta);
        return NULL;
    }
    if (!json_is_object(v))
        return meta;
    const char *key;
    const json_t *m;
    json_object_foreach ((json_t *)v, key, m) {
        json_t *child = build_meta(m, s);
        if (child == NULL || json_object_set_new(meta, key, child) != 0) {
            json_decref(meta);
            return NULL;
        }
    }
    return meta;
}

/* RFC 7386 merge of patch into target; meta (may be NULL: tags) follows. */
static int merge_node(json_t *target, json_t *meta, const json_t *patch, const stamp *s, bool top)
{
    const char *key;
    const json_t *val;
    json_object_foreach ((json_t *)patch, key, val) {
        if (top && key[0] == '$')
            continue;
        if (json_is_null(val)) {
            (void)json_object_del(target, key);
            if (meta != NULL)
                (void)json_object_del(meta, key);
            continue;
        }
        json_t *cur = json_object_get(target, key);
        if (json_is_object(val) && json_is_object(cur)) {
            json_t *m = NULL;
            if (meta != NULL) {
                m = json_object_get(meta, key);
                if (!json_is_object(m)) {
                    m = json_object();
                    if (m == NULL || json_object_set_new(meta, key, m) != 0)
                        return -1;
                }
            }
            if (merge_node(cur, m, val, s, false) != 0 || (m != NULL && touch(m, s) != 0))
                return -1;
            continue;
        }
        json_t *copy = copy_without_nulls(val);
        if (copy == NULL || json_object_set_new(target, key, copy) != 0)
            return -1;
        if (meta != NULL) {
            json_t *m = build_meta(copy, s);
            if (m == NULL || json_object_set_new(meta, key, m) != 0)
                return -1;
        }
    }
    return 0;
}

static int64_t section_version(const json_t *sec)
{
    json_int_t v = json_integer_value(json_object_get(sec, "$version"));
    return v > 0 ? (int64_t)v : 0;
}

/* Replaces the members of dst with those of src (which is released). */
static int swap_in(json_t *dst, json_t *src)
{
    int rc = json_object_clear(dst);
    if (rc == 0)
        rc = json_object_update(dst, src);
    json_decref(src);
    return rc;
}

int hubd_twin_merge_section(json_t *sec, const json_t *patch, int64_t now_ns, bool with_version,
                            size_t cap, const char *what)
{
    char now[DPS_ISO_TIME_LEN];
    dps_time_iso(now_ns, now);
    int64_t version = section_version(sec) + 1;
    stamp s = {.time = now, .version = with_version ? version : -1};
    json_t *work = json_deep_copy(sec);
    if (work == NULL)
        goto nomem;
    json_t *meta = json_object_get(work, "$metadata");
    if (!json_is_object(meta)) {
        meta = json_object();
        if (meta == NULL || json_object_set_new(work, "$metadata", meta) != 0)
            goto nomem;
    }
    if (merge_node(work, meta, patch, &s, true) != 0 || touch(meta, &s) != 0 ||
        json_object_set_new(work, "$version", json_integer(version)) != 0)
        goto nomem;
    if (section_size(work) > cap) {
        json_decref(work);
        hubd__set_error("%s would exceed %zu bytes", what, cap);
        return -1;
    }
    if (swap_in(sec, work) != 0) {
        hubd__set_error("out of memory");
        return -1;
    }
    return 0;
nomem:
    json_decref(work);
    hubd__set_error("out of memory");
    return -1;
}

/* PUT semantics for a section: everything goes, value comes in. */
static int replace_section(json_t *sec, const json_t *value, int64_t now_ns, bool with_version,
                           size_t cap, const char *what)
{
    json_t *fresh = json_pack("{s:{},s:I}", "$metadata", "$version",
                              (json_int_t)section_version(sec));
    if (fresh == NULL) {
        hubd__set_error("out of memory");
        return -1;
    }
    int rc = hubd_twin_merge_section(fresh, value, now_ns, with_version, cap, what);
    if (rc == 0 && swap_in(sec, fresh) != 0) {
        hubd__set_error("out of memory");
        return -1;
    }
    if (rc != 0)
        json_decref(fresh);
    return rc;
}

static json_t *new_section(const char *now, bool with_version)
{
    json_t *meta = json_pack("{s:s}", "$lastUpdated", now);
    if (meta != NULL && with_version &&
        json_object_set_new(meta, "$lastUpdatedVersion", json_integer(1)) != 0) {
        json_decref(meta);
        meta = NULL;
    }
    return meta != NULL ? json_pack("{s:o,s:i}", "$metadata", meta, "$version", 1) : NULL;
}

json_t *hubd_twin_new(int64_t now_ns)
{
    char now[DPS_ISO_TIME_LEN];
    char etag[HUBD_ETAG_SIZE];
    dps_time_iso(now_ns, now);
    if (hubd_etag_new(etag) != 0)
        return NULL;
    json_t *desired = new_section(now, true);
    json_t *reported = new_section(now, false);
    if (desired == NULL || reported == NULL) {
        json_decref(desired);
        json_decref(reported);
        return NULL;
    }
    return json_pack("{s:s,s:i,s:{},s:{s:o,s:o}}", "etag", etag, "version", 1, "tags",
                     "properties", "desired", desired, "reported", reported);
}

json_t *hubd_twin_section_plain(const json_t *sec, bool keep_version)
{
    json_t *out = json_object();
    const char *key;
    const json_t *v;
    json_object_foreach ((json_t *)sec, key, v) {
        if (out == NULL)
            break;
        if (key[0] == '$' && !(keep_version && strcmp(key, "$version") == 0))
            continue;
        if (json_object_set_new(out, key, json_deep_copy(v)) != 0) {
            json_decref(out);
            out = NULL;
        }
    }
    return out;
}

/* ---- service-side writes ------------------------------------------------- */

typedef struct {
    const json_t *tags;     /* NULL: absent */
    const json_t *desired;  /* NULL: absent */
    bool replace;
    const hubd_if_match *im;
    json_t *change;         /* out */
    int64_t version;        /* out */
} write_arg;

static bool has_user_members(const json_t *obj)
{
    const char *key;
    const json_t *v;
    json_object_foreach ((json_t *)obj, key, v) {
        (void)v;
        if (key[0] != '$')
            return true;
    }
    return false;
}

static hubd_result write_tags(json_t *twin, const write_arg *a)
{
    json_t *tags = json_object_get(twin, "tags");
    json_t *next = NULL;
    if (a->replace || json_is_null(a->tags) || !json_is_object(tags)) {
        next = json_is_object(a->tags) ? copy_without_nulls(a->tags) : json_object();
    } else {
        next = json_deep_copy(tags);
        if (next != NULL && merge_node(next, NULL, a->tags, NULL, false) != 0) {
            json_decref(next);
            next = NULL;
        }
    }
    if (next == NULL) {
        hubd__set_error("out of memory");
        return HUBD_ERROR;
    }
    if (json_dumpb(next, NULL, 0, DUMP_FLAGS) > HUBD_TWIN_MAX_TAGS) {
        json_decref(next);
        hubd__set_error("tags would exceed %d bytes", HUBD_TWIN_MAX_TAGS);
        return HUBD_INVALID;
    }
    return json_object_set_new(twin, "tags", next) == 0 ? HUBD_OK : HUBD_ERROR;
}

static hubd_result write_desired(json_t *twin, write_arg *a, int64_t now_ns)
{
    json_t *props = json_object_get(twin, "properties");
    json_t *desired = json_object_get(props, "desired");
    if (!json_is_object(desired)) {
        hubd__set_error("the stored twin has no desired properties");
        return HUBD_ERROR;
    }
    bool replace = a->replace || json_is_null(a->desired);
    json_t *empty = json_object();
    const json_t *value = json_is_object(a->desired) ? a->desired : empty;
    int rc = replace ? replace_section(desired, value, now_ns, true, HUBD_TWIN_MAX_PROPS,
                                       "desired properties")
                     : hubd_twin_merge_section(desired, value, now_ns, true,
                                               HUBD_TWIN_MAX_PROPS, "desired properties");
    json_decref(empty);
    if (rc != 0)
        return HUBD_INVALID;
    a->version = section_version(desired);
    /* What the device hears: the patch itself (nulls included) after a
     * PATCH, the whole new document after a PUT. */
    a->change = replace ? hubd_twin_section_plain(desired, false)
                        : hubd_twin_section_plain(a->desired, false);
    if (a->change == NULL) {
        hubd__set_error("out of memory");
        return HUBD_ERROR;
    }
    return HUBD_OK;
}

static hubd_result service_write_fn(json_t *doc, void *argp)
{
    write_arg *a = argp;
    json_decref(a->change); /* from an earlier attempt */
    a->change = NULL;
    json_t *twin = json_object_get(doc, "twin");
    if (!json_is_object(twin)) {
        hubd__set_error("the stored twin is unreadable");
        return HUBD_ERROR;
    }
    const char *etag = json_string_value(json_object_get(twin, "etag"));
    if (a->im->kind == HUBD_IFM_ETAG && (etag == NULL || strcmp(etag, a->im->etag) != 0)) {
        hubd__set_error("the twin's ETag does not match If-Match");
        return HUBD_PRECONDITION;
    }
    int64_t now_ns = dps_now_ns();
    bool tags_change = a->replace || (a->tags != NULL && (json_is_null(a->tags) ||
                                                          json_object_size(a->tags) > 0));
    bool desired_change = a->replace || (a->desired != NULL && (json_is_null(a->desired) ||
                                                                has_user_members(a->desired)));
    hubd_result hr = HUBD_OK;
    if (tags_change)
        hr = write_tags(twin, a);
    if (hr == HUBD_OK && desired_change)
        hr = write_desired(twin, a, now_ns);
    if (hr != HUBD_OK || (!tags_change && !desired_change))
        return hr;
    char new_etag[HUBD_ETAG_SIZE];
    json_int_t version = json_integer_value(json_object_get(twin, "version"));
    if (hubd_etag_new(new_etag) != 0 ||
        json_object_set_new(twin, "etag", json_string(new_etag)) != 0 ||
        json_object_set_new(twin, "version", json_integer(version + 1)) != 0) {
        hubd__set_error("out of memory");
        return HUBD_ERROR;
    }
    return HUBD_OK;
}

/* Pulls tags / desired out of the request body and checks them. */
static hubd_result read_service_body(const json_t *body, write_arg *a)
{
    const json_t *tags = json_object_get(body, "tags");
    const json_t *props = json_object_get(body, "properties");
    if (props != NULL && !json_is_object(props) && !json_is_null(props)) {
        hubd__set_error("properties must be an object");
        return HUBD_INVALID;
    }
    const json_t *desired = json_object_get(props, "desired");
    const json_t *reported = json_object_get(props, "reported");
    /* Reported properties belong to the device; a twin read back and sent
     * again carries an unchanged copy, which is let through unused. */
    if (reported != NULL && !json_is_null(reported) &&
        (!json_is_object(reported) || has_user_members(reported))) {
        hubd__set_error("reported properties can only be written by the device");
        return HUBD_INVALID;
    }
    if (tags != NULL && !json_is_null(tags) && hubd_twin_check(tags, !a->replace, false, "tags") != 0)
        return HUBD_INVALID;
    if (desired != NULL && !json_is_null(desired) &&
        hubd_twin_check(desired, !a->replace, true, "desired properties") != 0)
        return HUBD_INVALID;
    a->tags = tags;
    a->desired = desired;
    return HUBD_OK;
}

hubd_result hubd_twin_service_write(hubd_ctx *ctx, const char *hub, const char *id,
                                    const json_t *body, bool replace, const hubd_if_match *im,
                                    json_t **doc_out, json_t **desired_change,
                                    int64_t *desired_version)
{
    *doc_out = NULL;
    *desired_change = NULL;
    *desired_version = 0;
    hubd__clear_error();
    write_arg a = {.replace = replace, .im = im};
    hubd_result hr = read_service_body(body, &a);
    if (hr != HUBD_OK)
        return hr;
    hr = hubd_device_modify(ctx, hub, id, service_write_fn, &a, doc_out);
    if (hr == HUBD_NOT_FOUND)
        hubd__set_error("Device %.140s is not registered", id);
    if (hr != HUBD_OK) {
        json_decref(a.change);
        return hr;
    }
    *desired_change = a.change;
    *desired_version = a.version;
    return HUBD_OK;
}

/* ---- presentation -------------------------------------------------------- */

static json_t *copy_or_null(const json_t *v)
{
    return v != NULL ? json_deep_copy(v) : json_null();
}

json_t *hubd_twin_present(const json_t *doc, const hubd_conn_info *conn)
{
    const json_t *twin = json_object_get(doc, "twin");
    const json_t *auth = json_object_get(doc, "authentication");
    const json_t *props = json_object_get(twin, "properties");
    char activity[48];
    hubd_time_or_never(conn->last_activity_ns, activity);
    json_t *out = json_object();
    if (out == NULL)
        return NULL;
    int rc = 0;
    rc |= json_object_set_new(out, "deviceId", copy_or_null(json_object_get(doc, "deviceId")));
    rc |= json_object_set_new(out, "etag", copy_or_null(json_object_get(twin, "etag")));
    rc |= json_object_set_new(out, "deviceEtag", copy_or_null(json_object_get(doc, "etag")));
    rc |= json_object_set_new(out, "status", copy_or_null(json_object_get(doc, "status")));
    rc |= json_object_set_new(out, "statusReason",
                              copy_or_null(json_object_get(doc, "statusReason")));
    rc |= json_object_set_new(out, "statusUpdateTime",
                              copy_or_null(json_object_get(doc, "statusUpdatedTime")));
    rc |= json_object_set_new(out, "connectionState",
                              json_string(conn->connected ? "Connected" : "Disconnected"));
    rc |= json_object_set_new(out, "lastActivityTime", json_string(activity));
    rc |= json_object_set_new(out, "cloudToDeviceMessageCount",
                              copy_or_null(json_object_get(doc, "cloudToDeviceMessageCount")));
    rc |= json_object_set_new(out, "authenticationType",
                              copy_or_null(json_object_get(auth, "type")));
    rc |= json_object_set_new(out, "x509Thumbprint",
                              copy_or_null(json_object_get(auth, "x509Thumbprint")));
    rc |= json_object_set_new(out, "modelId", json_string(""));
    rc |= json_object_set_new(out, "version", copy_or_null(json_object_get(twin, "version")));
    rc |= json_object_set_new(out, "capabilities",
                              copy_or_null(json_object_get(doc, "capabilities")));
    rc |= json_object_set_new(out, "deviceScope",
                              copy_or_null(json_object_get(doc, "deviceScope")));
    rc |= json_object_set_new(out, "parentScopes",
                              copy_or_null(json_object_get(doc, "parentScopes")));
    rc |= json_object_set_new(out, "tags", copy_or_null(json_object_get(twin, "tags")));
    rc |= json_object_set_new(out, "properties", copy_or_null(props));
    if (rc != 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}
