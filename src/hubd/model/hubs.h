/* The hubs one hubd hosts, each known by its host name (hub1.opendps.local).
 * Stored in DPS_COLL_HUB under the lower-case host name, document
 * {"hostName": "<as configured, lower-case>", "createdTime": "<iso>"}; each hub
 * owns the five default access policies of hub_policies.h.
 *
 * hubd_hub_exists is declared in registry.h (the MQTT side uses it). */
#ifndef HUBD_MODEL_HUBS_H
#define HUBD_MODEL_HUBS_H

#include <stdbool.h>
#include <stddef.h>

#include "hubd.h"

#define HUBD_HUB_NAME_MAX 253 /* a DNS name */
#define HUBD_HUB_NAME_SIZE 256
#define HUBD_MAX_HUBS 64 /* hubs one process hosts */

/* Lower-cases a hub host name into out when it is a valid DNS name (letters,
 * digits, '-', '.'; 1..253 characters; no port). False otherwise. */
bool hubd_hub_canon(const char *hub, char out[HUBD_HUB_NAME_SIZE]);

/* Creates the hub record and any of its default policies that are missing
 * (random 32-byte keys). Idempotent: existing records and keys are kept.
 * Returns 0, or -1 with the reason in err. */
int hubd_hub_ensure(hubd_ctx *ctx, const char *hub_host, char *err, size_t errlen);

/* "HostName=<hub>;SharedAccessKeyName=<policy>;SharedAccessKey=<primary>" in a
 * new string (free with dps_free_secret_string: it holds a key), or NULL when
 * the hub or policy does not exist. */
char *hubd_hub_connection_string(hubd_ctx *ctx, const char *hub, const char *policy);

/* The hosted hubs' canonical names in key order (at most HUBD_MAX_HUBS).
 * Returns 0 and sets *names / *n (free with hubd_hub_list_free), or -1. */
int hubd_hub_list(hubd_ctx *ctx, char ***names, size_t *n);
void hubd_hub_list_free(char **names, size_t n);

#endif
