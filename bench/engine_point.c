/* The engine ceiling: the benchmark's point lookup run in-process in a C
 * loop, (a) each query its own read transaction (autocommit), (b) all inside
 * one open read transaction. Prints ns per query. Not linked into atrium:
 * it measures SQLite itself, so it uses sqlite3.h directly. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double run(sqlite3 *db, int n, int rows) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT * FROM users WHERE id = ?", -1, &st, NULL) != SQLITE_OK) exit(1);
    unsigned seed = 42;
    long sink = 0;
    double t0 = now();
    for (int i = 0; i < n; i++) {
        sqlite3_bind_int64(st, 1, 1 + rand_r(&seed) % rows);
        while (sqlite3_step(st) == SQLITE_ROW) sink += sqlite3_column_bytes(st, 1);
        sqlite3_reset(st);
    }
    double dt = now() - t0;
    sqlite3_finalize(st);
    if (sink == 42) puts("");
    return dt * 1e9 / n;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: engine_point DB ROWS [N]\n");
        return 2;
    }
    int rows = atoi(argv[2]), n = argc > 3 ? atoi(argv[3]) : 200000;
    sqlite3 *db;
    if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) return 1;
    run(db, n / 10, rows); /* warm the page cache */
    double own = run(db, n, rows);
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    double shared = run(db, n, rows);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    printf("{\"own_txn_ns\": %.0f, \"shared_txn_ns\": %.0f}\n", own, shared);
    sqlite3_close(db);
    return 0;
}
