/* hubd configuration (see config.h). The option table below is the single
 * description of every hubd option; the engine (common/conftable.c) reads it
 * for the file parser, the flag parser, --help and the defaults. What stays
 * here is hubd's own: its value checks, the cross-checks and the derived
 * values; what both daemons do alike is in common/daemon.c. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/daemon.h"
#include "common/errtext.h"
#include "model/hubs.h"
#include "model/telemetry.h"

/* ---- value checks ------------------------------------------------------- */

static int check_listen(const char *value, char *err, size_t errlen)
{
    return dps_listen_addr_parse(value, NULL, err, errlen);
}

static int check_hub(const char *value, char *err, size_t errlen)
{
    /* The hub name is the SAS audience, the MQTT username prefix and a
     * certificate name: a plain DNS name, no port (every hub shares the
     * listeners, so a port would mean nothing). */
    char canon[HUBD_HUB_NAME_SIZE];
    if (!hubd_hub_canon(value, canon)) {
        dps_set_err(err, errlen,
                    "'%s': a hub is a DNS name (letters, digits, '-' and '.'; no port)", value);
        return -1;
    }
    return 0;
}

/* ---- the table ---------------------------------------------------------- */

#define FIELD(f) offsetof(struct hubd_config, f)
#define STR_(x) #x
#define STR(x) STR_(x)

static const dps_conf_option options[] = {
    {"rest_listen", DPS_CONF_LIST, FIELD(rest_listen), "127.0.0.1:8444", 0, 0, NULL,
     "ADDR[,ADDR]", check_listen,
     "HTTPS listen address(es) of the registry, twin and method APIs: host:port or "
     "[ipv6]:port; port 0 picks a free port"},
    {"mqtt_listen", DPS_CONF_LIST, FIELD(mqtt_listen), "127.0.0.1:8884", 0, 0, NULL,
     "ADDR[,ADDR]", check_listen,
     "MQTT over TLS listen address(es) of the device endpoint; port 0 picks a free port"},
    {"hub", DPS_CONF_LIST, FIELD(hub), "hub1.opendps.local", 0, 0, NULL, "NAME[,NAME]",
     check_hub,
     "host name(s) of the hubs to host; each is created with its default access policies "
     "on first start, and put in the generated server certificate"},
    DPS_DAEMON_CONF_COMMON_ROWS(
        struct hubd_config, "./hubd-data",
        "directory for the database, the admin key and the generated PKI", "hubd.db"),
    {"max_body_bytes", DPS_CONF_INT, FIELD(max_body_bytes), "262144", 1024, 16 * 1024 * 1024,
     NULL, "BYTES", NULL, "largest REST request body accepted (bigger: 413)"},
    {"connection_timeout", DPS_CONF_INT, FIELD(connection_timeout), "60", 1, 3600, NULL,
     "SECONDS", NULL, "close a REST connection idle (or stalled mid-request) this long"},
    {"max_connections", DPS_CONF_INT, FIELD(max_connections), "10000", 1, 1000000, NULL,
     "N", NULL, "most device (MQTT) connections at once, all hubs together; more are refused"},
    {"telemetry_log_size", DPS_CONF_INT, FIELD(telemetry_log_size),
     STR(HUBD_TELEMETRY_DEFAULT_MESSAGES), 1, 1000000, NULL, "N", NULL,
     "device-to-cloud messages kept in memory per hub for GET /_hubd/telemetry; the oldest "
     "drop out"},
    {"telemetry_log_bytes", DPS_CONF_INT, FIELD(telemetry_log_bytes), "67108864", 65536,
     (int64_t)8 << 30, NULL, "BYTES", NULL,
     "memory the kept messages of one hub may use (bodies and properties); the oldest drop "
     "out first"},
};

#define NOPTIONS (sizeof options / sizeof options[0])
_Static_assert(NOPTIONS <= DPS_CONF_MAX_OPTIONS, "the engine tracks at most this many rows");

static const dps_conf_table table = {
    .options = options,
    .noptions = NOPTIONS,
    .state_offset = FIELD(conf),
};

int hubd_config_set(hubd_config *cfg, const char *name, const char *value, bool from_flag,
                    char *err, size_t errlen)
{
    return dps_daemon_conf_set(&table, cfg, name, value, from_flag, err, errlen);
}

int hubd_config_init(hubd_config *cfg)
{
    return dps_daemon_conf_init(&table, cfg, sizeof *cfg);
}

void hubd_config_free(hubd_config *cfg)
{
    if (cfg != NULL)
        dps_daemon_conf_free(&table, cfg, &cfg->config_file);
}

int hubd_config_load_file(hubd_config *cfg, const char *path, char *err, size_t errlen)
{
    return dps_conf_load_file(&table, cfg, path, err, errlen);
}

/* ---- derived values and cross-checks ------------------------------------ */

static int canon_hubs(hubd_config *cfg, char *err, size_t errlen)
{
    if (cfg->hub.count == 0) {
        dps_set_err(err, errlen, "hub: at least one hub is needed");
        return -1;
    }
    for (size_t i = 0; i < cfg->hub.count; i++) {
        char canon[HUBD_HUB_NAME_SIZE];
        if (!hubd_hub_canon(cfg->hub.items[i], canon)) {
            dps_set_err(err, errlen, "hub: '%s' is not a DNS name", cfg->hub.items[i]);
            return -1;
        }
        for (size_t k = 0; k < i; k++) {
            if (strcmp(cfg->hub.items[k], canon) == 0) {
                dps_set_err(err, errlen, "hub: '%s' is listed twice", cfg->hub.items[i]);
                return -1;
            }
        }
        if (dps_daemon_replace_string(&cfg->hub.items[i], strdup(canon), err, errlen) != 0)
            return -1;
    }
    return 0;
}

int hubd_config_finish(hubd_config *cfg, char *err, size_t errlen)
{
    if (dps_daemon_conf_data_dir(&cfg->data_dir, &cfg->store, "hubd.db", err, errlen) != 0 ||
        dps_daemon_conf_tls_pair(cfg->tls_cert, cfg->tls_key, err, errlen) != 0 ||
        dps_listen_addr_parse_list("rest_listen", cfg->rest_listen.items, cfg->rest_listen.count,
                                   cfg->rest_addrs, &cfg->nrest, err, errlen) != 0 ||
        dps_listen_addr_parse_list("mqtt_listen", cfg->mqtt_listen.items, cfg->mqtt_listen.count,
                                   cfg->mqtt_addrs, &cfg->nmqtt, err, errlen) != 0)
        return -1;
    /* REST and MQTT listeners must not ask for the same fixed port on one
     * address; caught here it is a config error (exit 2) instead of a bind
     * failure half-way through start-up. */
    const dps_listen_addr *clash =
        dps_listen_addr_clash(cfg->rest_addrs, cfg->nrest, cfg->mqtt_addrs, cfg->nmqtt);
    if (clash != NULL) {
        dps_set_err(err, errlen, "rest_listen and mqtt_listen both use %s port %u", clash->host,
                    (unsigned)clash->port);
        return -1;
    }
    return canon_hubs(cfg, err, errlen);
}

/* ---- the whole load ----------------------------------------------------- */

static int finish(void *cfg, char *err, size_t errlen)
{
    return hubd_config_finish(cfg, err, errlen);
}

int hubd_config_load(hubd_config *cfg, int argc, char *const argv[], hubd_action *action,
                     char *err, size_t errlen)
{
    *action = HUBD_ACTION_RUN;
    if (hubd_config_init(cfg) != 0) {
        dps_set_err(err, errlen, "out of memory");
        return -1;
    }
    return dps_daemon_conf_load(&table, cfg, argc, argv, &cfg->config_file, finish, action, err,
                                errlen);
}

/* ---- display ------------------------------------------------------------ */

void hubd_config_print_help(FILE *out, const char *prog)
{
    fprintf(out,
            "Usage: %s [options]\n"
            "\n"
            "opendps hub daemon: hosts IoT hubs (registry, twin and method APIs over HTTPS,\n"
            "device endpoint over MQTT/TLS).\n"
            "\n"
            "Options (each is also a 'name = value' line in the --config file; flags win):\n",
            prog);
    dps_conf_print_options(&table, out);
    fprintf(out, "\nCommand line only:\n");
    dps_conf_print_cli_help(out);
}
