/* console: the browser console at / and /-/console/FILE — static files
 * only; the page talks to the same public routes any client uses. Loop
 * thread, like every route. */
#ifndef ATRIUM_API_CONSOLE_H
#define ATRIUM_API_CONSOLE_H
#include "net/router.h"

void console_register(router_t *rt);

#endif
