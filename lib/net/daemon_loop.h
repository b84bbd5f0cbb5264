/* The process skeleton dpsd and hubd share: the event loop with SIGTERM and
 * SIGINT as its clean stop, SIGPIPE ignored, the --check outcome, and the
 * first start-up lines on stdout (an interface scripts and tests parse:
 * docs/config.md, docs/hubd.md). Here rather than in lib/common because it
 * needs libevent and the server TLS context; the configuration side, which
 * needs neither, is common/daemon.h. */
#ifndef DPS_NET_DAEMON_LOOP_H
#define DPS_NET_DAEMON_LOOP_H

#include <event2/event.h>

#include "net/tls_server.h"

typedef struct {
    struct event_base *base;
    struct event *sigterm;
    struct event *sigint;
} dps_daemon_loop;

/* A peer closing mid-write must cost one connection, not the process. Logs
 * a warning when it cannot. */
void dps_daemon_ignore_sigpipe(void);

/* Creates the event loop of a zeroed l and makes SIGTERM and SIGINT end it.
 * Returns 0, or -1 after logging why; l is then for dps_daemon_loop_close. */
int dps_daemon_loop_open(dps_daemon_loop *l);

/* Runs the loop until a stop signal; 0, or -1 when the loop failed. Logs
 * either outcome. */
int dps_daemon_loop_run(dps_daemon_loop *l);

/* Frees what dps_daemon_loop_open made (safe on a zeroed or half-opened l);
 * everything still using l->base must be freed first. */
void dps_daemon_loop_close(dps_daemon_loop *l);

/* --check after the configuration loaded: a configured certificate
 * (tc->cert_file not "") is loaded for real, since a key that does not
 * match its certificate is a configuration error worth catching here.
 * Prints "configuration OK" and returns 0, or prints "PROG: reason" on
 * stderr and returns 2 (the daemons' usage exit code). */
int dps_daemon_check_only(const char *prog, const dps_tls_server_config *tc);

/* The first start-up lines: "opendps NAME VERSION", the data directory and
 * the store (password masked). */
void dps_daemon_print_banner(const char *name, const char *version, const char *data_dir,
                             const char *store_url);

/* The "ca certificate:" start-up line: the generated CA's path, or a note
 * that the operator's certificates are in use (ca_cert_path ""). */
void dps_daemon_print_ca(const char *ca_cert_path);

#endif
