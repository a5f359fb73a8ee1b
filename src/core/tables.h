/* tables: what a database's tables and views look like (columns, keys,
 * foreign keys, full-text indexes, a label column), read from SQLite's own
 * catalog. Every dialect that renders tables generically (Datasette's table
 * pages, GraphQL later) asks here instead of running PRAGMAs itself.
 * A snapshot is cached on the connection and rebuilt when the schema cookie
 * changes; it stays valid while the caller holds that connection and does
 * not call schema_get on it again. Building it reads only the list of
 * tables (one query); a table's columns, keys and foreign keys are read the
 * first time it is looked up, so a page of one table in a database of
 * thousands costs the same as in a database of one. */
#ifndef ATRIUM_CORE_TABLES_H
#define ATRIUM_CORE_TABLES_H
#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

typedef struct {
    char *name;
    char *type; /* declared type as written ("" if none) */
    bool notnull;
    char *dflt; /* default as SQL text, or NULL */
    int pk;     /* 1-based position in the primary key, 0 if not part of it */
} tcol_t;

typedef struct {
    char *column;       /* this table's column */
    char *other_table;  /* the table on the other side */
    char *other_column; /* its column */
} tfk_t;

typedef struct {
    char *name;
    char *sql;
    bool is_view;
    bool is_virtual;
    bool hidden;  /* full-text index, its shadow tables, sqlite_ internals */
    bool rowid;   /* no declared primary key: rows are keyed by rowid */
    bool has_rowid; /* a rowid exists (not a view, virtual or WITHOUT ROWID table) */
    int ncols;
    tcol_t *cols;
    int npk;
    int *pk; /* column indexes in key order */
    int nout, nin;
    tfk_t *out; /* foreign keys this table declares */
    tfk_t *in;  /* foreign keys of other tables pointing here */
    char *fts;  /* the FTS table indexing this one, or NULL */
    int label;  /* column that labels a row for humans, or -1 */
    bool loaded; /* details read (private to tables.c) */
} tinfo_t;

typedef struct {
    int64_t cookie;
    int n;
    tinfo_t *t; /* tables then views, each sorted by name; use schema_at */
    store_db_t *c;   /* the connection it describes (details load from it) */
    bool in_done;    /* incoming foreign keys collected */
} schema_t;

/* The connection's current schema snapshot; NULL (with a message) on error. */
const schema_t *schema_get(store_db_t *c, char *err, size_t errlen);
/* A table or view with its details; NULL if there is none of that name. */
const tinfo_t *schema_find(const schema_t *s, const char *name);
/* The i-th table or view (0 <= i < s->n) with its details. */
const tinfo_t *schema_at(const schema_t *s, int i);
/* Foreign keys of other tables pointing at t (reads every table once). */
const tfk_t *schema_incoming(const schema_t *s, const tinfo_t *t, int *n);
/* Index of the column called name, or -1. */
int tinfo_col(const tinfo_t *t, const char *name);
/* The outgoing foreign key on column name, or NULL. */
const tfk_t *tinfo_fk(const tinfo_t *t, const char *column);

#endif
