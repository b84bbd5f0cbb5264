/* dpsctl's shared command model: exit codes, the per-run context that every
 * command receives, and the command / group descriptors that main.c
 * dispatches on. Each cmd_*.c file exports one dpsctl_group. */
#ifndef DPSCTL_DPSCTL_H
#define DPSCTL_DPSCTL_H

#include <stdbool.h>

#include "args.h"
#include "client.h"
#include "output.h"

/* Exit codes are part of the CLI contract (scripts test them). */
enum {
    DPSCTL_EXIT_OK = 0,
    DPSCTL_EXIT_FAILED = 1,  /* the service refused, or another runtime failure */
    DPSCTL_EXIT_USAGE = 2,   /* bad command line or unusable local input */
    DPSCTL_EXIT_CONNECT = 3, /* could not reach or trust the server */
};

struct dpsctl_command;

typedef struct {
    dpsctl_args args;
    const char *group_name;               /* for hints: "enrollment" */
    const struct dpsctl_command *command; /* the command being run */
    bool hub;                             /* a hub command: talks to hubd, not dpsd */
    dpsctl_output_format output;
    dpsctl_client_config config;          /* from global options / environment */
    dpsctl_client *client;                /* opened on first use */
} dpsctl_ctx;

typedef int (*dpsctl_handler)(dpsctl_ctx *ctx);

typedef struct dpsctl_command {
    const char *name;           /* "create" */
    const char *summary;        /* one line for the group's help */
    const dpsctl_cmd_opt *opts; /* terminated by an entry with opt == DPSCTL_OPT_NONE */
    dpsctl_handler run;
    const char *examples;       /* shown under --help, may be NULL */
} dpsctl_command;

typedef struct {
    const char *name;    /* "enrollment", or words separated by one space ("hub device") */
    const char *summary;
    const dpsctl_command *commands;
    unsigned ncommands;
} dpsctl_group;

extern const dpsctl_group dpsctl_group_enrollment;
extern const dpsctl_group dpsctl_group_enrollment_group;
extern const dpsctl_group dpsctl_group_registration;
extern const dpsctl_group dpsctl_group_linked_hub;
extern const dpsctl_group dpsctl_group_policy;
extern const dpsctl_group dpsctl_group_connection_string;
extern const dpsctl_group dpsctl_group_sas_token;
extern const dpsctl_group dpsctl_group_instance;
extern const dpsctl_group dpsctl_group_certificate;
/* Hub commands live in groups whose names start with "hub": "hub" itself
 * and "hub device", "hub twin", ... (main.c matches the longest name). */
extern const dpsctl_group dpsctl_group_hub;
extern const dpsctl_group dpsctl_group_hub_device;
extern const dpsctl_group dpsctl_group_hub_twin;
extern const dpsctl_group dpsctl_group_hub_c2d;
extern const dpsctl_group dpsctl_group_hub_connection_string;

/* Prints "dpsctl: <message>" plus a hint naming the command's --help and
 * returns DPSCTL_EXIT_USAGE, so handlers can write `return dpsctl_usage(...)`. */
int dpsctl_usage(const dpsctl_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prints "dpsctl: <message>" and returns DPSCTL_EXIT_FAILED. */
int dpsctl_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Opens the connection on first use (commands like compute-device-key --key
 * never need one). Returns an exit code; on failure the reason is printed. */
int dpsctl_connect(dpsctl_ctx *ctx, dpsctl_client **out);

/* Prints a result in the chosen format, after deleting secret_paths (a
 * NULL-terminated list, may be NULL) unless --show-keys was given. Returns an
 * exit code. */
int dpsctl_emit(dpsctl_ctx *ctx, json_t *v, const dpsctl_column *cols,
                const char *const *secret_paths);

/* Parses --top (1..1000000) into *top, 0 when absent. Returns an exit code. */
int dpsctl_parse_top(const dpsctl_ctx *ctx, long *top);

/* The value of an option, or NULL when it was not given. */
static inline const char *dpsctl_opt_value(const dpsctl_ctx *ctx, dpsctl_opt opt)
{
    return ctx->args.val[opt];
}

#endif
