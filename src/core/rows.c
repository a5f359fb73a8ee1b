/* rows: see rows.h. */
#include "core/rows.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/value.h"

int rows_key_names(const tinfo_t *t, const char **names) {
    if (t->rowid || t->npk == 0) {
        names[0] = "rowid";
        return 1;
    }
    int n = t->npk < ROWS_MAX_KEY ? t->npk : ROWS_MAX_KEY;
    for (int k = 0; k < n; k++) names[k] = t->cols[t->pk[k]].name;
    return n;
}

void rref_free(rref_t *r) {
    for (int i = 0; i < r->n; i++) value_free(&r->v[i]);
    free(r->v);
    r->v = NULL;
    r->n = 0;
}

/* An empty reference with room for n values. */
static void rref_make(rref_t *r, int n) {
    r->v = xcalloc((size_t)n, sizeof *r->v);
    r->n = n;
}

bool rref_equal(const rref_t *a, const rref_t *b) {
    if (a->n != b->n) return false;
    for (int i = 0; i < a->n; i++) {
        const store_value_t *x = &a->v[i], *y = &b->v[i];
        if (x->type != y->type) return false;
        if (x->type == SV_INT && x->i != y->i) return false;
        if (x->type == SV_REAL && x->d != y->d) return false;
        if ((x->type == SV_TEXT || x->type == SV_BLOB) && (x->n != y->n || memcmp(x->p, y->p, x->n) != 0))
            return false;
    }
    return true;
}

static int sql_err(store_db_t *c, int rc, err_t *e) { return err_sql(e, rc, store_errmsg(c)); }

/* Prepares sql (through the connection's cache: the same shapes come
 * back); E_SQL on failure. */
static int prepare(store_db_t *c, const buf_t *sql, store_stmt_t **st, err_t *e) {
    bool read = sql->len >= 6 && strncasecmp(sql->data, "select", 6) == 0; /* our own text: its class */
    int rc = sql_prepare_engine(c, sql->data, sql->len, read ? SQL_READ : SQL_WRITE, st);
    return rc < 0 ? sql_err(c, rc, e) : 0;
}

/* Steps a prepared statement to its end and finalizes it. */
static int run(store_db_t *c, store_stmt_t *st, err_t *e) {
    int rc;
    while ((rc = store_step(st)) == STORE_ROW) {
    }
    store_finalize(st);
    return rc < 0 ? sql_err(c, rc, e) : 0;
}

/* "rowid = ?" or "a" = ? AND "b" = ? — a reference's condition. */
static void ref_where(buf_t *sql, const tinfo_t *t) {
    if (t->has_rowid) {
        buf_puts(sql, "rowid = ?");
        return;
    }
    for (int k = 0; k < t->npk; k++) {
        if (k) buf_puts(sql, " AND ");
        sql_quote(sql, t->cols[t->pk[k]].name, '"');
        buf_puts(sql, " = ?");
    }
}

static void ref_bind(store_stmt_t *st, int idx, const rref_t *ref) {
    for (int i = 0; i < ref->n; i++) value_bind(st, idx + i, &ref->v[i]);
}

static const rcell_t *cell(const rcell_t *cells, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(cells[i].name, name) == 0) return &cells[i];
    return NULL;
}

static bool is_key(const char *const *names, int nk, const char *name) {
    for (int k = 0; k < nk; k++)
        if (strcmp(names[k], name) == 0) return true;
    return false;
}

int rows_find(store_db_t *c, const tinfo_t *t, const rcell_t *cells, int n, rref_t *ref, err_t *e) {
    const char *names[ROWS_MAX_KEY];
    int nk = rows_key_names(t, names);
    rref_free(ref);
    buf_t sql = BUF_INIT;
    buf_puts(&sql, t->has_rowid ? "select rowid from " : "select 1 from ");
    sql_quote(&sql, t->name, '"');
    buf_puts(&sql, " where ");
    const rcell_t *key[ROWS_MAX_KEY];
    for (int k = 0; k < nk; k++) {
        if (!(key[k] = cell(cells, n, names[k]))) {
            buf_free(&sql);
            return 0;
        }
        if (k) buf_puts(&sql, " and ");
        sql_quote(&sql, names[k], '"');
        buf_puts(&sql, " = ?");
    }
    store_stmt_t *st;
    int rc = prepare(c, &sql, &st, e);
    buf_free(&sql);
    if (rc < 0) return -1;
    for (int k = 0; k < nk; k++) value_bind(st, k + 1, &key[k]->v);
    int step = store_step(st);
    if (step == STORE_ROW) {
        if (t->has_rowid) {
            rref_make(ref, 1);
            ref->v[0] = (store_value_t){.type = SV_INT, .i = store_col_int(st, 0)};
        } else {
            rref_make(ref, nk);
            for (int k = 0; k < nk; k++) value_copy(&ref->v[k], &key[k]->v);
        }
    }
    store_finalize(st);
    if (step < 0) return sql_err(c, step, e);
    return step == STORE_ROW;
}

int rows_insert(store_db_t *c, const tinfo_t *t, const rcell_t *cells, int n, rows_conflict_t conflict, rref_t *ref,
                err_t *e) {
    rref_free(ref);
    buf_t sql = BUF_INIT;
    buf_puts(&sql, conflict == ROWS_IGNORE    ? "INSERT OR IGNORE INTO "
                   : conflict == ROWS_REPLACE ? "INSERT OR REPLACE INTO "
                                              : "INSERT INTO ");
    sql_quote(&sql, t->name, '"');
    if (n == 0) {
        buf_puts(&sql, " DEFAULT VALUES");
    } else {
        buf_puts(&sql, " (");
        for (int i = 0; i < n; i++) {
            if (i) buf_puts(&sql, ", ");
            sql_quote(&sql, cells[i].name, '"');
        }
        buf_puts(&sql, ") VALUES (");
        for (int i = 0; i < n; i++) buf_puts(&sql, i ? ", ?" : "?");
        buf_puts(&sql, ")");
    }
    store_stmt_t *st;
    int rc = prepare(c, &sql, &st, e);
    buf_free(&sql);
    if (rc < 0) return -1;
    for (int i = 0; i < n; i++) value_bind(st, i + 1, &cells[i].v);
    if (run(c, st, e) < 0) return -1;
    if (store_changes(c) > 0 && t->has_rowid) {
        rref_make(ref, 1);
        ref->v[0] = (store_value_t){.type = SV_INT, .i = store_last_rowid(c)};
        return 0;
    }
    /* WITHOUT ROWID, or ignored: the row with this key */
    return rows_find(c, t, cells, n, ref, e) < 0 ? -1 : 0;
}

int rows_upsert(store_db_t *c, const tinfo_t *t, const rcell_t *cells, int n, rref_t *ref, err_t *e) {
    int found = rows_find(c, t, cells, n, ref, e);
    if (found < 0) return -1;
    if (!found) return rows_insert(c, t, cells, n, ROWS_PLAIN, ref, e);
    const char *names[ROWS_MAX_KEY];
    int nk = rows_key_names(t, names), nset = 0;
    rcell_t *set = xcalloc((size_t)n + 1, sizeof *set);
    for (int i = 0; i < n; i++)
        if (!is_key(names, nk, cells[i].name)) set[nset++] = cells[i];
    int rc = rows_update(c, t, ref, set, nset, e);
    free(set);
    return rc;
}

int rows_update(store_db_t *c, const tinfo_t *t, const rref_t *ref, const rcell_t *cells, int n, err_t *e) {
    if (n == 0) return 0;
    buf_t sql = BUF_INIT;
    buf_puts(&sql, "UPDATE ");
    sql_quote(&sql, t->name, '"');
    buf_puts(&sql, " SET ");
    for (int i = 0; i < n; i++) {
        if (i) buf_puts(&sql, ", ");
        sql_quote(&sql, cells[i].name, '"');
        buf_puts(&sql, " = ?");
    }
    buf_puts(&sql, " WHERE ");
    ref_where(&sql, t);
    store_stmt_t *st;
    int rc = prepare(c, &sql, &st, e);
    buf_free(&sql);
    if (rc < 0) return -1;
    for (int i = 0; i < n; i++) value_bind(st, i + 1, &cells[i].v);
    ref_bind(st, n + 1, ref);
    return run(c, st, e);
}

/* Prepares "<head> "table" WHERE <the reference's condition>" with the
 * reference bound first. */
static int prepare_at(store_db_t *c, const tinfo_t *t, const char *head, const rref_t *ref, store_stmt_t **st,
                      err_t *e) {
    buf_t sql = BUF_INIT;
    buf_puts(&sql, head);
    sql_quote(&sql, t->name, '"');
    buf_puts(&sql, " WHERE ");
    ref_where(&sql, t);
    int rc = prepare(c, &sql, st, e);
    buf_free(&sql);
    if (rc < 0) return -1;
    ref_bind(*st, 1, ref);
    return 0;
}

int rows_delete(store_db_t *c, const tinfo_t *t, const rref_t *ref, err_t *e) {
    store_stmt_t *st;
    if (prepare_at(c, t, "DELETE FROM ", ref, &st, e) < 0) return -1;
    return run(c, st, e);
}

static const char *type_of(const store_value_t *v) {
    switch (v->type) {
    case SV_INT: return "INTEGER";
    case SV_REAL: return "REAL";
    case SV_BLOB: return "BLOB";
    default: return "TEXT";
    }
}

int rows_add_columns(store_db_t *c, const tinfo_t *t, const rcell_t *cells, int n, err_t *e) {
    /* new names in first-seen order, each with its deciding cell */
    const rcell_t **add = xcalloc((size_t)n + 1, sizeof *add);
    int nadd = 0;
    for (int i = 0; i < n; i++) {
        const char *k = cells[i].name;
        if (tinfo_col(t, k) >= 0 || (t->rowid && strcmp(k, "rowid") == 0)) continue;
        int have = -1;
        for (int a = 0; a < nadd && have < 0; a++)
            if (strcmp(add[a]->name, k) == 0) have = a;
        if (have < 0) add[nadd++] = &cells[i];
        else if (add[have]->v.type == SV_NULL && cells[i].v.type != SV_NULL) add[have] = &cells[i];
    }
    char *table = xstrdup(t->name); /* t goes stale once the schema changes */
    int rc = 0;
    for (int a = 0; a < nadd && rc == 0; a++) {
        buf_t sql = BUF_INIT;
        buf_puts(&sql, "ALTER TABLE ");
        sql_quote(&sql, table, '"');
        buf_puts(&sql, " ADD COLUMN ");
        sql_quote(&sql, add[a]->name, '"');
        buf_printf(&sql, " %s", type_of(&add[a]->v));
        int x = store_exec(c, sql.data);
        if (x < 0) rc = sql_err(c, x, e);
        buf_free(&sql);
    }
    free(table);
    free(add);
    return rc;
}

int rows_fetch(store_db_t *c, const tinfo_t *t, const rref_t *ref, bool with_rowid, const sql_sink_t *sink, void *ctx,
               err_t *e) {
    store_stmt_t *st;
    if (prepare_at(c, t, with_rowid ? "select rowid, * from " : "select * from ", ref, &st, e) < 0) return -1;
    int ncols = 0, step;
    bool first = true;
    while ((step = store_step(st)) == STORE_ROW) {
        if (first) {
            /* after the first step: a cached statement a schema change made
             * stale is prepared again inside it, with the new columns */
            ncols = store_col_count(st);
            if (sink->columns) sink->columns(ctx, st, ncols);
        }
        first = false;
        sink->row(ctx, st, ncols);
    }
    store_finalize(st);
    return step < 0 ? sql_err(c, step, e) : 0;
}
