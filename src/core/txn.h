/* txn: interactive transactions (spec/typedb.md §4).
 * - read: a pooled reader pinned with BEGIN and one read, so the snapshot is
 *   fixed at open.
 * - write/schema: the database's writer, taken by an exclusive *hold job*
 *   that parks the writer thread and lends its connection to the
 *   transaction until commit (the job returns 0: its batch COMMITs), close or
 *   expiry (the job returns -1: rolled back). A schema transaction takes it
 *   at open, a write transaction at its first query; waiters queue FIFO on
 *   the writer up to their lock timeout (then TXN_E_LOCK_TIMEOUT, and the
 *   queued hold is cancelled).
 * - Every transaction has a fixed deadline; a reaper thread closes it then
 *   (interrupting a running query).
 * - Requests on one transaction run one at a time, in arrival order: each
 *   enters the transaction's line (txn_enter) and, once its turn comes (and,
 *   for a write or schema query, the writer is held), runs with it.
 * Waiting never parks a thread: a request that cannot run yet is queued and
 * its ready callback fires when its turn comes or the wait fails (lock
 * timeout, deadline, close). The lock timeouts are kept by the reaper.
 * Threads: every function may block briefly (opening a database for its
 * writer, a COMMIT, a close interrupting a running query): call them off
 * the event loop. ready callbacks run on the writer, reaper or a pool
 * thread, possibly under the engine's locks: they must only hand off (e.g.
 * http_post) and never call back into txn. */
#ifndef ATRIUM_CORE_TXN_H
#define ATRIUM_CORE_TXN_H
#include <stdbool.h>
#include <stdint.h>

#include "core/auth.h"
#include "core/catalog.h"
#include "core/err.h"
#include "core/sql.h"
#include "util/ids.h"

enum {
    TXN_E_NOT_FOUND = 1, /* unknown, closed or expired id */
    TXN_E_NOT_OWNER,
    TXN_E_LOCK_TIMEOUT,
    TXN_E_EXPIRED,     /* the deadline passed during this request */
    TXN_E_CLOSED,      /* interrupted by a concurrent close */
    TXN_E_READ_COMMIT, /* read transactions cannot commit / roll back */
    TXN_E_READ_ROLLBACK,
    TXN_E_QUERY,  /* the query failed: see err and *closed */
    TXN_E_COMMIT, /* COMMIT failed: see err; the transaction is closed */
    TXN_E_INTERNAL,
    TXN_PENDING = 100, /* queued: the ready callback tells the outcome later */
};

/* rc 0: the turn is now the caller's (run exactly one of txn_query,
 * txn_commit or txn_rollback with it); otherwise a TXN_E_* code. */
typedef void (*txn_ready_fn)(void *ctx, int rc);

/* A request's place in a transaction's line. The caller provides the
 * storage and keeps it until the turn is used or ready has fired; the
 * fields are the engine's. */
typedef struct txn_turn {
    struct txn *t;
    struct txn_turn *next;
    txn_ready_fn ready;
    void *ctx;
    bool wants_writer; /* a query on a write or schema transaction */
    bool at_writer;    /* its turn came; it waits for the writer */
    bool opening;      /* a schema transaction's open */
} txn_turn_t;

void txn_init(void);
/* Closes every transaction and stops the reaper. */
void txn_shutdown(void);

/* Opens a transaction: 0 (id set), a TXN_E_* code, or TXN_PENDING (a
 * schema transaction waits for the writer in turn: ready(ctx, 0) once it is
 * open under id, else ready(ctx, TXN_E_*)). */
int txn_open(db_t *d, const char *door, int64_t owner, sql_class_t type, int64_t timeout_ms, int64_t lock_timeout_ms,
             char id[UUID_LEN + 1], txn_turn_t *turn, txn_ready_fn ready, void *ctx, err_t *e);
/* Every request on a transaction is checked against the actor presenting
 * it: its principal must own the transaction, and its token must carry
 * the transaction type's right on the database (else TXN_E_NOT_OWNER). */
/* Joins the line of the caller's transaction id; query says whether the
 * request is a query (which, on a write or schema transaction, needs the
 * writer). 0: the turn is the caller's now; TXN_PENDING: ready fires later
 * (never inside this call); else a TXN_E_* code. */
int txn_enter(txn_turn_t *turn, const char *id, const actor_t *caller, bool query, txn_ready_fn ready, void *ctx);
/* With the turn: runs a (multi-statement, atomic) query; rows of the last
 * statement go to the sink. On TXN_E_QUERY, *closed tells whether it
 * closed the transaction (execution errors do; prepare-time ones do not).
 * Each of these three ends the turn. */
int txn_query(txn_turn_t *turn, const char *sql, size_t len, const sql_opts_t *opts, const sql_sink_t *sink,
              void *ctx, sql_result_t *res, bool *closed, sql_class_t *type, err_t *e);
int txn_commit(txn_turn_t *turn, sql_class_t *type, err_t *e);
int txn_rollback(txn_turn_t *turn, err_t *e);
/* Unknown ids close fine (0). */
int txn_close(const char *id, const actor_t *caller);
/* Marks every transaction closing and interrupts running queries, without
 * waiting (shutdown's grace ran out); requests then finish promptly. */
void txn_interrupt_all(void);
/* Open transactions on d (a database in use cannot be deleted). */
int txn_count(const db_t *d);
/* Closes every transaction of a principal (password change, deletion). */
void txn_close_owner(int64_t owner);

#endif
