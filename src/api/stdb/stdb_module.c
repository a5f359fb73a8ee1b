/* stdb_module: the routes of a database's Lua module (spec/spacetimedb.md
 * §2): publish (POST /v1/database, POST|PUT /v1/database/:noi), info,
 * call/:reducer, schema?version=9 and logs. The module itself is
 * core/module's; this file only translates HTTP to it and back. */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/common.h"
#include "api/stdb/stdb_internal.h"
#include "core/doors.h"
#include "core/dbh.h"
#include "core/engine.h"
#include "core/module.h"
#include "core/names.h"
#include "core/subs.h"
#include "core/txn.h"
#include "util/ids.h"
#include "util/json.h"
#include "util/timeutil.h"
#include "util/url.h"

#define ENGINE(r) ((engine_t *)(r)->app)

/* The caller's identity, as reducers see it (ctx.sender). */
static void sender_of(catalog_t *cat, const actor_t *a, char out[IDENTITY_HEX_LEN + 1]) {
    if (a->identity[0]) snprintf(out, IDENTITY_HEX_LEN + 1, "%s", a->identity);
    else if (a->principal_id) auth_principal_identity(cat, a->principal_id, out);
    else memset(out, '0', IDENTITY_HEX_LEN), out[IDENTITY_HEX_LEN] = 0;
}

static void json_error(http_req_t *r, int status, const char *outer, const char *key, const char *value) {
    buf_t b = BUF_INIT;
    jw_t w;
    jw_init(&w, &b, 0);
    jw_obj_begin(&w);
    jw_key(&w, outer);
    if (key) {
        jw_obj_begin(&w);
        jw_key(&w, key);
        jw_str(&w, value);
        jw_obj_end(&w);
    } else {
        jw_null(&w);
    }
    jw_obj_end(&w);
    http_respond_buf(r, status, "application/json", &b);
}

/* New names (spec §0): ^[a-z0-9]+(-[a-z0-9]+)*$, at most 64 characters,
 * not 64 hex digits (that is an identity). */
bool stdb_name_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 64 || s[0] == '-' || s[n - 1] == '-') return false;
    bool hex = n == 64;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && !(c == '-' && s[i + 1] != '-')) return false;
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) hex = false;
    }
    return !hex && name_check_db(s, &(err_t){0}) == 0;
}

/* ---- publish ---------------------------------------------------------------- */

typedef struct {
    api_write_t w;
    api_out_t out;
    actor_t a;
    catalog_t *cat;
    char *noi;  /* the target as given, or NULL (POST /v1/database) */
    char *src;
    size_t n;
    bool clear;
    /* found or made on the pool */
    db_t *db;
    bool created, named;
    int status; /* an answer decided on the pool */
    char msg[512];
    err_t err;
} pub_t;

static void pub_free(pub_t *p) {
    free(p->noi);
    free(p->src);
    db_release(p->db);
    changeset_free(&p->w.job.changes);
    free(p);
}

static void pub_result(http_req_t *r, pub_t *p) {
    buf_t b = BUF_INIT;
    jw_t w;
    jw_init(&w, &b, 0);
    jw_obj_begin(&w);
    jw_key(&w, "Success");
    jw_obj_begin(&w);
    jw_key(&w, "domain");
    if (p->named) jw_str(&w, p->db->name);
    else jw_null(&w);
    jw_key(&w, "database_identity");
    jw_str(&w, p->db->identity);
    jw_key(&w, "op");
    jw_str(&w, p->created ? "created" : "updated");
    jw_obj_end(&w);
    jw_obj_end(&w);
    http_respond_buf(r, 200, "application/json", &b);
}

/* Pool: forgets a database made for a publish that failed. */
static void undo_work(void *data) {
    pub_t *p = data;
    err_t e;
    catalog_db_delete(p->cat, p->db, &e);
}

static void undo_done(http_req_t *r, void *data) {
    pub_t *p = data;
    stdb_text(r, p->status, p->msg);
    pub_free(p);
}

static int pub_run(store_db_t *c, void *arg, err_t *e) {
    pub_t *p = arg;
    p->out.rc = module_publish(p->db, c, p->src, p->n, p->created, p->clear, e);
    if (p->out.rc < 0) p->out.err = *e;
    return p->out.rc;
}

/* Pool: reads the new definition into the cache, so every thread that
 * only peeks at it (the fan-out, encoding rows by their types) has it. */
static void warm_work(void *data) {
    pub_t *p = data;
    err_t e;
    store_db_t *c = dbh_reader(p->db, &e);
    if (!c) return;
    module_def_release(p->db, module_def_acquire(p->db, c));
    dbh_reader_put(p->db, c);
}

static void warm_done(http_req_t *r, void *data) {
    pub_t *p = data;
    if (p->clear) subs_db_cleared(p->db); /* its sessions close with 1012 */
    pub_result(r, p);
    pub_free(p);
}

static void pub_posted(http_req_t *r, void *data) {
    pub_t *p = data;
    module_invalidate(p->db); /* what committed (or not) is what the next use reads */
    if (p->out.rc == 0 && !p->w.commit_failed) {
        http_defer(r, warm_work, warm_done, p);
        return;
    }
    p->status = p->out.err.kind == E_INTERNAL || p->w.commit_failed ? 500 : p->out.err.kind == E_TOO_BIG ? 413 : 400;
    snprintf(p->msg, sizeof p->msg, "%s", p->out.err.msg);
    if (p->created) {
        http_defer(r, undo_work, undo_done, p); /* any failure leaves nothing */
        return;
    }
    stdb_text(r, p->status, p->msg);
    pub_free(p);
}

/* Pool: finds the target, or creates it (a catalog write). */
static void pub_work(void *data) {
    pub_t *p = data;
    err_t e;
    if (p->a.ephemeral && auth_identity_persist(p->cat, &p->a, &e) < 0) {
        p->status = 500;
        snprintf(p->msg, sizeof p->msg, "%s", e.msg);
        return;
    }
    if (p->noi) {
        bool hex = strlen(p->noi) == IDENTITY_HEX_LEN && strspn(p->noi, "0123456789abcdef") == IDENTITY_HEX_LEN;
        p->db = catalog_db_find(p->cat, p->noi, hex ? DB_BY_IDENTITY : DB_BY_NAME);
        if (p->db) {
            p->named = !hex;
            if (!auth_check(&p->a, p->db, ACT_OWNER | ACT_SCHEMA)) p->status = 401; /* a locked schema takes no module */
            return;
        }
        if (hex) {
            p->status = 404;
            snprintf(p->msg, sizeof p->msg, "No such database.");
            return;
        }
        if (!stdb_name_ok(p->noi)) {
            p->status = 400;
            snprintf(p->msg, sizeof p->msg, "'%s' is not a valid database name: lower-case letters and digits, "
                     "words joined by '-', at most 64 characters", p->noi);
            return;
        }
    }
    char gen[32];
    const char *name = p->noi;
    if (!name) {
        uint8_t rnd[8];
        randombytes_buf(rnd, sizeof rnd);
        char hex[17];
        hex_encode(rnd, sizeof rnd, hex);
        snprintf(gen, sizeof gen, "m-%s", hex);
        name = gen;
    }
    /* databases published here are public (everyone may read) */
    if (catalog_db_create(p->cat, name, p->a.principal_id, true, &p->db, &e) < 0) {
        p->status = e.kind == E_EXISTS ? 400 : e.kind == E_INTERNAL ? 500 : 400;
        snprintf(p->msg, sizeof p->msg, "%s", e.msg);
        return;
    }
    doors_note_created(p->cat, p->db, "spacetimedb", &e);
    p->created = true;
    p->named = p->noi != NULL;
}

static void pub_found(http_req_t *r, void *data) {
    pub_t *p = data;
    if (p->status == 401) {
        json_error(r, 401, "PermissionDenied", "name", p->noi);
        pub_free(p);
        return;
    }
    if (p->status) {
        stdb_text(r, p->status, p->msg);
        pub_free(p);
        return;
    }
    err_t e;
    if (api_write(r, p->db, &p->w, pub_run, &p->out, pub_posted, p, &e) < 0) {
        p->out.rc = -1;
        p->out.err = e;
        pub_posted(r, p);
    }
}

static void h_publish(http_req_t *r) {
    const char *ct = http_header(r, "content-type");
    const char *body = r->body.data ? r->body.data : "";
    size_t n = r->body.len;
    size_t ctn = ct ? strcspn(ct, "; \t") : 0;
    if ((n >= 4 && memcmp(body, "\0asm", 4) == 0) || (ct && ctn == 16 && strncasecmp(ct, "application/wasm", 16) == 0)) {
        stdb_text(r, 415, "WebAssembly modules are not supported: Atrium runs Lua 5.4 modules (Content-Type: text/x-lua)");
        return;
    }
    if (!ct || !((ctn == 10 && strncasecmp(ct, "text/x-lua", 10) == 0) ||
                 (ctn == 17 && strncasecmp(ct, "application/x-lua", 17) == 0))) {
        stdb_text(r, 415, "Unsupported Content-Type: publish Lua source as text/x-lua");
        return;
    }
    if (n > LUA_MAX_SOURCE) {
        stdb_text(r, 413, "module failed to load: larger than 1 MiB");
        return;
    }
    if (n && body[0] == 0x1b) {
        stdb_text(r, 400, "module failed to load: bytecode is not accepted");
        return;
    }
    actor_t a;
    if (!stdb_caller(r, &a, true)) return;
    pub_t *p = xcalloc(1, sizeof *p);
    p->a = a;
    p->cat = ENGINE(r)->catalog;
    p->src = xstrndup(body, n);
    p->n = n;
    if (r->ncap) {
        buf_t key = BUF_INIT;
        if (api_capture(r, 0, &key) < 0) {
            buf_free(&key);
            pub_free(p);
            stdb_text(r, 400, "invalid database name");
            return;
        }
        p->noi = xstrdup(key.data ? key.data : "");
        buf_free(&key);
    }
    qs_t q;
    qs_parse(&q, r->query ? r->query : "", r->query ? strlen(r->query) : 0);
    const char *clear = qs_get(&q, "clear");
    p->clear = clear && (strcmp(clear, "true") == 0 || strcmp(clear, "1") == 0);
    qs_free(&q);
    http_defer(r, pub_work, pub_found, p);
}

/* ---- info ------------------------------------------------------------------- */

typedef struct {
    db_t *db;
    catalog_t *cat;
    char owner[IDENTITY_HEX_LEN + 1];
    char hash[65];
} info_t;

static void info_work(void *data) {
    info_t *i = data;
    if (db_owner(i->db)) auth_principal_identity(i->cat, db_owner(i->db), i->owner);
    err_t e;
    store_db_t *c = dbh_reader(i->db, &e);
    if (c) {
        const mdef_t *def = module_def_acquire(i->db, c);
        if (def) snprintf(i->hash, sizeof i->hash, "%s", def->hash);
        module_def_release(i->db, def);
        dbh_reader_put(i->db, c);
    }
}

static void info_done(http_req_t *r, void *data) {
    info_t *i = data;
    if (!i->owner[0]) memset(i->owner, '0', IDENTITY_HEX_LEN), i->owner[IDENTITY_HEX_LEN] = 0;
    buf_t b = BUF_INIT;
    jw_t w;
    jw_init(&w, &b, 0);
    jw_obj_begin(&w);
    jw_key(&w, "database_identity");
    jw_str(&w, i->db->identity);
    jw_key(&w, "owner_identity");
    jw_str(&w, i->owner);
    jw_key(&w, "host_type");
    jw_str(&w, i->hash[0] ? "lua" : "sqlite");
    jw_key(&w, "initial_program");
    if (i->hash[0]) {
        jw_str(&w, i->hash);
    } else {
        char zeros[65];
        memset(zeros, '0', 64);
        zeros[64] = 0;
        jw_str(&w, zeros);
    }
    jw_obj_end(&w);
    db_release(i->db);
    free(i);
    http_respond_buf(r, 200, "application/json", &b);
}

void stdb_info(http_req_t *r, db_t *d) {
    info_t *i = xcalloc(1, sizeof *i);
    i->db = d;
    i->cat = ENGINE(r)->catalog;
    http_defer(r, info_work, info_done, i);
}

/* ---- call ------------------------------------------------------------------- */

typedef struct {
    api_write_t w;
    api_out_t out;
    db_t *db;
    char *reducer;
    json_t *args;
    char sender[IDENTITY_HEX_LEN + 1];
    actor_t a;
    catalog_t *cat;
    uint64_t t0;
} call_t;

static int call_run(store_db_t *c, void *arg, err_t *e) {
    call_t *k = arg;
    /* off the loop: a principal's identity may be derived and stored the first time */
    if (!k->sender[0]) sender_of(k->cat, &k->a, k->sender);
    lcall_t who = {.sender = k->sender, .db_identity = k->db->identity, .timestamp_us = time_now_us()};
    int rc = module_call(k->db, c, k->reducer, k->args, &who, e);
    k->out.rc = rc;
    if (rc < 0) k->out.err = *e;
    return rc;
}

static void call_posted(http_req_t *r, void *data) {
    call_t *k = data;
    char dur[32];
    snprintf(dur, sizeof dur, "%llu", (unsigned long long)(time_mono_us() - k->t0));
    http_add_header(r, "spacetime-execution-duration-micros", dur);
    http_add_header(r, "spacetime-energy-used", "0");
    if (k->out.rc == 0 && !k->w.commit_failed) {
        http_respond(r, 200, NULL, "", 0);
    } else {
        const err_t *e = &k->out.err;
        int status = e->kind == E_NOT_FOUND ? 404 : e->kind == E_BAD_INPUT ? 400 : e->kind == E_REDUCER ? 530 : 500;
        stdb_text(r, status, e->msg);
    }
    json_decref(k->args);
    free(k->reducer);
    db_release(k->db);
    changeset_free(&k->w.job.changes);
    free(k);
}

static void h_call(http_req_t *r) {
    actor_t a;
    if (!stdb_caller(r, &a, true)) return;
    db_t *d = stdb_resolve(r, &a);
    if (!d) return;
    buf_t name = BUF_INIT;
    api_capture(r, 1, &name);
    json_t *args = NULL;
    if (r->body.len) {
        json_error_t je;
        args = api_body_parse(r, JSON_DECODE_ANY, &je); /* large bodies were parsed off the loop */
        if (!json_is_array(args) && !json_is_object(args)) {
            json_decref(args);
            buf_free(&name);
            db_release(d);
            stdb_text(r, 400, "the arguments must be a JSON array or object");
            return;
        }
    }
    call_t *k = xcalloc(1, sizeof *k);
    k->db = d;
    k->reducer = xstrdup(name.data ? name.data : "");
    k->args = args;
    k->t0 = time_mono_us();
    k->a = a;
    k->cat = ENGINE(r)->catalog;
    buf_free(&name);
    err_t e;
    if (api_write(r, d, &k->w, call_run, &k->out, call_posted, k, &e) < 0) {
        k->out.rc = -1;
        k->out.err = e;
        call_posted(r, k);
    }
}

/* ---- schema ------------------------------------------------------------------- */

typedef struct {
    db_t *db;
    buf_t out;
    err_t err;
    int rc;
} schema_job_t;

static void schema_work(void *data) {
    schema_job_t *s = data;
    store_db_t *c = dbh_reader(s->db, &s->err);
    if (!c) {
        s->rc = -1;
        return;
    }
    const mdef_t *def = module_def_acquire(s->db, c);
    dbh_reader_put(s->db, c);
    mdef_t empty = {{0}, 0, NULL, 0, NULL};
    jw_t w;
    jw_init(&w, &s->out, 0);
    stdb_schema_v9(def ? def : &empty, &w);
    module_def_release(s->db, def);
}

static void schema_done(http_req_t *r, void *data) {
    schema_job_t *s = data;
    if (s->rc < 0) stdb_text(r, 500, s->err.msg);
    else http_respond_buf(r, 200, "application/json", &s->out);
    buf_free(&s->out);
    db_release(s->db);
    free(s);
}

static void h_schema(http_req_t *r) {
    actor_t a;
    if (!stdb_caller(r, &a, true)) return;
    qs_t q;
    qs_parse(&q, r->query ? r->query : "", r->query ? strlen(r->query) : 0);
    const char *v = qs_get(&q, "version");
    bool ok = v && strcmp(v, "9") == 0;
    qs_free(&q);
    if (!ok) {
        stdb_text(r, 400, "only version=9 is supported");
        return;
    }
    db_t *d = stdb_resolve(r, &a);
    if (!d) return;
    schema_job_t *s = xcalloc(1, sizeof *s);
    s->db = d;
    http_defer(r, schema_work, schema_done, s);
}

/* ---- delete ----------------------------------------------------------------- */

typedef struct {
    catalog_t *cat;
    db_t *db;
    actor_t a;
    bool refused;
    char who[IDENTITY_HEX_LEN + 1];
    err_t err;
    int rc;
} del_t;

/* Pool: a catalog write, or (refused) the caller's identity for the
 * answer, which may be derived and stored the first time. */
static void del_work(void *data) {
    del_t *k = data;
    if (k->refused) sender_of(k->cat, &k->a, k->who);
    else k->rc = catalog_db_delete(k->cat, k->db, &k->err); /* closes its sessions (1001) */
}

static void del_done(http_req_t *r, void *data) {
    del_t *k = data;
    if (k->refused) {
        buf_t m = BUF_INIT;
        buf_printf(&m, "%s is not authorized to perform action on database %s: delete", k->who, k->db->identity);
        stdb_text(r, 403, m.data);
        buf_free(&m);
    } else if (k->rc < 0) {
        stdb_text(r, k->err.kind == E_NOT_FOUND ? 404 : 500, k->err.msg);
    } else {
        http_respond(r, 200, NULL, "", 0);
    }
    db_release(k->db);
    free(k);
}

static void h_delete(http_req_t *r) {
    actor_t a;
    if (!stdb_caller(r, &a, true)) return;
    db_t *d = stdb_resolve(r, &a);
    if (!d) return;
    bool refused = !auth_check(&a, d, ACT_OWNER);
    if (!refused && txn_count(d) > 0) {
        stdb_text(r, 400, "the database is in use by an open transaction");
        db_release(d);
        return;
    }
    del_t *k = xcalloc(1, sizeof *k);
    k->cat = ENGINE(r)->catalog;
    k->db = d;
    k->a = a;
    k->refused = refused;
    http_defer(r, del_work, del_done, k);
}

/* ---- names ----------------------------------------------------------------- */

typedef struct {
    catalog_t *cat;
    db_t *db;
    actor_t a;
    bool put;
    char **names;
    size_t n;
    int status;
    char domain[128];
    char msg[512];
} names_t;

/* A generated name for a database whose name moved elsewhere. */
static void spare_name(const db_t *d, char out[32]) { snprintf(out, 32, "db-%.16s", d->identity); }

/* Pool: the catalog writes. */
static void names_work(void *data) {
    names_t *k = data;
    err_t e;
    const char *want = k->n ? k->names[0] : NULL;
    char spare[32];
    if (!want) {
        spare_name(k->db, spare); /* PUT []: no name of its own */
        want = spare;
    }
    db_t *holder = NULL;
    if (catalog_db_rename(k->cat, k->db, want, &holder, &e) == 0) return;
    if (!holder) {
        k->status = 500;
        snprintf(k->msg, sizeof k->msg, "%s", e.msg);
        return;
    }
    snprintf(k->domain, sizeof k->domain, "%s", want);
    if (!auth_check(&k->a, holder, ACT_OWNER)) {
        k->status = 401; /* another owner's */
    } else if (k->put) {
        k->status = 400;
        snprintf(k->msg, sizeof k->msg, "Cannot rename to %s because it already is in use.", want);
    } else {
        /* the same owner's other database: the name moves here */
        char other[32];
        spare_name(holder, other);
        if (catalog_db_rename(k->cat, holder, other, NULL, &e) < 0 ||
            catalog_db_rename(k->cat, k->db, want, NULL, &e) < 0) {
            k->status = 500;
            snprintf(k->msg, sizeof k->msg, "%s", e.msg);
        }
    }
    db_release(holder);
}

static void other_error(http_req_t *r, const char *msg) {
    buf_t b = BUF_INIT;
    jw_t w;
    jw_init(&w, &b, 0);
    jw_obj_begin(&w);
    jw_key(&w, "OtherError");
    jw_str(&w, msg);
    jw_obj_end(&w);
    http_respond_buf(r, 400, "application/json", &b);
}

static void names_done(http_req_t *r, void *data) {
    names_t *k = data;
    buf_t b = BUF_INIT;
    jw_t w;
    jw_init(&w, &b, 0);
    if (k->status == 401) {
        if (k->put) json_error(r, 401, "PermissionDenied", NULL, NULL);
        else json_error(r, 401, "PermissionDenied", "domain", k->domain);
    } else if (k->status == 400) {
        other_error(r, k->msg);
    } else if (k->status) {
        stdb_text(r, k->status, k->msg);
    } else {
        jw_obj_begin(&w);
        jw_key(&w, "Success");
        if (k->put) {
            jw_null(&w);
        } else {
            jw_obj_begin(&w);
            jw_key(&w, "domain");
            jw_str(&w, k->names[0]);
            jw_key(&w, "database_identity");
            jw_str(&w, k->db->identity);
            jw_key(&w, "database_result");
            jw_str(&w, k->db->identity);
            jw_obj_end(&w);
        }
        jw_obj_end(&w);
        http_respond_buf(r, 200, "application/json", &b);
    }
    buf_free(&b);
    for (size_t i = 0; i < k->n; i++) free(k->names[i]);
    free(k->names);
    db_release(k->db);
    free(k);
}

static void names_change(http_req_t *r, bool put) {
    actor_t a;
    if (!stdb_caller(r, &a, true)) return;
    db_t *d = stdb_resolve(r, &a);
    if (!d) return;
    names_t *k = xcalloc(1, sizeof *k);
    k->cat = ENGINE(r)->catalog;
    k->db = d;
    k->a = a;
    k->put = put;
    const char *body = r->body.data ? r->body.data : "";
    if (put) {
        json_error_t je;
        json_t *arr = api_body_parse(r, 0, &je);
        size_t i;
        json_t *v;
        bool ok = json_is_array(arr);
        json_array_foreach(arr, i, v) ok = ok && json_is_string(v);
        if (!ok || json_array_size(arr) > 1) {
            json_decref(arr);
            db_release(d);
            free(k);
            other_error(r, ok ? "an Atrium database has one name: give at most one"
                              : "the body must be a JSON array of names");
            return;
        }
        k->names = xcalloc(json_array_size(arr) + 1, sizeof *k->names);
        json_array_foreach(arr, i, v) k->names[k->n++] = xstrdup(json_string_value(v));
        json_decref(arr);
    } else {
        k->names = xcalloc(2, sizeof *k->names);
        k->names[k->n++] = xstrndup(body, strcspn(body, "\r\n"));
    }
    if (!auth_check(&a, d, ACT_OWNER)) {
        k->status = 401;
        snprintf(k->domain, sizeof k->domain, "%s", k->n ? k->names[0] : "");
        names_done(r, k);
        return;
    }
    for (size_t i = 0; i < k->n; i++) {
        if (stdb_name_ok(k->names[i])) continue;
        char msg[200];
        snprintf(msg, sizeof msg, "'%.100s' is not a valid database name", k->names[i]);
        if (put) other_error(r, msg);
        else stdb_text(r, 400, msg);
        k->status = -1;
        break;
    }
    if (k->status == -1) {
        k->status = 0;
        for (size_t i = 0; i < k->n; i++) free(k->names[i]);
        free(k->names);
        db_release(d);
        free(k);
        return;
    }
    http_defer(r, names_work, names_done, k);
}

static void h_names_post(http_req_t *r) { names_change(r, false); }
static void h_names_put(http_req_t *r) { names_change(r, true); }

/* ---- logs ------------------------------------------------------------------- */

#define FOLLOW_POLL_MS 200

typedef struct {
    db_t *db;
    uint64_t seq;
} follow_t;

static void follow_tick(http_req_t *r, void *data);

static void follow_end(follow_t *f, http_req_t *r) {
    http_stream_end(r);
    db_release(f->db);
    free(f);
}

static void follow_abort(http_req_t *r, void *data) { follow_end(data, r); }

static void follow_tick(http_req_t *r, void *data) {
    follow_t *f = data;
    if (http_gone(r) || __atomic_load_n(&f->db->deleted, __ATOMIC_ACQUIRE)) {
        follow_end(f, r);
        return;
    }
    buf_t b = BUF_INIT;
    f->seq = module_logs_since(f->db, f->seq, &b);
    if (b.len) http_stream_write(r, b.data, b.len);
    buf_free(&b);
    http_after(r, FOLLOW_POLL_MS, follow_tick, f);
}

static void h_logs(http_req_t *r) {
    actor_t a;
    if (!stdb_caller(r, &a, false)) return;
    db_t *d = stdb_resolve(r, &a);
    if (!d) return;
    if (!auth_check(&a, d, ACT_ADMIN)) {
        db_release(d);
        stdb_text(r, 403, "only the owner or an admin may read a database's logs");
        return;
    }
    qs_t q;
    qs_parse(&q, r->query ? r->query : "", r->query ? strlen(r->query) : 0);
    const char *nl = qs_get(&q, "num_lines"), *fl = qs_get(&q, "follow");
    size_t num = nl ? (size_t)strtoull(nl, NULL, 10) : 0;
    bool follow = fl && (strcmp(fl, "true") == 0 || strcmp(fl, "1") == 0);
    qs_free(&q);
    buf_t b = BUF_INIT;
    uint64_t seq = module_logs(d, num, &b);
    if (!follow) {
        db_release(d);
        http_respond_buf(r, 200, "application/x-ndjson", &b);
        return;
    }
    http_stream_begin(r, 200, "application/x-ndjson");
    if (b.len) http_stream_write(r, b.data, b.len);
    buf_free(&b);
    follow_t *f = xcalloc(1, sizeof *f);
    f->db = d;
    f->seq = seq;
    http_on_abort(r, follow_abort, f); /* the client left, or the server stops */
    http_after(r, FOLLOW_POLL_MS, follow_tick, f);
}

void stdb_module_register(router_t *rt, const dialect_t *d) {
    router_add(rt, d, M_POST, "/v1/database", h_publish);
    router_add(rt, d, M_POST | M_PUT, "/v1/database/:noi", h_publish);
    router_add(rt, d, M_DELETE, "/v1/database/:noi", h_delete);
    router_add(rt, d, M_POST, "/v1/database/:noi/names", h_names_post);
    router_add(rt, d, M_PUT, "/v1/database/:noi/names", h_names_put);
    router_add(rt, d, M_POST, "/v1/database/:noi/call/:reducer", h_call);
    router_add(rt, d, M_GET, "/v1/database/:noi/schema", h_schema);
    router_add(rt, d, M_GET, "/v1/database/:noi/logs", h_logs);
}
