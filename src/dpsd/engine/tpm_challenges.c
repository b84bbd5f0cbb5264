/* Pending TPM challenges (tpm_challenges.h).
 *
 * Entries sit in a FIFO in the order they were made, which is also their
 * expiry order (one lifetime for all), and in a hash table by registration
 * for the lookups. A cursor (first_live) marks the oldest entry whose key is
 * still alive: everything before it is a tombstone, so retiring work is
 * proportional to what actually expires. */
#include "engine/tpm_challenges.h"

#include <stdlib.h>
#include <string.h>

#include "common/secret.h"
#include "model/ids.h"

#define BUCKETS 1024 /* power of two */

typedef enum { CH_LIVE, CH_USED, CH_EXPIRED } ch_state;

typedef struct entry entry;
struct entry {
    entry *older, *newer; /* FIFO */
    entry *hnext;         /* hash chain */
    uint64_t seq;         /* creation order */
    int64_t created_ms;
    ch_state state;
    char regkey[DPS_ID_KEY_SIZE];
    uint8_t key[DPS_TPM_HMAC_KEY_LEN]; /* a credential; zero once expired */
    uint8_t ek_digest[32];
    dps_tpm_public srk;
};

struct dps_tpm_challenges {
    int64_t ttl_ms;
    size_t max;
    size_t count;
    uint64_t next_seq;
    entry *oldest, *newest;
    entry *first_live;
    entry *buckets[BUCKETS];
};

static size_t bucket_of(const char *regkey)
{
    /* FNV-1a: registration IDs are short; the table only needs spread. */
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)regkey; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h & (BUCKETS - 1);
}

dps_tpm_challenges *dps_tpm_challenges_new(int64_t ttl_ms, size_t max)
{
    if (ttl_ms <= 0)
        return NULL;
    dps_tpm_challenges *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->ttl_ms = ttl_ms;
    t->max = max > 0 ? max : DPS_TPM_CHALLENGES_MAX;
    return t;
}

static void expire_key(entry *e)
{
    dps_wipe(e->key, sizeof e->key);
    e->state = CH_EXPIRED;
}

static void remove_entry(dps_tpm_challenges *t, entry *e)
{
    entry **pp = &t->buckets[bucket_of(e->regkey)];
    while (*pp != NULL && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp == e)
        *pp = e->hnext;
    if (t->first_live == e)
        t->first_live = e->newer;
    if (e->older != NULL)
        e->older->newer = e->newer;
    else
        t->oldest = e->newer;
    if (e->newer != NULL)
        e->newer->older = e->older;
    else
        t->newest = e->older;
    t->count--;
    dps_wipe(e->key, sizeof e->key);
    free(e);
}

void dps_tpm_challenges_free(dps_tpm_challenges **tp)
{
    dps_tpm_challenges *t = *tp;
    if (t == NULL)
        return;
    while (t->oldest != NULL)
        remove_entry(t, t->oldest);
    free(t);
    *tp = NULL;
}

/* Wipes the keys whose time is up and drops the tombstones whose second
 * lifetime is over. */
static void retire(dps_tpm_challenges *t, int64_t now_ms)
{
    while (t->oldest != NULL && now_ms - t->oldest->created_ms >= 2 * t->ttl_ms)
        remove_entry(t, t->oldest);
    while (t->first_live != NULL && now_ms - t->first_live->created_ms >= t->ttl_ms) {
        expire_key(t->first_live);
        t->first_live = t->first_live->newer;
    }
}

int dps_tpm_challenges_add(dps_tpm_challenges *t, const char *regkey,
                           const uint8_t key[DPS_TPM_HMAC_KEY_LEN],
                           const uint8_t ek_digest[32], const dps_tpm_public *srk,
                           int64_t now_ms)
{
    if (strlen(regkey) >= DPS_ID_KEY_SIZE)
        return -1;
    retire(t, now_ms);
    /* Make room: first among this registration's own, then overall. */
    size_t mine = 0;
    entry *oldest_mine = NULL;
    for (entry *e = t->buckets[bucket_of(regkey)]; e != NULL; e = e->hnext) {
        if (strcmp(e->regkey, regkey) != 0)
            continue;
        mine++;
        if (oldest_mine == NULL || e->seq < oldest_mine->seq)
            oldest_mine = e;
    }
    if (mine >= DPS_TPM_CHALLENGES_PER_ID)
        remove_entry(t, oldest_mine);
    while (t->count >= t->max && t->oldest != NULL)
        remove_entry(t, t->oldest);

    entry *e = calloc(1, sizeof *e);
    if (e == NULL)
        return -1;
    e->seq = t->next_seq++;
    e->created_ms = now_ms;
    e->state = CH_LIVE;
    memcpy(e->regkey, regkey, strlen(regkey) + 1);
    memcpy(e->key, key, sizeof e->key);
    memcpy(e->ek_digest, ek_digest, sizeof e->ek_digest);
    e->srk = *srk;
    size_t b = bucket_of(regkey);
    e->hnext = t->buckets[b];
    t->buckets[b] = e;
    e->older = t->newest;
    if (t->newest != NULL)
        t->newest->newer = e;
    else
        t->oldest = e;
    t->newest = e;
    if (t->first_live == NULL)
        t->first_live = e;
    t->count++;
    return 0;
}

dps_tpm_ch_result dps_tpm_challenges_check(dps_tpm_challenges *t, const char *regkey,
                                           const dps_sas_token *token, bool consume,
                                           int64_t now_ms, dps_tpm_challenge_info *info)
{
    retire(t, now_ms);
    bool known = false, expired = false;
    entry *hit = NULL;
    for (entry *e = t->buckets[bucket_of(regkey)]; e != NULL; e = e->hnext) {
        if (strcmp(e->regkey, regkey) != 0)
            continue;
        known = true;
        if (e->state == CH_EXPIRED) {
            expired = true;
            continue;
        }
        /* Every live key is tried (no early exit), so the time taken does
         * not tell how many challenges a registration has or which one
         * matched. */
        if (dps_sas_signed_with(token, e->key, sizeof e->key) && hit == NULL)
            hit = e;
    }
    if (hit == NULL)
        return !known ? DPS_TPM_CH_NONE : expired ? DPS_TPM_CH_EXPIRED : DPS_TPM_CH_MISMATCH;
    if (consume) {
        if (hit->state == CH_USED)
            return DPS_TPM_CH_USED;
        hit->state = CH_USED;
    }
    memcpy(info->ek_digest, hit->ek_digest, sizeof info->ek_digest);
    info->srk = hit->srk;
    return DPS_TPM_CH_MATCH;
}

bool dps_tpm_challenges_known(dps_tpm_challenges *t, const char *regkey, int64_t now_ms)
{
    retire(t, now_ms);
    for (entry *e = t->buckets[bucket_of(regkey)]; e != NULL; e = e->hnext)
        if (strcmp(e->regkey, regkey) == 0)
            return true;
    return false;
}

size_t dps_tpm_challenges_count(dps_tpm_challenges *t, int64_t now_ms)
{
    retire(t, now_ms);
    return t->count;
}
