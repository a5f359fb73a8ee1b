/* stdb_ws: GET /v1/database/:noi/subscribe, the v1.json.spacetimedb
 * WebSocket protocol (spec/spacetimedb.md §4): subscriptions over
 * core/subs, one-off queries, and the replies and updates as JSON text
 * frames. A session is the WebSocket, its core/subs client and who it is.
 *
 * Threads: messages arrive on the connection's loop; set replies are
 * formatted on the database's writer thread and updates on the fan-out
 * thread, then posted to the loop (ws_post) as finished frames, so nothing
 * heavy runs on the loop. A session is reference-counted: the WebSocket's
 * side, the subs client's side, and each reply or work in flight. */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/common.h"
#include "api/stdb/stdb_internal.h"
#include "core/dbh.h"
#include "core/engine.h"
#include "core/module.h"
#include "core/subs.h"
#include "net/ws.h"
#include "util/ids.h"
#include "util/json.h"
#include "util/timeutil.h"
#include "util/url.h"

#define ENGINE(r) ((engine_t *)(r)->app)
#define LEGACY_SET (UINT64_C(1) << 32) /* Subscribe's set; query ids are u32 */

static const char *const protocols[] = {"v1.json.spacetimedb", NULL};

typedef struct {
    ws_t *ws;
    db_t *db;
    subs_client_t *subs;
    bool has_connect, has_disconnect; /* the module's lifecycle hooks */
    bool privileged;                  /* the owner or an admin: private tables too */
    char identity[IDENTITY_HEX_LEN + 1];
    char token[TOKEN_MAX_LEN];
    uint8_t conn_id[16]; /* big-endian u128 */
    bool light;
    int refs; /* atomic */
    /* the loop's: messages waiting while a large one is parsed on the pool,
     * in arrival order (parsing them in order keeps replies in order) */
    struct inmsg *backlog, *backlog_tail;
    size_t backlog_bytes;
    bool parsing;
} sess_t;

static void sess_retain(sess_t *s) { __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED); }

static void sess_release(sess_t *s) {
    if (__atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
    if (s->ws) ws_release(s->ws);
    db_release(s->db);
    sodium_memzero(s->token, sizeof s->token);
    free(s);
}

/* ---- SATS-JSON ------------------------------------------------------------ */

/* {"<kind>":{ … — a server message's envelope; msg_end closes both. */
static void msg_begin(buf_t *b, jw_t *w, const char *kind) {
    *b = (buf_t)BUF_INIT;
    jw_init(w, b, 0);
    jw_obj_begin(w);
    jw_key(w, kind);
    jw_obj_begin(w);
}

static void msg_end(jw_t *w) {
    jw_obj_end(w);
    jw_obj_end(w);
}

static void write_none(jw_t *w);

/* {"some":v} or {"none":[]}. */
static void write_some_int(jw_t *w, bool some, int64_t v) {
    if (!some) {
        write_none(w);
        return;
    }
    jw_obj_begin(w);
    jw_key(w, "some");
    jw_int(w, v);
    jw_obj_end(w);
}

/* Option<T>'s none: {"none":[]}. */
static void write_none(jw_t *w) {
    jw_obj_begin(w);
    jw_key(w, "none");
    jw_arr_begin(w);
    jw_arr_end(w);
    jw_obj_end(w);
}

/* u128 (big-endian bytes) in decimal. */
static void u128_dec(const uint8_t be[16], char out[48]) {
    uint8_t n[16];
    memcpy(n, be, 16);
    char tmp[48];
    int len = 0;
    for (;;) {
        unsigned rem = 0;
        bool zero = true;
        for (int i = 0; i < 16; i++) {
            unsigned cur = rem * 256 + n[i];
            n[i] = (uint8_t)(cur / 10);
            rem = cur % 10;
            if (n[i]) zero = false;
        }
        tmp[len++] = (char)('0' + rem);
        if (zero) break;
    }
    for (int i = 0; i < len; i++) out[i] = tmp[len - 1 - i];
    out[len] = 0;
}

static void write_identity(jw_t *w, const char *hex) {
    char v[IDENTITY_HEX_LEN + 3];
    snprintf(v, sizeof v, "0x%s", hex);
    jw_obj_begin(w);
    jw_key(w, "__identity__");
    jw_str(w, v);
    jw_obj_end(w);
}

static void write_conn_id(jw_t *w, const uint8_t id[16]) {
    char dec[48];
    u128_dec(id, dec);
    jw_obj_begin(w);
    jw_key(w, "__connection_id__");
    jw_raw(w, dec, strlen(dec));
    jw_obj_end(w);
}

static void write_duration(jw_t *w, const char *key, uint64_t micros) {
    jw_key(w, key);
    jw_obj_begin(w);
    jw_key(w, "__time_duration_micros__");
    jw_int(w, (int64_t)micros);
    jw_obj_end(w);
}

/* One row as the string of its SATS-JSON array. */
static void write_row(jw_t *w, const subs_rows_t *rs, size_t i) {
    buf_t b = BUF_INIT;
    jw_t rw;
    jw_init(&rw, &b, 0);
    jw_arr_begin(&rw);
    const store_value_t *row = &rs->vals[i * (size_t)rs->ncols];
    for (int c = 0; c < rs->ncols; c++) {
        const store_value_t *v = &row[c];
        int t = stdb_affinity_type(rs->decltypes[c]);
        if (t < 0)
            t = v->type == SV_INT ? T_I64 : v->type == SV_REAL ? T_F64 : v->type == SV_BLOB ? T_BYTES : T_STRING;
        if (!rs->notnull[c]) {
            if (v->type == SV_NULL) {
                write_none(&rw);
            } else {
                jw_obj_begin(&rw);
                jw_key(&rw, "some");
                stdb_write_typed(&rw, (sats_t)t, v);
                jw_obj_end(&rw);
            }
        } else if (v->type == SV_NULL) {
            jw_null(&rw);
        } else {
            stdb_write_typed(&rw, (sats_t)t, v);
        }
    }
    jw_arr_end(&rw);
    jw_strn(w, b.data, b.len);
    buf_free(&b);
}

static void write_rows(jw_t *w, const subs_rows_t *rs) {
    jw_arr_begin(w);
    for (size_t i = 0; rs && i < rs->n; i++) write_row(w, rs, i);
    jw_arr_end(w);
}

/* A TableUpdate: one `updates` entry per query (dels[i]/ins[i]). */
static void write_tu(jw_t *w, const subs_rows_t *first, const subs_rows_t *const *dels,
                     const subs_rows_t *const *ins, size_t n) {
    size_t rows = 0;
    for (size_t i = 0; i < n; i++) rows += (dels[i] ? dels[i]->n : 0) + (ins[i] ? ins[i]->n : 0);
    jw_obj_begin(w);
    jw_key(w, "table_id");
    jw_int(w, first->table_id);
    jw_key(w, "table_name");
    jw_str(w, first->table);
    jw_key(w, "num_rows");
    jw_int(w, (int64_t)rows);
    jw_key(w, "updates");
    jw_arr_begin(w);
    for (size_t i = 0; i < n; i++) {
        jw_obj_begin(w);
        jw_key(w, "deletes");
        write_rows(w, dels[i]);
        jw_key(w, "inserts");
        write_rows(w, ins[i]);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_obj_end(w);
}

/* [TU…]: query i's rows are dels[i] and ins[i] (either may be NULL);
 * grouped by table, first-seen order, one `updates` entry per query. */
static void write_tables(jw_t *w, const subs_rows_t *const *dels, const subs_rows_t *const *ins, size_t n) {
    jw_arr_begin(w);
    bool *done = xcalloc(n + 1, sizeof *done);
    const subs_rows_t **gd = xcalloc(n + 1, sizeof *gd), **gi = xcalloc(n + 1, sizeof *gi);
    for (size_t i = 0; i < n; i++) {
        if (done[i]) continue;
        const subs_rows_t *first = dels[i] ? dels[i] : ins[i];
        size_t k = 0;
        for (size_t j = i; j < n; j++) {
            const subs_rows_t *other = dels[j] ? dels[j] : ins[j];
            if (done[j] || strcmp(other->table, first->table) != 0) continue;
            done[j] = true;
            gd[k] = dels[j];
            gi[k] = ins[j];
            k++;
        }
        write_tu(w, first, gd, gi, k);
    }
    free(done);
    free(gd);
    free(gi);
    jw_arr_end(w);
}

/* The same from per-query rows: as inserts, or (unsubscribe replies) as
 * deletes. */
static void write_tables_of_rows(jw_t *w, const subs_rows_t *rows, size_t n, bool as_deletes) {
    const subs_rows_t **some = xcalloc(n + 1, sizeof *some), **none = xcalloc(n + 1, sizeof *none);
    for (size_t i = 0; i < n; i++) some[i] = &rows[i];
    write_tables(w, as_deletes ? some : none, as_deletes ? none : some, n);
    free(some);
    free(none);
}

/* ---- sending ----------------------------------------------------------- */

static void send_posted(ws_t *ws, void *ctx, void *data) {
    (void)ctx;
    buf_t *b = data;
    ws_send(ws, false, b->data, b->len);
    buf_free(b);
    free(b);
}

static void drop_buf(void *data) {
    buf_t *b = data;
    buf_free(b);
    free(b);
}

/* From any thread: sends b's bytes (taken) as one text frame. */
static void post_frame(sess_t *s, buf_t *b) {
    buf_t *m = xmalloc(sizeof *m);
    *m = *b;
    *b = (buf_t)BUF_INIT;
    ws_post(s->ws, send_posted, m, drop_buf);
}

static void close_posted(ws_t *ws, void *ctx, void *data) {
    (void)ctx;
    int code = (int)(intptr_t)data;
    ws_close(ws, code, code == 1012 ? "database cleared" : "database deleted");
}

static void subscription_error(sess_t *s, bool has_req, uint32_t request_id, bool has_query, uint64_t query_id,
                               const char *msg, uint64_t micros) {
    buf_t b;
    jw_t w;
    msg_begin(&b, &w, "SubscriptionError");
    jw_key(&w, "total_host_execution_duration_micros");
    jw_int(&w, (int64_t)micros);
    jw_key(&w, "request_id");
    write_some_int(&w, has_req, request_id);
    jw_key(&w, "query_id");
    write_some_int(&w, has_query, (int64_t)query_id);
    jw_key(&w, "table_id");
    write_none(&w);
    jw_key(&w, "error");
    jw_str(&w, msg);
    msg_end(&w);
    post_frame(s, &b);
}

/* ---- subs callbacks ------------------------------------------------------ */

static void write_tx_tail(jw_t *w, const char *reducer, const char *args, uint32_t request_id,
                          const char *caller_identity, const uint8_t *caller_conn, int64_t micros) {
    jw_key(w, "timestamp");
    jw_obj_begin(w);
    jw_key(w, "__timestamp_micros_since_unix_epoch__");
    jw_int(w, (int64_t)time_now_us());
    jw_obj_end(w);
    jw_key(w, "caller_identity");
    write_identity(w, caller_identity);
    jw_key(w, "caller_connection_id");
    static const uint8_t zero[16];
    write_conn_id(w, caller_conn ? caller_conn : zero);
    jw_key(w, "reducer_call");
    jw_obj_begin(w);
    jw_key(w, "reducer_name");
    jw_str(w, reducer);
    jw_key(w, "reducer_id");
    jw_int(w, 0);
    jw_key(w, "args");
    jw_str(w, args);
    jw_key(w, "request_id");
    jw_int(w, request_id);
    jw_obj_end(w);
    jw_key(w, "energy_quanta_used");
    jw_obj_begin(w);
    jw_key(w, "quanta");
    jw_int(w, 0);
    jw_obj_end(w);
    write_duration(w, "total_host_execution_duration", (uint64_t)micros);
}

static const char zero_identity[IDENTITY_HEX_LEN + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

/* Fan-out thread only: the last update formatted, reused for the next
 * session that gets the very same one (sessions sharing a query in one
 * job), and the sends not yet handed to the loops. */
static struct {
    bool light, caller;
    const subs_origin_t *o;
    size_t n;
    uint64_t stamps[8];
    ws_msg_t *msg;
    ws_batch_t *batch;
} last;

/* Sends handed over this often within one job, so the loops start writing
 * while the rest are formed. */
#define FAN_CHUNK 128

static bool same_as_last(const subs_delta_t *d, size_t n, const subs_origin_t *o, bool light, bool caller) {
    if (!last.msg || n == 0 || n > 8 || last.n != n || last.o != o || last.light != light || last.caller != caller)
        return false;
    for (size_t i = 0; i < n; i++)
        if (last.stamps[i] != d[i].stamp) return false;
    return true;
}

static void format_update(jw_t *w, const sess_t *s, const subs_delta_t *d, size_t n, const subs_origin_t *o) {
    jw_obj_begin(w);
    if (s->light) {
        jw_key(w, "TransactionUpdateLight");
        jw_obj_begin(w);
        jw_key(w, "request_id");
        jw_int(w, o && o->caller == s->subs ? o->request_id : 0);
        jw_key(w, "update");
    } else {
        jw_key(w, "TransactionUpdate");
        jw_obj_begin(w);
        jw_key(w, "status");
        jw_obj_begin(w);
        jw_key(w, "Committed");
    }
    jw_obj_begin(w);
    jw_key(w, "tables");
    const subs_rows_t **dels = xcalloc(n + 1, sizeof *dels), **ins = xcalloc(n + 1, sizeof *ins);
    for (size_t i = 0; i < n; i++) dels[i] = &d[i].deletes, ins[i] = &d[i].inserts;
    write_tables(w, dels, ins, n);
    free(dels);
    free(ins);
    jw_obj_end(w);
    if (s->light) {
        jw_obj_end(w);
    } else {
        jw_obj_end(w); /* status */
        if (o) write_tx_tail(w, o->reducer, o->args, o->request_id, o->identity, o->conn_id, o->micros);
        else write_tx_tail(w, "", "[]", 0, zero_identity, NULL, 0);
        jw_obj_end(w);
    }
    jw_obj_end(w);
}

/* Fan-out thread: a committed job's matches → TransactionUpdate(Light). */
static void on_update(void *ctx, const subs_delta_t *d, size_t n, const subs_origin_t *o) {
    sess_t *s = ctx;
    bool caller = o && o->caller == s->subs;
    if (!same_as_last(d, n, o, s->light, caller)) {
        buf_t b = BUF_INIT;
        jw_t w;
        jw_init(&w, &b, 0);
        format_update(&w, s, d, n, o);
        ws_msg_release(last.msg);
        last.msg = ws_msg_new(false, b.data, b.len);
        buf_free(&b);
        last.light = s->light, last.caller = caller, last.o = o, last.n = n;
        for (size_t i = 0; i < n && i < 8; i++) last.stamps[i] = d[i].stamp;
    }
    if (!last.batch) last.batch = ws_batch_new();
    ws_batch_add(last.batch, s->ws, last.msg);
    if (ws_batch_size(last.batch) >= FAN_CHUNK) ws_batch_flush(last.batch);
}

static void on_flush(void) {
    if (last.batch) ws_batch_flush(last.batch);
}

static void on_error(void *ctx, uint64_t set_id, const char *msg) {
    sess_t *s = ctx;
    subscription_error(s, false, 0, set_id != LEGACY_SET, set_id, msg, 0);
}

static void on_gone(void *ctx, int code) {
    sess_t *s = ctx;
    ws_post(s->ws, close_posted, (void *)(intptr_t)code, NULL);
}

static void on_free(void *ctx) { sess_release(ctx); }

static const subs_ops_t ops = {on_update, on_error, on_gone, on_free, on_flush};

/* ---- set replies (writer thread) ------------------------------------------- */

typedef enum { R_SUBSCRIBE, R_SINGLE, R_MULTI, R_UNSUB, R_UNSUB_MULTI } reply_kind_t;

typedef struct {
    sess_t *s;
    reply_kind_t kind;
    uint32_t request_id;
    uint64_t query_id;
} reply_t;

static void on_reply(void *ctx, int rc, const err_t *e, const subs_rows_t *rows, size_t n, uint64_t micros) {
    reply_t *rp = ctx;
    sess_t *s = rp->s;
    if (rc < 0) {
        bool has_query = rp->kind != R_SUBSCRIBE;
        subscription_error(s, true, rp->request_id, has_query, rp->query_id, e->msg, micros);
    } else {
        static const char *const names[] = {"InitialSubscription", "SubscribeApplied", "SubscribeMultiApplied",
                                            "UnsubscribeApplied", "UnsubscribeMultiApplied"};
        bool unsub = rp->kind == R_UNSUB || rp->kind == R_UNSUB_MULTI;
        buf_t b;
        jw_t w;
        msg_begin(&b, &w, names[rp->kind]);
        jw_key(&w, "request_id");
        jw_int(&w, rp->request_id);
        if (rp->kind == R_SUBSCRIBE) {
            jw_key(&w, "database_update");
            jw_obj_begin(&w);
            jw_key(&w, "tables");
            write_tables_of_rows(&w, rows, n, false);
            jw_obj_end(&w);
            write_duration(&w, "total_host_execution_duration", micros);
        } else {
            jw_key(&w, "total_host_execution_duration_micros");
            jw_int(&w, (int64_t)micros);
            jw_key(&w, "query_id");
            jw_obj_begin(&w);
            jw_key(&w, "id");
            jw_int(&w, (int64_t)rp->query_id);
            jw_obj_end(&w);
            if (rp->kind == R_SINGLE || rp->kind == R_UNSUB) {
                jw_key(&w, "rows");
                jw_obj_begin(&w);
                jw_key(&w, "table_id");
                jw_int(&w, n ? rows[0].table_id : 0);
                jw_key(&w, "table_name");
                jw_str(&w, n ? rows[0].table : "");
                jw_key(&w, "table_rows");
                if (n) {
                    const subs_rows_t *one = &rows[0];
                    const subs_rows_t *none = NULL;
                    write_tu(&w, one, unsub ? &one : &none, unsub ? &none : &one, 1);
                } else {
                    jw_null(&w);
                }
                jw_obj_end(&w);
            } else {
                jw_key(&w, "update");
                jw_obj_begin(&w);
                jw_key(&w, "tables");
                write_tables_of_rows(&w, rows, n, unsub);
                jw_obj_end(&w);
            }
        }
        msg_end(&w);
        post_frame(s, &b);
    }
    sess_release(s);
    free(rp);
}

/* ---- messages (loop) --------------------------------------------------------- */

static void fail_frame(ws_t *ws, const char *why) {
    ws_close(ws, 1011, why); /* cut to 123 bytes there */
}

static bool get_u32(json_t *o, const char *k, uint32_t *out) {
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > UINT32_MAX) return false;
    *out = (uint32_t)json_integer_value(v);
    return true;
}

static bool get_query_id(json_t *o, uint64_t *out) {
    json_t *q = json_object_get(o, "query_id");
    uint32_t id;
    if (!json_is_object(q) || !get_u32(q, "id", &id)) return false;
    *out = id;
    return true;
}

static void start_set(ws_t *ws, sess_t *s, reply_kind_t kind, uint32_t request_id, uint64_t set_id,
                      const char *const *queries, size_t n) {
    reply_t *rp = xcalloc(1, sizeof *rp);
    rp->s = s;
    rp->kind = kind;
    rp->request_id = request_id;
    rp->query_id = set_id;
    sess_retain(s);
    err_t e;
    int rc = kind == R_UNSUB || kind == R_UNSUB_MULTI
                 ? subs_remove(s->subs, set_id, on_reply, rp, &e)
                 : subs_add(s->subs, set_id, kind == R_SUBSCRIBE, queries, n, on_reply, rp, &e);
    (void)ws;
    (void)rc; /* a job that could not be queued has replied already */
}

typedef struct {
    sess_t *s;
    char *message_id, *query;
    buf_t out;
    uint64_t micros;
} once_t;

static void once_rows(void *ctx, const subs_rows_t *rows) {
    once_t *o = ctx;
    jw_t w;
    jw_init(&w, &o->out, 0);
    jw_obj_begin(&w);
    jw_key(&w, "table_name");
    jw_str(&w, rows->table);
    jw_key(&w, "rows");
    write_rows(&w, rows);
    jw_obj_end(&w);
}

static void once_work(void *data) {
    once_t *o = data;
    uint64_t t0 = time_mono_us();
    err_t e;
    store_db_t *c = dbh_reader(o->s->db, &e);
    buf_t tables = BUF_INIT;
    int rc = -1;
    if (c) {
        o->out = (buf_t)BUF_INIT;
        rc = subs_query_once(o->s->db, c, o->query, o->s->identity, o->s->privileged, once_rows, o, &e);
        tables = o->out;
        dbh_reader_put(o->s->db, c);
    }
    o->micros = time_mono_us() - t0;
    buf_t b;
    jw_t w;
    msg_begin(&b, &w, "OneOffQueryResponse");
    jw_key(&w, "message_id");
    jw_str(&w, o->message_id);
    jw_key(&w, "error");
    if (rc < 0) {
        jw_obj_begin(&w);
        jw_key(&w, "some");
        jw_str(&w, e.msg);
        jw_obj_end(&w);
    } else {
        write_none(&w);
    }
    jw_key(&w, "tables");
    jw_arr_begin(&w);
    if (rc == 0 && tables.len) jw_raw(&w, tables.data, tables.len);
    jw_arr_end(&w);
    write_duration(&w, "total_host_execution_duration", o->micros);
    msg_end(&w);
    buf_free(&tables);
    o->out = b;
}

static void once_done(ws_t *ws, void *ctx, void *data) {
    (void)ctx;
    once_t *o = data;
    if (!ws_closing(ws)) ws_send(ws, false, o->out.data, o->out.len);
    buf_free(&o->out);
    free(o->message_id);
    free(o->query);
    sess_release(o->s);
    free(o);
}

/* Any thread: the caller's TransactionUpdate for a call that failed. */
static void call_failed(sess_t *s, const char *reducer, const char *args, uint32_t request_id, const char *msg,
                        int64_t micros) {
    buf_t b;
    jw_t w;
    msg_begin(&b, &w, "TransactionUpdate");
    jw_key(&w, "status");
    jw_obj_begin(&w);
    jw_key(&w, "Failed");
    jw_str(&w, msg);
    jw_obj_end(&w);
    write_tx_tail(&w, reducer, args, request_id, s->identity, s->conn_id, micros);
    msg_end(&w);
    post_frame(s, &b);
}

/* A reducer called over the WebSocket: one write job, its origin the
 * session, so the caller hears of the commit from the fan-out (with its
 * own rows), or of a failure from the job's done. */
typedef struct {
    write_job_t job; /* first */
    sess_t *s;
    char *reducer, *args;
    json_t *argv;
    uint32_t request_id;
    uint64_t t0;
} wcall_t;

static void conn_hex(const sess_t *s, char out[33]) { hex_encode(s->conn_id, 16, out); }

static int wcall_run(store_db_t *c, void *arg, err_t *e) {
    wcall_t *k = arg;
    char conn[33];
    conn_hex(k->s, conn);
    lcall_t who = {.sender = k->s->identity, .connection_id = conn, .db_identity = k->s->db->identity,
                   .timestamp_us = time_now_us()};
    int rc = module_call(k->s->db, c, k->reducer, k->argv, &who, e);
    if (k->job.origin) ((subs_origin_t *)k->job.origin)->micros = (int64_t)(time_mono_us() - k->t0);
    return rc;
}

static void wcall_done(write_job_t *job) {
    wcall_t *k = (wcall_t *)job;
    if (job->rc < 0) call_failed(k->s, k->reducer, k->args, k->request_id, job->err.msg, (int64_t)(time_mono_us() - k->t0));
    subs_origin_free(job->origin); /* left if it did not commit */
    changeset_free(&job->changes);
    json_decref(k->argv);
    free(k->reducer);
    free(k->args);
    sess_release(k->s);
    free(k);
}

/* argv: args parsed (taken; NULL if they are not JSON). */
static void call_reducer(sess_t *s, const char *reducer, const char *args, json_t *argv, uint32_t request_id,
                         bool quiet) {
    if (!json_is_array(argv) && !json_is_object(argv)) {
        json_decref(argv);
        call_failed(s, reducer, args, request_id, "invalid arguments: a JSON array or object", 0);
        return;
    }
    wcall_t *k = xcalloc(1, sizeof *k);
    k->s = s;
    sess_retain(s);
    k->reducer = xstrdup(reducer);
    k->args = xstrdup(args);
    k->argv = argv;
    k->request_id = request_id;
    k->t0 = time_mono_us();
    k->job.run = wcall_run;
    k->job.done = wcall_done;
    k->job.arg = k;
    k->job.origin = subs_origin_new(s->subs, reducer, args, request_id, s->identity, s->conn_id, quiet);
    err_t e;
    if (dbh_submit(s->db, &k->job, &e) < 0) {
        k->job.rc = -1;
        k->job.err = e;
        wcall_done(&k->job);
    }
}

/* ---- inbound messages --------------------------------------------------- */

/* Messages up to this size are parsed on the loop; larger ones (up to the
 * 32 MiB frame limit) on the pool, so no client stalls the loop. */
#define PARSE_INLINE_MAX (64u << 10)
/* Bytes of later messages a session may have waiting meanwhile. */
#define BACKLOG_MAX (64u << 20)

typedef struct inmsg {
    struct inmsg *next;
    char *raw; /* while waiting */
    size_t n;
    bool binary;
    json_t *m;    /* parsed */
    json_t *argv; /* a CallReducer's args, parsed too */
    json_error_t je;
} inmsg_t;

/* Any thread: the parsing, all of it. */
static void parse_msg(inmsg_t *x, const char *p, size_t n) {
    if (x->binary) return;
    x->m = json_loadb(p, n, JSON_REJECT_DUPLICATES, &x->je);
    json_t *call = json_object_size(x->m) == 1 ? json_object_get(x->m, "CallReducer") : NULL;
    const char *args = json_string_value(json_object_get(call, "args"));
    if (args) {
        json_error_t je;
        x->argv = *args ? json_loads(args, JSON_DECODE_ANY, &je) : json_array();
    }
}

static void inmsg_free(inmsg_t *x) {
    json_decref(x->m);
    json_decref(x->argv);
    free(x->raw);
    free(x);
}

static void dispatch(ws_t *ws, sess_t *s, inmsg_t *x) {
    if (x->binary) {
        fail_frame(ws, "binary frames are not part of v1.json.spacetimedb");
        return;
    }
    json_t *m = x->m;
    const char *kind = NULL;
    json_t *body = NULL;
    if (json_is_object(m) && json_object_size(m) == 1) {
        void *it = json_object_iter(m);
        kind = json_object_iter_key(it);
        body = json_object_iter_value(it);
    }
    if (!kind || !json_is_object(body)) {
        fail_frame(ws, m ? "a message is an object with one key naming its kind" : x->je.text);
        return;
    }
    uint32_t request_id = 0;
    uint64_t query_id = 0;
    if (strcmp(kind, "Subscribe") == 0 || strcmp(kind, "SubscribeMulti") == 0) {
        json_t *qs = json_object_get(body, "query_strings");
        bool multi = kind[9] == 'M';
        size_t nq = json_array_size(qs), i;
        json_t *q;
        bool ok = json_is_array(qs) && get_u32(body, "request_id", &request_id) &&
                  (!multi || get_query_id(body, &query_id));
        json_array_foreach(qs, i, q) ok = ok && json_is_string(q);
        if (!ok) {
            fail_frame(ws, multi ? "SubscribeMulti needs query_strings, request_id and query_id"
                                 : "Subscribe needs query_strings and request_id");
        } else {
            const char **texts = xcalloc(nq + 1, sizeof *texts);
            json_array_foreach(qs, i, q) texts[i] = json_string_value(q);
            start_set(ws, s, multi ? R_MULTI : R_SUBSCRIBE, request_id, multi ? query_id : LEGACY_SET, texts, nq);
            free(texts);
        }
    } else if (strcmp(kind, "SubscribeSingle") == 0) {
        json_t *q = json_object_get(body, "query");
        if (!json_is_string(q) || !get_u32(body, "request_id", &request_id) || !get_query_id(body, &query_id)) {
            fail_frame(ws, "SubscribeSingle needs query, request_id and query_id");
        } else {
            const char *text = json_string_value(q);
            start_set(ws, s, R_SINGLE, request_id, query_id, &text, 1);
        }
    } else if (strcmp(kind, "Unsubscribe") == 0 || strcmp(kind, "UnsubscribeMulti") == 0) {
        if (!get_u32(body, "request_id", &request_id) || !get_query_id(body, &query_id))
            fail_frame(ws, "Unsubscribe needs request_id and query_id");
        else start_set(ws, s, kind[11] == 'M' ? R_UNSUB_MULTI : R_UNSUB, request_id, query_id, NULL, 0);
    } else if (strcmp(kind, "OneOffQuery") == 0) {
        json_t *id = json_object_get(body, "message_id"), *q = json_object_get(body, "query_string");
        if (!json_is_string(id) || !json_is_string(q)) {
            fail_frame(ws, "OneOffQuery needs message_id and query_string");
        } else {
            once_t *o = xcalloc(1, sizeof *o);
            o->s = s;
            sess_retain(s);
            o->message_id = xstrdup(json_string_value(id));
            o->query = xstrdup(json_string_value(q));
            ws_defer(ws, once_work, once_done, o);
        }
    } else if (strcmp(kind, "CallReducer") == 0) {
        json_t *name = json_object_get(body, "reducer"), *args = json_object_get(body, "args");
        if (!json_is_string(name) || !json_is_string(args) || !get_u32(body, "request_id", &request_id)) {
            fail_frame(ws, "CallReducer needs reducer, args and request_id");
        } else {
            json_t *flags = json_object_get(body, "flags");
            bool quiet = json_is_integer(flags) && json_integer_value(flags) == 1;
            call_reducer(s, json_string_value(name), json_string_value(args), x->argv, request_id, quiet);
            x->argv = NULL;
        }
    } else if (strcmp(kind, "CallProcedure") == 0) {
        get_u32(body, "request_id", &request_id);
        buf_t b;
        jw_t w;
        msg_begin(&b, &w, "ProcedureResult");
        jw_key(&w, "status");
        jw_obj_begin(&w);
        jw_key(&w, "InternalError");
        jw_str(&w, "procedures are not supported");
        jw_obj_end(&w);
        jw_key(&w, "timestamp");
        jw_obj_begin(&w);
        jw_key(&w, "__timestamp_micros_since_unix_epoch__");
        jw_int(&w, (int64_t)time_now_us());
        jw_obj_end(&w);
        write_duration(&w, "total_host_execution_duration", 0);
        jw_key(&w, "request_id");
        jw_int(&w, request_id);
        msg_end(&w);
        ws_send(ws, false, b.data, b.len);
        buf_free(&b);
    } else {
        char why[124];
        snprintf(why, sizeof why, "unknown message kind: %.80s", kind);
        fail_frame(ws, why);
    }
}

static void parse_work(void *data) {
    inmsg_t *x = data;
    parse_msg(x, x->raw, x->n);
    free(x->raw);
    x->raw = NULL;
}

static void drain_backlog(ws_t *ws, sess_t *s);

static void parse_done(ws_t *ws, void *ctx, void *data) {
    sess_t *s = ctx;
    s->parsing = false;
    if (!ws_closing(ws)) dispatch(ws, s, data);
    inmsg_free(data);
    drain_backlog(ws, s);
    sess_release(s); /* the parse's */
}

/* Loop: the next messages in order, until one must go to the pool. */
static void drain_backlog(ws_t *ws, sess_t *s) {
    while (s->backlog && !s->parsing) {
        inmsg_t *x = s->backlog;
        s->backlog = x->next;
        if (!s->backlog) s->backlog_tail = NULL;
        s->backlog_bytes -= x->n;
        if (ws_closing(ws)) {
            inmsg_free(x);
        } else if (x->n > PARSE_INLINE_MAX && !x->binary) {
            s->parsing = true;
            sess_retain(s);
            ws_defer(ws, parse_work, parse_done, x);
        } else {
            parse_msg(x, x->raw, x->n);
            dispatch(ws, s, x);
            inmsg_free(x);
        }
    }
}

static void on_message(ws_t *ws, void *ctx, bool binary, const char *p, size_t n) {
    sess_t *s = ctx;
    if (!s->parsing && n <= PARSE_INLINE_MAX) {
        inmsg_t x = {.binary = binary};
        parse_msg(&x, p, n);
        dispatch(ws, s, &x);
        json_decref(x.m);
        json_decref(x.argv);
        return;
    }
    if (s->backlog_bytes + n > BACKLOG_MAX) {
        ws_close(ws, 1008, "too many messages waiting");
        return;
    }
    inmsg_t *x = xcalloc(1, sizeof *x);
    x->raw = xmalloc(n + 1);
    memcpy(x->raw, p, n);
    x->n = n;
    x->binary = binary;
    if (s->backlog_tail) s->backlog_tail->next = x;
    else s->backlog = x;
    s->backlog_tail = x;
    s->backlog_bytes += n;
    drain_backlog(ws, s);
}

/* Writer: client_disconnected, after the session closed (errors are
 * only logged, by the runtime). */
typedef struct {
    write_job_t job; /* first */
    sess_t *s;
} disc_t;

static int disconnect_run(store_db_t *c, void *arg, err_t *e) {
    disc_t *k = arg;
    char conn[33];
    conn_hex(k->s, conn);
    lcall_t who = {.sender = k->s->identity, .connection_id = conn, .db_identity = k->s->db->identity,
                   .timestamp_us = time_now_us()};
    return module_lifecycle(k->s->db, c, LC_DISCONNECT, &who, e);
}

static void disconnect_done(write_job_t *job) {
    disc_t *k = (disc_t *)job;
    changeset_free(&job->changes);
    sess_release(k->s);
    free(k);
}

static void on_close(ws_t *ws, void *ctx) {
    (void)ws;
    sess_t *s = ctx;
    while (s->backlog) {
        inmsg_t *x = s->backlog;
        s->backlog = x->next;
        inmsg_free(x);
    }
    s->backlog_tail = NULL;
    s->backlog_bytes = 0;
    subs_client_t *c = s->subs;
    s->subs = NULL;
    if (c) subs_client_close(c); /* its on_free lets go of the subs side */
    if (s->has_disconnect) {
        disc_t *k = xcalloc(1, sizeof *k);
        k->s = s;
        sess_retain(s);
        k->job.run = disconnect_run;
        k->job.done = disconnect_done;
        k->job.arg = k;
        err_t e;
        if (dbh_submit(s->db, &k->job, &e) < 0) disconnect_done(&k->job);
    }
    sess_release(s); /* the WebSocket's side */
}

static const ws_proto_t proto = {on_message, on_close};

/* ---- the handshake --------------------------------------------------------- */

typedef struct {
    api_write_t w; /* client_connected's job */
    api_out_t out;
    sess_t *s;
    actor_t a;
    catalog_t *cat;
    ws_limits_t lim;
} hs_t;

/* Pool: who the caller is (a stored principal's identity may be derived
 * and written the first time), and which lifecycle hooks the module has. */
static void hs_work(void *data) {
    hs_t *h = data;
    sess_t *s = h->s;
    if (h->a.identity[0]) snprintf(s->identity, sizeof s->identity, "%s", h->a.identity);
    else auth_principal_identity(h->cat, h->a.principal_id, s->identity);
    err_t e;
    store_db_t *c = dbh_reader(s->db, &e);
    if (!c) return;
    const mdef_t *def = module_def_acquire(s->db, c);
    dbh_reader_put(s->db, c);
    for (int i = 0; def && i < def->nreducers; i++) {
        s->has_connect = s->has_connect || def->reducers[i].lifecycle == LC_CONNECT;
        s->has_disconnect = s->has_disconnect || def->reducers[i].lifecycle == LC_DISCONNECT;
    }
    module_def_release(s->db, def);
}

static void accept_session(http_req_t *r, sess_t *s, const ws_limits_t *lim) {
    s->refs = 2; /* the WebSocket's and the subs client's */
    ws_t *ws = ws_accept(r, protocols[0], lim, &proto, s);
    if (!ws) {
        s->refs = 1;
        sess_release(s);
        return;
    }
    s->ws = ws;
    ws_retain(ws);
    s->subs = subs_client_new(s->db, &ops, s, s->identity, s->privileged);
    buf_t b;
    jw_t w;
    msg_begin(&b, &w, "IdentityToken");
    jw_key(&w, "identity");
    write_identity(&w, s->identity);
    jw_key(&w, "token");
    jw_str(&w, s->token);
    jw_key(&w, "connection_id");
    write_conn_id(&w, s->conn_id);
    msg_end(&w);
    ws_send(ws, false, b.data, b.len);
    buf_free(&b);
}

/* Writer: client_connected, before the 101. */
static int connect_run(store_db_t *c, void *arg, err_t *e) {
    hs_t *h = arg;
    char conn[33];
    conn_hex(h->s, conn);
    lcall_t who = {.sender = h->s->identity, .connection_id = conn, .db_identity = h->s->db->identity,
                   .timestamp_us = time_now_us()};
    h->out.rc = module_lifecycle(h->s->db, c, LC_CONNECT, &who, e);
    if (h->out.rc < 0) h->out.err = *e;
    return h->out.rc;
}

static void connect_posted(http_req_t *r, void *data) {
    hs_t *h = data;
    sess_t *s = h->s;
    ws_limits_t lim = h->lim;
    bool ok = h->out.rc == 0 && !h->w.commit_failed;
    if (!ok) stdb_text(r, 403, h->out.err.msg[0] ? h->out.err.msg : "client_connected failed");
    changeset_free(&h->w.job.changes);
    free(h);
    if (ok) {
        accept_session(r, s, &lim);
    } else {
        s->refs = 1;
        sess_release(s);
    }
}

static void hs_done(http_req_t *r, void *data) {
    hs_t *h = data;
    err_t e;
    if (h->s->has_connect) {
        if (api_write(r, h->s->db, &h->w, connect_run, &h->out, connect_posted, h, &e) < 0) {
            h->out.rc = -1;
            h->out.err = e;
            connect_posted(r, h);
        }
        return;
    }
    sess_t *s = h->s;
    ws_limits_t lim = h->lim;
    free(h);
    accept_session(r, s, &lim);
}

static void h_subscribe(http_req_t *r) {
    if (!ws_is_handshake(r)) {
        stdb_text(r, 400, "expected a WebSocket upgrade");
        return;
    }
    if (!ws_pick_protocol(r, protocols)) {
        stdb_text(r, 400, "no valid protocol selected");
        return;
    }
    qs_t q;
    qs_parse(&q, r->query ? r->query : "", r->query ? strlen(r->query) : 0);
    const char *cid = qs_get(&q, "connection_id"), *light = qs_get(&q, "light");
    uint8_t conn_id[16];
    if (cid) {
        static const uint8_t zero[16];
        if (strlen(cid) != 32 || hex_decode(cid, 32, conn_id, sizeof conn_id) != 16 ||
            memcmp(conn_id, zero, 16) == 0) {
            stdb_text(r, 400, "Invalid connection ID");
            qs_free(&q);
            return;
        }
    } else {
        randombytes_buf(conn_id, sizeof conn_id);
    }
    bool is_light = light && (strcmp(light, "true") == 0 || strcmp(light, "1") == 0);
    /* the token presented (header, else ?token=), or a new identity's */
    char token[TOKEN_MAX_LEN] = "";
    const char *presented = NULL;
    if (api_bearer(r, &presented) != BEARER_OK) presented = qs_get(&q, "token");
    if (presented) snprintf(token, sizeof token, "%s", presented);
    qs_free(&q);
    actor_t a;
    err_t e;
    switch (api_actor(r, ENGINE(r)->catalog, API_TOKEN_QUERY | API_TOKEN_SHAPE, &a, &e)) {
    case API_ACTOR: break;
    case API_MALFORMED: stdb_text(r, 400, "Authorization is invalid: malformed token"); return;
    case API_REJECTED: stdb_text(r, 401, "Authorization failed: invalid token"); return;
    case API_ANONYMOUS: {
        /* a new identity, whose token the first frame carries */
        char identity[IDENTITY_HEX_LEN + 1];
        if (auth_identity_create(ENGINE(r)->catalog, identity, token, &e) < 0 ||
            auth_verify_token(ENGINE(r)->catalog, token, &a, &e) < 0) {
            stdb_text(r, 500, e.msg);
            return;
        }
        break;
    }
    }
    db_t *d = stdb_resolve(r, &a);
    if (!d) return;
    sess_t *s = xcalloc(1, sizeof *s);
    s->db = d;
    s->privileged = auth_check(&a, d, ACT_ADMIN); /* private tables: the owner or an admin */
    s->light = is_light;
    memcpy(s->conn_id, conn_id, 16);
    snprintf(s->token, sizeof s->token, "%s", token);
    hs_t *h = xcalloc(1, sizeof *h);
    h->s = s;
    h->a = a;
    h->cat = ENGINE(r)->catalog;
    h->lim = (ws_limits_t){ENGINE(r)->ws_max_message_bytes, ENGINE(r)->ws_max_queue_bytes, ENGINE(r)->ws_idle_ms};
    http_defer(r, hs_work, hs_done, h);
}

void stdb_ws_register(router_t *rt, const dialect_t *d) {
    router_add(rt, d, M_GET, "/v1/database/:noi/subscribe", h_subscribe);
}
