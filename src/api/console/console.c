/* console: serves the browser console's files (see console.h). The page at
 * / is console/index.html; its scripts and styles are /-/console/FILE. Each
 * answer carries a strong ETag (revalidated, never stale after an upgrade),
 * is gzip-compressed when the client accepts it, and forbids the page from
 * loading or connecting anywhere but this server. */
#include "api/console/console.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "api/console/assets.h"
#include "api/common.h"

static const dialect_t dialect = {.name = "console"};

/* Only this origin: the console works offline and leaks nothing. Style
 * attributes (not <style> elements) are allowed: Chromium's own editing
 * writes them into the SQL editor's contenteditable when typed-over text
 * was highlighted; the console's code sets styles through the CSSOM. */
#define CONSOLE_CSP                                                                                              \
    "default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "                 \
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

static const console_asset_t *find(const char *name, size_t n) {
    for (size_t i = 0; i < console_nassets; i++)
        if (strlen(console_assets[i].name) == n && memcmp(console_assets[i].name, name, n) == 0)
            return &console_assets[i];
    return NULL;
}

/* The comma-separated list h (If-None-Match) names the tag (or is "*");
 * weak comparison, as RFC 9110 asks for If-None-Match. */
static bool tag_listed(const char *h, const char *etag) {
    size_t el = strlen(etag);
    while (*h) {
        while (*h == ' ' || *h == '\t' || *h == ',') h++;
        if (*h == '*') return true;
        if (h[0] == 'W' && h[1] == '/') h += 2;
        const char *e = h + strcspn(h, ",");
        const char *t = e;
        while (t > h && (t[-1] == ' ' || t[-1] == '\t')) t--;
        if ((size_t)(t - h) == el + 2 && h[0] == '"' && memcmp(h + 1, etag, el) == 0 && h[el + 1] == '"') return true;
        h = e;
    }
    return false;
}

/* Accept-Encoding lists gzip with a non-zero weight. */
static bool takes_gzip(const char *h) {
    while (h && *h) {
        while (*h == ' ' || *h == '\t' || *h == ',') h++;
        size_t n = strcspn(h, ",;");
        const char *item_end = h + strcspn(h, ",");
        bool zero = false;
        const char *q = strstr(h, "q=");
        if (q && q < item_end) {
            q += 2;
            zero = q[0] == '0' && (q[1] != '.' || strspn(q + 2, "0") == strcspn(q + 2, ", \t"));
        }
        if (n == 4 && strncasecmp(h, "gzip", 4) == 0 && !zero) return true;
        h = item_end;
    }
    return false;
}

static void serve(http_req_t *r, const console_asset_t *a) {
    char etag[48];
    size_t el = strlen(a->etag);
    if (el + 3 > sizeof etag) el = sizeof etag - 3;
    etag[0] = '"';
    memcpy(etag + 1, a->etag, el);
    etag[el + 1] = '"';
    etag[el + 2] = 0;
    http_add_header(r, "ETag", etag);
    http_add_header(r, "Cache-Control", "no-cache");
    http_add_header(r, "Vary", "Accept-Encoding");
    http_add_header(r, "X-Content-Type-Options", "nosniff");
    http_add_header(r, "Referrer-Policy", "no-referrer");
    http_add_header(r, "Content-Security-Policy", CONSOLE_CSP);
    const char *inm = http_header(r, "If-None-Match");
    if (inm && tag_listed(inm, a->etag)) {
        http_respond(r, 304, NULL, NULL, 0);
        return;
    }
    if (takes_gzip(http_header(r, "Accept-Encoding"))) {
        http_add_header(r, "Content-Encoding", "gzip");
        http_respond(r, 200, a->type, a->gz, a->gzlen);
        return;
    }
    http_respond(r, 200, a->type, a->data, a->len);
}

static void h_index(http_req_t *r) {
    const console_asset_t *a = find("index.html", 10);
    if (!a) {
        http_respond_error(r, 404, "Not found");
        return;
    }
    serve(r, a);
}

static void h_file(http_req_t *r) {
    const console_asset_t *a = r->ncap == 1 ? find(r->cap[0], r->cap_len[0]) : NULL;
    if (!a || strcmp(a->name, "index.html") == 0) {
        http_respond_error(r, 404, "Not found");
        return;
    }
    serve(r, a);
}

void console_register(router_t *rt) {
    router_add(rt, &dialect, M_GET, "/", h_index);
    router_add(rt, &dialect, M_GET, "/-/console/:file", h_file);
}
