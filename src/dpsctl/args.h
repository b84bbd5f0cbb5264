/* Command-line options: one catalogue of every option dpsctl knows, a small
 * per-command table saying which of them a command takes (with aliases and
 * required marks), and a getopt_long-based parser driven by both.
 *
 * Parsing happens in two steps because the command decides which options are
 * valid: dpsctl_args_split() separates the command words from the option
 * tokens (it only needs the catalogue to know which options take a value),
 * then dpsctl_args_parse() checks the tokens against the command's table. */
#ifndef DPSCTL_ARGS_H
#define DPSCTL_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum {
    DPSCTL_OPT_NONE = 0,
    /* global options (valid with every command) */
    DPSCTL_OPT_LOGIN,
    DPSCTL_OPT_CAFILE,
    DPSCTL_OPT_ENDPOINT,
    DPSCTL_OPT_OUTPUT,
    DPSCTL_OPT_API_VERSION,
    DPSCTL_OPT_TIMEOUT,
    DPSCTL_OPT_HELP,
    DPSCTL_OPT_VERSION,
    /* identities */
    DPSCTL_OPT_ENROLLMENT_ID,
    DPSCTL_OPT_GROUP_ID,
    DPSCTL_OPT_REGISTRATION_ID,
    /* attestation */
    DPSCTL_OPT_ATTESTATION_TYPE,
    DPSCTL_OPT_PRIMARY_KEY,
    DPSCTL_OPT_SECONDARY_KEY,
    DPSCTL_OPT_ENDORSEMENT_KEY,
    DPSCTL_OPT_CERTIFICATE_PATH,
    DPSCTL_OPT_SECONDARY_CERTIFICATE_PATH,
    DPSCTL_OPT_CA_NAME,
    DPSCTL_OPT_SECONDARY_CA_NAME,
    /* enrollment settings */
    DPSCTL_OPT_DEVICE_ID,
    DPSCTL_OPT_PROVISIONING_STATUS,
    DPSCTL_OPT_IOT_HUBS,
    DPSCTL_OPT_ALLOCATION_POLICY,
    DPSCTL_OPT_WEBHOOK_URL,
    DPSCTL_OPT_API_VERSION_WEBHOOK,
    DPSCTL_OPT_INITIAL_TWIN_TAGS,
    DPSCTL_OPT_INITIAL_TWIN_PROPERTIES,
    DPSCTL_OPT_EDGE_ENABLED,
    DPSCTL_OPT_REPROVISION_POLICY,
    DPSCTL_OPT_DEVICE_INFORMATION,
    DPSCTL_OPT_ETAG,
    DPSCTL_OPT_SHOW_KEYS,
    DPSCTL_OPT_TOP,
    DPSCTL_OPT_KEY,
    /* linked hubs */
    DPSCTL_OPT_CONNECTION_STRING,
    DPSCTL_OPT_REGISTRY_URL,
    DPSCTL_OPT_ALLOCATION_WEIGHT,
    DPSCTL_OPT_APPLY_ALLOCATION_POLICY,
    DPSCTL_OPT_LOCATION,
    DPSCTL_OPT_LINKED_HUB,
    DPSCTL_OPT_FORCE,
    DPSCTL_OPT_MIGRATION_CONNECTION_STRING,
    /* registration explain (the dry run) */
    DPSCTL_OPT_PAYLOAD,
    DPSCTL_OPT_CLIENT_ADDRESS,
    /* access policies */
    DPSCTL_OPT_POLICY_NAME,
    DPSCTL_OPT_RIGHTS,
    DPSCTL_OPT_KEY_TYPE,
    /* hub commands: connection (valid with every hub command) */
    DPSCTL_OPT_HUB_LOGIN,
    DPSCTL_OPT_HUB_CAFILE,
    DPSCTL_OPT_HUB_ENDPOINT,
    /* hub device identities */
    DPSCTL_OPT_AUTH_METHOD,
    DPSCTL_OPT_PRIMARY_THUMBPRINT,
    DPSCTL_OPT_SECONDARY_THUMBPRINT,
    DPSCTL_OPT_STATUS,
    DPSCTL_OPT_STATUS_REASON,
    /* twins */
    DPSCTL_OPT_TAGS,
    DPSCTL_OPT_DESIRED,
    /* direct methods */
    DPSCTL_OPT_METHOD_NAME,
    DPSCTL_OPT_METHOD_PAYLOAD,
    DPSCTL_OPT_CONNECT_TIMEOUT,
    /* telemetry and cloud-to-device messages */
    DPSCTL_OPT_MAX_EVENTS,
    DPSCTL_OPT_DATA,
    DPSCTL_OPT_PROPS,
    DPSCTL_OPT_MESSAGE_ID,
    /* SAS tokens */
    DPSCTL_OPT_DURATION,
    /* CA certificates */
    DPSCTL_OPT_NAME,
    DPSCTL_OPT_PATH,
    DPSCTL_OPT_VERIFIED,
    DPSCTL_OPT__COUNT
} dpsctl_opt;

/* One row of the catalogue. */
typedef struct {
    const char *name;    /* long name without "--" */
    char short_name;     /* single-letter form, 0 when none */
    bool takes_value;
    bool global;
    const char *metavar; /* placeholder shown in help */
    const char *help;
} dpsctl_opt_info;

/* How one command uses one option. */
typedef struct {
    dpsctl_opt opt;
    const char *alias; /* a second long name accepted by this command, or NULL */
    bool required;
    const char *help;  /* replaces the catalogue's text for this command, or NULL */
} dpsctl_cmd_opt;

/* Parsed values, indexed by dpsctl_opt: NULL when absent, the argument text
 * (pointing into argv) otherwise; flags without a value hold "true". */
typedef struct {
    const char *val[DPSCTL_OPT__COUNT];
} dpsctl_args;

#define DPSCTL_MAX_WORDS 4

/* Result of the first step. */
typedef struct {
    const char *words[DPSCTL_MAX_WORDS]; /* positional words in order */
    int nwords;
    char **opts;  /* argv[0] followed by the option tokens, NULL-terminated */
    int nopts;    /* entries in opts, argv[0] included */
} dpsctl_split;

const dpsctl_opt_info *dpsctl_opt_get(dpsctl_opt opt);

/* Separates positional words from option tokens. Every "--name" must name a
 * catalogue option exactly (no abbreviations: they would silently change
 * meaning when options are added). Returns 0, or -1 with a reason in err.
 * Free with dpsctl_split_free. */
int dpsctl_args_split(int argc, char **argv, dpsctl_split *out, char *err, size_t errlen);
void dpsctl_split_free(dpsctl_split *s);

/* Parses the option tokens of s for a command whose table is cmd (NULL for
 * "global options only", as used before a command is known). Checks that
 * every option is global or listed in cmd, that none is given twice and that
 * each required one is present (skipped when --help was given). Returns 0, or
 * -1 with a reason in err. */
int dpsctl_args_parse(const dpsctl_split *s, const dpsctl_cmd_opt *cmd, dpsctl_args *out,
                      char *err, size_t errlen);

bool dpsctl_args_flag(const dpsctl_args *a, dpsctl_opt opt);

/* Prints the options of cmd (or the global options when cmd is NULL), one
 * per line, aligned. */
void dpsctl_args_print_help(FILE *f, const dpsctl_cmd_opt *cmd);

#endif
