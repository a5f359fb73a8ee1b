/* dbh: the engine's live state for one hosted database, hung on its db_t:
 * a pool of read connections (WAL readers, query_only) and the database's
 * single writer (core/writer). Created on first use; closed when the
 * database is deleted or its last reference goes. Thread-safe. */
#ifndef ATRIUM_CORE_DBH_H
#define ATRIUM_CORE_DBH_H
#include <stdbool.h>
#include <stdint.h>

#include "core/catalog.h"
#include "core/ops.h"
#include "core/writer.h"

typedef struct {
    bool no_group_commit;
    bool sync_normal;
    commit_listener_fn listener; /* sees every committed batch of every database (ctx: its db_t) */
    int max_running; /* statements one database runs on the thread pool at once (0: 2) */
} dbh_opts_t;

/* Sets the options for databases opened from now on, and registers the
 * closer with the catalog. Call once at start. */
void dbh_init(const dbh_opts_t *o);
/* Borrows a read connection (opened if the pool is empty). */
store_db_t *dbh_reader(db_t *d, err_t *e);
/* A running-statement slot: at most max_running statements of one
 * database run on the thread pool at once, the rest wait here (FIFO-ish,
 * BLOCKING: pool threads only) before their time limit starts, so queueing
 * never eats a statement's time. */
void dbh_slot_take(db_t *d);
void dbh_slot_give(db_t *d);
/* Returns a borrowed read connection to the pool. */
void dbh_reader_put(db_t *d, store_db_t *c);

/* The loop's read snapshot. Loop threads only: a read connection for this
 * loop pass, inside one read transaction that every read of d made on this
 * loop during the pass shares (one snapshot: SQLite's WAL read lock and
 * file checks once, not per statement). It ends at the end of the pass
 * (dbh_pass_end), and is started afresh as soon as the writer has
 * committed anything to d since it began (d->version moved: bumped before
 * any write is acknowledged), so a client always reads its own
 * acknowledged write. NULL if the loop already holds as many as it keeps:
 * use dbh_reader then. After each use, dbh_pass_done (never
 * dbh_reader_put). */
store_db_t *dbh_pass_reader(db_t *d, err_t *e);
void dbh_pass_done(store_db_t *c);
/* Ends every snapshot the calling loop holds (net's on_pass_end). */
void dbh_pass_end(void);
/* Queues a write job on the database's writer (started on first use). The
 * lock is held across the hand-over so a concurrent delete cannot close
 * the writer under it. -1 (and job->done not called) if that fails. */
int dbh_submit(db_t *d, write_job_t *job, err_t *e);
/* Takes a queued job back before it runs (see writer_cancel). */
bool dbh_cancel(db_t *d, write_job_t *job);
/* A number that changes whenever the file's content may have: the
 * writer's commits, and for a file served in place, anyone's (SQLite's
 * data_version). DBH_VERSION_UNKNOWN if it cannot tell (then nothing may
 * be reused). Any thread; a short lock. On a loop thread the number is
 * probed once per pass for a file served in place, before the loop's
 * snapshot of it begins (the snapshot is ended and begun again if need
 * be), so answers read from that snapshot are never labelled newer than
 * what they saw. So a loop never calls it while it holds that snapshot's
 * connection (between dbh_pass_reader and dbh_pass_done). */
#define DBH_VERSION_UNKNOWN UINT64_MAX
uint64_t dbh_version(db_t *d);
/* Writes a consistent copy of d (one read snapshot) to a new SQLite file
 * at path, reporting pages copied to op (may be NULL; a cancelled op stops
 * the copy). Pool threads only (it reads the whole file). */
int dbh_copy_to(db_t *d, const char *path, op_t *op, err_t *e);
/* Closes the live state now (writer drained first). */
void dbh_close(db_t *d);

#endif
