/* The store: every piece of dpsd state that must survive a restart goes
 * through this interface, never to a database directly, so that SQLite (the
 * embedded default) and PostgreSQL (to scale out) are interchangeable.
 *
 * The model is a set of collections of JSON documents. Each record has a
 * normalised key (lower-case IDs: DPS IDs are case-insensitive), the document
 * text, an ETag for optimistic concurrency, and an optional group key (a
 * secondary index: the enrollment group of a registration record). Writes are
 * conditional in one statement, so of two concurrent writers of one record
 * exactly one wins. A successful write is durable when the call returns.
 *
 * Instance settings (ID scope, default allocation policy, ...) live in a small
 * key/value table ("meta"). */
#ifndef DPSD_STORE_H
#define DPSD_STORE_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    DPS_STORE_OK = 0,
    DPS_STORE_NOT_FOUND,     /* no such record */
    DPS_STORE_EXISTS,        /* create-only write found an existing record */
    DPS_STORE_ETAG_MISMATCH, /* conditional write or delete saw another ETag */
    DPS_STORE_ERROR,         /* database or I/O failure (logged by the store) */
} dps_store_result;

typedef enum {
    DPS_COLL_ENROLLMENT = 0,  /* individual enrollments, key = registration ID */
    DPS_COLL_ENROLLMENT_GROUP,/* enrollment groups, key = group ID */
    DPS_COLL_REGISTRATION,    /* registration records, group = enrollment group ID */
    DPS_COLL_LINKED_HUB,      /* linked IoT hubs, key = host name */
    DPS_COLL_ACCESS_POLICY,   /* service access policies, key = policy name */
    DPS_COLL_CA_CERTIFICATE,  /* CA certificates, key = certificate name */
    /* hubd's collections (a hubd store holds these, a dpsd store the ones above;
     * one schema serves both so the store stays one module). Keys of per-hub
     * records are "<lower-case hub host>/<id>" and their group is the hub. */
    DPS_COLL_HUB,             /* hubs hosted by this hubd, key = host name */
    DPS_COLL_HUB_POLICY,      /* hub access policies, key = hub/policy name */
    DPS_COLL_HUB_DEVICE,      /* device identity + twin, key = hub/deviceId
                                 (device IDs are case-sensitive: not lowered) */
    DPS_COLL_HUB_CA,          /* CA certificates a hub trusts, key = hub/name */
    /* dpsd: where X.509 attestation finds groups and CA certificates by the
     * issuer name a device's chain names (model/x509_index.h); maintained
     * with the groups and CA certificates it points to. */
    DPS_COLL_X509_INDEX,
    DPS_COLL_COUNT
} dps_collection;

typedef enum {
    DPS_PUT_CREATE,  /* only when absent; else DPS_STORE_EXISTS */
    DPS_PUT_UPSERT,  /* create or replace unconditionally */
    DPS_PUT_IF_ETAG, /* replace only when the stored ETag equals the given one;
                        DPS_STORE_NOT_FOUND when absent */
} dps_put_mode;

typedef struct {
    char *key;   /* normalised (lower-case) key */
    char *doc;   /* JSON document text */
    char *etag;  /* opaque ETag of this version */
    char *group; /* secondary key or NULL */
} dps_record;

/* The most records one dps_store_list call returns; a larger limit is
 * lowered to it (and `more` tells the caller to ask again). */
#define DPS_STORE_LIST_MAX 1000

typedef struct {
    dps_record *items;
    size_t count;
    bool more; /* true when records follow the last one returned */
} dps_record_list;

typedef struct dps_store dps_store;

/* A backend fills in this table; the functions below dispatch through it. */
typedef struct {
    const char *name;
    dps_store_result (*get)(dps_store *s, dps_collection c, const char *key, dps_record *out);
    dps_store_result (*put)(dps_store *s, dps_collection c, const dps_record *rec,
                            dps_put_mode mode, const char *expected_etag);
    dps_store_result (*del)(dps_store *s, dps_collection c, const char *key,
                            const char *expected_etag);
    dps_store_result (*list)(dps_store *s, dps_collection c, const char *group,
                             const char *after_key, size_t limit, dps_record_list *out);
    dps_store_result (*count)(dps_store *s, dps_collection c, size_t *out);
    dps_store_result (*meta_get)(dps_store *s, const char *name, char **value);
    dps_store_result (*meta_set)(dps_store *s, const char *name, const char *value);
    void (*close)(dps_store *s);
} dps_store_ops;

struct dps_store {
    const dps_store_ops *ops;
};

/* Opens the store named by url: "sqlite:PATH" or a bare file path (SQLite).
 * Creates the file and runs pending schema migrations. On failure returns
 * NULL and writes the reason into err. */
dps_store *dps_store_open(const char *url, char *err, size_t errlen);
/* dps_store_open as the daemons call it at start-up: on failure err reads
 * "cannot open store URL: reason" with any password in URL masked
 * (dps_daemon_store_display), since the line ends up in logs. */
dps_store *dps_store_open_shown(const char *url, char *err, size_t errlen);
/* Closes and frees the store; sets *s to NULL. */
void dps_store_close(dps_store **s);

/* Reads one record (free with dps_record_free). */
dps_store_result dps_store_get(dps_store *s, dps_collection c, const char *key,
                               dps_record *out);
/* Writes rec (key, doc, etag, group; the store copies what it needs).
 * expected_etag is used only with DPS_PUT_IF_ETAG. */
dps_store_result dps_store_put(dps_store *s, dps_collection c, const dps_record *rec,
                               dps_put_mode mode, const char *expected_etag);
/* Deletes one record; expected_etag NULL deletes whatever is there. */
dps_store_result dps_store_delete(dps_store *s, dps_collection c, const char *key,
                                  const char *expected_etag);
/* Up to limit records in key order, starting after after_key (NULL: from the
 * start), restricted to one group when group is not NULL. limit must be at
 * least 1 and is lowered to DPS_STORE_LIST_MAX. Free with dps_record_list_free. */
dps_store_result dps_store_list(dps_store *s, dps_collection c, const char *group,
                                const char *after_key, size_t limit, dps_record_list *out);
dps_store_result dps_store_count(dps_store *s, dps_collection c, size_t *out);
/* Instance settings; meta_get gives DPS_STORE_NOT_FOUND for an unset name. */
dps_store_result dps_store_meta_get(dps_store *s, const char *name, char **value);
dps_store_result dps_store_meta_set(dps_store *s, const char *name, const char *value);

void dps_record_free(dps_record *r);
void dps_record_list_free(dps_record_list *l);
const char *dps_store_result_name(dps_store_result r);

/* Backend constructors (used by dps_store_open). */
dps_store *dps_store_sqlite_open(const char *path, char *err, size_t errlen);

#endif
