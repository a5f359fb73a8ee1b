/* subs: live subscriptions. A client (one WebSocket session, say) holds
 * sets of queries over single tables, `SELECT * | t.* FROM t [[AS] a]
 * [WHERE e]`; after every committed write job on the database, whatever
 * door it came through, the client receives the rows of that job that
 * entered or left each of its queries (spec/spacetimedb.md §4.4).
 *
 * How:
 * - Adding or removing a set is one exclusive job on the database's writer:
 *   the initial (or final) rows it reads reflect commit N exactly, and the
 *   set follows commits N+1… from then on.
 * - The writer's commit listener hands each committed batch's captured
 *   changes to one fan-out thread (nothing is copied while no client
 *   listens). There each change is matched: an insert by its new row, a
 *   delete by its old row, an update as delete(old) + insert(new); equal
 *   rows deleted and inserted for the same query in one job cancel. WHERE
 *   expressions are evaluated by SQLite itself, on a one-row copy of the
 *   table in a private in-memory database, so they mean exactly what they
 *   mean in a query; each distinct query is evaluated once per row however
 *   many clients share it.
 * - Updates reach clients in commit order, only for committed jobs.
 *
 * Threads: subs_client_new/close/add/remove from any thread (they never
 * wait for the writer); client callbacks run on the writer thread (set
 * replies) or the fan-out thread (updates), never on an event loop, and
 * must not block: copy, format and hand off. */
#ifndef ATRIUM_CORE_SUBS_H
#define ATRIUM_CORE_SUBS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/catalog.h"
#include "core/err.h"
#include "core/writer.h"
#include "store/store.h"

/* What one client may ask the engine to follow: queries per set, their
 * total text, and sets at once. Past them a set is refused (E_TOO_BIG). */
#define SUBS_MAX_QUERIES 256
#define SUBS_MAX_QUERY_BYTES 65536
#define SUBS_MAX_SETS 1024

/* A parsed subscription query. */
typedef struct {
    char *table;  /* as named (unquoted) */
    char *alias;  /* the name the WHERE clause uses for the table */
    char *where;  /* the expression text, or NULL */
} subs_query_t;

/* Parses `SELECT * | t.* FROM t [[AS] a] [WHERE e] [;]`: identifiers may be
 * quoted ("x", `x`, [x]); joins are refused ("joins in subscriptions are
 * not supported yet"); parentheses in e must balance. E_BAD_INPUT else. */
int subs_parse(const char *text, subs_query_t *q, err_t *e);
void subs_query_free(subs_query_t *q);
/* Compiles `SELECT <what> FROM "t" AS "a" [WHERE (e)]` on c under the
 * subscription policy: only its own table, no subqueries, no
 * non-deterministic functions, no parameter but :sender (bound to
 * sender). E_BAD_INPUT with the reason. */
int subs_compile(store_db_t *c, const subs_query_t *q, const char *what, const char *sender, store_stmt_t **out,
                 err_t *e);

/* Rows of one table, each ncols values in the table's column order. */
typedef struct {
    const char *table;
    uint32_t table_id;            /* 4096 + the table's place in the schema */
    int ncols;
    const char *const *names;     /* column names */
    const char *const *decltypes; /* declared types ("" if none) */
    const bool *notnull;          /* NOT NULL, or the rowid alias */
    size_t n;
    const store_value_t *vals; /* n * ncols */
} subs_rows_t;

/* One query's part of an update. */
typedef struct {
    uint64_t set_id;
    int index; /* the query's position in its set */
    subs_rows_t deletes, inserts;
    const char *door; /* the door whose write this is (write_job_t.door), or NULL */
    /* Never reused: deltas with equal stamps hold the same rows (clients
     * sharing a query in one job), so a dialect may format them once. */
    uint64_t stamp;
} subs_delta_t;

typedef struct subs_client subs_client_t;

/* A write made by a client's call (a reducer): every update it causes
 * names it, and its caller is told of the commit even without matches of
 * its own (unless quiet). Set it on the write job (job.origin); the commit
 * listener takes it. */
typedef struct {
    subs_client_t *caller; /* retained */
    char *reducer;
    char *args; /* the arguments' JSON text */
    uint32_t request_id;
    char identity[65];
    uint8_t conn_id[16];
    bool quiet; /* flags 1: no notice unless the caller's own rows changed */
    int64_t micros; /* how long the call ran (set by the caller's job) */
    /* set by the caller's job too, for dialects that need them: */
    uint32_t reducer_id;  /* the reducer's place in its module */
    uint8_t *args_bin;    /* the arguments in a binary encoding (malloc'd; freed with the origin) */
    size_t args_bin_len;
} subs_origin_t;

subs_origin_t *subs_origin_new(subs_client_t *caller, const char *reducer, const char *args, uint32_t request_id,
                               const char *identity, const uint8_t conn_id[16], bool quiet);
void subs_origin_free(subs_origin_t *o);

typedef struct {
    /* Fan-out thread: one committed job's matches for this client, in
     * commit order (n ≥ 1, or n = 0 for the caller of a write with an
     * origin: o is that origin then, else NULL for writes no client made). */
    void (*on_update)(void *ctx, const subs_delta_t *d, size_t n, const subs_origin_t *o);
    /* Fan-out thread: a query of set set_id can no longer be followed:
     * a job changed more rows than the engine records in its table
     * (STORE_CAPTURE_MAX_ROWS/BYTES), or it no longer compiles after a
     * schema change. msg says which; the client should resubscribe. */
    void (*on_error)(void *ctx, uint64_t set_id, const char *msg);
    /* Any thread: the database was deleted or closed (code 1001), or
     * cleared by a publish (1012). */
    void (*on_gone)(void *ctx, int code);
    /* The client is freed (after subs_client_close, once nothing runs for
     * it any more): let go of ctx. */
    void (*on_free)(void *ctx);
    /* Fan-out thread, may be NULL: the end of one committed job's updates
     * (on_update may hold them back until then, to hand them over in bulk). */
    void (*flush)(void);
} subs_ops_t;

/* sender: bound to :sender in WHERE expressions (may be NULL);
 * privileged: may follow a module's private tables (the owner, an admin). */
subs_client_t *subs_client_new(db_t *d, const subs_ops_t *ops, void *ctx, const char *sender, bool privileged);
/* Stops every set; no callback starts after this returns, on_free follows
 * once none runs. */
void subs_client_close(subs_client_t *c);

/* The outcome of an add or remove, on the writer thread: rc 0 with the
 * rows of each query (initial rows for an add, final rows for a remove),
 * or rc -1 with e (and nothing changed). */
typedef void (*subs_reply_fn)(void *ctx, int rc, const err_t *e, const subs_rows_t *rows, size_t n,
                              uint64_t micros);

/* Adds a set of queries under set_id (replacing a set of that id when
 * replace, else E_EXISTS if it has one). All queries are checked first
 * (table exists, expression compiles under the subscription policy); on
 * any error nothing changes. 0 if queued (reply follows), -1 (e) if not. */
int subs_add(subs_client_t *c, uint64_t set_id, bool replace, const char *const *queries, size_t n,
             subs_reply_fn reply, void *ctx, err_t *e);
/* Removes a set: the reply has its final rows. E_NOT_FOUND for an unknown
 * set (in the reply). */
int subs_remove(subs_client_t *c, uint64_t set_id, subs_reply_fn reply, void *ctx, err_t *e);
/* Whether the client has a set of that id (any thread). */
bool subs_has(subs_client_t *c, uint64_t set_id);

/* Runs one query now, on a read connection (OneOffQuery): its rows. */
typedef void (*subs_rows_fn)(void *ctx, const subs_rows_t *rows);
int subs_query_once(db_t *d, store_db_t *c, const char *text, const char *sender, bool privileged, subs_rows_fn fn,
                    void *ctx, err_t *e);

/* The writer's commit listener (install with dbh_init: ctx is the db). */
void subs_on_commit(void *ctx, write_job_t *const *jobs, size_t n);
/* The database is being closed or deleted: every client gets on_gone(1001). */
void subs_db_closed(db_t *d);
/* A publish cleared the database: every client gets on_gone(1012). */
void subs_db_cleared(db_t *d);
/* Frees the registry with the db_t itself (core/catalog). */
void subs_db_free(db_t *d);
/* Starts and stops the fan-out thread (stop: after the last client closed;
 * what is queued is delivered first). */
void subs_init(void);
void subs_shutdown(void);

#endif
