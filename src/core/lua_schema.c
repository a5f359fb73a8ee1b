/* lua_schema: what a module definition means for the database — its
 * tables' SQL (STRICT, range checks, indexes), which republishes may
 * migrate (§3.6), and the RawModuleDefV9 JSON (§3.7). Pure. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/lua.h"
#include "core/sql.h"

/* ---- SQL for a definition ------------------------------------------------- */

static const char *sql_type(ltype_t t) {
    switch (t) {
    case LT_F32:
    case LT_F64: return "REAL";
    case LT_STRING:
    case LT_IDENTITY:
    case LT_CONNECTION_ID: return "TEXT";
    case LT_BYTES: return "BLOB";
    default: return "INTEGER";
    }
}

static void column_check(buf_t *b, const mcol_t *c) {
    buf_t q = BUF_INIT;
    sql_quote(&q, c->name, '"');
    switch (c->type) {
    case LT_BOOL: buf_printf(b, " CHECK (%s IN (0, 1))", q.data); break;
    case LT_I8: buf_printf(b, " CHECK (%s BETWEEN -128 AND 127)", q.data); break;
    case LT_I16: buf_printf(b, " CHECK (%s BETWEEN -32768 AND 32767)", q.data); break;
    case LT_I32: buf_printf(b, " CHECK (%s BETWEEN -2147483648 AND 2147483647)", q.data); break;
    case LT_U8: buf_printf(b, " CHECK (%s BETWEEN 0 AND 255)", q.data); break;
    case LT_U16: buf_printf(b, " CHECK (%s BETWEEN 0 AND 65535)", q.data); break;
    case LT_U32: buf_printf(b, " CHECK (%s BETWEEN 0 AND 4294967295)", q.data); break;
    case LT_U64: buf_printf(b, " CHECK (%s >= 0)", q.data); break;
    case LT_IDENTITY: buf_printf(b, " CHECK (length(%s) = 64)", q.data); break;
    case LT_CONNECTION_ID: buf_printf(b, " CHECK (length(%s) = 32)", q.data); break;
    default: break;
    }
    buf_free(&q);
}

void mdef_create_sql(const mtable_t *t, buf_t *out) {
    buf_puts(out, "CREATE TABLE ");
    sql_quote(out, t->name, '"');
    buf_puts(out, " (");
    for (int i = 0; i < t->ncols; i++) {
        const mcol_t *c = &t->cols[i];
        if (i) buf_puts(out, ", ");
        sql_quote(out, c->name, '"');
        buf_printf(out, " %s", sql_type(c->type));
        if (c->pk) buf_puts(out, c->auto_inc ? " PRIMARY KEY AUTOINCREMENT" : " PRIMARY KEY");
        if (!c->optional) buf_puts(out, " NOT NULL");
        if (c->unique && !c->pk) buf_puts(out, " UNIQUE");
        if (c->dflt) buf_printf(out, " DEFAULT %s", c->dflt);
        column_check(out, c);
    }
    buf_puts(out, ") STRICT;\n");
    for (int i = 0; i < t->ncols; i++) {
        if (!t->cols[i].index || t->cols[i].pk || t->cols[i].unique) continue;
        buf_printf(out, "CREATE INDEX \"%s_%s_idx_btree\" ON ", t->name, t->cols[i].name);
        sql_quote(out, t->name, '"');
        buf_puts(out, " (");
        sql_quote(out, t->cols[i].name, '"');
        buf_puts(out, ");\n");
    }
    for (int i = 0; i < t->nidx; i++) {
        buf_printf(out, "CREATE INDEX \"%s", t->name);
        for (int k = 0; k < t->idx[i].n; k++) buf_printf(out, "_%s", t->idx[i].cols[k]);
        buf_puts(out, "_idx_btree\" ON ");
        sql_quote(out, t->name, '"');
        buf_puts(out, " (");
        for (int k = 0; k < t->idx[i].n; k++) {
            if (k) buf_puts(out, ", ");
            sql_quote(out, t->idx[i].cols[k], '"');
        }
        buf_puts(out, ");\n");
    }
}

static bool same_col(const mcol_t *a, const mcol_t *b) {
    return strcmp(a->name, b->name) == 0 && a->type == b->type && a->optional == b->optional && a->pk == b->pk &&
           a->auto_inc == b->auto_inc && a->unique == b->unique;
}

const char *mdef_migration(const mdef_t *old, const mdef_t *neu, buf_t *alter, char *why, size_t whylen) {
    for (int i = 0; old && i < old->ntables; i++) {
        const mtable_t *o = &old->tables[i], *n = mdef_table(neu, o->name);
        if (!n) {
            snprintf(why, whylen, "table %s would be dropped", o->name);
            return why;
        }
        if (n->ncols < o->ncols) {
            snprintf(why, whylen, "table %s would lose columns", o->name);
            return why;
        }
        for (int c = 0; c < o->ncols; c++)
            if (!same_col(&o->cols[c], &n->cols[c])) {
                snprintf(why, whylen, "column %s.%s would change (name, order, type, optionality or key)", o->name,
                         o->cols[c].name);
                return why;
            }
        for (int c = o->ncols; c < n->ncols; c++) {
            const mcol_t *nc = &n->cols[c];
            if (!nc->optional && !nc->dflt) {
                snprintf(why, whylen, "new column %s.%s must be optional or have a default", n->name, nc->name);
                return why;
            }
            if (nc->pk || nc->unique) {
                snprintf(why, whylen, "new column %s.%s cannot be a key or unique", n->name, nc->name);
                return why;
            }
            buf_puts(alter, "ALTER TABLE ");
            sql_quote(alter, n->name, '"');
            buf_puts(alter, " ADD COLUMN ");
            sql_quote(alter, nc->name, '"');
            buf_printf(alter, " %s", sql_type(nc->type));
            if (!nc->optional) buf_puts(alter, " NOT NULL");
            if (nc->dflt) buf_printf(alter, " DEFAULT %s", nc->dflt);
            column_check(alter, nc);
            buf_puts(alter, ";\n");
        }
    }
    for (int i = 0; i < neu->ntables; i++)
        if (!mdef_table(old, neu->tables[i].name)) mdef_create_sql(&neu->tables[i], alter);
    return NULL;
}

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

static void write_type(jw_t *w, ltype_t t, bool optional) {
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
        write_type(w, types[i], optional && optional[i]);
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

void mdef_schema_v9(const mdef_t *d, jw_t *w) {
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

