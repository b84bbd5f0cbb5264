/* dpsctl hub twin show|update: device twins (GET / PATCH /twins/{id}),
 * modelled on `az iot hub device-twin`. Only tags and desired properties
 * can be written from the service side; reported ones belong to the
 * device. */
#include <stdlib.h>

#include "fields.h"
#include "hub.h"
#include "rest.h"

static const dpsctl_field twin_fields[] = {
    {DPSCTL_OPT_TAGS, "tags", DPSCTL_FIELD_OBJECT, NULL, 0, 0},
    {DPSCTL_OPT_DESIRED, "properties.desired", DPSCTL_FIELD_OBJECT, NULL, 0, 0},
};
#define N_TWIN_FIELDS (sizeof twin_fields / sizeof twin_fields[0])

static const dpsctl_column twin_columns[] = {
    {"DeviceId", "deviceId"},
    {"Status", "status"},
    {"ConnectionState", "connectionState"},
    {"Version", "version"},
    {"Tags", "tags"},
    {"Desired", "properties.desired"},
    {"Reported", "properties.reported"},
    {NULL, NULL},
};

static const dpsctl_cmd_opt show_opts[] = {DPSCTL_HUB_DEVICE_ID_OPT(true), DPSCTL_HUB_CONN_OPTS};
static const dpsctl_cmd_opt update_opts[] = {
    DPSCTL_HUB_DEVICE_ID_OPT(true),
    {DPSCTL_OPT_TAGS, NULL, false, NULL},
    {DPSCTL_OPT_DESIRED, NULL, false, NULL},
    {DPSCTL_OPT_ETAG, NULL, false, "update only if the twin still has this ETag (default: "
                                   "merge unconditionally)"},
    DPSCTL_HUB_CONN_OPTS};

static char *twin_path(const dpsctl_ctx *ctx)
{
    return dpsctl_path("/twins/", dpsctl_opt_value(ctx, DPSCTL_OPT_DEVICE_ID), NULL);
}

/* Prints a twin. Tables and tsv leave out the $metadata blocks: they
 * would fill the Desired and Reported cells before any property shows.
 * JSON keeps the twin as the hub sent it. */
static int emit_twin(dpsctl_ctx *ctx, json_t *twin)
{
    if (ctx->output != DPSCTL_OUT_JSON) {
        json_object_del(dpsctl_json_path(twin, "properties.desired"), "$metadata");
        json_object_del(dpsctl_json_path(twin, "properties.reported"), "$metadata");
    }
    return dpsctl_emit(ctx, twin, twin_columns, NULL);
}

static int run_show(dpsctl_ctx *ctx)
{
    char *path = twin_path(ctx);
    if (path == NULL)
        return dpsctl_fail("out of memory");
    json_t *twin;
    int rc = dpsctl_rest_fetch(ctx, path, NULL, &twin);
    free(path);
    if (rc == 0) {
        rc = emit_twin(ctx, twin);
        json_decref(twin);
    }
    return rc;
}

/* A PATCH merges: members given are set, members given as null are
 * deleted, the rest of the twin stays. So no read is needed first, and
 * If-Match is sent only when the caller asks for it with --etag. */
static int run_update(dpsctl_ctx *ctx)
{
    if (dpsctl_opt_value(ctx, DPSCTL_OPT_TAGS) == NULL &&
        dpsctl_opt_value(ctx, DPSCTL_OPT_DESIRED) == NULL)
        return dpsctl_usage(ctx, "nothing to change: give --tags and/or --desired");
    char err[512];
    char *path = twin_path(ctx);
    json_t *patch = json_object();
    dpsctl_client *c;
    int rc;
    if (path == NULL || patch == NULL)
        rc = dpsctl_fail("out of memory");
    else if (dpsctl_fields_apply(patch, twin_fields, N_TWIN_FIELDS, &ctx->args, err,
                                 sizeof err) != 0)
        rc = dpsctl_usage(ctx, "%s", err);
    else
        rc = dpsctl_connect(ctx, &c);
    if (rc == 0) {
        dpsctl_req_opts o = {.if_match = dpsctl_opt_value(ctx, DPSCTL_OPT_ETAG)};
        dpsctl_response res;
        rc = dpsctl_call(c, "PATCH", path, patch, &o, &res);
        if (rc == 0)
            rc = json_is_object(res.body)
                     ? emit_twin(ctx, res.body)
                     : dpsctl_fail("the hub answered the twin update without a twin");
        dpsctl_response_free(&res); /* safe after a failed call: res is zeroed */
    }
    json_decref(patch);
    free(path);
    return rc;
}

static const dpsctl_command commands[] = {
    {"show", "show a device twin", show_opts, run_show,
     "  dpsctl hub twin show --device-id sensor-1\n"},
    {"update", "merge tags and desired properties into a twin", update_opts, run_update,
     "  dpsctl hub twin update --device-id sensor-1 --tags '{\"site\":\"north\"}'\n"
     "  dpsctl hub twin update --device-id sensor-1 --desired '{\"rate\":15,\"old\":null}'\n"},
};

const dpsctl_group dpsctl_group_hub_twin = {"hub twin", "device twins", commands,
                                            sizeof commands / sizeof commands[0]};
