/* airsequel/as_job: the plumbing of the REST routes that only touch the
 * catalog (teams, tokens, users, settings, env): on the loop, authenticate,
 * check the caller is what the route needs, parse the body, take the
 * captures (and the database, for the /api/dbs/:dbId ones); then run the
 * route's function on the pool and answer its JSON or its error. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/airsequel/airsequel_internal.h"
#include "core/engine.h"

int as_fail(as_job_t *j, int status, const char *msg) {
    j->status = status;
    snprintf(j->msg, sizeof j->msg, "%s", msg);
    return -1;
}

int as_fail_err(as_job_t *j, const err_t *e) {
    int status;
    switch (e->kind) {
    case E_NOT_FOUND: status = 404; break;
    case E_EXISTS:
    case E_IN_USE: status = 409; break;
    case E_FORBIDDEN: status = 403; break;
    case E_BAD_INPUT:
    case E_INVALID_NAME:
    case E_INTERNAL_NAME:
    case E_RESERVED_NAME: status = 400; break;
    default: status = 500;
    }
    return as_fail(j, status, e->msg);
}

static void work(void *data) {
    as_job_t *j = data;
    jw_init(&j->w, &j->out, 0);
    j->fn(j);
}

static void job_free(as_job_t *j) {
    buf_free(&j->out);
    sodium_memzero(j->secret, sizeof j->secret);
    for (int i = 0; i < 2; i++) free(j->arg[i]);
    json_decref(j->body);
    db_release(j->db);
    free(j);
}

static void done(http_req_t *r, void *data) {
    as_job_t *j = data;
    if (j->status) airsequel_error(r, j->status, j->msg);
    else http_respond_buf(r, 200, "application/json; charset=utf-8", &j->out);
    job_free(j);
}

void airsequel_job(http_req_t *r, as_job_fn fn, int ncaps, int flags) { airsequel_job_tagged(r, fn, ncaps, flags, NULL); }

void airsequel_job_tagged(http_req_t *r, as_job_fn fn, int ncaps, int flags, const char *tag) {
    as_job_t *j = xcalloc(1, sizeof *j);
    j->engine = (engine_t *)r->app;
    j->fn = fn;
    j->tag = tag;
    int cap = 0;
    if (!airsequel_authenticate(r, &j->a)) goto out;
    bool signup = (flags & AS_SIGNUP) && j->engine->allow_signup;
    if ((flags & (AS_USER | AS_ADMIN)) && !signup) {
        if (!j->a.principal_id) {
            airsequel_error(r, 401, "Authentication required");
            goto out;
        }
        /* a token limited to databases, or a team's API token, manages nothing */
        if (j->a.scoped || !j->a.name[0] || ((flags & AS_ADMIN) && !auth_check(&j->a, NULL, ACT_ADMIN))) {
            airsequel_error(r, 403, "Permission denied");
            goto out;
        }
    }
    if (flags & AS_DB_READONLY) {
        if (!(j->db = airsequel_resolve_db(r, &j->a, cap++, DB_BY_READONLY, true))) goto out;
    } else if (flags & (AS_DB_OWNER | AS_DB_READ | AS_DB_WRITE)) {
        j->db = airsequel_resolve_db(r, &j->a, cap++, DB_BY_NAME | DB_BY_ID | DB_BY_IDENTITY, false);
        if (!j->db) goto out;
        unsigned need = flags & AS_DB_OWNER ? ACT_OWNER : flags & AS_DB_WRITE ? ACT_WRITE : ACT_READ;
        if (!auth_check(&j->a, j->db, need)) {
            airsequel_error(r, 403, "Permission denied");
            goto out;
        }
    }
    if (flags & AS_BODY) {
        char err[200];
        if (!(j->body = api_json_object(r, err, sizeof err))) {
            char m[260];
            snprintf(m, sizeof m, "Invalid request body: %s", err);
            airsequel_error(r, 400, m);
            goto out;
        }
    }
    for (int i = 0; cap < ncaps; i++, cap++) {
        buf_t b = BUF_INIT;
        api_capture(r, cap, &b);
        j->arg[i] = b.data ? buf_detach(&b) : xstrdup("");
    }
    http_defer(r, work, done, j);
    return;
out:
    job_free(j);
}
