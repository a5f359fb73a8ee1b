/* Unit tests for src/core/query: every operator's SQL and bound values,
 * sorting with the key tie-breaker, keyset pages over rowid, single and
 * composite keys (walking a whole table page by page, ascending and
 * descending, with nulls), search, and names shaped like injections. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/query.h"
#include "core/sql.h"
#include "core/value.h"

static store_db_t *db;

static int setup(void **st) {
    (void)st;
    char msg[256];
    assert_int_equal(store_open(":memory:", STORE_CREATE, &db, msg, sizeof msg), 0);
    assert_int_equal(store_exec(db,
                                "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, age INTEGER, tags TEXT, d TEXT);"
                                "INSERT INTO t VALUES (1,'ann',30,'[\"a\",\"b\"]','2020-01-02 10:00'),"
                                " (2,'bob',NULL,'[\"b\"]','2020-01-03'), (3,'',50,'[]',NULL),"
                                " (4,NULL,50,'[\"c\"]','2020-01-02'), (5,'o''brien',20,'[]','2021-05-05');"
                                "CREATE TABLE pair(a TEXT, b INTEGER, v TEXT, PRIMARY KEY (a, b)) WITHOUT ROWID;"
                                "INSERT INTO pair VALUES ('x',1,'p'),('x',2,NULL),('y',1,'q'),('y',3,'p'),('z',0,NULL);"
                                "CREATE TABLE logs(msg TEXT);"
                                "INSERT INTO logs VALUES ('one'),('two'),('three');"
                                "CREATE TABLE \"we\"\"ird]\"(\"x\"\" or 1=1 --\" TEXT);"
                                "INSERT INTO \"we\"\"ird]\" VALUES ('[1]');"
                                "CREATE VIRTUAL TABLE t_fts USING fts5(name, content='t', content_rowid='id');"
                                "INSERT INTO t_fts(t_fts) VALUES ('rebuild');"),
                     0);
    return 0;
}

static int teardown(void **st) {
    (void)st;
    store_close(db);
    return 0;
}

typedef struct {
    int n;
    char got[1024];
} rows_t;

static void r_cols(void *ctx, store_stmt_t *st, int n) { (void)ctx, (void)st, (void)n; }
static void r_row(void *ctx, store_stmt_t *st, int n) {
    rows_t *r = ctx;
    store_value_t v;
    store_col_value(st, 0, &v);
    (void)n;
    size_t len = strlen(r->got);
    if (v.type == SV_INT) snprintf(r->got + len, sizeof r->got - len, "%s%lld", r->n ? "," : "", (long long)v.i);
    else if (v.type == SV_NULL) snprintf(r->got + len, sizeof r->got - len, "%snull", r->n ? "," : "");
    else snprintf(r->got + len, sizeof r->got - len, "%s%.*s", r->n ? "," : "", (int)v.n, v.p);
    r->n++;
}
static const sql_sink_t sink = {r_cols, r_row};

static const schema_t *schema(void) {
    char e[256];
    static const schema_t *s; /* the last one stays valid until the next call */
    schema_release(s);
    s = schema_load(db, e, sizeof e);
    assert_non_null(s);
    return s;
}

/* Runs the compiled plan; the first selected column of each row, joined. */
static const char *run(query_t *q) {
    static rows_t r;
    memset(&r, 0, sizeof r);
    sql_opts_t o = {.max_class = SQL_READ, .single_statement = true, .max_rows = -1, .bind = query_bind, .bind_ctx = q};
    sql_result_t res;
    err_t e = {0};
    int rc = sql_run(db, q->sql.data, q->sql.len, &o, &sink, &r, &res, &e);
    if (rc < 0) fail_msg("%s: %s", q->sql.data, e.msg);
    return r.got;
}

static const char *filter1(const char *col, qop_t op, const store_value_t *v, int n, const char *expect_sql) {
    const schema_t *s = schema();
    query_t q;
    query_init(&q, s, schema_find(s, "t"));
    q.sel[q.nsel++] = 0; /* id */
    query_filter(&q, col, op, v, n);
    query_compile(&q);
    if (expect_sql) assert_string_equal(q.sql.data, expect_sql);
    static char out[256];
    snprintf(out, sizeof out, "%s", run(&q));
    query_free(&q);
    return out;
}

static void operators(void **st) {
    (void)st;
    store_value_t i50 = {.type = SV_INT, .i = 50}, tb = value_text("b"), tann = value_text("ann"),
                  d = value_text("2020-01-02"), pat = value_text("%o%"), glob = value_text("?o*");
    assert_string_equal(filter1("age", Q_EQ, &i50, 1, "select id from t where \"age\" = :p0 order by id"), "3,4");
    assert_string_equal(filter1("age", Q_NE, &i50, 1, NULL), "1,5");
    assert_string_equal(filter1("name", Q_CONTAINS, &tb, 1, NULL), "2,5");
    assert_string_equal(filter1("name", Q_NOTCONTAINS, &tb, 1, NULL), "1,3");
    assert_string_equal(filter1("name", Q_STARTSWITH, &tb, 1, NULL), "2");
    assert_string_equal(filter1("name", Q_ENDSWITH, &tb, 1, NULL), "2");
    assert_string_equal(filter1("age", Q_GT, &i50, 1, NULL), "");
    assert_string_equal(filter1("age", Q_GTE, &i50, 1, NULL), "3,4");
    assert_string_equal(filter1("age", Q_LT, &i50, 1, NULL), "1,5");
    assert_string_equal(filter1("age", Q_LTE, &i50, 1, NULL), "1,3,4,5");
    assert_string_equal(filter1("name", Q_LIKE, &pat, 1, NULL), "2,5");
    assert_string_equal(filter1("name", Q_NOTLIKE, &pat, 1, NULL), "1,3");
    assert_string_equal(filter1("name", Q_GLOB, &glob, 1, NULL), "2");
    store_value_t in[] = {value_text("ann"), {.type = SV_INT, .i = 5}, value_text("bob")};
    assert_string_equal(filter1("name", Q_IN, in, 3, "select id from t where name in (:p0, :p1, :p2) order by id"),
                        "1,2");
    assert_string_equal(filter1("name", Q_NOTIN, &tann, 1, NULL), "2,3,5");
    assert_string_equal(filter1("tags", Q_ARRAY_CONTAINS, &tb, 1,
                                "select id from t where :p0 in (select value from json_each([t].[tags])) order by id"),
                        "1,2");
    assert_string_equal(filter1("tags", Q_ARRAY_NOTCONTAINS, &tb, 1, NULL), "3,4,5");
    assert_string_equal(filter1("d", Q_DATE, &d, 1, NULL), "1,4");
    assert_string_equal(filter1("age", Q_ISNULL, NULL, 0, "select id from t where \"age\" is null order by id"), "2");
    assert_string_equal(filter1("age", Q_NOTNULL, NULL, 0, NULL), "1,3,4,5");
    assert_string_equal(filter1("name", Q_ISBLANK, NULL, 0, NULL), "3,4");
    assert_string_equal(filter1("name", Q_NOTBLANK, NULL, 0, NULL), "1,2,5");
}

static void binds_are_values(void **st) {
    (void)st;
    /* a value shaped like SQL stays a value */
    store_value_t evil = value_text("x' or 1=1 --");
    assert_string_equal(filter1("name", Q_EQ, &evil, 1, NULL), "");
    store_value_t quote = value_text("o'brien");
    assert_string_equal(filter1("name", Q_EQ, &quote, 1, NULL), "5");
    /* the plan keeps its parameters by name, values copied */
    const schema_t *s = schema();
    query_t q;
    query_init(&q, s, schema_find(s, "t"));
    char buf[8] = "ann";
    store_value_t v = value_text(buf);
    query_filter(&q, "name", Q_EQ, &v, 1);
    buf[0] = 'X';
    assert_int_equal(q.nparams, 1);
    assert_string_equal(q.params[0].name, "p0");
    assert_string_equal(q.params[0].v.p, "ann");
    /* a number in a pattern is its shortest text */
    store_value_t tenth = {.type = SV_REAL, .d = 0.1};
    query_filter(&q, "name", Q_CONTAINS, &tenth, 1);
    assert_string_equal(q.params[1].v.p, "%0.1%");
    query_free(&q);
}

static void injection_names(void **st) {
    (void)st;
    const schema_t *s = schema();
    const tinfo_t *t = schema_find(s, "we\"ird]");
    assert_non_null(t);
    query_t q;
    query_init(&q, s, t);
    query_select_all(&q);
    store_value_t one = {.type = SV_INT, .i = 1};
    query_filter(&q, t->cols[0].name, Q_ARRAY_CONTAINS, &one, 1);
    query_filter(&q, t->cols[0].name, Q_NOTNULL, NULL, 0);
    query_sort(&q, 0, true);
    query_compile(&q);
    assert_string_equal(run(&q), "1");
    /* a name shaped like SQL stays one quoted name: no "or 1=1" */
    query_t r;
    query_init(&r, s, schema_find(s, "t"));
    r.sel[r.nsel++] = 0;
    query_filter(&r, "id\" = 1 or \"1", Q_NOTNULL, NULL, 0);
    query_filter(&r, "id\" is not null or \"1", Q_ISNULL, NULL, 0);
    query_compile(&r);
    assert_non_null(strstr(r.sql.data, "\"id\"\" = 1 or \"\"1\" is not null"));
    assert_string_equal(run(&r), "");
    query_free(&q);
    query_free(&r);
}

typedef struct {
    int nkey, sort, n;
    char *all;
    size_t allcap;
    char keytext[2][64], svtext[64];
    store_value_t key[2], sv;
    bool sv_null;
} walk_t;

static void w_row(void *ctx, store_stmt_t *st, int ncols) {
    walk_t *w = ctx;
    (void)ncols;
    w->n++;
    for (int k = 0; k < w->nkey; k++) {
        store_value_t v;
        store_col_value(st, k, &v);
        if (v.type == SV_INT) snprintf(w->keytext[k], 64, "%lld", (long long)v.i);
        else snprintf(w->keytext[k], 64, "%.*s", (int)v.n, v.p);
        w->key[k] = value_text(w->keytext[k]);
        size_t len = strlen(w->all);
        snprintf(w->all + len, w->allcap - len, "%s%s", k ? ":" : (*w->all ? "," : ""), w->keytext[k]);
    }
    if (w->sort != QSORT_NONE) {
        store_value_t v;
        store_col_value(st, w->nkey, &v);
        w->sv_null = v.type == SV_NULL;
        if (v.type == SV_INT) w->sv = (store_value_t){.type = SV_INT, .i = v.i};
        else if (!w->sv_null) snprintf(w->svtext, 64, "%.*s", (int)v.n, v.p), w->sv = value_text(w->svtext);
    }
}
static const sql_sink_t walk_sink = {r_cols, w_row};

/* Walks a table by pages of size, sorted by a column (or not), through
 * keyset tokens; the keys in the order met. */
static void walk(const char *table, int sort, bool desc, int size, const char *expect) {
    const schema_t *s = schema();
    const tinfo_t *t = schema_find(s, table);
    char all[512] = "";
    walk_t w = {.sort = sort, .all = all, .allcap = sizeof all};
    bool have_key = false;
    for (int page = 0; page < 20; page++) {
        query_t q;
        query_init(&q, s, t);
        w.nkey = q.rowid ? 1 : t->npk;
        if (q.rowid) q.sel[q.nsel++] = QCOL_ROWID;
        for (int k = 0; k < t->npk; k++) q.sel[q.nsel++] = t->pk[k];
        if (sort != QSORT_NONE) {
            q.sel[q.nsel++] = sort;
            query_sort(&q, sort, desc);
        }
        if (have_key) assert_int_equal(query_after(&q, w.sv_null ? NULL : &w.sv, w.key, w.nkey, NULL), 0);
        q.limit = size;
        query_compile(&q);
        w.n = 0;
        sql_opts_t o = {.max_class = SQL_READ, .single_statement = true, .max_rows = -1, .bind = query_bind,
                        .bind_ctx = &q};
        sql_result_t res;
        err_t e = {0};
        if (sql_run(db, q.sql.data, q.sql.len, &o, &walk_sink, &w, &res, &e) < 0) fail_msg("%s", e.msg);
        query_free(&q);
        have_key = true;
        if (w.n < size) break;
    }
    assert_string_equal(all, expect);
}

static void keyset_pages(void **st) {
    (void)st;
    walk("t", QSORT_NONE, false, 2, "1,2,3,4,5");
    walk("t", 2 /* age */, false, 2, "2,5,1,3,4");
    walk("t", 2, true, 2, "3,4,1,5,2");
    walk("t", 1 /* name */, false, 1, "4,3,1,2,5");
    walk("pair", QSORT_NONE, false, 2, "x:1,x:2,y:1,y:3,z:0");
    walk("pair", 2 /* v */, false, 2, "x:2,z:0,x:1,y:3,y:1");
    walk("pair", 2, true, 3, "y:1,x:1,y:3,x:2,z:0");
    walk("logs", QSORT_NONE, false, 1, "1,2,3");
}

static void keyset_sql(void **st) {
    (void)st;
    const schema_t *s = schema();
    query_t q;
    query_init(&q, s, schema_find(s, "pair"));
    query_select_all(&q);
    store_value_t a = value_text("x"), b = {.type = SV_INT, .i = 1}, key[] = {a, b};
    store_value_t v = value_text("p");
    query_filter(&q, "v", Q_NOTNULL, NULL, 0);
    query_sort(&q, 2, false);
    err_t e = {0};
    assert_int_equal(query_after(&q, &v, key, 1, &e), -1); /* wrong key width */
    assert_int_equal(e.kind, E_BAD_INPUT);
    assert_int_equal(query_after(&q, &v, key, 2, &e), 0);
    q.limit = 11;
    query_compile(&q);
    assert_string_equal(q.sql.data,
                        "select a, b, v from pair where \"v\" is not null and (v > :p2 or (v = :p2 and "
                        "((a > :p0)\n  or\n(a = :p0 and b > :p1)))) order by v, a, b limit 11");
    /* counts and facets ignore the keyset */
    assert_string_equal(q.count_sql.data, "select count(*) from pair where \"v\" is not null ");
    assert_string_equal(q.base_sql.data, "select * from pair where \"v\" is not null ");
    query_free(&q);
    /* a view has no key: offsets only */
    query_t r;
    query_init(&r, s, schema_find(s, "logs"));
    r.rowid = false;
    assert_int_equal(query_after(&r, NULL, key, 1, &e), -1);
    query_free(&r);
}

static void search(void **st) {
    (void)st;
    const schema_t *s = schema();
    query_t q;
    query_init(&q, s, schema_find(s, "t"));
    q.sel[q.nsel++] = 0;
    assert_int_equal(query_search(&q, NULL, "search", "o\"brien (", false, NULL), -0);
    query_compile(&q);
    assert_string_equal(q.sql.data,
                        "select id from t where rowid in (select rowid from t_fts where t_fts match "
                        "escape_fts(:search)) order by id");
    query_free(&q);
    err_t e = {0};
    query_init(&q, s, schema_find(s, "t"));
    assert_int_equal(query_search(&q, "nope", "s0", "x", true, &e), -1);
    assert_int_equal(e.kind, E_NOT_FOUND);
    assert_int_equal(query_search(&q, "name", "s0", "ann", true, &e), 0);
    q.sel[q.nsel++] = 0;
    query_compile(&q);
    assert_string_equal(run(&q), "1");
    query_free(&q);
    query_init(&q, s, schema_find(s, "logs"));
    assert_int_equal(query_search(&q, NULL, "s", "x", true, &e), -1);
    query_free(&q);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(operators), cmocka_unit_test(binds_are_values), cmocka_unit_test(injection_names),
        cmocka_unit_test(keyset_pages), cmocka_unit_test(keyset_sql), cmocka_unit_test(search),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
