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
 * - Requests on one transaction run one at a time, in arrival order.
 * All functions BLOCK (waiting for the writer, for their turn, for a
 * commit): call them off the event loop. */
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
};

void txn_init(void);
/* Closes every transaction and stops the reaper. */
void txn_shutdown(void);

int txn_open(db_t *d, int64_t owner, sql_class_t type, int64_t timeout_ms, int64_t lock_timeout_ms,
             char id[UUID_LEN + 1], err_t *e);
/* Every request on a transaction is checked against the actor presenting
 * it: its principal must own the transaction, and its token must carry
 * the transaction type's right on the database (else TXN_E_NOT_OWNER). */
/* Runs a (multi-statement, atomic) query; rows of the last statement go to
 * the sink. On TXN_E_QUERY, *closed tells whether it closed the
 * transaction (execution errors do; prepare-time ones do not). */
int txn_query(const char *id, const actor_t *caller, const char *sql, size_t len, const sql_opts_t *opts,
              const sql_sink_t *sink, void *ctx, sql_result_t *res, bool *closed, sql_class_t *type, err_t *e);
int txn_commit(const char *id, const actor_t *caller, sql_class_t *type, err_t *e);
int txn_rollback(const char *id, const actor_t *caller, err_t *e);
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
