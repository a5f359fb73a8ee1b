/* airsequel/ag: the Airsequel GraphQL door's internals (spec/airsequel.md
 * §4) — the GraphQL schema derived from a database (ag_schema.c) and the
 * resolvers that turn fields into SQL (ag_resolve.c). Not an interface
 * for other dialects.
 *
 * A derived schema is immutable and reference-counted; it is built on the
 * thread that holds the connection it reads (a pool or writer thread) and
 * may then be shared by any thread. */
#ifndef ATRIUM_API_AIRSEQUEL_AG_H
#define ATRIUM_API_AIRSEQUEL_AG_H
#include <stdbool.h>
#include <stdint.h>

#include "core/schema.h"
#include "graphql/exec.h"
#include "graphql/schema.h"
#include "util/buf.h"

typedef enum { AG_READWRITE, AG_READONLY, AG_WRITEONLY, AG_INSERTONLY } ag_mode_t;

typedef enum { AT_INT, AT_FLOAT, AT_STRING, AT_BOOLEAN } ag_type_t;

typedef struct {
    char *name; /* SQL name (the pseudo-column: rowid, _rowid_ or oid) */
    char *enc;  /* GraphQL name */
    ag_type_t type;
    bool file;      /* a BLOB column: values are file URLs */
    bool pseudo;    /* the rowid pseudo-column */
    bool ipk;       /* INTEGER PRIMARY KEY (a rowid alias) */
    bool generated; /* output only */
    bool notnull;   /* the row field is non-null */
    bool has_default;
    bool select; /* CHECK (c IN (…)): a select column */
} ag_col_t;

typedef struct {
    const tinfo_t *t;
    char *name; /* SQL */
    char *enc;
    bool view;
    int ncols;
    ag_col_t *cols;
    int npk;
    int pk[64]; /* indexes into cols */
    int rowid;  /* the pseudo-column's index, or -1 */
} ag_table_t;

/* Field tags: what a root, response or row field resolves to. */
enum {
    AG_F_LIST = 1,
    AG_F_BY_PK,
    AG_F_INSERT,
    AG_F_UPDATE,
    AG_F_DELETE,
    AG_F_UPDATE_PK,
    AG_F_DELETE_PK,
    AG_F_COLUMN,    /* udata: the ag_col_t */
    AG_F_AFFECTED,  /* affected_rows */
    AG_F_RETURNING, /* returning */
};

typedef struct {
    gql_schema_t *gs;
    const schema_t *src; /* the snapshot it was derived from (a reference) */
    ag_mode_t mode;
    int ntables;
    ag_table_t *tables;
    int refs; /* atomic */
    uint64_t serial; /* unique per derived schema, for "validated against" */
    char readonly_id[32];
    buf_t default_query; /* playground's default query */
} ag_schema_t;

/* Derives the schema of what connection c sees through snapshot s (taken
 * over: released with the result), tables in c's sqlite_schema order.
 * NULL with err on failure. */
ag_schema_t *ag_schema_build(store_db_t *c, const schema_t *s, ag_mode_t mode, const char *readonly_id, char *err,
                             size_t errlen);
void ag_schema_release(ag_schema_t *a);
/* Double-X encoding of a table or column name (spec §4.4). */
void ag_encode_name(buf_t *out, const char *name);

/* Rows one request may read or return, over all its fields (aliases
 * would otherwise multiply the 10,000-row cap of one field). */
#define AG_REQUEST_ROWS 50000

/* The run of one document against a derived schema on connection c:
 * resolvers read (and in a write job, write) through c. */
typedef struct {
    ag_schema_t *as;
    store_db_t *c;
    uint64_t deadline_us;
    bool failed; /* a mutation field failed: roll the job back */
    int64_t rows_used; /* rows read or returned so far, at most AG_REQUEST_ROWS */
    char fatal[256]; /* a resolver's own failure */
} ag_run_t;

int ag_resolve(void *ctx, gql_exec_t *x, const gql_field_t *f, void *obj, gql_result_t *out);

#endif
