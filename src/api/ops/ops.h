/* ops: the server's own routes (/metrics, /-/operations), beside the four
 * dialects; see ops.c. Loop thread, like every route. */
#ifndef ATRIUM_API_OPS_H
#define ATRIUM_API_OPS_H
#include "net/router.h"

void ops_register(router_t *rt);

#endif
