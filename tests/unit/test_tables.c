/* Unit tests for src/core/tables: schema snapshots (keys, rowid flags,
 * foreign keys both ways, FTS detection, label columns, lazy details and
 * rebuilds when the schema changes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/tables.h"

static int setup(void **st) {
    store_db_t *db;
    char msg[256];
    assert_int_equal(store_open(":memory:", STORE_CREATE, &db, msg, sizeof msg), 0);
    assert_int_equal(store_exec(db,
                                "CREATE TABLE authors(id INTEGER PRIMARY KEY, name TEXT);"
                                "CREATE TABLE tags(pk INTEGER PRIMARY KEY, tag TEXT);"
                                "CREATE TABLE codes(id INTEGER PRIMARY KEY, code TEXT UNIQUE, name TEXT);"
                                "CREATE TABLE books(id INTEGER PRIMARY KEY, title TEXT,"
                                " author_id INTEGER REFERENCES authors, tag INTEGER REFERENCES tags(pk));"
                                "CREATE TABLE pairs(a TEXT, b INTEGER, PRIMARY KEY (b, a)) WITHOUT ROWID;"
                                "CREATE TABLE logs(msg TEXT, n INTEGER);"
                                "CREATE VIEW v AS SELECT id FROM books;"
                                "CREATE VIRTUAL TABLE books_fts USING fts5(title, content=\"books\");"),
                     0);
    *st = db;
    return 0;
}

static int teardown(void **st) {
    store_close(*st);
    return 0;
}

static void keys_and_rowids(void **st) {
    char err[256];
    const schema_t *s = schema_get(*st, err, sizeof err);
    assert_non_null(s);
    const tinfo_t *books = schema_find(s, "books"), *pairs = schema_find(s, "pairs"), *logs = schema_find(s, "logs");
    const tinfo_t *v = schema_find(s, "v");
    assert_int_equal(books->npk, 1);
    assert_string_equal(books->cols[books->pk[0]].name, "id");
    assert_false(books->rowid);
    assert_true(books->has_rowid);
    /* key order is the PRIMARY KEY clause's, not the columns' */
    assert_int_equal(pairs->npk, 2);
    assert_string_equal(pairs->cols[pairs->pk[0]].name, "b");
    assert_false(pairs->has_rowid);
    assert_true(logs->rowid && logs->has_rowid && logs->npk == 0);
    assert_true(v->is_view && !v->has_rowid && !v->rowid);
    assert_null(schema_find(s, "nope"));
    /* tables sorted by name, views after them */
    assert_string_equal(schema_at(s, s->n - 1)->name, "v");
}

static void foreign_keys_fts_and_labels(void **st) {
    char err[256];
    const schema_t *s = schema_get(*st, err, sizeof err);
    const tinfo_t *books = schema_find(s, "books");
    const tfk_t *fk = tinfo_fk(books, "author_id");
    assert_non_null(fk);
    assert_string_equal(fk->other_table, "authors");
    assert_string_equal(fk->other_column, "id"); /* implicit: the target's key */
    assert_string_equal(tinfo_fk(books, "tag")->other_column, "pk");
    int n;
    const tfk_t *in = schema_incoming(s, schema_find(s, "authors"), &n);
    assert_int_equal(n, 1);
    assert_string_equal(in[0].other_table, "books");
    assert_string_equal(in[0].other_column, "author_id");
    assert_string_equal(books->fts, "books_fts");
    assert_true(schema_find(s, "books_fts")->hidden);
    assert_true(schema_find(s, "books_fts_data")->hidden);
    const tinfo_t *a = schema_find(s, "authors"), *t = schema_find(s, "tags"), *c = schema_find(s, "codes");
    assert_string_equal(a->cols[a->label].name, "name");
    assert_string_equal(t->cols[t->label].name, "tag");  /* the other column of (pk, x) */
    assert_string_equal(c->cols[c->label].name, "code"); /* the only unique TEXT column wins */
    assert_int_equal(schema_find(s, "logs")->label, -1);
}

static void rebuilt_when_the_schema_changes(void **st) {
    char err[256];
    const schema_t *s = schema_get(*st, err, sizeof err);
    int64_t cookie = s->cookie;
    assert_ptr_equal(schema_get(*st, err, sizeof err), s); /* cached */
    assert_int_equal(store_exec(*st, "ALTER TABLE logs ADD COLUMN extra TEXT"), 0);
    s = schema_get(*st, err, sizeof err);
    assert_true(s->cookie != cookie);
    assert_int_equal(schema_find(s, "logs")->ncols, 3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(keys_and_rowids, setup, teardown),
        cmocka_unit_test_setup_teardown(foreign_keys_fts_and_labels, setup, teardown),
        cmocka_unit_test_setup_teardown(rebuilt_when_the_schema_changes, setup, teardown),
    };
    return cmocka_run_group_tests_name("tables", tests, NULL, NULL);
}
