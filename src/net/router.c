/* router: method + path patterns (see router.h). */
#include "net/router.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const dialect_t *d;
    unsigned methods;
    char **segs; /* pattern segments */
    int nsegs;
    route_fn fn;
    char *pattern;
    bool fallback; /* pattern slash-star: yields to paths another dialect claims */
} route_t;

struct router {
    route_t *routes;
    size_t n, cap;
    const dialect_t **dialects; /* in registration order, for claims() */
    size_t nd;
};

router_t *router_new(void) { return xcalloc(1, sizeof(router_t)); }

void router_free(router_t *rt) {
    if (!rt) return;
    for (size_t i = 0; i < rt->n; i++) {
        for (int k = 0; k < rt->routes[i].nsegs; k++) free(rt->routes[i].segs[k]);
        free(rt->routes[i].segs);
        free(rt->routes[i].pattern);
    }
    free(rt->routes);
    free(rt->dialects);
    free(rt);
}

void router_add(router_t *rt, const dialect_t *d, unsigned methods, const char *pattern, route_fn fn) {
    if (rt->n == rt->cap) {
        rt->cap = rt->cap ? rt->cap * 2 : 32;
        rt->routes = xrealloc(rt->routes, rt->cap * sizeof *rt->routes);
    }
    route_t *r = &rt->routes[rt->n++];
    r->d = d;
    r->methods = methods | ((methods & M_GET) ? M_HEAD : 0);
    r->fn = fn;
    r->pattern = xstrdup(pattern);
    r->fallback = strcmp(pattern, "/*") == 0;
    r->segs = NULL;
    r->nsegs = 0;
    const char *p = pattern;
    while (*p == '/') p++;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        r->segs = xrealloc(r->segs, (size_t)(r->nsegs + 1) * sizeof *r->segs);
        r->segs[r->nsegs++] = xstrndup(p, len);
        p += len;
        while (*p == '/') p++;
    }
    bool known = false;
    for (size_t i = 0; i < rt->nd; i++) known |= rt->dialects[i] == d;
    if (!known) {
        rt->dialects = xrealloc(rt->dialects, (rt->nd + 1) * sizeof *rt->dialects);
        rt->dialects[rt->nd++] = d;
    }
}

/* Matches path against a route; fills captures on success. The path is
 * split on '/' exactly: "/a//b" has an empty segment, which never matches a
 * literal and is captured as "" by ":x" (handlers reject empty names). */
static bool match(const route_t *rt, const char *path, http_req_t *r) {
    const char *p = path;
    if (*p == '/') p++;
    int ncap = 0;
    for (int i = 0; i < rt->nsegs; i++) {
        const char *seg = rt->segs[i];
        if (strcmp(seg, "*") == 0) {
            if (r) {
                r->cap[ncap] = p;
                r->cap_len[ncap] = strlen(p);
            }
            ncap++;
            if (r) r->ncap = ncap;
            return true;
        }
        if (*p == 0) return false;
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (seg[0] == ':') {
            if (ncap >= HTTP_MAX_CAPTURES) return false;
            if (r) {
                r->cap[ncap] = p;
                r->cap_len[ncap] = len;
            }
            ncap++;
        } else if (strlen(seg) != len || memcmp(seg, p, len) != 0) {
            return false;
        }
        p += len;
        if (*p == '/') {
            p++;
            if (*p == 0 && i == rt->nsegs - 1) return false; /* trailing slash */
        } else if (i < rt->nsegs - 1 && *p == 0) {
            return false;
        }
    }
    if (*p != 0) return false;
    if (r) r->ncap = ncap;
    return true;
}

const dialect_t *router_dialect_for(const router_t *rt, const char *path) {
    for (size_t i = 0; i < rt->n; i++)
        if (!rt->routes[i].fallback && match(&rt->routes[i], path, NULL)) return rt->routes[i].d;
    for (size_t i = 0; i < rt->nd; i++)
        if (rt->dialects[i]->claims && rt->dialects[i]->claims(path)) return rt->dialects[i];
    for (size_t i = 0; i < rt->n; i++)
        if (rt->routes[i].fallback) return rt->routes[i].d;
    return NULL;
}

/* Does a dialect other than d claim the path? */
static bool claimed_by_other(const router_t *rt, const char *path, const dialect_t *d) {
    for (size_t i = 0; i < rt->nd; i++)
        if (rt->dialects[i] != d && rt->dialects[i]->claims && rt->dialects[i]->claims(path)) return true;
    return false;
}

void router_dispatch(const router_t *rt, http_req_t *r) {
    const route_t *path_match = NULL;
    for (size_t i = 0; i < rt->n; i++) {
        const route_t *ro = &rt->routes[i];
        if (!match(ro, r->path, NULL)) continue;
        if (ro->fallback && claimed_by_other(rt, r->path, ro->d)) continue;
        if (!path_match) path_match = ro;
        if (ro->methods & r->method) {
            match(ro, r->path, r);
            r->dialect = ro->d;
            ro->fn(r);
            return;
        }
    }
    r->dialect = path_match ? path_match->d : router_dialect_for(rt, r->path);
    if (r->method == M_OPTIONS && r->dialect && r->dialect->options) {
        r->dialect->options(r);
        return;
    }
    if (path_match) http_respond_error(r, 405, "Method not allowed");
    else http_respond_error(r, 404, "Not found");
}

void router_each(const router_t *rt, void (*fn)(void *ctx, const char *dialect, unsigned methods, const char *pattern),
                 void *ctx) {
    for (size_t i = 0; i < rt->n; i++)
        fn(ctx, rt->routes[i].d->name, rt->routes[i].methods & ~(unsigned)M_HEAD, rt->routes[i].pattern);
}

const char *router_method_name(unsigned bit) {
    switch (bit) {
    case M_GET: return "GET";
    case M_HEAD: return "HEAD";
    case M_POST: return "POST";
    case M_PUT: return "PUT";
    case M_DELETE: return "DELETE";
    case M_PATCH: return "PATCH";
    case M_OPTIONS: return "OPTIONS";
    case M_OTHER: return "OTHER";
    default: return "";
    }
}
