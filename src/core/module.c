/* module: a database's Lua module (see module.h).
 * Locking: `m` guards the definition cache and the log; the runtime
 * (`rt`) is the writer thread's alone, and `rt_stale` (atomic) tells it to
 * reload after a publish. */
#include "core/module.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sql.h"
#include "util/json.h"
#include "util/thread.h"
#include "util/timeutil.h"

typedef struct dref {
    mdef_t *def;
    int refs;
    struct dref *next;
} dref_t;

typedef struct {
    pthread_mutex_t m;
    dref_t *cur;     /* the definition as last read (NULL: not read yet) */
    bool none;       /* read, and there is no module */
    dref_t *retired; /* older definitions still referenced */
    uint64_t gen;    /* bumped by every invalidation */
    /* writer thread only */
    lrt_t *rt;
    uint64_t rt_gen;
    /* the log */
    char **lines; /* ring of NDJSON lines */
    size_t head, count;
    uint64_t seq; /* lines ever written */
} module_t;

static pthread_mutex_t attach = PTHREAD_MUTEX_INITIALIZER;

static module_t *mod_of(db_t *d) {
    module_t *m = __atomic_load_n((module_t **)&d->module, __ATOMIC_ACQUIRE);
    if (m) return m;
    pthread_mutex_lock(&attach);
    m = d->module;
    if (!m) {
        m = xcalloc(1, sizeof *m);
        pthread_mutex_init(&m->m, NULL);
        m->lines = xcalloc(MODULE_LOG_LINES, sizeof *m->lines);
        __atomic_store_n((module_t **)&d->module, m, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&attach);
    return m;
}

void module_db_free(db_t *d) {
    module_t *m = d->module;
    if (!m) return;
    if (m->cur) mdef_free(m->cur->def), free(m->cur);
    for (dref_t *r = m->retired, *n; r; r = n) {
        n = r->next;
        mdef_free(r->def);
        free(r);
    }
    lrt_close(m->rt);
    for (size_t i = 0; i < MODULE_LOG_LINES; i++) free(m->lines[i]);
    free(m->lines);
    pthread_mutex_destroy(&m->m);
    free(m);
    d->module = NULL;
}

/* ---- the log ------------------------------------------------------------ */

void module_log(db_t *d, const char *level, int line, const char *function, const char *msg) {
    module_t *m = mod_of(d);
    buf_t b = BUF_INIT;
    jw_t w;
    jw_init(&w, &b, 0);
    jw_obj_begin(&w);
    jw_key(&w, "level");
    jw_str(&w, level);
    jw_key(&w, "ts");
    jw_int(&w, time_now_us());
    jw_key(&w, "filename");
    jw_str(&w, "module");
    if (line > 0) {
        jw_key(&w, "line_number");
        jw_int(&w, line);
    }
    if (function) {
        jw_key(&w, "function");
        jw_str(&w, function);
    }
    jw_key(&w, "message");
    jw_str(&w, msg ? msg : "");
    jw_obj_end(&w);
    buf_putc(&b, '\n');
    pthread_mutex_lock(&m->m);
    size_t at = (m->head + m->count) % MODULE_LOG_LINES;
    if (m->count == MODULE_LOG_LINES) {
        free(m->lines[m->head]);
        m->head = (m->head + 1) % MODULE_LOG_LINES;
        at = (m->head + m->count - 1) % MODULE_LOG_LINES;
    } else {
        m->count++;
    }
    m->lines[at] = b.data;
    m->seq++;
    pthread_mutex_unlock(&m->m);
}

uint64_t module_logs(db_t *d, size_t num, buf_t *out) {
    module_t *m = mod_of(d);
    pthread_mutex_lock(&m->m);
    size_t skip = num && num < m->count ? m->count - num : 0;
    for (size_t i = skip; i < m->count; i++) buf_puts(out, m->lines[(m->head + i) % MODULE_LOG_LINES]);
    uint64_t seq = m->seq;
    pthread_mutex_unlock(&m->m);
    return seq;
}

uint64_t module_logs_since(db_t *d, uint64_t seq, buf_t *out) {
    module_t *m = mod_of(d);
    pthread_mutex_lock(&m->m);
    uint64_t missing = m->seq - seq;
    size_t from = missing >= m->count ? 0 : m->count - (size_t)missing;
    for (size_t i = from; i < m->count; i++) buf_puts(out, m->lines[(m->head + i) % MODULE_LOG_LINES]);
    seq = m->seq;
    pthread_mutex_unlock(&m->m);
    return seq;
}

static void log_cb(void *ctx, const char *level, int line, const char *function, const char *msg) {
    module_log(ctx, level, line, function, msg);
}

/* ---- the stored source ---------------------------------------------------- */

#define MODULE_TABLE "_atrium_module"

/* The stored source (malloc'd), or NULL (none; e set only on error). */
static char *read_source(store_db_t *c, size_t *n, err_t *e) {
    store_stmt_t *st;
    err_clear(e);
    if (store_prepare(c, "SELECT source FROM " MODULE_TABLE " WHERE id = 1", &st) < 0) return NULL; /* no table */
    char *src = NULL;
    int rc = store_step(st);
    if (rc == STORE_ROW) {
        const char *p = store_col_text(st, 0, n);
        src = xstrndup(p ? p : "", *n);
    } else if (rc < 0) {
        err_sql(e, rc, store_errmsg(c));
    }
    store_finalize(st);
    return src;
}

/* ---- the definition ---------------------------------------------------------- */

static void invalidate(module_t *m) {
    pthread_mutex_lock(&m->m);
    if (m->cur) {
        if (m->cur->refs == 0) {
            mdef_free(m->cur->def);
            free(m->cur);
        } else {
            m->cur->next = m->retired;
            m->retired = m->cur;
        }
    }
    m->cur = NULL;
    m->none = false;
    m->gen++;
    pthread_mutex_unlock(&m->m);
}

void module_invalidate(db_t *d) { invalidate(mod_of(d)); }

const mdef_t *module_def_acquire(db_t *d, store_db_t *c) {
    module_t *m = mod_of(d);
    pthread_mutex_lock(&m->m);
    if (m->cur || m->none) {
        const mdef_t *def = NULL;
        if (m->cur) {
            m->cur->refs++;
            def = m->cur->def;
        }
        pthread_mutex_unlock(&m->m);
        return def;
    }
    uint64_t gen = m->gen;
    pthread_mutex_unlock(&m->m);
    size_t n = 0;
    err_t e;
    char *src = read_source(c, &n, &e);
    mdef_t *def = NULL;
    if (src && lua_define(src, n, &def, &e) < 0) def = NULL;
    free(src);
    pthread_mutex_lock(&m->m);
    dref_t *r = NULL;
    if (def) {
        r = xcalloc(1, sizeof *r);
        r->def = def;
        r->refs = 1;
    }
    if (m->gen == gen && !m->cur && !m->none) {
        /* nobody published meanwhile: keep it */
        if (r) {
            m->cur = r;
        } else {
            m->none = true;
        }
    } else if (r) {
        r->next = m->retired;
        m->retired = r;
    }
    pthread_mutex_unlock(&m->m);
    return def;
}

const mdef_t *module_def_peek(db_t *d) {
    module_t *m = mod_of(d);
    pthread_mutex_lock(&m->m);
    const mdef_t *def = NULL;
    if (m->cur) {
        m->cur->refs++;
        def = m->cur->def;
    }
    pthread_mutex_unlock(&m->m);
    return def;
}

void module_def_release(db_t *d, const mdef_t *def) {
    if (!def) return;
    module_t *m = mod_of(d);
    pthread_mutex_lock(&m->m);
    if (m->cur && m->cur->def == def) {
        m->cur->refs--;
    } else {
        for (dref_t **p = &m->retired; *p; p = &(*p)->next) {
            if ((*p)->def != def) continue;
            dref_t *r = *p;
            if (--r->refs == 0) {
                *p = r->next;
                mdef_free(r->def);
                free(r);
            }
            break;
        }
    }
    pthread_mutex_unlock(&m->m);
}

/* ---- the runtime (writer thread) ------------------------------------------- */

/* The writer's runtime, (re)loaded from the stored source when a publish
 * or a tripped limit made it stale. NULL without a module (e: E_NOT_FOUND). */
static lrt_t *runtime(db_t *d, store_db_t *c, err_t *e) {
    module_t *m = mod_of(d);
    pthread_mutex_lock(&m->m);
    uint64_t gen = m->gen;
    pthread_mutex_unlock(&m->m);
    if (m->rt && (m->rt_gen != gen || lrt_tripped(m->rt))) {
        lrt_close(m->rt);
        m->rt = NULL;
    }
    if (m->rt) return m->rt;
    size_t n = 0;
    char *src = read_source(c, &n, e);
    if (!src) {
        if (e->kind == E_OK) err_set(e, E_NOT_FOUND, "the database has no module");
        return NULL;
    }
    int rc = lrt_open(src, n, log_cb, d, &m->rt, e);
    free(src);
    if (rc < 0) return NULL;
    m->rt_gen = gen;
    return m->rt;
}

int module_call(db_t *d, store_db_t *c, const char *reducer, const json_t *args, const lcall_t *who, err_t *e) {
    lrt_t *rt = runtime(d, c, e);
    if (!rt) {
        if (e->kind == E_NOT_FOUND) return err_set(e, E_NOT_FOUND, "No such reducer `%s`", reducer);
        return -1;
    }
    return lrt_call(rt, d, c, reducer, args, false, who, e);
}

int module_lifecycle(db_t *d, store_db_t *c, int which, const lcall_t *who, err_t *e) {
    err_t ignore;
    lrt_t *rt = runtime(d, c, &ignore);
    if (!rt) return 0;
    return lrt_lifecycle(rt, d, c, which, who, e);
}

bool module_has_lifecycle(db_t *d, store_db_t *c, int which) {
    err_t ignore;
    lrt_t *rt = runtime(d, c, &ignore);
    const mdef_t *def = rt ? lrt_def(rt) : NULL;
    for (int i = 0; def && i < def->nreducers; i++)
        if (def->reducers[i].lifecycle == which) return true;
    return false;
}

/* ---- publishing ------------------------------------------------------------- */

/* Drops every user object (views and triggers first). */
static int drop_all(store_db_t *c, err_t *e) {
    static const char *const kinds[] = {"trigger", "view", "table", NULL};
    for (int k = 0; kinds[k]; k++) {
        for (;;) {
            store_stmt_t *st;
            /* virtual tables first: their shadow tables go with them */
            if (store_prepare(c, "SELECT name FROM sqlite_master WHERE type = ? AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
                                 " ORDER BY (sql LIKE 'CREATE VIRTUAL%') DESC LIMIT 1",
                              &st) < 0)
                return err_sql(e, -1, store_errmsg(c));
            store_bind_text(st, 1, kinds[k], strlen(kinds[k]));
            char *name = NULL;
            if (store_step(st) == STORE_ROW) name = xstrdup(store_col_text(st, 0, NULL));
            store_finalize(st);
            if (!name) break;
            buf_t sql = BUF_INIT;
            buf_printf(&sql, "DROP %s ", kinds[k]);
            sql_quote(&sql, name, '"');
            int rc = store_exec(c, sql.data);
            buf_free(&sql);
            free(name);
            if (rc < 0) return err_sql(e, rc, store_errmsg(c));
        }
    }
    return 0;
}

/* An existing table's column names in order, compared with t's. */
static bool same_columns(store_db_t *c, const mtable_t *t, bool *exists) {
    store_stmt_t *st;
    *exists = false;
    if (store_prepare(c, "SELECT name FROM pragma_table_info(?)", &st) < 0) return false;
    store_bind_text(st, 1, t->name, strlen(t->name));
    int i = 0;
    bool same = true;
    while (store_step(st) == STORE_ROW) {
        *exists = true;
        const char *n = store_col_text(st, 0, NULL);
        if (i >= t->ncols || strcmp(n ? n : "", t->cols[i].name) != 0) same = false;
        i++;
    }
    store_finalize(st);
    return same && (!*exists || i == t->ncols);
}

int module_publish(db_t *d, store_db_t *c, const char *src, size_t n, bool created, bool clear, err_t *e) {
    ASSERT_OFF_LOOP();
    module_t *m = mod_of(d);
    lrt_t *rt;
    if (lrt_open(src, n, log_cb, d, &rt, e) < 0) return -1;
    const mdef_t *neu = lrt_def(rt);
    int rc = 0;
    buf_t ddl = BUF_INIT;
    if (clear && drop_all(c, e) < 0) rc = -1;
    size_t on = 0;
    err_t re;
    char *old_src = rc == 0 && !clear ? read_source(c, &on, &re) : NULL;
    bool fresh = created || clear || !old_src;
    if (rc == 0 && fresh) {
        for (int i = 0; i < neu->ntables && rc == 0; i++) {
            bool exists;
            if (!same_columns(c, &neu->tables[i], &exists))
                rc = err_set(e, E_BAD_INPUT,
                             "Database update rejected: table %s exists with other columns; publish with "
                             "?clear=true to drop all data",
                             neu->tables[i].name);
            else if (!exists) mdef_create_sql(&neu->tables[i], &ddl);
        }
    } else if (rc == 0) {
        mdef_t *old = NULL;
        if (lua_define(old_src, on, &old, e) < 0) {
            old = NULL; /* an old module that no longer loads: treat its tables as unmanaged */
            err_clear(e);
        }
        char why[300];
        if (old && mdef_migration(old, neu, &ddl, why, sizeof why))
            rc = err_set(e, E_BAD_INPUT, "Database update rejected: %s; publish with ?clear=true to drop all data", why);
        if (!old)
            for (int i = 0; i < neu->ntables; i++) {
                bool exists;
                same_columns(c, &neu->tables[i], &exists);
                if (!exists) mdef_create_sql(&neu->tables[i], &ddl);
            }
        mdef_free(old);
    }
    free(old_src);
    if (rc == 0 && ddl.len && store_exec(c, ddl.data) < 0) rc = err_set(e, E_BAD_INPUT, "invalid module: %s", store_errmsg(c));
    buf_free(&ddl);
    if (rc == 0 && store_exec(c, "CREATE TABLE IF NOT EXISTS " MODULE_TABLE
                                 " (id INTEGER PRIMARY KEY CHECK (id = 1), source TEXT NOT NULL, hash TEXT NOT NULL)") < 0)
        rc = err_sql(e, -1, store_errmsg(c));
    if (rc == 0) {
        store_stmt_t *st;
        if (store_prepare(c, "INSERT OR REPLACE INTO " MODULE_TABLE " (id, source, hash) VALUES (1, ?, ?)", &st) < 0) {
            rc = err_sql(e, -1, store_errmsg(c));
        } else {
            store_bind_text(st, 1, src, n);
            store_bind_text(st, 2, neu->hash, strlen(neu->hash));
            if (store_step(st) != STORE_DONE) rc = err_sql(e, -1, store_errmsg(c));
            store_finalize(st);
        }
    }
    if (rc == 0 && fresh) {
        lcall_t who = {.sender = "", .db_identity = d->identity, .timestamp_us = time_now_us()};
        if (lrt_lifecycle(rt, d, c, LC_INIT, &who, e) < 0) {
            char msg[sizeof e->msg];
            snprintf(msg, sizeof msg, "%s", e->msg);
            rc = err_set(e, E_BAD_INPUT, "init reducer failed: %s", msg);
        }
    }
    lrt_close(rt);
    /* the next use reloads from what committed (a failed job rolls back) */
    invalidate(m);
    if (rc == 0) module_log(d, "Info", 0, NULL, created ? "module published (created)" : "module published (updated)");
    return rc;
}
