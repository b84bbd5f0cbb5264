/* The provisioning service instance: what must exist before the first
 * request and survive every restart. On start it opens the store and makes
 * sure of the ID scope, the default allocation policy, the owner access
 * policy and (unless certificates are configured) the local CA; then it
 * fills the dpsd_ctx every handler reads. Creating happens once; a restart
 * finds and reuses everything. */
#ifndef DPSD_INSTANCE_H
#define DPSD_INSTANCE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "dpsd.h"

#define DPSD_META_ID_SCOPE "id_scope"
#define DPSD_META_ALLOCATION_POLICY "allocation_policy"
#define DPSD_DEFAULT_ALLOCATION_POLICY "hashed"
#define DPSD_LOCAL_CA_NAME "opendps local CA"

/* The certificate and key the HTTPS listeners present. */
typedef struct {
    char cert[512];
    char key[512];
    bool generated; /* true: the local CA in <data_dir>/pki issued them */
} dpsd_instance_tls;

/* Creates data_dir, opens the store, ensures the instance settings and the
 * TLS material. Fills ctx->config, ctx->store, ctx->id_scope and
 * ctx->ca_cert_path. Returns 0, or -1 with the reason in err (the store is
 * closed again then). */
int dpsd_instance_open(dpsd_ctx *ctx, const dpsd_config *cfg, dpsd_instance_tls *tls,
                       char *err, size_t errlen);

/* Once the listeners are bound: fills ctx->service_host and
 * ctx->device_host ("name:port", the port left out when it is 443; a
 * host_name with its own ":port" keeps it) and ctx->https_url. */
int dpsd_instance_set_endpoints(dpsd_ctx *ctx, uint16_t bound_port, const char *https_url,
                                char *err, size_t errlen);

/* "HostName=<service host>;SharedAccessKeyName=provisioningserviceowner;
 * SharedAccessKey=<primary key>" in a new string (a secret: the caller
 * wipes it with dps_free_secret_string). NULL when the owner policy no
 * longer exists or cannot be read. */
char *dpsd_instance_connection_string(dpsd_ctx *ctx);

/* Closes the store. */
void dpsd_instance_close(dpsd_ctx *ctx);

#endif
