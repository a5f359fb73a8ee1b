/* airsequel: what the dialect's files share (not an interface for other
 * dialects). Loop thread, like every route handler. */
#ifndef ATRIUM_API_AIRSEQUEL_INTERNAL_H
#define ATRIUM_API_AIRSEQUEL_INTERNAL_H
#include <jansson.h>
#include <stdbool.h>

#include "api/common.h"
#include "core/auth.h"
#include "core/schema.h"
#include "util/json.h"
#include "net/router.h"

/* {"errors":[{"message","extensions":{"code"}}]} with status. */
void airsequel_error(http_req_t *r, int status, const char *message);
/* A PATCH member (spec §1): plain, or tagged {"tag":"TextValue","contents":
 * v} / {"tag":"TextNull"}. PATCH_STRING sets *out (valid while v is). */
enum { PATCH_BAD = -1, PATCH_ABSENT = 0, PATCH_NULL = 1, PATCH_STRING = 2 };
int airsequel_patch_string(const json_t *v, const char **out);
/* A JSON body as is. */
void airsequel_json(http_req_t *r, int status, const char *json);
/* The bearer's actor (none: anonymous); false after answering 401. */
bool airsequel_authenticate(http_req_t *r, actor_t *a);
/* The database named by capture cap, looked up by `by` (DB_BY_*); a
 * readonly id grants R to anyone (any_reader). NULL after answering 404. */
db_t *airsequel_resolve_db(http_req_t *r, const actor_t *a, int cap, unsigned by, bool any_reader);
/* :dbId (capture 0) for a route that needs R: authenticated, resolved and
 * checked, or NULL after answering 401/404/403. */
db_t *airsequel_readable_db(http_req_t *r);
/* The schema snapshot a run reads through c, or NULL with out set (on the
 * loop: ES_OFF_LOOP when it must be built; the pool retries) or, off it,
 * err set. */
const schema_t *airsequel_schema(db_t *d, store_db_t *c, api_out_t *out, char *err, size_t errlen);
/* A table or view the REST routes may name (not SQLite's or shadow
 * tables), or NULL. */
const tinfo_t *airsequel_table(const schema_t *s, const char *name);
/* The Table shape (spec §2): nrows rows, cut when rows were left out, and
 * a "rows" array (JSON text) when rows is non-NULL. */
void airsequel_write_table(jw_t *w, const tinfo_t *t, int64_t nrows, bool cut, const buf_t *rows);
/* The Column shape (spec §2) of column c of t. */
void airsequel_write_column(jw_t *w, const tinfo_t *t, const tcol_t *c);
/* The rowid pseudo-column's name (§4.2), or NULL (views, WITHOUT ROWID). */
const char *airsequel_rowid_name(const tinfo_t *t);
void airsequel_graphql_register(router_t *rt, const dialect_t *d);
void airsequel_tables_register(router_t *rt, const dialect_t *d);
void airsequel_export_register(router_t *rt, const dialect_t *d);
void airsequel_dbs_register(router_t *rt, const dialect_t *d);
void airsequel_files_register(router_t *rt, const dialect_t *d);
void airsequel_ddl_register(router_t *rt, const dialect_t *d);
void airsequel_session_register(router_t *rt, const dialect_t *d);
void airsequel_teams_register(router_t *rt, const dialect_t *d);
void airsequel_dbadmin_register(router_t *rt, const dialect_t *d);
/* [{billing, name, numberOfDatabases}] of the teams user belongs to, the
 * personal team first. Off the loop. */
void airsequel_write_user_teams(jw_t *w, catalog_t *c, int64_t user);

#endif
