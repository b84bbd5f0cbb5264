/* hubd: read the configuration, set up the instance, serve the REST APIs
 * over HTTPS and the device endpoint over MQTT/TLS until SIGTERM or SIGINT,
 * shut down cleanly. The start-up lines on stdout are an interface (scripts
 * and tests parse them); docs/hubd.md describes them. */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "api/api.h"
#include "common/log.h"
#include "common/secret.h"
#include "config.h"
#include "instance.h"
#include "model/hubs.h"
#include "mqtt/endpoint.h"
#include "mqtt/sessions.h"
#include "net/daemon_loop.h"
#include "net/https_server.h"
#include "net/tls_server.h"

enum { EXIT_USAGE = 2 };

/* What the HTTPS server calls for every request: hubd's admin API first
 * (its own prefix), every other path goes to the hub APIs. Composed here so
 * neither side needs to know the other. */
typedef struct {
    hubd_ctx *ctx;
    hubd_admin *admin;
} rest_glue;

static void rest_handle(void *arg, const dps_http_request *req, dps_http_response *res)
{
    rest_glue *g = arg;
    if (hubd_admin_handle(g->admin, req, res))
        return;
    hubd_api_handle(g->ctx, req, res);
}

static void rest_error(void *arg, dps_http_response *res, int status, const char *message)
{
    rest_glue *g = arg;
    hubd_api_write_error(g->ctx, res, status, message);
}

/* TLS for both listeners. MQTT asks for a client certificate (X.509 device
 * authentication decides later, per device); REST never does, so browsers
 * and service SDKs are not prompted for one. Distinct session ID contexts
 * keep a REST session from being resumed on the MQTT port. */
static dps_tls_server_config tls_config(const char *cert, const char *key, bool mqtt)
{
    return (dps_tls_server_config){
        .cert_file = cert,
        .key_file = key,
        .request_client_cert = mqtt,
        .session_id_context = mqtt ? "opendps-hubd-mqtt" : "opendps-hubd-rest",
    };
}

static SSL_CTX *make_tls(const hubd_instance_tls *files, bool mqtt, char *err, size_t errlen)
{
    dps_tls_server_config tc = tls_config(files->cert, files->key, mqtt);
    return dps_tls_server_ctx(&tc, err, errlen);
}

/* "host:port" where clients reach the first REST listener, for the admin
 * connection string: a wildcard address means "this machine", so localhost
 * (which the generated certificate always names). */
static void rest_host(const hubd_config *cfg, uint16_t port, char *out, size_t outlen)
{
    const char *host = cfg->rest_addrs[0].host;
    bool v6 = strchr(host, ':') != NULL;
    if (dps_listen_addr_is_wildcard(host)) {
        host = "localhost";
        v6 = false;
    }
    if (port == 443)
        snprintf(out, outlen, v6 ? "[%s]" : "%s", host);
    else
        snprintf(out, outlen, v6 ? "[%s]:%u" : "%s:%u", host, (unsigned)port);
}

static void print_hubs(hubd_ctx *ctx)
{
    char **names = NULL;
    size_t n = 0;
    if (hubd_hub_list(ctx, &names, &n) != 0) {
        log_error("cannot list the hubs");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char *cs = hubd_hub_connection_string(ctx, names[i], HUBD_OWNER_POLICY);
        if (cs != NULL)
            printf("hub %s: %s\n", names[i], cs);
        else
            printf("hub %s: (no %s policy)\n", names[i], HUBD_OWNER_POLICY);
        dps_free_secret_string(cs);
    }
    hubd_hub_list_free(names, n);
}

static void print_startup(const hubd_config *cfg, hubd_ctx *ctx, const dps_https_server *rest,
                          const hubd_mqtt_endpoint *mqtt, const hubd_admin *admin)
{
    dps_daemon_print_banner("hubd", HUBD_VERSION, cfg->data_dir, cfg->store);
    for (size_t i = 0; i < dps_https_server_listener_count(rest); i++)
        printf("https: listening on %s (registry, twin and method APIs)\n",
               dps_https_server_listener_url(rest, i));
    for (size_t i = 0; i < hubd_mqtt_listener_count(mqtt); i++)
        printf("mqtts: listening on %s (device MQTT endpoint)\n",
               hubd_mqtt_listener_url(mqtt, i));
    dps_daemon_print_ca(ctx->ca_cert_path);
    print_hubs(ctx);
    char host[300];
    rest_host(cfg, dps_https_server_listener_port(rest, 0), host, sizeof host);
    char *cs = hubd_admin_connection_string(admin, host);
    printf("admin connection string: %s\n", cs != NULL ? cs : "(out of memory)");
    dps_free_secret_string(cs);
    /* For dpsd's linked hubs: lets reprovisioning carry reported properties. */
    cs = hubd_admin_migration_connection_string(admin, host);
    printf("migration connection string: %s\n", cs != NULL ? cs : "(out of memory)");
    dps_free_secret_string(cs);
    printf("ready\n");
    fflush(stdout);
}

static void copy_url(char *dst, size_t dstlen, const char *url)
{
    snprintf(dst, dstlen, "%s", url != NULL ? url : "");
}

int main(int argc, char *argv[])
{
    hubd_config cfg;
    hubd_action action;
    char err[1024] = "";
    const char *prog = argc > 0 && argv[0] != NULL ? argv[0] : "hubd";

    if (hubd_config_load(&cfg, argc, argv, &action, err, sizeof err) != 0) {
        fprintf(stderr, "hubd: %s\n", err);
        hubd_config_free(&cfg);
        return EXIT_USAGE;
    }
    switch (action) {
    case HUBD_ACTION_HELP:
        hubd_config_print_help(stdout, prog);
        hubd_config_free(&cfg);
        return 0;
    case HUBD_ACTION_VERSION:
        printf("opendps hubd %s\n", HUBD_VERSION);
        hubd_config_free(&cfg);
        return 0;
    case HUBD_ACTION_CHECK: {
        dps_tls_server_config tc = tls_config(cfg.tls_cert, cfg.tls_key, false);
        int rc = dps_daemon_check_only("hubd", &tc);
        hubd_config_free(&cfg);
        return rc;
    }
    case HUBD_ACTION_RUN:
        break;
    }
    dps_log_set_level(cfg.log_level);

    dps_daemon_ignore_sigpipe();

    int rc = 1;
    hubd_ctx ctx;
    hubd_instance_tls files;
    dps_daemon_loop loop = {0};
    SSL_CTX *rest_tls = NULL;
    SSL_CTX *mqtt_tls = NULL;
    hubd_admin *admin = NULL;
    dps_https_server *rest = NULL;
    hubd_mqtt_endpoint *mqtt = NULL;
    bool instance_open = false;
    rest_glue glue = {.ctx = &ctx};

    if (hubd_instance_open(&ctx, &cfg, &files, err, sizeof err) != 0) {
        log_error("%s", err);
        goto out;
    }
    instance_open = true;

    rest_tls = make_tls(&files, false, err, sizeof err);
    mqtt_tls = rest_tls != NULL ? make_tls(&files, true, err, sizeof err) : NULL;
    if (mqtt_tls == NULL) {
        log_error("%s", err);
        goto out;
    }
    SSL_CTX *live[] = {rest_tls, mqtt_tls};
    admin = hubd_admin_new(&ctx, live, 2, err, sizeof err);
    if (admin == NULL) {
        log_error("%s", err);
        goto out;
    }
    glue.admin = admin;

    if (dps_daemon_loop_open(&loop) != 0)
        goto out;
    struct event_base *base = loop.base;
    ctx.base = base;

    ctx.sessions = hubd_sessions_new();
    if (ctx.sessions == NULL) {
        log_error("out of memory");
        goto out;
    }
    dps_https_server_options so = {
        .listen = cfg.rest_addrs,
        .nlisten = cfg.nrest,
        .max_body_bytes = (size_t)cfg.max_body_bytes,
        .timeout_s = (int)cfg.connection_timeout,
        .handle = rest_handle,
        .write_error = rest_error,
        .arg = &glue,
    };
    rest = dps_https_server_start(base, rest_tls, &so, err, sizeof err);
    if (rest == NULL) {
        log_error("%s", err);
        goto out;
    }
    mqtt = hubd_mqtt_start(&ctx, mqtt_tls, cfg.mqtt_addrs, cfg.nmqtt, err, sizeof err);
    if (mqtt == NULL) {
        log_error("%s", err);
        goto out;
    }
    hubd_mqtt_set_max_connections(mqtt, (size_t)cfg.max_connections);
    copy_url(ctx.rest_url, sizeof ctx.rest_url, dps_https_server_listener_url(rest, 0));
    copy_url(ctx.mqtt_url, sizeof ctx.mqtt_url, hubd_mqtt_listener_url(mqtt, 0));

    print_startup(&cfg, &ctx, rest, mqtt, admin);
    log_info("hubd ready: %zu REST and %zu MQTT listener(s)",
             dps_https_server_listener_count(rest), hubd_mqtt_listener_count(mqtt));

    if (dps_daemon_loop_run(&loop) != 0)
        goto out;
    rc = 0;

out:
    /* REST first: it cancels the method calls it is waiting on, which the
     * session table would otherwise drop under it. */
    dps_https_server_free(&rest);
    hubd_mqtt_free(&mqtt);
    hubd_sessions_free(&ctx.sessions);
    hubd_admin_free(&admin);
    SSL_CTX_free(rest_tls);
    SSL_CTX_free(mqtt_tls);
    dps_daemon_loop_close(&loop);
    if (instance_open)
        hubd_instance_close(&ctx);
    hubd_config_free(&cfg);
    return rc;
}
