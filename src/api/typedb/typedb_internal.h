/* typedb_internal: what the TypeDB-style dialect's files share (typedb.c:
 * management routes; typedb_query.c: queries). Not for other dialects. */
#ifndef ATRIUM_API_TYPEDB_INTERNAL_H
#define ATRIUM_API_TYPEDB_INTERNAL_H
#include <jansson.h>
#include <stdbool.h>

#include "core/auth.h"
#include "net/router.h"

extern const dialect_t typedb_dialect;

/* {"code", "message": "[code] text\n<context>"}; context may be NULL. */
void tdb_error(http_req_t *r, int status, const char *code, const char *text, const char *context);
void tdb_bad_json(http_req_t *r, const char *detail);
void tdb_forbidden(http_req_t *r);
void tdb_internal(http_req_t *r, const err_t *e);
/* Bearer token required; answers AUT2/AUT3 and returns false on failure. */
bool tdb_authenticate(http_req_t *r, actor_t *a);
/* The body as a JSON object, or NULL after answering HSR2. */
json_t *tdb_body_object(http_req_t *r);

void typedb_query_register(router_t *rt);

#endif
