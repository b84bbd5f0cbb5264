/* The device table: a chained hash map from (hub, device ID) to the
 * endpoint's per-device entry, so every message finds its device in O(1)
 * and nothing scans all devices per message. Hub names are folded to lower
 * case (they are case-insensitive host names); device IDs are compared byte
 * for byte (hub.md section 6). The hash is seeded at random so device IDs
 * cannot be chosen to collide. */
#include <assert.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/rand.h"
#include "mqtt/internal.h"

#define INITIAL_BUCKETS 64
#define MAX_HUB_LEN 253  /* a DNS name */
#define MAX_ID_LEN 257   /* deviceId (128) '/' moduleId (128) */

struct hubd_devtable {
    hubd_device **buckets;
    size_t nbuckets; /* a power of two */
    size_t count;
    size_t max;
    uint64_t seed;
};

/* FNV-1a over the seed, the folded hub, a separator and the device ID. */
static uint64_t hash_key(uint64_t seed, const char *hub, size_t hub_len, const char *id,
                         size_t id_len)
{
    uint64_t h = 0xcbf29ce484222325u ^ seed;
    for (size_t i = 0; i < hub_len; i++) {
        h ^= (uint8_t)tolower((unsigned char)hub[i]);
        h *= 0x100000001b3u;
    }
    h ^= 0xffu; /* cannot occur in a host name: keeps "a"+"bc" apart from "ab"+"c" */
    h *= 0x100000001b3u;
    for (size_t i = 0; i < id_len; i++) {
        h ^= (uint8_t)id[i];
        h *= 0x100000001b3u;
    }
    /* Final mix so the low bits (the bucket index) depend on every byte. */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdu;
    h ^= h >> 33;
    return h;
}

hubd_devtable *hubd_devtable_new(size_t max_entries)
{
    hubd_devtable *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->buckets = calloc(INITIAL_BUCKETS, sizeof *t->buckets);
    if (t->buckets == NULL) {
        free(t);
        return NULL;
    }
    t->nbuckets = INITIAL_BUCKETS;
    t->max = max_entries;
    if (dps_random_bytes(&t->seed, sizeof t->seed) != 0)
        t->seed = (uint64_t)(uintptr_t)t; /* still varies per run with ASLR */
    return t;
}

/* Only hubd_devtable_free meets entries with messages: the global byte
 * count in hubd_sessions dies with it. */
static void free_entry(hubd_device *d)
{
    hubd_c2d_msg *m = d->c2d_head;
    while (m != NULL) {
        hubd_c2d_msg *next = m->next;
        free(m);
        m = next;
    }
    free(d);
}

void hubd_devtable_free(hubd_devtable **tp)
{
    if (tp == NULL || *tp == NULL)
        return;
    hubd_devtable *t = *tp;
    for (size_t i = 0; i < t->nbuckets; i++) {
        hubd_device *d = t->buckets[i];
        while (d != NULL) {
            hubd_device *next = d->hnext;
            free_entry(d);
            d = next;
        }
    }
    free(t->buckets);
    free(t);
    *tp = NULL;
}

static bool same_key(const hubd_device *d, uint64_t h, const char *hub, size_t hub_len,
                     const char *id, size_t id_len)
{
    return d->hash == h && d->hub_len == hub_len && d->id_len == id_len &&
           strncasecmp(d->key, hub, hub_len) == 0 &&
           memcmp(hubd_device_id(d), id, id_len) == 0;
}

hubd_device *hubd_devtable_find(hubd_devtable *t, const char *hub, const char *device_id)
{
    size_t hub_len = strlen(hub);
    size_t id_len = strlen(device_id);
    uint64_t h = hash_key(t->seed, hub, hub_len, device_id, id_len);
    for (hubd_device *d = t->buckets[h & (t->nbuckets - 1)]; d != NULL; d = d->hnext) {
        if (same_key(d, h, hub, hub_len, device_id, id_len))
            return d;
    }
    return NULL;
}

/* Doubles the bucket array when the load passes 1; a failed allocation
 * just leaves chains a little longer. */
static void maybe_grow(hubd_devtable *t)
{
    if (t->count < t->nbuckets || t->nbuckets > SIZE_MAX / 2 / sizeof *t->buckets)
        return;
    size_t n = t->nbuckets * 2;
    hubd_device **b = calloc(n, sizeof *b);
    if (b == NULL)
        return;
    for (size_t i = 0; i < t->nbuckets; i++) {
        hubd_device *d = t->buckets[i];
        while (d != NULL) {
            hubd_device *next = d->hnext;
            size_t j = d->hash & (n - 1);
            d->hnext = b[j];
            b[j] = d;
            d = next;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = n;
}

hubd_device *hubd_devtable_get(hubd_devtable *t, const char *hub, const char *device_id)
{
    hubd_device *d = hubd_devtable_find(t, hub, device_id);
    if (d != NULL)
        return d;
    size_t hub_len = strlen(hub);
    size_t id_len = strlen(device_id);
    if (t->count >= t->max || hub_len == 0 || hub_len > MAX_HUB_LEN || id_len == 0 ||
        id_len > MAX_ID_LEN)
        return NULL;
    d = calloc(1, sizeof *d + hub_len + 1 + id_len + 1);
    if (d == NULL)
        return NULL;
    for (size_t i = 0; i < hub_len; i++)
        d->key[i] = (char)tolower((unsigned char)hub[i]);
    memcpy(d->key + hub_len + 1, device_id, id_len);
    d->hub_len = hub_len;
    d->id_len = id_len;
    d->hash = hash_key(t->seed, hub, hub_len, device_id, id_len);
    for (size_t k = 0; k < HUBD_SUB_KINDS; k++)
        d->sub_qos[k] = -1;
    size_t i = d->hash & (t->nbuckets - 1);
    d->hnext = t->buckets[i];
    t->buckets[i] = d;
    t->count++;
    maybe_grow(t);
    return d;
}

void hubd_devtable_remove(hubd_devtable *t, hubd_device *d)
{
    assert(d->conn == NULL && d->methods == NULL && d->c2d_head == NULL);
    hubd_device **pp = &t->buckets[d->hash & (t->nbuckets - 1)];
    while (*pp != NULL && *pp != d)
        pp = &(*pp)->hnext;
    if (*pp == NULL)
        return;
    *pp = d->hnext;
    t->count--;
    free_entry(d);
}

size_t hubd_devtable_count(const hubd_devtable *t)
{
    return t->count;
}

void hubd_devtable_each(hubd_devtable *t, void (*fn)(hubd_device *d, void *arg), void *arg)
{
    for (size_t i = 0; i < t->nbuckets; i++) {
        hubd_device *d = t->buckets[i];
        while (d != NULL) {
            hubd_device *next = d->hnext; /* fn may remove d */
            fn(d, arg);
            d = next;
        }
    }
}
