/* rcache: see rcache.h. A chained hash table (power-of-two buckets, grown
 * at load 1) and a doubly-linked LRU list, under one mutex. */
#include "core/rcache.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "util/metrics.h"

typedef struct entry {
    struct entry *next;             /* in its bucket */
    struct entry *newer, *older;    /* the LRU list */
    uint64_t hash, version;
    size_t klen, vlen;
    unsigned char data[];           /* key then value */
} entry_t;

/* What an entry costs besides its bytes. */
#define ENTRY_OVERHEAD (sizeof(entry_t) + 16)

static struct {
    pthread_mutex_t m;
    size_t max_bytes, bytes, entries;
    entry_t **buckets;
    size_t nbuckets;
    entry_t *newest, *oldest;
    unsigned char key[crypto_shorthash_KEYBYTES];
    rcache_stats_t stats;
} c = {.m = PTHREAD_MUTEX_INITIALIZER};

void rcache_init(size_t max_bytes) {
    pthread_mutex_lock(&c.m);
    c.max_bytes = max_bytes;
    if (max_bytes && !c.buckets) {
        c.nbuckets = 1024;
        c.buckets = calloc(c.nbuckets, sizeof *c.buckets);
        if (!c.buckets) abort();
        randombytes_buf(c.key, sizeof c.key);
    }
    pthread_mutex_unlock(&c.m);
}

bool rcache_enabled(void) { return __atomic_load_n(&c.max_bytes, __ATOMIC_RELAXED) > 0; }

static uint64_t hash_of(const void *key, size_t klen) {
    unsigned char h[crypto_shorthash_BYTES];
    crypto_shorthash(h, key, klen, c.key);
    uint64_t v;
    memcpy(&v, h, sizeof v);
    return v;
}

static size_t cost(const entry_t *e) { return e->klen + e->vlen + ENTRY_OVERHEAD; }

static void lru_unlink(entry_t *e) {
    if (e->newer) e->newer->older = e->older;
    else c.newest = e->older;
    if (e->older) e->older->newer = e->newer;
    else c.oldest = e->newer;
    e->newer = e->older = NULL;
}

static void lru_front(entry_t *e) {
    e->older = c.newest;
    e->newer = NULL;
    if (c.newest) c.newest->newer = e;
    c.newest = e;
    if (!c.oldest) c.oldest = e;
}

/* The bucket slot pointing at key's entry (or at the NULL ending it). */
static entry_t **slot_of(uint64_t h, const void *key, size_t klen) {
    entry_t **p = &c.buckets[h & (c.nbuckets - 1)];
    while (*p && !((*p)->hash == h && (*p)->klen == klen && memcmp((*p)->data, key, klen) == 0)) p = &(*p)->next;
    return p;
}

static void drop(entry_t **slot) {
    entry_t *e = *slot;
    *slot = e->next;
    lru_unlink(e);
    c.bytes -= cost(e);
    c.entries--;
    free(e);
}

bool rcache_get(const void *key, size_t klen, uint64_t version, buf_t *out) {
    if (!rcache_enabled()) return false;
    uint64_t h = hash_of(key, klen);
    pthread_mutex_lock(&c.m);
    bool hit = false;
    if (c.buckets) {
        entry_t **slot = slot_of(h, key, klen);
        entry_t *e = *slot;
        if (e && e->version == version) {
            lru_unlink(e);
            lru_front(e);
            buf_append(out, e->data + e->klen, e->vlen);
            hit = true;
        } else if (e) {
            drop(slot); /* the database moved on: it will never match again */
        }
    }
    if (hit) c.stats.hits++;
    else c.stats.misses++;
    pthread_mutex_unlock(&c.m);
    metrics_inc(hit ? MET_CACHE_HITS : MET_CACHE_MISSES);
    return hit;
}

static void grow(void) {
    size_t n = c.nbuckets * 2;
    entry_t **b = calloc(n, sizeof *b);
    if (!b) return; /* stays slower, still correct */
    for (size_t i = 0; i < c.nbuckets; i++)
        for (entry_t *e = c.buckets[i], *next; e; e = next) {
            next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    free(c.buckets);
    c.buckets = b;
    c.nbuckets = n;
}

void rcache_put(const void *key, size_t klen, uint64_t version, const void *val, size_t n) {
    if (!rcache_enabled()) return;
    size_t need = klen + n + ENTRY_OVERHEAD;
    entry_t *e = malloc(sizeof *e + klen + n);
    if (!e) return;
    e->hash = hash_of(key, klen);
    e->version = version;
    e->klen = klen;
    e->vlen = n;
    memcpy(e->data, key, klen);
    if (n) memcpy(e->data + klen, val, n);
    pthread_mutex_lock(&c.m);
    if (!c.buckets || need > c.max_bytes / 8) {
        pthread_mutex_unlock(&c.m);
        free(e);
        return;
    }
    entry_t **slot = slot_of(e->hash, key, klen);
    if (*slot) drop(slot);
    while (c.bytes + need > c.max_bytes && c.oldest) {
        entry_t *old = c.oldest;
        drop(slot_of(old->hash, old->data, old->klen));
        c.stats.evictions++;
    }
    slot = &c.buckets[e->hash & (c.nbuckets - 1)];
    e->next = *slot;
    *slot = e;
    lru_front(e);
    c.bytes += need;
    c.entries++;
    c.stats.stores++;
    if (c.entries > c.nbuckets) grow();
    pthread_mutex_unlock(&c.m);
}

void rcache_stats(rcache_stats_t *out) {
    pthread_mutex_lock(&c.m);
    *out = c.stats;
    out->bytes = c.bytes;
    out->entries = c.entries;
    out->max_bytes = c.max_bytes;
    pthread_mutex_unlock(&c.m);
}

void rcache_clear(void) {
    pthread_mutex_lock(&c.m);
    while (c.oldest) {
        entry_t *old = c.oldest;
        drop(slot_of(old->hash, old->data, old->klen));
    }
    pthread_mutex_unlock(&c.m);
}
