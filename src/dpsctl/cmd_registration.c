/* dpsctl registration show|list|delete: device registration records
 * (service API /registrations). Devices create them; the service only reads
 * and deletes them, and lists them per enrollment group. */
#include <stdlib.h>

#include "dpsctl.h"
#include "fields.h"
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
/* What the dry run says, one line per registration in table form. */
static const dpsctl_column explain_columns[] = {
    {"RegistrationId", "registrationId"},
    {"Status", "status"},
    {"Enrollment", "enrollment.id"},
    {"Policy", "allocationPolicy"},
    {"Hub", "assignedHub"},
    {"Action", "action"},
    {"Substatus", "substatus"},
    {"CurrentHub", "currentHub"},
    {NULL, NULL},
};

static const dpsctl_cmd_opt explain_opts[] = {
    {DPSCTL_OPT_REGISTRATION_ID, NULL, true, NULL},
    {DPSCTL_OPT_PAYLOAD, NULL, false, NULL},
    {DPSCTL_OPT_GROUP_ID, NULL, false,
     "assume the device registers through this enrollment group"},
    {DPSCTL_OPT_CLIENT_ADDRESS, NULL, false, NULL},
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

/* POST /admin/registrations/{id}/explain: what a registration would get
 * now, computed by dpsd's own decision code; nothing changes. */
static int run_explain(dpsctl_ctx *ctx)
{
    json_t *body = json_object();
    if (body == NULL)
        return dpsctl_fail("out of memory");
    const char *payload = dpsctl_opt_value(ctx, DPSCTL_OPT_PAYLOAD);
    const char *group = dpsctl_opt_value(ctx, DPSCTL_OPT_GROUP_ID);
    const char *addr = dpsctl_opt_value(ctx, DPSCTL_OPT_CLIENT_ADDRESS);
    if (payload != NULL) {
        /* An object inline or from @file; any other JSON value inline (the
         * device API passes payloads through verbatim). */
        char err[300];
        json_t *v = dpsctl_parse_object(payload, err, sizeof err);
        if (v == NULL && payload[0] != '@') {
            json_error_t jerr;
            v = json_loads(payload, JSON_DECODE_ANY, &jerr);
        }
        if (v == NULL) {
            json_decref(body);
            return dpsctl_usage(ctx, "--payload: %s", err);
        }
        json_object_set_new(body, "payload", v);
    }
    if (group != NULL)
        json_object_set_new(body, "enrollmentGroupId", json_string(group));
    if (addr != NULL)
        json_object_set_new(body, "clientAddress", json_string(addr));
    char *path = dpsctl_path("/admin/registrations/",
                             dpsctl_opt_value(ctx, DPSCTL_OPT_REGISTRATION_ID), "/explain");
    int rc = path != NULL ? dpsctl_rest_send(ctx, "POST", path, body, NULL, explain_columns, NULL)
                          : dpsctl_fail("out of memory");
    free(path);
    json_decref(body);
    return rc;
}

static const dpsctl_command commands[] = {
    {"show", "show a device registration record", show_opts, run_show,
     "  dpsctl registration show --registration-id sensor-1\n"},
    {"list", "list the registration records of an enrollment group", list_opts, run_list,
     "  dpsctl registration list --group-id floor-3 --output table\n"},
    {"delete", "delete a device registration record", delete_opts, run_delete,
     "  dpsctl registration delete --registration-id sensor-1\n"},
    {"explain",
     "dry run: the enrollment, policy, hub and reprovisioning a registration would get now",
     explain_opts, run_explain,
     "  dpsctl registration explain --registration-id sensor-1\n"
     "  dpsctl registration explain --registration-id sensor-1 --payload '{\"fw\":\"2.4\"}'\n"
     "  dpsctl registration explain --registration-id sensor-1 --group-id floor-3 \\\n"
     "      --client-address 10.1.2.3 --output table\n"},
};

const dpsctl_group dpsctl_group_registration = {
    "registration", "device registration records", commands,
    sizeof commands / sizeof commands[0]};
