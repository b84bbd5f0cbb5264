/* A typed option table that drives a daemon's whole configuration: one row
 * per option (name, type, bounds, default, check, help) and this engine
 * does the rest: defaults, "key = value" config files with line numbers in
 * errors, command-line flags that override the file, and --help text. A
 * daemon adds an option in exactly one place, its table, and keeps only its
 * own cross-checks and derived values. dpsd and hubd use it.
 *
 * Precedence: built-in defaults, then the config file (--config), then
 * flags. For a list option the first flag replaces the file's list and
 * later flags add to it, so a flag can always get rid of a file entry. */
#ifndef DPS_COMMON_CONFTABLE_H
#define DPS_COMMON_CONFTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define DPS_CONF_MAX_LIST 8          /* entries of a list option */
#define DPS_CONF_MAX_VALUE 1024      /* bytes of one option value */
#define DPS_CONF_MAX_LINE 4096       /* bytes of one config file line */
#define DPS_CONF_MAX_FILE (1 << 20)  /* bytes of the whole config file */
#define DPS_CONF_MAX_OPTIONS 32      /* rows of one table */
#define DPS_CONF_MAX_NAME 48         /* bytes of an option name */

typedef struct {
    char *items[DPS_CONF_MAX_LIST];
    size_t count;
} dps_conf_list;

typedef enum {
    DPS_CONF_STRING,    /* char *: never NULL once set up */
    DPS_CONF_LIST,      /* dps_conf_list: comma-separated and/or repeated */
    DPS_CONF_INT,       /* int64_t within [min, max] */
    DPS_CONF_BOOL,      /* bool: true/false, yes/no, on/off, 1/0 */
    DPS_CONF_ENUM,      /* int: index of the value in choices */
    DPS_CONF_LOG_LEVEL, /* dps_log_level: error, warn, info, debug */
} dps_conf_type;

/* Where a value came from; a higher source replaces a list set by a lower
 * one instead of appending to it. */
typedef enum {
    DPS_CONF_SRC_DEFAULT = 0,
    DPS_CONF_SRC_FILE = 1,
    DPS_CONF_SRC_FLAG = 2,
} dps_conf_source;

/* Checks one value (one entry for a list) of a string or list option;
 * returns 0, or -1 with the reason in err. */
typedef int (*dps_conf_check_fn)(const char *value, char *err, size_t errlen);

typedef struct {
    const char *name;           /* file key; the flag is "--" + name, '_' -> '-' */
    dps_conf_type type;
    size_t offset;              /* of the field in the caller's struct */
    const char *def;            /* default as text: goes through the same parser */
    int64_t min, max;           /* DPS_CONF_INT bounds */
    const char *const *choices; /* DPS_CONF_ENUM: NULL-terminated, any case on input */
    const char *metavar;        /* for --help, e.g. "SECONDS" */
    dps_conf_check_fn check;    /* string and list options; may be NULL */
    const char *help;
} dps_conf_option;

/* The engine's bookkeeping, one per configured object, embedded in the
 * caller's struct (dps_conf_table.state_offset says where). */
typedef struct {
    unsigned char source[DPS_CONF_MAX_OPTIONS]; /* dps_conf_source, by row */
} dps_conf_state;

typedef struct {
    const dps_conf_option *options;
    size_t noptions; /* at most DPS_CONF_MAX_OPTIONS */
    size_t state_offset; /* of the dps_conf_state in the caller's struct */
} dps_conf_table;

/* What the command line asks for beyond option values. */
typedef enum {
    DPS_CONF_ACTION_RUN,
    DPS_CONF_ACTION_CHECK,   /* --check: the daemon validates and exits */
    DPS_CONF_ACTION_HELP,    /* -h, --help */
    DPS_CONF_ACTION_VERSION, /* -V, --version */
} dps_conf_action;

/* Sets every option of obj to its default (obj is zeroed first). Returns 0,
 * or -1 with the reason in err (no memory, or a default the table's own
 * parser refuses, which is a bug in the table); obj is freed then. */
int dps_conf_init(const dps_conf_table *t, void *obj, char *err, size_t errlen);

/* Frees the strings and lists of obj and sets them to NULL/empty. */
void dps_conf_free(const dps_conf_table *t, void *obj);

/* Sets one option by name ('-' and '_' alike) from text, as read from the
 * config file (DPS_CONF_SRC_FILE) or a flag (DPS_CONF_SRC_FLAG). On failure
 * the option keeps its value and err says "NAME: reason" (or "unknown option
 * 'NAME'"). */
int dps_conf_set(const dps_conf_table *t, void *obj, const char *name, const char *value,
                 dps_conf_source src, char *err, size_t errlen);

/* Reads "key = value" lines: blank lines and lines starting with '#' are
 * skipped, a value may be "quoted" to keep blanks or be empty, CRLF is fine.
 * Errors read "PATH:LINE: NAME: reason" and stop at the first one. */
int dps_conf_load_file(const dps_conf_table *t, void *obj, const char *path, char *err,
                       size_t errlen);

/* Applies a command line (argv[0] is skipped) to obj, which holds its
 * defaults: -h/--help and -V/--version win over everything and stop before
 * anything is read; otherwise the --config/-c file (the last one given) is
 * read, then every option flag ("--name VALUE" or "--name=VALUE") is
 * applied, wherever it stood. *action says what was asked; *config_file
 * points into argv (NULL when none). Errors name the flag or file line. */
int dps_conf_parse_args(const dps_conf_table *t, void *obj, int argc, char *const argv[],
                        dps_conf_action *action, const char **config_file, char *err,
                        size_t errlen);

/* One "  --name METAVAR   help (default: ...)" entry per option, wrapped at
 * 79 columns; then dps_conf_print_cli_help prints the command-line-only
 * flags (--config, --check, --help, --version). A daemon prints its own
 * usage line and description first. */
void dps_conf_print_options(const dps_conf_table *t, FILE *out);
void dps_conf_print_cli_help(FILE *out);

#endif
