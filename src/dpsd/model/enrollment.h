/* Individual enrollments and enrollment groups as documents
 * (service-api.md §7-§9): validation of what a client sends, and the
 * normalised document opendps stores.
 *
 * The model never touches the store: whatever it must know about the
 * instance (linked hubs, CA certificates) comes through dps_enroll_env, so it
 * can be tested and fuzzed on its own. The API layer (api/enroll_ops.c) adds
 * the server stamps and writes the result. */
#ifndef DPSD_MODEL_ENROLLMENT_H
#define DPSD_MODEL_ENROLLMENT_H

#include <jansson.h>
#include <stdbool.h>

typedef enum {
    DPS_ENROLL_INDIVIDUAL,
    DPS_ENROLL_GROUP,
} dps_enroll_kind;

/* A refusal: a six-digit error code (api/errors.h) and a message naming the
 * offending field. Messages never contain key material. */
typedef struct {
    int code;
    char msg[320];
} dps_model_err;

typedef enum {
    DPS_CA_MISSING,
    DPS_CA_UNVERIFIED,
    DPS_CA_VERIFIED,
} dps_ca_state;

/* What the model may ask about the instance. */
typedef struct {
    /* true when host (as the client wrote it) is a linked hub */
    bool (*hub_linked)(void *arg, const char *host);
    /* state of the CA certificate registered under name */
    dps_ca_state (*ca_state)(void *arg, const char *name);
    void *arg;
} dps_enroll_env;

/* Symmetric keys: generated keys have this many random bytes; supplied keys
 * must decode to MIN..MAX bytes. */
#define DPS_SYMKEY_GEN_BYTES 64
#define DPS_SYMKEY_MIN_BYTES 16
#define DPS_SYMKEY_MAX_BYTES 64

/* Validates in (the PUT body or a bulk item) and returns the normalised
 * document without server stamps (etag, created/updated times). path_id is
 * the ID from the URL, or NULL for bulk items (the body ID is then
 * required). prev is the stored document when the write replaces one (NULL
 * on create): it supplies symmetric keys and certificates the client left
 * out. Read-only and unknown members are dropped. NULL and *err filled on a
 * refusal or when out of memory. */
json_t *dps_enrollment_normalise(dps_enroll_kind kind, const char *path_id, const json_t *in,
                                 const json_t *prev, const dps_enroll_env *env,
                                 dps_model_err *err);

/* Adds etag, createdDateTimeUtc (kept from prev when it has one) and
 * lastUpdatedDateTimeUtc. Returns 0, or -1 when out of memory. */
int dps_enrollment_stamp(json_t *doc, const json_t *prev, const char *etag,
                         const char *now_iso);

/* The attestation member of a document (validated against prev the same
 * way); used by dps_enrollment_normalise, exposed for tests. */
int dps_attestation_normalise(dps_enroll_kind kind, const json_t *in, const json_t *prev,
                              const dps_enroll_env *env, json_t **out, dps_model_err *err);

/* Removes secrets (symmetric keys) from a document in place, as GET and
 * query show it: "attestation": {"type": "symmetricKey"}. */
void dps_enrollment_hide_secrets(json_t *doc);

/* Helpers shared by the model's files. */
int dps_model__fail(dps_model_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The member, or NULL when absent or JSON null (null means "not given"). */
json_t *dps_model__member(const json_t *obj, const char *key);

#endif
