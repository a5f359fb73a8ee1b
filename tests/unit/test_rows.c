/* Unit tests for src/core/rows: insert, upsert, update, delete and
 * read-back for every key kind (rowid, INTEGER PRIMARY KEY, a text key,
 * a composite WITHOUT ROWID key), conflict handling, added columns, and
 * rolling a failed write back inside its savepoint. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/rows.h"
#include "core/value.h"

static store_db_t *db;

static int setup(void **st) {
    (void)st;
    char msg[256];
    assert_int_equal(store_open(":memory:", STORE_CREATE, &db, msg, sizeof msg), 0);
    assert_int_equal(store_exec(db, "CREATE TABLE logs(msg TEXT, n INTEGER);"
                                    "CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT NOT NULL, age INTEGER);"
                                    "CREATE TABLE codes(code TEXT PRIMARY KEY, label TEXT);"
                                    "CREATE TABLE pair(a TEXT, b INTEGER, v TEXT, PRIMARY KEY (a, b)) WITHOUT ROWID;"),
                     0);
    return 0;
}

static int teardown(void **st) {
    (void)st;
    store_close(db);
    return 0;
}

static const tinfo_t *table(const char *name) {
    char e[256];
    static const schema_t *s; /* the last one stays valid until the next call */
    schema_release(s);
    s = schema_load(db, e, sizeof e);
    assert_non_null(s);
    const tinfo_t *t = schema_find(s, name);
    assert_non_null(t);
    return t;
}

static int64_t count(const char *sql) {
    store_stmt_t *st;
    assert_int_equal(store_prepare(db, sql, &st), 0);
    assert_int_equal(store_step(st), STORE_ROW);
    int64_t n = store_col_int(st, 0);
    store_finalize(st);
    return n;
}

typedef struct {
    char text[512];
} got_t;

static void g_row(void *ctx, store_stmt_t *st, int n) {
    got_t *g = ctx;
    for (int i = 0; i < n; i++) {
        store_value_t v;
        store_col_value(st, i, &v);
        size_t len = strlen(g->text);
        if (v.type == SV_INT) snprintf(g->text + len, sizeof g->text - len, "%s%lld", i ? "|" : "", (long long)v.i);
        else if (v.type == SV_NULL) snprintf(g->text + len, sizeof g->text - len, "%snull", i ? "|" : "");
        else snprintf(g->text + len, sizeof g->text - len, "%s%.*s", i ? "|" : "", (int)v.n, v.p);
    }
}
static const sql_sink_t sink = {NULL, g_row};

static const char *fetch(const tinfo_t *t, const rref_t *ref, bool with_rowid) {
    static got_t g;
    memset(&g, 0, sizeof g);
    err_t e = {0};
    assert_int_equal(rows_fetch(db, t, ref, with_rowid, &sink, &g, &e), 0);
    return g.text;
}

#define TXT(s) ((store_value_t){.type = SV_TEXT, .p = (s), .n = sizeof(s) - 1})
#define INT(x) ((store_value_t){.type = SV_INT, .i = (x)})

static void rowid_table(void **st) {
    (void)st;
    const tinfo_t *t = table("logs");
    const char *names[ROWS_MAX_KEY];
    assert_int_equal(rows_key_names(t, names), 1);
    assert_string_equal(names[0], "rowid");
    rcell_t row[] = {{"msg", TXT("hi")}, {"n", INT(1)}};
    rref_t ref = {0};
    err_t e = {0};
    assert_int_equal(rows_insert(db, t, row, 2, ROWS_PLAIN, &ref, &e), 0);
    assert_int_equal(ref.n, 1);
    assert_string_equal(fetch(t, &ref, true), "1|hi|1");
    /* defaults only */
    rref_t ref2 = {0};
    assert_int_equal(rows_insert(db, t, NULL, 0, ROWS_PLAIN, &ref2, &e), 0);
    assert_string_equal(fetch(t, &ref2, false), "null|null");
    rcell_t upd[] = {{"n", INT(5)}};
    assert_int_equal(rows_update(db, t, &ref, upd, 1, &e), 0);
    assert_string_equal(fetch(t, &ref, false), "hi|5");
    /* found again by rowid */
    rcell_t key[] = {{"rowid", INT(1)}};
    rref_t again = {0};
    assert_int_equal(rows_find(db, t, key, 1, &again, &e), 1);
    assert_true(rref_equal(&again, &ref));
    assert_int_equal(rows_delete(db, t, &ref, &e), 0);
    assert_string_equal(fetch(t, &ref, false), "");
    assert_int_equal(rows_find(db, t, key, 1, &again, &e), 0);
    rref_free(&ref), rref_free(&ref2), rref_free(&again);
}

static void integer_key_and_conflicts(void **st) {
    (void)st;
    const tinfo_t *t = table("people");
    err_t e = {0};
    rref_t ref = {0};
    rcell_t ann[] = {{"id", INT(7)}, {"name", TXT("ann")}, {"age", INT(30)}};
    assert_int_equal(rows_insert(db, t, ann, 3, ROWS_PLAIN, &ref, &e), 0);
    assert_true(ref.n == 1 && ref.v[0].i == 7);
    /* the same key again: an error, ignored (the kept row), or replaced */
    rcell_t ann2[] = {{"id", INT(7)}, {"name", TXT("anne")}};
    assert_int_equal(rows_insert(db, t, ann2, 2, ROWS_PLAIN, &ref, &e), -1);
    assert_int_equal(e.kind, E_SQL);
    assert_non_null(strstr(e.msg, "UNIQUE"));
    assert_int_equal(rows_insert(db, t, ann2, 2, ROWS_IGNORE, &ref, &e), 0);
    assert_true(ref.n == 1 && ref.v[0].i == 7);
    assert_string_equal(fetch(t, &ref, false), "7|ann|30");
    assert_int_equal(rows_insert(db, t, ann2, 2, ROWS_REPLACE, &ref, &e), 0);
    assert_string_equal(fetch(t, &ref, false), "7|anne|null");
    /* a constraint */
    rcell_t nameless[] = {{"id", INT(8)}, {"name", {.type = SV_NULL}}};
    assert_int_equal(rows_insert(db, t, nameless, 2, ROWS_PLAIN, &ref, &e), -1);
    assert_non_null(strstr(e.msg, "NOT NULL"));
    /* upsert: updates non-key cells of an existing row, inserts a new one */
    rcell_t up[] = {{"id", INT(7)}, {"age", INT(31)}};
    assert_int_equal(rows_upsert(db, t, up, 2, &ref, &e), 0);
    assert_string_equal(fetch(t, &ref, false), "7|anne|31");
    rcell_t bob[] = {{"id", INT(9)}, {"name", TXT("bob")}};
    assert_int_equal(rows_upsert(db, t, bob, 2, &ref, &e), 0);
    assert_true(ref.v[0].i == 9);
    assert_int_equal(count("select count(*) from people"), 2);
    /* an unknown column is SQLite's error, quoted as one name */
    rcell_t evil[] = {{"name\") VALUES ('x'); --", TXT("x")}};
    assert_int_equal(rows_insert(db, t, evil, 1, ROWS_PLAIN, &ref, &e), -1);
    assert_non_null(strstr(e.msg, "no column named"));
    rref_free(&ref);
}

static void text_and_composite_keys(void **st) {
    (void)st;
    err_t e = {0};
    rref_t ref = {0};
    const tinfo_t *codes = table("codes");
    rcell_t c1[] = {{"code", TXT("a'b")}, {"label", TXT("x")}};
    assert_int_equal(rows_insert(db, codes, c1, 2, ROWS_PLAIN, &ref, &e), 0);
    assert_int_equal(ref.n, 1); /* a rowid table: the rowid */
    const tinfo_t *pair = table("pair");
    const char *names[ROWS_MAX_KEY];
    assert_int_equal(rows_key_names(pair, names), 2);
    rcell_t p1[] = {{"v", TXT("first")}, {"b", INT(2)}, {"a", TXT("x")}};
    assert_int_equal(rows_insert(db, pair, p1, 3, ROWS_PLAIN, &ref, &e), 0);
    assert_int_equal(ref.n, 2); /* WITHOUT ROWID: the key values in key order */
    assert_string_equal(ref.v[0].p, "x");
    assert_true(ref.v[1].i == 2);
    assert_string_equal(fetch(pair, &ref, false), "x|2|first");
    rcell_t p2[] = {{"a", TXT("x")}, {"b", INT(2)}, {"v", TXT("second")}};
    assert_int_equal(rows_upsert(db, pair, p2, 3, &ref, &e), 0);
    assert_string_equal(fetch(pair, &ref, false), "x|2|second");
    rcell_t p3[] = {{"a", TXT("x")}, {"b", INT(3)}};
    assert_int_equal(rows_insert(db, pair, p3, 2, ROWS_IGNORE, &ref, &e), 0);
    assert_int_equal(rows_insert(db, pair, p3, 2, ROWS_IGNORE, &ref, &e), 0);
    assert_true(ref.n == 2 && ref.v[1].i == 3);
    /* a key cell missing: not found */
    rref_t none = {0};
    assert_int_equal(rows_find(db, pair, p3, 1, &none, &e), 0);
    assert_int_equal(rows_delete(db, pair, &ref, &e), 0);
    assert_int_equal(count("select count(*) from pair"), 1);
    rref_free(&ref);
}

static void add_columns(void **st) {
    (void)st;
    err_t e = {0};
    const tinfo_t *t = table("logs");
    rcell_t cells[] = {{"msg", TXT("m")}, {"extra", {.type = SV_NULL}}, {"score", {.type = SV_REAL, .d = 1.5}},
                       {"extra", INT(3)}, {"data", {.type = SV_BLOB, .p = "\x01", .n = 1}}};
    assert_int_equal(rows_add_columns(db, t, cells, 5, &e), 0);
    t = table("logs");
    assert_int_equal(t->ncols, 5);
    assert_string_equal(t->cols[2].name, "extra");
    assert_string_equal(t->cols[2].type, "INTEGER");
    assert_string_equal(t->cols[3].type, "REAL");
    assert_string_equal(t->cols[4].type, "BLOB");
}

static void rollback_in_savepoint(void **st) {
    (void)st;
    err_t e = {0};
    const tinfo_t *t = table("people");
    int64_t before = count("select count(*) from people");
    assert_int_equal(store_exec(db, "SAVEPOINT job"), 0);
    rref_t ref = {0};
    rcell_t ok[] = {{"id", INT(100)}, {"name", TXT("temp")}};
    assert_int_equal(rows_insert(db, t, ok, 2, ROWS_PLAIN, &ref, &e), 0);
    rcell_t bad[] = {{"id", INT(100)}, {"name", TXT("dup")}};
    assert_int_equal(rows_insert(db, t, bad, 2, ROWS_PLAIN, &ref, &e), -1);
    /* the job failed: its savepoint undoes every row it wrote */
    assert_int_equal(store_exec(db, "ROLLBACK TO job; RELEASE job"), 0);
    assert_int_equal(count("select count(*) from people"), before);
    rref_free(&ref);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rowid_table), cmocka_unit_test(integer_key_and_conflicts),
        cmocka_unit_test(text_and_composite_keys), cmocka_unit_test(add_columns),
        cmocka_unit_test(rollback_in_savepoint),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
