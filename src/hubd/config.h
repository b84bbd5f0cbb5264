/* hubd configuration: one typed table of options (config.c), run by the
 * shared engine in lib/common/conftable.c, drives the config file parser,
 * the command-line flags, --help and validation, exactly as for dpsd. This
 * file adds what only hubd has: its fields, the cross-checks and derived
 * values (hubd_config_finish). Precedence: built-in defaults, then the config
 * file (--config), then flags. docs/hubd.md lists every option. */
#ifndef HUBD_CONFIG_H
#define HUBD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/conftable.h"
#include "common/log.h"
#include "hubd.h"
#include "net/listen_addr.h"

#define HUBD_VERSION "0.1.0"

struct hubd_config {
    /* Options as set, through the table. Strings are never NULL after
     * hubd_config_init. */
    dps_conf_list rest_listen;  /* HTTPS: registry, twins, methods, /_hubd */
    dps_conf_list mqtt_listen;  /* MQTT over TLS: devices */
    dps_conf_list hub;          /* host names of the hubs created at start */
    char *data_dir;
    char *tls_cert;             /* "" (both) = local CA in data_dir/pki */
    char *tls_key;
    char *store;                /* "" = sqlite:<data_dir>/hubd.db */
    dps_log_level log_level;
    int64_t max_body_bytes;     /* REST request bodies */
    int64_t connection_timeout; /* REST idle/stalled connections, seconds */
    int64_t max_connections;    /* MQTT device connections, all hubs together */
    int64_t telemetry_log_size; /* messages kept per hub */
    int64_t telemetry_log_bytes; /* bytes kept per hub */

    /* Filled by hubd_config_finish: data_dir made absolute, store derived,
     * hub names lower-cased, listen addresses parsed. */
    dps_listen_addr rest_addrs[DPS_CONF_MAX_LIST];
    size_t nrest;
    dps_listen_addr mqtt_addrs[DPS_CONF_MAX_LIST];
    size_t nmqtt;

    dps_conf_state conf; /* the engine's: where each value came from */
    char *config_file;   /* --config FILE, or NULL */
};

/* What the command line asks for: the option engine's own answer, under
 * hubd's names. */
typedef dps_conf_action hubd_action;
#define HUBD_ACTION_RUN DPS_CONF_ACTION_RUN
#define HUBD_ACTION_CHECK DPS_CONF_ACTION_CHECK     /* --check: validate and exit */
#define HUBD_ACTION_HELP DPS_CONF_ACTION_HELP       /* --help */
#define HUBD_ACTION_VERSION DPS_CONF_ACTION_VERSION /* --version */

/* Sets every option to its default. Returns 0 or -1 (no memory). */
int hubd_config_init(hubd_config *cfg);
void hubd_config_free(hubd_config *cfg);

/* Complete loading: defaults, the --config file, the flags, then
 * hubd_config_finish. For --help and --version nothing else is read. On
 * failure returns -1 with a one-line message in err (it names the file and
 * line, or the flag). cfg must be freed in both cases. */
int hubd_config_load(hubd_config *cfg, int argc, char *const argv[], hubd_action *action,
                     char *err, size_t errlen);

/* The steps of hubd_config_load, for tests. */
/* Sets one option by its file name from text, as if read from the config
 * file (from_flag false) or given as a flag (true). */
int hubd_config_set(hubd_config *cfg, const char *name, const char *value, bool from_flag,
                    char *err, size_t errlen);
int hubd_config_load_file(hubd_config *cfg, const char *path, char *err, size_t errlen);
/* Resolves derived defaults and checks the options together. */
int hubd_config_finish(hubd_config *cfg, char *err, size_t errlen);

/* Usage text generated from the table. */
void hubd_config_print_help(FILE *out, const char *prog);

#endif
