/* typedb: the TypeDB-style dialect's routes (spec/typedb.md). */
#ifndef ATRIUM_API_TYPEDB_H
#define ATRIUM_API_TYPEDB_H
#include "net/router.h"

void typedb_register(router_t *rt);

#endif
