/* url: the URL codings Atrium's dialects use: percent-decoding (strict for
 * path segments, lenient form-decoding for query strings), query-string
 * parsing that keeps repeated keys in order, and Datasette's tilde coding. */
#ifndef ATRIUM_UTIL_URL_H
#define ATRIUM_UTIL_URL_H
#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

/* Strict percent-decoding of a path segment into out. Fails (-1) on a bad
 * %-escape, a NUL byte, or when the result is not valid UTF-8. */
int url_decode_segment(const char *s, size_t n, buf_t *out);
/* Form-decoding: '+' is a space, %XX a byte, malformed escapes kept literally. */
void url_decode_form(const char *s, size_t n, buf_t *out);
/* Percent-encodes s, keeping A-Za-z0-9 and the characters in `keep`. */
void url_encode(buf_t *out, const char *s, size_t n, const char *keep);
/* Form-encodes as Python's urlencode does: A-Za-z0-9_.-~ kept, space '+',
 * other bytes %XX. */
void url_encode_form(buf_t *out, const char *s, size_t n);

typedef struct {
    char *key;
    char *value;
} qs_pair_t;

typedef struct {
    qs_pair_t *pairs;
    size_t n;
} qs_t;

/* Parses "a=1&b=&a=2" (the part after '?'); keys without '=' get "". */
void qs_parse(qs_t *q, const char *s, size_t n);
void qs_free(qs_t *q);
/* First value for key, or NULL. */
const char *qs_get(const qs_t *q, const char *key);

/* Datasette tilde coding: A-Za-z0-9_- kept, space -> '+', other bytes ~HH. */
void tilde_encode(buf_t *out, const char *s, size_t n);
/* Decodes '+' and ~HH; returns -1 on a malformed escape. */
int tilde_decode(const char *s, size_t n, buf_t *out);

#endif
