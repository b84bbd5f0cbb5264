/* dpsd configuration (see config.h). The option table below is the single
 * description of every dpsd option: the engine (common/conftable.c) reads it
 * for the file parser, the flag parser, --help and the defaults. What stays
 * here is dpsd's own: the value checks its options need, the cross-checks
 * and derived values; what both daemons do alike is in common/daemon.c. */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/daemon.h"
#include "common/errtext.h"

/* ---- value checks ------------------------------------------------------- */

static int check_listen(const char *value, char *err, size_t errlen)
{
    return dps_listen_addr_parse(value, NULL, err, errlen);
}

/* "ADDR[,ADDR]" or "" into out (NULL: only check); *n entries. */
static int parse_mqtt_listen(const char *value, dps_listen_addr *out, size_t *n, char *err,
                             size_t errlen)
{
    *n = 0;
    for (const char *p = value; *p != '\0';) {
        size_t len = strcspn(p, ",");
        char item[300];
        while (len > 0 && *p == ' ') {
            p++;
            len--;
        }
        while (len > 0 && p[len - 1] == ' ')
            len--;
        if (len == 0 || len >= sizeof item || *n == DPS_CONF_MAX_LIST) {
            dps_set_err(err, errlen,
                        "'%s': up to %d addresses host:port or [ipv6]:port, or nothing", value,
                        DPS_CONF_MAX_LIST);
            return -1;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        if (dps_listen_addr_parse(item, out != NULL ? &out[*n] : NULL, err, errlen) != 0)
            return -1;
        (*n)++;
        p += strcspn(p, ",");
        if (*p == ',')
            p++;
    }
    return 0;
}

static int check_mqtt_listen(const char *value, char *err, size_t errlen)
{
    size_t n;
    return parse_mqtt_listen(value, NULL, &n, err, errlen);
}

static int check_optional_host_name(const char *value, char *err, size_t errlen)
{
    return value[0] == '\0' ? 0 : dps_host_port_check(value, err, errlen);
}

/* A comma-separated list of up to 8 api-version names (letters, digits,
 * '-', '.'), or nothing. A string option rather than a list: lists cannot
 * default to empty. */
static int check_api_versions(const char *value, char *err, size_t errlen)
{
    size_t entries = 0;
    const char *p = value;
    while (*p != '\0') {
        size_t n = strcspn(p, ",");
        size_t ok = 0;
        while (ok < n && (isalnum((unsigned char)p[ok]) || p[ok] == '-' || p[ok] == '.'))
            ok++;
        if (n == 0 || ok != n || n > 40) {
            dps_set_err(err, errlen, "'%s': comma-separated api-versions such as 2019-03-31",
                        value);
            return -1;
        }
        if (++entries > 8) {
            dps_set_err(err, errlen, "at most 8 api-versions");
            return -1;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

/* ---- the table ---------------------------------------------------------- */

#define FIELD(f) offsetof(struct dpsd_config, f)

static const dps_conf_option options[] = {
    {"listen", DPS_CONF_LIST, FIELD(listen), "127.0.0.1:8443", 0, 0, NULL, "ADDR[,ADDR]",
     check_listen,
     "HTTPS listen address(es): host:port or [ipv6]:port; port 0 picks a free port; "
     "repeat or separate with commas"},
    {"mqtt_listen", DPS_CONF_STRING, FIELD(mqtt_listen), "127.0.0.1:8883", 0, 0, NULL,
     "ADDR[,ADDR]", check_mqtt_listen,
     "device API over MQTT (TLS) listen address(es), comma-separated; empty: no MQTT endpoint"},
    {"host_name", DPS_CONF_LIST, FIELD(host_name), "localhost", 0, 0, NULL, "NAME[,NAME]",
     dps_host_port_check,
     "host name(s) clients use for the service API; the first goes into the connection "
     "string; each is also put in the generated server certificate"},
    {"device_host_name", DPS_CONF_STRING, FIELD(device_host_name), "", 0, 0, NULL, "NAME",
     check_optional_host_name, "host name devices use as provisioning host (default: the "
     "first host_name)"},
    DPS_DAEMON_CONF_COMMON_ROWS(struct dpsd_config, "./dpsd-data",
                                "directory for the database and the generated PKI", "dpsd.db"),
    {"max_body_bytes", DPS_CONF_INT, FIELD(max_body_bytes), "98304", 1024, 16 * 1024 * 1024,
     NULL, "BYTES", NULL, "largest request body accepted (bigger: 413)"},
    {"connection_timeout", DPS_CONF_INT, FIELD(connection_timeout), "60", 1, 3600, NULL,
     "SECONDS", NULL, "close a connection idle (or stalled mid-request) this long"},
    {"retry_after", DPS_CONF_INT, FIELD(retry_after), "1", 1, 300, NULL, "SECONDS", NULL,
     "retry-after devices get with every 202 of the device API (clients accept 1..300)"},
    {"operation_ttl", DPS_CONF_INT, FIELD(operation_ttl), "600", 10, 86400, NULL, "SECONDS",
     NULL, "how long a finished registration operation stays in memory for polls (later "
     "polls are answered from the registration record)"},
    {"max_operations", DPS_CONF_INT, FIELD(max_operations), "10000", 1, 10000000, NULL, "N",
     NULL, "registration operations held in memory at once; beyond it registrations get 429"},
    {"extra_api_versions", DPS_CONF_STRING, FIELD(extra_api_versions), "", 0, 0, NULL,
     "VERSION[,VERSION]", check_api_versions,
     "device api-versions to admit besides the built-in table (docs/device-api.md)"},
    {"hub_timeout", DPS_CONF_INT, FIELD(hub_timeout), "10", 1, 300, NULL, "SECONDS", NULL,
     "deadline of each registry call to a linked hub; a hub that misses it fails the "
     "registration (503101)"},
    {"hub_max_inflight", DPS_CONF_INT, FIELD(hub_max_inflight), "64", 1, 100000, NULL, "N",
     NULL, "device provisionings talking to hubs at once; the rest wait their turn"},
    {"hub_ca_file", DPS_CONF_STRING, FIELD(hub_ca_file), "", 0, 0, NULL, "FILE", NULL,
     "PEM file of the CAs linked hubs' certificates must chain to (e.g. hubd's ca.pem); "
     "empty: the system trust store"},
    {"webhook_timeout", DPS_CONF_INT, FIELD(webhook_timeout), "10", 1, 300, NULL, "SECONDS",
     NULL, "deadline of a custom allocation webhook call, connect included; a webhook that "
     "misses it fails the registration (400209)"},
    {"webhook_ca_file", DPS_CONF_STRING, FIELD(webhook_ca_file), "", 0, 0, NULL, "FILE", NULL,
     "PEM file of the CAs custom allocation webhooks' certificates must chain to; empty: the "
     "system trust store"},
    {"geo_file", DPS_CONF_STRING, FIELD(geo_file), "", 0, 0, NULL, "FILE", NULL,
     "geoLatency model (JSON: locations, client networks, latencies; docs/allocation.md); "
     "empty: geoLatency hashes by weight"},
};

#define NOPTIONS (sizeof options / sizeof options[0])
_Static_assert(NOPTIONS <= DPS_CONF_MAX_OPTIONS, "the engine tracks at most this many rows");

static const dps_conf_table table = {
    .options = options,
    .noptions = NOPTIONS,
    .state_offset = FIELD(conf),
};

int dpsd_config_set(dpsd_config *cfg, const char *name, const char *value, bool from_flag,
                    char *err, size_t errlen)
{
    return dps_daemon_conf_set(&table, cfg, name, value, from_flag, err, errlen);
}

int dpsd_config_init(dpsd_config *cfg)
{
    return dps_daemon_conf_init(&table, cfg, sizeof *cfg);
}

void dpsd_config_free(dpsd_config *cfg)
{
    if (cfg != NULL)
        dps_daemon_conf_free(&table, cfg, &cfg->config_file);
}

int dpsd_config_load_file(dpsd_config *cfg, const char *path, char *err, size_t errlen)
{
    return dps_conf_load_file(&table, cfg, path, err, errlen);
}

/* ---- derived values and cross-checks ------------------------------------ */

int dpsd_config_finish(dpsd_config *cfg, char *err, size_t errlen)
{
    if (dps_daemon_conf_data_dir(&cfg->data_dir, &cfg->store, "dpsd.db", err, errlen) != 0)
        return -1;

    if (cfg->host_name.count == 0) {
        dps_set_err(err, errlen, "host_name: at least one host name is needed");
        return -1;
    }
    if (cfg->device_host_name[0] == '\0' &&
        dps_daemon_replace_string(&cfg->device_host_name, strdup(cfg->host_name.items[0]),
                                  err, errlen) != 0)
        return -1;

    if (dps_daemon_conf_tls_pair(cfg->tls_cert, cfg->tls_key, err, errlen) != 0 ||
        dps_listen_addr_parse_list("listen", cfg->listen.items, cfg->listen.count,
                                   cfg->listen_addrs, &cfg->nlisten, err, errlen) != 0 ||
        parse_mqtt_listen(cfg->mqtt_listen, cfg->mqtt_addrs, &cfg->nmqtt, err, errlen) != 0)
        return -1;
    const dps_listen_addr *clash =
        dps_listen_addr_clash(cfg->mqtt_addrs, cfg->nmqtt, cfg->listen_addrs, cfg->nlisten);
    if (clash != NULL) {
        dps_set_err(err, errlen, "listen and mqtt_listen both use %s port %u", clash->host,
                    (unsigned)clash->port);
        return -1;
    }
    return 0;
}

/* ---- the whole load ----------------------------------------------------- */

static int finish(void *cfg, char *err, size_t errlen)
{
    return dpsd_config_finish(cfg, err, errlen);
}

int dpsd_config_load(dpsd_config *cfg, int argc, char *const argv[], dpsd_action *action,
                     char *err, size_t errlen)
{
    *action = DPSD_ACTION_RUN;
    if (dpsd_config_init(cfg) != 0) {
        dps_set_err(err, errlen, "out of memory");
        return -1;
    }
    return dps_daemon_conf_load(&table, cfg, argc, argv, &cfg->config_file, finish, action, err,
                                errlen);
}

/* ---- display ------------------------------------------------------------ */

void dpsd_config_print_help(FILE *out, const char *prog)
{
    fprintf(out,
            "Usage: %s [options]\n"
            "\n"
            "opendps provisioning service daemon: service, admin and device APIs over HTTPS.\n"
            "\n"
            "Options (each is also a 'name = value' line in the --config file; flags win):\n",
            prog);
    dps_conf_print_options(&table, out);
    fprintf(out, "\nCommand line only:\n");
    dps_conf_print_cli_help(out);
}
