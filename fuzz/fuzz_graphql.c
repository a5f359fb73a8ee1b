/* fuzz_graphql: the GraphQL lexer and parser (src/graphql). Properties: no
 * crash, no read past the input, no leak (ASan); a parsed document's every
 * node is reachable and well formed; a failure always says where. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "graphql/gql.h"

static size_t walk_value(const gql_value_t *v) {
    size_t n = 1;
    if (!v) abort();
    if ((v->kind == GV_VARIABLE || v->kind == GV_ENUM || v->kind == GV_INT || v->kind == GV_FLOAT) && !v->s) abort();
    for (size_t i = 0; v->kind == GV_LIST && i < v->n; i++) n += walk_value(v->items[i]);
    for (size_t i = 0; v->kind == GV_OBJECT && i < v->n; i++) n += walk_value(v->fields[i].value) + !v->fields[i].name;
    return n;
}

static size_t walk_sel(const gql_selset_t *s) {
    size_t n = 1;
    if (!s || !s->n) abort();
    for (size_t i = 0; i < s->n; i++) {
        const gql_selection_t *x = &s->items[i];
        for (size_t a = 0; a < x->nargs; a++) n += walk_value(x->args[a].value);
        for (size_t d = 0; d < x->ndirs; d++)
            for (size_t a = 0; a < x->dirs[d].nargs; a++) n += walk_value(x->dirs[d].args[a].value);
        if (x->kind == GS_INLINE_FRAGMENT && !x->sel) abort();
        if (x->kind != GS_INLINE_FRAGMENT && !x->name) abort();
        if (x->sel) n += walk_sel(x->sel);
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    gql_doc_t *d = NULL;
    char msg[512];
    gql_loc_t loc = {0, 0};
    if (gql_parse((const char *)data, n, &d, msg, sizeof msg, &loc) == 0) {
        if (!d->ndefs) abort();
        for (size_t i = 0; i < d->ndefs; i++) {
            for (size_t v = 0; v < d->defs[i].nvars; v++)
                if (d->defs[i].vars[v].def) walk_value(d->defs[i].vars[v].def);
            walk_sel(d->defs[i].sel);
        }
        gql_doc_free(d);
    } else if (loc.line < 1 || loc.column < 1 || !msg[0]) {
        abort();
    }
    return 0;
}
