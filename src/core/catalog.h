/* catalog: DATA/system.db, the engine's own database, and the in-memory
 * registry of hosted databases built from it.
 * Invariants: every db_t in the registry has a row in `databases`; lookups
 * return a counted reference (release with db_release) so a database deleted
 * while a request uses it stays valid until that request ends. system.db is
 * one connection guarded by catalog_lock(); the registry has its own rwlock. */
#ifndef ATRIUM_CORE_CATALOG_H
#define ATRIUM_CORE_CATALOG_H
#include <stdbool.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>

#include "core/err.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/ids.h"

#define IDENTITY_HEX_LEN 64
#define READONLY_ID_LEN 13

typedef struct catalog catalog_t;

/* The doors a database is reached through (core/doors names them). */
enum { DOOR_TYPEDB, DOOR_SPACETIMEDB, DOOR_DATASETTE, DOOR_AIRSEQUEL, DOOR_N };

typedef struct db {
    /* the key everything in the engine files by (grants, token scopes, the
     * file's name): never changes */
    char id[ULID_LEN + 1];
    char identity[IDENTITY_HEX_LEN + 1];
    /* the ids clients hold (Airsequel's dbId and readonly id): regenerated
     * on request, so read them with db_public_id / db_readonly_id */
    char *public_id;
    char *readonly_id;
    char **old_ids; /* retired ones, kept until the db_t goes (readers may hold them) */
    int nold_ids;
    char *name;
    char *path;   /* absolute path of the SQLite file */
    bool in_place; /* served from a user's file: never deleted from disk */
    bool public;   /* anonymous actors may read (changes: read with db_public) */
    bool schema_locked; /* no schema changes on any door (read with db_schema_locked) */
    int64_t owner_id; /* a user or team principal; changes: load atomically */
    int64_t created_ms, modified_ms;
    int64_t ownership_ms; /* when owner_id last changed (atomic) */
    int refs; /* atomic */
    bool deleted;
    /* The engine's live state for this database (connections, writer),
     * owned by core/dbh; guarded by state_lock. */
    void *state;
    pthread_mutex_t state_lock;
    /* Statements running on the thread pool now (core/dbh's slots); waiters
     * sleep on slot_cv. Guarded by state_lock. */
    int running;
    pthread_cond_t slot_cv;
    /* The shared schema snapshot (core/schema): the pointer is guarded by
     * schema_lock (held only to read or swap it); builds take
     * schema_build_lock, one at a time. */
    void *schema;
    pthread_mutex_t schema_lock, schema_build_lock;
    /* Live subscriptions (core/subs) and the Lua module (core/module),
     * each created on first use. */
    void *subs;
    void *module;
    /* batches the writer committed (atomic; core/writer bumps it before
     * acknowledging them): what caches of read answers key on */
    uint64_t version;
    uint64_t checkpoints; /* WAL checkpoints its writer ran (atomic) */
    /* names it had before a rename, kept until the db_t goes (readers may
     * still hold the old pointer) */
    char **old_names;
    int nold_names;
    /* Which doors made it and last used it (core/doors): created_door is
     * -1 when unknown (a file served in place); door_used_ms[i] is atomic,
     * door_saved_ms[i] what system.db holds (under the catalog lock). */
    int created_door;
    int64_t door_used_ms[DOOR_N];
    int64_t door_saved_ms[DOOR_N];
} db_t;

/* d's owner now (0: none): a user or a team principal. Any thread. */
static inline int64_t db_owner(const db_t *d) { return __atomic_load_n(&d->owner_id, __ATOMIC_ACQUIRE); }

static inline const char *db_public_id(const db_t *d) { return __atomic_load_n(&d->public_id, __ATOMIC_ACQUIRE); }
static inline const char *db_readonly_id(const db_t *d) { return __atomic_load_n(&d->readonly_id, __ATOMIC_ACQUIRE); }
static inline bool db_public(const db_t *d) { return __atomic_load_n(&d->public, __ATOMIC_ACQUIRE); }
static inline bool db_schema_locked(const db_t *d) { return __atomic_load_n(&d->schema_locked, __ATOMIC_ACQUIRE); }

/* Closes a database's live state; called when it is deleted or freed. */
typedef void (*db_state_closer_fn)(db_t *d);
void catalog_set_state_closer(db_state_closer_fn fn);

/* DB_BY_ID: the id clients see (db_public_id); DB_BY_KEY: the engine's own. */
enum { DB_BY_NAME = 1, DB_BY_ID = 2, DB_BY_IDENTITY = 4, DB_BY_READONLY = 8, DB_BY_KEY = 16 };

/* An identity: BLAKE2b over the claims "atrium|<sub>", laid out as
 * spec/spacetimedb.md §1 says (c2 00, checksum, hash), as 64 hex digits. */
void identity_derive(const char *sub, char out[IDENTITY_HEX_LEN + 1]);

int catalog_open(const char *data_dir, catalog_t **out, err_t *e);
/* True if data_dir already holds a catalog (nothing is created). */
bool catalog_exists(const char *data_dir);
/* Locks the data directory for this process (DIR/atrium.lock, flock): a
 * second server on the same directory gets E_IN_USE. Held until exit. */
int catalog_claim_dir(const catalog_t *c, err_t *e);
void catalog_close(catalog_t *c);
const char *catalog_data_dir(const catalog_t *c);

/* Finds a database by the first of the `how` keys that matches, in the
 * order name, id, identity, readonly id. Returns a reference or NULL. */
db_t *catalog_db_find(catalog_t *c, const char *key, int how);
void db_retain(db_t *d);
void db_release(db_t *d);
/* A sorted (by name) snapshot of all databases, each retained. */
size_t catalog_db_list(catalog_t *c, db_t ***out);
void catalog_db_list_free(db_t **list, size_t n);

/* Creates DATA/dbs/<id>.db and registers it. The name must already pass
 * name_check_db. E_EXISTS if the name is taken. */
int catalog_db_create(catalog_t *c, const char *name, int64_t owner_id, bool public, db_t **out, err_t *e);
/* Serves an existing SQLite file in place under a name derived from its stem
 * (sanitised, made unique); re-registering the same path reuses the entry. */
int catalog_db_register_file(catalog_t *c, const char *path, bool public, db_t **out, err_t *e);
/* Unregisters; a managed database's files are removed, an in-place one's kept. */
int catalog_db_delete(catalog_t *c, db_t *d, err_t *e);
/* A database's settings (Airsequel's D/settings): visibility and the schema
 * lock are also in db_t, which the setter updates. Off the loop. */
typedef struct {
    bool public, schema_locked, auditing, views_tab;
    bool has_environment;
    char environment[256];
} db_settings_t;
int catalog_db_settings(catalog_t *c, const db_t *d, db_settings_t *out);
int catalog_db_set_settings(catalog_t *c, db_t *d, const db_settings_t *v, err_t *e);
/* d's description (malloc'd) or NULL; setting NULL clears it. Off the loop. */
char *catalog_db_description(catalog_t *c, const db_t *d);
int catalog_db_set_description(catalog_t *c, const db_t *d, const char *text, err_t *e);
/* A fresh scratch file name under DATA/tmp (same filesystem as the
 * databases, emptied when a server claims the directory). */
void catalog_tmp_path(const catalog_t *c, buf_t *out);
/* catalog_db_create for content that exists: the SQLite file at `from`
 * (a scratch file) is moved in as the new database. Off the loop. */
int catalog_db_adopt(catalog_t *c, const char *name, int64_t owner_id, bool public, const char *from, db_t **out,
                     err_t *e);
/* New client-facing ids for d (Airsequel's regenerate routes): the old
 * ones stop resolving at once. Off the loop. */
int catalog_db_regenerate(catalog_t *c, db_t *d, bool public_id, bool readonly_id, err_t *e);
/* Hands d to another owner (a user or a team principal). Off the loop. */
int catalog_db_set_owner(catalog_t *c, db_t *d, int64_t owner_id, err_t *e);
/* Renames d. If another database holds the name: E_EXISTS, and *holder
 * (when given) gets a reference to it (nothing changed). */
int catalog_db_rename(catalog_t *c, db_t *d, const char *name, db_t **holder, err_t *e);

/* Instance settings (key/value text). */
char *catalog_setting_get(catalog_t *c, const char *key);
int catalog_setting_set(catalog_t *c, const char *key, const char *value);

/* For core modules that own tables in system.db (auth): exclusive use of
 * the connection between lock and unlock. */
store_db_t *catalog_lock(catalog_t *c);
void catalog_unlock(catalog_t *c);

#endif
