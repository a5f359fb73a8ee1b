/* json: Atrium's streaming JSON writer. It appends straight into a buf_t, so
 * result sets are rendered row by row with no DOM. Invariants: output is always
 * valid JSON text when begin/end calls are balanced; strings are valid UTF-8
 * (invalid input bytes become U+FFFD); int64 values are exact; doubles are the
 * shortest text that reads back to the same double; NaN/Inf are written as null
 * (a dialect that wants otherwise checks isfinite first). */
#ifndef ATRIUM_UTIL_JSON_H
#define ATRIUM_UTIL_JSON_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

enum {
    JW_SPACED = 1, /* ", " and ": " separators (Python's json.dumps style) */
    JW_ASCII = 2,  /* escape every non-ASCII code point as \uXXXX */
};

#define JW_MAX_DEPTH 64

typedef struct {
    buf_t *out;
    int flags;
    int depth;
    bool after_key;
    uint64_t has_items; /* bit d: the container at depth d has an item */
} jw_t;

void jw_init(jw_t *w, buf_t *out, int flags);
void jw_obj_begin(jw_t *w);
void jw_obj_end(jw_t *w);
void jw_arr_begin(jw_t *w);
void jw_arr_end(jw_t *w);
void jw_key(jw_t *w, const char *k);
void jw_keyn(jw_t *w, const char *k, size_t n);
/* A key written for many rows: jw_key_render appends k as w would spell
 * it as a key ("k": with w's flags) to b; jw_key_pre writes such a
 * rendering as the next key, without escaping it again. */
void jw_key_render(const jw_t *w, buf_t *b, const char *k, size_t n);
void jw_key_pre(jw_t *w, const char *rendered, size_t n);
void jw_str(jw_t *w, const char *s);
void jw_strn(jw_t *w, const char *s, size_t n);
void jw_int(jw_t *w, int64_t v);
void jw_double(jw_t *w, double v);
void jw_bool(jw_t *w, bool v);
void jw_null(jw_t *w);
/* A wall-clock time in ms as "2026-11-22T10:40:00.123Z"; 0 as null. */
void jw_time_ms(jw_t *w, int64_t ms);
/* Appends already-encoded JSON as one value. */
void jw_raw(jw_t *w, const char *json, size_t n);
/* A parsed (jansson) value, written through w with w's flags (with
 * JW_SPACED, the way Python's json.dumps writes it). */
void jw_json(jw_t *w, const json_t *j);

/* Escaped string body (no quotes) appended to out. */
void json_escape(buf_t *out, const char *s, size_t n, int flags);
/* Shortest round-trip text of a finite double, Python repr style
 * ("0.1", "100.0", "1e+16", "1e-05"); returns its length (< 32). */
size_t json_format_double(double v, char out[32]);

#endif
