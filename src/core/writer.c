/* writer: group commit over one write connection (see writer.h). */
#include "core/writer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/metrics.h"
#include "util/thread.h"
#include "util/timeutil.h"

struct writer {
    store_db_t *db;
    writer_opts_t o;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    write_job_t *head, *tail;
    bool stopping;
    size_t commits;
};

static void fail_job(write_job_t *j, const err_t *why) {
    j->rc = -1;
    j->err = *why;
    changeset_free(&j->changes);
}

/* Runs one job inside its savepoint; its changes are kept only if it ends
 * well. */
static void run_job(writer_t *w, write_job_t *j) {
    changeset_t cur = {0};
    err_clear(&j->err);
    if (store_exec(w->db, "SAVEPOINT job") < 0) {
        err_sql(&j->err, -1, store_errmsg(w->db));
        j->rc = -1;
        return;
    }
    store_capture(w->db, &cur);
    j->rc = j->run(w->db, j->arg, &j->err);
    store_capture(w->db, NULL);
    if (j->rc == 0 && !store_in_txn(w->db)) {
        /* The job ended the batch's transaction itself: callers must refuse
         * transaction statements; if one slips through, fail loudly. */
        j->rc = err_set(&j->err, E_INTERNAL, "a write job may not end the transaction");
    } else if (j->rc == 0 && store_deferred_fks(w->db) > 0) {
        j->rc = err_set(&j->err, E_SQL, "FOREIGN KEY constraint failed");
        j->err.sql_code = 787; /* SQLITE_CONSTRAINT_FOREIGNKEY */
    }
    if (j->rc == 0) {
        store_exec(w->db, "RELEASE job");
        changeset_move(&j->changes, &cur);
    } else {
        if (store_in_txn(w->db)) {
            store_exec(w->db, "ROLLBACK TO job");
            store_exec(w->db, "RELEASE job");
        }
        changeset_free(&cur);
    }
}

static void run_batch(writer_t *w, write_job_t *batch) {
    err_t e;
    int rc = batch->outside_txn ? 0 : store_exec(w->db, "BEGIN IMMEDIATE");
    if (batch->outside_txn) {
        err_clear(&batch->err);
        batch->rc = batch->run(w->db, batch->arg, &batch->err);
        if (store_in_txn(w->db)) { /* it must leave none open */
            store_exec(w->db, "ROLLBACK");
            if (batch->rc == 0) batch->rc = err_set(&batch->err, E_INTERNAL, "a job outside transactions left one open");
        }
    } else if (rc < 0) {
        err_sql(&e, rc, store_errmsg(w->db));
        for (write_job_t *j = batch; j; j = j->next) fail_job(j, &e);
    } else {
        for (write_job_t *j = batch; j; j = j->next) {
            run_job(w, j);
            if (!store_in_txn(w->db)) {
                /* SQLite rolled the whole transaction back (I/O error, disk
                 * full…): the batch's earlier jobs are undone too. */
                err_set(&e, E_INTERNAL, "rolled back with a later job of the same batch: %s", j->err.msg);
                for (write_job_t *k = batch; k != j; k = k->next)
                    if (k->rc == 0) fail_job(k, &e);
                store_exec(w->db, "BEGIN IMMEDIATE");
            }
        }
        uint64_t t0 = time_mono_us();
        rc = store_exec(w->db, "COMMIT");
        metrics_observe0(MET_COMMIT_DURATION, (double)(time_mono_us() - t0) / 1e6);
        if (rc < 0) {
            /* Nothing of the batch is durable: every job fails. */
            err_sql(&e, rc, store_errmsg(w->db));
            store_exec(w->db, "ROLLBACK");
            for (write_job_t *j = batch; j; j = j->next)
                if (j->rc == 0) fail_job(j, &e);
        }
    }
    size_t n = 0;
    for (write_job_t *j = batch; j; j = j->next) n++;
    metrics_observe0(MET_COMMIT_BATCH, (double)n);
    write_job_t **arr = xmalloc((n ? n : 1) * sizeof *arr);
    n = 0;
    for (write_job_t *j = batch; j; j = j->next) arr[n++] = j;
    pthread_mutex_lock(&w->lock);
    w->commits++;
    pthread_mutex_unlock(&w->lock);
    if (w->o.version) __atomic_add_fetch(w->o.version, 1, __ATOMIC_RELEASE);
    if (w->o.listener) w->o.listener(w->o.listener_ctx, arr, n);
    for (size_t i = 0; i < n; i++) {
        arr[i]->next = NULL;
        arr[i]->done(arr[i]); /* may free the job: touch it no more */
    }
    free(arr);
}

static void *writer_main(void *arg) {
    writer_t *w = arg;
    size_t max = w->o.group_commit ? (w->o.max_batch ? w->o.max_batch : 256) : 1;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->head && !w->stopping) pthread_cond_wait(&w->wake, &w->lock);
        if (!w->head) break;
        write_job_t *batch = w->head, *last = batch;
        /* An exclusive job is a batch of its own: its commit is its own (and
         * a job outside transactions has none). */
        for (size_t k = 1; k < max && last->next && !batch->exclusive && !last->next->exclusive &&
                           !batch->outside_txn && !last->next->outside_txn;
             k++)
            last = last->next;
        w->head = last->next;
        if (!w->head) w->tail = NULL;
        last->next = NULL;
        int64_t taken = 0;
        for (write_job_t *j = batch; j; j = j->next) taken++;
        metrics_gauge_add0(MET_WRITER_QUEUE, -taken);
        pthread_mutex_unlock(&w->lock);
        run_batch(w, batch);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

int writer_open(const char *path, const writer_opts_t *o, writer_t **out, err_t *e) {
    *out = NULL;
    writer_t *w = xcalloc(1, sizeof *w);
    w->o = *o;
    char msg[256];
    int flags = STORE_CREATE | STORE_WAL | (o->sync_normal ? STORE_SYNC_NORMAL : 0);
    if (store_open(path, flags, &w->db, msg, sizeof msg) < 0) {
        free(w);
        return err_set(e, E_INTERNAL, "opening writer for %s: %s", path, msg);
    }
    store_count_checkpoints(w->db, o->checkpoints);
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        store_close(w->db);
        free(w);
        return err_set(e, E_INTERNAL, "cannot start writer thread");
    }
    *out = w;
    return 0;
}

void writer_submit(writer_t *w, write_job_t *job) {
    job->next = NULL;
    err_clear(&job->err);
    job->rc = 0;
    job->changes = (changeset_t){0};
    pthread_mutex_lock(&w->lock);
    if (w->stopping) {
        pthread_mutex_unlock(&w->lock);
        err_t e;
        err_set(&e, E_INTERNAL, "the database is closing");
        fail_job(job, &e);
        job->done(job);
        return;
    }
    if (w->tail) w->tail->next = job;
    else w->head = job;
    w->tail = job;
    metrics_gauge_add0(MET_WRITER_QUEUE, 1);
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

bool writer_cancel(writer_t *w, write_job_t *job) {
    pthread_mutex_lock(&w->lock);
    write_job_t *prev = NULL, *j = w->head;
    while (j && j != job) prev = j, j = j->next;
    if (j) {
        if (prev) prev->next = j->next;
        else w->head = j->next;
        if (w->tail == j) w->tail = prev;
        j->next = NULL;
        metrics_gauge_add0(MET_WRITER_QUEUE, -1);
    }
    pthread_mutex_unlock(&w->lock);
    return j != NULL;
}

size_t writer_commits(writer_t *w) {
    pthread_mutex_lock(&w->lock);
    size_t n = w->commits;
    pthread_mutex_unlock(&w->lock);
    return n;
}

void writer_close(writer_t *w) {
    ASSERT_OFF_LOOP();
    if (!w) return;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    store_close(w->db);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->wake);
    free(w);
}
