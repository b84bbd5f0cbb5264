/* Listen addresses and host[:port] names as operators write them in a
 * config file or on the command line. Shared by every daemon so "listen"
 * and "host_name" options mean the same thing everywhere. */
#ifndef DPS_NET_LISTEN_ADDR_H
#define DPS_NET_LISTEN_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DPS_HOST_NAME_MAX 253 /* a DNS name, without any ":port" */

/* One parsed listen address: host without brackets (an IPv6 literal is
 * written "[::1]:8443" but stored as "::1"), port 0 = pick a free port. */
typedef struct {
    char host[256];
    uint16_t port;
} dps_listen_addr;

/* Parses "host:port" or "[v6]:port", port 0..65535. The host is a name or
 * an IPv4 literal (letters, digits, '.', '-') or, in brackets, an IPv6
 * literal. out may be NULL to only validate. Returns 0, or -1 with the
 * reason (naming the text) in err. */
int dps_listen_addr_parse(const char *text, dps_listen_addr *out, char *err, size_t errlen);

/* Parses the count entries of a listen option called name into out (room
 * for count) and sets *n to the number parsed. An empty list or a bad entry
 * is -1 with "NAME: reason" in err. */
int dps_listen_addr_parse_list(const char *name, char *const *items, size_t count,
                               dps_listen_addr *out, size_t *n, char *err, size_t errlen);

/* The first address of a that asks for the same fixed port on the same host
 * as one of b (two listeners that could not both bind), or NULL. Port 0
 * never clashes: each gets a free port. */
const dps_listen_addr *dps_listen_addr_clash(const dps_listen_addr *a, size_t na,
                                             const dps_listen_addr *b, size_t nb);

/* True for "0.0.0.0" and "::", the any-address hosts: no client reaches a
 * daemon by that name, so it goes into no certificate or connection string. */
bool dps_listen_addr_is_wildcard(const char *host);

/* "127.0.0.1:8443" / "[::1]:8443" into out (always NUL-terminated). */
void dps_listen_addr_format(const dps_listen_addr *a, char *out, size_t outlen);

/* Splits "name[:port]" (a host name as clients write it) into its parts;
 * *port is -1 when there is none, else 1..65535. Returns -1 for an empty or
 * too long name or a bad port. */
int dps_split_host_port(const char *text, char *host, size_t hostlen, int *port);

/* Checks a "name[:port]" value for a host name option: a DNS name or IPv4
 * literal (letters, digits, '-', '.') of at most DPS_HOST_NAME_MAX bytes,
 * optionally with a port 1..65535. Returns 0, or -1 with the reason. */
int dps_host_port_check(const char *value, char *err, size_t errlen);

#endif
