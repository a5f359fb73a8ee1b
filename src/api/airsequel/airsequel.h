/* airsequel: the Airsequel-style dialect's routes (spec/airsequel.md). */
#ifndef ATRIUM_API_AIRSEQUEL_H
#define ATRIUM_API_AIRSEQUEL_H
#include "net/router.h"

void airsequel_register(router_t *rt);

#endif
