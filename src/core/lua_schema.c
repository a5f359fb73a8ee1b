/* lua_schema: what a module definition means for the database — its
 * tables' SQL (STRICT, range checks, indexes) and which republishes may
 * migrate (§3.6). Pure. (The definition's JSON, RawModuleDefV9, is the
 * SpacetimeDB face's: api/stdb/stdb_schema.c.) */
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

