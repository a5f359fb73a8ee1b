/* catalog: system.db and the database registry (see catalog.h). */
#include "core/catalog.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/schema.h"
#include "core/module.h"
#include "core/subs.h"
#include "core/names.h"
#include "core/doors.h"
#include "util/thread.h"
#include "util/buf.h"
#include "util/timeutil.h"

struct catalog {
    char *dir;
    store_db_t *sys;
    pthread_mutex_t lock;
    pthread_rwlock_t reg_lock;
    db_t **dbs;
    size_t ndbs, cap;
};

/* Schema migrations: entry i moves the catalog from user_version i to i+1.
 * Never edit an entry that has shipped; append a new one. */
static const char *migrations[] = {
    "CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE principals("
    "  id INTEGER PRIMARY KEY,"
    "  kind TEXT NOT NULL CHECK (kind IN ('user','identity','team')),"
    "  name TEXT UNIQUE,"
    "  identity TEXT UNIQUE,"
    "  pw_hash TEXT,"
    "  is_admin INTEGER NOT NULL DEFAULT 0,"
    "  created_ms INTEGER NOT NULL);"
    "CREATE TABLE grants("
    "  principal_id INTEGER NOT NULL REFERENCES principals(id) ON DELETE CASCADE,"
    "  db TEXT NOT NULL,"
    "  actions INTEGER NOT NULL,"
    "  PRIMARY KEY (principal_id, db));"
    "CREATE TABLE tokens("
    "  hash BLOB PRIMARY KEY,"
    "  principal_id INTEGER NOT NULL REFERENCES principals(id) ON DELETE CASCADE,"
    "  kind TEXT NOT NULL,"
    "  label TEXT,"
    "  created_ms INTEGER NOT NULL,"
    "  expires_ms INTEGER);"
    "CREATE INDEX tokens_by_principal ON tokens(principal_id);"
    "CREATE TABLE token_scopes("
    "  token_hash BLOB NOT NULL REFERENCES tokens(hash) ON DELETE CASCADE,"
    "  db TEXT NOT NULL,"
    "  actions INTEGER NOT NULL);"
    "CREATE INDEX token_scopes_by_token ON token_scopes(token_hash);"
    "CREATE TABLE databases("
    "  id TEXT PRIMARY KEY,"
    "  identity TEXT NOT NULL UNIQUE,"
    "  readonly_id TEXT NOT NULL UNIQUE,"
    "  name TEXT NOT NULL UNIQUE,"
    "  path TEXT,"
    "  owner_id INTEGER REFERENCES principals(id) ON DELETE SET NULL,"
    "  public INTEGER NOT NULL DEFAULT 0,"
    "  description TEXT,"
    "  created_ms INTEGER NOT NULL,"
    "  modified_ms INTEGER NOT NULL);"
    "CREATE TABLE db_aliases("
    "  name TEXT PRIMARY KEY,"
    "  db_id TEXT NOT NULL REFERENCES databases(id) ON DELETE CASCADE);",
    /* 2: users' instance grant no longer covers everyone's databases: it
     * becomes the right to create databases ("@" = the instance alone). */
    "UPDATE grants SET db = '@', actions = 4 WHERE db = '*' AND actions = 7"
    " AND principal_id IN (SELECT id FROM principals WHERE kind = 'user' AND is_admin = 0);",
    /* 3: teams (core/team) own databases beside users; API tokens are
     * tokens of a team with a name and an id users can see; a database
     * remembers when its owner last changed. */
    "CREATE TABLE team_members("
    "  team_id INTEGER NOT NULL REFERENCES principals(id) ON DELETE CASCADE,"
    "  user_id INTEGER NOT NULL REFERENCES principals(id) ON DELETE CASCADE,"
    "  roles INTEGER NOT NULL,"
    "  PRIMARY KEY (team_id, user_id));"
    "CREATE INDEX team_members_by_user ON team_members(user_id);"
    "CREATE TABLE api_tokens("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  token_hash BLOB NOT NULL UNIQUE REFERENCES tokens(hash) ON DELETE CASCADE,"
    "  team_id INTEGER NOT NULL REFERENCES principals(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  description TEXT,"
    "  shown TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL);"
    "CREATE INDEX api_tokens_by_team ON api_tokens(team_id);"
    "ALTER TABLE databases ADD COLUMN ownership_ms INTEGER;",
    /* 4: a database's settings (Airsequel's D/settings; schema_locked is
     * enforced by auth_check on every door) and environment variables of
     * databases and of the instance (scope '@'). */
    "ALTER TABLE databases ADD COLUMN schema_locked INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE databases ADD COLUMN auditing INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE databases ADD COLUMN views_tab INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE databases ADD COLUMN environment TEXT;"
    "CREATE TABLE env_vars("
    "  scope TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (scope, name));",
    /* 5: documents a database carries for its clients (core/docs). */
    "CREATE TABLE db_documents("
    "  db_id TEXT NOT NULL REFERENCES databases(id) ON DELETE CASCADE,"
    "  kind TEXT NOT NULL,"
    "  ulid TEXT NOT NULL,"
    "  body TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (db_id, kind, ulid));",
    /* 6: users' e-mail addresses and password reset keys (core/reset). */
    "ALTER TABLE principals ADD COLUMN email TEXT;"
    "CREATE UNIQUE INDEX principals_by_email ON principals(email) WHERE email IS NOT NULL;"
    "CREATE TABLE reset_keys("
    "  hash BLOB PRIMARY KEY,"
    "  user_id INTEGER NOT NULL REFERENCES principals(id) ON DELETE CASCADE,"
    "  expires_ms INTEGER NOT NULL);",
    /* 7: Lua functions, their versions and invocation logs (core/functions). */
    "CREATE TABLE functions("
    "  id TEXT PRIMARY KEY,"
    "  db_id TEXT NOT NULL REFERENCES databases(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  description TEXT,"
    "  created_ms INTEGER NOT NULL);"
    "CREATE INDEX functions_by_db ON functions(db_id);"
    "CREATE TABLE function_versions("
    "  id TEXT PRIMARY KEY,"
    "  function_id TEXT NOT NULL REFERENCES functions(id) ON DELETE CASCADE,"
    "  content TEXT NOT NULL,"
    "  diagnostics TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL);"
    "CREATE INDEX function_versions_by_fn ON function_versions(function_id);"
    "CREATE TABLE function_invocations("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  function_id TEXT NOT NULL REFERENCES functions(id) ON DELETE CASCADE,"
    "  created_ms INTEGER NOT NULL,"
    "  runtime_ms REAL NOT NULL,"
    "  data TEXT,"
    "  logs TEXT NOT NULL);"
    "CREATE INDEX function_invocations_by_fn ON function_invocations(function_id, id);",
    /* 8: the id clients see can be regenerated apart from the engine's key
     * (NULL: the same). */
    "ALTER TABLE databases ADD COLUMN public_id TEXT;"
    "CREATE UNIQUE INDEX databases_by_public_id ON databases(public_id) WHERE public_id IS NOT NULL;",
    /* 9: which doors made and used each database (core/doors), and the
     * queries each user ran on it (core/history) */
    "CREATE TABLE db_doors("
    "  db_id TEXT NOT NULL,"
    "  door TEXT NOT NULL,"
    "  created INTEGER NOT NULL DEFAULT 0,"
    "  last_used_ms INTEGER,"
    "  PRIMARY KEY(db_id, door)) WITHOUT ROWID;"
    "CREATE TABLE query_history("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  db_id TEXT NOT NULL,"
    "  principal_id INTEGER NOT NULL,"
    "  language TEXT NOT NULL,"
    "  text TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL);"
    "CREATE INDEX query_history_by_owner ON query_history(principal_id, db_id, id);",
};

static int migrate(store_db_t *s, err_t *e) {
    store_stmt_t *st;
    if (store_prepare(s, "PRAGMA user_version", &st) < 0) return err_set(e, E_INTERNAL, "%s", store_errmsg(s));
    int64_t v = store_step(st) == STORE_ROW ? store_col_int(st, 0) : 0;
    store_finalize(st);
    int n = (int)(sizeof migrations / sizeof *migrations);
    if (v > n) return err_set(e, E_INTERNAL, "system.db has schema version %lld, newer than this atrium (%d)",
                              (long long)v, n);
    for (int i = (int)v; i < n; i++) {
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version=%d;", i + 1);
        if (store_exec(s, "BEGIN IMMEDIATE;") < 0 || store_exec(s, migrations[i]) < 0 || store_exec(s, pragma) < 0 ||
            store_exec(s, "COMMIT;") < 0) {
            err_set(e, E_INTERNAL, "migrating system.db to version %d: %s", i + 1, store_errmsg(s));
            store_exec(s, "ROLLBACK;");
            return -1;
        }
    }
    return 0;
}

static int mkdir_p(const char *path) {
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0700) < 0 && errno != EEXIST) return -1;
            *p = '/';
        }
    }
    if (mkdir(tmp, 0700) < 0 && errno != EEXIST) return -1;
    return 0;
}

static db_state_closer_fn state_closer;

void catalog_set_state_closer(db_state_closer_fn fn) { state_closer = fn; }

static db_t *db_alloc(void) {
    db_t *d = xcalloc(1, sizeof *d);
    pthread_mutex_init(&d->state_lock, NULL);
    pthread_cond_init(&d->slot_cv, NULL);
    pthread_mutex_init(&d->schema_lock, NULL);
    pthread_mutex_init(&d->schema_build_lock, NULL);
    d->created_door = -1;
    return d;
}

static db_t *db_from_row(store_stmt_t *st) {
    db_t *d = db_alloc();
    snprintf(d->id, sizeof d->id, "%s", store_col_text(st, 0, NULL));
    snprintf(d->identity, sizeof d->identity, "%s", store_col_text(st, 1, NULL));
    d->readonly_id = xstrdup(store_col_text(st, 2, NULL));
    d->name = xstrdup(store_col_text(st, 3, NULL));
    d->in_place = store_col_type(st, 4) != SV_NULL;
    d->path = xstrdup(store_col_text(st, 4, NULL));
    d->owner_id = store_col_int(st, 5);
    d->public = store_col_int(st, 6) != 0;
    d->created_ms = store_col_int(st, 7);
    d->modified_ms = store_col_int(st, 8);
    d->ownership_ms = store_col_type(st, 9) == SV_NULL ? d->created_ms : store_col_int(st, 9);
    d->schema_locked = store_col_int(st, 10) != 0;
    d->public_id = xstrdup(store_col_type(st, 11) == SV_NULL ? d->id : store_col_text(st, 11, NULL));
    d->refs = 1; /* the registry's own reference */
    return d;
}

static void set_managed_path(catalog_t *c, db_t *d) {
    buf_t p = BUF_INIT;
    buf_printf(&p, "%s/dbs/%s.db", c->dir, d->id);
    free(d->path);
    d->path = buf_detach(&p);
}

static void reg_add(catalog_t *c, db_t *d) {
    if (c->ndbs == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->dbs = xrealloc(c->dbs, c->cap * sizeof *c->dbs);
    }
    c->dbs[c->ndbs++] = d;
}

static int load_registry(catalog_t *c, err_t *e) {
    store_stmt_t *st;
    if (store_prepare(c->sys,
                      "SELECT id, identity, readonly_id, name, path, owner_id, public, created_ms, modified_ms,"
                      " ownership_ms, schema_locked, public_id FROM databases ORDER BY name",
                      &st) < 0)
        return err_set(e, E_INTERNAL, "%s", store_errmsg(c->sys));
    while (store_step(st) == STORE_ROW) {
        db_t *d = db_from_row(st);
        if (!d->in_place) set_managed_path(c, d);
        reg_add(c, d);
    }
    store_finalize(st);
    return 0;
}

int catalog_open(const char *data_dir, catalog_t **out, err_t *e) {
    *out = NULL;
    char abs[PATH_MAX];
    buf_t p = BUF_INIT;
    buf_printf(&p, "%s/tmp", data_dir);
    if (mkdir_p(p.data) < 0) {
        err_set(e, E_INTERNAL, "cannot create %s: %s", p.data, strerror(errno));
        buf_free(&p);
        return -1;
    }
    buf_reset(&p);
    buf_printf(&p, "%s/dbs", data_dir);
    if (mkdir_p(p.data) < 0) {
        err_set(e, E_INTERNAL, "cannot create %s: %s", p.data, strerror(errno));
        buf_free(&p);
        return -1;
    }
    if (!realpath(data_dir, abs)) {
        buf_free(&p);
        return err_set(e, E_INTERNAL, "cannot resolve %s: %s", data_dir, strerror(errno));
    }
    catalog_t *c = xcalloc(1, sizeof *c);
    c->dir = xstrdup(abs);
    pthread_mutex_init(&c->lock, NULL);
    pthread_rwlock_init(&c->reg_lock, NULL);
    buf_reset(&p);
    buf_printf(&p, "%s/system.db", abs);
    char msg[256];
    int rc = store_open(p.data, STORE_CREATE | STORE_WAL, &c->sys, msg, sizeof msg);
    if (rc < 0) {
        err_set(e, E_INTERNAL, "cannot open %s: %s", p.data, msg);
        buf_free(&p);
        catalog_close(c);
        return -1;
    }
    buf_free(&p);
    if (migrate(c->sys, e) < 0 || load_registry(c, e) < 0 || doors_load(c, e) < 0) {
        catalog_close(c);
        return -1;
    }
    *out = c;
    return 0;
}

void catalog_close(catalog_t *c) {
    if (!c) return;
    if (c->sys) doors_flush(c);
    for (size_t i = 0; i < c->ndbs; i++) db_release(c->dbs[i]);
    free(c->dbs);
    store_close(c->sys);
    pthread_mutex_destroy(&c->lock);
    pthread_rwlock_destroy(&c->reg_lock);
    free(c->dir);
    free(c);
}

const char *catalog_data_dir(const catalog_t *c) { return c->dir; }

store_db_t *catalog_lock(catalog_t *c) {
    pthread_mutex_lock(&c->lock);
    return c->sys;
}

void catalog_unlock(catalog_t *c) { pthread_mutex_unlock(&c->lock); }

void db_retain(db_t *d) { __atomic_add_fetch(&d->refs, 1, __ATOMIC_RELAXED); }

void db_release(db_t *d) {
    if (!d) return;
    if (__atomic_sub_fetch(&d->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        if (d->state && state_closer) state_closer(d);
        pthread_mutex_destroy(&d->state_lock);
        pthread_cond_destroy(&d->slot_cv);
        schema_forget(d);
        subs_db_free(d);
        module_db_free(d);
        pthread_mutex_destroy(&d->schema_lock);
        pthread_mutex_destroy(&d->schema_build_lock);
        free(d->name);
        for (int k = 0; k < d->nold_names; k++) free(d->old_names[k]);
        free(d->old_names);
        for (int k = 0; k < d->nold_ids; k++) free(d->old_ids[k]);
        free(d->old_ids);
        free(d->public_id);
        free(d->readonly_id);
        free(d->path);
        free(d);
    }
}

db_t *catalog_db_find(catalog_t *c, const char *key, int how) {
    static const int order[] = {DB_BY_NAME, DB_BY_ID, DB_BY_IDENTITY, DB_BY_READONLY, DB_BY_KEY};
    db_t *found = NULL;
    pthread_rwlock_rdlock(&c->reg_lock);
    for (int k = 0; k < 5 && !found; k++) {
        if (!(how & order[k])) continue;
        for (size_t i = 0; i < c->ndbs && !found; i++) {
            db_t *d = c->dbs[i];
            const char *v = order[k] == DB_BY_NAME       ? d->name
                            : order[k] == DB_BY_ID       ? d->public_id
                            : order[k] == DB_BY_IDENTITY ? d->identity
                            : order[k] == DB_BY_READONLY ? d->readonly_id
                                                         : d->id;
            if (strcmp(v, key) == 0) found = d;
        }
    }
    if (found) db_retain(found);
    pthread_rwlock_unlock(&c->reg_lock);
    return found;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp((*(db_t *const *)a)->name, (*(db_t *const *)b)->name);
}

size_t catalog_db_list(catalog_t *c, db_t ***out) {
    pthread_rwlock_rdlock(&c->reg_lock);
    size_t n = c->ndbs;
    db_t **list = xmalloc((n ? n : 1) * sizeof *list);
    for (size_t i = 0; i < n; i++) {
        list[i] = c->dbs[i];
        db_retain(list[i]);
    }
    pthread_rwlock_unlock(&c->reg_lock);
    qsort(list, n, sizeof *list, cmp_name);
    *out = list;
    return n;
}

void catalog_db_list_free(db_t **list, size_t n) {
    for (size_t i = 0; i < n; i++) db_release(list[i]);
    free(list);
}

void identity_derive(const char *sub, char out[IDENTITY_HEX_LEN + 1]) {
    char claims[512];
    int n = snprintf(claims, sizeof claims, "atrium|%s", sub);
    if (n >= (int)sizeof claims) n = (int)sizeof claims - 1;
    uint8_t h[32], cs[32], ident[32];
    crypto_generichash(h, 32, (const uint8_t *)claims, (size_t)n, NULL, 0);
    uint8_t pre[28] = {0xc2, 0x00};
    memcpy(pre + 2, h, 26);
    crypto_generichash(cs, 32, pre, sizeof pre, NULL, 0);
    ident[0] = 0xc2, ident[1] = 0x00;
    memcpy(ident + 2, cs, 4);
    memcpy(ident + 6, h, 26);
    hex_encode(ident, 32, out);
}

static bool name_taken_locked(catalog_t *c, const char *name) {
    for (size_t i = 0; i < c->ndbs; i++)
        if (strcmp(c->dbs[i]->name, name) == 0) return true;
    return false;
}

static int insert_row(catalog_t *c, db_t *d, err_t *e) {
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    int rc = store_cached(s,
                          "INSERT INTO databases(id, identity, readonly_id, name, path, owner_id, public,"
                          " created_ms, modified_ms) VALUES (?,?,?,?,?,?,?,?,?)",
                          &st);
    if (rc == 0) {
        store_bind_text(st, 1, d->id, strlen(d->id));
        store_bind_text(st, 2, d->identity, strlen(d->identity));
        store_bind_text(st, 3, d->readonly_id, strlen(d->readonly_id));
        store_bind_text(st, 4, d->name, strlen(d->name));
        if (d->in_place) store_bind_text(st, 5, d->path, strlen(d->path));
        if (d->owner_id) store_bind_int(st, 6, d->owner_id);
        store_bind_int(st, 7, d->public);
        store_bind_int(st, 8, d->created_ms);
        store_bind_int(st, 9, d->modified_ms);
        rc = store_step(st);
        store_reset(st);
    }
    if (rc < 0) err_set(e, E_INTERNAL, "registering database: %s", store_errmsg(s));
    catalog_unlock(c);
    return rc < 0 ? -1 : 0;
}

static db_t *new_entry(const char *name, int64_t owner_id, bool public) {
    db_t *d = db_alloc();
    ulid_new(d->id);
    char sub[64];
    snprintf(sub, sizeof sub, "database:%s", d->id);
    identity_derive(sub, d->identity);
    d->readonly_id = xmalloc(READONLY_ID_LEN + 1);
    random_base32(d->readonly_id, READONLY_ID_LEN);
    d->public_id = xstrdup(d->id);
    d->name = xstrdup(name);
    d->owner_id = owner_id;
    d->public = public;
    d->created_ms = d->modified_ms = d->ownership_ms = time_now_ms();
    d->refs = 1;
    return d;
}

/* Records d in system.db and the registry, then releases the registry lock
 * (held by the caller). On failure d is freed and, if given, the file at
 * remove_on_failure is removed. */
static int publish_locked(catalog_t *c, db_t *d, const char *remove_on_failure, db_t **out, err_t *e) {
    if (insert_row(c, d, e) < 0) {
        pthread_rwlock_unlock(&c->reg_lock);
        if (remove_on_failure) unlink(remove_on_failure);
        db_release(d);
        return -1;
    }
    reg_add(c, d);
    db_retain(d);
    pthread_rwlock_unlock(&c->reg_lock);
    *out = d;
    return 0;
}

/* A new entry with its managed path, unless the name is taken (E_EXISTS:
 * NULL, the registry unlocked). Takes the registry's write lock. */
static db_t *managed_entry(catalog_t *c, const char *name, int64_t owner_id, bool public, err_t *e) {
    pthread_rwlock_wrlock(&c->reg_lock);
    if (name_taken_locked(c, name)) {
        pthread_rwlock_unlock(&c->reg_lock);
        err_set(e, E_EXISTS, "database '%s' already exists", name);
        return NULL;
    }
    db_t *d = new_entry(name, owner_id, public);
    set_managed_path(c, d);
    return d;
}

int catalog_db_create(catalog_t *c, const char *name, int64_t owner_id, bool public, db_t **out, err_t *e) {
    ASSERT_OFF_LOOP();
    *out = NULL;
    db_t *d = managed_entry(c, name, owner_id, public, e);
    if (!d) return -1;
    /* Create the file first: a registry row must never point at nothing. */
    store_db_t *s;
    char msg[256];
    if (store_open(d->path, STORE_CREATE | STORE_WAL, &s, msg, sizeof msg) < 0) {
        pthread_rwlock_unlock(&c->reg_lock);
        err_set(e, E_INTERNAL, "creating %s: %s", d->path, msg);
        db_release(d);
        return -1;
    }
    store_close(s);
    return publish_locked(c, d, d->path, out, e);
}

/* Only a regular file that is empty or starts with SQLite's header is
 * served: a directory, a FIFO, a device or a text file is refused before
 * SQLite opens it (and creates a journal beside it). */
static int check_sqlite_file(const char *abs, const char *shown, err_t *e) {
    struct stat st;
    if (stat(abs, &st) < 0) return err_set(e, E_NOT_FOUND, "%s: %s", shown, strerror(errno));
    if (!S_ISREG(st.st_mode)) return err_set(e, E_BAD_INPUT, "%s is not a regular file (give a SQLite database file)", shown);
    if (st.st_size == 0) return 0;
    static const char magic[16] = "SQLite format 3";
    char head[16] = {0};
    int fd = open(abs, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    ssize_t n = fd < 0 ? -1 : read(fd, head, sizeof head);
    if (fd >= 0) close(fd);
    if (n < 0) return err_set(e, E_BAD_INPUT, "%s: %s", shown, strerror(errno));
    if (n != (ssize_t)sizeof head || memcmp(head, magic, sizeof magic) != 0)
        return err_set(e, E_BAD_INPUT, "%s is not a SQLite database", shown);
    return 0;
}

bool catalog_exists(const char *data_dir) {
    buf_t p = BUF_INIT;
    buf_printf(&p, "%s/system.db", data_dir);
    struct stat st;
    bool ok = stat(p.data, &st) == 0 && S_ISREG(st.st_mode);
    buf_free(&p);
    return ok;
}

int catalog_claim_dir(const catalog_t *c, err_t *e) {
    buf_t p = BUF_INIT;
    buf_printf(&p, "%s/atrium.lock", c->dir);
    int fd = open(p.data, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        err_set(e, E_INTERNAL, "cannot open %s: %s", p.data, strerror(errno));
        buf_free(&p);
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int busy = errno == EWOULDBLOCK;
        err_set(e, E_IN_USE, busy ? "data directory %s is in use by another atrium server" : "cannot lock %s: %s",
                c->dir, strerror(errno));
        close(fd);
        buf_free(&p);
        return -1;
    }
    buf_free(&p);
    /* fd stays open (and locked) until the process exits. The server owns
     * the directory now: scratch files a crash left behind go. */
    buf_t tmp = BUF_INIT;
    buf_printf(&tmp, "%s/tmp", c->dir);
    DIR *dir = opendir(tmp.data);
    for (struct dirent *de; dir && (de = readdir(dir));) {
        if (de->d_name[0] == '.') continue;
        buf_t f = BUF_INIT;
        buf_printf(&f, "%s/%s", tmp.data, de->d_name);
        unlink(f.data);
        buf_free(&f);
    }
    if (dir) closedir(dir);
    buf_free(&tmp);
    return 0;
}

void catalog_tmp_path(const catalog_t *c, buf_t *out) {
    char id[ULID_LEN + 1];
    ulid_new(id);
    buf_printf(out, "%s/tmp/%s", c->dir, id);
}

int catalog_db_adopt(catalog_t *c, const char *name, int64_t owner_id, bool public, const char *from, db_t **out,
                     err_t *e) {
    ASSERT_OFF_LOOP();
    *out = NULL;
    db_t *d = managed_entry(c, name, owner_id, public, e);
    if (!d) return -1;
    if (rename(from, d->path) < 0) {
        pthread_rwlock_unlock(&c->reg_lock);
        err_set(e, E_INTERNAL, "moving %s into place: %s", from, strerror(errno));
        db_release(d);
        return -1;
    }
    return publish_locked(c, d, d->path, out, e);
}

int catalog_db_register_file(catalog_t *c, const char *path, bool public, db_t **out, err_t *e) {
    *out = NULL;
    char abs[PATH_MAX];
    if (!realpath(path, abs)) return err_set(e, E_NOT_FOUND, "%s: %s", path, strerror(errno));
    if (check_sqlite_file(abs, path, e) < 0) return -1;
    pthread_rwlock_wrlock(&c->reg_lock);
    for (size_t i = 0; i < c->ndbs; i++) {
        if (c->dbs[i]->in_place && strcmp(c->dbs[i]->path, abs) == 0) {
            *out = c->dbs[i];
            db_retain(*out);
            pthread_rwlock_unlock(&c->reg_lock);
            return 0;
        }
    }
    /* Name from the file stem, sanitised, then made unique with _2, _3, … */
    const char *base = strrchr(abs, '/') ? strrchr(abs, '/') + 1 : abs;
    char stem[PATH_MAX];
    snprintf(stem, sizeof stem, "%s", base);
    char *dot = strrchr(stem, '.');
    if (dot && dot != stem) *dot = 0;
    buf_t name = BUF_INIT;
    name_sanitize(stem, &name);
    size_t baselen = name.len;
    for (int k = 2; name_taken_locked(c, name.data); k++) {
        name.len = baselen;
        buf_printf(&name, "_%d", k);
    }
    db_t *d = new_entry(name.data, 0, public);
    buf_free(&name);
    d->in_place = true;
    d->path = xstrdup(abs);
    return publish_locked(c, d, NULL, out, e);
}

int catalog_db_rename(catalog_t *c, db_t *d, const char *name, db_t **holder, err_t *e) {
    ASSERT_OFF_LOOP();
    if (holder) *holder = NULL;
    pthread_rwlock_wrlock(&c->reg_lock);
    if (strcmp(d->name, name) == 0) {
        pthread_rwlock_unlock(&c->reg_lock);
        return 0;
    }
    for (size_t i = 0; i < c->ndbs; i++) {
        if (strcmp(c->dbs[i]->name, name) != 0) continue;
        if (holder) {
            *holder = c->dbs[i];
            db_retain(*holder);
        }
        pthread_rwlock_unlock(&c->reg_lock);
        return err_set(e, E_EXISTS, "database '%s' already exists", name);
    }
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    int rc = store_cached(s, "UPDATE databases SET name = ?, modified_ms = ? WHERE id = ?", &st);
    if (rc == 0) {
        store_bind_text(st, 1, name, strlen(name));
        store_bind_int(st, 2, time_now_ms());
        store_bind_text(st, 3, d->id, strlen(d->id));
        rc = store_step(st);
        store_reset(st);
    }
    if (rc < 0) err_set(e, E_INTERNAL, "renaming database: %s", store_errmsg(s));
    catalog_unlock(c);
    if (rc == 0) {
        d->old_names = xrealloc(d->old_names, (size_t)(d->nold_names + 1) * sizeof *d->old_names);
        d->old_names[d->nold_names++] = d->name;
        __atomic_store_n(&d->name, xstrdup(name), __ATOMIC_RELEASE);
    }
    pthread_rwlock_unlock(&c->reg_lock);
    return rc < 0 ? -1 : 0;
}

/* Swaps one of d's client-facing ids (registry write lock held). */
static void swap_id(db_t *d, char **slot, char *fresh) {
    d->old_ids = xrealloc(d->old_ids, (size_t)(d->nold_ids + 1) * sizeof *d->old_ids);
    d->old_ids[d->nold_ids++] = *slot;
    __atomic_store_n(slot, fresh, __ATOMIC_RELEASE);
}

int catalog_db_regenerate(catalog_t *c, db_t *d, bool public_id, bool readonly_id, err_t *e) {
    ASSERT_OFF_LOOP();
    char *pid = NULL, *rid = NULL;
    if (public_id) {
        pid = xmalloc(ULID_LEN + 1);
        ulid_new(pid);
    }
    if (readonly_id) {
        rid = xmalloc(READONLY_ID_LEN + 1);
        random_base32(rid, READONLY_ID_LEN);
    }
    pthread_rwlock_wrlock(&c->reg_lock);
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    int rc = store_cached(s, "UPDATE databases SET public_id = coalesce(?, public_id),"
                             " readonly_id = coalesce(?, readonly_id), modified_ms = ? WHERE id = ?", &st);
    if (rc == 0) {
        if (pid) store_bind_text(st, 1, pid, strlen(pid));
        else store_bind_null(st, 1);
        if (rid) store_bind_text(st, 2, rid, strlen(rid));
        else store_bind_null(st, 2);
        store_bind_int(st, 3, time_now_ms());
        store_bind_text(st, 4, d->id, strlen(d->id));
        rc = store_step(st);
        store_reset(st);
    }
    if (rc < 0) err_set(e, E_INTERNAL, "regenerating ids: %s", store_errmsg(s));
    catalog_unlock(c);
    if (rc >= 0) {
        if (pid) swap_id(d, &d->public_id, pid);
        if (rid) swap_id(d, &d->readonly_id, rid);
    } else {
        free(pid);
        free(rid);
    }
    pthread_rwlock_unlock(&c->reg_lock);
    return rc < 0 ? -1 : 0;
}

int catalog_db_set_owner(catalog_t *c, db_t *d, int64_t owner_id, err_t *e) {
    ASSERT_OFF_LOOP();
    pthread_rwlock_wrlock(&c->reg_lock);
    int64_t now = time_now_ms();
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    int rc = store_cached(s, "UPDATE databases SET owner_id = ?, ownership_ms = ?, modified_ms = ? WHERE id = ?", &st);
    if (rc == 0) {
        store_bind_int(st, 1, owner_id);
        store_bind_int(st, 2, now);
        store_bind_int(st, 3, now);
        store_bind_text(st, 4, d->id, strlen(d->id));
        rc = store_step(st);
        store_reset(st);
    }
    if (rc < 0) err_set(e, E_INTERNAL, "changing owner: %s", store_errmsg(s));
    catalog_unlock(c);
    if (rc >= 0) {
        __atomic_store_n(&d->ownership_ms, now, __ATOMIC_RELEASE);
        __atomic_store_n(&d->owner_id, owner_id, __ATOMIC_RELEASE);
    }
    pthread_rwlock_unlock(&c->reg_lock);
    return rc < 0 ? -1 : 0;
}

int catalog_db_delete(catalog_t *c, db_t *d, err_t *e) {
    ASSERT_OFF_LOOP();
    pthread_rwlock_wrlock(&c->reg_lock);
    size_t i;
    for (i = 0; i < c->ndbs && c->dbs[i] != d; i++) {
    }
    if (i == c->ndbs) {
        pthread_rwlock_unlock(&c->reg_lock);
        return err_set(e, E_NOT_FOUND, "Database '%s' not found.", d->name);
    }
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    int rc = store_cached(s, "DELETE FROM databases WHERE id = ?", &st);
    if (rc == 0) {
        store_bind_text(st, 1, d->id, strlen(d->id));
        rc = store_step(st);
        store_reset(st);
    }
    /* its environment variables (core/env), doors and history go with it */
    static const char *const owned[] = {"DELETE FROM db_doors WHERE db_id = ?",
                                        "DELETE FROM query_history WHERE db_id = ?"};
    for (size_t k = 0; rc >= 0 && k < sizeof owned / sizeof *owned; k++) {
        if ((rc = store_cached(s, owned[k], &st)) == 0) {
            store_bind_text(st, 1, d->id, strlen(d->id));
            rc = store_step(st);
            store_reset(st);
        }
    }
    if (rc >= 0 && (rc = store_cached(s, "DELETE FROM env_vars WHERE scope = ?", &st)) == 0) {
        store_bind_text(st, 1, d->id, strlen(d->id));
        rc = store_step(st);
        store_reset(st);
    }
    if (rc < 0) err_set(e, E_INTERNAL, "unregistering database: %s", store_errmsg(s));
    catalog_unlock(c);
    if (rc < 0) {
        pthread_rwlock_unlock(&c->reg_lock);
        return -1;
    }
    memmove(c->dbs + i, c->dbs + i + 1, (c->ndbs - i - 1) * sizeof *c->dbs);
    c->ndbs--;
    __atomic_store_n(&d->deleted, true, __ATOMIC_RELEASE); /* loops read it without a lock (log streams) */
    pthread_rwlock_unlock(&c->reg_lock);
    /* Stop its writer and readers before the files go. */
    if (state_closer) state_closer(d);
    if (!d->in_place) {
        static const char *suffix[] = {"", "-wal", "-shm", "-journal"};
        for (int k = 0; k < 4; k++) {
            buf_t p = BUF_INIT;
            buf_printf(&p, "%s%s", d->path, suffix[k]);
            unlink(p.data);
            buf_free(&p);
        }
    }
    db_release(d); /* the registry's reference */
    return 0;
}

int catalog_db_settings(catalog_t *c, const db_t *d, db_settings_t *out) {
    memset(out, 0, sizeof *out);
    out->public = db_public(d);
    out->schema_locked = db_schema_locked(d);
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    int rc = -1;
    if (store_cached(s, "SELECT auditing, views_tab, environment FROM databases WHERE id = ?", &st) == 0) {
        store_bind_text(st, 1, d->id, strlen(d->id));
        if (store_step(st) == STORE_ROW) {
            out->auditing = store_col_int(st, 0) != 0;
            out->views_tab = store_col_int(st, 1) != 0;
            if (store_col_type(st, 2) != SV_NULL)
                snprintf(out->environment, sizeof out->environment, "%s", store_col_text(st, 2, NULL));
            out->has_environment = store_col_type(st, 2) != SV_NULL;
            rc = 0;
        }
        store_reset(st);
    }
    catalog_unlock(c);
    return rc;
}

int catalog_db_set_settings(catalog_t *c, db_t *d, const db_settings_t *v, err_t *e) {
    ASSERT_OFF_LOOP();
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    int rc = store_cached(s, "UPDATE databases SET auditing = ?, views_tab = ?, environment = ?, schema_locked = ?,"
                             " public = ?, modified_ms = ? WHERE id = ?", &st);
    if (rc == 0) {
        store_bind_int(st, 1, v->auditing);
        store_bind_int(st, 2, v->views_tab);
        if (v->has_environment) store_bind_text(st, 3, v->environment, strlen(v->environment));
        else store_bind_null(st, 3);
        store_bind_int(st, 4, v->schema_locked);
        store_bind_int(st, 5, v->public);
        store_bind_int(st, 6, time_now_ms());
        store_bind_text(st, 7, d->id, strlen(d->id));
        rc = store_step(st);
        store_reset(st);
    }
    if (rc < 0) err_set(e, E_INTERNAL, "changing settings: %s", store_errmsg(s));
    catalog_unlock(c);
    if (rc < 0) return -1;
    __atomic_store_n(&d->schema_locked, v->schema_locked, __ATOMIC_RELEASE);
    __atomic_store_n(&d->public, v->public, __ATOMIC_RELEASE);
    return 0;
}

char *catalog_db_description(catalog_t *c, const db_t *d) {
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    char *v = NULL;
    if (store_cached(s, "SELECT description FROM databases WHERE id = ? AND description IS NOT NULL", &st) == 0) {
        store_bind_text(st, 1, d->id, strlen(d->id));
        if (store_step(st) == STORE_ROW) v = xstrdup(store_col_text(st, 0, NULL));
        store_reset(st);
    }
    catalog_unlock(c);
    return v;
}

int catalog_db_set_description(catalog_t *c, const db_t *d, const char *text, err_t *e) {
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    int rc = store_cached(s, "UPDATE databases SET description = ?, modified_ms = ? WHERE id = ?", &st);
    if (rc == 0) {
        if (text) store_bind_text(st, 1, text, strlen(text));
        else store_bind_null(st, 1);
        store_bind_int(st, 2, time_now_ms());
        store_bind_text(st, 3, d->id, strlen(d->id));
        rc = store_step(st);
        store_reset(st);
    }
    if (rc < 0) err_set(e, E_INTERNAL, "describing database: %s", store_errmsg(s));
    catalog_unlock(c);
    return rc < 0 ? -1 : 0;
}

char *catalog_setting_get(catalog_t *c, const char *key) {
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    char *v = NULL;
    if (store_cached(s, "SELECT value FROM settings WHERE key = ?", &st) == 0) {
        store_bind_text(st, 1, key, strlen(key));
        if (store_step(st) == STORE_ROW) v = xstrdup(store_col_text(st, 0, NULL));
        store_reset(st);
    }
    catalog_unlock(c);
    return v;
}

int catalog_setting_set(catalog_t *c, const char *key, const char *value) {
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    int rc = store_cached(s, "INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)", &st);
    if (rc == 0) {
        store_bind_text(st, 1, key, strlen(key));
        store_bind_text(st, 2, value, strlen(value));
        rc = store_step(st);
        store_reset(st);
    }
    catalog_unlock(c);
    return rc < 0 ? -1 : 0;
}
