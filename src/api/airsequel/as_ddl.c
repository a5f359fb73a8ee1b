/* airsequel/as_ddl: shaping tables and columns over REST (spec §2), right S:
 *   PUT    D/tables/:t                 create ({columns?: [{name, sqliteDataType, isNonNull,
 *                                      isPrimaryKey, isUnique, default}]}; none: "name" TEXT) → Table
 *   DELETE D/tables/:t                 drop the table or view → {}
 *   PATCH  D/tables/:t                 {name?, description?, after?}: rename the table; a
 *                                      description and display order kept as metadata → {}
 *   PUT    D/tables/:t/columns/:c      ADD COLUMN ({sqliteDataType = TEXT, isNonNull, default,
 *                                      isUnique}) → Column
 *   PATCH  D/tables/:t/columns/:c      {name}: RENAME COLUMN → {}
 *   DELETE D/tables/:t/columns/:c      DROP COLUMN → {}
 * Each is one write job (so a UNIQUE index made after ADD COLUMN lands
 * with it or not at all); SQLite's refusals are 400 with its text.
 * Names are quoted identifiers; a declared type must look like one (words,
 * optionally "(n)" or "(n, m)"), and a default is written as an SQL
 * literal from its JSON value, so nothing from the body is pasted as SQL.
 * Handlers on the loop; the runs on the writer. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/airsequel/airsequel_internal.h"
#include "core/docs.h"
#include "core/engine.h"
#include "core/sql.h"

typedef enum { DDL_CREATE, DDL_DROP, DDL_ADD, DDL_RENAME, DDL_DROP_COLUMN, DDL_PATCH } dkind_t;

typedef struct {
    api_write_t w; /* first */
    db_t *db;
    dkind_t kind;
    char *table, *column;
    buf_t sql[2]; /* the statements: the DDL, then maybe a UNIQUE index */
    int nsql;
    api_out_t out; /* rows: the answer */
    /* DDL_PATCH: the new name, and the metadata to set */
    char *new_name, *desc, *after;
    bool set_desc, set_after;
    catalog_t *catalog;
    int status;
    char msg[sizeof(((err_t *)0)->msg) + 64];
} djob_t;

static void djob_free(djob_t *j) {
    api_out_reset(&j->out);
    changeset_free(&j->w.job.changes);
    for (int i = 0; i < 2; i++) buf_free(&j->sql[i]);
    free(j->table);
    free(j->column);
    free(j->new_name);
    free(j->desc);
    free(j->after);
    db_release(j->db);
    free(j);
}

/* A declared type as SQLite reads one: words, then optionally (n) or (n, m). */
static bool type_ok(const char *t) {
    const char *p = t;
    if (!isalpha((unsigned char)*p)) return false;
    while (isalnum((unsigned char)*p) || *p == '_' || *p == ' ') p++;
    if (*p == '(') {
        p++;
        for (int k = 0; k < 2; k++) {
            while (*p == ' ') p++;
            if (*p == '+' || *p == '-') p++;
            if (!isdigit((unsigned char)*p)) return false;
            while (isdigit((unsigned char)*p)) p++;
            while (*p == ' ') p++;
            if (*p != ',') break;
            p++;
        }
        if (*p++ != ')') return false;
    }
    return *p == 0 && strlen(t) < 100;
}

/* A JSON value as an SQL literal; false if it has no literal form. */
static bool literal(buf_t *b, const json_t *v) {
    char tmp[32];
    switch (json_typeof(v)) {
    case JSON_NULL: buf_puts(b, "NULL"); return true;
    case JSON_TRUE: buf_puts(b, "1"); return true;
    case JSON_FALSE: buf_puts(b, "0"); return true;
    case JSON_INTEGER: buf_printf(b, "%lld", (long long)json_integer_value(v)); return true;
    case JSON_REAL:
        if (!isfinite(json_real_value(v))) return false;
        buf_append(b, tmp, json_format_double(json_real_value(v), tmp));
        return true;
    case JSON_STRING: sql_quote(b, json_string_value(v), '\''); return true;
    default: return false;
    }
}

/* One column's definition (name type [PRIMARY KEY] [NOT NULL] [UNIQUE]
 * [DEFAULT x]); msg on a bad body. */
static bool column_def(buf_t *b, const char *name, const json_t *spec, bool inline_unique, bool allow_pk, char *msg,
                       size_t msgn) {
    const json_t *type = json_object_get(spec, "sqliteDataType");
    const char *t = json_is_string(type) ? json_string_value(type) : "TEXT";
    if (type && !json_is_null(type) && !json_is_string(type)) {
        snprintf(msg, msgn, "Invalid request body: \"sqliteDataType\" must be a string");
        return false;
    }
    if (!type_ok(t)) {
        snprintf(msg, msgn, "Invalid SQLite data type \"%.100s\"", t);
        return false;
    }
    sql_ident(b, name);
    buf_printf(b, " %s", t);
    if (allow_pk && json_is_true(json_object_get(spec, "isPrimaryKey"))) buf_puts(b, " PRIMARY KEY");
    if (json_is_true(json_object_get(spec, "isNonNull"))) buf_puts(b, " NOT NULL");
    if (inline_unique && json_is_true(json_object_get(spec, "isUnique"))) buf_puts(b, " UNIQUE");
    const json_t *d = json_object_get(spec, "default");
    if (d && !json_is_null(d)) {
        buf_puts(b, " DEFAULT ");
        if (!literal(b, d)) {
            snprintf(msg, msgn, "Invalid default value for column \"%.100s\"", name);
            return false;
        }
    }
    return true;
}

static void run_sql(djob_t *j, store_db_t *c, const buf_t *q, err_t *e, int *rc) {
    if (*rc < 0) return;
    sql_opts_t o = {.max_class = SQL_SCHEMA, .single_statement = true, .max_rows = 0};
    sql_result_t res;
    *rc = sql_run(c, q->data, q->len, &o, NULL, j, &res, e);
}

/* "table", "view" or "" for what the name is now (on the writer). */
static void object_type(store_db_t *c, const char *name, char out[8]) {
    store_stmt_t *st;
    out[0] = 0;
    if (store_prepare(c, "SELECT type FROM sqlite_schema WHERE type IN ('table', 'view') AND name = ?", &st) < 0) return;
    store_bind_text(st, 1, name, strlen(name));
    if (store_step(st) == STORE_ROW) snprintf(out, 8, "%s", store_col_text(st, 0, NULL));
    store_finalize(st);
}

static int refuse(djob_t *j, err_t *e, int status, const char *fmt, const char *arg) {
    j->status = status;
    snprintf(j->msg, sizeof j->msg, fmt, arg);
    memset(e, 0, sizeof *e); /* nothing ran: roll the (empty) job back quietly */
    return -1;
}

static int write_run(store_db_t *c, void *arg, err_t *e) {
    djob_t *j = arg;
    buf_reset(&j->out.rows);
    int rc = 0;
    char type[8];
    object_type(c, j->table, type);
    if (j->kind == DDL_CREATE && type[0]) return refuse(j, e, 409, "Table \"%s\" already exists", j->table);
    if (j->kind != DDL_CREATE && strcmp(type, "table") != 0 && !((j->kind == DDL_DROP || j->kind == DDL_PATCH) && type[0]))
        return refuse(j, e, 404, "Table \"%s\" not found", j->table);
    if (j->kind == DDL_PATCH) {
        if (j->new_name && strcmp(type, "table") != 0) return refuse(j, e, 400, "Only a table can be renamed, not \"%s\"", j->table);
        char other[8];
        if (j->new_name) object_type(c, j->new_name, other);
        if (j->new_name && other[0]) return refuse(j, e, 409, "Table \"%s\" already exists", j->new_name);
        if (j->after) object_type(c, j->after, other);
        if (j->after && !other[0]) return refuse(j, e, 400, "Table \"%s\" not found", j->after);
    }
    if (j->kind == DDL_DROP && strcmp(type, "view") == 0) {
        buf_reset(&j->sql[0]);
        buf_puts(&j->sql[0], "DROP VIEW ");
        sql_ident(&j->sql[0], j->table);
    }
    for (int i = 0; i < j->nsql; i++) run_sql(j, c, &j->sql[i], e, &rc);
    if (rc < 0) {
        j->status = e->kind == E_INTERNAL ? 500 : 400;
        snprintf(j->msg, sizeof j->msg, "%s", e->msg);
        j->out.rc = -1;
        j->out.err = *e;
        return -1;
    }
    if (j->kind != DDL_CREATE && j->kind != DDL_ADD) {
        buf_puts(&j->out.rows, "{}");
        return 0;
    }
    /* the answer describes what the job made, as the writer sees it */
    char err[256];
    const schema_t *s = schema_load(c, err, sizeof err);
    const tinfo_t *t = s ? schema_find(s, j->table) : NULL;
    jw_t w;
    jw_init(&w, &j->out.rows, 0);
    if (t && j->kind == DDL_ADD) {
        int i = tinfo_col(t, j->column);
        if (i >= 0) airsequel_write_column(&w, t, &t->cols[i]);
    } else if (t) {
        airsequel_write_table(&w, t, 0, false, NULL, NULL);
    }
    if (s) schema_release(s);
    return 0;
}

/* After a rename, a drop or a PATCH: the table's metadata follows (pool). */
static void meta_work(void *data) {
    djob_t *j = data;
    err_t e;
    if (j->kind == DDL_DROP) {
        docs_set(j->catalog, j->db, AIRSEQUEL_TABLE_META, j->table, NULL, &e);
        return;
    }
    const char *key = j->new_name ? j->new_name : j->table;
    if (j->new_name) docs_move(j->catalog, j->db, AIRSEQUEL_TABLE_META, j->table, key, &e);
    if (!j->set_desc && !j->set_after) return;
    char *desc, *after;
    airsequel_table_meta(j->catalog, j->db, key, &desc, &after);
    json_t *m = json_object();
    const char *d = j->set_desc ? j->desc : desc, *a = j->set_after ? j->after : after;
    if (d) json_object_set_new(m, "description", json_string(d));
    if (a) json_object_set_new(m, "after", json_string(a));
    char *text = json_object_size(m) ? json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (docs_set(j->catalog, j->db, AIRSEQUEL_TABLE_META, key, text, &e) < 0) {
        j->status = 500;
        snprintf(j->msg, sizeof j->msg, "%s", e.msg);
    }
    free(text);
    json_decref(m);
    free(desc);
    free(after);
}

static void answer(http_req_t *r, void *data) {
    djob_t *j = data;
    if (j->status && j->status != 200) airsequel_error(r, j->status, j->msg);
    else http_respond_buf(r, 200, "application/json; charset=utf-8", &j->out.rows);
    djob_free(j);
}

static void posted(http_req_t *r, void *data) {
    djob_t *j = data;
    bool ok = !(j->status && j->status != 200) && j->out.rc == 0 && !j->w.commit_failed;
    if (ok && (j->kind == DDL_PATCH || j->kind == DDL_DROP)) {
        j->catalog = ((engine_t *)r->app)->catalog;
        http_defer(r, meta_work, answer, j);
        return;
    }
    if (j->status && j->status != 200) airsequel_error(r, j->status, j->msg);
    else if (j->out.rc < 0 || j->w.commit_failed) airsequel_error(r, 500, j->out.err.msg[0] ? j->out.err.msg : "The change could not be committed");
    else http_respond_buf(r, 200, "application/json; charset=utf-8", &j->out.rows);
    djob_free(j);
}

/* ---- handlers ----------------------------------------------------------------------------- */

static djob_t *begin(http_req_t *r, dkind_t kind, bool column) {
    actor_t a;
    if (!airsequel_authenticate(r, &a)) return NULL;
    db_t *d = airsequel_resolve_db(r, &a, 0, DB_BY_NAME | DB_BY_ID | DB_BY_IDENTITY, false);
    if (!d) return NULL;
    if (!auth_check(&a, d, ACT_SCHEMA)) {
        airsequel_error(r, 403, airsequel_refusal(d, ACT_SCHEMA));
        db_release(d);
        return NULL;
    }
    djob_t *j = xcalloc(1, sizeof *j);
    j->db = d;
    j->kind = kind;
    buf_t t = BUF_INIT, c = BUF_INIT;
    bool ok = api_capture(r, 1, &t) == 0 && t.len && (!column || (api_capture(r, 2, &c) == 0 && c.len));
    if (!ok) {
        airsequel_error(r, 400, "Invalid table or column name");
        buf_free(&t);
        buf_free(&c);
        djob_free(j);
        return NULL;
    }
    j->table = buf_detach(&t);
    if (column) j->column = buf_detach(&c);
    buf_free(&c);
    return j;
}

static void submit(http_req_t *r, djob_t *j) {
    err_t e;
    if (api_write(r, j->db, &j->w, write_run, &j->out, posted, j, &e) < 0) {
        airsequel_error(r, 500, e.msg);
        djob_free(j);
    }
}

/* The body is done with: a 400 if it was refused (msg), else the job goes. */
static void finish(http_req_t *r, djob_t *j, json_t *body, const char *msg) {
    json_decref(body);
    if (msg[0]) {
        airsequel_error(r, 400, msg);
        djob_free(j);
        return;
    }
    submit(r, j);
}

static json_t *body_object(http_req_t *r, bool optional) {
    if (optional && !r->body.len) return json_object();
    char err[200];
    json_t *b = api_json_object(r, err, sizeof err);
    if (!b) {
        char m[260];
        snprintf(m, sizeof m, "Invalid request body: %s", err);
        airsequel_error(r, 400, m);
    }
    return b;
}

static void h_create_table(http_req_t *r) {
    djob_t *j = begin(r, DDL_CREATE, false);
    if (!j) return;
    json_t *body = body_object(r, true);
    if (!body) {
        djob_free(j);
        return;
    }
    const json_t *cols = json_object_get(body, "columns");
    char msg[300] = "";
    buf_t *q = &j->sql[j->nsql++];
    buf_puts(q, "CREATE TABLE ");
    sql_ident(q, j->table);
    buf_puts(q, " (");
    size_t n = json_is_array(cols) ? json_array_size(cols) : 0;
    if (cols && !json_is_null(cols) && !json_is_array(cols)) snprintf(msg, sizeof msg, "Invalid request body: \"columns\" must be an array");
    if (!n && !msg[0]) buf_puts(q, "\"name\" TEXT");
    int npk = 0;
    for (size_t i = 0; i < n && !msg[0]; i++)
        npk += json_is_true(json_object_get(json_array_get(cols, i), "isPrimaryKey"));
    for (size_t i = 0; i < n && !msg[0]; i++) {
        const json_t *c = json_array_get(cols, i);
        const json_t *name = json_object_get(c, "name");
        if (!json_is_object(c) || !json_is_string(name) || !json_string_length(name)) {
            snprintf(msg, sizeof msg, "Invalid request body: every column needs a \"name\"");
            break;
        }
        if (i) buf_puts(q, ", ");
        column_def(q, json_string_value(name), c, true, npk == 1, msg, sizeof msg);
    }
    if (npk > 1 && !msg[0]) {
        buf_puts(q, ", PRIMARY KEY (");
        for (size_t i = 0, k = 0; i < n; i++) {
            const json_t *c = json_array_get(cols, i);
            if (!json_is_true(json_object_get(c, "isPrimaryKey"))) continue;
            if (k++) buf_puts(q, ", ");
            sql_ident(q, json_string_value(json_object_get(c, "name")));
        }
        buf_putc(q, ')');
    }
    buf_putc(q, ')');
    finish(r, j, body, msg);
}

static void h_drop_table(http_req_t *r) {
    djob_t *j = begin(r, DDL_DROP, false);
    if (!j) return;
    /* DROP VIEW instead when the writer finds a view by that name */
    buf_t *q = &j->sql[j->nsql++];
    buf_puts(q, "DROP TABLE ");
    sql_ident(q, j->table);
    submit(r, j);
}

static void h_add_column(http_req_t *r) {
    djob_t *j = begin(r, DDL_ADD, true);
    if (!j) return;
    json_t *body = body_object(r, true);
    if (!body) {
        djob_free(j);
        return;
    }
    char msg[300] = "";
    buf_t *q = &j->sql[j->nsql++];
    buf_puts(q, "ALTER TABLE ");
    sql_ident(q, j->table);
    buf_puts(q, " ADD COLUMN ");
    column_def(q, j->column, body, false, false, msg, sizeof msg);
    if (json_is_true(json_object_get(body, "isUnique"))) {
        /* ADD COLUMN cannot declare UNIQUE: an index does, in the same job */
        buf_t *ix = &j->sql[j->nsql++];
        buf_t name = BUF_INIT;
        buf_printf(&name, "%s_%s_unique", j->table, j->column);
        buf_puts(ix, "CREATE UNIQUE INDEX ");
        sql_ident(ix, name.data);
        buf_puts(ix, " ON ");
        sql_ident(ix, j->table);
        buf_putc(ix, '(');
        sql_ident(ix, j->column);
        buf_putc(ix, ')');
        buf_free(&name);
    }
    finish(r, j, body, msg);
}

static void h_rename_column(http_req_t *r) {
    djob_t *j = begin(r, DDL_RENAME, true);
    if (!j) return;
    json_t *body = body_object(r, false);
    if (!body) {
        djob_free(j);
        return;
    }
    const json_t *name = json_object_get(body, "name");
    if (!json_is_string(name) || !json_string_length(name)) {
        json_decref(body);
        airsequel_error(r, 400, "Invalid request body: \"name\" must be a string");
        djob_free(j);
        return;
    }
    buf_t *q = &j->sql[j->nsql++];
    buf_puts(q, "ALTER TABLE ");
    sql_ident(q, j->table);
    buf_puts(q, " RENAME COLUMN ");
    sql_ident(q, j->column);
    buf_puts(q, " TO ");
    sql_ident(q, json_string_value(name));
    json_decref(body);
    submit(r, j);
}

static void h_drop_column(http_req_t *r) {
    djob_t *j = begin(r, DDL_DROP_COLUMN, true);
    if (!j) return;
    buf_t *q = &j->sql[j->nsql++];
    buf_puts(q, "ALTER TABLE ");
    sql_ident(q, j->table);
    buf_puts(q, " DROP COLUMN ");
    sql_ident(q, j->column);
    submit(r, j);
}

static void h_patch_table(http_req_t *r) {
    djob_t *j = begin(r, DDL_PATCH, false);
    if (!j) return;
    json_t *body = body_object(r, false);
    if (!body) {
        djob_free(j);
        return;
    }
    const char *name, *desc;
    int kn = airsequel_patch_string(json_object_get(body, "name"), &name);
    int kd = airsequel_patch_string(json_object_get(body, "description"), &desc);
    const json_t *after = json_object_get(body, "after");
    char msg[300] = "";
    if (kn == PATCH_BAD || kn == PATCH_NULL || (name && !*name)) snprintf(msg, sizeof msg, "Invalid request body: \"name\" must be a string");
    else if (kd == PATCH_BAD) snprintf(msg, sizeof msg, "Invalid request body: \"description\" must be a string or null");
    else if (after && !json_is_null(after) && !json_is_string(after))
        snprintf(msg, sizeof msg, "Invalid request body: \"after\" must be a table's name or null");
    else if (desc && strlen(desc) > 4096) snprintf(msg, sizeof msg, "The description is too long");
    if (!msg[0]) {
        if (name && strcmp(name, j->table) != 0) {
            j->new_name = xstrdup(name);
            buf_t *q = &j->sql[j->nsql++];
            buf_puts(q, "ALTER TABLE ");
            sql_ident(q, j->table);
            buf_puts(q, " RENAME TO ");
            sql_ident(q, name);
        }
        j->set_desc = kd != PATCH_ABSENT;
        j->desc = desc ? xstrdup(desc) : NULL;
        j->set_after = after != NULL;
        j->after = json_is_string(after) ? xstrdup(json_string_value(after)) : NULL;
    }
    finish(r, j, body, msg);
}

void airsequel_ddl_register(router_t *rt, const dialect_t *d) {
    router_add(rt, d, M_PATCH, "/api/dbs/:db/tables/:table", h_patch_table);
    router_add(rt, d, M_PUT, "/api/dbs/:db/tables/:table", h_create_table);
    router_add(rt, d, M_DELETE, "/api/dbs/:db/tables/:table", h_drop_table);
    router_add(rt, d, M_PUT, "/api/dbs/:db/tables/:table/columns/:column", h_add_column);
    router_add(rt, d, M_PATCH, "/api/dbs/:db/tables/:table/columns/:column", h_rename_column);
    router_add(rt, d, M_DELETE, "/api/dbs/:db/tables/:table/columns/:column", h_drop_column);
}
