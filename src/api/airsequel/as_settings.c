/* airsequel/as_settings: a database's settings and environment variables,
 * the instance's settings and variables, apps, and the CORS origin rule
 * (spec §1–§2). Settings live in the catalog: schemaLocked is enforced by
 * auth_check on every door's DDL, visibility is the database's public flag.
 * allowedHosts is kept in the engine for the loops' CORS headers and in
 * system.db across restarts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/airsequel/airsequel_internal.h"
#include "core/env.h"
#include "util/json.h"
#include "util/timeutil.h"

#define MAX_HOSTS 100
#define MAX_HOST_LEN 253

/* ---- environment variables ----------------------------------------------- */

static const char *scope_of(as_job_t *j) { return j->db ? j->db->id : ENV_INSTANCE; }

static void write_var(jw_t *w, const env_var_t *v, bool created) {
    jw_obj_begin(w);
    if (created) {
        char iso[32];
        time_iso8601(v->created_ms, iso);
        jw_key(w, "created_utc");
        jw_str(w, iso);
    }
    jw_key(w, "name");
    jw_str(w, v->name);
    jw_key(w, "value");
    jw_str(w, v->value);
    jw_obj_end(w);
}

static void write_vars(as_job_t *j, bool created) {
    env_var_t *v;
    size_t n = env_list(j->engine->catalog, scope_of(j), &v);
    jw_arr_begin(&j->w);
    for (size_t i = 0; i < n; i++) write_var(&j->w, &v[i], created);
    jw_arr_end(&j->w);
    env_free(v, n);
}

static void do_env_list(as_job_t *j) {
    jw_obj_begin(&j->w);
    jw_key(&j->w, "envVars");
    write_vars(j, true);
    jw_obj_end(&j->w);
}

/* {name, value} strings of a body; NULL name or value when absent. */
static int name_value(as_job_t *j, const char **name, const char **value, bool need_both) {
    const json_t *n = json_object_get(j->body, "name"), *v = json_object_get(j->body, "value");
    if ((n && !json_is_string(n)) || (v && !json_is_string(v)) || (need_both && (!n || !v)))
        return as_fail(j, 400, "Invalid request body: \"name\" and \"value\" must be strings");
    *name = n ? json_string_value(n) : NULL;
    *value = v ? json_string_value(v) : NULL;
    return 0;
}

static void do_env_add(as_job_t *j) {
    const char *name, *value;
    env_var_t v;
    err_t e;
    if (name_value(j, &name, &value, true) < 0) return;
    if (env_add(j->engine->catalog, scope_of(j), name, value, &v, &e) < 0) {
        as_fail_err(j, &e);
        return;
    }
    write_var(&j->w, &v, true);
    free(v.value);
}

static void do_env_patch(as_job_t *j) {
    const char *name, *value;
    err_t e;
    if (name_value(j, &name, &value, false) < 0) return;
    if (env_update(j->engine->catalog, scope_of(j), j->arg[0], name, value, &e) < 0) as_fail_err(j, &e);
    else jw_raw(&j->w, "{}", 2);
}

static void do_env_delete(as_job_t *j) {
    err_t e;
    if (env_delete(j->engine->catalog, scope_of(j), j->arg[0], &e) < 0) as_fail_err(j, &e);
    else jw_raw(&j->w, "{}", 2);
}

/* An envVars list of {name, value} into vars (values borrowed from body). */
static int parse_vars(as_job_t *j, const json_t *list, env_var_t **vars, size_t *n) {
    *vars = NULL;
    *n = 0;
    if (!json_is_array(list)) return as_fail(j, 400, "Invalid request body: \"envVars\" must be a list of {name, value}");
    *vars = xcalloc(json_array_size(list) + 1, sizeof **vars);
    size_t i;
    const json_t *v;
    json_array_foreach(list, i, v) {
        const json_t *name = json_object_get(v, "name"), *value = json_object_get(v, "value");
        if (!json_is_string(name) || !json_is_string(value) || strlen(json_string_value(name)) > ENV_NAME_MAX)
            return as_fail(j, 400, "Invalid request body: \"envVars\" must be a list of {name, value}");
        snprintf((*vars)[i].name, sizeof (*vars)[i].name, "%s", json_string_value(name));
        (*vars)[i].value = (char *)json_string_value(value);
        (*n)++;
    }
    return 0;
}

/* ---- D/settings ----------------------------------------------------------- */

static void do_settings_get(as_job_t *j) {
    db_settings_t s;
    if (catalog_db_settings(j->engine->catalog, j->db, &s) < 0) {
        as_fail(j, 404, "Database not found");
        return;
    }
    jw_t *w = &j->w;
    jw_obj_begin(w);
    jw_key(w, "auditing");
    jw_bool(w, s.auditing);
    jw_key(w, "envVars");
    write_vars(j, false);
    jw_key(w, "environment");
    if (s.has_environment) jw_str(w, s.environment);
    else jw_null(w);
    jw_key(w, "schemaLocked");
    jw_bool(w, s.schema_locked);
    jw_key(w, "viewsTab");
    jw_bool(w, s.views_tab);
    jw_key(w, "visibility");
    jw_str(w, s.public ? "public" : "private");
    jw_obj_end(w);
}

static int opt_bool(as_job_t *j, const char *key, bool *out) {
    const json_t *v = json_object_get(j->body, key);
    if (!v) return 0;
    if (!json_is_boolean(v)) {
        char m[96];
        snprintf(m, sizeof m, "Invalid request body: \"%s\" must be a boolean", key);
        return as_fail(j, 400, m);
    }
    *out = json_is_true(v);
    return 0;
}

static void do_settings_patch(as_job_t *j) {
    db_settings_t s;
    err_t e;
    if (catalog_db_settings(j->engine->catalog, j->db, &s) < 0) {
        as_fail(j, 404, "Database not found");
        return;
    }
    if (opt_bool(j, "auditing", &s.auditing) < 0 || opt_bool(j, "schemaLocked", &s.schema_locked) < 0 ||
        opt_bool(j, "viewsTab", &s.views_tab) < 0)
        return;
    const char *env;
    int k = airsequel_patch_string(json_object_get(j->body, "environment"), &env);
    if (k == PATCH_BAD || (env && strlen(env) >= sizeof s.environment)) {
        as_fail(j, 400, "Invalid request body: \"environment\" must be a short string or null");
        return;
    }
    if (k != PATCH_ABSENT) {
        s.has_environment = env != NULL;
        snprintf(s.environment, sizeof s.environment, "%s", env ? env : "");
    }
    const json_t *vis = json_object_get(j->body, "visibility");
    if (vis) {
        const char *v = json_is_string(vis) ? json_string_value(vis) : "";
        if (strcmp(v, "public") != 0 && strcmp(v, "private") != 0) {
            as_fail(j, 400, "Invalid request body: \"visibility\" must be \"public\" or \"private\"");
            return;
        }
        s.public = strcmp(v, "public") == 0;
    }
    env_var_t *vars = NULL;
    size_t nvars = 0;
    const json_t *list = json_object_get(j->body, "envVars");
    if (list && parse_vars(j, list, &vars, &nvars) < 0) {
        free(vars);
        return;
    }
    /* the variables first: they are the part that can be refused */
    if (list && env_replace(j->engine->catalog, j->db->id, vars, nvars, &e) < 0) as_fail_err(j, &e);
    else if (catalog_db_set_settings(j->engine->catalog, j->db, &s, &e) < 0) as_fail_err(j, &e);
    else jw_raw(&j->w, "{}", 2);
    free(vars);
}

/* ---- /api/settings ----------------------------------------------------------- */

static void do_instance_get(as_job_t *j) {
    jw_t *w = &j->w;
    jw_obj_begin(w);
    jw_key(w, "allowedHosts");
    jw_arr_begin(w);
    pthread_mutex_lock(&j->engine->hosts_lock);
    char *hosts = j->engine->allowed_hosts ? xstrdup(j->engine->allowed_hosts) : NULL;
    pthread_mutex_unlock(&j->engine->hosts_lock);
    for (char *p = hosts, *nl; p && *p; p = nl ? nl + 1 : p + strlen(p)) {
        nl = strchr(p, '\n');
        if (nl) *nl = 0;
        jw_str(w, p);
    }
    free(hosts);
    jw_arr_end(w);
    jw_key(w, "envVars");
    write_vars(j, false);
    jw_obj_end(w);
}

static void do_instance_patch(as_job_t *j) {
    const json_t *hosts = json_object_get(j->body, "allowedHosts"), *list = json_object_get(j->body, "envVars");
    buf_t joined = BUF_INIT;
    err_t e;
    if (hosts) {
        size_t i;
        const json_t *h;
        if (!json_is_array(hosts) || json_array_size(hosts) > MAX_HOSTS) {
            as_fail(j, 400, "Invalid request body: \"allowedHosts\" must be a list of host[:port] strings");
            return;
        }
        json_array_foreach(hosts, i, h) {
            const char *v = json_is_string(h) ? json_string_value(h) : "";
            if (!*v || strlen(v) > MAX_HOST_LEN || strpbrk(v, " \t\r\n/")) {
                as_fail(j, 400, "Invalid request body: \"allowedHosts\" must be a list of host[:port] strings");
                buf_free(&joined);
                return;
            }
            if (joined.len) buf_putc(&joined, '\n');
            buf_puts(&joined, v);
        }
    }
    env_var_t *vars = NULL;
    size_t nvars = 0;
    if (list && parse_vars(j, list, &vars, &nvars) < 0) {
        free(vars);
        buf_free(&joined);
        return;
    }
    if (list && env_replace(j->engine->catalog, ENV_INSTANCE, vars, nvars, &e) < 0) {
        as_fail_err(j, &e);
    } else if (hosts && catalog_setting_set(j->engine->catalog, ENGINE_ALLOWED_HOSTS, joined.len ? joined.data : "") < 0) {
        as_fail(j, 500, "storing allowedHosts failed");
    } else {
        if (hosts) {
            char *fresh = joined.len ? buf_detach(&joined) : NULL;
            pthread_mutex_lock(&j->engine->hosts_lock);
            char *old = j->engine->allowed_hosts;
            j->engine->allowed_hosts = fresh;
            pthread_mutex_unlock(&j->engine->hosts_lock);
            free(old);
        }
        jw_raw(&j->w, "{}", 2);
    }
    free(vars);
    buf_free(&joined);
}

/* ---- CORS --------------------------------------------------------------------- */

/* Does the Origin's authority (host[:port]) match an allowedHosts entry: the
 * same authority, or an entry without a port naming its host? */
static bool host_allowed(const char *hosts, const char *origin) {
    const char *auth = strstr(origin, "://");
    auth = auth ? auth + 3 : origin;
    size_t alen = strcspn(auth, "/"), hlen = strcspn(auth, ":/");
    for (const char *p = hosts; *p;) {
        size_t n = strcspn(p, "\n");
        if ((n == alen && strncasecmp(p, auth, n) == 0) || (n == hlen && !memchr(p, ':', n) && strncasecmp(p, auth, n) == 0))
            return true;
        p += n + (p[n] == '\n');
    }
    return false;
}

void airsequel_cors_headers(const http_req_t *r, buf_t *h) {
    engine_t *engine = r->app;
    const char *origin = http_header(r, "origin");
    pthread_mutex_lock(&engine->hosts_lock);
    const char *hosts = engine->allowed_hosts;
    if (!hosts || !*hosts) {
        buf_puts(h, "Access-Control-Allow-Origin: *\r\n");
    } else if (origin && strlen(origin) < 512 && !strpbrk(origin, "\r\n") && host_allowed(hosts, origin)) {
        buf_printf(h, "Access-Control-Allow-Origin: %s\r\nVary: Origin\r\n", origin);
    } else {
        buf_puts(h, "Vary: Origin\r\n");
    }
    pthread_mutex_unlock(&engine->hosts_lock);
}

/* ---- apps --------------------------------------------------------------------- */

static void do_apps(as_job_t *j) { jw_raw(&j->w, "{\"apps\":[]}", 11); }

static void do_app(as_job_t *j) {
    char m[300];
    snprintf(m, sizeof m, "App \"%.200s\" does not exist", j->arg[0]);
    as_fail(j, 404, m);
}

AS_ROUTE(h_db_env, do_env_list, 1, AS_DB_OWNER)
AS_ROUTE(h_db_env_add, do_env_add, 1, AS_DB_OWNER | AS_BODY)
AS_ROUTE(h_db_env_patch, do_env_patch, 2, AS_DB_OWNER | AS_BODY)
AS_ROUTE(h_db_env_delete, do_env_delete, 2, AS_DB_OWNER)
AS_ROUTE(h_env, do_env_list, 0, AS_ADMIN)
AS_ROUTE(h_env_add, do_env_add, 0, AS_ADMIN | AS_BODY)
AS_ROUTE(h_env_patch, do_env_patch, 1, AS_ADMIN | AS_BODY)
AS_ROUTE(h_env_delete, do_env_delete, 1, AS_ADMIN)
AS_ROUTE(h_settings_get, do_settings_get, 1, AS_DB_OWNER)
AS_ROUTE(h_settings_patch, do_settings_patch, 1, AS_DB_OWNER | AS_BODY)
AS_ROUTE(h_instance_get, do_instance_get, 0, AS_ADMIN)
AS_ROUTE(h_instance_patch, do_instance_patch, 0, AS_ADMIN | AS_BODY)
AS_ROUTE(h_apps, do_apps, 1, AS_DB_READ)
AS_ROUTE(h_app, do_app, 2, AS_DB_READ)

void airsequel_settings_register(router_t *rt, const dialect_t *d) {
    router_add(rt, d, M_GET, "/api/dbs/:db/settings", h_settings_get);
    router_add(rt, d, M_PATCH, "/api/dbs/:db/settings", h_settings_patch);
    router_add(rt, d, M_GET, "/api/dbs/:db/env", h_db_env);
    router_add(rt, d, M_POST, "/api/dbs/:db/env", h_db_env_add);
    router_add(rt, d, M_PATCH, "/api/dbs/:db/env/:var", h_db_env_patch);
    router_add(rt, d, M_DELETE, "/api/dbs/:db/env/:var", h_db_env_delete);
    router_add(rt, d, M_GET, "/api/settings", h_instance_get);
    router_add(rt, d, M_PATCH, "/api/settings", h_instance_patch);
    router_add(rt, d, M_GET, "/api/settings/env", h_env);
    router_add(rt, d, M_POST, "/api/settings/env", h_env_add);
    router_add(rt, d, M_PATCH, "/api/settings/env/:var", h_env_patch);
    router_add(rt, d, M_DELETE, "/api/settings/env/:var", h_env_delete);
    router_add(rt, d, M_GET, "/api/dbs/:db/apps", h_apps);
    router_add(rt, d, M_GET, "/dbs/:db/apps/:app", h_app);
}
