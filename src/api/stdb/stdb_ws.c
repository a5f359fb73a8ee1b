/* stdb_ws: GET /v1/database/:noi/subscribe, SpacetimeDB's subscription
 * WebSocket (spec/spacetimedb.md §4-5) in its three protocols
 * (v2.bsatn > v1.bsatn > v1.json, by the client's offer): subscriptions
 * over core/subs, one-off queries, reducer calls, and the replies and
 * updates each protocol's way (stdb_wire). A session is the WebSocket, its
 * core/subs client and who it is; the protocol only changes how messages
 * are decoded and encoded.
 *
 * Threads: messages arrive on the connection's loop (large ones are parsed
 * on the pool, in order); set replies are encoded on the database's writer
 * thread and updates on the fan-out thread, then handed to the loop as
 * finished frames, so nothing heavy runs on the loop. A session is
 * reference-counted: the WebSocket's side, the subs client's side, and each
 * reply or work in flight. */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/common.h"
#include "api/stdb/stdb_internal.h"
#include "api/stdb/stdb_wire.h"
#include "core/doors.h"
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

typedef struct {
    ws_t *ws;
    db_t *db;
    subs_client_t *subs;
    wproto_t proto;
    bool has_connect, has_disconnect; /* the module's lifecycle hooks */
    bool privileged;                  /* the owner or an admin: private tables too */
    bool light;                       /* v1 light mode */
    bool doors;                       /* Atrium's ?atrium_doors=1: updates name the writing door */
    char identity[IDENTITY_HEX_LEN + 1];
    char token[TOKEN_MAX_LEN];
    uint8_t conn_id[16]; /* big-endian u128 */
    /* the module as the handshake read it: column types when the current
     * definition is not at hand (retained; NULL without a module) */
    const mdef_t *def;
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
    module_def_release(s->db, s->def);
    db_release(s->db);
    sodium_memzero(s->token, sizeof s->token);
    free(s);
}

/* What the encoders need of a session; close with wctx_close. */
typedef struct {
    wsess_t w;
    const mdef_t *peeked;
} wctx_t;

static void wctx_open(const sess_t *s, wctx_t *c) {
    c->peeked = module_def_peek(s->db);
    c->w = (wsess_t){s->proto, s->light, s->identity, s->token, s->conn_id, c->peeked ? c->peeked : s->def,
                     s->doors};
}

static void wctx_close(const sess_t *s, wctx_t *c) { module_def_release(s->db, c->peeked); }

/* ---- sending ----------------------------------------------------------- */

typedef struct {
    buf_t b;
    bool binary;
} frame_t;

static void send_posted(ws_t *ws, void *ctx, void *data) {
    (void)ctx;
    frame_t *f = data;
    ws_send(ws, f->binary, f->b.data, f->b.len);
    buf_free(&f->b);
    free(f);
}

static void drop_frame(void *data) {
    frame_t *f = data;
    buf_free(&f->b);
    free(f);
}

/* From any thread: sends b's bytes (taken) as one frame of the session's kind. */
static void post_frame(sess_t *s, buf_t *b) {
    frame_t *f = xmalloc(sizeof *f);
    f->b = *b;
    f->binary = stdb_wire_binary(s->proto);
    *b = (buf_t)BUF_INIT;
    ws_post(s->ws, send_posted, f, drop_frame);
}

/* Loop: sends b's bytes now (and frees them). */
static void send_now(ws_t *ws, sess_t *s, buf_t *b) {
    ws_send(ws, stdb_wire_binary(s->proto), b->data, b->len);
    buf_free(b);
}

static void close_posted(ws_t *ws, void *ctx, void *data) {
    (void)ctx;
    int code = (int)(intptr_t)data;
    ws_close(ws, code, code == 1012 ? "database cleared" : "database deleted");
}

static void subscription_error(sess_t *s, bool has_req, uint32_t request_id, bool has_set, uint64_t set_id,
                               const char *msg, uint64_t micros) {
    wctx_t c;
    wctx_open(s, &c);
    buf_t b = BUF_INIT;
    wire_sub_error(&b, &c.w, has_req, request_id, has_set, set_id, msg, micros);
    wctx_close(s, &c);
    post_frame(s, &b);
}

/* ---- subs callbacks ------------------------------------------------------ */

/* Fan-out thread only: the last update encoded, reused for the next session
 * that gets the very same one (sessions sharing a query in one job), and
 * the sends not yet handed to the loops. */
static struct {
    wproto_t proto;
    bool light, caller, doors;
    const subs_origin_t *o;
    size_t n;
    uint64_t stamps[8], sets[8];
    ws_msg_t *msg;
    ws_batch_t *batch;
} last;

/* Sends handed over this often within one job, so the loops start writing
 * while the rest are encoded. */
#define FAN_CHUNK 128

static bool same_as_last(const subs_delta_t *d, size_t n, const subs_origin_t *o, const sess_t *s, bool caller) {
    if (!last.msg || n == 0 || n > 8 || last.n != n || last.o != o || last.proto != s->proto ||
        last.light != s->light || last.caller != caller || last.doors != s->doors)
        return false;
    for (size_t i = 0; i < n; i++)
        if (last.stamps[i] != d[i].stamp || (s->proto == WP_V2 && last.sets[i] != d[i].set_id)) return false;
    return true;
}

/* Fan-out thread: a committed job's matches → the protocol's update. */
static void on_update(void *ctx, const subs_delta_t *d, size_t n, const subs_origin_t *o) {
    sess_t *s = ctx;
    bool caller = o && o->caller == s->subs;
    if (!same_as_last(d, n, o, s, caller)) {
        wctx_t c;
        wctx_open(s, &c);
        buf_t b = BUF_INIT;
        wire_update(&b, &c.w, d, n, o, caller);
        wctx_close(s, &c);
        ws_msg_release(last.msg);
        last.msg = ws_msg_new(stdb_wire_binary(s->proto), b.data, b.len);
        buf_free(&b);
        last.proto = s->proto, last.light = s->light, last.caller = caller, last.o = o, last.n = n;
        last.doors = s->doors;
        for (size_t i = 0; i < n && i < 8; i++) last.stamps[i] = d[i].stamp, last.sets[i] = d[i].set_id;
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
    subscription_error(s, false, 0, set_id != WIRE_LEGACY_SET, set_id, msg, 0);
}

static void on_gone(void *ctx, int code) {
    sess_t *s = ctx;
    ws_post(s->ws, close_posted, (void *)(intptr_t)code, NULL);
}

static void on_free(void *ctx) { sess_release(ctx); }

static const subs_ops_t ops = {on_update, on_error, on_gone, on_free, on_flush};

/* ---- set replies (writer thread) ------------------------------------------- */

typedef struct {
    sess_t *s;
    reply_kind_t kind;
    uint32_t request_id;
    uint64_t set_id;
    bool with_rows;
} reply_t;

static void on_reply(void *ctx, int rc, const err_t *e, const subs_rows_t *rows, size_t n, uint64_t micros) {
    reply_t *rp = ctx;
    sess_t *s = rp->s;
    if (rc < 0) {
        subscription_error(s, true, rp->request_id, rp->kind != R_SUBSCRIBE, rp->set_id, e->msg, micros);
    } else {
        wctx_t c;
        wctx_open(s, &c);
        buf_t b = BUF_INIT;
        wire_applied(&b, &c.w, rp->kind, rp->request_id, rp->set_id, rows, n, micros, rp->with_rows);
        wctx_close(s, &c);
        post_frame(s, &b);
    }
    sess_release(s);
    free(rp);
}

static void start_set(sess_t *s, const cmsg_t *m) {
    static const reply_kind_t kinds[] = {[CM_SUBSCRIBE] = R_SUBSCRIBE, [CM_SUB_SINGLE] = R_SINGLE,
                                         [CM_SUB_MULTI] = R_MULTI, [CM_UNSUB] = R_UNSUB,
                                         [CM_UNSUB_MULTI] = R_UNSUB_MULTI};
    reply_t *rp = xcalloc(1, sizeof *rp);
    rp->s = s;
    rp->kind = kinds[m->kind];
    rp->request_id = m->request_id;
    rp->set_id = m->set_id;
    rp->with_rows = m->dropped_rows;
    sess_retain(s);
    err_t e;
    if (rp->kind == R_UNSUB || rp->kind == R_UNSUB_MULTI) subs_remove(s->subs, m->set_id, on_reply, rp, &e);
    else subs_add(s->subs, m->set_id, rp->kind == R_SUBSCRIBE, (const char *const *)m->queries, m->nq, on_reply, rp, &e);
    /* a job that could not be queued has replied already */
}

/* ---- one-off queries (pool) ---------------------------------------------------- */

typedef struct {
    sess_t *s;
    cmsg_t m;
    wctx_t c;
    buf_t tables, out;
    size_t ntables;
} once_t;

static void once_rows(void *ctx, const subs_rows_t *rows) {
    once_t *o = ctx;
    wire_once_table(&o->tables, &o->c.w, rows);
    o->ntables++;
}

static void once_work(void *data) {
    once_t *o = data;
    uint64_t t0 = time_mono_us();
    wctx_open(o->s, &o->c);
    err_t e;
    store_db_t *c = dbh_reader(o->s->db, &e);
    int rc = -1;
    if (c) {
        rc = subs_query_once(o->s->db, c, o->m.queries[0], o->s->identity, o->s->privileged, once_rows, o, &e);
        dbh_reader_put(o->s->db, c);
    }
    wire_once(&o->out, &o->c.w, &o->m, rc < 0 ? e.msg : NULL, &o->tables, o->ntables, time_mono_us() - t0);
    wctx_close(o->s, &o->c);
}

static void once_done(ws_t *ws, void *ctx, void *data) {
    (void)ctx;
    once_t *o = data;
    if (!ws_closing(ws)) ws_send(ws, stdb_wire_binary(o->s->proto), o->out.data, o->out.len);
    buf_free(&o->out);
    buf_free(&o->tables);
    stdb_cmsg_free(&o->m);
    sess_release(o->s);
    free(o);
}

/* ---- reducer calls ------------------------------------------------------------------ */

/* Any thread: the caller's notice of a call that did not commit. */
static void call_failed(sess_t *s, const cmsg_t *m, uint32_t reducer_id, const char *msg, bool internal,
                        int64_t micros) {
    wcall_info_t ci = {m->reducer, reducer_id, m->args, m->args_len, m->request_id, s->identity, s->conn_id};
    wctx_t c;
    wctx_open(s, &c);
    buf_t b = BUF_INIT;
    wire_call_failed(&b, &c.w, &ci, msg, internal, micros);
    wctx_close(s, &c);
    post_frame(s, &b);
}

/* A reducer called over the WebSocket: one write job, its origin the
 * session, so the caller hears of the commit from the fan-out (with its
 * own rows), or of a failure from the job's done. */
typedef struct {
    write_job_t job; /* first */
    sess_t *s;
    cmsg_t m;
    uint32_t reducer_id;
    uint64_t t0;
} wcall_t;

static void conn_hex(const sess_t *s, char out[33]) { hex_encode(s->conn_id, 16, out); }

/* Writer: the arguments in both forms (the runtime reads SATS-JSON; binary
 * subscribers are shown BSATN), then the call. */
static int wcall_run(store_db_t *c, void *arg, err_t *e) {
    wcall_t *k = arg;
    subs_origin_t *o = (subs_origin_t *)k->job.origin;
    const mdef_t *def = module_def_acquire(k->s->db, c);
    const mreducer_t *rd = NULL;
    for (int i = 0; def && i < def->nreducers && !rd; i++)
        if (strcmp(def->reducers[i].name, k->m.reducer) == 0) rd = &def->reducers[i], k->reducer_id = (uint32_t)i;
    json_t *args; /* a reference of our own */
    int rc = 0;
    if (!k->m.args_binary) {
        args = json_incref(k->m.args_json);
    } else if (!rd) {
        args = json_array(); /* a reducer the module lacks: the call says so */
    } else {
        char why[200];
        args = stdb_args_from_bsatn(rd, (const uint8_t *)k->m.args, k->m.args_len, why, sizeof why);
        if (!args) rc = err_set(e, E_BAD_INPUT, "%s", why);
    }
    if (rc == 0 && o) {
        o->reducer_id = k->reducer_id;
        if (k->m.args_binary) {
            o->args_bin = xmalloc(k->m.args_len + 1);
            memcpy(o->args_bin, k->m.args, k->m.args_len);
            o->args_bin_len = k->m.args_len;
            char *text = args ? json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
            if (text) {
                free(o->args);
                o->args = xstrdup(text);
                free(text);
            }
        } else if (rd) {
            buf_t bin = BUF_INIT;
            if (stdb_args_to_bsatn(rd, args, &bin)) {
                o->args_bin_len = bin.len;
                o->args_bin = (uint8_t *)buf_detach(&bin);
            }
            buf_free(&bin);
        }
    }
    if (rc == 0) {
        char conn[33];
        conn_hex(k->s, conn);
        lcall_t who = {.sender = k->s->identity, .connection_id = conn, .db_identity = k->s->db->identity,
                       .timestamp_us = time_now_us()};
        rc = module_call(k->s->db, c, k->m.reducer, args, &who, e);
    }
    json_decref(args);
    module_def_release(k->s->db, def);
    if (o) o->micros = (int64_t)(time_mono_us() - k->t0);
    return rc;
}

static void wcall_done(write_job_t *job) {
    wcall_t *k = (wcall_t *)job;
    if (job->rc < 0) {
        bool internal = job->err.kind != E_REDUCER || job->err.sub == ES_LIMIT;
        call_failed(k->s, &k->m, k->reducer_id, job->err.msg, internal, (int64_t)(time_mono_us() - k->t0));
    }
    subs_origin_free(job->origin); /* left if it did not commit */
    changeset_free(&job->changes);
    stdb_cmsg_free(&k->m);
    sess_release(k->s);
    free(k);
}

/* m is taken. */
static void call_reducer(sess_t *s, cmsg_t *m) {
    if (!m->args_binary && !json_is_array(m->args_json) && !json_is_object(m->args_json)) {
        call_failed(s, m, 0, "invalid arguments: a JSON array or object", true, 0);
        stdb_cmsg_free(m);
        return;
    }
    wcall_t *k = xcalloc(1, sizeof *k);
    k->s = s;
    sess_retain(s);
    k->m = *m;
    memset(m, 0, sizeof *m);
    k->t0 = time_mono_us();
    k->job.run = wcall_run;
    k->job.done = wcall_done;
    k->job.arg = k;
    k->job.door = "spacetimedb";
    /* v2's caller always hears (its SDK awaits a ReducerResult) */
    bool quiet = k->m.flags == 1 && s->proto != WP_V2;
    k->job.origin = subs_origin_new(s->subs, k->m.reducer, k->m.args_binary ? "[]" : k->m.args, k->m.request_id,
                                    s->identity, s->conn_id, quiet);
    err_t e;
    if (dbh_submit(s->db, &k->job, &e) < 0) {
        k->job.rc = -1;
        k->job.err = e;
        wcall_done(&k->job);
    }
}

/* ---- inbound messages --------------------------------------------------- */

static void fail_frame(ws_t *ws, const char *why) {
    ws_close(ws, 1011, why); /* cut to 123 bytes there */
}

/* Messages up to this size are parsed on the loop; larger ones (up to the
 * 32 MiB frame limit) on the pool, so no client stalls the loop. */
#define PARSE_INLINE_MAX (64u << 10)
/* Bytes of later messages a session may have waiting meanwhile. */
#define BACKLOG_MAX (64u << 20)

typedef struct inmsg {
    struct inmsg *next;
    char *raw; /* while waiting */
    size_t n;
    wproto_t proto;
    bool binary;
    bool ok;   /* parsed into m; else why */
    cmsg_t m;
    char why[124];
} inmsg_t;

/* Any thread: the decoding, all of it. */
static void parse_msg(wproto_t proto, inmsg_t *x, const char *p, size_t n) {
    if (x->binary != stdb_wire_binary(proto)) {
        snprintf(x->why, sizeof x->why, "%s frames are not part of %s", x->binary ? "binary" : "text",
                 stdb_wire_protocols[proto == WP_V2 ? 0 : proto == WP_V1 ? 1 : 2]);
        x->ok = false;
        return;
    }
    x->ok = proto == WP_JSON ? stdb_cmsg_json(p, n, &x->m, x->why, sizeof x->why)
                             : stdb_cmsg_bsatn(proto, (const uint8_t *)p, n, &x->m, x->why, sizeof x->why);
}

static void inmsg_free(inmsg_t *x) {
    stdb_cmsg_free(&x->m);
    free(x->raw);
    free(x);
}

static void dispatch(ws_t *ws, sess_t *s, inmsg_t *x) {
    if (!x->ok) {
        fail_frame(ws, x->why);
        return;
    }
    cmsg_t *m = &x->m;
    doors_note_use(s->db, "spacetimedb");
    switch (m->kind) {
    case CM_SUBSCRIBE:
    case CM_SUB_SINGLE:
    case CM_SUB_MULTI:
    case CM_UNSUB:
    case CM_UNSUB_MULTI: start_set(s, m); break;
    case CM_ONEOFF: {
        once_t *o = xcalloc(1, sizeof *o);
        o->s = s;
        sess_retain(s);
        o->m = *m;
        memset(m, 0, sizeof *m);
        ws_defer(ws, once_work, once_done, o);
        break;
    }
    case CM_CALL: call_reducer(s, m); break;
    case CM_PROCEDURE: {
        wctx_t c;
        wctx_open(s, &c);
        buf_t b = BUF_INIT;
        wire_procedure(&b, &c.w, m->request_id);
        wctx_close(s, &c);
        send_now(ws, s, &b);
        break;
    }
    }
}

static void parse_work(void *data) {
    inmsg_t *x = data;
    parse_msg(x->proto, x, x->raw, x->n);
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
        } else if (x->n > PARSE_INLINE_MAX) {
            s->parsing = true;
            sess_retain(s);
            x->proto = s->proto;
            ws_defer(ws, parse_work, parse_done, x);
        } else {
            parse_msg(s->proto, x, x->raw, x->n);
            dispatch(ws, s, x);
            inmsg_free(x);
        }
    }
}

static void on_message(ws_t *ws, void *ctx, bool binary, const char *p, size_t n) {
    sess_t *s = ctx;
    if (!s->parsing && n <= PARSE_INLINE_MAX) {
        inmsg_t x = {.binary = binary};
        parse_msg(s->proto, &x, p, n);
        dispatch(ws, s, &x);
        stdb_cmsg_free(&x.m);
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
        k->job.door = "spacetimedb";
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
    bool mint; /* no token: a new identity is made for the caller */
    int status; /* set if the handshake failed on the pool */
    char msg[512];
    catalog_t *cat;
    actor_t a;
    ws_limits_t lim;
} hs_t;

/* Pool: who the caller is (a new identity, or a stored principal's, which
 * may be derived and written the first time), and the module as it is. */
static void hs_work(void *data) {
    hs_t *h = data;
    sess_t *s = h->s;
    err_t e;
    if (h->mint) {
        if (auth_identity_create(h->cat, s->identity, s->token, &e) < 0) {
            h->status = 500;
            snprintf(h->msg, sizeof h->msg, "%s", e.msg);
            return;
        }
    } else if (h->a.identity[0]) {
        snprintf(s->identity, sizeof s->identity, "%s", h->a.identity);
    } else {
        auth_principal_identity(h->cat, h->a.principal_id, s->identity);
    }
    store_db_t *c = dbh_reader(s->db, &e);
    if (!c) return;
    s->def = module_def_acquire(s->db, c);
    dbh_reader_put(s->db, c);
    for (int i = 0; s->def && i < s->def->nreducers; i++) {
        s->has_connect = s->has_connect || s->def->reducers[i].lifecycle == LC_CONNECT;
        s->has_disconnect = s->has_disconnect || s->def->reducers[i].lifecycle == LC_DISCONNECT;
    }
}

static void accept_session(http_req_t *r, sess_t *s, const ws_limits_t *lim) {
    s->refs = 2; /* the WebSocket's and the subs client's */
    int pi = s->proto == WP_V2 ? 0 : s->proto == WP_V1 ? 1 : 2;
    ws_t *ws = ws_accept(r, stdb_wire_protocols[pi], lim, &proto, s);
    if (!ws) {
        s->refs = 1;
        sess_release(s);
        return;
    }
    s->ws = ws;
    ws_retain(ws);
    s->subs = subs_client_new(s->db, &ops, s, s->identity, s->privileged);
    wctx_t c;
    wctx_open(s, &c);
    buf_t b = BUF_INIT;
    wire_identity(&b, &c.w);
    wctx_close(s, &c);
    send_now(ws, s, &b);
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
    if (h->status) {
        stdb_text(r, h->status, h->msg);
        h->s->refs = 1;
        sess_release(h->s);
        free(h);
        return;
    }
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
    const char *picked = ws_pick_protocol(r, stdb_wire_protocols);
    if (!picked) {
        stdb_text(r, 400, "no valid protocol selected");
        return;
    }
    qs_t q;
    qs_parse(&q, r->query ? r->query : "", r->query ? strlen(r->query) : 0);
    const char *cid = qs_get(&q, "connection_id"), *light = qs_get(&q, "light"), *doors = qs_get(&q, "atrium_doors");
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
    bool want_doors = doors && (strcmp(doors, "true") == 0 || strcmp(doors, "1") == 0);
    /* the token presented (header, else ?token=), or a new identity's */
    char token[TOKEN_MAX_LEN] = "";
    const char *presented = NULL;
    if (api_bearer(r, &presented) != BEARER_OK) presented = qs_get(&q, "token");
    if (presented) snprintf(token, sizeof token, "%s", presented);
    qs_free(&q);
    actor_t a;
    err_t e;
    bool mint = false;
    switch (api_actor(r, ENGINE(r)->catalog, API_TOKEN_QUERY | API_TOKEN_SHAPE, &a, &e)) {
    case API_ACTOR: break;
    case API_MALFORMED: stdb_text(r, 400, "Authorization is invalid: malformed token"); return;
    case API_REJECTED: stdb_text(r, 401, "Authorization failed: invalid token"); return;
    case API_ANONYMOUS: mint = true; break; /* a fresh identity owns nothing: it reads what anyone may */
    }
    db_t *d = stdb_resolve(r, &a);
    if (!d) return;
    sess_t *s = xcalloc(1, sizeof *s);
    s->db = d;
    s->proto = stdb_wire_proto(picked);
    s->privileged = !mint && auth_check(&a, d, ACT_ADMIN); /* private tables: the owner or an admin */
    s->light = is_light && s->proto != WP_V2;
    s->doors = want_doors && !stdb_wire_binary(s->proto); /* the JSON protocol only */
    memcpy(s->conn_id, conn_id, 16);
    snprintf(s->token, sizeof s->token, "%s", token);
    sodium_memzero(token, sizeof token);
    hs_t *h = xcalloc(1, sizeof *h);
    h->s = s;
    h->a = a;
    h->mint = mint;
    h->cat = ENGINE(r)->catalog;
    h->lim = (ws_limits_t){ENGINE(r)->ws_max_message_bytes, ENGINE(r)->ws_max_queue_bytes, ENGINE(r)->ws_idle_ms};
    http_defer(r, hs_work, hs_done, h);
}

void stdb_ws_register(router_t *rt, const dialect_t *d) {
    router_add(rt, d, M_GET, "/v1/database/:noi/subscribe", h_subscribe);
}
