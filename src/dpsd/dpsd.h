/* The state every dpsd request handler can reach. One per process. */
#ifndef DPSD_DPSD_H
#define DPSD_DPSD_H

#include "store/store.h"

typedef struct dpsd_config dpsd_config;

typedef struct {
    const dpsd_config *config;
    dps_store *store;
    char id_scope[16];         /* "0ne" + 8 hex digits, from the store */
    const char *service_host;  /* the host name in connection strings */
} dpsd_ctx;

#endif
