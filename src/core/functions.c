/* functions: Lua functions in system.db (see functions.h). */
#include "core/functions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/thread.h"
#include "util/timeutil.h"

void fn_free(fn_t *f) {
    free(f->description);
    free(f->versions);
    free(f->content);
    free(f->diagnostics);
    memset(f, 0, sizeof *f);
}

static void bind_text(store_stmt_t *st, int i, const char *s) {
    if (s) store_bind_text(st, i, s, strlen(s));
    else store_bind_null(st, i);
}

/* Inserts a version (lock held). */
static int add_version(store_db_t *s, const char *fn_id, const char *content, const char *diagnostics,
                       char version[ULID_LEN + 1]) {
    store_stmt_t *st;
    ulid_new(version);
    if (store_cached(s, "INSERT INTO function_versions(id, function_id, content, diagnostics, created_ms)"
                        " VALUES (?, ?, ?, ?, ?)", &st) < 0)
        return -1;
    bind_text(st, 1, version);
    bind_text(st, 2, fn_id);
    bind_text(st, 3, content);
    bind_text(st, 4, diagnostics);
    store_bind_int(st, 5, time_now_ms());
    int rc = store_step(st) < 0 ? -1 : 0;
    store_reset(st);
    return rc;
}

static int check_name(const char *name, const char *description, err_t *e) {
    if (name && (!*name || strlen(name) > FN_NAME_MAX))
        return err_set(e, E_BAD_INPUT, "A function's name holds 1 to %d bytes", FN_NAME_MAX);
    if (description && strlen(description) > FN_DESC_MAX)
        return err_set(e, E_BAD_INPUT, "A function's description holds at most %d bytes", FN_DESC_MAX);
    return 0;
}

int fn_create(catalog_t *c, const db_t *d, const char *name, const char *description, const char *content,
              const char *diagnostics, fn_t *out, err_t *e) {
    ASSERT_OFF_LOOP();
    if (check_name(name, description, e) < 0) return -1;
    char id[ULID_LEN + 1], version[ULID_LEN + 1];
    ulid_new(id);
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    store_exec(s, "SAVEPOINT fn_create");
    int rc = store_cached(s, "INSERT INTO functions(id, db_id, name, description, created_ms) VALUES (?, ?, ?, ?, ?)", &st);
    if (rc == 0) {
        bind_text(st, 1, id);
        bind_text(st, 2, d->id);
        bind_text(st, 3, name);
        bind_text(st, 4, description);
        store_bind_int(st, 5, time_now_ms());
        rc = store_step(st) < 0 ? -1 : 0;
        store_reset(st);
    }
    if (rc == 0) rc = add_version(s, id, content, diagnostics, version);
    if (rc < 0) err_set(e, E_INTERNAL, "storing the function: %s", store_errmsg(s));
    store_exec(s, rc < 0 ? "ROLLBACK TO fn_create; RELEASE fn_create" : "RELEASE fn_create");
    catalog_unlock(c);
    if (rc < 0) return -1;
    return fn_get(c, d, id, NULL, out, e);
}

int fn_get(catalog_t *c, const db_t *d, const char *id, const char *version, fn_t *out, err_t *e) {
    ASSERT_OFF_LOOP();
    memset(out, 0, sizeof *out);
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    int rc = -1;
    if (store_cached(s, "SELECT id, db_id, name, description FROM functions WHERE id = ? AND db_id = ?", &st) == 0) {
        bind_text(st, 1, id);
        bind_text(st, 2, d->id);
        if (store_step(st) == STORE_ROW) {
            snprintf(out->id, sizeof out->id, "%s", store_col_text(st, 0, NULL));
            snprintf(out->db_id, sizeof out->db_id, "%s", store_col_text(st, 1, NULL));
            snprintf(out->name, sizeof out->name, "%s", store_col_text(st, 2, NULL));
            if (store_col_type(st, 3) != SV_NULL) out->description = xstrdup(store_col_text(st, 3, NULL));
            rc = 0;
        }
        store_reset(st);
    }
    if (rc == 0 && store_cached(s, "SELECT id, content, diagnostics FROM function_versions WHERE function_id = ?"
                                   " ORDER BY created_ms, id", &st) == 0) {
        bind_text(st, 1, id);
        int cap = 0;
        while (store_step(st) == STORE_ROW) {
            if (out->nversions == cap) {
                cap = cap ? cap * 2 : 8;
                out->versions = xrealloc(out->versions, (size_t)cap * sizeof *out->versions);
            }
            const char *vid = store_col_text(st, 0, NULL);
            snprintf(out->versions[out->nversions++], ULID_LEN + 1, "%s", vid);
            if (!version || strcmp(version, vid) == 0) {
                free(out->content);
                free(out->diagnostics);
                snprintf(out->version, sizeof out->version, "%s", vid);
                out->content = xstrdup(store_col_text(st, 1, NULL));
                out->diagnostics = xstrdup(store_col_text(st, 2, NULL));
            }
        }
        store_reset(st);
    }
    catalog_unlock(c);
    if (rc < 0 || !out->content) {
        fn_free(out);
        return err_set(e, E_NOT_FOUND, version && rc == 0 ? "Version \"%s\" does not exist" : "Function \"%s\" does not exist",
                       version && rc == 0 ? version : id);
    }
    return 0;
}

size_t fn_list(catalog_t *c, const db_t *d, fn_t **out) {
    ASSERT_OFF_LOOP();
    size_t n = 0, cap = 4;
    char (*ids)[ULID_LEN + 1] = xmalloc(cap * sizeof *ids);
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    if (store_cached(s, "SELECT id FROM functions WHERE db_id = ? ORDER BY created_ms, id", &st) == 0) {
        bind_text(st, 1, d->id);
        while (store_step(st) == STORE_ROW) {
            if (n == cap) ids = xrealloc(ids, (cap *= 2) * sizeof *ids);
            snprintf(ids[n++], ULID_LEN + 1, "%s", store_col_text(st, 0, NULL));
        }
        store_reset(st);
    }
    catalog_unlock(c);
    fn_t *fns = xcalloc(n ? n : 1, sizeof *fns);
    size_t k = 0;
    err_t e;
    for (size_t i = 0; i < n; i++)
        if (fn_get(c, d, ids[i], NULL, &fns[k], &e) == 0) k++;
    free(ids);
    *out = fns;
    return k;
}

int fn_publish(catalog_t *c, const db_t *d, const char *id, const char *name, const char *description,
               const char *content, const char *diagnostics, char version[ULID_LEN + 1], err_t *e) {
    ASSERT_OFF_LOOP();
    if (check_name(name, description, e) < 0) return -1;
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    int64_t nversions = -1;
    if (store_cached(s, "SELECT (SELECT count(*) FROM function_versions WHERE function_id = f.id) FROM functions f"
                        " WHERE f.id = ? AND f.db_id = ?", &st) == 0) {
        bind_text(st, 1, id);
        bind_text(st, 2, d->id);
        if (store_step(st) == STORE_ROW) nversions = store_col_int(st, 0);
        store_reset(st);
    }
    int rc = 0;
    if (nversions < 0) rc = err_set(e, E_NOT_FOUND, "Function \"%s\" does not exist", id);
    else if (nversions >= FN_MAX_VERSIONS) rc = err_set(e, E_BAD_INPUT, "A function keeps at most %d versions", FN_MAX_VERSIONS);
    store_exec(s, "SAVEPOINT fn_publish");
    if (rc == 0 && (name || description) &&
        (rc = store_cached(s, "UPDATE functions SET name = coalesce(?, name), description = coalesce(?, description)"
                              " WHERE id = ?", &st)) == 0) {
        bind_text(st, 1, name);
        bind_text(st, 2, description);
        bind_text(st, 3, id);
        rc = store_step(st) < 0 ? -1 : 0;
        store_reset(st);
        if (rc < 0) err_set(e, E_INTERNAL, "updating the function: %s", store_errmsg(s));
    }
    if (rc == 0 && add_version(s, id, content, diagnostics, version) < 0)
        rc = err_set(e, E_INTERNAL, "storing the version: %s", store_errmsg(s));
    store_exec(s, rc < 0 ? "ROLLBACK TO fn_publish; RELEASE fn_publish" : "RELEASE fn_publish");
    catalog_unlock(c);
    return rc;
}

int fn_delete(catalog_t *c, const db_t *d, const char *id, err_t *e) {
    ASSERT_OFF_LOOP();
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    int rc = 0;
    if (store_cached(s, "DELETE FROM functions WHERE id = ? AND db_id = ?", &st) == 0) {
        bind_text(st, 1, id);
        bind_text(st, 2, d->id);
        if (store_step(st) < 0) rc = err_set(e, E_INTERNAL, "deleting the function: %s", store_errmsg(s));
        else if (!store_changes(s)) rc = err_set(e, E_NOT_FOUND, "Function \"%s\" does not exist", id);
        store_reset(st);
    }
    catalog_unlock(c);
    return rc;
}

int fn_lookup(catalog_t *c, const char *id, char db_id[ULID_LEN + 1], char **content, err_t *e) {
    ASSERT_OFF_LOOP();
    *content = NULL;
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    if (store_cached(s, "SELECT f.db_id, v.content FROM functions f JOIN function_versions v ON v.function_id = f.id"
                        " WHERE f.id = ? ORDER BY v.created_ms DESC, v.id DESC LIMIT 1", &st) == 0) {
        bind_text(st, 1, id);
        if (store_step(st) == STORE_ROW) {
            snprintf(db_id, ULID_LEN + 1, "%s", store_col_text(st, 0, NULL));
            *content = xstrdup(store_col_text(st, 1, NULL));
        }
        store_reset(st);
    }
    catalog_unlock(c);
    return *content ? 0 : err_set(e, E_NOT_FOUND, "Function \"%s\" does not exist", id);
}

void fn_log_invocation(catalog_t *c, const char *id, const fn_invocation_t *inv) {
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    if (store_cached(s, "INSERT INTO function_invocations(function_id, created_ms, runtime_ms, data, logs)"
                        " SELECT id, ?, ?, ?, ? FROM functions WHERE id = ?", &st) == 0) {
        store_bind_int(st, 1, inv->created_ms);
        store_bind_double(st, 2, inv->runtime_ms);
        bind_text(st, 3, inv->data);
        bind_text(st, 4, inv->logs);
        bind_text(st, 5, id);
        store_step(st);
        store_reset(st);
    }
    if (store_cached(s, "DELETE FROM function_invocations WHERE function_id = ?1 AND id <= (SELECT id FROM"
                        " function_invocations WHERE function_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)", &st) == 0) {
        bind_text(st, 1, id);
        store_bind_int(st, 2, FN_MAX_INVOCATIONS);
        store_step(st);
        store_reset(st);
    }
    catalog_unlock(c);
}

size_t fn_invocations(catalog_t *c, const char *id, fn_invocation_t **out) {
    ASSERT_OFF_LOOP();
    size_t n = 0, cap = 8;
    fn_invocation_t *v = xcalloc(cap, sizeof *v);
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    if (store_cached(s, "SELECT created_ms, runtime_ms, data, logs FROM function_invocations WHERE function_id = ?"
                        " ORDER BY id DESC", &st) == 0) {
        bind_text(st, 1, id);
        while (store_step(st) == STORE_ROW) {
            if (n == cap) v = xrealloc(v, (cap *= 2) * sizeof *v);
            v[n].created_ms = store_col_int(st, 0);
            v[n].runtime_ms = store_col_double(st, 1);
            v[n].data = xstrdup(store_col_text(st, 2, NULL));
            v[n++].logs = xstrdup(store_col_text(st, 3, NULL));
        }
        store_reset(st);
    }
    catalog_unlock(c);
    *out = v;
    return n;
}

void fn_invocations_free(fn_invocation_t *v, size_t n) {
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].data);
        free(v[i].logs);
    }
    free(v);
}
