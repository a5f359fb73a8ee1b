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
    sql_class_t type;
    uint64_t deadline_us;
    int64_t lock_ms;
    pthread_mutex_t m;
    pthread_cond_t cv;
    int refs;
    uint64_t next_ticket, serving;
    bool busy, closing, expired, dead;
    store_db_t *conn; /* reader (read) or the lent writer connection (held) */
    hold_t *hold;     /* queued or granted hold, if any */
    /* outcome of the last released hold (commit) */
    bool hold_finished;
    int commit_rc;
    err_t commit_err;
};

static int close_as(const char *id, int64_t owner, const actor_t *a);

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
    pthread_cond_broadcast(&t->cv);
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
        t->hold_finished = true;
        t->commit_rc = job->rc;
        t->commit_err = job->err;
        pthread_cond_broadcast(&t->cv);
    }
    pthread_mutex_unlock(&t->m);
    free(h);
    txn_release_ref(t);
}

/* Requests that wait inside a transaction (for the writer, or for their
 * turn) park a pool thread for as long as they wait. Until those waits are
 * posted to the loop instead, at most TXN_MAX_PARKED may wait at once; one
 * more gives up at once (TXN1), so transactions can never take the whole
 * pool from reads and sign-ins. */
#define TXN_MAX_PARKED 16
static int parked; /* atomic */

static bool park_begin(void) {
    if (__atomic_add_fetch(&parked, 1, __ATOMIC_ACQ_REL) <= TXN_MAX_PARKED) return true;
    __atomic_sub_fetch(&parked, 1, __ATOMIC_ACQ_REL);
    return false;
}

static void park_end(void) { __atomic_sub_fetch(&parked, 1, __ATOMIC_ACQ_REL); }

/* Takes the writer (t->m held). 0, or TXN_E_LOCK_TIMEOUT / TXN_E_*. */
static int acquire(txn_t *t, err_t *e) {
    if (t->conn) return 0;
    hold_t *h = t->hold;
    if (!h) {
        h = xcalloc(1, sizeof *h);
        h->t = t;
        h->state = H_QUEUED;
        h->job.run = hold_run;
        h->job.done = hold_done;
        h->job.arg = h;
        h->job.exclusive = true;
        t->hold = h;
        t->hold_finished = false;
        t->refs++;
        pthread_mutex_unlock(&t->m);
        int rc = dbh_submit(t->db, &h->job, e);
        pthread_mutex_lock(&t->m);
        if (rc < 0) {
            t->hold = NULL;
            t->refs--;
            free(h);
            return TXN_E_INTERNAL;
        }
    }
    uint64_t until = deadline_after_ms(t->lock_ms);
    if (until > t->deadline_us) until = t->deadline_us;
    struct timespec ts;
    time_mono_timespec(until, &ts);
    bool parks = h->state == H_QUEUED && park_begin(); /* too many waiting already: give up now */
    while (parks && h->state == H_QUEUED && !t->closing && !t->expired && time_mono_us() < until)
        if (pthread_cond_timedwait(&t->cv, &t->m, &ts) == ETIMEDOUT) break;
    if (parks) park_end();
    if (h->state == H_GRANTED) return 0;
    h->state = H_CANCELLED; /* the writer will skip it */
    t->hold = NULL;
    if (t->expired) return TXN_E_EXPIRED;
    if (t->closing) return TXN_E_CLOSED;
    err_set(e, E_TIMEOUT, "Transaction timeout.");
    return TXN_E_LOCK_TIMEOUT;
}

/* Gives up the transaction's resources, rolling back (t->m held). */
static void teardown(txn_t *t) {
    if (t->dead) return;
    t->dead = true;
    if (t->type == SQL_READ) {
        if (t->conn) {
            store_exec(t->conn, "ROLLBACK");
            dbh_reader_put(t->db, t->conn);
        }
        t->conn = NULL;
    } else if (t->hold) {
        if (t->hold->state == H_QUEUED) {
            t->hold->state = H_CANCELLED;
            t->hold = NULL;
        } else if (t->hold->state == H_GRANTED) {
            t->conn = NULL;
            t->hold->release_rc = -1;
            t->hold->state = H_RELEASED;
        }
    }
    t->conn = NULL;
    pthread_cond_broadcast(&t->cv);
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

/* ---- the reaper -------------------------------------------------------- */

static void *reaper_main(void *arg) {
    (void)arg;
    pthread_mutex_lock(&reg);
    while (!reaper_stop) {
        uint64_t now = time_mono_us(), next = UINT64_MAX;
        txn_t *due = NULL;
        for (size_t i = 0; i < ntxns; i++) {
            txn_t *t = txns[i];
            if (t->deadline_us <= now && !t->expired) {
                due = t;
                break;
            }
            if (!t->expired && t->deadline_us < next) next = t->deadline_us;
        }
        if (due) {
            pthread_mutex_lock(&due->m);
            due->refs++;
            pthread_mutex_unlock(&due->m);
            pthread_mutex_unlock(&reg);
            pthread_mutex_lock(&due->m);
            due->expired = true;
            if (due->busy && due->conn) {
                store_interrupt(due->conn); /* the running request tears down */
            } else {
                teardown(due);
            }
            bool gone = due->dead;
            pthread_cond_broadcast(&due->cv);
            pthread_mutex_unlock(&due->m);
            if (gone) unregister(due);
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
        char id[UUID_LEN + 1] = "";
        int64_t owner = 0;
        if (t) snprintf(id, sizeof id, "%s", t->id), owner = t->owner;
        pthread_mutex_unlock(&reg);
        if (!t) break;
        close_as(id, owner, NULL);
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

/* ---- lookups and turns -------------------------------------------------- */

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
            bool live = !t->dead && !t->expired;
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

/* Waits for this request's turn (t->m held): 0, TURN_ENDED if the
 * transaction ended meanwhile, TURN_BUSY if too many requests wait already. */
enum { TURN_ENDED = 1, TURN_BUSY };

static int take_turn(txn_t *t) {
    bool wait = t->serving != t->next_ticket;
    if (wait && !park_begin()) return TURN_BUSY;
    uint64_t ticket = t->next_ticket++;
    while (t->serving != ticket && !t->dead) pthread_cond_wait(&t->cv, &t->m);
    if (wait) park_end();
    if (t->dead || t->expired || t->closing) {
        if (t->serving == ticket) t->serving++; /* let the next waiter see it too */
        pthread_cond_broadcast(&t->cv);
        return TURN_ENDED;
    }
    t->busy = true;
    return 0;
}

static void end_turn(txn_t *t) {
    t->busy = false;
    t->serving++;
    pthread_cond_broadcast(&t->cv);
}

/* After a request: an expiry or close that arrived meanwhile is finished
 * here, by whoever holds the connection. Returns true if it ended. */
static bool settle(txn_t *t) {
    if ((t->expired || t->closing) && !t->dead) teardown(t);
    return t->dead;
}

/* Finds the caller's transaction and waits for this request's turn; on
 * success returns 0 with t->m held and a reference taken. */
static int begin_request(const char *id, const actor_t *a, txn_t **out) {
    txn_t *t;
    int rc = lookup(id, a->principal_id, a, &t);
    if (rc) return rc;
    pthread_mutex_lock(&t->m);
    int turn = take_turn(t);
    if (turn) {
        pthread_mutex_unlock(&t->m);
        txn_release_ref(t);
        return turn == TURN_BUSY ? TXN_E_LOCK_TIMEOUT : TXN_E_NOT_FOUND;
    }
    *out = t;
    return 0;
}

/* ---- the API ------------------------------------------------------------ */

int txn_open(db_t *d, int64_t owner, sql_class_t type, int64_t timeout_ms, int64_t lock_timeout_ms,
             char id[UUID_LEN + 1], err_t *e) {
    ASSERT_OFF_LOOP();
    txn_t *t = xcalloc(1, sizeof *t);
    uuid4_new(t->id);
    t->owner = owner;
    t->db = d;
    db_retain(d);
    t->type = type;
    t->lock_ms = lock_timeout_ms;
    t->refs = 1; /* the registry's, once registered; the caller's meanwhile */
    pthread_mutex_init(&t->m, NULL);
    time_cond_init_mono(&t->cv);
    int rc = 0;
    if (type == SQL_READ) {
        t->conn = dbh_reader(d, e);
        if (!t->conn) rc = TXN_E_INTERNAL;
        else if (store_exec(t->conn, "BEGIN; PRAGMA schema_version;") < 0) {
            err_sql(e, -1, store_errmsg(t->conn));
            dbh_reader_put(d, t->conn);
            t->conn = NULL;
            rc = TXN_E_INTERNAL;
        }
        t->deadline_us = deadline_after_ms(timeout_ms);
    } else if (type == SQL_SCHEMA) {
        t->deadline_us = deadline_after_ms(timeout_ms + lock_timeout_ms); /* refined below */
        pthread_mutex_lock(&t->m);
        rc = acquire(t, e);
        pthread_mutex_unlock(&t->m);
        t->deadline_us = deadline_after_ms(timeout_ms); /* the deadline counts from open success */
    } else {
        t->deadline_us = deadline_after_ms(timeout_ms);
    }
    if (rc) {
        pthread_mutex_lock(&t->m);
        teardown(t);
        pthread_mutex_unlock(&t->m);
        txn_release_ref(t);
        return rc;
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
    return 0;
}

int txn_query(const char *id, const actor_t *caller, const char *sql, size_t len, const sql_opts_t *opts,
              const sql_sink_t *sink, void *ctx, sql_result_t *res, bool *closed, sql_class_t *type, err_t *e) {
    ASSERT_OFF_LOOP();
    txn_t *t;
    *closed = false;
    int rc = begin_request(id, caller, &t);
    if (rc) return rc;
    *type = t->type;
    if (t->type != SQL_READ) rc = acquire(t, e);
    store_db_t *c = t->conn;
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
    if (rc == TXN_E_LOCK_TIMEOUT || rc == TXN_E_EXPIRED || rc == TXN_E_CLOSED) {
        /* not a query failure */
    } else if (rc == TXN_E_QUERY && *closed) {
        teardown(t);
    }
    if (t->expired && rc == 0) rc = TXN_E_EXPIRED;
    end_turn(t);
    bool gone = settle(t);
    *closed = *closed || gone;
    pthread_mutex_unlock(&t->m);
    if (gone) unregister(t);
    txn_release_ref(t);
    return rc;
}

int txn_commit(const char *id, const actor_t *caller, sql_class_t *type, err_t *e) {
    ASSERT_OFF_LOOP();
    txn_t *t;
    int rc = begin_request(id, caller, &t);
    if (rc) return rc;
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
        while (!t->hold_finished) pthread_cond_wait(&t->cv, &t->m);
        if (t->commit_rc < 0) {
            *e = t->commit_err;
            rc = TXN_E_COMMIT;
        }
        t->dead = true;
    }
    end_turn(t);
    pthread_mutex_unlock(&t->m);
    unregister(t);
    txn_release_ref(t);
    return rc;
}

int txn_rollback(const char *id, const actor_t *caller, err_t *e) {
    ASSERT_OFF_LOOP();
    (void)e;
    txn_t *t;
    int rc = begin_request(id, caller, &t);
    if (rc) return rc;
    bool gone = false;
    if (t->type == SQL_READ) {
        rc = TXN_E_READ_ROLLBACK;
        teardown(t);
        gone = true;
    } else if (t->conn) {
        /* Undo everything so far but keep the writer (and the deadline);
         * what was captured is undone with it. */
        store_exec(t->conn, "ROLLBACK TO job");
        changeset_t *cs = store_capture_target(t->conn);
        if (cs) changeset_free(cs);
    }
    end_turn(t);
    pthread_mutex_unlock(&t->m);
    if (gone) unregister(t);
    txn_release_ref(t);
    return rc;
}

/* Closes for the owner; a NULL actor is the engine (no rights checked). */
static int close_as(const char *id, int64_t owner, const actor_t *a) {
    ASSERT_OFF_LOOP();
    txn_t *t;
    int rc = lookup(id, owner, a, &t);
    if (rc == TXN_E_NOT_FOUND) return 0;
    if (rc) return rc;
    pthread_mutex_lock(&t->m);
    t->closing = true;
    if (t->busy && t->conn) store_interrupt(t->conn);
    pthread_cond_broadcast(&t->cv); /* a request waiting for the writer gives up now */
    while (t->busy) pthread_cond_wait(&t->cv, &t->m);
    teardown(t);
    pthread_mutex_unlock(&t->m);
    unregister(t);
    txn_release_ref(t);
    return 0;
}

int txn_close(const char *id, const actor_t *caller) { return close_as(id, caller->principal_id, caller); }

void txn_interrupt_all(void) {
    pthread_mutex_lock(&reg);
    for (size_t i = 0; i < ntxns; i++) {
        txn_t *t = txns[i];
        pthread_mutex_lock(&t->m);
        t->closing = true;
        if (t->busy && t->conn) store_interrupt(t->conn);
        pthread_cond_broadcast(&t->cv); /* a request waiting for the writer or its turn gives up */
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
        char id[UUID_LEN + 1] = "";
        pthread_mutex_lock(&reg);
        for (size_t i = 0; i < ntxns && !id[0]; i++)
            if (txns[i]->owner == owner) snprintf(id, sizeof id, "%s", txns[i]->id);
        pthread_mutex_unlock(&reg);
        if (!id[0]) return;
        close_as(id, owner, NULL);
    }
}
