/* dpsd configuration: one typed table of options (config.c) drives the
 * config file parser, the command-line flags, --help and validation, so an
 * option is added in exactly one place. Precedence: built-in defaults, then
 * the config file (--config), then flags. docs/config.md lists every option. */
#ifndef DPSD_CONFIG_H
#define DPSD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/log.h"
#include "dpsd.h"

#define DPSD_VERSION "0.1.0"

#define DPSD_CONFIG_MAX_LIST 8          /* entries of a list option (listen, host_name) */
#define DPSD_CONFIG_MAX_VALUE 1024      /* bytes of one option value */
#define DPSD_CONFIG_MAX_LINE 4096       /* bytes of one config file line */
#define DPSD_CONFIG_MAX_FILE (1 << 20)  /* bytes of the whole config file */
#define DPSD_CONFIG_MAX_OPTIONS 32      /* rows of the option table */
#define DPSD_HOST_NAME_MAX 253          /* a DNS name, without any ":port" */

typedef struct {
    char *items[DPSD_CONFIG_MAX_LIST];
    size_t count;
} dpsd_strlist;

/* One parsed listen address: host without brackets (an IPv6 literal is
 * written "[::1]:8443" but stored as "::1"), port 0 = pick a free port. */
typedef struct {
    char host[256];
    uint16_t port;
} dpsd_listen_addr;

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

    /* Filled by dpsd_config_finish: */
    dpsd_listen_addr listen_addrs[DPSD_CONFIG_MAX_LIST];
    size_t nlisten;
    /* data_dir is made absolute, store and device_host_name get their
     * derived defaults. */

    /* Where each option's current value came from (enum in config.c), so
     * that a flag replaces a list read from the file instead of adding to
     * it. Indexed like the option table. */
    unsigned char source[DPSD_CONFIG_MAX_OPTIONS];
    char *config_file;          /* --config FILE, or NULL */
};

/* What the command line asks for. */
typedef enum {
    DPSD_ACTION_RUN,
    DPSD_ACTION_CHECK,   /* --check: validate and exit */
    DPSD_ACTION_HELP,    /* --help */
    DPSD_ACTION_VERSION, /* --version */
} dpsd_action;

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

/* "host:port" or "[v6]:port", port 0..65535. */
int dpsd_parse_listen(const char *text, dpsd_listen_addr *out, char *err, size_t errlen);
/* Splits "name[:port]" (a host_name value) into its parts; port -1 when none. */
int dpsd_split_host_port(const char *text, char *host, size_t hostlen, int *port);

/* The store URL safe to print: a password in it is replaced by "***".
 * Writes into out (always NUL-terminated). */
void dpsd_config_store_display(const char *url, char *out, size_t outlen);

/* Usage text generated from the table. */
void dpsd_config_print_help(FILE *out, const char *prog);

#endif
