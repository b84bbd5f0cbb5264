/* The keep-alive rule (MQTT 3.1.1 section 3.1.2.10): a client that sends
 * nothing for one and a half times its announced keep-alive is gone. The
 * ceiling keeps a huge announced value from pinning a dead connection
 * (hub.md 8.1 caps it at 1767 s). Pure, so it is tested on numbers. */
#include "mqttsrv/mqtt_server.h"

int64_t dps_mqttsrv_keepalive_timeout_ms(uint16_t keep_alive_s, int cap_s)
{
    if (keep_alive_s == 0)
        return 0;
    int64_t ms = (int64_t)keep_alive_s * 1500;
    int64_t cap = (int64_t)(cap_s > 0 ? cap_s : DPS_MQTTSRV_DEFAULT_KEEPALIVE_CAP_S) * 1000;
    return ms < cap ? ms : cap;
}
