/* dpsd configuration: one typed table of options (config.c), run by the
 * shared engine in lib/common/conftable.c, drives the config file parser,
 * the command-line flags, --help and validation, so an option is added in
 * exactly one place. This file adds what only dpsd has: its fields, the
 * cross-checks and derived values (dpsd_config_finish). Precedence: built-in
 * defaults, then the config file (--config), then flags. docs/config.md
 * lists every option. */
#ifndef DPSD_CONFIG_H
#define DPSD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/conftable.h"
#include "common/log.h"
#include "dpsd.h"
#include "net/listen_addr.h"

/* A list option's value (listen, host_name); the name the API code uses. */
typedef dps_conf_list dpsd_strlist;

struct dpsd_config {
    /* Options as set, through the table. Strings are never NULL after
     * dpsd_config_init. */
    dpsd_strlist listen;
    dpsd_strlist host_name;
    char *device_host_name;     /* "" = the first host_name */
    char *data_dir;
    char *tls_cert;             /* "" (both) = local CA in data_dir/pki */
    char *tls_key;
    char *store;                /* "" = sqlite:<data_dir>/dpsd.db */
    dps_log_level log_level;
    int64_t max_body_bytes;
    int64_t connection_timeout; /* seconds */
    /* Device API and the registration engine (docs/device-api.md). */
    int64_t retry_after;        /* seconds devices are told to wait between polls */
    int64_t operation_ttl;      /* seconds a finished operation stays pollable in memory */
    int64_t max_operations;     /* operations held at once; more registrations get 429 */
    char *extra_api_versions;   /* comma-separated device api-versions admitted beyond the
                                   built-in table ("" = none); split by main */
    int64_t hub_timeout;        /* seconds per registry call to a hub */
    int64_t hub_max_inflight;   /* hub jobs talking to hubs at once */
    char *hub_ca_file;          /* CAs hub certificates must chain to; "" = system store */
    int64_t webhook_timeout;    /* seconds per custom allocation webhook call */
    char *webhook_ca_file;      /* CAs webhook certificates must chain to; "" = system store */
    char *geo_file;             /* geoLatency model (docs/allocation.md); "" = none */
    char *mqtt_listen;          /* device API over MQTT: comma-separated listen addresses,
                                   "" = no MQTT endpoint (a string: lists cannot be empty) */

    /* Filled by dpsd_config_finish: */
    dps_listen_addr listen_addrs[DPS_CONF_MAX_LIST];
    size_t nlisten;
    dps_listen_addr mqtt_addrs[DPS_CONF_MAX_LIST]; /* parsed mqtt_listen */
    size_t nmqtt;                                  /* 0: MQTT disabled */
    /* data_dir is made absolute, store and device_host_name get their
     * derived defaults. */

    dps_conf_state conf;        /* the engine's: where each value came from */
    char *config_file;          /* --config FILE, or NULL */
};

/* What the command line asks for: the option engine's own answer, under
 * dpsd's names. */
typedef dps_conf_action dpsd_action;
#define DPSD_ACTION_RUN DPS_CONF_ACTION_RUN
#define DPSD_ACTION_CHECK DPS_CONF_ACTION_CHECK     /* --check: validate and exit */
#define DPSD_ACTION_HELP DPS_CONF_ACTION_HELP       /* --help */
#define DPSD_ACTION_VERSION DPS_CONF_ACTION_VERSION /* --version */

/* Sets every option to its default. Returns 0 or -1 (no memory). */
int dpsd_config_init(dpsd_config *cfg);
void dpsd_config_free(dpsd_config *cfg);

/* Complete loading: defaults, the --config file, the flags, then
 * dpsd_config_finish. For --help and --version nothing else is read. On
 * failure returns -1 with a one-line message in err (it names the file and
 * line, or the flag). cfg must be freed in both cases. */
int dpsd_config_load(dpsd_config *cfg, int argc, char *const argv[], dpsd_action *action,
                     char *err, size_t errlen);

/* The steps of dpsd_config_load, for tests and tools. */
/* Sets one option by its file name ("max_body_bytes") from text, as if read
 * from the config file (from_flag false) or given as a flag (true). */
int dpsd_config_set(dpsd_config *cfg, const char *name, const char *value, bool from_flag,
                    char *err, size_t errlen);
/* Reads "key = value" lines; '#' starts a comment line. */
int dpsd_config_load_file(dpsd_config *cfg, const char *path, char *err, size_t errlen);
/* Resolves derived defaults and checks the options together. */
int dpsd_config_finish(dpsd_config *cfg, char *err, size_t errlen);

/* Usage text generated from the table. */
void dpsd_config_print_help(FILE *out, const char *prog);

#endif
