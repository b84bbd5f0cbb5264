/* dpsctl instance show|update: instance-wide settings such as the ID scope
 * and the default allocation policy (admin API /admin/instance). */
#include "dpsctl.h"
#include "fields.h"
#include "rest.h"

static const dpsctl_field instance_fields[] = {
    {DPSCTL_OPT_ALLOCATION_POLICY, "allocationPolicy", DPSCTL_FIELD_ENUM,
     dpsctl_enum_instance_allocation, 0, 0},
};

static const dpsctl_cmd_opt show_opts[] = {{DPSCTL_OPT_NONE, NULL, false, NULL}};
static const dpsctl_cmd_opt update_opts[] = {
    {DPSCTL_OPT_ALLOCATION_POLICY, NULL, true,
     "default allocation policy: hashed, geolatency or static (custom cannot be the default)"},
    {DPSCTL_OPT_NONE, NULL, false, NULL},
};

/* The instance is one object of varied settings: printed as Name/Value rows
 * in table form rather than squeezed into fixed columns. */
static int run_show(dpsctl_ctx *ctx)
{
    return dpsctl_rest_show(ctx, "/admin/instance", NULL, NULL, NULL);
}

static int run_update(dpsctl_ctx *ctx)
{
    char err[512];
    json_t *body = json_object();
    if (body == NULL)
        return dpsctl_fail("out of memory");
    int rc;
    if (dpsctl_fields_apply(body, instance_fields, 1, &ctx->args, err, sizeof err) != 0)
        rc = dpsctl_usage(ctx, "%s", err);
    else
        rc = dpsctl_rest_send(ctx, "PATCH", "/admin/instance", body, NULL, NULL, NULL);
    json_decref(body);
    return rc;
}

static const dpsctl_command commands[] = {
    {"show", "show the instance settings (ID scope, host names, default policy)", show_opts,
     run_show, "  dpsctl instance show --output table\n"},
    {"update", "change the instance settings", update_opts, run_update,
     "  dpsctl instance update --allocation-policy geolatency\n"},
};

const dpsctl_group dpsctl_group_instance = {"instance", "instance-wide settings", commands,
                                            sizeof commands / sizeof commands[0]};
