/* dpsctl enrollment create|show|list|update|delete: individual enrollments
 * (service API /enrollments). */
#include "dpsctl.h"
#include "record.h"

static const dpsctl_field enrollment_fields[] = {
    {DPSCTL_OPT_DEVICE_ID, "deviceId", DPSCTL_FIELD_STRING, NULL, 0, 0},
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
    {DPSCTL_OPT_DEVICE_INFORMATION, "optionalDeviceInformation", DPSCTL_FIELD_OBJECT, NULL, 0,
     0},
};

static const dpsctl_column enrollment_columns[] = {
    {"RegistrationId", "registrationId"},
    {"DeviceId", "deviceId"},
    {"Attestation", "attestation.type"},
    {"ProvisioningStatus", "provisioningStatus"},
    {"AllocationPolicy", "allocationPolicy"},
    {"IotHubs", "iotHubs"},
    {"AssignedHub", "registrationState.assignedHub"},
    {NULL, NULL},
};

static const dpsctl_record_kind enrollment_kind = {
    .collection = "/enrollments/",
    .id_member = "registrationId",
    .noun = "enrollment",
    .id_opt = DPSCTL_OPT_ENROLLMENT_ID,
    .group = false,
    .fields = enrollment_fields,
    .nfields = sizeof enrollment_fields / sizeof enrollment_fields[0],
    .columns = enrollment_columns,
};

#define ID_OPT {DPSCTL_OPT_ENROLLMENT_ID, "registration-id", true, NULL}
#define END_OPT {DPSCTL_OPT_NONE, NULL, false, NULL}
/* every option that maps to a field or to the attestation */
#define SETTINGS_OPTS                                                                        \
    {DPSCTL_OPT_PRIMARY_KEY, NULL, false, NULL},                                             \
        {DPSCTL_OPT_SECONDARY_KEY, NULL, false, NULL},                                       \
        {DPSCTL_OPT_ENDORSEMENT_KEY, NULL, false, NULL},                                     \
        {DPSCTL_OPT_CERTIFICATE_PATH, NULL, false, NULL},                                    \
        {DPSCTL_OPT_SECONDARY_CERTIFICATE_PATH, NULL, false, NULL},                          \
        {DPSCTL_OPT_DEVICE_ID, NULL, false, NULL},                                           \
        {DPSCTL_OPT_PROVISIONING_STATUS, NULL, false, NULL},                                 \
        {DPSCTL_OPT_IOT_HUBS, NULL, false, NULL},                                            \
        {DPSCTL_OPT_ALLOCATION_POLICY, NULL, false, NULL},                                   \
        {DPSCTL_OPT_WEBHOOK_URL, NULL, false, NULL},                                         \
        {DPSCTL_OPT_API_VERSION_WEBHOOK, NULL, false, NULL},                                 \
        {DPSCTL_OPT_INITIAL_TWIN_TAGS, NULL, false, NULL},                                   \
        {DPSCTL_OPT_INITIAL_TWIN_PROPERTIES, NULL, false, NULL},                             \
        {DPSCTL_OPT_EDGE_ENABLED, NULL, false, NULL},                                        \
        {DPSCTL_OPT_REPROVISION_POLICY, NULL, false, NULL},                                  \
        {DPSCTL_OPT_DEVICE_INFORMATION, NULL, false, NULL},                                  \
        {DPSCTL_OPT_SHOW_KEYS, NULL, false, "include the symmetric keys in the output"}

static const dpsctl_cmd_opt create_opts[] = {
    ID_OPT, {DPSCTL_OPT_ATTESTATION_TYPE, NULL, true, NULL}, SETTINGS_OPTS, END_OPT};
static const dpsctl_cmd_opt update_opts[] = {
    ID_OPT,
    {DPSCTL_OPT_ATTESTATION_TYPE, NULL, false, "change the attestation type (needs its keys, "
                                               "certificates or endorsement key)"},
    SETTINGS_OPTS,
    {DPSCTL_OPT_ETAG, NULL, false, "update only if the enrollment still has this ETag "
                                   "(default: the ETag just read)"},
    END_OPT};
static const dpsctl_cmd_opt show_opts[] = {
    ID_OPT,
    {DPSCTL_OPT_SHOW_KEYS, NULL, false, "include the symmetric keys (attestation mechanism)"},
    END_OPT};
static const dpsctl_cmd_opt list_opts[] = {{DPSCTL_OPT_TOP, NULL, false, NULL}, END_OPT};
static const dpsctl_cmd_opt delete_opts[] = {ID_OPT, {DPSCTL_OPT_ETAG, NULL, false, NULL},
                                             END_OPT};

static int run_create(dpsctl_ctx *ctx) { return dpsctl_record_create(ctx, &enrollment_kind); }
static int run_show(dpsctl_ctx *ctx) { return dpsctl_record_show(ctx, &enrollment_kind); }
static int run_list(dpsctl_ctx *ctx) { return dpsctl_record_list(ctx, &enrollment_kind); }
static int run_update(dpsctl_ctx *ctx) { return dpsctl_record_update(ctx, &enrollment_kind); }
static int run_delete(dpsctl_ctx *ctx) { return dpsctl_record_delete(ctx, &enrollment_kind); }

static const dpsctl_command commands[] = {
    {"create", "create an individual enrollment", create_opts, run_create,
     "  dpsctl enrollment create --enrollment-id pump-17 --attestation-type symmetrickey\n"
     "  dpsctl enrollment create --enrollment-id cam-2 --attestation-type x509 \\\n"
     "      --certificate-path cam-2.pem --iot-hubs hub1.example.net --allocation-policy static\n"
     "  dpsctl enrollment create --enrollment-id tpm-1 --attestation-type tpm \\\n"
     "      --endorsement-key \"$EK\" --initial-twin-tags '{\"plant\":\"north\"}'\n"},
    {"show", "show an individual enrollment", show_opts, run_show,
     "  dpsctl enrollment show --enrollment-id pump-17 --show-keys\n"},
    {"list", "list individual enrollments", list_opts, run_list,
     "  dpsctl enrollment list --top 50 --output table\n"},
    {"update", "change an individual enrollment", update_opts, run_update,
     "  dpsctl enrollment update --enrollment-id pump-17 --provisioning-status disabled\n"
     "  dpsctl enrollment update --enrollment-id pump-17 --primary-key \"$NEWKEY\" --etag \"$ETAG\"\n"},
    {"delete", "delete an individual enrollment", delete_opts, run_delete,
     "  dpsctl enrollment delete --enrollment-id pump-17\n"},
};

const dpsctl_group dpsctl_group_enrollment = {
    "enrollment", "individual enrollments", commands,
    sizeof commands / sizeof commands[0]};
