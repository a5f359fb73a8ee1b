/* common: request helpers every dialect uses the same way (bearer tokens,
 * JSON bodies, path captures). Not a dialect: it renders nothing. */
#ifndef ATRIUM_API_COMMON_H
#define ATRIUM_API_COMMON_H
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/auth.h"
#include "core/catalog.h"
#include "core/sql.h"
#include "core/writer.h"
#include "net/http.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/json.h"

typedef enum { BEARER_NONE, BEARER_OK, BEARER_MALFORMED } bearer_t;

/* Finds "Authorization: Bearer <t>". BEARER_MALFORMED: another scheme or an
 * empty token. On BEARER_OK *tok points into the header (NUL-terminated). */
bearer_t api_bearer(const http_req_t *r, const char **tok);
/* Who presents a request, the same way for every door; each renders the
 * outcome in its own shape. */
typedef enum {
    API_ANONYMOUS, /* no token: *a is the anonymous actor */
    API_ACTOR,     /* a valid token: *a is its principal narrowed by its scopes */
    API_MALFORMED, /* another scheme, an empty token, or (API_TOKEN_SHAPE) not our token's shape */
    API_REJECTED,  /* unknown, revoked or expired: e says which (E_BAD_TOKEN, E_EXPIRED_TOKEN) */
} api_who_t;
enum {
    API_TOKEN_QUERY = 1,   /* also ?token= when there is no Authorization header */
    API_TOKEN_SHAPE = 2,   /* a token not shaped like ours (atr_/dstok_ + [A-Za-z0-9_-]) is malformed */
    API_FOREIGN_ANON = 4,  /* a token without our prefix is someone else's: anonymous */
};
api_who_t api_actor(http_req_t *r, catalog_t *c, unsigned flags, actor_t *a, err_t *e);

/* The server's prepare hook (runs on the thread pool for large bodies):
 * parses a JSON-looking body once, off the loop, for api_body_parse. */
#define API_PREPARE_MIN_BODY (64 * 1024)
void api_prepare_body(http_req_t *r);
/* The body parsed as JSON with jansson's flags (a new reference, or NULL
 * with je filled): the result api_prepare_body made off the loop when
 * there is one, else parsed now (small bodies). */
json_t *api_body_parse(const http_req_t *r, size_t flags, json_error_t *je);
/* Parses the body as a JSON object; NULL with a message in err otherwise. */
json_t *api_json_object(const http_req_t *r, char *err, size_t errlen);
/* The database key names (looked up the DB_BY_* ways in by) if the actor
 * may read it, retained; NULL otherwise. Missing and unreadable look the
 * same, so no door tells which databases exist; engine-internal names
 * ('_…') are never found. */
db_t *api_db(catalog_t *c, const char *key, unsigned by, const actor_t *a);
/* Strictly percent-decodes capture i into out (reset first); -1 if invalid. */
int api_capture(const http_req_t *r, int i, buf_t *out);

/* Issues a token derived from the one the actor presented
 * (auth_token_derive: never more rights or a longer life) on the thread
 * pool, since it writes the catalog, then calls answer on r's loop with
 * the token, or NULL and the error. scopes are copied. */
typedef void (*api_token_answer_fn)(http_req_t *r, const char *token, int64_t ttl_s, const err_t *e);
void api_derive_token(http_req_t *r, catalog_t *c, const actor_t *parent, const char *kind, const char *prefix,
                      int64_t ttl_s, const scope_t *scopes, int nscopes, api_token_answer_fn answer);

/* Answers status with {"<key>": "<value>"} as application/json. */
void api_respond_field(http_req_t *r, int status, const char *key, const char *value);

/* The result column names of st, a repeated name suffixed with sep and its
 * count ("x", "x:2" for sep ":"). Free with api_names_free. */
char **api_column_names(store_stmt_t *st, int n, const char *sep);
void api_names_free(char **names, int n);

/* What running a query produced, the same for every dialect's job: the
 * rendered rows, the (dialect-named) columns, the engine's result and the
 * outcome. */
typedef struct {
    buf_t rows;
    jw_t w; /* writes into rows */
    char **cols;
    int ncols;
    sql_result_t res;
    err_t err;
    int rc;
} api_out_t;

/* Frees rows and columns and clears the outcome, so a run can start over. */
void api_out_reset(api_out_t *o);

/* Runs a read query against d: first on the event loop with a budget of
 * API_LOOP_BUDGET_US, so point queries skip the thread hand-off; if it runs
 * out of that budget, reset(ctx) forgets the partial run and it runs again
 * on the thread pool with the rest of its limit (reads are idempotent).
 * A run that finds its work must not happen on the loop (building a schema
 * snapshot) reports E_TIMEOUT with ES_OFF_LOOP and goes to the pool whatever
 * its limit. api_read borrows the read connection and hands it to run; a
 * failure to get one lands in out. done must answer r. */
#define API_LOOP_BUDGET_US 2000
typedef void (*api_run_fn)(void *ctx, store_db_t *c, uint64_t deadline_us);
/* Loop: a read connection for a quick look before the work (classifying a
 * statement): the loop's snapshot connection for d when it can be had, so
 * the statement prepared there is the one the read then runs (from that
 * connection's statement cache). Give it back with api_peek_done. */
store_db_t *api_peek_reader(db_t *d, bool *shared, err_t *e);
void api_peek_done(db_t *d, store_db_t *c, bool shared);

void api_read(http_req_t *r, db_t *d, uint64_t limit_us, api_out_t *out, api_run_fn run, void (*reset)(void *ctx),
              http_done_fn done, void *ctx);
/* For a run that reads with several statements and must see one
 * snapshot: opens a deferred read transaction on c unless one is open (the
 * loop's pass snapshot already is one); api_snapshot_end closes what
 * api_snapshot_begin opened. Any thread that holds c. */
bool api_snapshot_begin(store_db_t *c);
void api_snapshot_end(store_db_t *c, bool began);

/* The write-side twin of api_read: runs run(ctx) as one job on d's writer
 * (inside its savepoint), then calls done(r, ctx) on r's loop. out tells
 * the outcome: what run left there, or, when run succeeded but its batch
 * did not commit, rc -1 with the writer's error and commit_failed set. A
 * run that returns -1 with an E_OK error asks for its savepoint to be
 * rolled back without failing (a dry run): that is not a commit failure.
 * Embed the api_write_t in the request's job (its changes are in
 * w->job.changes); -1 with e set, and done never called, if the job
 * cannot be queued. Loop thread. */
typedef struct {
    write_job_t job; /* first: the writer hands back &job */
    http_req_t *r;
    api_out_t *out;
    http_done_fn done;
    void *ctx;
    bool commit_failed;
} api_write_t;
int api_write(http_req_t *r, db_t *d, api_write_t *w, write_run_fn run, api_out_t *out, http_done_fn done, void *ctx,
              err_t *e);

#endif
