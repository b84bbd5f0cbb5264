/* Instance set-up (see instance.h). */
#include "instance.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/etag.h"
#include "api/service_auth.h"
#include "common/access_policy.h"
#include "common/daemon.h"
#include "common/errtext.h"
#include "common/log.h"
#include "common/rand.h"
#include "common/secret.h"
#include "net/listen_addr.h"
#include "pki/daemon_ca.h"

#define POLICY_KEY_BYTES 32

/* ---- ID scope and settings ---------------------------------------------- */

static int ensure_id_scope(dpsd_ctx *ctx, char *err, size_t errlen)
{
    char *scope = NULL;
    dps_store_result r = dps_store_meta_get(ctx->store, DPSD_META_ID_SCOPE, &scope);
    if (r == DPS_STORE_NOT_FOUND) {
        uint8_t rnd[4];
        char hex[9];
        char fresh[sizeof ctx->id_scope];
        if (dps_random_bytes(rnd, sizeof rnd) != 0) {
            dps_set_err(err, errlen, "random source failed");
            return -1;
        }
        dps_hex_encode(rnd, sizeof rnd, true, hex);
        snprintf(fresh, sizeof fresh, "0ne%s", hex);
        if (dps_store_meta_set(ctx->store, DPSD_META_ID_SCOPE, fresh) != DPS_STORE_OK) {
            dps_set_err(err, errlen, "cannot store the ID scope");
            return -1;
        }
        log_info("instance: new ID scope %s", fresh);
        /* Read it back: when several dpsd nodes share one store and start
         * together, all of them must use whichever value was kept. */
        r = dps_store_meta_get(ctx->store, DPSD_META_ID_SCOPE, &scope);
    }
    if (r != DPS_STORE_OK) {
        dps_set_err(err, errlen, "cannot read the ID scope: %s", dps_store_result_name(r));
        return -1;
    }
    size_t n = strlen(scope);
    if (n == 0 || n >= sizeof ctx->id_scope) {
        dps_set_err(err, errlen, "stored ID scope has an invalid length (%zu)", n);
        free(scope);
        return -1;
    }
    memcpy(ctx->id_scope, scope, n + 1);
    free(scope);
    return 0;
}

static int ensure_allocation_policy(dpsd_ctx *ctx, char *err, size_t errlen)
{
    char *value = NULL;
    dps_store_result r = dps_store_meta_get(ctx->store, DPSD_META_ALLOCATION_POLICY, &value);
    if (r == DPS_STORE_OK) {
        free(value);
        return 0;
    }
    if (r == DPS_STORE_NOT_FOUND)
        r = dps_store_meta_set(ctx->store, DPSD_META_ALLOCATION_POLICY,
                               DPSD_DEFAULT_ALLOCATION_POLICY);
    if (r != DPS_STORE_OK) {
        dps_set_err(err, errlen, "cannot set the default allocation policy: %s",
                    dps_store_result_name(r));
        return -1;
    }
    return 0;
}

/* ---- owner access policy ------------------------------------------------ */

static int create_owner_policy(dpsd_ctx *ctx, char *err, size_t errlen)
{
    int rc = -1;
    char *primary = dps_access_policy_new_key(POLICY_KEY_BYTES);
    char *secondary = dps_access_policy_new_key(POLICY_KEY_BYTES);
    char etag[DPS_ETAG_MAX];
    json_t *doc = NULL;
    char *text = NULL;

    if (primary == NULL || secondary == NULL || dps_etag_new(etag) != 0) {
        dps_set_err(err, errlen, "cannot generate the owner policy keys");
        goto out;
    }
    /* The same document shape the admin API writes (service_auth.h). */
    doc = json_pack("{s:s, s:s, s:s, s:s, s:s}", "keyName", DPS_OWNER_POLICY, "primaryKey",
                    primary, "secondaryKey", secondary, "rights", DPS_OWNER_RIGHTS, "etag",
                    etag);
    text = doc != NULL ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (text == NULL) {
        dps_set_err(err, errlen, "cannot build the owner policy");
        goto out;
    }
    dps_record rec = {.key = DPS_OWNER_POLICY, .doc = text, .etag = etag, .group = NULL};
    dps_store_result r = dps_store_put(ctx->store, DPS_COLL_ACCESS_POLICY, &rec,
                                       DPS_PUT_CREATE, NULL);
    if (r == DPS_STORE_EXISTS) {
        rc = 0; /* another node was quicker; its keys stand */
    } else if (r != DPS_STORE_OK) {
        dps_set_err(err, errlen, "cannot store the owner policy: %s", dps_store_result_name(r));
    } else {
        log_info("instance: created access policy %s", DPS_OWNER_POLICY);
        rc = 0;
    }
out:
    /* jansson cannot wipe its copies of the keys; ours at least go. */
    json_decref(doc);
    dps_free_secret_string(text);
    dps_free_secret_string(primary);
    dps_free_secret_string(secondary);
    return rc;
}

static int ensure_owner_policy(dpsd_ctx *ctx, char *err, size_t errlen)
{
    size_t count = 0;
    dps_store_result r = dps_store_count(ctx->store, DPS_COLL_ACCESS_POLICY, &count);
    if (r != DPS_STORE_OK) {
        dps_set_err(err, errlen, "cannot count access policies: %s", dps_store_result_name(r));
        return -1;
    }
    /* Only a brand-new instance gets the owner policy: an operator who
     * deleted it on purpose must not see it come back on restart. */
    if (count > 0)
        return 0;
    return create_owner_policy(ctx, err, errlen);
}

/* ---- TLS material ------------------------------------------------------- */

static int ensure_tls(dpsd_ctx *ctx, const dpsd_config *cfg, dpsd_instance_tls *tls,
                      char *err, size_t errlen)
{
    memset(tls, 0, sizeof *tls);
    if (cfg->tls_cert[0] != '\0') {
        if (snprintf(tls->cert, sizeof tls->cert, "%s", cfg->tls_cert) >=
                (int)sizeof tls->cert ||
            snprintf(tls->key, sizeof tls->key, "%s", cfg->tls_key) >= (int)sizeof tls->key) {
            dps_set_err(err, errlen, "tls_cert or tls_key path too long");
            return -1;
        }
        ctx->ca_cert_path[0] = '\0';
        return 0;
    }

    /* Every name a client may use to reach us goes into the server
     * certificate: service and device host names (without ports) and any
     * specific listen address. */
    enum { MAX_NAMES = 2 * DPS_CONF_MAX_LIST + 1 };
    char hosts[MAX_NAMES][DPS_HOST_NAME_MAX + 1];
    const char *names[MAX_NAMES];
    size_t n = 0;
    size_t nh = 0;
    int port;
    for (size_t i = 0; i < cfg->host_name.count && nh < MAX_NAMES; i++) {
        if (dps_split_host_port(cfg->host_name.items[i], hosts[nh], sizeof hosts[nh], &port) ==
            0)
            dps_pki_daemon_add_name(names, &n, MAX_NAMES, hosts[nh++]);
    }
    if (nh < MAX_NAMES &&
        dps_split_host_port(cfg->device_host_name, hosts[nh], sizeof hosts[nh], &port) == 0)
        dps_pki_daemon_add_name(names, &n, MAX_NAMES, hosts[nh++]);
    for (size_t i = 0; i < cfg->nlisten; i++)
        if (!dps_listen_addr_is_wildcard(cfg->listen_addrs[i].host))
            dps_pki_daemon_add_name(names, &n, MAX_NAMES, cfg->listen_addrs[i].host);

    dps_pki_paths paths;
    if (dps_pki_daemon_local_ca(cfg->data_dir, DPSD_LOCAL_CA_NAME, names, n, &paths, err,
                                errlen) != 0)
        return -1;
    memcpy(tls->cert, paths.server_cert, sizeof tls->cert);
    memcpy(tls->key, paths.server_key, sizeof tls->key);
    tls->cert[sizeof tls->cert - 1] = '\0';
    tls->key[sizeof tls->key - 1] = '\0';
    snprintf(ctx->ca_cert_path, sizeof ctx->ca_cert_path, "%s", paths.ca_cert);
    tls->generated = true;
    return 0;
}

/* ---- public ------------------------------------------------------------- */

int dpsd_instance_open(dpsd_ctx *ctx, const dpsd_config *cfg, dpsd_instance_tls *tls,
                       char *err, size_t errlen)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->config = cfg;
    if (dps_daemon_make_dirs(cfg->data_dir, 0700, err, errlen) != 0)
        return -1;

    ctx->store = dps_store_open_shown(cfg->store, err, errlen);
    if (ctx->store == NULL)
        return -1;
    if (ensure_id_scope(ctx, err, errlen) != 0 ||
        ensure_allocation_policy(ctx, err, errlen) != 0 ||
        ensure_owner_policy(ctx, err, errlen) != 0 || ensure_tls(ctx, cfg, tls, err, errlen) != 0) {
        dps_store_close(&ctx->store);
        return -1;
    }
    return 0;
}

/* "host" or "host:port" from a host_name value; 443 is left out because
 * that is what clients assume without a port. */
static int endpoint_host(const char *name, uint16_t bound_port, char *out, size_t outlen)
{
    char host[DPS_HOST_NAME_MAX + 1];
    int port;
    if (dps_split_host_port(name, host, sizeof host, &port) != 0)
        return -1;
    if (port < 0)
        port = bound_port;
    int n = port == 443 ? snprintf(out, outlen, "%s", host)
                        : snprintf(out, outlen, "%s:%d", host, port);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int dpsd_instance_set_endpoints(dpsd_ctx *ctx, uint16_t bound_port, const char *https_url,
                                char *err, size_t errlen)
{
    const dpsd_config *cfg = ctx->config;
    if (endpoint_host(cfg->host_name.items[0], bound_port, ctx->service_host,
                      sizeof ctx->service_host) != 0 ||
        endpoint_host(cfg->device_host_name, bound_port, ctx->device_host,
                      sizeof ctx->device_host) != 0) {
        dps_set_err(err, errlen, "invalid host_name or device_host_name");
        return -1;
    }
    if (snprintf(ctx->https_url, sizeof ctx->https_url, "%s", https_url) >=
        (int)sizeof ctx->https_url) {
        dps_set_err(err, errlen, "listener URL too long");
        return -1;
    }
    return 0;
}

char *dpsd_instance_connection_string(dpsd_ctx *ctx)
{
    dps_record rec = {0};
    if (dps_store_get(ctx->store, DPS_COLL_ACCESS_POLICY, DPS_OWNER_POLICY, &rec) !=
        DPS_STORE_OK)
        return NULL;
    char *out = NULL;
    json_error_t jerr;
    json_t *doc = json_loads(rec.doc, 0, &jerr);
    const char *key = json_string_value(json_object_get(doc, "primaryKey"));
    if (key != NULL) {
        size_t n = strlen("HostName=;SharedAccessKeyName=;SharedAccessKey=") +
                   strlen(ctx->service_host) + strlen(DPS_OWNER_POLICY) + strlen(key) + 1;
        out = malloc(n);
        if (out != NULL)
            snprintf(out, n, "HostName=%s;SharedAccessKeyName=%s;SharedAccessKey=%s",
                     ctx->service_host, DPS_OWNER_POLICY, key);
    }
    json_decref(doc);
    if (rec.doc != NULL)
        dps_wipe(rec.doc, strlen(rec.doc));
    dps_record_free(&rec);
    return out;
}

void dpsd_instance_close(dpsd_ctx *ctx)
{
    if (ctx->store != NULL)
        dps_store_close(&ctx->store);
}
