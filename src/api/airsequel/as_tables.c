/* airsequel/as_tables: the REST routes that read a database's shape and
 * rows (spec/airsequel.md §2): GET /api/status, D/schema, D/azimutt-schema, D/tables/:id and
 * D/tables/:id/search/:searchTerm, where D = /api/dbs/:dbId. Each read runs
 * through api_read (the loop first, then the pool) on one snapshot; the
 * table and column facts come from the shared schema model (core/schema),
 * the same ones GraphQL derives its types from. Loop thread for the
 * handlers; the run functions on whichever thread api_read picks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/airsequel/airsequel_internal.h"
#include "core/docs.h"
#include "core/engine.h"
#include "core/schema.h"
#include "core/sql.h"
#include "core/value.h"
#include "util/json.h"
#include "util/timeutil.h"

#define TIME_LIMIT_US (20 * 1000000ull)
#define SEARCH_ROWS 1000

typedef enum { TJ_SCHEMA, TJ_TABLE, TJ_SEARCH, TJ_AZIMUTT } tkind_t;

typedef struct {
    db_t *db;
    catalog_t *catalog;
    tkind_t kind;
    char *table;
    char *term;
    char *description; /* the table's (its REST metadata), or NULL */
    api_out_t out; /* rows: the answer's body */
    int status;    /* non-200: answer with airsequel_error(msg) */
    char msg[sizeof(((err_t *)0)->msg) + 64];
} tjob_t;

static void tjob_free(tjob_t *j) {
    api_out_reset(&j->out);
    free(j->description);
    free(j->table);
    free(j->term);
    db_release(j->db);
    free(j);
}

static void fail(tjob_t *j, int status, const char *msg) {
    j->status = status;
    snprintf(j->msg, sizeof j->msg, "%s", msg);
}

/* ---- D/schema -------------------------------------------------------------------- */

static void run_schema(tjob_t *j, store_db_t *c) {
    store_stmt_t *st;
    if (store_prepare(c, "SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL", &st) < 0) {
        fail(j, 500, store_errmsg(c));
        return;
    }
    while (store_step(st) == STORE_ROW) {
        size_t n;
        const char *s = store_col_text(st, 0, &n);
        buf_append(&j->out.rows, s, n);
        buf_puts(&j->out.rows, ";\n");
    }
    store_finalize(st);
}

/* ---- D/azimutt-schema ---------------------------------------------------------------- */

/* SQLite's schema name: every table here is in "main". */
#define AZ_SCHEMA "main"

static void az_names(jw_t *w, const char *col) {
    jw_arr_begin(w);
    jw_str(w, col);
    jw_arr_end(w);
}

static void az_end(jw_t *w, const char *schema, const char *table, const char *column) {
    jw_obj_begin(w);
    jw_key(w, "column");
    jw_str(w, column);
    jw_key(w, "schema");
    jw_str(w, schema);
    jw_key(w, "table");
    jw_str(w, table);
    jw_obj_end(w);
}

/* Azimutt's schema of the tables and views (the shape of the seed): the
 * facts the shared schema model holds — columns, primary key, one-column
 * UNIQUE constraints, CHECK (c IN (…)) options as predicates, foreign keys
 * as relations. Constraints have no names in SQLite: "name" is null. */
static void az_table(jw_t *w, const tinfo_t *t) {
    jw_obj_begin(w);
    jw_key(w, "checks");
    jw_arr_begin(w);
    for (int i = 0; i < t->ncols; i++) {
        const tcol_t *c = &t->cols[i];
        if (!c->nitems) continue;
        buf_t p = BUF_INIT;
        sql_ident(&p, c->name);
        buf_puts(&p, " IN (");
        for (int k = 0; k < c->nitems; k++) {
            if (k) buf_puts(&p, ", ");
            sql_quote(&p, c->items[k], '\'');
        }
        buf_puts(&p, ")");
        jw_obj_begin(w);
        jw_key(w, "columns");
        az_names(w, c->name);
        jw_key(w, "name");
        jw_null(w);
        jw_key(w, "predicate");
        jw_str(w, p.data);
        jw_obj_end(w);
        buf_free(&p);
    }
    jw_arr_end(w);
    jw_key(w, "columns");
    jw_arr_begin(w);
    for (int i = 0; i < t->ncols; i++) {
        const tcol_t *c = &t->cols[i];
        jw_obj_begin(w);
        jw_key(w, "columns");
        jw_raw(w, "[]", 2);
        jw_key(w, "comment");
        jw_null(w);
        jw_key(w, "default");
        if (c->dflt) jw_str(w, c->dflt);
        else jw_null(w);
        jw_key(w, "name");
        jw_str(w, c->name);
        jw_key(w, "nullable");
        jw_bool(w, !c->notnull && !(c->pk && !t->is_view));
        jw_key(w, "type");
        jw_str(w, c->type);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_key(w, "comment");
    jw_null(w);
    jw_key(w, "primaryKey");
    if (t->npk) {
        jw_obj_begin(w);
        jw_key(w, "columns");
        jw_arr_begin(w);
        for (int k = 0; k < t->npk; k++) jw_str(w, t->cols[t->pk[k]].name);
        jw_arr_end(w);
        jw_key(w, "name");
        jw_null(w);
        jw_obj_end(w);
    } else {
        jw_null(w);
    }
    jw_key(w, "schema");
    jw_str(w, AZ_SCHEMA);
    jw_key(w, "table");
    jw_str(w, t->name);
    jw_key(w, "uniques");
    jw_arr_begin(w);
    for (int i = 0; i < t->ncols; i++) {
        const tcol_t *c = &t->cols[i];
        if (!c->unique || c->pk) continue;
        buf_t def = BUF_INIT;
        buf_puts(&def, "(");
        sql_ident(&def, c->name);
        buf_puts(&def, ")");
        jw_obj_begin(w);
        jw_key(w, "columns");
        az_names(w, c->name);
        jw_key(w, "definition");
        jw_str(w, def.data);
        jw_key(w, "name");
        jw_null(w);
        jw_obj_end(w);
        buf_free(&def);
    }
    jw_arr_end(w);
    jw_key(w, "view");
    jw_bool(w, t->is_view);
    jw_obj_end(w);
}

static void run_azimutt(tjob_t *j, store_db_t *c) {
    const schema_t *s = airsequel_schema(j->db, c, &j->out);
    if (!s) return;
    jw_t w;
    jw_init(&w, &j->out.rows, 0);
    jw_obj_begin(&w);
    jw_key(&w, "relations");
    jw_arr_begin(&w);
    for (int i = 0; i < s->n; i++) {
        const tinfo_t *t = schema_at(s, i);
        if (!airsequel_table(s, t->name)) continue;
        for (int k = 0; k < t->nout; k++) {
            jw_obj_begin(&w);
            jw_key(&w, "name");
            jw_null(&w);
            jw_key(&w, "ref");
            az_end(&w, AZ_SCHEMA, t->out[k].other_table, t->out[k].other_column);
            jw_key(&w, "src");
            az_end(&w, AZ_SCHEMA, t->name, t->out[k].column);
            jw_obj_end(&w);
        }
    }
    jw_arr_end(&w);
    jw_key(&w, "tables");
    jw_arr_begin(&w);
    for (int i = 0; i < s->n; i++) {
        const tinfo_t *t = schema_at(s, i);
        if (airsequel_table(s, t->name) == t) az_table(&w, t);
    }
    jw_arr_end(&w);
    jw_obj_end(&w);
    schema_release(s);
}

/* ---- the Table shape ---------------------------------------------------------------- */

/* §4.3's GraphQL type of a declared type. */
static const char *gql_type(const char *decl, bool *file) {
    char up[128];
    size_t n = strlen(decl);
    if (n >= sizeof up) n = sizeof up - 1;
    for (size_t i = 0; i < n; i++) up[i] = (char)(decl[i] >= 'a' && decl[i] <= 'z' ? decl[i] - 32 : decl[i]);
    up[n] = 0;
    *file = strstr(up, "BLOB") != NULL;
    if (!n) return "String";
    if (strstr(up, "INT")) return "Int";
    if (strstr(up, "CHAR") || strstr(up, "CLOB") || strstr(up, "TEXT") || *file) return "String";
    if (strstr(up, "REAL") || strstr(up, "FLOA") || strstr(up, "DOUB")) return "Float";
    if (strstr(up, "BOOL")) return "Boolean";
    return "String";
}

/* The rowid pseudo-column's name (§4.2), or NULL. */
const char *airsequel_rowid_name(const tinfo_t *t) {
    if (!t->has_rowid || t->is_view) return NULL;
    static const char *names[] = {"rowid", "_rowid_", "oid"};
    for (int k = 0; k < 3; k++) {
        bool used = false;
        for (int i = 0; i < t->ncols; i++) used |= strcasecmp(t->cols[i].name, names[k]) == 0;
        if (!used) return names[k];
    }
    return NULL;
}

int airsequel_table_meta(catalog_t *c, const db_t *d, const char *table, char **description, char **after) {
    *description = NULL;
    if (after) *after = NULL;
    char *doc = docs_get(c, d, AIRSEQUEL_TABLE_META, table);
    json_t *m = doc ? json_loads(doc, 0, NULL) : NULL;
    free(doc);
    if (!m) return 0;
    const json_t *v = json_object_get(m, "description");
    if (json_is_string(v)) *description = xstrdup(json_string_value(v));
    v = json_object_get(m, "after");
    if (after && json_is_string(v)) *after = xstrdup(json_string_value(v));
    json_decref(m);
    return 1;
}

void airsequel_write_table(jw_t *w, const tinfo_t *t, int64_t nrows, bool cut, const buf_t *rows,
                           const char *description) {
    const char *rowid = airsequel_rowid_name(t);
    jw_obj_begin(w);
    jw_key(w, "columns");
    jw_arr_begin(w);
    for (int i = 0; i < t->ncols; i++) airsequel_write_column(w, t, &t->cols[i]);
    jw_arr_end(w);
    jw_key(w, "description");
    if (description) jw_str(w, description);
    else jw_null(w);
    jw_key(w, "maxCellLimitReached");
    jw_bool(w, cut);
    jw_key(w, "name");
    jw_str(w, t->name);
    jw_key(w, "numberOfRows");
    jw_int(w, nrows);
    jw_key(w, "rowidColumnName");
    if (rowid) jw_str(w, rowid);
    else jw_null(w);
    if (rows) {
        jw_key(w, "rows");
        jw_raw(w, rows->data ? rows->data : "[]", rows->data ? rows->len : 2);
    }
    jw_key(w, "tableType");
    jw_str(w, t->is_view ? "View" : "Table");
    jw_obj_end(w);
}

void airsequel_write_column(jw_t *w, const tinfo_t *t, const tcol_t *c) {
    bool file;
    const char *gt = gql_type(c->type, &file);
    bool ipk = t->has_rowid && t->npk == 1 && c->pk == 1 && strcasecmp(c->type, "INTEGER") == 0;
    const char *input = file ? "InputFile"
                        : c->nitems ? "InputSelect"
                        : strcmp(gt, "Boolean") == 0 ? "InputCheckbox"
                        : strcmp(gt, "Int") == 0 || strcmp(gt, "Float") == 0 ? "InputNumber"
                                                                              : "InputText";
    jw_obj_begin(w);
    jw_key(w, "gqlDataType");
    jw_str(w, gt);
    jw_key(w, "inputElement");
    jw_str(w, input);
    jw_key(w, "isGenerated");
    jw_bool(w, c->generated);
    jw_key(w, "isNonNull");
    jw_bool(w, c->notnull);
    jw_key(w, "isOmittable");
    jw_bool(w, !c->notnull || c->dflt || ipk || c->generated);
    jw_key(w, "isPrimaryKey");
    jw_bool(w, c->pk > 0);
    jw_key(w, "isUnique");
    jw_bool(w, c->unique);
    jw_key(w, "items");
    if (c->nitems) {
        jw_arr_begin(w);
        for (int i = 0; i < c->nitems; i++) jw_str(w, c->items[i]);
        jw_arr_end(w);
    } else {
        jw_null(w);
    }
    jw_key(w, "name");
    jw_str(w, c->name);
    jw_key(w, "sqliteDataType");
    jw_str(w, c->type);
    jw_key(w, "validations");
    jw_null(w);
    jw_obj_end(w);
}

/* " ORDER BY" the default order (§4.7): rowid, else the key; views none. */
static void default_order(buf_t *b, const tinfo_t *t, const char *rowid) {
    if (t->is_view) return;
    if (rowid) {
        buf_puts(b, " ORDER BY ");
        sql_ident(b, rowid);
        return;
    }
    for (int k = 0; k < t->npk; k++) {
        buf_puts(b, k ? ", " : " ORDER BY ");
        sql_ident(b, t->cols[t->pk[k]].name);
    }
}

/* WHERE of the substring search: every non-BLOB column's text, ORed. */
static int search_where(buf_t *b, const tinfo_t *t) {
    int n = 0;
    for (int i = 0; i < t->ncols; i++) {
        bool file;
        gql_type(t->cols[i].type, &file);
        if (file) continue;
        buf_puts(b, n++ ? " OR " : " WHERE ");
        buf_puts(b, "CAST(");
        sql_ident(b, t->cols[i].name);
        buf_puts(b, " AS TEXT) LIKE '%' || :term || '%' ESCAPE '\\'");
    }
    if (!n) buf_puts(b, " WHERE 0");
    return n;
}

static int bind_term(void *ctx, store_stmt_t *st, int idx, const char *name, err_t *e) {
    (void)e;
    (void)name;
    const tjob_t *j = ctx;
    /* the term's % _ \ are literal */
    buf_t esc = BUF_INIT;
    for (const char *p = j->term; *p; p++) {
        if (*p == '%' || *p == '_' || *p == '\\') buf_putc(&esc, '\\');
        buf_putc(&esc, *p);
    }
    store_bind_text(st, idx, esc.data ? esc.data : "", esc.len);
    buf_free(&esc);
    return 0;
}

typedef struct {
    tjob_t *j;
    jw_t *w;
    char **cols;
    int ncols;
    int64_t rows;
} rows_t;

static void on_columns(void *ctx, store_stmt_t *st, int n) {
    rows_t *r = ctx;
    r->ncols = n;
    r->cols = api_column_names(st, n, ":");
}

static void on_row(void *ctx, store_stmt_t *st, int n) {
    rows_t *r = ctx;
    static const value_style_t style = {VJ_BLOB_TYPE_OBJECT, VJ_NONFINITE_NULL};
    jw_obj_begin(r->w);
    for (int i = 0; i < n; i++) {
        store_value_t v;
        store_col_value(st, i, &v);
        jw_key(r->w, r->cols[i]);
        value_write_json(r->w, &v, &style);
    }
    jw_obj_end(r->w);
    r->rows++;
}

static const sql_sink_t sink = {on_columns, on_row};

static void count_columns(void *ctx, store_stmt_t *st, int n) {
    (void)ctx;
    (void)st;
    (void)n;
}

static void count_row(void *ctx, store_stmt_t *st, int n) {
    if (n > 0) *(int64_t *)ctx = store_col_int(st, 0);
}

static const sql_sink_t count_sink = {count_columns, count_row};

/* count(*) of the table, or of the search's matches (j->term); -1 with e
 * set on failure. */
static int64_t count_rows(tjob_t *j, store_db_t *c, const tinfo_t *t, bool search, uint64_t deadline, err_t *e) {
    buf_t q = BUF_INIT;
    buf_puts(&q, "SELECT count(*) FROM ");
    sql_ident(&q, t->name);
    if (search) search_where(&q, t);
    int64_t n = -1;
    sql_opts_t o = {.max_class = SQL_READ, .single_statement = true, .deadline_us = deadline, .max_rows = 1,
                    .bind = search ? bind_term : NULL, .bind_ctx = j};
    sql_result_t res;
    if (sql_run(c, q.data, q.len, &o, &count_sink, &n, &res, e) < 0) n = -1;
    buf_free(&q);
    return n;
}

static void run_table(tjob_t *j, store_db_t *c, uint64_t deadline) {
    const schema_t *s = airsequel_schema(j->db, c, &j->out);
    if (!s) return;
    const tinfo_t *t = airsequel_table(s, j->table);
    if (!t) {
        char m[300];
        snprintf(m, sizeof m, "Table \"%s\" not found", j->table);
        fail(j, 404, m);
        schema_release(s);
        return;
    }
    const char *rowid = airsequel_rowid_name(t);
    bool search = j->kind == TJ_SEARCH;
    err_t e = {0};
    int64_t total = count_rows(j, c, t, search, deadline, &e);
    int64_t shown = 0;
    buf_t rows = BUF_INIT;
    if (search && total >= 0) {
        buf_t q = BUF_INIT;
        jw_t rw;
        jw_init(&rw, &rows, 0);
        jw_arr_begin(&rw);
        buf_puts(&q, "SELECT ");
        if (rowid) {
            /* named explicitly: SQLite would call it after an INTEGER PRIMARY KEY alias */
            sql_ident(&q, rowid);
            buf_puts(&q, " AS ");
            sql_ident(&q, rowid);
            buf_puts(&q, ", ");
        }
        buf_puts(&q, "* FROM ");
        sql_ident(&q, t->name);
        search_where(&q, t);
        default_order(&q, t, rowid);
        rows_t r = {.j = j, .w = &rw};
        /* the run stops after the first 1,000; count_rows counted them all */
        sql_opts_t o = {.max_class = SQL_READ, .single_statement = true, .deadline_us = deadline,
                        .max_rows = SEARCH_ROWS, .bind = bind_term, .bind_ctx = j, .out = &rows};
        sql_result_t res;
        if (sql_run(c, q.data, q.len, &o, &sink, &r, &res, &e) < 0) total = -1;
        shown = r.rows;
        jw_arr_end(&rw);
        api_names_free(r.cols, r.ncols);
        buf_free(&q);
    }
    jw_t w;
    jw_init(&w, &j->out.rows, 0);
    /* no cells go with the table itself: only a search's rows can be cut */
    airsequel_write_table(&w, t, total, search && total > shown, search ? &rows : NULL, j->description);
    buf_free(&rows);
    if (total < 0) {
        if (e.kind == E_TIMEOUT) j->out.rc = err_set(&j->out.err, E_TIMEOUT, "%s", e.msg);
        else fail(j, 400, e.msg[0] ? e.msg : "the table could not be read");
    }
    schema_release(s);
}

static void run(void *ctx, store_db_t *c, uint64_t deadline) {
    tjob_t *j = ctx;
    buf_reset(&j->out.rows);
    j->out.rc = 0;
    j->status = 200;
    bool began = api_snapshot_begin(c); /* the count and the rows agree */
    if (j->kind == TJ_SCHEMA) run_schema(j, c);
    else if (j->kind == TJ_AZIMUTT) run_azimutt(j, c);
    else run_table(j, c, deadline);
    api_snapshot_end(c, began);
}

static void reset(void *ctx) {
    tjob_t *j = ctx;
    buf_reset(&j->out.rows);
    memset(&j->out.err, 0, sizeof j->out.err);
    j->out.rc = 0;
}

static void done(http_req_t *r, void *ctx) {
    tjob_t *j = ctx;
    if (j->out.rc < 0 && j->out.err.kind == E_TIMEOUT) airsequel_error(r, 400, "The query took too long");
    else if (j->out.rc < 0) airsequel_error(r, 500, j->out.err.msg);
    else if (j->status != 200) airsequel_error(r, j->status, j->msg);
    else if (j->kind == TJ_SCHEMA)
        http_respond(r, 200, "text/plain; charset=utf-8", j->out.rows.data ? j->out.rows.data : "", j->out.rows.len);
    else http_respond_buf(r, 200, "application/json; charset=utf-8", &j->out.rows);
    tjob_free(j);
}

/* ---- handlers ---------------------------------------------------------------------------- */

static void meta_work(void *data) {
    tjob_t *j = data;
    airsequel_table_meta(j->catalog, j->db, j->table, &j->description, NULL);
}

static void meta_done(http_req_t *r, void *data) {
    tjob_t *j = data;
    api_read(r, j->db, TIME_LIMIT_US, &j->out, run, reset, done, j);
}

static void start(http_req_t *r, tkind_t kind) {
    db_t *d = airsequel_readable_db(r);
    if (!d) return;
    tjob_t *j = xcalloc(1, sizeof *j);
    j->db = d;
    j->kind = kind;
    buf_t seg = BUF_INIT;
    if (kind != TJ_SCHEMA && kind != TJ_AZIMUTT) {
        if (api_capture(r, 1, &seg) < 0) {
            airsequel_error(r, 400, "Invalid table name");
            buf_free(&seg);
            tjob_free(j);
            return;
        }
        j->table = buf_detach(&seg);
    }
    if (kind == TJ_SEARCH) {
        if (api_capture(r, 2, &seg) < 0) {
            airsequel_error(r, 400, "Invalid search term");
            buf_free(&seg);
            tjob_free(j);
            return;
        }
        j->term = seg.data ? buf_detach(&seg) : xstrdup("");
    }
    buf_free(&seg);
    if (kind == TJ_TABLE || kind == TJ_SEARCH) {
        /* the table's description is catalog metadata: read on the pool first */
        j->catalog = ((engine_t *)r->app)->catalog;
        http_defer(r, meta_work, meta_done, j);
        return;
    }
    api_read(r, d, TIME_LIMIT_US, &j->out, run, reset, done, j);
}

static void h_status(http_req_t *r) {
    actor_t a;
    if (!airsequel_authenticate(r, &a)) return;
    airsequel_json(r, 200, "{}");
}

static void h_schema(http_req_t *r) { start(r, TJ_SCHEMA); }
static void h_table(http_req_t *r) { start(r, TJ_TABLE); }
static void h_azimutt(http_req_t *r) { start(r, TJ_AZIMUTT); }
static void h_search(http_req_t *r) { start(r, TJ_SEARCH); }

/* Features that need a service Atrium does not run (spec §2): 501 after
 * the token is checked, naming the feature. */
static const struct {
    unsigned method;
    const char *path, *feature;
} external[] = {
    {M_POST, "/api/events/paddle", "Billing events"},
    {M_POST, "/api/prompt/create-database", "Creating a database from a prompt"},
    {M_POST, "/api/dbs/:db/prompt", "Prompts"},
    {M_POST, "/api/dbs/:db/prompt/describe-database", "Describing a database"},
    {M_POST, "/api/dbs/:db/prompt/describe-function", "Describing a function"},
    {M_POST, "/api/dbs/:db/prompt/describe-table", "Describing a table"},
    {M_POST, "/api/users/invite", "Inviting users"},
    {M_GET, "/verify-email/:key", "E-mail verification"},
    {M_GET, "/password-reset/:key", "Password reset by e-mail"},
};

static void h_external(http_req_t *r) {
    actor_t a;
    if (!airsequel_authenticate(r, &a)) return;
    const char *feature = "This feature";
    for (size_t i = 0; i < sizeof external / sizeof *external; i++) {
        /* the route's own pattern: compare the fixed parts of the path */
        const char *p = external[i].path, *q = r->path;
        bool match = true;
        while (*p && match) {
            if (*p == ':') {
                while (*p && *p != '/') p++;
                while (*q && *q != '/') q++;
            } else {
                match = *p++ == *q++;
            }
        }
        if (match && !*q) {
            feature = external[i].feature;
            break;
        }
    }
    char m[300];
    snprintf(m, sizeof m, "%s needs an external service (billing, AI model, e-mail) and is not available in Atrium",
             feature);
    airsequel_error(r, 501, m);
}

void airsequel_tables_register(router_t *rt, const dialect_t *d) {
    for (size_t i = 0; i < sizeof external / sizeof *external; i++)
        router_add(rt, d, external[i].method, external[i].path, h_external);
    router_add(rt, d, M_GET, "/api/status", h_status);
    router_add(rt, d, M_GET, "/api/dbs/:db/schema", h_schema);
    router_add(rt, d, M_GET, "/api/dbs/:db/azimutt-schema", h_azimutt);
    router_add(rt, d, M_GET, "/api/dbs/:db/tables/:table", h_table);
    router_add(rt, d, M_GET, "/api/dbs/:db/tables/:table/search/:term", h_search);
}
