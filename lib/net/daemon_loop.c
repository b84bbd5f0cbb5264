/* The daemons' shared process skeleton (see daemon_loop.h). */
#include "net/daemon_loop.h"

#include <signal.h>
#include <stdio.h>

#include "common/daemon.h"
#include "common/log.h"

void dps_daemon_ignore_sigpipe(void)
{
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        log_warn("cannot ignore SIGPIPE");
}

static void on_stop_signal(evutil_socket_t sig, short events, void *arg)
{
    (void)events;
    log_info("received signal %d, shutting down", (int)sig);
    event_base_loopexit(arg, NULL);
}

int dps_daemon_loop_open(dps_daemon_loop *l)
{
    l->base = event_base_new();
    if (l->base == NULL) {
        log_error("cannot create the event loop");
        return -1;
    }
    l->sigterm = evsignal_new(l->base, SIGTERM, on_stop_signal, l->base);
    l->sigint = evsignal_new(l->base, SIGINT, on_stop_signal, l->base);
    if (l->sigterm == NULL || l->sigint == NULL || evsignal_add(l->sigterm, NULL) != 0 ||
        evsignal_add(l->sigint, NULL) != 0) {
        log_error("cannot install the signal handlers");
        return -1;
    }
    return 0;
}

int dps_daemon_loop_run(dps_daemon_loop *l)
{
    if (event_base_dispatch(l->base) != 0) {
        log_error("event loop failed");
        return -1;
    }
    log_info("stopped");
    return 0;
}

void dps_daemon_loop_close(dps_daemon_loop *l)
{
    if (l->sigterm != NULL)
        event_free(l->sigterm);
    if (l->sigint != NULL)
        event_free(l->sigint);
    if (l->base != NULL)
        event_base_free(l->base);
    l->sigterm = l->sigint = NULL;
    l->base = NULL;
}

int dps_daemon_check_only(const char *prog, const dps_tls_server_config *tc)
{
    if (tc->cert_file[0] != '\0') {
        char err[1024];
        SSL_CTX *tls = dps_tls_server_ctx(tc, err, sizeof err);
        if (tls == NULL) {
            fprintf(stderr, "%s: %s\n", prog, err);
            return 2;
        }
        SSL_CTX_free(tls);
    }
    printf("configuration OK\n");
    return 0;
}

void dps_daemon_print_banner(const char *name, const char *version, const char *data_dir,
                             const char *store_url)
{
    char store[1200];
    dps_daemon_store_display(store_url, store, sizeof store);
    printf("opendps %s %s\n", name, version);
    printf("data directory: %s\n", data_dir);
    printf("store: %s\n", store);
}

void dps_daemon_print_ca(const char *ca_cert_path)
{
    if (ca_cert_path[0] != '\0')
        printf("ca certificate: %s\n", ca_cert_path);
    else
        printf("ca certificate: (configured certificates)\n");
}
