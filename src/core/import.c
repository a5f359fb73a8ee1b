/* import: a CSV file into a new database (see import.h). */
#include "core/import.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/sql.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/csv.h"
#include "util/thread.h"

enum { T_INT = 1, T_REAL = 2 }; /* what every value of a column still parses as */

static bool parses_int(const char *s) {
    char *end;
    errno = 0;
    (void)strtoll(s, &end, 10);
    return *s && s[0] != ' ' && s[0] != '\t' && !*end && errno == 0;
}

static bool parses_real(const char *s, double *v) {
    char *end;
    if (!*s || s[0] == ' ' || s[0] == '\t') return false;
    *v = strtod(s, &end);
    return !*end && isfinite(*v);
}

/* Is the record a blank line (one empty, unquoted field)? */
static bool blank(const csv_reader_t *r) { return r->nfields == 1 && !r->quoted[0] && !*csv_get(r, 0); }

static int bad(err_t *e, const char *what, const char *msg) { return err_set(e, E_BAD_INPUT, "%s: %s", what, msg); }

/* Every 1024 records: how far through the file, and whether to stop. */
static bool keep_going(op_t *op, FILE *f, uint64_t size, uint64_t n) {
    if (!op || n % 1024) return true;
    long at = ftell(f);
    op_progress(op, at > 0 ? (uint64_t)at : 0, size);
    return !op_cancelled(op);
}

int import_csv(const char *csv_path, const char *db_path, const char *table, op_t *op, int64_t *rows, err_t *e) {
    ASSERT_OFF_LOOP();
    *rows = 0;
    err_clear(e);
    FILE *f = fopen(csv_path, "rb");
    if (!f) return err_set(e, E_INTERNAL, "reading the upload: %s", strerror(errno));
    struct stat sb;
    uint64_t size = fstat(fileno(f), &sb) == 0 ? (uint64_t)sb.st_size : 0;
    uint64_t nrec = 0;
    op_phase(op, "scanning", size, "bytes");
    csv_reader_t r;
    csv_reader_init(&r, f);
    char msg[200];
    int rc = csv_read(&r, msg, sizeof msg);
    if (rc <= 0) {
        csv_reader_free(&r);
        fclose(f);
        return rc < 0 ? bad(e, "The CSV file is malformed", msg) : err_set(e, E_BAD_INPUT, "The CSV file is empty");
    }
    /* the header: column names, made unique */
    size_t ncols = r.nfields;
    char **names = xcalloc(ncols, sizeof *names);
    for (size_t i = 0; i < ncols; i++) {
        const char *h = csv_get(&r, i);
        buf_t n = BUF_INIT;
        if (*h) buf_puts(&n, h);
        else buf_printf(&n, "column_%zu", i + 1);
        size_t base = n.len;
        for (int k = 2;; k++) {
            bool dup = false;
            for (size_t j = 0; j < i && !dup; j++) dup = strcmp(names[j], n.data) == 0;
            if (!dup) break;
            n.len = base;
            buf_printf(&n, "_%d", k);
        }
        names[i] = buf_detach(&n);
    }
    /* pass 1: the types */
    unsigned *type = xcalloc(ncols, sizeof *type);
    for (size_t i = 0; i < ncols; i++) type[i] = T_INT | T_REAL;
    while ((rc = csv_read(&r, msg, sizeof msg)) == 1) {
        if (!keep_going(op, f, size, ++nrec)) {
            snprintf(msg, sizeof msg, "cancelled");
            rc = -1;
            break;
        }
        if (blank(&r)) continue;
        if (r.nfields > ncols) {
            snprintf(msg, sizeof msg, "line %ld has %zu fields, the header %zu", r.line - 1, r.nfields, ncols);
            rc = -1;
            break;
        }
        for (size_t i = 0; i < r.nfields; i++) {
            const char *v = csv_get(&r, i);
            double d;
            if (!*v) continue;
            if ((type[i] & T_INT) && !parses_int(v)) type[i] &= ~(unsigned)T_INT;
            if ((type[i] & T_REAL) && !parses_real(v, &d)) type[i] &= ~(unsigned)T_REAL;
        }
    }
    store_db_t *db = NULL;
    store_stmt_t *ins = NULL;
    buf_t q = BUF_INIT;
    if (rc < 0) {
        if (op_cancelled(op)) err_set(e, E_BAD_INPUT, "The import was cancelled");
        else bad(e, "The CSV file is malformed", msg);
        goto out;
    }
    if (store_open(db_path, STORE_CREATE, &db, msg, sizeof msg) < 0) {
        rc = err_set(e, E_INTERNAL, "creating the database: %s", msg);
        goto out;
    }
    buf_puts(&q, "CREATE TABLE ");
    sql_ident(&q, table);
    buf_puts(&q, " (");
    for (size_t i = 0; i < ncols; i++) {
        if (i) buf_puts(&q, ", ");
        sql_ident(&q, names[i]);
        buf_puts(&q, type[i] & T_INT ? " INTEGER" : type[i] & T_REAL ? " REAL" : " TEXT");
    }
    buf_puts(&q, ")");
    if (store_exec(db, "BEGIN") < 0 || store_exec(db, q.data) < 0) {
        rc = err_set(e, E_BAD_INPUT, "The CSV file cannot be a table: %s", store_errmsg(db));
        goto out;
    }
    buf_reset(&q);
    buf_puts(&q, "INSERT INTO ");
    sql_ident(&q, table);
    buf_puts(&q, " VALUES (");
    for (size_t i = 0; i < ncols; i++) buf_puts(&q, i ? ", ?" : "?");
    buf_puts(&q, ")");
    if (store_prepare(db, q.data, &ins) < 0) {
        rc = err_set(e, E_INTERNAL, "%s", store_errmsg(db));
        goto out;
    }
    /* pass 2: the rows */
    op_phase(op, "importing", size, "bytes");
    rewind(f);
    csv_reader_free(&r);
    csv_reader_init(&r, f);
    rc = csv_read(&r, msg, sizeof msg); /* the header again */
    while (rc >= 0 && (rc = csv_read(&r, msg, sizeof msg)) == 1) {
        if (!keep_going(op, f, size, ++nrec)) {
            rc = err_set(e, E_BAD_INPUT, "The import was cancelled");
            break;
        }
        if (blank(&r)) continue;
        for (size_t i = 0; i < ncols; i++) {
            const char *v = i < r.nfields ? csv_get(&r, i) : "";
            if (!*v) store_bind_null(ins, (int)i + 1);
            else if (type[i] & T_INT) store_bind_int(ins, (int)i + 1, strtoll(v, NULL, 10));
            else if (type[i] & T_REAL) store_bind_double(ins, (int)i + 1, strtod(v, NULL));
            else store_bind_text(ins, (int)i + 1, v, strlen(v));
        }
        if (store_step(ins) < 0) {
            rc = err_set(e, E_INTERNAL, "importing: %s", store_errmsg(db));
            break;
        }
        store_reset(ins);
        (*rows)++;
    }
    if (rc < 0 && !e->msg[0]) bad(e, "The CSV file is malformed", msg);
    if (rc == 0 && store_exec(db, "COMMIT") < 0) rc = err_set(e, E_INTERNAL, "importing: %s", store_errmsg(db));
out:
    buf_free(&q);
    store_finalize(ins);
    store_close(db);
    if (rc < 0) unlink(db_path);
    for (size_t i = 0; i < ncols; i++) free(names[i]);
    free(names);
    free(type);
    csv_reader_free(&r);
    fclose(f);
    return rc < 0 ? -1 : 0;
}
