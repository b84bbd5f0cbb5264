/* Listen address and host name parsing (see listen_addr.h). */
#include "net/listen_addr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/strparse.h"

/* Letters, digits, '.' and '-': what DNS names and IPv4 literals use. A
 * name goes into certificates, SAS audiences and connection strings, so
 * anything else (spaces, ';', '=') would corrupt those. */
static bool host_chars_ok(const char *host)
{
    for (const char *p = host; *p != '\0'; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-')
            return false;
    return true;
}

int dps_listen_addr_parse(const char *text, dps_listen_addr *out, char *err, size_t errlen)
{
    const char *host = text;
    size_t hostlen;
    const char *portp;
    bool bracketed = text[0] == '[';

    if (bracketed) {
        const char *close = strchr(text, ']');
        if (close == NULL || close[1] != ':') {
            snprintf(err, errlen, "'%s': expected [ipv6]:port", text);
            return -1;
        }
        host = text + 1;
        hostlen = (size_t)(close - host);
        portp = close + 2;
    } else {
        const char *colon = strrchr(text, ':');
        if (colon == NULL) {
            snprintf(err, errlen, "'%s': expected host:port", text);
            return -1;
        }
        hostlen = (size_t)(colon - text);
        if (memchr(text, ':', hostlen) != NULL) {
            snprintf(err, errlen, "'%s': write an IPv6 address in brackets, e.g. [::1]:8443",
                     text);
            return -1;
        }
        portp = colon + 1;
    }
    char hostbuf[sizeof out->host];
    if (hostlen == 0 || hostlen >= sizeof hostbuf) {
        snprintf(err, errlen, "'%s': missing or overlong host", text);
        return -1;
    }
    memcpy(hostbuf, host, hostlen);
    hostbuf[hostlen] = '\0';
    if (bracketed) {
        struct in6_addr a6;
        if (inet_pton(AF_INET6, hostbuf, &a6) != 1) {
            snprintf(err, errlen, "'%s': not an IPv6 address in brackets", text);
            return -1;
        }
    } else if (!host_chars_ok(hostbuf)) {
        snprintf(err, errlen, "'%s': invalid character in host", text);
        return -1;
    }
    /* dps_parse_int64 takes a sign; a port never has one ("-0", "+1"). */
    int64_t port;
    if (dps_parse_int64(portp, strlen(portp), 0, 65535, &port) != 0 || portp[0] == '-') {
        snprintf(err, errlen, "'%s': port must be a number from 0 to 65535", text);
        return -1;
    }
    if (out != NULL) {
        memcpy(out->host, hostbuf, hostlen + 1);
        out->port = (uint16_t)port;
    }
    return 0;
}

void dps_listen_addr_format(const dps_listen_addr *a, char *out, size_t outlen)
{
    /* Only an IPv6 literal holds a ':'; it needs brackets before a port. */
    bool v6 = strchr(a->host, ':') != NULL;
    snprintf(out, outlen, "%s%s%s:%u", v6 ? "[" : "", a->host, v6 ? "]" : "",
             (unsigned)a->port);
}

int dps_split_host_port(const char *text, char *host, size_t hostlen, int *port)
{
    const char *colon = strchr(text, ':');
    size_t n = colon != NULL ? (size_t)(colon - text) : strlen(text);
    if (n == 0 || n >= hostlen)
        return -1;
    memcpy(host, text, n);
    host[n] = '\0';
    *port = -1;
    if (colon != NULL) {
        int64_t p;
        if (dps_parse_int64(colon + 1, strlen(colon + 1), 1, 65535, &p) != 0 ||
            colon[1] == '-')
            return -1;
        *port = (int)p;
    }
    return 0;
}

int dps_host_port_check(const char *value, char *err, size_t errlen)
{
    char host[DPS_HOST_NAME_MAX + 1];
    int port;
    if (dps_split_host_port(value, host, sizeof host, &port) != 0) {
        snprintf(err, errlen, "'%s': expected a host name, optionally with :port (1-65535)",
                 value);
        return -1;
    }
    if (!host_chars_ok(host)) {
        snprintf(err, errlen, "'%s': a host name has only letters, digits, '-' and '.'",
                 value);
        return -1;
    }
    return 0;
}

int dps_listen_addr_parse_list(const char *name, char *const *items, size_t count,
                               dps_listen_addr *out, size_t *n, char *err, size_t errlen)
{
    *n = 0;
    if (count == 0) {
        snprintf(err, errlen, "%s: at least one address is needed", name);
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        char reason[300];
        if (dps_listen_addr_parse(items[i], &out[i], reason, sizeof reason) != 0) {
            snprintf(err, errlen, "%s: %s", name, reason);
            return -1;
        }
        *n = i + 1;
    }
    return 0;
}

const dps_listen_addr *dps_listen_addr_clash(const dps_listen_addr *a, size_t na,
                                             const dps_listen_addr *b, size_t nb)
{
    for (size_t i = 0; i < na; i++)
        for (size_t k = 0; k < nb; k++)
            if (a[i].port != 0 && a[i].port == b[k].port && strcmp(a[i].host, b[k].host) == 0)
                return &a[i];
    return NULL;
}

bool dps_listen_addr_is_wildcard(const char *host)
{
    return strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
}
