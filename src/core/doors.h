/* doors: which of the four doors (the dialects: typedb, spacetimedb,
 * datasette, airsequel) made each database and when each last read or
 * wrote it — "a database made through one door is used through all four",
 * shown to its users. A fact of the engine, kept in system.db (db_doors).
 * Threads: doors_note_use may run on any thread, the event loop included
 * (a relaxed atomic store, at most once a second per door and database);
 * the rest take the catalog lock: off the loop. */
#ifndef ATRIUM_CORE_DOORS_H
#define ATRIUM_CORE_DOORS_H
#include "core/catalog.h"

/* DOOR_* of a dialect's name, or -1. */
int door_index(const char *name);
const char *door_name(int door);

/* door (a dialect name; others are ignored) read or wrote d just now. */
void doors_note_use(db_t *d, const char *door);
/* door made d: stored at once. */
int doors_note_created(catalog_t *c, db_t *d, const char *door, err_t *e);
/* Loads what system.db holds into the registry's databases (catalog_open). */
int doors_load(catalog_t *c, err_t *e);
/* Writes the last-use times that moved since the last flush. */
void doors_flush(catalog_t *c);

#endif
