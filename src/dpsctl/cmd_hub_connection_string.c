/* dpsctl hub connection-string show: the hub connection string in use
 * (--hub-login / DPSCTL_HUB_CONNECTION_STRING), or a device's connection
 * string built from its registry entry, as `az iot hub connection-string
 * show` and `az iot hub device-identity connection-string show` print
 * them. Printing a secret is what this command is for. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/dynbuf.h"
#include "common/secret.h"
#include "connstr.h"
#include "fields.h"
#include "hub.h"

static const dpsctl_column connection_string_columns[] = {
    {"ConnectionString", "connectionString"},
    {NULL, NULL},
};

static const dpsctl_cmd_opt show_opts[] = {
    {DPSCTL_OPT_DEVICE_ID, NULL, false,
     "print this device's connection string instead of the hub's"},
    {DPSCTL_OPT_KEY_TYPE, NULL, false,
     "with --device-id: the device key to use, primary (default) or secondary"},
    DPSCTL_HUB_CONN_OPTS};

/* Wraps text as {"connectionString": text}, prints it and wipes it. */
static int emit_connection_string(dpsctl_ctx *ctx, char *text)
{
    json_t *v = text != NULL ? json_pack("{s:s}", "connectionString", text) : NULL;
    dps_free_secret_string(text);
    if (v == NULL)
        return dpsctl_fail("out of memory");
    int rc = dpsctl_emit(ctx, v, connection_string_columns, NULL);
    json_decref(v);
    return rc;
}

/* HostName=<hub>;DeviceId=<id>;SharedAccessKey=<key> for SAS devices, and
 * az's x509=true form for certificate devices. */
static char *device_connection_string(const char *host, const char *id, const json_t *dev,
                                      const char *key_member, char *err, size_t errlen)
{
    const json_t *auth = json_object_get(dev, "authentication");
    const char *type = json_string_value(json_object_get(auth, "type"));
    dps_buf b;
    dps_buf_init(&b, 64 * 1024);
    int rc;
    if (type != NULL && strcmp(type, "sas") == 0) {
        const char *key = json_string_value(
            json_object_get(json_object_get(auth, "symmetricKey"), key_member));
        if (key == NULL || key[0] == '\0') {
            snprintf(err, errlen, "device '%s' has no %s", id, key_member);
            return NULL;
        }
        rc = dps_buf_printf(&b, "HostName=%s;DeviceId=%s;SharedAccessKey=%s", host, id, key);
    } else if (type != NULL &&
               (strcmp(type, "selfSigned") == 0 || strcmp(type, "certificateAuthority") == 0)) {
        rc = dps_buf_printf(&b, "HostName=%s;DeviceId=%s;x509=true", host, id);
    } else {
        snprintf(err, errlen, "device '%s' has authentication type '%s': no connection string",
                 id, type ? type : "(none)");
        return NULL;
    }
    if (rc != 0) {
        dps_buf_free(&b);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    return dps_buf_take(&b);
}

static int run_show(dpsctl_ctx *ctx)
{
    const char *id = dpsctl_opt_value(ctx, DPSCTL_OPT_DEVICE_ID);
    const char *key_type = dpsctl_opt_value(ctx, DPSCTL_OPT_KEY_TYPE);
    if (key_type != NULL && id == NULL)
        return dpsctl_usage(ctx, "--key-type needs --device-id");
    if (key_type != NULL && dpsctl_enum_lookup(dpsctl_enum_key_type, key_type) == NULL)
        return dpsctl_usage(ctx, "--key-type: '%s' is not primary or secondary", key_type);
    if (ctx->config.connection_string == NULL)
        return dpsctl_usage(ctx, "no hub connection string: give --hub-login or set "
                                 "DPSCTL_HUB_CONNECTION_STRING");
    char err[256];
    dpsctl_connstr cs;
    if (dpsctl_connstr_parse(ctx->config.connection_string, &cs, err, sizeof err) != 0)
        return dpsctl_usage(ctx, "--hub-login: %s", err);
    int rc;
    if (id == NULL) {
        /* the login itself, rebuilt from its fields so stray blanks or
         * unknown fields do not travel on */
        if (cs.key_name == NULL || cs.key == NULL) {
            rc = dpsctl_usage(ctx, "--hub-login: the connection string needs "
                                   "SharedAccessKeyName and SharedAccessKey");
        } else {
            dps_buf b;
            dps_buf_init(&b, 64 * 1024);
            char *text = dps_buf_printf(&b, "HostName=%s;SharedAccessKeyName=%s;SharedAccessKey=%s",
                                        cs.host_name, cs.key_name, cs.key) == 0
                             ? dps_buf_take(&b)
                             : NULL;
            dps_buf_free(&b);
            rc = emit_connection_string(ctx, text);
        }
    } else {
        json_t *dev = NULL;
        rc = dpsctl_hub_get_device(ctx, id, &dev);
        if (rc == 0) {
            bool secondary = key_type != NULL &&
                             strcmp(dpsctl_enum_lookup(dpsctl_enum_key_type, key_type),
                                    "secondary") == 0;
            char *text = device_connection_string(cs.host_name, id, dev,
                                                  secondary ? "secondaryKey" : "primaryKey", err,
                                                  sizeof err);
            rc = text != NULL ? emit_connection_string(ctx, text) : dpsctl_fail("%s", err);
        }
        json_decref(dev);
    }
    dpsctl_connstr_free(&cs);
    return rc;
}

static const dpsctl_command commands[] = {
    {"show", "show the hub's or a device's connection string", show_opts, run_show,
     "  dpsctl hub connection-string show -o tsv\n"
     "  dpsctl hub connection-string show --device-id sensor-1 -o tsv\n"},
};

const dpsctl_group dpsctl_group_hub_connection_string = {
    "hub connection-string", "hub and device connection strings", commands,
    sizeof commands / sizeof commands[0]};
