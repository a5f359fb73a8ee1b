/* database: operations on one hosted database's contents that do not depend
 * on any dialect. Connections are opened per call for now; the engine issue
 * replaces that with per-database read pools and a writer. */
#ifndef ATRIUM_CORE_DATABASE_H
#define ATRIUM_CORE_DATABASE_H
#include <stdbool.h>

#include "core/catalog.h"
#include "core/err.h"
#include "util/buf.h"

/* The DDL script of the database (see store_schema_text). */
int database_schema_text(const db_t *d, bool tables_only, buf_t *out, err_t *e);

#endif
