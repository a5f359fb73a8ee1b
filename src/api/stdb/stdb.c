/* stdb: the SpacetimeDB-style dialect (spec/spacetimedb.md). So far:
 * identities (/v1/identity…), database info, identity and names, and the
 * SQL endpoint (/v1/database/:noi/sql) with SATS-typed results. Errors are
 * text/plain unless the spec gives a JSON shape. A /v1/database request
 * without a token is served as a freshly minted identity, echoed in the
 * spacetime-identity(-token) headers. */
#include "api/stdb/stdb_internal.h"
#include "api/stdb/stdb_sats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/common.h"
#include "core/doors.h"
#include "core/auth.h"
#include "core/dbh.h"
#include "core/module.h"
#include "core/engine.h"
#include "core/sql.h"
#include "util/ids.h"
#include "util/json.h"
#include "util/timeutil.h"
#include "util/url.h"

#define ENGINE(r) ((engine_t *)(r)->app)
#define MAX_ROWS 1000
#define WS_TOKEN_TTL_S 60

static void render_error(http_req_t *r, int status, const char *message);
static void options(http_req_t *r);
static bool claims(const char *path);

const dialect_t stdb_dialect = {
    .name = "spacetimedb",
    .render_error = render_error,
    .claims = claims,
    .extra_headers = "Access-Control-Allow-Origin: *\r\n"
                     "Access-Control-Allow-Methods: *\r\n"
                     "Access-Control-Allow-Headers: Authorization, Accept, Content-Type\r\n"
                     "Access-Control-Expose-Headers: spacetime-identity, spacetime-identity-token, "
                     "spacetime-execution-duration-micros, spacetime-energy-used\r\n",
    .options = options,
};

void stdb_text(http_req_t *r, int status, const char *msg) {
    http_respond(r, status, "text/plain; charset=utf-8", msg, strlen(msg));
}

static void render_error(http_req_t *r, int status, const char *message) { stdb_text(r, status, message); }

static void options(http_req_t *r) { http_respond(r, 200, NULL, "", 0); }

static bool prefix(const char *path, const char *p) {
    size_t n = strlen(p);
    return strncmp(path, p, n) == 0 && (path[n] == 0 || path[n] == '/');
}

static bool claims(const char *path) { return prefix(path, "/v1/identity") || prefix(path, "/v1/database"); }

static bool is_hex64(const char *s) {
    if (strlen(s) != 64) return false;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
}

/* The caller: a valid token's principal, or (anonymous_mint) a new identity
 * echoed in headers. Answers 400/401 and returns false on a bad token. */
bool stdb_caller(http_req_t *r, actor_t *a, bool anonymous_mint) {
    err_t e;
    switch (api_actor(r, ENGINE(r)->catalog, API_TOKEN_QUERY | API_TOKEN_SHAPE, a, &e)) {
    case API_ACTOR: return true;
    case API_MALFORMED: stdb_text(r, 400, "Authorization is invalid: malformed token"); return false;
    case API_REJECTED: stdb_text(r, 401, "Authorization failed: invalid token"); return false;
    case API_ANONYMOUS: break;
    }
    if (!anonymous_mint) return true;
    char identity[IDENTITY_HEX_LEN + 1], token[TOKEN_MAX_LEN];
    if (auth_identity_create(ENGINE(r)->catalog, identity, token, &e) < 0 ||
        auth_verify_token(ENGINE(r)->catalog, token, a, &e) < 0) {
        stdb_text(r, 500, e.msg);
        return false;
    }
    http_add_header(r, "spacetime-identity", identity);
    http_add_header(r, "spacetime-identity-token", token);
    return true;
}

/* ---- /v1/identity ----------------------------------------------------- */

static void h_identity_new(http_req_t *r) {
    char identity[IDENTITY_HEX_LEN + 1], token[TOKEN_MAX_LEN];
    err_t e;
    if (auth_identity_create(ENGINE(r)->catalog, identity, token, &e) < 0) {
        stdb_text(r, 500, e.msg);
        return;
    }
    buf_t b = BUF_INIT;
    jw_t w;
    jw_init(&w, &b, 0);
    jw_obj_begin(&w);
    jw_key(&w, "identity");
    jw_str(&w, identity);
    jw_key(&w, "token");
    jw_str(&w, token);
    jw_obj_end(&w);
    http_respond_buf(r, 200, "application/json", &b);
}

static void ws_token_answer(http_req_t *r, const char *token, int64_t ttl, const err_t *e) {
    (void)ttl;
    if (token) api_respond_field(r, 200, "token", token);
    else stdb_text(r, 500, e->msg);
}

static void h_ws_token(http_req_t *r) {
    actor_t a;
    if (!stdb_caller(r, &a, false)) return;
    if (!a.principal_id && !a.ephemeral) {
        stdb_text(r, 401, "Authorization required");
        return;
    }
    api_derive_token(r, ENGINE(r)->catalog, &a, "websocket", "atr_", WS_TOKEN_TTL_S, NULL, 0, ws_token_answer);
}

static void h_verify(http_req_t *r) {
    actor_t a;
    buf_t id = BUF_INIT;
    if (stdb_caller(r, &a, false)) {
        if (!a.identity[0]) stdb_text(r, 401, "Authorization required");
        else if (api_capture(r, 0, &id) < 0 || !is_hex64(id.data)) stdb_text(r, 400, "Invalid identity");
        else if (strcmp(id.data, a.identity) != 0) stdb_text(r, 400, "Identity does not match the token");
        else http_respond(r, 204, NULL, "", 0);
    }
    buf_free(&id);
}

/* ---- /v1/database/:noi ------------------------------------------------ */

/* :noi is an identity (64 hex), else a name, else a ULID. 404 unless the
 * caller may read it. */
db_t *stdb_resolve(http_req_t *r, const actor_t *a) {
    buf_t key = BUF_INIT;
    db_t *d = NULL;
    bool hex = false;
    if (api_capture(r, 0, &key) == 0) {
        hex = is_hex64(key.data);
        d = api_db(ENGINE(r)->catalog, key.data, hex ? DB_BY_IDENTITY : DB_BY_NAME | DB_BY_ID, a);
    }
    doors_note_use(d, "spacetimedb");
    if (!d) {
        if (hex) {
            stdb_text(r, 404, "No such database.");
        } else {
            buf_t m = BUF_INIT;
            buf_printf(&m, "`%s` not found", key.data ? key.data : "");
            stdb_text(r, 404, m.data);
            buf_free(&m);
        }
    }
    buf_free(&key);
    return d;
}

static void h_info(http_req_t *r) {
    actor_t a;
    if (!stdb_caller(r, &a, true)) return;
    db_t *d = stdb_resolve(r, &a);
    if (d) stdb_info(r, d);
}

static void h_db_identity(http_req_t *r) {
    actor_t a;
    if (!stdb_caller(r, &a, true)) return;
    db_t *d = stdb_resolve(r, &a);
    if (!d) return;
    stdb_text(r, 200, d->identity);
    db_release(d);
}

static void h_names(http_req_t *r) {
    actor_t a;
    if (!stdb_caller(r, &a, true)) return;
    db_t *d = stdb_resolve(r, &a);
    if (!d) return;
    buf_t b = BUF_INIT;
    jw_t w;
    jw_init(&w, &b, 0);
    jw_obj_begin(&w);
    jw_key(&w, "names");
    jw_arr_begin(&w);
    jw_str(&w, d->name);
    jw_arr_end(&w);
    jw_obj_end(&w);
    db_release(d);
    http_respond_buf(r, 200, "application/json", &b);
}

/* ---- /sql ------------------------------------------------------------- */


typedef struct {
    api_write_t w; /* the write job */
    db_t *db;
    char *sql;
    uint64_t limit_us;
    uint64_t t0;
    api_out_t out; /* cols: the result column names as SQLite gives them */
    scol_t *types;
    bool *undecided; /* NUMERIC or untyped: the first row's value decides */
    store_col_meta_t *meta;
    const mdef_t *def; /* the module's column types (retained while running) */
    store_db_t *conn;  /* the connection running it (while running) */
    int64_t inserted, deleted, updated;
} sql_job_t;

/* Forgets a run's results (a partial one too, before it runs again). */
static void reset_out(void *data) {
    sql_job_t *j = data;
    api_out_reset(&j->out);
    free(j->types);
    free(j->undecided);
    free(j->meta);
    j->types = NULL, j->undecided = NULL, j->meta = NULL;
}

static void free_job(sql_job_t *j) {
    reset_out(j);
    changeset_free(&j->w.job.changes);
    free(j->sql);
    db_release(j->db);
    free(j);
}

/* Declared affinity per SQLite's rules; -1 for "decide from the value". */
int stdb_affinity_type(const char *dt) {
    if (!dt || !*dt) return -1;
    char up[64];
    size_t n = strlen(dt) < 63 ? strlen(dt) : 63;
    for (size_t i = 0; i < n; i++) up[i] = (char)((dt[i] >= 'a' && dt[i] <= 'z') ? dt[i] - 32 : dt[i]);
    up[n] = 0;
    if (strstr(up, "INT")) return T_I64;
    if (strstr(up, "CHAR") || strstr(up, "CLOB") || strstr(up, "TEXT")) return T_STRING;
    if (strstr(up, "BLOB")) return T_BYTES;
    if (strstr(up, "REAL") || strstr(up, "FLOA") || strstr(up, "DOUB")) return T_F64;
    return -1; /* NUMERIC */
}

/* A module's declared type for table.column, if it declares that column. */
static bool module_col(const mdef_t *def, const char *table, const char *column, scol_t *out) {
    for (int t = 0; def && table && t < def->ntables; t++) {
        if (strcmp(def->tables[t].name, table) != 0) continue;
        for (int c = 0; c < def->tables[t].ncols; c++)
            if (strcmp(def->tables[t].cols[c].name, column) == 0) {
                *out = (scol_t){def->tables[t].cols[c].type, def->tables[t].cols[c].optional};
                return true;
            }
    }
    return false;
}

static void on_columns(void *ctx, store_stmt_t *st, int n) {
    sql_job_t *j = ctx;
    j->out.ncols = n;
    j->out.cols = xcalloc((size_t)n, sizeof *j->out.cols);
    j->types = xcalloc((size_t)n, sizeof *j->types);
    j->undecided = xcalloc((size_t)n, sizeof *j->undecided);
    j->meta = xcalloc((size_t)n, sizeof *j->meta);
    for (int i = 0; i < n; i++) {
        j->out.cols[i] = xstrdup(store_col_name(st, i));
        store_col_meta(j->conn, st, i, &j->meta[i]);
        store_col_meta_t *m = &j->meta[i];
        if (m->is_column && module_col(j->def, m->table, m->column, &j->types[i])) continue;
        bool notnull = m->is_column && (m->not_null || m->rowid_pk);
        j->types[i] = stdb_col_affinity(m->decltype, notnull, NULL);
        j->undecided[i] = stdb_affinity_type(m->decltype) < 0;
        m->table = m->column = NULL; /* not kept past this call */
    }
}

static void on_row(void *ctx, store_stmt_t *st, int n) {
    sql_job_t *j = ctx;
    jw_t *w = &j->out.w;
    jw_arr_begin(w);
    for (int i = 0; i < n; i++) {
        store_value_t v;
        store_col_value(st, i, &v);
        if (j->undecided[i]) {
            /* No declared type: the first row's storage class decides. */
            j->types[i] = stdb_col_affinity(j->meta[i].decltype, !j->types[i].optional, &v);
            j->undecided[i] = false;
        }
        stdb_json_value(w, j->types[i], &v);
    }
    jw_arr_end(w);
}

static const sql_sink_t sink = {on_columns, on_row};

static void run(sql_job_t *j, store_db_t *db, sql_class_t max, uint64_t deadline_us) {
    j->def = module_def_acquire(j->db, db);
    j->conn = db;
    buf_init(&j->out.rows);
    jw_init(&j->out.w, &j->out.rows, 0);
    jw_arr_begin(&j->out.w);
    sql_opts_t o = {.max_class = max, .single_statement = true, .deadline_us = deadline_us, .max_rows = MAX_ROWS,
                    .out = &j->out.rows};
    j->out.rc = sql_run(db, j->sql, strlen(j->sql), &o, &sink, j, &j->out.res, &j->out.err);
    jw_arr_end(&j->out.w);
    module_def_release(j->db, j->def);
    j->def = NULL;
}

static void respond(http_req_t *r, sql_job_t *j) {
    char dur[32];
    snprintf(dur, sizeof dur, "%llu", (unsigned long long)(time_mono_us() - j->t0));
    http_add_header(r, "spacetime-execution-duration-micros", dur);
    if (j->out.res.truncated) {
        j->out.rc = -1;
        j->out.err.kind = E_BAD_INPUT;
        snprintf(j->out.err.msg, sizeof j->out.err.msg, "query returned more than %d rows; add a LIMIT", MAX_ROWS);
    }
    if (j->out.rc < 0) {
        const char *msg = j->out.err.msg;
        if (j->out.err.kind == E_TIMEOUT) msg = "query interrupted: time limit exceeded";
        else if (j->out.err.sub == ES_MANY_STATEMENTS)
            msg = "Multiple SQL statements are not supported";
        stdb_text(r, j->out.err.kind == E_INTERNAL ? 500 : 400, msg);
        free_job(j);
        return;
    }
    buf_t b = BUF_INIT;
    jw_t w;
    jw_init(&w, &b, 0);
    jw_arr_begin(&w);
    jw_obj_begin(&w);
    jw_key(&w, "schema");
    jw_obj_begin(&w);
    jw_key(&w, "elements");
    jw_arr_begin(&w);
    for (int i = 0; i < j->out.ncols; i++) {
        jw_obj_begin(&w);
        jw_key(&w, "name");
        jw_obj_begin(&w);
        jw_key(&w, "some");
        jw_str(&w, j->out.cols[i]);
        jw_obj_end(&w);
        jw_key(&w, "algebraic_type");
        stdb_write_ltype(&w, j->types[i].t, j->types[i].optional);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    jw_obj_end(&w);
    jw_key(&w, "rows");
    jw_raw(&w, j->out.rows.data, j->out.rows.len);
    jw_key(&w, "total_duration_micros");
    jw_int(&w, (int64_t)(time_mono_us() - j->t0));
    jw_key(&w, "stats");
    jw_obj_begin(&w);
    jw_key(&w, "rows_inserted");
    jw_int(&w, j->inserted);
    jw_key(&w, "rows_deleted");
    jw_int(&w, j->deleted);
    jw_key(&w, "rows_updated");
    jw_int(&w, j->updated);
    jw_obj_end(&w);
    jw_obj_end(&w);
    jw_arr_end(&w);
    http_respond_buf(r, 200, "application/json", &b);
    free_job(j);
}

static void read_run(void *data, store_db_t *c, uint64_t deadline_us) { run(data, c, SQL_READ, deadline_us); }

static void read_done(http_req_t *r, void *data) { respond(r, data); }

static int write_run(store_db_t *db, void *arg, err_t *e) {
    sql_job_t *j = arg;
    run(j, db, SQL_WRITE, time_mono_us() + j->limit_us);
    if (j->out.rc == 0 && j->out.res.truncated) {
        /* Results are never silently truncated, and a refused answer
         * should not leave its writes behind. */
        return err_set(e, E_BAD_INPUT, "query returned too many rows");
    }
    if (j->out.rc < 0) *e = j->out.err;
    return j->out.rc;
}

static void write_posted(http_req_t *r, void *data) {
    sql_job_t *j = data;
    j->inserted = j->w.job.changes.ninserts;
    j->deleted = j->w.job.changes.ndeletes;
    j->updated = j->w.job.changes.nupdates;
    respond(r, j);
}

static void h_sql(http_req_t *r) {
    actor_t a;
    if (!stdb_caller(r, &a, true)) return;
    db_t *d = stdb_resolve(r, &a);
    if (!d) return;
    sql_job_t *j = xcalloc(1, sizeof *j);
    j->db = d;
    j->t0 = time_mono_us();
    j->sql = xstrndup(r->body.data ? r->body.data : "", r->body.len);
    j->limit_us = (uint64_t)ENGINE(r)->sql_time_limit_ms * 1000;
    err_t e;
    sql_class_t cls;
    bool shared;
    store_db_t *c = api_peek_reader(d, &shared, &e);
    if (!c) {
        j->out.rc = -1;
        j->out.err = e;
        respond(r, j);
        return;
    }
    unsigned facts = 0;
    int rc = sql_inspect(c, j->sql, strlen(j->sql), true, &cls, &facts, &j->out.err);
    api_peek_done(d, c, shared);
    /* What the statement is comes from the engine's authorizer, not from
     * its text (comments or pragma_x() functions would hide it). */
    if (rc == 0 && (facts & SQL_FACT_PRAGMA)) {
        rc = err_set(&j->out.err, E_FORBIDDEN, "PRAGMA is not supported by the SQL endpoint");
    } else if (rc == 0 && cls == SQL_SCHEMA) {
        rc = err_set(&j->out.err, E_FORBIDDEN, "DDL is not supported by the SQL endpoint; publish a module");
    }
    if (rc < 0) {
        j->out.rc = -1;
        respond(r, j);
        return;
    }
    if (cls == SQL_WRITE && !auth_check(&a, d, ACT_WRITE)) {
        buf_t m = BUF_INIT;
        buf_printf(&m, "Caller %s is not authorized to run SQL DML statements", a.identity);
        stdb_text(r, 403, m.data);
        buf_free(&m);
        free_job(j);
        return;
    }
    if (cls == SQL_READ) {
        api_read(r, d, j->limit_us, &j->out, read_run, reset_out, read_done, j);
        return;
    }
    if (api_write(r, d, &j->w, write_run, &j->out, write_posted, j, &e) < 0) {
        j->out.rc = -1;
        j->out.err = e;
        respond(r, j);
    }
}

void stdb_register(router_t *rt) {
    const dialect_t *d = &stdb_dialect;
    router_add(rt, d, M_POST, "/v1/identity", h_identity_new);
    router_add(rt, d, M_POST, "/v1/identity/websocket-token", h_ws_token);
    router_add(rt, d, M_GET, "/v1/identity/:id/verify", h_verify);
    router_add(rt, d, M_GET, "/v1/database/:noi", h_info);
    router_add(rt, d, M_GET, "/v1/database/:noi/identity", h_db_identity);
    router_add(rt, d, M_GET, "/v1/database/:noi/names", h_names);
    router_add(rt, d, M_POST, "/v1/database/:noi/sql", h_sql);
    stdb_ws_register(rt, d);
    stdb_module_register(rt, d);
}
