/* Validation and normalisation of individual enrollments and enrollment
 * groups (service-api.md §7-§9.1). The output document holds only members
 * opendps knows, in their canonical spelling, with defaults applied; the
 * attestation member is handled in attestation.c. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/errors.h"
#include "model/enrollment.h"
#include "model/ids.h"

#define DEVICE_ID_MAX 128
#define NAME_FIELD_MAX 256 /* credentialPolicyName, certificateAuthorityName, apiVersion */
#define URL_MAX 2048

int dps_model__fail(dps_model_err *err, int code, const char *fmt, ...)
{
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return -1;
}

json_t *dps_model__member(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_null(v) ? NULL : v;
}

static int oom(dps_model_err *err)
{
    return dps_model__fail(err, DPS_ERR_INTERNAL, "out of memory");
}

/* Sets key to a new reference, reporting memory failure. */
static int put(json_t *doc, const char *key, json_t *v, dps_model_err *err)
{
    return json_object_set_new(doc, key, v) == 0 ? 0 : oom(err);
}

/* An optional string member of bounded length, copied when present. */
static int copy_string(const json_t *in, json_t *doc, const char *key, size_t max,
                       dps_model_err *err)
{
    json_t *v = dps_model__member(in, key);
    if (v == NULL)
        return 0;
    if (!json_is_string(v))
        return dps_model__fail(err, DPS_ERR_INVALID_FIELD, "%s must be a string", key);
    if (json_string_length(v) > max)
        return dps_model__fail(err, DPS_ERR_INVALID_FIELD, "%s is longer than %zu characters",
                               key, max);
    return put(doc, key, json_string(json_string_value(v)), err);
}

/* ---- identity ------------------------------------------------------------ */

static int norm_id(dps_enroll_kind kind, const char *path_id, const json_t *in, json_t *doc,
                   dps_model_err *err)
{
    const char *field = kind == DPS_ENROLL_INDIVIDUAL ? "registrationId" : "enrollmentGroupId";
    json_t *v = dps_model__member(in, field);
    if (v != NULL && !json_is_string(v))
        return dps_model__fail(err, DPS_ERR_INVALID_FIELD, "%s must be a string", field);
    const char *id = v ? json_string_value(v) : path_id;
    if (id == NULL)
        return dps_model__fail(err, DPS_ERR_INVALID_ID, "%s is required", field);
    if (!dps_id_valid(id))
        return dps_model__fail(err, DPS_ERR_INVALID_ID,
                               "%s must be 1 to %d characters of letters, digits and ':._-', "
                               "not starting or ending with a special character",
                               field, DPS_ID_MAX);
    if (path_id != NULL && !dps_id_equal(id, path_id))
        return dps_model__fail(err, DPS_ERR_ID_MISMATCH, "%s '%s' does not match the path ID '%s'",
                               field, id, path_id);
    return put(doc, field, json_string(id), err);
}

/* deviceId (individual only) becomes the hub device ID; the hub's own
 * syntax is broader than DPS IDs, so only length and printable ASCII are
 * required here. */
static int norm_device_id(const json_t *in, json_t *doc, dps_model_err *err)
{
    json_t *v = dps_model__member(in, "deviceId");
    if (v == NULL)
        return 0;
    if (!json_is_string(v))
        return dps_model__fail(err, DPS_ERR_INVALID_FIELD, "deviceId must be a string");
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n == 0)
        return 0;
    if (n > DEVICE_ID_MAX)
        return dps_model__fail(err, DPS_ERR_INVALID_FIELD, "deviceId is longer than %d characters",
                               DEVICE_ID_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return dps_model__fail(err, DPS_ERR_INVALID_FIELD,
                                   "deviceId must be printable ASCII without spaces");
    return put(doc, "deviceId", json_string(s), err);
}

/* ---- simple members ------------------------------------------------------ */

static int norm_capabilities(const json_t *in, json_t *doc, dps_model_err *err)
{
    json_t *v = dps_model__member(in, "capabilities");
    bool edge = false;
    if (v != NULL) {
        if (!json_is_object(v))
            return dps_model__fail(err, DPS_ERR_INVALID_FIELD, "capabilities must be an object");
        json_t *e = dps_model__member(v, "iotEdge");
        if (e != NULL && !json_is_boolean(e))
            return dps_model__fail(err, DPS_ERR_INVALID_FIELD,
                                   "capabilities.iotEdge must be a boolean");
        edge = e != NULL && json_is_true(e);
    }
    return put(doc, "capabilities", json_pack("{s:b}", "iotEdge", edge), err);
}

/* InitialTwin keeps tags and properties.desired (TwinCollections, stored
 * verbatim); anything else in it is dropped like any unknown member. */
static int norm_initial_twin(const json_t *in, json_t *doc, dps_model_err *err)
{
    json_t *v = dps_model__member(in, "initialTwin");
    if (v == NULL)
        return 0;
    if (!json_is_object(v))
        return dps_model__fail(err, DPS_ERR_INVALID_FIELD, "initialTwin must be an object");
    json_t *twin = json_object();
    if (twin == NULL || put(doc, "initialTwin", twin, err) != 0)
        return oom(err);
    json_t *tags = dps_model__member(v, "tags");
    if (tags != NULL) {
        if (!json_is_object(tags))
            return dps_model__fail(err, DPS_ERR_INVALID_FIELD,
                                   "initialTwin.tags must be an object");
        if (put(twin, "tags", json_deep_copy(tags), err) != 0)
            return -1;
    }
    json_t *props = dps_model__member(v, "properties");
    if (props == NULL)
        return 0;
    if (!json_is_object(props))
        return dps_model__fail(err, DPS_ERR_INVALID_FIELD,
                               "initialTwin.properties must be an object");
    json_t *desired = dps_model__member(props, "desired");
    if (desired == NULL)
        return 0;
    if (!json_is_object(desired))
        return dps_model__fail(err, DPS_ERR_INVALID_FIELD,
                               "initialTwin.properties.desired must be an object");
    return put(twin, "properties", json_pack("{s:O}", "desired", desired), err);
}

static int norm_status(const json_t *in, json_t *doc, dps_model_err *err)
{
    json_t *v = dps_model__member(in, "provisioningStatus");
    const char *status = "enabled";
    if (v != NULL) {
        const char *s = json_string_value(v);
        if (s != NULL && strcasecmp(s, "enabled") == 0)
            status = "enabled";
        else if (s != NULL && strcasecmp(s, "disabled") == 0)
            status = "disabled";
        else
            return dps_model__fail(err, DPS_ERR_INVALID_FIELD,
                                   "provisioningStatus must be enabled or disabled");
    }
    return put(doc, "provisioningStatus", json_string(status), err);
}

static int norm_reprovision(const json_t *in, json_t *doc, dps_model_err *err)
{
    json_t *v = dps_model__member(in, "reprovisionPolicy");
    bool update = true, migrate = true;
    if (v != NULL) {
        if (!json_is_object(v))
            return dps_model__fail(err, DPS_ERR_INVALID_FIELD,
                                   "reprovisionPolicy must be an object");
        json_t *u = json_object_get(v, "updateHubAssignment");
        json_t *m = json_object_get(v, "migrateDeviceData");
        if (!json_is_boolean(u) || !json_is_boolean(m))
            return dps_model__fail(err, DPS_ERR_INVALID_FIELD,
                                   "reprovisionPolicy.updateHubAssignment and "
                                   "reprovisionPolicy.migrateDeviceData must be booleans");
        update = json_is_true(u);
        migrate = json_is_true(m);
    }
    return put(doc, "reprovisionPolicy",
               json_pack("{s:b,s:b}", "updateHubAssignment", update, "migrateDeviceData",
                         migrate),
               err);
}

/* A free-form object member, stored verbatim (optionalDeviceInformation). */
static int copy_object(const json_t *in, json_t *doc, const char *key, dps_model_err *err)
{
    json_t *v = dps_model__member(in, key);
    if (v == NULL)
        return 0;
    if (!json_is_object(v))
        return dps_model__fail(err, DPS_ERR_INVALID_FIELD, "%s must be an object", key);
    return put(doc, key, json_deep_copy(v), err);
}

static int norm_issuance_policy(const json_t *in, json_t *doc, dps_model_err *err)
{
    json_t *v = dps_model__member(in, "clientCertificateIssuancePolicy");
    if (v == NULL)
        return 0;
    json_t *ca = json_is_object(v) ? json_object_get(v, "certificateAuthorityName") : NULL;
    if (!json_is_string(ca) || json_string_length(ca) == 0 ||
        json_string_length(ca) > NAME_FIELD_MAX)
        return dps_model__fail(err, DPS_ERR_INVALID_FIELD,
                               "clientCertificateIssuancePolicy.certificateAuthorityName must be "
                               "a non-empty string");
    return put(doc, "clientCertificateIssuancePolicy",
               json_pack("{s:s}", "certificateAuthorityName", json_string_value(ca)), err);
}

/* ---- allocation ---------------------------------------------------------- */

static const char *const alloc_policies[] = {"hashed", "geoLatency", "static", "custom"};

static int hub_must_be_linked(const dps_enroll_env *env, const char *field, const char *host,
                              dps_model_err *err)
{
    if (env != NULL && env->hub_linked != NULL && env->hub_linked(env->arg, host))
        return 0;
    return dps_model__fail(err, DPS_ERR_INVALID_FIELD, "%s: '%s' is not a linked IoT hub", field,
                           host);
}

static int norm_hubs(const json_t *in, json_t *doc, const dps_enroll_env *env, size_t *count,
                     dps_model_err *err)
{
    *count = 0;
    json_t *v = dps_model__member(in, "iotHubs");
    if (v == NULL)
        return 0;
    if (!json_is_array(v))
        return dps_model__fail(err, DPS_ERR_INVALID_FIELD, "iotHubs must be an array of strings");
    json_t *hubs = json_array();
    if (hubs == NULL || put(doc, "iotHubs", hubs, err) != 0)
        return oom(err);
    size_t i;
    json_t *h;
    json_array_foreach(v, i, h) {
        if (!json_is_string(h))
            return dps_model__fail(err, DPS_ERR_INVALID_FIELD,
                                   "iotHubs[%zu] must be a string", i);
        if (hub_must_be_linked(env, "iotHubs", json_string_value(h), err) != 0)
            return -1;
        if (json_array_append_new(hubs, json_string(json_string_value(h))) != 0)
            return oom(err);
    }
    *count = json_array_size(hubs);
    return 0;
}

static int norm_custom_definition(const json_t *in, json_t *doc, bool required,
                                  dps_model_err *err)
{
    json_t *v = dps_model__member(in, "customAllocationDefinition");
    if (v == NULL)
        return required ? dps_model__fail(err, DPS_ERR_INVALID_FIELD,
                                          "allocationPolicy custom needs "
                                          "customAllocationDefinition")
                        : 0;
    if (!json_is_object(v))
        return dps_model__fail(err, DPS_ERR_INVALID_FIELD,
                               "customAllocationDefinition must be an object");
    json_t *url = json_object_get(v, "webhookUrl");
    json_t *ver = json_object_get(v, "apiVersion");
    const char *u = json_string_value(url);
    if (u == NULL || json_string_length(url) > URL_MAX ||
        (strncasecmp(u, "https://", 8) != 0 && strncasecmp(u, "http://", 7) != 0))
        return dps_model__fail(err, DPS_ERR_INVALID_FIELD,
                               "customAllocationDefinition.webhookUrl must be an http(s) URL");
    if (!json_is_string(ver) || json_string_length(ver) == 0 ||
        json_string_length(ver) > NAME_FIELD_MAX)
        return dps_model__fail(err, DPS_ERR_INVALID_FIELD,
                               "customAllocationDefinition.apiVersion must be a non-empty string");
    return put(doc, "customAllocationDefinition",
               json_pack("{s:s,s:s}", "webhookUrl", u, "apiVersion", json_string_value(ver)),
               err);
}

static int norm_allocation(const json_t *in, json_t *doc, const dps_enroll_env *env,
                           dps_model_err *err)
{
    json_t *v = dps_model__member(in, "allocationPolicy");
    const char *policy = NULL;
    if (v != NULL) {
        const char *s = json_string_value(v);
        for (size_t i = 0; s != NULL && i < sizeof alloc_policies / sizeof *alloc_policies; i++)
            if (strcasecmp(s, alloc_policies[i]) == 0)
                policy = alloc_policies[i];
        if (policy == NULL)
            return dps_model__fail(err, DPS_ERR_INVALID_FIELD,
                                   "allocationPolicy must be one of hashed, geoLatency, static, "
                                   "custom");
        if (put(doc, "allocationPolicy", json_string(policy), err) != 0)
            return -1;
    }
    size_t nhubs = 0;
    if (norm_hubs(in, doc, env, &nhubs, err) != 0)
        return -1;
    if (policy != NULL && strcmp(policy, "static") == 0 && nhubs != 1)
        return dps_model__fail(err, DPS_ERR_INVALID_FIELD,
                               "allocationPolicy static needs exactly one iotHubs entry");
    bool custom = policy != NULL && strcmp(policy, "custom") == 0;
    if (norm_custom_definition(in, doc, custom, err) != 0)
        return -1;
    /* Legacy single-hub field (old C clients): kept, and it must name a
     * linked hub like every iotHubs entry. */
    json_t *legacy = dps_model__member(in, "iotHubHostName");
    if (legacy == NULL || (json_is_string(legacy) && json_string_length(legacy) == 0))
        return 0;
    if (!json_is_string(legacy))
        return dps_model__fail(err, DPS_ERR_INVALID_FIELD, "iotHubHostName must be a string");
    if (hub_must_be_linked(env, "iotHubHostName", json_string_value(legacy), err) != 0)
        return -1;
    return put(doc, "iotHubHostName", json_string(json_string_value(legacy)), err);
}

/* ---- the whole document -------------------------------------------------- */

json_t *dps_enrollment_normalise(dps_enroll_kind kind, const char *path_id, const json_t *in,
                                 const json_t *prev, const dps_enroll_env *env,
                                 dps_model_err *err)
{
    json_t *doc = json_object();
    json_t *result = NULL;
    if (doc == NULL) {
        oom(err);
        goto done;
    }
    if (!json_is_object(in)) {
        dps_model__fail(err, DPS_ERR_INVALID_JSON, "the body must be a JSON object");
        goto done;
    }
    bool individual = kind == DPS_ENROLL_INDIVIDUAL;
    if (norm_id(kind, path_id, in, doc, err) != 0)
        goto done;
    if (individual && norm_device_id(in, doc, err) != 0)
        goto done;
    json_t *att = NULL;
    if (dps_attestation_normalise(kind, dps_model__member(in, "attestation"),
                                  prev ? json_object_get(prev, "attestation") : NULL, env, &att,
                                  err) != 0)
        goto done;
    if (put(doc, "attestation", att, err) != 0)
        goto done;
    if (norm_capabilities(in, doc, err) != 0 || norm_initial_twin(in, doc, err) != 0 ||
        norm_status(in, doc, err) != 0 || norm_reprovision(in, doc, err) != 0 ||
        norm_allocation(in, doc, env, err) != 0)
        goto done;
    if (individual && copy_object(in, doc, "optionalDeviceInformation", err) != 0)
        goto done;
    if (norm_issuance_policy(in, doc, err) != 0 ||
        copy_string(in, doc, "credentialPolicyName", NAME_FIELD_MAX, err) != 0)
        goto done;
    result = doc;
    doc = NULL;
done:
    json_decref(doc);
    return result;
}

int dps_enrollment_stamp(json_t *doc, const json_t *prev, const char *etag, const char *now_iso)
{
    const char *created = prev ? json_string_value(json_object_get(prev, "createdDateTimeUtc"))
                               : NULL;
    if (json_object_set_new(doc, "etag", json_string(etag)) != 0 ||
        json_object_set_new(doc, "createdDateTimeUtc", json_string(created ? created : now_iso)) !=
            0 ||
        json_object_set_new(doc, "lastUpdatedDateTimeUtc", json_string(now_iso)) != 0)
        return -1;
    return 0;
}
