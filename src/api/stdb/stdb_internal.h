/* stdb_internal: what the SpacetimeDB face's files share (stdb.c: identity,
 * database routes, /sql; stdb_ws.c: the subscription WebSocket). */
#ifndef ATRIUM_API_STDB_INTERNAL_H
#define ATRIUM_API_STDB_INTERNAL_H
#include <stdbool.h>

#include "api/stdb/stdb.h"
#include "core/lua.h"
#include "core/auth.h"
#include "core/catalog.h"
#include "net/http.h"
#include "store/store.h"
#include "util/json.h"

extern const dialect_t stdb_dialect;

/* SATS scalar types the SQL types map to (spec §3.2). */
typedef enum { T_I64, T_F64, T_STRING, T_BYTES } sats_t;

/* A text/plain answer. */
void stdb_text(http_req_t *r, int status, const char *msg);
/* The caller (see stdb.c); false after answering 400/401. */
bool stdb_caller(http_req_t *r, actor_t *a, bool anonymous_mint);
/* :noi (capture 0) as a database the actor may read; NULL after 404. */
db_t *stdb_resolve(http_req_t *r, const actor_t *a);
/* A declared type's SATS type; -1 if the value decides (NUMERIC, none). */
int stdb_affinity_type(const char *decltype);
/* A module type as SATS JSON ({"I64":[]}, …), wrapped in Option<T> (a
 * Sum of some/none) when optional. */
void stdb_write_ltype(jw_t *w, ltype_t t, bool optional);
/* A module's definition as RawModuleDefV9. */
void stdb_schema_v9(const mdef_t *d, jw_t *w);

void stdb_ws_register(router_t *rt, const dialect_t *d);
/* A new database name by the SpacetimeDB rule (spec §0). */
bool stdb_name_ok(const char *s);
void stdb_module_register(router_t *rt, const dialect_t *d);
/* GET /v1/database/:noi for d (taken): identities, host type, module hash. */
void stdb_info(http_req_t *r, db_t *d);

#endif
