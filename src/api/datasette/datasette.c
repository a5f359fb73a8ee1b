/* datasette: the Datasette-style dialect (spec/datasette.md): routing,
 * errors, authentication, the instance and database views and custom SQL
 * (§8). Table and row pages live in datasette_table.c, the write API in
 * datasette_write.c. Datasette's URLs are suffix-based (/DB.json,
 * /DB/T/ID.json), so this face registers one fallback route and parses
 * paths itself. Errors are {"ok":false,"error","errors","status"}; JSON uses
 * ", "/": " separators and \uXXXX escapes as Python's json.dumps does. */
#include "api/datasette/datasette.h"

#include <sys/stat.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/datasette/datasette_internal.h"
#include "core/doors.h"
#include "core/schema.h"
#include "core/value.h"
#include "util/md5.h"
#include "core/auth.h"
#include "core/dbh.h"
#include "core/engine.h"
#include "core/sql.h"
#include "util/ids.h"
#include "util/json.h"
#include "util/timeutil.h"
#include "util/url.h"

#define ENGINE(r) DS_ENGINE(r)
#define JSON_TYPE DS_JSON
#define MAX_RETURNED_ROWS DS_MAX_RETURNED_ROWS
#define JW_DS DS_JW

static void render_error(http_req_t *r, int status, const char *message);
static void options(http_req_t *r);

static const dialect_t datasette_dialect = {
    .name = "datasette",
    .render_error = render_error,
    .options = options,
};

/* CORS is opt-in (--cors) and then goes on every response of this face. */
void ds_cors(http_req_t *r) {
    if (!ENGINE(r)->cors) return;
    http_add_header(r, "Access-Control-Allow-Origin", "*");
    http_add_header(r, "Access-Control-Allow-Headers", "Authorization, Content-Type");
    http_add_header(r, "Access-Control-Expose-Headers", "Link");
    http_add_header(r, "Access-Control-Allow-Methods", "GET, POST, HEAD, OPTIONS");
    http_add_header(r, "Access-Control-Max-Age", "3600");
}

/* {"ok": false, "error": msg, "errors": [msg], "status": N, <extra>} */
static void errors_body(http_req_t *r, int status, const char *const *errs, int n, bool query_extras) {
    buf_t b = BUF_INIT, joined = BUF_INIT;
    jw_t w;
    jw_init(&w, &b, JW_DS);
    jw_obj_begin(&w);
    jw_key(&w, "ok");
    jw_bool(&w, false);
    jw_key(&w, "error");
    for (int i = 0; i < n; i++) buf_printf(&joined, "%s%s", i ? "; " : "", errs[i]);
    jw_str(&w, joined.data ? joined.data : "");
    buf_free(&joined);
    jw_key(&w, "errors");
    jw_arr_begin(&w);
    for (int i = 0; i < n; i++) jw_str(&w, errs[i]);
    jw_arr_end(&w);
    jw_key(&w, "status");
    jw_int(&w, status);
    if (query_extras) {
        jw_key(&w, "rows");
        jw_arr_begin(&w);
        jw_arr_end(&w);
        jw_key(&w, "truncated");
        jw_bool(&w, false);
    }
    jw_obj_end(&w);
    ds_cors(r);
    http_respond_buf(r, status, JSON_TYPE, &b);
}

void ds_errors(http_req_t *r, int status, const char *const *errs, int n) { errors_body(r, status, errs, n, false); }

void ds_error_extra(http_req_t *r, int status, const char *msg, bool query_extras) {
    errors_body(r, status, &msg, 1, query_extras);
}

void ds_error(http_req_t *r, int status, const char *msg) { ds_error_extra(r, status, msg, false); }

static void render_error(http_req_t *r, int status, const char *message) {
    if (status == 405) { /* text/plain always (spec §2) */
        ds_cors(r);
        http_respond(r, 405, "text/plain", "Method not allowed", 18);
        return;
    }
    ds_error(r, status, message);
}

static void options(http_req_t *r) {
    ds_cors(r);
    http_respond(r, 200, "text/plain", "ok", 2);
}

/* Bearer handling per §11: only Atrium-prefixed values are ours; anything
 * else is a foreign token and means anonymous. Answers 401 on failure. */
static bool authenticate(http_req_t *r, actor_t *a) {
    err_t e;
    if (api_actor(r, ENGINE(r)->catalog, API_FOREIGN_ANON, a, &e) <= API_ACTOR) return true;
    http_add_header(r, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
    ds_error(r, 401, e.kind == E_EXPIRED_TOKEN ? "Token has expired" : "Invalid token signature");
    return false;
}

/* ---- shared helpers ----------------------------------------------------- */

void ds_cache_key(buf_t *out, const http_req_t *r, const actor_t *a, db_t *d) {
    static const int acts[] = {ACT_READ, ACT_WRITE, ACT_SCHEMA, ACT_ADMIN, ACT_OWNER};
    unsigned rights = 0;
    for (size_t i = 0; i < sizeof acts / sizeof *acts; i++)
        if (auth_check(a, d, acts[i])) rights |= (unsigned)acts[i];
    const char *host = http_header(r, "host");
    buf_reset(out);
    buf_printf(out, "ds%c%s%c%u%c%s%c%s%c%s", 0, d->id, 0, rights, 0, host ? host : "", 0, r->path, 0,
               r->query ? r->query : "");
}

void ds_begin_ok(jw_t *w, buf_t *b) {
    jw_init(w, b, JW_DS);
    jw_obj_begin(w);
    jw_key(w, "ok");
    jw_bool(w, true);
}

bool ds_truthy(const char *v) {
    return v && (strcmp(v, "on") == 0 || strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

void ds_write_value(jw_t *w, const store_value_t *v, bool infinity) {
    static const value_style_t finite = {VJ_BLOB_BASE64_OBJECT, VJ_NONFINITE_NULL},
                               infinite = {VJ_BLOB_BASE64_OBJECT, VJ_NONFINITE_BARE};
    value_write_json(w, v, infinity ? &infinite : &finite);
}


void ds_value_text(buf_t *b, const store_value_t *v) {
    char tmp[32];
    switch (v->type) {
    case SV_INT: buf_printf(b, "%lld", (long long)v->i); break;
    case SV_REAL:
        if (isinf(v->d)) buf_puts(b, v->d > 0 ? "inf" : "-inf");
        else if (isnan(v->d)) buf_puts(b, "nan");
        else buf_append(b, tmp, json_format_double(v->d, tmp));
        break;
    case SV_TEXT:
    case SV_BLOB: buf_append(b, v->p, v->n); break;
    case SV_NULL: buf_puts(b, "None"); break;
    }
    if (!b->data) buf_puts(b, "");
}

/* escape_fts(q) (§5), as Datasette's: an odd number of '"' gets one
 * appended; the query is split on runs of white space and around "…"
 * groups (a group is a part of its own; '.' in Datasette's pattern stops at
 * a newline, so a quote with a newline before the next is an ordinary
 * character); empty parts and "" go; parts not starting with '"' are
 * quoted; joined by spaces; nothing left is "" (matches nothing). */
static void fts_part(buf_t *out, bool *first, const char *t, size_t tl) {
    if (tl == 0 || (tl == 2 && t[0] == '"' && t[1] == '"')) return;
    if (!*first) buf_putc(out, ' ');
    *first = false;
    if (t[0] == '"') {
        buf_append(out, t, tl);
    } else {
        buf_putc(out, '"');
        buf_append(out, t, tl);
        buf_putc(out, '"');
    }
}

static bool fts_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

static void escape_fts(const char *in, size_t n, buf_t *out) {
    buf_t q = BUF_INIT;
    buf_append(&q, in, n);
    size_t quotes = 0;
    for (size_t i = 0; i < n; i++) quotes += in[i] == '"';
    if (quotes % 2) buf_putc(&q, '"');
    const char *s = q.data ? q.data : "";
    size_t len = q.len, i = 0, start = 0;
    bool first = true;
    while (i < len) {
        if (fts_space(s[i])) {
            fts_part(out, &first, s + start, i - start);
            while (i < len && fts_space(s[i])) i++;
            start = i;
            continue;
        }
        if (s[i] == '"') {
            size_t j = i + 1;
            while (j < len && s[j] != '"' && s[j] != '\n') j++;
            if (j < len && s[j] == '"') {
                fts_part(out, &first, s + start, i - start);
                fts_part(out, &first, s + i, j + 1 - i);
                i = start = j + 1;
                continue;
            }
        }
        i++;
    }
    fts_part(out, &first, s + start, len - start);
    /* nothing left: the empty phrase, which matches nothing (Datasette
     * hands FTS5 an empty query, a syntax error) */
    if (first) buf_puts(out, "\"\"");
    buf_free(&q);
}

/* ---- instance and database views (§2) ----------------------------------- */

static int strcmp_ptr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static bool readable(const actor_t *a, db_t *d) { return auth_check(a, d, ACT_READ); }

static int64_t file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

static void h_versions(http_req_t *r) {
    buf_t b = BUF_INIT;
    jw_t w;
    ds_begin_ok(&w, &b);
    jw_key(&w, "datasette");
    jw_obj_begin(&w);
    jw_key(&w, "version");
    jw_str(&w, "1.0a37");
    jw_obj_end(&w);
    jw_key(&w, "atrium");
    jw_obj_begin(&w);
    jw_key(&w, "version");
    jw_str(&w, ATRIUM_VERSION);
    jw_obj_end(&w);
    jw_key(&w, "sqlite");
    jw_obj_begin(&w);
    jw_key(&w, "version");
    jw_str(&w, store_version());
    jw_key(&w, "fts_versions");
    jw_arr_begin(&w);
    char **opts;
    int n = store_compile_options(&opts);
    bool fts5 = false, fts3 = false;
    for (int i = 0; i < n; i++) {
        fts5 = fts5 || strcmp(opts[i], "ENABLE_FTS5") == 0;
        fts3 = fts3 || strcmp(opts[i], "ENABLE_FTS3") == 0 || strcmp(opts[i], "ENABLE_FTS4") == 0;
    }
    if (fts5) jw_str(&w, "FTS5");
    if (fts3) {
        jw_str(&w, "FTS4");
        jw_str(&w, "FTS3");
    }
    jw_arr_end(&w);
    jw_key(&w, "extensions");
    jw_obj_begin(&w);
    jw_key(&w, "json1");
    jw_null(&w);
    jw_obj_end(&w);
    jw_key(&w, "compile_options");
    jw_arr_begin(&w);
    for (int i = 0; i < n; i++) jw_str(&w, opts[i]);
    jw_arr_end(&w);
    jw_obj_end(&w);
    jw_obj_end(&w);
    for (int i = 0; i < n; i++) free(opts[i]);
    free(opts);
    ds_cors(r);
    http_respond_buf(r, 200, JSON_TYPE, &b);
}

static void h_actor(http_req_t *r, const actor_t *a) {
    buf_t b = BUF_INIT;
    jw_t w;
    ds_begin_ok(&w, &b);
    jw_key(&w, "actor");
    if (a->principal_id) {
        jw_obj_begin(&w);
        jw_key(&w, "id");
        jw_str(&w, a->name[0] ? a->name : a->identity);
        jw_key(&w, "token");
        jw_str(&w, "dstok");
        jw_obj_end(&w);
    } else {
        jw_null(&w);
    }
    jw_obj_end(&w);
    ds_cors(r);
    http_respond_buf(r, 200, JSON_TYPE, &b);
}

static void h_databases(http_req_t *r, const actor_t *a) {
    db_t **list;
    size_t n = catalog_db_list(ENGINE(r)->catalog, &list);
    buf_t b = BUF_INIT;
    jw_t w;
    ds_begin_ok(&w, &b);
    jw_key(&w, "databases");
    jw_arr_begin(&w);
    for (size_t i = 0; i < n; i++) {
        if (!readable(a, list[i])) continue;
        buf_t route = BUF_INIT;
        tilde_encode(&route, list[i]->name, strlen(list[i]->name));
        jw_obj_begin(&w);
        jw_key(&w, "name");
        jw_str(&w, list[i]->name);
        jw_key(&w, "route");
        jw_str(&w, route.data);
        jw_key(&w, "path");
        jw_str(&w, list[i]->path);
        jw_key(&w, "size");
        jw_int(&w, file_size(list[i]->path));
        jw_key(&w, "is_mutable");
        jw_bool(&w, true);
        jw_key(&w, "is_memory");
        jw_bool(&w, false);
        jw_key(&w, "hash");
        jw_null(&w);
        jw_obj_end(&w);
        buf_free(&route);
    }
    jw_arr_end(&w);
    jw_obj_end(&w);
    catalog_db_list_free(list, n);
    ds_cors(r);
    http_respond_buf(r, 200, JSON_TYPE, &b);
}

/* /.json and /DB.json read each database's schema (and counts) on a read
 * connection, off the loop. */
typedef struct {
    db_t **dbs;
    size_t n;
    char *only; /* /DB.json: that database */
    buf_t body;
    int status;
    char *msg;
} dbview_t;

/* A table's rows, counted as Datasette counts them (capped at 10,001, each
 * count within limit_ms); -1 if the count failed or took too long. */
static int64_t count_rows(store_db_t *c, const char *table, uint64_t limit_ms) {
    buf_t q = BUF_INIT;
    buf_puts(&q, "select count(*) from (select * from ");
    sql_ident(&q, table);
    buf_puts(&q, " limit 10001)");
    int64_t count = -1;
    store_stmt_t *st;
    store_set_deadline(c, time_mono_us() + limit_ms * 1000);
    if (store_prepare(c, q.data, &st) == 0) {
        if (store_step(st) == STORE_ROW) count = store_col_int(st, 0);
        store_finalize(st);
    }
    store_set_deadline(c, 0);
    buf_free(&q);
    return count;
}

/* Every column SQLite reports for t, hidden ones too (an FTS table's own
 * name and rank, generated columns), as Datasette's table_xinfo. */
static void write_xcolumns(jw_t *w, store_db_t *c, const tinfo_t *t) {
    jw_arr_begin(w);
    store_stmt_t *st;
    if (store_prepare(c, "SELECT name FROM pragma_table_xinfo(?)", &st) == 0) {
        store_bind_text(st, 1, t->name, strlen(t->name));
        size_t n;
        while (store_step(st) == STORE_ROW) {
            const char *name = store_col_text(st, 0, &n);
            jw_strn(w, name ? name : "", n);
        }
        store_finalize(st);
    } else {
        for (int i = 0; i < t->ncols; i++) jw_str(w, t->cols[i].name);
    }
    jw_arr_end(w);
}

static int relationships(const schema_t *s, const tinfo_t *t) {
    int nin;
    schema_incoming(s, t, &nin);
    return nin + t->nout;
}

/* A table of /DB.json (full: with foreign keys and count_truncated) or of
 * /.json (with num_relationships_for_sorting). count < 0: null. */
static void write_table_entry(jw_t *w, store_db_t *c, const schema_t *s, const tinfo_t *t, bool private_, bool full,
                              int64_t count, int nrel) {
    jw_obj_begin(w);
    jw_key(w, "name");
    jw_str(w, t->name);
    jw_key(w, "columns");
    write_xcolumns(w, c, t);
    jw_key(w, "primary_keys");
    jw_arr_begin(w);
    for (int k = 0; k < t->npk; k++) jw_str(w, t->cols[t->pk[k]].name);
    jw_arr_end(w);
    jw_key(w, "count");
    if (count >= 0) jw_int(w, count);
    else jw_null(w);
    if (full) {
        jw_key(w, "count_truncated");
        jw_bool(w, count > 10000);
    }
    jw_key(w, "hidden");
    jw_bool(w, t->hidden);
    jw_key(w, "fts_table");
    if (t->fts) jw_str(w, t->fts);
    else jw_null(w);
    if (full) {
        jw_key(w, "foreign_keys");
        jw_obj_begin(w);
        const char *dir[2] = {"incoming", "outgoing"};
        for (int d = 0; d < 2; d++) {
            jw_key(w, dir[d]);
            jw_arr_begin(w);
            int nin;
            const tfk_t *in = schema_incoming(s, t, &nin);
            const tfk_t *fks = d ? t->out : in;
            int nf = d ? t->nout : nin;
            for (int k = 0; k < nf; k++) {
                jw_obj_begin(w);
                jw_key(w, "other_table");
                jw_str(w, fks[k].other_table);
                jw_key(w, "column");
                jw_str(w, fks[k].column);
                jw_key(w, "other_column");
                jw_str(w, fks[k].other_column);
                jw_obj_end(w);
            }
            jw_arr_end(w);
        }
        jw_obj_end(w);
    } else {
        jw_key(w, "num_relationships_for_sorting");
        jw_int(w, nrel);
    }
    jw_key(w, "private");
    jw_bool(w, private_);
    jw_obj_end(w);
}

/* The first max views of the schema as {name, private}. */
static void write_views(jw_t *w, db_t *d, const schema_t *s, int max) {
    for (int k = 0; k < s->n && max > 0; k++) {
        if (!s->t[k].is_view) continue;
        jw_obj_begin(w);
        jw_key(w, "name");
        jw_str(w, s->t[k].name);
        jw_key(w, "private");
        jw_bool(w, !db_public(d));
        jw_obj_end(w);
        max--;
    }
}

/* /.json's order: by relationships, count, name, all descending. */
typedef struct {
    const tinfo_t *t;
    int64_t count;
    int nrel;
} ranked_t;

static int by_rank(const void *a, const void *b) {
    const ranked_t *x = a, *y = b;
    if (x->nrel != y->nrel) return x->nrel > y->nrel ? -1 : 1;
    int64_t cx = x->count > 0 ? x->count : 0, cy = y->count > 0 ? y->count : 0;
    if (cx != cy) return cx > cy ? -1 : 1;
    return -strcmp(x->t->name, y->t->name);
}

/* Datasette counts a database's tables on its index page only below this size. */
#define INDEX_COUNT_MAX_BYTES (100 * 1024 * 1024)

static void write_index_entry(jw_t *w, db_t *d, store_db_t *c, const schema_t *s) {
    /* counts of every table, hidden ones too, 10 ms each; one failure and
     * none are shown (Datasette's table_counts(10)) */
    ranked_t *all = xcalloc((size_t)s->n + 1, sizeof *all);
    int nt = 0, nviews = 0, nvisible = 0, nhidden = 0;
    bool counted = file_size(d->path) < INDEX_COUNT_MAX_BYTES;
    for (int k = 0; k < s->n; k++) {
        const tinfo_t *t = schema_at(s, k);
        if (t->is_view) {
            nviews++;
            continue;
        }
        all[nt].t = t;
        all[nt].count = counted ? count_rows(c, t->name, 10) : -1;
        if (all[nt].count < 0) counted = false;
        if (t->hidden) nhidden++;
        else nvisible++;
        nt++;
    }
    counted = counted && nt > 0;
    int64_t rows_sum = 0, hidden_sum = 0;
    for (int k = 0; k < nt; k++) {
        if (!counted) all[k].count = -1;
        else if (all[k].t->hidden) hidden_sum += all[k].count;
        else rows_sum += all[k].count;
        /* relationships rank tables only when there are no counts */
        all[k].nrel = counted ? 0 : relationships(s, all[k].t);
    }
    ranked_t *vis = xcalloc((size_t)nt + 1, sizeof *vis);
    int nv = 0;
    for (int k = 0; k < nt; k++)
        if (!all[k].t->hidden) vis[nv++] = all[k];
    qsort(vis, (size_t)nv, sizeof *vis, by_rank);
    char color[33];
    md5_hex(d->name, strlen(d->name), color);
    color[6] = 0;
    buf_t route = BUF_INIT, path = BUF_INIT;
    tilde_encode(&route, d->name, strlen(d->name));
    buf_printf(&path, "/%s", route.data);
    jw_obj_begin(w);
    jw_key(w, "name");
    jw_str(w, d->name);
    jw_key(w, "hash");
    jw_null(w);
    jw_key(w, "color");
    jw_str(w, color);
    jw_key(w, "path");
    jw_str(w, path.data);
    jw_key(w, "tables_and_views_truncated");
    jw_arr_begin(w);
    int shown = 0;
    for (int k = 0; k < nv && shown < 5; k++, shown++)
        write_table_entry(w, c, s, vis[k].t, !db_public(d), false, vis[k].count, vis[k].nrel);
    write_views(w, d, s, 5 - shown);
    jw_arr_end(w);
    jw_key(w, "tables_and_views_more");
    jw_bool(w, nvisible + nviews > 5);
    jw_key(w, "tables_count");
    jw_int(w, nvisible);
    jw_key(w, "table_rows_sum");
    jw_int(w, rows_sum);
    jw_key(w, "show_table_row_counts");
    jw_bool(w, counted);
    jw_key(w, "hidden_table_rows_sum");
    jw_int(w, hidden_sum);
    jw_key(w, "hidden_tables_count");
    jw_int(w, nhidden);
    jw_key(w, "views_count");
    jw_int(w, nviews);
    jw_key(w, "private");
    jw_bool(w, !db_public(d));
    jw_obj_end(w);
    buf_free(&route);
    buf_free(&path);
    free(vis);
    free(all);
}

static void write_database_view(jw_t *w, db_t *d, store_db_t *c, const schema_t *s) {
    int nhidden = 0;
    for (int k = 0; k < s->n; k++) nhidden += !s->t[k].is_view && s->t[k].hidden;
    buf_t route = BUF_INIT, path = BUF_INIT;
    tilde_encode(&route, d->name, strlen(d->name));
    buf_printf(&path, "/%s", route.data);
    jw_obj_begin(w);
    jw_key(w, "ok");
    jw_bool(w, true);
    jw_key(w, "database");
    jw_str(w, d->name);
    jw_key(w, "private");
    jw_bool(w, !db_public(d));
    jw_key(w, "path");
    jw_str(w, path.data);
    jw_key(w, "size");
    jw_int(w, file_size(d->path));
    /* tables by (hidden, name), each counted within 100 ms (Datasette's
     * table_counts(100)); a count that fails is null */
    jw_key(w, "tables");
    jw_arr_begin(w);
    for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k < s->n; k++) {
            const tinfo_t *t = schema_at(s, k);
            if (t->is_view || t->hidden != (pass == 1)) continue;
            write_table_entry(w, c, s, t, !db_public(d), true, count_rows(c, t->name, 100), 0);
        }
    jw_arr_end(w);
    jw_key(w, "hidden_count");
    jw_int(w, nhidden);
    jw_key(w, "views");
    jw_arr_begin(w);
    write_views(w, d, s, s->n);
    jw_arr_end(w);
    jw_key(w, "queries");
    jw_arr_begin(w);
    jw_arr_end(w);
    jw_key(w, "queries_more");
    jw_bool(w, false);
    jw_key(w, "queries_count");
    jw_int(w, 0);
    jw_key(w, "allow_execute_sql");
    jw_bool(w, true);
    /* every table's columns (hidden ones too), sorted; views: [] */
    jw_key(w, "table_columns");
    jw_obj_begin(w);
    for (int k = 0; k < s->n; k++) {
        const tinfo_t *t = schema_at(s, k);
        jw_key(w, t->name);
        jw_arr_begin(w);
        if (!t->is_view) {
            size_t cap = 16, nn = 0;
            char **names = xcalloc(cap, sizeof *names);
            store_stmt_t *st;
            if (store_prepare(c, "SELECT name FROM pragma_table_xinfo(?)", &st) == 0) {
                store_bind_text(st, 1, t->name, strlen(t->name));
                size_t n;
                while (store_step(st) == STORE_ROW) {
                    const char *name = store_col_text(st, 0, &n);
                    if (nn == cap) names = xrealloc(names, (cap *= 2) * sizeof *names);
                    names[nn++] = xstrndup(name ? name : "", n);
                }
                store_finalize(st);
            }
            qsort(names, nn, sizeof *names, strcmp_ptr);
            for (size_t ci = 0; ci < nn; ci++) {
                jw_str(w, names[ci]);
                free(names[ci]);
            }
            free(names);
        }
        jw_arr_end(w);
    }
    jw_obj_end(w);
    jw_key(w, "metadata");
    jw_obj_begin(w);
    jw_obj_end(w);
    jw_obj_end(w);
    buf_free(&route);
    buf_free(&path);
}

static void dbview_work(void *data) {
    dbview_t *v = data;
    jw_t w;
    jw_init(&w, &v->body, JW_DS);
    if (!v->only) {
        jw_obj_begin(&w);
        jw_key(&w, "ok");
        jw_bool(&w, true);
        jw_key(&w, "unstable");
        jw_str(&w, "This API is not part of Datasette's stable interface and may change at any time");
        jw_key(&w, "databases");
        jw_arr_begin(&w);
    }
    for (size_t i = 0; i < v->n; i++) {
        db_t *d = v->dbs[i];
        err_t e = {0};
        store_db_t *c = dbh_reader(d, &e);
        char msg[256];
        const schema_t *s = c ? schema_acquire(d, c, msg, sizeof msg) : NULL;
        if (!s) {
            if (v->only) {
                v->status = 400;
                v->msg = xstrdup(c ? msg : e.msg);
            }
            err_clear(&e);
            if (c) dbh_reader_put(d, c);
            continue;
        }
        if (v->only) write_database_view(&w, d, c, s);
        else write_index_entry(&w, d, c, s);
        schema_release(s);
        dbh_reader_put(d, c);
    }
    if (!v->only) {
        jw_arr_end(&w);
        jw_key(&w, "metadata");
        jw_obj_begin(&w);
        jw_obj_end(&w);
        jw_obj_end(&w);
    }
}

static void dbview_done(http_req_t *r, void *data) {
    dbview_t *v = data;
    if (v->status) ds_error(r, v->status, v->msg);
    else {
        ds_cors(r);
        http_respond_buf(r, 200, JSON_TYPE, &v->body);
    }
    buf_free(&v->body);
    free(v->msg);
    free(v->only);
    catalog_db_list_free(v->dbs, v->n);
    free(v);
}

static void h_instance(http_req_t *r, const actor_t *a, db_t *only) {
    dbview_t *v = xcalloc(1, sizeof *v);
    if (only) {
        v->dbs = xcalloc(1, sizeof *v->dbs);
        v->dbs[0] = only;
        v->n = 1;
        v->only = xstrdup(only->name);
    } else {
        db_t **list;
        size_t n = catalog_db_list(ENGINE(r)->catalog, &list);
        v->dbs = xcalloc(n + 1, sizeof *v->dbs);
        for (size_t i = 0; i < n; i++) {
            if (readable(a, list[i])) {
                db_retain(list[i]);
                v->dbs[v->n++] = list[i];
            }
        }
        catalog_db_list_free(list, n);
    }
    http_defer(r, dbview_work, dbview_done, v);
}

/* ---- path dispatch ---------------------------------------------------- */

/* Splits off a ".json"/".csv" suffix of the last segment. */
static const char *suffix_of(const char *seg, size_t len, size_t *base) {
    static const char *sfx[] = {".json", ".csv", ".blob", NULL};
    for (int i = 0; sfx[i]; i++) {
        size_t n = strlen(sfx[i]);
        if (len > n && memcmp(seg + len - n, sfx[i], n) == 0) {
            *base = len - n;
            return sfx[i];
        }
    }
    *base = len;
    return NULL;
}

static db_t *find_db(http_req_t *r, const actor_t *a, const char *seg, size_t len) {
    buf_t name = BUF_INIT;
    db_t *d = NULL;
    if (tilde_decode(seg, len, &name) == 0 && name.len && name.data[0] != '_')
        d = catalog_db_find(ENGINE(r)->catalog, name.data, DB_BY_NAME);
    buf_free(&name);
    if (!d) {
        ds_error(r, 404, "Database not found");
        return NULL;
    }
    if (!auth_check(a, d, ACT_READ)) {
        ds_error(r, 403, "You do not have permission to view this database");
        db_release(d);
        return NULL;
    }
    doors_note_use(d, "datasette");
    return d;
}

static void redirect(http_req_t *r, const char *loc) {
    http_add_header(r, "Location", loc);
    ds_cors(r);
    http_respond(r, 302, NULL, "", 0);
}

/* A path someone percent-encoded: re-encode its segments the tilde way. */
static void percent_redirect(http_req_t *r) {
    buf_t loc = BUF_INIT;
    const char *p = r->path;
    size_t n = strlen(p), base;
    const char *sfx = suffix_of(p, n, &base);
    for (size_t i = 0; i < base; i++) {
        if (p[i] == '~') buf_puts(&loc, "~7E");
        else if (p[i] == '%') buf_putc(&loc, '~');
        else if (p[i] == '.') buf_puts(&loc, "~2E");
        else buf_putc(&loc, p[i]);
    }
    if (sfx) buf_puts(&loc, sfx);
    if (r->query) buf_printf(&loc, "?%s", r->query);
    redirect(r, loc.data);
    buf_free(&loc);
}

void ds_html_page(http_req_t *r, int status, const char *text) {
    buf_t b = BUF_INIT;
    buf_puts(&b, "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Atrium</title></head><body><p>");
    for (const char *c = text; *c; c++) {
        if (*c == '<') buf_puts(&b, "&lt;");
        else if (*c == '>') buf_puts(&b, "&gt;");
        else if (*c == '&') buf_puts(&b, "&amp;");
        else buf_putc(&b, *c);
    }
    buf_puts(&b, "</p></body></html>\n");
    ds_cors(r);
    http_respond_buf(r, status, "text/html; charset=utf-8", &b);
}

#define MAX_SEGS 6

static void h_fallback(http_req_t *r) {
    actor_t a;
    if (!authenticate(r, &a)) return;
    const char *path = r->path;
    size_t plen = strlen(path);
    if (plen > 1 && path[plen - 1] == '/') {
        buf_t loc = BUF_INIT;
        size_t keep = plen;
        while (keep > 1 && path[keep - 1] == '/') keep--;
        buf_append(&loc, path, keep);
        if (r->query) buf_printf(&loc, "?%s", r->query);
        redirect(r, loc.data);
        buf_free(&loc);
        return;
    }
    if (strchr(path, '%')) {
        percent_redirect(r);
        return;
    }
    const char *seg[MAX_SEGS];
    size_t len[MAX_SEGS];
    int n = 0;
    for (const char *p = path + 1; *p || n == 0;) {
        if (n == MAX_SEGS) {
            ds_error(r, 404, "Not found");
            return;
        }
        const char *sl = strchr(p, '/');
        seg[n] = p;
        len[n] = sl ? (size_t)(sl - p) : strlen(p);
        n++;
        if (!sl) break;
        p = sl + 1;
    }
#define SEG_IS(i, s) (len[i] == strlen(s) && memcmp(seg[i], s, len[i]) == 0)
    /* the write routes take POST alone, whatever the rest of the path holds */
    bool write_route = (n == 3 && SEG_IS(1, "-") && SEG_IS(2, "create")) ||
                       (n == 4 && SEG_IS(2, "-") && (SEG_IS(3, "insert") || SEG_IS(3, "upsert") || SEG_IS(3, "drop"))) ||
                       (n == 5 && SEG_IS(3, "-") && (SEG_IS(4, "update") || SEG_IS(4, "delete")));
    if (write_route && r->method != M_POST) {
        render_error(r, 405, "Method not allowed");
        return;
    }
    if (r->method == M_POST) {
        if (n == 2 && SEG_IS(0, "-") && SEG_IS(1, "create-token")) {
            ds_create_token(r, &a);
            return;
        }
        const char *op = NULL;
        if (n == 3 && SEG_IS(1, "-") && SEG_IS(2, "create")) op = "create";
        else if (n == 4 && SEG_IS(2, "-") && (SEG_IS(3, "insert") || SEG_IS(3, "upsert") || SEG_IS(3, "drop")))
            op = seg[3];
        else if (n == 5 && SEG_IS(3, "-") && (SEG_IS(4, "update") || SEG_IS(4, "delete"))) op = seg[4];
        if (!op) {
            render_error(r, 405, "Method not allowed");
            return;
        }
        buf_t name = BUF_INIT;
        db_t *d = NULL;
        if (tilde_decode(seg[0], len[0], &name) == 0 && name.len)
            d = catalog_db_find(ENGINE(r)->catalog, name.data, DB_BY_NAME);
        if (!d) {
            buf_t m = BUF_INIT;
            buf_printf(&m, "Database not found: %s", name.data ? name.data : "");
            ds_error(r, 404, m.data);
            buf_free(&m);
            buf_free(&name);
            return;
        }
        buf_free(&name);
        buf_t table = BUF_INIT, id = BUF_INIT;
        if (n >= 4) tilde_decode(seg[1], len[1], &table);
        if (n == 5) buf_append(&id, seg[2], len[2]);
        ds_write(r, &a, d, n >= 4 ? (table.data ? table.data : "") : NULL, n == 5 ? id.data : NULL, op);
        buf_free(&table);
        buf_free(&id);
        return;
    }
    if (r->method != M_GET && r->method != M_HEAD) {
        render_error(r, 405, "Method not allowed");
        return;
    }
    size_t base;
    const char *sfx = suffix_of(seg[n - 1], len[n - 1], &base);
    bool csv = sfx && strcmp(sfx, ".csv") == 0;
    if (sfx && strcmp(sfx, ".blob") == 0 && (n != 3 || SEG_IS(1, "-"))) {
        ds_error(r, 404, "Not found"); /* only rows have blobs */
        return;
    }
    if (n == 1 && SEG_IS(0, ".json")) {
        h_instance(r, &a, NULL);
        return;
    }
    if (n == 1) {
        if (len[0] == 0) {
            ds_html_page(r, 200, "Atrium: this instance speaks Datasette's JSON API; see /.json");
            return;
        }
        if (sfx && base == 0 && !csv) {
            h_instance(r, &a, NULL);
            return;
        }
        if (!sfx) {
            db_t *d = NULL;
            buf_t name = BUF_INIT;
            if (tilde_decode(seg[0], len[0], &name) == 0 && name.len)
                d = catalog_db_find(ENGINE(r)->catalog, name.data, DB_BY_NAME);
            buf_free(&name);
            if (!d) ds_html_page(r, 404, "Database not found");
            else ds_html_page(r, 200, "See this database's .json");
            if (d) db_release(d);
            return;
        }
        /* /DB.json?sql=… → /DB/-/query.json?… (the query kept verbatim) */
        qs_t q;
        qs_parse(&q, r->query ? r->query : "", r->query ? strlen(r->query) : 0);
        bool has_sql = qs_get(&q, "sql") != NULL;
        qs_free(&q);
        if (has_sql) {
            buf_t loc = BUF_INIT;
            buf_printf(&loc, "/%.*s/-/query%s?%s", (int)base, seg[0], sfx, r->query);
            redirect(r, loc.data);
            buf_free(&loc);
            return;
        }
        db_t *d = find_db(r, &a, seg[0], base);
        if (!d) return;
        if (csv) {
            ds_error(r, 404, "Not found");
            db_release(d);
            return;
        }
        h_instance(r, &a, d);
        return;
    }
    if (n == 2 && SEG_IS(0, "-")) {
        if (SEG_IS(1, "versions.json")) h_versions(r);
        else if (SEG_IS(1, "databases.json")) h_databases(r, &a);
        else if (SEG_IS(1, "actor.json")) h_actor(r, &a);
        else ds_error(r, 404, "Not found");
        return;
    }
    db_t *d = find_db(r, &a, seg[0], len[0]);
    if (!d) return;
    if (n == 3 && SEG_IS(1, "-")) {
        if (sfx && base == 5 && memcmp(seg[2], "query", 5) == 0) {
            ds_query(r, &a, d, csv);
            return;
        }
        db_release(d);
        ds_error(r, 404, "Not found");
        return;
    }
    if (n > 3) {
        db_release(d);
        if (sfx) ds_error(r, 404, "Not found");
        else ds_html_page(r, 404, "Not found");
        return;
    }
    if (!sfx) {
        /* the HTML page: minimal, but an unknown table or row is a 404 */
        buf_t table = BUF_INIT, id = BUF_INIT;
        int bad = tilde_decode(seg[1], len[1], &table);
        if (n == 3) buf_append(&id, seg[2], len[2]);
        if (bad < 0 || !table.len) {
            db_release(d);
            ds_html_page(r, 404, "Table not found");
        } else {
            ds_table_page(r, &a, d, table.data, n == 3 ? (id.data ? id.data : "") : NULL, "");
        }
        buf_free(&table);
        buf_free(&id);
        return;
    }
    buf_t table = BUF_INIT, id = BUF_INIT;
    int bad = tilde_decode(seg[1], n == 2 ? base : len[1], &table);
    if (n == 3) buf_append(&id, seg[2], base);
    if (bad < 0 || !table.len) {
        db_release(d);
        ds_error(r, 404, "Table not found");
    } else {
        ds_table_page(r, &a, d, table.data, n == 3 ? (id.data ? id.data : "") : NULL, sfx);
    }
    buf_free(&table);
    buf_free(&id);
#undef SEG_IS
}

void datasette_register(router_t *rt) {
    store_add_text_function("escape_fts", escape_fts);
    router_add(rt, &datasette_dialect, M_GET | M_POST | M_PUT | M_DELETE | M_PATCH | M_OTHER, "/*", h_fallback);
}
