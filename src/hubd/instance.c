/* hubd instance set-up (see instance.h). */
#include "instance.h"

#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/daemon.h"
#include "common/errtext.h"
#include "common/log.h"
#include "model/hubs.h"
#include "model/registry.h"
#include "model/telemetry.h"
#include "pki/daemon_ca.h"

/* Names in the generated server certificate: every hub, the specific listen
 * hosts, plus what the PKI always adds (localhost, 127.0.0.1, ::1). */
#define MAX_CERT_NAMES (HUBD_MAX_HUBS + 2 * DPS_CONF_MAX_LIST)

/* Makes sure the local CA and a server certificate naming every hosted hub
 * (from the store, so hubs added at run time count) exist. */
static int ensure_local_tls(hubd_ctx *ctx, hubd_instance_tls *tls, char *err, size_t errlen)
{
    const hubd_config *cfg = ctx->config;
    char **hubs = NULL;
    size_t nhubs = 0;
    if (hubd_hub_list(ctx, &hubs, &nhubs) != 0) {
        dps_set_err(err, errlen, "cannot list the hosted hubs");
        return -1;
    }
    const char *names[MAX_CERT_NAMES];
    size_t n = 0;
    for (size_t i = 0; i < nhubs; i++)
        dps_pki_daemon_add_name(names, &n, MAX_CERT_NAMES, hubs[i]);
    for (size_t i = 0; i < cfg->nrest; i++)
        if (!dps_listen_addr_is_wildcard(cfg->rest_addrs[i].host))
            dps_pki_daemon_add_name(names, &n, MAX_CERT_NAMES, cfg->rest_addrs[i].host);
    for (size_t i = 0; i < cfg->nmqtt; i++)
        if (!dps_listen_addr_is_wildcard(cfg->mqtt_addrs[i].host))
            dps_pki_daemon_add_name(names, &n, MAX_CERT_NAMES, cfg->mqtt_addrs[i].host);

    dps_pki_paths paths;
    int rc = dps_pki_daemon_local_ca(cfg->data_dir, HUBD_LOCAL_CA_NAME, names, n, &paths, err,
                                     errlen);
    hubd_hub_list_free(hubs, nhubs);
    if (rc != 0)
        return -1;
    snprintf(tls->cert, sizeof tls->cert, "%s", paths.server_cert);
    snprintf(tls->key, sizeof tls->key, "%s", paths.server_key);
    snprintf(ctx->ca_cert_path, sizeof ctx->ca_cert_path, "%s", paths.ca_cert);
    tls->generated = true;
    return 0;
}

static int ensure_tls(hubd_ctx *ctx, hubd_instance_tls *tls, char *err, size_t errlen)
{
    const hubd_config *cfg = ctx->config;
    memset(tls, 0, sizeof *tls);
    if (cfg->tls_cert[0] == '\0')
        return ensure_local_tls(ctx, tls, err, errlen);
    if (snprintf(tls->cert, sizeof tls->cert, "%s", cfg->tls_cert) >= (int)sizeof tls->cert ||
        snprintf(tls->key, sizeof tls->key, "%s", cfg->tls_key) >= (int)sizeof tls->key) {
        dps_set_err(err, errlen, "tls_cert or tls_key path too long");
        return -1;
    }
    ctx->ca_cert_path[0] = '\0';
    return 0;
}

int hubd_instance_open(hubd_ctx *ctx, const hubd_config *cfg, hubd_instance_tls *tls,
                       char *err, size_t errlen)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->config = cfg;
    if (dps_daemon_make_dirs(cfg->data_dir, 0700, err, errlen) != 0)
        return -1;

    ctx->store = dps_store_open_shown(cfg->store, err, errlen);
    if (ctx->store == NULL)
        return -1;
    for (size_t i = 0; i < cfg->hub.count; i++) {
        char why[400] = "";
        if (hubd_hub_ensure(ctx, cfg->hub.items[i], why, sizeof why) != 0) {
            dps_set_err(err, errlen, "hub %s: %s", cfg->hub.items[i], why);
            goto fail;
        }
    }
    if (ensure_tls(ctx, tls, err, errlen) != 0)
        goto fail;
    ctx->telemetry = hubd_telemetry_new((size_t)cfg->telemetry_log_size,
                                        (size_t)cfg->telemetry_log_bytes);
    if (ctx->telemetry == NULL) {
        dps_set_err(err, errlen, "out of memory");
        goto fail;
    }
    return 0;
fail:
    dps_store_close(&ctx->store);
    return -1;
}

/* Loads the reissued chain and key into the shared context. The two calls
 * run back to back on the loop thread, so no handshake sees the pair
 * half-swapped; OpenSSL copies them into each new SSL, so open connections
 * are unaffected. */
static int reload_tls(SSL_CTX *live, const hubd_instance_tls *tls, char *err, size_t errlen)
{
    ERR_clear_error();
    if (SSL_CTX_use_certificate_chain_file(live, tls->cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(live, tls->key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(live) != 1) {
        char why[256];
        ERR_error_string_n(ERR_get_error(), why, sizeof why);
        dps_set_err(err, errlen, "cannot load the reissued server certificate: %s", why);
        return -1;
    }
    return 0;
}

int hubd_instance_add_hub(hubd_ctx *ctx, const char *host, SSL_CTX *const *live,
                          size_t nlive, bool *created, char *err, size_t errlen)
{
    char canon[HUBD_HUB_NAME_SIZE];
    *created = false;
    if (!hubd_hub_canon(host, canon)) {
        dps_set_err(err, errlen, "'%.64s' is not a valid hub host name", host);
        return -1;
    }
    bool existed = hubd_hub_exists(ctx, canon, NULL);
    if (!existed) {
        char **hubs = NULL;
        size_t nhubs = 0;
        if (hubd_hub_list(ctx, &hubs, &nhubs) != 0) {
            dps_set_err(err, errlen, "cannot list the hosted hubs");
            return -1;
        }
        hubd_hub_list_free(hubs, nhubs);
        if (nhubs >= HUBD_MAX_HUBS) {
            dps_set_err(err, errlen, "this hubd already hosts %d hubs", HUBD_MAX_HUBS);
            return -1;
        }
    }
    if (hubd_hub_ensure(ctx, canon, err, errlen) != 0)
        return -1;
    *created = !existed;
    if (existed)
        return 0;

    if (ctx->config->tls_cert[0] != '\0') {
        log_warn("hub %s added: make sure the configured certificate %s names it", canon,
                 ctx->config->tls_cert);
        return 0;
    }
    /* Key generation and a few small file writes: a rare admin action,
     * short enough to run on the loop. */
    hubd_instance_tls tls;
    memset(&tls, 0, sizeof tls);
    if (ensure_local_tls(ctx, &tls, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < nlive; i++)
        if (live[i] != NULL && reload_tls(live[i], &tls, err, errlen) != 0)
            return -1;
    log_info("hub %s added; server certificate now names it", canon);
    return 0;
}

void hubd_instance_close(hubd_ctx *ctx)
{
    hubd_telemetry_free(&ctx->telemetry);
    if (ctx->store != NULL)
        dps_store_close(&ctx->store);
}
