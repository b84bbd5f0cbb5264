/* Linked IoT hubs: the hub connection string and the stored hub document
 * (DPS_COLL_LINKED_HUB, key = lower-case host name), shared by the admin API
 * that writes them and the allocation / hub-client code that reads them.
 *
 * Stored document (docs/admin-api.md):
 *   {"name": "hub1.example.net",
 *    "connectionString": "HostName=..;SharedAccessKeyName=..;SharedAccessKey=..",
 *    "registryUrl": "https://127.0.0.1:8444",
 *    "allocationWeight": 1..1000 | null, "applyAllocationPolicy": bool | null,
 *    "location": "label" | null, "etag": "..", "createdDateTimeUtc": "..",
 *    "migrationConnectionString": "HostName=..;SharedAccessKeyName=..;.." | absent}
 * The stored connection string holds the real key; API responses mask it. */
#ifndef DPSD_MODEL_LINKED_HUB_H
#define DPSD_MODEL_LINKED_HUB_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define DPS_HUB_CONNSTR_MAX 1024   /* whole connection string, characters */
#define DPS_HUB_NAME_MAX 255       /* host name, with an optional ":port" */
#define DPS_HUB_KEY_NAME_MAX 64    /* SharedAccessKeyName */
#define DPS_HUB_KEY_MAX_BYTES 256  /* decoded SharedAccessKey */
#define DPS_HUB_URL_MAX 512        /* registryUrl */
#define DPS_HUB_LOCATION_MAX 128
#define DPS_HUB_WEIGHT_MIN 1
#define DPS_HUB_WEIGHT_MAX 1000
#define DPS_HUB_KEY_MASK "****"    /* what responses show instead of the key */

typedef struct {
    char *host_name; /* HostName, as written */
    char *key_name;  /* SharedAccessKeyName */
    char *key;       /* SharedAccessKey (base64), or DPS_HUB_KEY_MASK when masked */
    bool key_masked; /* the key was the mask (only with DPS_CONNSTR_ALLOW_MASKED) */
} dps_hub_connstr;

/* Accept "SharedAccessKey=****" (a masked string read back from the API);
 * the caller then substitutes the stored key. */
#define DPS_CONNSTR_ALLOW_MASKED 0x1u

/* Parses "HostName=..;SharedAccessKeyName=..;SharedAccessKey=.." (fields in
 * any order, names compared without regard to case, a value may contain '=',
 * empty segments and blanks around names and values ignored). All three
 * fields are required exactly once, no other field is allowed, the host name
 * must pass dps_hub_name_valid and the key must be valid base64. Returns 0 and
 * fills *out (free with dps_hub_connstr_free), or -1 with a reason in err. */
int dps_hub_connstr_parse(const char *text, unsigned flags, dps_hub_connstr *out,
                          char *err, size_t errlen);
/* Wipes the key and frees the fields; safe on a zeroed struct. */
void dps_hub_connstr_free(dps_hub_connstr *c);
/* Canonical text "HostName=..;SharedAccessKeyName=..;SharedAccessKey=..",
 * with the key replaced by DPS_HUB_KEY_MASK when mask_key. Caller frees (with
 * dps_free_secret_string when unmasked); NULL without memory. */
char *dps_hub_connstr_format(const dps_hub_connstr *c, bool mask_key);
/* The masked form of a stored connection string; NULL when it does not parse. */
char *dps_hub_connstr_mask(const char *text);

/* Host name syntax: 1..255 characters of letters, digits, '-' and '.', no
 * empty label, optionally followed by ":port" (1..65535). */
bool dps_hub_name_valid(const char *name);
/* "http://" or "https://" (any case), a non-empty authority, no blanks or
 * control characters, at most DPS_HUB_URL_MAX characters. */
bool dps_hub_registry_url_valid(const char *url);

/* A stored hub document, decoded with the defaults applied. */
typedef struct {
    char *name;
    dps_hub_connstr conn;      /* with the real key */
    char *registry_url;        /* "https://<name>" when the document has none */
    int weight;                /* 1 when never set */
    bool apply_allocation_policy; /* true when never set */
    char *location;            /* NULL when never set */
    /* hubd's migration credential (hub.md §9.4): lets dpsd carry reported
     * properties when a device moves (reprovisioning). HostName is the
     * hubd's, not the hub's. has_migration false: none was linked. */
    dps_hub_connstr migration;
    bool has_migration;
} dps_linked_hub;

/* Decodes a stored document; -1 with a reason in err when it is malformed. */
int dps_linked_hub_from_json(const json_t *doc, dps_linked_hub *out, char *err,
                             size_t errlen);
void dps_linked_hub_free(dps_linked_hub *h);

#endif
