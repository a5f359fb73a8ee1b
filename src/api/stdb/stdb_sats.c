/* stdb_sats: see stdb_sats.h. */
#include "api/stdb/stdb_sats.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/stdb/stdb_internal.h"
#include "util/ids.h"

/* ---- column types ------------------------------------------------------------ */

scol_t stdb_col_affinity(const char *decltype, bool notnull, const store_value_t *first) {
    static const ltype_t as[] = {[T_I64] = LT_I64, [T_F64] = LT_F64, [T_STRING] = LT_STRING, [T_BYTES] = LT_BYTES};
    int t = stdb_affinity_type(decltype);
    if (t < 0) {
        sv_type_t k = first ? first->type : SV_NULL;
        t = k == SV_INT ? T_I64 : k == SV_REAL ? T_F64 : k == SV_BLOB ? T_BYTES : T_STRING;
    }
    return (scol_t){as[t], !notnull};
}

void stdb_cols(const mdef_t *def, const char *table, int ncols, const char *const *names,
               const char *const *decltypes, const bool *notnull, const store_value_t *first, scol_t *out) {
    const mtable_t *mt = NULL;
    for (int i = 0; def && i < def->ntables && !mt; i++)
        if (strcmp(def->tables[i].name, table) == 0) mt = &def->tables[i];
    if (mt && mt->ncols == ncols) {
        bool same = true;
        for (int c = 0; c < ncols && same; c++) same = strcmp(mt->cols[c].name, names[c]) == 0;
        if (same) {
            for (int c = 0; c < ncols; c++) out[c] = (scol_t){mt->cols[c].type, mt->cols[c].optional};
            return;
        }
    }
    for (int c = 0; c < ncols; c++) out[c] = stdb_col_affinity(decltypes[c], notnull[c], first ? &first[c] : NULL);
}

/* ---- values, cast as the type needs ----------------------------------------------- */

static int64_t as_int(const store_value_t *v) {
    switch (v->type) {
    case SV_INT: return v->i;
    case SV_REAL: return (int64_t)v->d;
    case SV_TEXT:
    case SV_BLOB: {
        char tmp[32];
        size_t n = v->n < sizeof tmp - 1 ? v->n : sizeof tmp - 1;
        memcpy(tmp, v->p ? v->p : "", n);
        tmp[n] = 0;
        return strtoll(tmp, NULL, 10);
    }
    default: return 0;
    }
}

static double as_real(const store_value_t *v) {
    switch (v->type) {
    case SV_INT: return (double)v->i;
    case SV_REAL: return v->d;
    case SV_TEXT:
    case SV_BLOB: {
        char tmp[64];
        size_t n = v->n < sizeof tmp - 1 ? v->n : sizeof tmp - 1;
        memcpy(tmp, v->p ? v->p : "", n);
        tmp[n] = 0;
        return strtod(tmp, NULL);
    }
    default: return 0;
    }
}

/* Text or bytes as stored, numbers printed (into tmp). */
static const char *as_text(const store_value_t *v, char tmp[32], size_t *n) {
    if (v->type == SV_INT) {
        *n = (size_t)snprintf(tmp, 32, "%" PRId64, v->i);
        return tmp;
    }
    if (v->type == SV_REAL) {
        *n = json_format_double(v->d, tmp);
        return tmp;
    }
    *n = v->type == SV_NULL ? 0 : v->n;
    return v->p ? v->p : "";
}

/* An identity's (32) or connection id's (16) stored hex as big-endian
 * bytes; zeros if it is not that. */
static void as_hex_id(const store_value_t *v, uint8_t *be, size_t n) {
    memset(be, 0, n);
    if ((v->type == SV_TEXT || v->type == SV_BLOB) && v->n == 2 * n) hex_decode(v->p, v->n, be, n);
}

static void bsatn_plain(buf_t *b, ltype_t t, const store_value_t *v) {
    char tmp[32];
    size_t n;
    const char *s;
    uint8_t id[32];
    switch (t) {
    case LT_BOOL: bw_bool(b, as_int(v) != 0); break;
    case LT_I8:
    case LT_U8: bw_u8(b, (uint8_t)as_int(v)); break;
    case LT_I16:
    case LT_U16: bw_u16(b, (uint16_t)as_int(v)); break;
    case LT_I32:
    case LT_U32: bw_u32(b, (uint32_t)as_int(v)); break;
    case LT_I64:
    case LT_U64:
    case LT_TIMESTAMP: bw_u64(b, (uint64_t)as_int(v)); break;
    case LT_F32: bw_f32(b, (float)as_real(v)); break;
    case LT_F64: bw_f64(b, as_real(v)); break;
    case LT_STRING:
    case LT_BYTES:
        s = as_text(v, tmp, &n);
        bw_str(b, s, n);
        break;
    case LT_IDENTITY:
        as_hex_id(v, id, 32);
        bw_be(b, id, 32);
        break;
    case LT_CONNECTION_ID:
        as_hex_id(v, id, 16);
        bw_be(b, id, 16);
        break;
    }
}

void stdb_bsatn_value(buf_t *b, scol_t c, const store_value_t *v) {
    if (c.optional) {
        if (v->type == SV_NULL) {
            bw_u8(b, 1); /* none */
            return;
        }
        bw_u8(b, 0); /* some */
    }
    bsatn_plain(b, c.t, v);
}

void stdb_bsatn_row(buf_t *b, const scol_t *cols, int ncols, const store_value_t *row) {
    for (int i = 0; i < ncols; i++) stdb_bsatn_value(b, cols[i], &row[i]);
}

void stdb_u128_dec(const uint8_t be[16], char out[48]) {
    uint8_t n[16];
    memcpy(n, be, 16);
    char tmp[48];
    int len = 0;
    for (;;) {
        unsigned rem = 0;
        bool zero = true;
        for (int i = 0; i < 16; i++) {
            unsigned cur = rem * 256 + n[i];
            n[i] = (uint8_t)(cur / 10);
            rem = cur % 10;
            if (n[i]) zero = false;
        }
        tmp[len++] = (char)('0' + rem);
        if (zero) break;
    }
    for (int i = 0; i < len; i++) out[i] = tmp[len - 1 - i];
    out[len] = 0;
}

void stdb_json_identity(jw_t *w, const char *hex) {
    char v[70];
    snprintf(v, sizeof v, "0x%.64s", hex);
    jw_obj_begin(w);
    jw_key(w, "__identity__");
    jw_str(w, v);
    jw_obj_end(w);
}

void stdb_json_conn_id(jw_t *w, const uint8_t be[16]) {
    char dec[48];
    stdb_u128_dec(be, dec);
    jw_obj_begin(w);
    jw_key(w, "__connection_id__");
    jw_raw(w, dec, strlen(dec));
    jw_obj_end(w);
}

static void json_plain(jw_t *w, ltype_t t, const store_value_t *v) {
    char tmp[32];
    size_t n;
    const char *s;
    uint8_t id[32];
    switch (t) {
    case LT_BOOL: jw_bool(w, as_int(v) != 0); break;
    case LT_F32:
    case LT_F64: jw_double(w, as_real(v)); break;
    case LT_STRING:
        s = as_text(v, tmp, &n);
        jw_strn(w, s, n);
        break;
    case LT_BYTES: {
        s = as_text(v, tmp, &n);
        char *hex = xmalloc(n * 2 + 1);
        hex_encode((const uint8_t *)s, n, hex);
        jw_str(w, hex);
        free(hex);
        break;
    }
    case LT_IDENTITY: {
        as_hex_id(v, id, 32);
        char hex[65];
        hex_encode(id, 32, hex);
        stdb_json_identity(w, hex);
        break;
    }
    case LT_CONNECTION_ID:
        as_hex_id(v, id, 16);
        stdb_json_conn_id(w, id);
        break;
    case LT_TIMESTAMP:
        jw_obj_begin(w);
        jw_key(w, "__timestamp_micros_since_unix_epoch__");
        jw_int(w, as_int(v));
        jw_obj_end(w);
        break;
    case LT_U64: {
        char num[24];
        snprintf(num, sizeof num, "%" PRIu64, (uint64_t)as_int(v));
        jw_raw(w, num, strlen(num));
        break;
    }
    default: jw_int(w, as_int(v)); break;
    }
}

void stdb_json_value(jw_t *w, scol_t c, const store_value_t *v) {
    if (c.optional) {
        jw_obj_begin(w);
        if (v->type == SV_NULL) {
            jw_key(w, "none");
            jw_arr_begin(w);
            jw_arr_end(w);
        } else {
            jw_key(w, "some");
            json_plain(w, c.t, v);
        }
        jw_obj_end(w);
    } else if (v->type == SV_NULL) {
        jw_null(w); /* a NOT NULL column cannot hold it */
    } else {
        json_plain(w, c.t, v);
    }
}

/* ---- reducer arguments ---------------------------------------------------------- */

/* One BSATN value of type t as the SATS-JSON the runtime reads. */
static json_t *arg_from_bsatn(br_t *r, ltype_t t) {
    switch (t) {
    case LT_BOOL: return json_boolean(br_bool(r));
    case LT_I8: return json_integer((int8_t)br_u8(r));
    case LT_U8: return json_integer(br_u8(r));
    case LT_I16: return json_integer((int16_t)br_u16(r));
    case LT_U16: return json_integer(br_u16(r));
    case LT_I32: return json_integer((int32_t)br_u32(r));
    case LT_U32: return json_integer(br_u32(r));
    case LT_I64:
    case LT_TIMESTAMP: return json_integer((json_int_t)br_u64(r));
    case LT_U64: {
        uint64_t v = br_u64(r);
        if (v > INT64_MAX) br_fail(r); /* stored as INTEGER: 0…2⁶³−1 */
        return json_integer((json_int_t)v);
    }
    case LT_F32:
    case LT_F64: {
        double v = t == LT_F32 ? br_f32(r) : br_f64(r);
        if (!isfinite(v)) { /* SATS-JSON (and so the runtime's input) has no NaN or infinity */
            br_fail(r);
            v = 0;
        }
        return json_real(v);
    }
    case LT_STRING: {
        size_t n;
        const char *s = br_str(r, &n);
        return json_stringn(s ? s : "", n);
    }
    case LT_BYTES: {
        size_t n;
        const uint8_t *p = br_bytes(r, &n);
        char *hex = xmalloc(n * 2 + 1);
        hex_encode(p ? p : (const uint8_t *)"", n, hex);
        json_t *j = json_string(hex);
        free(hex);
        return j;
    }
    case LT_IDENTITY:
    case LT_CONNECTION_ID: {
        size_t n = t == LT_IDENTITY ? 32 : 16;
        uint8_t be[32];
        br_be(r, be, n);
        char hex[65];
        hex_encode(be, n, hex);
        return json_string(hex);
    }
    }
    return json_null();
}

json_t *stdb_args_from_bsatn(const mreducer_t *rd, const uint8_t *p, size_t n, char *why, size_t whyn) {
    br_t r;
    br_init(&r, p, n);
    json_t *out = json_array();
    for (int i = 0; i < rd->nparams; i++) {
        if (rd->poptional[i]) {
            uint8_t tag = br_u8(&r);
            if (tag == 1) {
                json_array_append_new(out, json_null());
                continue;
            }
            if (tag != 0) br_fail(&r);
        }
        json_array_append_new(out, arg_from_bsatn(&r, rd->ptypes[i]));
    }
    if (!br_done(&r)) {
        snprintf(why, whyn, "invalid arguments for reducer %s: they do not decode as its %d parameters", rd->name,
                 rd->nparams);
        json_decref(out);
        return NULL;
    }
    return out;
}

/* One SATS-JSON value (read as the runtime reads it) as BSATN of type t. */
static bool arg_to_bsatn(buf_t *b, ltype_t t, bool optional, const json_t *j) {
    lvalue_t v;
    if (!lvalue_from_json(j, t, optional, &v)) return false;
    if (optional) bw_u8(b, v.kind == LV_NIL ? 1 : 0);
    if (v.kind == LV_NIL) return true;
    uint8_t be[32];
    switch (t) {
    case LT_BOOL: bw_bool(b, v.b); break;
    case LT_F32: bw_f32(b, (float)v.d); break;
    case LT_F64: bw_f64(b, v.d); break;
    case LT_STRING:
    case LT_BYTES: bw_str(b, v.s, v.n); break;
    case LT_IDENTITY:
    case LT_CONNECTION_ID:
        hex_decode(v.s, v.n, be, v.n / 2);
        bw_be(b, be, v.n / 2);
        break;
    case LT_I8:
    case LT_U8: bw_u8(b, (uint8_t)v.i); break;
    case LT_I16:
    case LT_U16: bw_u16(b, (uint16_t)v.i); break;
    case LT_I32:
    case LT_U32: bw_u32(b, (uint32_t)v.i); break;
    default: bw_u64(b, (uint64_t)v.i); break;
    }
    lvalue_free(&v);
    return true;
}

bool stdb_args_to_bsatn(const mreducer_t *rd, const json_t *args, buf_t *out) {
    if (json_is_array(args) && json_array_size(args) > (size_t)rd->nparams) return false;
    if (!json_is_array(args) && !json_is_object(args)) return false;
    for (int i = 0; i < rd->nparams; i++) {
        const json_t *j = json_is_array(args) ? json_array_get(args, (size_t)i) : json_object_get(args, rd->pnames[i]);
        if (!arg_to_bsatn(out, rd->ptypes[i], rd->poptional[i], j)) return false;
    }
    return true;
}
