/* routes: the whole HTTP face, every dialect's routes in one router (for
 * `atrium serve`, `atrium routes` and the fuzz harness). */
#ifndef ATRIUM_API_ROUTES_H
#define ATRIUM_API_ROUTES_H
#include "net/router.h"

/* Free with router_free. */
router_t *api_router_new(void);

#endif
