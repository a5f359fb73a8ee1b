/* airsequel/ag_http: the GraphQL endpoints (spec/airsequel.md §4.1, §4.9,
 * §4.10): /dbs/:dbId/graphql and /readonly/:readonlyId/graphql (POST, and
 * GET for queries or the playground) and /dbs/:dbId/playground/default-query.
 *
 * A query runs as one read (api_read: on the loop when it is quick, else
 * on the pool) over one snapshot; a mutation runs as one write job on the
 * database's writer, rolled back whole if a root field fails. Derived
 * schemas are cached per (database, schema snapshot, mode) and shared. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/airsequel/ag.h"
#include "api/airsequel/airsequel_internal.h"
#include "core/auth.h"
#include "core/dbh.h"
#include "core/engine.h"
#include "util/json.h"
#include "util/thread.h"
#include "util/timeutil.h"
#include "util/url.h"

#define MAX_DOC_CHARS 100000
#define TIME_LIMIT_US (20 * 1000000ull)
#define CACHE_SLOTS 32

/* ---- the schema cache ---------------------------------------------------------- */

typedef struct {
    char db_id[64];
    const schema_t *src; /* the snapshot it was derived from (held by as) */
    ag_mode_t mode;
    ag_schema_t *as;
    uint64_t used;
} slot_t;

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static slot_t cache[CACHE_SLOTS];
static uint64_t cache_clock;

/* Keyed by the schema snapshot itself: the shared one of a database and
 * version is one object, so every reader and the writer find it; a
 * writer's private snapshot (uncommitted DDL) is another object, so it
 * never answers for anyone else. The entry's reference keeps the
 * snapshot alive, so its address cannot be reused while cached. */
static ag_schema_t *cache_get(const char *db_id, const schema_t *src, ag_mode_t mode) {
    ag_schema_t *as = NULL;
    pthread_mutex_lock(&cache_lock);
    for (int i = 0; i < CACHE_SLOTS; i++)
        if (cache[i].as && cache[i].src == src && cache[i].mode == mode && strcmp(cache[i].db_id, db_id) == 0) {
            as = cache[i].as;
            __atomic_add_fetch(&as->refs, 1, __ATOMIC_ACQ_REL);
            cache[i].used = ++cache_clock;
            break;
        }
    pthread_mutex_unlock(&cache_lock);
    return as;
}

static void cache_put(const char *db_id, ag_mode_t mode, ag_schema_t *as) {
    ag_schema_t *old = NULL;
    pthread_mutex_lock(&cache_lock);
    int victim = 0;
    for (int i = 0; i < CACHE_SLOTS; i++) {
        if (cache[i].as && strcmp(cache[i].db_id, db_id) == 0 && cache[i].mode == mode) {
            victim = i; /* a stale schema of the same database and mode */
            break;
        }
        if (!cache[i].as || cache[i].used < cache[victim].used) victim = i;
        if (!cache[victim].as) break;
    }
    old = cache[victim].as;
    snprintf(cache[victim].db_id, sizeof cache[victim].db_id, "%s", db_id);
    cache[victim].src = as->src;
    cache[victim].mode = mode;
    cache[victim].as = as;
    cache[victim].used = ++cache_clock;
    __atomic_add_fetch(&as->refs, 1, __ATOMIC_ACQ_REL);
    pthread_mutex_unlock(&cache_lock);
    ag_schema_release(old);
}

/* The derived schema of what c sees; NULL with the outcome in out (on the
 * loop, E_TIMEOUT/ES_OFF_LOOP when it would have to be built). */
static ag_schema_t *derived(db_t *d, store_db_t *c, ag_mode_t mode, api_out_t *out) {
    char e[256];
    const schema_t *s = thread_is_loop() ? schema_peek(d, c) : schema_acquire(d, c, e, sizeof e);
    if (!s) {
        if (thread_is_loop()) out->rc = err_set_sub(&out->err, E_TIMEOUT, ES_OFF_LOOP, "schema built off the loop");
        else out->rc = err_set(&out->err, E_INTERNAL, "%s", e);
        return NULL;
    }
    ag_schema_t *as = cache_get(d->id, s, mode);
    if (as && strcmp(as->readonly_id, db_readonly_id(d)) != 0) { /* regenerated: its file URLs changed */
        ag_schema_release(as);
        as = NULL;
    }
    if (as) {
        schema_release(s);
        return as;
    }
    if (thread_is_loop()) {
        schema_release(s);
        out->rc = err_set_sub(&out->err, E_TIMEOUT, ES_OFF_LOOP, "schema built off the loop");
        return NULL;
    }
    as = ag_schema_build(c, s, mode, db_readonly_id(d), e, sizeof e);
    if (!as) {
        out->rc = err_set(&out->err, E_INTERNAL, "%s", e);
        return NULL;
    }
    cache_put(d->id, mode, as);
    return as;
}

/* ---- the document cache ------------------------------------------------------- */

/* Parsed documents by text, shared and reference-counted (a document is
 * immutable once parsed), each remembering the last derived schema it was
 * found valid against (by serial, so a freed schema's address can never
 * vouch for a new one). Clients send the same few documents over and
 * over: parsing and validating once is the saving. */
#define DOC_SLOTS 256
#define DOC_MAX_TEXT 16384

typedef struct {
    uint64_t hash;
    char *text;
    size_t len;
    gql_doc_t *doc;
    int refs;
    uint64_t valid_for;
    uint64_t used;
} dslot_t;

static pthread_mutex_t doc_lock = PTHREAD_MUTEX_INITIALIZER;
static dslot_t *doc_slots[DOC_SLOTS];
static uint64_t doc_clock;

static uint64_t hash_text(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static void doc_release(dslot_t *e) {
    if (!e) return;
    pthread_mutex_lock(&doc_lock);
    bool last = --e->refs == 0;
    pthread_mutex_unlock(&doc_lock);
    if (!last) return;
    gql_doc_free(e->doc);
    free(e->text);
    free(e);
}

/* The parsed document for text: from the cache, or parsed now (and cached
 * if small). NULL with msg and loc on a syntax error. Loop thread. */
static dslot_t *doc_get(const char *text, size_t len, char *msg, size_t msgn, gql_loc_t *loc) {
    uint64_t h = hash_text(text, len);
    size_t at = h % DOC_SLOTS;
    pthread_mutex_lock(&doc_lock);
    dslot_t *e = doc_slots[at];
    if (e && e->hash == h && e->len == len && memcmp(e->text, text, len) == 0) {
        e->refs++;
        e->used = ++doc_clock;
        pthread_mutex_unlock(&doc_lock);
        return e;
    }
    pthread_mutex_unlock(&doc_lock);
    gql_doc_t *doc;
    if (gql_parse(text, len, &doc, msg, msgn, loc) < 0) return NULL;
    e = xcalloc(1, sizeof *e);
    e->hash = h;
    e->text = xstrndup(text, len);
    e->len = len;
    e->doc = doc;
    e->refs = 1;
    if (len > DOC_MAX_TEXT) return e;
    dslot_t *old;
    pthread_mutex_lock(&doc_lock);
    old = doc_slots[at];
    doc_slots[at] = e;
    e->refs++;
    e->used = ++doc_clock;
    pthread_mutex_unlock(&doc_lock);
    doc_release(old);
    return e;
}

/* ---- jobs -------------------------------------------------------------------------- */

typedef struct {
    api_write_t w; /* first */
    db_t *db;
    ag_mode_t mode;
    dslot_t *doc;
    char *opname;
    json_t *vars;
    api_out_t out; /* rows: the response */
    int gql_rc;
    bool default_query;
} gjob_t;

static void gjob_free(gjob_t *j) {
    api_out_reset(&j->out);
    changeset_free(&j->w.job.changes);
    doc_release(j->doc);
    free(j->opname);
    json_decref(j->vars);
    db_release(j->db);
    free(j);
}

static void execute(gjob_t *j, store_db_t *c, uint64_t deadline) {
    ag_schema_t *as = derived(j->db, c, j->mode, &j->out);
    if (!as) return;
    buf_reset(&j->out.rows);
    if (j->default_query) {
        buf_append(&j->out.rows, as->default_query.data ? as->default_query.data : "", as->default_query.len);
        ag_schema_release(as);
        return;
    }
    ag_run_t run = {.as = as, .c = c, .deadline_us = deadline};
    bool validated = false;
    uint64_t valid_for = __atomic_load_n(&j->doc->valid_for, __ATOMIC_RELAXED);
    gql_env_t env = {.schema = as->gs, .resolve = ag_resolve, .ctx = &run, .max_depth = 30,
                     .prevalidated = valid_for == as->serial, .validated = &validated};
    if (j->mode == AG_WRITEONLY || j->mode == AG_INSERTONLY) env.query_error = "Cannot read field using the provided token";
    store_set_deadline(c, deadline);
    j->gql_rc = gql_execute(&env, j->doc->doc, j->opname, j->vars, &j->out.rows);
    if (validated && valid_for != as->serial) __atomic_store_n(&j->doc->valid_for, as->serial, __ATOMIC_RELAXED);
    store_set_deadline(c, 0);
    if (deadline && time_mono_us() >= deadline) {
        j->out.rc = err_set(&j->out.err, E_TIMEOUT, "Query timed out");
    } else if (j->gql_rc == -2) {
        j->out.rc = err_set(&j->out.err, E_INTERNAL, "%s", run.fatal[0] ? run.fatal : "GraphQL execution failed");
    } else if (run.failed || j->gql_rc < 0) {
        j->out.rc = 1; /* answered, but nothing may be kept */
    }
    ag_schema_release(as);
}

static void read_run(void *ctx, store_db_t *c, uint64_t deadline) {
    gjob_t *j = ctx;
    j->out.rc = 0;
    /* every root field reads the same snapshot (spec §4.1) */
    bool began = api_snapshot_begin(c);
    execute(j, c, deadline);
    api_snapshot_end(c, began);
}

static void read_reset(void *ctx) {
    gjob_t *j = ctx;
    buf_reset(&j->out.rows);
    j->out.rc = 0;
    memset(&j->out.err, 0, sizeof j->out.err);
}

static int write_run(store_db_t *c, void *arg, err_t *e) {
    gjob_t *j = arg;
    j->out.rc = 0;
    execute(j, c, time_mono_us() + TIME_LIMIT_US);
    if (j->out.rc == 1) {
        /* a root field failed: undo every field's writes, answer anyway */
        memset(e, 0, sizeof *e);
        return -1;
    }
    if (j->out.rc < 0) *e = j->out.err;
    return j->out.rc < 0 ? -1 : 0;
}

static void respond(http_req_t *r, void *data) {
    gjob_t *j = data;
    if (j->out.rc < 0 && j->out.err.kind == E_TIMEOUT) {
        airsequel_json(r, 200, "{\"data\":null,\"errors\":[{\"message\":\"Query timed out\"}]}");
    } else if (j->out.rc < 0 && !(j->w.commit_failed && j->out.rows.len)) {
        airsequel_error(r, 500, j->out.err.msg[0] ? j->out.err.msg : "Internal error");
    } else if (j->w.commit_failed) {
        airsequel_error(r, 500, j->out.err.msg[0] ? j->out.err.msg : "The write could not be committed");
    } else if (j->default_query) {
        http_respond(r, 200, "text/plain; charset=utf-8", j->out.rows.data ? j->out.rows.data : "", j->out.rows.len);
    } else {
        http_respond_buf(r, 200, "application/json; charset=utf-8", &j->out.rows);
    }
    gjob_free(j);
}

/* ---- the request ---------------------------------------------------------------------- */

static const char playground[] =
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>GraphQL playground</title>\n"
    "<style>body{font-family:system-ui,sans-serif;margin:0;display:flex;height:100vh}"
    "textarea,pre{flex:1;margin:0;padding:1em;font:13px/1.4 ui-monospace,monospace;border:0;overflow:auto}"
    "textarea{border-right:1px solid #ccc}button{position:fixed;top:.5em;left:calc(50% - 3em)}</style>\n</head>\n"
    "<body>\n<textarea id=\"q\" spellcheck=\"false\"></textarea><button id=\"run\">Run ▶</button><pre id=\"out\"></pre>\n"
    "<script>\nconst ep = location.pathname.replace(/\\/playground.*$|\\/graphql.*$/, '') + '/graphql';\n"
    "const q = document.getElementById('q'), out = document.getElementById('out');\n"
    "fetch(location.pathname.replace(/\\/graphql.*$/, '') + '/playground/default-query')\n"
    "  .then(r => r.ok ? r.text() : '').then(t => { if (!q.value) q.value = t; }).catch(() => {});\n"
    "document.getElementById('run').onclick = async () => {\n"
    "  const headers = {'Content-Type': 'application/json'};\n"
    "  const tok = localStorage.getItem('atrium-token'); if (tok) headers.Authorization = 'Bearer ' + tok;\n"
    "  const r = await fetch(ep, {method: 'POST', headers, body: JSON.stringify({query: q.value})});\n"
    "  out.textContent = JSON.stringify(await r.json(), null, 2);\n};\n</script>\n</body>\n</html>\n";

/* The access mode the actor has on d; -1 (answered) if none. */
static int access_mode(http_req_t *r, const actor_t *a, db_t *d, bool by_readonly) {
    if (by_readonly) return AG_READONLY;
    bool rd = auth_check(a, d, ACT_READ), wr = auth_check(a, d, ACT_WRITE);
    if (rd && wr) return AG_READWRITE;
    if (rd) return AG_READONLY;
    if (wr) return AG_WRITEONLY;
    if (auth_check(a, d, ACT_INSERT)) return AG_INSERTONLY;
    (void)r;
    return -1;
}

static void handle(http_req_t *r, bool by_readonly, bool default_query) {
    actor_t a;
    if (!airsequel_authenticate(r, &a)) return;
    db_t *d = airsequel_resolve_db(r, &a, 0, by_readonly ? DB_BY_READONLY : DB_BY_NAME | DB_BY_ID | DB_BY_IDENTITY,
                                   by_readonly);
    if (!d) return;
    int mode = access_mode(r, &a, d, by_readonly);
    if (mode < 0) {
        airsequel_error(r, 403, "Permission denied");
        db_release(d);
        return;
    }
    gjob_t *j = xcalloc(1, sizeof *j);
    j->db = d;
    j->mode = (ag_mode_t)mode;
    if (default_query) {
        if (mode != AG_READWRITE && mode != AG_READONLY) {
            airsequel_error(r, 403, "Permission denied");
            gjob_free(j);
            return;
        }
        j->default_query = true;
        api_read(r, d, TIME_LIMIT_US, &j->out, read_run, read_reset, respond, j);
        return;
    }
    const char *query = NULL;
    size_t qlen = 0;
    json_t *body = NULL;
    qs_t qs = {0};
    const json_t *vars = NULL;
    const char *opname = NULL;
    json_t *parsed_vars = NULL;
    const char *bad = NULL;
    if (r->method == M_GET) {
        if (r->query) qs_parse(&qs, r->query, strlen(r->query));
        query = qs_get(&qs, "query");
        if (!query) {
            qs_free(&qs);
            gjob_free(j);
            http_respond(r, 200, "text/html; charset=utf-8", playground, sizeof playground - 1);
            return;
        }
        qlen = strlen(query);
        const char *v = qs_get(&qs, "variables");
        if (v && *v) {
            parsed_vars = json_loads(v, JSON_DECODE_ANY, NULL);
            if (!parsed_vars || !(json_is_object(parsed_vars) || json_is_null(parsed_vars))) bad = "Variables are invalid JSON.";
            vars = parsed_vars;
        }
        opname = qs_get(&qs, "operationName");
    } else {
        char err[200];
        body = api_json_object(r, err, sizeof err);
        if (!body) {
            char m[260];
            snprintf(m, sizeof m, "Invalid request body: %s", err);
            airsequel_error(r, 400, m);
            gjob_free(j);
            return;
        }
        json_t *q = json_object_get(body, "query");
        if (json_is_string(q)) query = json_string_value(q), qlen = json_string_length(q);
        json_t *v = json_object_get(body, "variables");
        if (json_is_string(v)) {
            parsed_vars = json_loads(json_string_value(v), JSON_DECODE_ANY, NULL);
            if (!parsed_vars || !(json_is_object(parsed_vars) || json_is_null(parsed_vars))) bad = "Variables are invalid JSON.";
            vars = parsed_vars;
        } else if (v && !json_is_object(v) && !json_is_null(v)) {
            bad = "Invalid request body: \"variables\" must be an object";
        } else vars = v;
        json_t *o = json_object_get(body, "operationName");
        if (json_is_string(o)) opname = json_string_value(o);
    }
    if (!query || bad) {
        airsequel_error(r, 400, bad ? bad : "Invalid request body: \"query\" must be a string");
        goto out;
    }
    size_t chars = 0;
    for (size_t i = 0; i < qlen; i++) chars += ((unsigned char)query[i] & 0xC0) != 0x80;
    if (chars > MAX_DOC_CHARS) {
        char m[160];
        snprintf(m, sizeof m, "GraphQL document is too long (%zu characters, maximum is %d)", chars, MAX_DOC_CHARS);
        airsequel_error(r, 413, m);
        goto out;
    }
    char msg[300];
    gql_loc_t loc;
    if (!(j->doc = doc_get(query, qlen, msg, sizeof msg, &loc))) {
        buf_t b = BUF_INIT;
        jw_t w;
        jw_init(&w, &b, 0);
        jw_obj_begin(&w);
        jw_key(&w, "data");
        jw_null(&w);
        jw_key(&w, "errors");
        jw_arr_begin(&w);
        jw_obj_begin(&w);
        jw_key(&w, "message");
        jw_str(&w, msg);
        jw_key(&w, "locations");
        jw_arr_begin(&w);
        jw_obj_begin(&w);
        jw_key(&w, "line");
        jw_int(&w, loc.line);
        jw_key(&w, "column");
        jw_int(&w, loc.column);
        jw_obj_end(&w);
        jw_arr_end(&w);
        jw_obj_end(&w);
        jw_arr_end(&w);
        jw_obj_end(&w);
        http_respond_buf(r, 200, "application/json; charset=utf-8", &b);
        goto out;
    }
    j->opname = opname ? xstrdup(opname) : NULL;
    j->vars = vars ? json_incref((json_t *)vars) : NULL;
    gql_okind_t kind = GO_QUERY;
    if (gql_select_operation(j->doc->doc, j->opname, &kind, msg, sizeof msg) < 0) kind = GO_QUERY;
    if (kind == GO_MUTATION && r->method == M_GET) {
        airsequel_error(r, 405, "Mutations are not allowed over GET");
        goto out;
    }
    if (kind == GO_MUTATION && (mode == AG_READWRITE || mode == AG_WRITEONLY || mode == AG_INSERTONLY)) {
        err_t e;
        if (api_write(r, d, &j->w, write_run, &j->out, respond, j, &e) < 0) {
            airsequel_error(r, 500, e.msg);
            goto out;
        }
        j = NULL;
    } else {
        api_read(r, d, TIME_LIMIT_US, &j->out, read_run, read_reset, respond, j);
        j = NULL;
    }
out:
    if (j) gjob_free(j);
    json_decref(body);
    json_decref(parsed_vars);
    qs_free(&qs);
}

static void h_graphql(http_req_t *r) { handle(r, false, false); }
static void h_readonly_graphql(http_req_t *r) { handle(r, true, false); }
static void h_default_query(http_req_t *r) { handle(r, false, true); }

void airsequel_graphql_register(router_t *rt, const dialect_t *d) {
    router_add(rt, d, M_GET | M_POST, "/dbs/:db/graphql", h_graphql);
    router_add(rt, d, M_GET | M_POST, "/readonly/:db/graphql", h_readonly_graphql);
    router_add(rt, d, M_GET, "/dbs/:db/playground/default-query", h_default_query);
}
