/* dbh: per-database connections and writer (see dbh.h). */
#include "core/dbh.h"

#include "core/subs.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include "util/buf.h"
#include "util/thread.h"

#define POOL_MAX 8 /* idle readers kept per database; more may be open while busy */
/* Idle readers kept across all databases: each holds its page cache
 * (~2 MiB at most), so the total stays bounded however many databases are
 * served. Past it a returned reader is closed. */
#define IDLE_MAX_TOTAL 32

static int idle_total; /* atomic */

typedef struct {
    writer_t *writer;
    store_db_t *idle[POOL_MAX];
    int nidle;
    bool prepared; /* WAL mode set on the file */
    store_db_t *probe; /* a file served in place: asks SQLite whether anyone changed it */
} dbh_t;

static dbh_opts_t opts;

static int slots = 2;

void dbh_init(const dbh_opts_t *o) {
    opts = *o;
    slots = o->max_running > 0 ? o->max_running : 2;
    catalog_set_state_closer(dbh_close);
}

/* Returns the state, creating it (and switching the file to WAL) on first
 * use. Called with d->state_lock held. */
static dbh_t *state_locked(db_t *d, err_t *e) {
    dbh_t *h = d->state;
    if (h) return h;
    if (__atomic_load_n(&d->deleted, __ATOMIC_ACQUIRE)) {
        err_set(e, E_NOT_FOUND, "database '%s' was deleted", d->name);
        return NULL;
    }
    store_db_t *s;
    char msg[256];
    if (store_open(d->path, STORE_WAL | (opts.sync_normal ? STORE_SYNC_NORMAL : 0), &s, msg, sizeof msg) < 0) {
        err_set(e, E_INTERNAL, "opening %s: %s", d->name, msg);
        return NULL;
    }
    store_close(s);
    h = xcalloc(1, sizeof *h);
    d->state = h;
    return h;
}

store_db_t *dbh_reader(db_t *d, err_t *e) {
    pthread_mutex_lock(&d->state_lock);
    dbh_t *h = state_locked(d, e);
    store_db_t *c = NULL;
    if (h && h->nidle > 0) {
        c = h->idle[--h->nidle];
        __atomic_sub_fetch(&idle_total, 1, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&d->state_lock);
    if (c || !h) return c;
    char msg[256];
    if (store_open(d->path, 0, &c, msg, sizeof msg) < 0) {
        err_set(e, E_INTERNAL, "opening %s: %s", d->name, msg);
        return NULL;
    }
    /* Readers never write, whatever the SQL says. */
    store_exec(c, "PRAGMA query_only=1; PRAGMA mmap_size=1073741824;");
    return c;
}

/* ---- the loop's read snapshots ----------------------------------------- */

#define PASS_MAX 8 /* databases one loop pass keeps a snapshot of */

/* Each loop thread's own (never shared, so never locked). */
static __thread struct {
    db_t *d;
    store_db_t *c;
    uint64_t version; /* d->version before the snapshot began */
    int64_t dv;       /* a file served in place: its data_version, probed
                         before the snapshot began (dbh_version); -1 if not */
} pass[PASS_MAX];
static __thread int npass;
#ifdef ATRIUM_THREAD_CHECKS
static __thread int held; /* pass connections handed out and not yet done */
#define HELD(n) (held += (n))
static void assert_none_held(const char *who) {
    if (held == 0) return;
    fprintf(stderr, "atrium: %s while this loop holds a snapshot connection\n", who);
    abort();
}
#else
#define HELD(n) ((void)0)
#define assert_none_held(who) ((void)0)
#endif

static void pass_close(int i);

store_db_t *dbh_pass_reader(db_t *d, err_t *e) {
    ASSERT_ON_LOOP();
    uint64_t v = __atomic_load_n(&d->version, __ATOMIC_ACQUIRE);
    for (int i = 0; i < npass; i++) {
        if (pass[i].d != d) continue;
        if (pass[i].version == v) {
            HELD(1);
            return pass[i].c;
        }
        pass_close(i); /* a commit since: its writer may be reading next */
        break;
    }
    if (npass == PASS_MAX) return NULL;
    store_db_t *c = dbh_reader(d, e);
    if (!c) return NULL;
    /* deferred: the read transaction (and its snapshot) starts with the
     * first statement and lasts until the pass ends */
    if (store_exec(c, "BEGIN") < 0) {
        dbh_reader_put(d, c);
        return NULL;
    }
    db_retain(d);
    pass[npass].d = d;
    pass[npass].c = c;
    pass[npass].version = v;
    pass[npass].dv = -1;
    npass++;
    HELD(1);
    return c;
}

void dbh_pass_done(store_db_t *c) {
    HELD(-1);
    store_set_authorizer(c, NULL, NULL);
    store_set_deadline(c, 0);
}

static void pass_close(int i) {
    db_t *d = pass[i].d;
    store_db_t *c = pass[i].c;
    pass[i] = pass[--npass];
    if (store_in_txn(c) && store_exec(c, "COMMIT") < 0) store_exec(c, "ROLLBACK");
    if (store_in_txn(c)) { /* not reusable as it is */
        store_close(c);
    } else {
        dbh_reader_put(d, c);
    }
    db_release(d);
}

void dbh_pass_end(void) {
    assert_none_held(__func__);
    while (npass) pass_close(npass - 1);
}

void dbh_slot_take(db_t *d) {
    ASSERT_OFF_LOOP();
    pthread_mutex_lock(&d->state_lock);
    while (d->running >= slots) pthread_cond_wait(&d->slot_cv, &d->state_lock);
    d->running++;
    pthread_mutex_unlock(&d->state_lock);
}

void dbh_slot_give(db_t *d) {
    pthread_mutex_lock(&d->state_lock);
    d->running--;
    pthread_cond_signal(&d->slot_cv);
    pthread_mutex_unlock(&d->state_lock);
}

void dbh_reader_put(db_t *d, store_db_t *c) {
    if (!c) return;
    store_set_authorizer(c, NULL, NULL);
    store_set_deadline(c, 0);
    pthread_mutex_lock(&d->state_lock);
    dbh_t *h = d->state;
    /* deleted is set under the registry lock, not this one: read it atomically */
    bool keep = h && h->nidle < POOL_MAX && !__atomic_load_n(&d->deleted, __ATOMIC_ACQUIRE);
    if (keep && __atomic_add_fetch(&idle_total, 1, __ATOMIC_RELAXED) > IDLE_MAX_TOTAL) {
        __atomic_sub_fetch(&idle_total, 1, __ATOMIC_RELAXED); /* over the total: close it */
        keep = false;
    }
    if (keep) {
        h->idle[h->nidle++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&d->state_lock);
    store_close(c);
}

int dbh_submit(db_t *d, write_job_t *job, err_t *e) {
    pthread_mutex_lock(&d->state_lock);
    dbh_t *h = state_locked(d, e);
    if (h && !h->writer) {
        writer_opts_t wo = {.group_commit = !opts.no_group_commit,
                            .sync_normal = opts.sync_normal,
                            .listener = opts.listener,
                            .listener_ctx = d,
                            .version = &d->version,
                            .checkpoints = &d->checkpoints};
        if (writer_open(d->path, &wo, &h->writer, e) < 0) h->writer = NULL;
    }
    writer_t *w = h ? h->writer : NULL;
    if (w) writer_submit(w, job);
    pthread_mutex_unlock(&d->state_lock);
    return w ? 0 : -1;
}

bool dbh_cancel(db_t *d, write_job_t *job) {
    pthread_mutex_lock(&d->state_lock);
    dbh_t *h = d->state;
    bool taken = h && h->writer && writer_cancel(h->writer, job);
    pthread_mutex_unlock(&d->state_lock);
    return taken;
}

void dbh_close(db_t *d) {
    ASSERT_OFF_LOOP();
    pthread_mutex_lock(&d->state_lock);
    dbh_t *h = d->state;
    d->state = NULL;
    pthread_mutex_unlock(&d->state_lock);
    subs_db_closed(d); /* its subscribers hear it first */
    if (!h) return;
    writer_close(h->writer); /* finishes queued jobs first */
    for (int i = 0; i < h->nidle; i++) store_close(h->idle[i]);
    __atomic_sub_fetch(&idle_total, h->nidle, __ATOMIC_RELAXED);
    store_close(h->probe);
    free(h);
}

/* SQLite's data_version of a file served in place, on a connection of
 * our own (it sees every other connection's commits, another process's
 * too); -1 if it cannot tell. */
static int64_t probe_data_version(db_t *d) {
    int64_t dv = -1;
    err_t e;
    pthread_mutex_lock(&d->state_lock);
    dbh_t *h = state_locked(d, &e);
    if (h && !h->probe) {
        char msg[256];
        if (store_open(d->path, 0, &h->probe, msg, sizeof msg) < 0) h->probe = NULL;
    }
    store_stmt_t *st;
    if (h && h->probe && store_cached(h->probe, "PRAGMA data_version", &st) == 0) {
        if (store_step(st) == STORE_ROW) dv = store_col_int(st, 0);
        store_reset(st);
    }
    pthread_mutex_unlock(&d->state_lock);
    return dv;
}

static uint64_t with_dv(uint64_t v, int64_t dv) {
    return dv < 0 ? DBH_VERSION_UNKNOWN : (v << 32) | ((uint64_t)dv & 0xffffffffu);
}

uint64_t dbh_version(db_t *d) {
    uint64_t v = __atomic_load_n(&d->version, __ATOMIC_ACQUIRE);
    if (!d->in_place) return v;
    if (!thread_is_loop()) return with_dv(v, probe_data_version(d));
    /* On a loop, the number labels answers read from the loop's snapshot,
     * so it must never be newer than that snapshot: the probe runs before
     * the snapshot begins (its BEGIN is deferred to the first statement)
     * and is kept for the rest of the pass, one probe per pass, not one
     * per request. A snapshot opened earlier without a probe may predate
     * another process's commit the probe would see: it is ended first. */
    assert_none_held(__func__);
    for (int i = 0; i < npass; i++) {
        if (pass[i].d != d) continue;
        if (pass[i].version == v && pass[i].dv >= 0) return with_dv(v, pass[i].dv);
        pass_close(i);
        break;
    }
    int64_t dv = probe_data_version(d);
    err_t e;
    store_db_t *c = dv >= 0 ? dbh_pass_reader(d, &e) : NULL;
    if (c) {
        for (int i = 0; i < npass; i++)
            if (pass[i].d == d && pass[i].version == v) pass[i].dv = dv;
        dbh_pass_done(c);
    }
    return with_dv(v, dv);
}

int dbh_copy_to(db_t *d, const char *path, op_t *op, err_t *e) {
    ASSERT_OFF_LOOP();
    store_db_t *src = dbh_reader(d, e), *dst = NULL;
    if (!src) return -1;
    char msg[256];
    int rc = store_open(path, STORE_CREATE, &dst, msg, sizeof msg);
    op_phase(op, "copying", 0, "pages");
    if (rc == 0) rc = store_backup(dst, src, op ? op_pages : NULL, op, msg, sizeof msg);
    store_close(dst);
    dbh_reader_put(d, src);
    if (rc < 0) {
        unlink(path);
        return err_set(e, E_INTERNAL, "copying %s: %s", d->name, msg);
    }
    return 0;
}
