/* airsequel/as_upload: databases from files (spec §2). POST /dbs takes a
 * multipart upload (a "file" part, optional "name" and "team"): a SQLite
 * file (its header, then quick_check) becomes the database as it is; a
 * .csv becomes one table (core/import); a .sql or text/plain file is run
 * as POST /api/dbs's script. PUT /dbs/:dbId replaces a database's content
 * with an uploaded SQLite file, atomically: SQLite's backup API on the
 * database's writer, alone and outside any transaction, so readers see the
 * old content or the new. Bodies up to UPLOAD_MAX are spooled to disk by
 * the transport (dialect spool_limit) and parsed on the pool as a stream,
 * so no upload sits in memory. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "api/airsequel/airsequel_internal.h"
#include "core/doors.h"
#include "core/dbh.h"
#include "core/import.h"
#include "core/names.h"
#include "util/multipart.h"
#include "util/timeutil.h"

#define UPLOAD_MAX (100u * 1024 * 1024)
#define FIELD_MAX 255
#define SCRIPT_MAX (16u * 1024 * 1024) /* a .sql upload is read into memory to run */

typedef enum { K_NONE, K_SQLITE, K_CSV, K_SQL } kind_t;

typedef struct {
    api_write_t w; /* PUT: the restore job */
    api_out_t out;
    engine_t *engine;
    actor_t a;
    db_t *target; /* PUT: the database replaced */
    /* the body: a spool file, or the request's memory */
    const char *body_path;
    const char *mem;
    size_t memlen;
    char boundary[MP_BOUNDARY_MAX + 1];
    /* parsing */
    FILE *fout;     /* the file part being written */
    buf_t *field;   /* the small part being read, or NULL */
    bool skipping;  /* a part nobody asked for */
    bool have_file;
    mp_part_t file_part;
    buf_t file_path, name, team;
    size_t file_size;
    kind_t kind;
    /* the outcome */
    char *script; /* K_SQL: runs on as POST /api/dbs's query */
    db_t *made;
    team_t owner;
    int status;
    char msg[sizeof(((err_t *)0)->msg) + 64];
    op_t *op; /* at /-/operations while it lasts */
    size_t body_size;
} ujob_t;

/* The scratch file goes on the pool (drop_scratch) once it has served;
 * only a rare failure before that leaves it to here. */
static void drop_scratch(ujob_t *j) {
    if (j->fout) fclose(j->fout);
    j->fout = NULL;
    if (j->file_path.data) unlink(j->file_path.data);
    buf_free(&j->file_path);
}

/* Ends the job's operation; done before answering, so a client that has
 * its answer and asks /-/operations (maybe on another loop) sees it ended. */
static void ujob_end_op(ujob_t *j) {
    op_end(j->op, j->status || j->out.rc < 0 ? -1 : 0, j->status ? j->msg : j->out.err.msg);
    j->op = NULL;
}

static void ujob_free(ujob_t *j) {
    ujob_end_op(j);
    drop_scratch(j);
    buf_free(&j->file_path);
    buf_free(&j->name);
    buf_free(&j->team);
    free(j->script);
    api_out_reset(&j->out);
    changeset_free(&j->w.job.changes);
    db_release(j->target);
    db_release(j->made);
    free(j);
}

static int fail(ujob_t *j, int status, const char *msg) {
    if (!j->status) {
        j->status = status;
        snprintf(j->msg, sizeof j->msg, "%s", msg);
    }
    return -1;
}

/* ---- the multipart parts -------------------------------------------------------- */

static int part_begin(void *ctx, const mp_part_t *p) {
    ujob_t *j = ctx;
    j->field = NULL;
    j->skipping = false;
    if (strcmp(p->name, "file") == 0) {
        if (j->have_file) return fail(j, 400, "Only one \"file\" part may be sent");
        j->have_file = true;
        j->file_part = *p;
        catalog_tmp_path(j->engine->catalog, &j->file_path);
        if (!(j->fout = fopen(j->file_path.data, "wbx"))) return fail(j, 500, "The upload could not be stored");
        return 0;
    }
    if (strcmp(p->name, "name") == 0) j->field = &j->name;
    else if (strcmp(p->name, "team") == 0) j->field = &j->team;
    else j->skipping = true;
    if (j->field) buf_reset(j->field);
    return 0;
}

static int part_data(void *ctx, const char *p, size_t n) {
    ujob_t *j = ctx;
    if (j->fout) {
        if (n && fwrite(p, 1, n, j->fout) != n) return fail(j, 500, "The upload could not be stored");
        j->file_size += n;
        op_progress(j->op, j->file_size, j->body_size);
        if (op_cancelled(j->op)) return fail(j, 409, "The upload was cancelled");
        return 0;
    }
    if (j->field) {
        if (j->field->len + n > FIELD_MAX) return fail(j, 400, "A form field is too long");
        buf_append(j->field, p, n);
    }
    return 0;
}

static int part_end(void *ctx) {
    ujob_t *j = ctx;
    if (j->fout) {
        int bad = fclose(j->fout) != 0;
        j->fout = NULL;
        if (bad) return fail(j, 500, "The upload could not be stored");
    }
    if (j->field && memchr(j->field->data ? j->field->data : "", 0, j->field->len))
        return fail(j, 400, "A form field holds a NUL byte");
    j->field = NULL;
    return 0;
}

/* Reads the body's parts: the file to a scratch file, the fields to memory. */
static int read_parts(ujob_t *j) {
    op_phase(j->op, "reading", j->body_size, "bytes");
    FILE *f = j->body_path ? fopen(j->body_path, "rb") : fmemopen((void *)j->mem, j->memlen, "rb");
    if (!f) return fail(j, j->memlen || j->body_path ? 500 : 400, "The request has no body");
    static const mp_callbacks_t cb = {part_begin, part_data, part_end};
    char err[200];
    int rc = multipart_read(f, j->boundary, &cb, j, err, sizeof err);
    fclose(f);
    if (rc < 0) {
        char m[260];
        snprintf(m, sizeof m, "Invalid multipart body: %s", err);
        return fail(j, 400, m);
    }
    if (!j->have_file) return fail(j, 400, "A \"file\" part is required");
    return 0;
}

/* What the file is: SQLite by its header; else by its name or type. */
static kind_t kind_of(ujob_t *j) {
    char head[16] = {0};
    FILE *f = fopen(j->file_path.data, "rb");
    size_t n = f ? fread(head, 1, sizeof head, f) : 0;
    if (f) fclose(f);
    if (n == sizeof head && memcmp(head, "SQLite format 3", 16) == 0) return K_SQLITE;
    const char *fn = j->file_part.filename, *dot = strrchr(fn, '.');
    const char *ct = j->file_part.content_type;
    if ((dot && strcasecmp(dot, ".csv") == 0) || strncasecmp(ct, "text/csv", 8) == 0) return K_CSV;
    if ((dot && strcasecmp(dot, ".sql") == 0) || strncasecmp(ct, "text/plain", 10) == 0 ||
        strncasecmp(ct, "application/sql", 15) == 0)
        return K_SQL;
    return K_NONE;
}

/* A SQLite file that opens and passes quick_check. */
static int check_sqlite(ujob_t *j) {
    op_phase(j->op, "checking", 0, "");
    store_db_t *s;
    char msg[256];
    int rc = store_open(j->file_path.data, STORE_READONLY, &s, msg, sizeof msg);
    if (rc == 0) rc = store_quick_check(s, msg, sizeof msg);
    store_close(s);
    if (rc < 0) {
        char m[320];
        snprintf(m, sizeof m, "The file is not a valid SQLite database: %s", msg);
        return fail(j, 400, m);
    }
    return 0;
}

/* The database's name: the "name" field, else the file's stem made a valid name. */
static void db_name(ujob_t *j, buf_t *out) {
    if (j->name.len) {
        buf_append(out, j->name.data, j->name.len);
        return;
    }
    char stem[256];
    snprintf(stem, sizeof stem, "%s", j->file_part.filename[0] ? j->file_part.filename : "upload");
    char *dot = strrchr(stem, '.');
    if (dot && dot != stem) *dot = 0;
    name_sanitize(stem, out);
}

/* ---- POST /dbs --------------------------------------------------------------------- */

static void upload_one(ujob_t *j);

static void upload_work(void *data) {
    ujob_t *j = data;
    upload_one(j);
    drop_scratch(j); /* adopted (moved away), imported, read, or refused: done with */
}

static void upload_one(ujob_t *j) {
    catalog_t *c = j->engine->catalog;
    if (read_parts(j) < 0) return;
    j->kind = kind_of(j);
    if (j->kind == K_NONE) {
        fail(j, 415, "Unsupported file: upload a SQLite database, a .csv or a .sql file");
        return;
    }
    int st = airsequel_new_owner(c, &j->a, j->team.len ? j->team.data : NULL, ROLE_ADMIN | ROLE_EDITOR, &j->owner, j->msg,
                                 sizeof j->msg);
    if (st) {
        j->status = st;
        return;
    }
    if (j->kind == K_SQL) {
        if (j->file_size > SCRIPT_MAX) {
            fail(j, 413, "A .sql upload may hold at most 16 MiB");
            return;
        }
        FILE *f = fopen(j->file_path.data, "rb");
        j->script = xmalloc(j->file_size + 1);
        size_t n = f ? fread(j->script, 1, j->file_size, f) : 0;
        if (f) fclose(f);
        j->script[n] = 0;
        if (n != j->file_size || memchr(j->script, 0, n)) fail(j, 400, "The .sql file cannot be read as text");
        return; /* run on as POST /api/dbs's script (upload_done) */
    }
    buf_t name = BUF_INIT, dbfile = BUF_INIT;
    err_t e;
    db_name(j, &name);
    op_rename(j->op, name.data);
    if (name_check_db(name.data, &e) < 0) {
        fail(j, 400, e.msg);
    } else if (j->kind == K_SQLITE) {
        if (check_sqlite(j) == 0 && catalog_db_adopt(c, name.data, j->owner.id, false, j->file_path.data, &j->made, &e) < 0)
            fail(j, e.kind == E_EXISTS ? 409 : 500, e.kind == E_EXISTS ? "A database with this name already exists" : e.msg);
    } else {
        /* CSV: a new database file with one table named after the file */
        char stem[256];
        snprintf(stem, sizeof stem, "%s", j->file_part.filename[0] ? j->file_part.filename : "data");
        char *dot = strrchr(stem, '.');
        if (dot && dot != stem) *dot = 0;
        catalog_tmp_path(c, &dbfile);
        int64_t rows;
        if (import_csv(j->file_path.data, dbfile.data, stem, j->op, &rows, &e) < 0) {
            fail(j, e.kind == E_BAD_INPUT ? 400 : 500, e.msg);
        } else if (catalog_db_adopt(c, name.data, j->owner.id, false, dbfile.data, &j->made, &e) < 0) {
            fail(j, e.kind == E_EXISTS ? 409 : 500, e.kind == E_EXISTS ? "A database with this name already exists" : e.msg);
            unlink(dbfile.data);
        }
    }
    if (j->made) doors_note_created(c, j->made, "airsequel", &e);
    buf_free(&name);
    buf_free(&dbfile);
}

static void respond_created(http_req_t *r, const db_t *d, const char *owner) {
    buf_t b = BUF_INIT;
    jw_t w;
    jw_init(&w, &b, 0);
    char iso[32];
    time_iso8601(__atomic_load_n(&d->ownership_ms, __ATOMIC_ACQUIRE), iso);
    jw_obj_begin(&w);
    jw_key(&w, "id");
    jw_str(&w, db_public_id(d));
    jw_key(&w, "ownerName");
    jw_str(&w, owner);
    jw_key(&w, "ownershipUtc");
    jw_str(&w, iso);
    jw_obj_end(&w);
    http_respond_buf(r, 200, "application/json; charset=utf-8", &b);
}

static void upload_done(http_req_t *r, void *data) {
    ujob_t *j = data;
    ujob_end_op(j);
    if (j->status) {
        airsequel_error(r, j->status, j->msg);
    } else if (j->kind == K_SQL) {
        buf_t name = BUF_INIT;
        db_name(j, &name);
        char *team = j->team.len ? xstrdup(j->team.data) : NULL, *script = j->script;
        j->script = NULL;
        airsequel_create_db(r, &j->a, buf_detach(&name), team, script);
    } else {
        respond_created(r, j->made, j->owner.name);
    }
    ujob_free(j);
}

/* The common start: the caller, the body's boundary. NULL after answering. */
static ujob_t *begin(http_req_t *r) {
    ujob_t *j = xcalloc(1, sizeof *j);
    j->engine = (engine_t *)r->app;
    if (!airsequel_authenticate(r, &j->a)) goto fail;
    if (!j->a.principal_id) {
        airsequel_error(r, 401, "Authentication required");
        goto fail;
    }
    if (multipart_boundary(http_header(r, "content-type"), j->boundary) < 0) {
        airsequel_error(r, 415, "Upload the file as multipart/form-data");
        goto fail;
    }
    j->body_path = r->body_path;
    j->mem = r->body.data;
    j->memlen = r->body.len;
    j->body_size = r->body_path ? r->body_size : r->body.len;
    return j;
fail:
    ujob_free(j);
    return NULL;
}

static void h_upload(http_req_t *r) {
    ujob_t *j = begin(r);
    if (!j) return;
    j->op = op_begin("upload", "", "", j->a.principal_id, true);
    http_defer(r, upload_work, upload_done, j);
}

/* ---- PUT /dbs/:dbId ------------------------------------------------------------------- */

static void replace_work(void *data) {
    ujob_t *j = data;
    err_t e;
    if (read_parts(j) < 0) {
        /* refused: nothing to keep */
    } else if (kind_of(j) != K_SQLITE) {
        fail(j, 415, "Replace a database with a SQLite database file");
    } else if (check_sqlite(j) == 0 && team_get(j->engine->catalog, db_owner(j->target), &j->owner, &e) < 0) {
        snprintf(j->owner.name, sizeof j->owner.name, "%s", "");
    }
    if (j->status) drop_scratch(j);
}

static int restore_run(store_db_t *c, void *arg, err_t *e) {
    ujob_t *j = arg;
    store_db_t *src;
    char msg[256];
    int rc = store_open(j->file_path.data, STORE_READONLY, &src, msg, sizeof msg);
    if (rc == 0) {
        op_phase(j->op, "copying", 0, "pages");
        rc = store_backup(c, src, op_pages, j->op, msg, sizeof msg);
        store_close(src);
    }
    drop_scratch(j); /* copied in (or not): the writer's thread lets it go */
    if (rc < 0) j->out.rc = err_set(e, E_BAD_INPUT, "The database could not be replaced: %s", msg);
    if (j->out.rc < 0) j->out.err = *e;
    return j->out.rc;
}

static void restore_done(http_req_t *r, void *data) {
    ujob_t *j = data;
    ujob_end_op(j);
    if (j->out.rc < 0) airsequel_error(r, 400, j->out.err.msg);
    else respond_created(r, j->target, j->owner.name);
    ujob_free(j);
}

static void replace_parsed(http_req_t *r, void *data) {
    ujob_t *j = data;
    err_t e;
    if (j->status) {
        ujob_end_op(j);
        airsequel_error(r, j->status, j->msg);
        ujob_free(j);
        return;
    }
    j->w.job.outside_txn = true; /* the whole file at once, with the writer to itself */
    if (api_write(r, j->target, &j->w, restore_run, &j->out, restore_done, j, &e) < 0) {
        airsequel_error(r, 500, e.msg);
        ujob_free(j);
    }
}

static void h_replace(http_req_t *r) {
    ujob_t *j = begin(r);
    if (!j) return;
    j->target = airsequel_resolve_db(r, &j->a, 0, DB_BY_NAME | DB_BY_ID | DB_BY_IDENTITY, false);
    if (!j->target) {
        ujob_free(j);
        return;
    }
    if (!auth_check(&j->a, j->target, ACT_OWNER | ACT_SCHEMA)) {
        airsequel_error(r, 403, airsequel_refusal(j->target, ACT_OWNER | ACT_SCHEMA));
        ujob_free(j);
        return;
    }
    j->op = op_begin("replace", j->target->id, j->target->name, j->a.principal_id, true);
    http_defer(r, replace_work, replace_parsed, j);
}

/* The transport's question: which bodies go to disk, and how large. Only
 * a request that presents a bearer token gets that far: an anonymous one
 * stays under the dialect's 2 MiB and hears its 401 without the server
 * writing anything to disk. */
size_t airsequel_spool_limit(const http_req_t *r) {
    const size_t overhead = 64 * 1024; /* the multipart framing around the file */
    const char *auth = http_header(r, "authorization");
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0) return 0;
    http_method_t method = r->method;
    const char *path = r->path;
    if (method == M_POST && strcmp(path, "/dbs") == 0) return UPLOAD_MAX + overhead;
    if (method == M_PUT && strncmp(path, "/dbs/", 5) == 0 && path[5] && !strchr(path + 5, '/'))
        return UPLOAD_MAX + overhead;
    /* a file cell: PUT /api/dbs/:db/tables/:t/columns/:c/files/:key/:value */
    if (method == M_PUT && strncmp(path, "/api/dbs/", 9) == 0 && strstr(path, "/columns/") && strstr(path, "/files/"))
        return 10u * 1024 * 1024 + overhead;
    return 0;
}

void airsequel_upload_register(router_t *rt, const dialect_t *d) {
    router_add(rt, d, M_POST, "/dbs", h_upload);
    router_add(rt, d, M_PUT, "/dbs/:db", h_replace);
}
