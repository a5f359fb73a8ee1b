/* store: SQLite connections and statements (see store.h). */
#include "store/store.h"

/* Debian builds SQLite with the pre-update hook; the header only declares it
 * when asked. */
#define SQLITE_ENABLE_PREUPDATE_HOOK 1
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define STORE_CACHE_MAX 64

struct store_stmt {
    sqlite3_stmt *st;
    struct dyn_entry *owner; /* set when the dynamic cache owns it */
    /* store_col_meta's answers for every result column, kept while the
     * statement lives and SQLite has not prepared it again (a schema change
     * does that, and bumps its REPREPARE counter) */
    store_col_meta_t *meta;
    int meta_n, meta_reprep;
};

static void stmt_forget_meta(store_stmt_t *s) {
    free(s->meta);
    s->meta = NULL;
    s->meta_n = 0;
}

/* Finalizes a statement the store allocated. */
static void stmt_free(store_stmt_t *s) {
    sqlite3_finalize(s->st);
    stmt_forget_meta(s);
    free(s);
}

#define DYN_CACHE_MAX 32

typedef struct dyn_entry {
    char *sql;
    size_t len;
    int tag;
    bool in_use;
    uint64_t used; /* LRU clock */
    store_stmt_t *stmt;
} dyn_entry_t;

typedef struct {
    const char *sql; /* key: the caller's static text */
    store_stmt_t stmt;
} cache_entry_t;

struct store_db {
    sqlite3 *db;
    store_authorizer_fn auth;
    void *auth_ctx;
    bool auth_installed; /* on_authorize is SQLite's authorizer (for good) */
    cache_entry_t cache[STORE_CACHE_MAX];
    int ncache;
    uint64_t deadline_us;
    changeset_t *capture;
    dyn_entry_t dyn[DYN_CACHE_MAX];
    int ndyn;
    uint64_t dyn_clock;
    void *aux;
    void (*aux_free)(void *);
    sqlite3_stmt *begin, *commit; /* kept: each loop pass runs both */
    uint64_t *checkpoints; /* counted here too, if set (atomic) */
};

#include "util/metrics.h"
#include "util/timeutil.h"

const char *store_version(void) { return sqlite3_libversion(); }

#define TEXT_FN_MAX 8
typedef struct {
    const char *name;
    store_text_fn fn;
} text_fn_t;
static text_fn_t text_fns[TEXT_FN_MAX];
static int ntext_fns;

void store_add_text_function(const char *name, store_text_fn fn) {
    if (ntext_fns < TEXT_FN_MAX) text_fns[ntext_fns++] = (text_fn_t){name, fn};
}

static void call_text_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc;
    store_text_fn fn = ((const text_fn_t *)sqlite3_user_data(ctx))->fn;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
        sqlite3_result_null(ctx);
        return;
    }
    const char *in = (const char *)sqlite3_value_text(argv[0]);
    buf_t out = BUF_INIT;
    fn(in ? in : "", (size_t)sqlite3_value_bytes(argv[0]), &out);
    sqlite3_result_text(ctx, out.data ? out.data : "", (int)out.len, SQLITE_TRANSIENT);
    buf_free(&out);
}

static int max_value_bytes = 1000000000; /* SQLite's own default */

int store_global_init(void) {
    /* Memory accounting off: it takes a process-wide mutex on every SQLite
     * allocation (two concurrent allocation-heavy scans ran 4x slower with
     * it on), and SQLite's heap limits only work with it. Memory is bounded
     * instead by value length, answer size, change capture and the reader
     * pool (see store_set_max_value and README). */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    return sqlite3_initialize() == SQLITE_OK ? 0 : -1;
}

void store_set_max_value(int max_value) {
    if (max_value > 0) max_value_bytes = max_value;
}

/* SQLite's own automatic checkpoint (a passive one once the WAL holds 1000
 * pages), counted. Runs on the committing connection's thread. */
static int on_wal(void *arg, sqlite3 *db, const char *name, int frames) {
    store_db_t *s = arg;
    if (frames < 1000) return SQLITE_OK;
    sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    metrics_inc(MET_CHECKPOINTS);
    if (s->checkpoints) __atomic_add_fetch(s->checkpoints, 1, __ATOMIC_RELAXED);
    return SQLITE_OK;
}

void store_count_checkpoints(store_db_t *db, uint64_t *counter) { db->checkpoints = counter; }

int store_open(const char *path, int flags, store_db_t **out, char *err, size_t errlen) {
    *out = NULL;
    store_vfs_init();
    int of = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI;
    of |= (flags & STORE_READONLY) ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
    if (flags & STORE_CREATE) of |= SQLITE_OPEN_CREATE;
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, of, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        rc = db ? sqlite3_extended_errcode(db) : rc;
        sqlite3_close(db);
        return -rc;
    }
    sqlite3_extended_result_codes(db, 1);
    /* No single string or blob past the answer limit: `zeroblob(1e9)` fails
     * at once instead of allocating (and then encoding) a gigabyte. */
    sqlite3_limit(db, SQLITE_LIMIT_LENGTH, max_value_bytes);
    /* Defensive: SQL cannot corrupt the file (no writable_schema, no
     * writes to FTS shadow tables, no DROP of them). */
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_busy_timeout(db, 5000);
    store_db_t *s = xcalloc(1, sizeof *s);
    s->db = db;
    const char *init = "PRAGMA foreign_keys=ON;";
    if ((rc = store_exec(s, init)) < 0) goto fail;
    for (int i = 0; i < ntext_fns; i++)
        sqlite3_create_function_v2(db, text_fns[i].name, 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS,
                                   &text_fns[i], call_text_fn, NULL, NULL, NULL);
    if (flags & STORE_WAL) {
        if ((rc = store_exec(s, "PRAGMA journal_mode=WAL;")) < 0) goto fail;
        sqlite3_wal_hook(db, on_wal, s);
    }
    if (!(flags & STORE_READONLY)) {
        const char *sync = (flags & STORE_SYNC_NORMAL) ? "PRAGMA synchronous=NORMAL;" : "PRAGMA synchronous=FULL;";
        if ((rc = store_exec(s, sync)) < 0) goto fail;
    }
    *out = s;
    return 0;
fail:
    snprintf(err, errlen, "%s", sqlite3_errmsg(db));
    store_close(s);
    return rc;
}

int store_backup(store_db_t *dst, store_db_t *src, store_progress_fn progress, void *ctx, char *err,
                 size_t errlen) {
    sqlite3_backup *b = sqlite3_backup_init(dst->db, "main", src->db, "main");
    if (!b) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(dst->db));
        return -1;
    }
    /* One read transaction on src for every step: the copy is one snapshot
     * (a write elsewhere meanwhile neither shows nor restarts it). dst's
     * write transaction lasts from the first step to the last. */
    bool began = !progress ? false
                 : !store_in_txn(src) && store_exec(src, "BEGIN") == 0 &&
                       sqlite3_exec(src->db, "SELECT 1 FROM sqlite_schema LIMIT 1", NULL, NULL, NULL) == SQLITE_OK;
    int rc;
    bool cancelled = false;
    do {
        rc = sqlite3_backup_step(b, progress ? 256 : -1);
        if (progress && (rc == SQLITE_OK || rc == SQLITE_DONE)) {
            int total = sqlite3_backup_pagecount(b);
            cancelled = !progress(ctx, (uint64_t)(total - sqlite3_backup_remaining(b)), (uint64_t)total);
        }
    } while (rc == SQLITE_OK && !cancelled);
    int fin = sqlite3_backup_finish(b);
    if (began) store_exec(src, "COMMIT");
    if (cancelled && rc != SQLITE_DONE) {
        snprintf(err, errlen, "cancelled");
        return -1;
    }
    if (rc != SQLITE_DONE || fin != SQLITE_OK) {
        snprintf(err, errlen, "%s", rc != SQLITE_DONE && rc != SQLITE_OK ? sqlite3_errstr(rc) : sqlite3_errmsg(dst->db));
        return -1;
    }
    return 0;
}

int store_quick_check(store_db_t *db, char *err, size_t errlen) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db->db, "PRAGMA quick_check(1)", -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(db->db));
        return -1;
    }
    int rc = sqlite3_step(st);
    const char *v = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    int ok = v && strcmp(v, "ok") == 0;
    if (!ok) snprintf(err, errlen, "%s", v ? v : sqlite3_errmsg(db->db));
    sqlite3_finalize(st);
    return ok ? 0 : -1;
}

void store_close(store_db_t *db) {
    if (!db) return;
    if (db->aux_free) db->aux_free(db->aux);
    for (int i = 0; i < db->ndyn; i++) {
        stmt_free(db->dyn[i].stmt);
        free(db->dyn[i].sql);
    }
    for (int i = 0; i < db->ncache; i++) {
        sqlite3_finalize(db->cache[i].stmt.st);
        stmt_forget_meta(&db->cache[i].stmt);
    }
    sqlite3_finalize(db->begin);
    sqlite3_finalize(db->commit);
    sqlite3_close_v2(db->db);
    free(db);
}

const char *store_errmsg(store_db_t *db) { return sqlite3_errmsg(db->db); }

/* BEGIN and COMMIT run once per read snapshot: prepared once, not parsed
 * each time. */
static int exec_kept(store_db_t *db, sqlite3_stmt **slot, const char *sql) {
    if (!*slot && sqlite3_prepare_v3(db->db, sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL) != SQLITE_OK)
        return -sqlite3_extended_errcode(db->db);
    int rc = sqlite3_step(*slot);
    int ext = rc == SQLITE_DONE ? 0 : sqlite3_extended_errcode(db->db);
    sqlite3_reset(*slot);
    return rc == SQLITE_DONE ? 0 : -(ext ? ext : rc);
}

int store_exec(store_db_t *db, const char *sql) {
    if (strcmp(sql, "BEGIN") == 0) return exec_kept(db, &db->begin, sql);
    if (strcmp(sql, "COMMIT") == 0) return exec_kept(db, &db->commit, sql);
    /* The engine's own ROLLBACK [TO …] may undo schema changes: what the
     * connection cached about its uncommitted state goes. */
    if (strncasecmp(sql, "ROLLBACK", 8) == 0) store_set_aux(db, NULL, NULL);
    int rc = sqlite3_exec(db->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : -sqlite3_extended_errcode(db->db);
}

int store_prepare(store_db_t *db, const char *sql, store_stmt_t **out) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        *out = NULL;
        return -sqlite3_extended_errcode(db->db);
    }
    store_stmt_t *s = xcalloc(1, sizeof *s);
    s->st = st;
    *out = s;
    return 0;
}

int store_cached(store_db_t *db, const char *sql, store_stmt_t **out) {
    for (int i = 0; i < db->ncache; i++) {
        if (db->cache[i].sql == sql || strcmp(db->cache[i].sql, sql) == 0) {
            *out = &db->cache[i].stmt;
            return 0;
        }
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v3(db->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
    if (rc != SQLITE_OK) return -sqlite3_extended_errcode(db->db);
    if (db->ncache == STORE_CACHE_MAX) {
        /* Full: evict the oldest entry. Callers hold at most a few at once. */
        sqlite3_finalize(db->cache[0].stmt.st);
        stmt_forget_meta(&db->cache[0].stmt);
        memmove(db->cache, db->cache + 1, sizeof(cache_entry_t) * (STORE_CACHE_MAX - 1));
        db->ncache--;
    }
    db->cache[db->ncache].sql = sql;
    db->cache[db->ncache].stmt = (store_stmt_t){.st = st};
    *out = &db->cache[db->ncache].stmt;
    db->ncache++;
    return 0;
}

void store_finalize(store_stmt_t *st) {
    if (!st) return;
    if (st->owner) {
        sqlite3_reset(st->st);
        sqlite3_clear_bindings(st->st);
        st->owner->in_use = false;
        return;
    }
    stmt_free(st);
}

store_stmt_t *store_cache_get(store_db_t *db, const char *sql, size_t len, int *tag) {
    for (int i = 0; i < db->ndyn; i++) {
        dyn_entry_t *d = &db->dyn[i];
        if (!d->in_use && d->len == len && memcmp(d->sql, sql, len) == 0) {
            d->in_use = true;
            d->used = ++db->dyn_clock;
            *tag = d->tag;
            return d->stmt;
        }
    }
    return NULL;
}

void store_cache_put(store_db_t *db, const char *sql, size_t len, store_stmt_t *st, int tag) {
    if (st->owner) return;
    int slot = -1;
    if (db->ndyn < DYN_CACHE_MAX) {
        slot = db->ndyn++;
    } else {
        /* Evict the least recently used idle entry; if all are busy, skip. */
        for (int i = 0; i < db->ndyn; i++)
            if (!db->dyn[i].in_use && (slot < 0 || db->dyn[i].used < db->dyn[slot].used)) slot = i;
        if (slot < 0) return;
        stmt_free(db->dyn[slot].stmt);
        free(db->dyn[slot].sql);
    }
    dyn_entry_t *d = &db->dyn[slot];
    d->sql = xstrndup(sql, len);
    d->len = len;
    d->tag = tag;
    d->in_use = true;
    d->used = ++db->dyn_clock;
    d->stmt = st;
    st->owner = d;
}

void store_reset(store_stmt_t *st) {
    sqlite3_reset(st->st);
    sqlite3_clear_bindings(st->st);
}

void store_bind_null(store_stmt_t *st, int idx) { sqlite3_bind_null(st->st, idx); }
void store_bind_int(store_stmt_t *st, int idx, int64_t v) { sqlite3_bind_int64(st->st, idx, v); }
void store_bind_double(store_stmt_t *st, int idx, double v) { sqlite3_bind_double(st->st, idx, v); }
void store_bind_text(store_stmt_t *st, int idx, const char *s, size_t n) {
    sqlite3_bind_text64(st->st, idx, s, n, SQLITE_TRANSIENT, SQLITE_UTF8);
}
void store_bind_blob(store_stmt_t *st, int idx, const void *p, size_t n) {
    sqlite3_bind_blob64(st->st, idx, p, n, SQLITE_TRANSIENT);
}

int store_step(store_stmt_t *st) {
    int rc = sqlite3_step(st->st);
    if (rc == SQLITE_ROW) return STORE_ROW;
    if (rc == SQLITE_DONE) return STORE_DONE;
    return -sqlite3_extended_errcode(sqlite3_db_handle(st->st));
}

int store_col_count(store_stmt_t *st) { return sqlite3_column_count(st->st); }
const char *store_col_name(store_stmt_t *st, int i) { return sqlite3_column_name(st->st, i); }

sv_type_t store_col_type(store_stmt_t *st, int i) {
    switch (sqlite3_column_type(st->st, i)) {
    case SQLITE_INTEGER: return SV_INT;
    case SQLITE_FLOAT: return SV_REAL;
    case SQLITE_TEXT: return SV_TEXT;
    case SQLITE_BLOB: return SV_BLOB;
    default: return SV_NULL;
    }
}

int64_t store_col_int(store_stmt_t *st, int i) { return sqlite3_column_int64(st->st, i); }
double store_col_double(store_stmt_t *st, int i) { return sqlite3_column_double(st->st, i); }

const char *store_col_text(store_stmt_t *st, int i, size_t *n) {
    const char *p = (const char *)sqlite3_column_text(st->st, i);
    if (n) *n = p ? (size_t)sqlite3_column_bytes(st->st, i) : 0;
    return p ? p : "";
}

const void *store_col_blob(store_stmt_t *st, int i, size_t *n) {
    const void *p = sqlite3_column_blob(st->st, i);
    *n = (size_t)sqlite3_column_bytes(st->st, i);
    return p;
}

/* Every cell of every row passes here: read it through its sqlite3_value,
 * one lookup instead of a type, value and length call that each look the
 * column up and check the connection's error state again. The value is
 * the statement's own (unprotected), read by the thread that steps it, on
 * a connection opened without a mutex. */
void store_col_value(store_stmt_t *st, int i, store_value_t *v) {
    sqlite3_value *sv = sqlite3_column_value(st->st, i);
    v->p = NULL, v->n = 0, v->i = 0, v->d = 0;
    switch (sqlite3_value_type(sv)) {
    case SQLITE_INTEGER:
        v->type = SV_INT;
        v->i = sqlite3_value_int64(sv);
        break;
    case SQLITE_FLOAT:
        v->type = SV_REAL;
        v->d = sqlite3_value_double(sv);
        break;
    case SQLITE_TEXT: {
        v->type = SV_TEXT;
        const char *p = (const char *)sqlite3_value_text(sv);
        v->n = p ? (size_t)sqlite3_value_bytes(sv) : 0;
        v->p = p ? p : "";
        break;
    }
    case SQLITE_BLOB:
        v->type = SV_BLOB;
        v->p = sqlite3_value_blob(sv);
        v->n = (size_t)sqlite3_value_bytes(sv);
        break;
    default: v->type = SV_NULL; break;
    }
}

bool store_stmt_readonly(store_stmt_t *st) { return sqlite3_stmt_readonly(st->st) != 0; }

int store_prepare_next(store_db_t *db, const char *sql, size_t len, store_stmt_t **out, const char **tail) {
    sqlite3_stmt *st = NULL;
    *out = NULL;
    int rc = sqlite3_prepare_v2(db->db, sql, (int)len, &st, tail);
    if (rc != SQLITE_OK) return -sqlite3_extended_errcode(db->db);
    if (!st) return 0;
    store_stmt_t *s = xcalloc(1, sizeof *s);
    s->st = st;
    *out = s;
    return 0;
}

int store_param_count(store_stmt_t *st) { return sqlite3_bind_parameter_count(st->st); }
const char *store_param_name(store_stmt_t *st, int i) { return sqlite3_bind_parameter_name(st->st, i); }
bool store_stmt_isexplain(store_stmt_t *st) { return sqlite3_stmt_isexplain(st->st) != 0; }

static void col_meta(store_db_t *db, store_stmt_t *st, int i, store_col_meta_t *m) {
    const char *dt = sqlite3_column_decltype(st->st, i);
    const char *table = sqlite3_column_table_name(st->st, i), *col = sqlite3_column_origin_name(st->st, i);
    const char *schema = sqlite3_column_database_name(st->st, i);
    m->decltype = dt ? dt : "";
    m->is_column = table && col;
    m->table = m->is_column ? table : NULL;
    m->column = m->is_column ? col : NULL;
    m->not_null = m->rowid_pk = false;
    if (!m->is_column) return;
    const char *type = NULL, *coll = NULL;
    int notnull = 0, pk = 0, autoinc = 0;
    if (sqlite3_table_column_metadata(sqlite3_db_handle(st->st), schema, table, col, &type, &coll, &notnull, &pk,
                                      &autoinc) != SQLITE_OK)
        return;
    m->not_null = notnull != 0;
    /* INTEGER PRIMARY KEY aliases the rowid; a composite key has pk set on
     * several columns, so ask for the rowid alias specifically. */
    m->rowid_pk = pk && type && sqlite3_stricmp(type, "INTEGER") == 0 &&
                  sqlite3_column_count(st->st) > 0 && strcmp(col, "rowid") != 0;
    if (m->rowid_pk) {
        /* a cached statement: this runs for every such column of every answer */
        int n = 0;
        store_stmt_t *q;
        if (store_cached(db, "SELECT count(*) FROM pragma_table_info(?1, ?2) WHERE pk > 0", &q) == 0) {
            sqlite3_bind_text(q->st, 1, table, -1, SQLITE_STATIC);
            sqlite3_bind_text(q->st, 2, schema, -1, SQLITE_STATIC);
            if (sqlite3_step(q->st) == SQLITE_ROW) n = sqlite3_column_int(q->st, 0);
            store_reset(q);
        }
        m->rowid_pk = n == 1;
    }
}

/* A statement from the dynamic cache answers the same request shapes again
 * and again: its columns' facts (one pragma_table_info query per rowid
 * column, the costliest part) are worked out once. */
void store_col_meta(store_db_t *db, store_stmt_t *st, int i, store_col_meta_t *m) {
    int n = sqlite3_column_count(st->st);
    int reprep = sqlite3_stmt_status(st->st, SQLITE_STMTSTATUS_REPREPARE, 0);
    if (i < 0 || i >= n) {
        *m = (store_col_meta_t){.decltype = ""};
        return;
    }
    if (!st->meta || st->meta_n != n || st->meta_reprep != reprep) {
        stmt_forget_meta(st);
        st->meta = xcalloc((size_t)n, sizeof *st->meta);
        for (int k = 0; k < n; k++) col_meta(db, st, k, &st->meta[k]);
        st->meta_n = n;
        st->meta_reprep = reprep;
    }
    *m = st->meta[i];
}

static store_action_t map_action(int code, const char *zdb) {
    bool temp = zdb && strcmp(zdb, "temp") == 0;
    switch (code) {
    case SQLITE_READ: return SACT_READ;
    case SQLITE_SELECT: return SACT_SELECT;
    case SQLITE_INSERT: return SACT_INSERT;
    case SQLITE_UPDATE: return SACT_UPDATE;
    case SQLITE_DELETE: return SACT_DELETE;
    case SQLITE_CREATE_TEMP_INDEX: case SQLITE_CREATE_TEMP_TABLE: case SQLITE_CREATE_TEMP_TRIGGER:
    case SQLITE_CREATE_TEMP_VIEW: case SQLITE_DROP_TEMP_INDEX: case SQLITE_DROP_TEMP_TABLE:
    case SQLITE_DROP_TEMP_TRIGGER: case SQLITE_DROP_TEMP_VIEW:
        return SACT_TEMP_SCHEMA;
    case SQLITE_CREATE_INDEX: case SQLITE_CREATE_TABLE: case SQLITE_CREATE_TRIGGER: case SQLITE_CREATE_VIEW:
    case SQLITE_DROP_INDEX: case SQLITE_DROP_TABLE: case SQLITE_DROP_TRIGGER: case SQLITE_DROP_VIEW:
    case SQLITE_ALTER_TABLE: case SQLITE_REINDEX: case SQLITE_ANALYZE: case SQLITE_CREATE_VTABLE:
    case SQLITE_DROP_VTABLE:
        return temp ? SACT_TEMP_SCHEMA : SACT_SCHEMA;
    case SQLITE_PRAGMA: return SACT_PRAGMA;
    case SQLITE_TRANSACTION: return SACT_TRANSACTION;
    case SQLITE_SAVEPOINT: return SACT_SAVEPOINT;
    case SQLITE_ATTACH: return SACT_ATTACH;
    case SQLITE_DETACH: return SACT_DETACH;
    case SQLITE_FUNCTION: return SACT_FUNCTION;
    case SQLITE_RECURSIVE: return SACT_RECURSIVE;
    default: return SACT_OTHER;
    }
}

static int on_authorize(void *ctx, int code, const char *a1, const char *a2, const char *zdb, const char *trigger) {
    (void)trigger;
    store_db_t *db = ctx;
    if (!db->auth) return SQLITE_OK; /* none set now: everything is allowed */
    return db->auth(db->auth_ctx, map_action(code, zdb), a1, a2) ? SQLITE_OK : SQLITE_DENY;
}

void store_set_authorizer(store_db_t *db, store_authorizer_fn fn, void *ctx) {
    db->auth = fn;
    db->auth_ctx = ctx;
    /* SQLite's own hook is installed once and stays: installing one marks
     * every prepared statement of the connection for re-preparation, which
     * would throw the statement cache away on every policy check. */
    if (fn && !db->auth_installed) {
        sqlite3_set_authorizer(db->db, on_authorize, db);
        db->auth_installed = true;
    }
}


bool store_in_txn(store_db_t *db) { return sqlite3_get_autocommit(db->db) == 0; }

int store_deferred_fks(store_db_t *db) {
    int cur = 0, hi = 0;
    sqlite3_db_status(db->db, SQLITE_DBSTATUS_DEFERRED_FKS, &cur, &hi, 0);
    return cur;
}

void store_interrupt(store_db_t *db) { sqlite3_interrupt(db->db); }

static int on_progress(void *ctx) {
    store_db_t *db = ctx;
    return db->deadline_us && time_mono_us() > db->deadline_us;
}

void store_set_deadline(store_db_t *db, uint64_t deadline_us) {
    db->deadline_us = deadline_us;
    /* ~4,000 VM steps between checks: a few µs, so the cost is negligible
     * and the overshoot tiny. */
    sqlite3_progress_handler(db->db, deadline_us ? 4000 : 0, deadline_us ? on_progress : NULL, db);
}

/* ---- change capture ---------------------------------------------------- */

static void value_copy(sqlite3_value *v, store_value_t *out) {
    memset(out, 0, sizeof *out);
    switch (sqlite3_value_type(v)) {
    case SQLITE_INTEGER: out->type = SV_INT, out->i = sqlite3_value_int64(v); break;
    case SQLITE_FLOAT: out->type = SV_REAL, out->d = sqlite3_value_double(v); break;
    case SQLITE_TEXT: {
        out->type = SV_TEXT;
        out->n = (size_t)sqlite3_value_bytes(v);
        out->p = xstrndup((const char *)sqlite3_value_text(v), out->n);
        break;
    }
    case SQLITE_BLOB: {
        out->type = SV_BLOB;
        out->n = (size_t)sqlite3_value_bytes(v);
        char *p = xmalloc(out->n + 1);
        if (out->n) memcpy(p, sqlite3_value_blob(v), out->n);
        out->p = p;
        break;
    }
    default: out->type = SV_NULL;
    }
}

static void lost_table(changeset_t *cs, const char *table) {
    for (size_t i = 0; i < cs->nlost; i++)
        if (strcmp(cs->lost_tables[i], table) == 0) return;
    cs->lost_tables = xrealloc(cs->lost_tables, (cs->nlost + 1) * sizeof *cs->lost_tables);
    cs->lost_tables[cs->nlost++] = xstrdup(table);
}

static size_t row_bytes(const store_value_t *v, int n) {
    if (!v) return 0;
    size_t b = (size_t)n * sizeof *v;
    for (int i = 0; i < n; i++)
        if (v[i].type == SV_TEXT || v[i].type == SV_BLOB) b += v[i].n + 1;
    return b;
}

static store_value_t *row_copy(sqlite3 *db, int n, bool new_row) {
    store_value_t *vals = xcalloc((size_t)n, sizeof *vals);
    for (int i = 0; i < n; i++) {
        sqlite3_value *v = NULL;
        int rc = new_row ? sqlite3_preupdate_new(db, i, &v) : sqlite3_preupdate_old(db, i, &v);
        if (rc == SQLITE_OK && v) value_copy(v, &vals[i]);
    }
    return vals;
}

static void on_preupdate(void *ctx, sqlite3 *db, int op, const char *zdb, const char *table, sqlite3_int64 old_rowid,
                         sqlite3_int64 new_rowid) {
    store_db_t *s = ctx;
    changeset_t *cs = s->capture;
    if (!cs || strcmp(zdb, "main") != 0) return;
    if (op == SQLITE_INSERT) cs->ninserts++;
    else if (op == SQLITE_DELETE) cs->ndeletes++;
    else cs->nupdates++;
    if (!cs->overflow && (cs->bytes > STORE_CAPTURE_MAX_BYTES || cs->n >= STORE_CAPTURE_MAX_ROWS))
        cs->overflow = true;
    if (cs->overflow) {
        /* A huge write (INSERT … SELECT of millions of rows) must not copy
         * every row into memory: keep counting, and which tables it hit. */
        lost_table(cs, table);
        return;
    }
    if (cs->n == cs->cap) {
        cs->cap = cs->cap ? cs->cap * 2 : 16;
        cs->items = xrealloc(cs->items, cs->cap * sizeof *cs->items);
    }
    store_change_t *c = &cs->items[cs->n++];
    memset(c, 0, sizeof *c);
    c->table = xstrdup(table);
    c->ncols = sqlite3_preupdate_count(db);
    c->old_rowid = old_rowid;
    c->new_rowid = new_rowid;
    switch (op) {
    case SQLITE_INSERT: c->op = CHANGE_INSERT; break;
    case SQLITE_DELETE: c->op = CHANGE_DELETE; break;
    default: c->op = CHANGE_UPDATE;
    }
    if (c->op != CHANGE_INSERT) c->old_vals = row_copy(db, c->ncols, false);
    if (c->op != CHANGE_DELETE) c->new_vals = row_copy(db, c->ncols, true);
    cs->bytes += sizeof *c + strlen(table) + 1 + row_bytes(c->old_vals, c->ncols) + row_bytes(c->new_vals, c->ncols);
}

void store_capture(store_db_t *db, changeset_t *into) {
    db->capture = into;
    sqlite3_preupdate_hook(db->db, into ? on_preupdate : NULL, into ? db : NULL);
}

changeset_t *store_capture_target(store_db_t *db) { return db->capture; }

static void values_free(store_value_t *v, int n) {
    if (!v) return;
    for (int i = 0; i < n; i++)
        if (v[i].type == SV_TEXT || v[i].type == SV_BLOB) free((void *)v[i].p);
    free(v);
}

void changeset_free(changeset_t *cs) {
    for (size_t i = 0; i < cs->n; i++) {
        free(cs->items[i].table);
        values_free(cs->items[i].old_vals, cs->items[i].ncols);
        values_free(cs->items[i].new_vals, cs->items[i].ncols);
    }
    free(cs->items);
    for (size_t i = 0; i < cs->nlost; i++) free(cs->lost_tables[i]);
    free(cs->lost_tables);
    *cs = (changeset_t){0};
}

void changeset_move(changeset_t *dst, changeset_t *src) {
    dst->ninserts += src->ninserts;
    dst->nupdates += src->nupdates;
    dst->ndeletes += src->ndeletes;
    dst->overflow = dst->overflow || src->overflow;
    dst->bytes += src->bytes;
    for (size_t i = 0; i < src->nlost; i++) {
        lost_table(dst, src->lost_tables[i]);
        free(src->lost_tables[i]);
    }
    free(src->lost_tables);
    src->lost_tables = NULL;
    src->nlost = 0;
    src->ninserts = src->nupdates = src->ndeletes = 0;
    src->bytes = 0;
    src->overflow = false;
    if (src->n == 0) return;
    if (dst->n + src->n > dst->cap) {
        dst->cap = dst->n + src->n;
        dst->items = xrealloc(dst->items, dst->cap * sizeof *dst->items);
    }
    memcpy(dst->items + dst->n, src->items, src->n * sizeof *src->items);
    dst->n += src->n;
    free(src->items);
    src->items = NULL;
    src->n = src->cap = 0;
}

int64_t store_changes(store_db_t *db) { return sqlite3_changes64(db->db); }
int64_t store_last_rowid(store_db_t *db) { return sqlite3_last_insert_rowid(db->db); }

int store_schema_text(store_db_t *db, bool tables_only, buf_t *out) {
    /* Shadow tables (FTS5 and friends) are listed by PRAGMA table_list with
     * type 'shadow'; their DDL is recreated by their virtual table. */
    const char *sql = tables_only
        ? "SELECT s.sql FROM sqlite_schema s WHERE s.sql IS NOT NULL AND s.name NOT LIKE 'sqlite_%'"
          " AND s.type IN ('table','view')"
          " AND NOT EXISTS (SELECT 1 FROM pragma_table_list(s.name) t WHERE t.schema='main'"
          " AND t.type='shadow') ORDER BY s.rowid"
        : "SELECT s.sql FROM sqlite_schema s WHERE s.sql IS NOT NULL AND s.name NOT LIKE 'sqlite_%'"
          " AND NOT EXISTS (SELECT 1 FROM pragma_table_list(s.tbl_name) t WHERE t.schema='main'"
          " AND t.type='shadow')"
          " ORDER BY s.rowid";
    store_stmt_t *st;
    int rc = store_prepare(db, sql, &st);
    if (rc < 0) return rc;
    while ((rc = store_step(st)) == STORE_ROW) {
        size_t n;
        const char *t = store_col_text(st, 0, &n);
        buf_append(out, t, n);
        buf_append(out, ";\n", 2);
    }
    store_finalize(st);
    return rc < 0 ? rc : 0;
}

void store_set_aux(store_db_t *db, void *p, void (*free_fn)(void *)) {
    if (db->aux_free && db->aux != p) db->aux_free(db->aux);
    db->aux = p;
    db->aux_free = free_fn;
}

void *store_get_aux(store_db_t *db) { return db->aux; }

int64_t store_schema_cookie(store_db_t *db) {
    store_stmt_t *st;
    if (store_cached(db, "PRAGMA schema_version", &st) < 0) return -1;
    int64_t v = store_step(st) == STORE_ROW ? store_col_int(st, 0) : -1;
    store_reset(st);
    return v;
}

bool store_txn_writing(store_db_t *db) { return sqlite3_txn_state(db->db, "main") == SQLITE_TXN_WRITE; }

int store_compile_options(char ***out) {
    int n = 0;
    while (sqlite3_compileoption_get(n)) n++;
    char **v = xcalloc((size_t)n + 1, sizeof *v);
    for (int i = 0; i < n; i++) v[i] = xstrdup(sqlite3_compileoption_get(i));
    *out = v;
    return n;
}
