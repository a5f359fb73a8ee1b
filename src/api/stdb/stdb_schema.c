/* stdb_schema: SATS types as SpacetimeDB's JSON writes them, and a Lua
 * module's definition as RawModuleDefV9 (spec/spacetimedb.md §3.7). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/stdb/stdb_internal.h"
#include "core/lua.h"
#include "util/buf.h"
#include "util/json.h"

/* ---- schema?version=9 ---------------------------------------------------------- */

static void write_some_str(jw_t *w, const char *s) {
    jw_obj_begin(w);
    jw_key(w, "some");
    jw_str(w, s);
    jw_obj_end(w);
}

static void write_unit(jw_t *w, const char *k) {
    jw_obj_begin(w);
    jw_key(w, k);
    jw_arr_begin(w);
    jw_arr_end(w);
    jw_obj_end(w);
}

static void write_sats(jw_t *w, ltype_t t) {
    static const char *const names[] = {"Bool", "I8", "I16", "I32", "I64", "U8", "U16", "U32", "U64", "F32", "F64", "String"};
    if (t <= LT_STRING) {
        write_unit(w, names[t]);
        return;
    }
    jw_obj_begin(w);
    if (t == LT_BYTES) {
        jw_key(w, "Array");
        write_unit(w, "U8");
    } else {
        const char *field = t == LT_IDENTITY ? "__identity__" : t == LT_CONNECTION_ID ? "__connection_id__"
                                                                                      : "__timestamp_micros_since_unix_epoch__";
        const char *inner = t == LT_IDENTITY ? "U256" : t == LT_CONNECTION_ID ? "U128" : "I64";
        jw_key(w, "Product");
        jw_obj_begin(w);
        jw_key(w, "elements");
        jw_arr_begin(w);
        jw_obj_begin(w);
        jw_key(w, "name");
        write_some_str(w, field);
        jw_key(w, "algebraic_type");
        write_unit(w, inner);
        jw_obj_end(w);
        jw_arr_end(w);
        jw_obj_end(w);
    }
    jw_obj_end(w);
}

void stdb_write_ltype(jw_t *w, ltype_t t, bool optional) {
    if (!optional) {
        write_sats(w, t);
        return;
    }
    jw_obj_begin(w);
    jw_key(w, "Sum");
    jw_obj_begin(w);
    jw_key(w, "variants");
    jw_arr_begin(w);
    jw_obj_begin(w);
    jw_key(w, "name");
    write_some_str(w, "some");
    jw_key(w, "algebraic_type");
    write_sats(w, t);
    jw_obj_end(w);
    jw_obj_begin(w);
    jw_key(w, "name");
    write_some_str(w, "none");
    jw_key(w, "algebraic_type");
    jw_obj_begin(w);
    jw_key(w, "Product");
    jw_obj_begin(w);
    jw_key(w, "elements");
    jw_arr_begin(w);
    jw_arr_end(w);
    jw_obj_end(w);
    jw_obj_end(w);
    jw_obj_end(w);
    jw_arr_end(w);
    jw_obj_end(w);
    jw_obj_end(w);
}

static void write_elements(jw_t *w, int n, char *const *names, const ltype_t *types, const bool *optional) {
    jw_obj_begin(w);
    jw_key(w, "elements");
    jw_arr_begin(w);
    for (int i = 0; i < n; i++) {
        jw_obj_begin(w);
        jw_key(w, "name");
        write_some_str(w, names[i]);
        jw_key(w, "algebraic_type");
        stdb_write_ltype(w, types[i], optional && optional[i]);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_obj_end(w);
}

static void write_index(jw_t *w, const char *table, int n, char *const *cols, const int *pos) {
    buf_t joined = BUF_INIT;
    for (int i = 0; i < n; i++) buf_printf(&joined, "%s%s", i ? "_" : "", cols[i]);
    buf_t name = BUF_INIT;
    buf_printf(&name, "%s_%s_idx_btree", table, joined.data);
    jw_obj_begin(w);
    jw_key(w, "name");
    write_some_str(w, name.data);
    jw_key(w, "accessor_name");
    write_some_str(w, joined.data);
    jw_key(w, "algorithm");
    jw_obj_begin(w);
    jw_key(w, "BTree");
    jw_obj_begin(w);
    jw_key(w, "columns");
    jw_arr_begin(w);
    for (int i = 0; i < n; i++) jw_int(w, pos[i]);
    jw_arr_end(w);
    jw_obj_end(w);
    jw_obj_end(w);
    jw_obj_end(w);
    buf_free(&joined);
    buf_free(&name);
}

static void pascal(const char *s, buf_t *out) {
    bool up = true;
    for (; *s; s++) {
        if (*s == '_') {
            up = true;
            continue;
        }
        buf_putc(out, up ? (char)toupper((unsigned char)*s) : *s);
        up = false;
    }
}

void stdb_schema_v9(const mdef_t *d, jw_t *w) {
    jw_obj_begin(w);
    jw_key(w, "typespace");
    jw_obj_begin(w);
    jw_key(w, "types");
    jw_arr_begin(w);
    for (int i = 0; i < d->ntables; i++) {
        const mtable_t *t = &d->tables[i];
        char **names = calloc((size_t)t->ncols, sizeof *names);
        ltype_t *types = calloc((size_t)t->ncols, sizeof *types);
        bool *opt = calloc((size_t)t->ncols, sizeof *opt);
        for (int c = 0; c < t->ncols; c++) names[c] = t->cols[c].name, types[c] = t->cols[c].type, opt[c] = t->cols[c].optional;
        jw_obj_begin(w);
        jw_key(w, "Product");
        write_elements(w, t->ncols, names, types, opt);
        jw_obj_end(w);
        free(names), free(types), free(opt);
    }
    jw_arr_end(w);
    jw_obj_end(w);
    jw_key(w, "tables");
    jw_arr_begin(w);
    for (int i = 0; i < d->ntables; i++) {
        const mtable_t *t = &d->tables[i];
        jw_obj_begin(w);
        jw_key(w, "name");
        jw_str(w, t->name);
        jw_key(w, "product_type_ref");
        jw_int(w, i);
        jw_key(w, "primary_key");
        jw_arr_begin(w);
        for (int c = 0; c < t->ncols; c++)
            if (t->cols[c].pk) jw_int(w, c);
        jw_arr_end(w);
        jw_key(w, "indexes");
        jw_arr_begin(w);
        for (int c = 0; c < t->ncols; c++)
            if (t->cols[c].pk || t->cols[c].unique || t->cols[c].index) write_index(w, t->name, 1, &t->cols[c].name, &c);
        for (int x = 0; x < t->nidx; x++) {
            int *pos = calloc((size_t)t->idx[x].n + 1, sizeof *pos);
            for (int k = 0; k < t->idx[x].n; k++)
                for (int c = 0; c < t->ncols; c++)
                    if (strcmp(t->cols[c].name, t->idx[x].cols[k]) == 0) pos[k] = c;
            write_index(w, t->name, t->idx[x].n, t->idx[x].cols, pos);
            free(pos);
        }
        jw_arr_end(w);
        jw_key(w, "constraints");
        jw_arr_begin(w);
        for (int c = 0; c < t->ncols; c++) {
            if (!t->cols[c].pk && !t->cols[c].unique) continue;
            buf_t name = BUF_INIT;
            buf_printf(&name, "%s_%s_key", t->name, t->cols[c].name);
            jw_obj_begin(w);
            jw_key(w, "name");
            write_some_str(w, name.data);
            jw_key(w, "data");
            jw_obj_begin(w);
            jw_key(w, "Unique");
            jw_obj_begin(w);
            jw_key(w, "columns");
            jw_arr_begin(w);
            jw_int(w, c);
            jw_arr_end(w);
            jw_obj_end(w);
            jw_obj_end(w);
            jw_obj_end(w);
            buf_free(&name);
        }
        jw_arr_end(w);
        jw_key(w, "sequences");
        jw_arr_begin(w);
        for (int c = 0; c < t->ncols; c++) {
            if (!t->cols[c].auto_inc) continue;
            buf_t name = BUF_INIT;
            buf_printf(&name, "%s_%s_seq", t->name, t->cols[c].name);
            jw_obj_begin(w);
            jw_key(w, "name");
            write_some_str(w, name.data);
            jw_key(w, "column");
            jw_int(w, c);
            jw_key(w, "start");
            write_unit(w, "none");
            jw_key(w, "min_value");
            write_unit(w, "none");
            jw_key(w, "max_value");
            write_unit(w, "none");
            jw_key(w, "increment");
            jw_int(w, 1);
            jw_obj_end(w);
            buf_free(&name);
        }
        jw_arr_end(w);
        jw_key(w, "schedule");
        write_unit(w, "none");
        jw_key(w, "table_type");
        write_unit(w, "User");
        jw_key(w, "table_access");
        write_unit(w, t->public ? "Public" : "Private");
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_key(w, "reducers");
    jw_arr_begin(w);
    for (int i = 0; i < d->nreducers; i++) {
        const mreducer_t *r = &d->reducers[i];
        jw_obj_begin(w);
        jw_key(w, "name");
        jw_str(w, r->name);
        jw_key(w, "params");
        write_elements(w, r->nparams, r->pnames, r->ptypes, r->poptional);
        jw_key(w, "lifecycle");
        if (r->lifecycle == LC_NONE) {
            write_unit(w, "none");
        } else {
            jw_obj_begin(w);
            jw_key(w, "some");
            write_unit(w, r->lifecycle == LC_INIT ? "Init" : r->lifecycle == LC_CONNECT ? "OnConnect" : "OnDisconnect");
            jw_obj_end(w);
        }
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_key(w, "types");
    jw_arr_begin(w);
    for (int i = 0; i < d->ntables; i++) {
        buf_t name = BUF_INIT;
        pascal(d->tables[i].name, &name);
        jw_obj_begin(w);
        jw_key(w, "name");
        jw_obj_begin(w);
        jw_key(w, "scope");
        jw_arr_begin(w);
        jw_arr_end(w);
        jw_key(w, "name");
        jw_str(w, name.data);
        jw_obj_end(w);
        jw_key(w, "ty");
        jw_int(w, i);
        jw_key(w, "custom_ordering");
        jw_bool(w, true);
        jw_obj_end(w);
        buf_free(&name);
    }
    jw_arr_end(w);
    jw_key(w, "misc_exports");
    jw_arr_begin(w);
    jw_arr_end(w);
    jw_key(w, "row_level_security");
    jw_arr_begin(w);
    jw_arr_end(w);
    jw_obj_end(w);
}

