/* datasette: the Datasette-style dialect's routes (spec/datasette.md). */
#ifndef ATRIUM_API_DATASETTE_H
#define ATRIUM_API_DATASETTE_H
#include "net/router.h"

void datasette_register(router_t *rt);

#endif
