/* datasette_query: custom SQL, GET /DB/-/query(.json|.csv)?sql=
 * (spec/datasette.md §8): read-only statements under the shared SQL
 * policy, named parameters from the query string, shapes, CSV, time limit
 * and truncation. Runs through api_read (loop first, then the pool). */
#include "api/datasette/datasette_internal.h"

#include <sys/stat.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/schema.h"
#include "core/value.h"
#include "util/md5.h"
#include "core/auth.h"
#include "core/dbh.h"
#include "core/rcache.h"
#include "core/engine.h"
#include "core/sql.h"
#include "util/ids.h"
#include "util/csv.h"
#include "util/json.h"
#include "util/timeutil.h"
#include "util/url.h"

/* ---- /DB/-/query.json ------------------------------------------------ */

typedef enum { SHAPE_OBJECTS, SHAPE_ARRAYS, SHAPE_ARRAY, SHAPE_ARRAYFIRST } shape_t;

typedef struct {
    http_req_t *r;
    db_t *db;
    qs_t qs;
    char *sql;
    shape_t shape;
    bool nl, infinity, csv, header;
    bool extra_columns, extra_query, extra_database;
    uint64_t limit_ms;
    api_out_t out;
    /* the statement's :named parameters as bound, for query.params:
     * "name": "value" pairs (JSON), in the statement's order */
    buf_t params;
    /* the read-answer cache (core/rcache): key, version before the read */
    buf_t cache_key;
    uint64_t version;
} query_job_t;

static void q_columns(void *ctx, store_stmt_t *st, int n) {
    query_job_t *j = ctx;
    j->out.ncols = n;
    j->out.cols = xcalloc((size_t)n, sizeof *j->out.cols);
    for (int i = 0; i < n; i++) j->out.cols[i] = xstrdup(store_col_name(st, i));
}

/* One cell; TEXT in a _json column that parses as JSON is written as that. */
static void q_cell(query_job_t *j, jw_t *w, store_stmt_t *st, int i) {
    store_value_t v;
    store_col_value(st, i, &v);
    if (v.type == SV_TEXT) {
        for (size_t k = 0; k < j->qs.n; k++) {
            if (strcmp(j->qs.pairs[k].key, "_json") || strcmp(j->qs.pairs[k].value, j->out.cols[i])) continue;
            json_t *parsed = json_loadb(v.p, v.n, JSON_DECODE_ANY, NULL);
            if (parsed) {
                jw_json(w, parsed);
                json_decref(parsed);
                return;
            }
            break;
        }
    }
    ds_write_value(w, &v, j->infinity);
}

static void q_row(void *ctx, store_stmt_t *st, int n) {
    query_job_t *j = ctx;
    jw_t *w = &j->out.w;
    store_value_t v;
    if (j->csv) {
        buf_t *b = &j->out.rows;
        if (j->header && b->len == 0) {
            for (int i = 0; i < n; i++) {
                if (i) buf_putc(b, ',');
                csv_field(b, j->out.cols[i], strlen(j->out.cols[i]));
            }
            buf_puts(b, "\r\n");
        }
        for (int i = 0; i < n; i++) {
            if (i) buf_putc(b, ',');
            store_col_value(st, i, &v);
            if (v.type == SV_NULL) continue;
            buf_t tx = BUF_INIT;
            ds_value_text(&tx, &v);
            csv_field(b, tx.data ? tx.data : "", tx.len);
            buf_free(&tx);
        }
        buf_puts(b, "\r\n");
        return;
    }
    if (j->nl) {
        /* _nl: one JSON object per line, no enclosing array. */
        if (j->out.rows.len) buf_putc(&j->out.rows, '\n');
        jw_init(w, &j->out.rows, DS_JW);
    }
    switch (j->shape) {
    case SHAPE_ARRAYFIRST:
        q_cell(j, w, st, 0);
        return;
    case SHAPE_ARRAYS:
        jw_arr_begin(w);
        for (int i = 0; i < n; i++) q_cell(j, w, st, i);
        jw_arr_end(w);
        return;
    default:
        jw_obj_begin(w);
        /* Repeated column names: the later value wins, as in a Python dict. */
        for (int i = 0; i < n; i++) {
            bool later = false;
            for (int k = i + 1; k < n && !later; k++) later = strcmp(j->out.cols[k], j->out.cols[i]) == 0;
            if (later) continue;
            jw_key(w, j->out.cols[i]);
            q_cell(j, w, st, i);
        }
        jw_obj_end(w);
    }
}

static const sql_sink_t q_sink = {q_columns, q_row};

/* :name parameters come from the query string as text; missing ones are
 * "", names starting with '_' (Datasette's controls) are left NULL. */
static int q_bind(void *ctx, store_stmt_t *st, int idx, const char *name, err_t *e) {
    (void)e;
    query_job_t *j = ctx;
    if (!name || name[0] != ':' || name[1] == '_') return 0;
    const char *v = qs_get(&j->qs, name + 1);
    if (!v) v = "";
    store_bind_text(st, idx, v, strlen(v));
    jw_t w;
    jw_init(&w, &j->params, DS_JW);
    if (j->params.len) buf_puts(&j->params, ", ");
    jw_key(&w, name + 1);
    jw_str(&w, v);
    return 0;
}

static void free_query_job(query_job_t *j) {
    api_out_reset(&j->out);
    buf_free(&j->params);
    buf_free(&j->cache_key);
    qs_free(&j->qs);
    free(j->sql);
    db_release(j->db);
    free(j);
}

static void query_run(void *data, store_db_t *c, uint64_t deadline_us) {
    query_job_t *j = data;
    buf_reset(&j->params);
    buf_init(&j->out.rows);
    jw_init(&j->out.w, &j->out.rows, DS_JW);
    if (!j->nl && !j->csv) jw_arr_begin(&j->out.w);
    sql_opts_t o = {.max_class = SQL_READ,
                    .single_statement = true,
                    .deadline_us = deadline_us,
                    .max_rows = DS_MAX_RETURNED_ROWS,
                    .bind = q_bind,
                    .bind_ctx = j,
                    .out = &j->out.rows};
    j->out.rc = sql_run(c, j->sql, strlen(j->sql), &o, &q_sink, j, &j->out.res, &j->out.err);
    if (!j->nl && !j->csv) jw_arr_end(&j->out.w);
    if (j->csv && j->header && j->out.rows.len == 0 && j->out.rc == 0) {
        for (int i = 0; i < j->out.ncols; i++) {
            if (i) buf_putc(&j->out.rows, ',');
            csv_field(&j->out.rows, j->out.cols[i], strlen(j->out.cols[i]));
        }
        if (j->out.ncols) buf_puts(&j->out.rows, "\r\n");
    }
}

static void query_reset(void *data) { api_out_reset(&((query_job_t *)data)->out); }

/* Sends a 200 answer, keeping it for reuse when it may be: a statement
 * with no volatile function (the authorizer's word), not truncated by a
 * time limit (errors never get here). */
static void respond_kept(http_req_t *r, query_job_t *j, const char *ctype, const char *dispo, buf_t *body) {
    if (j->cache_key.len && !(j->out.res.facts & SQL_FACT_VOLATILE)) {
        buf_t v = BUF_INIT;
        buf_append(&v, ctype, strlen(ctype) + 1);
        buf_append(&v, dispo ? dispo : "", (dispo ? strlen(dispo) : 0) + 1);
        buf_append(&v, body->data ? body->data : "", body->len);
        rcache_put(j->cache_key.data, j->cache_key.len, j->version, v.data, v.len);
        buf_free(&v);
    }
    if (dispo) http_add_header(r, "Content-Disposition", dispo);
    http_respond_buf(r, 200, ctype, body);
}

static bool answer_from_cache(http_req_t *r, query_job_t *j) {
    buf_t v = BUF_INIT;
    if (!rcache_get(j->cache_key.data, j->cache_key.len, j->version, &v)) return false;
    const char *ctype = v.data, *dispo = ctype + strlen(ctype) + 1, *body = dispo + strlen(dispo) + 1;
    ds_cors(r);
    if (*dispo) http_add_header(r, "Content-Disposition", dispo);
    http_respond(r, 200, ctype, body, v.len - (size_t)(body - v.data));
    buf_free(&v);
    free_query_job(j);
    return true;
}

static void query_done(http_req_t *r, void *data) {
    query_job_t *j = data;
    if (j->out.rc < 0) {
        const char *msg = j->out.err.msg;
        if (j->out.err.kind == E_TIMEOUT)
            msg = "SQL query took too long. The time limit is controlled by the sql_time_limit_ms setting.";
        else if (j->out.err.sub == ES_MANY_STATEMENTS)
            msg = "You can only execute one statement at a time.";
        else if (j->out.err.kind == E_FORBIDDEN)
            msg = "Statement must be a SELECT";
        /* an interrupted query is Datasette's plain error: no rows, no truncated */
        ds_error_extra(r, 400, msg, j->out.err.kind != E_TIMEOUT);
        free_query_job(j);
        return;
    }
    ds_cors(r);
    if (j->csv) {
        const char *dl = qs_get(&j->qs, "_dl");
        if (dl && *dl) {
            /* Datasette names a query's file after its database */
            buf_t h = BUF_INIT;
            buf_puts(&h, "attachment; filename=\"");
            for (const unsigned char *c = (const unsigned char *)j->db->name; *c; c++)
                buf_putc(&h, *c == '"' || *c == '\\' ? '_' : (char)*c);
            buf_puts(&h, ".csv\"");
            respond_kept(r, j, "text/csv; charset=utf-8", h.data, &j->out.rows);
            buf_free(&h);
        } else {
            respond_kept(r, j, "text/plain; charset=utf-8", NULL, &j->out.rows);
        }
        free_query_job(j);
        return;
    }
    if (j->nl) {
        respond_kept(r, j, "text/plain; charset=utf-8", NULL, &j->out.rows);
        free_query_job(j);
        return;
    }
    if (j->shape == SHAPE_ARRAY || j->shape == SHAPE_ARRAYFIRST) {
        respond_kept(r, j, DS_JSON, NULL, &j->out.rows);
        free_query_job(j);
        return;
    }
    buf_t b = BUF_INIT;
    jw_t w;
    ds_begin_ok(&w, &b);
    if (j->extra_database) {
        jw_key(&w, "database");
        jw_str(&w, j->db->name);
    }
    if (j->extra_query) {
        jw_key(&w, "query");
        jw_obj_begin(&w);
        jw_key(&w, "sql");
        jw_str(&w, j->sql);
        jw_key(&w, "params");
        /* the statement's named parameters, each with its value or "" */
        jw_raw(&w, "{", 1);
        if (j->params.len) buf_append(&b, j->params.data, j->params.len);
        buf_putc(&b, '}');
        jw_obj_end(&w);
    }
    jw_key(&w, "rows");
    jw_raw(&w, j->out.rows.data, j->out.rows.len);
    jw_key(&w, "truncated");
    jw_bool(&w, j->out.res.truncated);
    if (j->extra_columns) {
        jw_key(&w, "columns");
        jw_arr_begin(&w);
        for (int i = 0; i < j->out.ncols; i++) jw_str(&w, j->out.cols[i]);
        jw_arr_end(&w);
    }
    jw_obj_end(&w);
    respond_kept(r, j, DS_JSON, NULL, &b);
    free_query_job(j);
}

/* Datasette's textual SELECT check (§8), after which the engine's own
 * read-only classification still applies. NULL when acceptable. */
static const char *select_check(const char *sql) {
    static const char *allowed_pragmas[] = {"database_list", "foreign_key_list", "function_list", "index_info",
                                            "index_list", "index_xinfo", "module_list", "pragma_list",
                                            "table_info", "table_xinfo", "table_list", NULL};
    static const char *starts[] = {"select", "explain select", "explain query plan select", "with",
                                   "explain with", "explain query plan with", NULL};
    buf_t b = BUF_INIT;
    /* Drop "--" lines, trim, lower-case, collapse runs of white space. */
    const char *p = sql;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        const char *q = p;
        while (q < p + len && (*q == ' ' || *q == '\t' || *q == '\r')) q++;
        if (!(q + 1 < p + len && q[0] == '-' && q[1] == '-')) {
            if (b.len) buf_putc(&b, '\n');
            buf_append(&b, p, len);
        }
        p += len + (nl ? 1 : 0);
    }
    const char *msg = NULL;
    char *s = b.data ? b.data : "";
    for (char *c = s; *c; c++)
        if (*c >= 'A' && *c <= 'Z') *c += 32;
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
    bool ok = false;
    for (int i = 0; starts[i] && !ok; i++) {
        /* Match the words with any white space between, then a boundary. */
        const char *w = starts[i], *t = s;
        while (*w && *t) {
            if (*w == ' ') {
                if (!(*t == ' ' || *t == '\t' || *t == '\n' || *t == '\r')) break;
                while (*t == ' ' || *t == '\t' || *t == '\n' || *t == '\r') t++;
                w++;
            } else if (*w == *t) {
                w++, t++;
            } else {
                break;
            }
        }
        ok = !*w && !((*t >= 'a' && *t <= 'z') || (*t >= '0' && *t <= '9') || *t == '_');
    }
    if (!ok) {
        msg = "Statement must be a SELECT";
    } else {
        for (const char *f = strstr(s, "pragma"); f && !msg; f = strstr(f + 1, "pragma")) {
            bool allowed = false;
            for (int i = 0; allowed_pragmas[i] && !allowed; i++)
                allowed = f[6] == '_' && strncmp(f + 7, allowed_pragmas[i], strlen(allowed_pragmas[i])) == 0;
            if (!allowed)
                msg = "Statement contained a disallowed PRAGMA. Allowed pragma functions are "
                      "pragma_database_list(), pragma_foreign_key_list(), pragma_function_list(), "
                      "pragma_index_info(), pragma_index_list(), pragma_index_xinfo(), pragma_module_list(), "
                      "pragma_pragma_list(), pragma_table_info(), pragma_table_xinfo(), pragma_table_list()";
        }
    }
    buf_free(&b);
    return msg;
}

void ds_query(http_req_t *r, const actor_t *a, db_t *d, bool csv) {
    query_job_t *j = xcalloc(1, sizeof *j);
    j->csv = csv;
    j->r = r;
    j->db = d;
    qs_parse(&j->qs, r->query ? r->query : "", r->query ? strlen(r->query) : 0);
    const char *sql = qs_get(&j->qs, "sql");
    const char *shape = qs_get(&j->qs, "_shape");
    const char *msg = NULL;
    j->limit_ms = (uint64_t)DS_ENGINE(r)->sql_time_limit_ms;
    const char *tl = qs_get(&j->qs, "_timelimit");
    if (tl && *tl && strspn(tl, "0123456789") == strlen(tl) && strlen(tl) < 10) {
        uint64_t v = strtoull(tl, NULL, 10);
        if (v < j->limit_ms) j->limit_ms = v; /* can only lower */
    }
    j->nl = qs_get(&j->qs, "_nl") && *qs_get(&j->qs, "_nl");
    j->header = !(qs_get(&j->qs, "_header") && strcmp(qs_get(&j->qs, "_header"), "off") == 0);
    j->infinity = ds_truthy(qs_get(&j->qs, "_json_infinity"));
    if (shape && strcmp(shape, "objects") == 0) j->shape = SHAPE_OBJECTS;
    else if (shape && strcmp(shape, "arrays") == 0) j->shape = SHAPE_ARRAYS;
    else if (shape && strcmp(shape, "array") == 0) j->shape = SHAPE_ARRAY;
    else if (shape && strcmp(shape, "arrayfirst") == 0) j->shape = SHAPE_ARRAYFIRST;
    else if (shape && strcmp(shape, "object") == 0) msg = "_shape=object is only available on tables";
    else if (shape) msg = "Invalid _shape";
    if (j->nl && j->shape != SHAPE_ARRAY) j->nl = false;
    /* _extra=a,b (commas and/or repeats) */
    buf_t unknown = BUF_INIT;
    for (size_t i = 0; i < j->qs.n && !msg; i++) {
        if (strcmp(j->qs.pairs[i].key, "_extra") != 0) continue;
        char *list = xstrdup(j->qs.pairs[i].value), *save = NULL;
        for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            if (strcmp(t, "columns") == 0) j->extra_columns = true;
            else if (strcmp(t, "query") == 0) j->extra_query = true;
            else if (strcmp(t, "database") == 0) j->extra_database = true;
            else if (*t) buf_printf(&unknown, "%s%s", unknown.len ? ", " : "", t);
        }
        free(list);
    }
    char shape_msg[200];
    if (msg && strcmp(msg, "Invalid _shape") == 0) {
        snprintf(shape_msg, sizeof shape_msg, "Invalid _shape: %.150s", shape);
        msg = shape_msg;
    }
    buf_t umsg = BUF_INIT;
    if (!msg && unknown.len) {
        buf_printf(&umsg, "Unknown _extra: %s", unknown.data);
        msg = umsg.data;
    }
    if (!msg && (!sql || !*sql)) msg = "?sql= is required";
    if (!msg) msg = select_check(sql);
    if (msg) {
        ds_error(r, 400, msg);
        buf_free(&unknown);
        buf_free(&umsg);
        free_query_job(j);
        return;
    }
    buf_free(&unknown);
    buf_free(&umsg);
    j->sql = xstrdup(sql);
    if (rcache_enabled()) {
        ds_cache_key(&j->cache_key, r, a, d);
        j->version = dbh_version(d);
        if (j->version == DBH_VERSION_UNKNOWN) buf_reset(&j->cache_key);
        else if (answer_from_cache(r, j)) return;
    }
    api_read(r, j->db, j->limit_ms * 1000, &j->out, query_run, query_reset, query_done, j);
}
