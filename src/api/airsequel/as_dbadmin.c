/* airsequel/as_dbadmin: making, changing and deleting databases (spec §2):
 * POST /api/dbs, PATCH and DELETE /api/dbs/:dbId.
 * POST makes a private database owned by the named team (the caller an
 * Editor or Admin of it) or by the caller's personal team; its optional
 * `query` script then runs as one write job on the new database — schema
 * class at most, the 20 s limit of /sql — and if it fails the database is
 * deleted again, so nothing is kept. PATCH renames, describes and hands the
 * database to another team the caller administers; DELETE removes it. Both
 * need O: the owner (an Admin of the owning team) or the server admin.
 * Catalog work runs on the pool; the script on the database's writer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/airsequel/airsequel_internal.h"
#include "core/doors.h"
#include "core/engine.h"
#include "core/names.h"
#include "core/team.h"
#include "util/json.h"
#include "util/thread.h"
#include "util/timeutil.h"

#define ENGINE(r) ((engine_t *)(r)->app)
#define SCRIPT_LIMIT_US (20 * 1000000ull)

typedef struct {
    api_write_t w;
    api_out_t out;
    engine_t *engine;
    actor_t a;
    db_t *db;
    team_t owner;
    char *name, *team, *query, *description;
    bool set_description, clear_description;
    bool created; /* POST: the answer is Created, not {} */
    int status;
    char msg[sizeof(((err_t *)0)->msg) + 64];
} cjob_t;

static void cjob_free(cjob_t *j) {
    api_out_reset(&j->out);
    changeset_free(&j->w.job.changes);
    db_release(j->db);
    free(j->name);
    free(j->team);
    free(j->query);
    free(j->description);
    free(j);
}

static void fail(cjob_t *j, int status, const char *msg) {
    j->status = status;
    snprintf(j->msg, sizeof j->msg, "%s", msg);
}

static int status_for(err_kind_t k) {
    switch (k) {
    case E_NOT_FOUND: return 404;
    case E_EXISTS:
    case E_IN_USE: return 409;
    case E_FORBIDDEN: return 403;
    case E_INTERNAL: return 500;
    default: return 400;
    }
}

int airsequel_new_owner(catalog_t *c, const actor_t *a, const char *name, unsigned need, team_t *out, char *msg,
                        size_t msglen) {
    err_t e;
    if (!name) {
        /* a personal database needs the right to create databases */
        if (!auth_check(a, NULL, ACT_SCHEMA) || team_get(c, a->principal_id, out, &e) < 0 || !out->personal) {
            snprintf(msg, msglen, "Permission denied");
            return 403;
        }
        return 0;
    }
    if (team_find(c, name, out, &e) < 0 || !auth_team_roles(a, out->id, out->personal)) {
        snprintf(msg, msglen, "Team \"%s\" does not exist", name);
        return 404;
    }
    if (!(auth_team_roles(a, out->id, out->personal) & need)) {
        snprintf(msg, msglen, "Permission denied");
        return 403;
    }
    return 0;
}

/* The team that is to own a database: name given (roles needed among
 * need), else the caller's personal team. */
static int owner_team(cjob_t *j, const char *name, unsigned need) {
    j->status = airsequel_new_owner(j->engine->catalog, &j->a, name, need, &j->owner, j->msg, sizeof j->msg);
    return j->status ? -1 : 0;
}

static void respond_created(http_req_t *r, cjob_t *j) {
    buf_t b = BUF_INIT;
    jw_t w;
    jw_init(&w, &b, 0);
    char iso[32];
    time_iso8601(__atomic_load_n(&j->db->ownership_ms, __ATOMIC_ACQUIRE), iso);
    jw_obj_begin(&w);
    jw_key(&w, "id");
    jw_str(&w, db_public_id(j->db));
    jw_key(&w, "ownerName");
    jw_str(&w, j->owner.name);
    jw_key(&w, "ownershipUtc");
    jw_str(&w, iso);
    jw_obj_end(&w);
    http_respond_buf(r, 200, "application/json; charset=utf-8", &b);
}

static void answer(http_req_t *r, void *data) {
    cjob_t *j = data;
    if (j->status) airsequel_error(r, j->status, j->msg);
    else if (j->created) respond_created(r, j);
    else airsequel_json(r, 200, "{}");
    cjob_free(j);
}

/* ---- POST /api/dbs -------------------------------------------------------- */

static void create_work(void *data) {
    cjob_t *j = data;
    err_t e;
    /* a team's database needs an Editor or Admin there */
    if (owner_team(j, j->team, ROLE_ADMIN | ROLE_EDITOR) < 0) return;
    if (name_check_db(j->name, &e) < 0 || catalog_db_create(j->engine->catalog, j->name, j->owner.id, false, &j->db, &e) < 0) {
        if (e.kind == E_EXISTS) snprintf(e.msg, sizeof e.msg, "Database \"%s\" already exists", j->name);
        fail(j, status_for(e.kind), e.msg);
    } else {
        doors_note_created(j->engine->catalog, j->db, "airsequel", &e);
    }
}

static void delete_work(void *data) {
    cjob_t *j = data;
    err_t e;
    if (catalog_db_delete(j->engine->catalog, j->db, &e) < 0 && !j->status) fail(j, status_for(e.kind), e.msg);
}

static void no_columns(void *ctx, store_stmt_t *st, int n) {
    (void)ctx, (void)st, (void)n;
}

static int script_run(store_db_t *c, void *arg, err_t *e) {
    cjob_t *j = arg;
    sql_opts_t o = {.max_class = SQL_SCHEMA, .deadline_us = time_mono_us() + SCRIPT_LIMIT_US, .max_rows = 0};
    sql_sink_t sink = {.columns = no_columns};
    j->out.rc = sql_run(c, j->query, strlen(j->query), &o, &sink, j, &j->out.res, e);
    if (j->out.rc < 0) j->out.err = *e;
    return j->out.rc;
}

static void script_done(http_req_t *r, void *data) {
    cjob_t *j = data;
    if (j->out.rc == 0) {
        answer(r, j);
        return;
    }
    /* nothing is kept: the database goes again */
    fail(j, j->out.err.kind == E_INTERNAL ? 500 : 400, j->out.err.msg);
    http_defer(r, delete_work, answer, j);
}

static void create_done(http_req_t *r, void *data) {
    cjob_t *j = data;
    err_t e;
    if (j->status || !j->query) {
        answer(r, j);
        return;
    }
    if (api_write(r, j->db, &j->w, script_run, &j->out, script_done, j, &e) < 0) {
        fail(j, 500, e.msg);
        http_defer(r, delete_work, answer, j);
    }
}

/* An optional string member: NULL when absent; false when mistyped. */
static bool opt_string(const json_t *body, const char *key, char **out) {
    const json_t *v = json_object_get(body, key);
    *out = NULL;
    if (!v || json_is_null(v)) return true;
    if (!json_is_string(v)) return false;
    *out = xstrdup(json_string_value(v));
    return true;
}

static cjob_t *begin(http_req_t *r, json_t **body) {
    cjob_t *j = xcalloc(1, sizeof *j);
    j->engine = ENGINE(r);
    *body = NULL;
    if (!airsequel_authenticate(r, &j->a)) goto fail;
    if (!j->a.principal_id) {
        airsequel_error(r, 401, "Authentication required");
        goto fail;
    }
    char err[200];
    if (!(*body = api_json_object(r, err, sizeof err))) {
        char m[260];
        snprintf(m, sizeof m, "Invalid request body: %s", err);
        airsequel_error(r, 400, m);
        goto fail;
    }
    return j;
fail:
    cjob_free(j);
    return NULL;
}

static void h_create(http_req_t *r) {
    json_t *body;
    cjob_t *j = begin(r, &body);
    if (!j) return;
    const json_t *name = json_object_get(body, "name");
    if (!json_is_string(name) || !opt_string(body, "team", &j->team) || !opt_string(body, "query", &j->query)) {
        airsequel_error(r, 400, "Invalid request body: \"name\" must be a string, \"team\" and \"query\" strings");
        json_decref(body);
        cjob_free(j);
        return;
    }
    j->name = xstrdup(json_string_value(name));
    json_decref(body);
    char *n = j->name, *t = j->team, *q = j->query;
    actor_t a = j->a;
    j->name = j->team = j->query = NULL;
    cjob_free(j);
    airsequel_create_db(r, &a, n, t, q);
}

void airsequel_create_db(http_req_t *r, const actor_t *a, char *name, char *team, char *query) {
    cjob_t *j = xcalloc(1, sizeof *j);
    j->engine = ENGINE(r);
    j->a = *a;
    j->name = name;
    j->team = team;
    j->query = query;
    if (j->query && !j->query[0]) {
        free(j->query);
        j->query = NULL;
    }
    j->created = true;
    http_defer(r, create_work, create_done, j);
}

/* ---- PATCH and DELETE /api/dbs/:dbId -------------------------------------------- */

/* :dbId for an O route: visible to the caller, and theirs to administer. */
static db_t *owned_db(http_req_t *r, const actor_t *a) {
    db_t *d = airsequel_resolve_db(r, a, 0, DB_BY_NAME | DB_BY_ID | DB_BY_IDENTITY, false);
    if (d && !auth_check(a, d, ACT_OWNER)) {
        airsequel_error(r, 403, "Permission denied");
        db_release(d);
        d = NULL;
    }
    return d;
}

static void patch_work(void *data) {
    cjob_t *j = data;
    err_t e;
    catalog_t *c = j->engine->catalog;
    if (j->team) {
        if (owner_team(j, j->team, ROLE_ADMIN) < 0) return;
        if (j->owner.id != db_owner(j->db) && catalog_db_set_owner(c, j->db, j->owner.id, &e) < 0) {
            fail(j, 500, e.msg);
            return;
        }
    }
    if (j->name && name_check_db(j->name, &e) == 0 && catalog_db_rename(c, j->db, j->name, NULL, &e) == 0) {
        free(j->name);
        j->name = NULL;
    }
    if (j->name) {
        if (e.kind == E_EXISTS) snprintf(e.msg, sizeof e.msg, "Database \"%s\" already exists", j->name);
        fail(j, status_for(e.kind), e.msg);
        return;
    }
    if (j->set_description && catalog_db_set_description(c, j->db, j->clear_description ? NULL : j->description, &e) < 0)
        fail(j, 500, e.msg);
}

static void h_patch(http_req_t *r) {
    json_t *body;
    cjob_t *j = begin(r, &body);
    if (!j) return;
    if (!(j->db = owned_db(r, &j->a))) {
        json_decref(body);
        cjob_free(j);
        return;
    }
    const char *name, *owner, *desc;
    int n = airsequel_patch_string(json_object_get(body, "name"), &name);
    int o = airsequel_patch_string(json_object_get(body, "owner"), &owner);
    int d = airsequel_patch_string(json_object_get(body, "description"), &desc);
    j->name = name ? xstrdup(name) : NULL;
    j->team = owner ? xstrdup(owner) : NULL;
    j->description = desc ? xstrdup(desc) : NULL;
    json_decref(body);
    if (n == PATCH_BAD || n == PATCH_NULL || o == PATCH_BAD || o == PATCH_NULL || d == PATCH_BAD) {
        airsequel_error(r, 400, "Invalid request body: \"name\", \"owner\" and \"description\" must be strings");
        cjob_free(j);
        return;
    }
    j->set_description = d != PATCH_ABSENT;
    j->clear_description = d == PATCH_NULL;
    http_defer(r, patch_work, answer, j);
}

static void h_delete(http_req_t *r) {
    cjob_t *j = xcalloc(1, sizeof *j);
    j->engine = ENGINE(r);
    if (!airsequel_authenticate(r, &j->a) || !(j->db = owned_db(r, &j->a))) {
        cjob_free(j);
        return;
    }
    http_defer(r, delete_work, answer, j);
}

/* ---- GET /dbs/:dbId/regenerate-db-id, …/regenerate-readonly-id ------------------ */

static void do_regenerate(as_job_t *j) {
    err_t e;
    bool db_id = strcmp(j->tag, "db") == 0;
    if (catalog_db_regenerate(j->engine->catalog, j->db, db_id, !db_id, &e) < 0) {
        as_fail_err(j, &e);
        return;
    }
    jw_obj_begin(&j->w);
    jw_key(&j->w, "id");
    jw_str(&j->w, db_public_id(j->db));
    jw_key(&j->w, "readonlyId");
    jw_str(&j->w, db_readonly_id(j->db));
    jw_obj_end(&j->w);
}

static void h_regen_id(http_req_t *r) { airsequel_job_tagged(r, do_regenerate, 1, AS_DB_OWNER, "db"); }
static void h_regen_ro(http_req_t *r) { airsequel_job_tagged(r, do_regenerate, 1, AS_DB_OWNER, "readonly"); }

void airsequel_dbadmin_register(router_t *rt, const dialect_t *d) {
    router_add(rt, d, M_GET, "/dbs/:db/regenerate-db-id", h_regen_id);
    router_add(rt, d, M_GET, "/dbs/:db/regenerate-readonly-id", h_regen_ro);
    router_add(rt, d, M_POST, "/api/dbs", h_create);
    router_add(rt, d, M_PATCH, "/api/dbs/:db", h_patch);
    router_add(rt, d, M_DELETE, "/api/dbs/:db", h_delete);
}
