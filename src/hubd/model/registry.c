/* The twin calls the MQTT side makes (registry.h): a device's twin GET and
 * its reported-properties PATCH. Both run on the event loop: one store read
 * (plus one conditional write for the patch) and nothing else. Device
 * authentication lives in hub_auth.c and device_x509.c. */
#include "model/registry.h"

#include <string.h>

#include "common/timeutil.h"
#include "model/devices.h"
#include "model/hub_errors.h"
#include "model/twin.h"

hubd_result hubd_twin_get_properties(hubd_ctx *ctx, const char *hub, const char *device_id,
                                     json_t **out)
{
    *out = NULL;
    json_t *doc = NULL;
    hubd__clear_error();
    hubd_result hr = hubd_device_load(ctx, hub, device_id, &doc, NULL);
    if (hr != HUBD_OK)
        return hr;
    const json_t *props = json_object_get(json_object_get(doc, "twin"), "properties");
    json_t *desired = hubd_twin_section_plain(json_object_get(props, "desired"), true);
    json_t *reported = hubd_twin_section_plain(json_object_get(props, "reported"), true);
    json_decref(doc);
    if (desired == NULL || reported == NULL) {
        json_decref(desired);
        json_decref(reported);
        hubd__set_error("out of memory");
        return HUBD_ERROR;
    }
    *out = json_pack("{s:o,s:o}", "desired", desired, "reported", reported);
    if (*out == NULL) {
        hubd__set_error("out of memory");
        return HUBD_ERROR;
    }
    return HUBD_OK;
}

typedef struct {
    const json_t *patch;
    int64_t version;
} reported_arg;

static hubd_result reported_fn(json_t *doc, void *argp)
{
    reported_arg *a = argp;
    json_t *twin = json_object_get(doc, "twin");
    json_t *reported = json_object_get(json_object_get(twin, "properties"), "reported");
    if (!json_is_object(reported)) {
        hubd__set_error("the stored twin is unreadable");
        return HUBD_ERROR;
    }
    if (hubd_twin_merge_section(reported, a->patch, dps_now_ns(), false, HUBD_TWIN_MAX_PROPS,
                                "reported properties") != 0)
        return HUBD_INVALID;
    json_int_t version = json_integer_value(json_object_get(twin, "version"));
    if (json_object_set_new(twin, "version", json_integer(version + 1)) != 0) {
        hubd__set_error("out of memory");
        return HUBD_ERROR;
    }
    a->version = json_integer_value(json_object_get(reported, "$version"));
    return HUBD_OK;
}

hubd_result hubd_twin_patch_reported(hubd_ctx *ctx, const char *hub, const char *device_id,
                                     const json_t *patch, int64_t *new_version)
{
    hubd__clear_error();
    if (hubd_twin_check(patch, true, true, "reported properties") != 0)
        return HUBD_INVALID;
    reported_arg a = {.patch = patch, .version = 0};
    hubd_result hr = hubd_device_modify(ctx, hub, device_id, reported_fn, &a, NULL);
    if (hr == HUBD_OK && new_version != NULL)
        *new_version = a.version;
    return hr;
}
