/* Internal identifier rules that are not part of the public API. */
#ifndef DPS_DEVICE_CORE_IDS_H
#define DPS_DEVICE_CORE_IDS_H

#include <stdbool.h>
#include <stddef.h>

/* A $rid we generate: 1..DPS_MAX_RID characters from [A-Za-z0-9.-]. */
bool dps__rid_valid(const char *rid);
/* A $rid we echo back to a hub: printable ASCII without & # + / or space. */
bool dps__echo_rid_valid(const char *rid);
/* A query value such as an api-version: 1..max printable ASCII characters
 * without space, '/', '?', '#', '&', '%'. */
bool dps__token_valid(const char *s, size_t max);

#endif
