/* Custom allocation webhook bodies (webhook.h). */
#include "engine/webhook.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/b64.h"
#include "engine/registration.h"

/* The etag as Azure shows it to webhooks: the raw quoted form. opendps
 * stores base64 of the quoted UUID (architecture.md), so decode it when it
 * decodes to a quoted string; anything else goes as stored. */
static json_t *raw_etag(const char *stored)
{
    uint8_t *raw = NULL;
    size_t n = 0;
    json_t *out = NULL;
    if (dps_b64_decode(stored, strlen(stored), &raw, &n) == 0 && n >= 2 && raw[0] == '"' &&
        raw[n - 1] == '"' && memchr(raw, '\0', n) == NULL)
        out = json_stringn((const char *)raw, n);
    free(raw);
    return out != NULL ? out : json_string(stored);
}

/* The enrollment as the webhook sees it: no keys, no certificates. */
static json_t *public_enrollment(const json_t *enr)
{
    json_t *copy = json_deep_copy(enr);
    if (copy == NULL)
        return NULL;
    const char *type = json_string_value(json_object_get(json_object_get(enr, "attestation"),
                                                         "type"));
    json_object_set_new(copy, "attestation", json_pack("{s:s}", "type", type ? type : "none"));
    json_object_del(copy, "registrationState");
    const char *etag = json_string_value(json_object_get(enr, "etag"));
    if (etag != NULL)
        json_object_set_new(copy, "etag", raw_etag(etag));
    return copy;
}

json_t *dps_webhook_request(const dps_webhook_input *in)
{
    json_t *enr = public_enrollment(in->enrollment);
    json_t *ctx = json_pack("{s:s}", "registrationId", in->registration_id);
    json_t *hubs = json_array();
    json_t *req = json_object();
    if (enr == NULL || ctx == NULL || hubs == NULL || req == NULL)
        goto oom;
    /* Present only for a device assigned before: their absence tells the
     * webhook this is a first assignment (§13.1). */
    int rc = 0;
    if (in->current_hub != NULL)
        rc |= json_object_set_new(ctx, "currentIotHubHostName", json_string(in->current_hub));
    if (in->current_hub != NULL && in->current_device_id != NULL)
        rc |= json_object_set_new(ctx, "currentDeviceId", json_string(in->current_device_id));
    rc |= json_object_set_new(ctx,
                              in->attestation_type != NULL ? in->attestation_type
                                                           : "symmetricKey",
                              in->attestation_context != NULL
                                  ? json_deep_copy(in->attestation_context)
                                  : json_object());
    if (in->payload != NULL)
        rc |= json_object_set_new(ctx, "payload", json_deep_copy(in->payload));
    for (size_t i = 0; i < in->nlinked; i++)
        rc |= json_array_append_new(hubs, json_string(in->linked_hubs[i]));
    rc |= json_object_set_new(req, in->is_group ? "enrollmentGroup" : "individualEnrollment",
                              enr);
    enr = NULL;
    rc |= json_object_set_new(req, "deviceRuntimeContext", ctx);
    ctx = NULL;
    rc |= json_object_set_new(req, "linkedHubs", hubs);
    hubs = NULL;
    if (rc == 0)
        return req;
oom:
    json_decref(enr);
    json_decref(ctx);
    json_decref(hubs);
    json_decref(req);
    return NULL;
}

static void failed(dps_webhook_result *out, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void failed(dps_webhook_result *out, int code, const char *fmt, ...)
{
    out->ok = false;
    out->hub = -1;
    out->error_code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->message, sizeof out->message, fmt, ap);
    va_end(ap);
    json_decref(out->initial_twin);
    json_decref(out->payload);
    out->initial_twin = out->payload = NULL;
}

/* initialTwin: {"tags": {...}, "properties": {"desired": {...}}}, each part
 * optional; nothing else inside. */
static bool twin_shape_ok(const json_t *t)
{
    if (!json_is_object(t))
        return false;
    const char *k;
    const json_t *v;
    json_object_foreach ((json_t *)t, k, v) {
        if (strcmp(k, "tags") == 0) {
            if (!json_is_object(v) && !json_is_null(v))
                return false;
        } else if (strcmp(k, "properties") == 0) {
            if (json_is_null(v))
                continue;
            const json_t *d = json_object_get(v, "desired");
            if (!json_is_object(v) || (d != NULL && !json_is_object(d) && !json_is_null(d)))
                return false;
        } else {
            return false;
        }
    }
    return true;
}

void dps_webhook_parse(int status, const char *body, size_t body_len, const char *error,
                       const char *const *linked_hubs, size_t nlinked,
                       dps_webhook_result *out)
{
    memset(out, 0, sizeof *out);
    out->hub = -1;
    if (status == 0) {
        failed(out, DPS_REG_FAIL_CUSTOM, "Custom allocation failed: %.240s",
               error != NULL ? error : "no answer from the webhook");
        return;
    }
    if (status < 200 || status > 299) {
        /* §13.3: 400207 for a 400 answer, 400209 for every other status. */
        failed(out, status == 400 ? DPS_REG_FAIL_CUSTOM_BAD_REQUEST : DPS_REG_FAIL_CUSTOM,
               "Custom allocation failed with status code: %d", status);
        return;
    }
    json_error_t jerr;
    json_t *doc = body != NULL ? json_loadb(body, body_len, JSON_REJECT_DUPLICATES, &jerr)
                               : NULL;
    if (!json_is_object(doc)) {
        json_decref(doc);
        failed(out, DPS_REG_FAIL_CUSTOM,
               "Custom allocation failed: the webhook's answer is not a JSON object");
        return;
    }
    const char *hub = json_string_value(json_object_get(doc, "iotHubHostName"));
    for (size_t i = 0; hub != NULL && i < nlinked; i++)
        if (linked_hubs[i] != NULL && strcasecmp(linked_hubs[i], hub) == 0)
            out->hub = (int)i;
    if (hub == NULL) {
        failed(out, DPS_REG_FAIL_CUSTOM,
               "Custom allocation failed: the webhook's answer has no iotHubHostName");
    } else if (out->hub < 0) {
        failed(out, DPS_REG_FAIL_CUSTOM,
               "Custom allocation failed: the webhook chose '%.120s', which is not one of the "
               "linked hubs it was offered", hub);
    } else {
        const json_t *twin = json_object_get(doc, "initialTwin");
        const json_t *payload = json_object_get(doc, "payload");
        if (twin != NULL && !json_is_null(twin) && !twin_shape_ok(twin)) {
            failed(out, DPS_REG_FAIL_CUSTOM,
                   "Custom allocation failed: initialTwin must be {\"tags\": {...}, "
                   "\"properties\": {\"desired\": {...}}}");
        } else {
            out->ok = true;
            if (twin != NULL && !json_is_null(twin))
                out->initial_twin = json_deep_copy(twin);
            if (payload != NULL && !json_is_null(payload))
                out->payload = json_deep_copy(payload);
        }
    }
    json_decref(doc);
}

void dps_webhook_result_free(dps_webhook_result *r)
{
    json_decref(r->initial_twin);
    json_decref(r->payload);
    r->initial_twin = r->payload = NULL;
}
