/* airsequel/as_session: POST /api/login and /api/logout (spec §2).
 * Login signs in as TypeDB's /v1/signin does (Argon2id off the loop, the
 * same session tokens, usable on every door) and answers the seed's shape:
 * the token, the user's name and their teams (core/team: the personal team
 * first). Logout revokes the token it was called with. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/airsequel/airsequel_internal.h"
#include "core/engine.h"
#include "util/json.h"

#define ENGINE(r) ((engine_t *)(r)->app)

typedef struct {
    engine_t *engine;
    char *user, *password;
    char token[TOKEN_MAX_LEN];
    buf_t teams; /* the "teams" array */
    int rc;
    err_t err;
} login_t;

static void login_work(void *data) {
    login_t *j = data;
    catalog_t *c = j->engine->catalog;
    j->rc = auth_signin(c, j->user, j->password, j->engine->token_ttl_s, j->token, &j->err);
    if (j->rc < 0) return;
    jw_t w;
    jw_init(&w, &j->teams, 0);
    airsequel_write_user_teams(&w, c, auth_user_id(c, j->user));
}

static void login_done(http_req_t *r, void *data) {
    login_t *j = data;
    if (j->rc == 0) {
        buf_t b = BUF_INIT;
        jw_t w;
        jw_init(&w, &b, 0);
        jw_obj_begin(&w);
        jw_key(&w, "sessionToken");
        jw_str(&w, j->token);
        jw_key(&w, "teams");
        jw_raw(&w, j->teams.data, j->teams.len);
        jw_key(&w, "username");
        jw_str(&w, j->user);
        jw_obj_end(&w);
        http_respond_buf(r, 200, "application/json; charset=utf-8", &b);
    } else if (j->err.kind == E_BAD_CREDENTIALS || j->err.kind == E_NOT_FOUND || j->err.kind == E_BAD_INPUT) {
        airsequel_error(r, 401, "Invalid username or password");
    } else {
        airsequel_error(r, 500, j->err.msg);
    }
    sodium_memzero(j->token, sizeof j->token);
    buf_free(&j->teams);
    sodium_memzero(j->password, strlen(j->password));
    free(j->user);
    free(j->password);
    free(j);
}

static void h_login(http_req_t *r) {
    char err[200];
    json_t *body = api_json_object(r, err, sizeof err);
    const json_t *u = body ? json_object_get(body, "username") : NULL, *p = body ? json_object_get(body, "password") : NULL;
    if (!json_is_string(u) || !json_is_string(p)) {
        char m[260];
        snprintf(m, sizeof m, "Invalid request body: %s",
                 body ? "\"username\" and \"password\" must be strings" : err);
        airsequel_error(r, 400, m);
        json_decref(body);
        return;
    }
    login_t *j = xcalloc(1, sizeof *j);
    j->engine = ENGINE(r);
    j->user = xstrdup(json_string_value(u));
    j->password = xstrdup(json_string_value(p));
    json_decref(body);
    http_defer(r, login_work, login_done, j);
}

typedef struct {
    catalog_t *catalog;
    char token[TOKEN_MAX_LEN];
} logout_t;

static void logout_work(void *data) {
    logout_t *j = data;
    auth_token_revoke(j->catalog, j->token);
}

static void logout_done(http_req_t *r, void *data) {
    logout_t *j = data;
    sodium_memzero(j->token, sizeof j->token);
    free(j);
    airsequel_json(r, 200, "{}");
}

static void h_logout(http_req_t *r) {
    actor_t a;
    if (!airsequel_authenticate(r, &a)) return;
    const char *tok = NULL;
    if (!a.principal_id || api_bearer(r, &tok) != BEARER_OK || !tok) {
        airsequel_error(r, 401, "Authentication required");
        return;
    }
    logout_t *j = xcalloc(1, sizeof *j);
    j->catalog = ENGINE(r)->catalog;
    snprintf(j->token, sizeof j->token, "%s", tok);
    http_defer(r, logout_work, logout_done, j);
}

void airsequel_session_register(router_t *rt, const dialect_t *d) {
    router_add(rt, d, M_POST, "/api/login", h_login);
    router_add(rt, d, M_POST, "/api/logout", h_logout);
}
