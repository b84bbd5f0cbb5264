/* The state every dpsd request handler can reach. One per process, filled by
 * main() at start-up (instance.c) before the first request. */
#ifndef DPSD_DPSD_H
#define DPSD_DPSD_H

#include "store/store.h"

typedef struct dpsd_config dpsd_config; /* config.h */
struct dps_engine;                      /* engine/registration.h */

typedef struct {
    const dpsd_config *config;
    dps_store *store;
    char id_scope[16];          /* "0ne" + 8 upper-case hex digits */
    char service_host[300];     /* host[:port] clients put in HostName= and sign as sr */
    char device_host[300];      /* host[:port] devices use as provisioning host */
    char https_url[320];        /* e.g. "https://127.0.0.1:8443": first HTTPS listener */
    char ca_cert_path[512];     /* CA certificate clients should trust ("" if configured certs) */
    struct dps_engine *engine;  /* the registration engine behind the device API; NULL until
                                   main starts it (the device API then answers 500) */
} dpsd_ctx;

#endif
