/* The allocation decision (decide.h). */
#include "engine/decide.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "engine/registration.h"

static int hub_index(const dps_decide_input *in, const char *name)
{
    for (size_t i = 0; name != NULL && i < in->nlinked; i++)
        if (strcasecmp(in->linked[i].name, name) == 0)
            return (int)i;
    return -1;
}

int dps_decide(const dps_decide_input *in, dps_decision *d)
{
    memset(d, 0, sizeof *d);
    d->hub = -1;
    d->current = hub_index(in, in->current_hub);
    const json_t *enr = in->enrollment;

    dps_reprov_input ri = {.current_hub = in->current_hub,
                           .current_linked = d->current >= 0,
                           .policy = json_object_get(enr, "reprovisionPolicy"),
                           .api_version = in->api_version};
    dps_reprov_plan_make(&ri, &d->plan);

    /* Which policy, over which hubs (§12.2). */
    const char *policy = json_string_value(json_object_get(enr, "allocationPolicy"));
    d->policy_source = "enrollment";
    const json_t *list = json_object_get(enr, "iotHubs");
    const char *legacy = json_string_value(json_object_get(enr, "iotHubHostName"));
    const char *listed[DPS_DECIDE_MAX_LISTED];
    size_t nlisted = 0;
    for (size_t i = 0; json_is_array(list) && i < json_array_size(list) &&
                       nlisted < DPS_DECIDE_MAX_LISTED;
         i++) {
        const char *h = json_string_value(json_array_get(list, i));
        if (h != NULL)
            listed[nlisted++] = h;
    }
    if (nlisted == 0 && policy == NULL && legacy != NULL && legacy[0] != '\0') {
        /* The legacy single-hub field alone means static to it. */
        policy = "static";
        d->policy_source = "legacy iotHubHostName";
        listed[nlisted++] = legacy;
    }
    if (policy == NULL && in->instance_default != NULL && in->instance_default[0] != '\0') {
        policy = in->instance_default;
        d->policy_source = "instance default";
    }
    if (policy == NULL) {
        policy = "hashed";
        d->policy_source = "built-in default";
    }
    const char *canon = dps_alloc_policy_name(policy);
    d->policy = canon != NULL ? canon : policy;

    dps_alloc_input ai = {.policy = d->policy,
                          .listed = listed,
                          .nlisted = nlisted,
                          .linked = in->linked,
                          .nlinked = in->nlinked,
                          .registration_key = in->regkey,
                          .geo = in->geo};
    if (canon != NULL && strcmp(canon, "geoLatency") == 0)
        ai.device_location = d->device_location =
            dps_geo_locate(in->geo, in->peer, in->payload, &d->location_source);
    bool custom = canon != NULL && strcmp(canon, "custom") == 0;

    if (d->plan.mode == DPS_REPROV_KEEP) {
        /* Never reprovision: the hub stays; a webhook still runs (its
         * payload reaches the device) but is offered only this hub. */
        d->cand[0] = d->current;
        d->ncand = 1;
        d->webhook = custom;
        if (!custom) {
            d->hub = d->current;
            snprintf(d->detail, sizeof d->detail, "kept the current hub");
        }
        return 0;
    }
    d->ncand = dps_alloc_candidates(&ai, d->cand, DPS_ALLOC_MAX_CANDIDATES);
    if (custom) {
        if (d->ncand == 0) {
            d->error_code = DPS_REG_FAIL_NO_HUB;
            snprintf(d->message, sizeof d->message,
                     "no IoT hub is available for custom allocation");
            return -1;
        }
        d->webhook = true;
        snprintf(d->detail, sizeof d->detail, "the webhook chooses among %zu hub(s)", d->ncand);
        return 0;
    }
    dps_alloc_result ar;
    if (dps_allocate(&ai, &ar) != 0) {
        d->error_code = ar.error_code;
        snprintf(d->message, sizeof d->message, "%s", ar.message);
        return -1;
    }
    d->hub = ar.hub;
    snprintf(d->detail, sizeof d->detail, "%s", ar.detail);
    return 0;
}

const char *dps_decide_device_id(const json_t *enrollment, bool is_group,
                                 const char *prev_device_id, const char *registration_id)
{
    if (is_group)
        return prev_device_id != NULL ? prev_device_id : registration_id;
    const char *id = json_string_value(json_object_get(enrollment, "deviceId"));
    if (id == NULL || id[0] == '\0')
        id = json_string_value(json_object_get(enrollment, "registrationId"));
    return id != NULL ? id : registration_id;
}
