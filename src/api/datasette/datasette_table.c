/* datasette_table: table and row pages (spec/datasette.md §3–§7, §9):
 * filters, search, sorting with keyset pagination, shapes, labels, facets,
 * extras and CSV. A page is planned and run on a read connection in one
 * job (the table's shape comes from core/schema), rendered there, and
 * answered on the loop. Pages never use OFFSET on tables, so any page of
 * any table costs the same memory; CSV with _stream=on walks the pages and
 * waits for the socket between them. */
#include <ctype.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/datasette/datasette_table.h"
#include "core/dbh.h"
#include "core/rcache.h"
#include "util/csv.h"
#include "util/md5.h"
#include "util/thread.h"
#include "util/timeutil.h"


/* ---- running --------------------------------------------------------- */

static void f_columns(void *ctx, store_stmt_t *st, int n) { (void)ctx, (void)st, (void)n; }

static void f_row(void *ctx, store_stmt_t *st, int n) {
    plan_t *p = ctx;
    if (n != p->q.nsel) return;
    if (p->nrows == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 16;
        p->cells = xrealloc(p->cells, (size_t)p->cap * (size_t)p->q.nsel * sizeof *p->cells);
    }
    for (int i = 0; i < n; i++) {
        store_value_t *v = &p->cells[p->nrows * p->q.nsel + i];
        store_col_value(st, i, v);
        if (v->type == SV_TEXT || v->type == SV_BLOB) {
            /* one arena per page instead of a malloc per cell; pointers
             * are set once the arena stops moving (fetch_done) */
            v->i = (int64_t)p->arena.len;
            buf_append(&p->arena, v->p, v->n);
            buf_putc(&p->arena, 0);
            v->p = NULL;
        }
    }
    p->nrows++;
}

static void fetch_done(plan_t *p) {
    for (int i = 0; i < p->nrows * p->q.nsel; i++) {
        store_value_t *v = &p->cells[i];
        if (v->type == SV_TEXT || v->type == SV_BLOB) v->p = p->arena.data + v->i;
    }
}

static const sql_sink_t fetch_sink = {f_columns, f_row};


/* Runs sql with the plan's parameters; rows go to sink/ctx. 0, or -1 with
 * the job's outcome set (timeouts flagged for the engine's retry). */
int ds_run_sql(tjob_t *j, plan_t *p, store_db_t *c, const char *sql, uint64_t deadline, const sql_sink_t *sink,
                   void *ctx, int64_t max_rows) {
    sql_opts_t o = {.max_class = SQL_READ,
                    .single_statement = true,
                    .deadline_us = deadline,
                    .max_rows = max_rows,
                    .bind = query_bind,
                    .bind_ctx = &p->q,
                    /* the page's cells, bounded like every answer */
                    .out = sink == &fetch_sink ? &p->arena : NULL};
    sql_result_t res;
    err_t e = {0};
    int rc = sql_run(c, sql, strlen(sql), &o, sink, ctx, &res, &e);
    if (res.facts & SQL_FACT_VOLATILE) j->uncacheable = true; /* its answer may differ next time */
    if (rc == 0) return 0;
    j->uncacheable = true;
    if (e.kind == E_TIMEOUT) {
        j->out.rc = -1;
        j->out.err = e;
        return -1;
    }
    j->status = 400;
    free(j->msg);
    j->msg = xstrdup(e.sub == ES_MANY_STATEMENTS
                         ? "You can only execute one statement at a time."
                         : e.msg);
    err_clear(&e);
    return -1;
}


static void c_row(void *ctx, store_stmt_t *st, int n) {
    (void)n;
    ((count_t *)ctx)->n = store_col_int(st, 0);
}

const sql_sink_t ds_count_sink = {f_columns, c_row};

/* Label lookups for the labelled columns of the fetched rows. */
static void fetch_labels(plan_t *p, store_db_t *c, uint64_t deadline) {
    const tinfo_t *t = p->q.t;
    p->lab_keys = xcalloc((size_t)p->q.nsel, sizeof *p->lab_keys);
    p->lab_vals = xcalloc((size_t)p->q.nsel, sizeof *p->lab_vals);
    p->nlab = xcalloc((size_t)p->q.nsel, sizeof *p->nlab);
    store_set_deadline(c, deadline);
    for (int i = 0; i < p->q.nsel; i++) {
        if (!p->labelled[i]) continue;
        const tfk_t *fk = tinfo_fk(t, t->cols[p->q.sel[i]].name);
        const tinfo_t *o = schema_find(p->q.s, fk->other_table);
        if (!o) continue;
        buf_t sql = BUF_INIT;
        buf_puts(&sql, "select ");
        sql_ident(&sql, fk->other_column);
        buf_puts(&sql, ", ");
        sql_ident(&sql, o->label >= 0 ? o->cols[o->label].name : fk->other_column);
        buf_puts(&sql, " from ");
        sql_ident(&sql, o->name);
        buf_puts(&sql, " where ");
        sql_ident(&sql, fk->other_column);
        buf_puts(&sql, " in (");
        int nv = 0;
        for (int r = 0; r < p->nrows; r++) {
            if (p->cells[r * p->q.nsel + i].type == SV_NULL) continue;
            buf_puts(&sql, nv++ ? ", ?" : "?");
        }
        buf_puts(&sql, ")");
        store_stmt_t *st;
        if (nv && store_prepare(c, sql.data, &st) == 0) {
            int b = 1;
            for (int r = 0; r < p->nrows; r++) {
                store_value_t *v = &p->cells[r * p->q.nsel + i];
                if (v->type != SV_NULL) value_bind(st, b++, v);
            }
            int cap = 0;
            while (store_step(st) == STORE_ROW) {
                if (p->nlab[i] == cap) {
                    cap = cap ? cap * 2 : 8;
                    p->lab_keys[i] = xrealloc(p->lab_keys[i], (size_t)cap * sizeof **p->lab_keys);
                    p->lab_vals[i] = xrealloc(p->lab_vals[i], (size_t)cap * sizeof **p->lab_vals);
                }
                store_value_t k, v;
                store_col_value(st, 0, &k);
                value_copy(&p->lab_keys[i][p->nlab[i]], &k);
                store_col_value(st, 1, &v);
                if (o->label < 0 && v.type != SV_NULL && v.type != SV_TEXT) {
                    buf_t tx = BUF_INIT;
                    ds_value_text(&tx, &v);
                    store_value_t tv = {.type = SV_TEXT, .p = tx.data, .n = tx.len};
                    value_copy(&p->lab_vals[i][p->nlab[i]], &tv);
                    buf_free(&tx);
                } else {
                    value_copy(&p->lab_vals[i][p->nlab[i]], &v);
                }
                p->nlab[i]++;
            }
            store_finalize(st);
        }
        buf_free(&sql);
    }
    store_set_deadline(c, 0);
}

static const store_value_t *label_of(const plan_t *p, int col, const store_value_t *v) {
    if (!p->labelled || !p->labelled[col] || !p->lab_keys || v->type == SV_NULL) return NULL;
    for (int k = 0; k < p->nlab[col]; k++)
        if (value_same(&p->lab_keys[col][k], v)) return &p->lab_vals[col][k];
    return NULL;
}

/* ---- JSON rendering -------------------------------------------------- */

static void write_cell(jw_t *w, const plan_t *p, int row, int col) {
    const store_value_t *v = &p->cells[row * p->q.nsel + col];
    if (p->json_cols && p->json_cols[col] && v->type == SV_TEXT) {
        json_t *j = json_loadb(v->p, v->n, JSON_DECODE_ANY, NULL);
        if (j) {
            jw_json(w, j);
            json_decref(j);
            return;
        }
    }
    const store_value_t *l = label_of(p, col, v);
    if (l) {
        jw_obj_begin(w);
        jw_key(w, "value");
        ds_write_value(w, v, p->infinity);
        jw_key(w, "label");
        ds_write_value(w, l, p->infinity);
        jw_obj_end(w);
        return;
    }
    ds_write_value(w, v, p->infinity);
}

static void write_row(jw_t *w, plan_t *p, int row, shape_t shape) {
    if (shape == SH_ARRAYS) {
        jw_arr_begin(w);
        for (int c = 0; c < p->nvis; c++) write_cell(w, p, row, c);
        jw_arr_end(w);
        return;
    }
    if (shape == SH_ARRAYFIRST) {
        write_cell(w, p, row, 0);
        return;
    }
    if (!p->key_end) {
        p->key_end = xmalloc(((size_t)p->nvis + 1) * sizeof *p->key_end);
        for (int c = 0; c < p->nvis; c++) {
            const char *k = query_sel_name(&p->q, c);
            jw_key_render(w, &p->keys, k, strlen(k));
            p->key_end[c] = p->keys.len;
        }
    }
    jw_obj_begin(w);
    for (int c = 0; c < p->nvis; c++) {
        size_t from = c ? p->key_end[c - 1] : 0;
        jw_key_pre(w, p->keys.data + from, p->key_end[c] - from);
        write_cell(w, p, row, c);
    }
    jw_obj_end(w);
}

/* pk path of a fetched row: tilde-encoded key values joined by ','. */
static void pk_path(buf_t *b, const plan_t *p, int row) {
    const tinfo_t *t = p->q.t;
    int nk = p->q.rowid ? 1 : t->npk;
    for (int k = 0; k < nk; k++) {
        int want = p->q.rowid ? -1 : t->pk[k];
        for (int c = 0; c < p->q.nsel; c++) {
            if (p->q.sel[c] != want) continue;
            buf_t tx = BUF_INIT;
            ds_value_text(&tx, &p->cells[row * p->q.nsel + c]);
            if (k) buf_putc(b, ',');
            tilde_encode(b, tx.data ? tx.data : "", tx.len);
            buf_free(&tx);
            break;
        }
    }
}

static void write_rows(jw_t *w, plan_t *p, int nrows, shape_t shape) {
    if (shape == SH_OBJECT) {
        jw_obj_begin(w);
        for (int r = 0; r < nrows; r++) {
            buf_t k = BUF_INIT;
            pk_path(&k, p, r);
            jw_keyn(w, k.data ? k.data : "", k.len);
            buf_free(&k);
            write_row(w, p, r, SH_OBJECTS);
        }
        jw_obj_end(w);
        return;
    }
    jw_arr_begin(w);
    for (int r = 0; r < nrows; r++) write_row(w, p, r, shape);
    jw_arr_end(w);
}

static void write_params(jw_t *w, const plan_t *p) {
    jw_obj_begin(w);
    for (int i = 0; i < p->q.nparams; i++) {
        jw_key(w, p->q.params[i].name);
        ds_write_value(w, &p->q.params[i].v, false);
    }
    jw_obj_end(w);
}

static void write_fk(jw_t *w, const tfk_t *f) {
    jw_obj_begin(w);
    jw_key(w, "other_table");
    jw_str(w, f->other_table);
    jw_key(w, "column");
    jw_str(w, f->column);
    jw_key(w, "other_column");
    jw_str(w, f->other_column);
    jw_obj_end(w);
}

/* Query-string pairs re-encoded, skipping those skip() refuses. */
void ds_pairs_encode(buf_t *b, const qs_t *q, bool (*skip)(const qs_pair_t *, const void *), const void *ctx) {
    for (size_t i = 0; i < q->n; i++) {
        if (skip && skip(&q->pairs[i], ctx)) continue;
        if (b->len && b->data[b->len - 1] != '?') buf_putc(b, '&');
        url_encode_form(b, q->pairs[i].key, strlen(q->pairs[i].key));
        buf_putc(b, '=');
        url_encode_form(b, q->pairs[i].value, strlen(q->pairs[i].value));
    }
}

static bool skip_next_sort(const qs_pair_t *pr, const void *ctx) {
    const char *sortkey = ctx;
    return strcmp(pr->key, "_next") == 0 || (sortkey && strcmp(pr->key, sortkey) == 0);
}

static char *make_next_url(const tjob_t *j, const plan_t *p) {
    if (!p->next) return NULL;
    buf_t b = BUF_INIT;
    const char *sortkey = p->q.sort == QSORT_NONE ? NULL : p->q.desc ? "_sort_desc" : "_sort";
    buf_printf(&b, "http://%s%s?", j->host, j->path);
    ds_pairs_encode(&b, &j->qs, skip_next_sort, sortkey);
    if (b.data[b.len - 1] != '?') buf_putc(&b, '&');
    buf_puts(&b, "_next=");
    url_encode_form(&b, p->next, strlen(p->next));
    if (sortkey) {
        const char *v = qs_get(&j->qs, sortkey);
        buf_printf(&b, "&%s=", sortkey);
        url_encode_form(&b, v, strlen(v));
    }
    return buf_detach(&b);
}

/* The next token, from the last shown row (§6). */
static void make_next(plan_t *p, int shown) {
    const tinfo_t *t = p->q.t;
    if (p->nrows <= p->size || shown == 0) return;
    if (t->is_view) {
        char n[32];
        snprintf(n, sizeof n, "%lld", (long long)(p->q.offset + p->size));
        p->next = xstrdup(n);
        return;
    }
    buf_t b = BUF_INIT;
    int last = shown - 1;
    if (p->q.sort != QSORT_NONE) {
        const store_value_t *v = NULL;
        for (int c = 0; c < p->q.nsel; c++)
            if (p->q.sel[c] == p->q.sort) v = &p->cells[last * p->q.nsel + c];
        if (!v || v->type == SV_NULL) {
            buf_puts(&b, "$null");
        } else {
            buf_t tx = BUF_INIT;
            ds_value_text(&tx, v);
            tilde_encode(&b, tx.data ? tx.data : "", tx.len);
            buf_free(&tx);
        }
        buf_putc(&b, ',');
    }
    pk_path(&b, p, last);
    p->next = buf_detach(&b);
}

static char *human_description(const plan_t *p, const tjob_t *j) {
    buf_t b = BUF_INIT;
    if (p->nhuman) {
        buf_puts(&b, "where ");
        for (int i = 0; i < p->nhuman; i++) {
            if (i) buf_puts(&b, i == p->nhuman - 1 ? " and " : ", ");
            buf_puts(&b, p->human[i]);
        }
    }
    if (p->q.sort != QSORT_NONE) {
        const char *c = qs_get(&j->qs, p->q.desc ? "_sort_desc" : "_sort");
        buf_printf(&b, "%ssorted by %s%s", b.len ? " " : "", c, p->q.desc ? " descending" : "");
    }
    if (!b.data) buf_puts(&b, "");
    return buf_detach(&b);
}

/* ---- CSV --------------------------------------------------------------- */

static void csv_value(buf_t *b, const tjob_t *j, const plan_t *p, int row, int col, const store_value_t *v) {
    if (v->type == SV_NULL) return;
    buf_t tx = BUF_INIT;
    if (v->type == SV_BLOB) {
        buf_printf(&tx, "http://%s/", j->host);
        tilde_encode(&tx, j->db->name, strlen(j->db->name));
        buf_putc(&tx, '/');
        tilde_encode(&tx, p->q.t->name, strlen(p->q.t->name));
        buf_putc(&tx, '/');
        pk_path(&tx, p, row);
        buf_puts(&tx, ".blob?_blob_column=");
        url_encode_form(&tx, query_sel_name(&p->q, col), strlen(query_sel_name(&p->q, col)));
    } else {
        ds_value_text(&tx, v);
    }
    csv_field(b, tx.data ? tx.data : "", tx.len);
    buf_free(&tx);
}

static void write_csv(buf_t *b, const tjob_t *j, const plan_t *p, int nrows, bool header) {
    if (header) {
        for (int c = 0; c < p->nvis; c++) {
            if (c) buf_putc(b, ',');
            const char *n = query_sel_name(&p->q, c);
            csv_field(b, n, strlen(n));
            if (p->labelled && p->labelled[c]) {
                buf_t l = BUF_INIT;
                buf_printf(&l, "%s_label", n);
                buf_putc(b, ',');
                csv_field(b, l.data, l.len);
                buf_free(&l);
            }
        }
        buf_puts(b, "\r\n");
    }
    for (int r = 0; r < nrows; r++) {
        for (int c = 0; c < p->nvis; c++) {
            if (c) buf_putc(b, ',');
            const store_value_t *v = &p->cells[r * p->q.nsel + c];
            csv_value(b, j, p, r, c, v);
            if (p->labelled && p->labelled[c]) {
                buf_putc(b, ',');
                const store_value_t *l = label_of(p, c, v);
                if (l) csv_value(b, j, p, r, c, l);
            }
        }
        buf_puts(b, "\r\n");
    }
}

/* The extras table and row pages share. */
static void write_shared_extras(jw_t *w, const tjob_t *j, const plan_t *p) {
    const extras_t *x = &p->ex;
    if (x->columns) {
        jw_key(w, "columns");
        jw_arr_begin(w);
        for (int i = 0; i < p->nvis; i++) jw_str(w, query_sel_name(&p->q, i));
        jw_arr_end(w);
    }
    if (x->query) {
        jw_key(w, "query");
        jw_obj_begin(w);
        jw_key(w, "sql");
        jw_str(w, p->q.sql.data);
        jw_key(w, "params");
        write_params(w, p);
        jw_obj_end(w);
    }
    if (x->database) {
        jw_key(w, "database");
        jw_str(w, j->db->name);
    }
    if (x->table) {
        jw_key(w, "table");
        jw_str(w, p->q.t->name);
    }
    if (x->private_) {
        jw_key(w, "private");
        jw_bool(w, !j->db_public);
    }
    if (x->metadata) {
        jw_key(w, "metadata");
        jw_obj_begin(w);
        jw_obj_end(w);
    }
    if (x->color) {
        char color[33];
        md5_hex(j->db->name, strlen(j->db->name), color);
        color[6] = 0;
        jw_key(w, "database_color");
        jw_str(w, color);
    }
}

/* ---- table page -------------------------------------------------------- */

static void fail(tjob_t *j, int status, char *msg) {
    j->status = status;
    free(j->msg);
    j->msg = msg;
}

static void page_run(tjob_t *j, plan_t *p, store_db_t *c, uint64_t deadline) {
    int status = 400;
    char *msg = ds_plan_table(p, j, &status);
    if (msg) {
        fail(j, status, msg);
        return;
    }
    if (ds_run_sql(j, p, c, p->q.sql.data, deadline, &fetch_sink, p, p->size + 1) < 0) return;
    fetch_done(p);
    int shown = p->nrows > p->size ? p->size : p->nrows;
    make_next(p, shown);
    if (j->stream) {
        free(j->stream_next);
        j->stream_next = p->next ? xstrdup(p->next) : NULL;
    }
    if (p->nrows && p->labelled) {
        bool any = false;
        for (int i = 0; i < p->q.nsel; i++) any = any || p->labelled[i];
        if (any) fetch_labels(p, c, deadline);
    }
    if (j->csv) {
        write_csv(&j->body, j, p, shown, !j->stream_started && !(qs_get(&j->qs, "_header") &&
                                                                  strcmp(qs_get(&j->qs, "_header"), "off") == 0));
        return;
    }
    char *next_url = make_next_url(j, p);
    if (next_url) {
        buf_t l = BUF_INIT;
        buf_printf(&l, "<%s>; rel=\"next\"", next_url);
        free(j->link);
        j->link = buf_detach(&l);
    }
    jw_t w;
    jw_init(&w, &j->body, DS_JW);
    if (j->nl) {
        for (int r = 0; r < shown; r++) {
            if (r) buf_putc(&j->body, '\n');
            jw_init(&w, &j->body, DS_JW);
            write_row(&w, p, r, SH_OBJECTS);
        }
        free(next_url);
        return;
    }
    if (j->shape == SH_ARRAY || j->shape == SH_ARRAYFIRST || j->shape == SH_OBJECT) {
        write_rows(&w, p, shown, j->shape);
        free(next_url);
        return;
    }
    const tinfo_t *t = p->q.t;
    jw_obj_begin(&w);
    jw_key(&w, "ok");
    jw_bool(&w, true);
    jw_key(&w, "next");
    if (p->next) jw_str(&w, p->next);
    else jw_null(&w);
    jw_key(&w, "next_url");
    if (next_url) jw_str(&w, next_url);
    else jw_null(&w);
    jw_key(&w, "rows");
    write_rows(&w, p, shown, j->shape);
    jw_key(&w, "truncated");
    jw_bool(&w, false);
    const extras_t *x = &p->ex;
    if (x->count) {
        jw_key(&w, "count");
        const char *nc = qs_get(&j->qs, "_nocount");
        if (nc && ds_truthy(nc)) {
            jw_null(&w);
        } else {
            buf_t cs = BUF_INIT;
            buf_printf(&cs, "select count(*) from (%s limit %d)", p->q.base_sql.data, COUNT_CAP + 1);
            count_t cnt = {0};
            int rc = ds_run_sql(j, p, c, cs.data, deadline, &ds_count_sink, &cnt, -1);
            buf_free(&cs);
            if (rc < 0) goto out;
            jw_int(&w, cnt.n);
            jw_key(&w, "count_truncated");
            jw_bool(&w, cnt.n > COUNT_CAP);
        }
    }
    if (x->count_sql) {
        jw_key(&w, "count_sql");
        jw_str(&w, p->q.count_sql.data);
    }
    write_shared_extras(&w, j, p);
    if (x->all_columns) {
        jw_key(&w, "all_columns");
        jw_arr_begin(&w);
        for (int i = 0; i < t->ncols; i++) jw_str(&w, t->cols[i].name);
        jw_arr_end(&w);
    }
    if (x->primary_keys) {
        jw_key(&w, "primary_keys");
        jw_arr_begin(&w);
        for (int k = 0; k < t->npk; k++) jw_str(&w, t->cols[t->pk[k]].name);
        jw_arr_end(&w);
    }
    if (x->human) {
        char *h = human_description(p, j);
        jw_key(&w, "human_description_en");
        jw_str(&w, h);
        free(h);
    }
    if (x->is_view) {
        jw_key(&w, "is_view");
        jw_bool(&w, t->is_view);
    }
    if (x->expandable) {
        jw_key(&w, "expandable_columns");
        jw_arr_begin(&w);
        for (int k = 0; k < t->nout; k++) {
            const tinfo_t *o = schema_find(p->q.s, t->out[k].other_table);
            if (!o || o->label < 0) continue;
            jw_arr_begin(&w);
            write_fk(&w, &t->out[k]);
            jw_str(&w, o->cols[o->label].name);
            jw_arr_end(&w);
        }
        jw_arr_end(&w);
    }
    if (x->table_def) {
        jw_key(&w, "table_definition");
        if (!t->is_view && t->sql) jw_str(&w, t->sql);
        else jw_null(&w);
    }
    if (x->view_def) {
        jw_key(&w, "view_definition");
        if (t->is_view && t->sql) jw_str(&w, t->sql);
        else jw_null(&w);
    }
    bool facets = x->facets || qs_get(&j->qs, "_facet") || qs_get(&j->qs, "_facet_array") ||
                  qs_get(&j->qs, "_facet_date");
    if (facets || x->sorted_facets || x->facets_timed_out) {
        facets_t f = {0};
        int rc = ds_run_facets(j, p, c, deadline, &f);
        if (rc == 0) ds_write_facets(&w, &f, x, facets);
        ds_facets_free(&f);
        if (rc < 0) goto out;
    }
    if (x->suggested && ds_write_suggested(&w, j, p, c, deadline) < 0) goto out;

    jw_obj_end(&w);
out:
    free(next_url);
}

/* ---- row page (§7) ------------------------------------------------------ */

static void row_run(tjob_t *j, plan_t *p, store_db_t *c, uint64_t deadline) {
    const tinfo_t *t = p->q.t;
    char *msg;
    if ((msg = ds_plan_extras(p, &j->qs, true)) || (msg = ds_plan_shape(p, j))) {
        fail(j, 400, msg);
        return;
    }
    if (t->is_view) {
        fail(j, 404, xstrdup("Row not found"));
        return;
    }
    /* the key values */
    int want = p->q.rowid ? 1 : t->npk, n = 0;
    char **vals = NULL;
    for (const char *s = j->id_seg;;) {
        const char *cm = strchr(s, ',');
        size_t len = cm ? (size_t)(cm - s) : strlen(s);
        buf_t d = BUF_INIT;
        int bad = tilde_decode(s, len, &d);
        vals = xrealloc(vals, (size_t)(n + 1) * sizeof *vals);
        vals[n++] = bad < 0 ? xstrndup(s, len) : (d.data ? buf_detach(&d) : xstrdup(""));
        buf_free(&d);
        if (!cm) break;
        s = cm + 1;
    }
    if (n != want) {
        fail(j, 400, xstrdup("URL row identifier does not match the primary key for this table"));
        ds_list_free(vals, n);
        return;
    }
    query_select_all(&p->q);
    p->nvis = p->q.nsel;
    p->labelled = xcalloc((size_t)p->q.nsel + 1, sizeof *p->labelled);
    p->json_cols = xcalloc((size_t)p->q.nsel + 1, sizeof *p->json_cols);
    char **js;
    int njs = ds_list_values(&j->qs, "_json", false, &js);
    for (int i = 0; i < p->q.nsel; i++)
        for (int k = 0; k < njs; k++)
            if (strcmp(js[k], query_sel_name(&p->q, i)) == 0) p->json_cols[i] = true;
    ds_list_free(js, njs);
    if (j->blob) {
        /* /DB/T/ID.blob?_blob_column=C: that cell's bytes */
        const char *bc = qs_get(&j->qs, "_blob_column");
        int ci = bc ? tinfo_col(t, bc) : -1;
        if (ci < 0) {
            fail(j, 400, xstrdup("_blob_column= must name a column of this table"));
            goto out;
        }
        p->q.sel[0] = ci;
        p->q.nsel = p->nvis = 1;
        buf_puts(&p->q.sql, "select ");
        sql_ident(&p->q.sql, bc);
        buf_puts(&p->q.sql, " from ");
    } else {
        buf_puts(&p->q.sql, p->q.rowid ? "select rowid, * from " : "select * from ");
    }
    sql_ident(&p->q.sql, t->name);
    buf_puts(&p->q.sql, " where ");
    for (int k = 0; k < want; k++) {
        if (k) buf_puts(&p->q.sql, " AND ");
        sql_quote(&p->q.sql, p->q.rowid ? "rowid" : t->cols[t->pk[k]].name, '"');
        store_value_t v = value_text(vals[k]);
        buf_printf(&p->q.sql, "=:%s", query_param(&p->q, NULL, &v));
    }
    uint64_t t0 = time_mono_us();
    p->size = 1;
    int rc = ds_run_sql(j, p, c, p->q.sql.data, deadline, &fetch_sink, p, 1);
    fetch_done(p);
    double query_ms = (double)(time_mono_us() - t0) / 1000.0;
    if (rc < 0) goto out;
    if (p->nrows == 0) {
        fail(j, 404, xstrdup("Row not found"));
        goto out;
    }
    if (j->blob) {
        const store_value_t *v = &p->cells[0];
        if (v->type == SV_TEXT || v->type == SV_BLOB) buf_append(&j->body, v->p, v->n);
        else if (v->type != SV_NULL) ds_value_text(&j->body, v);
        buf_t h = BUF_INIT;
        buf_puts(&h, "attachment; filename=\"");
        for (const unsigned char *ch = (const unsigned char *)t->name; *ch; ch++)
            buf_putc(&h, isalnum(*ch) || *ch == '-' || *ch == '_' ? (char)*ch : '_');
        buf_putc(&h, '-');
        for (const unsigned char *ch = (const unsigned char *)j->id_seg; *ch; ch++)
            buf_putc(&h, isalnum(*ch) || *ch == '-' || *ch == '_' || *ch == '~' ? (char)*ch : '_');
        buf_puts(&h, ".blob\"");
        free(j->disposition);
        j->disposition = buf_detach(&h);
        goto out;
    }
    if (j->csv) {
        write_csv(&j->body, j, p, 1, !(qs_get(&j->qs, "_header") && strcmp(qs_get(&j->qs, "_header"), "off") == 0));
        goto out;
    }
    jw_t w;
    jw_init(&w, &j->body, DS_JW);
    if (j->nl) {
        write_row(&w, p, 0, SH_OBJECTS);
        goto out;
    }
    if (j->shape == SH_ARRAY || j->shape == SH_ARRAYFIRST || j->shape == SH_OBJECT) {
        write_rows(&w, p, 1, j->shape);
        goto out;
    }
    jw_obj_begin(&w);
    jw_key(&w, "ok");
    jw_bool(&w, true);
    jw_key(&w, "database");
    jw_str(&w, j->db->name);
    jw_key(&w, "table");
    jw_str(&w, t->name);
    jw_key(&w, "rows");
    write_rows(&w, p, 1, j->shape);
    jw_key(&w, "primary_keys");
    jw_arr_begin(&w);
    if (p->q.rowid) jw_str(&w, "rowid");
    for (int k = 0; k < t->npk; k++) jw_str(&w, t->cols[t->pk[k]].name);
    jw_arr_end(&w);
    jw_key(&w, "primary_key_values");
    jw_arr_begin(&w);
    for (int k = 0; k < want; k++) jw_str(&w, vals[k]);
    jw_arr_end(&w);
    jw_key(&w, "query_ms");
    jw_double(&w, query_ms);
    jw_key(&w, "truncated");
    jw_bool(&w, false);
    const extras_t *x = &p->ex;
    write_shared_extras(&w, j, p);
    if (x->fk_tables) {
        jw_key(&w, "foreign_key_tables");
        jw_arr_begin(&w);
        if (want == 1) {
            store_set_deadline(c, deadline);
            int nin;
            const tfk_t *in = schema_incoming(p->q.s, t, &nin);
            for (int k = 0; k < nin; k++) {
                const tfk_t *f = &in[k];
                buf_t s = BUF_INIT;
                buf_puts(&s, "select count(*) from ");
                sql_ident(&s, f->other_table);
                buf_puts(&s, " where ");
                sql_ident(&s, f->other_column);
                buf_puts(&s, " = ?");
                int64_t cnt = 0;
                store_stmt_t *st;
                if (store_prepare(c, s.data, &st) == 0) {
                    store_bind_text(st, 1, vals[0], strlen(vals[0]));
                    if (store_step(st) == STORE_ROW) cnt = store_col_int(st, 0);
                    store_finalize(st);
                }
                buf_free(&s);
                jw_obj_begin(&w);
                jw_key(&w, "other_table");
                jw_str(&w, f->other_table);
                jw_key(&w, "column");
                jw_str(&w, f->column);
                jw_key(&w, "other_column");
                jw_str(&w, f->other_column);
                jw_key(&w, "count");
                jw_int(&w, cnt);
                jw_key(&w, "link");
                buf_t l = BUF_INIT;
                buf_putc(&l, '/');
                tilde_encode(&l, j->db->name, strlen(j->db->name));
                buf_putc(&l, '/');
                tilde_encode(&l, f->other_table, strlen(f->other_table));
                buf_putc(&l, '?');
                url_encode_form(&l, f->other_column, strlen(f->other_column));
                buf_putc(&l, '=');
                url_encode_form(&l, vals[0], strlen(vals[0]));
                jw_str(&w, l.data);
                buf_free(&l);
                jw_obj_end(&w);
            }
            store_set_deadline(c, 0);
        }
        jw_arr_end(&w);
    }
    jw_obj_end(&w);
out:
    ds_list_free(vals, n);
}

/* ---- the job ----------------------------------------------------------- */

static void tjob_free(tjob_t *j) {
    api_out_reset(&j->out);
    qs_free(&j->qs);
    free(j->table);
    free(j->id_seg);
    free(j->host);
    free(j->path);
    free(j->msg);
    free(j->link);
    free(j->stream_next);
    free(j->disposition);
    buf_free(&j->body);
    buf_free(&j->cache_key);
    db_release(j->db);
    free(j);
}

static void tjob_reset(void *ctx) {
    tjob_t *j = ctx;
    api_out_reset(&j->out);
    buf_free(&j->body);
    free(j->msg);
    j->msg = NULL;
    j->status = 200;
    j->uncacheable = false;
}

static void tjob_run(void *ctx, store_db_t *c, uint64_t deadline) {
    tjob_t *j = ctx;
    tjob_reset(j);
    char e[256];
    const schema_t *s;
    if (thread_is_loop()) {
        /* the loop never builds a snapshot: the pool does (api_read retries there) */
        if (!(s = schema_peek(j->db, c))) {
            j->out.rc = err_set_sub(&j->out.err, E_TIMEOUT, ES_OFF_LOOP, "the schema snapshot is built off the loop");
            return;
        }
    } else if (!(s = schema_acquire(j->db, c, e, sizeof e))) {
        fail(j, 400, xstrdup(e));
        return;
    }
    const tinfo_t *t = schema_find(s, j->table);
    if (!t) {
        schema_release(s);
        fail(j, 404, xstrdup("Table not found"));
        return;
    }
    plan_t p;
    memset(&p, 0, sizeof p);
    query_init(&p.q, s, t);
    if (j->id_seg) row_run(j, &p, c, deadline);
    else page_run(j, &p, c, deadline);
    ds_plan_free(&p);
    schema_release(s);
}

static void cache_headers(http_req_t *r, const tjob_t *j) {
    const char *ttl = qs_get(&j->qs, "_ttl");
    char v[48];
    if (ttl && ds_is_digits(ttl) && strlen(ttl) < 10) {
        if (atol(ttl) == 0) snprintf(v, sizeof v, "no-cache");
        else snprintf(v, sizeof v, "max-age=%ld", atol(ttl));
    } else {
        snprintf(v, sizeof v, "max-age=5");
    }
    http_add_header(r, "Cache-Control", v);
    http_add_header(r, "Referrer-Policy", "no-referrer");
}

static void stream_more(http_req_t *r, void *data);

/* The headers of a 200 table or row answer. */
static void send_headers(http_req_t *r, const tjob_t *j, const char *link, const char *dispo) {
    ds_cors(r);
    cache_headers(r, j);
    if (dispo && *dispo) http_add_header(r, "Content-Disposition", dispo);
    if (link && *link) http_add_header(r, "Link", link);
}

/* Answers from the read-answer cache if it holds this very request for
 * this version of the database: true if it did (j is freed then). */
static bool answer_from_cache(http_req_t *r, tjob_t *j) {
    buf_t v = BUF_INIT;
    if (!rcache_get(j->cache_key.data, j->cache_key.len, j->version, &v)) return false;
    const char *ctype = v.data;
    const char *link = ctype + strlen(ctype) + 1;
    const char *dispo = link + strlen(link) + 1;
    const char *body = dispo + strlen(dispo) + 1;
    if (j->blob) http_add_header(r, "X-Content-Type-Options", "nosniff");
    send_headers(r, j, link, dispo);
    http_respond(r, 200, ctype, body, v.len - (size_t)(body - v.data));
    buf_free(&v);
    tjob_free(j);
    return true;
}

static void tjob_done(http_req_t *r, void *data) {
    tjob_t *j = data;
    if (j->out.rc < 0 && j->out.err.kind == E_TIMEOUT) {
        j->status = 400;
        free(j->msg);
        j->msg = xstrdup("SQL query took too long. The time limit is controlled by the sql_time_limit_ms setting.");
    } else if (j->out.rc < 0) {
        j->status = 400;
        free(j->msg);
        j->msg = xstrdup(j->out.err.msg);
    }
    if (j->stream_started) {
        /* a later page of a CSV stream: errors just end it */
        if (j->status == 200) http_stream_write(r, j->body.data, j->body.len);
        if (j->status == 200 && j->stream_next && !http_gone(r)) {
            http_on_drain(r, stream_more, j);
            return;
        }
        http_stream_end(r);
        tjob_free(j);
        return;
    }
    if (j->html) {
        ds_html_page(r, j->status, j->status == 200 ? "See this page's .json" : j->msg ? j->msg : "Error");
        tjob_free(j);
        return;
    }
    if (j->status != 200) {
        ds_error(r, j->status, j->msg ? j->msg : "Error");
        tjob_free(j);
        return;
    }
    const char *ctype = DS_JSON;
    buf_t dispo = BUF_INIT;
    if (j->blob) {
        ctype = "application/binary";
        http_add_header(r, "X-Content-Type-Options", "nosniff");
        buf_puts(&dispo, j->disposition ? j->disposition : "attachment");
    } else if (j->csv) {
        bool dl = qs_get(&j->qs, "_dl") && *qs_get(&j->qs, "_dl");
        ctype = dl ? "text/csv; charset=utf-8" : "text/plain; charset=utf-8";
        if (dl) {
            buf_puts(&dispo, "attachment; filename=\"");
            /* a header value: no control characters, no quotes */
            for (const unsigned char *c = (const unsigned char *)j->table; *c; c++)
                buf_putc(&dispo, *c < 0x20 || *c == 0x7f || *c == '"' || *c == '\\' ? '_' : (char)*c);
            buf_puts(&dispo, ".csv\"");
        }
    } else if (j->nl) {
        ctype = "text/plain; charset=utf-8";
    }
    if (!j->stream && j->cache_key.len && !j->uncacheable) {
        /* kept as: content type, Link, Content-Disposition, body */
        buf_t v = BUF_INIT;
        buf_append(&v, ctype, strlen(ctype) + 1);
        buf_append(&v, j->link ? j->link : "", (j->link ? strlen(j->link) : 0) + 1);
        buf_append(&v, dispo.data ? dispo.data : "", dispo.len + 1);
        buf_append(&v, j->body.data ? j->body.data : "", j->body.len);
        rcache_put(j->cache_key.data, j->cache_key.len, j->version, v.data, v.len);
        buf_free(&v);
    }
    send_headers(r, j, j->link, dispo.data);
    buf_free(&dispo);
    if (j->stream) {
        http_stream_begin(r, 200, ctype);
        http_stream_write(r, j->body.data, j->body.len);
        j->stream_started = true;
        if (j->stream_next && !http_gone(r)) {
            http_on_drain(r, stream_more, j);
            return;
        }
        http_stream_end(r);
        tjob_free(j);
        return;
    }
    http_respond_buf(r, 200, ctype, &j->body);
    tjob_free(j);
}

static void stream_more(http_req_t *r, void *data) {
    tjob_t *j = data;
    if (http_gone(r)) {
        http_stream_end(r);
        tjob_free(j);
        return;
    }
    api_read(r, j->db, j->limit_ms * 1000, &j->out, tjob_run, tjob_reset, tjob_done, j);
}

void ds_table_page(http_req_t *r, const actor_t *a, db_t *d, const char *table, const char *id_seg, const char *fmt) {
    bool csv = strcmp(fmt, ".csv") == 0;
    tjob_t *j = xcalloc(1, sizeof *j);
    j->db = d;
    j->db_public = db_public(d);
    j->table = xstrdup(table);
    j->id_seg = id_seg ? xstrdup(id_seg) : NULL;
    j->csv = csv;
    j->blob = id_seg && strcmp(fmt, ".blob") == 0;
    j->html = !*fmt;
    const char *host = http_header(r, "host");
    j->host = xstrdup(host ? host : "localhost");
    j->path = xstrdup(r->path);
    qs_parse(&j->qs, r->query ? r->query : "", r->query ? strlen(r->query) : 0);
    j->can_where = auth_check(a, d, ACT_READ);
    j->stream = csv && !id_seg && ds_truthy(qs_get(&j->qs, "_stream"));
    j->limit_ms = (uint64_t)DS_ENGINE(r)->sql_time_limit_ms;
    const char *tl = qs_get(&j->qs, "_timelimit");
    if (tl && ds_is_digits(tl) && strlen(tl) < 10 && strtoull(tl, NULL, 10) < j->limit_ms)
        j->limit_ms = strtoull(tl, NULL, 10);
    j->status = 200;
    if (rcache_enabled() && !j->html && !j->stream) {
        ds_cache_key(&j->cache_key, r, a, d);
        j->version = dbh_version(d);
        if (j->version == DBH_VERSION_UNKNOWN) buf_reset(&j->cache_key);
        else if (answer_from_cache(r, j)) return;
    }
    api_read(r, d, j->limit_ms * 1000, &j->out, tjob_run, tjob_reset, tjob_done, j);
}
