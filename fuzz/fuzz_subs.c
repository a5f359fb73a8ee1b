/* fuzz_subs: subscription queries (core/subs_query): parsing, then
 * compiling what parses under the subscription policy against a small
 * schema. Properties: no crash; a parsed query has a table and an alias;
 * a compiled one reads nothing but its own table (the policy), which is
 * checked by running it on a database where other tables would show. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/subs.h"
#include "store/store.h"

static store_db_t *db;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    if (!db) {
        char err[128];
        if (store_open(":memory:", STORE_CREATE, &db, err, sizeof err) < 0) abort();
        store_exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, a INTEGER, b TEXT);"
                       "INSERT INTO t VALUES (1, 2, 'x');"
                       "CREATE TABLE secret(s TEXT); INSERT INTO secret VALUES ('leak');");
    }
    char *text = malloc(n + 1);
    memcpy(text, data, n);
    text[n] = 0;
    subs_query_t q;
    err_t e;
    if (subs_parse(text, &q, &e) == 0) {
        if (!q.table || !q.alias || !*q.alias) abort();
        store_stmt_t *st;
        if (subs_compile(db, &q, "*", "ab", &st, &e) == 0) {
            store_set_deadline(db, 0);
            for (int i = 0; i < 1000 && store_step(st) == STORE_ROW; i++) {
                for (int c = 0; c < store_col_count(st); c++) {
                    size_t len;
                    const char *v = store_col_type(st, c) == SV_TEXT ? store_col_text(st, c, &len) : NULL;
                    /* another table's row came out (subscribing to secret itself may show it) */
                    if (v && strcmp(v, "leak") == 0 && strcasecmp(q.table, "secret") != 0) abort();
                }
            }
            store_finalize(st);
        }
        subs_query_free(&q);
    }
    free(text);
    return 0;
}
