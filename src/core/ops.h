/* ops: long operations (uploads, imports, VACUUM, copies and downloads)
 * and their progress, in the spirit of PostgreSQL's pg_stat_progress_*
 * views: each running one has a kind, the database it concerns, a phase
 * and done/total in a unit ("pages", "bytes", "rows"), so a client can draw
 * a bar and an ETA, and ask for it to stop.
 *
 * Any thread may begin, update and end an operation (updates are atomic
 * stores; the registry's lock is held only to add, list, cancel or retire
 * one). The thread doing the work owns its op_t until op_end; after that
 * the registry keeps a summary of the last OPS_KEEP_ENDED operations. */
#ifndef ATRIUM_CORE_OPS_H
#define ATRIUM_CORE_OPS_H
#include <stdbool.h>
#include <stdint.h>

#include "core/auth.h"
#include "util/buf.h"

#define OPS_KEEP_ENDED 32

typedef struct op op_t;

/* kind: a string literal ("upload", "import", "vacuum", "download",
 * "duplicate", "replace", "export"); db_id: the engine's key of the database it
 * concerns ("" if none yet), db_name its name then; principal: who started
 * it (0: the server). cancellable: whether op_cancelled is polled. */
op_t *op_begin(const char *kind, const char *db_id, const char *db_name, int64_t principal, bool cancellable);
/* Names the database it concerns, once known (an upload's). */
void op_rename(op_t *o, const char *db_name);
/* A new phase (a string literal), with its total (0: unknown) and unit;
 * done starts again from 0. */
void op_phase(op_t *o, const char *phase, uint64_t total, const char *unit);
void op_progress(op_t *o, uint64_t done, uint64_t total);
/* Has someone asked it to stop? (Only polled by cancellable ones.) */
bool op_cancelled(const op_t *o);
/* Ends it: rc 0 done, else failed (or cancelled, if it was asked) with
 * error's text. o is the registry's afterwards. NULL o: nothing. */
void op_end(op_t *o, int rc, const char *error);

/* For the operations' door. Who may see an operation: the admin, the
 * principal who started it, or anyone who may read its database (asked of
 * can_see with the database's key). */
typedef bool (*op_visible_fn)(void *ctx, const actor_t *a, const char *db_id);
/* Appends the JSON array of the operations a may see, newest first. */
void op_list_json(buf_t *out, const actor_t *a, op_visible_fn can_see, void *ctx);
/* Asks operation id to stop: 0, -1 if a may not see it or it does not
 * exist, -2 if it has ended or cannot be cancelled. Only its starter or the
 * admin may cancel; others who see it get -3. */
int op_cancel(uint64_t id, const actor_t *a, op_visible_fn can_see, void *ctx);

/* The backup-API copy's progress callback (store_progress_fn) for op o. */
bool op_pages(void *o, uint64_t done, uint64_t total);

#endif
