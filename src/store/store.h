/* store: the only code that includes <sqlite3.h>. It wraps connections and
 * statements behind small opaque types and a typed value struct so the rest of
 * Atrium never sees SQLite's API. Errors are returned as negative SQLite
 * extended result codes; the text is available from store_errmsg().
 * A store_db_t is used by one thread at a time (the caller serialises). */
#ifndef ATRIUM_STORE_STORE_H
#define ATRIUM_STORE_STORE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

typedef struct store_db store_db_t;
typedef struct store_stmt store_stmt_t;

enum {
    STORE_CREATE = 1,   /* create the file if missing */
    STORE_READONLY = 2, /* open read-only */
    STORE_WAL = 4,      /* switch to WAL journaling */
    STORE_SYNC_NORMAL = 8, /* synchronous=NORMAL instead of FULL */
};

enum { STORE_DONE = 0, STORE_ROW = 1 };

typedef enum { SV_NULL, SV_INT, SV_REAL, SV_TEXT, SV_BLOB } sv_type_t;

typedef struct {
    sv_type_t type;
    int64_t i;
    double d;
    const char *p; /* text (NUL-terminated) or blob bytes; valid until the next step */
    size_t n;
} store_value_t;

/* Process-wide SQLite set-up; call once before any other store function.
 * Turns off SQLite's memory statistics, whose global mutex every allocation
 * would otherwise take (connections are never shared between threads at
 * the same time, so per-connection mutexes stay off too: NOMUTEX). */
/* The longest string or blob a connection opened later may make or read
 * (SQLITE_LIMIT_LENGTH); zero or less: unchanged. Call at start. */
void store_set_max_value(int max_value);
int store_global_init(void);

/* Opens path; on failure returns -code and writes a message into err. */
int store_open(const char *path, int flags, store_db_t **out, char *err, size_t errlen);
/* Installs the fsync-timing VFS as SQLite's default (store_open does it
 * before its first open; idempotent). */
void store_vfs_init(void);
/* A connection opened with STORE_WAL checkpoints as SQLite does by default
 * (passively, past 1000 WAL pages) and counts each one in the metrics and,
 * if set, in *counter (atomically). Set it before the first commit. */
void store_count_checkpoints(store_db_t *db, uint64_t *counter);
void store_close(store_db_t *db);
const char *store_errmsg(store_db_t *db);
const char *store_version(void);

int store_exec(store_db_t *db, const char *sql);
/* Reports a long copy's progress (pages done of total); false cancels it. */
typedef bool (*store_progress_fn)(void *ctx, uint64_t done, uint64_t total);
/* Copies the whole of src's main database into dst's as one consistent
 * snapshot of src; readers of dst see the old content or the new, never a
 * mix. Without progress, in one step; with it, 256 pages at a time inside
 * one read transaction of src, calling progress after each. dst must have
 * no transaction open. 0 or -1 with err set ("cancelled" if progress said
 * stop). */
int store_backup(store_db_t *dst, store_db_t *src, store_progress_fn progress, void *ctx, char *err,
                 size_t errlen);
/* SQLite's PRAGMA quick_check: 0 if it answers "ok", else -1 with its
 * first complaint in err. */
int store_quick_check(store_db_t *db, char *err, size_t errlen);
int store_prepare(store_db_t *db, const char *sql, store_stmt_t **out);
/* A prepared statement kept for the connection's life, keyed by the sql text;
 * hand it back with store_reset(), never finalize it. */
int store_cached(store_db_t *db, const char *sql, store_stmt_t **out);
/* Finalizes a statement; one adopted by the dynamic cache is only reset
 * and handed back to it. */
void store_finalize(store_stmt_t *st);

/* A per-connection cache of statements prepared from user SQL, keyed by
 * the exact text, each with a caller-defined tag (core keeps the SQL class
 * there, since the authorizer does not run again on reuse). get returns
 * an idle statement for the text (reset, unbound), or NULL; put adopts a
 * statement just prepared from that whole text. */
store_stmt_t *store_cache_get(store_db_t *db, const char *sql, size_t len, int *tag);
void store_cache_put(store_db_t *db, const char *sql, size_t len, store_stmt_t *st, int tag);
void store_reset(store_stmt_t *st);

void store_bind_null(store_stmt_t *st, int idx);
void store_bind_int(store_stmt_t *st, int idx, int64_t v);
void store_bind_double(store_stmt_t *st, int idx, double v);
void store_bind_text(store_stmt_t *st, int idx, const char *s, size_t n);
void store_bind_blob(store_stmt_t *st, int idx, const void *p, size_t n);

/* STORE_ROW, STORE_DONE or -code. */
int store_step(store_stmt_t *st);
int store_col_count(store_stmt_t *st);
const char *store_col_name(store_stmt_t *st, int i);
sv_type_t store_col_type(store_stmt_t *st, int i);
int64_t store_col_int(store_stmt_t *st, int i);
double store_col_double(store_stmt_t *st, int i);
/* Text of column i (never NULL; "" for NULL), its length in *n if n. */
const char *store_col_text(store_stmt_t *st, int i, size_t *n);
const void *store_col_blob(store_stmt_t *st, int i, size_t *n);
void store_col_value(store_stmt_t *st, int i, store_value_t *v);

int64_t store_changes(store_db_t *db);
int64_t store_last_rowid(store_db_t *db);

/* ---- statement facts and limits -------------------------------------- */

bool store_stmt_readonly(store_stmt_t *st);
/* Ends any running statement on db with an "interrupted" error; callable
 * from any thread. */
void store_interrupt(store_db_t *db);
/* Statements on db fail with STORE_E_INTERRUPT once the monotonic clock
 * passes deadline_us (0: no limit). Checked every few thousand VM steps. */
void store_set_deadline(store_db_t *db, uint64_t deadline_us);
/* True while a transaction is open on db. */
bool store_in_txn(store_db_t *db);
/* Outstanding deferred foreign-key violations on db (0: none). */
int store_deferred_fks(store_db_t *db);
#define STORE_E_INTERRUPT 9 /* SQLITE_INTERRUPT */
#define STORE_E_CONSTRAINT 19

/* Prepares the first statement of sql[0..len); *tail is set past it. *out is
 * NULL (and 0 returned) when only whitespace or comments remain. */
int store_prepare_next(store_db_t *db, const char *sql, size_t len, store_stmt_t **out, const char **tail);
int store_param_count(store_stmt_t *st);
/* Name of parameter i (1-based) with its prefix (":x", "@x", "$x", "?3"), or NULL for a bare "?". */
const char *store_param_name(store_stmt_t *st, int i);
bool store_stmt_isexplain(store_stmt_t *st);

/* What SQLite knows of result column i: its declared type ("" if none or an
 * expression), whether it is a plain table column, NOT NULL, or an INTEGER
 * PRIMARY KEY (the rowid: never NULL). */
typedef struct {
    const char *decltype;
    bool is_column;
    bool not_null;
    bool rowid_pk;
    const char *table, *column; /* a plain column's table and name (valid with the statement), else NULL */
} store_col_meta_t;
/* db: the connection st belongs to. The facts are kept with st until
 * SQLite prepares it again (a schema change). Working them out may use
 * store_cached on db, so st is never one of store_cached's own. */
void store_col_meta(store_db_t *db, store_stmt_t *st, int i, store_col_meta_t *m);

/* What a statement is about to do, for the authorizer. */
typedef enum {
    SACT_READ = 1, SACT_SELECT, SACT_INSERT, SACT_UPDATE, SACT_DELETE,
    SACT_SCHEMA,      /* CREATE/DROP/ALTER of tables, indexes, views, triggers, vtables; REINDEX; ANALYZE */
    SACT_TEMP_SCHEMA, /* the same on TEMP objects */
    SACT_PRAGMA, SACT_TRANSACTION, SACT_SAVEPOINT, SACT_ATTACH, SACT_DETACH, SACT_FUNCTION, SACT_RECURSIVE,
    SACT_OTHER,
} store_action_t;

/* Returns true to allow. a1/a2 as SQLite gives them (table/column, pragma
 * name/value, function name, …). */
typedef bool (*store_authorizer_fn)(void *ctx, store_action_t act, const char *a1, const char *a2);
void store_set_authorizer(store_db_t *db, store_authorizer_fn fn, void *ctx);

/* ---- change capture ------------------------------------------------- */

typedef enum { CHANGE_INSERT = 1, CHANGE_UPDATE = 2, CHANGE_DELETE = 3 } change_op_t;

/* One row change with owned copies of the values (old for UPDATE/DELETE,
 * new for INSERT/UPDATE). */
typedef struct {
    char *table;
    change_op_t op;
    int64_t old_rowid, new_rowid;
    int ncols;
    store_value_t *old_vals, *new_vals;
} store_change_t;

/* Row copies are bounded: past STORE_CAPTURE_MAX_BYTES (or
 * STORE_CAPTURE_MAX_ROWS) a changeset stops recording rows and sets
 * overflow; the names of the tables whose changes were left out are kept
 * in lost_tables (distinct), so a consumer can treat those as changed
 * wholesale. The per-operation counts stay exact either way. */
#define STORE_CAPTURE_MAX_BYTES (32u << 20)
#define STORE_CAPTURE_MAX_ROWS 100000u

typedef struct {
    store_change_t *items;
    size_t n, cap;
    size_t bytes;     /* what the recorded rows hold */
    bool overflow;    /* rows were left out */
    char **lost_tables; /* tables with changes left out (distinct) */
    size_t nlost;
    int64_t ninserts, nupdates, ndeletes;
} changeset_t;

void changeset_free(changeset_t *cs);
/* Moves every change of src to the end of dst (src is left empty). */
void changeset_move(changeset_t *dst, changeset_t *src);
/* Records every row change made through db into *into (NULL: stop). The
 * caller decides what a change belongs to by swapping `into`. */
void store_capture(store_db_t *db, changeset_t *into);
/* Where changes on db are recorded now (NULL: nowhere). */
changeset_t *store_capture_target(store_db_t *db);

/* The schema script of a database: each sqlite_schema.sql in creation order
 * followed by ";\n", skipping internal and FTS shadow objects; with
 * tables_only, only tables and views. */
int store_schema_text(store_db_t *db, bool tables_only, buf_t *out);

/* ---- per-connection extras ------------------------------------------ */

/* One pointer a higher layer hangs on a connection (core keeps its schema
 * cache there); free_fn runs when it is replaced or the connection closes. */
/* One caller-owned pointer per connection (freed with free_fn when
 * replaced or the connection closes). The engine's ROLLBACK statements
 * through store_exec drop it: it may describe undone changes. */
void store_set_aux(store_db_t *db, void *p, void (*free_fn)(void *));
void *store_get_aux(store_db_t *db);
/* PRAGMA schema_version: changes whenever the schema does; -1 on error. */
int64_t store_schema_cookie(store_db_t *db);
/* True while the connection's transaction has written (uncommitted). */
bool store_txn_writing(store_db_t *db);
/* SQLite's compile-time options ("ENABLE_FTS5", …); free each and the array. */
int store_compile_options(char ***out);
/* A deterministic one-argument SQL function from text to text (NULL in,
 * NULL out). Register at start-up, before connections open and threads
 * run (the registry is not locked); each store_open installs all of them. */
typedef void (*store_text_fn)(const char *in, size_t n, buf_t *out);
void store_add_text_function(const char *name, store_text_fn fn);

#endif
