/* Unit tests for src/graphql's parser: the executable grammar into the AST,
 * string and block-string values, and syntax errors with graphql-js 16's
 * texts and locations (columns in UTF-16 units). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "graphql/gql.h"

static gql_doc_t *parse_ok(const char *src) {
    gql_doc_t *d = NULL;
    char msg[512];
    gql_loc_t loc;
    int rc = gql_parse(src, strlen(src), &d, msg, sizeof msg, &loc);
    if (rc != 0) fail_msg("%s at %d:%d", msg, loc.line, loc.column);
    return d;
}

static void parse_fails(const char *src, const char *want, int line, int column) {
    gql_doc_t *d = NULL;
    char msg[512] = "";
    gql_loc_t loc = {0, 0};
    int rc = gql_parse(src, strlen(src), &d, msg, sizeof msg, &loc);
    if (rc == 0) {
        gql_doc_free(d);
        fail_msg("parsed: %s", src);
    }
    if (strcmp(msg, want) != 0) fail_msg("%s\n got: %s\nwant: %s", src, msg, want);
    if (loc.line != line || loc.column != column)
        fail_msg("%s: at %d:%d, want %d:%d", src, loc.line, loc.column, line, column);
}

static void operations_fields_and_values(void **st) {
    (void)st;
    gql_doc_t *d = parse_ok(
        "query Q($id: Int! = 3, $tags: [String!] @x) @op {\n"
        "  alias: person(id: $id, f: 1.5e3, s: \"a\\nb\", b: true, n: null, e: RED, l: [1, [2]], o: {k: \"v\"})\n"
        "    @include(if: true) { name ...F ... on Person { age } ... @skip(if: false) { x } }\n"
        "}\n"
        "fragment F on Person { id }\n"
        "mutation { del }\n"
        "{ anon }");
    assert_int_equal(d->ndefs, 4);
    gql_def_t *q = &d->defs[0];
    assert_false(q->fragment);
    assert_int_equal(q->op, GO_QUERY);
    assert_string_equal(q->name, "Q");
    assert_int_equal(q->nvars, 2);
    assert_string_equal(q->vars[0].name, "id");
    assert_int_equal(q->vars[0].type->kind, GT_NON_NULL);
    assert_string_equal(q->vars[0].type->of->name, "Int");
    assert_int_equal(q->vars[0].def->kind, GV_INT);
    assert_string_equal(q->vars[0].def->s, "3");
    assert_int_equal(q->vars[1].type->kind, GT_LIST);
    assert_int_equal(q->vars[1].type->of->kind, GT_NON_NULL);
    assert_int_equal(q->vars[1].ndirs, 1);
    assert_int_equal(q->ndirs, 1);
    assert_string_equal(q->dirs[0].name, "op");
    assert_int_equal(q->sel->n, 1);
    gql_selection_t *f = &q->sel->items[0];
    assert_int_equal(f->kind, GS_FIELD);
    assert_string_equal(f->alias, "alias");
    assert_string_equal(f->name, "person");
    assert_int_equal(f->loc.line, 2);
    assert_int_equal(f->loc.column, 3);
    assert_int_equal(f->nargs, 8);
    assert_int_equal(f->args[0].value->kind, GV_VARIABLE);
    assert_string_equal(f->args[0].value->s, "id");
    assert_int_equal(f->args[1].value->kind, GV_FLOAT);
    assert_string_equal(f->args[1].value->s, "1.5e3");
    assert_int_equal(f->args[2].value->kind, GV_STRING);
    assert_string_equal(f->args[2].value->s, "a\nb");
    assert_true(f->args[3].value->b);
    assert_int_equal(f->args[4].value->kind, GV_NULL);
    assert_int_equal(f->args[5].value->kind, GV_ENUM);
    assert_int_equal(f->args[6].value->n, 2);
    assert_int_equal(f->args[6].value->items[1]->kind, GV_LIST);
    assert_string_equal(f->args[7].value->fields[0].name, "k");
    assert_int_equal(f->ndirs, 1);
    assert_string_equal(f->dirs[0].name, "include");
    assert_int_equal(f->sel->n, 4);
    assert_int_equal(f->sel->items[1].kind, GS_FRAGMENT_SPREAD);
    assert_string_equal(f->sel->items[1].name, "F");
    assert_int_equal(f->sel->items[2].kind, GS_INLINE_FRAGMENT);
    assert_string_equal(f->sel->items[2].type_cond, "Person");
    assert_null(f->sel->items[3].type_cond);
    assert_int_equal(f->sel->items[3].ndirs, 1);
    assert_true(d->defs[1].fragment);
    assert_string_equal(d->defs[1].type_cond, "Person");
    assert_int_equal(d->defs[2].op, GO_MUTATION);
    assert_null(d->defs[3].name);
    gql_doc_free(d);
}

static void strings_and_block_strings(void **st) {
    (void)st;
    gql_doc_t *d = parse_ok("{ a(s: \"\\u00e9\\u{1F600}\\uD83D\\uDE00 \\\" \\\\ \\/ \\b\\f\\r\\t\", "
                            "b: \"\"\"\n    first\n      second\n\n    \\\"\"\" third\n  \"\"\", c: \"\") }");
    gql_arg_t *a = d->defs[0].sel->items[0].args;
    assert_string_equal(a[0].value->s, "é😀😀 \" \\ / \b\f\r\t");
    assert_true(a[1].value->block);
    assert_string_equal(a[1].value->s, "first\n  second\n\n\"\"\" third");
    assert_int_equal(a[2].value->len, 0);
    gql_doc_free(d);
    /* block strings move the lines on */
    parse_fails("{ a(s: \"\"\"x\ny\"\"\") % }", "Syntax Error: Unexpected character: \"%\".", 2, 7);
}

static void syntax_errors_as_graphql_js(void **st) {
    (void)st;
    parse_fails("", "Syntax Error: Unexpected <EOF>.", 1, 1);
    parse_fails("{", "Syntax Error: Expected Name, found <EOF>.", 1, 2);
    parse_fails("{ a(b: ) }", "Syntax Error: Unexpected \")\".", 1, 8);
    parse_fails("{ a }}", "Syntax Error: Unexpected \"}\".", 1, 6);
    parse_fails("{ 'a' }", "Syntax Error: Unexpected single quote character ('), did you mean to use a double quote (\")?",
                1, 3);
    parse_fails("{ a(b: 00) }", "Syntax Error: Invalid number, unexpected digit after 0: \"0\".", 1, 9);
    parse_fails("{ a(b: 1.) }", "Syntax Error: Invalid number, expected digit but got: \")\".", 1, 10);
    parse_fails("{ a(b: 1x) }", "Syntax Error: Invalid number, expected digit but got: \"x\".", 1, 9);
    parse_fails("{ a(b: \"x) }", "Syntax Error: Unterminated string.", 1, 13);
    parse_fails("{ a(b: \"\\q\") }", "Syntax Error: Invalid character escape sequence: \"\\q\".", 1, 9);
    parse_fails("{ a(b: \"\\u12\") }", "Syntax Error: Invalid Unicode escape sequence: \"\\u12\")\".", 1, 9);
    parse_fails("{ a(b: \"\\u{110000}\") }", "Syntax Error: Invalid Unicode escape sequence: \"\\u{110000}\".", 1, 9);
    parse_fails("query($v: Int = $w) { a }", "Syntax Error: Unexpected variable \"$w\" in constant value.", 1, 17);
    parse_fails("fragment on on T { a }", "Syntax Error: Unexpected Name \"on\".", 1, 10);
    parse_fails("fragment F T { a }", "Syntax Error: Expected \"on\", found Name \"T\".", 1, 12);
    parse_fails("{ a @ }", "Syntax Error: Expected Name, found \"}\".", 1, 7);
    parse_fails("{ ... on }", "Syntax Error: Expected Name, found \"}\".", 1, 10);
    parse_fails("query Q()", "Syntax Error: Expected \"$\", found \")\".", 1, 9);
    parse_fails("{ a(x: \"s\" y: 1) ", "Syntax Error: Expected Name, found <EOF>.", 1, 18);
    parse_fails("query Q", "Syntax Error: Expected \"{\", found <EOF>.", 1, 8);
    parse_fails("notakeyword { a }", "Syntax Error: Unexpected Name \"notakeyword\".", 1, 1);
    parse_fails("\"desc\" query { a }",
                "Syntax Error: Unexpected description, descriptions are supported only on type definitions.", 1, 1);
    parse_fails("type Foo { a: Int }", "The \"Foo\" definition is not executable.", 1, 1);
    parse_fails("{ a }\nextend schema @x", "The schema definition is not executable.", 2, 1);
    parse_fails("\n\n  { a(b: ?) }", "Syntax Error: Unexpected character: \"?\".", 3, 10);
    /* columns count UTF-16 units: the emoji is two */
    parse_fails("{ a(b: \"\xf0\x9f\x98\x80\") % }", "Syntax Error: Unexpected character: \"%\".", 1, 14);
    parse_fails("{ a\x01 }", "Syntax Error: Unexpected character: U+0001.", 1, 4);
    parse_fails("{ a \xff }", "Syntax Error: Invalid character: U+FFFD.", 1, 5);
}

static void nesting_is_bounded(void **st) {
    (void)st;
    char *src = malloc(100000);
    size_t n = 0;
    n += (size_t)sprintf(src + n, "{ a(b: ");
    for (int i = 0; i < 5000; i++) src[n++] = '[';
    src[n] = 0;
    gql_doc_t *d = NULL;
    char msg[256];
    gql_loc_t loc;
    assert_int_equal(gql_parse(src, n, &d, msg, sizeof msg, &loc), -1);
    assert_string_equal(msg, "Query is nested too deeply");
    n = 0;
    for (int i = 0; i < 5000; i++) n += (size_t)sprintf(src + n, "{ a ");
    assert_int_equal(gql_parse(src, n, &d, msg, sizeof msg, &loc), -1);
    assert_string_equal(msg, "Query is nested too deeply");
    free(src);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(operations_fields_and_values),
        cmocka_unit_test(strings_and_block_strings),
        cmocka_unit_test(syntax_errors_as_graphql_js),
        cmocka_unit_test(nesting_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
