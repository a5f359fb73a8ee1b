/* writer: the single writer of one database. A thread owns the database's
 * write connection and drains a FIFO of write jobs. With group commit, the
 * jobs queued at that moment (up to max_batch) run in ONE transaction, each
 * inside its own SAVEPOINT, so a failing job rolls back only itself; one
 * COMMIT (one fsync) then makes the whole batch durable. Every row change a
 * job makes is captured (pre-update hook) into job->changes; rolled-back
 * jobs capture nothing. After COMMIT the listener sees the batch, then each
 * job's done callback runs (on the writer thread: hand off to your own
 * thread from there). Invariant: done is called exactly once per job, and
 * rc == 0 only if the job's effects are committed. */
#ifndef ATRIUM_CORE_WRITER_H
#define ATRIUM_CORE_WRITER_H
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "store/store.h"

typedef struct writer writer_t;
typedef struct write_job write_job_t;

/* Runs the job's statements on the write connection; 0 or -1 with e set. */
typedef int (*write_run_fn)(store_db_t *db, void *arg, err_t *e);
typedef void (*write_done_fn)(write_job_t *job);
/* Sees every committed batch (failed jobs included, with rc < 0). */
typedef void (*commit_listener_fn)(void *ctx, write_job_t *const *jobs, size_t n);

struct write_job {
    write_run_fn run;
    write_done_fn done;
    void *arg;
    int rc;
    err_t err;
    changeset_t changes;
    bool exclusive;    /* runs alone in its batch (interactive transactions) */
    /* runs alone and outside any transaction (VACUUM, restoring a copy):
     * run sees the bare connection; no changes are captured */
    bool outside_txn;
    /* Who made this write, for live subscriptions (core/subs'
     * subs_origin_t): the commit listener takes it; whatever is left when
     * done runs is the job owner's to free. */
    void *origin;
    /* The door (dialect name, a static string) whose request made it, so
     * live subscriptions can say where a change came from; NULL: none. */
    const char *door;
    write_job_t *next; /* queue link (writer-private) */
};

typedef struct {
    bool group_commit;      /* false: one transaction (and fsync) per job */
    bool sync_normal;       /* synchronous=NORMAL instead of FULL */
    size_t max_batch;       /* 0: 256 */
    commit_listener_fn listener;
    void *listener_ctx;
    /* bumped (atomically) after every batch's COMMIT, before its jobs hear
     * of it, so a reader that sees an acknowledged write also sees the
     * new number (may be NULL) */
    uint64_t *version;
    uint64_t *checkpoints; /* WAL checkpoints, counted (atomically; may be NULL) */
} writer_opts_t;

int writer_open(const char *path, const writer_opts_t *o, writer_t **out, err_t *e);
/* Queues a job (thread-safe). After writer_close has begun, the job fails. */
void writer_submit(writer_t *w, write_job_t *job);
/* Takes a job back if it is still queued (not yet running): true, and its
 * done is never called; false if it already runs or ran. Thread-safe. */
bool writer_cancel(writer_t *w, write_job_t *job);
/* Finishes the queued jobs, stops the thread, closes the connection. */
void writer_close(writer_t *w);
/* Batches committed so far (for tests and stats). */
size_t writer_commits(writer_t *w);

#endif
