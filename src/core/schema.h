/* schema: what a database's tables and views look like — columns (type,
 * NOT NULL, default, key position), rowid aliases, keys, foreign keys both
 * ways, full-text indexes, a label column — read from SQLite's own
 * catalog. Every dialect that renders tables generically (Datasette's
 * pages, GraphQL, REST, the Lua db API) asks here instead of running
 * PRAGMAs itself.
 *
 * A snapshot is immutable and reference-counted. One per database and
 * schema version is held on its db_t and shared by every reader: the
 * first connection to see a new schema_version builds it (one builder at a
 * time per database), the rest take a reference. A connection with
 * uncommitted schema changes (the writer mid-batch) gets a private
 * snapshot instead, so nothing a rollback may undo is ever shared.
 * Building reads every table's details (60 ms for 1,000 tables) and may
 * wait on the lock: never on an event loop, which uses schema_peek.
 * A snapshot may outlive the connection it was read from. */
#ifndef ATRIUM_CORE_SCHEMA_H
#define ATRIUM_CORE_SCHEMA_H
#include <stdbool.h>
#include <stdint.h>

#include "core/catalog.h"
#include "store/store.h"

typedef struct {
    char *name;
    char *type; /* declared type as written ("" if none) */
    bool notnull;
    char *dflt; /* default as SQL text, or NULL */
    int pk;     /* 1-based position in the primary key, 0 if not part of it */
    bool generated; /* GENERATED ALWAYS AS: read-only */
    bool unique;    /* a one-column UNIQUE index or the sole primary-key column */
    char **items;   /* CHECK (c IN (…)) values: a select column's options */
    int nitems;
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
} tinfo_t;

typedef struct {
    int64_t cookie; /* the schema_version it describes */
    int refs;       /* atomic */
    int n;
    tinfo_t *t; /* tables then views, each sorted by name */
} schema_t;

/* The snapshot for what connection c sees now, from d's shared one when
 * it is current (d NULL: always a private one). NULL with a message on
 * error. Release it with schema_release. */
const schema_t *schema_acquire(db_t *d, store_db_t *c, char *err, size_t errlen);
/* The same without building or waiting for a build: d's shared snapshot
 * if it is the one c sees, else NULL (build it off the loop with
 * schema_acquire). For event-loop threads; a reference to release. */
const schema_t *schema_peek(db_t *d, store_db_t *c);
/* A new private snapshot of what c sees now. */
const schema_t *schema_load(store_db_t *c, char *err, size_t errlen);
void schema_release(const schema_t *s);
/* Drops d's shared snapshot (the database is going away). */
void schema_forget(db_t *d);
/* A table or view; NULL if there is none of that name. */
const tinfo_t *schema_find(const schema_t *s, const char *name);
/* The i-th table or view (0 <= i < s->n). */
const tinfo_t *schema_at(const schema_t *s, int i);
/* Foreign keys of other tables pointing at t. */
const tfk_t *schema_incoming(const schema_t *s, const tinfo_t *t, int *n);
/* Index of the column called name, or -1. */
int tinfo_col(const tinfo_t *t, const char *name);
/* The outgoing foreign key on column name, or NULL. */
const tfk_t *tinfo_fk(const tinfo_t *t, const char *column);

#endif
