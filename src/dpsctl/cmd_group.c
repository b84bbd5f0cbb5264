/* dpsctl enrollment-group create|show|list|update|delete|compute-device-key:
 * enrollment groups (service API /enrollmentGroups) and the derived device
 * keys of symmetric-key groups. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/sas.h"
#include "common/secret.h"
#include "dpsctl.h"
#include "record.h"

static const dpsctl_field group_fields[] = {
    {DPSCTL_OPT_PROVISIONING_STATUS, "provisioningStatus", DPSCTL_FIELD_ENUM,
     dpsctl_enum_provisioning_status, 0, 0},
    {DPSCTL_OPT_IOT_HUBS, "iotHubs", DPSCTL_FIELD_LIST, NULL, 0, 0},
    {DPSCTL_OPT_ALLOCATION_POLICY, "allocationPolicy", DPSCTL_FIELD_ENUM,
     dpsctl_enum_allocation_policy, 0, 0},
    {DPSCTL_OPT_WEBHOOK_URL, "customAllocationDefinition.webhookUrl", DPSCTL_FIELD_STRING, NULL,
     0, 0},
    {DPSCTL_OPT_API_VERSION_WEBHOOK, "customAllocationDefinition.apiVersion",
     DPSCTL_FIELD_STRING, NULL, 0, 0},
    {DPSCTL_OPT_INITIAL_TWIN_TAGS, "initialTwin.tags", DPSCTL_FIELD_OBJECT, NULL, 0, 0},
    {DPSCTL_OPT_INITIAL_TWIN_PROPERTIES, "initialTwin.properties.desired", DPSCTL_FIELD_OBJECT,
     NULL, 0, 0},
    {DPSCTL_OPT_EDGE_ENABLED, "capabilities.iotEdge", DPSCTL_FIELD_BOOL, NULL, 0, 0},
    {DPSCTL_OPT_REPROVISION_POLICY, "reprovisionPolicy", DPSCTL_FIELD_ENUM_JSON,
     dpsctl_enum_reprovision_policy, 0, 0},
};

static const dpsctl_column group_columns[] = {
    {"EnrollmentGroupId", "enrollmentGroupId"},
    {"Attestation", "attestation.type"},
    {"ProvisioningStatus", "provisioningStatus"},
    {"AllocationPolicy", "allocationPolicy"},
    {"IotHubs", "iotHubs"},
    {"IotEdge", "capabilities.iotEdge"},
    {NULL, NULL},
};

static const dpsctl_record_kind group_kind = {
    .collection = "/enrollmentGroups/",
    .id_member = "enrollmentGroupId",
    .noun = "enrollment group",
    .id_opt = DPSCTL_OPT_GROUP_ID,
    .group = true,
    .fields = group_fields,
    .nfields = sizeof group_fields / sizeof group_fields[0],
    .columns = group_columns,
};

#define ID_OPT {DPSCTL_OPT_GROUP_ID, "enrollment-id", true, NULL}
#define END_OPT {DPSCTL_OPT_NONE, NULL, false, NULL}
#define SETTINGS_OPTS                                                                        \
    {DPSCTL_OPT_ATTESTATION_TYPE, NULL, false,                                               \
     "symmetrickey or x509 (default: x509 when certificates or CA names are given, else "    \
     "symmetrickey)"},                                                                       \
        {DPSCTL_OPT_PRIMARY_KEY, NULL, false, NULL},                                         \
        {DPSCTL_OPT_SECONDARY_KEY, NULL, false, NULL},                                       \
        {DPSCTL_OPT_CERTIFICATE_PATH, NULL, false, "primary signing certificate, PEM or DER"}, \
        {DPSCTL_OPT_SECONDARY_CERTIFICATE_PATH, NULL, false,                                 \
         "secondary signing certificate, PEM or DER"},                                       \
        {DPSCTL_OPT_CA_NAME, NULL, false, NULL},                                             \
        {DPSCTL_OPT_SECONDARY_CA_NAME, NULL, false, NULL},                                   \
        {DPSCTL_OPT_PROVISIONING_STATUS, NULL, false, NULL},                                 \
        {DPSCTL_OPT_IOT_HUBS, NULL, false, NULL},                                            \
        {DPSCTL_OPT_ALLOCATION_POLICY, NULL, false, NULL},                                   \
        {DPSCTL_OPT_WEBHOOK_URL, NULL, false, NULL},                                         \
        {DPSCTL_OPT_API_VERSION_WEBHOOK, NULL, false, NULL},                                 \
        {DPSCTL_OPT_INITIAL_TWIN_TAGS, NULL, false, NULL},                                   \
        {DPSCTL_OPT_INITIAL_TWIN_PROPERTIES, NULL, false, NULL},                             \
        {DPSCTL_OPT_EDGE_ENABLED, NULL, false, NULL},                                        \
        {DPSCTL_OPT_REPROVISION_POLICY, NULL, false, NULL},                                  \
        {DPSCTL_OPT_SHOW_KEYS, NULL, false, "include the symmetric keys in the output"}

static const dpsctl_cmd_opt create_opts[] = {ID_OPT, SETTINGS_OPTS, END_OPT};
static const dpsctl_cmd_opt update_opts[] = {
    ID_OPT, SETTINGS_OPTS,
    {DPSCTL_OPT_ETAG, NULL, false, "update only if the group still has this ETag "
                                   "(default: the ETag just read)"},
    END_OPT};
static const dpsctl_cmd_opt show_opts[] = {
    ID_OPT,
    {DPSCTL_OPT_SHOW_KEYS, NULL, false, "include the symmetric keys (attestation mechanism)"},
    END_OPT};
static const dpsctl_cmd_opt list_opts[] = {{DPSCTL_OPT_TOP, NULL, false, NULL}, END_OPT};
static const dpsctl_cmd_opt delete_opts[] = {ID_OPT, {DPSCTL_OPT_ETAG, NULL, false, NULL},
                                             END_OPT};
static const dpsctl_cmd_opt compute_opts[] = {
    {DPSCTL_OPT_GROUP_ID, "enrollment-id", false,
     "enrollment group whose key is fetched from the service"},
    {DPSCTL_OPT_KEY, NULL, false, "group key, base64 (offline: no service call)"},
    {DPSCTL_OPT_REGISTRATION_ID, NULL, true, "registration ID of the device"},
    {DPSCTL_OPT_KEY_TYPE, NULL, false, "group key to derive from: primary (default) or "
                                       "secondary"},
    END_OPT};

static int run_create(dpsctl_ctx *ctx) { return dpsctl_record_create(ctx, &group_kind); }
static int run_show(dpsctl_ctx *ctx) { return dpsctl_record_show(ctx, &group_kind); }
static int run_list(dpsctl_ctx *ctx) { return dpsctl_record_list(ctx, &group_kind); }
static int run_update(dpsctl_ctx *ctx) { return dpsctl_record_update(ctx, &group_kind); }
static int run_delete(dpsctl_ctx *ctx) { return dpsctl_record_delete(ctx, &group_kind); }

/* Fetches the group's key through the attestation mechanism (GET hides it).
 * Returns an exit code; *key is a new string on success. */
static int fetch_group_key(dpsctl_ctx *ctx, const char *group_id, const char *member,
                           char **key)
{
    *key = NULL;
    dpsctl_client *c;
    int rc = dpsctl_connect(ctx, &c);
    if (rc != 0)
        return rc;
    json_t *mech;
    rc = dpsctl_record_mechanism(c, &group_kind, group_id, &mech);
    if (rc != 0)
        return rc;
    const char *type = json_string_value(json_object_get(mech, "type"));
    const char *k = json_string_value(json_object_get(json_object_get(mech, "symmetricKey"), member));
    if (type == NULL || strcasecmp(type, "symmetricKey") != 0) {
        rc = dpsctl_fail("enrollment group '%s' does not use symmetric key attestation",
                         group_id);
    } else if (k == NULL) {
        rc = dpsctl_fail("the service returned no %s for enrollment group '%s'", member,
                         group_id);
    } else if ((*key = strdup(k)) == NULL) {
        rc = dpsctl_fail("out of memory");
    }
    json_decref(mech);
    return rc;
}

/* The device key is HMAC-SHA256(group key, registration ID): what a device
 * of a symmetric-key group must hold (service-api.md, group attestation). */
static int run_compute_device_key(dpsctl_ctx *ctx)
{
    const char *group_id = dpsctl_opt_value(ctx, DPSCTL_OPT_GROUP_ID);
    const char *offline = dpsctl_opt_value(ctx, DPSCTL_OPT_KEY);
    const char *reg_id = dpsctl_opt_value(ctx, DPSCTL_OPT_REGISTRATION_ID);
    const char *key_type = dpsctl_opt_value(ctx, DPSCTL_OPT_KEY_TYPE);
    if ((group_id == NULL) == (offline == NULL))
        return dpsctl_usage(ctx, "give either --group-id or --key");
    if (offline != NULL && key_type != NULL)
        return dpsctl_usage(ctx, "--key-type applies to --group-id only");
    const char *member = "primaryKey";
    if (key_type != NULL) {
        const char *wire = dpsctl_enum_lookup(dpsctl_enum_key_type, key_type);
        if (wire == NULL)
            return dpsctl_usage(ctx, "--key-type: '%s' is not primary or secondary", key_type);
        member = strcmp(wire, "secondary") == 0 ? "secondaryKey" : "primaryKey";
    }
    char *fetched = NULL;
    if (group_id != NULL) {
        int rc = fetch_group_key(ctx, group_id, member, &fetched);
        if (rc != 0)
            return rc;
    }
    char *device_key = dps_derive_device_key(fetched ? fetched : offline, reg_id);
    dps_free_secret_string(fetched);
    if (device_key == NULL) {
        if (offline != NULL)
            return dpsctl_usage(ctx, "--key: not valid base64");
        return dpsctl_fail("the group key from the service is not valid base64");
    }
    json_t *out = json_string(device_key);
    dps_free_secret_string(device_key);
    if (out == NULL)
        return dpsctl_fail("out of memory");
    /* the key is what the user asked for: nothing to redact */
    int rc = dpsctl_emit(ctx, out, NULL, NULL);
    json_decref(out);
    return rc;
}

static const dpsctl_command commands[] = {
    {"create", "create an enrollment group", create_opts, run_create,
     "  dpsctl enrollment-group create --group-id floor-3\n"
     "  dpsctl enrollment-group create --group-id line-a --certificate-path signer.pem\n"
     "  dpsctl enrollment-group create --group-id fleet --ca-name fleet-root \\\n"
     "      --allocation-policy custom --webhook-url https://alloc.example.net/api/pick\n"},
    {"show", "show an enrollment group", show_opts, run_show,
     "  dpsctl enrollment-group show --group-id floor-3 --show-keys\n"},
    {"list", "list enrollment groups", list_opts, run_list,
     "  dpsctl enrollment-group list --output table\n"},
    {"update", "change an enrollment group", update_opts, run_update,
     "  dpsctl enrollment-group update --group-id floor-3 --iot-hubs \"hub1 hub2\"\n"},
    {"delete", "delete an enrollment group", delete_opts, run_delete,
     "  dpsctl enrollment-group delete --group-id floor-3\n"},
    {"compute-device-key", "derive a device key from a symmetric-key group", compute_opts,
     run_compute_device_key,
     "  dpsctl enrollment-group compute-device-key --group-id floor-3 --registration-id sensor-1\n"
     "  dpsctl enrollment-group compute-device-key --key \"$GROUPKEY\" --registration-id "
     "sensor-1 -o tsv\n"},
};

const dpsctl_group dpsctl_group_enrollment_group = {
    "enrollment-group", "enrollment groups", commands, sizeof commands / sizeof commands[0]};
