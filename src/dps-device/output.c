/* dps-device output: results on stdout (one line per event, or JSON with
 * --output json), library log lines on stderr; one mutex keeps lines from
 * different device threads whole. */
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static dps_device_log_level log_level = DPS_DEVICE_LOG_WARN;

void sim_set_log_level(dps_device_log_level level)
{
    log_level = level;
}

void sim_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&out_lock);
    vprintf(fmt, ap);
    fflush(stdout);
    pthread_mutex_unlock(&out_lock);
    va_end(ap);
}

void sim_log_sink(void *ctx, dps_device_log_level level, const char *message)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    const char *who = ctx;
    if (level > log_level)
        return;
    pthread_mutex_lock(&out_lock);
    fprintf(stderr, "dps-device: %s: %s: %s\n", names[level], who != NULL ? who : "-", message);
    pthread_mutex_unlock(&out_lock);
}

static void print_json(const char *registration_id, dps_result rc,
                       const dps_registration_result *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "registrationId", json_string(registration_id));
    bool answered = rc == DPS_OK || rc == DPS_E_FAILED || rc == DPS_E_DISABLED ||
                    rc == DPS_E_UNAUTHORIZED || rc == DPS_E_NOT_FOUND || rc == DPS_E_REJECTED;
    json_object_set_new(o, "status",
                        json_string(answered && r->status != DPS_PROV_STATUS_UNKNOWN
                                        ? dps_prov_status_name(r->status)
                                        : "error"));
    if (rc == DPS_OK) {
        json_object_set_new(o, "assignedHub", json_string(r->assigned_hub));
        json_object_set_new(o, "deviceId", json_string(r->device_id));
        if (r->substatus[0] != '\0')
            json_object_set_new(o, "substatus", json_string(r->substatus));
        if (r->enrollment_group_id[0] != '\0')
            json_object_set_new(o, "enrollmentGroupId", json_string(r->enrollment_group_id));
        if (r->payload[0] != '\0') {
            json_t *p = json_loads(r->payload, JSON_DECODE_ANY, NULL);
            if (p != NULL)
                json_object_set_new(o, "payload", p);
        }
    } else {
        if (answered && r->error_code != 0)
            json_object_set_new(o, "errorCode", json_integer(r->error_code));
        json_object_set_new(o, "errorMessage",
                            json_string(answered && r->error_message[0] != '\0'
                                            ? r->error_message
                                            : dps_result_name(rc)));
        json_object_set_new(o, "result", json_string(dps_result_name(rc)));
    }
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text != NULL)
        sim_printf("%s\n", text);
    free(text);
    json_decref(o);
}

void sim_print_assignment(const sim_config *cfg, const char *registration_id, dps_result rc,
                          const dps_registration_result *r)
{
    if (cfg->output == SIM_OUT_JSON) {
        print_json(registration_id, rc, r);
        return;
    }
    switch (rc) {
    case DPS_OK:
        sim_printf("%s: assigned to %s as device %s%s%s%s%s\n", registration_id,
                   r->assigned_hub, r->device_id, r->substatus[0] != '\0' ? " (" : "",
                   r->substatus, r->substatus[0] != '\0' ? ")" : "",
                   r->payload[0] != '\0' ? " with a payload" : "");
        if (r->payload[0] != '\0')
            sim_printf("%s: payload %s\n", registration_id, r->payload);
        break;
    case DPS_E_FAILED:
    case DPS_E_DISABLED:
    case DPS_E_UNAUTHORIZED:
    case DPS_E_NOT_FOUND:
    case DPS_E_REJECTED:
        if (r->error_code != 0)
            sim_printf("%s: not registered: %s, error %lld: %s\n", registration_id,
                       rc == DPS_E_FAILED     ? "failed"
                       : rc == DPS_E_DISABLED ? "disabled"
                                              : "refused",
                       (long long)r->error_code,
                       r->error_message[0] != '\0' ? r->error_message : "(no message)");
        else
            sim_printf("%s: not registered: %s: %s\n", registration_id,
                       rc == DPS_E_DISABLED ? "disabled" : "refused",
                       r->error_message[0] != '\0' ? r->error_message : dps_result_name(rc));
        break;
    default:
        /* the library's error lines on stderr say why */
        sim_printf("%s: not registered: %s\n", registration_id, dps_result_name(rc));
        break;
    }
}
