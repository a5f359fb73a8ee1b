/* Unit tests for src/core/schema: snapshots (keys, rowid flags, foreign
 * keys both ways, FTS detection, label columns), one snapshot shared by
 * every reader of a database, rebuilt once when the schema changes, and
 * private snapshots for uncommitted changes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/schema.h"

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
    const schema_t *s = schema_load(*st, err, sizeof err);
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
    schema_release(s);
}

static void foreign_keys_fts_and_labels(void **st) {
    char err[256];
    const schema_t *s = schema_acquire(NULL, *st, err, sizeof err);
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
    schema_release(s);
}

static void shared_and_rebuilt_once(void **st) {
    (void)st;
    char path[] = "/tmp/atrium-schema-XXXXXX", err[256];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    store_db_t *w, *r1, *r2;
    assert_int_equal(store_open(path, STORE_CREATE | STORE_WAL, &w, err, sizeof err), 0);
    assert_int_equal(store_exec(w, "CREATE TABLE logs(msg TEXT, n INTEGER)"), 0);
    assert_int_equal(store_open(path, STORE_WAL, &r1, err, sizeof err), 0);
    assert_int_equal(store_open(path, STORE_WAL, &r2, err, sizeof err), 0);
    db_t d;
    memset(&d, 0, sizeof d);
    pthread_mutex_init(&d.schema_lock, NULL);
    pthread_mutex_init(&d.schema_build_lock, NULL);
    /* the loop's peek never builds */
    assert_null(schema_peek(&d, r1));
    /* every reader gets the database's one snapshot */
    const schema_t *a = schema_acquire(&d, r1, err, sizeof err), *b = schema_acquire(&d, r2, err, sizeof err);
    const schema_t *peeked = schema_peek(&d, r2);
    assert_ptr_equal(peeked, a);
    schema_release(peeked);
    /* nor waits for a build in progress */
    pthread_mutex_lock(&d.schema_build_lock);
    peeked = schema_peek(&d, r2);
    assert_ptr_equal(peeked, a);
    schema_release(peeked);
    pthread_mutex_unlock(&d.schema_build_lock);
    assert_non_null(a);
    assert_ptr_equal(a, b);
    assert_ptr_equal(d.schema, a);
    assert_int_equal(a->refs, 3); /* the database's and two readers' */
    /* uncommitted changes: a private snapshot, never the shared one */
    assert_int_equal(store_exec(w, "BEGIN; ALTER TABLE logs ADD COLUMN extra TEXT"), 0);
    const schema_t *mine = schema_acquire(&d, w, err, sizeof err);
    assert_ptr_not_equal(mine, a);
    assert_int_equal(schema_find(mine, "logs")->ncols, 3);
    assert_ptr_equal(d.schema, a);
    schema_release(mine);
    const schema_t *again = schema_acquire(&d, w, err, sizeof err);
    assert_ptr_equal(again, mine); /* kept on the connection for its next jobs */
    schema_release(again);
    assert_int_equal(store_exec(w, "ROLLBACK"), 0);
    /* the same schema_version again, after the rollback: rebuilt, not reused */
    assert_int_equal(store_exec(w, "BEGIN; ALTER TABLE logs ADD COLUMN undone INTEGER"), 0);
    mine = schema_acquire(&d, w, err, sizeof err);
    assert_string_equal(schema_find(mine, "logs")->cols[2].name, "undone");
    schema_release(mine);
    assert_int_equal(store_exec(w, "ROLLBACK"), 0);
    /* a committed change: rebuilt once, then shared again */
    assert_int_equal(store_exec(w, "ALTER TABLE logs ADD COLUMN other INTEGER"), 0);
    const schema_t *c = schema_acquire(&d, r1, err, sizeof err), *e = schema_acquire(&d, r2, err, sizeof err);
    assert_ptr_not_equal(c, a);
    assert_ptr_equal(c, e);
    const tinfo_t *logs = schema_find(c, "logs");
    assert_int_equal(logs->ncols, 3);
    assert_string_equal(logs->cols[2].name, "other"); /* not the rolled-back column */
    /* the old snapshot lives while held, after the database moved on */
    assert_int_equal(schema_find(a, "logs")->ncols, 2);
    schema_release(a);
    schema_release(b);
    schema_release(c);
    schema_release(e);
    schema_forget(&d);
    assert_null(d.schema);
    pthread_mutex_destroy(&d.schema_lock);
    pthread_mutex_destroy(&d.schema_build_lock);
    store_close(r1);
    store_close(r2);
    store_close(w);
    unlink(path);
    char side[64];
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

/* CHECK (c IN (…)) gives a column its options; one-column UNIQUE indexes
 * and a lone primary key mark columns unique. */
static void select_items_and_uniques(void **st) {
    char err[256];
    assert_int_equal(store_exec(*st, "CREATE TABLE opts(state TEXT CHECK (state IN ('to do', 'it''s done', NULL)),"
                                     " n INTEGER CHECK ( n IN (1, -2) ), m INT CHECK (m > 0), u TEXT UNIQUE,"
                                     " CHECK (\"u\" IN ('a')))"),
                     0);
    const schema_t *s = schema_load(*st, err, sizeof err);
    assert_non_null(s);
    const tinfo_t *t = schema_find(s, "opts");
    assert_int_equal(t->cols[0].nitems, 2);
    assert_string_equal(t->cols[0].items[0], "to do");
    assert_string_equal(t->cols[0].items[1], "it's done");
    assert_int_equal(t->cols[1].nitems, 2);
    assert_string_equal(t->cols[1].items[1], "-2");
    assert_int_equal(t->cols[2].nitems, 0);
    assert_int_equal(t->cols[3].nitems, 1);
    assert_true(t->cols[3].unique);
    assert_false(t->cols[0].unique);
    assert_true(schema_find(s, "authors")->cols[0].unique); /* the lone primary key */
    schema_release(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(keys_and_rowids, setup, teardown),
        cmocka_unit_test_setup_teardown(foreign_keys_fts_and_labels, setup, teardown),
        cmocka_unit_test_setup_teardown(select_items_and_uniques, setup, teardown),
        cmocka_unit_test(shared_and_rebuilt_once),
    };
    return cmocka_run_group_tests_name("schema", tests, NULL, NULL);
}
