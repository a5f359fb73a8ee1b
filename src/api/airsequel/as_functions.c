/* airsequel/as_functions: Lua functions (spec §2). D/functions lists (R)
 * and creates (O) them; /:funcId reads (R), publishes a new version (O),
 * deletes (O); /republish makes an old version current again; /versions/:v
 * reads one; /invocations shows the last 100 calls. /fns/:funcId runs the
 * current version for any caller (the id is the capability), as one write
 * job on its database: core/lua's sandbox and limits (the modules' ones),
 * db:exec/db:query and the handles on that database, `env` with the
 * database's variables over the instance's. Catalog work on the pool. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/airsequel/airsequel_internal.h"
#include "core/dbh.h"
#include "core/env.h"
#include "core/functions.h"
#include "core/lua.h"
#include "util/timeutil.h"
#include "util/url.h"

#define MAX_LOGS 200

/* ---- shapes ------------------------------------------------------------------- */

static void write_fn(jw_t *w, const fn_t *f) {
    jw_obj_begin(w);
    jw_key(w, "content");
    jw_str(w, f->content);
    jw_key(w, "description");
    if (f->description) jw_str(w, f->description);
    else jw_null(w);
    jw_key(w, "diagnostics");
    jw_raw(w, f->diagnostics, strlen(f->diagnostics));
    jw_key(w, "id");
    jw_str(w, f->id);
    jw_key(w, "name");
    jw_str(w, f->name);
    jw_key(w, "runtime");
    jw_str(w, "lua");
    jw_key(w, "versions");
    jw_arr_begin(w);
    for (int i = 0; i < f->nversions; i++) jw_str(w, f->versions[i]);
    jw_arr_end(w);
    jw_obj_end(w);
}

/* The chunk's diagnostics as JSON text: [] or [{message, line}]. */
static char *diagnostics(const char *content) {
    char msg[400];
    int line;
    buf_t b = BUF_INIT;
    jw_t w;
    jw_init(&w, &b, 0);
    jw_arr_begin(&w);
    if (lfn_check(content, strlen(content), msg, sizeof msg, &line) < 0) {
        jw_obj_begin(&w);
        jw_key(&w, "line");
        if (line) jw_int(&w, line);
        else jw_null(&w);
        jw_key(&w, "message");
        jw_str(&w, msg);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    return buf_detach(&b);
}

static void write_published(jw_t *w, const char *diags, const char *version) {
    jw_obj_begin(w);
    jw_key(w, "diagnostics");
    jw_raw(w, diags, strlen(diags));
    jw_key(w, "id");
    jw_str(w, version);
    jw_obj_end(w);
}

/* The body's runtime: absent or "lua". */
static int runtime_ok(as_job_t *j) {
    const json_t *rt = json_object_get(j->body, "runtime");
    if (!rt || (json_is_string(rt) && strcmp(json_string_value(rt), "lua") == 0)) return 0;
    char m[200];
    snprintf(m, sizeof m, "Unsupported runtime \"%.100s\": Atrium runs \"lua\"",
             json_is_string(rt) ? json_string_value(rt) : "?");
    return as_fail(j, 400, m);
}

/* An optional string member: 0 (absent: NULL), 1, or -1 after failing. */
static int opt_str(as_job_t *j, const char *key, const char **out) {
    const json_t *v = json_object_get(j->body, key);
    *out = NULL;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v)) {
        char m[120];
        snprintf(m, sizeof m, "Invalid request body: \"%s\" must be a string", key);
        return as_fail(j, 400, m);
    }
    *out = json_string_value(v);
    return 1;
}

/* ---- the management routes --------------------------------------------------------- */

static void do_list(as_job_t *j) {
    fn_t *fns;
    size_t n = fn_list(j->engine->catalog, j->db, &fns);
    jw_obj_begin(&j->w);
    jw_key(&j->w, "functions");
    jw_arr_begin(&j->w);
    for (size_t i = 0; i < n; i++) {
        write_fn(&j->w, &fns[i]);
        fn_free(&fns[i]);
    }
    jw_arr_end(&j->w);
    jw_obj_end(&j->w);
    free(fns);
}

static void do_create(as_job_t *j) {
    const char *name, *content, *desc;
    if (runtime_ok(j) < 0 || opt_str(j, "name", &name) < 0 || opt_str(j, "content", &content) < 0 ||
        opt_str(j, "description", &desc) < 0)
        return;
    if (!name || !content) {
        as_fail(j, 400, "Invalid request body: \"name\" and \"content\" are required");
        return;
    }
    char *diags = diagnostics(content);
    fn_t f;
    err_t e;
    if (fn_create(j->engine->catalog, j->db, name, desc, content, diags, &f, &e) < 0) {
        as_fail_err(j, &e);
    } else {
        write_fn(&j->w, &f);
        fn_free(&f);
    }
    free(diags);
}

static void do_get(as_job_t *j) {
    fn_t f;
    err_t e;
    if (fn_get(j->engine->catalog, j->db, j->arg[0], j->arg[1], &f, &e) < 0) {
        as_fail_err(j, &e);
        return;
    }
    write_fn(&j->w, &f);
    fn_free(&f);
}

static void publish(as_job_t *j, const char *name, const char *desc, const char *content) {
    char *diags = diagnostics(content), version[ULID_LEN + 1];
    err_t e;
    if (fn_publish(j->engine->catalog, j->db, j->arg[0], name, desc, content, diags, version, &e) < 0)
        as_fail_err(j, &e);
    else write_published(&j->w, diags, version);
    free(diags);
}

static void do_patch(as_job_t *j) {
    const char *name, *content, *desc;
    if (runtime_ok(j) < 0 || opt_str(j, "name", &name) < 0 || opt_str(j, "content", &content) < 0 ||
        opt_str(j, "description", &desc) < 0)
        return;
    fn_t cur;
    err_t e;
    if (fn_get(j->engine->catalog, j->db, j->arg[0], NULL, &cur, &e) < 0) {
        as_fail_err(j, &e);
        return;
    }
    publish(j, name, desc, content ? content : cur.content);
    fn_free(&cur);
}

static void do_republish(as_job_t *j) {
    const char *version;
    if (runtime_ok(j) < 0 || opt_str(j, "version", &version) < 0) return;
    if (!version) {
        as_fail(j, 400, "Invalid request body: \"version\" is required");
        return;
    }
    fn_t old;
    err_t e;
    if (fn_get(j->engine->catalog, j->db, j->arg[0], version, &old, &e) < 0) {
        as_fail_err(j, &e);
        return;
    }
    publish(j, NULL, NULL, old.content);
    fn_free(&old);
}

static void do_delete(as_job_t *j) {
    err_t e;
    if (fn_delete(j->engine->catalog, j->db, j->arg[0], &e) < 0) as_fail_err(j, &e);
    else jw_raw(&j->w, "{}", 2);
}

static void do_invocations(as_job_t *j) {
    fn_t f;
    err_t e;
    if (fn_get(j->engine->catalog, j->db, j->arg[0], NULL, &f, &e) < 0) {
        as_fail_err(j, &e);
        return;
    }
    fn_free(&f);
    fn_invocation_t *v;
    size_t n = fn_invocations(j->engine->catalog, j->arg[0], &v);
    jw_obj_begin(&j->w);
    jw_key(&j->w, "invocations");
    jw_arr_begin(&j->w);
    for (size_t i = 0; i < n; i++) {
        char iso[32];
        time_iso8601(v[i].created_ms, iso);
        jw_obj_begin(&j->w);
        jw_key(&j->w, "createdUtc");
        jw_str(&j->w, iso);
        jw_key(&j->w, "data");
        jw_str(&j->w, v[i].data ? v[i].data : "null");
        jw_key(&j->w, "logs");
        jw_raw(&j->w, v[i].logs, strlen(v[i].logs));
        jw_key(&j->w, "runtimeMs");
        jw_double(&j->w, v[i].runtime_ms);
        jw_obj_end(&j->w);
    }
    jw_arr_end(&j->w);
    jw_obj_end(&j->w);
    fn_invocations_free(v, n);
}

AS_ROUTE(h_list, do_list, 1, AS_DB_READ)
AS_ROUTE(h_create, do_create, 1, AS_DB_OWNER | AS_BODY)
AS_ROUTE(h_get, do_get, 2, AS_DB_READ)
AS_ROUTE(h_patch, do_patch, 2, AS_DB_OWNER | AS_BODY)
AS_ROUTE(h_delete, do_delete, 2, AS_DB_OWNER)
AS_ROUTE(h_republish, do_republish, 2, AS_DB_OWNER | AS_BODY)
AS_ROUTE(h_version, do_get, 3, AS_DB_READ)
AS_ROUTE(h_invocations, do_invocations, 2, AS_DB_READ)

/* ---- /fns/:funcId ------------------------------------------------------------------ */

typedef struct {
    api_write_t w;
    api_out_t out;
    catalog_t *catalog;
    const http_req_t *r; /* read on the pool while the request waits (as api_prepare_body does) */
    char id[ULID_LEN + 1];
    db_t *db;
    char *content;
    json_t *req, *env;
    lfn_response_t resp;
    json_t *logs;
    int64_t started_ms;
    uint64_t started_us;
    double runtime_ms;
    int status;
    char msg[sizeof(((err_t *)0)->msg)];
} call_t;

static void call_free(call_t *k) {
    api_out_reset(&k->out);
    changeset_free(&k->w.job.changes);
    db_release(k->db);
    free(k->content);
    json_decref(k->req);
    json_decref(k->env);
    json_decref(k->logs);
    lfn_response_free(&k->resp);
    free(k);
}

static void on_log(void *ctx, const char *level, int line, const char *function, const char *msg) {
    (void)line, (void)function;
    call_t *k = ctx;
    if (json_array_size(k->logs) >= MAX_LOGS) return;
    char iso[32];
    time_iso8601(time_now_ms(), iso);
    json_t *l = json_object();
    json_t *m = json_string(msg);
    json_object_set_new(l, "message", m ? m : json_string("(not UTF-8)"));
    json_object_set_new(l, "stream", json_string(strcmp(level, "Error") == 0 || strcmp(level, "Warn") == 0 ? "stderr"
                                                                                                             : "stdout"));
    json_object_set_new(l, "utc", json_string(iso));
    json_array_append_new(k->logs, l);
}

/* The function, its database and the variables it sees. */
static json_t *request_of(const http_req_t *r);

static void lookup_work(void *data) {
    call_t *k = data;
    err_t e;
    k->req = request_of(k->r); /* the body may be a 2 MiB JSON document: parsed here, not on the loop */
    char db_id[ULID_LEN + 1];
    if (fn_lookup(k->catalog, k->id, db_id, &k->content, &e) < 0 ||
        !(k->db = catalog_db_find(k->catalog, db_id, DB_BY_KEY))) {
        k->status = 404;
        snprintf(k->msg, sizeof k->msg, "Function \"%s\" does not exist", k->id);
        return;
    }
    k->env = json_object();
    const char *scopes[] = {ENV_INSTANCE, k->db->id}; /* the database's win */
    for (int s = 0; s < 2; s++) {
        env_var_t *v;
        size_t n = env_list(k->catalog, scopes[s], &v);
        for (size_t i = 0; i < n; i++) json_object_set_new(k->env, v[i].name, json_string(v[i].value));
        env_free(v, n);
    }
}

static int call_run(store_db_t *c, void *arg, err_t *e) {
    call_t *k = arg;
    lfn_response_free(&k->resp);
    json_array_clear(k->logs);
    int rc = lfn_run(k->content, strlen(k->content), k->db, c, k->req, k->env, on_log, k, &k->resp, e);
    k->out.rc = rc;
    if (rc < 0) k->out.err = *e;
    return rc;
}

static void log_work(void *data) {
    call_t *k = data;
    char *logs = json_dumps(k->logs, JSON_COMPACT);
    fn_invocation_t inv = {.created_ms = k->started_ms, .runtime_ms = k->runtime_ms, .logs = logs};
    buf_t data_text = BUF_INIT;
    if (k->out.rc == 0 && strncmp(k->resp.content_type, "application/json", 16) == 0)
        buf_append(&data_text, k->resp.body.data ? k->resp.body.data : "null", k->resp.body.data ? k->resp.body.len : 4);
    else if (k->out.rc == 0) {
        json_t *s = json_stringn(k->resp.body.data ? k->resp.body.data : "", k->resp.body.len);
        char *t = json_dumps(s ? s : json_null(), JSON_ENCODE_ANY);
        buf_puts(&data_text, t ? t : "null");
        free(t);
        json_decref(s);
    } else {
        buf_puts(&data_text, "null");
    }
    inv.data = data_text.data;
    fn_log_invocation(k->catalog, k->id, &inv);
    free(logs);
    buf_free(&data_text);
}

static void respond(http_req_t *r, void *data) {
    call_t *k = data;
    if (k->out.rc < 0) {
        airsequel_error(r, 500, k->out.err.msg); /* the invocation log has the details */
    } else {
        const char *key;
        json_t *v;
        json_object_foreach(k->resp.headers, key, v) http_add_header(r, key, json_string_value(v));
        http_respond(r, k->resp.status, k->resp.content_type[0] ? k->resp.content_type : "text/plain; charset=utf-8",
                     k->resp.body.data ? k->resp.body.data : "", k->resp.body.len);
    }
    call_free(k);
}

static void called(http_req_t *r, void *data) {
    call_t *k = data;
    k->runtime_ms = (double)(time_mono_us() - k->started_us) / 1000.0;
    http_defer(r, log_work, respond, k);
}

static void looked_up(http_req_t *r, void *data) {
    call_t *k = data;
    err_t e;
    if (k->status) {
        airsequel_error(r, k->status, k->msg);
        call_free(k);
        return;
    }
    k->started_ms = time_now_ms();
    k->started_us = time_mono_us();
    if (api_write(r, k->db, &k->w, call_run, &k->out, called, k, &e) < 0) {
        airsequel_error(r, 500, e.msg);
        call_free(k);
    }
}

/* req = {method, path, query, headers, body, json} */
static json_t *request_of(const http_req_t *r) {
    json_t *req = json_object(), *q = json_object(), *h = json_object();
    json_object_set_new(req, "method", json_string(r->method_name ? r->method_name : ""));
    json_object_set_new(req, "path", json_string(r->path));
    if (r->query) {
        qs_t qs;
        qs_parse(&qs, r->query, strlen(r->query));
        for (size_t i = 0; i < qs.n; i++) {
            json_t *v = json_string(qs.pairs[i].value);
            if (v) json_object_set_new(q, qs.pairs[i].key, v);
        }
        qs_free(&qs);
    }
    json_object_set_new(req, "query", q);
    for (int i = 0; i < r->nheaders; i++) {
        json_t *v = json_string(r->headers[i].value);
        if (v && strcasecmp(r->headers[i].name, "authorization") != 0) json_object_set_new(h, r->headers[i].name, v);
        else json_decref(v);
    }
    json_object_set_new(req, "headers", h);
    json_t *body = json_stringn(r->body.data ? r->body.data : "", r->body.len);
    json_object_set_new(req, "body", body ? body : json_null());
    json_t *parsed = r->body.len ? json_loadb(r->body.data, r->body.len, JSON_DECODE_ANY, NULL) : NULL;
    json_object_set_new(req, "json", parsed ? parsed : json_null());
    return req;
}

static void h_call(http_req_t *r) {
    buf_t id = BUF_INIT;
    if (api_capture(r, 0, &id) < 0 || !id.data || strlen(id.data) > ULID_LEN) {
        buf_free(&id);
        airsequel_error(r, 404, "Function not found");
        return;
    }
    call_t *k = xcalloc(1, sizeof *k);
    k->catalog = ((engine_t *)r->app)->catalog;
    snprintf(k->id, sizeof k->id, "%s", id.data);
    buf_free(&id);
    k->r = r;
    k->logs = json_array();
    http_defer(r, lookup_work, looked_up, k);
}

void airsequel_functions_register(router_t *rt, const dialect_t *d) {
    router_add(rt, d, M_GET, "/api/dbs/:db/functions", h_list);
    router_add(rt, d, M_POST, "/api/dbs/:db/functions", h_create);
    router_add(rt, d, M_GET, "/api/dbs/:db/functions/:fn", h_get);
    router_add(rt, d, M_PATCH, "/api/dbs/:db/functions/:fn", h_patch);
    router_add(rt, d, M_DELETE, "/api/dbs/:db/functions/:fn", h_delete);
    router_add(rt, d, M_POST, "/api/dbs/:db/functions/:fn/republish", h_republish);
    router_add(rt, d, M_GET, "/api/dbs/:db/functions/:fn/versions/:version", h_version);
    router_add(rt, d, M_GET, "/api/dbs/:db/functions/:fn/invocations", h_invocations);
    router_add(rt, d, M_GET | M_POST | M_PUT | M_PATCH | M_DELETE, "/fns/:fn", h_call);
}
