/* Reprovisioning decisions (reprovision.h). */
#include "engine/reprovision.h"

#include <string.h>
#include <strings.h>

bool dps_reprov_legacy_client(const char *api_version)
{
    /* api-versions are ISO dates with an optional suffix, so the text order
     * is the time order ("2018-04-01" < "2018-09-01-preview"). */
    return api_version != NULL && api_version[0] != '\0' &&
           strcmp(api_version, DPS_REPROV_LEGACY_BEFORE) < 0;
}

void dps_reprov_plan_make(const dps_reprov_input *in, dps_reprov_plan *out)
{
    out->migrate = true;
    if (in->current_hub == NULL) {
        out->mode = DPS_REPROV_FIRST;
        out->reason = "no previous assignment";
        return;
    }
    if (!in->current_linked) {
        /* Nothing can be read from or removed in a hub dpsd no longer
         * holds credentials for: the device starts over. */
        out->mode = DPS_REPROV_FIRST;
        out->reason = "the previous hub is no longer linked; the device is assigned afresh";
        return;
    }
    if (!json_is_object(in->policy)) {
        if (dps_reprov_legacy_client(in->api_version)) {
            out->mode = DPS_REPROV_KEEP;
            out->reason = "legacy client (api-version before " DPS_REPROV_LEGACY_BEFORE
                          ") and no reprovisionPolicy: sticky to its hub";
            return;
        }
        out->mode = DPS_REPROV_REALLOCATE;
        out->reason = "no reprovisionPolicy: reprovision and migrate data (the default)";
        return;
    }
    bool update = !json_is_false(json_object_get(in->policy, "updateHubAssignment"));
    bool migrate = !json_is_false(json_object_get(in->policy, "migrateDeviceData"));
    if (!update) {
        out->mode = DPS_REPROV_KEEP;
        out->reason = "reprovisionPolicy never (updateHubAssignment false)";
        return;
    }
    out->mode = DPS_REPROV_REALLOCATE;
    out->migrate = migrate;
    out->reason = migrate ? "reprovisionPolicy: reprovision and migrate data"
                          : "reprovisionPolicy: reprovision and reset to the initial config";
}

void dps_reprov_outcome(const dps_reprov_plan *plan, const char *current_hub,
                        const char *new_hub, const char *initial_hub, dps_hub_action *act,
                        const char **substatus)
{
    *substatus = "initialAssignment";
    if (plan->mode == DPS_REPROV_FIRST) {
        *act = DPS_HUB_ACT_CREATE;
        return;
    }
    if (plan->mode == DPS_REPROV_KEEP || current_hub == NULL || new_hub == NULL ||
        strcasecmp(current_hub, new_hub) == 0) {
        *act = DPS_HUB_ACT_SAME;
        return;
    }
    *act = plan->migrate ? DPS_HUB_ACT_MIGRATE : DPS_HUB_ACT_RESET;
    if (initial_hub != NULL && strcasecmp(initial_hub, new_hub) == 0)
        *substatus = "reprovisionedToInitialAssignment";
    else
        *substatus = plan->migrate ? "deviceDataMigrated" : "deviceDataReset";
}

const char *dps_hub_action_name(dps_hub_action a)
{
    switch (a) {
    case DPS_HUB_ACT_CREATE:
        return "create";
    case DPS_HUB_ACT_SAME:
        return "keep";
    case DPS_HUB_ACT_MIGRATE:
        return "migrate";
    case DPS_HUB_ACT_RESET:
        return "reset";
    }
    return "?";
}

const json_t *dps_reprov_twin_source(dps_hub_action act, const json_t *webhook_twin,
                                     const json_t *enrollment_twin)
{
    if (act == DPS_HUB_ACT_SAME || act == DPS_HUB_ACT_MIGRATE)
        return NULL;
    if (webhook_twin != NULL && !json_is_null(webhook_twin))
        return webhook_twin;
    return enrollment_twin;
}
