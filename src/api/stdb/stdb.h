/* stdb: the SpacetimeDB-style dialect's routes (spec/spacetimedb.md). */
#ifndef ATRIUM_API_STDB_H
#define ATRIUM_API_STDB_H
#include "net/router.h"

void stdb_register(router_t *rt);

#endif
