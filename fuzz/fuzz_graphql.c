/* fuzz_graphql: the GraphQL engine (src/graphql) on hostile documents —
 * the lexer and parser, then validation and execution against a small
 * schema with every kind of type (recursive objects, enums, input
 * objects, lists, non-nulls) and a resolver that returns values, nulls,
 * errors and lists. Properties: no crash, no read past the input, no
 * leak (ASan); a parsed document's every node is reachable and well
 * formed; a failure always says where; every response is one valid JSON
 * object with "data" or "errors". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graphql/exec.h"
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

static gql_schema_t *schema;

static int resolve(void *ctx, gql_exec_t *x, const gql_field_t *f, void *obj, gql_result_t *out) {
    (void)ctx;
    intptr_t depth = (intptr_t)obj;
    switch (f->tag) {
    case 1: /* [Node!]! */
        out->kind = GR_LIST;
        out->n = depth < 6 ? 3 : 0;
        out->items = gql_alloc(x, 3 * sizeof *out->items);
        for (size_t i = 0; i < out->n; i++) {
            out->items[i].kind = GR_OBJECT;
            out->items[i].obj = (void *)(depth + 1);
        }
        break;
    case 2: /* Node */
        out->kind = depth % 3 == 2 ? GR_NULL : GR_OBJECT;
        out->obj = (void *)(depth + 1);
        break;
    case 3: out->kind = GR_INT, out->i = depth * 1000000007LL; break;
    case 4: out->kind = GR_STRING, out->s = "x\"y", out->len = 3; break;
    case 5: out->kind = GR_ERROR, out->s = "nope", out->len = 4; break;
    case 6: out->kind = GR_ENUM, out->s = "B", out->len = 1; break;
    default: out->kind = GR_FLOAT, out->f = 0.5; break;
    }
    const char *names[8];
    gql_subfields(x, NULL, names, 8);
    (void)gql_arg(x, "w");
    return 0;
}

static gql_schema_t *toy(void) {
    gql_schema_t *s = gql_schema_new();
    gql_ntype_t *q = gql_schema_type(s, GK_OBJECT, "Query", NULL);
    gql_ntype_t *m = gql_schema_type(s, GK_OBJECT, "Mutation", NULL);
    gql_ntype_t *n = gql_schema_type(s, GK_OBJECT, "Node", NULL);
    gql_ntype_t *e = gql_schema_type(s, GK_ENUM, "E", NULL);
    gql_ntype_t *in = gql_schema_type(s, GK_INPUT_OBJECT, "In", NULL);
    gql_schema_enum(s, e, "A", NULL);
    gql_schema_enum(s, e, "B", NULL)->deprecation = "old";
    gql_schema_input(s, in, "a", "Int!", NULL);
    gql_schema_input(s, in, "b", "[String]", NULL);
    gql_schema_input(s, in, "c", "In", NULL);
    gql_schema_input(s, in, "e", "E", NULL);
    for (int k = 0; k < 3; k++) {
        gql_ntype_t *t = k == 0 ? q : k == 1 ? m : n;
        gql_field_t *f = gql_schema_field(s, t, "list", "[Node!]!", NULL);
        f->tag = 1;
        gql_schema_arg(s, f, "w", "In", NULL);
        gql_schema_arg(s, f, "limit", "Int", NULL)->default_literal = "3";
        gql_schema_arg(s, f, "order", "[E!]", NULL);
        f = gql_schema_field(s, t, "one", "Node", NULL);
        f->tag = 2;
        gql_schema_arg(s, f, "id", "Int!", NULL);
        gql_schema_field(s, t, "int", "Int", NULL)->tag = 3;
        gql_schema_field(s, t, "str", "String!", NULL)->tag = 4;
        gql_schema_field(s, t, "bad", "Int!", NULL)->tag = 5;
        gql_schema_field(s, t, "en", "E", NULL)->tag = 6;
        gql_schema_field(s, t, "fl", "Float", NULL)->tag = 7;
    }
    char err[200];
    if (gql_schema_finish(s, "Query", "Mutation", err, sizeof err) < 0) abort();
    return s;
}

static void execute(const gql_doc_t *d, const char *vars) {
    json_t *v = vars ? json_loads(vars, 0, NULL) : NULL;
    gql_env_t env = {.schema = schema, .resolve = resolve};
    buf_t out = BUF_INIT;
    int rc = gql_execute(&env, d, NULL, v, &out);
    json_t *j = json_loadb(out.data, out.len, 0, NULL);
    if (!j || !json_is_object(j) || !json_object_get(j, "data")) {
        fprintf(stderr, "bad response: %.*s\n", (int)(out.len > 2000 ? 2000 : out.len), out.data);
        abort();
    }
    if (rc != 0 && !json_object_get(j, "errors")) {
        fprintf(stderr, "rc %d without errors: %.*s\n", rc, (int)(out.len > 2000 ? 2000 : out.len), out.data);
        abort();
    }
    json_decref(j);
    json_decref(v);
    buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    if (!schema) schema = toy();
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
        execute(d, NULL);
        execute(d, "{\"a\": 1, \"b\": \"x\", \"c\": [1, null], \"d\": {\"a\": 2, \"b\": \"s\"}, \"e\": \"A\"}");
        gql_doc_free(d);
    } else if (loc.line < 1 || loc.column < 1 || !msg[0]) {
        abort();
    }
    return 0;
}
