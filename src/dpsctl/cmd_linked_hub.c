/* dpsctl linked-hub create|list|show|update|delete: the IoT hubs dpsd may
 * assign devices to (admin API /admin/linkedHubs, ServiceConfig right). */
#include <stdlib.h>
#include <string.h>

#include "connstr.h"
#include "dpsctl.h"
#include "fields.h"
#include "rest.h"

static const dpsctl_field hub_fields[] = {
    {DPSCTL_OPT_CONNECTION_STRING, "connectionString", DPSCTL_FIELD_STRING, NULL, 0, 0},
    {DPSCTL_OPT_REGISTRY_URL, "registryUrl", DPSCTL_FIELD_STRING, NULL, 0, 0},
    {DPSCTL_OPT_ALLOCATION_WEIGHT, "allocationWeight", DPSCTL_FIELD_INT, NULL, 1, 1000},
    {DPSCTL_OPT_APPLY_ALLOCATION_POLICY, "applyAllocationPolicy", DPSCTL_FIELD_BOOL, NULL, 0, 0},
    {DPSCTL_OPT_LOCATION, "location", DPSCTL_FIELD_STRING, NULL, 0, 0},
    {DPSCTL_OPT_MIGRATION_CONNECTION_STRING, "migrationConnectionString", DPSCTL_FIELD_STRING,
     NULL, 0, 0},
};
#define N_HUB_FIELDS (sizeof hub_fields / sizeof hub_fields[0])

static const dpsctl_column hub_columns[] = {
    {"Name", "name"},
    {"Location", "location"},
    {"AllocationWeight", "allocationWeight"},
    {"ApplyAllocationPolicy", "applyAllocationPolicy"},
    {"RegistryUrl", "registryUrl"},
    {NULL, NULL},
};

/* Nothing to redact: dpsd masks the hub key in every answer ("****"), and
 * sending the masked string back keeps the stored key (docs/admin-api.md). */
static const char *const *const hub_secrets = NULL;

#define END_OPT {DPSCTL_OPT_NONE, NULL, false, NULL}
#define SETTINGS_OPTS                                                                        \
    {DPSCTL_OPT_REGISTRY_URL, NULL, false, NULL},                                            \
        {DPSCTL_OPT_ALLOCATION_WEIGHT, NULL, false, NULL},                                   \
        {DPSCTL_OPT_APPLY_ALLOCATION_POLICY, NULL, false, NULL},                             \
        {DPSCTL_OPT_LOCATION, NULL, false, NULL},                                            \
        {DPSCTL_OPT_MIGRATION_CONNECTION_STRING, NULL, false, NULL}

static const dpsctl_cmd_opt create_opts[] = {
    {DPSCTL_OPT_CONNECTION_STRING, NULL, true, NULL},
    {DPSCTL_OPT_LINKED_HUB, NULL, false,
     "host name to link the hub under (default: HostName of the connection string)"},
    SETTINGS_OPTS,
    END_OPT};
static const dpsctl_cmd_opt update_opts[] = {{DPSCTL_OPT_LINKED_HUB, NULL, true, NULL},
                                             {DPSCTL_OPT_CONNECTION_STRING, NULL, false, NULL},
                                             SETTINGS_OPTS,
                                             END_OPT};
static const dpsctl_cmd_opt list_opts[] = {END_OPT};
static const dpsctl_cmd_opt show_opts[] = {{DPSCTL_OPT_LINKED_HUB, NULL, true, NULL},
                                           END_OPT};
static const dpsctl_cmd_opt delete_opts[] = {{DPSCTL_OPT_LINKED_HUB, NULL, true, NULL},
                                             {DPSCTL_OPT_FORCE, NULL, false, NULL}, END_OPT};

static char *hub_path(const char *name) { return dpsctl_path("/admin/linkedHubs/", name, NULL); }

static int run_create(dpsctl_ctx *ctx)
{
    const char *name = dpsctl_opt_value(ctx, DPSCTL_OPT_LINKED_HUB);
    char err[512];
    dpsctl_connstr cs = {0};
    if (name == NULL) {
        if (dpsctl_connstr_parse(dpsctl_opt_value(ctx, DPSCTL_OPT_CONNECTION_STRING), &cs, err,
                                 sizeof err) != 0)
            return dpsctl_usage(ctx, "--connection-string: %s", err);
        name = cs.host_name;
    }
    int rc;
    char *path = hub_path(name);
    json_t *body = json_object();
    if (path == NULL || body == NULL) {
        rc = dpsctl_fail("out of memory");
    } else if (dpsctl_fields_apply(body, hub_fields, N_HUB_FIELDS, &ctx->args, err,
                                   sizeof err) != 0) {
        rc = dpsctl_usage(ctx, "%s", err);
    } else {
        /* no If-Match: create-only, an existing hub answers 409 */
        rc = dpsctl_rest_send(ctx, "PUT", path, body, NULL, hub_columns, hub_secrets);
    }
    json_decref(body);
    free(path);
    dpsctl_connstr_free(&cs);
    return rc;
}

static int run_list(dpsctl_ctx *ctx)
{
    return dpsctl_rest_show(ctx, "/admin/linkedHubs", NULL, hub_columns, hub_secrets);
}

static int run_show(dpsctl_ctx *ctx)
{
    char *path = hub_path(dpsctl_opt_value(ctx, DPSCTL_OPT_LINKED_HUB));
    if (path == NULL)
        return dpsctl_fail("out of memory");
    int rc = dpsctl_rest_show(ctx, path, NULL, hub_columns, hub_secrets);
    free(path);
    return rc;
}

/* Read, change the given settings, write back: the PUT replaces the whole
 * hub definition, so unchanged settings must travel with it (the masked
 * connection string included, which tells dpsd to keep the stored key). */
static int run_update(dpsctl_ctx *ctx)
{
    char *path = hub_path(dpsctl_opt_value(ctx, DPSCTL_OPT_LINKED_HUB));
    if (path == NULL)
        return dpsctl_fail("out of memory");
    json_t *cur = NULL;
    json_t *body = json_object();
    char err[512];
    int rc = body ? dpsctl_rest_fetch(ctx, path, NULL, &cur) : dpsctl_fail("out of memory");
    if (rc == 0 && !json_is_object(cur))
        rc = dpsctl_fail("the service returned no linked hub");
    for (size_t i = 0; rc == 0 && i < N_HUB_FIELDS; i++) {
        json_t *v = json_object_get(cur, hub_fields[i].path);
        if (v != NULL && !json_is_null(v) && json_object_set(body, hub_fields[i].path, v) != 0)
            rc = dpsctl_fail("out of memory");
    }
    if (rc == 0 &&
        dpsctl_fields_apply(body, hub_fields, N_HUB_FIELDS, &ctx->args, err, sizeof err) != 0)
        rc = dpsctl_usage(ctx, "%s", err);
    if (rc == 0) {
        const char *etag = json_string_value(json_object_get(cur, "etag"));
        rc = dpsctl_rest_send(ctx, "PUT", path, body, etag ? etag : "*", hub_columns,
                              hub_secrets);
    }
    json_decref(cur);
    json_decref(body);
    free(path);
    return rc;
}

static int run_delete(dpsctl_ctx *ctx)
{
    char *path = hub_path(dpsctl_opt_value(ctx, DPSCTL_OPT_LINKED_HUB));
    if (path == NULL)
        return dpsctl_fail("out of memory");
    bool force = dpsctl_args_flag(&ctx->args, DPSCTL_OPT_FORCE);
    int rc = dpsctl_rest_delete(ctx, path, force ? "force=true" : NULL, NULL);
    free(path);
    return rc;
}

static const dpsctl_command commands[] = {
    {"create", "link an IoT hub", create_opts, run_create,
     "  dpsctl linked-hub create --connection-string \"$HUB_CS\" \\\n"
     "      --registry-url https://127.0.0.1:9443 --allocation-weight 10 --location lab\n"},
    {"list", "list the linked hubs", list_opts, run_list,
     "  dpsctl linked-hub list --output table\n"},
    {"show", "show a linked hub", show_opts, run_show,
     "  dpsctl linked-hub show --linked-hub hub1.example.net\n"},
    {"update", "change a linked hub", update_opts, run_update,
     "  dpsctl linked-hub update --linked-hub hub1.example.net --apply-allocation-policy false\n"},
    {"delete", "unlink a hub", delete_opts, run_delete,
     "  dpsctl linked-hub delete --linked-hub hub1.example.net --force\n"},
};

const dpsctl_group dpsctl_group_linked_hub = {
    "linked-hub", "IoT hubs devices can be assigned to", commands,
    sizeof commands / sizeof commands[0]};
