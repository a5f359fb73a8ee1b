/* datasette: the Datasette-style dialect (spec/datasette.md). So far: the
 * custom SQL endpoint /DB/-/query.json (§8) and the /DB.json?sql= redirect.
 * Datasette's URLs are suffix-based (/DB.json, /DB/T/ID.json), so this face
 * registers one fallback route and parses paths itself. Errors are
 * {"ok":false,"error","errors","status"}; JSON uses ", "/": " separators and
 * \uXXXX escapes as Python's json.dumps does. */
#include "api/datasette.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/common.h"
#include "core/auth.h"
#include "core/dbh.h"
#include "core/engine.h"
#include "core/sql.h"
#include "util/ids.h"
#include "util/json.h"
#include "util/timeutil.h"
#include "util/url.h"

#define ENGINE(r) ((engine_t *)(r)->app)
#define JSON_TYPE "application/json; charset=utf-8"
#define MAX_RETURNED_ROWS 1000
#define JW_DS (JW_SPACED | JW_ASCII)

static void render_error(http_req_t *r, int status, const char *message);
static void options(http_req_t *r);

static const dialect_t datasette_dialect = {
    .name = "datasette",
    .render_error = render_error,
    .options = options,
};

/* CORS is opt-in (--cors) and then goes on every response of this face. */
static void cors(http_req_t *r) {
    if (!ENGINE(r)->cors) return;
    http_add_header(r, "Access-Control-Allow-Origin", "*");
    http_add_header(r, "Access-Control-Allow-Headers", "Authorization, Content-Type");
    http_add_header(r, "Access-Control-Expose-Headers", "Link");
    http_add_header(r, "Access-Control-Allow-Methods", "GET, POST, HEAD, OPTIONS");
    http_add_header(r, "Access-Control-Max-Age", "3600");
}

/* {"ok": false, "error": msg, "errors": [msg], "status": N, <extra>} */
static void ds_error_extra(http_req_t *r, int status, const char *msg, bool query_extras) {
    buf_t b = BUF_INIT;
    jw_t w;
    jw_init(&w, &b, JW_DS);
    jw_obj_begin(&w);
    jw_key(&w, "ok");
    jw_bool(&w, false);
    jw_key(&w, "error");
    jw_str(&w, msg);
    jw_key(&w, "errors");
    jw_arr_begin(&w);
    jw_str(&w, msg);
    jw_arr_end(&w);
    jw_key(&w, "status");
    jw_int(&w, status);
    if (query_extras) {
        jw_key(&w, "rows");
        jw_arr_begin(&w);
        jw_arr_end(&w);
        jw_key(&w, "truncated");
        jw_bool(&w, false);
    }
    jw_obj_end(&w);
    cors(r);
    http_respond_buf(r, status, JSON_TYPE, &b);
}

static void ds_error(http_req_t *r, int status, const char *msg) { ds_error_extra(r, status, msg, false); }

static void render_error(http_req_t *r, int status, const char *message) {
    if (status == 405) {
        cors(r);
        http_respond(r, 405, "text/plain", "Method not allowed", 18);
        return;
    }
    ds_error(r, status, message);
}

static void options(http_req_t *r) {
    cors(r);
    http_respond(r, 200, "text/plain", "ok", 2);
}

/* Bearer handling per §11: only Atrium-prefixed values are ours; anything
 * else is a foreign token and means anonymous. Answers 401 on failure. */
static bool authenticate(http_req_t *r, actor_t *a) {
    const char *tok;
    auth_anonymous(a);
    if (api_bearer(r, &tok) != BEARER_OK) return true;
    if (strncmp(tok, "atr_", 4) != 0 && strncmp(tok, "dstok_", 6) != 0) return true;
    err_t e;
    if (auth_verify_token(ENGINE(r)->catalog, tok, a, &e) == 0) return true;
    http_add_header(r, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
    ds_error(r, 401, e.kind == E_EXPIRED_TOKEN ? "Token has expired" : "Invalid token signature");
    return false;
}

/* ---- /DB/-/query.json ------------------------------------------------ */

typedef enum { SHAPE_OBJECTS, SHAPE_ARRAYS, SHAPE_ARRAY, SHAPE_ARRAYFIRST } shape_t;

typedef struct {
    http_req_t *r;
    db_t *db;
    qs_t qs;
    char *sql;
    shape_t shape;
    bool nl, infinity;
    bool extra_columns, extra_query, extra_database;
    uint64_t limit_ms;
    api_out_t out;
} query_job_t;

static bool truthy(const char *v) {
    return v && (strcmp(v, "on") == 0 || strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

static void write_value(jw_t *w, const store_value_t *v, bool infinity) {
    switch (v->type) {
    case SV_INT: jw_int(w, v->i); break;
    case SV_REAL:
        if (isinf(v->d) && infinity) jw_raw(w, v->d > 0 ? "Infinity" : "-Infinity", v->d > 0 ? 8 : 9);
        else jw_double(w, v->d);
        break;
    case SV_TEXT: jw_strn(w, v->p, v->n); break;
    case SV_BLOB: {
        jw_obj_begin(w);
        jw_key(w, "$base64");
        jw_bool(w, true);
        jw_key(w, "encoded");
        buf_t b = BUF_INIT;
        b64_encode(&b, (const uint8_t *)v->p, v->n);
        jw_strn(w, b.data ? b.data : "", b.len);
        buf_free(&b);
        jw_obj_end(w);
        break;
    }
    case SV_NULL: jw_null(w); break;
    }
}

static void q_columns(void *ctx, store_stmt_t *st, int n) {
    query_job_t *j = ctx;
    j->out.ncols = n;
    j->out.cols = xcalloc((size_t)n, sizeof *j->out.cols);
    for (int i = 0; i < n; i++) j->out.cols[i] = xstrdup(store_col_name(st, i));
}

static void q_row(void *ctx, store_stmt_t *st, int n) {
    query_job_t *j = ctx;
    jw_t *w = &j->out.w;
    store_value_t v;
    if (j->nl) {
        /* _nl: one JSON object per line, no enclosing array. */
        if (j->out.rows.len) buf_putc(&j->out.rows, '\n');
        jw_init(w, &j->out.rows, JW_DS);
    }
    switch (j->shape) {
    case SHAPE_ARRAYFIRST:
        store_col_value(st, 0, &v);
        write_value(w, &v, j->infinity);
        return;
    case SHAPE_ARRAYS:
        jw_arr_begin(w);
        for (int i = 0; i < n; i++) {
            store_col_value(st, i, &v);
            write_value(w, &v, j->infinity);
        }
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
            store_col_value(st, i, &v);
            write_value(w, &v, j->infinity);
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
    return 0;
}

static void free_query_job(query_job_t *j) {
    api_out_reset(&j->out);
    qs_free(&j->qs);
    free(j->sql);
    db_release(j->db);
    free(j);
}

static void query_run(void *data, store_db_t *c, uint64_t deadline_us) {
    query_job_t *j = data;
    buf_init(&j->out.rows);
    jw_init(&j->out.w, &j->out.rows, JW_DS);
    if (!j->nl) jw_arr_begin(&j->out.w);
    sql_opts_t o = {.max_class = SQL_READ,
                    .single_statement = true,
                    .deadline_us = deadline_us,
                    .max_rows = MAX_RETURNED_ROWS,
                    .bind = q_bind,
                    .bind_ctx = j};
    j->out.rc = sql_run(c, j->sql, strlen(j->sql), &o, &q_sink, j, &j->out.res, &j->out.err);
    if (!j->nl) jw_arr_end(&j->out.w);
}

static void query_reset(void *data) { api_out_reset(&((query_job_t *)data)->out); }

static void query_done(http_req_t *r, void *data) {
    query_job_t *j = data;
    if (j->out.rc < 0) {
        const char *msg = j->out.err.msg;
        if (j->out.err.kind == E_TIMEOUT)
            msg = "SQL query took too long. The time limit is controlled by the sql_time_limit_ms setting.";
        else if (j->out.err.kind == E_BAD_INPUT && strcmp(msg, SQL_MSG_ONE_STATEMENT) == 0)
            msg = "You can only execute one statement at a time.";
        else if (j->out.err.kind == E_FORBIDDEN)
            msg = "Statement must be a SELECT";
        ds_error_extra(r, 400, msg, true);
        free_query_job(j);
        return;
    }
    cors(r);
    if (j->nl) {
        http_respond_buf(r, 200, "text/plain; charset=utf-8", &j->out.rows);
        free_query_job(j);
        return;
    }
    if (j->shape == SHAPE_ARRAY || j->shape == SHAPE_ARRAYFIRST) {
        http_respond_buf(r, 200, JSON_TYPE, &j->out.rows);
        free_query_job(j);
        return;
    }
    buf_t b = BUF_INIT;
    jw_t w;
    jw_init(&w, &b, JW_DS);
    jw_obj_begin(&w);
    jw_key(&w, "ok");
    jw_bool(&w, true);
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
        jw_obj_begin(&w);
        for (size_t i = 0; i < j->qs.n; i++) {
            const char *k = j->qs.pairs[i].key;
            if (k[0] == '_' || strcmp(k, "sql") == 0) continue;
            bool first = true;
            for (size_t p = 0; p < i && first; p++) first = strcmp(j->qs.pairs[p].key, k) != 0;
            if (!first) continue;
            jw_key(&w, k);
            jw_str(&w, j->qs.pairs[i].value);
        }
        jw_obj_end(&w);
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
    http_respond_buf(r, 200, JSON_TYPE, &b);
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

static void h_query(http_req_t *r, db_t *d) {
    query_job_t *j = xcalloc(1, sizeof *j);
    j->r = r;
    j->db = d;
    qs_parse(&j->qs, r->query ? r->query : "", r->query ? strlen(r->query) : 0);
    const char *sql = qs_get(&j->qs, "sql");
    const char *shape = qs_get(&j->qs, "_shape");
    const char *msg = NULL;
    j->limit_ms = (uint64_t)ENGINE(r)->sql_time_limit_ms;
    const char *tl = qs_get(&j->qs, "_timelimit");
    if (tl && *tl && strspn(tl, "0123456789") == strlen(tl) && strlen(tl) < 10) {
        uint64_t v = strtoull(tl, NULL, 10);
        if (v < j->limit_ms) j->limit_ms = v; /* can only lower */
    }
    j->nl = qs_get(&j->qs, "_nl") && *qs_get(&j->qs, "_nl");
    j->infinity = truthy(qs_get(&j->qs, "_json_infinity"));
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
    api_read(r, j->db, j->limit_ms * 1000, &j->out, query_run, query_reset, query_done, j);
}

/* ---- path dispatch ---------------------------------------------------- */

/* Splits off a ".json"/".csv" suffix of the last segment. */
static const char *suffix_of(const char *seg, size_t len, size_t *base) {
    static const char *sfx[] = {".json", ".csv", NULL};
    for (int i = 0; sfx[i]; i++) {
        size_t n = strlen(sfx[i]);
        if (len > n && memcmp(seg + len - n, sfx[i], n) == 0) {
            *base = len - n;
            return sfx[i];
        }
    }
    *base = len;
    return NULL;
}

static db_t *find_db(http_req_t *r, const actor_t *a, const char *seg, size_t len) {
    buf_t name = BUF_INIT;
    db_t *d = NULL;
    if (tilde_decode(seg, len, &name) == 0 && name.len && name.data[0] != '_')
        d = catalog_db_find(ENGINE(r)->catalog, name.data, DB_BY_NAME);
    buf_free(&name);
    if (!d) {
        ds_error(r, 404, "Database not found");
        return NULL;
    }
    if (!auth_check(a, d, ACT_READ)) {
        ds_error(r, 403, "You do not have permission to view this database");
        db_release(d);
        return NULL;
    }
    return d;
}

static void h_fallback(http_req_t *r) {
    actor_t a;
    if (!authenticate(r, &a)) return;
    const char *path = r->path + 1;
    const char *slash = strchr(path, '/');
    size_t len0 = slash ? (size_t)(slash - path) : strlen(path);
    if (r->method != M_GET && r->method != M_HEAD) {
        render_error(r, 405, "Method not allowed");
        return;
    }
    if (!slash) {
        /* /DB.json?sql=… → /DB/-/query.json?… (the query kept verbatim) */
        size_t base;
        const char *sfx = suffix_of(path, len0, &base);
        if (sfx && base > 0 && r->query && strstr(r->query, "sql=")) {
            buf_t loc = BUF_INIT;
            buf_printf(&loc, "/%.*s/-/query%s?%s", (int)base, path, sfx, r->query);
            http_add_header(r, "Location", loc.data);
            buf_free(&loc);
            cors(r);
            http_respond(r, 302, NULL, "", 0);
            return;
        }
        ds_error(r, 404, "Not found");
        return;
    }
    if (strcmp(slash, "/-/query.json") == 0) {
        db_t *d = find_db(r, &a, path, len0);
        if (d) h_query(r, d);
        return;
    }
    ds_error(r, 404, "Not found");
}

void datasette_register(router_t *rt) {
    router_add(rt, &datasette_dialect, M_GET | M_POST | M_PUT | M_DELETE | M_PATCH | M_OTHER, "/*", h_fallback);
}
