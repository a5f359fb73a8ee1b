/* database: operations on one hosted database's contents that do not depend
 * on any dialect. Connections are opened per call for now; the engine issue
 * replaces that with per-database read pools and a writer. */
#ifndef ATRIUM_CORE_DATABASE_H
#define ATRIUM_CORE_DATABASE_H
#include <stdbool.h>
#include <stdint.h>

#include "core/catalog.h"
#include "core/err.h"
#include "util/buf.h"

/* The DDL script of the database (see store_schema_text). */
int database_schema_text(const db_t *d, bool tables_only, buf_t *out, err_t *e);

/* Copies the SQLite file src (not one the catalog hosts: any file, read
 * while others may write it) into the new file dst as one consistent
 * snapshot, page by page with SQLite's backup API; progress(ctx, done,
 * total) after each step, in pages (false cancels). dst must not exist
 * (E_EXISTS); a failed copy leaves no dst. Any thread but a loop's. */
typedef bool (*database_progress_fn)(void *ctx, uint64_t done, uint64_t total);
int database_backup_file(const char *src, const char *dst, database_progress_fn progress, void *ctx, err_t *e);

#endif
