/* module: a database's Lua module (spec/spacetimedb.md §2-3). Its source
 * is kept in the database file itself (table _atrium_module, hidden from
 * every door and refused to user SQL), so publishing is one write job:
 * tables, source and init commit together or not at all. On top:
 * - the definition, shared by any thread (ref-counted, rebuilt after a
 *   publish);
 * - the live runtime, used only on the database's writer thread, inside
 *   write jobs;
 * - the module's log: the last MODULE_LOG_LINES lines, with followers.
 *
 * Threads: module_publish/call/lifecycle run inside write jobs (writer
 * thread). module_def_acquire blocks (reads the file): off the loop.
 * module_log* from any thread. */
#ifndef ATRIUM_CORE_MODULE_H
#define ATRIUM_CORE_MODULE_H
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/catalog.h"
#include "core/err.h"
#include "core/lua.h"
#include "store/store.h"
#include "util/buf.h"

#define MODULE_LOG_LINES 10000

/* Publishes src on the writer connection c. created: the database is new
 * (tables are created and init runs); clear: drop everything first, then
 * as created. Otherwise the tables are migrated (§3.6). On error nothing
 * is changed (the job rolls back) and e says why in the spec's words. */
int module_publish(db_t *d, store_db_t *c, const char *src, size_t n, bool created, bool clear, err_t *e);
/* Runs a reducer inside the caller's write job (see lrt_call). No module:
 * E_NOT_FOUND. */
int module_call(db_t *d, store_db_t *c, const char *reducer, const json_t *args, const lcall_t *who, err_t *e);
int module_lifecycle(db_t *d, store_db_t *c, int which, const lcall_t *who, err_t *e);
/* Whether the writer's view of the module (inside a job) has that hook. */
bool module_has_lifecycle(db_t *d, store_db_t *c, int which);

/* The module's definition (retained; NULL if the database has none). c:
 * any connection of the database, to read the source on first need. */
const mdef_t *module_def_acquire(db_t *d, store_db_t *c);
void module_def_release(db_t *d, const mdef_t *def);
/* The definition if it is at hand (retained), without reading anything:
 * NULL if there is no module or it was not read since the last publish.
 * Never blocks (short lock); for threads that must not read the file. */
const mdef_t *module_def_peek(db_t *d);

/* Forgets the cached definition and runtime: after a publish committed
 * (or failed), so the next use reads what the file holds. Any thread. */
void module_invalidate(db_t *d);

/* Appends a log line (level "Info", "Error", …). */
void module_log(db_t *d, const char *level, int line, const char *function, const char *msg);
/* The last num (0: all) lines as NDJSON; returns the sequence number to
 * follow from. */
uint64_t module_logs(db_t *d, size_t num, buf_t *out);
/* Lines after seq as NDJSON; the new last sequence number. */
uint64_t module_logs_since(db_t *d, uint64_t seq, buf_t *out);

/* With the db_t itself (core/catalog). */
void module_db_free(db_t *d);

#endif
