/* router: maps method + path to a handler. Patterns are literal segments,
 * ":name" (one segment, captured) and a final "*" (the rest, captured).
 * Each dialect registers its routes and an error renderer; a path claimed by
 * a dialect (by route or by its claims() test) gets that dialect's error shape
 * for 404/405 and transport errors. Routes are matched in registration order.
 * A route whose pattern is a lone slash-star is a fallback: it takes any path that no
 * other dialect claims (Datasette's suffix-based URLs route themselves).
 * The table is built before the server starts and read-only afterwards. */
#ifndef ATRIUM_NET_ROUTER_H
#define ATRIUM_NET_ROUTER_H
#include <stdbool.h>

#include "net/http.h"

typedef void (*route_fn)(http_req_t *r);

struct dialect {
    const char *name;
    /* Renders an error body for status; message is human text. */
    void (*render_error)(http_req_t *r, int status, const char *message);
    /* Optional: does this dialect own a path no route matched? */
    bool (*claims)(const char *path);
    /* Optional: headers added to every response of this dialect (CORS). */
    const char *extra_headers;
    /* Optional: headers that depend on the request (CORS origins), appended
     * as "Name: value\r\n" lines. Loop thread; must not block. */
    void (*add_headers)(const http_req_t *r, buf_t *h);
    /* Optional: answers OPTIONS for any path of the dialect. */
    route_fn options;
    /* Optional: the dialect's own request body limit, if below the server's
     * (the transport answers 413 past it, as for the server's). */
    size_t max_body_bytes;
    /* Optional: for requests whose bodies may be large (uploads), the body
     * limit; their body is written to a file under the server's spool_dir
     * a chunk at a time, off the loop, so memory stays bounded whatever
     * the size (r->body_path). 0: the request's body stays in memory.
     * Asked when the headers are in (method, path and headers are set);
     * loop thread, must not block. */
    size_t (*spool_limit)(const http_req_t *r);
};

typedef struct router router_t;

router_t *router_new(void);
void router_free(router_t *rt);
/* methods: a mask of http_method_t; GET routes also answer HEAD. */
void router_add(router_t *rt, const dialect_t *d, unsigned methods, const char *pattern, route_fn fn);
/* Finds the dialect that owns a path (for transport errors); may be NULL. */
const dialect_t *router_dialect_for(const router_t *rt, const char *path);
/* Calls fn for every route in registration order (HEAD left out where GET
 * implies it): the route table as data, for `atrium routes` and tests. */
void router_each(const router_t *rt, void (*fn)(void *ctx, const char *dialect, unsigned methods, const char *pattern),
                 void *ctx);
/* The name of one method bit ("GET", …, "OTHER"); "" for none. */
const char *router_method_name(unsigned bit);
/* Routes the request: calls the handler or answers 404/405/OPTIONS. */
void router_dispatch(const router_t *rt, http_req_t *r);

#endif
