/* value: one SQLite value (store_value_t) the way every door handles it —
 * copied, compared, bound, read from JSON and written as JSON. This is the
 * one type switch over values: a dialect picks a style (how blobs and
 * non-finite reals look in its JSON, which blob spelling it reads) instead
 * of switching on types itself. Pure functions: any thread. */
#ifndef ATRIUM_CORE_VALUE_H
#define ATRIUM_CORE_VALUE_H
#include <stdbool.h>

#include "core/err.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/json.h"

/* Deep copy: text and blobs get their own NUL-terminated bytes. */
void value_copy(store_value_t *dst, const store_value_t *src);
/* Frees what value_copy allocated; v becomes NULL. */
void value_free(store_value_t *v);
/* A TEXT value over s (not copied). */
store_value_t value_text(const char *s);
/* The same value for lookups (labels, keys): same type and bytes, or a
 * number and the text of that number (a text key column holding digits).
 * NULL equals nothing. Allocation-free. */
bool value_same(const store_value_t *a, const store_value_t *b);
/* Binds v to parameter idx. */
void value_bind(store_stmt_t *st, int idx, const store_value_t *v);

/* ---- JSON out --------------------------------------------------------- */

typedef enum {
    VJ_BLOB_BASE64_OBJECT, /* {"$base64": true, "encoded": "…"} (Datasette) */
    VJ_BLOB_TYPE_OBJECT,   /* {"type": "blob"} (Airsequel's SQL answers) */
    VJ_BLOB_BASE64,        /* "…" base64 text */
} value_blob_out_t;

typedef enum {
    VJ_NONFINITE_NULL,   /* null */
    VJ_NONFINITE_BARE,   /* Infinity / -Infinity (not strict JSON); NaN is null */
    VJ_NONFINITE_STRING, /* "Infinity" / "-Infinity" */
} value_nonfinite_t;

typedef struct {
    value_blob_out_t blob;
    value_nonfinite_t nonfinite;
} value_style_t;

/* v as one JSON value in style s. int64 values are exact; reals are the
 * shortest text that reads back. */
void value_write_json(jw_t *w, const store_value_t *v, const value_style_t *s);

/* ---- JSON in ---------------------------------------------------------- */

typedef enum {
    VJ_IN_PLAIN,     /* no blob spelling: every object is composite */
    VJ_IN_DATASETTE, /* {"$base64": true, "encoded": "…"}; {"$raw": v} is v */
    VJ_IN_TYPEDB,    /* {"encoding": "base64", "value": "…"} */
} value_blob_in_t;

enum { VALUE_SCALAR = 0, VALUE_COMPOSITE = 1 };

/* A JSON value as a value to bind: string → TEXT, integer → INTEGER, real
 * → REAL, true/false → 1/0, null → NULL, the style's blob spelling → BLOB
 * (decoded into scratch, which out then points into). Returns
 * VALUE_SCALAR, VALUE_COMPOSITE for any other array or object (out left
 * NULL: the dialect decides whether to store its text or refuse), or -1
 * with e set (E_BAD_INPUT, ES_UNDECODABLE) for a blob spelling whose
 * payload is not base64. */
int value_from_json(const json_t *j, value_blob_in_t style, store_value_t *out, buf_t *scratch, err_t *e);

#endif
