/* buf: a growable byte buffer, the unit every writer in Atrium appends to.
 * Invariant: data is always NUL-terminated when non-NULL (len excludes the NUL),
 * so a buffer of text can be handed to C string functions directly.
 * Allocation failure aborts: a server that cannot allocate a few bytes cannot
 * answer anything meaningful, and checking every append would hide real logic. */
#ifndef ATRIUM_UTIL_BUF_H
#define ATRIUM_UTIL_BUF_H
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

typedef struct {
    char *data;
    size_t len;
    size_t cap;
} buf_t;

#define BUF_INIT {NULL, 0, 0}

void buf_init(buf_t *b);
void buf_free(buf_t *b);
void buf_reset(buf_t *b);
/* The slow path of buf_reserve: reallocates. */
void buf_grow(buf_t *b, size_t extra);
void buf_puts(buf_t *b, const char *s);

/* Appends are inline: they run once per JSON token. */
static inline void buf_reserve(buf_t *b, size_t extra) {
    if (b->len + extra + 1 > b->cap) buf_grow(b, extra);
}

static inline void buf_append(buf_t *b, const void *p, size_t n) {
    buf_reserve(b, n);
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
}

static inline void buf_putc(buf_t *b, char c) {
    buf_reserve(b, 1);
    b->data[b->len++] = c;
    b->data[b->len] = 0;
}
void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(buf_t *b, const char *fmt, va_list ap);
/* Removes the first n bytes. */
void buf_consume(buf_t *b, size_t n);
/* Hands the storage to the caller (never NULL) and leaves b empty. */
char *buf_detach(buf_t *b);

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
