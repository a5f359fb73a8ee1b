/* datasette_table: what the table-page files share (datasette_plan.c:
 * query string → plan; datasette_table.c: running and rendering pages;
 * datasette_facets.c: facets and suggested facets). Private to them. Everything here runs on the thread
 * that runs the page's job (a read connection's). */
#ifndef ATRIUM_API_DATASETTE_TABLE_H
#define ATRIUM_API_DATASETTE_TABLE_H
#include "api/datasette/datasette_internal.h"
#include "core/query.h"
#include "core/schema.h"
#include "core/value.h"
#include "util/url.h"

#define COUNT_CAP 10000
#define FACET_SIZE 30
#define FACET_TIME_MS 200
#define STREAM_PAGE 1000

typedef struct {
    bool count, count_sql, columns, all_columns, primary_keys, human, query, facets, next_url, database, table,
        is_view, private_, expandable, table_def, view_def, metadata, fk_tables, sorted_facets, facets_timed_out,
        suggested, color;
} extras_t;

typedef enum { SH_OBJECTS, SH_ARRAYS, SH_ARRAY, SH_ARRAYFIRST, SH_OBJECT } shape_t;

typedef struct {
    /* request (copied: the job may run off the loop) */
    db_t *db;
    char *table, *id_seg, *host, *path;
    qs_t qs;
    bool csv, blob, html, can_where, db_public;
    char *disposition; /* Content-Disposition of a .blob answer */
    uint64_t limit_ms;
    /* streaming CSV state */
    bool stream;
    char *stream_next;
    bool stream_started;
    /* outcome */
    int status;
    char *msg;
    buf_t body;
    char *link;
    bool nl;
    shape_t shape;
    api_out_t out; /* rc/err for the engine's retry and timeout path */
    /* the read-answer cache (core/rcache): the key, the database's version
     * before the read ran, and whether this answer may be kept (no volatile
     * SQL, nothing cut short by a time limit) */
    buf_t cache_key;
    uint64_t version;
    bool uncacheable;
} tjob_t;

/* A planned page: the core plan plus what only Datasette shows. */
typedef struct {
    query_t q;  /* table, selection, clauses, parameters, sort and SQL */
    int nvis;   /* the first nvis selected are shown; a sort column not asked for follows */
    char **human;
    int nhuman;
    int size;   /* rows shown per page */
    /* rows (nrows × nsel values; text and blobs in the arena) */
    store_value_t *cells;
    buf_t arena;
    int nrows, cap;
    char *next;
    /* labels: per selected column, value → label pairs */
    bool *labelled;
    store_value_t **lab_keys, **lab_vals;
    int *nlab;
    bool *json_cols;
    /* the shown columns' keys as JSON, rendered once for all rows */
    buf_t keys;
    size_t *key_end;
    extras_t ex;
    bool infinity;
} plan_t;

/* Facets computed for a page: each one's rendered JSON object, under its
 * key in facet_results (its column, or column_2… when a column is faceted
 * more than one way). */
typedef struct {
    int n, ntimed;
    char **names, **keys, **timed;
    buf_t *json;
    int *nresults;
} facets_t;

/* Planning (datasette_plan.c): each returns NULL or an owned message for
 * a 400 (ds_plan_table may set *status to another code). */
char *ds_plan_table(plan_t *p, tjob_t *j, int *status);
char *ds_plan_extras(plan_t *p, const qs_t *q, bool row_page);
char *ds_plan_shape(plan_t *p, tjob_t *j);
void ds_plan_free(plan_t *p);
int ds_list_values(const qs_t *q, const char *key, bool commas, char ***out);
void ds_list_free(char **v, int n);
bool ds_is_digits(const char *s);
char *ds_err_printf(const char *f, const char *a);
void ds_pairs_encode(buf_t *b, const qs_t *q, bool (*skip)(const qs_pair_t *, const void *), const void *ctx);
int ds_run_sql(tjob_t *j, plan_t *p, store_db_t *c, const char *sql, uint64_t deadline, const sql_sink_t *sink, void *ctx, int64_t max_rows);
int ds_run_facets(tjob_t *j, plan_t *p, store_db_t *c, uint64_t deadline, facets_t *out);
void ds_write_facets(jw_t *w, const facets_t *f, const extras_t *x, bool asked);
int ds_write_suggested(jw_t *w, tjob_t *j, plan_t *p, store_db_t *c, uint64_t deadline);
void ds_facets_free(facets_t *f);

/* A single count(*)-like value, read with ds_count_sink. */
typedef struct {
    int64_t n;
} count_t;
extern const sql_sink_t ds_count_sink;

#endif
