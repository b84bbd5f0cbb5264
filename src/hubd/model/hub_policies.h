/* Hub access policies and their rights (hub.md §3.1). Stored per hub in
 * DPS_COLL_HUB_POLICY, key "<hub>/<policy name lower-case>", group "<hub>",
 * document:
 *   {"keyName": "registryReadWrite", "primaryKey": "<b64>",
 *    "secondaryKey": "<b64>", "rights": "RegistryRead, RegistryWrite"} */
#ifndef HUBD_MODEL_HUB_POLICIES_H
#define HUBD_MODEL_HUB_POLICIES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/sas.h"
#include "hubd.h"
#include "model/registry.h"

typedef enum {
    HUBD_RIGHT_REGISTRY_READ = 1u << 0,
    HUBD_RIGHT_REGISTRY_WRITE = 1u << 1,
    HUBD_RIGHT_SERVICE_CONNECT = 1u << 2,
    HUBD_RIGHT_DEVICE_CONNECT = 1u << 3,
} hubd_right;

#define HUBD_RIGHTS_ALL 0xFu
#define HUBD_POLICY_NAME_MAX 64
#define HUBD_POLICY_KEY_BYTES 32 /* random bytes of a generated policy key */

/* "RegistryRead, ServiceConnect" (names without regard to case, ',' with
 * optional blanks) into a mask; -1 on an unknown name or an empty list. */
int hubd_rights_parse(const char *text, unsigned *mask);
/* Canonical text of a mask in a new string (caller frees), NULL without memory. */
char *hubd_rights_format(unsigned mask);

/* The default policy set: name and rights, NULL-terminated by count. */
typedef struct {
    const char *name;
    unsigned rights;
} hubd_policy_default;
extern const hubd_policy_default hubd_policy_defaults[];
extern const size_t hubd_policy_ndefaults;

/* Creates the default policies of a canonical hub that are missing. 0 or -1
 * (reason via hubd_last_error). */
int hubd_policies_ensure(hubd_ctx *ctx, const char *hub);

/* Loads policy `name` of a canonical hub. HUBD_NOT_FOUND for an unknown or
 * unusable name, HUBD_ERROR for a store failure or corrupt record. */
hubd_result hubd_policy_load(hubd_ctx *ctx, const char *hub, const char *name, json_t **out);

/* The rights a loaded policy holds (0 when its rights text is unreadable). */
unsigned hubd_policy_rights(const json_t *policy);

/* True when the token was signed with the policy's primary or secondary key
 * (constant time). */
bool hubd_policy_signed(const json_t *policy, const dps_sas_token *t);

#endif
