/* The hubd instance: what must exist before the first request and survive
 * every restart. On start it creates the data directory, opens the store,
 * makes sure every configured hub exists with its default access policies,
 * and (unless certificates are configured) that the local CA and a server
 * certificate naming every hosted hub exist; then it fills the hubd_ctx the
 * handlers read and creates the in-memory telemetry logs. Creating happens
 * once; a restart finds and reuses everything (hubs added at run time
 * included). */
#ifndef HUBD_INSTANCE_H
#define HUBD_INSTANCE_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "hubd.h"

#define HUBD_LOCAL_CA_NAME "opendps hubd local CA"
#define HUBD_OWNER_POLICY "iothubowner"

/* The certificate and key the listeners present. */
typedef struct {
    char cert[512];
    char key[512];
    bool generated; /* true: the local CA in <data_dir>/pki issued them */
} hubd_instance_tls;

/* Creates data_dir (0700), opens the store, ensures the configured hubs and
 * the TLS material, creates ctx->telemetry. Fills ctx->config, ctx->store,
 * ctx->telemetry and ctx->ca_cert_path; ctx->base and the rest stay for the
 * caller. Returns 0, or -1 with the reason in err (everything opened is
 * closed again then). */
int hubd_instance_open(hubd_ctx *ctx, const hubd_config *cfg, hubd_instance_tls *tls,
                       char *err, size_t errlen);

/* Adds a hub while running: creates it (hubd_hub_ensure; idempotent) and,
 * with generated certificates, reissues the server certificate so it names
 * the new hub and loads it into each of the nlive TLS contexts the listeners
 * use (connections already open keep their certificate). With configured
 * certificates nothing is reissued and a warning says the new name must be
 * in them. *created tells whether the hub is new. Returns 0, or -1 with the
 * reason in err. */
int hubd_instance_add_hub(hubd_ctx *ctx, const char *host, SSL_CTX *const *live,
                          size_t nlive, bool *created, char *err, size_t errlen);

/* Frees the telemetry logs and closes the store. */
void hubd_instance_close(hubd_ctx *ctx);

#endif
