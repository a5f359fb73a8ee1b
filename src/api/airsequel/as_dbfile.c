/* airsequel/as_dbfile: a database as a file (spec §2): POST D/vacuum (W)
 * runs VACUUM alone on the writer, outside any transaction; GET
 * /dbs/:dbId/download (R) streams a consistent copy (one read snapshot,
 * SQLite's backup API, into a scratch file that is unlinked at once and
 * read 256 KiB at a time on the pool, one chunk per drain); GET
 * /dbs/:dbId/duplicate and /readonly/:readonlyId/duplicate (R and a user)
 * make a private copy "<name>-copy", "-copy-2", … owned by the caller. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/airsequel/airsequel_internal.h"
#include "core/doors.h"
#include "core/dbh.h"
#include "core/names.h"
#include "core/team.h"
#include "util/timeutil.h"

#define CHUNK (256 * 1024)

/* ---- vacuum ---------------------------------------------------------------- */

typedef struct {
    api_write_t w;
    api_out_t out;
    db_t *db;
    op_t *op;
} vjob_t;

static int vacuum_run(store_db_t *c, void *arg, err_t *e) {
    vjob_t *j = arg;
    op_phase(j->op, "vacuuming", 0, ""); /* SQLite tells nothing of VACUUM's progress */
    if (store_exec(c, "VACUUM") < 0) j->out.rc = err_set(e, E_INTERNAL, "VACUUM failed: %s", store_errmsg(c));
    if (j->out.rc < 0) j->out.err = *e;
    return j->out.rc;
}

static void vacuum_done(http_req_t *r, void *data) {
    vjob_t *j = data;
    op_end(j->op, j->out.rc, j->out.err.msg);
    if (j->out.rc < 0) airsequel_error(r, 500, j->out.err.msg);
    else airsequel_json(r, 200, "{}");
    api_out_reset(&j->out);
    db_release(j->db);
    free(j);
}

static void h_vacuum(http_req_t *r) {
    actor_t a;
    db_t *d = airsequel_db_for(r, &a, ACT_WRITE);
    if (!d) return;
    vjob_t *j = xcalloc(1, sizeof *j);
    j->db = d;
    j->w.job.outside_txn = true; /* VACUUM cannot run inside one: it has the writer to itself */
    j->op = op_begin("vacuum", d->id, d->name, a.principal_id, false);
    op_phase(j->op, "queued", 0, "");
    err_t e;
    if (api_write(r, d, &j->w, vacuum_run, &j->out, vacuum_done, j, &e) < 0) {
        op_end(j->op, -1, e.msg);
        airsequel_error(r, 500, e.msg);
        db_release(d);
        free(j);
    }
}

/* ---- download ----------------------------------------------------------------- */

typedef struct {
    catalog_t *catalog;
    db_t *db;
    int fd;
    char *buf;
    ssize_t n; /* bytes read into buf; 0 at the end; < 0 failed */
    bool started;
    op_t *op;
    uint64_t size, sent;
    char msg[sizeof(((err_t *)0)->msg)];
} fjob_t;

/* r: the request, still open (closing the copy frees its blocks: the pool does it). */
static void fjob_free(http_req_t *r, fjob_t *j) {
    if (j->op) {
        bool whole = j->fd >= 0 && j->sent == j->size;
        op_end(j->op, whole ? 0 : -1, whole ? NULL : j->msg[0] ? j->msg : "the download stopped before its end");
    }
    http_discard_file(r, j->fd, NULL);
    free(j->buf);
    db_release(j->db);
    free(j);
}

static void snapshot_work(void *data) {
    fjob_t *j = data;
    buf_t path = BUF_INIT;
    catalog_tmp_path(j->catalog, &path);
    err_t e;
    if (dbh_copy_to(j->db, path.data, j->op, &e) < 0) {
        snprintf(j->msg, sizeof j->msg, "%s", e.msg);
    } else {
        j->fd = open(path.data, O_RDONLY | O_CLOEXEC);
        if (j->fd < 0) snprintf(j->msg, sizeof j->msg, "opening the copy: %s", strerror(errno));
        struct stat sb;
        j->size = j->fd >= 0 && fstat(j->fd, &sb) == 0 ? (uint64_t)sb.st_size : 0;
        op_phase(j->op, "sending", j->size, "bytes");
        unlink(path.data); /* gone from the directory; the open file stays until the answer ends */
    }
    buf_free(&path);
}

static void read_work(void *data) {
    fjob_t *j = data;
    do j->n = read(j->fd, j->buf, CHUNK);
    while (j->n < 0 && errno == EINTR);
}

static void chunk_done(http_req_t *r, void *data);

static void more(http_req_t *r, void *data) {
    fjob_t *j = data;
    if (http_gone(r) || op_cancelled(j->op)) { /* the client left (or asked to stop): the stream ends here */
        fjob_free(r, j);
        http_stream_end(r);
        return;
    }
    http_defer(r, read_work, chunk_done, j);
}

static void chunk_done(http_req_t *r, void *data) {
    fjob_t *j = data;
    if (j->n > 0) {
        j->sent += (uint64_t)j->n;
        op_progress(j->op, j->sent, j->size);
        http_stream_write(r, j->buf, (size_t)j->n);
        http_on_drain(r, more, j);
        return;
    }
    fjob_free(r, j);
    http_stream_end(r); /* a read error midway can only cut the stream short */
}

static void snapshot_done(http_req_t *r, void *data) {
    fjob_t *j = data;
    if (j->fd < 0) {
        char msg[sizeof j->msg];
        snprintf(msg, sizeof msg, "%s", j->msg);
        fjob_free(r, j);
        airsequel_error(r, 500, msg);
        return;
    }
    buf_t dispo = BUF_INIT;
    buf_puts(&dispo, "attachment; filename=\"");
    for (const char *p = j->db->name; *p; p++) buf_putc(&dispo, *p == '"' || *p == '\\' || (unsigned char)*p < 32 ? '_' : *p);
    buf_puts(&dispo, ".sqlite\"");
    http_add_header(r, "Content-Disposition", dispo.data);
    buf_free(&dispo);
    http_stream_begin(r, 200, "application/vnd.sqlite3");
    j->buf = xmalloc(CHUNK);
    http_defer(r, read_work, chunk_done, j);
}

static void h_download(http_req_t *r) {
    actor_t a;
    db_t *d = airsequel_db_for(r, &a, ACT_READ);
    if (!d) return;
    fjob_t *j = xcalloc(1, sizeof *j);
    j->catalog = ((engine_t *)r->app)->catalog;
    j->db = d;
    j->fd = -1;
    j->op = op_begin("download", d->id, d->name, a.principal_id, true);
    http_defer(r, snapshot_work, snapshot_done, j);
}

/* ---- duplicate ------------------------------------------------------------------ */

static void do_duplicate(as_job_t *j) {
    catalog_t *c = j->engine->catalog;
    team_t owner;
    err_t e;
    if (!auth_check(&j->a, NULL, ACT_SCHEMA) || team_get(c, j->a.principal_id, &owner, &e) < 0) {
        as_fail(j, 403, "Permission denied"); /* copies are new databases: the right to create them */
        return;
    }
    buf_t path = BUF_INIT, name = BUF_INIT;
    catalog_tmp_path(c, &path);
    db_t *copy = NULL;
    op_t *op = op_begin("duplicate", j->db->id, j->db->name, j->a.principal_id, true);
    if (dbh_copy_to(j->db, path.data, op, &e) == 0) {
        op_phase(op, "registering", 0, "");
        for (int k = 1; k < 1000 && !copy; k++) {
            buf_reset(&name);
            buf_printf(&name, "%s-copy", j->db->name);
            if (k > 1) buf_printf(&name, "-%d", k);
            if (name_check_db(name.data, &e) < 0) break;
            if (catalog_db_adopt(c, name.data, owner.id, false, path.data, &copy, &e) < 0 && e.kind != E_EXISTS) break;
        }
    }
    if (copy) doors_note_created(c, copy, "airsequel", &(err_t){0});
    op_end(op, copy ? 0 : -1, e.msg);
    if (!copy) {
        unlink(path.data);
        as_fail_err(j, &e);
    } else {
        char iso[32];
        time_iso8601(copy->ownership_ms, iso);
        jw_obj_begin(&j->w);
        jw_key(&j->w, "id");
        jw_str(&j->w, db_public_id(copy));
        jw_key(&j->w, "ownerName");
        jw_str(&j->w, owner.name);
        jw_key(&j->w, "ownershipUtc");
        jw_str(&j->w, iso);
        jw_obj_end(&j->w);
        db_release(copy);
    }
    buf_free(&path);
    buf_free(&name);
}

static void h_duplicate(http_req_t *r) { airsequel_job(r, do_duplicate, 1, AS_USER | AS_DB_READ); }
static void h_duplicate_ro(http_req_t *r) { airsequel_job(r, do_duplicate, 1, AS_USER | AS_DB_READONLY); }

void airsequel_dbfile_register(router_t *rt, const dialect_t *d) {
    router_add(rt, d, M_POST, "/api/dbs/:db/vacuum", h_vacuum);
    router_add(rt, d, M_GET, "/dbs/:db/download", h_download);
    router_add(rt, d, M_GET, "/dbs/:db/duplicate", h_duplicate);
    router_add(rt, d, M_GET, "/readonly/:db/duplicate", h_duplicate_ro);
}
