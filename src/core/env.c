/* env: environment variables in system.db (see env.h). */
#include "core/env.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/thread.h"
#include "util/timeutil.h"

bool env_name_valid(const char *name) {
    size_t n = strlen(name);
    if (n == 0 || n > ENV_NAME_MAX || isdigit((unsigned char)name[0])) return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '_') return false;
    return true;
}

static int check(const char *name, const char *value, err_t *e) {
    if (!env_name_valid(name))
        return err_set(e, E_BAD_INPUT, "Invalid variable name \"%.*s\": letters, digits and '_', not starting with a digit",
                       ENV_NAME_MAX, name);
    if (value && strlen(value) > ENV_VALUE_MAX) return err_set(e, E_BAD_INPUT, "The value of %s is too long", name);
    return 0;
}

size_t env_list(catalog_t *c, const char *scope, env_var_t **out) {
    ASSERT_OFF_LOOP();
    size_t n = 0, cap = 8;
    env_var_t *v = xcalloc(cap, sizeof *v);
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    if (store_cached(s, "SELECT name, value, created_ms FROM env_vars WHERE scope = ? ORDER BY name", &st) == 0) {
        store_bind_text(st, 1, scope, strlen(scope));
        while (store_step(st) == STORE_ROW) {
            if (n == cap) v = xrealloc(v, (cap *= 2) * sizeof *v);
            snprintf(v[n].name, sizeof v[n].name, "%s", store_col_text(st, 0, NULL));
            v[n].value = xstrdup(store_col_text(st, 1, NULL));
            v[n++].created_ms = store_col_int(st, 2);
        }
        store_reset(st);
    }
    catalog_unlock(c);
    *out = v;
    return n;
}

void env_free(env_var_t *v, size_t n) {
    for (size_t i = 0; v && i < n; i++) free(v[i].value);
    free(v);
}

/* Rows in scope named name (or all when name is NULL); lock held. */
static int64_t count(store_db_t *s, const char *scope, const char *name) {
    store_stmt_t *st;
    int64_t k = 0;
    if (store_cached(s, "SELECT count(*) FROM env_vars WHERE scope = ?1 AND (?2 IS NULL OR name = ?2)", &st) == 0) {
        store_bind_text(st, 1, scope, strlen(scope));
        if (name) store_bind_text(st, 2, name, strlen(name));
        else store_bind_null(st, 2);
        if (store_step(st) == STORE_ROW) k = store_col_int(st, 0);
        store_reset(st);
    }
    return k;
}

static int insert(store_db_t *s, const char *scope, const char *name, const char *value, int64_t ms) {
    store_stmt_t *st;
    if (store_cached(s, "INSERT INTO env_vars(scope, name, value, created_ms) VALUES (?, ?, ?, ?)", &st) < 0) return -1;
    store_bind_text(st, 1, scope, strlen(scope));
    store_bind_text(st, 2, name, strlen(name));
    store_bind_text(st, 3, value, strlen(value));
    store_bind_int(st, 4, ms);
    int rc = store_step(st);
    store_reset(st);
    return rc < 0 ? -1 : 0;
}

int env_add(catalog_t *c, const char *scope, const char *name, const char *value, env_var_t *out, err_t *e) {
    ASSERT_OFF_LOOP();
    if (check(name, value, e) < 0) return -1;
    int64_t now = time_now_ms();
    store_db_t *s = catalog_lock(c);
    int rc = 0;
    if (count(s, scope, name)) rc = err_set(e, E_EXISTS, "Variable \"%s\" already exists", name);
    else if (count(s, scope, NULL) >= ENV_MAX_VARS) rc = err_set(e, E_BAD_INPUT, "Too many variables");
    else if (insert(s, scope, name, value, now) < 0) rc = err_set(e, E_INTERNAL, "adding variable: %s", store_errmsg(s));
    catalog_unlock(c);
    if (rc == 0 && out) {
        snprintf(out->name, sizeof out->name, "%s", name);
        out->value = xstrdup(value);
        out->created_ms = now;
    }
    return rc;
}

int env_update(catalog_t *c, const char *scope, const char *name, const char *new_name, const char *value,
               err_t *e) {
    ASSERT_OFF_LOOP();
    if (!new_name) new_name = name;
    if (check(new_name, value, e) < 0) return -1;
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    int rc = 0;
    if (!count(s, scope, name)) {
        rc = err_set(e, E_NOT_FOUND, "Variable \"%s\" does not exist", name);
    } else if (strcmp(name, new_name) != 0 && count(s, scope, new_name)) {
        rc = err_set(e, E_EXISTS, "Variable \"%s\" already exists", new_name);
    } else if (store_cached(s, "UPDATE env_vars SET name = ?1, value = coalesce(?2, value) WHERE scope = ?3 AND name = ?4",
                            &st) == 0) {
        store_bind_text(st, 1, new_name, strlen(new_name));
        if (value) store_bind_text(st, 2, value, strlen(value));
        else store_bind_null(st, 2);
        store_bind_text(st, 3, scope, strlen(scope));
        store_bind_text(st, 4, name, strlen(name));
        if (store_step(st) < 0) rc = err_set(e, E_INTERNAL, "updating variable: %s", store_errmsg(s));
        store_reset(st);
    } else {
        rc = err_set(e, E_INTERNAL, "updating variable: %s", store_errmsg(s));
    }
    catalog_unlock(c);
    return rc;
}

int env_delete(catalog_t *c, const char *scope, const char *name, err_t *e) {
    ASSERT_OFF_LOOP();
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    int rc = 0;
    if (!count(s, scope, name)) {
        rc = err_set(e, E_NOT_FOUND, "Variable \"%s\" does not exist", name);
    } else if (store_cached(s, "DELETE FROM env_vars WHERE scope = ? AND name = ?", &st) == 0) {
        store_bind_text(st, 1, scope, strlen(scope));
        store_bind_text(st, 2, name, strlen(name));
        if (store_step(st) < 0) rc = err_set(e, E_INTERNAL, "deleting variable: %s", store_errmsg(s));
        store_reset(st);
    }
    catalog_unlock(c);
    return rc;
}

int env_replace(catalog_t *c, const char *scope, const env_var_t *vars, size_t n, err_t *e) {
    ASSERT_OFF_LOOP();
    if (n > ENV_MAX_VARS) return err_set(e, E_BAD_INPUT, "Too many variables");
    for (size_t i = 0; i < n; i++) {
        if (check(vars[i].name, vars[i].value, e) < 0) return -1;
        for (size_t k = 0; k < i; k++)
            if (strcmp(vars[k].name, vars[i].name) == 0)
                return err_set(e, E_BAD_INPUT, "Variable \"%s\" is given twice", vars[i].name);
    }
    int64_t now = time_now_ms();
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    store_exec(s, "SAVEPOINT env_replace");
    int rc = store_cached(s, "DELETE FROM env_vars WHERE scope = ?", &st);
    if (rc == 0) {
        store_bind_text(st, 1, scope, strlen(scope));
        rc = store_step(st) < 0 ? -1 : 0;
        store_reset(st);
    }
    for (size_t i = 0; rc == 0 && i < n; i++) rc = insert(s, scope, vars[i].name, vars[i].value, now);
    if (rc < 0) err_set(e, E_INTERNAL, "replacing variables: %s", store_errmsg(s));
    store_exec(s, rc < 0 ? "ROLLBACK TO env_replace; RELEASE env_replace" : "RELEASE env_replace");
    catalog_unlock(c);
    return rc;
}
