/* airsequel: what the dialect's files share (not an interface for other
 * dialects). Loop thread, like every route handler. */
#ifndef ATRIUM_API_AIRSEQUEL_INTERNAL_H
#define ATRIUM_API_AIRSEQUEL_INTERNAL_H
#include <stdbool.h>

#include "api/common.h"
#include "core/auth.h"
#include "net/router.h"

/* {"errors":[{"message","extensions":{"code"}}]} with status. */
void airsequel_error(http_req_t *r, int status, const char *message);
/* A JSON body as is. */
void airsequel_json(http_req_t *r, int status, const char *json);
/* The bearer's actor (none: anonymous); false after answering 401. */
bool airsequel_authenticate(http_req_t *r, actor_t *a);
/* The database named by capture cap, looked up by `by` (DB_BY_*); a
 * readonly id grants R to anyone (any_reader). NULL after answering 404. */
db_t *airsequel_resolve_db(http_req_t *r, const actor_t *a, int cap, unsigned by, bool any_reader);
void airsequel_graphql_register(router_t *rt, const dialect_t *d);
void airsequel_tables_register(router_t *rt, const dialect_t *d);
void airsequel_export_register(router_t *rt, const dialect_t *d);
void airsequel_dbs_register(router_t *rt, const dialect_t *d);
void airsequel_files_register(router_t *rt, const dialect_t *d);

#endif
