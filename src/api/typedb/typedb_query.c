/* typedb_query: one-shot queries, POST /v1/query (spec/typedb.md §4-5).
 * A read runs on a pooled reader (on the loop first, see api_read); a write
 * or schema query is one group-commit write job, atomic across its
 * statements (the job's savepoint), rolled back on purpose when "commit" is
 * false. The envelope is {queryType, answerType, answers, query, warning}
 * with value concepts; more answers than the limit → 206 and a warning.
 * Interactive transactions (/v1/transactions/…) build on the same pieces. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/common.h"
#include "api/typedb/typedb_internal.h"
#include "core/doors.h"
#include "core/dbh.h"
#include "core/engine.h"
#include "core/sql.h"
#include "core/txn.h"
#include "core/value.h"
#include "util/ids.h"
#include "util/json.h"
#include "util/timeutil.h"

#define ENGINE(r) ((engine_t *)(r)->app)
#define DEFAULT_ANSWERS 10000
#define DEFAULT_TXN_TIMEOUT_MS 300000

typedef struct q_job {
    api_write_t w; /* the write job */
    db_t *db;
    char *sql;
    sql_class_t type; /* the transaction type asked for */
    bool commit;
    int64_t limit;
    uint64_t deadline_us;
    json_t *given; /* the givenRows row, or NULL */
    api_out_t out;
    bool executed;      /* the error (if any) happened while stepping */
    /* interactive transactions */
    char txn_id[UUID_LEN + 1];
    int64_t caller;
    actor_t actor; /* who presented this request, as narrowed by its token */
    bool opening;  /* the request opens a transaction (TXN1 says it could not) */
    int txn_rc;
    bool txn_closed;
    int64_t lock_ms, timeout_ms;
    /* waiting in the transaction's line (see turn_arrive) */
    http_req_t *r;
    txn_turn_t turn;
    bool pending;
    int ready_rc;                                 /* what ready said (read after both arrived) */
    int arrivals;                                 /* atomic */
    void (*step)(struct q_job *j);                /* runs with the turn, off the loop */
    void (*finish)(http_req_t *r, struct q_job *j); /* answers, on the loop */
} q_job_t;

static void free_job(q_job_t *j) {
    api_out_reset(&j->out);
    changeset_free(&j->w.job.changes);
    json_decref(j->given);
    free(j->sql);
    db_release(j->db);
    free(j);
}

/* ---- rows as concepts ------------------------------------------------- */

static void on_columns(void *ctx, store_stmt_t *st, int n) {
    q_job_t *j = ctx;
    j->out.ncols = n;
    j->out.cols = api_column_names(st, n, "_");
}

static void value_concept(jw_t *w, const store_value_t *v) {
    if (v->type == SV_NULL) {
        jw_null(w);
        return;
    }
    jw_obj_begin(w);
    jw_key(w, "kind");
    jw_str(w, "value");
    jw_key(w, "value");
    static const value_style_t style = {VJ_BLOB_BASE64, VJ_NONFINITE_STRING};
    value_write_json(w, v, &style);
    const char *type = v->type == SV_INT ? "integer" : v->type == SV_REAL ? "double" : "string";
    jw_key(w, "valueType");
    jw_str(w, type);
    if (v->type == SV_BLOB) {
        jw_key(w, "encoding");
        jw_str(w, "base64");
    }
    jw_obj_end(w);
}

static void on_row(void *ctx, store_stmt_t *st, int n) {
    q_job_t *j = ctx;
    jw_t *w = &j->out.w;
    jw_obj_begin(w);
    jw_key(w, "data");
    jw_obj_begin(w);
    for (int i = 0; i < n; i++) {
        store_value_t v;
        store_col_value(st, i, &v);
        jw_key(w, j->out.cols[i]);
        value_concept(w, &v);
    }
    jw_obj_end(w);
    jw_key(w, "involvedBlocks");
    jw_null(w);
    jw_obj_end(w);
}

static const sql_sink_t sink = {on_columns, on_row};

/* givenRows: string → TEXT, integer → INTEGER, real → REAL, bool → 1/0,
 * null → NULL, a base64 value concept → BLOB. Keys bind :k, @k, $k, ?NNN. */
static int bind_given(void *ctx, store_stmt_t *st, int idx, const char *name, err_t *e) {
    q_job_t *j = ctx;
    if (!j->given || !name) return 0;
    json_t *v = json_object_get(j->given, name + 1);
    if (!v) return 0;
    store_value_t sv;
    buf_t scratch = BUF_INIT;
    int kind = value_from_json(v, VJ_IN_TYPEDB, &sv, &scratch, e);
    if (kind == VALUE_SCALAR) value_bind(st, idx, &sv);
    buf_free(&scratch);
    if (kind == VALUE_COMPOSITE) return err_set_sub(e, E_BAD_INPUT, ES_UNDECODABLE, "Decoding the input failed");
    return kind < 0 ? -1 : 0;
}

static void run(void *data, store_db_t *db, uint64_t deadline_us) {
    q_job_t *j = data;
    buf_init(&j->out.rows);
    jw_init(&j->out.w, &j->out.rows, 0);
    jw_arr_begin(&j->out.w);
    sql_opts_t o = {.max_class = j->type,
                    .deadline_us = deadline_us,
                    .max_rows = j->limit,
                    .bind = bind_given,
                    .bind_ctx = j,
                    .out = &j->out.rows};
    j->out.rc = sql_run(db, j->sql, strlen(j->sql), &o, &sink, j, &j->out.res, &j->out.err);
    /* The spec answers prepare-time and execution failures differently. */
    j->executed = j->out.rc < 0 && j->out.res.step_failed;
    jw_arr_end(&j->out.w);
}

/* ---- answering -------------------------------------------------------- */

/* Answers a transaction outcome other than a query's own failure; true if
 * it did. */
static bool respond_txn_error(http_req_t *r, q_job_t *j) {
    switch (j->txn_rc) {
    case TXN_E_NOT_FOUND: tdb_error(r, 404, "TSV12", "Operation failed: no open transaction.", NULL); return true;
    case TXN_E_NOT_OWNER: tdb_forbidden(r); return true;
    case TXN_E_LOCK_TIMEOUT:
        /* Only an open (or a one-shot, which opens one) failed to open. */
        tdb_error(r, 400, "TXN1", "Transaction timeout.", j->opening ? "[TSV21] Could not open transaction." : NULL);
        return true;
    case TXN_E_EXPIRED: tdb_error(r, 408, "TSV17", "Operation failed: transaction timeout.", NULL); return true;
    case TXN_E_CLOSED: tdb_error(r, 400, "TSV13", "Execution interrupted by a concurrent close.", NULL); return true;
    case TXN_E_READ_COMMIT: tdb_error(r, 400, "TSV2", "Read transactions cannot be committed.", NULL); return true;
    case TXN_E_READ_ROLLBACK:
        tdb_error(r, 400, "TSV3", "Read transactions cannot be rolled back, since they never contain writes.", NULL);
        return true;
    case TXN_E_INTERNAL: tdb_internal(r, &j->out.err); return true;
    default: return false;
    }
}

static void respond(http_req_t *r, q_job_t *j) {
    if (respond_txn_error(r, j)) {
        free_job(j);
        return;
    }
    if (j->out.rc < 0) {
        char code[24];
        const err_t *e = &j->out.err;
        switch (e->kind) {
        case E_FORBIDDEN:
            if (e->sql_code == SQL_SCHEMA)
                tdb_error(r, 400, "TSV8", "Schema modification queries require schema transactions.", NULL);
            else if (e->sql_code == SQL_WRITE)
                tdb_error(r, 400, "TSV9",
                          "Data modification queries require either write or schema transactions.", NULL);
            else
                tdb_error(r, 400, "SQL23", e->msg, "[TSV7] Query parsing failed.");
            break;
        case E_BAD_INPUT:
            if (e->sub == ES_UNDECODABLE) tdb_error(r, 400, "TSV22", e->msg, NULL);
            else tdb_error(r, 400, "TSV7", "Query parsing failed.", NULL);
            break;
        case E_TIMEOUT: tdb_error(r, 408, "TSV17", "Operation failed: transaction timeout.", NULL); break;
        case E_TOO_BIG: tdb_error(r, 400, "TSV11", "Query failed.", e->msg); break;
        case E_SQL: {
            snprintf(code, sizeof code, "SQL%d", e->sql_code);
            int status = ((e->sql_code & 0xff) == 10 || (e->sql_code & 0xff) == 11 || (e->sql_code & 0xff) == 13)
                             ? 500 : 400;
            const char *ctx = j->w.commit_failed
                                  ? (j->type == SQL_SCHEMA
                                         ? "[TSV6] Schema transaction commit failed.\n"
                                           "[HSR18] Error while committing single-query transaction."
                                         : "[TSV5] Data transaction commit failed.\n"
                                           "[HSR18] Error while committing single-query transaction.")
                              : !j->executed ? "[TSV7] Query parsing failed."
                              : j->out.res.cls == SQL_SCHEMA ? "[TSV10] Aborting transaction due to failed schema query."
                                                          : "[TSV11] Query failed.";
            tdb_error(r, status, code, e->msg, ctx);
            break;
        }
        default: tdb_internal(r, e);
        }
        free_job(j);
        return;
    }
    bool has_rows = j->out.res.has_columns;
    bool over = j->out.res.truncated;
    buf_t b = BUF_INIT;
    jw_t w;
    jw_init(&w, &b, 0);
    jw_obj_begin(&w);
    jw_key(&w, "queryType");
    jw_str(&w, sql_class_name(j->out.res.cls));
    jw_key(&w, "answerType");
    jw_str(&w, has_rows ? "conceptRows" : "ok");
    jw_key(&w, "answers");
    if (has_rows) jw_raw(&w, j->out.rows.data, j->out.rows.len);
    else jw_null(&w);
    jw_key(&w, "query");
    jw_null(&w);
    jw_key(&w, "warning");
    if (over) {
        char msg[200];
        if (j->out.res.cls == SQL_READ)
            snprintf(msg, sizeof msg, "Read query results limit (%lld) exceeded. Not all answers are returned.",
                     (long long)j->limit);
        else
            snprintf(msg, sizeof msg,
                     "Write query results limit (%lld) exceeded. Not all answers are returned, but all the "
                     "requested writes are completed.",
                     (long long)j->limit);
        jw_str(&w, msg);
    } else {
        jw_null(&w);
    }
    jw_obj_end(&w);
    http_respond_buf(r, over ? 206 : 200, "application/json", &b);
    free_job(j);
}

static void read_reset(void *data) { api_out_reset(&((q_job_t *)data)->out); }

static void read_done(http_req_t *r, void *data) { respond(r, data); }

static int write_run(store_db_t *db, void *arg, err_t *e) {
    q_job_t *j = arg;
    run(j, db, j->deadline_us);
    if (j->out.rc < 0) {
        *e = j->out.err;
        return -1;
    }
    if (!j->commit) return err_set(e, E_OK, "dry run"); /* undo it all: commit=false */
    return 0;
}

static void write_posted(http_req_t *r, void *data) {
    q_job_t *j = data;
    if (j->w.commit_failed && j->out.err.kind != E_SQL) {
        /* it ran, but the batch failed to commit: answered as SQL error 1 */
        j->out.err.kind = E_SQL;
        j->out.err.sql_code = 1;
    }
    respond(r, j);
}

/* ---- request parsing ------------------------------------------------- */

static bool opt_int(http_req_t *r, json_t *obj, const char *key, int64_t min, int64_t *out) {
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    if (!v || json_is_null(v)) return true;
    if (!json_is_integer(v) || json_integer_value(v) < min) {
        char d[120];
        snprintf(d, sizeof d, "'%s' must be an integer >= %lld", key, (long long)min);
        tdb_bad_json(r, d);
        return false;
    }
    *out = json_integer_value(v);
    return true;
}

/* The fields opening a transaction (also part of a one-shot query):
 * databaseName, transactionType, transactionOptions. Answers HSR2 and
 * returns false when one is wrong. Timeouts are clamped to the server's. */
static bool parse_open(http_req_t *r, json_t *body, sql_class_t *cls, int64_t *timeout_ms, int64_t *lock_ms) {
    json_t *dbname = json_object_get(body, "databaseName"), *type = json_object_get(body, "transactionType");
    json_t *topts = json_object_get(body, "transactionOptions");
    const char *t = json_is_string(type) ? json_string_value(type) : "";
    *timeout_ms = DEFAULT_TXN_TIMEOUT_MS;
    *lock_ms = 10000;
    if (!json_is_string(dbname)) {
        tdb_bad_json(r, "'databaseName' must be a string");
        return false;
    }
    if (strcmp(t, "read") != 0 && strcmp(t, "write") != 0 && strcmp(t, "schema") != 0) {
        tdb_bad_json(r, "'transactionType' must be one of read, write, schema");
        return false;
    }
    if (topts && !json_is_object(topts)) {
        tdb_bad_json(r, "'transactionOptions' must be an object");
        return false;
    }
    if (!opt_int(r, topts, "transactionTimeoutMillis", 1, timeout_ms) ||
        !opt_int(r, topts, "schemaLockAcquireTimeoutMillis", 0, lock_ms))
        return false;
    if (*timeout_ms > ENGINE(r)->typedb_max_txn_timeout_ms) *timeout_ms = ENGINE(r)->typedb_max_txn_timeout_ms;
    *cls = t[0] == 'r' ? SQL_READ : t[0] == 'w' ? SQL_WRITE : SQL_SCHEMA;
    return true;
}

/* The database a transaction of class cls opens on: 404 SRV3 (+TSV21) if
 * missing or unreadable, 403 without the type's right; NULL after answering. */
static db_t *open_target(http_req_t *r, const actor_t *a, const char *name, sql_class_t cls) {
    db_t *d = api_db(ENGINE(r)->catalog, name, DB_BY_NAME, a);
    doors_note_use(d, "typedb");
    if (!d) {
        buf_t m = BUF_INIT;
        buf_printf(&m, "Database '%s' not found.", name);
        tdb_error(r, 404, "SRV3", m.data, "[TSV21] Could not open transaction.");
        buf_free(&m);
        return NULL;
    }
    unsigned need = auth_action_for(cls);
    if (!auth_check(a, d, need)) {
        tdb_forbidden(r);
        db_release(d);
        return NULL;
    }
    return d;
}

/* The query fields: query, queryOptions.answerCountLimit, givenRows. */
static bool parse_query(http_req_t *r, json_t *body, const char **sql, size_t *len, int64_t *limit, json_t **given) {
    json_t *query = json_object_get(body, "query"), *qopts = json_object_get(body, "queryOptions");
    json_t *g = json_object_get(body, "givenRows");
    *limit = DEFAULT_ANSWERS;
    *given = NULL;
    if (!json_is_string(query)) {
        tdb_bad_json(r, "'query' must be a string");
        return false;
    }
    if (qopts && !json_is_object(qopts) && !json_is_null(qopts)) {
        tdb_bad_json(r, "'queryOptions' must be an object");
        return false;
    }
    if (g && !json_is_null(g) &&
        !(json_is_array(g) && json_array_size(g) <= 1 &&
          (json_array_size(g) == 0 || json_is_object(json_array_get(g, 0))))) {
        tdb_error(r, 400, "TSV22", "Decoding the input failed", NULL);
        return false;
    }
    if (!opt_int(r, json_is_object(qopts) ? qopts : NULL, "answerCountLimit", 0, limit)) return false;
    if (*limit > ENGINE(r)->typedb_max_answers) *limit = ENGINE(r)->typedb_max_answers;
    *sql = json_string_value(query);
    *len = json_string_length(query);
    if (json_is_array(g) && json_array_size(g) == 1) *given = json_array_get(g, 0);
    return true;
}

/* The one-shot write's lock timeout passed: if it is still queued, it never
 * ran, and answers TXN1; if it runs already, its own answer comes. */
static void lock_timeout(http_req_t *r, void *data) {
    q_job_t *j = data;
    if (!dbh_cancel(j->db, &j->w.job)) return;
    j->txn_rc = TXN_E_LOCK_TIMEOUT;
    respond(r, j);
}

static void h_query(http_req_t *r) {
    actor_t a;
    if (!tdb_authenticate(r, &a)) return;
    json_t *body = tdb_body_object(r);
    if (!body) return;
    json_t *commit = json_object_get(body, "commit");
    sql_class_t cls;
    int64_t timeout_ms, lock_ms, limit;
    const char *sql;
    size_t len;
    json_t *given;
    db_t *d;
    if (commit && !json_is_boolean(commit)) {
        tdb_bad_json(r, "'commit' must be a boolean");
    } else if (parse_open(r, body, &cls, &timeout_ms, &lock_ms) &&
               parse_query(r, body, &sql, &len, &limit, &given) &&
               (d = open_target(r, &a, json_string_value(json_object_get(body, "databaseName")), cls))) {
        q_job_t *j = xcalloc(1, sizeof *j);
        j->db = d;
        j->sql = xstrndup(sql, len);
        j->type = cls;
        j->commit = !commit || json_is_true(commit);
        j->limit = limit;
        j->deadline_us = time_mono_us() + (uint64_t)timeout_ms * 1000;
        j->given = given ? json_incref(given) : NULL;
        if (cls == SQL_READ) {
            api_read(r, d, (uint64_t)timeout_ms * 1000, &j->out, run, read_reset, read_done, j);
        } else {
            j->opening = true;
            err_t e;
            if (api_write(r, d, &j->w, write_run, &j->out, write_posted, j, &e) < 0) {
                j->out.rc = -1;
                j->out.err = e;
                respond(r, j);
            } else {
                /* Waits for the writer like a transaction would, up to its
                 * lock timeout (a held writer may keep it queued). */
                http_after(r, (uint64_t)lock_ms, lock_timeout, j);
            }
        }
    }
    json_decref(body);
}

/* ---- interactive transactions --------------------------------------- */

static void respond_ok_or(http_req_t *r, q_job_t *j) {
    if (respond_txn_error(r, j)) {
        free_job(j);
        return;
    }
    if (j->txn_rc == TXN_E_COMMIT) {
        char code[24];
        snprintf(code, sizeof code, "SQL%d", j->out.err.kind == E_SQL ? j->out.err.sql_code : 1);
        tdb_error(r, 400, code, j->out.err.msg,
                  j->type == SQL_SCHEMA ? "[TSV6] Schema transaction commit failed."
                                        : "[TSV5] Data transaction commit failed.");
        free_job(j);
        return;
    }
    http_respond(r, 200, NULL, "", 0);
    free_job(j);
}

static void step_query(q_job_t *j);

/* A transaction request that must wait for its turn (or for the writer)
 * holds no thread meanwhile: the pool job that joined the line and the
 * engine's ready callback each arrive here, in either order, and the second
 * moves the request on. */
static void turn_resume(http_req_t *r, void *data);

static void turn_arrive(q_job_t *j, bool on_loop) {
    if (__atomic_add_fetch(&j->arrivals, 1, __ATOMIC_ACQ_REL) < 2) return;
    if (on_loop) turn_resume(j->r, j);
    else http_post(j->r, turn_resume, j);
}

/* Any thread, possibly under the engine's locks: only hands off. */
static void turn_ready(void *ctx, int rc) {
    q_job_t *j = ctx;
    j->ready_rc = rc;
    turn_arrive(j, false);
}

static void step_work(void *data) {
    q_job_t *j = data;
    j->step(j);
}

static void step_done(http_req_t *r, void *data) {
    q_job_t *j = data;
    if (j->pending) {
        turn_arrive(j, true);
        return;
    }
    j->finish(r, j);
}

static void turn_resume(http_req_t *r, void *data) {
    q_job_t *j = data;
    j->pending = false;
    j->txn_rc = j->ready_rc;
    if (j->txn_rc || !j->step) {
        j->finish(r, j); /* the wait failed, or an open that needs no step succeeded */
        return;
    }
    http_defer(r, step_work, step_done, j);
}

/* Joins the line; with the turn at once, runs the step here too. */
static void enter_then_step(void *data) {
    q_job_t *j = data;
    int rc = txn_enter(&j->turn, j->txn_id, &j->actor, j->step == step_query, turn_ready, j);
    j->pending = rc == TXN_PENDING;
    if (!j->pending) j->txn_rc = rc;
    if (rc == 0) j->step(j);
}

static void open_work(void *data) {
    q_job_t *j = data;
    int rc = txn_open(j->db, "typedb", j->caller, j->type, j->timeout_ms, j->lock_ms, j->txn_id, &j->turn, turn_ready, j,
                      &j->out.err);
    j->pending = rc == TXN_PENDING;
    if (!j->pending) j->txn_rc = rc;
}

static void open_finish(http_req_t *r, q_job_t *j) {
    if (respond_txn_error(r, j)) {
        free_job(j);
        return;
    }
    api_respond_field(r, 200, "transactionId", j->txn_id);
    free_job(j);
}

static void h_open(http_req_t *r) {
    actor_t a;
    if (!tdb_authenticate(r, &a)) return;
    json_t *body = tdb_body_object(r);
    if (!body) return;
    sql_class_t cls;
    int64_t timeout_ms, lock_ms;
    db_t *d;
    if (parse_open(r, body, &cls, &timeout_ms, &lock_ms) &&
        (d = open_target(r, &a, json_string_value(json_object_get(body, "databaseName")), cls))) {
        q_job_t *j = xcalloc(1, sizeof *j);
        j->opening = true;
        j->db = d;
        j->type = cls;
        j->caller = a.principal_id;
        j->timeout_ms = timeout_ms;
        j->lock_ms = lock_ms;
        j->r = r;
        j->finish = open_finish;
        http_defer(r, open_work, step_done, j);
    }
    json_decref(body);
}

/* Authenticates and validates :id; a job for it, or NULL after answering. */
static q_job_t *txn_job(http_req_t *r) {
    actor_t a;
    if (!tdb_authenticate(r, &a)) return NULL;
    buf_t id = BUF_INIT;
    if (api_capture(r, 0, &id) < 0 || !uuid_valid(id.data)) {
        tdb_error(r, 400, "HSR7", "Requested resource not found: invalid path parameter transaction-id.", NULL);
        buf_free(&id);
        return NULL;
    }
    q_job_t *j = xcalloc(1, sizeof *j);
    snprintf(j->txn_id, sizeof j->txn_id, "%s", id.data);
    j->caller = a.principal_id;
    j->actor = a;
    j->r = r;
    buf_free(&id);
    return j;
}

/* Joins the transaction's line; with the turn (now or later) runs step. */
static void enter_line(http_req_t *r, q_job_t *j, void (*step)(q_job_t *), void (*finish)(http_req_t *, q_job_t *)) {
    j->step = step;
    j->finish = finish;
    http_defer(r, enter_then_step, step_done, j);
}

static void step_query(q_job_t *j) {
    buf_init(&j->out.rows);
    jw_init(&j->out.w, &j->out.rows, 0);
    jw_arr_begin(&j->out.w);
    sql_opts_t o = {.max_rows = j->limit, .bind = bind_given, .bind_ctx = j, .out = &j->out.rows};
    j->txn_rc = txn_query(&j->turn, j->sql, strlen(j->sql), &o, &sink, j, &j->out.res, &j->txn_closed, &j->type,
                          &j->out.err);
    jw_arr_end(&j->out.w);
    if (j->txn_rc == TXN_E_QUERY) {
        j->out.rc = -1;
        j->txn_rc = 0;
        j->executed = j->out.res.step_failed;
    }
}

static void query_finish(http_req_t *r, q_job_t *j) { respond(r, j); }

static void h_txn_query(http_req_t *r) {
    q_job_t *j = txn_job(r);
    if (!j) return;
    json_t *body = tdb_body_object(r);
    const char *sql;
    size_t len;
    json_t *given;
    if (body && parse_query(r, body, &sql, &len, &j->limit, &given)) {
        j->sql = xstrndup(sql, len);
        j->given = given ? json_incref(given) : NULL;
        json_decref(body);
        enter_line(r, j, step_query, query_finish);
        return;
    }
    json_decref(body);
    free_job(j);
}

static void step_commit(q_job_t *j) { j->txn_rc = txn_commit(&j->turn, &j->type, &j->out.err); }

static void step_rollback(q_job_t *j) { j->txn_rc = txn_rollback(&j->turn, &j->out.err); }

static void close_work(void *data) {
    q_job_t *j = data;
    j->txn_rc = txn_close(j->txn_id, &j->actor);
}

static void simple_finish(http_req_t *r, q_job_t *j) { respond_ok_or(r, j); }

static void simple_done(http_req_t *r, void *data) { respond_ok_or(r, data); }

static void h_commit(http_req_t *r) {
    q_job_t *j = txn_job(r);
    if (j) enter_line(r, j, step_commit, simple_finish);
}

static void h_rollback(http_req_t *r) {
    q_job_t *j = txn_job(r);
    if (j) enter_line(r, j, step_rollback, simple_finish);
}

static void h_close(http_req_t *r) {
    q_job_t *j = txn_job(r);
    if (j) http_defer(r, close_work, simple_done, j);
}

static void h_analyze(http_req_t *r) {
    actor_t a;
    if (!tdb_authenticate(r, &a)) return;
    tdb_error(r, 501, "SRV1", "Not implemented: query analysis needs TypeQL; Atrium speaks SQL.", NULL);
}

void typedb_query_register(router_t *rt) {
    const dialect_t *d = &typedb_dialect;
    router_add(rt, d, M_POST, "/v1/query", h_query);
    router_add(rt, d, M_POST, "/v1/transactions/open", h_open);
    router_add(rt, d, M_POST, "/v1/transactions/:id/query", h_txn_query);
    router_add(rt, d, M_POST, "/v1/transactions/:id/commit", h_commit);
    router_add(rt, d, M_POST, "/v1/transactions/:id/rollback", h_rollback);
    router_add(rt, d, M_POST, "/v1/transactions/:id/close", h_close);
    router_add(rt, d, M_POST, "/v1/transactions/:id/analyze", h_analyze);
}
