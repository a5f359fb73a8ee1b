/* txn: interactive transactions (see txn.h).
 * Locking: `reg` guards the registry; each transaction's `m` guards its own
 * state. Lock order: reg, then a transaction's m. A transaction is freed when
 * its last reference goes (registry, running requests, its hold job). */
#include "core/txn.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/dbh.h"
#include "util/thread.h"
#include "core/writer.h"
#include "util/buf.h"
#include "util/timeutil.h"

typedef struct txn txn_t;

typedef enum { H_QUEUED, H_GRANTED, H_RELEASED, H_CANCELLED } hold_state_t;

typedef struct {
    write_job_t job; /* first */
    txn_t *t;
    hold_state_t state;
    int release_rc; /* 0: commit, -1: roll back */
} hold_t;

struct txn {
    char id[UUID_LEN + 1];
    int64_t owner;
    db_t *db;
    const char *door; /* whose transaction (a static dialect name) */
    sql_class_t type;
    uint64_t deadline_us; /* guarded by m */
    int64_t timeout_ms, lock_ms;
    pthread_mutex_t m;
    pthread_cond_t cv;
    int refs;
    bool busy; /* a request has the turn */
    bool opening, closing, expired, dead;
    txn_turn_t *line, *line_tail; /* requests waiting for their turn, in order */
    uint64_t lock_until;          /* the head waits for the writer until then (0: none) */
    bool kick;                    /* lock_until was set: the reaper must look again */
    hold_t *to_submit;            /* a hold made under m, submitted once m is let go */
    store_db_t *conn; /* reader (read) or the lent writer connection (held) */
    hold_t *hold;     /* queued or granted hold, if any */
    /* outcome of the last released hold (commit) */
    bool hold_finished;
    int commit_rc;
    err_t commit_err;
};

static int close_txn(txn_t *t);

static pthread_mutex_t reg = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reg_cv = PTHREAD_COND_INITIALIZER;
static txn_t **txns;
static size_t ntxns, captxns;
static pthread_t reaper;
static bool reaper_running, reaper_stop;

static void txn_release_ref(txn_t *t) {
    pthread_mutex_lock(&t->m);
    int left = --t->refs;
    pthread_mutex_unlock(&t->m);
    if (left) return;
    db_release(t->db);
    pthread_mutex_destroy(&t->m);
    pthread_cond_destroy(&t->cv);
    free(t);
}

static uint64_t deadline_after_ms(int64_t ms) { return time_mono_us() + (uint64_t)ms * 1000; }

static void kick_reaper(void) {
    pthread_mutex_lock(&reg);
    pthread_cond_broadcast(&reg_cv);
    pthread_mutex_unlock(&reg);
}

/* ---- the line (t->m held throughout) ------------------------------------ */

static void pump(txn_t *t);
static void unregister(txn_t *t);

static txn_turn_t *pop_head(txn_t *t) {
    txn_turn_t *w = t->line;
    t->line = w->next;
    if (!t->line) t->line_tail = NULL;
    w->next = NULL;
    t->lock_until = 0;
    return w;
}

/* Tells a waiter its outcome. A turn given keeps the waiter's reference (its
 * run function releases it); a failed wait drops it here, which cannot be
 * the last: whoever pumps holds one too. */
static void fire(txn_t *t, txn_turn_t *w, int rc) {
    if (rc) {
        w->t = NULL;
        t->refs--;
    }
    w->ready(w->ctx, rc);
}

/* Gives up the transaction's resources, rolling back. */
static void teardown(txn_t *t) {
    if (t->dead) return;
    t->dead = true;
    if (t->type == SQL_READ) {
        if (t->conn) {
            store_exec(t->conn, "ROLLBACK");
            dbh_reader_put(t->db, t->conn);
        }
    } else if (t->hold) {
        if (t->hold->state == H_QUEUED) {
            t->hold->state = H_CANCELLED;
        } else if (t->hold->state == H_GRANTED) {
            t->hold->release_rc = -1;
            t->hold->state = H_RELEASED;
        }
        t->hold = NULL;
    }
    t->conn = NULL;
    pthread_cond_broadcast(&t->cv);
    pump(t);
}

/* The head waited for the writer and gives up with rc: the queued hold is
 * cancelled (the writer skips it); an open that gave up ends the
 * transaction. */
static void fail_head_at_writer(txn_t *t, int rc) {
    txn_turn_t *w = pop_head(t);
    if (t->hold && t->hold->state == H_QUEUED) {
        t->hold->state = H_CANCELLED;
        t->hold = NULL;
    }
    bool opening = w->opening;
    fire(t, w, rc);
    if (opening) teardown(t);
}

/* Moves the line along: fails every waiter once the transaction ended,
 * else gives the turn to the head if nobody has it and it needs nothing
 * more, or asks for the writer for it. */
static void pump(txn_t *t) {
    while (t->line && !t->busy) {
        txn_turn_t *w = t->line;
        if (t->dead || t->expired || t->closing) {
            if (w->at_writer) {
                fail_head_at_writer(t, t->expired ? TXN_E_EXPIRED : t->closing ? TXN_E_CLOSED : TXN_E_NOT_FOUND);
            } else {
                fire(t, pop_head(t), TXN_E_NOT_FOUND);
            }
            continue;
        }
        if (w->wants_writer && !t->conn) {
            if (w->at_writer) return; /* still waiting for the grant */
            w->at_writer = true;
            if (!t->hold) {
                hold_t *h = xcalloc(1, sizeof *h);
                h->t = t;
                h->state = H_QUEUED;
                h->job.run = NULL; /* set by submit_pending */
                t->hold = h;
                t->hold_finished = false;
                t->refs++;
                t->to_submit = h;
            }
            uint64_t until = deadline_after_ms(t->lock_ms);
            t->lock_until = until < t->deadline_us ? until : t->deadline_us;
            t->kick = true;
            return;
        }
        pop_head(t);
        if (w->opening) {
            t->opening = false;
            t->deadline_us = deadline_after_ms(t->timeout_ms); /* counts from the open's success */
            t->kick = true;                                    /* an earlier deadline than the reaper knows */
            w->t = NULL;
            t->refs--; /* an open keeps no turn (never the last reference: the registry has one) */
            w->ready(w->ctx, 0);
            continue;
        }
        t->busy = true;
        fire(t, w, 0);
        return;
    }
}

/* ---- the hold job (runs on the writer thread) -------------------------- */

static int hold_run(store_db_t *db, void *arg, err_t *e) {
    hold_t *h = arg;
    txn_t *t = h->t;
    pthread_mutex_lock(&t->m);
    if (h->state == H_CANCELLED) {
        pthread_mutex_unlock(&t->m);
        return err_set(e, E_OK, "hold cancelled");
    }
    h->state = H_GRANTED;
    t->conn = db;
    pump(t); /* the head waiting for the writer gets its turn */
    if (t->kick) {
        t->kick = false;
        pthread_mutex_unlock(&t->m);
        kick_reaper();
        pthread_mutex_lock(&t->m);
    }
    while (h->state == H_GRANTED) pthread_cond_wait(&t->cv, &t->m);
    int rc = h->release_rc;
    pthread_mutex_unlock(&t->m);
    return rc == 0 ? 0 : err_set(e, E_OK, "rolled back");
}

static void hold_done(write_job_t *job) {
    hold_t *h = (hold_t *)job;
    txn_t *t = h->t;
    changeset_free(&job->changes);
    pthread_mutex_lock(&t->m);
    if (t->hold == h) {
        t->hold = NULL;
        if (h->state == H_QUEUED) {
            /* never ran: the writer is closing */
            err_t e;
            err_set(&e, E_INTERNAL, "the database is closing");
            t->commit_err = e;
            if (t->line && t->line->at_writer) fail_head_at_writer(t, TXN_E_INTERNAL);
        } else {
            t->hold_finished = true;
            t->commit_rc = job->rc;
            t->commit_err = job->err;
        }
        pthread_cond_broadcast(&t->cv);
    }
    bool dead = t->dead;
    pthread_mutex_unlock(&t->m);
    free(h);
    if (dead) unregister(t); /* an open that gave up (a commit unregisters itself) */
    txn_release_ref(t);
}

/* After the line moved (m let go): submits a hold made meanwhile and wakes
 * the reaper for a new lock timeout. The caller holds a reference. Returns
 * true if the transaction has ended (it may be unregistered). */
static bool after_pump(txn_t *t) {
    pthread_mutex_lock(&t->m);
    hold_t *h = t->to_submit;
    t->to_submit = NULL;
    bool kick = t->kick;
    t->kick = false;
    pthread_mutex_unlock(&t->m);
    if (h) {
        h->job.run = hold_run;
        h->job.done = hold_done;
        h->job.arg = h;
        h->job.exclusive = true;
        h->job.door = t->door;
        err_t e;
        if (dbh_submit(t->db, &h->job, &e) < 0) {
            pthread_mutex_lock(&t->m);
            if (t->hold == h) {
                t->hold = NULL;
                if (t->line && t->line->at_writer) fail_head_at_writer(t, TXN_E_INTERNAL);
            }
            pthread_mutex_unlock(&t->m);
            free(h);
            txn_release_ref(t);
        }
    }
    if (kick) kick_reaper();
    pthread_mutex_lock(&t->m);
    bool dead = t->dead;
    pthread_mutex_unlock(&t->m);
    return dead;
}

static void unregister(txn_t *t) {
    pthread_mutex_lock(&reg);
    for (size_t i = 0; i < ntxns; i++) {
        if (txns[i] == t) {
            txns[i] = txns[--ntxns];
            pthread_mutex_unlock(&reg);
            txn_release_ref(t);
            return;
        }
    }
    pthread_mutex_unlock(&reg);
}

/* Ends the caller's turn (m held): an expiry or close that arrived
 * meanwhile is finished here, by whoever holds the connection; the next
 * waiter moves up. Returns true if the transaction ended. */
static bool end_turn(txn_t *t) {
    t->busy = false;
    if ((t->expired || t->closing) && !t->dead) teardown(t);
    pthread_cond_broadcast(&t->cv);
    pump(t);
    return t->dead;
}

/* Lets go of a turn's transaction (m held on entry, let go here). */
static void finish(txn_t *t, bool gone) {
    pthread_mutex_unlock(&t->m);
    if (after_pump(t)) gone = true;
    if (gone) unregister(t);
    txn_release_ref(t);
}

/* ---- the reaper -------------------------------------------------------- */

/* Ends t's deadline (reg and t->m held): a running request is interrupted
 * and tears down when it ends; otherwise it is torn down now. */
static void expire(txn_t *t) {
    t->expired = true;
    if (t->busy && t->conn) store_interrupt(t->conn);
    else teardown(t);
    pthread_cond_broadcast(&t->cv);
}

static void *reaper_main(void *arg) {
    (void)arg;
    pthread_mutex_lock(&reg);
    while (!reaper_stop) {
        uint64_t now = time_mono_us(), next = UINT64_MAX;
        txn_t *due = NULL;
        for (size_t i = 0; i < ntxns && !due; i++) {
            txn_t *t = txns[i];
            pthread_mutex_lock(&t->m);
            if (!t->expired && t->deadline_us <= now) {
                expire(t);
                due = t;
            } else if (t->lock_until && t->lock_until <= now) {
                fail_head_at_writer(t, TXN_E_LOCK_TIMEOUT);
                pump(t); /* the next one may ask for the writer */
                due = t;
            } else {
                if (!t->expired && t->deadline_us < next) next = t->deadline_us;
                if (t->lock_until && t->lock_until < next) next = t->lock_until;
            }
            if (due) due->refs++;
            pthread_mutex_unlock(&t->m);
        }
        if (due) {
            pthread_mutex_unlock(&reg);
            if (after_pump(due)) unregister(due);
            txn_release_ref(due);
            pthread_mutex_lock(&reg);
            continue;
        }
        if (next == UINT64_MAX) {
            pthread_cond_wait(&reg_cv, &reg);
        } else {
            struct timespec ts;
            time_mono_timespec(next, &ts);
            pthread_cond_timedwait(&reg_cv, &reg, &ts);
        }
    }
    pthread_mutex_unlock(&reg);
    return NULL;
}

void txn_init(void) {
    pthread_mutex_lock(&reg);
    if (!reaper_running) {
        pthread_cond_destroy(&reg_cv);
        time_cond_init_mono(&reg_cv);
        reaper_stop = false;
        reaper_running = pthread_create(&reaper, NULL, reaper_main, NULL) == 0;
    }
    pthread_mutex_unlock(&reg);
}

void txn_shutdown(void) {
    ASSERT_OFF_LOOP();
    for (;;) {
        pthread_mutex_lock(&reg);
        txn_t *t = ntxns ? txns[0] : NULL;
        if (t) {
            pthread_mutex_lock(&t->m);
            t->refs++;
            pthread_mutex_unlock(&t->m);
        }
        pthread_mutex_unlock(&reg);
        if (!t) break;
        close_txn(t);
        txn_release_ref(t);
    }
    pthread_mutex_lock(&reg);
    reaper_stop = true;
    pthread_cond_broadcast(&reg_cv);
    pthread_mutex_unlock(&reg);
    if (reaper_running) pthread_join(reaper, NULL);
    reaper_running = false;
    free(txns);
    txns = NULL;
    ntxns = captxns = 0;
}

/* ---- lookups ------------------------------------------------------------ */

/* Finds and retains a live transaction. The caller must be its owner and,
 * unless a is NULL (the engine itself), hold the transaction type's right
 * on its database through the token it presented now: a transaction opened
 * with a full token cannot be driven with a read-only one. */
static int lookup(const char *id, int64_t caller, const actor_t *a, txn_t **out) {
    *out = NULL;
    pthread_mutex_lock(&reg);
    for (size_t i = 0; i < ntxns; i++) {
        txn_t *t = txns[i];
        if (strcmp(t->id, id) == 0) {
            bool allowed = t->owner == caller && (!a || auth_check(a, t->db, auth_action_for(t->type)));
            pthread_mutex_lock(&t->m);
            bool live = !t->dead && !t->expired && !t->opening;
            if (live && allowed) t->refs++;
            pthread_mutex_unlock(&t->m);
            pthread_mutex_unlock(&reg);
            if (!live) return TXN_E_NOT_FOUND;
            if (!allowed) return TXN_E_NOT_OWNER;
            *out = t;
            return 0;
        }
    }
    pthread_mutex_unlock(&reg);
    return TXN_E_NOT_FOUND;
}

static void line_up(txn_t *t, txn_turn_t *w, bool wants_writer, bool opening, txn_ready_fn ready, void *ctx) {
    *w = (txn_turn_t){.t = t, .ready = ready, .ctx = ctx, .wants_writer = wants_writer, .opening = opening};
    if (t->line_tail) t->line_tail->next = w;
    else t->line = w;
    t->line_tail = w;
}

/* ---- the API ------------------------------------------------------------ */

int txn_open(db_t *d, const char *door, int64_t owner, sql_class_t type, int64_t timeout_ms, int64_t lock_timeout_ms,
             char id[UUID_LEN + 1], txn_turn_t *turn, txn_ready_fn ready, void *ctx, err_t *e) {
    ASSERT_OFF_LOOP();
    txn_t *t = xcalloc(1, sizeof *t);
    t->door = door;
    uuid4_new(t->id);
    t->owner = owner;
    t->db = d;
    db_retain(d);
    t->type = type;
    t->timeout_ms = timeout_ms;
    t->lock_ms = lock_timeout_ms;
    t->refs = 2; /* the registry's, and this call's */
    pthread_mutex_init(&t->m, NULL);
    time_cond_init_mono(&t->cv);
    t->deadline_us = deadline_after_ms(timeout_ms);
    if (type == SQL_READ) {
        t->conn = dbh_reader(d, e);
        if (t->conn && store_exec(t->conn, "BEGIN; PRAGMA schema_version;") < 0) {
            err_sql(e, -1, store_errmsg(t->conn));
            dbh_reader_put(d, t->conn);
            t->conn = NULL;
        }
        if (!t->conn) {
            t->dead = true;
            t->refs = 1;
            txn_release_ref(t);
            return TXN_E_INTERNAL;
        }
    } else if (type == SQL_SCHEMA) {
        /* Takes the writer at open: the deadline counts from then. */
        t->opening = true;
        t->deadline_us = deadline_after_ms(timeout_ms + lock_timeout_ms);
        t->refs++; /* the open's place in line */
        line_up(t, turn, true, true, ready, ctx);
    }
    snprintf(id, UUID_LEN + 1, "%s", t->id);
    pthread_mutex_lock(&reg);
    if (ntxns == captxns) {
        captxns = captxns ? captxns * 2 : 16;
        txns = xrealloc(txns, captxns * sizeof *txns);
    }
    txns[ntxns++] = t;
    pthread_cond_broadcast(&reg_cv); /* the reaper's next deadline may be this one */
    pthread_mutex_unlock(&reg);
    int rc = 0;
    if (type == SQL_SCHEMA) {
        pthread_mutex_lock(&t->m);
        pump(t);
        rc = TXN_PENDING; /* even if granted already: ready fires either way */
        finish(t, false);
    } else {
        txn_release_ref(t);
    }
    return rc;
}

int txn_enter(txn_turn_t *turn, const char *id, const actor_t *caller, bool query, txn_ready_fn ready, void *ctx) {
    ASSERT_OFF_LOOP();
    txn_t *t;
    int rc = lookup(id, caller->principal_id, caller, &t); /* the turn's reference */
    if (rc) return rc;
    pthread_mutex_lock(&t->m);
    bool wants_writer = query && t->type != SQL_READ;
    if (!t->busy && !t->line && (!wants_writer || t->conn)) {
        t->busy = true;
        turn->t = t;
        pthread_mutex_unlock(&t->m);
        return 0;
    }
    t->refs++; /* this call's, while it pumps */
    line_up(t, turn, wants_writer, false, ready, ctx);
    pump(t);
    finish(t, false);
    return TXN_PENDING;
}

int txn_query(txn_turn_t *turn, const char *sql, size_t len, const sql_opts_t *opts, const sql_sink_t *sink,
              void *ctx, sql_result_t *res, bool *closed, sql_class_t *type, err_t *e) {
    ASSERT_OFF_LOOP();
    txn_t *t = turn->t;
    turn->t = NULL;
    *closed = false;
    int rc = 0;
    pthread_mutex_lock(&t->m);
    *type = t->type;
    store_db_t *c = t->conn;
    if (t->expired) rc = TXN_E_EXPIRED;
    else if (t->closing || t->dead || !c) rc = TXN_E_CLOSED;
    bool in_sp = false;
    if (!rc && t->type != SQL_READ) in_sp = store_exec(c, "SAVEPOINT q") == 0;
    pthread_mutex_unlock(&t->m);
    if (!rc) {
        sql_opts_t o = *opts;
        o.max_class = t->type;
        if (!o.deadline_us || o.deadline_us > t->deadline_us) o.deadline_us = t->deadline_us;
        /* Capture this query's changes apart, so an undone query leaves none
         * in the hold job's record (which the commit listener sees). */
        changeset_t *outer = in_sp ? store_capture_target(c) : NULL, mine = {0};
        if (outer) store_capture(c, &mine);
        if (sql_run(c, sql, len, &o, sink, ctx, res, e) < 0) {
            rc = TXN_E_QUERY;
            if (in_sp) store_exec(c, "ROLLBACK TO q");
            /* Execution errors close the transaction; prepare-time ones not. */
            *closed = res->step_failed || e->kind == E_TIMEOUT;
        }
        if (in_sp) store_exec(c, "RELEASE q");
        if (outer) {
            store_capture(c, outer);
            if (rc) changeset_free(&mine);
            else changeset_move(outer, &mine);
        }
    }
    pthread_mutex_lock(&t->m);
    if (rc == TXN_E_QUERY && e->kind == E_TIMEOUT) {
        rc = t->closing ? TXN_E_CLOSED : t->expired ? TXN_E_EXPIRED : rc;
    }
    if (rc == TXN_E_QUERY && *closed) teardown(t);
    if (t->expired && rc == 0) rc = TXN_E_EXPIRED;
    bool gone = end_turn(t);
    *closed = *closed || gone;
    finish(t, gone);
    return rc;
}

int txn_commit(txn_turn_t *turn, sql_class_t *type, err_t *e) {
    ASSERT_OFF_LOOP();
    txn_t *t = turn->t;
    turn->t = NULL;
    int rc = 0;
    pthread_mutex_lock(&t->m);
    *type = t->type;
    if (t->type == SQL_READ) {
        rc = TXN_E_READ_COMMIT;
        teardown(t);
    } else if (!t->hold || t->hold->state != H_GRANTED) {
        teardown(t); /* a write transaction that never wrote: nothing to commit */
    } else {
        hold_t *h = t->hold;
        t->conn = NULL;
        h->release_rc = 0;
        h->state = H_RELEASED;
        pthread_cond_broadcast(&t->cv);
        while (!t->hold_finished) pthread_cond_wait(&t->cv, &t->m); /* the COMMIT, on the writer */
        if (t->commit_rc < 0) {
            *e = t->commit_err;
            rc = TXN_E_COMMIT;
        }
        t->dead = true;
    }
    end_turn(t);
    finish(t, true);
    return rc;
}

int txn_rollback(txn_turn_t *turn, err_t *e) {
    ASSERT_OFF_LOOP();
    (void)e;
    txn_t *t = turn->t;
    turn->t = NULL;
    int rc = 0;
    pthread_mutex_lock(&t->m);
    if (t->type == SQL_READ) {
        rc = TXN_E_READ_ROLLBACK;
        teardown(t);
    } else if (t->conn) {
        /* Undo everything so far but keep the writer (and the deadline);
         * what was captured is undone with it. */
        store_exec(t->conn, "ROLLBACK TO job");
        changeset_t *cs = store_capture_target(t->conn);
        if (cs) changeset_free(cs);
    }
    bool gone = end_turn(t);
    finish(t, gone);
    return rc;
}

/* Closes t (a reference held): interrupts a running request and waits for
 * it to end, rolls back, fails every waiter, unregisters. */
static int close_txn(txn_t *t) {
    ASSERT_OFF_LOOP();
    pthread_mutex_lock(&t->m);
    t->closing = true;
    if (t->busy && t->conn) store_interrupt(t->conn);
    while (t->busy) pthread_cond_wait(&t->cv, &t->m);
    teardown(t);
    pthread_mutex_unlock(&t->m);
    after_pump(t);
    unregister(t);
    return 0;
}

int txn_close(const char *id, const actor_t *caller) {
    txn_t *t;
    int rc = lookup(id, caller->principal_id, caller, &t);
    if (rc == TXN_E_NOT_FOUND) return 0;
    if (rc) return rc;
    close_txn(t);
    txn_release_ref(t);
    return 0;
}

void txn_interrupt_all(void) {
    pthread_mutex_lock(&reg);
    for (size_t i = 0; i < ntxns; i++) {
        txn_t *t = txns[i];
        pthread_mutex_lock(&t->m);
        t->closing = true;
        if (t->busy && t->conn) store_interrupt(t->conn);
        /* an idle one lets go of the writer now: writes queued behind its
         * hold must finish for the server to stop */
        if (!t->busy) teardown(t);
        pump(t); /* waiters give up now */
        pthread_cond_broadcast(&t->cv);
        pthread_mutex_unlock(&t->m);
    }
    pthread_mutex_unlock(&reg);
}

int txn_count(const db_t *d) {
    int n = 0;
    pthread_mutex_lock(&reg);
    for (size_t i = 0; i < ntxns; i++) n += txns[i]->db == d;
    pthread_mutex_unlock(&reg);
    return n;
}

void txn_close_owner(int64_t owner) {
    ASSERT_OFF_LOOP();
    for (;;) {
        txn_t *t = NULL;
        pthread_mutex_lock(&reg);
        for (size_t i = 0; i < ntxns && !t; i++)
            if (txns[i]->owner == owner) t = txns[i];
        if (t) {
            pthread_mutex_lock(&t->m);
            t->refs++;
            pthread_mutex_unlock(&t->m);
        }
        pthread_mutex_unlock(&reg);
        if (!t) return;
        close_txn(t);
        txn_release_ref(t);
    }
}
