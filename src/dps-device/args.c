/* dps-device's command line: getopt_long over one option table, values
 * checked with strict number parsing and range caps, usage on errors. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/strparse.h"
#include "sim.h"

enum {
    OPT_TRANSPORT = 256,
    OPT_PROV_HOST,
    OPT_MQTT_PORT,
    OPT_CONNECT_ADDRESS,
    OPT_ID_SCOPE,
    OPT_REGISTRATION_ID,
    OPT_SYMMETRIC_KEY,
    OPT_GROUP_KEY,
    OPT_CA_FILE,
    OPT_PAYLOAD,
    OPT_API_VERSION,
    OPT_TIMEOUT,
    OPT_OUTPUT,
    OPT_NO_HUB,
    OPT_HUB_GATEWAY,
    OPT_HUB_CA_FILE,
    OPT_MESSAGES,
    OPT_INTERVAL_MS,
    OPT_RUN_SECONDS,
    OPT_COUNT,
    OPT_PARALLEL,
    OPT_LOG_LEVEL,
    OPT_X509_CERT,
    OPT_X509_KEY,
    OPT_X509_CHAIN,
    OPT_X509_CA_CERT,
    OPT_X509_CA_KEY,
    OPT_X509_DAYS,
    OPT_TPM,
    OPT_TCTI,
};

static const struct option long_opts[] = {
    {"transport", required_argument, NULL, OPT_TRANSPORT},
    {"provisioning-host", required_argument, NULL, OPT_PROV_HOST},
    {"mqtt-port", required_argument, NULL, OPT_MQTT_PORT},
    {"connect-address", required_argument, NULL, OPT_CONNECT_ADDRESS},
    {"id-scope", required_argument, NULL, OPT_ID_SCOPE},
    {"registration-id", required_argument, NULL, OPT_REGISTRATION_ID},
    {"symmetric-key", required_argument, NULL, OPT_SYMMETRIC_KEY},
    {"group-key", required_argument, NULL, OPT_GROUP_KEY},
    {"ca-file", required_argument, NULL, OPT_CA_FILE},
    {"payload", required_argument, NULL, OPT_PAYLOAD},
    {"api-version", required_argument, NULL, OPT_API_VERSION},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"output", required_argument, NULL, OPT_OUTPUT},
    {"no-hub", no_argument, NULL, OPT_NO_HUB},
    {"hub-gateway", required_argument, NULL, OPT_HUB_GATEWAY},
    {"hub-ca-file", required_argument, NULL, OPT_HUB_CA_FILE},
    {"messages", required_argument, NULL, OPT_MESSAGES},
    {"interval-ms", required_argument, NULL, OPT_INTERVAL_MS},
    {"run-seconds", required_argument, NULL, OPT_RUN_SECONDS},
    {"count", required_argument, NULL, OPT_COUNT},
    {"parallel", required_argument, NULL, OPT_PARALLEL},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"x509-cert", required_argument, NULL, OPT_X509_CERT},
    {"x509-key", required_argument, NULL, OPT_X509_KEY},
    {"x509-chain", required_argument, NULL, OPT_X509_CHAIN},
    {"x509-ca-cert", required_argument, NULL, OPT_X509_CA_CERT},
    {"x509-ca-key", required_argument, NULL, OPT_X509_CA_KEY},
    {"x509-days", required_argument, NULL, OPT_X509_DAYS},
    {"tpm", no_argument, NULL, OPT_TPM},
    {"tcti", required_argument, NULL, OPT_TCTI},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

static void usage(FILE *f)
{
    fprintf(f,
"usage: dps-device register --id-scope SCOPE --registration-id ID\n"
"                           (--symmetric-key KEY | --group-key KEY) [options]\n"
"       dps-device register --id-scope SCOPE --x509-cert FILE [--x509-key FILE]\n"
"                           [--x509-chain FILE] [--registration-id ID] [options]\n"
"       dps-device register --id-scope SCOPE --registration-id ID\n"
"                           --x509-ca-cert FILE --x509-ca-key FILE [options]\n"
"       dps-device register --id-scope SCOPE --tpm [--tcti TCTI] [options]\n"
"       dps-device tpm-info [--tcti TCTI] [--output text|json]\n"
"       dps-device derive-key --group-key KEY --registration-id ID\n"
"       dps-device x509 make-ca|issue ...   (dps-device x509 --help)\n"
"       dps-device --help | --version\n"
"\n"
"register: provisions a simulated device, prints its assignment, then connects\n"
"to the assigned hub, sends telemetry, reports a twin property and answers\n"
"direct methods (\"echo\" returns its payload; any other method gets 404).\n"
"\n"
"provisioning:\n"
"  --transport https|mqtt       device API transport (default https)\n"
"  --provisioning-host HOST[:PORT]  logical DPS host: TLS name check, Host header\n"
"                               (default localhost; port 8443 for https,\n"
"                               --mqtt-port for mqtt)\n"
"  --mqtt-port PORT             MQTT port when HOST has none (default 8883)\n"
"  --connect-address ADDR[:PORT] connect the TCP socket here instead of HOST\n"
"  --id-scope SCOPE             ID scope of the DPS instance\n"
"  --registration-id ID         registration ID (with --count: the prefix; with\n"
"                               --x509-cert: default the certificate's CN)\n"
"  --symmetric-key KEY          individual enrollment key (base64)\n"
"  --group-key KEY              enrollment group key (base64); the device key is\n"
"                               derived from it and the registration ID\n"
"  --x509-cert FILE             device certificate, PEM (X.509 attestation); further\n"
"                               certificates in the file are sent as its chain\n"
"  --x509-key FILE              its private key, PEM (default: the --x509-cert file)\n"
"  --x509-chain FILE            intermediates to send, PEM, leaf side first, up to\n"
"                               the certificate the enrollment names\n"
"  --x509-ca-cert FILE          instead of --x509-cert: issue each device a fresh\n"
"  --x509-ca-key FILE           certificate (CN = its registration ID) under this CA;\n"
"                               the CA and --x509-chain are sent as its chain\n"
"  --x509-days N                validity of those certificates (default 30)\n"
"  --tpm                        TPM attestation (HTTPS): the TPM's endorsement key\n"
"                               is the identity; the registration ID defaults to\n"
"                               the one derived from it (see tpm-info)\n"
"  --tcti TCTI                  how to reach the TPM (default %s;\n"
"                               a real one: device:/dev/tpmrm0)\n"
"  --ca-file FILE               CA certificate(s) to trust (default: system store)\n"
"  --payload JSON               custom payload sent with the registration\n"
"  --api-version VERSION        device API version (default %s)\n"
"  --timeout SECONDS            registration deadline, 1..3600 (default 60)\n"
"  --output text|json           how to print results (default text)\n"
"\n"
"hub:\n"
"  --no-hub                     stop after registering\n"
"  --hub-gateway ADDR[:PORT]    where to connect for the assigned hub, whose name\n"
"                               need not resolve (default 127.0.0.1:8884, hubd)\n"
"  --hub-ca-file FILE           CA for the hub (default: --ca-file)\n"
"  --messages N                 telemetry messages to send (default 5)\n"
"  --interval-ms MS             pause between messages (default 1000)\n"
"  --run-seconds S              stay connected answering methods for S seconds in\n"
"                               all (default 0: leave once the messages are sent);\n"
"                               SIGINT or SIGTERM ends the run early\n"
"\n"
"several devices:\n"
"  --count N                    run N devices ID-0001 .. ID-N (needs --group-key\n"
"                               or --x509-ca-cert)\n"
"  --parallel P                 devices at a time, 1..%d (default 1)\n"
"\n"
"  --log-level error|warn|info|debug   library log lines on stderr (default warn)\n"
"  -h, --help, -V, --version\n",
            DPS_TPM_DEFAULT_TCTI, DPS_PROV_DEFAULT_API_VERSION, SIM_MAX_PARALLEL);
}

static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int bad(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "dps-device: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'dps-device --help'.\n");
    va_end(ap);
    return 2;
}

static int number(const char *name, const char *s, int64_t min, int64_t max, uint32_t *out)
{
    int64_t v = 0;
    if (dps_parse_int64(s, strlen(s), min, max, &v) != 0) {
        fprintf(stderr, "dps-device: --%s: '%s' is not a number in %lld..%lld\n", name, s,
                (long long)min, (long long)max);
        return 2;
    }
    *out = (uint32_t)v;
    return 0;
}

/* HOST or HOST:PORT; an IPv6 literal needs brackets when a port follows. */
static int prov_host(sim_config *cfg, const char *s)
{
    const char *colon = strrchr(s, ':');
    bool bracketed = s[0] == '[';
    size_t hl = strlen(s);
    uint32_t port = 0;
    if (colon != NULL && (!bracketed ? strchr(s, ':') == colon : colon > strchr(s, ']'))) {
        if (number("provisioning-host", colon + 1, 1, 65535, &port) != 0)
            return 2;
        hl = (size_t)(colon - s);
    }
    if (bracketed) {
        if (hl < 3 || s[hl - 1] != ']')
            return bad("--provisioning-host: bad address '%s'", s);
        s++;
        hl -= 2;
    }
    if (hl == 0 || hl > DPS_MAX_HOST_NAME)
        return bad("--provisioning-host: bad host '%s'", s);
    memcpy(cfg->prov_host, s, hl);
    cfg->prov_host[hl] = '\0';
    cfg->prov_port = (uint16_t)port;
    return 0;
}

static void defaults(sim_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->transport = DPS_TRANSPORT_HTTPS;
    strcpy(cfg->prov_host, "localhost");
    cfg->mqtt_port = DPS_MQTT_TLS_PORT;
    cfg->timeout_s = 60;
    cfg->output = SIM_OUT_TEXT;
    cfg->hub_gateway = "127.0.0.1:8884";
    cfg->messages = 5;
    cfg->interval_ms = 1000;
    cfg->count = 1;
    cfg->parallel = 1;
    cfg->log_level = DPS_DEVICE_LOG_WARN;
    cfg->x509_days = 30;
}

static int check(sim_config *cfg)
{
    bool x509_file = cfg->x509_cert != NULL, x509_issued = cfg->x509_ca_cert != NULL;
    if (strcmp(cfg->command, "tpm-info") == 0)
        return 0; /* only --tcti, --output and --log-level matter */
    if (cfg->tcti != NULL && !cfg->tpm)
        return bad("%s: --tcti goes with --tpm", cfg->command);
    if (cfg->tpm && cfg->transport != DPS_TRANSPORT_HTTPS)
        return bad("%s: --tpm registers over https only (MQTT has no TPM flow)", cfg->command);
    if (cfg->tpm && cfg->count > 1)
        return bad("%s: --tpm runs one device (one TPM)", cfg->command);
    if (cfg->registration_id == NULL && !cfg->tpm &&
        !(x509_file && strcmp(cfg->command, "register") == 0))
        return bad("%s: --registration-id is required", cfg->command);
    if (strcmp(cfg->command, "derive-key") == 0) {
        if (cfg->group_key == NULL)
            return bad("%s: --group-key is required", cfg->command);
        return 0;
    }
    if (cfg->id_scope == NULL)
        return bad("%s: --id-scope is required", cfg->command);
    int kinds = (cfg->symmetric_key != NULL) + (cfg->group_key != NULL) + x509_file + x509_issued +
                cfg->tpm;
    if (kinds != 1)
        return bad("%s: give exactly one of --symmetric-key, --group-key, --x509-cert, "
                   "--x509-ca-cert and --tpm",
                   cfg->command);
    if (cfg->x509_key != NULL && !x509_file)
        return bad("%s: --x509-key goes with --x509-cert", cfg->command);
    if (cfg->x509_chain != NULL && !x509_file && !x509_issued)
        return bad("%s: --x509-chain goes with --x509-cert or --x509-ca-cert", cfg->command);
    if (x509_issued != (cfg->x509_ca_key != NULL))
        return bad("%s: --x509-ca-cert and --x509-ca-key go together", cfg->command);
    if (x509_file && cfg->x509_key == NULL)
        cfg->x509_key = cfg->x509_cert; /* one file with certificate and key */
    if (cfg->count > 1 && cfg->group_key == NULL && !x509_issued)
        return bad("%s: --count needs --group-key or --x509-ca-cert (each device needs its "
                   "own key or certificate)",
                   cfg->command);
    if (cfg->hub_ca_file == NULL)
        cfg->hub_ca_file = cfg->ca_file;
    return 0;
}

int sim_parse_args(int argc, char **argv, sim_config *cfg)
{
    defaults(cfg);
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return 1;
    }
    if (argc >= 2 && (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0)) {
        printf("opendps dps-device %s\n", dps_device_version());
        return 1;
    }
    if (argc < 2 || (strcmp(argv[1], "register") != 0 && strcmp(argv[1], "derive-key") != 0 &&
                     strcmp(argv[1], "tpm-info") != 0)) {
        fprintf(stderr, "dps-device: %s\n",
                argc < 2 ? "a command is required" : "unknown command");
        usage(stderr);
        return 2;
    }
    cfg->command = argv[1];
    optind = 2;
    opterr = 0;
    int c;
    int rc = 0;
    while (rc == 0 && (c = getopt_long(argc, argv, ":hV", long_opts, NULL)) != -1) {
        const char *a = optarg;
        switch (c) {
        case OPT_TRANSPORT:
            if (strcasecmp(a, "https") == 0)
                cfg->transport = DPS_TRANSPORT_HTTPS;
            else if (strcasecmp(a, "mqtt") == 0)
                cfg->transport = DPS_TRANSPORT_MQTT;
            else
                rc = bad("--transport: '%s' is neither https nor mqtt", a);
            break;
        case OPT_PROV_HOST: rc = prov_host(cfg, a); break;
        case OPT_MQTT_PORT: {
            uint32_t v = 0;
            rc = number("mqtt-port", a, 1, 65535, &v);
            cfg->mqtt_port = (uint16_t)v;
            break;
        }
        case OPT_CONNECT_ADDRESS: cfg->connect_address = a; break;
        case OPT_ID_SCOPE: cfg->id_scope = a; break;
        case OPT_REGISTRATION_ID: cfg->registration_id = a; break;
        case OPT_SYMMETRIC_KEY: cfg->symmetric_key = a; break;
        case OPT_GROUP_KEY: cfg->group_key = a; break;
        case OPT_X509_CERT: cfg->x509_cert = a; break;
        case OPT_X509_KEY: cfg->x509_key = a; break;
        case OPT_X509_CHAIN: cfg->x509_chain = a; break;
        case OPT_X509_CA_CERT: cfg->x509_ca_cert = a; break;
        case OPT_X509_CA_KEY: cfg->x509_ca_key = a; break;
        case OPT_X509_DAYS: rc = number("x509-days", a, 1, 3650, &cfg->x509_days); break;
        case OPT_TPM: cfg->tpm = true; break;
        case OPT_TCTI:
            if (strlen(a) == 0 || strlen(a) > DPS_TPM_MAX_TCTI)
                rc = bad("--tcti: 1..%d characters expected", DPS_TPM_MAX_TCTI);
            else
                cfg->tcti = a;
            break;
        case OPT_CA_FILE: cfg->ca_file = a; break;
        case OPT_PAYLOAD: cfg->payload = a; break;
        case OPT_API_VERSION: cfg->api_version = a; break;
        case OPT_TIMEOUT: rc = number("timeout", a, 1, 3600, &cfg->timeout_s); break;
        case OPT_OUTPUT:
            if (strcmp(a, "text") == 0)
                cfg->output = SIM_OUT_TEXT;
            else if (strcmp(a, "json") == 0)
                cfg->output = SIM_OUT_JSON;
            else
                rc = bad("--output: '%s' is neither text nor json", a);
            break;
        case OPT_NO_HUB: cfg->no_hub = true; break;
        case OPT_HUB_GATEWAY: cfg->hub_gateway = a; break;
        case OPT_HUB_CA_FILE: cfg->hub_ca_file = a; break;
        case OPT_MESSAGES: rc = number("messages", a, 0, SIM_MAX_MESSAGES, &cfg->messages); break;
        case OPT_INTERVAL_MS: rc = number("interval-ms", a, 0, 3600000, &cfg->interval_ms); break;
        case OPT_RUN_SECONDS:
            rc = number("run-seconds", a, 0, SIM_MAX_RUN_SECONDS, &cfg->run_seconds);
            break;
        case OPT_COUNT: rc = number("count", a, 1, SIM_MAX_COUNT, &cfg->count); break;
        case OPT_PARALLEL: rc = number("parallel", a, 1, SIM_MAX_PARALLEL, &cfg->parallel); break;
        case OPT_LOG_LEVEL: {
            static const char *const levels[] = {"error", "warn", "info", "debug"};
            rc = 2;
            for (int i = 0; i < 4; i++) {
                if (strcasecmp(a, levels[i]) == 0) {
                    cfg->log_level = (dps_device_log_level)i;
                    rc = 0;
                }
            }
            if (rc != 0)
                rc = bad("--log-level: '%s' is not error, warn, info or debug", a);
            break;
        }
        case 'h': usage(stdout); return 1;
        case 'V': printf("opendps dps-device %s\n", dps_device_version()); return 1;
        case ':': rc = bad("option %s needs a value", argv[optind - 1]); break;
        default: rc = bad("unknown option %s", argv[optind - 1]); break;
        }
    }
    if (rc == 0 && optind < argc)
        rc = bad("unexpected argument '%s'", argv[optind]);
    if (rc == 0)
        rc = check(cfg);
    return rc;
}
