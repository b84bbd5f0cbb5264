/* dpsctl: the operator CLI of opendps, modelled on `az iot dps` (and on
 * `az iot hub` for the hub commands).
 * This file finds the command (GROUP [SUBGROUP] COMMAND), applies the global
 * options and the environment, prints help, and offers the services every
 * command shares: the lazily opened connection, usage errors, result
 * printing. */
#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpsctl.h"
#include "fields.h"
#include "hub.h"

#ifndef DPSCTL_VERSION
#define DPSCTL_VERSION "0"
#endif

/* --top is bounded so that a typo cannot ask for billions of records. */
#define TOP_MAX 1000000

static const dpsctl_group *const groups[] = {
    &dpsctl_group_enrollment,  &dpsctl_group_enrollment_group,
    &dpsctl_group_registration, &dpsctl_group_linked_hub,
    &dpsctl_group_policy,      &dpsctl_group_connection_string,
    &dpsctl_group_sas_token,   &dpsctl_group_certificate,
    &dpsctl_group_instance,    &dpsctl_group_hub,
    &dpsctl_group_hub_device,  &dpsctl_group_hub_twin,
    &dpsctl_group_hub_c2d,     &dpsctl_group_hub_connection_string,
};
#define N_GROUPS (sizeof groups / sizeof groups[0])

static void print_hint(const dpsctl_ctx *ctx)
{
    if (ctx->command != NULL)
        fprintf(stderr, "Try 'dpsctl %s %s --help'.\n", ctx->group_name, ctx->command->name);
    else if (ctx->group_name != NULL)
        fprintf(stderr, "Try 'dpsctl %s --help'.\n", ctx->group_name);
    else
        fprintf(stderr, "Try 'dpsctl --help'.\n");
}

int dpsctl_usage(const dpsctl_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("dpsctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    print_hint(ctx);
    return DPSCTL_EXIT_USAGE;
}

int dpsctl_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("dpsctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return DPSCTL_EXIT_FAILED;
}

int dpsctl_connect(dpsctl_ctx *ctx, dpsctl_client **out)
{
    *out = NULL;
    if (ctx->client == NULL) {
        if (ctx->config.connection_string == NULL && ctx->hub)
            return dpsctl_usage(ctx, "no hub connection string: give --hub-login or set "
                                     "DPSCTL_HUB_CONNECTION_STRING");
        if (ctx->config.connection_string == NULL)
            return dpsctl_usage(ctx, "no connection string: give --login or set "
                                     "DPSCTL_CONNECTION_STRING");
        int rc = dpsctl_client_open(&ctx->config, &ctx->client);
        if (rc == DPSCTL_EXIT_USAGE)
            print_hint(ctx);
        if (rc != 0)
            return rc;
    }
    *out = ctx->client;
    return 0;
}

int dpsctl_emit(dpsctl_ctx *ctx, json_t *v, const dpsctl_column *cols,
                const char *const *secret_paths)
{
    if (v == NULL)
        return DPSCTL_EXIT_OK;
    if (!dpsctl_args_flag(&ctx->args, DPSCTL_OPT_SHOW_KEYS))
        dpsctl_redact(v, secret_paths);
    if (dpsctl_print(stdout, v, ctx->output, cols) != 0 || fflush(stdout) != 0)
        return dpsctl_fail("cannot write the output");
    return DPSCTL_EXIT_OK;
}

int dpsctl_parse_top(const dpsctl_ctx *ctx, long *top)
{
    *top = 0;
    const char *text = dpsctl_opt_value(ctx, DPSCTL_OPT_TOP);
    if (text == NULL)
        return DPSCTL_EXIT_OK;
    long long v;
    if (dpsctl_parse_long(text, 1, TOP_MAX, &v) != 0)
        return dpsctl_usage(ctx, "--top: '%s' is not a number from 1 to %d", text, TOP_MAX);
    *top = (long)v;
    return DPSCTL_EXIT_OK;
}

static void print_version(void)
{
    printf("dpsctl (opendps) %s, libcurl %s\n", DPSCTL_VERSION, curl_version_info(CURLVERSION_NOW)->version);
}

/* Subgroups ("hub device") are reached through their parent's help. */
static bool is_subgroup(const dpsctl_group *g) { return strchr(g->name, ' ') != NULL; }

/* Groups of hub commands: "hub" and "hub ...". They take their connection
 * from --hub-login / DPSCTL_HUB_CONNECTION_STRING, so that one shell can
 * hold both a dpsd and a hub login. */
static bool is_hub_group(const dpsctl_group *g)
{
    return strncmp(g->name, "hub", 3) == 0 && (g->name[3] == '\0' || g->name[3] == ' ');
}

/* True when the command lists opt in its own table: a global option listed
 * there (--timeout of invoke-method) takes the command's meaning. */
static bool command_owns(const dpsctl_command *c, dpsctl_opt opt)
{
    for (const dpsctl_cmd_opt *o = c->opts; o->opt != DPSCTL_OPT_NONE; o++) {
        if (o->opt == opt)
            return true;
    }
    return false;
}

static void print_main_help(void)
{
    printf("dpsctl - manage an opendps Device Provisioning Service (modelled on az iot dps)\n"
           "and its IoT hubs (modelled on az iot hub)\n\n"
           "Usage: dpsctl GROUP COMMAND [OPTIONS]\n\nGroups:\n");
    for (size_t i = 0; i < N_GROUPS; i++) {
        if (!is_subgroup(groups[i]))
            printf("  %-20s%s\n", groups[i]->name, groups[i]->summary);
    }
    printf("\nGlobal options (valid everywhere):\n");
    dpsctl_args_print_help(stdout, NULL);
    printf("\nHub commands take --hub-login, --hub-cafile and --hub-endpoint "
           "($DPSCTL_HUB_CONNECTION_STRING,\n$DPSCTL_HUB_CA_FILE) instead of --login, --cafile "
           "and --endpoint.\n");
    printf("\nRun 'dpsctl GROUP --help' for a group's commands and 'dpsctl GROUP COMMAND --help'\n"
           "for a command's options.\n"
           "Exit status: 0 success, 1 service error, 2 usage error, 3 connection or TLS "
           "failure.\n");
}

/* Lists the commands of g and of its subgroups ("device create"). */
static void print_group_help(const dpsctl_group *g)
{
    printf("Usage: dpsctl %s COMMAND [OPTIONS]\n\n%s\n\nCommands:\n", g->name, g->summary);
    for (unsigned i = 0; i < g->ncommands; i++)
        printf("  %-28s%s\n", g->commands[i].name, g->commands[i].summary);
    size_t plen = strlen(g->name);
    for (size_t k = 0; k < N_GROUPS; k++) {
        const dpsctl_group *sub = groups[k];
        if (strncmp(sub->name, g->name, plen) != 0 || sub->name[plen] != ' ')
            continue;
        for (unsigned i = 0; i < sub->ncommands; i++) {
            char name[64];
            snprintf(name, sizeof name, "%s %s", sub->name + plen + 1, sub->commands[i].name);
            printf("  %-28s%s\n", name, sub->commands[i].summary);
        }
    }
    printf("\nRun 'dpsctl %s COMMAND --help' for a command's options.\n", g->name);
}

/* The global options that apply to c: hub commands have their own
 * connection options, and a command that owns a global option describes it
 * among its own. */
static void print_global_help(const dpsctl_group *g, const dpsctl_command *c)
{
    dpsctl_cmd_opt list[DPSCTL_OPT__COUNT + 1];
    size_t n = 0;
    bool hub = is_hub_group(g);
    for (int i = DPSCTL_OPT_NONE + 1; i < DPSCTL_OPT__COUNT; i++) {
        dpsctl_opt opt = (dpsctl_opt)i;
        if (!dpsctl_opt_get(opt)->global || command_owns(c, opt))
            continue;
        if (hub && (opt == DPSCTL_OPT_LOGIN || opt == DPSCTL_OPT_CAFILE ||
                    opt == DPSCTL_OPT_ENDPOINT))
            continue;
        const char *help = NULL;
        if (hub && opt == DPSCTL_OPT_API_VERSION)
            help = "hub api-version (default: " DPSCTL_HUB_API_VERSION ")";
        list[n++] = (dpsctl_cmd_opt){opt, NULL, false, help};
    }
    list[n] = (dpsctl_cmd_opt){DPSCTL_OPT_NONE, NULL, false, NULL};
    dpsctl_args_print_help(stdout, list);
}

static void print_command_help(const dpsctl_group *g, const dpsctl_command *c)
{
    printf("Usage: dpsctl %s %s [OPTIONS]\n\n%s\n", g->name, c->name, c->summary);
    if (c->opts[0].opt != DPSCTL_OPT_NONE) {
        printf("\nOptions:\n");
        dpsctl_args_print_help(stdout, c->opts);
    }
    printf("\nGlobal options:\n");
    print_global_help(g, c);
    if (c->examples != NULL)
        printf("\nExamples:\n%s", c->examples);
}

/* Number of leading words that spell g's name, 0 when they do not. */
static int group_words(const dpsctl_group *g, const char *const *words, int nwords)
{
    const char *p = g->name;
    int k = 0;
    while (k < nwords) {
        size_t len = strcspn(p, " ");
        if (strlen(words[k]) != len || strncmp(words[k], p, len) != 0)
            return 0;
        k++;
        if (p[len] == '\0')
            return k;
        p += len + 1;
    }
    return 0;
}

/* The group spelled by the most leading words ("hub device" over "hub");
 * *used is the number of words it takes. */
static const dpsctl_group *find_group(const char *const *words, int nwords, int *used)
{
    const dpsctl_group *best = NULL;
    *used = 0;
    for (size_t i = 0; i < N_GROUPS; i++) {
        int k = group_words(groups[i], words, nwords);
        if (k > *used) {
            *used = k;
            best = groups[i];
        }
    }
    return best;
}

static const dpsctl_command *find_command(const dpsctl_group *g, const char *name)
{
    for (unsigned i = 0; i < g->ncommands; i++) {
        if (strcmp(g->commands[i].name, name) == 0)
            return &g->commands[i];
    }
    return NULL;
}

/* An empty variable counts as unset, so `VAR= dpsctl ...` switches it off. */
static const char *env_or(const char *given, const char *var)
{
    if (given != NULL)
        return given;
    const char *v = getenv(var);
    return (v != NULL && v[0] != '\0') ? v : NULL;
}

/* Connection settings of hub commands. dpsd's options are refused rather
 * than ignored: a dpsd login would only earn a 401 from hubd. */
static int apply_hub_connection(dpsctl_ctx *ctx)
{
    static const struct {
        dpsctl_opt given, instead;
    } dps_only[] = {{DPSCTL_OPT_LOGIN, DPSCTL_OPT_HUB_LOGIN},
                    {DPSCTL_OPT_CAFILE, DPSCTL_OPT_HUB_CAFILE},
                    {DPSCTL_OPT_ENDPOINT, DPSCTL_OPT_HUB_ENDPOINT}};
    for (size_t i = 0; i < sizeof dps_only / sizeof dps_only[0]; i++) {
        if (dpsctl_opt_value(ctx, dps_only[i].given) != NULL)
            return dpsctl_usage(ctx, "--%s is for dpsd; hub commands take --%s",
                                dpsctl_opt_get(dps_only[i].given)->name,
                                dpsctl_opt_get(dps_only[i].instead)->name);
    }
    ctx->config.connection_string = env_or(dpsctl_opt_value(ctx, DPSCTL_OPT_HUB_LOGIN),
                                           "DPSCTL_HUB_CONNECTION_STRING");
    ctx->config.cafile = env_or(dpsctl_opt_value(ctx, DPSCTL_OPT_HUB_CAFILE),
                                "DPSCTL_HUB_CA_FILE");
    /* Hub host names rarely resolve, so the endpoint is needed on almost
     * every call: an environment variable saves repeating it. */
    ctx->config.endpoint = env_or(dpsctl_opt_value(ctx, DPSCTL_OPT_HUB_ENDPOINT),
                                  "DPSCTL_HUB_ENDPOINT");
    ctx->config.login_option = "--hub-login";
    ctx->config.cafile_option = "--hub-cafile";
    ctx->config.endpoint_option = "--hub-endpoint";
    ctx->config.cafile_env = "DPSCTL_HUB_CA_FILE";
    if (dpsctl_opt_value(ctx, DPSCTL_OPT_API_VERSION) == NULL)
        ctx->config.api_version = DPSCTL_HUB_API_VERSION;
    return DPSCTL_EXIT_OK;
}

/* Applies the global options to ctx. Returns an exit code. */
static int apply_globals(dpsctl_ctx *ctx)
{
    const char *out = dpsctl_opt_value(ctx, DPSCTL_OPT_OUTPUT);
    if (out != NULL && dpsctl_output_parse(out, &ctx->output) != 0)
        return dpsctl_usage(ctx, "--output: '%s' is not json, table or tsv", out);
    ctx->config.timeout_s = DPSCTL_DEFAULT_TIMEOUT_S;
    /* a command that owns --timeout parses it itself */
    const char *timeout = command_owns(ctx->command, DPSCTL_OPT_TIMEOUT)
                              ? NULL
                              : dpsctl_opt_value(ctx, DPSCTL_OPT_TIMEOUT);
    if (timeout != NULL) {
        long long v;
        if (dpsctl_parse_long(timeout, 1, 3600, &v) != 0)
            return dpsctl_usage(ctx, "--timeout: '%s' is not a number of seconds from 1 to 3600",
                                timeout);
        ctx->config.timeout_s = (long)v;
    }
    const char *api = dpsctl_opt_value(ctx, DPSCTL_OPT_API_VERSION);
    if (api != NULL && api[0] == '\0')
        return dpsctl_usage(ctx, "--api-version must not be empty");
    ctx->config.api_version = api ? api : DPSCTL_DEFAULT_API_VERSION;
    ctx->config.connection_string = env_or(dpsctl_opt_value(ctx, DPSCTL_OPT_LOGIN),
                                           "DPSCTL_CONNECTION_STRING");
    ctx->config.cafile = env_or(dpsctl_opt_value(ctx, DPSCTL_OPT_CAFILE), "DPSCTL_CA_FILE");
    ctx->config.endpoint = dpsctl_opt_value(ctx, DPSCTL_OPT_ENDPOINT);
    if (ctx->hub)
        return apply_hub_connection(ctx);
    return DPSCTL_EXIT_OK;
}

/* Handles a command line that names no complete command: help, version,
 * or a usage error. */
static int run_incomplete(dpsctl_ctx *ctx, const dpsctl_split *split, const dpsctl_group *g)
{
    char err[512];
    int prc = dpsctl_args_parse(split, NULL, &ctx->args, err, sizeof err);
    if (prc == 0 && dpsctl_args_flag(&ctx->args, DPSCTL_OPT_HELP)) {
        if (g != NULL)
            print_group_help(g);
        else
            print_main_help();
        return DPSCTL_EXIT_OK;
    }
    if (prc == 0 && dpsctl_args_flag(&ctx->args, DPSCTL_OPT_VERSION)) {
        print_version();
        return DPSCTL_EXIT_OK;
    }
    if (g == NULL)
        return dpsctl_usage(ctx, "missing command group (enrollment, enrollment-group, "
                                 "registration, linked-hub, policy, connection-string, "
                                 "certificate, instance, hub)");
    return dpsctl_usage(ctx, "missing command after '%s'", g->name);
}

int main(int argc, char **argv)
{
    dpsctl_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    dpsctl_split split;
    char err[512];
    int split_rc = dpsctl_args_split(argc, argv, &split, err, sizeof err);
    int rc;
    int gw = 0; /* words naming the group */
    const dpsctl_group *g = find_group(split.words, split.nwords, &gw);
    const dpsctl_command *cmd = NULL;
    if (split_rc != 0) {
        ctx.group_name = g ? g->name : NULL;
        ctx.command = (g && split.nwords > gw) ? find_command(g, split.words[gw]) : NULL;
        rc = dpsctl_usage(&ctx, "%s", err);
        goto done;
    }
    if (split.nwords > 0 && g == NULL) {
        rc = dpsctl_usage(&ctx, "unknown command group '%s'", split.words[0]);
        goto done;
    }
    if (g != NULL) {
        ctx.group_name = g->name;
        ctx.hub = is_hub_group(g);
    }
    if (split.nwords <= gw) {
        rc = run_incomplete(&ctx, &split, g);
        goto done;
    }
    cmd = find_command(g, split.words[gw]);
    if (cmd == NULL) {
        rc = dpsctl_usage(&ctx, "unknown command '%s %s'", g->name, split.words[gw]);
        goto done;
    }
    ctx.command = cmd;
    if (split.nwords > gw + 1) {
        rc = dpsctl_usage(&ctx, "unexpected argument '%s'", split.words[gw + 1]);
        goto done;
    }
    if (dpsctl_args_parse(&split, cmd->opts, &ctx.args, err, sizeof err) != 0) {
        rc = dpsctl_usage(&ctx, "%s", err);
        goto done;
    }
    if (dpsctl_args_flag(&ctx.args, DPSCTL_OPT_HELP)) {
        print_command_help(g, cmd);
        rc = DPSCTL_EXIT_OK;
        goto done;
    }
    if (dpsctl_args_flag(&ctx.args, DPSCTL_OPT_VERSION)) {
        print_version();
        rc = DPSCTL_EXIT_OK;
        goto done;
    }
    rc = apply_globals(&ctx);
    if (rc == DPSCTL_EXIT_OK)
        rc = cmd->run(&ctx);
done:
    dpsctl_client_close(&ctx.client);
    dpsctl_split_free(&split);
    return rc;
}
