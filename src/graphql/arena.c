/* graphql/arena: see arena.h. */
#include "graphql/arena.h"

#include <stdlib.h>
#include <string.h>

struct gql_block {
    struct gql_block *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

arena_t *arena_new(void) {
    arena_t *a = calloc(1, sizeof *a);
    if (!a) abort();
    return a;
}

void *arena_alloc(arena_t *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (!a->head || a->head->cap - a->head->used < n) {
        size_t cap = n > 16384 ? n : 16384;
        gql_block_t *b = malloc(sizeof *b + cap);
        if (!b) abort();
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
    }
    void *p = a->head->data + a->head->used;
    a->head->used += n;
    memset(p, 0, n);
    return p;
}

char *arena_strndup(arena_t *a, const char *s, size_t n) {
    char *c = arena_alloc(a, n + 1);
    if (n) memcpy(c, s, n);
    c[n] = 0;
    return c;
}

char *arena_strdup(arena_t *a, const char *s) { return arena_strndup(a, s, strlen(s)); }

void arena_free(arena_t *a) {
    if (!a) return;
    for (gql_block_t *b = a->head, *n; b; b = n) {
        n = b->next;
        free(b);
    }
    free(a);
}

void *vec_push(arena_t *a, vec_t *v) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 4;
        void *items = arena_alloc(a, cap * v->size);
        if (v->n) memcpy(items, v->items, v->n * v->size);
        v->items = items;
        v->cap = cap;
    }
    return (char *)v->items + v->n++ * v->size;
}

static size_t str_hash(const char *s) {
    size_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

size_t smap_get(const smap_t *m, const char *key) {
    if (!m->cap) return (size_t)-1;
    for (size_t i = str_hash(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->keys[i]) return (size_t)-1;
        if (strcmp(m->keys[i], key) == 0) return m->vals[i];
    }
}

void smap_put(arena_t *a, smap_t *m, const char *key, size_t val) {
    if ((m->n + 1) * 2 > m->cap) {
        smap_t g = {.cap = m->cap ? m->cap * 2 : 16};
        g.keys = arena_alloc(a, g.cap * sizeof *g.keys);
        g.vals = arena_alloc(a, g.cap * sizeof *g.vals);
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i]) smap_put(a, &g, m->keys[i], m->vals[i]);
        *m = g;
    }
    size_t i = str_hash(key) & (m->cap - 1);
    for (; m->keys[i]; i = (i + 1) & (m->cap - 1))
        if (strcmp(m->keys[i], key) == 0) {
            m->vals[i] = val;
            return;
        }
    m->keys[i] = key;
    m->vals[i] = val;
    m->n++;
}
