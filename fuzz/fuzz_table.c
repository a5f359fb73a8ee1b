/* fuzz_table: the input is the query string of Datasette table, row and
 * query pages: filters with every operator, _sort, _next keyset tokens,
 * _search, _facet, _col, shapes, _where, _extra — the filter -> SQL
 * planner and what runs its SQL. Characters a request line cannot hold are
 * percent-encoded, so every input reaches the planner. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static const char *pages[] = {"/fx/items.json", "/fx/pairs.json", "/fx/items/1.json", "/fx/pairs/a,1.json",
                              "/fx/items.csv",  "/fx/-/query.json", "/fx/people.json", "/fx.json"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    if (n < 1 || n > 4096) return 0;
    const char *page = pages[data[0] % (sizeof pages / sizeof *pages)];
    size_t cap = 64 + strlen(page) + 3 * n;
    char *req = malloc(cap);
    size_t len = (size_t)snprintf(req, cap, "GET %s?", page);
    for (size_t i = 1; i < n; i++) {
        unsigned char c = data[i];
        if (c <= ' ' || c >= 0x7f || c == '#') len += (size_t)snprintf(req + len, cap - len, "%%%02X", c);
        else req[len++] = (char)c;
    }
    len += (size_t)snprintf(req + len, cap - len, " HTTP/1.1\r\nHost: f\r\n\r\n");
    harness_roundtrip(harness_start(), (const uint8_t *)req, len);
    free(req);
    return 0;
}
