#include "args.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

/* The catalogue, indexed by dpsctl_opt. Help texts are written so that they
 * fit every command that uses the option; a command that needs a sharper
 * text overrides it in its own table. */
static const dpsctl_opt_info catalogue[DPSCTL_OPT__COUNT] = {
    [DPSCTL_OPT_LOGIN] = {"login", 0, true, true, "CONNSTR",
                          "service connection string (default: $DPSCTL_CONNECTION_STRING)"},
    [DPSCTL_OPT_CAFILE] = {"cafile", 0, true, true, "PATH",
                           "CA certificate(s) to trust, PEM (default: $DPSCTL_CA_FILE, "
                           "else the system store)"},
    [DPSCTL_OPT_ENDPOINT] = {"endpoint", 0, true, true, "URL",
                             "service URL (default: https://<HostName of the connection string>)"},
    [DPSCTL_OPT_OUTPUT] = {"output", 'o', true, true, "FORMAT", "json (default), table or tsv"},
    [DPSCTL_OPT_API_VERSION] = {"api-version", 0, true, true, "VERSION",
                                "service api-version (default: 2021-10-01)"},
    [DPSCTL_OPT_TIMEOUT] = {"timeout", 0, true, true, "SECONDS",
                            "limit for each request, 1..3600 (default: 60)"},
    [DPSCTL_OPT_HELP] = {"help", 'h', false, true, NULL, "show help and exit"},
    [DPSCTL_OPT_VERSION] = {"version", 0, false, true, NULL, "show the version and exit"},

    [DPSCTL_OPT_ENROLLMENT_ID] = {"enrollment-id", 0, true, false, "ID",
                                  "registration ID of the individual enrollment"},
    [DPSCTL_OPT_GROUP_ID] = {"group-id", 0, true, false, "ID", "enrollment group ID"},
    [DPSCTL_OPT_REGISTRATION_ID] = {"registration-id", 0, true, false, "ID",
                                    "device registration ID"},

    [DPSCTL_OPT_ATTESTATION_TYPE] = {"attestation-type", 0, true, false, "TYPE",
                                     "symmetrickey, tpm or x509"},
    [DPSCTL_OPT_PRIMARY_KEY] = {"primary-key", 0, true, false, "KEY",
                                "primary symmetric key, base64 (generated when omitted)"},
    [DPSCTL_OPT_SECONDARY_KEY] = {"secondary-key", 0, true, false, "KEY",
                                  "secondary symmetric key, base64 (generated when omitted)"},
    [DPSCTL_OPT_ENDORSEMENT_KEY] = {"endorsement-key", 0, true, false, "EK",
                                    "TPM endorsement key, base64 TPM2B_PUBLIC"},
    [DPSCTL_OPT_CERTIFICATE_PATH] = {"certificate-path", 0, true, false, "FILE",
                                     "primary X.509 certificate, PEM or DER file"},
    [DPSCTL_OPT_SECONDARY_CERTIFICATE_PATH] = {"secondary-certificate-path", 0, true, false,
                                               "FILE",
                                               "secondary X.509 certificate, PEM or DER file"},
    [DPSCTL_OPT_CA_NAME] = {"ca-name", 0, true, false, "NAME",
                            "primary CA reference (a registered CA certificate name)"},
    [DPSCTL_OPT_SECONDARY_CA_NAME] = {"secondary-ca-name", 0, true, false, "NAME",
                                      "secondary CA reference"},

    [DPSCTL_OPT_DEVICE_ID] = {"device-id", 0, true, false, "ID",
                              "hub device ID (default: the registration ID)"},
    [DPSCTL_OPT_PROVISIONING_STATUS] = {"provisioning-status", 0, true, false, "STATUS",
                                        "enabled or disabled"},
    [DPSCTL_OPT_IOT_HUBS] = {"iot-hubs", 0, true, false, "HUBS",
                             "linked hub host names, separated by spaces or commas"},
    [DPSCTL_OPT_ALLOCATION_POLICY] = {"allocation-policy", 0, true, false, "POLICY",
                                      "hashed, geolatency, static or custom"},
    [DPSCTL_OPT_WEBHOOK_URL] = {"webhook-url", 0, true, false, "URL",
                                "custom allocation webhook URL"},
    [DPSCTL_OPT_API_VERSION_WEBHOOK] = {"api-version-webhook", 0, true, false, "VERSION",
                                        "api-version of the webhook request (default: "
                                        "2021-10-01 when --webhook-url is given)"},
    [DPSCTL_OPT_INITIAL_TWIN_TAGS] = {"initial-twin-tags", 0, true, false, "JSON",
                                      "initial twin tags, a JSON object or @file"},
    [DPSCTL_OPT_INITIAL_TWIN_PROPERTIES] = {"initial-twin-properties", 0, true, false, "JSON",
                                            "initial desired properties, a JSON object or @file"},
    [DPSCTL_OPT_EDGE_ENABLED] = {"edge-enabled", 0, true, false, "BOOL",
                                 "true or false: the device is an IoT Edge device"},
    [DPSCTL_OPT_REPROVISION_POLICY] = {"reprovision-policy", 0, true, false, "POLICY",
                                       "reprovisionandmigratedata, reprovisionandresetdata "
                                       "or never"},
    [DPSCTL_OPT_DEVICE_INFORMATION] = {"device-information", 0, true, false, "JSON",
                                       "optional device information, a JSON object or @file"},
    [DPSCTL_OPT_ETAG] = {"etag", 0, true, false, "ETAG",
                         "act only if the record still has this ETag"},
    [DPSCTL_OPT_SHOW_KEYS] = {"show-keys", 0, false, false, NULL,
                              "include secret keys in the output"},
    [DPSCTL_OPT_TOP] = {"top", 0, true, false, "N", "return at most N items"},
    [DPSCTL_OPT_KEY] = {"key", 0, true, false, "KEY", "group symmetric key, base64"},

    [DPSCTL_OPT_CONNECTION_STRING] = {"connection-string", 0, true, false, "CONNSTR",
                                      "connection string of the hub (RegistryWrite and "
                                      "ServiceConnect rights)"},
    [DPSCTL_OPT_REGISTRY_URL] = {"registry-url", 0, true, false, "URL",
                                 "where dpsd reaches the hub's registry API"},
    [DPSCTL_OPT_ALLOCATION_WEIGHT] = {"allocation-weight", 0, true, false, "N",
                                      "allocation weight, 1..1000"},
    [DPSCTL_OPT_APPLY_ALLOCATION_POLICY] = {"apply-allocation-policy", 0, true, false, "BOOL",
                                            "true or false: include the hub in automatic "
                                            "allocation"},
    [DPSCTL_OPT_LOCATION] = {"location", 0, true, false, "LABEL", "location label of the hub"},
    [DPSCTL_OPT_LINKED_HUB] = {"linked-hub", 0, true, false, "HOSTNAME",
                               "host name of the linked hub"},
    [DPSCTL_OPT_FORCE] = {"force", 0, false, false, NULL,
                          "delete even if enrollments still reference the hub"},
    [DPSCTL_OPT_MIGRATION_CONNECTION_STRING] = {"migration-connection-string", 0, true, false,
                                                "CS",
                                                "hubd's migration connection string: lets "
                                                "reprovisioning carry reported properties"},
    [DPSCTL_OPT_PAYLOAD] = {"payload", 0, true, false, "JSON",
                            "registration payload the device would send (JSON, or @file)"},
    [DPSCTL_OPT_CLIENT_ADDRESS] = {"client-address", 0, true, false, "ADDR",
                                   "the device's IP address, for geoLatency"},

    [DPSCTL_OPT_POLICY_NAME] = {"policy-name", 0, true, false, "NAME",
                                "shared access policy name"},
    [DPSCTL_OPT_RIGHTS] = {"rights", 0, true, false, "RIGHTS",
                           "ServiceConfig, EnrollmentRead, EnrollmentWrite, DeviceConnect, "
                           "RegistrationStatusRead, RegistrationStatusWrite (space or comma "
                           "separated)"},
    [DPSCTL_OPT_KEY_TYPE] = {"key-type", 0, true, false, "TYPE", "primary or secondary"},
    [DPSCTL_OPT_DURATION] = {"duration", 0, true, false, "SECONDS",
                             "how long the token stays valid (default 3600)"},

    [DPSCTL_OPT_HUB_LOGIN] = {"hub-login", 0, true, false, "CONNSTR",
                              "hub connection string, e.g. iothubowner's (default: "
                              "$DPSCTL_HUB_CONNECTION_STRING)"},
    [DPSCTL_OPT_HUB_CAFILE] = {"hub-cafile", 0, true, false, "PATH",
                               "CA certificate(s) hubd's certificate chains to, PEM (default: "
                               "$DPSCTL_HUB_CA_FILE, else the system store)"},
    [DPSCTL_OPT_HUB_ENDPOINT] = {"hub-endpoint", 0, true, false, "URL",
                                 "hubd's REST URL (default: https://<HostName of the "
                                 "connection string>)"},
    [DPSCTL_OPT_AUTH_METHOD] = {"auth-method", 0, true, false, "METHOD",
                                "shared_private_key, x509_thumbprint or x509_ca"},
    [DPSCTL_OPT_PRIMARY_THUMBPRINT] = {"primary-thumbprint", 0, true, false, "HEX",
                                       "primary X.509 thumbprint, SHA-1 (40 hex digits) or "
                                       "SHA-256 (64)"},
    [DPSCTL_OPT_SECONDARY_THUMBPRINT] = {"secondary-thumbprint", 0, true, false, "HEX",
                                         "secondary X.509 thumbprint, SHA-1 or SHA-256"},
    [DPSCTL_OPT_STATUS] = {"status", 0, true, false, "STATUS", "enabled or disabled"},
    [DPSCTL_OPT_STATUS_REASON] = {"status-reason", 0, true, false, "TEXT",
                                  "why the device has its status"},
    [DPSCTL_OPT_TAGS] = {"tags", 0, true, false, "JSON",
                         "twin tags to merge, a JSON object or @file (null deletes)"},
    [DPSCTL_OPT_DESIRED] = {"desired", 0, true, false, "JSON",
                            "desired properties to merge, a JSON object or @file (null "
                            "deletes)"},
    [DPSCTL_OPT_METHOD_NAME] = {"method-name", 0, true, false, "NAME", "direct method to call"},
    [DPSCTL_OPT_METHOD_PAYLOAD] = {"method-payload", 0, true, false, "JSON",
                                   "method payload, any JSON value or @file (default: none)"},
    [DPSCTL_OPT_CONNECT_TIMEOUT] = {"connect-timeout", 0, true, false, "SECONDS",
                                    "how long to wait for the device to connect, 0..300 "
                                    "(default: 0)"},
    [DPSCTL_OPT_MAX_EVENTS] = {"max-events", 0, true, false, "N",
                               "stop after N events, 1..1000000 (default: no limit)"},
    [DPSCTL_OPT_DATA] = {"data", 0, true, false, "TEXT", "message body"},
    [DPSCTL_OPT_PROPS] = {"props", 0, true, false, "K=V,...",
                          "application properties, name=value pairs separated by ',' or ';'"},
    [DPSCTL_OPT_MESSAGE_ID] = {"message-id", 0, true, false, "ID",
                               "message ID (default: generated by the hub)"},
    [DPSCTL_OPT_NAME] = {"name", 0, true, false, "NAME",
                         "CA certificate name (1..128 of A-Z a-z 0-9 - . _)"},
    [DPSCTL_OPT_PATH] = {"path", 0, true, false, "FILE", "certificate file, PEM or DER"},
    [DPSCTL_OPT_VERIFIED] = {"verified", 0, true, false, "BOOL",
                             "true: upload as verified, skipping proof of possession "
                             "(default false)"},
};

/* Value stored for flags, so that "given" is simply val != NULL. */
static const char flag_given[] = "true";

/* getopt_long returns option ids shifted above every single-byte character
 * so that they cannot collide with short options. */
#define OPT_CODE_BASE 256

const dpsctl_opt_info *dpsctl_opt_get(dpsctl_opt opt)
{
    if (opt <= DPSCTL_OPT_NONE || opt >= DPSCTL_OPT__COUNT)
        return NULL;
    return &catalogue[opt];
}

static dpsctl_opt lookup_long(const char *name, size_t len)
{
    for (int i = DPSCTL_OPT_NONE + 1; i < DPSCTL_OPT__COUNT; i++) {
        const char *n = catalogue[i].name;
        if (strlen(n) == len && strncmp(n, name, len) == 0)
            return (dpsctl_opt)i;
    }
    return DPSCTL_OPT_NONE;
}

static dpsctl_opt lookup_short(char c)
{
    for (int i = DPSCTL_OPT_NONE + 1; i < DPSCTL_OPT__COUNT; i++) {
        if (catalogue[i].short_name != 0 && catalogue[i].short_name == c)
            return (dpsctl_opt)i;
    }
    return DPSCTL_OPT_NONE;
}

void dpsctl_split_free(dpsctl_split *s)
{
    free(s->opts);
    memset(s, 0, sizeof *s);
}

/* Describes one option token: which option, whether its value is attached
 * ("--x=v", "-ov") and the length of its name. Returns -1 when unknown. */
static int classify(const char *tok, dpsctl_opt *opt, bool *attached, size_t *namelen)
{
    if (tok[1] == '-') {
        const char *name = tok + 2;
        const char *eq = strchr(name, '=');
        *namelen = eq ? (size_t)(eq - name) : strlen(name);
        *attached = eq != NULL;
        *opt = lookup_long(name, *namelen);
    } else {
        *namelen = 1;
        *attached = tok[2] != '\0';
        *opt = lookup_short(tok[1]);
        /* "-hx" style bundles are not supported: only -o takes text after it */
        if (*opt != DPSCTL_OPT_NONE && *attached && !catalogue[*opt].takes_value)
            *opt = DPSCTL_OPT_NONE;
    }
    return *opt == DPSCTL_OPT_NONE ? -1 : 0;
}

int dpsctl_args_split(int argc, char **argv, dpsctl_split *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    /* argv[0], every token at most once, the terminating NULL */
    char **opts = calloc((size_t)argc + 2, sizeof *opts);
    if (opts == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int n = 0;
    opts[n++] = argc > 0 ? argv[0] : (char *)"dpsctl";
    bool only_words = false;
    for (int i = 1; i < argc; i++) {
        const char *tok = argv[i];
        bool is_word = only_words || tok[0] != '-' || tok[1] == '\0';
        if (!is_word && strcmp(tok, "--") == 0) {
            only_words = true;
            continue;
        }
        if (is_word) {
            if (out->nwords == DPSCTL_MAX_WORDS) {
                snprintf(err, errlen, "unexpected argument '%s'", tok);
                goto fail;
            }
            out->words[out->nwords++] = tok;
            continue;
        }
        dpsctl_opt opt;
        bool attached;
        size_t namelen;
        if (classify(tok, &opt, &attached, &namelen) != 0) {
            if (tok[1] == '-')
                snprintf(err, errlen, "unknown option '--%.*s'", (int)namelen, tok + 2);
            else
                snprintf(err, errlen, "unknown option '%s'", tok);
            goto fail;
        }
        const dpsctl_opt_info *info = &catalogue[opt];
        if (!info->takes_value && attached) {
            snprintf(err, errlen, "option '--%s' takes no value", info->name);
            goto fail;
        }
        opts[n++] = argv[i];
        if (info->takes_value && !attached) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "option '--%s' needs a value (%s)", info->name,
                         info->metavar);
                goto fail;
            }
            opts[n++] = argv[++i];
        }
    }
    opts[n] = NULL;
    out->opts = opts;
    out->nopts = n;
    return 0;
fail:
    /* the words found so far stay, so the caller can name the command in
     * its hint */
    free(opts);
    out->opts = NULL;
    out->nopts = 0;
    return -1;
}

/* True when the option is usable with cmd under this name (its catalogue
 * name, or the command's alias for it). */
static bool name_allowed(const dpsctl_cmd_opt *cmd, const char *name, size_t len)
{
    dpsctl_opt opt = lookup_long(name, len);
    if (opt != DPSCTL_OPT_NONE && catalogue[opt].global)
        return true;
    for (const dpsctl_cmd_opt *c = cmd; c != NULL && c->opt != DPSCTL_OPT_NONE; c++) {
        const char *own = catalogue[c->opt].name;
        if (strlen(own) == len && strncmp(own, name, len) == 0)
            return true;
        if (c->alias != NULL && strlen(c->alias) == len && strncmp(c->alias, name, len) == 0)
            return true;
    }
    return false;
}

static size_t add_longopt(struct option *lo, size_t n, const char *name, dpsctl_opt opt)
{
    lo[n].name = name;
    lo[n].has_arg = catalogue[opt].takes_value ? required_argument : no_argument;
    lo[n].flag = NULL;
    lo[n].val = OPT_CODE_BASE + (int)opt;
    return n + 1;
}

int dpsctl_args_parse(const dpsctl_split *s, const dpsctl_cmd_opt *cmd, dpsctl_args *out,
                      char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);

    /* getopt_long would accept an option of another command when it is a
     * prefix of one of ours (--key for --key-type), so every name is checked
     * for an exact match first. The split already knows each token's arity. */
    for (int i = 1; i < s->nopts; i++) {
        const char *tok = s->opts[i];
        dpsctl_opt opt;
        bool attached;
        size_t namelen;
        if (classify(tok, &opt, &attached, &namelen) != 0) {
            snprintf(err, errlen, "unknown option '%s'", tok);
            return -1;
        }
        if (tok[1] == '-' && !name_allowed(cmd, tok + 2, namelen)) {
            snprintf(err, errlen, "option '--%.*s' is not valid here", (int)namelen, tok + 2);
            return -1;
        }
        if (catalogue[opt].takes_value && !attached)
            i++;
    }

    /* every option at most twice (name and alias), plus the terminator */
    struct option longopts[2 * DPSCTL_OPT__COUNT + 1];
    size_t n = 0;
    for (int i = DPSCTL_OPT_NONE + 1; i < DPSCTL_OPT__COUNT; i++) {
        if (catalogue[i].global)
            n = add_longopt(longopts, n, catalogue[i].name, (dpsctl_opt)i);
    }
    for (const dpsctl_cmd_opt *c = cmd; c != NULL && c->opt != DPSCTL_OPT_NONE; c++) {
        n = add_longopt(longopts, n, catalogue[c->opt].name, c->opt);
        if (c->alias != NULL)
            n = add_longopt(longopts, n, c->alias, c->opt);
    }
    memset(&longopts[n], 0, sizeof longopts[n]);

    /* glibc: optind = 0 forces a full re-initialisation, so parsing can run
     * more than once per process (the unit tests do). The leading '-' turns
     * stray words into code 1 instead of permuting them; ':' reports a
     * missing value as ':' so we word the message ourselves. */
    optind = 0;
    opterr = 0;
    int code;
    while ((code = getopt_long(s->nopts, s->opts, "-:ho:", longopts, NULL)) != -1) {
        dpsctl_opt opt;
        if (code == 'h') {
            opt = DPSCTL_OPT_HELP;
        } else if (code == 'o') {
            opt = DPSCTL_OPT_OUTPUT;
        } else if (code >= OPT_CODE_BASE && code < OPT_CODE_BASE + DPSCTL_OPT__COUNT) {
            opt = (dpsctl_opt)(code - OPT_CODE_BASE);
        } else if (code == ':') {
            snprintf(err, errlen, "an option is missing its value");
            return -1;
        } else if (code == 1) {
            snprintf(err, errlen, "unexpected argument '%s'", optarg);
            return -1;
        } else {
            snprintf(err, errlen, "invalid option '%s'", s->opts[optind - 1]);
            return -1;
        }
        if (out->val[opt] != NULL) {
            snprintf(err, errlen, "option '--%s' given more than once", catalogue[opt].name);
            return -1;
        }
        out->val[opt] = catalogue[opt].takes_value ? optarg : flag_given;
    }

    if (out->val[DPSCTL_OPT_HELP] != NULL)
        return 0;
    for (const dpsctl_cmd_opt *c = cmd; c != NULL && c->opt != DPSCTL_OPT_NONE; c++) {
        if (c->required && out->val[c->opt] == NULL) {
            snprintf(err, errlen, "missing required option '--%s'", catalogue[c->opt].name);
            return -1;
        }
    }
    return 0;
}

bool dpsctl_args_flag(const dpsctl_args *a, dpsctl_opt opt)
{
    return opt > DPSCTL_OPT_NONE && opt < DPSCTL_OPT__COUNT && a->val[opt] != NULL;
}

/* Column where option descriptions start; longer names push the text to the
 * next line rather than widening every row. */
#define HELP_COLUMN 40

static void print_one(FILE *f, const dpsctl_opt_info *info, const char *alias, bool required,
                      const char *help)
{
    char left[160];
    int len;
    if (info->short_name != 0)
        len = snprintf(left, sizeof left, "  -%c, --%s", info->short_name, info->name);
    else
        len = snprintf(left, sizeof left, "  --%s", info->name);
    if (alias != NULL && len >= 0 && (size_t)len < sizeof left)
        len += snprintf(left + len, sizeof left - (size_t)len, ", --%s", alias);
    if (info->metavar != NULL && len >= 0 && (size_t)len < sizeof left)
        len += snprintf(left + len, sizeof left - (size_t)len, " %s", info->metavar);
    if (len < 0)
        return;
    if (len < HELP_COLUMN - 1)
        fprintf(f, "%-*s%s%s\n", HELP_COLUMN, left, help, required ? " (required)" : "");
    else
        fprintf(f, "%s\n%*s%s%s\n", left, HELP_COLUMN, "", help, required ? " (required)" : "");
}

void dpsctl_args_print_help(FILE *f, const dpsctl_cmd_opt *cmd)
{
    if (cmd == NULL) {
        for (int i = DPSCTL_OPT_NONE + 1; i < DPSCTL_OPT__COUNT; i++) {
            if (catalogue[i].global)
                print_one(f, &catalogue[i], NULL, false, catalogue[i].help);
        }
        return;
    }
    for (const dpsctl_cmd_opt *c = cmd; c->opt != DPSCTL_OPT_NONE; c++) {
        const dpsctl_opt_info *info = &catalogue[c->opt];
        print_one(f, info, c->alias, c->required, c->help ? c->help : info->help);
    }
}
