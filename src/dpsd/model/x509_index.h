/* The X.509 lookup index (DPS_COLL_X509_INDEX): how attestation finds the
 * enrollment groups and CA certificates that may have issued a certificate
 * in a device's chain without reading every group.
 *
 * One row per place that names an issuer:
 *   key "s/<group key>/<slot>"  grp "n:<subject name>"   a group's signing certificate
 *   key "r/<group key>/<slot>"  grp "ca:<CA name>"        a group's caReferences entry
 *   key "c/<CA key>"            grp "n:<subject name>"   an uploaded CA certificate
 * Names are the info block's text form (dps_x509_name_text), values lower
 * case (ASCII folding, as SQLite's lower() in the migration step that
 * indexes groups stored before the index existed). The index only narrows
 * the search: every hit is re-read from its own collection and its
 * certificate checked, so a stale row costs one read, never a wrong
 * answer. A missing row does hide a group: the writers below are called on
 * every write and delete of a group or CA certificate. */
#ifndef DPSD_MODEL_X509_INDEX_H
#define DPSD_MODEL_X509_INDEX_H

#include <jansson.h>
#include <openssl/x509.h>
#include <stddef.h>

#include "store/store.h"

/* Longest index value kept; a longer subject name is not indexed (logged). */
#define DPS_X509_INDEX_VALUE_MAX 1024
/* Hits read per lookup: more groups or CAs sharing one subject name than
 * this is a configuration nobody needs. */
#define DPS_X509_INDEX_MAX_HITS 32

typedef enum {
    DPS_X509_HIT_SIGNING = 's', /* a group's signing certificate */
    DPS_X509_HIT_CAREF = 'r',   /* a group naming a CA */
    DPS_X509_HIT_CA = 'c',      /* a CA certificate */
} dps_x509_hit_kind;

typedef struct {
    dps_x509_hit_kind kind;
    char id[260];  /* group key or CA key (lower case) */
    char slot[16]; /* "primary" / "secondary"; empty for CA rows */
} dps_x509_hit;

/* Index value of a name: "n:" + lower-case text. -1 when it does not fit
 * or cannot be printed. */
int dps_x509_index_name_value(const X509_NAME *name, char *out, size_t outlen);

/* Brings the rows of one group in line with its stored document (doc NULL:
 * the group was deleted). Returns 0, or -1 on a store failure (logged). */
int dps_x509_index_group(dps_store *s, const char *group_key, const json_t *doc);

/* Same for one CA certificate; subject NULL when it was deleted. */
int dps_x509_index_ca(dps_store *s, const char *ca_key, const char *subject);

/* Rows whose value is value, in key order, at most max. */
dps_store_result dps_x509_index_lookup(dps_store *s, const char *value, dps_x509_hit *hits,
                                       size_t max, size_t *n);

#endif
