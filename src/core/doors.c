/* doors: which doors made and used each database (see doors.h). */
#include "core/doors.h"

#include <string.h>

#include "util/thread.h"
#include "util/timeutil.h"

static const char *const names[DOOR_N] = {"typedb", "spacetimedb", "datasette", "airsequel"};

int door_index(const char *name) {
    for (int i = 0; name && i < DOOR_N; i++)
        if (strcmp(name, names[i]) == 0) return i;
    return -1;
}

const char *door_name(int door) { return door >= 0 && door < DOOR_N ? names[door] : NULL; }

void doors_note_use(db_t *d, const char *door) {
    int i = door_index(door);
    if (!d || i < 0) return;
    int64_t now = time_now_ms();
    /* one store a second at most: readers on many threads share the line */
    if (now - __atomic_load_n(&d->door_used_ms[i], __ATOMIC_RELAXED) >= 1000)
        __atomic_store_n(&d->door_used_ms[i], now, __ATOMIC_RELAXED);
}

/* Upserts one (db, door) row; with the catalog lock held. */
static int save_locked(store_db_t *s, const db_t *d, int door, bool created, int64_t used_ms) {
    store_stmt_t *st;
    int rc = store_cached(s,
                          "INSERT INTO db_doors(db_id, door, created, last_used_ms) VALUES (?1, ?2, ?3, ?4)"
                          " ON CONFLICT(db_id, door) DO UPDATE SET created = max(created, ?3),"
                          " last_used_ms = coalesce(max(last_used_ms, ?4), ?4, last_used_ms)",
                          &st);
    if (rc < 0) return -1;
    store_bind_text(st, 1, d->id, strlen(d->id));
    store_bind_text(st, 2, names[door], strlen(names[door]));
    store_bind_int(st, 3, created);
    if (used_ms) store_bind_int(st, 4, used_ms);
    rc = store_step(st);
    store_reset(st);
    return rc < 0 ? -1 : 0;
}

int doors_note_created(catalog_t *c, db_t *d, const char *door, err_t *e) {
    ASSERT_OFF_LOOP();
    int i = door_index(door);
    if (i < 0) return 0;
    d->created_door = i; /* before anyone else sees d (it is new) */
    doors_note_use(d, door);
    int64_t used = __atomic_load_n(&d->door_used_ms[i], __ATOMIC_RELAXED);
    store_db_t *s = catalog_lock(c);
    int rc = save_locked(s, d, i, true, used);
    if (rc == 0) d->door_saved_ms[i] = used;
    else err_set(e, E_INTERNAL, "recording the door: %s", store_errmsg(s));
    catalog_unlock(c);
    return rc;
}

int doors_load(catalog_t *c, err_t *e) {
    db_t **list;
    size_t n = catalog_db_list(c, &list);
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    int rc = store_prepare(s, "SELECT door, created, last_used_ms FROM db_doors WHERE db_id = ?", &st);
    for (size_t k = 0; rc == 0 && k < n; k++) {
        db_t *d = list[k];
        store_bind_text(st, 1, d->id, strlen(d->id));
        while (store_step(st) == STORE_ROW) {
            int i = door_index(store_col_text(st, 0, NULL));
            if (i < 0) continue;
            if (store_col_int(st, 1)) d->created_door = i;
            d->door_used_ms[i] = d->door_saved_ms[i] = store_col_int(st, 2);
        }
        store_reset(st);
    }
    if (rc < 0) err_set(e, E_INTERNAL, "reading db_doors: %s", store_errmsg(s));
    else store_finalize(st);
    catalog_unlock(c);
    catalog_db_list_free(list, n);
    return rc;
}

void doors_flush(catalog_t *c) {
    ASSERT_OFF_LOOP();
    db_t **list;
    size_t n = catalog_db_list(c, &list);
    store_db_t *s = catalog_lock(c);
    bool began = false;
    for (size_t k = 0; k < n; k++) {
        db_t *d = list[k];
        for (int i = 0; i < DOOR_N; i++) {
            int64_t used = __atomic_load_n(&d->door_used_ms[i], __ATOMIC_RELAXED);
            if (used == d->door_saved_ms[i]) continue;
            if (!began) began = store_exec(s, "BEGIN IMMEDIATE;") == 0;
            if (save_locked(s, d, i, false, used) == 0) d->door_saved_ms[i] = used;
        }
    }
    if (began) store_exec(s, "COMMIT;");
    catalog_unlock(c);
    catalog_db_list_free(list, n);
}
