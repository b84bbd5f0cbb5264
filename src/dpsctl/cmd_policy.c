/* dpsctl policy create|list|show|update|delete|regenerate-key: shared access
 * policies of the service (admin API /admin/policies, ServiceConfig right). */
#include <stdlib.h>
#include <string.h>

#include "dpsctl.h"
#include "fields.h"
#include "rest.h"

static const dpsctl_column policy_columns[] = {
    {"KeyName", "keyName"},
    {"Rights", "rights"},
    {NULL, NULL},
};

static const char *const policy_secrets[] = {"primaryKey", "secondaryKey", NULL};

/* Options copied into the body as they are; rights are normalised apart. */
static const dpsctl_field key_fields[] = {
    {DPSCTL_OPT_PRIMARY_KEY, "primaryKey", DPSCTL_FIELD_STRING, NULL, 0, 0},
    {DPSCTL_OPT_SECONDARY_KEY, "secondaryKey", DPSCTL_FIELD_STRING, NULL, 0, 0},
};
#define N_KEY_FIELDS (sizeof key_fields / sizeof key_fields[0])

#define END_OPT {DPSCTL_OPT_NONE, NULL, false, NULL}
#define NAME_OPT {DPSCTL_OPT_POLICY_NAME, NULL, true, NULL}
#define SHOW_KEYS_OPT {DPSCTL_OPT_SHOW_KEYS, NULL, false, "include the policy keys"}
#define KEY_OPTS                                                                             \
    {DPSCTL_OPT_PRIMARY_KEY, NULL, false, "primary key, base64 (generated when omitted)"},   \
        {DPSCTL_OPT_SECONDARY_KEY, NULL, false, "secondary key, base64 (generated when omitted)"}

static const dpsctl_cmd_opt create_opts[] = {NAME_OPT, {DPSCTL_OPT_RIGHTS, NULL, true, NULL},
                                             KEY_OPTS, SHOW_KEYS_OPT, END_OPT};
static const dpsctl_cmd_opt update_opts[] = {NAME_OPT, {DPSCTL_OPT_RIGHTS, NULL, false, NULL},
                                             KEY_OPTS, SHOW_KEYS_OPT, END_OPT};
static const dpsctl_cmd_opt list_opts[] = {SHOW_KEYS_OPT, END_OPT};
static const dpsctl_cmd_opt show_opts[] = {NAME_OPT, SHOW_KEYS_OPT, END_OPT};
static const dpsctl_cmd_opt delete_opts[] = {NAME_OPT, END_OPT};
static const dpsctl_cmd_opt regenerate_opts[] = {
    NAME_OPT, {DPSCTL_OPT_KEY_TYPE, NULL, true, NULL}, SHOW_KEYS_OPT, END_OPT};

static char *policy_path(const dpsctl_ctx *ctx, const char *suffix)
{
    return dpsctl_path("/admin/policies/", dpsctl_opt_value(ctx, DPSCTL_OPT_POLICY_NAME), suffix);
}

/* Sets rights and keys from the options. Returns an exit code. */
static int apply_options(dpsctl_ctx *ctx, json_t *body)
{
    char err[512];
    const char *rights = dpsctl_opt_value(ctx, DPSCTL_OPT_RIGHTS);
    if (rights != NULL) {
        char *norm = dpsctl_rights_normalize(rights, err, sizeof err);
        if (norm == NULL)
            return dpsctl_usage(ctx, "--rights: %s", err);
        int rc = json_object_set_new(body, "rights", json_string(norm));
        free(norm);
        if (rc != 0)
            return dpsctl_fail("out of memory");
    }
    if (dpsctl_fields_apply(body, key_fields, N_KEY_FIELDS, &ctx->args, err, sizeof err) != 0)
        return dpsctl_usage(ctx, "%s", err);
    return 0;
}

static int run_create(dpsctl_ctx *ctx)
{
    char *path = policy_path(ctx, NULL);
    json_t *body = json_object();
    int rc = (path && body) ? apply_options(ctx, body) : dpsctl_fail("out of memory");
    /* no If-Match: create-only, an existing policy answers 409 */
    if (rc == 0)
        rc = dpsctl_rest_send(ctx, "PUT", path, body, NULL, policy_columns, policy_secrets);
    json_decref(body);
    free(path);
    return rc;
}

static int run_list(dpsctl_ctx *ctx)
{
    return dpsctl_rest_show(ctx, "/admin/policies", NULL, policy_columns, policy_secrets);
}

static int run_show(dpsctl_ctx *ctx)
{
    char *path = policy_path(ctx, NULL);
    if (path == NULL)
        return dpsctl_fail("out of memory");
    int rc = dpsctl_rest_show(ctx, path, NULL, policy_columns, policy_secrets);
    free(path);
    return rc;
}

/* Read, change, write back: a PUT replaces the policy, and keys left out of
 * it could be regenerated, so the current keys travel with the change. */
static int run_update(dpsctl_ctx *ctx)
{
    if (dpsctl_opt_value(ctx, DPSCTL_OPT_RIGHTS) == NULL &&
        dpsctl_opt_value(ctx, DPSCTL_OPT_PRIMARY_KEY) == NULL &&
        dpsctl_opt_value(ctx, DPSCTL_OPT_SECONDARY_KEY) == NULL)
        return dpsctl_usage(ctx, "nothing to change: give --rights, --primary-key or "
                                 "--secondary-key");
    char *path = policy_path(ctx, NULL);
    json_t *body = json_object();
    json_t *cur = NULL;
    int rc = (path && body) ? dpsctl_rest_fetch(ctx, path, NULL, &cur) : dpsctl_fail("out of memory");
    static const char *const kept[] = {"rights", "primaryKey", "secondaryKey", NULL};
    for (const char *const *m = kept; rc == 0 && *m != NULL; m++) {
        json_t *v = json_object_get(cur, *m);
        if (json_is_string(v) && json_object_set(body, *m, v) != 0)
            rc = dpsctl_fail("out of memory");
    }
    if (rc == 0)
        rc = apply_options(ctx, body);
    if (rc == 0) {
        const char *etag = json_string_value(json_object_get(cur, "etag"));
        rc = dpsctl_rest_send(ctx, "PUT", path, body, etag ? etag : "*", policy_columns,
                              policy_secrets);
    }
    json_decref(cur);
    json_decref(body);
    free(path);
    return rc;
}

static int run_delete(dpsctl_ctx *ctx)
{
    char *path = policy_path(ctx, NULL);
    if (path == NULL)
        return dpsctl_fail("out of memory");
    int rc = dpsctl_rest_delete(ctx, path, NULL, NULL);
    free(path);
    return rc;
}

static int run_regenerate(dpsctl_ctx *ctx)
{
    const char *text = dpsctl_opt_value(ctx, DPSCTL_OPT_KEY_TYPE);
    const char *wire = dpsctl_enum_lookup(dpsctl_enum_key_type, text);
    if (wire == NULL)
        return dpsctl_usage(ctx, "--key-type: '%s' is not primary or secondary", text);
    char *path = policy_path(ctx, "/regenerateKey");
    json_t *body = json_pack("{s:s}", "keyType", wire);
    int rc = (path && body) ? dpsctl_rest_send(ctx, "POST", path, body, NULL, policy_columns,
                                               policy_secrets)
                            : dpsctl_fail("out of memory");
    json_decref(body);
    free(path);
    return rc;
}

static const dpsctl_command commands[] = {
    {"create", "create a shared access policy", create_opts, run_create,
     "  dpsctl policy create --policy-name enroller --rights \"EnrollmentRead EnrollmentWrite\"\n"},
    {"list", "list the shared access policies", list_opts, run_list,
     "  dpsctl policy list --output table\n"},
    {"show", "show a shared access policy", show_opts, run_show,
     "  dpsctl policy show --policy-name enroller --show-keys\n"},
    {"update", "change the rights or keys of a policy", update_opts, run_update,
     "  dpsctl policy update --policy-name enroller --rights ServiceConfig,EnrollmentRead\n"},
    {"delete", "delete a shared access policy", delete_opts, run_delete,
     "  dpsctl policy delete --policy-name enroller\n"},
    {"regenerate-key", "replace a policy key with a new random one", regenerate_opts,
     run_regenerate,
     "  dpsctl policy regenerate-key --policy-name enroller --key-type secondary --show-keys\n"},
};

const dpsctl_group dpsctl_group_policy = {
    "policy", "shared access policies (service credentials)", commands,
    sizeof commands / sizeof commands[0]};
