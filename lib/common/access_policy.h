/* What dpsd's service access policies and hubd's hub access policies have
 * in common: a rights string ("RegistryRead, RegistryWrite") read and
 * written through a table of names, a SAS token checked against the
 * policy's two keys, and fresh keys. The rights vocabulary and where the
 * policies are stored stay with each daemon.
 *
 * A policy is the JSON document both daemons store:
 *   {"keyName": "...", "primaryKey": "<b64>", "secondaryKey": "<b64>",
 *    "rights": "Name, Name"} */
#ifndef DPS_COMMON_ACCESS_POLICY_H
#define DPS_COMMON_ACCESS_POLICY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/sas.h"

typedef struct {
    const char *name; /* as formatted; compared without regard to case */
    unsigned bit;
} dps_right_name;

/* Parses "Name1, Name2" (names of table compared without regard to case,
 * separated by ',' with optional blanks) into a mask; -1 for NULL, an
 * empty list or entry, or a name not in the table. */
int dps_rights_table_parse(const dps_right_name *table, size_t n, const char *text,
                           unsigned *mask);

/* The canonical text of mask: the table's names of its bits, in table
 * order, joined by ", ". A new string (caller frees), NULL without memory. */
char *dps_rights_table_format(const dps_right_name *table, size_t n, unsigned mask);

/* True when t was signed with the policy's primary or secondary key. Both
 * are always tried, so the time taken does not tell which one matched. */
bool dps_access_policy_signed(const json_t *policy, const dps_sas_token *t);

/* A fresh random key of nbytes bytes, base64: a new string to free with
 * dps_free_secret_string, or NULL. */
char *dps_access_policy_new_key(size_t nbytes);

/* True when b64 is strict base64 of min_bytes..max_bytes bytes, the rule
 * for a key a caller supplies (policy and device keys alike). */
bool dps_access_policy_key_valid(const char *b64, size_t min_bytes, size_t max_bytes);

#endif
