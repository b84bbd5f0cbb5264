/* dpsd's allocation set-up (allocation.h). */
#include "allocation.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"

int dpsd_allocation_open(dpsd_allocation *a, const dpsd_config *cfg, struct event_base *base,
                         char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    if (cfg->geo_file[0] != '\0') {
        a->geo = dps_geo_load_file(cfg->geo_file, err, errlen);
        if (a->geo == NULL)
            return -1;
        log_info("geoLatency model loaded from %s", cfg->geo_file);
    }
    dps_webhook_client_options wo = {.base = base,
                                     .ca_file = cfg->webhook_ca_file,
                                     .timeout_s = (int)cfg->webhook_timeout};
    a->webhook = dps_webhook_client_new(&wo, err, errlen);
    return a->webhook != NULL ? 0 : -1;
}

void dpsd_allocation_apply(dpsd_allocation *a, dps_engine_options *eo)
{
    eo->webhook = a->webhook != NULL ? dps_webhook_client_caller(a->webhook)
                                     : (dps_webhook_caller){0};
    eo->geo = a->geo;
}

void dpsd_allocation_close(dpsd_allocation *a)
{
    dps_webhook_client_free(&a->webhook);
    dps_geo_free(&a->geo);
}

int dpsd_allocation_check(const dpsd_config *cfg, char *err, size_t errlen)
{
    if (cfg->geo_file[0] == '\0')
        return 0;
    dps_geo_model *m = dps_geo_load_file(cfg->geo_file, err, errlen);
    int rc = m != NULL ? 0 : -1;
    dps_geo_free(&m);
    return rc;
}
