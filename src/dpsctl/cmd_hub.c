/* dpsctl hub ...: the commands for an opendps hub (hubd), modelled on
 * `az iot hub`. This file holds the "hub" group itself (invoke-method,
 * monitor-events, statistics); devices, twins, C2D and connection strings
 * are subgroups in cmd_hub_*.c. Every hub command connects with
 * --hub-login / --hub-cafile / --hub-endpoint (main.c). */
#include "hub.h"
#include "rest.h"

static const dpsctl_cmd_opt statistics_opts[] = {DPSCTL_HUB_CONN_OPTS};

/* The registry and service statistics in one object: az shows them from
 * two commands, but both are small and usually wanted together. */
static int run_statistics(dpsctl_ctx *ctx)
{
    json_t *reg = NULL, *svc = NULL;
    int rc = dpsctl_rest_fetch(ctx, "/statistics/devices", NULL, &reg);
    if (rc == 0)
        rc = dpsctl_rest_fetch(ctx, "/statistics/service", NULL, &svc);
    if (rc == 0 && (!json_is_object(reg) || !json_is_object(svc)))
        rc = dpsctl_fail("the hub answered the statistics without a JSON object");
    if (rc == 0 && json_object_update(reg, svc) != 0)
        rc = dpsctl_fail("out of memory");
    if (rc == 0)
        rc = dpsctl_emit(ctx, reg, NULL, NULL);
    json_decref(reg);
    json_decref(svc);
    return rc;
}

static const dpsctl_command commands[] = {
    {"invoke-method", "call a direct method on a connected device", dpsctl_hub_method_opts,
     dpsctl_hub_invoke_method,
     "  dpsctl hub invoke-method --device-id sensor-1 --method-name reboot \\\n"
     "      --method-payload '{\"delay\":5}' --timeout 30\n"},
    {"monitor-events", "follow the hub's device-to-cloud messages", dpsctl_hub_monitor_opts,
     dpsctl_hub_monitor_events,
     "  dpsctl hub monitor-events\n"
     "  dpsctl hub monitor-events --device-id sensor-1 --max-events 10 --timeout 60\n"
     "  dpsctl hub monitor-events --output table\n"},
    {"statistics", "device counts: total, enabled, disabled, connected", statistics_opts,
     run_statistics, "  dpsctl hub statistics --output table\n"},
};

const dpsctl_group dpsctl_group_hub = {
    "hub", "an opendps IoT hub (hubd): devices, twins, methods, telemetry, C2D", commands,
    sizeof commands / sizeof commands[0]};
