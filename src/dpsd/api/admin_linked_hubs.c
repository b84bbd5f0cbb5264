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
    "location", "etag", "createdDateTimeUtc", "migrationConnectionString", NULL,
};

/* Replaces the key in doc's connectionString by the mask, in place: what
 * callers see. -1 when the stored string does not parse. */
static int mask_doc(json_t *doc)
{
    const char *cs = json_string_value(json_object_get(doc, "connectionString"));
    char *masked = cs ? dps_hub_connstr_mask(cs) : NULL;
    int rc = masked ? json_object_set_new(doc, "connectionString", json_string(masked)) : -1;
    free(masked);
    /* The migration credential (hubd's, hub.md §9.4) is as secret. */
    const char *mcs = json_string_value(json_object_get(doc, "migrationConnectionString"));
    if (rc == 0 && mcs != NULL) {
        masked = dps_hub_connstr_mask(mcs);
        rc = masked ? json_object_set_new(doc, "migrationConnectionString", json_string(masked))
                    : -1;
        free(masked);
    }
    return rc;
}

/* The stored document as callers may see it. */
static json_t *public_doc(const dps_record *rec)
{
    json_t *doc = dps_admin__record_doc(rec);
    if (doc != NULL && mask_doc(doc) != 0) {
        log_error("admin: linked hub '%s' has a corrupt connection string", rec->key);
        json_decref(doc);
        doc = NULL;
    }
    return doc;
}

static void list_hubs(dpsd_ctx *ctx, dps_http_response *res)
{
    dps_admin__list(ctx, DPS_COLL_LINKED_HUB, public_doc, "cannot list linked hubs", res);
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

static void get_hub(dpsd_ctx *ctx, const dps_http_request *req, const char *name,
                    const char *key, dps_http_response *res)
{
    (void)req;
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

/* The connection string stored in an existing record, parsed; -1 if corrupt. */
static int stored_connstr(const dps_record *existing, dps_hub_connstr *out)
{
    json_t *doc = dps_admin__record_doc(existing);
    const char *cs = doc ? json_string_value(json_object_get(doc, "connectionString")) : NULL;
    char err[160];
    int rc = cs ? dps_hub_connstr_parse(cs, 0, out, err, sizeof err) : -1;
    json_decref(doc);
    return rc;
}

/* Parses and checks body.connectionString against the path name. A masked
 * key (a string read back from GET) takes the stored key when the record
 * exists and names the same policy, so read-edit-write round trips work.
 * Returns the canonical full string (free with dps_free_secret_string). */
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
        if (existing == NULL || stored_connstr(existing, &old) != 0 ||
            strcasecmp(old.key_name, c.key_name) != 0) {
            dps_api_error(res, DPS_ERR_INVALID_FIELD,
                          "connectionString SharedAccessKey is masked; send the real key");
            goto done;
        }
        dps_free_secret_string(c.key);
        c.key = old.key;
        old.key = NULL;
    }
    out = dps_hub_connstr_format(&c, false);
    if (out == NULL)
        dps_api_error(res, DPS_ERR_INTERNAL, "out of memory");
done:
    dps_hub_connstr_free(&c);
    dps_hub_connstr_free(&old);
    return out;
}

/* The optional migrationConnectionString (hubd's migration credential): a
 * masked key read back from GET keeps the stored one, as for the hub's own
 * connection string. -1 after filling res. */
static int put_migration(const json_t *body, const dps_record *existing, json_t *doc,
                         dps_http_response *res)
{
    const json_t *v = json_object_get(body, "migrationConnectionString");
    if (v == NULL || json_is_null(v))
        return 0;
    dps_hub_connstr c = {0}, old = {0};
    char err[160];
    int rc = -1;
    if (!json_is_string(v) || dps_hub_connstr_parse(json_string_value(v),
                                                    DPS_CONNSTR_ALLOW_MASKED, &c, err,
                                                    sizeof err) != 0) {
        dps_api_error(res, DPS_ERR_INVALID_FIELD, "migrationConnectionString: %s",
                      json_is_string(v) ? err : "must be a connection string");
        goto done;
    }
    if (c.key_masked) {
        json_t *prev = existing != NULL ? dps_admin__record_doc(existing) : NULL;
        const char *stored =
            json_string_value(json_object_get(prev, "migrationConnectionString"));
        int ok = stored != NULL && dps_hub_connstr_parse(stored, 0, &old, err, sizeof err) == 0 &&
                 strcasecmp(old.key_name, c.key_name) == 0;
        json_decref(prev);
        if (!ok) {
            dps_api_error(res, DPS_ERR_INVALID_FIELD,
                          "migrationConnectionString SharedAccessKey is masked; send the real key");
            goto done;
        }
        dps_free_secret_string(c.key);
        c.key = old.key;
        old.key = NULL;
    }
    char *text = dps_hub_connstr_format(&c, false);
    if (text == NULL || json_object_set_new(doc, "migrationConnectionString",
                                            json_string(text)) != 0)
        dps_api_error(res, DPS_ERR_INTERNAL, "out of memory");
    else
        rc = 0;
    dps_free_secret_string(text);
done:
    dps_hub_connstr_free(&c);
    dps_hub_connstr_free(&old);
    return rc;
}

/* The new document for a PUT, or NULL with res filled. */
static json_t *build_doc(const json_t *body, const char *name, const dps_record *existing,
                         const char *etag, dps_http_response *res)
{
    const json_t *bname = json_object_get(body, "name");
    if (bname != NULL && (!json_is_string(bname) ||
                          strcasecmp(json_string_value(bname), name) != 0)) {
        dps_api_error(res, DPS_ERR_ID_MISMATCH, "body name differs from the path");
        return NULL;
    }
    char *cs = put_connstr(body, name, existing, res);
    if (cs == NULL)
        return NULL;
    /* createdDateTimeUtc is set once: a replace keeps the stored value. */
    char created[DPS_ISO_TIME_LEN] = "";
    if (existing != NULL) {
        json_t *old = dps_admin__record_doc(existing);
        const char *t = old ? json_string_value(json_object_get(old, "createdDateTimeUtc")) : NULL;
        if (t != NULL && strlen(t) < sizeof created)
            memcpy(created, t, strlen(t) + 1);
        json_decref(old);
    }
    if (created[0] == '\0')
        dps_time_iso(dps_now_ns(), created);
    json_t *doc = json_pack("{s:s, s:s}", "name", name, "connectionString", cs);
    dps_free_secret_string(cs);
    if (doc == NULL) {
        dps_api_error(res, DPS_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    if (put_options(body, name, doc, res) != 0 || put_migration(body, existing, doc, res) != 0) {
        json_decref(doc);
        return NULL;
    }
    if (json_object_set_new(doc, "etag", json_string(etag)) != 0 ||
        json_object_set_new(doc, "createdDateTimeUtc", json_string(created)) != 0) {
        dps_api_error(res, DPS_ERR_INTERNAL, "out of memory");
        json_decref(doc);
        return NULL;
    }
    return doc;
}

static void put_hub(dpsd_ctx *ctx, const dps_http_request *req, const char *name,
                    const char *key, dps_http_response *res)
{
    dps_if_match im;
    if (dps_admin__if_match(req, &im, res) != 0)
        return;
    json_t *body = dps_admin__parse_body(req, res);
    if (body == NULL)
        return;
    json_t *doc = NULL;
    dps_record cur = {0};
    if (dps_admin__only_members(body, put_members, res) != 0)
        goto done;
    dps_store_result got = dps_store_get(ctx->store, DPS_COLL_LINKED_HUB, key, &cur);
    if (got != DPS_STORE_OK && got != DPS_STORE_NOT_FOUND) {
        dps_admin__store_error(res, got, WHAT, name);
        goto done;
    }
    char etag[DPS_ETAG_MAX];
    if (dps_etag_new(etag) != 0) {
        dps_api_error(res, DPS_ERR_INTERNAL, "cannot make an ETag");
        goto done;
    }
    /* Validate the body before the If-Match rules, so a bad body is reported
     * as such whatever the record's state. */
    doc = build_doc(body, name, got == DPS_STORE_OK ? &cur : NULL, etag, res);
    if (doc == NULL)
        goto done;
    dps_put_mode mode;
    const char *expected;
    if (dps_admin__put_plan(&im, got, &cur, &mode, &expected, WHAT, name, res) != 0)
        goto done;
    dps_store_result r = dps_admin__store_put(ctx, DPS_COLL_LINKED_HUB, key, doc, etag, mode,
                                              expected);
    if (r != DPS_STORE_OK) {
        dps_admin__store_error(res, r, WHAT, name);
        goto done;
    }
    log_info("admin: linked hub %s %s", name, mode == DPS_PUT_CREATE ? "added" : "replaced");
    if (mask_doc(doc) != 0) {
        dps_api_error(res, DPS_ERR_INTERNAL, "out of memory");
        goto done;
    }
    dps_http_response_set_json(res, 200, doc);
done:
    dps_record_free(&cur);
    json_decref(doc);
    json_decref(body);
}

/* True when doc's "iotHubs" names the hub (any case). */
static bool names_hub(const json_t *doc, const char *name)
{
    const json_t *hubs = json_object_get(doc, "iotHubs");
    size_t i;
    const json_t *h;
    json_array_foreach(hubs, i, h) {
        const char *s = json_string_value(h);
        if (s != NULL && strcasecmp(s, name) == 0)
            return true;
    }
    return false;
}

/* The state of a scan for enrollments naming one hub. */
typedef struct {
    const char *name;    /* the hub */
    const char *label;   /* "enrollment" or "enrollment group", for the message */
    const char *idfield; /* the document member holding the caller's spelling */
    dps_buf *msg;        /* IDs found so far */
    size_t found;
} hub_refs;

static bool note_reference(const dps_record *rec, void *arg)
{
    hub_refs *s = arg;
    json_t *doc = json_loads(rec->doc, 0, NULL);
    if (doc != NULL && names_hub(doc, s->name)) {
        const char *id = json_string_value(json_object_get(doc, s->idfield));
        if (++s->found <= MAX_REFERENCES)
            (void)dps_buf_printf(s->msg, "%s%s '%.128s'", s->found > 1 ? ", " : "", s->label,
                                 id ? id : rec->key);
    }
    json_decref(doc);
    /* One more than we show is enough to know there are more. */
    return s->found <= MAX_REFERENCES;
}

/* Refuses (409) when enrollments or groups name the hub explicitly; they
 * would fail registrations once the hub is gone. Returns -1 when refused. */
static int check_references(dpsd_ctx *ctx, const char *name, dps_http_response *res)
{
    dps_buf msg;
    dps_buf_init(&msg, 2048);
    hub_refs s = {.name = name, .label = "enrollment", .idfield = "registrationId",
                  .msg = &msg, .found = 0};
    dps_store_result r = dps_admin__each(ctx, DPS_COLL_ENROLLMENT, note_reference, &s);
    if (r == DPS_STORE_OK && s.found <= MAX_REFERENCES) {
        s.label = "enrollment group";
        s.idfield = "enrollmentGroupId";
        r = dps_admin__each(ctx, DPS_COLL_ENROLLMENT_GROUP, note_reference, &s);
    }
    int rc = 0;
    if (r != DPS_STORE_OK) {
        dps_api_error(res, DPS_ERR_INTERNAL, "cannot scan enrollments for linked hub use");
        rc = -1;
    } else if (s.found > 0) {
        dps_api_error(res, DPS_ERR_CONFLICT,
                      "linked hub '%s' is named in iotHubs of %s%s; edit them first or "
                      "delete with force=true", name, msg.data ? msg.data : "",
                      s.found > MAX_REFERENCES ? " and more" : "");
        rc = -1;
    }
    dps_buf_free(&msg);
    return rc;
}

static void delete_hub(dpsd_ctx *ctx, const dps_http_request *req, const char *name,
                       const char *key, dps_http_response *res)
{
    dps_if_match im;
    if (dps_admin__if_match(req, &im, res) != 0)
        return;
    dps_record cur = {0};
    dps_store_result got = dps_store_get(ctx->store, DPS_COLL_LINKED_HUB, key, &cur);
    if (dps_admin__update_plan(&im, got, &cur, WHAT, name, res) != 0)
        goto done;
    if (!dps_admin__query_is(req, "force", "true") && check_references(ctx, name, res) != 0)
        goto done;
    (void)dps_admin__delete(ctx, DPS_COLL_LINKED_HUB, key,
                            im.kind == DPS_IFM_ETAG ? im.etag : NULL, WHAT, name, res);
done:
    dps_record_free(&cur);
}

void dps_admin__linked_hubs(dpsd_ctx *ctx, const dps_http_request *req,
                            dps_http_response *res)
{
    static const dps_admin_resource rs = {.path = "/admin/linkedHubs",
                                          .list = list_hubs,
                                          .get = get_hub,
                                          .put = put_hub,
                                          .del = delete_hub};
    if (dps_admin__collection(ctx, &rs, req, res))
        return;
    if (req->nsegments != 3) {
        dps_api_error(res, DPS_ERR_ROUTE_NOT_FOUND, "no admin resource at this path");
        return;
    }
    const char *name = req->segments[2];
    char key[DPS_HUB_NAME_MAX + 1];
    if (!dps_hub_name_valid(name) || !dps_admin__key(name, key, sizeof key)) {
        dps_api_error(res, DPS_ERR_INVALID_ID, "'%.64s' is not a valid hub host name", name);
        return;
    }
    dps_admin__item(ctx, &rs, req, name, key, res);
}
