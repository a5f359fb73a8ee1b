/* lua: the Lua 5.4 runtime for database modules (spec/spacetimedb.md §3).
 *
 * A module is one text chunk that declares tables and reducers through the
 * global `atrium` while it loads. Loading it yields a definition (mdef_t:
 * tables with typed columns, reducers with typed parameters, lifecycle
 * hooks); a live runtime (lrt_t) keeps the loaded state to call reducers.
 *
 * The sandbox: the base library without dofile/loadfile/load/
 * collectgarbage, plus string (no dump), table, math, utf8 and coroutine;
 * text chunks only; per load and per call at most LUA_MAX_INSTRUCTIONS
 * instructions and LUA_MAX_MS of wall time, and LUA_MAX_BYTES per state. A
 * tripped limit is raised again at every hook tick, so pcall cannot
 * swallow it.
 *
 * Threads: an lrt_t belongs to one database's writer thread (its reducers
 * run inside write jobs, on the writer's connection). lua_define and the
 * mdef_* functions are pure: any thread. */
#ifndef ATRIUM_CORE_LUA_H
#define ATRIUM_CORE_LUA_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/catalog.h"
#include "core/err.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/json.h"

#define LUA_MAX_INSTRUCTIONS 10000000
#define LUA_MAX_MS 1000
#define LUA_MAX_BYTES (64u << 20)
#define LUA_MAX_SOURCE (1u << 20)

typedef enum {
    LT_BOOL, LT_I8, LT_I16, LT_I32, LT_I64, LT_U8, LT_U16, LT_U32, LT_U64,
    LT_F32, LT_F64, LT_STRING, LT_BYTES, LT_IDENTITY, LT_CONNECTION_ID, LT_TIMESTAMP,
} ltype_t;

typedef struct {
    char *name;
    ltype_t type;
    bool pk, auto_inc, unique, index, optional;
    char *dflt; /* DEFAULT as SQL literal, or NULL */
} mcol_t;

typedef struct {
    int n;
    char **cols;
} mindex_t;

typedef struct {
    char *name;
    bool public;
    int ncols;
    mcol_t *cols;
    int nidx;
    mindex_t *idx; /* indexes={{"a","b"},…} */
} mtable_t;

enum { LC_NONE, LC_INIT, LC_CONNECT, LC_DISCONNECT };

typedef struct {
    char *name;
    int lifecycle;
    int nparams;
    char **pnames;
    ltype_t *ptypes;
    bool *poptional;
} mreducer_t;

typedef struct {
    char hash[65]; /* SHA-256 of the source, hex */
    int ntables;
    mtable_t *tables;     /* sorted by name */
    int nreducers;
    mreducer_t *reducers; /* sorted by name */
} mdef_t;

/* Where log lines go (level: "Info", "Error", …; line 0 if unknown). */
typedef void (*lua_log_fn)(void *ctx, const char *level, int line, const char *function, const char *msg);

/* Loads src in a fresh sandbox and returns its definition. E_BAD_INPUT
 * with "module failed to load: …" or "invalid module: …". */
int lua_define(const char *src, size_t n, mdef_t **out, err_t *e);
void mdef_free(mdef_t *d);
const mtable_t *mdef_table(const mdef_t *d, const char *name);
const mreducer_t *mdef_reducer(const mdef_t *d, const char *name);
const char *ltype_name(ltype_t t);
/* CREATE TABLE (STRICT, with range checks) and its indexes for t. */
void mdef_create_sql(const mtable_t *t, buf_t *out);
/* Why the database's tables cannot move from old to new without clearing
 * (§3.6), or NULL if they can; *alter gets the DDL for the allowed changes. */
const char *mdef_migration(const mdef_t *old, const mdef_t *neu, buf_t *alter, char *why, size_t whylen);

/* A SATS-JSON value read as module type t (spec §0 "SATS-JSON read",
 * §3.2): ints range-checked, bytes from hex, identities and connection ids
 * from hex or their SATS objects ({"__identity__":"0x…"}), a timestamp
 * from µs or its object; an Option from null, {"none":[]}, {"some":v} or v. */
typedef struct {
    enum { LV_NIL, LV_BOOL, LV_INT, LV_REAL, LV_STR } kind;
    bool b;
    int64_t i;
    double d;
    char *s; /* malloc'd: the text, the raw bytes, or an id's lowercase hex */
    size_t n;
} lvalue_t;
bool lvalue_from_json(const json_t *j, ltype_t t, bool optional, lvalue_t *out);
void lvalue_free(lvalue_t *v);

typedef struct lrt lrt_t;

int lrt_open(const char *src, size_t n, lua_log_fn log, void *log_ctx, lrt_t **out, err_t *e);
void lrt_close(lrt_t *rt);
const mdef_t *lrt_def(const lrt_t *rt);

/* Who calls, for ctx. */
typedef struct {
    const char *sender;        /* hex identity */
    const char *connection_id; /* hex, or NULL (HTTP) */
    const char *db_identity;
    int64_t timestamp_us;
} lcall_t;

/* Runs reducer `name` with SATS-JSON args (an array by position or an
 * object by name; NULL: none) on the writer's connection c, inside the
 * caller's write job. Errors: E_NOT_FOUND (no such reducer), E_BAD_INPUT
 * (arguments, or a lifecycle reducer called by name when !lifecycle_ok),
 * E_REDUCER (the reducer failed or a limit tripped: its text). */
int lrt_call(lrt_t *rt, db_t *d, store_db_t *c, const char *name, const json_t *args, bool lifecycle_ok,
             const lcall_t *who, err_t *e);
/* ---- functions (Airsequel's Lua functions, spec/airsequel.md §2) ----
 * A function is a chunk that returns function(req). It runs in the same
 * sandbox and with the same limits as modules, with log and print, the db
 * handles and db:exec/db:query on its database, and a read-only `env`
 * table. */

/* Loads a function's chunk: 0, or -1 with the problem in msg and its line
 * in *line (0 if unknown), as the function's diagnostics. */
int lfn_check(const char *src, size_t n, char *msg, size_t msglen, int *line);

typedef struct {
    int status;      /* 200 unless the result says otherwise */
    json_t *headers; /* an object of strings, or NULL */
    buf_t body;
    char content_type[128];
} lfn_response_t;
void lfn_response_free(lfn_response_t *r);

/* Runs the function in src with req (a JSON object: method, path, query,
 * headers, body, json) and env (an object of strings) on the writer's
 * connection c of d, inside the caller's write job. The result: a
 * {status, headers, body} table as it is, a string as text/plain, anything
 * else as JSON. E_BAD_INPUT if it does not load, E_REDUCER if it fails (a
 * limit: ES_LIMIT). Log lines go to log. */
int lfn_run(const char *src, size_t n, db_t *d, store_db_t *c, const json_t *req, const json_t *env, lua_log_fn log,
            void *log_ctx, lfn_response_t *out, err_t *e);

/* True once a limit tripped in this runtime (then it is not reused). */
bool lrt_tripped(const lrt_t *rt);
/* Runs a lifecycle hook if the module has one (0 if not). */
int lrt_lifecycle(lrt_t *rt, db_t *d, store_db_t *c, int which, const lcall_t *who, err_t *e);

#endif
