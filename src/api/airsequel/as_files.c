/* airsequel/as_files: a file cell's bytes (spec §2):
 *   GET /api/dbs/:dbId/tables/:t/columns/:c/files/:primaryKey/:equalsValue (R)
 *   PUT the same (W): a multipart "file" part up to 10 MiB becomes the
 *       cell's BLOB (UPDATE … WHERE key = value, one write job) → {}
 *   GET /readonly/:readonlyId/tables/:t/columns/:c/files/:primaryKey/:equalsValue (anyone with the id)
 * the second being where GraphQL's file URLs point. :primaryKey names the
 * rowid pseudo-column or a lone PRIMARY KEY / UNIQUE column, so it finds
 * one row; :equalsValue is bound as text. A missing row or a NULL cell is
 * 404. One read through api_read; the cell is bounded by the largest
 * value the store accepts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/airsequel/airsequel_internal.h"
#include "core/schema.h"
#include "core/sql.h"
#include "util/multipart.h"

#define TIME_LIMIT_US (20 * 1000000ull)
#define FILE_MAX (10u * 1024 * 1024)

typedef struct {
    api_write_t w; /* PUT: the update */
    db_t *db;
    char *seg[4]; /* table, column, key column, value */
    /* PUT: the body and the file part read from it */
    const char *body_path, *mem;
    size_t memlen;
    char boundary[MP_BOUNDARY_MAX + 1];
    buf_t file;
    bool in_file, have_file;
    api_out_t out; /* rows: the bytes */
    int status;
    char msg[sizeof(((err_t *)0)->msg) + 600];
} fjob_t;

static void fjob_free(fjob_t *j) {
    api_out_reset(&j->out);
    buf_free(&j->file);
    changeset_free(&j->w.job.changes);
    for (int i = 0; i < 4; i++) free(j->seg[i]);
    db_release(j->db);
    free(j);
}

static void fail(fjob_t *j, int status, const char *fmt, const char *arg) {
    j->status = status;
    snprintf(j->msg, sizeof j->msg, fmt, arg);
}

/* The column that finds one row: the rowid (when there is one and no
 * column takes its name) or a one-column key or UNIQUE index. */
static bool addresses_a_row(const tinfo_t *t, const char *key) {
    int i = tinfo_col(t, key);
    if (i >= 0) return t->cols[i].unique;
    static const char *pseudo[] = {"rowid", "_rowid_", "oid"};
    for (int k = 0; k < 3; k++)
        if (strcasecmp(key, pseudo[k]) == 0) return t->has_rowid && !t->is_view;
    return false;
}

/* The table of the route if its column exists and its key finds one row;
 * NULL with the status set. */
static const tinfo_t *cell_table(fjob_t *j, const schema_t *s) {
    const tinfo_t *t = airsequel_table(s, j->seg[0]);
    if (!t) fail(j, 404, "Table \"%s\" not found", j->seg[0]);
    else if (tinfo_col(t, j->seg[1]) < 0) fail(j, 404, "Column \"%s\" not found", j->seg[1]);
    else if (!addresses_a_row(t, j->seg[2]))
        fail(j, 400, "Column \"%s\" is neither the rowid nor a unique column", j->seg[2]);
    else return t;
    return NULL;
}

static void run(void *ctx, store_db_t *c, uint64_t deadline) {
    fjob_t *j = ctx;
    buf_reset(&j->out.rows);
    j->out.rc = 0;
    j->status = 200;
    const schema_t *s = airsequel_schema(j->db, c, &j->out);
    if (!s) return;
    const tinfo_t *t = cell_table(j, s);
    if (t) {
        buf_t q = BUF_INIT;
        buf_puts(&q, "SELECT ");
        sql_ident(&q, j->seg[1]);
        buf_puts(&q, " FROM ");
        sql_ident(&q, t->name);
        buf_puts(&q, " WHERE ");
        sql_ident(&q, j->seg[2]);
        buf_puts(&q, " = ? LIMIT 1");
        store_stmt_t *st;
        store_set_deadline(c, deadline);
        int rc = store_prepare(c, q.data, &st);
        if (rc == 0) {
            store_bind_text(st, 1, j->seg[3], strlen(j->seg[3]));
            rc = store_step(st);
            if (rc == STORE_ROW && store_col_type(st, 0) != SV_NULL) {
                size_t n;
                const void *p = store_col_type(st, 0) == SV_BLOB ? store_col_blob(st, 0, &n)
                                                                  : (const void *)store_col_text(st, 0, &n);
                buf_append(&j->out.rows, p ? p : "", n);
            } else if (rc >= 0) {
                fail(j, 404, "%s", "File not found");
            }
            store_finalize(st);
        }
        if (rc < 0) fail(j, 400, "%s", store_errmsg(c));
        store_set_deadline(c, 0);
        buf_free(&q);
    }
    schema_release(s);
}

static void reset(void *ctx) {
    fjob_t *j = ctx;
    buf_reset(&j->out.rows);
    memset(&j->out.err, 0, sizeof j->out.err);
    j->out.rc = 0;
}

static void done(http_req_t *r, void *ctx) {
    fjob_t *j = ctx;
    if (j->out.rc < 0) airsequel_error(r, j->out.err.kind == E_TIMEOUT ? 400 : 500, j->out.err.msg);
    else if (j->status != 200) airsequel_error(r, j->status, j->msg);
    else {
        http_add_header(r, "X-Content-Type-Options", "nosniff");
        http_respond(r, 200, "application/octet-stream", j->out.rows.data ? j->out.rows.data : "", j->out.rows.len);
    }
    fjob_free(j);
}

/* The route's table, column, key and value (captures 1-4); -1 after
 * answering 400 (and freeing j). */
static int take_segments(http_req_t *r, fjob_t *j) {
    for (int i = 0; i < 4; i++) {
        buf_t seg = BUF_INIT;
        if (api_capture(r, i + 1, &seg) < 0) {
            buf_free(&seg);
            airsequel_error(r, 400, "Invalid path segment");
            fjob_free(j);
            return -1;
        }
        j->seg[i] = seg.data ? buf_detach(&seg) : xstrdup("");
    }
    return 0;
}

static void serve(http_req_t *r, bool by_readonly) {
    actor_t a;
    if (!airsequel_authenticate(r, &a)) return;
    db_t *d = airsequel_resolve_db(r, &a, 0, by_readonly ? DB_BY_READONLY : DB_BY_NAME | DB_BY_ID | DB_BY_IDENTITY,
                                   by_readonly);
    if (!d) return;
    if (!by_readonly && !auth_check(&a, d, ACT_READ)) {
        airsequel_error(r, 403, "Permission denied");
        db_release(d);
        return;
    }
    fjob_t *j = xcalloc(1, sizeof *j);
    j->db = d;
    if (take_segments(r, j) < 0) return;
    api_read(r, d, TIME_LIMIT_US, &j->out, run, reset, done, j);
}

/* ---- PUT ----------------------------------------------------------------------------- */

static int mp_begin(void *ctx, const mp_part_t *p) {
    fjob_t *j = ctx;
    j->in_file = strcmp(p->name, "file") == 0;
    if (j->in_file && j->have_file) {
        fail(j, 400, "%s", "Only one \"file\" part may be sent");
        return -1;
    }
    j->have_file |= j->in_file;
    return 0;
}

static int mp_data(void *ctx, const char *p, size_t n) {
    fjob_t *j = ctx;
    if (!j->in_file) return 0;
    if (j->file.len + n > FILE_MAX) {
        fail(j, 413, "%s", "A file may hold at most 10 MiB");
        return -1;
    }
    buf_append(&j->file, p, n);
    return 0;
}

static int mp_end(void *ctx) {
    ((fjob_t *)ctx)->in_file = false;
    return 0;
}

static void parse_work(void *data) {
    fjob_t *j = data;
    FILE *f = j->body_path ? fopen(j->body_path, "rb") : fmemopen((void *)j->mem, j->memlen, "rb");
    if (!f) {
        fail(j, 400, "%s", "The request has no body");
        return;
    }
    static const mp_callbacks_t cb = {mp_begin, mp_data, mp_end};
    char err[200];
    int rc = multipart_read(f, j->boundary, &cb, j, err, sizeof err);
    fclose(f);
    if (rc < 0 && j->status == 200) fail(j, 400, "Invalid multipart body: %s", err);
    else if (rc == 0 && !j->have_file) fail(j, 400, "%s", "A \"file\" part is required");
}

static int update_run(store_db_t *c, void *arg, err_t *e) {
    fjob_t *j = arg;
    char err[256];
    const schema_t *s = schema_load(c, err, sizeof err);
    if (!s) return j->out.rc = err_set(e, E_INTERNAL, "%s", err);
    const tinfo_t *t = cell_table(j, s);
    if (t) {
        buf_t q = BUF_INIT;
        buf_puts(&q, "UPDATE ");
        sql_ident(&q, t->name);
        buf_puts(&q, " SET ");
        sql_ident(&q, j->seg[1]);
        buf_puts(&q, " = ? WHERE ");
        sql_ident(&q, j->seg[2]);
        buf_puts(&q, " = ?");
        store_stmt_t *st;
        int rc = store_prepare(c, q.data, &st);
        if (rc == 0) {
            store_bind_blob(st, 1, j->file.data ? j->file.data : "", j->file.len);
            store_bind_text(st, 2, j->seg[3], strlen(j->seg[3]));
            rc = store_step(st);
            store_finalize(st);
        }
        if (rc < 0) fail(j, 400, "%s", store_errmsg(c));
        else if (store_changes(c) == 0) fail(j, 404, "%s", "Row not found");
        buf_free(&q);
    }
    schema_release(s);
    /* a refusal rolls the job's savepoint back (E_OK: not a failure) */
    if (j->status != 200) return err_clear(e), -1;
    return 0;
}

static void update_done(http_req_t *r, void *data) {
    fjob_t *j = data;
    if (j->status != 200) airsequel_error(r, j->status, j->msg);
    else if (j->out.rc < 0) airsequel_error(r, 500, j->out.err.msg);
    else airsequel_json(r, 200, "{}");
    fjob_free(j);
}

static void parsed(http_req_t *r, void *data) {
    fjob_t *j = data;
    err_t e;
    if (j->status != 200) {
        airsequel_error(r, j->status, j->msg);
        fjob_free(j);
        return;
    }
    if (api_write(r, j->db, &j->w, update_run, &j->out, update_done, j, &e) < 0) {
        airsequel_error(r, 500, e.msg);
        fjob_free(j);
    }
}

static void h_put_file(http_req_t *r) {
    actor_t a;
    db_t *d = airsequel_db_for(r, &a, ACT_WRITE);
    if (!d) return;
    fjob_t *j = xcalloc(1, sizeof *j);
    j->db = d;
    j->status = 200;
    if (multipart_boundary(http_header(r, "content-type"), j->boundary) < 0) {
        airsequel_error(r, 415, "Upload the file as multipart/form-data");
        fjob_free(j);
        return;
    }
    if (take_segments(r, j) < 0) return;
    j->body_path = r->body_path;
    j->mem = r->body.data;
    j->memlen = r->body.len;
    http_defer(r, parse_work, parsed, j);
}

static void h_file(http_req_t *r) { serve(r, false); }
static void h_readonly_file(http_req_t *r) { serve(r, true); }

void airsequel_files_register(router_t *rt, const dialect_t *d) {
    router_add(rt, d, M_GET, "/api/dbs/:db/tables/:table/columns/:column/files/:key/:value", h_file);
    router_add(rt, d, M_PUT, "/api/dbs/:db/tables/:table/columns/:column/files/:key/:value", h_put_file);
    router_add(rt, d, M_GET, "/readonly/:db/tables/:table/columns/:column/files/:key/:value", h_readonly_file);
}
