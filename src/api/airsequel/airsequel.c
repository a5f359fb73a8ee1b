/* airsequel: the Airsequel-style dialect (spec/airsequel.md). So far: the
 * SQL endpoint POST /dbs/:dbId/sql (§3). Errors are
 * {"errors":[{"message","extensions":{"code"}}]}; SQL failures are 200 with
 * an "errors" list, as the spec says. Reads run on a pooled reader on the
 * thread pool; writes and DDL are write jobs on the database's writer, whose
 * completion comes back to the loop through http_post. */
#include "api/airsequel/airsequel.h"

#include "api/airsequel/airsequel_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/common.h"
#include "core/doors.h"
#include "core/auth.h"
#include "core/dbh.h"
#include "core/engine.h"
#include "core/sql.h"
#include "core/value.h"
#include "util/json.h"
#include "util/thread.h"
#include "util/timeutil.h"
#include "util/utf8.h"

#define ENGINE(r) ((engine_t *)(r)->app)
#define MAX_QUERY_CHARS 100000
#define MAX_ROWS 10000
#define TIME_LIMIT_US (20 * 1000000ull)

static void render_error(http_req_t *r, int status, const char *message);
static void options(http_req_t *r);
static bool claims(const char *path);
size_t airsequel_spool_limit(const http_req_t *r);

static const dialect_t airsequel_dialect = {
    .name = "airsequel",
    .render_error = render_error,
    .claims = claims,
    .extra_headers = "Access-Control-Allow-Headers: Authorization, Content-Type\r\n"
                     "Access-Control-Allow-Methods: GET, POST, PUT, PATCH, DELETE, OPTIONS\r\n",
    .add_headers = airsequel_cors_headers, /* the origin rule of instance allowedHosts */
    .options = options,
    .max_body_bytes = 2 * 1024 * 1024, /* spec: JSON bodies up to 2 MiB */
    .spool_limit = airsequel_spool_limit, /* uploads: up to 100 MiB, on disk */
};

static const char *code_for(int status) {
    switch (status) {
    case 400: return "BAD_REQUEST";
    case 401: return "UNAUTHENTICATED";
    case 403: return "FORBIDDEN";
    case 404: return "NOT_FOUND";
    case 405: return "METHOD_NOT_ALLOWED";
    case 409: return "CONFLICT";
    case 413: return "PAYLOAD_TOO_LARGE";
    case 415: return "UNSUPPORTED_MEDIA_TYPE";
    case 501: return "NOT_IMPLEMENTED";
    default: return status >= 500 ? "INTERNAL_SERVER_ERROR" : "BAD_REQUEST";
    }
}

void airsequel_error(http_req_t *r, int status, const char *message) {
    buf_t b = BUF_INIT;
    jw_t w;
    jw_init(&w, &b, 0);
    jw_obj_begin(&w);
    jw_key(&w, "errors");
    jw_arr_begin(&w);
    jw_obj_begin(&w);
    jw_key(&w, "message");
    jw_str(&w, message);
    jw_key(&w, "extensions");
    jw_obj_begin(&w);
    jw_key(&w, "code");
    jw_str(&w, code_for(status));
    jw_obj_end(&w);
    jw_obj_end(&w);
    jw_arr_end(&w);
    jw_obj_end(&w);
    http_respond_buf(r, status, "application/json; charset=utf-8", &b);
}

static void render_error(http_req_t *r, int status, const char *message) {
    static const struct {
        int status;
        const char *text;
    } texts[] = {{404, "Not found"}, {405, "Method not allowed"}, {408, "Request timeout"},
                 {413, "Request body too large"}, {431, "Request header fields too large"}};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++)
        if (texts[i].status == status) message = texts[i].text;
    airsequel_error(r, status, message);
}

static bool claims(const char *path) {
    static const char *prefixes[] = {"/api/", "/dbs/", "/fns/", "/readonly/", NULL};
    for (int i = 0; prefixes[i]; i++)
        if (strncmp(path, prefixes[i], strlen(prefixes[i])) == 0) return true;
    return strcmp(path, "/api") == 0 || strcmp(path, "/dbs") == 0;
}

static void options(http_req_t *r) { http_respond(r, 204, NULL, "", 0); }

const schema_t *airsequel_schema(db_t *d, store_db_t *c, api_out_t *out) {
    const schema_t *s;
    if (thread_is_loop()) {
        /* the loop never builds a snapshot: the pool does (api_read retries there) */
        if (!(s = schema_peek(d, c))) out->rc = err_set_sub(&out->err, E_TIMEOUT, ES_OFF_LOOP, "schema built off the loop");
        return s;
    }
    char err[256];
    if (!(s = schema_acquire(d, c, err, sizeof err))) out->rc = err_set(&out->err, E_INTERNAL, "%s", err);
    return s;
}

const tinfo_t *airsequel_table(const schema_t *s, const char *name) {
    const tinfo_t *t = schema_find(s, name);
    return t && (!t->hidden || t->is_virtual) && strncmp(t->name, "sqlite_", 7) != 0 ? t : NULL;
}

db_t *airsequel_db_for(http_req_t *r, actor_t *a, unsigned need) {
    if (!airsequel_authenticate(r, a)) return NULL;
    db_t *d = airsequel_resolve_db(r, a, 0, DB_BY_NAME | DB_BY_ID | DB_BY_IDENTITY, false);
    if (d && !auth_check(a, d, need)) {
        airsequel_error(r, 403, airsequel_refusal(d, need));
        db_release(d);
        d = NULL;
    }
    return d;
}

db_t *airsequel_readable_db(http_req_t *r) {
    actor_t a;
    return airsequel_db_for(r, &a, ACT_READ);
}

int airsequel_patch_string(const json_t *v, const char **out) {
    *out = NULL;
    if (!v) return PATCH_ABSENT;
    if (json_is_object(v)) {
        const json_t *tag = json_object_get(v, "tag");
        if (json_is_string(tag) && strcmp(json_string_value(tag), "TextNull") == 0) return PATCH_NULL;
        if (!json_is_string(tag) || strcmp(json_string_value(tag), "TextValue") != 0) return PATCH_BAD;
        v = json_object_get(v, "contents");
    }
    if (json_is_null(v)) return PATCH_NULL;
    if (!json_is_string(v)) return PATCH_BAD;
    *out = json_string_value(v);
    return PATCH_STRING;
}

const char *airsequel_refusal(const db_t *d, unsigned need) {
    return (need & ACT_SCHEMA) && db_schema_locked(d) ? "Schema is locked" : "Permission denied";
}

void airsequel_json(http_req_t *r, int status, const char *json) {
    http_respond(r, status, "application/json; charset=utf-8", json, strlen(json));
}

/* Optional bearer: none is anonymous; a bad one is 401 on every route. */
bool airsequel_authenticate(http_req_t *r, actor_t *a) {
    err_t e;
    if (api_actor(r, ENGINE(r)->catalog, 0, a, &e) <= API_ACTOR) return true;
    airsequel_error(r, 401, "Invalid or expired token");
    return false;
}

/* :dbId by name, id or identity; 404 unless the actor may at least read. */
db_t *airsequel_resolve_db(http_req_t *r, const actor_t *a, int cap, unsigned by, bool any_reader) {
    buf_t key = BUF_INIT;
    db_t *d = NULL;
    if (api_capture(r, cap, &key) == 0 && key.data[0] != '_') d = catalog_db_find(ENGINE(r)->catalog, key.data, by);
    /* any right at all makes it visible: a writeonly token sees its database */
    if (d && !any_reader && !auth_check(a, d, ACT_READ) && !auth_check(a, d, ACT_INSERT)) {
        db_release(d);
        d = NULL;
    }
    doors_note_use(d, "airsequel");
    if (!d) {
        buf_t m = BUF_INIT;
        buf_printf(&m, "Database \"%s\" does not exist", key.data ? key.data : "");
        airsequel_error(r, 404, m.data);
        buf_free(&m);
    }
    buf_free(&key);
    return d;
}

/* ---- the /sql job ----------------------------------------------------- */

typedef struct {
    api_write_t w; /* the write job */
    db_t *db;
    char *sql;
    size_t len;
    sql_class_t cls;
    api_out_t out; /* rows: the rendered "rows" array; cols: "x", "x:2" keys */
    double seconds;
    char **affected;
    size_t naffected;
    int status; /* non-zero: answer with as_error instead */
    char status_msg[sizeof(((err_t *)0)->msg)];
} sql_job_t;

static void free_job(sql_job_t *j) {
    api_out_reset(&j->out);
    for (size_t i = 0; i < j->naffected; i++) free(j->affected[i]);
    free(j->affected);
    changeset_free(&j->w.job.changes);
    free(j->sql);
    db_release(j->db);
    free(j);
}

static void on_columns(void *ctx, store_stmt_t *st, int n) {
    sql_job_t *j = ctx;
    j->out.ncols = n;
    j->out.cols = api_column_names(st, n, ":");
}

static void on_row(void *ctx, store_stmt_t *st, int n) {
    sql_job_t *j = ctx;
    jw_t *w = &j->out.w;
    jw_obj_begin(w);
    for (int i = 0; i < n; i++) {
        jw_key(w, j->out.cols[i]);
        store_value_t v;
        store_col_value(st, i, &v);
        static const value_style_t style = {VJ_BLOB_TYPE_OBJECT, VJ_NONFINITE_NULL};
        value_write_json(w, &v, &style);
    }
    jw_obj_end(w);
}

static const sql_sink_t sink = {on_columns, on_row};

/* name\x1ftype\x1fsql of every user object, for spotting schema changes. */
static size_t schema_snapshot(store_db_t *db, char ***out) {
    store_stmt_t *st;
    size_t n = 0, cap = 16;
    char **items = xmalloc(cap * sizeof *items);
    if (store_prepare(db,
                      "SELECT name, type, coalesce(sql, '') FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'"
                      " AND type IN ('table', 'view')",
                      &st) == 0) {
        while (store_step(st) == STORE_ROW) {
            if (n == cap) items = xrealloc(items, (cap *= 2) * sizeof *items);
            buf_t b = BUF_INIT;
            buf_printf(&b, "%s\x1f%s", store_col_text(st, 0, NULL), store_col_text(st, 2, NULL));
            items[n++] = buf_detach(&b);
        }
        store_finalize(st);
    }
    *out = items;
    return n;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void add_affected(sql_job_t *j, const char *entry) {
    size_t len = strcspn(entry, "\x1f");
    for (size_t i = 0; i < j->naffected; i++)
        if (strlen(j->affected[i]) == len && memcmp(j->affected[i], entry, len) == 0) return;
    j->affected = xrealloc(j->affected, (j->naffected + 1) * sizeof *j->affected);
    j->affected[j->naffected++] = xstrndup(entry, len);
}

/* qsort's array may not be NULL, even for no elements. */
static void sort_names(char **v, size_t n) {
    if (n > 1) qsort(v, n, sizeof *v, cmp_str);
}

/* Airsequel's rule: rows changed → every table and view; else the objects
 * whose definition appeared, vanished or changed. */
static void compute_affected(sql_job_t *j, char **before, size_t nb, char **after, size_t na) {
    if (j->out.res.changes > 0 && j->cls == SQL_WRITE) {
        for (size_t i = 0; i < na; i++) add_affected(j, after[i]);
    } else {
        for (size_t i = 0; i < na; i++)
            if (!nb || !bsearch(&after[i], before, nb, sizeof *before, cmp_str)) add_affected(j, after[i]);
        for (size_t i = 0; i < nb; i++)
            if (!na || !bsearch(&before[i], after, na, sizeof *after, cmp_str)) add_affected(j, before[i]);
    }
    sort_names(j->affected, j->naffected);
}

static void run_sql(void *data, store_db_t *db, uint64_t deadline_us) {
    sql_job_t *j = data;
    buf_init(&j->out.rows);
    jw_init(&j->out.w, &j->out.rows, 0);
    jw_arr_begin(&j->out.w);
    sql_opts_t o = {.max_class = SQL_SCHEMA,
                    .single_statement = true,
                    .deadline_us = deadline_us,
                    .max_rows = MAX_ROWS,
                    .out = &j->out.rows};
    uint64_t t0 = time_mono_us();
    j->out.rc = sql_run(db, j->sql, j->len, &o, &sink, j, &j->out.res, &j->out.err);
    j->seconds = (double)(time_mono_us() - t0) / 1e6;
    jw_arr_end(&j->out.w);
}

/* §3's CREATE TABLE lints, on a table the statement made (or remade): no
 * WITHOUT ROWID tables, no foreign keys to a rowid that is not a column. */
static int lint_table(store_db_t *db, const char *name, err_t *e) {
    store_stmt_t *st;
    int rc = 0;
    if (store_prepare(db, "SELECT wr FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND name = ?",
                      &st) == 0) {
        store_bind_text(st, 1, name, strlen(name));
        if (store_step(st) == STORE_ROW && store_col_int(st, 0))
            rc = err_set(e, E_BAD_INPUT,
                         "Table '%s' does not have a rowid column. Such tables are not currently supported by Airsequel.",
                         name);
        store_finalize(st);
    }
    if (rc == 0 && store_prepare(db, "SELECT f.\"from\", f.\"table\" FROM pragma_foreign_key_list(?1) f"
                                     " WHERE lower(f.\"to\") IN ('rowid', '_rowid_', 'oid') AND NOT EXISTS"
                                     " (SELECT 1 FROM pragma_table_xinfo(f.\"table\") c WHERE lower(c.name) = lower(f.\"to\"))",
                                  &st) == 0) {
        store_bind_text(st, 1, name, strlen(name));
        if (store_step(st) == STORE_ROW)
            rc = err_set(e, E_BAD_INPUT,
                         "Column '%s' references the rowid column of table '%s'.\nThis is not supported by SQLite:\n"
                         "https://www.sqlite.org/foreignkeys.html",
                         store_col_text(st, 0, NULL), store_col_text(st, 1, NULL));
        store_finalize(st);
    }
    return rc;
}

/* Runs inside the writer's savepoint: a failure here undoes the query. */
static int write_run(store_db_t *db, void *arg, err_t *e) {
    sql_job_t *j = arg;
    char **before, **after;
    size_t nb = schema_snapshot(db, &before);
    sort_names(before, nb);
    run_sql(j, db, time_mono_us() + TIME_LIMIT_US);
    if (j->out.rc == 0) {
        size_t na = schema_snapshot(db, &after);
        sort_names(after, na);
        /* tables the statement made or remade must pass the lints */
        for (size_t i = 0; i < na && j->out.rc == 0 && j->cls == SQL_SCHEMA; i++) {
            if (nb && bsearch(&after[i], before, nb, sizeof *before, cmp_str)) continue;
            char *name = xstrndup(after[i], strcspn(after[i], "\x1f"));
            j->out.rc = lint_table(db, name, &j->out.err);
            free(name);
        }
        if (j->out.rc == 0) compute_affected(j, before, nb, after, na);
        for (size_t i = 0; i < na; i++) free(after[i]);
        free(after);
    }
    for (size_t i = 0; i < nb; i++) free(before[i]);
    free(before);
    if (j->out.rc < 0) *e = j->out.err;
    return j->out.rc;
}

static void respond_sql(http_req_t *r, sql_job_t *j) {
    if (!j->status && j->out.rc < 0 && j->out.err.kind == E_INTERNAL) {
        j->status = 500;
        snprintf(j->status_msg, sizeof j->status_msg, "%s", j->out.err.msg);
    }
    if (j->status) {
        airsequel_error(r, j->status, j->status_msg);
        free_job(j);
        return;
    }
    buf_t b = BUF_INIT;
    jw_t w;
    jw_init(&w, &b, 0);
    jw_obj_begin(&w);
    bool ok = j->out.rc == 0;
    jw_key(&w, "affectedTables");
    jw_arr_begin(&w);
    for (size_t i = 0; ok && i < j->naffected; i++) jw_str(&w, j->affected[i]);
    jw_arr_end(&w);
    jw_key(&w, "rows");
    if (ok) jw_raw(&w, j->out.rows.data, j->out.rows.len);
    else jw_raw(&w, "[]", 2);
    jw_key(&w, "numChanges");
    jw_int(&w, ok && j->cls == SQL_WRITE ? j->out.res.changes : 0);
    jw_key(&w, "runtimeSeconds");
    jw_double(&w, ok ? j->seconds : 0.0);
    jw_key(&w, "errors");
    jw_arr_begin(&w);
    if (!ok) {
        if (j->out.err.kind == E_TIMEOUT) jw_str(&w, "Sql query execution timed out");
        else jw_str(&w, j->out.err.msg);
    } else if (j->out.res.truncated) {
        char m[64];
        snprintf(m, sizeof m, "Result truncated to %d rows", MAX_ROWS);
        jw_str(&w, m);
    }
    jw_arr_end(&w);
    jw_obj_end(&w);
    http_respond_buf(r, 200, "application/json; charset=utf-8", &b);
    free_job(j);
}

static void read_reset(void *data) { api_out_reset(&((sql_job_t *)data)->out); }

static void read_done(http_req_t *r, void *data) { respond_sql(r, data); }

static void write_posted(http_req_t *r, void *data) { respond_sql(r, data); }

static void h_sql(http_req_t *r) {
    actor_t a;
    if (!airsequel_authenticate(r, &a)) return;
    db_t *d = airsequel_resolve_db(r, &a, 0, DB_BY_NAME | DB_BY_ID | DB_BY_IDENTITY, false);
    if (!d) return;
    char err[200];
    json_t *body = api_json_object(r, err, sizeof err);
    json_t *q = body ? json_object_get(body, "query") : NULL;
    if (!json_is_string(q)) {
        buf_t m = BUF_INIT;
        buf_printf(&m, "Invalid request body: %s", body ? "\"query\" must be a string" : err);
        airsequel_error(r, 400, m.data);
        buf_free(&m);
        json_decref(body);
        db_release(d);
        return;
    }
    const char *sql = json_string_value(q);
    size_t len = json_string_length(q), chars = 0;
    for (size_t i = 0; i < len; i++) chars += ((unsigned char)sql[i] & 0xC0) != 0x80;
    sql_job_t *j = xcalloc(1, sizeof *j);
    j->db = d;
    j->sql = xstrndup(sql, len);
    j->len = len;
    json_decref(body);
    if (chars > MAX_QUERY_CHARS) {
        snprintf(j->status_msg, sizeof j->status_msg, "SQL query is too long (%zu characters, maximum is %d)",
                 chars, MAX_QUERY_CHARS);
        j->status = 400;
        respond_sql(r, j);
        return;
    }
    /* Classify on a reader (prepare only), then check the right it needs. */
    err_t e;
    bool shared;
    store_db_t *c = api_peek_reader(d, &shared, &e);
    if (!c) {
        j->status = 500;
        snprintf(j->status_msg, sizeof j->status_msg, "%s", e.msg);
        respond_sql(r, j);
        return;
    }
    int rc = sql_classify(c, j->sql, j->len, true, &j->cls, &j->out.err);
    api_peek_done(d, c, shared);
    if (rc < 0) {
        if (j->out.err.sub == ES_EMPTY_QUERY)
            snprintf(j->out.err.msg, sizeof j->out.err.msg, "The query is empty");
        else if (j->out.err.sub == ES_NOT_ALLOWED && j->out.err.detail[0])
            snprintf(j->out.err.msg, sizeof j->out.err.msg, "Statement not allowed: %s", j->out.err.detail);
        j->out.rc = -1;
        respond_sql(r, j);
        return;
    }
    unsigned need = auth_action_for(j->cls);
    if (!auth_check(&a, d, need)) {
        j->status = 403;
        snprintf(j->status_msg, sizeof j->status_msg, "%s", airsequel_refusal(d, need));
        respond_sql(r, j);
        return;
    }
    if (j->cls == SQL_READ) {
        api_read(r, d, TIME_LIMIT_US, &j->out, run_sql, read_reset, read_done, j);
        return;
    }
    if (api_write(r, d, &j->w, write_run, &j->out, write_posted, j, &e) < 0) {
        j->status = 500;
        snprintf(j->status_msg, sizeof j->status_msg, "%s", e.msg);
        respond_sql(r, j);
    }
}

/* GET /api/docs: the dialect's routes as an HTML list, from the route
 * table itself (immutable once the server runs, so loops may read it). */
static const router_t *doc_routes;

static void doc_route(void *ctx, const char *dialect, unsigned methods, const char *pattern) {
    buf_t *b = ctx;
    if (strcmp(dialect, airsequel_dialect.name) != 0) return;
    for (unsigned bit = 1; bit <= M_OTHER; bit <<= 1) {
        if (!(methods & bit)) continue;
        buf_printf(b, "<li><code>%s ", router_method_name(bit));
        for (const char *p = pattern; *p; p++) {
            if (*p == '<') buf_puts(b, "&lt;");
            else if (*p == '>') buf_puts(b, "&gt;");
            else if (*p == '&') buf_puts(b, "&amp;");
            else buf_putc(b, *p);
        }
        buf_puts(b, "</code></li>\n");
    }
}

static void h_docs(http_req_t *r) {
    actor_t a;
    if (!airsequel_authenticate(r, &a)) return;
    buf_t b = BUF_INIT;
    buf_puts(&b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Atrium: Airsequel JSON API</title></head>\n"
                 "<body><h1>Airsequel JSON API</h1>\n<p>Routes served by this Atrium (see the Airsequel "
                 "documentation for bodies).</p>\n<ul>\n");
    router_each(doc_routes, doc_route, &b);
    buf_puts(&b, "</ul></body></html>\n");
    http_respond_buf(r, 200, "text/html; charset=utf-8", &b);
}

void airsequel_register(router_t *rt) {
    doc_routes = rt;
    router_add(rt, &airsequel_dialect, M_GET, "/api/docs", h_docs);
    router_add(rt, &airsequel_dialect, M_POST, "/dbs/:db/sql", h_sql);
    airsequel_graphql_register(rt, &airsequel_dialect);
    airsequel_tables_register(rt, &airsequel_dialect);
    airsequel_export_register(rt, &airsequel_dialect);
    airsequel_dbs_register(rt, &airsequel_dialect);
    airsequel_files_register(rt, &airsequel_dialect);
    airsequel_ddl_register(rt, &airsequel_dialect);
    airsequel_session_register(rt, &airsequel_dialect);
    airsequel_teams_register(rt, &airsequel_dialect);
    airsequel_dbadmin_register(rt, &airsequel_dialect);
    airsequel_settings_register(rt, &airsequel_dialect);
    airsequel_charts_register(rt, &airsequel_dialect);
    airsequel_dbfile_register(rt, &airsequel_dialect);
    airsequel_upload_register(rt, &airsequel_dialect);
    airsequel_functions_register(rt, &airsequel_dialect);
}
