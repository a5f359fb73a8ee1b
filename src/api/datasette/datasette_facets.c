/* datasette_facets: facets (_facet, _facet_array, _facet_date,
 * _facet_size), their timing out, and suggested facets on table pages
 * (spec/datasette.md §5; Datasette's facets.py). Each facet is one
 * statement bounded by FACET_TIME_MS on the page's read connection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/datasette/datasette_table.h"
#include "util/json.h"
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
        free(f->keys[i]);
        buf_free(&f->json[i]);
    }
    for (int i = 0; i < f->ntimed; i++) free(f->timed[i]);
    free(f->names);
    free(f->keys);
    free(f->timed);
    free(f->json);
    free(f->nresults);
}

/* The three kinds, in Datasette's order (its facet classes' order). */
typedef enum { FK_COLUMN, FK_ARRAY, FK_DATE } fkind_t;
static const struct {
    const char *param, *type, *op; /* the query-string key, its type, the filter a value toggles */
} KINDS[] = {{"_facet", "column", "exact"}, {"_facet_array", "array", "arraycontains"}, {"_facet_date", "date", "date"}};

static void facet_sql(buf_t *sql, fkind_t k, const char *qc, const char *base, int limit) {
    switch (k) {
    case FK_COLUMN:
        buf_printf(sql,
                   "select %s as value, count(*) as count from (\n%s\n) where %s is not null group by %s order by "
                   "count desc, value limit %d",
                   qc, base, qc, qc, limit);
        break;
    case FK_ARRAY: /* each row counts a value once, however often its array holds it */
        buf_printf(sql,
                   "with inner as (%s), deduped_array_items as (select distinct j.value, inner.* from "
                   "json_each([inner].%s) j join inner) select value as value, count(*) as count from "
                   "deduped_array_items group by value order by count(*) desc, value limit %d",
                   base, qc, limit);
        break;
    case FK_DATE:
        buf_printf(sql,
                   "select date(%s) as value, count(*) as count from (\n%s\n) where date(%s) is not null group by "
                   "date(%s) order by count desc, value limit %d",
                   qc, base, qc, qc, limit);
        break;
    }
}

/* Whether value v of the facet is what the query string filters on now:
 * column and array facets look for the very pair, date facets at the last
 * value given (Datasette reads its query string as a dict there). */
static bool facet_selected(const qs_t *qs, fkind_t k, const char *key, const char *v) {
    if (k == FK_DATE) {
        const char *last = NULL;
        for (size_t i = 0; i < qs->n; i++)
            if (strcmp(qs->pairs[i].key, key) == 0) last = qs->pairs[i].value;
        return last && strcmp(last, v) == 0;
    }
    for (size_t i = 0; i < qs->n; i++)
        if (strcmp(qs->pairs[i].key, key) == 0 && strcmp(qs->pairs[i].value, v) == 0) return true;
    return false;
}

static void add_facet(facets_t *out, const char *col, buf_t *json, int shown) {
    /* a column faceted twice (say as a column and as an array) gets col_2 */
    char *key = xstrdup(col);
    for (int n = 2;; n++) {
        bool taken = false;
        for (int i = 0; i < out->n && !taken; i++) taken = strcmp(out->keys[i], key) == 0;
        if (!taken) break;
        free(key);
        buf_t kb = BUF_INIT;
        buf_printf(&kb, "%s_%d", col, n);
        key = buf_detach(&kb);
    }
    out->names = xrealloc(out->names, (size_t)(out->n + 1) * sizeof *out->names);
    out->keys = xrealloc(out->keys, (size_t)(out->n + 1) * sizeof *out->keys);
    out->json = xrealloc(out->json, (size_t)(out->n + 1) * sizeof *out->json);
    out->nresults = xrealloc(out->nresults, (size_t)(out->n + 1) * sizeof *out->nresults);
    out->names[out->n] = xstrdup(col);
    out->keys[out->n] = key;
    out->json[out->n] = *json;
    out->nresults[out->n++] = shown;
    *json = (buf_t)BUF_INIT;
}

/* One facet's object from its rows. */
static void write_facet(buf_t *fb, tjob_t *j, plan_t *p, store_db_t *c, fkind_t k, const char *col,
                        const facet_rows_t *fr, int size) {
    const tfk_t *fk = k == FK_COLUMN && !p->q.t->is_view ? tinfo_fk(p->q.t, col) : NULL;
    const tinfo_t *o = fk ? schema_find(p->q.s, fk->other_table) : NULL;
    jw_t fwv, *w = &fwv;
    jw_init(w, fb, DS_JW);
    jw_obj_begin(w);
    jw_key(w, "name");
    jw_str(w, col);
    jw_key(w, "type");
    jw_str(w, KINDS[k].type);
    jw_key(w, "hideable");
    jw_bool(w, true);
    jw_key(w, "toggle_url");
    {
        buf_t u = BUF_INIT;
        buf_printf(&u, "%s?", j->path);
        kv_t kv = {KINDS[k].param, col};
        ds_pairs_encode(&u, &j->qs, skip_kv, &kv);
        if (u.data[u.len - 1] == '?') u.data[--u.len] = 0;
        jw_str(w, u.data);
        buf_free(&u);
    }
    jw_key(w, "results");
    jw_arr_begin(w);
    int shown = fr->n > size ? size : fr->n;
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
    char *qskey = k == FK_COLUMN ? (col[0] == '_' ? ds_err_printf("%s__exact", col) : xstrdup(col))
                                 : NULL;
    if (!qskey) {
        buf_t kb = BUF_INIT;
        buf_printf(&kb, "%s__%s", col, KINDS[k].op);
        qskey = buf_detach(&kb);
    }
    for (int r = 0; r < shown; r++) {
        buf_t tx = BUF_INIT;
        ds_value_text(&tx, &fr->vals[r]);
        bool selected = facet_selected(&j->qs, k, qskey, tx.data ? tx.data : "");
        jw_obj_begin(w);
        /* an array facet's values are text (Datasette: str(value)) */
        jw_key(w, "value");
        if (k == FK_ARRAY) jw_strn(w, tx.data ? tx.data : "", tx.len);
        else ds_write_value(w, &fr->vals[r], false);
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
        if (!labelled) {
            if (k == FK_ARRAY) jw_strn(w, tx.data ? tx.data : "", tx.len);
            else ds_write_value(w, &fr->vals[r], false);
        }
        jw_key(w, "count");
        jw_int(w, fr->counts[r]);
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
            url_encode_form(&u, tx.data ? tx.data : "", tx.len);
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
    jw_bool(w, fr->n > size);
    jw_obj_end(w);
}

/* Runs the facet queries of every kind; -1 if one failed (job outcome set). */
int ds_run_facets(tjob_t *j, plan_t *p, store_db_t *c, uint64_t deadline, facets_t *out) {
    int size = FACET_SIZE;
    const char *fs = qs_get(&j->qs, "_facet_size");
    if (fs && strcmp(fs, "max") == 0) size = DS_MAX_RETURNED_ROWS;
    else if (fs && ds_is_digits(fs) && strlen(fs) < 9) size = atoi(fs) < DS_MAX_RETURNED_ROWS ? atoi(fs) : DS_MAX_RETURNED_ROWS;
    int rc = 0;
    for (fkind_t k = FK_COLUMN; k <= FK_DATE && rc == 0; k++) {
        char **fc;
        int nf = ds_list_values(&j->qs, KINDS[k].param, false, &fc);
        for (int i = 0; i < nf && rc == 0; i++) {
            bool dup = false;
            for (int d = 0; d < i; d++) dup = dup || strcmp(fc[d], fc[i]) == 0;
            if (dup) continue;
            const char *col = fc[i];
            buf_t sql = BUF_INIT, qc = BUF_INIT;
            sql_ident(&qc, col);
            facet_sql(&sql, k, qc.data, p->q.base_sql.data, size + 1);
            facet_rows_t fr = {0};
            uint64_t fd = time_mono_us() + FACET_TIME_MS * 1000;
            if (deadline && deadline < fd) fd = deadline;
            int saved_status = j->status;
            if (ds_run_sql(j, p, c, sql.data, fd, &facet_sink, &fr, -1) < 0) {
                if (j->out.rc < 0 && j->out.err.kind == E_TIMEOUT && (!deadline || time_mono_us() < deadline)) {
                    /* this facet ran out of its own time: report, go on
                     * (an answer that says so is not kept for reuse) */
                    j->uncacheable = true;
                    j->out.rc = 0;
                    err_clear(&j->out.err);
                    out->timed = xrealloc(out->timed, (size_t)(out->ntimed + 1) * sizeof *out->timed);
                    out->timed[out->ntimed++] = xstrdup(col);
                } else {
                    rc = -1;
                }
                j->status = rc ? j->status : saved_status;
            } else {
                buf_t fb = BUF_INIT;
                write_facet(&fb, j, p, c, k, col, &fr, size);
                add_facet(out, col, &fb, fr.n > size ? size : fr.n);
            }
            for (int r = 0; r < fr.n; r++) value_free(&fr.vals[r]);
            free(fr.vals);
            free(fr.counts);
            buf_free(&sql);
            buf_free(&qc);
        }
        ds_list_free(fc, nf);
    }
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
            jw_key(w, f->keys[i]);
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

/* A suggestion's query: 0 when it ran, 1 when it failed or ran out of its
 * 50 ms (no suggestion then, as in Datasette), -1 when the page's own time
 * is up. */
static int suggest_sql(tjob_t *j, plan_t *p, store_db_t *c, const char *sql, uint64_t deadline, facet_rows_t *fr) {
    uint64_t fd = time_mono_us() + 50 * 1000;
    if (deadline && deadline < fd) fd = deadline;
    int status = j->status;
    if (ds_run_sql(j, p, c, sql, fd, &facet_sink, fr, -1) == 0) return 0;
    j->uncacheable = true;
    if (j->out.rc < 0 && deadline && time_mono_us() >= deadline) return -1;
    j->out.rc = 0;
    err_clear(&j->out.err);
    j->status = status;
    free(j->msg);
    j->msg = NULL;
    return 1;
}

static void rows_free(facet_rows_t *fr) {
    for (int r = 0; r < fr->n; r++) value_free(&fr->vals[r]);
    free(fr->vals);
    free(fr->counts);
    *fr = (facet_rows_t){0};
}

/* A JSON array of strings only. */
static bool strings_array(const store_value_t *v) {
    if (v->type != SV_TEXT) return false;
    json_error_t je;
    json_t *a = json_loadb(v->p, v->n, 0, &je);
    bool ok = json_is_array(a);
    size_t i;
    json_t *x;
    json_array_foreach(a, i, x) ok = ok && json_is_string(x);
    json_decref(a);
    return ok;
}

static void write_suggestion(jw_t *w, tjob_t *j, const char *col, fkind_t k) {
    jw_obj_begin(w);
    jw_key(w, "name");
    jw_str(w, col);
    if (k != FK_COLUMN) {
        jw_key(w, "type");
        jw_str(w, KINDS[k].type);
    }
    jw_key(w, "toggle_url");
    buf_t u = BUF_INIT;
    buf_printf(&u, "http://%s%s?", j->host, j->path);
    ds_pairs_encode(&u, &j->qs, NULL, NULL);
    if (u.data[u.len - 1] != '?') buf_putc(&u, '&');
    buf_printf(&u, "%s=", KINDS[k].param);
    url_encode_form(&u, col, strlen(col));
    jw_str(w, u.data);
    buf_free(&u);
    jw_obj_end(w);
}

/* Array and date suggestions (Datasette's ArrayFacet and DateFacet
 * suggest()): a column whose non-empty values in the first 1,000 rows are
 * all JSON arrays, the first 100 non-empty ones of strings only; a column
 * with a date among its first 100 rows. -1 when the page's time is up. */
static int suggest_more(jw_t *w, tjob_t *j, plan_t *p, store_db_t *c, uint64_t deadline, fkind_t k) {
    char **on;
    int non = ds_list_values(&j->qs, KINDS[k].param, false, &on);
    int rc = 0;
    for (int i = 0; i < p->nvis && rc >= 0; i++) {
        const char *col = query_sel_name(&p->q, i);
        bool skip = p->q.sel[i] < 0;
        for (int f = 0; f < non; f++) skip = skip || strcmp(on[f], col) == 0;
        if (skip) continue;
        buf_t sql = BUF_INIT, qc = BUF_INIT;
        sql_ident(&qc, col);
        facet_rows_t fr = {0};
        bool yes = false;
        if (k == FK_ARRAY) {
            buf_printf(&sql,
                       "with limited as (select * from (%s) limit 1000) select distinct json_type(%s), 0 from limited "
                       "where %s is not null and %s != ''",
                       p->q.base_sql.data, qc.data, qc.data, qc.data);
            rc = suggest_sql(j, p, c, sql.data, deadline, &fr);
            bool arrays = rc == 0 && fr.n > 0;
            for (int r = 0; r < fr.n; r++)
                arrays = arrays && (fr.vals[r].type == SV_NULL ||
                                    (fr.vals[r].type == SV_TEXT && strcmp(fr.vals[r].p, "array") == 0));
            rows_free(&fr);
            if (arrays) {
                buf_reset(&sql);
                buf_printf(&sql,
                           "select %s, 0 from (%s) where %s is not null and %s != '' and json_array_length(%s) > 0 "
                           "limit 100",
                           qc.data, p->q.base_sql.data, qc.data, qc.data, qc.data);
                rc = suggest_sql(j, p, c, sql.data, deadline, &fr);
                yes = rc == 0 && fr.n > 0;
                for (int r = 0; r < fr.n && yes; r++) yes = strings_array(&fr.vals[r]);
                rows_free(&fr);
            }
        } else {
            /* glob ????-??-* (escaped: C would read ??- as a trigraph) */
            buf_printf(&sql, "select date(%s), 0 from (select * from (%s) limit 100) where %s glob '?\?\?\?-?\?-*'", qc.data,
                       p->q.base_sql.data, qc.data);
            rc = suggest_sql(j, p, c, sql.data, deadline, &fr);
            for (int r = 0; rc == 0 && r < fr.n && !yes; r++) yes = fr.vals[r].type != SV_NULL;
            rows_free(&fr);
        }
        if (yes) write_suggestion(w, j, col, k);
        buf_free(&sql);
        buf_free(&qc);
    }
    ds_list_free(on, non);
    return rc < 0 ? -1 : 0;
}

/* suggested_facets: columns (not already faceted) whose first 1,000 rows
 * hold between 2 and facet-size distinct values, fewer than the rows, one
 * of them more than once; then array and date facets; each query gets
 * 50 ms. */
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
            j->uncacheable = true;
            if (!(j->out.rc < 0 && j->out.err.kind == E_TIMEOUT && (!deadline || time_mono_us() < deadline))) {
                rc = -1;
            } else {
                j->out.rc = 0;
                err_clear(&j->out.err);
            }
        } else {
            bool repeated = false;
            for (int r = 0; r < fr.n; r++) repeated = repeated || fr.counts[r] > 1;
            if (fr.n > 1 && fr.n < total.n && fr.n <= FACET_SIZE && repeated) write_suggestion(w, j, col, FK_COLUMN);
        }
        for (int r = 0; r < fr.n; r++) value_free(&fr.vals[r]);
        free(fr.vals);
        free(fr.counts);
        buf_free(&sql);
        buf_free(&qc);
        if (rc < 0) break;
    }
    if (rc == 0) rc = suggest_more(w, j, p, c, deadline, FK_ARRAY);
    if (rc == 0) rc = suggest_more(w, j, p, c, deadline, FK_DATE);
    jw_arr_end(w);
    ds_list_free(fc, nf);
    return rc;
}
