/* airsequel/as_dbs: GET /api/dbs (the databases the caller may read) and
 * GET /api/dbs/:dbId — the DB shape of spec §2: the catalog's facts (id,
 * name, readonly id, owner, times, visibility) and the file's (size,
 * schema_version and user_version, tables and views in sqlite_schema
 * order). Settings that nothing can set yet (auditing, environment,
 * location, schemaLocked, viewsTab) are answered with what they are:
 * unset. The files are read on the pool (http_defer), one reader each. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/airsequel/airsequel_internal.h"
#include "core/dbh.h"
#include "core/docs.h"
#include "core/engine.h"
#include "util/json.h"
#include "util/timeutil.h"

#define ENGINE(r) ((engine_t *)(r)->app)

typedef struct {
    catalog_t *catalog;
    db_t **dbs;
    size_t n;
    bool one; /* GET /api/dbs/:dbId: the object alone */
    buf_t body;
    int status;
    char msg[sizeof(((err_t *)0)->msg) + 64];
} djob_t;

typedef struct {
    char *name;
    bool view;
} tname_t;

/* Display order (spec §2 table PATCH "after"): each table whose metadata
 * names another it comes after moves right behind it, taken in the order
 * of the tables' names. */
static void apply_order(catalog_t *c, const db_t *d, tname_t *t, size_t n) {
    doc_t *docs;
    size_t nd = docs_list(c, d, AIRSEQUEL_TABLE_META, &docs);
    for (size_t k = 0; k < nd; k++) {
        json_t *m = json_loads(docs[k].body, 0, NULL);
        const char *after = json_string_value(json_object_get(m, "after"));
        size_t from = n, to = n;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(t[i].name, docs[k].ulid) == 0) from = i;
            if (after && strcmp(t[i].name, after) == 0) to = i;
        }
        if (from < n && to < n && from != to) {
            tname_t moved = t[from];
            if (from < to) {
                memmove(t + from, t + from + 1, (to - from) * sizeof *t); /* `to` slid down by one */
                t[to] = moved;
            } else {
                memmove(t + to + 2, t + to + 1, (from - to - 1) * sizeof *t);
                t[to + 1] = moved;
            }
        }
        json_decref(m);
    }
    docs_free(docs, nd);
}

static void write_db(djob_t *j, jw_t *w, db_t *d) {
    err_t e;
    store_db_t *c = dbh_reader(d, &e);
    int64_t schema_version = 0, user_version = 0;
    buf_t tables = BUF_INIT;
    jw_t tw;
    jw_init(&tw, &tables, 0);
    jw_arr_begin(&tw);
    tname_t *names = NULL;
    size_t nnames = 0, cap = 0;
    if (c) {
        store_stmt_t *st;
        if (store_prepare(c, "SELECT (SELECT schema_version FROM pragma_schema_version),"
                             " (SELECT user_version FROM pragma_user_version)", &st) == 0) {
            if (store_step(st) == STORE_ROW) {
                schema_version = store_col_int(st, 0);
                user_version = store_col_int(st, 1);
            }
            store_finalize(st);
        }
        /* tables and views as GraphQL lists them: not SQLite's, not shadow tables */
        if (store_prepare(c, "SELECT s.name, s.type FROM sqlite_schema s LEFT JOIN pragma_table_list l"
                             " ON l.name = s.name AND l.schema = 'main' WHERE s.type IN ('table', 'view')"
                             " AND s.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND coalesce(l.type, '') != 'shadow'",
                          &st) == 0) {
            while (store_step(st) == STORE_ROW) {
                if (nnames == cap) names = xrealloc(names, (cap = cap ? cap * 2 : 16) * sizeof *names);
                names[nnames].name = xstrdup(store_col_text(st, 0, NULL));
                names[nnames++].view = strcmp(store_col_text(st, 1, NULL), "view") == 0;
            }
            store_finalize(st);
        }
        dbh_reader_put(d, c);
    }
    apply_order(j->catalog, d, names, nnames);
    for (size_t i = 0; i < nnames; i++) {
        jw_obj_begin(&tw);
        jw_key(&tw, "name");
        jw_str(&tw, names[i].name);
        jw_key(&tw, "tableType");
        jw_str(&tw, names[i].view ? "View" : "Table");
        jw_obj_end(&tw);
        free(names[i].name);
    }
    free(names);
    jw_arr_end(&tw);
    struct stat sb;
    int64_t size = d->path && stat(d->path, &sb) == 0 ? (int64_t)sb.st_size : 0;
    char owner[300] = "";
    if (db_owner(d)) auth_principal_name(j->catalog, db_owner(d), owner, sizeof owner);
    char created[32], modified[32];
    time_iso8601(d->created_ms, created);
    time_iso8601(d->modified_ms, modified);
    const char *file = d->path ? strrchr(d->path, '/') : NULL;
    jw_obj_begin(w);
    jw_key(w, "auditing");
    jw_bool(w, false);
    jw_key(w, "createdUtc");
    jw_str(w, created);
    jw_key(w, "description");
    char *desc = catalog_db_description(j->catalog, d);
    if (desc) jw_str(w, desc);
    else jw_null(w);
    free(desc);
    jw_key(w, "environment");
    jw_null(w);
    jw_key(w, "fileFormat");
    jw_str(w, "sqlite");
    jw_key(w, "fileName");
    jw_str(w, file ? file + 1 : d->path ? d->path : "");
    jw_key(w, "id");
    jw_str(w, db_public_id(d));
    jw_key(w, "lastModifiedUtc");
    jw_str(w, modified);
    jw_key(w, "location");
    jw_null(w);
    jw_key(w, "name");
    jw_str(w, d->name);
    jw_key(w, "owner");
    if (owner[0]) jw_str(w, owner);
    else jw_null(w);
    jw_key(w, "readonlyId");
    jw_str(w, db_readonly_id(d));
    jw_key(w, "schemaLocked");
    jw_bool(w, false);
    jw_key(w, "schemaVersion");
    jw_int(w, schema_version);
    jw_key(w, "size");
    jw_int(w, size);
    jw_key(w, "tables");
    jw_raw(w, tables.data, tables.len);
    jw_key(w, "userVersion");
    jw_int(w, user_version);
    jw_key(w, "viewsTab");
    jw_bool(w, false);
    jw_key(w, "visibility");
    jw_str(w, db_public(d) ? "public" : "private");
    jw_obj_end(w);
    buf_free(&tables);
}

static void work(void *data) {
    djob_t *j = data;
    jw_t w;
    jw_init(&w, &j->body, 0);
    if (j->one) {
        write_db(j, &w, j->dbs[0]);
        return;
    }
    jw_obj_begin(&w);
    jw_key(&w, "databases");
    jw_arr_begin(&w);
    for (size_t i = 0; i < j->n; i++) write_db(j, &w, j->dbs[i]);
    jw_arr_end(&w);
    jw_key(&w, "numberOfDatabases");
    jw_int(&w, (int64_t)j->n);
    jw_obj_end(&w);
}

static void done(http_req_t *r, void *data) {
    djob_t *j = data;
    http_respond_buf(r, 200, "application/json; charset=utf-8", &j->body);
    catalog_db_list_free(j->dbs, j->n);
    free(j);
}

static void h_list(http_req_t *r) {
    actor_t a;
    if (!airsequel_authenticate(r, &a)) return;
    if (!a.principal_id) {
        airsequel_error(r, 401, "Authentication required");
        return;
    }
    djob_t *j = xcalloc(1, sizeof *j);
    j->catalog = ENGINE(r)->catalog;
    db_t **all;
    size_t n = catalog_db_list(j->catalog, &all);
    j->dbs = xcalloc(n + 1, sizeof *j->dbs);
    for (size_t i = 0; i < n; i++) {
        /* internal databases never show; the rest if the caller may read them */
        if (all[i]->name[0] != '_' && auth_check(&a, all[i], ACT_READ)) {
            db_retain(all[i]);
            j->dbs[j->n++] = all[i];
        }
    }
    catalog_db_list_free(all, n);
    http_defer(r, work, done, j);
}

static void h_get(http_req_t *r) {
    db_t *d = airsequel_readable_db(r);
    if (!d) return;
    djob_t *j = xcalloc(1, sizeof *j);
    j->catalog = ENGINE(r)->catalog;
    j->one = true;
    j->dbs = xcalloc(1, sizeof *j->dbs);
    j->dbs[0] = d;
    j->n = 1;
    http_defer(r, work, done, j);
}

void airsequel_dbs_register(router_t *rt, const dialect_t *d) {
    router_add(rt, d, M_GET, "/api/dbs", h_list);
    router_add(rt, d, M_GET, "/api/dbs/:db", h_get);
}
