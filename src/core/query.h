/* query: a dialect-neutral read plan over one table or view — selected
 * columns, column filters, raw clauses the caller may allow, full-text
 * search, one sort column with a key tie-breaker, keyset ("after this
 * row") pagination, limit and offset — compiled to SQL text plus named
 * parameters. Every identifier goes through sql_ident/sql_quote; every
 * value is a bound parameter, never SQL text. Datasette's table pages are
 * one translation onto it; GraphQL's filters and Airsequel's REST search
 * are others. The SQL is written the way Datasette writes it (its pages
 * show it), which is a plain, readable form for any dialect.
 *
 * A plan borrows the schema snapshot and table it was made for: use it on
 * the thread (and connection) that holds them. Pure otherwise. */
#ifndef ATRIUM_CORE_QUERY_H
#define ATRIUM_CORE_QUERY_H
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/schema.h"
#include "util/buf.h"

typedef enum {
    Q_EQ,
    Q_NE,
    Q_CONTAINS,    /* like %v% */
    Q_NOTCONTAINS, /* not like %v% */
    Q_STARTSWITH,  /* like v% */
    Q_ENDSWITH,    /* like %v */
    Q_GT,
    Q_GTE,
    Q_LT,
    Q_LTE,
    Q_LIKE,
    Q_NOTLIKE,
    Q_GLOB,
    Q_IN,                /* one or more values */
    Q_NOTIN,             /* one or more values */
    Q_ARRAY_CONTAINS,    /* the column is a JSON array holding v */
    Q_ARRAY_NOTCONTAINS, /* … not holding v */
    Q_DATE,              /* date(column) = v */
    Q_ISNULL,            /* no value */
    Q_NOTNULL,           /* no value */
    Q_ISBLANK,           /* null or '' (no value) */
    Q_NOTBLANK,          /* no value */
} qop_t;

#define QCOL_ROWID (-1) /* a selected or sorted "column" that is the rowid */
#define QSORT_NONE (-2)

typedef struct {
    char *name; /* without the ':' */
    store_value_t v; /* owned */
} qparam_t;

typedef struct {
    const schema_t *s;
    const tinfo_t *t;
    bool rowid; /* rows are keyed by rowid (no declared primary key) */
    /* selection: column indexes or QCOL_ROWID, in output order */
    int nsel;
    int *sel;
    /* parameters, in the order they were added (p0, p1, … unless named) */
    int nparams;
    qparam_t *params;
    /* the where clauses, " and "-joined */
    buf_t where;
    int nwhere;
    buf_t pre_keyset; /* "where …" of the clauses before query_after's ("" if none) */
    bool keyset;
    int sort; /* column index, QCOL_ROWID or QSORT_NONE */
    bool desc;
    int limit; /* rows fetched; 0: no limit */
    int64_t offset;
    /* compiled by query_compile */
    buf_t sql;       /* the page: select … where … order by … limit … */
    buf_t count_sql; /* select count(*) … under the clauses before the keyset */
    buf_t base_sql;  /* select * … under the same clauses (for facets) */
} query_t;

void query_init(query_t *q, const schema_t *s, const tinfo_t *t);
void query_free(query_t *q);
/* Selects every column (rowid first for rowid tables). */
void query_select_all(query_t *q);
/* Adds a parameter (copied); name NULL: "p<index>". Returns its name. */
const char *query_param(query_t *q, const char *name, const store_value_t *v);
/* Adds a filter on column name (quoted, not checked: an unknown column is
 * SQLite's "no such column" when the plan runs). vals: one value, none for
 * the no-value operators, one or more for Q_IN/Q_NOTIN. */
void query_filter(query_t *q, const char *column, qop_t op, const store_value_t *vals, int nvals);
/* Adds a raw SQL clause. Only for callers that checked the actor may run
 * arbitrary read SQL: the plan is still run read-only by core/sql. */
void query_where(query_t *q, const char *sql);
/* Full-text search through the table's FTS index: over all its columns
 * (column NULL) or one of them; raw passes the text as FTS syntax, else it
 * goes through escape_fts(). pname names the parameter. E_NOT_FOUND if the
 * table has no FTS index or the index no such column. */
int query_search(query_t *q, const char *column, const char *pname, const char *text, bool raw, err_t *e);
/* Sorts by column index or QCOL_ROWID; the key columns break ties. */
void query_sort(query_t *q, int column, bool desc);
/* Rows after the one whose key is key[0..nkey) (rowid, or the primary key
 * in order) and, on a sorted plan, whose sort value is *sort_value (NULL:
 * that row's sort value was null). Call once, after every other clause:
 * count_sql and base_sql leave it out. E_BAD_INPUT if nkey does not match
 * the key, or the table has no key. */
int query_after(query_t *q, const store_value_t *sort_value, const store_value_t *key, int nkey, err_t *e);
/* Writes sql, count_sql and base_sql. */
void query_compile(query_t *q);
/* A sql_binder_fn over the plan's parameters (ctx: the query_t). */
int query_bind(void *ctx, store_stmt_t *st, int idx, const char *name, err_t *e);
/* The name of selected column i ("rowid" for QCOL_ROWID). */
const char *query_sel_name(const query_t *q, int i);

#endif
