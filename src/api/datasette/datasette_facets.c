/* datasette_facets: facets (_facet, _facet_size), their timing out, and
 * suggested facets on table pages (spec/datasette.md §5). Each facet is one
 * statement bounded by FACET_TIME_MS on the page's read connection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/datasette/datasette_table.h"
#include "util/timeutil.h"

/* ---- facets ---------------------------------------------------------- */

typedef struct {
    store_value_t *vals;
    int64_t *counts;
    int n, cap;
} facet_rows_t;

static void fr_row(void *ctx, store_stmt_t *st, int n) {
    (void)n;
    facet_rows_t *f = ctx;
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 16;
        f->vals = xrealloc(f->vals, (size_t)f->cap * sizeof *f->vals);
        f->counts = xrealloc(f->counts, (size_t)f->cap * sizeof *f->counts);
    }
    store_value_t v;
    store_col_value(st, 0, &v);
    value_copy(&f->vals[f->n], &v);
    f->counts[f->n++] = store_col_int(st, 1);
}

static void fr_columns(void *ctx, store_stmt_t *st, int n) { (void)ctx, (void)st, (void)n; }

static const sql_sink_t facet_sink = {fr_columns, fr_row};

typedef struct {
    const char *key, *value;
} kv_t;

static bool skip_kv(const qs_pair_t *pr, const void *ctx) {
    const kv_t *kv = ctx;
    return strcmp(pr->key, kv->key) == 0 && (!kv->value || strcmp(pr->value, kv->value) == 0);
}


void ds_facets_free(facets_t *f) {
    for (int i = 0; i < f->n; i++) {
        free(f->names[i]);
        buf_free(&f->json[i]);
    }
    for (int i = 0; i < f->ntimed; i++) free(f->timed[i]);
    free(f->names);
    free(f->timed);
    free(f->json);
    free(f->nresults);
}

/* Runs the _facet queries; -1 if one failed (job outcome set). */
int ds_run_facets(tjob_t *j, plan_t *p, store_db_t *c, uint64_t deadline, facets_t *out) {
    char **fc;
    int nf = ds_list_values(&j->qs, "_facet", false, &fc);
    int size = FACET_SIZE;
    const char *fs = qs_get(&j->qs, "_facet_size");
    if (fs && strcmp(fs, "max") == 0) size = DS_MAX_RETURNED_ROWS;
    else if (fs && ds_is_digits(fs) && strlen(fs) < 9) size = atoi(fs) < DS_MAX_RETURNED_ROWS ? atoi(fs) : DS_MAX_RETURNED_ROWS;
    int rc = 0;
    for (int i = 0; i < nf && rc == 0; i++) {
        bool dup = false;
        for (int k = 0; k < i; k++) dup = dup || strcmp(fc[k], fc[i]) == 0;
        if (dup) continue;
        const char *col = fc[i];
        buf_t sql = BUF_INIT, qc = BUF_INIT;
        sql_ident(&qc, col);
        buf_printf(&sql,
                   "select %s as value, count(*) as count from (\n%s\n) where %s is not null group by %s order by "
                   "count desc, value limit %d",
                   qc.data, p->q.base_sql.data, qc.data, qc.data, size + 1);
        facet_rows_t fr = {0};
        uint64_t fd = time_mono_us() + FACET_TIME_MS * 1000;
        if (deadline && deadline < fd) fd = deadline;
        int saved_status = j->status;
        if (ds_run_sql(j, p, c, sql.data, fd, &facet_sink, &fr, -1) < 0) {
            if (j->out.rc < 0 && j->out.err.kind == E_TIMEOUT && (!deadline || time_mono_us() < deadline)) {
                /* this facet ran out of its own time: report, go on */
                j->out.rc = 0;
                err_clear(&j->out.err);
                out->timed = xrealloc(out->timed, (size_t)(out->ntimed + 1) * sizeof *out->timed);
                out->timed[out->ntimed++] = xstrdup(col);
            } else {
                rc = -1;
            }
            j->status = rc ? j->status : saved_status;
        } else {
            const tfk_t *fk = p->q.t->is_view ? NULL : tinfo_fk(p->q.t, col);
            const tinfo_t *o = fk ? schema_find(p->q.s, fk->other_table) : NULL;
            buf_t fb = BUF_INIT;
            jw_t fwv, *w = &fwv;
            jw_init(w, &fb, DS_JW);
            jw_obj_begin(w);
            jw_key(w, "name");
            jw_str(w, col);
            jw_key(w, "type");
            jw_str(w, "column");
            jw_key(w, "hideable");
            jw_bool(w, true);
            jw_key(w, "toggle_url");
            {
                buf_t u = BUF_INIT;
                buf_printf(&u, "%s?", j->path);
                kv_t kv = {"_facet", col};
                ds_pairs_encode(&u, &j->qs, skip_kv, &kv);
                if (u.data[u.len - 1] == '?') u.data[--u.len] = 0;
                jw_str(w, u.data);
                buf_free(&u);
            }
            jw_key(w, "results");
            jw_arr_begin(w);
            int shown = fr.n > size ? size : fr.n;
            /* the target rows' labels, one statement for the whole facet */
            store_stmt_t *lst = NULL;
            if (o && o->label >= 0) {
                buf_t ls = BUF_INIT;
                buf_puts(&ls, "select ");
                sql_ident(&ls, o->cols[o->label].name);
                buf_puts(&ls, " from ");
                sql_ident(&ls, o->name);
                buf_puts(&ls, " where ");
                sql_ident(&ls, fk->other_column);
                buf_puts(&ls, " = ?");
                if (store_prepare(c, ls.data, &lst) < 0) lst = NULL;
                buf_free(&ls);
            }
            char *qskey = col[0] == '_' ? ds_err_printf("%s__exact", col) : xstrdup(col);
            for (int r = 0; r < shown; r++) {
                buf_t tx = BUF_INIT;
                ds_value_text(&tx, &fr.vals[r]);
                bool selected = false;
                for (size_t k = 0; k < j->qs.n && !selected; k++)
                    selected = strcmp(j->qs.pairs[k].key, qskey) == 0 && strcmp(j->qs.pairs[k].value, tx.data) == 0;
                jw_obj_begin(w);
                jw_key(w, "value");
                ds_write_value(w, &fr.vals[r], false);
                jw_key(w, "label");
                bool labelled = false;
                if (lst) {
                    store_reset(lst);
                    store_bind_text(lst, 1, tx.data, tx.len);
                    if (store_step(lst) == STORE_ROW) {
                        store_value_t lv;
                        store_col_value(lst, 0, &lv);
                        ds_write_value(w, &lv, false);
                        labelled = true;
                    }
                }
                if (!labelled) ds_write_value(w, &fr.vals[r], false);
                jw_key(w, "count");
                jw_int(w, fr.counts[r]);
                jw_key(w, "toggle_url");
                buf_t u = BUF_INIT;
                buf_printf(&u, "http://%s%s?", j->host, j->path);
                if (selected) {
                    kv_t kv = {qskey, tx.data};
                    ds_pairs_encode(&u, &j->qs, skip_kv, &kv);
                } else {
                    ds_pairs_encode(&u, &j->qs, NULL, NULL);
                    if (u.data[u.len - 1] != '?') buf_putc(&u, '&');
                    url_encode_form(&u, qskey, strlen(qskey));
                    buf_putc(&u, '=');
                    url_encode_form(&u, tx.data, tx.len);
                }
                if (u.data[u.len - 1] == '?') u.data[--u.len] = 0;
                jw_str(w, u.data);
                buf_free(&u);
                jw_key(w, "selected");
                jw_bool(w, selected);
                jw_obj_end(w);
                buf_free(&tx);
            }
            free(qskey);
            if (lst) store_finalize(lst);
            jw_arr_end(w);
            jw_key(w, "truncated");
            jw_bool(w, fr.n > size);
            jw_obj_end(w);
            out->names = xrealloc(out->names, (size_t)(out->n + 1) * sizeof *out->names);
            out->json = xrealloc(out->json, (size_t)(out->n + 1) * sizeof *out->json);
            out->nresults = xrealloc(out->nresults, (size_t)(out->n + 1) * sizeof *out->nresults);
            out->names[out->n] = xstrdup(col);
            out->json[out->n] = fb;
            out->nresults[out->n++] = shown;
        }
        for (int r = 0; r < fr.n; r++) value_free(&fr.vals[r]);
        free(fr.vals);
        free(fr.counts);
        buf_free(&sql);
        buf_free(&qc);
    }
    ds_list_free(fc, nf);
    return rc;
}

static int by_results_then_name(const void *a, const void *b, void *ctx) {
    const facets_t *f = ctx;
    int x = *(const int *)a, y = *(const int *)b;
    if (f->nresults[x] != f->nresults[y]) return f->nresults[y] - f->nresults[x];
    return -strcmp(f->names[x], f->names[y]);
}

/* facet_results, sorted_facet_results, facets_timed_out. */
void ds_write_facets(jw_t *w, const facets_t *f, const extras_t *x, bool asked) {
    if (asked) {
        jw_key(w, "facet_results");
        jw_obj_begin(w);
        jw_key(w, "results");
        jw_obj_begin(w);
        for (int i = 0; i < f->n; i++) {
            jw_key(w, f->names[i]);
            jw_raw(w, f->json[i].data, f->json[i].len);
        }
        jw_obj_end(w);
        jw_key(w, "timed_out");
        jw_arr_begin(w);
        for (int i = 0; i < f->ntimed; i++) jw_str(w, f->timed[i]);
        jw_arr_end(w);
        jw_obj_end(w);
    }
    if (x->sorted_facets) {
        /* Datasette's order: most results first, then name descending */
        int *idx = xcalloc((size_t)f->n + 1, sizeof *idx);
        for (int i = 0; i < f->n; i++) idx[i] = i;
        qsort_r(idx, (size_t)f->n, sizeof *idx, by_results_then_name, (void *)f);
        jw_key(w, "sorted_facet_results");
        jw_arr_begin(w);
        for (int i = 0; i < f->n; i++) jw_raw(w, f->json[idx[i]].data, f->json[idx[i]].len);
        jw_arr_end(w);
        free(idx);
    }
    if (x->facets_timed_out) {
        jw_key(w, "facets_timed_out");
        jw_arr_begin(w);
        for (int i = 0; i < f->ntimed; i++) jw_str(w, f->timed[i]);
        jw_arr_end(w);
    }
}

/* suggested_facets: columns (not already faceted) whose first 1,000 rows
 * hold between 2 and facet-size distinct values, fewer than the rows, one
 * of them more than once; each query gets 50 ms. */
int ds_write_suggested(jw_t *w, tjob_t *j, plan_t *p, store_db_t *c, uint64_t deadline) {
    count_t total = {0};
    buf_t cs = BUF_INIT;
    buf_printf(&cs, "select count(*) from (%s)", p->q.base_sql.data);
    int rc = ds_run_sql(j, p, c, cs.data, deadline, &ds_count_sink, &total, -1);
    buf_free(&cs);
    if (rc < 0) return -1;
    char **fc;
    int nf = ds_list_values(&j->qs, "_facet", false, &fc);
    jw_key(w, "suggested_facets");
    jw_arr_begin(w);
    for (int i = 0; i < p->nvis; i++) {
        const char *col = query_sel_name(&p->q, i);
        bool on = p->q.sel[i] < 0; /* rowid: not a column of the base query */
        for (int k = 0; k < nf; k++) on = on || strcmp(fc[k], col) == 0;
        if (on) continue;
        buf_t sql = BUF_INIT, qc = BUF_INIT;
        sql_ident(&qc, col);
        buf_printf(&sql,
                   "with limited as (select * from (%s) limit 1000) select %s as value, count(*) as n from limited "
                   "where value is not null group by value limit %d",
                   p->q.base_sql.data, qc.data, FACET_SIZE + 1);
        facet_rows_t fr = {0};
        uint64_t fd = time_mono_us() + 50 * 1000;
        if (deadline && deadline < fd) fd = deadline;
        if (ds_run_sql(j, p, c, sql.data, fd, &facet_sink, &fr, -1) < 0) {
            if (!(j->out.rc < 0 && j->out.err.kind == E_TIMEOUT && (!deadline || time_mono_us() < deadline))) {
                rc = -1;
            } else {
                j->out.rc = 0;
                err_clear(&j->out.err);
            }
        } else {
            bool repeated = false;
            for (int r = 0; r < fr.n; r++) repeated = repeated || fr.counts[r] > 1;
            if (fr.n > 1 && fr.n < total.n && fr.n <= FACET_SIZE && repeated) {
                jw_obj_begin(w);
                jw_key(w, "name");
                jw_str(w, col);
                jw_key(w, "toggle_url");
                buf_t u = BUF_INIT;
                buf_printf(&u, "http://%s%s?", j->host, j->path);
                ds_pairs_encode(&u, &j->qs, NULL, NULL);
                if (u.data[u.len - 1] != '?') buf_putc(&u, '&');
                buf_puts(&u, "_facet=");
                url_encode_form(&u, col, strlen(col));
                jw_str(w, u.data);
                buf_free(&u);
                jw_obj_end(w);
            }
        }
        for (int r = 0; r < fr.n; r++) value_free(&fr.vals[r]);
        free(fr.vals);
        free(fr.counts);
        buf_free(&sql);
        buf_free(&qc);
        if (rc < 0) break;
    }
    jw_arr_end(w);
    ds_list_free(fc, nf);
    return rc;
}
