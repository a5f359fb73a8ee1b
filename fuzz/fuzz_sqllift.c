/* fuzz_sqllift: core/sql_lift on any text. Properties: no crash; at most
 * SQL_LIFT_MAX literals; the lifted text is exactly the input with each
 * literal's token (in order, not overlapping) replaced by ?1, ?2, ...;
 * an integer token is all digits and its value, a text token is quoted
 * and undoing its '' gives what is bound. And the one that matters: when
 * both the text as written and the lifted text prepare as reads on a small
 * database, they answer the same column names and the same rows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sql.h"
#include "util/timeutil.h"

static store_db_t *db;

/* Column names, then each row's values with their types, as one string;
 * NULL if the statement did not run to the end in time. */
static char *answer(store_stmt_t *st) {
    buf_t b;
    buf_init(&b);
    store_set_deadline(db, time_mono_us() + 20000);
    int s, rows = 0;
    while ((s = store_step(st)) == STORE_ROW && rows++ < 200) {
        for (int c = 0; c < store_col_count(st); c++) {
            size_t n;
            const char *v = store_col_text(st, c, &n);
            buf_printf(&b, "%d:", (int)store_col_type(st, c));
            buf_append(&b, v, n);
            buf_putc(&b, '|');
        }
        buf_putc(&b, '\n');
    }
    store_set_deadline(db, 0);
    if (s < 0) {
        buf_free(&b);
        return NULL;
    }
    for (int c = 0; c < store_col_count(st); c++) {
        buf_puts(&b, store_col_name(st, c));
        buf_putc(&b, '|');
    }
    buf_putc(&b, 0);
    return buf_detach(&b);
}

/* Runs text as one read statement; NULL if it is not one or did not end. */
static char *run(const char *text, size_t n, const sql_lifted_t *l) {
    store_stmt_t *st = NULL;
    const char *tail = NULL;
    if (store_prepare_next(db, text, n, &st, &tail) < 0 || !st) return NULL;
    char *a = NULL;
    if (store_stmt_readonly(st) && (!l || store_param_count(st) == l->n)) {
        if (l) {
            buf_t scratch;
            buf_init(&scratch);
            sql_lift_bind(l, st, &scratch);
            buf_free(&scratch);
        }
        a = answer(st);
    }
    store_finalize(st);
    return a;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    const char *s = (const char *)data;
    sql_lifted_t l;
    buf_init(&l.text);
    int k = sql_lift(s, n, &l);
    if (k < 0 || k > SQL_LIFT_MAX) abort();
    if (k > 0) {
        buf_t want;
        buf_init(&want);
        size_t from = 0;
        for (int i = 0; i < k; i++) {
            const sql_literal_t *x = &l.lit[i];
            if (x->at < from || x->at + x->tok > n || x->tok == 0) abort();
            buf_append(&want, s + from, x->at - from);
            buf_printf(&want, "?%d", i + 1);
            const char *t = s + x->at;
            if (x->kind == SQL_LIT_INT) {
                int64_t v = 0;
                for (size_t j = 0; j < x->tok; j++) {
                    if (t[j] < '0' || t[j] > '9') abort();
                    v = v * 10 + (t[j] - '0');
                }
                if (v != x->i) abort();
            } else if (x->kind == SQL_LIT_TEXT) {
                if (x->tok < 2 || t[0] != '\'' || t[x->tok - 1] != '\'' || x->s != t + 1 || x->len != x->tok - 2)
                    abort();
                for (size_t j = 0; j < x->len; j++)
                    if (x->s[j] == '\'' && (j + 1 >= x->len || x->s[++j] != '\'' || !x->doubled)) abort();
            } else {
                abort();
            }
            from = x->at + x->tok;
        }
        buf_append(&want, s + from, n - from);
        if (want.len != l.text.len || memcmp(want.data, l.text.data, want.len) != 0) abort();
        buf_free(&want);
        if (!db) {
            char err[128];
            if (store_open(":memory:", STORE_CREATE, &db, err, sizeof err) < 0) abort();
            store_exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, a INT, b TEXT, c);"
                           "INSERT INTO t VALUES (1, 2, 'x', 1.5), (2, 10, '10', 'x'), (3, NULL, 'it''s', 3),"
                           "(4, -1, 'ab%', x'00'), (5, 7, '7', '7');"
                           "CREATE INDEX ta ON t(a); CREATE INDEX tb ON t(b) WHERE b > 'a';");
        }
        /* the clock and randomness answer differently each time anyway:
         * the authorizer says which statements call them */
        sql_class_t cls;
        unsigned facts = 0;
        err_t e;
        if (sql_inspect(db, s, n, true, &cls, &facts, &e) == 0 && !(facts & SQL_FACT_VOLATILE)) {
            char *orig = run(s, n, NULL);
            if (orig) {
                char *lifted = run(l.text.data, l.text.len, &l);
                if (lifted && strcmp(orig, lifted) != 0) {
                    fprintf(stderr, "as written:\n%s\nlifted:\n%s\n", orig, lifted);
                    abort();
                }
                free(lifted);
            }
            free(orig);
        }
    }
    buf_free(&l.text);
    return 0;
}
