/* dpsctl connection-string show: the service connection string of a policy
 * (admin API /admin/connectionString). Printing it is the point of the
 * command, so nothing is redacted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/urlcode.h"
#include "dpsctl.h"
#include "rest.h"

static const dpsctl_column connection_string_columns[] = {
    {"ConnectionString", "connectionString"},
    {NULL, NULL},
};

static const dpsctl_cmd_opt show_opts[] = {
    {DPSCTL_OPT_POLICY_NAME, NULL, false, "policy to build it for (default: the service's "
                                          "choice, the owner policy)"},
    {DPSCTL_OPT_NONE, NULL, false, NULL},
};

static int run_show(dpsctl_ctx *ctx)
{
    const char *policy = dpsctl_opt_value(ctx, DPSCTL_OPT_POLICY_NAME);
    char *query = NULL;
    if (policy != NULL) {
        char *enc = dps_url_encode(policy);
        size_t n = enc ? strlen(enc) + sizeof "policy=" : 0;
        query = enc ? malloc(n) : NULL;
        if (query != NULL)
            snprintf(query, n, "policy=%s", enc);
        free(enc);
        if (query == NULL)
            return dpsctl_fail("out of memory");
    }
    int rc = dpsctl_rest_show(ctx, "/admin/connectionString", query, connection_string_columns,
                              NULL);
    free(query);
    return rc;
}

static const dpsctl_command commands[] = {
    {"show", "show a service connection string", show_opts, run_show,
     "  dpsctl connection-string show --policy-name enroller -o tsv\n"},
};

const dpsctl_group dpsctl_group_connection_string = {
    "connection-string", "service connection strings", commands,
    sizeof commands / sizeof commands[0]};
