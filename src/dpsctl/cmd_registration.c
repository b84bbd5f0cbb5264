/* dpsctl registration show|list|delete: device registration records
 * (service API /registrations). Devices create them; the service only reads
 * and deletes them, and lists them per enrollment group. */
#include <stdlib.h>

#include "dpsctl.h"
#include "rest.h"

static const dpsctl_column registration_columns[] = {
    {"RegistrationId", "registrationId"},
    {"DeviceId", "deviceId"},
    {"Status", "status"},
    {"Substatus", "substatus"},
    {"AssignedHub", "assignedHub"},
    {"LastUpdated", "lastUpdatedDateTimeUtc"},
    {NULL, NULL},
};

#define END_OPT {DPSCTL_OPT_NONE, NULL, false, NULL}

static const dpsctl_cmd_opt show_opts[] = {{DPSCTL_OPT_REGISTRATION_ID, NULL, true, NULL},
                                           END_OPT};
static const dpsctl_cmd_opt list_opts[] = {
    {DPSCTL_OPT_GROUP_ID, "enrollment-id", true, "enrollment group whose records to list"},
    {DPSCTL_OPT_TOP, NULL, false, NULL},
    END_OPT};
static const dpsctl_cmd_opt delete_opts[] = {
    {DPSCTL_OPT_REGISTRATION_ID, NULL, true, NULL},
    {DPSCTL_OPT_ETAG, NULL, false, "delete only if the record still has this ETag"},
    END_OPT};

static int run_show(dpsctl_ctx *ctx)
{
    char *path = dpsctl_path("/registrations/", dpsctl_opt_value(ctx, DPSCTL_OPT_REGISTRATION_ID),
                             NULL);
    if (path == NULL)
        return dpsctl_fail("out of memory");
    int rc = dpsctl_rest_show(ctx, path, NULL, registration_columns, NULL);
    free(path);
    return rc;
}

static int run_list(dpsctl_ctx *ctx)
{
    long top;
    int rc = dpsctl_parse_top(ctx, &top);
    if (rc != 0)
        return rc;
    dpsctl_client *c;
    rc = dpsctl_connect(ctx, &c);
    if (rc != 0)
        return rc;
    char *path = dpsctl_path("/registrations/", dpsctl_opt_value(ctx, DPSCTL_OPT_GROUP_ID),
                             "/query");
    if (path == NULL)
        return dpsctl_fail("out of memory");
    /* no body, like the az CLI and the C service client */
    json_t *all;
    rc = dpsctl_query_all(c, path, NULL, top, &all);
    free(path);
    if (rc != 0)
        return rc;
    rc = dpsctl_emit(ctx, all, registration_columns, NULL);
    json_decref(all);
    return rc;
}

static int run_delete(dpsctl_ctx *ctx)
{
    char *path = dpsctl_path("/registrations/", dpsctl_opt_value(ctx, DPSCTL_OPT_REGISTRATION_ID),
                             NULL);
    if (path == NULL)
        return dpsctl_fail("out of memory");
    int rc = dpsctl_rest_delete(ctx, path, NULL, dpsctl_opt_value(ctx, DPSCTL_OPT_ETAG));
    free(path);
    return rc;
}

static const dpsctl_command commands[] = {
    {"show", "show a device registration record", show_opts, run_show,
     "  dpsctl registration show --registration-id sensor-1\n"},
    {"list", "list the registration records of an enrollment group", list_opts, run_list,
     "  dpsctl registration list --group-id floor-3 --output table\n"},
    {"delete", "delete a device registration record", delete_opts, run_delete,
     "  dpsctl registration delete --registration-id sensor-1\n"},
};

const dpsctl_group dpsctl_group_registration = {
    "registration", "device registration records", commands,
    sizeof commands / sizeof commands[0]};
