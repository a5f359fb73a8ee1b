/* routes: every dialect's routes (see routes.h). */
#include "api/routes.h"

#include "api/airsequel/airsequel.h"
#include "api/console/console.h"
#include "api/datasette/datasette.h"
#include "api/ops/ops.h"
#include "api/stdb/stdb.h"
#include "api/typedb/typedb.h"

router_t *api_router_new(void) {
    router_t *rt = router_new();
    ops_register(rt); /* the server's own paths first: /metrics, /-/operations */
    console_register(rt); /* the browser console: / and /-/console/FILE */
    /* Order matters for paths no route matches: the more specific claims first. */
    airsequel_register(rt);
    stdb_register(rt); /* before typedb: its claims on /v1/identity, /v1/database win */
    typedb_register(rt);
    datasette_register(rt); /* last: its fallback route takes what no one claims */
    return rt;
}
