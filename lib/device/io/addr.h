/* Internal: "host[:port]" and "[v6][:port]" address text, and deadlines on
 * the monotonic clock of common/timeutil.h. lib/net has a similar splitter,
 * but that library brings libevent, which a device build must not need. */
#ifndef DPS_DEVICE_IO_ADDR_H
#define DPS_DEVICE_IO_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/timeutil.h"
#include "dps/result.h"

/* Splits s into host (brackets of an IPv6 literal removed) and port; a
 * missing port gives default_port. DPS_E_INVALID for an empty host, a bad or
 * zero port, an unclosed bracket, or a host over host_cap - 1 bytes. */
DPS_NODISCARD dps_result dps__split_hostport(const char *s, uint16_t default_port, char *host,
                                             size_t host_cap, uint16_t *port);

/* True for an IPv4 or IPv6 literal (no SNI for those, RFC 6066 §3). */
bool dps__is_ip_literal(const char *host);

/* dps_monotonic_ms() + ms. */
int64_t dps__deadline_in(uint32_t ms);

#endif
