/* Unit tests for src/core/subs's query parser: the accepted forms (quoted
 * identifiers, aliases, t.*, trailing ';', comments), and what is refused
 * (joins, subqueries, unbalanced parentheses, anything but SELECT *). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/subs.h"

static void accepted(void **st) {
    (void)st;
    static const struct {
        const char *text, *table, *alias, *where;
    } cases[] = {
        {"SELECT * FROM person", "person", "person", NULL},
        {"select * from person;", "person", "person", NULL},
        {"SELECT * FROM \"person\"", "person", "person", NULL},
        {"SELECT * FROM `odd name` AS o WHERE o.x = 1", "odd name", "o", "o.x = 1"},
        {"SELECT p.* FROM [person] p WHERE p.age > 18 ;", "person", "p", "p.age > 18"},
        {"SELECT \"p\".* FROM person AS \"p\"", "person", "p", NULL},
        {"SELECT * FROM \"we\"\"ird\"", "we\"ird", "we\"ird", NULL},
        {"/* c */ SELECT * -- x\n FROM t WHERE name = 'a (b' AND (x IN (1, 2))", "t", "t",
         "name = 'a (b' AND (x IN (1, 2))"},
        {"SELECT * FROM t WHERE sender = :sender", "t", "t", "sender = :sender"},
        {"SELECT * FROM t WHERE note = 'select'", "t", "t", "note = 'select'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        subs_query_t q;
        err_t e;
        int rc = subs_parse(cases[i].text, &q, &e);
        if (rc != 0) fail_msg("%s: %s", cases[i].text, e.msg);
        assert_string_equal(q.table, cases[i].table);
        assert_string_equal(q.alias, cases[i].alias);
        if (cases[i].where) assert_string_equal(q.where, cases[i].where);
        else assert_null(q.where);
        subs_query_free(&q);
    }
}

static void refused(void **st) {
    (void)st;
    static const struct {
        const char *text, *msg;
    } cases[] = {
        {"SELECT * FROM a JOIN b ON a.x = b.x", "joins in subscriptions are not supported yet"},
        {"SELECT * FROM a, b", "joins in subscriptions are not supported yet"},
        {"SELECT * FROM a AS x CROSS JOIN b", "joins in subscriptions are not supported yet"},
        {"SELECT * FROM a WHERE (x > 1", "unbalanced parentheses in WHERE"},
        {"SELECT * FROM a WHERE x > 1)", "unbalanced parentheses in WHERE"},
        {"SELECT * FROM a WHERE x IN (SELECT y FROM b)", "subqueries are not allowed in subscriptions"},
        {"SELECT * FROM a WHERE EXISTS (select 1)", "subqueries are not allowed in subscriptions"},
        {"SELECT b.* FROM a", "no such table: b"},
        {"SELECT x FROM a", "unsupported subscription query"},
        {"SELECT * FROM a WHERE", "unsupported subscription query"},
        {"SELECT * FROM a ORDER BY x", "unsupported subscription query"},
        {"SELECT * FROM a LIMIT 1", "unsupported subscription query"},
        {"DELETE FROM a", "unsupported subscription query"},
        {"SELECT * FROM", "unsupported subscription query"},
        {"SELECT * FROM \"unterminated", "unsupported subscription query"},
        {"", "unsupported subscription query"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        subs_query_t q;
        err_t e;
        if (subs_parse(cases[i].text, &q, &e) == 0) fail_msg("accepted: %s", cases[i].text);
        assert_int_equal(e.kind, E_BAD_INPUT);
        if (strncmp(e.msg, cases[i].msg, strlen(cases[i].msg)) != 0)
            fail_msg("%s: got \"%s\", want \"%s\"", cases[i].text, e.msg, cases[i].msg);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accepted),
        cmocka_unit_test(refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
