/* rows: writing rows of one table by key — insert (with conflict
 * handling), upsert, update, delete, adding the columns a row names, and
 * reading a written row back for `returning`. Rows are addressed by a
 * reference: the rowid when the table has one, else (WITHOUT ROWID) its
 * primary-key values. Every identifier is quoted, every value bound.
 *
 * Dialect-neutral: Datasette's write API, GraphQL mutations, REST row
 * routes and the Lua db handles turn their input into cells and call
 * here. Nothing here commits or rolls back: call it inside a write job
 * (the writer thread's savepoint), whose failure undoes everything the
 * job did. Errors: E_SQL with SQLite's text (constraint failures, no such
 * column, …), E_BAD_INPUT for a key of the wrong width. */
#ifndef ATRIUM_CORE_ROWS_H
#define ATRIUM_CORE_ROWS_H
#include <stdbool.h>

#include "core/err.h"
#include "core/sql.h"
#include "core/schema.h"

#define ROWS_MAX_KEY 64 /* primary-key columns a reference may hold */

/* One column's value in a row being written. */
typedef struct {
    const char *name;
    store_value_t v;
} rcell_t;

/* Where a written row is: v[0] the rowid (has_rowid tables), else the
 * primary-key values in key order. Values are owned (rref_free); start
 * from {0}: functions that set a reference free what it held. */
typedef struct {
    int n;
    store_value_t *v; /* n values */
} rref_t;

typedef enum {
    ROWS_PLAIN,   /* a conflict is an error */
    ROWS_IGNORE,  /* keep the existing row (its reference is returned) */
    ROWS_REPLACE, /* replace the existing row */
} rows_conflict_t;

/* The key columns of t in order ("rowid" for tables without a declared
 * key); their count. */
int rows_key_names(const tinfo_t *t, const char **names);
void rref_free(rref_t *r);
bool rref_equal(const rref_t *a, const rref_t *b);

/* Finds the row whose key the cells give (every key column must be among
 * them): 1 with *ref set, 0 if there is none or a key column is missing,
 * -1 with e set. */
int rows_find(store_db_t *c, const tinfo_t *t, const rcell_t *cells, int n, rref_t *ref, err_t *e);
/* Inserts one row (no cells: all defaults). *ref: the new row, or with
 * ROWS_IGNORE the row that was kept (n = 0 if it cannot be found). */
int rows_insert(store_db_t *c, const tinfo_t *t, const rcell_t *cells, int n, rows_conflict_t conflict, rref_t *ref,
                err_t *e);
/* Updates the non-key cells of the row the key cells name, or inserts the
 * row if there is none. *ref: that row. */
int rows_upsert(store_db_t *c, const tinfo_t *t, const rcell_t *cells, int n, rref_t *ref, err_t *e);
/* Sets cells on the row at ref (no cells: nothing to do). */
int rows_update(store_db_t *c, const tinfo_t *t, const rref_t *ref, const rcell_t *cells, int n, err_t *e);
/* Deletes the row at ref. */
int rows_delete(store_db_t *c, const tinfo_t *t, const rref_t *ref, err_t *e);
/* ALTER TABLE … ADD COLUMN for each cell whose column t lacks (typed by
 * its value: INTEGER, REAL, BLOB, else TEXT; a later non-null cell of the
 * same name decides over a null one). The schema snapshot holding t is
 * stale afterwards: look the table up again. */
int rows_add_columns(store_db_t *c, const tinfo_t *t, const rcell_t *cells, int n, err_t *e);
/* The row at ref to sink/ctx (all columns, rowid first if with_rowid);
 * nothing if it is gone. */
int rows_fetch(store_db_t *c, const tinfo_t *t, const rref_t *ref, bool with_rowid, const sql_sink_t *sink, void *ctx,
               err_t *e);

#endif
