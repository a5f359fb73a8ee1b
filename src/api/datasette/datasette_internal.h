/* datasette_internal: what the Datasette face's files share (datasette.c:
 * routing, errors, instance views; datasette_query.c: custom SQL; datasette_table.c: table and
 * row pages, CSV; datasette_write.c and datasette_create.c: the JSON write API). Private to them. */
#ifndef ATRIUM_API_DATASETTE_INTERNAL_H
#define ATRIUM_API_DATASETTE_INTERNAL_H
#include <stdbool.h>

#include "api/common.h"
#include "core/auth.h"
#include "core/engine.h"
#include "core/sql.h"
#include "net/http.h"
#include "util/json.h"

#define DS_ENGINE(r) ((engine_t *)(r)->app)
#define DS_JSON "application/json; charset=utf-8"
#define DS_JW (JW_SPACED | JW_ASCII)
#define DS_MAX_RETURNED_ROWS 1000
#define DS_PAGE_SIZE 100

/* The CORS headers (when --cors is on). */
void ds_cors(http_req_t *r);
/* {"ok": false, "error", "errors": [msg], "status"}; with query_extras also
 * "rows": [] and "truncated": false (custom SQL errors). */
void ds_error_extra(http_req_t *r, int status, const char *msg, bool query_extras);
void ds_error(http_req_t *r, int status, const char *msg);
/* The same with several messages ("error" joins them with "; "). */
void ds_errors(http_req_t *r, int status, const char *const *errs, int n);
bool ds_truthy(const char *v);
/* Starts a success body: a writer on b with {"ok": true already written. */
void ds_begin_ok(jw_t *w, buf_t *b);
/* One SQLite value the way Datasette renders it (reals as Python repr,
 * infinities null unless allowed, blobs as {"$base64": true, …}). */
void ds_write_value(jw_t *w, const store_value_t *v, bool infinity);
/* A TEXT value as Python's str() would show it (pk paths, _next tokens). */
void ds_value_text(buf_t *b, const store_value_t *v);

/* One CSV field, quoted only when it must be (RFC 4180, minimal quoting). */

/* Custom SQL: GET /DB/-/query(.json|.csv) (datasette_query.c). d is
 * released by the callee. */
void ds_query(http_req_t *r, const actor_t *a, db_t *d, bool csv);

/* Table and row pages: GET /DB/T(.json|.csv), /DB/T/ID(.json|.csv|.blob).
 * d is released by the callee; id_seg is the raw row segment or NULL; fmt
 * the suffix ("" for the HTML page: a minimal page, or the error's status
 * with a small error page). */
void ds_table_page(http_req_t *r, const actor_t *a, db_t *d, const char *table, const char *id_seg, const char *fmt);

/* The read-answer cache's key for this request: the database, the
 * caller's rights on it, the Host (answers carry absolute URLs), the path
 * and the query string as sent. */
void ds_cache_key(buf_t *out, const http_req_t *r, const actor_t *a, db_t *d);

/* A minimal text/html page (HTML pages are out of scope; their errors keep
 * the status). */
void ds_html_page(http_req_t *r, int status, const char *text);

/* Write API: POST /DB/-/create, /DB/T/-/{insert,upsert,drop},
 * /DB/T/ID/-/{update,delete}. op is the last path word. */
void ds_write(http_req_t *r, const actor_t *a, db_t *d, const char *table, const char *id_seg, const char *op);
/* POST /-/create-token */
void ds_create_token(http_req_t *r, const actor_t *a);

#endif
