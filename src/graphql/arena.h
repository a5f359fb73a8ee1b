/* graphql/arena: the engine's bump allocator. A document, a schema and
 * one execution each own one arena; everything in it is freed together.
 * Allocation aborts on out-of-memory like xmalloc. Not thread-safe: one
 * owner at a time. */
#ifndef ATRIUM_GRAPHQL_ARENA_H
#define ATRIUM_GRAPHQL_ARENA_H
#include <stddef.h>

typedef struct gql_block gql_block_t;
typedef struct {
    gql_block_t *head;
} arena_t;

/* n zeroed bytes, 16-aligned. */
void *arena_alloc(arena_t *a, size_t n);
/* A NUL-terminated copy of s[0..n). */
char *arena_strndup(arena_t *a, const char *s, size_t n);
char *arena_strdup(arena_t *a, const char *s);
/* Frees every block and a itself (a came from arena_new). */
void arena_free(arena_t *a);
arena_t *arena_new(void);

/* A growing array inside the arena; start with {.size = sizeof item}. */
typedef struct {
    void *items;
    size_t n, cap, size;
} vec_t;
void *vec_push(arena_t *a, vec_t *v);

/* A string → index map inside the arena (open addressing), so that
 * grouping n names costs O(n) however hostile the document: start with
 * {0}. Keys are borrowed, not copied. */
typedef struct {
    const char **keys;
    size_t *vals;
    size_t n, cap;
} smap_t;
/* The value stored for key, or (size_t)-1. */
size_t smap_get(const smap_t *m, const char *key);
void smap_put(arena_t *a, smap_t *m, const char *key, size_t val);

#endif
