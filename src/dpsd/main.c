/* dpsd: read the configuration, set up the instance, serve HTTPS until
 * SIGTERM or SIGINT, shut down cleanly. The start-up lines on stdout are an
 * interface (scripts and tests parse them); docs/config.md describes them. */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/secret.h"
#include "allocation.h"
#include "config.h"
#include "engine/registration.h"
#include "http/adapter.h"
#include "hubclient/hub_client.h"
#include "instance.h"
#include "mqtt/device_mqtt.h"
#include "net/daemon_loop.h"
#include "net/https_server.h"
#include "net/tls_server.h"

/* The build passes the project version (top-level CMakeLists.txt), so
 * --version and the start-up banner cannot drift from the release. */
#ifndef DPS_VERSION
#error "DPS_VERSION must come from the build"
#endif

_Static_assert(DPS_CONF_MAX_LIST <= DPS_HTTPS_MAX_LISTENERS,
               "every configured listen address must fit the server");

/* Session resumption is scoped to dpsd: a hub sharing the certificate never
 * resumes a dpsd session. */
#define DPSD_TLS_SESSION_CONTEXT "opendps-dpsd"

enum { EXIT_USAGE = 2 };

/* The registration engine and the hub client it provisions devices with,
 * both on the daemon's event loop. */
static int start_engine(dpsd_ctx *ctx, const dpsd_config *cfg, struct event_base *base,
                        dps_hub_client **hubs, dpsd_allocation *alloc, char *err,
                        size_t errlen)
{
    if (dpsd_allocation_open(alloc, cfg, base, err, errlen) != 0)
        return -1;
    dps_hub_client_options ho = {.base = base,
                                 .ca_file = cfg->hub_ca_file,
                                 .timeout_s = (int)cfg->hub_timeout,
                                 .max_inflight = (size_t)cfg->hub_max_inflight};
    *hubs = dps_hub_client_new(&ho, err, errlen);
    if (*hubs == NULL)
        return -1;
    /* extra_api_versions is checked by the config table: at most 8
     * comma-separated names. */
    char copy[512];
    const char *versions[DPS_REG_MAX_EXTRA_VERSIONS];
    size_t nversions = 0;
    snprintf(copy, sizeof copy, "%s", cfg->extra_api_versions);
    for (char *p = copy; *p != '\0' && nversions < DPS_REG_MAX_EXTRA_VERSIONS;) {
        versions[nversions++] = p;
        p += strcspn(p, ",");
        if (*p == ',')
            *p++ = '\0';
    }
    dps_engine_options eo = {.store = ctx->store,
                             .id_scope = ctx->id_scope,
                             .retry_after_s = (int)cfg->retry_after,
                             .operation_ttl_s = cfg->operation_ttl,
                             .max_operations = (size_t)cfg->max_operations,
                             .extra_api_versions = versions,
                             .n_extra_api_versions = nversions,
                             .provisioner = dps_hub_client_provisioner(*hubs)};
    dpsd_allocation_apply(alloc, &eo);
    ctx->engine = dps_engine_new(&eo);
    if (ctx->engine == NULL) {
        snprintf(err, errlen, "cannot start the registration engine");
        dps_hub_client_free(hubs);
        return -1;
    }
    return 0;
}

static void print_startup(const dpsd_config *cfg, dpsd_ctx *ctx, const dps_https_server *srv,
                          const dpsd_mqtt_endpoint *mqtt)
{
    dps_daemon_print_banner("dpsd", DPS_VERSION, cfg->data_dir, cfg->store);
    printf("id scope: %s\n", ctx->id_scope);
    for (size_t i = 0; i < dps_https_server_listener_count(srv); i++)
        printf("https: listening on %s (service, admin and device APIs)\n",
               dps_https_server_listener_url(srv, i));
    for (size_t i = 0; i < dpsd_mqtt_listener_count(mqtt); i++)
        printf("mqtts: listening on %s (device MQTT endpoint)\n", dpsd_mqtt_listener_url(mqtt, i));
    printf("service host: %s\n", ctx->service_host);
    dps_daemon_print_ca(ctx->ca_cert_path);
    char *cs = dpsd_instance_connection_string(ctx);
    if (cs != NULL)
        printf("service connection string: %s\n", cs);
    else
        printf("service connection string: (no %s policy)\n", "provisioningserviceowner");
    dps_free_secret_string(cs);
    printf("ready\n");
    fflush(stdout);
}

int main(int argc, char *argv[])
{
    dpsd_config cfg;
    dpsd_action action;
    char err[1024] = "";
    const char *prog = argc > 0 && argv[0] != NULL ? argv[0] : "dpsd";

    if (dpsd_config_load(&cfg, argc, argv, &action, err, sizeof err) != 0) {
        fprintf(stderr, "dpsd: %s\n", err);
        dpsd_config_free(&cfg);
        return EXIT_USAGE;
    }
    switch (action) {
    case DPSD_ACTION_HELP:
        dpsd_config_print_help(stdout, prog);
        dpsd_config_free(&cfg);
        return 0;
    case DPSD_ACTION_VERSION:
        printf("opendps dpsd %s\n", DPS_VERSION);
        dpsd_config_free(&cfg);
        return 0;
    case DPSD_ACTION_CHECK: {
        if (dpsd_allocation_check(&cfg, err, sizeof err) != 0) {
            fprintf(stderr, "dpsd: geo_file: %s\n", err);
            dpsd_config_free(&cfg);
            return EXIT_USAGE;
        }
        dps_tls_server_config tc = {.cert_file = cfg.tls_cert,
                                    .key_file = cfg.tls_key,
                                    .session_id_context = DPSD_TLS_SESSION_CONTEXT};
        int rc = dps_daemon_check_only("dpsd", &tc);
        dpsd_config_free(&cfg);
        return rc;
    }
    case DPSD_ACTION_RUN:
        break;
    }
    dps_log_set_level(cfg.log_level);

    dps_daemon_ignore_sigpipe();

    int rc = 1;
    dpsd_ctx ctx;
    dpsd_instance_tls tlsfiles;
    dps_daemon_loop loop = {0};
    SSL_CTX *tls = NULL;
    dps_https_server *srv = NULL;
    dps_hub_client *hubs = NULL;
    dpsd_allocation alloc = {0};
    dpsd_mqtt_endpoint *mqtt = NULL;
    bool instance_open = false;

    if (dpsd_instance_open(&ctx, &cfg, &tlsfiles, err, sizeof err) != 0) {
        log_error("%s", err);
        goto out;
    }
    instance_open = true;

    /* X.509 devices present a client certificate on the device listeners
     * (HTTPS and MQTT share this context); it is asked for, never required,
     * and judged by the engine against the enrollments (device-api.md §10). */
    dps_tls_server_config tc = {.cert_file = tlsfiles.cert,
                                .key_file = tlsfiles.key,
                                .request_client_cert = true,
                                .session_id_context = DPSD_TLS_SESSION_CONTEXT};
    tls = dps_tls_server_ctx(&tc, err, sizeof err);
    if (tls == NULL) {
        log_error("%s", err);
        goto out;
    }

    if (dps_daemon_loop_open(&loop) != 0)
        goto out;
    struct event_base *base = loop.base;

    if (start_engine(&ctx, &cfg, base, &hubs, &alloc, err, sizeof err) != 0) {
        log_error("%s", err);
        goto out;
    }

    dps_https_server_options so = {
        .listen = cfg.listen_addrs,
        .nlisten = cfg.nlisten,
        .max_body_bytes = (size_t)cfg.max_body_bytes,
        .timeout_s = (int)cfg.connection_timeout,
        .handle = dpsd_http_handle,
        .write_error = dpsd_http_write_error,
        .arg = &ctx,
    };
    srv = dps_https_server_start(base, tls, &so, err, sizeof err);
    if (srv == NULL) {
        log_error("%s", err);
        goto out;
    }
    if (dpsd_instance_set_endpoints(&ctx, dps_https_server_listener_port(srv, 0),
                                    dps_https_server_listener_url(srv, 0), err,
                                    sizeof err) != 0) {
        log_error("%s", err);
        goto out;
    }

    /* The device API over MQTT shares the HTTPS listener's certificate; an
     * empty mqtt_listen turns it off. */
    if (cfg.nmqtt > 0) {
        dpsd_mqtt_options mo = {.base = base,
                                .engine = ctx.engine,
                                .listen = cfg.mqtt_addrs,
                                .nlisten = cfg.nmqtt};
        mqtt = dpsd_mqtt_start(tls, &mo, err, sizeof err);
        if (mqtt == NULL) {
            log_error("%s", err);
            goto out;
        }
    }

    print_startup(&cfg, &ctx, srv, mqtt);
    log_info("dpsd ready: id scope %s, %zu listener(s)", ctx.id_scope,
             dps_https_server_listener_count(srv));

    if (dps_daemon_loop_run(&loop) != 0)
        goto out;
    rc = 0;

out:
    dps_https_server_free(&srv);
    dpsd_mqtt_free(&mqtt); /* before the engine its connections call */
    /* The hub client first: it drops its jobs without calling the engine
     * back, then the engine frees the operations they belonged to. */
    dps_hub_client_free(&hubs);
    if (instance_open)
        dps_engine_free(&ctx.engine);
    dpsd_allocation_close(&alloc); /* the engine has cancelled its webhook calls */
    SSL_CTX_free(tls);
    dps_daemon_loop_close(&loop);
    if (instance_open)
        dpsd_instance_close(&ctx);
    dpsd_config_free(&cfg);
    return rc;
}
