/* The operation table: every accepted registration is an operation with an
 * opaque ID that devices poll (device-api.md §3). An explicit state machine
 * (assigning -> assigned | failed | disabled, nothing else) and a bounded,
 * in-memory table: finished operations stay pollable for a TTL, then go.
 * Nothing here is durable on its own: a final result is stored in the
 * registration record before the operation reports it (engine.c), which is
 * what a poll after a restart reads. */
#ifndef DPSD_ENGINE_OPERATIONS_H
#define DPSD_ENGINE_OPERATIONS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/ids.h"

/* "1." + 16 hex digits + "." + a 36-character UUID, and room to spare. */
#define DPS_OP_ID_MAX 64

typedef enum {
    DPS_OP_ASSIGNING,
    DPS_OP_ASSIGNED,
    DPS_OP_FAILED,
    DPS_OP_DISABLED,
} dps_op_state;

typedef struct dps_op dps_op;
struct dps_op {
    char id[DPS_OP_ID_MAX];
    char uuid[40];                         /* the record ETag is built from it */
    char regkey[DPS_ID_KEY_SIZE];          /* lower-case registration ID */
    char registration_id[DPS_ID_KEY_SIZE]; /* as the device sent it */
    dps_op_state state;
    json_t *result;       /* final registrationState (owned), NULL while assigning */
    unsigned char token_digest[32]; /* SHA-256 of the SAS token that was accepted */
    bool has_token;
    int64_t finished_ms;  /* monotonic, when it became final */
    void *work;           /* the engine's in-flight job, while assigning */
    /* table links */
    dps_op *next_id, *next_reg, *next_done;
};

typedef struct dps_op_table dps_op_table;

dps_op_table *dps_op_table_new(void);
/* Frees every operation (their results too); sets *t to NULL. */
void dps_op_table_free(dps_op_table **t);

/* A new operation in state assigning for the registration, with a fresh
 * opaque ID of [0-9a-f.-] characters, not yet in the table. NULL when the
 * random source or memory fails. */
dps_op *dps_op_new(const char *regkey, const char *registration_id);
void dps_op_free(dps_op *op);

/* Adds a new (assigning) operation; it becomes the running operation of its
 * registration. */
void dps_op_add(dps_op_table *t, dps_op *op);
dps_op *dps_op_find(const dps_op_table *t, const char *id);
/* The operation still assigning for this registration, or NULL. */
dps_op *dps_op_running(const dps_op_table *t, const char *regkey);

/* The legal moves: assigning to any final state; nothing out of a final
 * state. */
bool dps_op_transition_ok(dps_op_state from, dps_op_state to);
/* Makes op final with its registrationState (taken over). -1 (and result
 * released) when the move is not legal. */
int dps_op_finish(dps_op_table *t, dps_op *op, dps_op_state to, json_t *result,
                  int64_t now_ms);
/* Drops finished operations older than ttl_ms. */
void dps_op_expire(dps_op_table *t, int64_t now_ms, int64_t ttl_ms);

size_t dps_op_count(const dps_op_table *t);
const char *dps_op_state_name(dps_op_state s);

/* The record ETag that belongs to an operation's UUID (base64 of the
 * quoted UUID, the ETag form used everywhere), and the reverse test: does
 * a stored record's ETag come from the operation with this ID? This is how
 * a poll after a restart finds its answer without an internal field in the
 * record. */
int dps_op_record_etag(const char *uuid, char *out, size_t outlen);
bool dps_op_matches_record_etag(const char *operation_id, const char *etag);

#endif
