/* airsequel/as_export: GET /api/dbs/:dbId/tables/:id/export (spec §2) — a
 * table or view as RFC 4180 CSV (header of column names without the rowid
 * pseudo-column, CRLF after each record, NULL empty, REAL shortest
 * round-trip, BLOB base64), in the default order, uncapped.
 *
 * Streamed a page at a time: each page is one api_read and goes out only
 * when the client has taken the previous one (http_on_drain), so a slow
 * reader holds one page of memory, not the table. Tables page by key
 * (rowid, else the primary key as a row value), which stays correct and
 * O(page) while writes land between pages; views, which have no key, page
 * by OFFSET. Each export is an operation at /-/operations (core/ops): rows
 * written so far, and a cancel that ends the stream after the current
 * page. Loop thread for the handlers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/airsequel/airsequel_internal.h"
#include "core/ops.h"
#include "core/schema.h"
#include "core/value.h"
#include "util/csv.h"
#include "util/ids.h"
#include "util/json.h"

#define TIME_LIMIT_US (20 * 1000000ull)
#define PAGE_ROWS 1000
#define MAX_KEY 64

typedef struct {
    db_t *db;
    char *table;
    api_out_t out; /* rows: this page's CSV */
    int status;
    char msg[sizeof(((err_t *)0)->msg) + 64];
    bool started, more;
    int64_t offset;   /* rows written so far (and where a view's next page starts) */
    op_t *op;         /* this export at /-/operations */
    int nkey;         /* tables: the last row's key, 0 before the first page */
    store_value_t key[MAX_KEY];
} xjob_t;

static void key_free(xjob_t *j) {
    for (int i = 0; i < j->nkey; i++) value_free(&j->key[i]);
    j->nkey = 0;
}

/* Ends the export's operation (rc 0: the whole table went out) and frees j. */
static void xjob_end(xjob_t *j, int rc, const char *why) {
    op_end(j->op, rc, why);
    j->op = NULL;
    api_out_reset(&j->out);
    key_free(j);
    free(j->table);
    db_release(j->db);
    free(j);
}

static void cell(buf_t *b, const store_value_t *v) {
    char tmp[32];
    switch (v->type) {
    case SV_NULL: break;
    case SV_INT: buf_printf(b, "%lld", (long long)v->i); break;
    case SV_REAL:
        if (isfinite(v->d)) buf_append(b, tmp, json_format_double(v->d, tmp));
        else buf_puts(b, isnan(v->d) ? "NaN" : v->d > 0 ? "Infinity" : "-Infinity");
        break;
    case SV_TEXT: csv_field(b, v->p, v->n); break;
    case SV_BLOB: {
        buf_t e = BUF_INIT;
        b64_encode(&e, (const uint8_t *)v->p, v->n);
        buf_append(b, e.data ? e.data : "", e.len);
        buf_free(&e);
        break;
    }
    }
}

/* One page: the key columns first (not written), then every column. */
static void run_page(void *ctx, store_db_t *c, uint64_t deadline) {
    xjob_t *j = ctx;
    buf_reset(&j->out.rows);
    j->out.rc = 0;
    j->status = 200;
    const schema_t *s = airsequel_schema(j->db, c, &j->out);
    if (!s) return;
    const tinfo_t *t = airsequel_table(s, j->table);
    if (!t) {
        j->status = 404;
        snprintf(j->msg, sizeof j->msg, "Table \"%s\" not found", j->table);
        schema_release(s);
        return;
    }
    /* the key: rowid, else the declared primary key; views have none */
    const char *keys[MAX_KEY];
    int nk = 0;
    if (!t->is_view && t->has_rowid) keys[nk++] = "rowid";
    else if (!t->is_view)
        for (int k = 0; k < t->npk && nk < MAX_KEY; k++) keys[nk++] = t->cols[t->pk[k]].name;
    buf_t q = BUF_INIT;
    buf_puts(&q, "SELECT ");
    for (int k = 0; k < nk; k++) {
        sql_ident(&q, keys[k]);
        buf_puts(&q, ", ");
    }
    for (int i = 0; i < t->ncols; i++) {
        if (i) buf_puts(&q, ", ");
        sql_ident(&q, t->cols[i].name);
    }
    buf_puts(&q, " FROM ");
    sql_ident(&q, t->name);
    if (nk && j->nkey == nk) {
        buf_puts(&q, " WHERE (");
        for (int k = 0; k < nk; k++) {
            if (k) buf_puts(&q, ", ");
            sql_ident(&q, keys[k]);
        }
        buf_puts(&q, ") > (");
        for (int k = 0; k < nk; k++) buf_puts(&q, k ? ", ?" : "?");
        buf_putc(&q, ')');
    }
    for (int k = 0; k < nk; k++) {
        buf_puts(&q, k ? ", " : " ORDER BY ");
        sql_ident(&q, keys[k]);
    }
    buf_printf(&q, " LIMIT %d", PAGE_ROWS + 1);
    if (!nk) buf_printf(&q, " OFFSET %lld", (long long)j->offset);
    buf_t *b = &j->out.rows;
    if (!j->started) {
        for (int i = 0; i < t->ncols; i++) {
            if (i) buf_putc(b, ',');
            csv_field(b, t->cols[i].name, strlen(t->cols[i].name));
        }
        buf_puts(b, "\r\n");
    }
    store_stmt_t *st;
    int rc = -1, rows = 0;
    /* the next page's key is kept aside until this page is done: a run cut
     * short on the loop is run again on the pool from the same key */
    store_value_t next[MAX_KEY];
    int nnext = 0;
    store_set_deadline(c, deadline);
    if (store_prepare(c, q.data, &st) == 0) {
        for (int k = 0; k < nk && j->nkey == nk; k++) value_bind(st, k + 1, &j->key[k]);
        while ((rc = store_step(st)) == STORE_ROW) {
            if (rows == PAGE_ROWS) break;
            rows++;
            for (int i = 0; i < t->ncols; i++) {
                if (i) buf_putc(b, ',');
                store_value_t v;
                store_col_value(st, nk + i, &v);
                cell(b, &v);
            }
            buf_puts(b, "\r\n");
            if (nk) {
                /* the last row's key, for the next page */
                for (int k = 0; k < nnext; k++) value_free(&next[k]);
                for (int k = 0; k < nk; k++) {
                    store_value_t v;
                    store_col_value(st, k, &v);
                    value_copy(&next[k], &v);
                }
                nnext = nk;
            }
        }
        j->more = rc == STORE_ROW;
        if (rc == STORE_ROW) rc = 0;
        store_finalize(st);
    }
    store_set_deadline(c, 0);
    if (rc == 0) {
        if (nnext) {
            key_free(j);
            memcpy(j->key, next, (size_t)nnext * sizeof *next);
            j->nkey = nnext;
        }
        j->offset += rows;
    } else {
        for (int k = 0; k < nnext; k++) value_free(&next[k]);
    }
    if (rc < 0) {
        const char *m = store_errmsg(c);
        if (deadline && strstr(m, "interrupt")) j->out.rc = err_set(&j->out.err, E_TIMEOUT, "%s", m);
        else {
            j->status = 400;
            snprintf(j->msg, sizeof j->msg, "%s", m);
        }
    }
    buf_free(&q);
    schema_release(s);
}

static void reset(void *ctx) {
    xjob_t *j = ctx;
    buf_reset(&j->out.rows);
    memset(&j->out.err, 0, sizeof j->out.err);
    j->out.rc = 0;
}

static void more(http_req_t *r, void *data);

static void page_done(http_req_t *r, void *data) {
    xjob_t *j = data;
    bool ok = j->out.rc == 0 && j->status == 200;
    if (!j->started) {
        if (!ok) {
            /* the operation ends before the answer goes, so whoever has
             * the answer finds it ended at /-/operations */
            op_end(j->op, -1, j->status != 200 ? j->msg : j->out.err.msg);
            j->op = NULL;
            if (j->out.rc < 0 && j->out.err.kind == E_TIMEOUT) airsequel_error(r, 400, "The export took too long");
            else airsequel_error(r, j->status != 200 ? j->status : 500, j->status != 200 ? j->msg : j->out.err.msg);
            xjob_end(j, -1, j->status != 200 ? j->msg : j->out.err.msg);
            return;
        }
        buf_t dispo = BUF_INIT;
        buf_puts(&dispo, "attachment; filename=\"");
        /* a header value: no control characters, no quotes */
        for (const unsigned char *p = (const unsigned char *)j->table; *p; p++)
            buf_putc(&dispo, *p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\' ? '_' : (char)*p);
        buf_puts(&dispo, ".csv\"");
        http_add_header(r, "Content-Disposition", dispo.data);
        buf_free(&dispo);
        http_stream_begin(r, 200, "text/csv; charset=utf-8");
        j->started = true;
    }
    /* a later page that fails ends the stream where it is */
    if (ok) http_stream_write(r, j->out.rows.data, j->out.rows.len);
    op_progress(j->op, (uint64_t)j->offset, 0);
    bool stop = op_cancelled(j->op) || http_gone(r);
    if (ok && j->more && !stop) {
        http_on_drain(r, more, j);
        return;
    }
    xjob_end(j, ok && !j->more ? 0 : -1,
             !ok ? "a page could not be read" : stop ? "stopped before the end of the table" : NULL);
    http_stream_end(r);
}

static void more(http_req_t *r, void *data) {
    xjob_t *j = data;
    if (http_gone(r) || op_cancelled(j->op)) {
        xjob_end(j, -1, "stopped before the end of the table");
        http_stream_end(r);
        return;
    }
    api_read(r, j->db, TIME_LIMIT_US, &j->out, run_page, reset, page_done, j);
}

static void h_export(http_req_t *r) {
    actor_t a;
    db_t *d = airsequel_db_for(r, &a, ACT_READ);
    if (!d) return;
    buf_t seg = BUF_INIT;
    if (api_capture(r, 1, &seg) < 0) {
        airsequel_error(r, 400, "Invalid table name");
        buf_free(&seg);
        db_release(d);
        return;
    }
    xjob_t *j = xcalloc(1, sizeof *j);
    j->db = d;
    j->table = seg.data ? buf_detach(&seg) : xstrdup("");
    j->op = op_begin("export", d->id, d->name, a.principal_id, true);
    op_phase(j->op, "writing CSV", 0, "rows");
    api_read(r, d, TIME_LIMIT_US, &j->out, run_page, reset, page_done, j);
}

void airsequel_export_register(router_t *rt, const dialect_t *d) {
    router_add(rt, d, M_GET, "/api/dbs/:db/tables/:table/export", h_export);
}
