/* dpsctl sas-token generate: a service SAS token signed with the login's
 * policy key, for tools that speak the REST APIs directly (curl). Like
 * `az iot dps generate-sas-token`; nothing is sent to the server. Given a
 * hub's connection string as --login it signs a hub service token the same
 * way. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/sas.h"
#include "common/secret.h"
#include "connstr.h"
#include "dpsctl.h"
#include "fields.h"

#define DEFAULT_DURATION_S 3600
#define MAX_DURATION_S (365LL * 24 * 3600)

static const dpsctl_column token_columns[] = {
    {"SasToken", "sas"},
    {NULL, NULL},
};

static const dpsctl_cmd_opt generate_opts[] = {
    {DPSCTL_OPT_DURATION, NULL, false, NULL},
    {DPSCTL_OPT_NONE, NULL, false, NULL},
};

static int run_generate(dpsctl_ctx *ctx)
{
    long long duration = DEFAULT_DURATION_S;
    const char *d = dpsctl_opt_value(ctx, DPSCTL_OPT_DURATION);
    if (d != NULL && dpsctl_parse_long(d, 1, MAX_DURATION_S, &duration) != 0)
        return dpsctl_usage(ctx, "--duration: '%s' is not a number of seconds from 1 to %lld",
                            d, MAX_DURATION_S);
    if (ctx->config.connection_string == NULL)
        return dpsctl_usage(ctx, "no connection string: give --login or set "
                                 "DPSCTL_CONNECTION_STRING");

    dpsctl_connstr cs;
    char err[200];
    if (dpsctl_connstr_parse(ctx->config.connection_string, &cs, err, sizeof err) != 0)
        return dpsctl_usage(ctx, "--login: %s", err);
    if (cs.key == NULL || cs.key_name == NULL) {
        dpsctl_connstr_free(&cs);
        return dpsctl_usage(ctx, "--login: the connection string needs SharedAccessKeyName "
                                 "and SharedAccessKey");
    }
    /* sr is the HostName exactly as the connection string has it (with any
     * port), which is what the services verify against. */
    char *token = dps_sas_build(cs.host_name, cs.key, cs.key_name,
                                (int64_t)time(NULL) + duration);
    dpsctl_connstr_free(&cs);
    if (token == NULL)
        return dpsctl_fail("cannot sign a token: the key is not valid base64");
    json_t *out = json_pack("{s:s}", "sas", token);
    dps_free_secret_string(token);
    if (out == NULL)
        return dpsctl_fail("out of memory");
    int rc = dpsctl_emit(ctx, out, token_columns, NULL);
    json_decref(out);
    return rc;
}

static const dpsctl_command commands[] = {
    {"generate", "print a service SAS token for the login's policy", generate_opts,
     run_generate,
     "  TOKEN=$(dpsctl sas-token generate -o tsv)\n"
     "  curl --cacert ca.pem -H \"Authorization: $TOKEN\" \\\n"
     "       'https://localhost:8443/enrollments/device-1?api-version=2021-10-01'\n"},
};

const dpsctl_group dpsctl_group_sas_token = {"sas-token", "service SAS tokens for REST clients",
                                             commands, sizeof commands / sizeof commands[0]};
