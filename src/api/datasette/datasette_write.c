/* datasette_write: Datasette's JSON write API (spec/datasette.md §10) and
 * POST /-/create-token. Every write is one engine write job: it runs on the
 * database's writer (group commit, captured changes), checks the table and
 * the body there in the spec's order, and answers through http_post.
 * A job that fails returns -1, so its savepoint rolls back whatever it did:
 * one request, one transaction. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/datasette/datasette_write.h"
#include "core/value.h"
#include "core/dbh.h"
#include "core/rows.h"
#include "core/schema.h"
#include "util/ids.h"
#include "util/url.h"

#define MAX_BODY (2u * 1024 * 1024)


static void add_err(wjob_t *j, const char *msg) {
    j->errs = xrealloc(j->errs, (size_t)(j->nerrs + 1) * sizeof *j->errs);
    j->errs[j->nerrs++] = xstrdup(msg);
}

int dsw_fail(wjob_t *j, int status, const char *msg) {
    j->status = status;
    if (msg) add_err(j, msg);
    return -1;
}

int dsw_failf(wjob_t *j, int status, const char *f, const char *a) {
    buf_t b = BUF_INIT;
    buf_printf(&b, f, a);
    dsw_fail(j, status, b.data);
    buf_free(&b);
    return -1;
}


/* Python's json.loads message for a body jansson refused (the common
 * cases: nothing or garbage where a value should be). */
static char *py_json_error(const char *s, size_t n, const json_error_t *je) {
    size_t pos = 0, line = 1, col = 1;
    while (pos < n && (s[pos] == ' ' || s[pos] == '\t' || s[pos] == '\n' || s[pos] == '\r')) {
        if (s[pos] == '\n') line++, col = 1;
        else col++;
        pos++;
    }
    const char *what = "Expecting value";
    bool value_start = pos < n && strchr("{[\"-0123456789", s[pos]);
    if (pos < n && !value_start) {
        /* a literal: only the whole word counts */
        static const char *lits[] = {"true", "false", "null", NULL};
        for (int i = 0; lits[i]; i++)
            if (n - pos >= strlen(lits[i]) && memcmp(s + pos, lits[i], strlen(lits[i])) == 0) value_start = true;
    }
    if (value_start && je->position > 0) {
        pos = (size_t)je->position > 0 ? (size_t)je->position - 1 : 0;
        line = (size_t)(je->line > 0 ? je->line : 1);
        col = (size_t)(je->column > 0 ? je->column : 1);
        if (strstr(je->text, "end of file") || strstr(je->text, "premature")) what = "Expecting value";
        else if (strstr(je->text, "string")) what = "Unterminated string starting at";
        else if (strstr(je->text, "'}'") || strstr(je->text, "','")) what = "Expecting ',' delimiter";
        else if (strstr(je->text, "':'")) what = "Expecting ':' delimiter";
        else if (strstr(je->text, "end of input")) what = "Extra data";
    }
    buf_t b = BUF_INIT;
    buf_printf(&b, "Invalid JSON: %s: line %zu column %zu (char %zu)", what, line, col, pos);
    return buf_detach(&b);
}

/* ---- cells --------------------------------------------------------------- */

void dsw_py_dumps(buf_t *b, json_t *v) {
    jw_t w;
    jw_init(&w, b, DS_JW);
    jw_json(&w, v); /* Python's json.dumps separators */
}

void dsw_jrow_free(jrow_t *r) {
    for (int i = 0; i < r->n; i++) buf_free(&r->scratch[i]);
    free(r->scratch);
    free(r->cells);
    memset(r, 0, sizeof *r);
}

int dsw_jrow_from(wjob_t *j, json_t *obj, jrow_t *r) {
    size_t size = json_object_size(obj);
    r->n = 0;
    r->cells = xcalloc(size + 1, sizeof *r->cells);
    r->scratch = xcalloc(size + 1, sizeof *r->scratch);
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        rcell_t *c = &r->cells[r->n];
        buf_t *b = &r->scratch[r->n++];
        c->name = k;
        int kind = value_from_json(v, VJ_IN_DATASETTE, &c->v, b, NULL);
        if (kind < 0) return dsw_fail(j, 400, "Invalid $base64 encoded value");
        if (kind == VALUE_COMPOSITE) {
            json_t *raw = json_is_object(v) && json_object_size(v) == 1 ? json_object_get(v, "$raw") : NULL;
            dsw_py_dumps(b, raw ? raw : v);
            c->v = (store_value_t){.type = SV_TEXT, .p = b->data ? b->data : "", .n = b->len};
        }
    }
    return 0;
}

int dsw_rows_fail(wjob_t *j, err_t *e) { return dsw_fail(j, 400, e->msg); }

int dsw_exec_sql(wjob_t *j, store_db_t *c, const char *sql) {
    return store_exec(c, sql) < 0 ? dsw_fail(j, 400, store_errmsg(c)) : 0;
}

/* The rows a write returns, as objects. */
static void obj_row(void *ctx, store_stmt_t *st, int n) {
    jw_t *w = ctx;
    jw_obj_begin(w);
    for (int i = 0; i < n; i++) {
        store_value_t v;
        jw_key(w, store_col_name(st, i));
        store_col_value(st, i, &v);
        ds_write_value(w, &v, false);
    }
    jw_obj_end(w);
}
static const sql_sink_t obj_sink = {NULL, obj_row};

/* ALTER TABLE … ADD COLUMN for every column the rows name that t lacks. */
static int add_missing_columns(wjob_t *j, store_db_t *c, const tinfo_t *t, jrow_t *rows, size_t n) {
    int total = 0;
    for (size_t i = 0; i < n; i++) total += rows[i].n;
    rcell_t *all = xcalloc((size_t)total + 1, sizeof *all);
    int k = 0;
    for (size_t i = 0; i < n; i++)
        for (int x = 0; x < rows[i].n; x++) all[k++] = rows[i].cells[x];
    err_t e = {0};
    int rc = rows_add_columns(c, t, all, total, &e) < 0 ? dsw_rows_fail(j, &e) : 0;
    free(all);
    return rc;
}

int dsw_add_missing_columns_json(wjob_t *j, store_db_t *c, const tinfo_t *t, json_t *rows) {
    size_t n = json_array_size(rows);
    jrow_t *cells = xcalloc(n + 1, sizeof *cells);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) rc = dsw_jrow_from(j, json_array_get(rows, i), &cells[i]);
    if (rc == 0) rc = add_missing_columns(j, c, t, cells, n);
    for (size_t i = 0; i < n; i++) dsw_jrow_free(&cells[i]);
    free(cells);
    return rc;
}

/* The written rows' references, each once, in the order met. */
typedef struct {
    int n;
    rref_t *v;
} refs_t;

static void refs_add(refs_t *r, rref_t *ref) {
    if (ref->n == 0) return;
    for (int i = 0; i < r->n; i++)
        if (rref_equal(&r->v[i], ref)) {
            rref_free(ref);
            return;
        }
    r->v = xrealloc(r->v, (size_t)(r->n + 1) * sizeof *r->v);
    r->v[r->n++] = *ref; /* the values move */
    *ref = (rref_t){0};
}

static void refs_free(refs_t *r) {
    for (int i = 0; i < r->n; i++) rref_free(&r->v[i]);
    free(r->v);
}

static int by_rowid(const void *a, const void *b) {
    int64_t x = ((const rref_t *)a)->v[0].i, y = ((const rref_t *)b)->v[0].i;
    return x < y ? -1 : x > y;
}

rows_conflict_t dsw_conflict_of(bool ignore, bool replace) {
    return ignore ? ROWS_IGNORE : replace ? ROWS_REPLACE : ROWS_PLAIN;
}

/* Checks the rows of an insert/upsert body against t (all row errors are
 * listed). */
static int check_rows(wjob_t *j, const tinfo_t *t, json_t *rows, bool upsert, bool alter) {
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) {
        char n[24];
        snprintf(n, sizeof n, "%zu", i);
        if (upsert) {
            const char *names[ROWS_MAX_KEY];
            int nk = rows_key_names(t, names);
            buf_t missing = BUF_INIT, nulls = BUF_INIT;
            for (int k = 0; k < nk; k++) {
                json_t *v = json_object_get(row, names[k]);
                buf_t *b = !v ? &missing : json_is_null(v) ? &nulls : NULL;
                if (b) buf_printf(b, "%s\"%s\"", b->len ? ", " : "", names[k]);
            }
            buf_t m = BUF_INIT;
            if (missing.len) buf_printf(&m, "Row %s is missing primary key column(s): %s", n, missing.data);
            else if (nulls.len) buf_printf(&m, "Row %s has null primary key column(s): %s", n, nulls.data);
            if (m.len) add_err(j, m.data);
            buf_free(&m);
            buf_free(&missing);
            buf_free(&nulls);
        }
        if (!alter) {
            buf_t bad = BUF_INIT;
    int nbad = 0;
            const char *k;
            json_t *v;
            json_object_foreach(row, k, v) {
                if (tinfo_col(t, k) < 0 && !(t->rowid && strcmp(k, "rowid") == 0))
                    buf_printf(&bad, "%s%s", nbad++ ? ", " : "", k);
            }
            if (nbad) {
                buf_t m = BUF_INIT;
                buf_printf(&m, "Row %s has invalid columns: %s", n, bad.data);
                add_err(j, m.data);
                buf_free(&m);
            }
            buf_free(&bad);
        }
    }
    if (j->nerrs) return dsw_fail(j, 400, NULL);
    return 0;
}

/* Validates the insert/upsert body's shape; the rows come back as an array
 * (owned). */
static int body_rows(wjob_t *j, bool upsert, json_t **rows_out, bool *ret, bool *ignore, bool *replace, bool *alter) {
    json_t *b = j->body;
    if (!b) return dsw_fail(j, 400, j->json_err);
    if (!json_is_object(b)) return dsw_fail(j, 400, "JSON must be a dictionary");
    json_t *row = json_object_get(b, "row"), *rows = json_object_get(b, "rows");
    if (!row && !rows) return dsw_fail(j, 400, "JSON must have one or other of \"row\" or \"rows\"");
    if (row && rows) return dsw_fail(j, 400, "Cannot use \"row\" and \"rows\" at the same time");
    if (row && !json_is_object(row)) return dsw_fail(j, 400, "\"row\" must be a dictionary");
    if (rows && !json_is_array(rows)) return dsw_fail(j, 400, "\"rows\" must be a list");
    if (rows) {
        size_t i;
        json_t *x;
        json_array_foreach(rows, i, x) if (!json_is_object(x)) return dsw_fail(j, 400, "\"rows\" must be a list of dictionaries");
        if ((int)json_array_size(rows) > j->max_rows) {
            char m[80];
            snprintf(m, sizeof m, "Too many rows, maximum allowed is %d", j->max_rows);
            return dsw_fail(j, 400, m);
        }
    }
    buf_t bad = BUF_INIT;
    int nbad = 0;
    const char *k;
    json_t *v;
    json_object_foreach(b, k, v) {
        if (strcmp(k, "row") && strcmp(k, "rows") && strcmp(k, "return") && strcmp(k, "ignore") &&
            strcmp(k, "replace") && strcmp(k, "alter"))
            buf_printf(&bad, "%s\"%s\"", nbad++ ? ", " : "", k);
    }
    if (nbad) {
        dsw_failf(j, 400, "Invalid parameter: %s", bad.data);
        buf_free(&bad);
        return -1;
    }
    *ret = row || json_is_true(json_object_get(b, "return"));
    *ignore = json_is_true(json_object_get(b, "ignore"));
    *replace = json_is_true(json_object_get(b, "replace"));
    *alter = json_is_true(json_object_get(b, "alter"));
    if (*ignore && *replace) return dsw_fail(j, 400, "Cannot use \"ignore\" and \"replace\" at the same time");
    if (upsert && (*ignore || *replace)) return dsw_fail(j, 400, "Upsert does not support ignore or replace");
    if (*replace && !j->can_write) return dsw_fail(j, 403, "Permission denied: need update-row to use \"replace\"");
    if (*alter && !j->can_schema) return dsw_fail(j, 403, "Permission denied for alter-table");
    if (row) {
        rows = json_array();
        json_array_append(rows, row);
    } else {
        json_incref(rows);
    }
    *rows_out = rows;
    return 0;
}

/* Writes {"ok": true, "rows": […]} with the rows refs point at (rowid
 * order if sort). */
static void respond_rows(wjob_t *j, store_db_t *c, const tinfo_t *t, refs_t *refs, bool with_rowid, bool sort) {
    jw_t w;
    ds_begin_ok(&w, &j->out);
    jw_key(&w, "rows");
    jw_arr_begin(&w);
    if (sort && t->has_rowid) qsort(refs->v, (size_t)refs->n, sizeof *refs->v, by_rowid);
    err_t e = {0};
    for (int i = 0; i < refs->n; i++) rows_fetch(c, t, &refs->v[i], with_rowid, &obj_sink, &w, &e);
    jw_arr_end(&w);
    jw_obj_end(&w);
}

static int do_insert(wjob_t *j, store_db_t *c, const tinfo_t *t, bool upsert) {
    json_t *rows = NULL;
    bool ret = false, ignore = false, replace = false, alter = false;
    if (body_rows(j, upsert, &rows, &ret, &ignore, &replace, &alter) < 0) return -1;
    int rc = check_rows(j, t, rows, upsert, alter);
    size_t n = json_array_size(rows);
    jrow_t *cells = xcalloc(n + 1, sizeof *cells);
    for (size_t i = 0; i < n && rc == 0; i++) rc = dsw_jrow_from(j, json_array_get(rows, i), &cells[i]);
    char *table = xstrdup(t->name);
    char msg[256];
    const schema_t *grown = NULL; /* the schema after alter */
    if (rc == 0 && alter) {
        rc = add_missing_columns(j, c, t, cells, n);
        if (rc == 0) {
            grown = schema_acquire(j->db, c, msg, sizeof msg);
            t = grown ? schema_find(grown, table) : NULL;
            if (!t) rc = dsw_fail(j, 400, grown ? "Table not found" : msg);
        }
    }
    refs_t refs = {0};
    err_t e = {0};
    for (size_t i = 0; i < n && rc == 0; i++) {
        rref_t ref = {0};
        rc = upsert ? rows_upsert(c, t, cells[i].cells, cells[i].n, &ref, &e)
                    : rows_insert(c, t, cells[i].cells, cells[i].n, dsw_conflict_of(ignore, replace), &ref, &e);
        if (rc < 0) dsw_rows_fail(j, &e);
        refs_add(&refs, &ref);
        rref_free(&ref);
    }
    if (rc == 0) {
        j->status = upsert ? 200 : 201;
        if (ret) respond_rows(j, c, t, &refs, upsert && t->rowid, !upsert);
        else buf_puts(&j->out, "{\"ok\": true}");
    }
    refs_free(&refs);
    schema_release(grown);
    for (size_t i = 0; i < n; i++) dsw_jrow_free(&cells[i]);
    free(cells);
    free(table);
    json_decref(rows);
    return rc;
}

/* ---- update / delete ------------------------------------------------------ */

static int update_record(wjob_t *j, store_db_t *c, const tinfo_t *t, rref_t *ref);

/* Parses the row segment and finds the row; its reference in *ref. */
static int find_record(wjob_t *j, store_db_t *c, const tinfo_t *t, rref_t *ref) {
    const char *names[ROWS_MAX_KEY];
    int nk = rows_key_names(t, names), n = 0, parts = 0;
    char *vals[ROWS_MAX_KEY];
    for (const char *s = j->id_seg;;) {
        const char *cm = strchr(s, ',');
        size_t len = cm ? (size_t)(cm - s) : strlen(s);
        if (parts++ < ROWS_MAX_KEY) {
            buf_t d = BUF_INIT;
            if (tilde_decode(s, len, &d) < 0) buf_append(&d, s, len);
            vals[n++] = d.data ? buf_detach(&d) : xstrdup("");
        }
        if (!cm) break;
        s = cm + 1;
    }
    int rc = 0;
    if (parts != nk) {
        rc = dsw_fail(j, 400, "URL row identifier does not match the primary key for this table");
        goto out;
    }
    rcell_t key[ROWS_MAX_KEY];
    for (int k = 0; k < nk; k++) key[k] = (rcell_t){names[k], value_text(vals[k])};
    err_t e = {0};
    int found = rows_find(c, t, key, nk, ref, &e);
    if (found < 0) {
        rc = dsw_rows_fail(j, &e);
    } else if (!found) {
        /* Python's repr of the list of key strings */
        buf_t m = BUF_INIT;
        buf_puts(&m, "Record not found: [");
        for (int k = 0; k < n; k++) {
            if (k) buf_puts(&m, ", ");
            bool dq = strchr(vals[k], '\'') && !strchr(vals[k], '"');
            buf_putc(&m, dq ? '"' : '\'');
            for (const char *p = vals[k]; *p; p++) {
                if (*p == '\\' || (!dq && *p == '\'')) buf_putc(&m, '\\');
                buf_putc(&m, *p);
            }
            buf_putc(&m, dq ? '"' : '\'');
        }
        buf_puts(&m, "]");
        rc = dsw_fail(j, 404, m.data);
        buf_free(&m);
    }
out:
    for (int k = 0; k < n; k++) free(vals[k]);
    return rc;
}

static int do_update(wjob_t *j, store_db_t *c, const tinfo_t *t) {
    rref_t ref = {0};
    int rc = find_record(j, c, t, &ref);
    if (rc == 0) rc = update_record(j, c, t, &ref);
    rref_free(&ref);
    return rc;
}

static int update_record(wjob_t *j, store_db_t *c, const tinfo_t *t, rref_t *ref) {
    if (!j->can_write) return dsw_fail(j, 403, "Permission denied");
    json_t *b = j->body;
    if (!b) return dsw_fail(j, 400, j->json_err);
    if (!json_is_object(b)) return dsw_fail(j, 400, "JSON must be a dictionary");
    json_t *upd = json_object_get(b, "update");
    if (!json_is_object(upd)) return dsw_fail(j, 400, "JSON must contain an update dictionary");
    buf_t bad = BUF_INIT;
    int nbad = 0;
    const char *k;
    json_t *v;
    json_object_foreach(b, k, v) {
        if (strcmp(k, "update") && strcmp(k, "return") && strcmp(k, "alter"))
            buf_printf(&bad, "%s%s", nbad++ ? ", " : "", k);
    }
    if (nbad) {
        dsw_failf(j, 400, "Invalid keys: %s", bad.data);
        buf_free(&bad);
        return -1;
    }
    bool alter = json_is_true(json_object_get(b, "alter"));
    if (alter && !j->can_schema) return dsw_fail(j, 403, "Permission denied for alter-table");
    jrow_t cells = {0};
    int rc = dsw_jrow_from(j, upd, &cells);
    char *table = xstrdup(t->name);
    err_t e = {0};
    if (rc == 0 && alter) rc = add_missing_columns(j, c, t, &cells, 1);
    if (rc == 0 && rows_update(c, t, ref, cells.cells, cells.n, &e) < 0) rc = dsw_rows_fail(j, &e);
    if (rc == 0) {
        j->status = 200;
        if (json_is_true(json_object_get(b, "return"))) {
            /* the schema may have grown (alter): describe the table anew */
            char msg[256];
            const schema_t *s = schema_acquire(j->db, c, msg, sizeof msg);
            const tinfo_t *now = s ? schema_find(s, table) : NULL;
            refs_t one = {1, ref};
            if (now) respond_rows(j, c, now, &one, false, false);
            schema_release(s);
        } else {
            buf_puts(&j->out, "{\"ok\": true}");
        }
    }
    dsw_jrow_free(&cells);
    free(table);
    return rc;
}

static int do_delete(wjob_t *j, store_db_t *c, const tinfo_t *t) {
    rref_t ref = {0};
    int rc = find_record(j, c, t, &ref);
    if (rc == 0 && !j->can_write) rc = dsw_fail(j, 403, "Permission denied");
    err_t e = {0};
    if (rc == 0 && rows_delete(c, t, &ref, &e) < 0) rc = dsw_rows_fail(j, &e);
    rref_free(&ref);
    if (rc == 0) {
        j->status = 200;
        buf_puts(&j->out, "{\"ok\": true}");
    }
    return rc;
}

/* ---- drop ------------------------------------------------------------------ */

static int do_drop(wjob_t *j, store_db_t *c, const tinfo_t *t) {
    if (!j->can_schema) return dsw_fail(j, 403, "Permission denied");
    json_t *b = j->body;
    bool confirm = b && json_is_object(b) && json_is_true(json_object_get(b, "confirm"));
    buf_t sql = BUF_INIT;
    int rc = 0;
    if (!confirm) {
        buf_puts(&sql, "select count(*) from ");
        sql_quote(&sql, t->name, '"');
        store_stmt_t *st;
        int64_t n = 0;
        if (store_prepare(c, sql.data, &st) == 0) {
            if (store_step(st) == STORE_ROW) n = store_col_int(st, 0);
            store_finalize(st);
        }
        jw_t w;
        ds_begin_ok(&w, &j->out);
        jw_key(&w, "database");
        jw_str(&w, j->db->name);
        jw_key(&w, "table");
        jw_str(&w, t->name);
        jw_key(&w, "row_count");
        jw_int(&w, n);
        jw_key(&w, "message");
        jw_str(&w, "Pass \"confirm\": true to confirm");
        jw_obj_end(&w);
        j->status = 200;
    } else {
        buf_puts(&sql, "DROP TABLE ");
        sql_quote(&sql, t->name, '"');
        rc = dsw_exec_sql(j, c, sql.data);
        if (rc == 0) {
            j->status = 200;
            buf_puts(&j->out, "{\"ok\": true}");
        }
    }
    buf_free(&sql);
    return rc;
}

/* ---- the job --------------------------------------------------------------- */

static int wjob_run(store_db_t *c, void *arg, err_t *e) {
    wjob_t *j = arg;
    char msg[256];
    int rc;
    const schema_t *s = schema_acquire(j->db, c, msg, sizeof msg);
    if (!s) {
        rc = dsw_fail(j, 400, msg);
    } else if (strcmp(j->op, "create") == 0) {
        rc = dsw_create(j, c, s);
    } else {
        const tinfo_t *t = schema_find(s, j->table);
        bool row_op = strcmp(j->op, "update") == 0 || strcmp(j->op, "delete") == 0;
        if (!t && row_op) rc = dsw_failf(j, 404, "Table not found: %s", j->table);
        else if (!t) rc = dsw_fail(j, 404, "Table not found");
        else if (t->is_view) rc = dsw_failf(j, 404, "Table not found: %s", t->name);
        else if (t->npk > ROWS_MAX_KEY) rc = dsw_fail(j, 400, "Too many primary key columns");
        else if (strcmp(j->op, "insert") == 0) rc = j->can_write ? do_insert(j, c, t, false) : dsw_fail(j, 403, "Permission denied");
        else if (strcmp(j->op, "upsert") == 0)
            rc = j->can_write ? do_insert(j, c, t, true)
                              : dsw_fail(j, 403, "Permission denied: need both insert-row and update-row");
        else if (strcmp(j->op, "update") == 0) rc = do_update(j, c, t);
        else if (strcmp(j->op, "delete") == 0) rc = do_delete(j, c, t);
        else rc = do_drop(j, c, t);
    }
    schema_release(s);
    if (rc < 0) err_set(e, E_BAD_INPUT, "%s", j->nerrs ? j->errs[0] : "write refused");
    j->res.rc = rc;
    return rc;
}

static void wjob_free(wjob_t *j) {
    for (int i = 0; i < j->nerrs; i++) free(j->errs[i]);
    free(j->errs);
    buf_free(&j->out);
    json_decref(j->body);
    free(j->json_err);
    free(j->op);
    free(j->table);
    free(j->id_seg);
    free(j->host);
    changeset_free(&j->w.job.changes);
    db_release(j->db);
    free(j);
}


static void wjob_posted(http_req_t *r, void *data) {
    wjob_t *j = data;
    if (j->w.commit_failed) {
        /* ran, but the batch did not commit */
        j->status = 500;
        add_err(j, j->res.err.msg[0] ? j->res.err.msg : "Write failed");
    }
    if (j->nerrs) {
        ds_errors(r, j->status ? j->status : 400, (const char *const *)j->errs, j->nerrs);
    } else {
        ds_cors(r);
        http_respond_buf(r, j->status, DS_JSON, &j->out);
    }
    wjob_free(j);
}


void ds_write(http_req_t *r, const actor_t *a, db_t *d, const char *table, const char *id_seg, const char *op) {
    if (r->body.len > MAX_BODY) {
        db_release(d);
        ds_error(r, 413, "Request body exceeded maximum size of 2097152 bytes");
        return;
    }
    wjob_t *j = xcalloc(1, sizeof *j);
    j->db = d;
    size_t oplen = strcspn(op, "/");
    j->op = xstrndup(op, oplen);
    j->table = table ? xstrdup(table) : NULL;
    j->id_seg = id_seg ? xstrdup(id_seg) : NULL;
    const char *host = http_header(r, "host");
    j->host = xstrdup(host ? host : "localhost");
    j->can_write = auth_check(a, d, ACT_WRITE);
    j->can_schema = auth_check(a, d, ACT_SCHEMA);
    j->max_rows = (int)DS_ENGINE(r)->ds_max_insert_rows;
    json_error_t je;
    const char *body = r->body.data ? r->body.data : "";
    j->body = api_body_parse(r, JSON_DECODE_ANY, &je);
    if (!j->body) j->json_err = py_json_error(body, r->body.len, &je);
    if (strcmp(j->op, "create") == 0 && !j->can_schema) {
        /* create-table is checked before the body is looked at */
        add_err(j, "Permission denied");
        ds_errors(r, 403, (const char *const *)j->errs, j->nerrs);
        wjob_free(j);
        return;
    }
    err_t e = {0};
    if (api_write(r, d, &j->w, wjob_run, &j->res, wjob_posted, j, &e) < 0) {
        add_err(j, e.msg);
        ds_errors(r, 500, (const char *const *)j->errs, j->nerrs);
        wjob_free(j);
    }
}

/* ---- POST /-/create-token ------------------------------------------------------ */

static void token_answer(http_req_t *r, const char *token, int64_t ttl, const err_t *e) {
    if (!token) {
        ds_error(r, 400, e->msg);
        return;
    }
    buf_t out = BUF_INIT;
    jw_t w;
    ds_begin_ok(&w, &out);
    jw_key(&w, "token");
    jw_str(&w, token);
    jw_key(&w, "expires_after");
    if (ttl) jw_int(&w, ttl);
    else jw_null(&w);
    jw_obj_end(&w);
    ds_cors(r);
    http_respond_buf(r, 201, DS_JSON, &out);
}

void ds_create_token(http_req_t *r, const actor_t *a) {
    if (!a->principal_id && !a->ephemeral) {
        ds_error(r, 403, "You must be logged in to create a token");
        return;
    }
    json_error_t je;
    json_t *b = r->body.len ? api_body_parse(r, 0, &je) : json_object();
    if (!b) {
        char *m = py_json_error(r->body.data ? r->body.data : "", r->body.len, &je);
        ds_error(r, 400, m);
        free(m);
        return;
    }
    if (!json_is_object(b)) {
        json_decref(b);
        ds_error(r, 400, "JSON must be a dictionary");
        return;
    }
    const char *key;
    json_t *val;
    json_object_foreach(b, key, val) {
        if (strcmp(key, "expire_after") && strcmp(key, "restrict_all") && strcmp(key, "restrict_database")) {
            buf_t m = BUF_INIT;
            buf_printf(&m, strcmp(key, "restrict_resource") == 0
                               ? "restrict_resource is not supported: Atrium scopes tokens per database"
                               : "Invalid key: %s", key);
            json_decref(b);
            ds_error(r, 400, m.data);
            buf_free(&m);
            return;
        }
    }
    json_t *exp = json_object_get(b, "expire_after");
    int64_t ttl = 0;
    if (exp && !json_is_null(exp)) {
        if (!json_is_integer(exp) || json_integer_value(exp) <= 0) {
            json_decref(b);
            ds_error(r, 400, "expire_after must be a positive integer");
            return;
        }
        if (json_integer_value(exp) > AUTH_MAX_TTL_S) {
            json_decref(b);
            char m[80];
            snprintf(m, sizeof m, "expire_after is too large (at most %lld seconds)", (long long)AUTH_MAX_TTL_S);
            ds_error(r, 400, m);
            return;
        }
        ttl = json_integer_value(exp);
    }
    /* restrictions: {"all": [actions], "database": {"db": [actions]}} */
    scope_t scopes[AUTH_MAX_GRANTS];
    int nscopes = 0;
    char *dbids[AUTH_MAX_GRANTS] = {0};
    const char *err = NULL;
    json_t *restrict_ = json_object_get(b, "restrict_all"), *rdb = json_object_get(b, "restrict_database");
    unsigned all = 0;
    size_t i;
    json_t *x;
    static const struct {
        const char *name;
        unsigned act;
    } acts[] = {{"view-instance", ACT_READ}, {"view-database", ACT_READ}, {"view-table", ACT_READ},
                {"execute-sql", ACT_READ},   {"insert-row", ACT_WRITE},   {"update-row", ACT_WRITE},
                {"delete-row", ACT_WRITE},   {"create-table", ACT_SCHEMA}, {"alter-table", ACT_SCHEMA},
                {"drop-table", ACT_SCHEMA}};
#define ACTION_BITS(list, out)                                                                     \
    json_array_foreach(list, i, x) {                                                              \
        bool found = false;                                                                       \
        for (size_t q = 0; q < sizeof acts / sizeof acts[0]; q++)                                 \
            if (json_is_string(x) && strcmp(json_string_value(x), acts[q].name) == 0)             \
                out |= acts[q].act, found = true;                                                 \
        if (!found) err = "Unknown action in restrictions";                                       \
    }
    if (restrict_) {
        if (!json_is_array(restrict_)) err = "restrict_all must be a list";
        else {
            ACTION_BITS(restrict_, all);
            if (!err) scopes[nscopes++] = (scope_t){"*", all};
        }
    }
    if (rdb && !err) {
        if (!json_is_object(rdb)) err = "restrict_database must be an object";
        const char *dn;
        json_t *list;
        json_object_foreach(rdb, dn, list) {
            if (err || nscopes >= AUTH_MAX_GRANTS) break;
            db_t *d = catalog_db_find(DS_ENGINE(r)->catalog, dn, DB_BY_NAME);
            if (!d) {
                err = "Unknown database in restrictions";
                break;
            }
            unsigned bits = 0;
            if (!json_is_array(list)) err = "restrict_database values must be lists";
            else ACTION_BITS(list, bits);
            dbids[nscopes] = xstrdup(d->id);
            scopes[nscopes] = (scope_t){dbids[nscopes], bits};
            nscopes++;
            db_release(d);
        }
    }
#undef ACTION_BITS
    if (err) {
        for (int q = 0; q < nscopes; q++) free(dbids[q]);
        json_decref(b);
        ds_error(r, 400, err);
        return;
    }
    json_decref(b);
    api_derive_token(r, DS_ENGINE(r)->catalog, a, "datasette", "dstok_", ttl, scopes, nscopes, token_answer);
    for (int q = 0; q < nscopes; q++) free(dbids[q]);
}
