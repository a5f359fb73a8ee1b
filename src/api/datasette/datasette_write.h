/* datasette_write: the JSON write API's job and the helpers its two files
 * share (datasette_write.c: rows, drop and the job; datasette_create.c:
 * /-/create). Everything here runs on the database's writer thread, inside
 * the job's savepoint. Private to the Datasette face. */
#ifndef ATRIUM_API_DATASETTE_WRITE_H
#define ATRIUM_API_DATASETTE_WRITE_H
#include <jansson.h>

#include "api/datasette/datasette_internal.h"
#include "core/rows.h"
#include "core/schema.h"
#include "util/buf.h"

typedef struct {
    api_write_t w; /* the write job */
    api_out_t res; /* its outcome (rc only: messages go to errs) */
    db_t *db;
    char *op, *table, *id_seg, *host;
    json_t *body;
    char *json_err;
    bool can_write, can_schema;
    int max_rows;
    /* outcome */
    int status;
    char **errs;
    int nerrs;
    buf_t out;
} wjob_t;

/* A JSON object as row cells: strings, numbers, booleans and null are used
 * as they are, {"$base64": …} as a blob, {"$raw": v} as v, other lists
 * and objects as their JSON text. Text values point into the body. */
typedef struct {
    int n;
    rcell_t *cells;
    buf_t *scratch; /* per cell: decoded blobs and JSON texts */
} jrow_t;

/* Each returns -1 after recording the error (status, message). */
int dsw_fail(wjob_t *j, int status, const char *msg);
int dsw_failf(wjob_t *j, int status, const char *f, const char *a);
int dsw_rows_fail(wjob_t *j, err_t *e);
int dsw_exec_sql(wjob_t *j, store_db_t *c, const char *sql);
/* Python's json.dumps(v) (the text Datasette stores for lists and objects). */
void dsw_py_dumps(buf_t *b, json_t *v);
/* -1 (answered 400) on a bad $base64 value. */
int dsw_jrow_from(wjob_t *j, json_t *obj, jrow_t *r);
void dsw_jrow_free(jrow_t *r);
/* Adds the columns the rows name that t lacks (alter: true). */
int dsw_add_missing_columns_json(wjob_t *j, store_db_t *c, const tinfo_t *t, json_t *rows);
rows_conflict_t dsw_conflict_of(bool ignore, bool replace);
/* POST /db/-/create (spec/datasette.md §10.3). */
int dsw_create(wjob_t *j, store_db_t *c, const schema_t *s);

#endif
