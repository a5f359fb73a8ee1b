/* common: shared request helpers (see common.h). */
#include "api/common.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/dbh.h"
#include "net/router.h"
#include "util/metrics.h"
#include "util/thread.h"
#include "util/timeutil.h"
#include "util/url.h"

bearer_t api_bearer(const http_req_t *r, const char **tok) {
    const char *h = http_header(r, "authorization");
    *tok = NULL;
    if (!h) return BEARER_NONE;
    while (*h == ' ' || *h == '\t') h++;
    if (strncasecmp(h, "bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t')) return BEARER_MALFORMED;
    h += 7;
    while (*h == ' ' || *h == '\t') h++;
    if (!*h) return BEARER_MALFORMED;
    *tok = h;
    return BEARER_OK;
}

/* A body parsed off the loop: with duplicate keys refused, any top-level
 * value accepted; the loosest caller's answer can be derived from it. */
typedef struct {
    json_t *j;
    json_error_t je;
} prepared_json_t;

static void prepared_free(void *p) {
    prepared_json_t *pj = p;
    json_decref(pj->j);
    free(pj);
}

void api_prepare_body(http_req_t *r) {
    size_t i = 0;
    while (i < r->body.len && (r->body.data[i] == ' ' || r->body.data[i] == '\n' || r->body.data[i] == '\r' ||
                               r->body.data[i] == '\t'))
        i++;
    if (i == r->body.len || (r->body.data[i] != '{' && r->body.data[i] != '[')) return;
    prepared_json_t *pj = xcalloc(1, sizeof *pj);
    pj->j = json_loadb(r->body.data, r->body.len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &pj->je);
    r->prepared = pj;
    r->prepared_free = prepared_free;
}

json_t *api_body_parse(const http_req_t *r, size_t flags, json_error_t *je) {
    const prepared_json_t *pj = r->prepared_free == prepared_free ? r->prepared : NULL;
    /* Only a duplicate key makes the loose and strict parses differ. */
    bool dup = pj && !pj->j && json_error_code(&pj->je) == json_error_duplicate_key;
    if (pj && !(dup && !(flags & JSON_REJECT_DUPLICATES))) {
        if (!pj->j) {
            *je = pj->je;
            return NULL;
        }
        return json_incref(pj->j);
    }
    return json_loadb(r->body.data ? r->body.data : "", r->body.len, flags, je);
}

json_t *api_json_object(const http_req_t *r, char *err, size_t errlen) {
    json_error_t je;
    json_t *j = api_body_parse(r, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        snprintf(err, errlen, "%s (line %d, column %d)", je.text, je.line, je.column);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        snprintf(err, errlen, "expected a JSON object");
        return NULL;
    }
    return j;
}

static bool our_prefix(const char *t, const char **rest) {
    *rest = strncmp(t, "atr_", 4) == 0 ? t + 4 : strncmp(t, "dstok_", 6) == 0 ? t + 6 : NULL;
    return *rest != NULL;
}

static bool our_shape(const char *t) {
    const char *p;
    if (!our_prefix(t, &p) || !*p) return false;
    for (; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
              *p == '_'))
            return false;
    return true;
}

api_who_t api_actor(http_req_t *r, catalog_t *c, unsigned flags, actor_t *a, err_t *e) {
    auth_anonymous(a);
    const char *tok = NULL, *rest;
    buf_t query_tok = BUF_INIT;
    api_who_t who = API_ANONYMOUS;
    switch (api_bearer(r, &tok)) {
    case BEARER_OK: break;
    case BEARER_MALFORMED:
        if (flags & API_FOREIGN_ANON) return API_ANONYMOUS;
        metrics_inc1(MET_AUTH_FAILURES, "malformed_token");
        return API_MALFORMED;
    case BEARER_NONE:
        if ((flags & API_TOKEN_QUERY) && r->query) {
            qs_t q;
            qs_parse(&q, r->query, strlen(r->query));
            const char *v = qs_get(&q, "token");
            if (v && *v) buf_puts(&query_tok, v), tok = query_tok.data; /* ?token= empty: none */
            qs_free(&q);
        }
        break;
    }
    if (!tok) who = API_ANONYMOUS;
    else if ((flags & API_FOREIGN_ANON) && !our_prefix(tok, &rest)) who = API_ANONYMOUS;
    else if ((flags & API_TOKEN_SHAPE) && !our_shape(tok)) who = API_MALFORMED;
    else who = auth_verify_token(c, tok, a, e) == 0 ? API_ACTOR : API_REJECTED;
    if (who == API_REJECTED) auth_anonymous(a);
    if (who == API_REJECTED || who == API_MALFORMED)
        metrics_inc1(MET_AUTH_FAILURES, who == API_MALFORMED ? "malformed_token" : "invalid_token");
    buf_free(&query_tok);
    return who;
}

db_t *api_db(catalog_t *c, const char *key, unsigned by, const actor_t *a) {
    db_t *d = key[0] == '_' ? NULL : catalog_db_find(c, key, by);
    if (d && !auth_check(a, d, ACT_READ)) {
        db_release(d);
        d = NULL;
    }
    return d;
}

int api_capture(const http_req_t *r, int i, buf_t *out) {
    buf_reset(out);
    if (i >= r->ncap) return -1;
    return url_decode_segment(r->cap[i], r->cap_len[i], out);
}

void api_out_reset(api_out_t *o) {
    api_names_free(o->cols, o->ncols);
    o->cols = NULL;
    o->ncols = 0;
    buf_free(&o->rows);
    o->rc = 0;
    err_clear(&o->err);
}

typedef struct {
    db_t *d;
    api_out_t *out;
    api_run_fn run;
    http_done_fn done;
    void *ctx;
    uint64_t deadline_us;
    uint64_t left_us; /* the limit not used up on the loop */
    /* The slow path only (tracked): the connection running the statement,
     * so a client that leaves can interrupt it (see slow_abort). */
    bool tracked;
    pthread_mutex_t m;
    store_db_t *running;
    bool aborted;
} read_t;

store_db_t *api_peek_reader(db_t *d, bool *shared, err_t *e) {
    store_db_t *c = thread_is_loop() ? dbh_pass_reader(d, e) : NULL;
    *shared = c != NULL;
    return c ? c : dbh_reader(d, e);
}

void api_peek_done(db_t *d, store_db_t *c, bool shared) {
    if (shared) dbh_pass_done(c);
    else dbh_reader_put(d, c);
}

/* One attempt; true if it stopped at its deadline (worth a retry). On the
 * loop it reads in the loop's snapshot of the database for this pass. */
static bool attempt(read_t *rd, uint64_t deadline_us) {
    bool shared = !rd->tracked;
    store_db_t *c = shared ? dbh_pass_reader(rd->d, &rd->out->err) : NULL;
    if (!c) {
        shared = false;
        c = dbh_reader(rd->d, &rd->out->err);
    }
    if (!c) {
        rd->out->rc = -1;
        return false;
    }
    bool gone = false;
    if (rd->tracked) {
        pthread_mutex_lock(&rd->m);
        gone = rd->aborted;
        if (!gone) rd->running = c;
        pthread_mutex_unlock(&rd->m);
    }
    if (gone) rd->out->rc = err_set(&rd->out->err, E_TIMEOUT, "the client went away");
    else rd->run(rd->ctx, c, deadline_us);
    if (rd->tracked) {
        pthread_mutex_lock(&rd->m);
        rd->running = NULL;
        pthread_mutex_unlock(&rd->m);
    }
    if (shared) dbh_pass_done(c);
    else dbh_reader_put(rd->d, c);
    return rd->out->rc < 0 && rd->out->err.kind == E_TIMEOUT;
}

bool api_snapshot_begin(store_db_t *c) { return !store_in_txn(c) && store_exec(c, "BEGIN") == 0; }

void api_snapshot_end(store_db_t *c, bool began) {
    if (began && store_in_txn(c) && store_exec(c, "COMMIT") < 0) store_exec(c, "ROLLBACK");
}

static void slow_work(void *data) {
    read_t *rd = data;
    /* The time limit counts from when the statement runs, not from when it
     * queued behind the database's other running statements. */
    dbh_slot_take(rd->d);
    attempt(rd, time_mono_us() + rd->left_us);
    dbh_slot_give(rd->d);
}

/* The client left: nobody waits for the answer, so stop computing it. */
static void slow_abort(http_req_t *r, void *data) {
    (void)r;
    read_t *rd = data;
    pthread_mutex_lock(&rd->m);
    rd->aborted = true;
    if (rd->running) store_interrupt(rd->running);
    pthread_mutex_unlock(&rd->m);
}

static void slow_done(http_req_t *r, void *data) {
    read_t *rd = data;
    if (rd->out->rc < 0 && rd->out->err.kind == E_TIMEOUT) metrics_inc(MET_SQL_TIME_LIMITS);
    http_done_fn done = rd->done;
    void *ctx = rd->ctx;
    http_on_abort(r, NULL, NULL);
    pthread_mutex_destroy(&rd->m);
    free(rd);
    done(r, ctx);
}

void api_read(http_req_t *r, db_t *d, uint64_t limit_us, api_out_t *out, api_run_fn run, void (*reset)(void *ctx),
              http_done_fn done, void *ctx) {
    uint64_t start = time_mono_us();
    read_t rd = {.d = d, .out = out, .run = run, .done = done, .ctx = ctx, .deadline_us = start + limit_us,
                 .left_us = limit_us};
    bool on_loop_only = limit_us <= API_LOOP_BUDGET_US;
    bool timed_out = attempt(&rd, on_loop_only ? rd.deadline_us : start + API_LOOP_BUDGET_US);
    if (!timed_out || (on_loop_only && out->err.sub != ES_OFF_LOOP)) {
        if (timed_out) metrics_inc(MET_SQL_TIME_LIMITS);
        done(r, ctx);
        return;
    }
    reset(ctx);
    read_t *slow = xmalloc(sizeof *slow);
    *slow = rd;
    uint64_t spent = time_mono_us() - start;
    slow->left_us = spent < limit_us ? limit_us - spent : 0;
    slow->tracked = true;
    pthread_mutex_init(&slow->m, NULL);
    http_on_abort(r, slow_abort, slow);
    http_defer(r, slow_work, slow_done, slow);
}

typedef struct {
    catalog_t *catalog;
    actor_t parent;
    const char *kind, *prefix;
    int64_t ttl;
    scope_t scopes[AUTH_MAX_GRANTS];
    char *dbs[AUTH_MAX_GRANTS];
    int nscopes;
    api_token_answer_fn answer;
    char token[TOKEN_MAX_LEN];
    int rc;
    err_t err;
} derive_t;

static void derive_work(void *data) {
    derive_t *j = data;
    j->rc = auth_token_derive(j->catalog, &j->parent, j->kind, j->prefix, j->ttl, j->nscopes ? j->scopes : NULL,
                              j->nscopes, j->token, &j->err);
}

static void derive_done(http_req_t *r, void *data) {
    derive_t *j = data;
    j->answer(r, j->rc == 0 ? j->token : NULL, j->ttl, &j->err);
    for (int i = 0; i < j->nscopes; i++) free(j->dbs[i]);
    sodium_memzero(j->token, sizeof j->token);
    free(j);
}

void api_derive_token(http_req_t *r, catalog_t *c, const actor_t *parent, const char *kind, const char *prefix,
                      int64_t ttl_s, const scope_t *scopes, int nscopes, api_token_answer_fn answer) {
    derive_t *j = xcalloc(1, sizeof *j);
    j->catalog = c;
    j->parent = *parent;
    j->kind = kind; /* string literals */
    j->prefix = prefix;
    j->ttl = ttl_s;
    j->answer = answer;
    j->nscopes = nscopes < AUTH_MAX_GRANTS ? nscopes : AUTH_MAX_GRANTS;
    for (int i = 0; i < j->nscopes; i++) {
        j->dbs[i] = xstrdup(scopes[i].db);
        j->scopes[i] = (scope_t){j->dbs[i], scopes[i].actions};
    }
    http_defer(r, derive_work, derive_done, j);
}

void api_respond_field(http_req_t *r, int status, const char *key, const char *value) {
    buf_t b = BUF_INIT;
    jw_t w;
    jw_init(&w, &b, 0);
    jw_obj_begin(&w);
    jw_key(&w, key);
    jw_str(&w, value);
    jw_obj_end(&w);
    http_respond_buf(r, status, "application/json", &b);
}

char **api_column_names(store_stmt_t *st, int n, const char *sep) {
    char **names = xcalloc((size_t)(n ? n : 1), sizeof *names);
    for (int i = 0; i < n; i++) {
        const char *name = store_col_name(st, i);
        int dup = 1;
        for (int k = 0; k < i; k++)
            if (strcmp(store_col_name(st, k), name) == 0) dup++;
        buf_t b = BUF_INIT;
        buf_puts(&b, name);
        if (dup > 1) buf_printf(&b, "%s%d", sep, dup);
        names[i] = buf_detach(&b);
    }
    return names;
}

void api_names_free(char **names, int n) {
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

/* ---- writes ------------------------------------------------------------- */

static void write_posted(http_req_t *r, void *data) {
    api_write_t *w = data;
    w->done(r, w->ctx);
}

/* On the writer thread: fold a failed commit into the outcome, then hand
 * the answer to the request's loop. */
static void write_finished(write_job_t *job) {
    api_write_t *w = (api_write_t *)job;
    if (w->out->rc == 0 && job->rc < 0 && job->err.kind != E_OK) {
        w->out->rc = -1;
        w->out->err = job->err;
        w->commit_failed = true;
    }
    http_post(w->r, write_posted, w);
}

int api_write(http_req_t *r, db_t *d, api_write_t *w, write_run_fn run, api_out_t *out, http_done_fn done, void *ctx,
              err_t *e) {
    ASSERT_ON_LOOP();
    w->r = r;
    w->out = out;
    w->done = done;
    w->ctx = ctx;
    w->commit_failed = false;
    w->job.run = run;
    w->job.done = write_finished;
    w->job.arg = ctx;
    w->job.door = r->dialect ? r->dialect->name : NULL;
    return dbh_submit(d, &w->job, e);
}
