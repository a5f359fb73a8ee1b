/* typedb: the TypeDB-style dialect (spec/typedb.md): health, version,
 * sign-in, databases, users. Every failure is {"code","message"} where
 * message is "[CODE] text" lines, innermost first. Auth is checked before
 * the body is parsed, and rights before existence. Slow password work runs
 * off the event loop via http_defer. */
#include "api/typedb/typedb.h"
#include "api/typedb/typedb_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/common.h"
#include <sodium.h>

#include "core/doors.h"
#include "core/auth.h"
#include "core/database.h"
#include "core/engine.h"
#include "core/names.h"
#include "core/txn.h"
#include "util/json.h"

static void render_error(http_req_t *r, int status, const char *message);
static void options(http_req_t *r);
static bool claims(const char *path);

const dialect_t typedb_dialect = {
    .name = "typedb",
    .render_error = render_error,
    .claims = claims,
    .extra_headers = "Access-Control-Allow-Origin: *\r\n"
                     "Access-Control-Allow-Headers: Authorization, Content-Type\r\n"
                     "Access-Control-Allow-Methods: GET, POST, PUT, DELETE, OPTIONS\r\n",
    .options = options,
};

#define ENGINE(r) ((engine_t *)(r)->app)

/* ---- responses -------------------------------------------------------- */

/* {"code": code, "message": "[code] text\n<context>"}; context may be NULL. */
void tdb_error(http_req_t *r, int status, const char *code, const char *text, const char *context) {
    buf_t msg = BUF_INIT, b = BUF_INIT;
    buf_printf(&msg, "[%s] %s", code, text);
    if (context) buf_printf(&msg, "\n%s", context);
    jw_t w;
    jw_init(&w, &b, 0);
    jw_obj_begin(&w);
    jw_key(&w, "code");
    jw_str(&w, code);
    jw_key(&w, "message");
    jw_strn(&w, msg.data, msg.len);
    jw_obj_end(&w);
    buf_free(&msg);
    http_respond_buf(r, status, "application/json", &b);
}

static bool version_prefix(const char *path, const char **ver, size_t *len) {
    if (path[0] != '/' || path[1] != 'v' || path[2] < '0' || path[2] > '9') return false;
    size_t i = 2;
    while (path[i] >= '0' && path[i] <= '9') i++;
    if (path[i] != '/' && path[i] != 0) return false;
    *ver = path + 1;
    *len = i - 1;
    return true;
}

static bool claims(const char *path) {
    const char *v;
    size_t n;
    return strcmp(path, "/health") == 0 || version_prefix(path, &v, &n);
}

static void render_error(http_req_t *r, int status, const char *message) {
    const char *v;
    size_t n;
    switch (status) {
    case 404:
        if (r->path && version_prefix(r->path, &v, &n) && !(n == 2 && memcmp(v, "v1", 2) == 0)) {
            char text[80];
            snprintf(text, sizeof text, "Unknown API version '%.*s'.", (int)(n > 20 ? 20 : n), v);
            tdb_error(r, 404, "HSR5", text, NULL);
        } else {
            tdb_error(r, 404, "HSR4", "Requested resource not found.", NULL);
        }
        return;
    case 405: tdb_error(r, 405, "HSR6", "Method not allowed.", NULL); return;
    case 408: tdb_error(r, 408, "HSR10", "Request timeout.", NULL); return;
    case 413: tdb_error(r, 413, "HSR11", "Request body too large.", NULL); return;
    case 431: tdb_error(r, 431, "HSR12", "Request header fields too large.", NULL); return;
    default: break;
    }
    char text[300];
    if (status >= 500) {
        snprintf(text, sizeof text, "Internal error: %s", message);
        tdb_error(r, status, "HSR1", text, NULL);
    } else {
        snprintf(text, sizeof text, "Bad request: %s", message);
        tdb_error(r, status, "HSR3", text, NULL);
    }
}

static void options(http_req_t *r) { http_respond(r, 200, NULL, "", 0); }

static void respond_ok(http_req_t *r) { http_respond(r, 200, NULL, "", 0); }

static void respond_json(http_req_t *r, int status, buf_t *b) { http_respond_buf(r, status, "application/json", b); }

void tdb_bad_json(http_req_t *r, const char *detail) {
    char text[400];
    snprintf(text, sizeof text, "Cannot parse expected JSON body: %s", detail);
    tdb_error(r, 400, "HSR2", text, NULL);
}

void tdb_forbidden(http_req_t *r) {
    tdb_error(r, 403, "SRV2", "The user is not permitted to execute the operation.", NULL);
}

static void db_not_found(http_req_t *r, const char *name) {
    buf_t t = BUF_INIT;
    buf_printf(&t, "Database '%s' not found.", name);
    tdb_error(r, 404, "SRV3", t.data, NULL);
    buf_free(&t);
}

void tdb_internal(http_req_t *r, const err_t *e) {
    char text[600];
    snprintf(text, sizeof text, "Internal error: %s", e->msg);
    tdb_error(r, 500, "HSR1", text, NULL);
}

/* ---- request plumbing ------------------------------------------------- */

/* Authenticates the bearer token; answers 401 and returns false on failure. */
bool tdb_authenticate(http_req_t *r, actor_t *a) {
    err_t e;
    switch (api_actor(r, ENGINE(r)->catalog, 0, a, &e)) {
    case API_ACTOR: return true;
    case API_ANONYMOUS:
    case API_MALFORMED:
        tdb_error(r, 401, "AUT2", "Missing token (expected as the authorization bearer).",
                  "[HSR9] Authentication error.");
        return false;
    case API_REJECTED: break;
    }
    tdb_error(r, 401, "AUT3", "Invalid token supplied.", "[HSR9] Authentication error.");
    return false;
}

/* Decodes path capture i; answers 400 HSR7 and returns false if invalid. */
static bool capture(http_req_t *r, int i, const char *param, buf_t *out) {
    if (api_capture(r, i, out) == 0) return true;
    char text[120];
    snprintf(text, sizeof text, "Requested resource not found: invalid path parameter %s.", param);
    tdb_error(r, 400, "HSR7", text, NULL);
    return false;
}

/* Reads a required string field of the body; answers HSR2 on failure. */
static bool body_string(http_req_t *r, json_t *body, const char *key, const char **out) {
    json_t *v = json_object_get(body, key);
    if (!json_is_string(v)) {
        char d[120];
        snprintf(d, sizeof d, "missing or non-string field '%s'", key);
        tdb_bad_json(r, d);
        return false;
    }
    *out = json_string_value(v);
    if (strlen(*out) != json_string_length(v)) {
        tdb_bad_json(r, "strings may not contain NUL characters");
        return false;
    }
    return true;
}

json_t *tdb_body_object(http_req_t *r) {
    char err[200];
    json_t *j = api_json_object(r, err, sizeof err);
    if (!j) tdb_bad_json(r, err);
    return j;
}

/* ---- health and version ----------------------------------------------- */

static void h_health(http_req_t *r) { http_respond(r, 204, NULL, "", 0); }

static void h_v1(http_req_t *r) {
    http_add_header(r, "Location", "/v1/version");
    http_respond(r, 307, NULL, "", 0);
}

static void h_version(http_req_t *r) {
    buf_t b = BUF_INIT;
    jw_t w;
    jw_init(&w, &b, 0);
    jw_obj_begin(&w);
    jw_key(&w, "distribution");
    jw_str(&w, "Atrium");
    jw_key(&w, "version");
    jw_str(&w, ATRIUM_VERSION);
    jw_obj_end(&w);
    respond_json(r, 200, &b);
}

/* ---- sign-in and password work (off the loop) ------------------------- */

typedef enum { JOB_SIGNIN, JOB_CREATE_USER, JOB_SET_PASSWORD } pw_job_kind_t;

typedef struct {
    pw_job_kind_t kind;
    engine_t *engine;
    char *user;
    char *password;
    char token[TOKEN_MAX_LEN];
    int rc;
    err_t err;
} pw_job_t;

static void pw_work(void *data) {
    pw_job_t *j = data;
    catalog_t *c = j->engine->catalog;
    switch (j->kind) {
    case JOB_SIGNIN: j->rc = auth_signin(c, j->user, j->password, j->engine->token_ttl_s, j->token, &j->err); break;
    case JOB_CREATE_USER: j->rc = auth_user_create(c, j->user, j->password, &j->err); break;
    case JOB_SET_PASSWORD: {
        int64_t id = auth_user_id(c, j->user);
        j->rc = auth_user_set_password(c, j->user, j->password, &j->err);
        if (j->rc == 0 && id) txn_close_owner(id);
        break;
    }
    }
}

static void pw_done(http_req_t *r, void *data) {
    pw_job_t *j = data;
    if (j->rc == 0) {
        if (j->kind == JOB_SIGNIN) {
            api_respond_field(r, 200, "token", j->token);
        } else {
            respond_ok(r);
        }
    } else {
        switch (j->err.kind) {
        case E_BAD_CREDENTIALS:
            tdb_error(r, 401, "AUT1", "Invalid credential supplied.", "[SRV15] Error when authenticating.");
            break;
        case E_INVALID_NAME: tdb_error(r, 400, "USC1", "Invalid credential supplied.", NULL); break;
        case E_EXISTS: tdb_error(r, 400, "USC2", "User already exists.", NULL); break;
        case E_NOT_FOUND: tdb_error(r, 404, "USU4", "User not found.", NULL); break;
        case E_BAD_INPUT:
            if (j->kind == JOB_CREATE_USER) tdb_error(r, 400, "USC3", "Incomplete user detail.", NULL);
            else tdb_error(r, 400, "USU1", "User detail not provided.", NULL);
            break;
        default: tdb_internal(r, &j->err);
        }
    }
    sodium_memzero(j->password, strlen(j->password));
    free(j->user);
    free(j->password);
    free(j);
}

static void start_pw_job(http_req_t *r, pw_job_kind_t kind, const char *user, const char *password) {
    pw_job_t *j = xcalloc(1, sizeof *j);
    j->kind = kind;
    j->engine = ENGINE(r);
    j->user = xstrdup(user);
    j->password = xstrdup(password);
    http_defer(r, pw_work, pw_done, j);
}

static void h_signin(http_req_t *r) {
    json_t *body = tdb_body_object(r);
    if (!body) return;
    const char *user, *pw;
    if (body_string(r, body, "username", &user) && body_string(r, body, "password", &pw))
        start_pw_job(r, JOB_SIGNIN, user, pw);
    json_decref(body);
}

/* ---- databases -------------------------------------------------------- */

/* {"<outer>": [{"<inner>": name}, ...]}, the shape of both list routes. */
static void respond_name_list(http_req_t *r, const char *outer, const char *inner, char *const *names, size_t n) {
    buf_t b = BUF_INIT;
    jw_t w;
    jw_init(&w, &b, 0);
    jw_obj_begin(&w);
    jw_key(&w, outer);
    jw_arr_begin(&w);
    for (size_t i = 0; i < n; i++) {
        jw_obj_begin(&w);
        jw_key(&w, inner);
        jw_str(&w, names[i]);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    jw_obj_end(&w);
    respond_json(r, 200, &b);
}

static void h_databases(http_req_t *r) {
    actor_t a;
    if (!tdb_authenticate(r, &a)) return;
    db_t **list;
    size_t n = catalog_db_list(ENGINE(r)->catalog, &list), k = 0;
    char **names = xmalloc((n ? n : 1) * sizeof *names);
    for (size_t i = 0; i < n; i++)
        if (list[i]->name[0] != '_' && auth_check(&a, list[i], ACT_READ)) names[k++] = list[i]->name;
    respond_name_list(r, "databases", "name", names, k);
    free(names);
    catalog_db_list_free(list, n);
}

/* Resolves :name to a database the actor may read; answers 404 otherwise. */
static db_t *readable_db(http_req_t *r, const actor_t *a, const char *name) {
    db_t *d = api_db(ENGINE(r)->catalog, name, DB_BY_NAME, a);
    doors_note_use(d, "typedb");
    if (!d) db_not_found(r, name);
    return d;
}


static void h_database_get(http_req_t *r) {
    actor_t a;
    buf_t name = BUF_INIT;
    if (tdb_authenticate(r, &a) && capture(r, 0, "database", &name)) {
        db_t *d = readable_db(r, &a, name.data);
        if (d) {
            api_respond_field(r, 200, "name", d->name);
            db_release(d);
        }
    }
    buf_free(&name);
}

/* Catalog changes write system.db (an fsync) and deleting a database
 * joins its writer thread: both run on the thread pool, never the loop. */
typedef enum { CJ_CREATE_DB, CJ_DELETE_DB, CJ_DELETE_USER } catalog_job_kind_t;

typedef struct {
    catalog_job_kind_t kind;
    engine_t *engine;
    char *name;
    int64_t owner;
    db_t *db;
    int rc;
    err_t err;
} catalog_job_t;

static void catalog_work(void *data) {
    catalog_job_t *j = data;
    catalog_t *c = j->engine->catalog;
    switch (j->kind) {
    case CJ_CREATE_DB: {
        db_t *d = NULL;
        j->rc = catalog_db_create(c, j->name, j->owner, false, &d, &j->err);
        if (j->rc == 0) doors_note_created(c, d, "typedb", &(err_t){0});
        db_release(d);
        break;
    }
    case CJ_DELETE_DB: j->rc = catalog_db_delete(c, j->db, &j->err); break;
    case CJ_DELETE_USER: {
        int64_t id = auth_user_id(c, j->name);
        j->rc = auth_user_delete(c, j->name, &j->err);
        if (j->rc == 0) txn_close_owner(id);
        break;
    }
    }
}

static void catalog_done(http_req_t *r, void *data) {
    catalog_job_t *j = data;
    if (j->rc == 0) {
        respond_ok(r);
    } else if (j->kind == CJ_CREATE_DB) {
        if (j->err.kind == E_EXISTS) respond_ok(r); /* creating an existing database succeeds */
        else tdb_internal(r, &j->err);
    } else if (j->kind == CJ_DELETE_DB) {
        if (j->err.kind == E_NOT_FOUND) db_not_found(r, j->name);
        else tdb_internal(r, &j->err);
    } else if (j->err.kind == E_DEFAULT_USER) {
        tdb_error(r, 400, "USD1", "Default user cannot be deleted.", NULL);
    } else if (j->err.kind == E_NOT_FOUND) {
        tdb_error(r, 404, "USD3", "User not found.", NULL);
    } else {
        tdb_internal(r, &j->err);
    }
    db_release(j->db);
    free(j->name);
    free(j);
}

static void h_database_create(http_req_t *r) {
    actor_t a;
    buf_t name = BUF_INIT;
    if (!tdb_authenticate(r, &a) || !capture(r, 0, "database", &name)) goto out;
    if (!auth_check(&a, NULL, ACT_SCHEMA)) {
        tdb_forbidden(r);
        goto out;
    }
    err_t e;
    if (name_check_db(name.data, &e) < 0) {
        if (e.kind == E_INTERNAL_NAME) {
            tdb_error(r, 400, "DBC2", "Creating an internal database is prohibited.", NULL);
        } else {
            buf_t t = BUF_INIT;
            buf_printf(&t, "Cannot create database since '%s' is not a valid database name.", name.data);
            tdb_error(r, 400, "DBC1", t.data, NULL);
            buf_free(&t);
        }
        goto out;
    }
    catalog_job_t *j = xcalloc(1, sizeof *j);
    j->kind = CJ_CREATE_DB;
    j->engine = ENGINE(r);
    j->name = buf_detach(&name);
    j->owner = a.principal_id;
    http_defer(r, catalog_work, catalog_done, j);
out:
    buf_free(&name);
}

static void h_database_delete(http_req_t *r) {
    actor_t a;
    buf_t name = BUF_INIT;
    if (!tdb_authenticate(r, &a) || !capture(r, 0, "database", &name)) goto out;
    db_t *d = readable_db(r, &a, name.data);
    if (!d) goto out;
    if (!auth_check(&a, d, ACT_OWNER)) { /* deleting is the owner's, on every door (a team's Editor may not) */
        tdb_forbidden(r);
    } else if (txn_count(d) > 0) {
        tdb_error(r, 400, "DBD2", "Cannot delete database since it is in use.", NULL);
    } else {
        catalog_job_t *j = xcalloc(1, sizeof *j);
        j->kind = CJ_DELETE_DB;
        j->engine = ENGINE(r);
        j->name = buf_detach(&name);
        j->db = d; /* the job's reference now */
        d = NULL;
        http_defer(r, catalog_work, catalog_done, j);
    }
    db_release(d);
out:
    buf_free(&name);
}

static void schema_common(http_req_t *r, bool types_only) {
    actor_t a;
    buf_t name = BUF_INIT;
    if (!tdb_authenticate(r, &a) || !capture(r, 0, "database", &name)) goto out;
    db_t *d = readable_db(r, &a, name.data);
    if (!d) goto out;
    buf_t text = BUF_INIT;
    err_t e;
    if (database_schema_text(d, types_only, &text, &e) < 0) {
        tdb_internal(r, &e);
        buf_free(&text);
    } else {
        http_respond_buf(r, 200, "text/plain; charset=utf-8", &text);
    }
    db_release(d);
out:
    buf_free(&name);
}

static void h_schema(http_req_t *r) { schema_common(r, false); }
static void h_type_schema(http_req_t *r) { schema_common(r, true); }

/* ---- users ------------------------------------------------------------ */

static void h_users(http_req_t *r) {
    actor_t a;
    if (!tdb_authenticate(r, &a)) return;
    if (!auth_check(&a, NULL, ACT_ADMIN)) {
        tdb_forbidden(r);
        return;
    }
    char **names;
    size_t n = auth_user_list(ENGINE(r)->catalog, &names);
    respond_name_list(r, "users", "username", names, n);
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

/* Authenticates and decodes :user; the instance admin right may act on
 * anyone, a user's own unrestricted token on that user only (checked before
 * whether the user exists). */
static bool user_route(http_req_t *r, actor_t *a, buf_t *user, bool admin_only) {
    if (!tdb_authenticate(r, a) || !capture(r, 0, "username", user)) return false;
    if (admin_only ? !auth_check(a, NULL, ACT_ADMIN) : !auth_check_user(a, user->data)) {
        tdb_forbidden(r);
        return false;
    }
    return true;
}

static void h_user_get(http_req_t *r) {
    actor_t a;
    buf_t user = BUF_INIT;
    if (user_route(r, &a, &user, false)) {
        if (!auth_user_id(ENGINE(r)->catalog, user.data)) tdb_error(r, 404, "SRV4", "User not found.", NULL);
        else api_respond_field(r, 200, "username", user.data);
    }
    buf_free(&user);
}

static void h_user_create(http_req_t *r) {
    actor_t a;
    buf_t user = BUF_INIT;
    json_t *body = NULL;
    const char *pw;
    if (user_route(r, &a, &user, true) && (body = tdb_body_object(r)) && body_string(r, body, "password", &pw)) {
        if (!name_valid(user.data, user.len)) tdb_error(r, 400, "USC1", "Invalid credential supplied.", NULL);
        else if (!*pw) tdb_error(r, 400, "USC3", "Incomplete user detail.", NULL);
        else if (auth_user_id(ENGINE(r)->catalog, user.data)) tdb_error(r, 400, "USC2", "User already exists.", NULL);
        else start_pw_job(r, JOB_CREATE_USER, user.data, pw);
    }
    json_decref(body);
    buf_free(&user);
}

static void h_user_update(http_req_t *r) {
    actor_t a;
    buf_t user = BUF_INIT;
    json_t *body = NULL;
    const char *pw;
    if (user_route(r, &a, &user, false) && (body = tdb_body_object(r)) && body_string(r, body, "password", &pw)) {
        if (!*pw) tdb_error(r, 400, "USU1", "User detail not provided.", NULL);
        else if (!auth_user_id(ENGINE(r)->catalog, user.data)) tdb_error(r, 404, "USU4", "User not found.", NULL);
        else start_pw_job(r, JOB_SET_PASSWORD, user.data, pw);
    }
    json_decref(body);
    buf_free(&user);
}

static void h_user_delete(http_req_t *r) {
    actor_t a;
    buf_t user = BUF_INIT;
    if (user_route(r, &a, &user, false)) {
        catalog_job_t *j = xcalloc(1, sizeof *j);
        j->kind = CJ_DELETE_USER;
        j->engine = ENGINE(r);
        j->name = buf_detach(&user);
        http_defer(r, catalog_work, catalog_done, j);
    }
    buf_free(&user);
}

void typedb_register(router_t *rt) {
    const dialect_t *d = &typedb_dialect;
    router_add(rt, d, M_GET, "/health", h_health);
    router_add(rt, d, M_GET, "/v1/health", h_health);
    router_add(rt, d, M_GET, "/v1", h_v1);
    router_add(rt, d, M_GET, "/v1/version", h_version);
    router_add(rt, d, M_POST, "/v1/signin", h_signin);
    router_add(rt, d, M_GET, "/v1/databases", h_databases);
    router_add(rt, d, M_GET, "/v1/databases/:name", h_database_get);
    router_add(rt, d, M_POST, "/v1/databases/:name", h_database_create);
    router_add(rt, d, M_DELETE, "/v1/databases/:name", h_database_delete);
    router_add(rt, d, M_GET, "/v1/databases/:name/schema", h_schema);
    router_add(rt, d, M_GET, "/v1/databases/:name/type-schema", h_type_schema);
    router_add(rt, d, M_GET, "/v1/users", h_users);
    router_add(rt, d, M_GET, "/v1/users/:user", h_user_get);
    router_add(rt, d, M_POST, "/v1/users/:user", h_user_create);
    router_add(rt, d, M_PUT, "/v1/users/:user", h_user_update);
    router_add(rt, d, M_DELETE, "/v1/users/:user", h_user_delete);
    typedb_query_register(rt);
}
