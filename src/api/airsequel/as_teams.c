/* airsequel/as_teams: teams, members, API tokens and users (spec §2).
 * The facts live in core (core/team, core/apitoken, core/auth); this file
 * translates routes and JSON. Team rules: members see a team, its Admins
 * change it; a non-member is told the team does not exist. A scoped token
 * (derived or API) manages no team, token or account: 403. Every catalog
 * step runs on the pool (http_defer); handlers only parse and authenticate
 * on the loop. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/airsequel/airsequel_internal.h"
#include "core/apitoken.h"
#include "core/reset.h"
#include "core/engine.h"
#include "core/team.h"
#include "util/json.h"
#include "util/timeutil.h"

/* The team named name as the caller may see it: 404 unless a member, 403
 * when need (ROLE_*) is not among the caller's roles. */
static int team_for(as_job_t *j, const char *name, unsigned need, team_t *t) {
    err_t e;
    if (team_find(j->engine->catalog, name, t, &e) < 0) return as_fail_err(j, &e);
    unsigned roles = auth_team_roles(&j->a, t->id, t->personal);
    if (!roles) {
        snprintf(e.msg, sizeof e.msg, "Team \"%s\" does not exist", name);
        return as_fail(j, 404, e.msg);
    }
    if (need && !(roles & need)) return as_fail(j, 403, "Permission denied");
    return 0;
}

/* The databases a principal owns, internal ones left out; free with
 * catalog_db_list_free. */
static size_t owned(catalog_t *c, int64_t owner, db_t ***out) {
    db_t **all;
    size_t n = catalog_db_list(c, &all), k = 0;
    for (size_t i = 0; i < n; i++) {
        if (db_owner(all[i]) == owner && all[i]->name[0] != '_') all[k++] = all[i];
        else db_release(all[i]);
    }
    *out = all;
    return k;
}

static void write_team(as_job_t *j, const team_t *t) {
    jw_t *w = &j->w;
    db_t **dbs;
    size_t n = owned(j->engine->catalog, t->id, &dbs);
    jw_obj_begin(w);
    jw_key(w, "billing");
    jw_null(w);
    jw_key(w, "created_utc");
    jw_time_ms(w, t->created_ms);
    jw_key(w, "databases");
    jw_arr_begin(w);
    for (size_t i = 0; i < n; i++) {
        jw_obj_begin(w);
        jw_key(w, "environment");
        jw_null(w);
        jw_key(w, "id");
        jw_str(w, db_public_id(dbs[i]));
        jw_key(w, "name");
        jw_str(w, dbs[i]->name);
        jw_key(w, "ownership_utc");
        jw_time_ms(w, __atomic_load_n(&dbs[i]->ownership_ms, __ATOMIC_ACQUIRE));
        jw_key(w, "visibility");
        jw_str(w, db_public(dbs[i]) ? "public" : "private");
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_key(w, "name");
    jw_str(w, t->name);
    jw_obj_end(w);
    catalog_db_list_free(dbs, n);
}

void airsequel_write_user_teams(jw_t *w, catalog_t *c, int64_t user) {
    team_t *teams;
    size_t n = team_list_for(c, user, &teams);
    jw_arr_begin(w);
    for (size_t i = 0; i < n; i++) {
        db_t **dbs;
        size_t k = owned(c, teams[i].id, &dbs);
        catalog_db_list_free(dbs, k);
        jw_obj_begin(w);
        jw_key(w, "billing");
        jw_null(w);
        jw_key(w, "name");
        jw_str(w, teams[i].name);
        jw_key(w, "numberOfDatabases");
        jw_int(w, (int64_t)k);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    free(teams);
}

/* ---- teams ------------------------------------------------------------ */

static void do_team_create(as_job_t *j) {
    const json_t *name = json_object_get(j->body, "name");
    if (!json_is_string(name)) {
        as_fail(j, 400, "Invalid request body: \"name\" must be a string");
        return;
    }
    team_t t;
    err_t e;
    if (team_create(j->engine->catalog, json_string_value(name), j->a.principal_id, &t, &e) < 0) {
        as_fail_err(j, &e);
        return;
    }
    write_team(j, &t);
}

static void do_team_get(as_job_t *j) {
    team_t t;
    if (team_for(j, j->arg[0], 0, &t) == 0) write_team(j, &t);
}

static void do_team_patch(as_job_t *j) {
    team_t t;
    if (team_for(j, j->arg[0], ROLE_ADMIN, &t) < 0) return;
    const json_t *name = json_object_get(j->body, "name");
    if (name && !json_is_string(name)) {
        as_fail(j, 400, "Invalid request body: \"name\" must be a string");
        return;
    }
    err_t e;
    if (name && team_rename(j->engine->catalog, &t, json_string_value(name), &e) < 0) {
        as_fail_err(j, &e);
        return;
    }
    write_team(j, &t); /* billing_* keys are accepted and ignored: no billing here */
}

static void do_team_delete(as_job_t *j) {
    team_t t;
    err_t e;
    if (team_for(j, j->arg[0], ROLE_ADMIN, &t) < 0) return;
    if (team_delete(j->engine->catalog, &t, &e) < 0) as_fail_err(j, &e);
    else jw_raw(&j->w, "{}", 2);
}

static void write_roles(jw_t *w, unsigned roles) {
    jw_arr_begin(w);
    for (unsigned bit = ROLE_ADMIN; bit <= ROLE_VIEWER; bit <<= 1)
        if (roles & bit) jw_str(w, team_role_name(bit));
    jw_arr_end(w);
}

static void do_members(as_job_t *j) {
    team_t t;
    if (team_for(j, j->arg[0], 0, &t) < 0) return;
    member_t *m;
    size_t n = team_members(j->engine->catalog, &t, &m);
    jw_obj_begin(&j->w);
    jw_key(&j->w, "members");
    jw_arr_begin(&j->w);
    for (size_t i = 0; i < n; i++) {
        jw_obj_begin(&j->w);
        jw_key(&j->w, "username");
        jw_str(&j->w, m[i].name);
        jw_key(&j->w, "roles");
        write_roles(&j->w, m[i].roles);
        jw_obj_end(&j->w);
    }
    jw_arr_end(&j->w);
    jw_obj_end(&j->w);
    free(m);
}

static void do_member_patch(as_job_t *j) {
    team_t t;
    if (team_for(j, j->arg[0], ROLE_ADMIN, &t) < 0) return;
    const json_t *roles = json_object_get(j->body, "roles");
    unsigned bits = 0;
    size_t i;
    const json_t *v;
    if (!json_is_array(roles)) {
        as_fail(j, 400, "Invalid request body: \"roles\" must be a list of Admin, Editor, Viewer");
        return;
    }
    json_array_foreach(roles, i, v) {
        unsigned b = json_is_string(v) ? team_role_parse(json_string_value(v)) : 0;
        if (!b) {
            as_fail(j, 400, "Invalid request body: \"roles\" must be a list of Admin, Editor, Viewer");
            return;
        }
        bits |= b;
    }
    err_t e;
    if (team_member_set(j->engine->catalog, &t, j->arg[1], bits, &e) < 0) as_fail_err(j, &e);
    else jw_raw(&j->w, "{}", 2);
}

static void do_member_delete(as_job_t *j) {
    team_t t;
    if (team_for(j, j->arg[0], ROLE_ADMIN, &t) < 0) return;
    err_t e;
    if (team_member_remove(j->engine->catalog, &t, j->arg[1], &e) < 0) as_fail_err(j, &e);
    else jw_raw(&j->w, "{}", 2);
}

/* ---- API tokens --------------------------------------------------------- */

static void write_token(as_job_t *j, const apitok_t *t, const char *secret) {
    jw_t *w = &j->w;
    jw_obj_begin(w);
    jw_key(w, "body");
    if (secret) {
        jw_str(w, secret);
    } else {
        char masked[APITOK_SHOWN + 8];
        snprintf(masked, sizeof masked, "%s\xe2\x80\xa6", t->shown);
        jw_str(w, masked);
    }
    jw_key(w, "created_utc");
    jw_time_ms(w, t->created_ms);
    jw_key(w, "description");
    if (t->has_description) jw_str(w, t->description);
    else jw_null(w);
    jw_key(w, "expiration_utc");
    jw_time_ms(w, t->expires_ms);
    jw_key(w, "id");
    jw_int(w, t->id);
    jw_key(w, "name");
    jw_str(w, t->name);
    jw_key(w, "permissions");
    jw_arr_begin(w);
    for (int i = 0; i < t->nperms; i++) {
        db_t *d = catalog_db_find(j->engine->catalog, t->perms[i].db_id, DB_BY_KEY);
        jw_obj_begin(w);
        jw_key(w, "db_id");
        jw_str(w, d ? db_public_id(d) : t->perms[i].db_id);
        jw_key(w, "db_name");
        if (d) jw_str(w, d->name);
        else jw_null(w);
        jw_key(w, "name");
        jw_str(w, apitok_perm_name(t->perms[i].actions));
        jw_obj_end(w);
        if (d) db_release(d);
    }
    jw_arr_end(w);
    jw_obj_end(w);
}

/* name, description, expiration_utc of a POST or PATCH body into t. */
static int token_fields(as_job_t *j, apitok_t *t, bool create) {
    const char *v;
    int k = airsequel_patch_string(json_object_get(j->body, "name"), &v);
    if (k == PATCH_BAD || k == PATCH_NULL || (create && k == PATCH_ABSENT))
        return as_fail(j, 400, "Invalid request body: \"name\" must be a string");
    if (v && strlen(v) > APITOK_NAME_MAX) return as_fail(j, 400, "\"name\" is too long");
    if (v) snprintf(t->name, sizeof t->name, "%s", v);
    k = airsequel_patch_string(json_object_get(j->body, "description"), &v);
    if (k == PATCH_BAD) return as_fail(j, 400, "Invalid request body: \"description\" must be a string or null");
    if (v && strlen(v) > APITOK_DESC_MAX) return as_fail(j, 400, "\"description\" is too long");
    if (k != PATCH_ABSENT) {
        t->has_description = v != NULL;
        snprintf(t->description, sizeof t->description, "%s", v ? v : "");
    }
    k = airsequel_patch_string(json_object_get(j->body, "expiration_utc"), &v);
    int64_t ms = 0;
    if (k == PATCH_BAD || (v && time_parse_iso8601(v, &ms) < 0))
        return as_fail(j, 400, "Invalid request body: \"expiration_utc\" must be an ISO-8601 time or null");
    if (k != PATCH_ABSENT) t->expires_ms = ms;
    return 0;
}

static void do_token_create(as_job_t *j) {
    apitok_t *t = xcalloc(1, sizeof *t);
    team_t team;
    const json_t *tn = json_object_get(j->body, "team_name"), *perms = json_object_get(j->body, "permissions");
    char own[256];
    auth_principal_name(j->engine->catalog, j->a.principal_id, own, sizeof own);
    size_t i;
    const json_t *p;
    err_t e;
    if (tn && !json_is_string(tn)) {
        as_fail(j, 400, "Invalid request body: \"team_name\" must be a string");
    } else if (!json_is_array(perms)) {
        as_fail(j, 400, "Invalid request body: \"permissions\" must be a list of {db_id, name}");
    } else if (token_fields(j, t, true) == 0 && team_for(j, tn ? json_string_value(tn) : own, ROLE_ADMIN, &team) == 0) {
        t->team_id = team.id;
        json_array_foreach(perms, i, p) {
            const json_t *db = json_object_get(p, "db_id"), *name = json_object_get(p, "name");
            unsigned acts = json_is_string(name) ? apitok_perm_actions(json_string_value(name)) : 0;
            if (!json_is_string(db) || !acts) {
                as_fail(j, 400, "Invalid request body: each permission is {db_id, name} with name read, write, "
                             "writeonly or insertonly");
                break;
            }
            if (t->nperms == AUTH_MAX_GRANTS) {
                as_fail(j, 400, "Too many permissions on one token");
                break;
            }
            snprintf(t->perms[t->nperms].db_id, sizeof t->perms[0].db_id, "%s", json_string_value(db));
            t->perms[t->nperms++].actions = acts;
        }
        if (!j->status && apitok_create(j->engine->catalog, t, j->secret, &e) < 0) as_fail_err(j, &e);
        else if (!j->status) write_token(j, t, j->secret);
    }
    free(t);
}

/* The token of the route (capture 0) if the caller administers its team. */
static apitok_t *token_for(as_job_t *j) {
    char *end;
    long long id = strtoll(j->arg[0], &end, 10);
    apitok_t *t = xcalloc(1, sizeof *t);
    err_t e;
    team_t team;
    if (*end || end == j->arg[0] || apitok_get(j->engine->catalog, id, t, &e) < 0) {
        as_fail(j, 404, "Token not found");
    } else if (team_get(j->engine->catalog, t->team_id, &team, &e) < 0 ||
               !(auth_team_roles(&j->a, team.id, team.personal) & ROLE_ADMIN)) {
        as_fail(j, 404, "Token not found"); /* not the caller's to see */
    } else {
        return t;
    }
    free(t);
    return NULL;
}

static void do_token_get(as_job_t *j) {
    apitok_t *t = token_for(j);
    if (t) write_token(j, t, NULL);
    free(t);
}

static void do_token_patch(as_job_t *j) {
    apitok_t *t = token_for(j);
    err_t e;
    if (t && token_fields(j, t, false) == 0) {
        if (apitok_update(j->engine->catalog, t, &e) < 0) as_fail_err(j, &e);
        else write_token(j, t, NULL);
    }
    free(t);
}

static void do_token_delete(as_job_t *j) {
    apitok_t *t = token_for(j);
    err_t e;
    if (t && apitok_revoke(j->engine->catalog, t->id, &e) < 0) as_fail_err(j, &e);
    else if (t) jw_raw(&j->w, "{}", 2);
    free(t);
}

static void do_team_tokens(as_job_t *j) {
    team_t team;
    if (team_for(j, j->arg[0], ROLE_ADMIN, &team) < 0) return;
    apitok_t *t;
    size_t n = apitok_list(j->engine->catalog, team.id, &t);
    jw_obj_begin(&j->w);
    jw_key(&j->w, "tokens");
    jw_arr_begin(&j->w);
    for (size_t i = 0; i < n; i++) write_token(j, &t[i], NULL);
    jw_arr_end(&j->w);
    jw_obj_end(&j->w);
    free(t);
}

/* ---- users -------------------------------------------------------------- */

static void do_user_create(as_job_t *j) {
    const json_t *u = json_object_get(j->body, "username"), *p = json_object_get(j->body, "password"),
                 *mail = json_object_get(j->body, "email_address");
    err_t e;
    if (!j->engine->allow_signup && !auth_check(&j->a, NULL, ACT_ADMIN)) {
        as_fail(j, j->a.principal_id ? 403 : 401, j->a.principal_id ? "Permission denied" : "Authentication required");
    } else if (!json_is_string(u) || !json_is_string(p) || !json_string_length(p) || (mail && !json_is_string(mail) &&
                                                                                        !json_is_null(mail))) {
        as_fail(j, 400, "Invalid request body: \"username\" and \"password\" must be strings");
    } else if (!team_name_valid(json_string_value(u))) {
        as_fail(j, 400, "User names start with a letter or digit and hold up to 64 letters, digits, '_', '.' or '-'");
    } else if (team_find(j->engine->catalog, json_string_value(u), &(team_t){0}, &e) == 0) {
        as_fail(j, 409, "The name is already taken");
    } else if (auth_user_create(j->engine->catalog, json_string_value(u), json_string_value(p), &e) < 0) {
        if (e.kind == E_EXISTS) as_fail(j, 409, "The name is already taken");
        else as_fail_err(j, &e);
    } else if (json_is_string(mail) && reset_set_email(j->engine->catalog, json_string_value(u), json_string_value(mail), &e) < 0) {
        as_fail_err(j, &e); /* the address is someone else's, or none: the user goes again */
        auth_user_delete(j->engine->catalog, json_string_value(u), &e);
    } else {
        jw_raw(&j->w, "{}", 2);
    }
    if (json_is_string(p)) sodium_memzero((void *)json_string_value(p), json_string_length(p));
}

/* POST /api/users/reset-password: the server admin gets a key to hand
 * over; anyone else would need e-mail, which Atrium does not send. */
static void do_reset_issue(as_job_t *j) {
    const json_t *mail = json_object_get(j->body, "email");
    err_t e;
    int64_t expires;
    if (!auth_check(&j->a, NULL, ACT_ADMIN)) {
        as_fail(j, 501, "Password reset by e-mail needs an external service (billing, AI model, e-mail) and is not "
                        "available in Atrium");
    } else if (!json_is_string(mail)) {
        as_fail(j, 400, "Invalid request body: \"email\" must be a string");
    } else if (reset_issue(j->engine->catalog, json_string_value(mail), j->secret, &expires, &e) < 0) {
        as_fail_err(j, &e);
    } else {
        char iso[32];
        time_iso8601(expires, iso);
        jw_obj_begin(&j->w);
        jw_key(&j->w, "expiresUtc");
        jw_str(&j->w, iso);
        jw_key(&j->w, "resetKey");
        jw_str(&j->w, j->secret);
        jw_obj_end(&j->w);
    }
}

static void do_reset_submit(as_job_t *j) {
    const json_t *key = json_object_get(j->body, "resetKey"), *p = json_object_get(j->body, "password");
    err_t e;
    if (!json_is_string(key) || !json_is_string(p) || !json_string_length(p))
        as_fail(j, 400, "Invalid request body: \"password\" and \"resetKey\" must be strings");
    else if (reset_submit(j->engine->catalog, json_string_value(key), json_string_value(p), &e) < 0)
        as_fail(j, 400, e.kind == E_BAD_INPUT ? e.msg : "The password could not be set");
    else jw_raw(&j->w, "{}", 2);
    if (json_is_string(p)) sodium_memzero((void *)json_string_value(p), json_string_length(p));
}

static void do_user_get(as_job_t *j) {
    int64_t id = auth_user_id(j->engine->catalog, j->arg[0]);
    if (!id || !auth_check_user(&j->a, j->arg[0])) {
        as_fail(j, 404, "User not found");
        return;
    }
    bool admin = auth_user_is_admin(j->engine->catalog, id);
    jw_obj_begin(&j->w);
    jw_key(&j->w, "serverRoles");
    jw_arr_begin(&j->w);
    if (admin) jw_str(&j->w, "admin");
    jw_arr_end(&j->w);
    jw_key(&j->w, "teams");
    airsequel_write_user_teams(&j->w, j->engine->catalog, id);
    jw_key(&j->w, "username");
    jw_str(&j->w, j->arg[0]);
    jw_obj_end(&j->w);
}

AS_ROUTE(h_team_create, do_team_create, 0, AS_USER | AS_BODY)
AS_ROUTE(h_team_get, do_team_get, 1, AS_USER)
AS_ROUTE(h_team_patch, do_team_patch, 1, AS_USER | AS_BODY)
AS_ROUTE(h_team_delete, do_team_delete, 1, AS_USER)
AS_ROUTE(h_members, do_members, 1, AS_USER)
AS_ROUTE(h_member_patch, do_member_patch, 2, AS_USER | AS_BODY)
AS_ROUTE(h_member_delete, do_member_delete, 2, AS_USER)
AS_ROUTE(h_team_tokens, do_team_tokens, 1, AS_USER)
AS_ROUTE(h_token_create, do_token_create, 0, AS_USER | AS_BODY)
AS_ROUTE(h_token_get, do_token_get, 1, AS_USER)
AS_ROUTE(h_token_patch, do_token_patch, 1, AS_USER | AS_BODY)
AS_ROUTE(h_token_delete, do_token_delete, 1, AS_USER)
AS_ROUTE(h_user_create, do_user_create, 0, AS_USER | AS_BODY | AS_SIGNUP)
AS_ROUTE(h_user_get, do_user_get, 1, AS_USER)
AS_ROUTE(h_reset_issue, do_reset_issue, 0, AS_BODY)
AS_ROUTE(h_reset_submit, do_reset_submit, 0, AS_BODY)

void airsequel_teams_register(router_t *rt, const dialect_t *d) {
    router_add(rt, d, M_POST, "/api/teams", h_team_create);
    router_add(rt, d, M_GET, "/api/teams/:team", h_team_get);
    router_add(rt, d, M_PATCH, "/api/teams/:team", h_team_patch);
    router_add(rt, d, M_DELETE, "/api/teams/:team", h_team_delete);
    router_add(rt, d, M_GET, "/api/teams/:team/members", h_members);
    router_add(rt, d, M_PATCH, "/api/teams/:team/members/:user", h_member_patch);
    router_add(rt, d, M_DELETE, "/api/teams/:team/members/:user", h_member_delete);
    router_add(rt, d, M_GET, "/api/teams/:team/tokens", h_team_tokens);
    router_add(rt, d, M_POST, "/api/tokens", h_token_create);
    router_add(rt, d, M_GET, "/api/tokens/:token", h_token_get);
    router_add(rt, d, M_PATCH, "/api/tokens/:token", h_token_patch);
    router_add(rt, d, M_DELETE, "/api/tokens/:token", h_token_delete);
    router_add(rt, d, M_POST, "/api/users", h_user_create);
    router_add(rt, d, M_GET, "/api/users/:user", h_user_get);
    router_add(rt, d, M_POST, "/api/users/reset-password", h_reset_issue);
    router_add(rt, d, M_POST, "/api/users/reset-password/submit", h_reset_submit);
}
