/* What dpsd and hubd do alike around their option tables (conftable.h) and
 * their data directories, needing nothing beyond libc (and common/log.h):
 * setting up, setting and freeing a config through its table, the
 * command-line load with its --check/--help/--version outcome, the data
 * directory made absolute with the default sqlite store under it, the
 * tls_cert/tls_key pair rule, the store URL with its password masked, and creating the data
 * directory. Kept apart from conftable.c, which knows nothing of daemons;
 * the event loop and signals are in net/daemon_loop.h. */
#ifndef DPS_COMMON_DAEMON_H
#define DPS_COMMON_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/conftable.h"

/* The option rows every daemon has, in the order --help shows them: the
 * data directory, its own certificate or the generated one, the store and
 * the log level. type is the daemon's config struct, which has fields of
 * these names; data_dir_default and data_dir_help are its own, db_file
 * (a string literal) names the default sqlite file under data_dir. Kept as
 * one macro so the two daemons cannot drift apart in how they read or
 * describe them. */
#define DPS_DAEMON_CONF_COMMON_ROWS(type, data_dir_default, data_dir_help, db_file)           \
    {"data_dir", DPS_CONF_STRING, offsetof(type, data_dir), data_dir_default, 0, 0, NULL,       \
     "DIR", dps_daemon_conf_not_empty, data_dir_help},                                         \
    {"tls_cert", DPS_CONF_STRING, offsetof(type, tls_cert), "", 0, 0, NULL, "FILE", NULL,      \
     "server certificate chain (PEM); empty: generate a local CA in DATA_DIR/pki"},            \
    {"tls_key", DPS_CONF_STRING, offsetof(type, tls_key), "", 0, 0, NULL, "FILE", NULL,        \
     "private key of tls_cert (PEM); set both or neither"},                                    \
    {"store", DPS_CONF_STRING, offsetof(type, store), "", 0, 0, NULL, "URL", NULL,             \
     "store: sqlite:PATH (default: sqlite:DATA_DIR/" db_file ")"},                             \
    {"log_level", DPS_CONF_LOG_LEVEL, offsetof(type, log_level), "info", 0, 0, NULL, "LEVEL",  \
     NULL, "error, warn, info or debug"}

/* Zeroes obj (size bytes) and gives every option of t its default. A
 * default the table refuses is logged as "config: REASON" and is -1. */
int dps_daemon_conf_init(const dps_conf_table *t, void *obj, size_t size);

/* dps_conf_set with the daemon's two sources: a command-line flag
 * (from_flag) or the config file. 0 or -1 with the reason in err. */
int dps_daemon_conf_set(const dps_conf_table *t, void *obj, const char *name,
                        const char *value, bool from_flag, char *err, size_t errlen);

/* Frees what t owns in obj (not NULL), then *config_file, left NULL. */
void dps_daemon_conf_free(const dps_conf_table *t, void *obj, char **config_file);

/* Resolves the daemon's derived values and cross-checks; 0 or -1 with the
 * reason in err. */
typedef int (*dps_daemon_finish_fn)(void *obj, char *err, size_t errlen);

/* The whole command line of a daemon whose obj holds its defaults: the
 * flags and the --config file through the table, the file's name strdup'd
 * into *config_file (recorded even when the file fails to load, for whoever
 * reports it), then finish unless --help or --version was asked for.
 * Returns 0 with *action set, or -1 with a one-line reason in err. */
int dps_daemon_conf_load(const dps_conf_table *t, void *obj, int argc, char *const argv[],
                         char **config_file, dps_daemon_finish_fn finish,
                         dps_conf_action *action, char *err, size_t errlen);

/* An option check: the value must not be empty. */
int dps_daemon_conf_not_empty(const char *value, char *err, size_t errlen);

/* Makes *data_dir absolute and normalised (lexically: the directory may not
 * exist yet and --check must not create it) and, when *store is "", sets it
 * to "sqlite:DATA_DIR/db_file". Both are heap strings owned by the config;
 * 0 or -1 ("out of memory", or no working directory) in err. */
int dps_daemon_conf_data_dir(char **data_dir, char **store, const char *db_file, char *err,
                             size_t errlen);

/* tls_cert and tls_key go together: both (own certificate) or neither
 * (generated local CA). 0 or -1 with the reason in err. */
int dps_daemon_conf_tls_pair(const char *tls_cert, const char *tls_key, char *err,
                             size_t errlen);

/* Frees *slot and stores value there; a NULL value (an allocation that
 * failed) leaves *slot alone and is "out of memory" in err. */
int dps_daemon_replace_string(char **slot, char *value, char *err, size_t errlen);

/* path joined to the working directory, with ".", ".." and doubled slashes
 * resolved without touching the file system. A new string, or NULL when out
 * of memory or without a working directory. */
char *dps_daemon_absolute_path(const char *path);

/* The store URL safe to print: "scheme://user:password@host/..." becomes
 * "scheme://user:***@host/..." and a "password=..." in a key=value
 * connection string becomes "password=***". out is always NUL-terminated. */
void dps_daemon_store_display(const char *url, char *out, size_t outlen);

/* mkdir -p; the directories it creates get mode (a data directory holds
 * private keys, hence 0700 from both daemons). Fails when path is not a
 * directory in the end. 0 or -1 with the reason in err. */
int dps_daemon_make_dirs(const char *path, mode_t mode, char *err, size_t errlen);

#endif
