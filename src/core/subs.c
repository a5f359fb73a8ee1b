/* subs: live subscriptions (see subs.h).
 *
 * Locking: each database's registry (subs_db_t, hung on db_t.subs) has a
 * mutex `m` guarding its clients, sets, queue and committed sequence.
 * `fan_m` guards the list of databases with queued batches; lock order:
 * a registry's m, then fan_m. A client is reference-counted (its creator,
 * and the fan-out while it delivers to it). Mirror databases and compiled
 * expressions belong to the fan-out thread alone. */
#include "core/subs.h"

#define XSTR_(x) #x
#define XSTR(x) XSTR_(x)

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/dbh.h"
#include "core/module.h"
#include "core/schema.h"
#include "core/sql.h"
#include "core/value.h"
#include "util/buf.h"
#include "util/metrics.h"
#include "util/thread.h"
#include "util/timeutil.h"

/* ---- rows ------------------------------------------------------------------ */

typedef struct {
    char *table;
    uint32_t table_id;
    int ncols;
    char **names, **types;
    bool *notnull;
    size_t n, cap;
    store_value_t *vals;
} rowset_t;

static void rowset_init(rowset_t *r, const char *table, uint32_t table_id, const tinfo_t *t) {
    memset(r, 0, sizeof *r);
    r->table = xstrdup(table);
    r->table_id = table_id;
    r->ncols = t ? t->ncols : 0;
    r->names = xcalloc((size_t)r->ncols + 1, sizeof *r->names);
    r->types = xcalloc((size_t)r->ncols + 1, sizeof *r->types);
    r->notnull = xcalloc((size_t)r->ncols + 1, sizeof *r->notnull);
    for (int i = 0; i < r->ncols; i++) {
        const tcol_t *c = &t->cols[i];
        r->names[i] = xstrdup(c->name);
        r->types[i] = xstrdup(c->type ? c->type : "");
        r->notnull[i] = c->notnull || (t->npk == 1 && c->pk == 1 && t->has_rowid && strcasecmp(r->types[i], "INTEGER") == 0);
    }
}

static void rowset_add(rowset_t *r, const store_value_t *v) {
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 8;
        r->vals = xrealloc(r->vals, r->cap * (size_t)r->ncols * sizeof *r->vals);
    }
    for (int i = 0; i < r->ncols; i++) value_copy(&r->vals[r->n * (size_t)r->ncols + (size_t)i], &v[i]);
    r->n++;
}

static void rowset_free(rowset_t *r) {
    for (size_t i = 0; i < r->n * (size_t)r->ncols; i++) value_free(&r->vals[i]);
    free(r->vals);
    for (int i = 0; i < r->ncols; i++) free(r->names[i]), free(r->types[i]);
    free(r->names);
    free(r->types);
    free(r->notnull);
    free(r->table);
    memset(r, 0, sizeof *r);
}

static subs_rows_t rowset_view(const rowset_t *r) {
    return (subs_rows_t){r->table,
                         r->table_id,
                         r->ncols,
                         (const char *const *)r->names,
                         (const char *const *)r->types,
                         r->notnull,
                         r->n,
                         r->vals};
}

/* ---- the registry ----------------------------------------------------------- */

typedef struct {
    uint64_t id;
    size_t nq;
    subs_query_t *q;
    char **keys; /* per query: what identifies its evaluation (shared across clients) */
    uint64_t start_seq; /* follows batches after this one */
} set_t;

struct subs_client {
    db_t *db;
    const subs_ops_t *ops;
    void *ctx;
    char *sender;
    bool privileged;
    set_t *sets;
    size_t nsets;
    bool closed;
    int refs; /* guarded by the registry's m */
    struct subs_client *next;
};

typedef struct batch {
    uint64_t seq;
    size_t njobs;
    changeset_t *jobs;        /* committed jobs' changes, in order */
    subs_origin_t **origins;  /* per job, or NULL */
    const char **doors;       /* per job (static names), or NULL */
    struct batch *next;
    uint64_t committed_us; /* when the writer handed it over */
} batch_t;

typedef struct subs_db {
    db_t *db;
    pthread_mutex_t m;
    uint64_t committed; /* batches committed so far */
    subs_client_t *clients;
    int nsets; /* sets of all clients: batches are kept only while > 0 */
    batch_t *head, *tail;
    bool queued; /* on the fan-out list */
    bool gone;
    struct subs_db *next_queued;
    /* stable table ids (kept in the database file), as far as known */
    struct table_id { char *name; uint32_t id; } *ids;
    size_t nids;
    /* fan-out thread only: the one-row copies of followed tables */
    store_db_t *mirror;
    struct mirror_tab *mt;
    size_t nmt;
} subs_db_t;

typedef struct mirror_tab {
    char *name;
    int ncols;
    int64_t cookie; /* the schema it was made for */
    store_stmt_t *del, *ins; /* empty it; put one row in */
} mirror_t;

static pthread_mutex_t fan_m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fan_cv = PTHREAD_COND_INITIALIZER;
static subs_db_t *fan_head, *fan_tail;
static pthread_t fan_thread;
static bool fan_running, fan_stop;
static pthread_mutex_t attach_m = PTHREAD_MUTEX_INITIALIZER; /* creating a registry */

static subs_db_t *registry(db_t *d, bool create) {
    subs_db_t *r = __atomic_load_n((subs_db_t **)&d->subs, __ATOMIC_ACQUIRE);
    if (r || !create) return r;
    pthread_mutex_lock(&attach_m);
    r = d->subs;
    if (!r) {
        r = xcalloc(1, sizeof *r);
        r->db = d;
        pthread_mutex_init(&r->m, NULL);
        __atomic_store_n((subs_db_t **)&d->subs, r, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&attach_m);
    return r;
}

static void set_free(set_t *s) {
    for (size_t i = 0; i < s->nq; i++) {
        subs_query_free(&s->q[i]);
        free(s->keys[i]);
    }
    free(s->q);
    free(s->keys);
}

/* r->m held. */
static void client_unref(subs_db_t *r, subs_client_t *c, bool *free_it) {
    *free_it = --c->refs == 0;
    if (*free_it) {
        for (subs_client_t **p = &r->clients; *p; p = &(*p)->next)
            if (*p == c) {
                *p = c->next;
                break;
            }
    }
}

static void client_free(subs_client_t *c) {
    for (size_t i = 0; i < c->nsets; i++) set_free(&c->sets[i]);
    free(c->sets);
    if (c->ops->on_free) c->ops->on_free(c->ctx);
    db_release(c->db);
    free(c->sender);
    free(c);
}

subs_client_t *subs_client_new(db_t *d, const subs_ops_t *ops, void *ctx, const char *sender, bool privileged) {
    subs_db_t *r = registry(d, true);
    subs_client_t *c = xcalloc(1, sizeof *c);
    c->db = d;
    db_retain(d);
    c->ops = ops;
    c->ctx = ctx;
    c->sender = sender ? xstrdup(sender) : NULL;
    c->privileged = privileged;
    c->refs = 1;
    pthread_mutex_lock(&r->m);
    c->next = r->clients;
    r->clients = c;
    pthread_mutex_unlock(&r->m);
    return c;
}

void subs_client_close(subs_client_t *c) {
    subs_db_t *r = registry(c->db, false);
    pthread_mutex_lock(&r->m);
    c->closed = true;
    r->nsets -= (int)c->nsets;
    metrics_gauge_add0(MET_SUBSCRIPTIONS, -(int64_t)c->nsets);
    for (size_t i = 0; i < c->nsets; i++) set_free(&c->sets[i]);
    free(c->sets);
    c->sets = NULL;
    c->nsets = 0;
    bool f;
    client_unref(r, c, &f);
    pthread_mutex_unlock(&r->m);
    if (f) client_free(c);
}

bool subs_has(subs_client_t *c, uint64_t set_id) {
    subs_db_t *r = registry(c->db, false);
    pthread_mutex_lock(&r->m);
    bool has = false;
    for (size_t i = 0; i < c->nsets; i++) has = has || c->sets[i].id == set_id;
    pthread_mutex_unlock(&r->m);
    return has;
}

/* ---- adding and removing sets (exclusive jobs on the writer) ---------------- */

typedef struct {
    write_job_t job; /* first */
    subs_client_t *c;
    uint64_t set_id;
    bool add, replace;
    size_t nq;
    char **texts;
    subs_reply_fn reply;
    void *ctx;
    bool replied;
} set_job_t;

/* Reads q's rows on c into rs (t describes the table). */
static int read_rows(store_db_t *c, const subs_query_t *q, uint32_t table_id, const tinfo_t *t, const char *sender,
                     rowset_t *rs, err_t *e) {
    store_stmt_t *st;
    buf_t what = BUF_INIT;
    for (int i = 0; i < t->ncols; i++) {
        if (i) buf_puts(&what, ", ");
        sql_quote(&what, q->alias, '"');
        buf_putc(&what, '.');
        sql_quote(&what, t->cols[i].name, '"');
    }
    int rc = subs_compile(c, q, what.data ? what.data : "*", sender, &st, e);
    buf_free(&what);
    if (rc < 0) return -1;
    rowset_init(rs, q->table, table_id, t);
    store_value_t *row = xcalloc((size_t)t->ncols + 1, sizeof *row);
    int step;
    while ((step = store_step(st)) == STORE_ROW) {
        for (int i = 0; i < t->ncols; i++) store_col_value(st, i, &row[i]);
        rowset_add(rs, row);
    }
    free(row);
    if (step < 0) {
        err_sql(e, step, store_errmsg(c));
        store_finalize(st);
        rowset_free(rs);
        return -1;
    }
    store_finalize(st);
    return 0;
}

/* A module's private table, to a client that may not see it. */
static bool private_to(db_t *d, store_db_t *c, const char *table, bool privileged) {
    if (privileged) return false;
    const mdef_t *def = module_def_acquire(d, c);
    const mtable_t *t = mdef_table(def, table);
    bool hidden = t && !t->public;
    module_def_release(d, def);
    return hidden;
}

/* ---- stable table ids ------------------------------------------------------ */

#define TABLE_IDS "_atrium_tables"

/* r->m held. 0 if not known. */
static uint32_t known_id(subs_db_t *r, const char *name) {
    for (size_t i = 0; i < r->nids; i++)
        if (strcmp(r->ids[i].name, name) == 0) return r->ids[i].id;
    return 0;
}

static void remember_id(subs_db_t *r, const char *name, uint32_t id) {
    pthread_mutex_lock(&r->m);
    if (!known_id(r, name)) {
        r->ids = xrealloc(r->ids, (r->nids + 1) * sizeof *r->ids);
        r->ids[r->nids++] = (struct table_id){xstrdup(name), id};
    }
    pthread_mutex_unlock(&r->m);
}

/* A table's id (from 4096, never reused), assigned on the writer's
 * connection c inside a job the first time a table is followed; *wrote
 * says the job must commit. 0 on error. */
static uint32_t assign_id(store_db_t *c, const char *name, bool *wrote) {
    store_stmt_t *st;
    uint32_t id = 0;
    if (store_prepare(c, "SELECT id FROM " TABLE_IDS " WHERE name = ?", &st) == 0) {
        store_bind_text(st, 1, name, strlen(name));
        if (store_step(st) == STORE_ROW) id = (uint32_t)store_col_int(st, 0);
        store_finalize(st);
        if (id) return id;
    } else if (store_exec(c, "CREATE TABLE IF NOT EXISTS " TABLE_IDS
                             " (name TEXT PRIMARY KEY, id INTEGER NOT NULL UNIQUE)") < 0) {
        return 0;
    }
    if (store_prepare(c, "INSERT INTO " TABLE_IDS " (name, id) SELECT ?, max(4095, coalesce(max(id), 4095)) + 1 FROM "
                         TABLE_IDS " RETURNING id", &st) < 0)
        return 0;
    store_bind_text(st, 1, name, strlen(name));
    if (store_step(st) == STORE_ROW) id = (uint32_t)store_col_int(st, 0);
    while (store_step(st) == STORE_ROW) {
    }
    store_finalize(st);
    if (id) *wrote = true;
    return id;
}

/* The evaluation key: queries with equal keys match the same rows. */
static char *eval_key(const subs_query_t *q, const char *sender) {
    buf_t b = BUF_INIT;
    buf_printf(&b, "%s\x1f%s\x1f%s\x1f%s", q->table, q->alias, q->where ? q->where : "",
               q->where && strstr(q->where, "sender") && sender ? sender : "");
    return b.data;
}

static int set_run(store_db_t *db, void *arg, err_t *e) {
    set_job_t *j = arg;
    subs_client_t *c = j->c;
    subs_db_t *r = registry(c->db, false);
    uint64_t t0 = time_mono_us();
    char msg[256];
    const schema_t *s = schema_acquire(c->db, db, msg, sizeof msg);
    j->replied = true;
    if (!s) {
        err_set(e, E_INTERNAL, "%s", msg);
        j->reply(j->ctx, -1, e, NULL, 0, 0);
        return err_set(e, E_OK, "nothing to write");
    }
    /* bounds: what one client may make the engine follow */
    size_t qbytes = 0;
    for (size_t i = 0; i < j->nq; i++) qbytes += strlen(j->texts[i]);
    pthread_mutex_lock(&r->m);
    bool has = false;
    for (size_t i = 0; i < c->nsets && !has; i++) has = c->sets[i].id == j->set_id;
    size_t held = c->nsets;
    pthread_mutex_unlock(&r->m);
    const char *over = NULL;
    if (j->add && j->nq > SUBS_MAX_QUERIES) over = "too many queries in one subscription (at most " XSTR(SUBS_MAX_QUERIES) ")";
    else if (j->add && qbytes > SUBS_MAX_QUERY_BYTES) over = "the subscription's queries are too long (at most " XSTR(SUBS_MAX_QUERY_BYTES) " bytes)";
    else if (j->add && !has && held >= SUBS_MAX_SETS) over = "too many subscriptions on one connection (at most " XSTR(SUBS_MAX_SETS) ")";
    if (over) {
        schema_release(s);
        err_set(e, E_TOO_BIG, "%s", over);
        j->reply(j->ctx, -1, e, NULL, 0, 0);
        return err_set(e, E_OK, "nothing to write");
    }
    set_t ns = {.id = j->set_id};
    rowset_t *rows = NULL;
    size_t nrows = 0;
    int rc = 0;
    bool wrote = false; /* a table got its id: this job commits */
    uint32_t *ids = xcalloc(j->nq + 1, sizeof *ids);
    char **idnames = xcalloc(j->nq + 1, sizeof *idnames);
    pthread_mutex_lock(&r->m);
    set_t *old = NULL;
    for (size_t i = 0; i < c->nsets; i++)
        if (c->sets[i].id == j->set_id) old = &c->sets[i];
    bool closed = c->closed;
    pthread_mutex_unlock(&r->m);
    if (closed) {
        rc = err_set(e, E_NOT_FOUND, "the client has gone");
    } else if (j->add && old && !j->replace) {
        rc = err_set(e, E_EXISTS, "subscription already exists with this query_id");
    } else if (!j->add && !old) {
        rc = err_set(e, E_NOT_FOUND, "no subscription with this query_id");
    } else if (j->add) {
        ns.nq = j->nq;
        ns.q = xcalloc(j->nq + 1, sizeof *ns.q);
        ns.keys = xcalloc(j->nq + 1, sizeof *ns.keys);
        rows = xcalloc(j->nq + 1, sizeof *rows);
        for (size_t i = 0; i < j->nq && rc == 0; i++) {
            rc = subs_parse(j->texts[i], &ns.q[i], e);
            if (rc < 0) break;
            const tinfo_t *t = schema_find(s, ns.q[i].table);
            if (!t || t->hidden || t->is_view || t->is_virtual || private_to(c->db, db, t->name, c->privileged)) {
                rc = err_set(e, E_BAD_INPUT, "no such table: %s", ns.q[i].table);
                break;
            }
            /* the canonical name, for matching captured changes */
            free(ns.q[i].table);
            ns.q[i].table = xstrdup(t->name);
            ns.keys[i] = eval_key(&ns.q[i], c->sender);
            pthread_mutex_lock(&r->m);
            uint32_t id = known_id(r, t->name);
            pthread_mutex_unlock(&r->m);
            if (!id && !(id = assign_id(db, t->name, &wrote))) {
                rc = err_sql(e, -1, store_errmsg(db));
                break;
            }
            ids[i] = id;
            idnames[i] = xstrdup(t->name);
            rc = read_rows(db, &ns.q[i], id, t, c->sender, &rows[i], e);
            if (rc == 0) nrows = i + 1;
        }
    } else {
        /* the final rows of the set being removed (its queries are known good) */
        rows = xcalloc(old->nq + 1, sizeof *rows);
        for (size_t i = 0; i < old->nq && rc == 0; i++) {
            const tinfo_t *t = schema_find(s, old->q[i].table);
            pthread_mutex_lock(&r->m);
            uint32_t id = known_id(r, old->q[i].table);
            pthread_mutex_unlock(&r->m);
            if (!t) {
                rowset_init(&rows[i], old->q[i].table, id, NULL);
            } else if (read_rows(db, &old->q[i], id, t, c->sender, &rows[i], e) < 0) {
                rowset_init(&rows[i], old->q[i].table, id, t); /* a query the schema broke: no rows */
                err_clear(e);
            }
            nrows = i + 1;
        }
    }
    schema_release(s);
    if (rc == 0) {
        pthread_mutex_lock(&r->m);
        if (c->closed) {
            rc = err_set(e, E_NOT_FOUND, "the client has gone");
        } else {
            size_t at = c->nsets;
            for (size_t i = 0; i < c->nsets; i++)
                if (c->sets[i].id == j->set_id) at = i;
            if (at < c->nsets) {
                set_free(&c->sets[at]);
                c->sets[at] = c->sets[--c->nsets];
                r->nsets--;
                metrics_gauge_add0(MET_SUBSCRIPTIONS, -1);
            }
            if (j->add) {
                ns.start_seq = r->committed; /* the last batch before this job: follow the next ones */
                c->sets = xrealloc(c->sets, (c->nsets + 1) * sizeof *c->sets);
                c->sets[c->nsets++] = ns;
                ns = (set_t){0};
                r->nsets++;
                metrics_gauge_add0(MET_SUBSCRIPTIONS, 1);
            }
        }
        pthread_mutex_unlock(&r->m);
    }
    set_free(&ns);
    uint64_t micros = time_mono_us() - t0;
    if (rc == 0) {
        subs_rows_t *views = xcalloc(nrows + 1, sizeof *views);
        for (size_t i = 0; i < nrows; i++) views[i] = rowset_view(&rows[i]);
        j->reply(j->ctx, 0, NULL, views, nrows, micros);
        free(views);
    } else {
        j->reply(j->ctx, -1, e, NULL, 0, micros);
    }
    for (size_t i = 0; i < nrows; i++) rowset_free(&rows[i]);
    free(rows);
    /* the ids (new ones commit with this job, which runs alone in its batch) */
    for (size_t i = 0; i < j->nq; i++) {
        if (rc == 0 && ids[i]) remember_id(r, idnames[i], ids[i]);
        free(idnames[i]);
    }
    free(idnames);
    free(ids);
    if (rc == 0 && wrote) return 0;
    /* a read-only job: nothing to commit for it */
    return err_set(e, E_OK, "read only");
}

static void set_done(write_job_t *job) {
    set_job_t *j = (set_job_t *)job;
    subs_db_t *r = registry(j->c->db, false);
    if (!j->replied) {
        /* never ran: the writer is closing */
        err_t e;
        err_set(&e, E_INTERNAL, "the database is closing");
        j->reply(j->ctx, -1, &e, NULL, 0, 0);
    }
    pthread_mutex_lock(&r->m);
    bool f;
    client_unref(r, j->c, &f);
    pthread_mutex_unlock(&r->m);
    if (f) client_free(j->c);
    for (size_t i = 0; i < j->nq; i++) free(j->texts[i]);
    free(j->texts);
    changeset_free(&job->changes);
    free(j);
}

/* A job that never ran still owes its reply. */
static int set_submit(set_job_t *j, err_t *e) {
    subs_db_t *r = registry(j->c->db, false);
    pthread_mutex_lock(&r->m);
    j->c->refs++;
    pthread_mutex_unlock(&r->m);
    j->job.run = set_run;
    j->job.done = set_done;
    j->job.arg = j;
    j->job.exclusive = true;
    if (dbh_submit(j->c->db, &j->job, e) < 0) {
        j->job.rc = -1;
        set_done(&j->job);
        return -1;
    }
    return 0;
}

int subs_add(subs_client_t *c, uint64_t set_id, bool replace, const char *const *queries, size_t n,
             subs_reply_fn reply, void *ctx, err_t *e) {
    set_job_t *j = xcalloc(1, sizeof *j);
    j->c = c;
    j->set_id = set_id;
    j->add = true;
    j->replace = replace;
    j->nq = n;
    j->texts = xcalloc(n + 1, sizeof *j->texts);
    for (size_t i = 0; i < n; i++) j->texts[i] = xstrdup(queries[i]);
    j->reply = reply;
    j->ctx = ctx;
    return set_submit(j, e);
}

int subs_remove(subs_client_t *c, uint64_t set_id, subs_reply_fn reply, void *ctx, err_t *e) {
    set_job_t *j = xcalloc(1, sizeof *j);
    j->c = c;
    j->set_id = set_id;
    j->reply = reply;
    j->ctx = ctx;
    return set_submit(j, e);
}

int subs_query_once(db_t *d, store_db_t *c, const char *text, const char *sender, bool privileged, subs_rows_fn fn,
                    void *ctx, err_t *e) {
    subs_query_t q;
    if (subs_parse(text, &q, e) < 0) return -1;
    char msg[256];
    const schema_t *s = schema_load(c, msg, sizeof msg);
    if (!s) {
        subs_query_free(&q);
        return err_set(e, E_INTERNAL, "%s", msg);
    }
    const tinfo_t *t = schema_find(s, q.table);
    int rc;
    rowset_t rs;
    if (!t || t->hidden || t->is_view || t->is_virtual || private_to(d, c, t->name, privileged)) {
        rc = err_set(e, E_BAD_INPUT, "no such table: %s", q.table);
    } else {
        free(q.table);
        q.table = xstrdup(t->name);
        rc = read_rows(c, &q, 0, t, sender, &rs, e);
        if (rc == 0) {
            subs_rows_t v = rowset_view(&rs);
            fn(ctx, &v);
            rowset_free(&rs);
        }
    }
    schema_release(s);
    subs_query_free(&q);
    return rc;
}

/* ---- the commit listener (writer thread) ------------------------------------ */

void subs_on_commit(void *ctx, write_job_t *const *jobs, size_t n) {
    db_t *d = ctx;
    subs_db_t *r = registry(d, false);
    if (!r) return; /* nobody ever subscribed: nothing to count */
    pthread_mutex_lock(&r->m);
    uint64_t seq = ++r->committed;
    bool origins = false;
    for (size_t i = 0; i < n; i++) origins = origins || (jobs[i]->rc == 0 && jobs[i]->origin);
    if ((r->nsets <= 0 && !origins) || r->gone) {
        pthread_mutex_unlock(&r->m);
        return;
    }
    batch_t *b = xcalloc(1, sizeof *b);
    b->seq = seq;
    b->committed_us = time_mono_us();
    b->jobs = xcalloc(n + 1, sizeof *b->jobs);
    b->origins = xcalloc(n + 1, sizeof *b->origins);
    b->doors = xcalloc(n + 1, sizeof *b->doors);
    for (size_t i = 0; i < n; i++) {
        if (jobs[i]->rc < 0) continue;
        changeset_t *src = &jobs[i]->changes, *dst = &b->jobs[b->njobs];
        if (!src->n && !src->overflow && !jobs[i]->origin) continue;
        /* take the rows; the counts stay with the job (its door reports them) */
        dst->items = src->items, dst->n = src->n, dst->cap = src->cap, dst->bytes = src->bytes;
        dst->overflow = src->overflow, dst->lost_tables = src->lost_tables, dst->nlost = src->nlost;
        src->items = NULL, src->n = src->cap = src->bytes = 0;
        src->lost_tables = NULL, src->nlost = 0;
        b->origins[b->njobs] = jobs[i]->origin;
        b->doors[b->njobs] = jobs[i]->door;
        jobs[i]->origin = NULL;
        b->njobs++;
    }
    if (!b->njobs) {
        free(b->jobs);
        free(b->origins);
        free(b->doors);
        free(b);
        pthread_mutex_unlock(&r->m);
        return;
    }
    if (r->tail) r->tail->next = b;
    else r->head = b;
    r->tail = b;
    if (!r->queued) {
        r->queued = true;
        db_retain(d);
        pthread_mutex_lock(&fan_m);
        if (fan_tail) fan_tail->next_queued = r;
        else fan_head = r;
        fan_tail = r;
        pthread_cond_signal(&fan_cv);
        pthread_mutex_unlock(&fan_m);
    }
    pthread_mutex_unlock(&r->m);
}

subs_origin_t *subs_origin_new(subs_client_t *caller, const char *reducer, const char *args, uint32_t request_id,
                               const char *identity, const uint8_t conn_id[16], bool quiet) {
    subs_origin_t *o = xcalloc(1, sizeof *o);
    subs_db_t *r = registry(caller->db, false);
    pthread_mutex_lock(&r->m);
    caller->refs++;
    pthread_mutex_unlock(&r->m);
    o->caller = caller;
    o->reducer = xstrdup(reducer);
    o->args = xstrdup(args ? args : "[]");
    o->request_id = request_id;
    snprintf(o->identity, sizeof o->identity, "%s", identity ? identity : "");
    if (conn_id) memcpy(o->conn_id, conn_id, 16);
    o->quiet = quiet;
    return o;
}

void subs_origin_free(subs_origin_t *o) {
    if (!o) return;
    subs_client_t *c = o->caller;
    subs_db_t *r = registry(c->db, false);
    pthread_mutex_lock(&r->m);
    bool f;
    client_unref(r, c, &f);
    pthread_mutex_unlock(&r->m);
    if (f) client_free(c);
    free(o->reducer);
    free(o->args);
    free(o->args_bin);
    free(o);
}

static void tell_all(db_t *d, bool gone, int code) {
    subs_db_t *r = registry(d, false);
    if (!r) return;
    pthread_mutex_lock(&r->m);
    if (gone) r->gone = true;
    size_t n = 0;
    for (subs_client_t *c = r->clients; c; c = c->next) {
        if (c->closed) continue;
        c->refs++;
        n++;
    }
    subs_client_t **cs = xcalloc(n + 1, sizeof *cs);
    size_t k = 0;
    for (subs_client_t *c = r->clients; c; c = c->next)
        if (!c->closed) cs[k++] = c;
    pthread_mutex_unlock(&r->m);
    for (size_t i = 0; i < k; i++)
        if (cs[i]->ops->on_gone) cs[i]->ops->on_gone(cs[i]->ctx, code);
    pthread_mutex_lock(&r->m);
    subs_client_t **to_free = xcalloc(k + 1, sizeof *to_free);
    size_t nf = 0;
    for (size_t i = 0; i < k; i++) {
        bool f;
        client_unref(r, cs[i], &f);
        if (f) to_free[nf++] = cs[i];
    }
    pthread_mutex_unlock(&r->m);
    for (size_t i = 0; i < nf; i++) client_free(to_free[i]);
    free(to_free);
    free(cs);
}

void subs_db_closed(db_t *d) { tell_all(d, true, 1001); }
void subs_db_cleared(db_t *d) { tell_all(d, false, 1012); }

/* ---- the fan-out thread --------------------------------------------------- */

/* A distinct query evaluated for one job: compiled on the mirror. */
typedef struct {
    char *key;
    subs_query_t q;
    char *sender;
    store_stmt_t *st;
    bool broken;
    char why[200];
    rowset_t del, ins; /* this job's rows leaving and entering the query (shared by its clients) */
    bool has_rows;
    uint64_t stamp;
} evalq_t;

static uint64_t stamps; /* fan-out thread only */

/* Per client and query: the delta being built. */
typedef struct {
    subs_client_t *c;
    uint64_t set_id;
    int index;
    size_t k; /* its evalq_t */
} pending_t;

static void mirror_forget(mirror_t *m) {
    if (m->del) store_finalize(m->del);
    if (m->ins) store_finalize(m->ins);
    free(m->name);
}

/* Makes the mirror's copy of a table (holding one row at a time) have the
 * captured row's columns; cached per table while its width stays. */
static const tinfo_t *mirror_table(subs_db_t *r, const char *table, int ncols, const schema_t **s, mirror_t **out) {
    if (!r->mirror) {
        char err[128];
        if (store_open(":memory:", STORE_CREATE, &r->mirror, err, sizeof err) < 0) return NULL;
    }
    if (!*s) {
        err_t e;
        store_db_t *rd = dbh_reader(r->db, &e);
        if (!rd) return NULL;
        char msg[128];
        *s = schema_acquire(r->db, rd, msg, sizeof msg);
        dbh_reader_put(r->db, rd);
        if (!*s) return NULL;
    }
    const tinfo_t *t = schema_find(*s, table);
    if (!t || t->ncols != ncols) return NULL;
    for (size_t i = 0; i < r->nmt; i++)
        if (strcmp(r->mt[i].name, table) == 0) {
            if (r->mt[i].ncols == ncols && r->mt[i].cookie == (*s)->cookie) {
                *out = &r->mt[i];
                return t;
            }
            mirror_forget(&r->mt[i]);
            r->mt[i] = r->mt[--r->nmt];
            break;
        }
    buf_t sql = BUF_INIT;
    buf_puts(&sql, "DROP TABLE IF EXISTS ");
    sql_quote(&sql, table, '"');
    buf_puts(&sql, "; CREATE TABLE ");
    sql_quote(&sql, table, '"');
    buf_puts(&sql, "(");
    for (int c = 0; c < t->ncols; c++) {
        if (c) buf_puts(&sql, ", ");
        sql_quote(&sql, t->cols[c].name, '"');
        buf_putc(&sql, ' ');
        buf_puts(&sql, t->cols[c].type ? t->cols[c].type : "");
    }
    buf_puts(&sql, ")");
    mirror_t m = {xstrdup(table), ncols, (*s)->cookie, NULL, NULL};
    int rc = store_exec(r->mirror, sql.data);
    buf_reset(&sql);
    buf_puts(&sql, "DELETE FROM ");
    sql_quote(&sql, table, '"');
    if (rc == 0) rc = store_prepare(r->mirror, sql.data, &m.del);
    buf_reset(&sql);
    buf_puts(&sql, "INSERT INTO ");
    sql_quote(&sql, table, '"');
    buf_puts(&sql, " VALUES (");
    for (int i = 0; i < ncols; i++) buf_puts(&sql, i ? ", ?" : "?");
    buf_puts(&sql, ")");
    if (rc == 0) rc = store_prepare(r->mirror, sql.data, &m.ins);
    buf_free(&sql);
    if (rc < 0) {
        mirror_forget(&m);
        return NULL;
    }
    r->mt = xrealloc(r->mt, (r->nmt + 1) * sizeof *r->mt);
    r->mt[r->nmt] = m;
    *out = &r->mt[r->nmt++];
    return t;
}

/* Puts row (alone) into the mirror's table. */
static bool load_row(mirror_t *m, const store_value_t *row) {
    bool ok = store_step(m->del) == STORE_DONE;
    store_reset(m->del);
    if (!ok) return false;
    for (int i = 0; i < m->ncols; i++) value_bind(m->ins, i + 1, &row[i]);
    ok = store_step(m->ins) == STORE_DONE;
    store_reset(m->ins);
    return ok;
}

static bool eval(evalq_t *q) {
    if (!q->st) return false;
    bool hit = store_step(q->st) == STORE_ROW;
    store_reset(q->st);
    return hit;
}

static bool rows_equal(const store_value_t *a, const store_value_t *b, int n) {
    for (int i = 0; i < n; i++)
        if (!value_same(&a[i], &b[i])) return false;
    return true;
}

/* Drops rows present in both (an update that left the row as it was). */
static void cancel_pairs(evalq_t *p) {
    int nc = p->del.ncols;
    for (size_t i = 0; i < p->del.n; i++) {
        for (size_t k = 0; k < p->ins.n; k++) {
            store_value_t *a = &p->del.vals[i * (size_t)nc], *b = &p->ins.vals[k * (size_t)nc];
            if (!rows_equal(a, b, nc)) continue;
            for (int x = 0; x < nc; x++) value_free(&a[x]), value_free(&b[x]);
            memmove(a, a + nc, (p->del.n - i - 1) * (size_t)nc * sizeof *a);
            memmove(b, b + nc, (p->ins.n - k - 1) * (size_t)nc * sizeof *b);
            p->del.n--, p->ins.n--;
            i--;
            break;
        }
    }
}

/* Delivers one committed job to every client following its tables. */
/* Remembers ops to flush at the end of a job (few kinds of clients exist;
 * past 4 a kind is flushed at once). */
static void note_flush(const subs_ops_t **list, size_t *n, const subs_ops_t *ops) {
    if (!ops->flush) return;
    for (size_t i = 0; i < *n; i++)
        if (list[i] == ops) return;
    if (*n < 4) list[(*n)++] = ops;
    else ops->flush();
}

static void fan_job(subs_db_t *r, uint64_t seq, changeset_t *cs, const subs_origin_t *origin, const char *door) {
    /* 1. who follows what, as of this batch (clients referenced meanwhile);
     * the distinct queries by key, to evaluate once each */
    pending_t *pend = NULL;
    size_t np = 0, capp = 0, nk = 0, capk = 0;
    evalq_t *ev = NULL;
    pthread_mutex_lock(&r->m);
    for (subs_client_t *c = r->clients; c; c = c->next) {
        if (c->closed) continue;
        for (size_t si = 0; si < c->nsets; si++) {
            set_t *s = &c->sets[si];
            if (seq <= s->start_seq) continue;
            for (size_t qi = 0; qi < s->nq; qi++) {
                size_t k;
                for (k = 0; k < nk; k++)
                    if (strcmp(ev[k].key, s->keys[qi]) == 0) break;
                if (k == nk) {
                    if (nk == capk) {
                        capk = capk ? capk * 2 : 8;
                        ev = xrealloc(ev, capk * sizeof *ev);
                    }
                    memset(&ev[nk], 0, sizeof ev[nk]);
                    ev[nk].key = xstrdup(s->keys[qi]);
                    ev[nk].q.table = xstrdup(s->q[qi].table);
                    ev[nk].q.alias = xstrdup(s->q[qi].alias);
                    ev[nk].q.where = s->q[qi].where ? xstrdup(s->q[qi].where) : NULL;
                    ev[nk].sender = c->sender ? xstrdup(c->sender) : NULL;
                    nk++;
                }
                if (np == capp) {
                    capp = capp ? capp * 2 : 16;
                    pend = xrealloc(pend, capp * sizeof *pend);
                }
                pending_t *p = &pend[np++];
                memset(p, 0, sizeof *p);
                p->c = c;
                p->set_id = s->id;
                p->index = (int)qi;
                p->k = k;
                c->refs++;
            }
        }
    }
    pthread_mutex_unlock(&r->m);

    /* 2. match every change, table by table */
    const schema_t *schema = NULL;
    bool *old_hit = xcalloc(nk + 1, sizeof *old_hit), *new_hit = xcalloc(nk + 1, sizeof *new_hit);
    for (size_t i = 0; i < cs->n && nk; i++) {
        store_change_t *ch = &cs->items[i];
        bool any = false;
        for (size_t k = 0; k < nk; k++) any = any || strcmp(ev[k].q.table, ch->table) == 0;
        if (!any) continue;
        mirror_t *m = NULL;
        const tinfo_t *t = mirror_table(r, ch->table, ch->ncols, &schema, &m);
        if (!t) continue;
        for (size_t k = 0; k < nk; k++) {
            old_hit[k] = new_hit[k] = false;
            if (strcmp(ev[k].q.table, ch->table) != 0 || ev[k].broken) continue;
            if (!ev[k].st) {
                err_t e;
                ev[k].broken = subs_compile(r->mirror, &ev[k].q, "1", ev[k].sender, &ev[k].st, &e) < 0;
                if (ev[k].broken) snprintf(ev[k].why, sizeof ev[k].why, "the subscription no longer compiles: %.150s", e.msg);
            }
        }
        if (ch->old_vals && load_row(m, ch->old_vals))
            for (size_t k = 0; k < nk; k++)
                if (strcmp(ev[k].q.table, ch->table) == 0) old_hit[k] = eval(&ev[k]);
        if (ch->new_vals && load_row(m, ch->new_vals))
            for (size_t k = 0; k < nk; k++)
                if (strcmp(ev[k].q.table, ch->table) == 0) new_hit[k] = eval(&ev[k]);
        for (size_t k = 0; k < nk; k++) {
            if (!old_hit[k] && !new_hit[k]) continue;
            if (!ev[k].has_rows) {
                ev[k].has_rows = true;
                ev[k].stamp = ++stamps;
                pthread_mutex_lock(&r->m);
                uint32_t id = known_id(r, ch->table);
                pthread_mutex_unlock(&r->m);
                rowset_init(&ev[k].del, ch->table, id, t);
                rowset_init(&ev[k].ins, ch->table, id, t);
            }
            if (old_hit[k]) rowset_add(&ev[k].del, ch->old_vals);
            if (new_hit[k]) rowset_add(&ev[k].ins, ch->new_vals);
        }
    }
    free(old_hit);
    free(new_hit);
    if (schema) schema_release(schema);

    /* 3. rows the capture left out: those clients cannot be kept exact */
    for (size_t l = 0; cs->overflow && l < cs->nlost; l++)
        for (size_t p = 0; p < np; p++)
            if (strcmp(ev[pend[p].k].q.table, cs->lost_tables[l]) == 0 && pend[p].c->ops->on_error) {
                char msg[300];
                snprintf(msg, sizeof msg,
                         "a transaction changed more rows of %.100s than subscriptions can follow; resubscribe",
                         cs->lost_tables[l]);
                pend[p].c->ops->on_error(pend[p].c->ctx, pend[p].set_id, msg);
            }
    /* sets with a query a schema change broke: their clients hear it,
     * and the set is dropped (it could never match again) */
    for (size_t p = 0; p < np; p++) {
        if (!ev[pend[p].k].broken) continue;
        subs_client_t *c = pend[p].c;
        pthread_mutex_lock(&r->m);
        bool had = false;
        for (size_t i = 0; i < c->nsets && !had; i++)
            if (c->sets[i].id == pend[p].set_id) {
                set_free(&c->sets[i]);
                c->sets[i] = c->sets[--c->nsets];
                r->nsets--;
                metrics_gauge_add0(MET_SUBSCRIPTIONS, -1);
                had = true;
            }
        bool closed = c->closed;
        pthread_mutex_unlock(&r->m);
        if (had && !closed && c->ops->on_error) c->ops->on_error(c->ctx, pend[p].set_id, ev[pend[p].k].why);
    }

    for (size_t k = 0; k < nk; k++)
        if (ev[k].has_rows) cancel_pairs(&ev[k]);

    /* 4. one update per client, its queries' deltas together; the
     * caller of a write it made hears of the commit in any case */
    bool told_caller = false;
    const subs_ops_t *flush[4];
    size_t nflush = 0;
    subs_delta_t *ds = xcalloc(np + 1, sizeof *ds);
    for (size_t p = 0; p < np; p++) {
        subs_client_t *c = pend[p].c;
        if (!c) continue;
        /* a client's entries are adjacent (step 1 adds them client by client) */
        size_t nd = 0, end = p;
        while (end < np && pend[end].c == c) end++;
        for (size_t q = p; q < end; q++) {
            evalq_t *x = &ev[pend[q].k];
            if (!x->has_rows) continue;
            if (x->del.n || x->ins.n)
                ds[nd++] = (subs_delta_t){pend[q].set_id, pend[q].index, rowset_view(&x->del), rowset_view(&x->ins),
                                          door, x->stamp};
        }
        pthread_mutex_lock(&r->m);
        bool closed = c->closed;
        pthread_mutex_unlock(&r->m);
        bool caller = origin && origin->caller == c;
        if (caller) told_caller = true;
        if (!closed && (nd || (caller && !origin->quiet))) {
            c->ops->on_update(c->ctx, ds, nd, origin);
            note_flush(flush, &nflush, c->ops);
        }
        for (size_t q = p; q < end; q++) {
            pend[q].c = NULL;
            pthread_mutex_lock(&r->m);
            bool f;
            client_unref(r, c, &f);
            pthread_mutex_unlock(&r->m);
            if (f) client_free(c);
        }
    }
    free(ds);
    if (origin && !told_caller && !origin->quiet) {
        pthread_mutex_lock(&r->m);
        bool closed = origin->caller->closed;
        pthread_mutex_unlock(&r->m);
        if (!closed) {
            origin->caller->ops->on_update(origin->caller->ctx, NULL, 0, origin);
            note_flush(flush, &nflush, origin->caller->ops);
        }
    }
    for (size_t i = 0; i < nflush; i++) flush[i]->flush();
    for (size_t k = 0; k < nk; k++) {
        if (ev[k].has_rows) rowset_free(&ev[k].del), rowset_free(&ev[k].ins);
        if (ev[k].st) store_finalize(ev[k].st);
        free(ev[k].key);
        free(ev[k].sender);
        subs_query_free(&ev[k].q);
    }
    free(ev);
    free(pend);
}

static void *fan_main(void *arg) {
    (void)arg;
    pthread_mutex_lock(&fan_m);
    for (;;) {
        while (!fan_head && !fan_stop) pthread_cond_wait(&fan_cv, &fan_m);
        if (!fan_head) break;
        subs_db_t *r = fan_head;
        fan_head = r->next_queued;
        if (!fan_head) fan_tail = NULL;
        r->next_queued = NULL;
        pthread_mutex_unlock(&fan_m);
        for (;;) {
            pthread_mutex_lock(&r->m);
            batch_t *b = r->head;
            if (b) {
                r->head = b->next;
                if (!r->head) r->tail = NULL;
            } else {
                r->queued = false;
            }
            pthread_mutex_unlock(&r->m);
            if (!b) break;
            for (size_t i = 0; i < b->njobs; i++) {
                fan_job(r, b->seq, &b->jobs[i], b->origins[i], b->doors[i]);
                changeset_free(&b->jobs[i]);
                subs_origin_free(b->origins[i]);
            }
            metrics_observe0(MET_FANOUT_DURATION, (double)(time_mono_us() - b->committed_us) / 1e6);
            free(b->jobs);
            free(b->origins);
        free(b->doors);
            free(b);
        }
        db_release(r->db);
        pthread_mutex_lock(&fan_m);
    }
    pthread_mutex_unlock(&fan_m);
    return NULL;
}

void subs_init(void) {
    pthread_mutex_lock(&fan_m);
    if (!fan_running) {
        fan_stop = false;
        fan_running = pthread_create(&fan_thread, NULL, fan_main, NULL) == 0;
    }
    pthread_mutex_unlock(&fan_m);
}

void subs_shutdown(void) {
    pthread_mutex_lock(&fan_m);
    fan_stop = true;
    pthread_cond_broadcast(&fan_cv);
    pthread_mutex_unlock(&fan_m);
    if (fan_running) pthread_join(fan_thread, NULL);
    fan_running = false;
}

/* Frees a database's registry (when the db_t itself goes). */
void subs_db_free(db_t *d) {
    subs_db_t *r = d->subs;
    if (!r) return;
    while (r->head) {
        batch_t *b = r->head;
        r->head = b->next;
        for (size_t i = 0; i < b->njobs; i++) {
            changeset_free(&b->jobs[i]);
            subs_origin_free(b->origins[i]);
        }
        free(b->jobs);
        free(b->origins);
        free(b->doors);
        free(b);
    }
    if (r->mirror) store_close(r->mirror);
    for (size_t i = 0; i < r->nids; i++) free(r->ids[i].name);
    free(r->ids);
    for (size_t i = 0; i < r->nmt; i++) mirror_forget(&r->mt[i]);
    free(r->mt);
    pthread_mutex_destroy(&r->m);
    free(r);
    d->subs = NULL;
}
