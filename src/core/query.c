/* query: see query.h. */
#include "core/query.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sql.h"
#include "core/value.h"
#include "util/json.h"

void query_init(query_t *q, const schema_t *s, const tinfo_t *t) {
    memset(q, 0, sizeof *q);
    q->s = s;
    q->t = t;
    q->rowid = t->rowid;
    q->sort = QSORT_NONE;
    q->sel = xcalloc((size_t)t->ncols + 2, sizeof *q->sel);
}

void query_free(query_t *q) {
    free(q->sel);
    for (int i = 0; i < q->nparams; i++) {
        free(q->params[i].name);
        value_free(&q->params[i].v);
    }
    free(q->params);
    buf_free(&q->where);
    buf_free(&q->pre_keyset);
    buf_free(&q->sql);
    buf_free(&q->count_sql);
    buf_free(&q->base_sql);
    memset(q, 0, sizeof *q);
}

void query_select_all(query_t *q) {
    q->nsel = 0;
    if (q->rowid) q->sel[q->nsel++] = QCOL_ROWID;
    for (int c = 0; c < q->t->ncols; c++) q->sel[q->nsel++] = c;
}

const char *query_sel_name(const query_t *q, int i) {
    return q->sel[i] < 0 ? "rowid" : q->t->cols[q->sel[i]].name;
}

const char *query_param(query_t *q, const char *name, const store_value_t *v) {
    q->params = xrealloc(q->params, (size_t)(q->nparams + 1) * sizeof *q->params);
    qparam_t *p = &q->params[q->nparams++];
    if (name) {
        p->name = xstrdup(name);
    } else {
        char n[24];
        snprintf(n, sizeof n, "p%d", q->nparams - 1);
        p->name = xstrdup(n);
    }
    value_copy(&p->v, v);
    return p->name;
}

static void clause(query_t *q, const char *sql) {
    if (q->nwhere++) buf_puts(&q->where, " and ");
    buf_puts(&q->where, sql);
}

void query_where(query_t *q, const char *sql) { clause(q, sql); }

/* [name]; SQLite cannot escape ']' inside brackets, so such a name is
 * double-quoted instead. */
static void bracketed(buf_t *b, const char *name) {
    if (strchr(name, ']')) {
        sql_quote(b, name, '"');
        return;
    }
    buf_putc(b, '[');
    buf_puts(b, name);
    buf_putc(b, ']');
}

/* The comparison operators: SQL operator and the pattern around the value. */
static const struct {
    const char *sqlop, *pre, *post;
} CMP[] = {
    [Q_EQ] = {"=", "", ""},
    [Q_NE] = {"!=", "", ""},
    [Q_CONTAINS] = {"like", "%", "%"},
    [Q_NOTCONTAINS] = {"not like", "%", "%"},
    [Q_STARTSWITH] = {"like", "", "%"},
    [Q_ENDSWITH] = {"like", "%", ""},
    [Q_GT] = {">", "", ""},
    [Q_GTE] = {">=", "", ""},
    [Q_LT] = {"<", "", ""},
    [Q_LTE] = {"<=", "", ""},
    [Q_LIKE] = {"like", "", ""},
    [Q_NOTLIKE] = {"not like", "", ""},
    [Q_GLOB] = {"glob", "", ""},
};

void query_filter(query_t *q, const char *column, qop_t op, const store_value_t *vals, int nvals) {
    buf_t sql = BUF_INIT, qc = BUF_INIT;
    sql_quote(&qc, column, '"');
    static const store_value_t null = {.type = SV_NULL};
    const store_value_t *v = nvals > 0 ? &vals[0] : &null;
    switch (op) {
    case Q_EQ: case Q_NE: case Q_CONTAINS: case Q_NOTCONTAINS: case Q_STARTSWITH: case Q_ENDSWITH:
    case Q_GT: case Q_GTE: case Q_LT: case Q_LTE: case Q_LIKE: case Q_NOTLIKE: case Q_GLOB: {
        const char *pn;
        if (*CMP[op].pre || *CMP[op].post) {
            /* a pattern around the value's text */
            buf_t pat = BUF_INIT;
            buf_puts(&pat, CMP[op].pre);
            if (v->type == SV_TEXT || v->type == SV_BLOB) buf_append(&pat, v->p, v->n);
            else if (v->type == SV_INT) buf_printf(&pat, "%lld", (long long)v->i);
            else if (v->type == SV_REAL && isfinite(v->d)) {
                char d[32];
                buf_append(&pat, d, json_format_double(v->d, d)); /* 0.1, not 0.10000000000000001 */
            } else if (v->type == SV_REAL) buf_printf(&pat, "%g", v->d);
            buf_puts(&pat, CMP[op].post);
            store_value_t pv = {.type = SV_TEXT, .p = pat.data, .n = pat.len};
            pn = query_param(q, NULL, &pv);
            buf_free(&pat);
        } else {
            pn = query_param(q, NULL, v);
        }
        buf_printf(&sql, "%s %s :%s", qc.data, CMP[op].sqlop, pn);
        break;
    }
    case Q_IN:
    case Q_NOTIN:
        sql_ident(&sql, column);
        buf_puts(&sql, op == Q_IN ? " in (" : " not in (");
        for (int i = 0; i < nvals; i++) buf_printf(&sql, "%s:%s", i ? ", " : "", query_param(q, NULL, &vals[i]));
        buf_putc(&sql, ')');
        break;
    case Q_ARRAY_CONTAINS:
    case Q_ARRAY_NOTCONTAINS:
        buf_printf(&sql, ":%s %sin (select value from json_each(", query_param(q, NULL, v),
                   op == Q_ARRAY_CONTAINS ? "" : "not ");
        bracketed(&sql, q->t->name);
        buf_putc(&sql, '.');
        bracketed(&sql, column);
        buf_puts(&sql, "))");
        break;
    case Q_DATE: buf_printf(&sql, "date(%s) = :%s", qc.data, query_param(q, NULL, v)); break;
    case Q_ISNULL: buf_printf(&sql, "%s is null", qc.data); break;
    case Q_NOTNULL: buf_printf(&sql, "%s is not null", qc.data); break;
    case Q_ISBLANK: buf_printf(&sql, "(%s is null or %s = \"\")", qc.data, qc.data); break;
    case Q_NOTBLANK: buf_printf(&sql, "(%s is not null and %s != \"\")", qc.data, qc.data); break;
    }
    if (sql.data) clause(q, sql.data);
    buf_free(&sql);
    buf_free(&qc);
}

int query_search(query_t *q, const char *column, const char *pname, const char *text, bool raw, err_t *e) {
    const tinfo_t *t = q->t;
    if (!t->fts) return err_set(e, E_NOT_FOUND, "The table has no full-text index");
    if (column) {
        const tinfo_t *f = schema_find(q->s, t->fts);
        if (!f || tinfo_col(f, column) < 0) return err_set(e, E_NOT_FOUND, "Cannot search by that column");
    }
    store_value_t v = value_text(text);
    const char *pn = query_param(q, pname, &v);
    buf_t fts = BUF_INIT, sql = BUF_INIT;
    sql_ident(&fts, t->fts);
    buf_printf(&sql, "rowid in (select rowid from %s where ", fts.data);
    if (column) sql_ident(&sql, column);
    else buf_puts(&sql, fts.data);
    buf_printf(&sql, " match %s%s%s)", raw ? ":" : "escape_fts(:", pn, raw ? "" : ")");
    clause(q, sql.data);
    buf_free(&fts);
    buf_free(&sql);
    return 0;
}

void query_sort(query_t *q, int column, bool desc) {
    q->sort = column;
    q->desc = desc;
}

static void freeze_pre_keyset(query_t *q) {
    buf_reset(&q->pre_keyset);
    if (q->nwhere) {
        buf_puts(&q->pre_keyset, "where ");
        buf_append(&q->pre_keyset, q->where.data, q->where.len);
        buf_putc(&q->pre_keyset, ' ');
    } else {
        buf_puts(&q->pre_keyset, "");
    }
}

/* (a > :k0) or (a = :k0 and b > :k1) …, for a key starting at parameter
 * names[0]. */
static void keyset_key(const query_t *q, buf_t *k, char **names) {
    const tinfo_t *t = q->t;
    if (q->rowid) {
        buf_printf(k, "rowid > :%s", names[0]);
        return;
    }
    buf_puts(k, "(");
    for (int last = 0; last < t->npk; last++) {
        if (last) buf_puts(k, "\n  or\n");
        buf_puts(k, "(");
        for (int i = 0; i < last; i++) {
            sql_ident(k, t->cols[t->pk[i]].name);
            buf_printf(k, " = :%s and ", names[i]);
        }
        sql_ident(k, t->cols[t->pk[last]].name);
        buf_printf(k, " > :%s)", names[last]);
    }
    buf_puts(k, ")");
}

int query_after(query_t *q, const store_value_t *sort_value, const store_value_t *key, int nkey, err_t *e) {
    const tinfo_t *t = q->t;
    int want = q->rowid ? 1 : t->npk;
    if (want == 0 || nkey != want || t->is_view) return err_set(e, E_BAD_INPUT, "Invalid _next token");
    freeze_pre_keyset(q);
    q->keyset = true;
    char **names = xcalloc((size_t)nkey, sizeof *names);
    for (int i = 0; i < nkey; i++) names[i] = xstrdup(query_param(q, NULL, &key[i]));
    buf_t k = BUF_INIT, c = BUF_INIT, col = BUF_INIT;
    keyset_key(q, &k, names);
    if (q->sort == QSORT_NONE) {
        clause(q, k.data);
    } else {
        sql_ident(&col, q->sort >= 0 ? t->cols[q->sort].name : "rowid");
        if (!sort_value) {
            /* the last row's sort value was null: nulls sort first */
            if (q->desc) buf_printf(&c, "(%s is null and %s)", col.data, k.data);
            else buf_printf(&c, "(%s is not null or (%s is null and %s))", col.data, col.data, k.data);
        } else {
            const char *pv = query_param(q, NULL, sort_value);
            buf_printf(&c, "(%s %s :%s%s%s%s or (%s = :%s and %s))", col.data, q->desc ? "<" : ">", pv,
                       q->desc ? " or " : "", q->desc ? col.data : "", q->desc ? " is null" : "", col.data, pv,
                       k.data);
        }
        clause(q, c.data);
    }
    for (int i = 0; i < nkey; i++) free(names[i]);
    free(names);
    buf_free(&k);
    buf_free(&c);
    buf_free(&col);
    return 0;
}

void query_compile(query_t *q) {
    const tinfo_t *t = q->t;
    if (!q->keyset) freeze_pre_keyset(q);
    buf_t tn = BUF_INIT, cols = BUF_INIT, order = BUF_INIT, pks = BUF_INIT;
    sql_ident(&tn, t->name);
    for (int i = 0; i < q->nsel; i++) {
        if (i) buf_puts(&cols, ", ");
        sql_ident(&cols, query_sel_name(q, i));
    }
    if (!q->nsel) buf_puts(&cols, "*");
    if (q->rowid) buf_puts(&pks, "rowid");
    for (int k = 0; k < t->npk; k++) {
        if (k) buf_puts(&pks, ", ");
        sql_ident(&pks, t->cols[t->pk[k]].name);
    }
    if (q->sort != QSORT_NONE) {
        buf_puts(&order, "order by ");
        sql_ident(&order, q->sort >= 0 ? t->cols[q->sort].name : "rowid");
        if (q->desc) buf_puts(&order, " desc");
        if (!t->is_view && pks.len) {
            buf_puts(&order, ", ");
            buf_append(&order, pks.data, pks.len);
        }
    } else if (!t->is_view && pks.len) {
        buf_puts(&order, "order by ");
        buf_append(&order, pks.data, pks.len);
    }
    /* Built with appends, not printf: this runs for every table page. */
    const char *tname = tn.data, *pre = q->pre_keyset.data ? q->pre_keyset.data : "";
    buf_reset(&q->sql);
    buf_puts(&q->sql, "select ");
    buf_append(&q->sql, cols.data, cols.len);
    buf_puts(&q->sql, " from ");
    buf_append(&q->sql, tname, tn.len);
    buf_putc(&q->sql, ' ');
    if (q->nwhere) {
        buf_puts(&q->sql, "where ");
        buf_append(&q->sql, q->where.data, q->where.len);
        buf_putc(&q->sql, ' ');
    }
    if (order.len) buf_append(&q->sql, order.data, order.len);
    if (q->limit > 0) buf_printf(&q->sql, " limit %d", q->limit);
    if (q->offset) buf_printf(&q->sql, "%s offset %lld", q->limit > 0 ? "" : " limit -1", (long long)q->offset);
    buf_reset(&q->count_sql);
    buf_puts(&q->count_sql, "select count(*) from ");
    buf_append(&q->count_sql, tname, tn.len);
    buf_putc(&q->count_sql, ' ');
    buf_puts(&q->count_sql, pre);
    buf_reset(&q->base_sql);
    buf_puts(&q->base_sql, "select * from ");
    buf_append(&q->base_sql, tname, tn.len);
    buf_putc(&q->base_sql, ' ');
    buf_puts(&q->base_sql, pre);
    buf_free(&tn);
    buf_free(&cols);
    buf_free(&order);
    buf_free(&pks);
}

int query_bind(void *ctx, store_stmt_t *st, int idx, const char *name, err_t *e) {
    (void)e;
    query_t *q = ctx;
    if (!name || !name[0]) return 0;
    for (int i = 0; i < q->nparams; i++) {
        if (strcmp(q->params[i].name, name + 1) != 0) continue;
        value_bind(st, idx, &q->params[i].v);
        break;
    }
    return 0;
}
