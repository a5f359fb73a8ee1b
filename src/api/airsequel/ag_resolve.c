/* airsequel/ag_resolve: GraphQL fields as SQL (spec/airsequel.md §4.3,
 * §4.6–§4.8). Reads are one SELECT per list or by-pk field on the run's
 * connection (one snapshot for the whole query); mutations are INSERT /
 * UPDATE / DELETE … RETURNING only the selected columns, on the writer's
 * connection inside the request's one write job. Every identifier is
 * quoted, every value bound. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/airsequel/ag.h"
#include "core/sql.h"
#include "util/json.h"
#include "util/url.h"

#define MAX_ROWS 10000
#define TOO_MANY_ROWS "Error: a request may return at most 50000 rows in all (use limit and offset)"

typedef struct {
    const ag_table_t *t;
    store_value_t *vals; /* per column of t; type SV_NULL when not read */
} ag_row_t;

typedef struct {
    int64_t affected;
    gql_result_t returning;
} ag_resp_t;

/* A statement being written: its text and the values to bind. */
typedef struct {
    buf_t sql;
    const gql_value_t **vals;
    ag_type_t *types;
    int n, cap;
} stmt_t;

static void st_free(stmt_t *s) {
    buf_free(&s->sql);
    free(s->vals);
    free(s->types);
}

static void st_param(stmt_t *s, const gql_value_t *v, ag_type_t t) {
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->vals = realloc(s->vals, (size_t)s->cap * sizeof *s->vals);
        s->types = realloc(s->types, (size_t)s->cap * sizeof *s->types);
    }
    s->vals[s->n] = v;
    s->types[s->n++] = t;
    buf_putc(&s->sql, '?');
}

static void ident(buf_t *b, const char *name) { sql_quote(b, name, '"'); }

static const ag_col_t *col_by_enc(const ag_table_t *t, const char *enc) {
    for (int i = 0; i < t->ncols; i++)
        if (strcmp(t->cols[i].enc, enc) == 0) return &t->cols[i];
    return NULL;
}

static void fail(gql_result_t *out, gql_exec_t *x, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(gql_result_t *out, gql_exec_t *x, const char *fmt, ...) {
    char b[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    out->kind = GR_ERROR;
    out->len = strlen(b);
    out->s = gql_strndup(x, b, out->len);
}

/* ---- filters ------------------------------------------------------------------- */

/* A LIKE pattern as a GLOB pattern: case-sensitive LIKE without touching
 * the connection's case_sensitive_like. */
static void like_to_glob(buf_t *b, const char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '%') buf_putc(b, '*');
        else if (c == '_') buf_putc(b, '?');
        else if (c == '*' || c == '?' || c == '[') {
            buf_putc(b, '[');
            buf_putc(b, c);
            buf_putc(b, ']');
        } else buf_putc(b, c);
    }
}

static const char *op_base(const char *name) { return name[0] == '_' ? name + 1 : name; }

static int add_comparison(gql_exec_t *x, stmt_t *s, const char *qual, const ag_col_t *c, const gql_value_t *cmp,
                          int *nclauses) {
    if (!cmp || cmp->kind != GV_OBJECT) return 0;
    for (size_t i = 0; i < cmp->n; i++) {
        const char *op = op_base(cmp->fields[i].name);
        const gql_value_t *v = cmp->fields[i].value;
        buf_t *b = &s->sql;
        buf_puts(b, (*nclauses)++ ? " AND " : "");
        buf_t col = BUF_INIT;
        if (qual) {
            ident(&col, qual);
            buf_putc(&col, '.');
        }
        ident(&col, c->name);
        if (strcmp(op, "eq") == 0) {
            if (v->kind == GV_NULL) buf_printf(b, "%s IS NULL", col.data);
            else buf_printf(b, "%s = ", col.data), st_param(s, v, c->type);
        } else if (strcmp(op, "neq") == 0) {
            if (v->kind == GV_NULL) buf_printf(b, "%s IS NOT NULL", col.data);
            else buf_printf(b, "(%s != ", col.data), st_param(s, v, c->type), buf_printf(b, " OR %s IS NULL)", col.data);
        } else if (strcmp(op, "gt") == 0 || strcmp(op, "gte") == 0 || strcmp(op, "lt") == 0 || strcmp(op, "lte") == 0) {
            const char *sym = op[0] == 'g' ? (op[2] ? ">=" : ">") : (op[2] ? "<=" : "<");
            buf_printf(b, "%s %s ", col.data, sym);
            st_param(s, v, c->type);
        } else if (strcmp(op, "like") == 0) {
            if (v->kind == GV_NULL) buf_puts(b, "0");
            else {
                buf_t pat = BUF_INIT;
                char num[64];
                const char *p = v->s;
                size_t n = v->len;
                if (v->kind == GV_INT) n = (size_t)snprintf(num, sizeof num, "%lld", (long long)v->i), p = num;
                else if (v->kind == GV_FLOAT) n = json_format_double(v->f, num), p = num;
                else if (v->kind == GV_BOOLEAN) n = (size_t)snprintf(num, sizeof num, "%d", v->b), p = num;
                like_to_glob(&pat, p ? p : "", n);
                gql_value_t *g = gql_alloc(x, sizeof *g);
                g->kind = GV_STRING;
                g->s = gql_strndup(x, pat.data ? pat.data : "", pat.len);
                g->len = pat.len;
                buf_free(&pat);
                buf_printf(b, "%s GLOB ", col.data);
                st_param(s, g, AT_STRING);
            }
        } else if (strcmp(op, "ilike") == 0) {
            buf_printf(b, "%s LIKE ", col.data);
            st_param(s, v, AT_STRING);
        } else if (strcmp(op, "in") == 0 || strcmp(op, "nin") == 0) {
            bool in = op[0] == 'i';
            size_t nonnull = 0, nulls = 0;
            for (size_t k = 0; v->kind == GV_LIST && k < v->n; k++) v->items[k]->kind == GV_NULL ? nulls++ : nonnull++;
            if (v->kind != GV_LIST || (!nonnull && !nulls)) {
                buf_puts(b, in ? "0" : "1");
            } else if (in) {
                buf_printf(b, "%s IN (", col.data);
                for (size_t k = 0, m = 0; k < v->n; k++)
                    if (v->items[k]->kind != GV_NULL) buf_puts(b, m++ ? ", " : ""), st_param(s, v->items[k], c->type);
                if (!nonnull) buf_puts(b, "NULL");
                buf_putc(b, ')');
            } else if (nulls) {
                buf_printf(b, "(%s IS NOT NULL", col.data);
                if (nonnull) {
                    buf_printf(b, " AND %s NOT IN (", col.data);
                    for (size_t k = 0, m = 0; k < v->n; k++)
                        if (v->items[k]->kind != GV_NULL) buf_puts(b, m++ ? ", " : ""), st_param(s, v->items[k], c->type);
                    buf_putc(b, ')');
                }
                buf_putc(b, ')');
            } else {
                buf_printf(b, "(%s NOT IN (", col.data);
                for (size_t k = 0; k < v->n; k++) buf_puts(b, k ? ", " : ""), st_param(s, v->items[k], c->type);
                buf_printf(b, ") OR %s IS NULL)", col.data);
            }
        }
        buf_free(&col);
    }
    return 0;
}

/* " WHERE …" for a filter object (nothing when it sets no condition). */
static void add_where(gql_exec_t *x, stmt_t *s, const ag_table_t *t, const char *qual, const gql_value_t *filter) {
    if (!filter || filter->kind != GV_OBJECT) return;
    size_t mark = s->sql.len;
    buf_puts(&s->sql, " WHERE ");
    int n = 0;
    for (size_t i = 0; i < filter->n; i++) {
        const ag_col_t *c = col_by_enc(t, filter->fields[i].name);
        if (c) add_comparison(x, s, qual, c, filter->fields[i].value, &n);
    }
    if (!n) {
        s->sql.len = mark;
        s->sql.data[mark] = 0;
    }
}

static const gql_value_t *arg2(gql_exec_t *x, const char *a, const char *b) {
    const gql_value_t *v = gql_arg(x, a);
    if (!v || v->kind == GV_NULL) {
        const gql_value_t *w = gql_arg(x, b);
        if (w) return w;
    }
    return v;
}

/* ---- running ---------------------------------------------------------------------- */

static void bind_all(store_stmt_t *st, const stmt_t *s) {
    for (int i = 0; i < s->n; i++) {
        const gql_value_t *v = s->vals[i];
        int idx = i + 1;
        switch (v->kind) {
        case GV_INT: store_bind_int(st, idx, v->i); break;
        case GV_FLOAT: store_bind_double(st, idx, v->f); break;
        case GV_BOOLEAN: store_bind_int(st, idx, v->b); break;
        case GV_STRING:
        case GV_ENUM: store_bind_text(st, idx, v->s ? v->s : "", v->s ? v->len ? v->len : strlen(v->s) : 0); break;
        default: store_bind_null(st, idx);
        }
    }
}

static store_stmt_t *prepare(ag_run_t *r, stmt_t *s) {
    int tag;
    store_stmt_t *st = store_cache_get(r->c, s->sql.data, s->sql.len, &tag);
    if (!st) {
        if (store_prepare(r->c, s->sql.data, &st) < 0) return NULL;
        store_cache_put(r->c, s->sql.data, s->sql.len, st, 0);
    }
    bind_all(st, s);
    return st;
}

static void copy_value(gql_exec_t *x, store_stmt_t *st, int i, store_value_t *v) {
    store_col_value(st, i, v);
    if (v->type == SV_TEXT) v->p = gql_strndup(x, v->p, v->n);
    else if (v->type == SV_BLOB) v->p = NULL; /* only its presence matters */
}

/* Runs a statement whose columns are sel[0..nsel) of t (plus, with
 * rowid_at >= 0, the rowid last), collecting rows (at most max). */
static int run_rows(ag_run_t *r, gql_exec_t *x, stmt_t *s, const ag_table_t *t, const int *sel, int nsel, int max,
                    gql_result_t *out, bool *more) {
    store_stmt_t *st = prepare(r, s);
    if (!st) return -1;
    size_t cap = 16;
    out->kind = GR_LIST;
    out->n = 0;
    out->items = gql_alloc(x, cap * sizeof *out->items);
    int rc;
    *more = false;
    while ((rc = store_step(st)) == STORE_ROW) {
        if ((int)out->n == max) {
            *more = true;
            break;
        }
        if (++r->rows_used > AG_REQUEST_ROWS) {
            /* aliases multiply fields: the whole request is bounded too */
            store_finalize(st);
            return -2;
        }
        if (out->n == cap) {
            gql_result_t *grown = gql_alloc(x, cap * 2 * sizeof *grown);
            memcpy(grown, out->items, cap * sizeof *grown);
            out->items = grown;
            cap *= 2;
        }
        ag_row_t *row = gql_alloc(x, sizeof *row);
        row->t = t;
        row->vals = gql_alloc(x, (size_t)t->ncols * sizeof *row->vals);
        for (int i = 0; i < nsel; i++) copy_value(x, st, i, &row->vals[sel[i]]);
        if (t->rowid >= 0 && store_col_count(st) > nsel) copy_value(x, st, nsel, &row->vals[t->rowid]);
        out->items[out->n].kind = GR_OBJECT;
        out->items[out->n++].obj = row;
    }
    store_finalize(st);
    return rc < 0 ? -1 : 0;
}

/* The selected columns of t under the current field (through: a child). */
static int selected(gql_exec_t *x, const ag_table_t *t, const char *through, int *sel, bool *file) {
    const char *names[1024];
    int n = gql_subfields(x, through, names, 1024), k = 0;
    *file = false;
    for (int i = 0; i < n; i++) {
        const ag_col_t *c = col_by_enc(t, names[i]);
        if (!c) continue;
        sel[k++] = (int)(c - t->cols);
        *file |= c->file;
    }
    return k;
}

static void select_list(buf_t *b, const ag_table_t *t, const int *sel, int nsel, bool rowid) {
    for (int i = 0; i < nsel; i++) {
        if (i) buf_puts(b, ", ");
        ident(b, t->cols[sel[i]].name);
    }
    if (rowid && t->rowid >= 0) {
        if (nsel) buf_puts(b, ", ");
        ident(b, t->cols[t->rowid].name);
    } else if (!nsel) buf_puts(b, "1");
}

/* "SELECT <the selected columns> FROM t" into s; sel gets their indexes
 * (the rowid is appended to the statement when a file column needs it). */
static void select_from(gql_exec_t *x, const ag_table_t *t, stmt_t *s, int *sel, int *nsel) {
    bool file;
    *nsel = selected(x, t, NULL, sel, &file);
    buf_puts(&s->sql, "SELECT ");
    select_list(&s->sql, t, sel, *nsel, file);
    buf_puts(&s->sql, " FROM ");
    ident(&s->sql, t->name);
}

static const char *sql_error(ag_run_t *r, gql_exec_t *x) {
    const char *m = store_errmsg(r->c);
    return gql_strndup(x, m, strlen(m));
}

/* ---- queries ------------------------------------------------------------------------ */

static void order_tail(buf_t *b, const ag_table_t *t, bool any) {
    if (t->view) return;
    if (t->rowid >= 0) {
        buf_puts(b, any ? ", " : " ORDER BY ");
        ident(b, t->cols[t->rowid].name);
        buf_puts(b, " ASC");
    } else {
        for (int k = 0; k < t->npk; k++) {
            buf_puts(b, any || k ? ", " : " ORDER BY ");
            ident(b, t->cols[t->pk[k]].name);
            buf_puts(b, " ASC");
        }
    }
}

static int resolve_list(ag_run_t *r, gql_exec_t *x, const ag_table_t *t, gql_result_t *out) {
    const gql_value_t *limit = gql_arg(x, "limit"), *offset = gql_arg(x, "offset");
    if (limit && limit->kind == GV_NULL) limit = NULL;
    if (offset && offset->kind == GV_NULL) offset = NULL;
    if (limit && limit->i < 0) return fail(out, x, "Error: limit must be positive"), 0;
    if (offset && offset->i < 0) return fail(out, x, "Error: offset must be positive"), 0;
    if (offset && !limit) return fail(out, x, "Error: cannot specify offset without also specifying a limit"), 0;
    int sel[1024];
    int nsel;
    stmt_t s = {.sql = BUF_INIT};
    select_from(x, t, &s, sel, &nsel);
    size_t where_at = s.sql.len;
    add_where(x, &s, t, NULL, arg2(x, "where", "filter"));
    size_t where_end = s.sql.len;
    const gql_value_t *ob = gql_arg(x, "order_by");
    bool any = false;
    for (size_t i = 0; ob && ob->kind == GV_LIST && i < ob->n; i++) {
        const gql_value_t *o = ob->items[i];
        if (o->kind != GV_OBJECT) continue;
        if (!o->n) {
            st_free(&s);
            return fail(out, x, "Error: Order must not be empty"), 0;
        }
        for (size_t k = 0; k < o->n; k++) {
            const ag_col_t *c = col_by_enc(t, o->fields[k].name);
            if (!c || o->fields[k].value->kind != GV_ENUM) continue;
            buf_puts(&s.sql, any ? ", " : " ORDER BY ");
            any = true;
            ident(&s.sql, c->name);
            buf_puts(&s.sql, o->fields[k].value->s[0] == 'A' || o->fields[k].value->s[0] == 'a' ? " ASC" : " DESC");
        }
    }
    order_tail(&s.sql, t, any);
    int64_t want = limit ? limit->i : -1;
    int fetch = want >= 0 && want <= MAX_ROWS ? (int)want : MAX_ROWS + 1;
    buf_printf(&s.sql, " LIMIT %d", fetch);
    if (offset) buf_printf(&s.sql, " OFFSET %lld", (long long)offset->i);
    bool more;
    int rc = run_rows(r, x, &s, t, sel, nsel, fetch > MAX_ROWS ? MAX_ROWS : fetch, out, &more);
    if (rc == -2) {
        fail(out, x, "%s", TOO_MANY_ROWS);
    } else if (rc < 0) {
        fail(out, x, "%s", sql_error(r, x));
    } else if (more) {
        /* how many would match */
        stmt_t cnt = {.sql = BUF_INIT};
        buf_puts(&cnt.sql, "SELECT count(*) FROM ");
        ident(&cnt.sql, t->name);
        buf_append(&cnt.sql, s.sql.data + where_at, where_end - where_at);
        cnt.vals = s.vals, cnt.types = s.types, cnt.n = s.n;
        int64_t n = 0;
        store_stmt_t *st = prepare(r, &cnt);
        if (st && store_step(st) == STORE_ROW) n = store_col_int(st, 0);
        if (st) store_finalize(st);
        cnt.vals = NULL, cnt.types = NULL;
        st_free(&cnt);
        if (offset) n -= offset->i;
        fail(out, x,
             "The graphql API cannot return more than 10000 entries at a time. Your query would return %lld rows. "
             "Please use the `limit` argument to paginate through the rows.",
             (long long)n);
    }
    st_free(&s);
    return 0;
}

static void pk_where(gql_exec_t *x, stmt_t *s, const ag_table_t *t) {
    buf_puts(&s->sql, " WHERE ");
    for (int k = 0; k < t->npk; k++) {
        const ag_col_t *c = &t->cols[t->pk[k]];
        if (k) buf_puts(&s->sql, " AND ");
        ident(&s->sql, c->name);
        buf_puts(&s->sql, " = ");
        const gql_value_t *v = gql_arg(x, c->enc);
        st_param(s, v, c->type);
    }
}

static int resolve_by_pk(ag_run_t *r, gql_exec_t *x, const ag_table_t *t, gql_result_t *out) {
    int sel[1024];
    int nsel;
    stmt_t s = {.sql = BUF_INIT};
    select_from(x, t, &s, sel, &nsel);
    pk_where(x, &s, t);
    gql_result_t rows;
    bool more;
    int rc = run_rows(r, x, &s, t, sel, nsel, 1, &rows, &more);
    if (rc < 0) fail(out, x, "%s", rc == -2 ? TOO_MANY_ROWS : sql_error(r, x));
    else if (rows.n) *out = rows.items[0];
    else out->kind = GR_NULL;
    st_free(&s);
    return 0;
}

/* ---- cells ------------------------------------------------------------------------------ */

static void resolve_cell(ag_run_t *r, gql_exec_t *x, const ag_row_t *row, const ag_col_t *c, gql_result_t *out) {
    const store_value_t *v = &row->vals[c - row->t->cols];
    char num[64];
    if (v->type == SV_NULL) {
        out->kind = GR_NULL;
        return;
    }
    if (c->file) {
        const store_value_t *rid = row->t->rowid >= 0 ? &row->vals[row->t->rowid] : NULL;
        buf_t u = BUF_INIT, j = BUF_INIT;
        buf_puts(&u, "/readonly/");
        url_encode(&u, r->as->readonly_id, strlen(r->as->readonly_id), "-._~");
        buf_puts(&u, "/tables/");
        url_encode(&u, row->t->name, strlen(row->t->name), "-._~");
        buf_puts(&u, "/columns/");
        url_encode(&u, c->name, strlen(c->name), "-._~");
        buf_printf(&u, "/files/rowid/%lld", rid && rid->type == SV_INT ? (long long)rid->i : 0LL);
        jw_t w;
        jw_init(&w, &j, 0);
        jw_obj_begin(&w);
        jw_key(&w, "url");
        jw_strn(&w, u.data, u.len);
        jw_obj_end(&w);
        out->kind = GR_STRING;
        out->s = gql_strndup(x, j.data, j.len);
        out->len = j.len;
        buf_free(&u);
        buf_free(&j);
        return;
    }
    if (v->type == SV_BLOB) return fail(out, x, "Can't encode BLOB as a GraphQL value");
    switch (c->type) {
    case AT_INT:
        if (v->type == SV_INT) {
            if (v->i < INT32_MIN || v->i > INT32_MAX)
                return fail(out, x,
                            "Integer %lld would overflow. This happens because SQLite uses 64-bit ints, but GraphQL "
                            "uses 32-bit ints. Use a Number (64-bit float) or Text column instead.",
                            (long long)v->i);
            out->kind = GR_INT;
            out->i = v->i;
        } else if (v->type == SV_REAL && v->d == floor(v->d) && fabs(v->d) <= INT32_MAX) {
            out->kind = GR_INT;
            out->i = (int64_t)v->d;
        } else if (v->type == SV_REAL) {
            json_format_double(v->d, num);
            fail(out, x, "Int cannot represent non-integer value: %s", num);
        } else {
            fail(out, x, "Int cannot represent non-integer value: \"%.*s\"", (int)v->n, v->p);
        }
        return;
    case AT_FLOAT:
        if (v->type == SV_INT) out->kind = GR_FLOAT, out->f = (double)v->i;
        else if (v->type == SV_REAL) out->kind = GR_FLOAT, out->f = v->d;
        else {
            char *end;
            double d = strtod(v->p, &end);
            if (v->n && !*end && isfinite(d)) out->kind = GR_FLOAT, out->f = d;
            else fail(out, x, "Float cannot represent non numeric value: \"%.*s\"", (int)v->n, v->p);
        }
        return;
    case AT_STRING:
        out->kind = GR_STRING;
        if (v->type == SV_TEXT) {
            out->s = v->p;
            out->len = v->n;
        } else {
            size_t n = v->type == SV_INT ? (size_t)snprintf(num, sizeof num, "%lld", (long long)v->i)
                                         : json_format_double(v->d, num);
            out->s = gql_strndup(x, num, n);
            out->len = n;
        }
        return;
    case AT_BOOLEAN:
        if (v->type == SV_INT) out->kind = GR_BOOL, out->b = v->i != 0;
        else if (v->type == SV_REAL) out->kind = GR_BOOL, out->b = v->d != 0;
        else fail(out, x, "Boolean cannot represent a non boolean value: \"%.*s\"", (int)v->n, v->p);
        return;
    }
}

/* ---- mutations --------------------------------------------------------------------------- */

static void bind_input(stmt_t *s, const ag_col_t *c, const gql_value_t *v) {
    if (c->file && v->kind == GV_STRING) {
        /* a file column given a string stores an empty BLOB */
        buf_puts(&s->sql, "x''");
        return;
    }
    st_param(s, v, c->type);
}

static ag_resp_t *new_resp(gql_exec_t *x, gql_result_t *out) {
    ag_resp_t *resp = gql_alloc(x, sizeof *resp);
    resp->returning.kind = GR_LIST;
    resp->returning.items = gql_alloc(x, sizeof(gql_result_t));
    out->kind = GR_OBJECT;
    out->obj = resp;
    return resp;
}

static void append_rows(gql_exec_t *x, gql_result_t *into, const gql_result_t *rows) {
    if (!rows->n) return;
    gql_result_t *items = gql_alloc(x, (into->n + rows->n) * sizeof *items);
    if (into->n) memcpy(items, into->items, into->n * sizeof *items);
    memcpy(items + into->n, rows->items, rows->n * sizeof *items);
    into->items = items;
    into->n += rows->n;
}

static void returning(buf_t *b, const ag_table_t *t, const int *sel, int nsel, bool file) {
    if (!nsel && !file) return;
    buf_puts(b, " RETURNING ");
    select_list(b, t, sel, nsel, file);
}

static int run_write(ag_run_t *r, gql_exec_t *x, stmt_t *s, const ag_table_t *t, const int *sel, int nsel,
                     gql_result_t *rows, int64_t *changes, gql_result_t *out) {
    bool more;
    rows->kind = GR_LIST;
    rows->n = 0;
    int rc = run_rows(r, x, s, t, sel, nsel, AG_REQUEST_ROWS + 1, rows, &more);
    if (rc < 0) {
        fail(out, x, "%s", rc == -2 ? TOO_MANY_ROWS : sql_error(r, x));
        r->failed = true;
        return -1;
    }
    *changes = store_changes(r->c);
    return 0;
}

static int resolve_insert(ag_run_t *r, gql_exec_t *x, const ag_table_t *t, gql_result_t *out) {
    const gql_value_t *objs = gql_arg(x, "objects"), *conf = gql_arg(x, "on_conflict");
    if (!objs || objs->kind != GV_LIST) return fail(out, x, "Argument objects not found"), 0;
    if (objs->n > MAX_ROWS)
        return fail(out, x, "Error: Cannot insert more than 10000 rows at a time"), r->failed = true, 0;
    int sel[1024];
    bool file = false;
    int nsel = r->as->mode == AG_READWRITE ? selected(x, t, "returning", sel, &file) : 0;
    ag_resp_t *resp = new_resp(x, out);
    for (size_t i = 0; i < objs->n; i++) {
        const gql_value_t *o = objs->items[i];
        stmt_t s = {.sql = BUF_INIT};
        buf_puts(&s.sql, "INSERT INTO ");
        ident(&s.sql, t->name);
        if (o->kind != GV_OBJECT || !o->n) {
            buf_puts(&s.sql, " DEFAULT VALUES");
        } else {
            buf_puts(&s.sql, " (");
            for (size_t k = 0; k < o->n; k++) {
                if (k) buf_puts(&s.sql, ", ");
                ident(&s.sql, col_by_enc(t, o->fields[k].name)->name);
            }
            buf_puts(&s.sql, ") VALUES (");
            for (size_t k = 0; k < o->n; k++) {
                if (k) buf_puts(&s.sql, ", ");
                bind_input(&s, col_by_enc(t, o->fields[k].name), o->fields[k].value);
            }
            buf_putc(&s.sql, ')');
        }
        for (size_t c = 0; conf && conf->kind == GV_LIST && c < conf->n; c++) {
            const gql_value_t *oc = conf->items[c];
            const gql_value_t *cons = NULL, *upd = NULL, *where = NULL;
            for (size_t k = 0; oc->kind == GV_OBJECT && k < oc->n; k++) {
                const char *n = oc->fields[k].name;
                if (strcmp(n, "constraint") == 0) cons = oc->fields[k].value;
                else if (strcmp(n, "update_columns") == 0) upd = oc->fields[k].value;
                else if (strcmp(n, "where") == 0) where = oc->fields[k].value;
            }
            buf_puts(&s.sql, " ON CONFLICT (");
            for (size_t k = 0; cons && cons->kind == GV_LIST && k < cons->n; k++) {
                if (k) buf_puts(&s.sql, ", ");
                const ag_col_t *cc = col_by_enc(t, cons->items[k]->s);
                ident(&s.sql, cc ? cc->name : cons->items[k]->s);
            }
            buf_putc(&s.sql, ')');
            if (!upd || upd->kind != GV_LIST || !upd->n) {
                buf_puts(&s.sql, " DO NOTHING");
                continue;
            }
            buf_puts(&s.sql, " DO UPDATE SET ");
            for (size_t k = 0; k < upd->n; k++) {
                const ag_col_t *cc = col_by_enc(t, upd->items[k]->s);
                bool given = false;
                for (size_t f = 0; o->kind == GV_OBJECT && f < o->n; f++) given |= strcmp(o->fields[f].name, upd->items[k]->s) == 0;
                if (!cc || !given) {
                    st_free(&s);
                    r->failed = true;
                    return fail(out, x, "Column %s cannot be set on conflicts without being explicitly provided",
                                cc ? cc->name : upd->items[k]->s), 0;
                }
                if (k) buf_puts(&s.sql, ", ");
                ident(&s.sql, cc->name);
                buf_puts(&s.sql, " = excluded.");
                ident(&s.sql, cc->name);
            }
            add_where(x, &s, t, t->name, where);
        }
        returning(&s.sql, t, sel, nsel, file);
        gql_result_t rows;
        int64_t changes;
        int rc = run_write(r, x, &s, t, sel, nsel, &rows, &changes, out);
        st_free(&s);
        if (rc < 0) return 0;
        append_rows(x, &resp->returning, &rows);
    }
    resp->affected = (int64_t)objs->n;
    return 0;
}

static int resolve_update_delete(ag_run_t *r, gql_exec_t *x, const ag_table_t *t, bool update, bool by_pk,
                                 gql_result_t *out) {
    const gql_value_t *where = NULL, *set = NULL;
    if (!by_pk) {
        where = arg2(x, "where", "filter");
        if (!where || where->kind == GV_NULL) return r->failed = true, fail(out, x, "Argument where not found"), 0;
        if (update && where->kind == GV_OBJECT && !where->n)
            return r->failed = true, fail(out, x, "Error: Filter must not be empty"), 0;
    }
    if (update) {
        /* the set argument's names may carry '_'s (spec §4.4) */
        const gql_field_t *f = NULL;
        (void)f;
        set = NULL;
        const char *names[2] = {"_set", "set"};
        for (int k = 0; k < 2 && (!set || set->kind == GV_NULL); k++) {
            char n[1100];
            snprintf(n, sizeof n, "%s", names[k]);
            for (int guard = 0; guard < 70; guard++) {
                const gql_value_t *v = gql_arg(x, n);
                bool is_pk = false;
                for (int p = 0; by_pk && p < t->npk; p++) is_pk |= strcmp(t->cols[t->pk[p]].enc, n) == 0;
                if (!is_pk) {
                    if (v) set = v;
                    break;
                }
                strcat(n, "_");
            }
        }
        if (!set || set->kind == GV_NULL) return r->failed = true, fail(out, x, "Argument _set not found"), 0;
        if (set->kind == GV_OBJECT && !set->n) return r->failed = true, fail(out, x, "Error: _set must not be empty"), 0;
    }
    int sel[1024];
    bool file = false;
    int nsel = r->as->mode == AG_READWRITE ? selected(x, t, "returning", sel, &file) : 0;
    stmt_t s = {.sql = BUF_INIT};
    if (update) {
        buf_puts(&s.sql, "UPDATE ");
        ident(&s.sql, t->name);
        buf_puts(&s.sql, " SET ");
        for (size_t k = 0; k < set->n; k++) {
            const ag_col_t *c = col_by_enc(t, set->fields[k].name);
            if (k) buf_puts(&s.sql, ", ");
            ident(&s.sql, c->name);
            buf_puts(&s.sql, " = ");
            bind_input(&s, c, set->fields[k].value);
        }
    } else {
        buf_puts(&s.sql, "DELETE FROM ");
        ident(&s.sql, t->name);
    }
    if (by_pk) pk_where(x, &s, t);
    else add_where(x, &s, t, NULL, where);
    returning(&s.sql, t, sel, nsel, file);
    gql_result_t rows;
    int64_t changes;
    int rc = run_write(r, x, &s, t, sel, nsel, &rows, &changes, out);
    st_free(&s);
    if (rc < 0) return 0;
    ag_resp_t *resp = new_resp(x, out);
    resp->affected = changes;
    if (by_pk) resp->returning = rows.n ? rows.items[0] : (gql_result_t){.kind = GR_NULL};
    else resp->returning = rows;
    return 0;
}

int ag_resolve(void *ctx, gql_exec_t *x, const gql_field_t *f, void *obj, gql_result_t *out) {
    ag_run_t *r = ctx;
    const ag_table_t *t = f->udata;
    switch (f->tag) {
    case AG_F_LIST: return resolve_list(r, x, t, out);
    case AG_F_BY_PK: return resolve_by_pk(r, x, t, out);
    case AG_F_COLUMN: {
        const ag_row_t *row = obj;
        resolve_cell(r, x, row, f->udata, out);
        return 0;
    }
    case AG_F_AFFECTED:
        out->kind = GR_INT;
        out->i = ((ag_resp_t *)obj)->affected;
        return 0;
    case AG_F_RETURNING: *out = ((ag_resp_t *)obj)->returning; return 0;
    case AG_F_INSERT: return resolve_insert(r, x, t, out);
    case AG_F_UPDATE: return resolve_update_delete(r, x, t, true, false, out);
    case AG_F_DELETE: return resolve_update_delete(r, x, t, false, false, out);
    case AG_F_UPDATE_PK: return resolve_update_delete(r, x, t, true, true, out);
    case AG_F_DELETE_PK: return resolve_update_delete(r, x, t, false, true, out);
    }
    out->kind = GR_NULL;
    return 0;
}
