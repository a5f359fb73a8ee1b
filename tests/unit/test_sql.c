/* Unit tests for core/sql: classification, refusals, caps, deadlines,
 * multi-statement scripts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/sql.h"
#include "util/timeutil.h"

static store_db_t *db;

static int setup(void **st) {
    (void)st;
    char msg[256];
    assert_int_equal(store_open(":memory:", STORE_CREATE, &db, msg, sizeof msg), 0);
    assert_int_equal(store_exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);"
                                    "INSERT INTO t(v) VALUES ('a'),('b'),('c'),('d'),('e');"),
                     0);
    return 0;
}

static int teardown(void **st) {
    (void)st;
    store_close(db);
    return 0;
}

static sql_class_t classify(const char *sql, int *rc, err_t *e) {
    sql_class_t c = SQL_READ;
    *rc = sql_classify(db, sql, strlen(sql), false, &c, e);
    return c;
}

static void classes(void **st) {
    (void)st;
    struct {
        const char *sql;
        sql_class_t cls;
    } ok[] = {
        {"SELECT * FROM t", SQL_READ},
        {"WITH x AS (SELECT 1) SELECT * FROM x", SQL_READ},
        {"VALUES (1), (2)", SQL_READ},
        {"EXPLAIN SELECT 1", SQL_READ},
        {"PRAGMA table_info(t)", SQL_READ},
        {"SELECT * FROM pragma_table_info('t')", SQL_READ},
        {"PRAGMA user_version", SQL_READ},
        {"INSERT INTO t(v) VALUES ('x')", SQL_WRITE},
        {"UPDATE t SET v = 'y' WHERE id = 1 RETURNING id", SQL_WRITE},
        {"DELETE FROM t WHERE id = 99", SQL_WRITE},
        {"INSERT INTO t(id, v) VALUES (1, 'z') ON CONFLICT(id) DO UPDATE SET v = excluded.v", SQL_WRITE},
        {"CREATE TABLE u(x)", SQL_SCHEMA},
        {"CREATE INDEX ti ON t(v)", SQL_SCHEMA},
        {"PRAGMA user_version = 3", SQL_SCHEMA},
        {"SELECT 1; INSERT INTO t(v) VALUES (1); DROP TABLE t", SQL_SCHEMA},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        int rc;
        err_t e;
        sql_class_t c = classify(ok[i].sql, &rc, &e);
        if (rc != 0) fail_msg("%s: %s", ok[i].sql, e.msg);
        if (c != ok[i].cls) fail_msg("%s: class %d, want %d", ok[i].sql, c, ok[i].cls);
    }
}

static void refusals(void **st) {
    (void)st;
    const char *bad[] = {"ATTACH ':memory:' AS x", "DETACH x", "BEGIN", "COMMIT", "SAVEPOINT a", "RELEASE a",
                         "CREATE TEMP TABLE x(a)", "PRAGMA synchronous = OFF", "PRAGMA journal_mode = DELETE",
                         "PRAGMA writable_schema = ON", "SELECT load_extension('x')", NULL};
    for (int i = 0; bad[i]; i++) {
        int rc;
        err_t e;
        classify(bad[i], &rc, &e);
        if (rc == 0) fail_msg("allowed: %s", bad[i]);
        if (e.kind != E_FORBIDDEN) fail_msg("%s: kind %d (%s)", bad[i], e.kind, e.msg);
        assert_true(strstr(e.msg, "not allowed") != NULL);
    }
    int rc;
    err_t e;
    classify("   -- only a comment\n ; ", &rc, &e);
    assert_int_equal(rc, -1);
    assert_int_equal(e.kind, E_BAD_INPUT);
    classify("SELEC 1", &rc, &e);
    assert_int_equal(e.kind, E_SQL);
}

typedef struct {
    int cols, rows;
    char seen[64];
} sink_ctx_t;

/* Facts come from the authorizer, whatever the text looks like, and
 * survive the statement cache. */
static void facts_from_the_authorizer(void **st) {
    (void)st;
    struct {
        const char *sql;
        unsigned facts;
    } cases[] = {
        {"PRAGMA table_info(t)", SQL_FACT_PRAGMA},
        {"/* hidden */ PRAGMA table_info(t)", SQL_FACT_PRAGMA},
        {"-- line\n  pragma table_info(t)", SQL_FACT_PRAGMA},
        {"SELECT * FROM pragma_table_info('t')", SQL_FACT_PRAGMA},
        {"SELECT 'PRAGMA' AS pragma FROM t", 0},
        {"SELECT * FROM t", 0},
    };
    for (int round = 0; round < 2; round++) /* the second round comes from the cache */
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
            sql_class_t c;
            unsigned f = 99;
            err_t e;
            assert_int_equal(sql_inspect(db, cases[i].sql, strlen(cases[i].sql), true, &c, &f, &e), 0);
            assert_int_equal(f, cases[i].facts);
            assert_int_equal(c, SQL_READ);
        }
}

/* SQLite shows the authorizer nothing of VACUUM; the policy refuses it. */
static void vacuum_refused(void **st) {
    (void)st;
    const char *bad[] = {"VACUUM", "vacuum into '/tmp/atrium-unit-vacuum.db'", "/* c */ VACUUM main"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc;
        err_t e;
        classify(bad[i], &rc, &e);
        assert_int_equal(rc, -1);
        assert_int_equal(e.kind, E_FORBIDDEN);
        assert_string_equal(e.msg, "VACUUM is not allowed");
        assert_int_equal(e.sub, ES_NOT_ALLOWED);
        assert_string_equal(e.detail, "VACUUM");
    }
    assert_int_equal(access("/tmp/atrium-unit-vacuum.db", F_OK), -1);
}

/* Refused statements are named by what the authorizer saw, whatever the
 * text looks like. */
static void refused_verbs_from_the_authorizer(void **st) {
    (void)st;
    static const struct {
        const char *sql, *verb;
    } cases[] = {{"BEGIN", "BEGIN"},          {"/* x */ begin immediate", "BEGIN"},
                 {"END", "COMMIT"},           {"COMMIT", "COMMIT"},
                 {"ROLLBACK", "ROLLBACK"},    {"SAVEPOINT a", "SAVEPOINT"},
                 {"RELEASE a", "RELEASE"},    {"ROLLBACK TO a", "ROLLBACK"},
                 {"ATTACH ':memory:' AS x", "ATTACH"}, {"DETACH x", "DETACH"},
                 {"CREATE TEMP TABLE t(x)", ""}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int rc;
        err_t e;
        classify(cases[i].sql, &rc, &e);
        assert_int_equal(rc, -1);
        assert_int_equal(e.kind, E_FORBIDDEN);
        assert_int_equal(e.sub, ES_NOT_ALLOWED);
        assert_string_equal(e.detail, cases[i].verb);
    }
}

static void on_cols(void *ctx, store_stmt_t *st, int n) {
    (void)st;
    ((sink_ctx_t *)ctx)->cols = n;
}

static void on_row(void *ctx, store_stmt_t *st, int n) {
    (void)n;
    sink_ctx_t *s = ctx;
    strncat(s->seen, store_col_text(st, 0, NULL), sizeof s->seen - strlen(s->seen) - 1);
    s->rows++;
}

static const sql_sink_t sink = {on_cols, on_row};

static void caps_and_last_statement(void **st) {
    (void)st;
    sql_opts_t o = {.max_class = SQL_SCHEMA, .max_rows = 3};
    sql_result_t r;
    err_t e;
    sink_ctx_t s = {0};
    const char *q = "SELECT v FROM t ORDER BY id";
    assert_int_equal(sql_run(db, q, strlen(q), &o, &sink, &s, &r, &e), 0);
    assert_int_equal(s.rows, 3);
    assert_string_equal(s.seen, "abc");
    assert_true(r.truncated);
    assert_int_equal(r.cls, SQL_READ);
    /* Exactly at the cap: not truncated. */
    memset(&s, 0, sizeof s);
    q = "SELECT v FROM t WHERE id <= 3";
    assert_int_equal(sql_run(db, q, strlen(q), &o, &sink, &s, &r, &e), 0);
    assert_false(r.truncated);
    assert_int_equal(r.rows, 3);
    /* Multi-statement: only the last answers; writes run to the end past the cap. */
    memset(&s, 0, sizeof s);
    q = "CREATE TABLE w(x); INSERT INTO w VALUES (1),(2),(3),(4),(5); "
        "UPDATE w SET x = x * 10 RETURNING x";
    assert_int_equal(sql_run(db, q, strlen(q), &o, &sink, &s, &r, &e), 0);
    assert_int_equal(r.cls, SQL_SCHEMA);
    assert_int_equal(s.rows, 3);
    assert_int_equal(r.rows, 5);
    assert_true(r.truncated);
    assert_int_equal(r.changes, 5);
    assert_string_equal(s.seen, "102030");
    /* Class limit */
    o.max_class = SQL_READ;
    q = "DELETE FROM w";
    assert_int_equal(sql_run(db, q, strlen(q), &o, &sink, &s, &r, &e), -1);
    assert_int_equal(e.kind, E_FORBIDDEN);
    assert_int_equal(e.sql_code, SQL_WRITE);
    /* Single statement */
    o.max_class = SQL_SCHEMA;
    o.single_statement = true;
    q = "SELECT 1; SELECT 2";
    assert_int_equal(sql_run(db, q, strlen(q), &o, &sink, &s, &r, &e), -1);
    assert_string_equal(e.msg, "Only one statement per request is supported");
    q = "SELECT 1; -- trailing comment\n ;";
    assert_int_equal(sql_run(db, q, strlen(q), &o, &sink, &s, &r, &e), 0);
}

static void deadline_is_a_timeout(void **st) {
    (void)st;
    sql_opts_t o = {.max_class = SQL_READ, .max_rows = -1, .deadline_us = time_mono_us() + 30000};
    sql_result_t r;
    err_t e;
    const char *q = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
    assert_int_equal(sql_run(db, q, strlen(q), &o, NULL, NULL, &r, &e), -1);
    assert_int_equal(e.kind, E_TIMEOUT);
    /* The connection is usable afterwards, without the deadline. */
    o.deadline_us = 0;
    q = "SELECT 1";
    assert_int_equal(sql_run(db, q, strlen(q), &o, NULL, NULL, &r, &e), 0);
}

static void statement_cache_reuse_is_safe(void **st) {
    (void)st;
    sql_result_t r;
    err_t e;
    sink_ctx_t s = {0};
    sql_opts_t o = {.max_class = SQL_SCHEMA, .max_rows = -1};
    const char *q = "INSERT INTO t(v) VALUES ('cached') RETURNING v";
    assert_int_equal(sql_run(db, q, strlen(q), &o, &sink, &s, &r, &e), 0);
    assert_int_equal(r.cls, SQL_WRITE);
    /* Reused from the cache: its class still counts against the limit. */
    o.max_class = SQL_READ;
    assert_int_equal(sql_run(db, q, strlen(q), &o, &sink, &s, &r, &e), -1);
    assert_int_equal(e.kind, E_FORBIDDEN);
    sql_class_t c;
    assert_int_equal(sql_classify(db, q, strlen(q), true, &c, &e), 0);
    assert_int_equal(c, SQL_WRITE);
    /* Bindings do not leak from one use to the next. */
    o.max_class = SQL_READ;
    q = "SELECT coalesce(:x, 'unbound')";
    memset(&s, 0, sizeof s);
    assert_int_equal(sql_run(db, q, strlen(q), &o, &sink, &s, &r, &e), 0);
    assert_string_equal(s.seen, "unbound");
    /* A schema change between uses: the cached statement follows it. */
    o.max_class = SQL_SCHEMA;
    const char *mk = "CREATE TABLE cc(a)", *drop = "DROP TABLE cc", *ins = "INSERT INTO cc VALUES (1)";
    const char *sel = "SELECT count(*) FROM cc";
    assert_int_equal(sql_run(db, mk, strlen(mk), &o, NULL, NULL, &r, &e), 0);
    assert_int_equal(sql_run(db, ins, strlen(ins), &o, NULL, NULL, &r, &e), 0);
    memset(&s, 0, sizeof s);
    assert_int_equal(sql_run(db, sel, strlen(sel), &o, &sink, &s, &r, &e), 0);
    assert_string_equal(s.seen, "1");
    assert_int_equal(sql_run(db, drop, strlen(drop), &o, NULL, NULL, &r, &e), 0);
    assert_int_equal(sql_run(db, sel, strlen(sel), &o, &sink, &s, &r, &e), -1);
    assert_int_equal(e.kind, E_SQL);
    assert_int_equal(sql_run(db, mk, strlen(mk), &o, NULL, NULL, &r, &e), 0);
    memset(&s, 0, sizeof s);
    assert_int_equal(sql_run(db, sel, strlen(sel), &o, &sink, &s, &r, &e), 0);
    assert_string_equal(s.seen, "0");
    /* A refused statement is never cached: it stays refused. */
    q = "ATTACH ':memory:' AS x";
    for (int i = 0; i < 2; i++) {
        assert_int_equal(sql_run(db, q, strlen(q), &o, NULL, NULL, &r, &e), -1);
        assert_int_equal(e.kind, E_FORBIDDEN);
    }
    /* Many distinct texts: the cache evicts and keeps working. */
    for (int i = 0; i < 100; i++) {
        char text[64];
        snprintf(text, sizeof text, "SELECT %d", i);
        memset(&s, 0, sizeof s);
        assert_int_equal(sql_run(db, text, strlen(text), &o, &sink, &s, &r, &e), 0);
        char want[16];
        snprintf(want, sizeof want, "%d", i);
        assert_string_equal(s.seen, want);
    }
}

/* Literal lifting: what becomes a parameter, and what must not. */
static void lifting_text(void **st) {
    (void)st;
    struct {
        const char *sql, *want; /* want NULL: not lifted */
    } cases[] = {
        {"SELECT * FROM users WHERE id = 42", "SELECT * FROM users WHERE id = ?1"},
        {"select 1, 'a' from t where v = 'it''s' limit 5 offset 2",
         "select 1, 'a' from t where v = ?1 limit ?2 offset ?3"},
        {"SELECT * FROM t WHERE id IN (SELECT id FROM t WHERE v = 'a' ORDER BY 1 LIMIT 3)",
         "SELECT * FROM t WHERE id IN (SELECT id FROM t WHERE v = ?1 ORDER BY 1 LIMIT ?2)"},
        {"SELECT * FROM pragma_table_info('t') WHERE cid = 0", "SELECT * FROM pragma_table_info('t') WHERE cid = ?1"},
        {"SELECT * FROM t a JOIN t b ON a.id = 1, pragma_table_info('t') p WHERE b.id=-2",
         "SELECT * FROM t a JOIN t b ON a.id = ?1, pragma_table_info('t') p WHERE b.id=-?2"},
        {"SELECT v FROM t GROUP BY 1 HAVING count(*) > 0", "SELECT v FROM t GROUP BY 1 HAVING count(*) > ?1"},
        {"WITH x AS (SELECT 1 AS a WHERE 2) SELECT a FROM x WHERE a = 1 -- c 3\n;",
         "WITH x AS (SELECT 1 AS a WHERE 2) SELECT a FROM x WHERE a = ?1 -- c 3\n;"},
        {"SELECT * FROM t WHERE id = 9223372036854775807", "SELECT * FROM t WHERE id = ?1"},
        {"SELECT * FROM t WHERE id = 9223372036854775808", NULL},
        {"SELECT * FROM t WHERE id = 1.5", NULL},
        {"SELECT * FROM t WHERE id = 0x10", NULL},
        {"SELECT * FROM t WHERE id = 1e3", NULL},
        {"SELECT * FROM t WHERE id = 1_000", NULL},
        {"SELECT * FROM t WHERE v = x'00'", NULL},
        {"SELECT * FROM t WHERE v = \"a\"", NULL},
        {"SELECT * FROM t WHERE id = :id AND v = 'a'", NULL},
        {"SELECT * FROM t WHERE id = ? AND v = 'a'", NULL},
        {"SELECT * FROM t WHERE id = $x AND v = 'a'", NULL},
        {"SELECT * FROM t ORDER BY 1", NULL},
        {"SELECT 1, 'x' FROM t", NULL},
        {"SELECT (SELECT v FROM t WHERE id = 2) FROM t", NULL},
        {"SELECT count(*) FILTER (WHERE id > 2) FROM t", NULL},
        {"SELECT offset, 1 FROM (SELECT 1 AS offset)", NULL},
        {"SELECT * FROM t WHERE id = 1; SELECT 2", NULL},
        {"UPDATE t SET v = 'x' WHERE id = 1", NULL},
        {"DELETE FROM t WHERE id = 1", NULL},
        {"EXPLAIN SELECT * FROM t WHERE id = 1", NULL},
        {"/* c */ PRAGMA table_info(t)", NULL},
        {"SELECT * FROM t WHERE v = 'unterminated", NULL},
        {"SELECT * FROM t WHERE (id = 1", "SELECT * FROM t WHERE (id = ?1"},
        {"SELECT * FROM t WHERE id = 1)", NULL},
    };
    sql_lifted_t l;
    buf_init(&l.text);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int n = sql_lift(cases[i].sql, strlen(cases[i].sql), &l);
        if (!cases[i].want) {
            if (n != 0) fail_msg("lifted: %s -> %.*s", cases[i].sql, (int)l.text.len, l.text.data);
            continue;
        }
        if (n == 0) fail_msg("not lifted: %s", cases[i].sql);
        if (l.text.len != strlen(cases[i].want) || memcmp(l.text.data, cases[i].want, l.text.len) != 0)
            fail_msg("%s -> %.*s", cases[i].sql, (int)l.text.len, l.text.data);
    }
    const char *q = "select 1 from t where v = 'it''s' and id = 7 limit 33";
    assert_int_equal(sql_lift(q, strlen(q), &l), 3);
    assert_int_equal(l.lit[0].kind, SQL_LIT_TEXT);
    assert_true(l.lit[0].doubled);
    assert_int_equal(l.lit[1].kind, SQL_LIT_INT);
    assert_int_equal(l.lit[1].i, 7);
    assert_int_equal(l.lit[2].i, 33);
    /* a NUL inside: SQLite would stop reading there, so it is not lifted */
    static const char nul[] = "SELECT * FROM t WHERE v = 'a\0' OR id = 1";
    assert_int_equal(sql_lift(nul, sizeof nul - 1, &l), 0);
    /* more literals than parameters kept: not lifted */
    buf_t many;
    buf_init(&many);
    buf_puts(&many, "SELECT * FROM t WHERE id IN (0");
    for (int i = 1; i <= SQL_LIFT_MAX; i++) buf_printf(&many, ",%d", i);
    buf_puts(&many, ")");
    assert_int_equal(sql_lift(many.data, many.len, &l), 0);
    buf_free(&many);
    buf_free(&l.text);
}

typedef struct {
    char names[128];
    char rows[256];
} grid_t;

static void grid_cols(void *ctx, store_stmt_t *st, int n) {
    grid_t *g = ctx;
    for (int i = 0; i < n; i++) {
        strncat(g->names, store_col_name(st, i), sizeof g->names - strlen(g->names) - 1);
        strncat(g->names, "|", sizeof g->names - strlen(g->names) - 1);
    }
}

static void grid_row(void *ctx, store_stmt_t *st, int n) {
    grid_t *g = ctx;
    for (int i = 0; i < n; i++) {
        strncat(g->rows, store_col_text(st, i, NULL), sizeof g->rows - strlen(g->rows) - 1);
        strncat(g->rows, i + 1 < n ? "," : ";", sizeof g->rows - strlen(g->rows) - 1);
    }
}

static void run_grid(const char *sql, grid_t *g) {
    static const sql_sink_t gsink = {grid_cols, grid_row};
    sql_opts_t o = {.max_class = SQL_READ, .max_rows = -1};
    sql_result_t r;
    err_t e;
    memset(g, 0, sizeof *g);
    if (sql_run(db, sql, strlen(sql), &o, &gsink, g, &r, &e) != 0) fail_msg("%s: %s", sql, e.msg);
}

/* Lifted reads answer exactly what the text as written answers: the same
 * rows, the same column names, each run with its own literals. */
static void lifting_answers(void **st) {
    (void)st;
    assert_int_equal(store_exec(db, "CREATE TABLE lf(id INTEGER PRIMARY KEY, s TEXT, n INT);"
                                    "INSERT INTO lf VALUES (1, 'it''s', 10), (2, 'b', 20), (3, '5', 5), (4, 'bb', 40)"),
                     0);
    struct {
        const char *sql, *names, *rows;
    } cases[] = {
        {"SELECT id, 1, 'k' AS c, s FROM lf WHERE id = 2", "id|1|c|s|", "2,1,k,b;"},
        {"SELECT id, 1, 'k' AS c, s FROM lf WHERE id = 3", "id|1|c|s|", "3,1,k,5;"},
        {"SELECT id FROM lf WHERE s = 'it''s'", "id|", "1;"},
        {"SELECT id FROM lf WHERE s = 5", "id|", "3;"},       /* TEXT affinity applies to the bound 5 too */
        {"SELECT id FROM lf WHERE n = '20'", "id|", "2;"},    /* INT affinity applies to the bound '20' */
        {"SELECT id FROM lf WHERE s LIKE 'b%' ORDER BY 1 LIMIT 1", "id|", "2;"},
        {"SELECT id FROM lf WHERE s LIKE 'b%' ORDER BY 1 LIMIT 1 OFFSET 1", "id|", "4;"},
        {"SELECT s, count(*) FROM lf GROUP BY 1 HAVING count(*) > 0 ORDER BY 1 LIMIT 2", "s|count(*)|", "5,1;b,1;"},
        {"SELECT name FROM pragma_table_info('lf') WHERE cid = 1", "name|", "s;"},
    };
    for (int round = 0; round < 2; round++)
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
            grid_t g;
            run_grid(cases[i].sql, &g);
            if (strcmp(g.names, cases[i].names) != 0) fail_msg("%s: names %s", cases[i].sql, g.names);
            if (strcmp(g.rows, cases[i].rows) != 0) fail_msg("%s: rows %s", cases[i].sql, g.rows);
        }
    /* ... from one statement per shape, adopted by the cache */
    int tag;
    const char *shape = "SELECT id, 1, 'k' AS c, s FROM lf WHERE id = ?1";
    store_stmt_t *cached = store_cache_get(db, shape, strlen(shape), &tag);
    assert_non_null(cached);
    store_finalize(cached);
    /* An error speaks of the text the client sent. */
    sql_opts_t o = {.max_class = SQL_READ, .max_rows = -1};
    sql_result_t r;
    err_t e;
    const char *bad = "SELECT nope FROM lf WHERE id = 1";
    assert_int_equal(sql_run(db, bad, strlen(bad), &o, NULL, NULL, &r, &e), -1);
    assert_int_equal(e.kind, E_SQL);
    assert_string_equal(e.msg, "no such column: nope");
    /* A write is never run from lifted text, and is still refused above
     * its class. */
    const char *w = "WITH x AS (SELECT 1) DELETE FROM lf WHERE id = 1";
    assert_int_equal(sql_run(db, w, strlen(w), &o, NULL, NULL, &r, &e), -1);
    assert_int_equal(e.kind, E_FORBIDDEN);
    assert_int_equal(store_exec(db, "DROP TABLE lf"), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(classes),
        cmocka_unit_test(refusals),
        cmocka_unit_test(facts_from_the_authorizer),
        cmocka_unit_test(vacuum_refused),
        cmocka_unit_test(refused_verbs_from_the_authorizer),
        cmocka_unit_test(caps_and_last_statement),
        cmocka_unit_test(deadline_is_a_timeout),
        cmocka_unit_test(statement_cache_reuse_is_safe),
        cmocka_unit_test(lifting_text),
        cmocka_unit_test(lifting_answers),
    };
    return cmocka_run_group_tests_name("sql", tests, setup, teardown);
}
