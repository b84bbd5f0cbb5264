/* Address text and deadline arithmetic for the I/O layer. */
#include "device/io/addr.h"

#include <arpa/inet.h>
#include <assert.h>
#include <string.h>

#include "common/strparse.h"

dps_result dps__split_hostport(const char *s, uint16_t default_port, char *host,
                               size_t host_cap, uint16_t *port)
{
    assert(s != NULL && host != NULL && port != NULL);
    const char *h = s, *h_end = NULL, *p = NULL;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL)
            return DPS_E_INVALID;
        h = s + 1;
        h_end = close;
        if (close[1] == ':')
            p = close + 2;
        else if (close[1] != '\0')
            return DPS_E_INVALID;
    } else {
        const char *colon = strchr(s, ':');
        /* A second colon means a bare IPv6 literal: no port in it. */
        if (colon != NULL && strchr(colon + 1, ':') == NULL) {
            h_end = colon;
            p = colon + 1;
        } else {
            h_end = s + strlen(s);
        }
    }
    size_t hl = (size_t)(h_end - h);
    if (hl == 0 || hl >= host_cap)
        return DPS_E_INVALID;
    int64_t v = default_port;
    if (p != NULL && dps_parse_int64(p, strlen(p), 1, 65535, &v) != 0)
        return DPS_E_INVALID;
    if (v < 1 || v > 65535)
        return DPS_E_INVALID;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (uint16_t)v;
    return DPS_OK;
}

bool dps__is_ip_literal(const char *host)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

int64_t dps__deadline_in(uint32_t ms)
{
    return dps_monotonic_ms() + (int64_t)ms;
}
