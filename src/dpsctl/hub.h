/* What the hub commands (dpsctl hub ..., modelled on `az iot hub`) share:
 * the api-version they send, the connection options every one of them
 * takes, and the handlers that live outside the file declaring their group. */
#ifndef DPSCTL_HUB_H
#define DPSCTL_HUB_H

#include "dpsctl.h"

/* The version the Azure service SDKs send; hubd accepts any. */
#define DPSCTL_HUB_API_VERSION "2021-04-12"

/* Ends every option table of a hub command. */
#define DPSCTL_HUB_CONN_OPTS                                                                 \
    {DPSCTL_OPT_HUB_LOGIN, NULL, false, NULL}, {DPSCTL_OPT_HUB_CAFILE, NULL, false, NULL},   \
        {DPSCTL_OPT_HUB_ENDPOINT, NULL, false, NULL}, {DPSCTL_OPT_NONE, NULL, false, NULL}

/* --device-id as the hub commands describe it. */
#define DPSCTL_HUB_DEVICE_ID_OPT(required)                                                   \
    {DPSCTL_OPT_DEVICE_ID, NULL, required, "device ID (case-sensitive)"}

/* dpsctl hub monitor-events (cmd_hub_monitor.c). */
extern const dpsctl_cmd_opt dpsctl_hub_monitor_opts[];
int dpsctl_hub_monitor_events(dpsctl_ctx *ctx);

/* dpsctl hub invoke-method (cmd_hub_method.c). */
extern const dpsctl_cmd_opt dpsctl_hub_method_opts[];
int dpsctl_hub_invoke_method(dpsctl_ctx *ctx);

/* GET /devices/{id}: the device identity, keys included. Returns an exit
 * code; *out is a new object on success. */
int dpsctl_hub_get_device(dpsctl_ctx *ctx, const char *device_id, json_t **out);

#endif
