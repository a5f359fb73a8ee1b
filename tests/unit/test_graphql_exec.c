/* Unit tests for src/graphql's executor on a toy schema with its own
 * resolver (no SQL anywhere): field collection with fragments, aliases
 * and @skip/@include, variables with defaults and list coercion, non-null
 * propagation, error paths, introspection, depth limits and operation
 * selection. Expected texts are graphql-js 16's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "graphql/exec.h"

/* Query { people(min: Int = 0, names: [String!]): [Person!]!, boom: Int!, maybe: Person }
 * Person { name: String!, age: Int, friend: Person, bad: String! } */
typedef struct {
    const char *name;
    int age;
} person_t;

static person_t people[] = {{"Ada", 36}, {"Grace", 85}, {"Linus", 0}};

static int resolve(void *ctx, gql_exec_t *x, const gql_field_t *f, void *obj, gql_result_t *out) {
    (void)ctx;
    person_t *p = obj;
    if (strcmp(f->name, "people") == 0) {
        const gql_value_t *min = gql_arg(x, "min"), *names = gql_arg(x, "names");
        out->kind = GR_LIST;
        out->items = gql_alloc(x, 3 * sizeof *out->items);
        for (int i = 0; i < 3; i++) {
            if (min && min->kind == GV_INT && people[i].age < min->i) continue;
            bool listed = !names || names->kind == GV_NULL;
            for (size_t k = 0; names && names->kind == GV_LIST && k < names->n; k++)
                listed |= strcmp(names->items[k]->s, people[i].name) == 0;
            if (!listed) continue;
            out->items[out->n].kind = GR_OBJECT;
            out->items[out->n++].obj = &people[i];
        }
    } else if (strcmp(f->name, "boom") == 0) {
        out->kind = GR_ERROR;
        out->s = "it went boom";
        out->len = strlen(out->s);
    } else if (strcmp(f->name, "maybe") == 0) {
        out->kind = GR_OBJECT;
        out->obj = &people[0];
    } else if (strcmp(f->name, "name") == 0) {
        out->kind = GR_STRING;
        out->s = p->name;
        out->len = strlen(p->name);
    } else if (strcmp(f->name, "age") == 0) {
        out->kind = p->age ? GR_INT : GR_NULL;
        out->i = p->age;
    } else if (strcmp(f->name, "friend") == 0) {
        out->kind = GR_OBJECT;
        out->obj = &people[(p - people + 1) % 3];
    } else { /* bad: null where non-null */
        out->kind = GR_NULL;
    }
    return 0;
}

static gql_schema_t *toy(void) {
    gql_schema_t *s = gql_schema_new();
    gql_ntype_t *q = gql_schema_type(s, GK_OBJECT, "Query", NULL);
    gql_ntype_t *p = gql_schema_type(s, GK_OBJECT, "Person", "Somebody");
    gql_field_t *f = gql_schema_field(s, q, "people", "[Person!]!", "Everybody");
    gql_schema_arg(s, f, "min", "Int", NULL)->default_literal = "0";
    gql_schema_arg(s, f, "names", "[String!]", NULL);
    gql_schema_field(s, q, "boom", "Int!", NULL);
    gql_schema_field(s, q, "maybe", "Person", NULL);
    gql_schema_field(s, p, "name", "String!", NULL);
    gql_schema_field(s, p, "age", "Int", NULL)->deprecation = "Ask nicely";
    gql_schema_field(s, p, "friend", "Person", NULL);
    gql_schema_field(s, p, "bad", "String!", NULL);
    char err[200];
    if (gql_schema_finish(s, "Query", NULL, err, sizeof err) < 0) fail_msg("%s", err);
    return s;
}

static void check(const char *query, const char *vars, const char *op, const char *want) {
    gql_schema_t *s = toy();
    gql_doc_t *d;
    char msg[300];
    gql_loc_t loc;
    if (gql_parse(query, strlen(query), &d, msg, sizeof msg, &loc) < 0) fail_msg("%s", msg);
    json_t *v = vars ? json_loads(vars, 0, NULL) : NULL;
    gql_env_t env = {.schema = s, .resolve = resolve};
    buf_t out = BUF_INIT;
    gql_execute(&env, d, op, v, &out);
    if (strcmp(out.data, want) != 0) fail_msg("%s\n got: %s\nwant: %s", query, out.data, want);
    buf_free(&out);
    json_decref(v);
    gql_doc_free(d);
    gql_schema_free(s);
}

static void fields_fragments_and_directives(void **st) {
    (void)st;
    check("{ people(min: 40) { name } }", NULL, NULL, "{\"data\":{\"people\":[{\"name\":\"Grace\"}]}}");
    check("{ a: people(min: 40) { n: name ...F ... on Person { name } } } fragment F on Person { age }", NULL, NULL,
          "{\"data\":{\"a\":[{\"n\":\"Grace\",\"age\":85,\"name\":\"Grace\"}]}}");
    check("query($s: Boolean!) { people(min: 80) { name @skip(if: $s) age @include(if: $s) } }", "{\"s\": true}",
          NULL, "{\"data\":{\"people\":[{\"age\":85}]}}");
    check("{ people(min: 80) { __typename } __typename }", NULL, NULL,
          "{\"data\":{\"people\":[{\"__typename\":\"Person\"}],\"__typename\":\"Query\"}}");
}

static void variables_coerce(void **st) {
    (void)st;
    /* a single value where a list is expected becomes a list of one */
    check("query($n: [String!]) { people(names: $n) { name } }", "{\"n\": \"Ada\"}", NULL,
          "{\"data\":{\"people\":[{\"name\":\"Ada\"}]}}");
    check("query($m: Int = 80) { people(min: $m) { name } }", "{}", NULL, "{\"data\":{\"people\":[{\"name\":\"Grace\"}]}}");
    check("query($m: Int) { people(min: $m) { name } }", "{\"m\": \"x\"}", NULL,
          "{\"data\":null,\"errors\":[{\"message\":\"Variable \\\"$m\\\" got invalid value \\\"x\\\"; Int cannot represent "
          "non-integer value: \\\"x\\\"\",\"locations\":[{\"line\":1,\"column\":7}]}]}");
}

static void nulls_propagate_with_paths(void **st) {
    (void)st;
    /* a nullable parent absorbs a non-null child's null */
    check("{ maybe { name bad } }", NULL, NULL,
          "{\"data\":{\"maybe\":null},\"errors\":[{\"message\":\"Cannot return null for non-nullable field Person.bad.\","
          "\"locations\":[{\"line\":1,\"column\":16}],\"path\":[\"maybe\",\"bad\"]}]}");
    /* through a non-null list of non-null items to the root: data is null */
    check("{ people(min: 80) { bad } }", NULL, NULL,
          "{\"data\":null,\"errors\":[{\"message\":\"Cannot return null for non-nullable field Person.bad.\","
          "\"locations\":[{\"line\":1,\"column\":21}],\"path\":[\"people\",0,\"bad\"]}]}");
    check("{ boom }", NULL, NULL,
          "{\"data\":null,\"errors\":[{\"message\":\"it went boom\",\"locations\":[{\"line\":1,\"column\":3}],"
          "\"path\":[\"boom\"]}]}");
}

static void introspection_and_limits(void **st) {
    (void)st;
    check("{ __type(name: \"Person\") { kind name description fields { name isDeprecated } } }", NULL, NULL,
          "{\"data\":{\"__type\":{\"kind\":\"OBJECT\",\"name\":\"Person\",\"description\":\"Somebody\",\"fields\":["
          "{\"name\":\"name\",\"isDeprecated\":false},{\"name\":\"friend\",\"isDeprecated\":false},"
          "{\"name\":\"bad\",\"isDeprecated\":false}]}}}");
    check("{ __schema { mutationType { name } queryType { name } } }", NULL, NULL,
          "{\"data\":{\"__schema\":{\"mutationType\":null,\"queryType\":{\"name\":\"Query\"}}}}");
    /* 31 levels of selections */
    char q[1024] = "{ maybe ";
    for (int i = 0; i < 30; i++) strcat(q, "{ friend ");
    strcat(q, "{ name }");
    for (int i = 0; i < 31; i++) strcat(q, " }");
    check(q, NULL, NULL, "{\"data\":null,\"errors\":[{\"message\":\"Query is nested too deeply\"}]}");
    check("query A { boom } query B { boom }", NULL, NULL,
          "{\"data\":null,\"errors\":[{\"message\":\"Must provide operation name if query contains multiple "
          "operations.\"}]}");
    check("query A { maybe { name } } query B { boom }", NULL, "A", "{\"data\":{\"maybe\":{\"name\":\"Ada\"}}}");
    check("mutation { boom }", NULL, NULL,
          "{\"data\":null,\"errors\":[{\"message\":\"Schema is not configured to execute mutation operation.\","
          "\"locations\":[{\"line\":1,\"column\":1}]}]}");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fields_fragments_and_directives),
        cmocka_unit_test(variables_coerce),
        cmocka_unit_test(nulls_propagate_with_paths),
        cmocka_unit_test(introspection_and_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
