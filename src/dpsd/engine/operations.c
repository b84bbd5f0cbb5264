/* The operation table (operations.h): two hash indexes (by operation ID,
 * and by registration for the running ones) and a FIFO of finished
 * operations, which is also their expiry order because the TTL is one
 * value for all. */
#include "engine/operations.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64.h"
#include "common/rand.h"

#define BUCKETS 4096 /* power of two; chains stay short up to ~100k operations */

struct dps_op_table {
    dps_op *by_id[BUCKETS];
    dps_op *by_reg[BUCKETS];
    dps_op *done_head, *done_tail;
    size_t count;
};

static size_t bucket(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h & (BUCKETS - 1);
}

dps_op_table *dps_op_table_new(void)
{
    return calloc(1, sizeof(dps_op_table));
}

void dps_op_free(dps_op *op)
{
    if (op == NULL)
        return;
    json_decref(op->result);
    free(op);
}

void dps_op_table_free(dps_op_table **tp)
{
    dps_op_table *t = *tp;
    if (t == NULL)
        return;
    for (size_t i = 0; i < BUCKETS; i++) {
        dps_op *op = t->by_id[i];
        while (op != NULL) {
            dps_op *next = op->next_id;
            dps_op_free(op);
            op = next;
        }
    }
    free(t);
    *tp = NULL;
}

dps_op *dps_op_new(const char *regkey, const char *registration_id)
{
    dps_op *op = calloc(1, sizeof *op);
    if (op == NULL)
        return NULL;
    uint8_t rnd[8];
    char hex[17];
    if (dps_uuid_v4(op->uuid) != 0 || dps_random_bytes(rnd, sizeof rnd) != 0) {
        free(op);
        return NULL;
    }
    dps_hex_encode(rnd, sizeof rnd, false, hex);
    /* Azure's look like "4.<16 hex>.<GUID>"; ours start with "1." so the
     * two can be told apart in a support case. */
    snprintf(op->id, sizeof op->id, "1.%s.%s", hex, op->uuid);
    snprintf(op->regkey, sizeof op->regkey, "%s", regkey);
    snprintf(op->registration_id, sizeof op->registration_id, "%s", registration_id);
    op->state = DPS_OP_ASSIGNING;
    return op;
}

void dps_op_add(dps_op_table *t, dps_op *op)
{
    size_t b = bucket(op->id);
    op->next_id = t->by_id[b];
    t->by_id[b] = op;
    size_t r = bucket(op->regkey);
    op->next_reg = t->by_reg[r];
    t->by_reg[r] = op;
    t->count++;
}

dps_op *dps_op_find(const dps_op_table *t, const char *id)
{
    for (dps_op *op = t->by_id[bucket(id)]; op != NULL; op = op->next_id)
        if (strcmp(op->id, id) == 0)
            return op;
    return NULL;
}

dps_op *dps_op_running(const dps_op_table *t, const char *regkey)
{
    for (dps_op *op = t->by_reg[bucket(regkey)]; op != NULL; op = op->next_reg)
        if (strcmp(op->regkey, regkey) == 0)
            return op;
    return NULL;
}

static void unlink_reg(dps_op_table *t, dps_op *op)
{
    dps_op **pp = &t->by_reg[bucket(op->regkey)];
    while (*pp != NULL && *pp != op)
        pp = &(*pp)->next_reg;
    if (*pp == op)
        *pp = op->next_reg;
    op->next_reg = NULL;
}

static void unlink_id(dps_op_table *t, dps_op *op)
{
    dps_op **pp = &t->by_id[bucket(op->id)];
    while (*pp != NULL && *pp != op)
        pp = &(*pp)->next_id;
    if (*pp == op)
        *pp = op->next_id;
    op->next_id = NULL;
}

bool dps_op_transition_ok(dps_op_state from, dps_op_state to)
{
    return from == DPS_OP_ASSIGNING && to != DPS_OP_ASSIGNING;
}

int dps_op_finish(dps_op_table *t, dps_op *op, dps_op_state to, json_t *result,
                  int64_t now_ms)
{
    if (!dps_op_transition_ok(op->state, to) || result == NULL) {
        json_decref(result);
        return -1;
    }
    op->state = to;
    op->result = result;
    op->finished_ms = now_ms;
    op->work = NULL;
    unlink_reg(t, op);
    if (t->done_tail != NULL)
        t->done_tail->next_done = op;
    else
        t->done_head = op;
    t->done_tail = op;
    return 0;
}

void dps_op_expire(dps_op_table *t, int64_t now_ms, int64_t ttl_ms)
{
    while (t->done_head != NULL && now_ms - t->done_head->finished_ms >= ttl_ms) {
        dps_op *op = t->done_head;
        t->done_head = op->next_done;
        if (t->done_head == NULL)
            t->done_tail = NULL;
        unlink_id(t, op);
        t->count--;
        dps_op_free(op);
    }
}

size_t dps_op_count(const dps_op_table *t)
{
    return t->count;
}

const char *dps_op_state_name(dps_op_state s)
{
    switch (s) {
    case DPS_OP_ASSIGNING:
        return "assigning";
    case DPS_OP_ASSIGNED:
        return "assigned";
    case DPS_OP_FAILED:
        return "failed";
    case DPS_OP_DISABLED:
        return "disabled";
    }
    return "failed";
}

int dps_op_record_etag(const char *uuid, char *out, size_t outlen)
{
    char quoted[48];
    int n = snprintf(quoted, sizeof quoted, "\"%s\"", uuid);
    if (n < 0 || (size_t)n >= sizeof quoted)
        return -1;
    char *b = dps_b64_encode((const uint8_t *)quoted, (size_t)n);
    if (b == NULL)
        return -1;
    int rc = -1;
    if (strlen(b) < outlen) {
        memcpy(out, b, strlen(b) + 1);
        rc = 0;
    }
    free(b);
    return rc;
}

bool dps_op_matches_record_etag(const char *operation_id, const char *etag)
{
    /* The UUID is everything after the second '.'. */
    const char *dot = operation_id != NULL ? strchr(operation_id, '.') : NULL;
    dot = dot != NULL ? strchr(dot + 1, '.') : NULL;
    if (dot == NULL || etag == NULL)
        return false;
    char expect[128];
    if (dps_op_record_etag(dot + 1, expect, sizeof expect) != 0)
        return false;
    return strcmp(expect, etag) == 0;
}
