/* datasette_create: POST /<db>/-/create (spec/datasette.md §10): a table
 * from explicit columns, or from rows (their types inferred), optionally
 * filled with those rows, with the spec's checks in its order. Runs as the
 * write job's step, on the writer thread. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/datasette/datasette_write.h"
#include "core/value.h"
#include "util/ids.h"
#include "util/url.h"

/* ---- create ------------------------------------------------------------------ */

/* The SQL type for a column of the rows form: from every non-null value. */
static const char *infer_type(json_t *rows, const char *col) {
    bool in = false, re = false, tx = false, bl = false, other = false;
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) {
        json_t *v = json_object_get(row, col);
        if (!v || json_is_null(v)) continue;
        if (json_is_integer(v) || json_is_boolean(v)) in = true;
        else if (json_is_real(v)) re = true;
        else if (json_is_string(v)) tx = true;
        else if (json_is_object(v) && json_object_get(v, "$base64")) bl = true;
        else other = true;
    }
    if (other) return "TEXT";
    if (bl && !in && !re) return "BLOB";
    if (tx || bl) return "TEXT";
    if (re) return "REAL";
    if (in) return "INTEGER";
    return "TEXT";
}


typedef struct {
    const char *name, *type;
    json_t *def; /* the column object (columns form) or NULL */
} newcol_t;

static int build_create(wjob_t *j, const schema_t *s, const char *table, newcol_t *cols, int n, json_t *pks,
                        buf_t *sql) {
    buf_puts(sql, "CREATE TABLE ");
    sql_quote(sql, table, '"');
    buf_puts(sql, " (\n");
    int npk = pks ? (int)json_array_size(pks) : 0;
    for (int i = 0; i < n; i++) {
        json_t *d = cols[i].def;
        buf_puts(sql, i ? ",\n   " : "   ");
        sql_quote(sql, cols[i].name, '"');
        buf_printf(sql, " %s", cols[i].type);
        if (npk == 1 && strcmp(json_string_value(json_array_get(pks, 0)), cols[i].name) == 0)
            buf_puts(sql, " PRIMARY KEY");
        if (!d) continue;
        if (json_is_true(json_object_get(d, "not_null"))) buf_puts(sql, " NOT NULL");
        json_t *dv = json_object_get(d, "default"), *de = json_object_get(d, "default_expr");
        if (dv && !json_is_null(dv)) {
            buf_puts(sql, " DEFAULT ");
            if (json_is_string(dv)) sql_quote(sql, json_string_value(dv), '\'');
            else if (json_is_integer(dv)) buf_printf(sql, "%lld", (long long)json_integer_value(dv));
            else if (json_is_real(dv)) {
                char t[32];
                buf_append(sql, t, json_format_double(json_real_value(dv), t));
            } else if (json_is_boolean(dv)) buf_puts(sql, json_is_true(dv) ? "1" : "0");
            else return dsw_fail(j, 400, "Invalid default");
        } else if (de && !json_is_null(de)) {
            const char *e = json_string_value(de);
            const char *expr = !e ? NULL
                               : strcmp(e, "current_timestamp") == 0 ? "CURRENT_TIMESTAMP"
                               : strcmp(e, "current_date") == 0      ? "CURRENT_DATE"
                               : strcmp(e, "current_time") == 0      ? "CURRENT_TIME"
                               : strcmp(e, "current_unixtime") == 0  ? "(unixepoch())"
                               : strcmp(e, "current_unixtime_ms") == 0
                                   ? "(CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))"
                                   : NULL;
            if (!expr) return dsw_failf(j, 400, "Invalid default_expr: %s", e ? e : "");
            buf_printf(sql, " DEFAULT %s", expr);
        }
        json_t *ft = json_object_get(d, "fk_table");
        if (json_is_string(ft)) {
            const char *fc = json_string_value(json_object_get(d, "fk_column"));
            const tinfo_t *o = schema_find(s, json_string_value(ft));
            if (!fc && o && o->npk) fc = o->cols[o->pk[0]].name;
            buf_puts(sql, " REFERENCES ");
            sql_quote(sql, json_string_value(ft), '"');
            if (fc) {
                buf_putc(sql, '(');
                sql_quote(sql, fc, '"');
                buf_putc(sql, ')');
            }
        }
    }
    if (npk > 1) {
        buf_puts(sql, ",\n   PRIMARY KEY (");
        for (int k = 0; k < npk; k++) {
            if (k) buf_puts(sql, ", ");
            sql_quote(sql, json_string_value(json_array_get(pks, k)), '"');
        }
        buf_puts(sql, ")");
    }
    buf_puts(sql, "\n)");
    return 0;
}

int dsw_create(wjob_t *j, store_db_t *c, const schema_t *s) {
    const schema_t *s2 = NULL; /* the schema with the table */
    if (!j->can_schema) return dsw_fail(j, 403, "Permission denied");
    json_t *b = j->body;
    if (!b) return dsw_fail(j, 400, j->json_err);
    if (!json_is_object(b)) return dsw_fail(j, 400, "JSON must be an object");
    static const char *allowed[] = {"table", "columns", "rows", "row", "pk", "pks", "ignore", "replace", "alter", NULL};
    buf_t bad = BUF_INIT;
    int nbad = 0;
    const char *k;
    json_t *v;
    json_object_foreach(b, k, v) {
        bool ok = false;
        for (int i = 0; allowed[i] && !ok; i++) ok = strcmp(allowed[i], k) == 0;
        if (!ok) buf_printf(&bad, "%s%s", nbad++ ? ", " : "", k);
    }
    if (nbad) {
        dsw_failf(j, 400, "Invalid keys: %s", bad.data);
        buf_free(&bad);
        return -1;
    }
    json_t *jt = json_object_get(b, "table");
    if (!jt) return dsw_fail(j, 400, "Table is required");
    const char *table = json_string_value(jt);
    if (!table || !*table || strchr(table, '\n') || strncmp(table, "sqlite_", 7) == 0)
        return dsw_fail(j, 400, "Invalid table name");
    json_t *columns = json_object_get(b, "columns"), *rows = json_object_get(b, "rows"), *row = json_object_get(b, "row");
    json_t *pk = json_object_get(b, "pk"), *pks = json_object_get(b, "pks");
    bool ignore = json_is_true(json_object_get(b, "ignore")), replace = json_is_true(json_object_get(b, "replace"));
    bool alter = json_is_true(json_object_get(b, "alter"));
    if (!columns && !rows && !row) return dsw_fail(j, 400, "columns, rows or row is required");
    if (rows && row) return dsw_fail(j, 400, "Cannot specify both rows and row");
    if (columns && (rows || row)) return dsw_fail(j, 400, "Cannot specify columns with rows or row");
    if (columns && !json_is_array(columns)) return dsw_fail(j, 400, "columns must be a list");
    if (rows && !json_is_array(rows)) return dsw_fail(j, 400, "rows must be a list");
    if (row && !json_is_object(row)) return dsw_fail(j, 400, "row must be a dictionary");
    size_t i;
    json_t *x;
    if (rows) json_array_foreach(rows, i, x) if (!json_is_object(x)) return dsw_fail(j, 400, "rows must be a list of dictionaries");
    if (columns) {
        json_array_foreach(columns, i, x) {
            const char *n = json_string_value(json_object_get(x, "name"));
            for (size_t y = 0; n && y < i; y++)
                if (strcmp(json_string_value(json_object_get(json_array_get(columns, y), "name")) ?: "", n) == 0)
                    return dsw_failf(j, 400, "Duplicate column name: %s", n);
        }
    }
    if (pk && pks) return dsw_fail(j, 400, "Cannot specify both pk and pks");
    if (ignore && replace) return dsw_fail(j, 400, "ignore and replace are mutually exclusive");
    if ((ignore || replace) && !rows && !row) return dsw_fail(j, 400, "ignore and replace require row or rows");
    if ((ignore || replace) && !pk && !pks) return dsw_fail(j, 400, "ignore and replace require pk or pks");
    if (pk && !json_is_string(pk)) return dsw_fail(j, 400, "pk must be a string");
    if (pks) {
        if (!json_is_array(pks) || json_array_size(pks) == 0) return dsw_fail(j, 400, "pks must be a list of strings");
        if (json_array_size(pks) > ROWS_MAX_KEY) return dsw_fail(j, 400, "Too many primary key columns");
        json_array_foreach(pks, i, x) if (!json_is_string(x)) return dsw_fail(j, 400, "pks must be a list of strings");
    }
    if (columns) {
        json_array_foreach(columns, i, x) {
            if (!json_is_object(x) || !json_is_string(json_object_get(x, "name")) ||
                !*json_string_value(json_object_get(x, "name")))
                return dsw_fail(j, 400, "Column name is required");
            json_t *ty = json_object_get(x, "type");
            const char *t = ty ? json_string_value(ty) : "text";
            if (!t || (strcmp(t, "text") && strcmp(t, "integer") && strcmp(t, "float") && strcmp(t, "blob"))) {
                buf_t m = BUF_INIT;
                if (t) buf_puts(&m, t);
                else dsw_py_dumps(&m, ty);
                dsw_failf(j, 400, "Unsupported column type: %s", m.data);
                buf_free(&m);
                return -1;
            }
        }
    }
    json_t *allrows = NULL;
    if (rows || row) {
        if (!j->can_write) return dsw_fail(j, 403, "Permission denied: need insert-row");
        if (replace && !j->can_write) return dsw_fail(j, 403, "Permission denied: need update-row");
        if (row) {
            allrows = json_array();
            json_array_append(allrows, row);
        } else {
            allrows = json_incref(rows);
        }
        if ((int)json_array_size(allrows) > j->max_rows) {
            json_decref(allrows);
            char m[80];
            snprintf(m, sizeof m, "Too many rows, maximum allowed is %d", j->max_rows);
            return dsw_fail(j, 400, m);
        }
    }
    /* the key, as a list */
    json_t *keys = pks ? json_incref(pks) : pk ? json_pack("[O]", pk) : NULL;
    const tinfo_t *existing = schema_find(s, table);
    int rc = 0;
    buf_t sql = BUF_INIT;
    newcol_t *cols = NULL;
    int ncols = 0;
    char e[256];
    if (existing && columns) {
        buf_t m = BUF_INIT;
        buf_printf(&m, "table \"%s\" already exists", table);
        rc = dsw_fail(j, 400, m.data);
        buf_free(&m);
        goto out;
    }
    if (existing) {
        if (existing->is_view) {
            rc = dsw_fail(j, 400, "Cannot insert into a view");
            goto out;
        }
        if (existing->npk > ROWS_MAX_KEY) {
            rc = dsw_fail(j, 400, "Too many primary key columns");
            goto out;
        }
        if (alter && !j->can_schema) {
            rc = dsw_fail(j, 403, "Permission denied: need alter-table");
            goto out;
        }
        if (keys) {
            bool same = (int)json_array_size(keys) == existing->npk;
            for (int q = 0; same && q < existing->npk; q++)
                same = strcmp(json_string_value(json_array_get(keys, (size_t)q)), existing->cols[existing->pk[q]].name) == 0;
            if (!same) {
                rc = dsw_fail(j, 400, "pk cannot be changed for existing table");
                goto out;
            }
        }
        if (alter && (rc = dsw_add_missing_columns_json(j, c, existing, allrows)) < 0) goto out;
    } else {
        /* room for every key, every listed column and every key a row uses */
        size_t room = json_array_size(keys) + (columns ? json_array_size(columns) : 0);
        json_t *r;
        json_array_foreach(allrows, i, r) room += json_object_size(r);
        cols = xcalloc(room + 1, sizeof *cols);
        if (columns) {
            /* a key column that is not listed leads as INTEGER PRIMARY KEY */
            for (size_t q = 0; keys && q < json_array_size(keys); q++) {
                const char *kn = json_string_value(json_array_get(keys, q));
                bool listed = false;
                json_array_foreach(columns, i, x) listed = listed || strcmp(json_string_value(json_object_get(x, "name")), kn) == 0;
                if (!listed) cols[ncols++] = (newcol_t){kn, "INTEGER", NULL};
            }
            json_array_foreach(columns, i, x) {
                const char *t = json_string_value(json_object_get(x, "type"));
                const char *st = !t || strcmp(t, "text") == 0 ? "TEXT"
                                 : strcmp(t, "integer") == 0  ? "INTEGER"
                                 : strcmp(t, "float") == 0    ? "REAL"
                                                              : "BLOB";
                cols[ncols++] = (newcol_t){json_string_value(json_object_get(x, "name")), st, x};
            }
        } else {
            for (size_t q = 0; keys && q < json_array_size(keys); q++) {
                const char *kn = json_string_value(json_array_get(keys, q));
                bool seen = false;
                json_array_foreach(allrows, i, r) seen = seen || json_object_get(r, kn);
                if (!seen) cols[ncols++] = (newcol_t){kn, "INTEGER", NULL};
            }
            json_array_foreach(allrows, i, r) {
                const char *kk;
                json_t *vv;
                json_object_foreach(r, kk, vv) {
                    bool have = false;
                    for (int q = 0; q < ncols && !have; q++) have = strcmp(cols[q].name, kk) == 0;
                    if (have) continue;
                    cols[ncols++] = (newcol_t){kk, infer_type(allrows, kk), NULL};
                }
            }
        }
        if ((rc = build_create(j, s, table, cols, ncols, keys, &sql)) < 0) goto out;
        if ((rc = dsw_exec_sql(j, c, sql.data)) < 0) goto out;
    }
    s2 = schema_acquire(j->db, c, e, sizeof e);
    const tinfo_t *t = s2 ? schema_find(s2, table) : NULL;
    if (!t) {
        rc = dsw_fail(j, 400, s2 ? "Table not found" : e);
        goto out;
    }
    if (allrows) {
        size_t q;
        json_t *r;
        json_array_foreach(allrows, q, r) {
            jrow_t cells = {0};
            rref_t ref = {0};
            err_t re = {0};
            rc = dsw_jrow_from(j, r, &cells);
            if (rc == 0 && rows_insert(c, t, cells.cells, cells.n, dsw_conflict_of(ignore, replace), &ref, &re) < 0)
                rc = dsw_rows_fail(j, &re);
            rref_free(&ref);
            dsw_jrow_free(&cells);
            if (rc < 0) goto out;
        }
    }
    j->status = 201;
    jw_t w;
    ds_begin_ok(&w, &j->out);
    jw_key(&w, "database");
    jw_str(&w, j->db->name);
    jw_key(&w, "table");
    jw_str(&w, table);
    buf_t u = BUF_INIT;
    buf_printf(&u, "http://%s/", j->host);
    tilde_encode(&u, j->db->name, strlen(j->db->name));
    buf_putc(&u, '/');
    tilde_encode(&u, table, strlen(table));
    jw_key(&w, "table_url");
    jw_str(&w, u.data);
    buf_puts(&u, ".json");
    jw_key(&w, "table_api_url");
    jw_str(&w, u.data);
    buf_free(&u);
    jw_key(&w, "schema");
    jw_str(&w, t->sql ? t->sql : "");
    if (allrows) {
        jw_key(&w, "row_count");
        jw_int(&w, (int64_t)json_array_size(allrows));
    }
    jw_obj_end(&w);
out:
    schema_release(s2);
    free(cols);
    buf_free(&sql);
    json_decref(keys);
    json_decref(allrows);
    return rc;
}

