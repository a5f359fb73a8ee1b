/* airsequel: what the dialect's files share (not an interface for other
 * dialects). Loop thread, like every route handler. */
#ifndef ATRIUM_API_AIRSEQUEL_INTERNAL_H
#define ATRIUM_API_AIRSEQUEL_INTERNAL_H
#include <jansson.h>
#include <stdbool.h>

#include "api/common.h"
#include "core/auth.h"
#include "core/engine.h"
#include "core/team.h"
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
/* The same for any right need (a's actor filled in). */
db_t *airsequel_db_for(http_req_t *r, actor_t *a, unsigned need);
/* The schema snapshot a run reads through c, or NULL with out->rc -1 and
 * out->err set (on the loop: ES_OFF_LOOP when it must be built, and the
 * pool retries; off it, E_INTERNAL, which done answers as 500). */
const schema_t *airsequel_schema(db_t *d, store_db_t *c, api_out_t *out);
/* A table or view the REST routes may name (not SQLite's or shadow
 * tables), or NULL. */
const tinfo_t *airsequel_table(const schema_t *s, const char *name);
/* The Table shape (spec §2): nrows rows, cut when rows were left out, and
 * a "rows" array (JSON text) when rows is non-NULL. */
void airsequel_write_table(jw_t *w, const tinfo_t *t, int64_t nrows, bool cut, const buf_t *rows,
                           const char *description);
/* A table's REST metadata (description, display order: the table it comes
 * after), kept as a core/docs document of this kind keyed by its name. */
#define AIRSEQUEL_TABLE_META "table"
/* Reads it (malloc'd strings, NULL when unset; after may be NULL); 1 if
 * there is any. Off the loop. */
int airsequel_table_meta(catalog_t *c, const db_t *d, const char *table, char **description, char **after);
/* The Column shape (spec §2) of column c of t. */
void airsequel_write_column(jw_t *w, const tinfo_t *t, const tcol_t *c);
/* The rowid pseudo-column's name (§4.2), or NULL (views, WITHOUT ROWID). */
const char *airsequel_rowid_name(const tinfo_t *t);
/* A REST route that only touches the catalog (as_job.c): fn runs on the
 * pool and writes its answer through w, or calls as_fail. */
typedef struct as_job as_job_t;
typedef void (*as_job_fn)(as_job_t *j);
struct as_job {
    engine_t *engine;
    actor_t a;
    as_job_fn fn;
    db_t *db;     /* AS_DB_*: the route's database (capture 0) */
    char *arg[2]; /* the other captures, in order */
    json_t *body; /* AS_BODY: the JSON object */
    int status;   /* 0: 200 with out */
    char msg[sizeof(((err_t *)0)->msg)];
    buf_t out;
    jw_t w; /* writes into out */
    char secret[TOKEN_MAX_LEN]; /* wiped when the job ends */
    const char *tag; /* what the route told airsequel_job_tagged (static text) */
};
enum {
    AS_USER = 1,     /* a user's own unrestricted token (401/403 else) */
    AS_BODY = 2,     /* a JSON object body (400 else) */
    AS_SIGNUP = 4,   /* with --allow-signup, anyone (overrides AS_USER) */
    AS_ADMIN = 8,    /* the server admin */
    AS_DB_OWNER = 16, /* capture 0 is a database the caller owns (O) */
    AS_DB_READ = 32, /* capture 0 is a database the caller may read */
    AS_DB_WRITE = 64, /* capture 0 is a database the caller may write */
    AS_DB_READONLY = 128, /* capture 0 is a readonly id (which grants R to anyone) */
};
void airsequel_job(http_req_t *r, as_job_fn fn, int ncaps, int flags);
/* A route handler that runs fn through airsequel_job. */
#define AS_ROUTE(handler, fn, ncaps, flags) \
    static void handler(http_req_t *r) { airsequel_job(r, fn, ncaps, flags); }
void airsequel_job_tagged(http_req_t *r, as_job_fn fn, int ncaps, int flags, const char *tag);
int as_fail(as_job_t *j, int status, const char *msg);
/* The status an error kind answers with (404, 409, 403, 400 or 500). */
int as_fail_err(as_job_t *j, const err_t *e);
void airsequel_graphql_register(router_t *rt, const dialect_t *d);
void airsequel_tables_register(router_t *rt, const dialect_t *d);
void airsequel_export_register(router_t *rt, const dialect_t *d);
void airsequel_dbs_register(router_t *rt, const dialect_t *d);
void airsequel_files_register(router_t *rt, const dialect_t *d);
void airsequel_ddl_register(router_t *rt, const dialect_t *d);
void airsequel_session_register(router_t *rt, const dialect_t *d);
void airsequel_teams_register(router_t *rt, const dialect_t *d);
void airsequel_dbadmin_register(router_t *rt, const dialect_t *d);
void airsequel_settings_register(router_t *rt, const dialect_t *d);
void airsequel_charts_register(router_t *rt, const dialect_t *d);
void airsequel_dbfile_register(router_t *rt, const dialect_t *d);
void airsequel_upload_register(router_t *rt, const dialect_t *d);
void airsequel_functions_register(router_t *rt, const dialect_t *d);
/* The upload routes' body limit (spooled to disk); 0 for the rest. */
size_t airsequel_spool_limit(const http_req_t *r);
/* The team to own a database the actor makes or hands over: the named one
 * (the actor holding one of the roles in need there) or, with no name,
 * their personal team (with the right to create databases). 0, or the
 * HTTP status to answer with msg. Off the loop. */
int airsequel_new_owner(catalog_t *c, const actor_t *a, const char *team, unsigned need, team_t *out, char *msg,
                        size_t msglen);
/* POST /api/dbs's work: makes database name for team (NULL: personal),
 * runs the optional query script in it (deleting it again on failure),
 * and answers Created or the error. Takes the strings. Loop thread. */
void airsequel_create_db(http_req_t *r, const actor_t *a, char *name, char *team, char *query);
/* Access-Control-Allow-Origin by the instance's allowedHosts (spec §1). */
void airsequel_cors_headers(const http_req_t *r, buf_t *h);
/* The 403 text when auth_check refused need on d: "Schema is locked" while
 * the schema is, else "Permission denied". */
const char *airsequel_refusal(const db_t *d, unsigned need);
/* [{billing, name, numberOfDatabases}] of the teams user belongs to, the
 * personal team first. Off the loop. */
void airsequel_write_user_teams(jw_t *w, catalog_t *c, int64_t user);

#endif
