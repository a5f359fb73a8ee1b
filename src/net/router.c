/* router: method + path patterns (see router.h). */
#include "net/router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* No route pattern is longer than this (checked when it is added). */
#define ROUTER_MAX_SEGS 16

/* A bad pattern is a programming error found at start-up. */
static void bad_pattern(const char *pattern, const char *why) {
    fprintf(stderr, "router: pattern %s: %s\n", pattern, why);
    abort();
}

typedef struct {
    char *s;
    size_t len;
    char kind; /* 'l' literal, 'c' capture (":x"), 's' the rest ("*") */
} seg_t;

typedef struct {
    const dialect_t *d;
    unsigned methods;
    seg_t *segs; /* pattern segments */
    int nsegs;
    bool star;   /* the last segment is "*" */
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
        for (int k = 0; k < rt->routes[i].nsegs; k++) free(rt->routes[i].segs[k].s);
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
    r->star = false;
    r->segs = NULL;
    r->nsegs = 0;
    const char *p = pattern;
    while (*p == '/') p++;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (r->star) bad_pattern(pattern, "\"*\" must be the last segment");
        r->segs = xrealloc(r->segs, (size_t)(r->nsegs + 1) * sizeof *r->segs);
        seg_t *s = &r->segs[r->nsegs++];
        s->s = xstrndup(p, len);
        s->len = len;
        s->kind = strcmp(s->s, "*") == 0 ? 's' : s->s[0] == ':' ? 'c' : 'l';
        r->star = s->kind == 's';
        p += len;
        while (*p == '/') p++;
    }
    if (r->nsegs > ROUTER_MAX_SEGS) bad_pattern(pattern, "too many segments");
    bool known = false;
    for (size_t i = 0; i < rt->nd; i++) known |= rt->dialects[i] == d;
    if (!known) {
        rt->dialects = xrealloc(rt->dialects, (rt->nd + 1) * sizeof *rt->dialects);
        rt->dialects[rt->nd++] = d;
    }
}

/* A request path cut at each '/' once, so each route compares lengths and
 * bytes instead of scanning the path again. After the leading '/', "a/b"
 * has two segments, "a/b/" three (the last empty: a trailing slash), "" none;
 * "a//b" has an empty middle one. Only the first ROUTER_MAX_SEGS are kept
 * (no route is longer). */
typedef struct {
    const char *path, *rest; /* rest: after the leading '/' */
    int n;                   /* all segments, kept or not */
    const char *at[ROUTER_MAX_SEGS];
    size_t len[ROUTER_MAX_SEGS];
} split_t;

static void split(const char *path, split_t *sp) {
    sp->path = path;
    sp->rest = path + (*path == '/');
    sp->n = 0;
    const char *p = sp->rest;
    if (!*p) return;
    for (;;) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (sp->n < ROUTER_MAX_SEGS) {
            sp->at[sp->n] = p;
            sp->len[sp->n] = len;
        }
        sp->n++;
        if (!e) return;
        p = e + 1;
    }
}

/* Matches a split path against a route; fills captures on success. An empty
 * segment never matches a literal and is captured as "" by ":x" (handlers
 * reject empty names), except the empty last one of a trailing slash, which
 * matches nothing but "*". */
/* The quick rejection most routes get for a given path, before match():
 * the segment count, then the first segment when it is a literal. */
static inline bool may_match(const route_t *rt, const split_t *sp) {
    if (rt->star ? sp->n < rt->nsegs - 1 : sp->n != rt->nsegs) return false;
    if (rt->nsegs == 0 || rt->segs[0].kind != 'l' || sp->n == 0) return true;
    return rt->segs[0].len == sp->len[0] && rt->segs[0].s[0] == sp->at[0][0];
}

static bool match(const route_t *rt, const split_t *sp, http_req_t *r) {
    int fixed = rt->nsegs - rt->star; /* segments before any "*" */
    if (rt->star ? sp->n < rt->nsegs && !(fixed == 0 && sp->n == 0) : sp->n != rt->nsegs) return false;
    bool trailing = sp->n > 0 && sp->n <= ROUTER_MAX_SEGS && sp->len[sp->n - 1] == 0 &&
                    sp->at[sp->n - 1][0] == 0;
    if (!rt->star && trailing) return false;
    int ncap = 0;
    for (int i = 0; i < fixed; i++) {
        const seg_t *s = &rt->segs[i];
        if (s->kind == 'c') {
            if (ncap >= HTTP_MAX_CAPTURES) return false;
            ncap++;
        } else if (s->len != sp->len[i] || memcmp(s->s, sp->at[i], s->len) != 0) {
            return false;
        }
    }
    if (rt->star && ncap >= HTTP_MAX_CAPTURES) return false;
    if (!r) return true;
    ncap = 0;
    for (int i = 0; i < fixed; i++) {
        if (rt->segs[i].kind != 'c') continue;
        r->cap[ncap] = sp->at[i];
        r->cap_len[ncap++] = sp->len[i];
    }
    if (rt->star) {
        const char *rest = fixed < sp->n ? sp->at[fixed] : sp->rest;
        r->cap[ncap] = rest;
        r->cap_len[ncap++] = strlen(rest);
    }
    r->ncap = ncap;
    return true;
}

const dialect_t *router_dialect_for(const router_t *rt, const char *path) {
    split_t sp;
    split(path, &sp);
    for (size_t i = 0; i < rt->n; i++)
        if (!rt->routes[i].fallback && match(&rt->routes[i], &sp, NULL)) return rt->routes[i].d;
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
    split_t sp;
    split(r->path, &sp);
    for (size_t i = 0; i < rt->n; i++) {
        const route_t *ro = &rt->routes[i];
        if (!may_match(ro, &sp) || !match(ro, &sp, NULL)) continue;
        if (ro->fallback && claimed_by_other(rt, r->path, ro->d)) continue;
        if (!path_match) path_match = ro;
        if (ro->methods & r->method) {
            match(ro, &sp, r);
            r->dialect = ro->d;
            r->route = ro->pattern;
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
