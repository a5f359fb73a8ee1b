/* Unit tests for the group-commit writer and change capture
 * (src/core/writer.c, src/store/store.c). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/writer.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/timeutil.h"

static char path[256];

static int setup(void **st) {
    (void)st;
    snprintf(path, sizeof path, "/tmp/atrium-test-writer-%d.db", (int)getpid());
    unlink(path);
    store_db_t *db;
    char msg[256];
    assert_int_equal(store_open(path, STORE_CREATE | STORE_WAL, &db, msg, sizeof msg), 0);
    assert_int_equal(store_exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, data BLOB);"
                                    "CREATE TABLE u(k TEXT PRIMARY KEY, v INT) WITHOUT ROWID;"),
                     0);
    store_close(db);
    return 0;
}

static int teardown(void **st) {
    (void)st;
    char p[300];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
    return 0;
}

/* A job that runs a fixed SQL script. */
typedef struct {
    write_job_t job;
    const char *sql;
    pthread_mutex_t *lock;
    pthread_cond_t *cond;
    int *remaining;
} sql_job_t;

static int run_sql(store_db_t *db, void *arg, err_t *e) {
    sql_job_t *j = arg;
    int rc = store_exec(db, j->sql);
    if (rc < 0) return err_sql(e, rc, store_errmsg(db));
    return 0;
}

static void done_signal(write_job_t *job) {
    sql_job_t *j = (sql_job_t *)job;
    pthread_mutex_lock(j->lock);
    (*j->remaining)--;
    pthread_cond_signal(j->cond);
    pthread_mutex_unlock(j->lock);
}

/* Submits jobs (already filled with sql) and waits for all of them. */
static void run_jobs(writer_t *w, sql_job_t *jobs, int n) {
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
    int remaining = n;
    for (int i = 0; i < n; i++) {
        jobs[i].job.run = run_sql;
        jobs[i].job.done = done_signal;
        jobs[i].job.arg = &jobs[i];
        jobs[i].lock = &lock;
        jobs[i].cond = &cond;
        jobs[i].remaining = &remaining;
    }
    for (int i = 0; i < n; i++) writer_submit(w, &jobs[i].job);
    pthread_mutex_lock(&lock);
    while (remaining > 0) pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
}

static int64_t count(const char *sql) {
    store_db_t *db;
    char msg[256];
    assert_int_equal(store_open(path, 0, &db, msg, sizeof msg), 0);
    store_stmt_t *st;
    assert_int_equal(store_prepare(db, sql, &st), 0);
    assert_int_equal(store_step(st), STORE_ROW);
    int64_t n = store_col_int(st, 0);
    store_finalize(st);
    store_close(db);
    return n;
}

/* A write too big to copy: rows stop being recorded, counts stay exact,
 * and the tables it touched afterwards are named. */
static void capture_overflow_names_tables(void **st) {
    (void)st;
    writer_t *w;
    err_t e;
    writer_opts_t o = {.group_commit = true};
    assert_int_equal(writer_open(path, &o, &w, &e), 0);
    sql_job_t jobs[1] = {{.sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 150000)"
                                 " INSERT INTO t(id, name) SELECT x, 'n' FROM c;"
                                 "INSERT INTO u VALUES ('late', 1);"
                                 "DELETE FROM t WHERE id <= 10;"}};
    run_jobs(w, jobs, 1);
    changeset_t *cs = &jobs[0].job.changes;
    assert_int_equal(jobs[0].job.rc, 0);
    assert_true(cs->overflow);
    assert_int_equal(cs->n, STORE_CAPTURE_MAX_ROWS);
    assert_int_equal(cs->ninserts, 150001);
    assert_int_equal(cs->ndeletes, 10);
    assert_int_equal(cs->nlost, 2);
    assert_string_equal(cs->lost_tables[0], "t");
    assert_string_equal(cs->lost_tables[1], "u");
    changeset_free(cs);
    writer_close(w);
}

static void captures_insert_update_delete(void **st) {
    (void)st;
    writer_t *w;
    err_t e;
    writer_opts_t o = {.group_commit = true};
    assert_int_equal(writer_open(path, &o, &w, &e), 0);
    sql_job_t jobs[1] = {{.sql = "INSERT INTO t VALUES (1, 'a', x'00ff');"
                                 "UPDATE t SET name = 'b' WHERE id = 1;"
                                 "UPDATE t SET id = 7 WHERE id = 1;"
                                 "DELETE FROM t WHERE id = 7;"
                                 "INSERT INTO u VALUES ('k', 5);"}};
    run_jobs(w, jobs, 1);
    write_job_t *j = &jobs[0].job;
    assert_int_equal(j->rc, 0);
    changeset_t *cs = &j->changes;
    assert_int_equal(cs->n, 5);
    /* insert */
    assert_string_equal(cs->items[0].table, "t");
    assert_int_equal(cs->items[0].op, CHANGE_INSERT);
    assert_int_equal(cs->items[0].new_rowid, 1);
    assert_null(cs->items[0].old_vals);
    assert_int_equal(cs->items[0].ncols, 3);
    assert_int_equal(cs->items[0].new_vals[0].type, SV_INT);
    assert_string_equal(cs->items[0].new_vals[1].p, "a");
    assert_int_equal(cs->items[0].new_vals[2].type, SV_BLOB);
    assert_int_equal(cs->items[0].new_vals[2].n, 2);
    assert_memory_equal(cs->items[0].new_vals[2].p, "\x00\xff", 2);
    /* update of a value */
    assert_int_equal(cs->items[1].op, CHANGE_UPDATE);
    assert_string_equal(cs->items[1].old_vals[1].p, "a");
    assert_string_equal(cs->items[1].new_vals[1].p, "b");
    /* update of the primary key: old and new rowids differ */
    assert_int_equal(cs->items[2].op, CHANGE_UPDATE);
    assert_int_equal(cs->items[2].old_rowid, 1);
    assert_int_equal(cs->items[2].new_rowid, 7);
    assert_int_equal(cs->items[2].old_vals[0].i, 1);
    assert_int_equal(cs->items[2].new_vals[0].i, 7);
    /* delete */
    assert_int_equal(cs->items[3].op, CHANGE_DELETE);
    assert_int_equal(cs->items[3].old_vals[0].i, 7);
    assert_null(cs->items[3].new_vals);
    /* WITHOUT ROWID table */
    assert_string_equal(cs->items[4].table, "u");
    assert_string_equal(cs->items[4].new_vals[0].p, "k");
    changeset_free(cs);
    writer_close(w);
    assert_int_equal(count("SELECT count(*) FROM t"), 0);
    assert_int_equal(count("SELECT count(*) FROM u"), 1);
}

static void failed_job_rolls_back_only_itself(void **st) {
    (void)st;
    writer_t *w;
    err_t e;
    writer_opts_t o = {.group_commit = true};
    assert_int_equal(writer_open(path, &o, &w, &e), 0);
    sql_job_t jobs[3] = {
        {.sql = "INSERT INTO t(id, name) VALUES (10, 'ok1');"},
        /* inserts a row, then fails: the row must vanish and capture nothing */
        {.sql = "INSERT INTO t(id, name) VALUES (11, 'doomed'); INSERT INTO t(id) VALUES (10);"},
        {.sql = "INSERT INTO t(id, name) VALUES (12, 'ok2');"},
    };
    run_jobs(w, jobs, 3);
    assert_int_equal(jobs[0].job.rc, 0);
    assert_int_equal(jobs[1].job.rc, -1);
    assert_int_equal(jobs[1].job.err.kind, E_SQL);
    assert_int_equal(jobs[1].job.err.sql_code & 0xff, STORE_E_CONSTRAINT);
    assert_int_equal(jobs[1].job.changes.n, 0);
    assert_int_equal(jobs[2].job.rc, 0);
    assert_int_equal(jobs[0].job.changes.n, 1);
    assert_int_equal(jobs[2].job.changes.n, 1);
    for (int i = 0; i < 3; i++) changeset_free(&jobs[i].job.changes);
    writer_close(w);
    assert_int_equal(count("SELECT count(*) FROM t WHERE id IN (10, 12)"), 2);
    assert_int_equal(count("SELECT count(*) FROM t WHERE id = 11"), 0);
}

static void job_may_not_end_the_transaction(void **st) {
    (void)st;
    writer_t *w;
    err_t e;
    writer_opts_t o = {.group_commit = true};
    assert_int_equal(writer_open(path, &o, &w, &e), 0);
    sql_job_t jobs[3] = {
        {.sql = "INSERT INTO t(id) VALUES (20);"},
        {.sql = "COMMIT;"},
        {.sql = "INSERT INTO t(id) VALUES (21);"},
    };
    run_jobs(w, jobs, 3);
    assert_int_equal(jobs[1].job.rc, -1);
    assert_int_equal(jobs[2].job.rc, 0);
    for (int i = 0; i < 3; i++) changeset_free(&jobs[i].job.changes);
    writer_close(w);
    assert_int_equal(count("SELECT count(*) FROM t WHERE id = 21"), 1);
}

/* VACUUM cannot run in a transaction: an outside_txn job has the writer
 * to itself, between batches that commit as usual. */
static void outside_txn_job_runs_alone(void **st) {
    (void)st;
    writer_t *w;
    err_t e;
    writer_opts_t o = {.group_commit = true};
    assert_int_equal(writer_open(path, &o, &w, &e), 0);
    sql_job_t jobs[4] = {
        {.sql = "INSERT INTO t(id) VALUES (30);"},
        {.sql = "VACUUM;"},
        {.sql = "INSERT INTO t(id) VALUES (31);"},
        {.sql = "VACUUM;"},
    };
    jobs[1].job.outside_txn = true;
    run_jobs(w, jobs, 4);
    assert_int_equal(jobs[0].job.rc, 0);
    assert_int_equal(jobs[1].job.rc, 0);
    assert_int_equal(jobs[2].job.rc, 0);
    assert_int_equal(jobs[3].job.rc, -1); /* inside a batch's transaction, SQLite refuses it */
    for (int i = 0; i < 4; i++) changeset_free(&jobs[i].job.changes);
    writer_close(w);
    assert_int_equal(count("SELECT count(*) FROM t WHERE id IN (30, 31)"), 2);
}

typedef struct {
    size_t batches, jobs;
} listen_stats_t;

static void listener(void *ctx, write_job_t *const *jobs, size_t n) {
    (void)jobs;
    listen_stats_t *s = ctx;
    s->batches++;
    s->jobs += n;
}

static void group_commit_batches_jobs(void **st) {
    (void)st;
    enum { N = 400 };
    static sql_job_t jobs[N];
    static char sql[N][80];
    for (int group = 1; group >= 0; group--) {
        listen_stats_t stats = {0};
        writer_t *w;
        err_t e;
        writer_opts_t o = {.group_commit = group, .listener = listener, .listener_ctx = &stats};
        assert_int_equal(writer_open(path, &o, &w, &e), 0);
        memset(jobs, 0, sizeof jobs);
        for (int i = 0; i < N; i++) {
            snprintf(sql[i], sizeof sql[i], "INSERT INTO t(name) VALUES ('g%d-%d');", group, i);
            jobs[i].sql = sql[i];
        }
        run_jobs(w, jobs, N);
        for (int i = 0; i < N; i++) {
            assert_int_equal(jobs[i].job.rc, 0);
            changeset_free(&jobs[i].job.changes);
        }
        assert_int_equal(stats.jobs, N);
        if (group) assert_true(writer_commits(w) < N); /* queued together, committed together */
        else assert_int_equal(writer_commits(w), N);
        writer_close(w);
    }
    assert_int_equal(count("SELECT count(*) FROM t WHERE name LIKE 'g%'"), 2 * N);
}

static void deadline_interrupts_long_statement(void **st) {
    (void)st;
    store_db_t *db;
    char msg[256];
    assert_int_equal(store_open(path, 0, &db, msg, sizeof msg), 0);
    store_stmt_t *s;
    assert_int_equal(store_prepare(db,
                                   "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                                   "SELECT count(*) FROM c",
                                   &s),
                     0);
    store_set_deadline(db, time_mono_us() + 50000);
    int rc = store_step(s);
    assert_int_equal(-rc & 0xff, STORE_E_INTERRUPT);
    store_finalize(s);
    store_set_deadline(db, 0);
    /* With the deadline cleared, the connection works normally again. */
    assert_int_equal(store_prepare(db, "SELECT count(*) FROM t", &s), 0);
    assert_true(store_stmt_readonly(s));
    assert_int_equal(store_step(s), STORE_ROW);
    store_finalize(s);
    assert_int_equal(store_prepare(db, "DELETE FROM t WHERE 0", &s), 0);
    assert_false(store_stmt_readonly(s));
    store_finalize(s);
    store_close(db);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(captures_insert_update_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(capture_overflow_names_tables, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_job_rolls_back_only_itself, setup, teardown),
        cmocka_unit_test_setup_teardown(job_may_not_end_the_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(outside_txn_job_runs_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(group_commit_batches_jobs, setup, teardown),
        cmocka_unit_test_setup_teardown(deadline_interrupts_long_statement, setup, teardown),
    };
    return cmocka_run_group_tests_name("writer", tests, NULL, NULL);
}
