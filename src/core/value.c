/* value: see value.h. */
#include "core/value.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/ids.h"
#include "util/buf.h"

void value_copy(store_value_t *dst, const store_value_t *src) {
    *dst = *src;
    if (src->type == SV_TEXT || src->type == SV_BLOB) {
        char *p = xmalloc(src->n + 1);
        if (src->n) memcpy(p, src->p, src->n);
        p[src->n] = 0;
        dst->p = p;
    }
}

void value_free(store_value_t *v) {
    if (v->type == SV_TEXT || v->type == SV_BLOB) free((char *)v->p);
    v->type = SV_NULL;
    v->p = NULL;
    v->n = 0;
}

store_value_t value_text(const char *s) {
    store_value_t v = {.type = SV_TEXT, .p = s, .n = strlen(s)};
    return v;
}

/* A number's text, or a short text's bytes, into out; false if too long. */
static bool as_text(const store_value_t *v, char out[32]) {
    if (v->type == SV_INT) snprintf(out, 32, "%lld", (long long)v->i);
    else if (v->type == SV_REAL) json_format_double(v->d, out);
    else if (v->n < 31) memcpy(out, v->p, v->n), out[v->n] = 0;
    else return false;
    return true;
}

bool value_same(const store_value_t *a, const store_value_t *b) {
    if (a->type == SV_NULL || b->type == SV_NULL) return false;
    if (a->type == SV_INT && b->type == SV_INT) return a->i == b->i;
    if (a->type == SV_REAL && b->type == SV_REAL) return a->d == b->d;
    bool abytes = a->type == SV_TEXT || a->type == SV_BLOB, bbytes = b->type == SV_TEXT || b->type == SV_BLOB;
    if (abytes && bbytes) return a->n == b->n && (a->n == 0 || memcmp(a->p, b->p, a->n) == 0);
    char x[32], y[32];
    return as_text(a, x) && as_text(b, y) && strcmp(x, y) == 0;
}

void value_bind(store_stmt_t *st, int idx, const store_value_t *v) {
    switch (v->type) {
    case SV_INT: store_bind_int(st, idx, v->i); break;
    case SV_REAL: store_bind_double(st, idx, v->d); break;
    case SV_TEXT: store_bind_text(st, idx, v->p ? v->p : "", v->n); break;
    case SV_BLOB: store_bind_blob(st, idx, v->p ? v->p : "", v->n); break;
    case SV_NULL: store_bind_null(st, idx); break;
    }
}

void value_write_json(jw_t *w, const store_value_t *v, const value_style_t *s) {
    switch (v->type) {
    case SV_INT: jw_int(w, v->i); break;
    case SV_REAL:
        if (!isinf(v->d) || s->nonfinite == VJ_NONFINITE_NULL) {
            jw_double(w, v->d); /* NaN (SQLite stores none) and non-finite: null */
        } else {
            const char *t = v->d > 0 ? "Infinity" : "-Infinity";
            if (s->nonfinite == VJ_NONFINITE_BARE) jw_raw(w, t, strlen(t));
            else jw_str(w, t);
        }
        break;
    case SV_TEXT: jw_strn(w, v->p ? v->p : "", v->n); break;
    case SV_BLOB: {
        if (s->blob == VJ_BLOB_TYPE_OBJECT) {
            jw_obj_begin(w);
            jw_key(w, "type");
            jw_str(w, "blob");
            jw_obj_end(w);
            break;
        }
        buf_t b = BUF_INIT;
        b64_encode(&b, (const uint8_t *)v->p, v->n);
        if (s->blob == VJ_BLOB_BASE64_OBJECT) {
            jw_obj_begin(w);
            jw_key(w, "$base64");
            jw_bool(w, true);
            jw_key(w, "encoded");
        }
        jw_strn(w, b.data ? b.data : "", b.len);
        if (s->blob == VJ_BLOB_BASE64_OBJECT) jw_obj_end(w);
        buf_free(&b);
        break;
    }
    case SV_NULL: jw_null(w); break;
    }
}

/* The base64 payload of a blob spelling, or NULL if j is not one. */
static const json_t *blob_payload(const json_t *j, value_blob_in_t style) {
    if (!json_is_object(j)) return NULL;
    if (style == VJ_IN_DATASETTE) {
        if (json_object_size(j) == 2 && json_is_true(json_object_get(j, "$base64")) &&
            json_object_get(j, "encoded"))
            return json_object_get(j, "encoded");
        return NULL;
    }
    if (style == VJ_IN_TYPEDB) {
        const json_t *enc = json_object_get(j, "encoding");
        if (json_is_string(enc) && strcmp(json_string_value(enc), "base64") == 0 && json_object_get(j, "value"))
            return json_object_get(j, "value");
    }
    return NULL;
}

int value_from_json(const json_t *j, value_blob_in_t style, store_value_t *out, buf_t *scratch, err_t *e) {
    *out = (store_value_t){.type = SV_NULL};
    const json_t *payload = blob_payload(j, style);
    if (payload) {
        if (!json_is_string(payload)) goto undecodable;
        size_t n = json_string_length(payload);
        buf_reset(scratch);
        buf_reserve(scratch, n + 1);
        int len = b64_decode(json_string_value(payload), n, (uint8_t *)scratch->data, n + 1);
        if (len < 0) goto undecodable;
        *out = (store_value_t){.type = SV_BLOB, .p = scratch->data, .n = (size_t)len};
        return VALUE_SCALAR;
    }
    if (style == VJ_IN_DATASETTE && json_is_object(j) && json_object_size(j) == 1 && json_object_get(j, "$raw"))
        j = json_object_get(j, "$raw");
    switch (json_typeof(j)) {
    case JSON_STRING: *out = (store_value_t){.type = SV_TEXT, .p = json_string_value(j), .n = json_string_length(j)}; break;
    case JSON_INTEGER: *out = (store_value_t){.type = SV_INT, .i = json_integer_value(j)}; break;
    case JSON_REAL: *out = (store_value_t){.type = SV_REAL, .d = json_real_value(j)}; break;
    case JSON_TRUE: *out = (store_value_t){.type = SV_INT, .i = 1}; break;
    case JSON_FALSE: *out = (store_value_t){.type = SV_INT, .i = 0}; break;
    case JSON_NULL: break;
    default: return VALUE_COMPOSITE;
    }
    return VALUE_SCALAR;
undecodable:
    return err_set_sub(e, E_BAD_INPUT, ES_UNDECODABLE, "Decoding the input failed");
}
