/* rcache: read answers kept for reuse while their database stays as it was.
 * An entry is a key (built by a dialect: the database, the caller's
 * effective rights, the normalised request), the database's version when
 * the answer was computed (dbh_version) and the answer's bytes. A lookup
 * with another version misses (and drops the entry): the next commit to a
 * database retires all its answers at once, without a scan.
 *
 * Bounded: entries are evicted least-recently-used first so that keys and
 * values never exceed the budget given to rcache_init (0: the cache is off;
 * an answer larger than an eighth of it is never kept). Keys are hashed
 * with SipHash under a random key, so no client can aim for collisions.
 *
 * What may be kept is the callers' business: only answers that follow from
 * the database and the request (no volatile SQL functions, no timeouts),
 * and only after the caller's rights were checked.
 *
 * Threads: any; one short lock. */
#ifndef ATRIUM_CORE_RCACHE_H
#define ATRIUM_CORE_RCACHE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* Call once at start; max_bytes 0 turns the cache off. */
void rcache_init(size_t max_bytes);
bool rcache_enabled(void);
/* Appends the value kept for key at version to out: true on a hit. */
bool rcache_get(const void *key, size_t klen, uint64_t version, buf_t *out);
/* Keeps (a copy of) val for key at version, replacing what was there. */
void rcache_put(const void *key, size_t klen, uint64_t version, const void *val, size_t n);

typedef struct {
    uint64_t hits, misses, stores, evictions;
    size_t bytes, entries, max_bytes;
} rcache_stats_t;
void rcache_stats(rcache_stats_t *out);
/* Empties the cache (tests, shutdown). */
void rcache_clear(void);

#endif
