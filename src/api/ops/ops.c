/* ops: the server's own routes, outside the four dialects.
 *
 * GET /metrics: the Prometheus text exposition (util/metrics' families,
 * then what is read from live state at scrape time: the process's memory,
 * threads and files, the read-answer cache, and one series per database).
 * The admin sees everything. With --metrics-public anyone may scrape, but
 * only the admin sees the per-database series (their labels name
 * databases); without it other callers are refused (401/403). Rendered on
 * the pool: it stats files and reads /proc.
 *
 * GET /-/operations: long operations (core/ops) the caller may see, with
 * phase, done/total, fraction and ETA. DELETE /-/operations/:id asks one to
 * stop (its starter or the admin).
 *
 * GET /-/usage: the databases the caller may read, with their file and WAL
 * sizes, owner, and which doors (core/doors) made and last used each.
 *
 * GET, POST, DELETE /-/history/:db: the caller's own query history on a
 * database it may read (core/history): list, add {language, text}, clear.
 * A signed-in user's only (anonymous callers have no history: 401).
 *
 * Errors are JSON {"error": text, "status": n}. */
#include "api/ops/ops.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/common.h"
#include "core/doors.h"
#include "core/engine.h"
#include "core/history.h"
#include "core/ops.h"
#include "core/rcache.h"
#include "util/json.h"
#include "util/metrics.h"
#include "util/timeutil.h"

#define ENGINE(r) ((engine_t *)(r)->app)
#define PROM_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* No renderer of its own: the transport's {"error", "status"} JSON. */
static const dialect_t dialect = {.name = "atrium"};

/* The caller, or NULL after answering 401 for a bad token. */
static bool who(http_req_t *r, actor_t *a) {
    err_t e;
    api_who_t w = api_actor(r, ENGINE(r)->catalog, 0, a, &e);
    if (w == API_MALFORMED || w == API_REJECTED) {
        http_add_header(r, "WWW-Authenticate", "Bearer");
        http_respond_error(r, 401, w == API_MALFORMED ? "Malformed credentials" : "Invalid or expired token");
        return false;
    }
    return true;
}

static bool is_admin(const actor_t *a) { return a->is_admin && !a->scoped; }

/* ---- /metrics ------------------------------------------------------------ */

typedef struct {
    catalog_t *catalog;
    bool per_db;
    buf_t out;
} mjob_t;

/* A "Name:   123 kB" line of /proc/self/status, in bytes (or the count). */
static double status_field(const char *name, bool kb) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    double v = 0;
    size_t n = strlen(name);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, name, n) == 0 && line[n] == ':') {
            v = strtod(line + n + 1, NULL) * (kb ? 1024 : 1);
            break;
        }
    }
    fclose(f);
    return v;
}

static double open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) return 0;
    double n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1; /* the directory's own */
}

static double file_size(const char *path, const char *suffix) {
    char p[4200];
    snprintf(p, sizeof p, "%s%s", path, suffix);
    struct stat sb;
    return stat(p, &sb) == 0 ? (double)sb.st_size : 0;
}

static void gauge(buf_t *out, const char *name, const char *help, double v) {
    metrics_write_family(out, name, help, "gauge");
    metrics_write_sample(out, name, NULL, 0, v);
}

static void metrics_work(void *data) {
    mjob_t *j = data;
    buf_t *o = &j->out;
    metrics_render(o);
    gauge(o, "atrium_process_resident_memory_bytes", "Resident memory of the server process.",
          status_field("VmRSS", true));
    gauge(o, "atrium_process_threads", "Threads of the server process.", status_field("Threads", false));
    gauge(o, "atrium_process_open_fds", "Open file descriptors of the server process.", open_fds());
    rcache_stats_t cs;
    rcache_stats(&cs);
    gauge(o, "atrium_read_cache_bytes", "Bytes the read-answer cache holds.", (double)cs.bytes);
    gauge(o, "atrium_read_cache_entries", "Answers the read-answer cache holds.", (double)cs.entries);
    db_t **list;
    size_t n = catalog_db_list(j->catalog, &list);
    gauge(o, "atrium_databases", "Databases served.", (double)n);
    if (j->per_db) {
        static const struct {
            const char *name, *help, *type;
        } fam[] = {
            {"atrium_database_size_bytes", "Size of a database's main file.", "gauge"},
            {"atrium_database_wal_bytes", "Size of a database's write-ahead log.", "gauge"},
            {"atrium_database_checkpoints_total", "WAL checkpoints a database's writer ran.", "counter"},
            {"atrium_database_commits_total", "Commits of a database's writer (group commits count once).",
             "counter"},
        };
        for (size_t f = 0; f < sizeof fam / sizeof *fam; f++) {
            metrics_write_family(o, fam[f].name, fam[f].help, fam[f].type);
            for (size_t i = 0; i < n; i++) {
                db_t *d = list[i];
                const char *labels[2] = {"db", d->name};
                double v = f == 0   ? file_size(d->path, "")
                           : f == 1 ? file_size(d->path, "-wal")
                           : f == 2 ? (double)__atomic_load_n(&d->checkpoints, __ATOMIC_RELAXED)
                                    : (double)__atomic_load_n(&d->version, __ATOMIC_RELAXED);
                metrics_write_sample(o, fam[f].name, labels, 1, v);
            }
        }
    }
    catalog_db_list_free(list, n);
}

static void metrics_done(http_req_t *r, void *data) {
    mjob_t *j = data;
    http_respond_buf(r, 200, PROM_TYPE, &j->out);
    free(j);
}

static void h_metrics(http_req_t *r) {
    actor_t a;
    if (!who(r, &a)) return;
    bool admin = is_admin(&a);
    if (!admin && !ENGINE(r)->metrics_public) {
        if (!a.principal_id && !a.identity[0]) {
            http_add_header(r, "WWW-Authenticate", "Bearer");
            http_respond_error(r, 401, "Authentication required: /metrics is the admin's (or start with --metrics-public)");
        } else {
            http_respond_error(r, 403, "Only the admin may read /metrics");
        }
        return;
    }
    mjob_t *j = xcalloc(1, sizeof *j);
    j->catalog = ENGINE(r)->catalog;
    j->per_db = admin;
    http_defer(r, metrics_work, metrics_done, j);
}

/* ---- /-/operations ---------------------------------------------------------- */

static bool can_read(void *ctx, const actor_t *a, const char *db_id) {
    db_t *d = catalog_db_find(ctx, db_id, DB_BY_KEY);
    bool ok = d && auth_check(a, d, ACT_READ);
    db_release(d);
    return ok;
}

static void h_operations(http_req_t *r) {
    actor_t a;
    if (!who(r, &a)) return;
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"operations\":");
    op_list_json(&b, &a, can_read, ENGINE(r)->catalog);
    buf_puts(&b, "}");
    http_add_header(r, "Cache-Control", "no-store");
    http_respond_buf(r, 200, "application/json; charset=utf-8", &b);
}

static void h_operation_cancel(http_req_t *r) {
    actor_t a;
    if (!who(r, &a)) return;
    buf_t id = BUF_INIT;
    char *end = NULL;
    unsigned long long v = 0;
    if (api_capture(r, 0, &id) == 0 && id.len && id.len < 20) v = strtoull(id.data, &end, 10);
    bool ok = end && !*end && v > 0;
    buf_free(&id);
    int rc = ok ? op_cancel(v, &a, can_read, ENGINE(r)->catalog) : -1;
    switch (rc) {
    case 0: http_respond(r, 202, "application/json; charset=utf-8", "{\"ok\":true}", 11); break;
    case -2: http_respond_error(r, 409, "The operation has ended or cannot be cancelled"); break;
    case -3: http_respond_error(r, 403, "Only who started the operation, or the admin, may cancel it"); break;
    default: http_respond_error(r, 404, "No such operation"); break;
    }
}

/* ---- /-/usage ------------------------------------------------------------------ */

typedef struct {
    catalog_t *catalog;
    actor_t a;
    buf_t out;
} ujob_t;

static void usage_work(void *data) {
    ujob_t *j = data;
    doors_flush(j->catalog); /* what the answer shows is kept too */
    db_t **list;
    size_t n = catalog_db_list(j->catalog, &list);
    jw_t w;
    jw_init(&w, &j->out, 0);
    jw_obj_begin(&w);
    jw_key(&w, "databases");
    jw_arr_begin(&w);
    for (size_t i = 0; i < n; i++) {
        db_t *d = list[i];
        if (d->name[0] == '_' || !auth_check(&j->a, d, ACT_READ)) continue;
        char owner[256] = "";
        if (db_owner(d)) auth_principal_name(j->catalog, db_owner(d), owner, sizeof owner);
        jw_obj_begin(&w);
        jw_key(&w, "name");
        jw_str(&w, d->name);
        jw_key(&w, "size_bytes");
        jw_int(&w, (int64_t)file_size(d->path, ""));
        jw_key(&w, "wal_bytes");
        jw_int(&w, (int64_t)file_size(d->path, "-wal"));
        jw_key(&w, "owner");
        if (owner[0]) jw_str(&w, owner);
        else jw_null(&w);
        jw_key(&w, "served_in_place");
        jw_bool(&w, d->in_place);
        jw_key(&w, "created_utc");
        jw_time_ms(&w, d->created_ms);
        jw_key(&w, "created_by");
        if (door_name(d->created_door)) jw_str(&w, door_name(d->created_door));
        else jw_null(&w);
        jw_key(&w, "last_used_utc");
        jw_obj_begin(&w);
        for (int k = 0; k < DOOR_N; k++) {
            jw_key(&w, door_name(k));
            jw_time_ms(&w, __atomic_load_n(&d->door_used_ms[k], __ATOMIC_RELAXED));
        }
        jw_obj_end(&w);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    jw_obj_end(&w);
    catalog_db_list_free(list, n);
}

static void json_done(http_req_t *r, void *data) {
    ujob_t *j = data;
    http_add_header(r, "Cache-Control", "no-store");
    http_respond_buf(r, 200, "application/json; charset=utf-8", &j->out);
    free(j);
}

static void h_usage(http_req_t *r) {
    ujob_t *j = xcalloc(1, sizeof *j);
    if (!who(r, &j->a)) {
        free(j);
        return;
    }
    j->catalog = ENGINE(r)->catalog;
    http_defer(r, usage_work, json_done, j);
}

/* ---- /-/history/:db ------------------------------------------------------------- */

typedef struct {
    catalog_t *catalog;
    db_t *db;
    int64_t principal;
    http_method_t method;
    json_t *body;
    int status;
    err_t err;
    buf_t out;
} hjob_t;

static void history_work(void *data) {
    hjob_t *j = data;
    jw_t w;
    jw_init(&w, &j->out, 0);
    if (j->method == M_POST) {
        const json_t *lang = json_object_get(j->body, "language"), *text = json_object_get(j->body, "text");
        if (!json_is_string(text) || (lang && !json_is_string(lang))) {
            j->status = 400;
            err_set(&j->err, E_BAD_INPUT, "Send {\"text\": string, \"language\"?: string}");
        } else if (history_add(j->catalog, j->db, j->principal, lang ? json_string_value(lang) : "sql",
                               json_string_value(text), json_string_length(text), &j->err) < 0) {
            j->status = j->err.kind == E_BAD_INPUT ? 400 : 500;
        } else {
            j->status = 201;
        }
        if (j->status != 201) return;
    } else if (j->method == M_DELETE) {
        int64_t gone = history_clear(j->catalog, j->db, j->principal);
        jw_obj_begin(&w);
        jw_key(&w, "deleted");
        jw_int(&w, gone);
        jw_obj_end(&w);
        j->status = 200;
        return;
    }
    history_entry_t *list;
    size_t n = history_list(j->catalog, j->db, j->principal, &list);
    jw_obj_begin(&w);
    jw_key(&w, "database");
    jw_str(&w, j->db->name);
    jw_key(&w, "history");
    jw_arr_begin(&w);
    for (size_t i = 0; i < n; i++) {
        jw_obj_begin(&w);
        jw_key(&w, "id");
        jw_int(&w, list[i].id);
        jw_key(&w, "language");
        jw_str(&w, list[i].language);
        jw_key(&w, "text");
        jw_str(&w, list[i].text);
        jw_key(&w, "created_utc");
        jw_time_ms(&w, list[i].created_ms);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    jw_obj_end(&w);
    history_free(list, n);
    if (!j->status) j->status = 200;
}

static void history_done(http_req_t *r, void *data) {
    hjob_t *j = data;
    http_add_header(r, "Cache-Control", "no-store");
    if (j->status >= 400) http_respond_error(r, j->status, j->err.msg);
    else http_respond_buf(r, j->status, "application/json; charset=utf-8", &j->out);
    buf_free(&j->out);
    json_decref(j->body);
    db_release(j->db);
    free(j);
}

static void h_history(http_req_t *r) {
    actor_t a;
    if (!who(r, &a)) return;
    if (!a.principal_id) {
        http_add_header(r, "WWW-Authenticate", "Bearer");
        http_respond_error(r, 401, "Sign in to keep a query history");
        return;
    }
    buf_t name = BUF_INIT;
    db_t *d = api_capture(r, 0, &name) == 0 ? api_db(ENGINE(r)->catalog, name.data, DB_BY_NAME, &a) : NULL;
    buf_free(&name);
    if (!d) {
        http_respond_error(r, 404, "Database not found");
        return;
    }
    json_t *body = NULL;
    if (r->method == M_POST) {
        char msg[200];
        if (!(body = api_json_object(r, msg, sizeof msg))) {
            db_release(d);
            http_respond_error(r, 400, msg);
            return;
        }
    }
    hjob_t *j = xcalloc(1, sizeof *j);
    j->catalog = ENGINE(r)->catalog;
    j->db = d;
    j->principal = a.principal_id;
    j->method = r->method;
    j->body = body;
    http_defer(r, history_work, history_done, j);
}

void ops_register(router_t *rt) {
    const char *version = ATRIUM_VERSION;
    metrics_gauge_set(metrics_series(MET_BUILD_INFO, &version), 1);
    router_add(rt, &dialect, M_GET, "/metrics", h_metrics);
    router_add(rt, &dialect, M_GET, "/-/operations", h_operations);
    router_add(rt, &dialect, M_DELETE, "/-/operations/:id", h_operation_cancel);
    router_add(rt, &dialect, M_GET, "/-/usage", h_usage);
    router_add(rt, &dialect, M_GET | M_POST | M_DELETE, "/-/history/:db", h_history);
}
