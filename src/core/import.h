/* import: building a new SQLite database file from an uploaded CSV file
 * (Airsequel's POST /dbs, spec/airsequel.md §2). One table named by the
 * caller; the header row names the columns (an empty name becomes
 * column_N, a repeated one gets _2, _3…); a column is INTEGER when every
 * non-empty value parses as a 64-bit integer, else REAL when every one
 * parses as a finite number, else TEXT; an empty field is NULL. Two
 * streaming passes over the file (types, then rows in one transaction):
 * memory stays bounded by one record. Pool threads only (disk I/O). */
#ifndef ATRIUM_CORE_IMPORT_H
#define ATRIUM_CORE_IMPORT_H
#include <stdint.h>

#include "core/err.h"
#include "core/ops.h"

/* Reads csv_path, writes a new database at db_path with one table. The
 * number of rows imported into *rows. E_BAD_INPUT for a malformed file, or
 * when op (may be NULL), which hears each pass's progress, is cancelled. */
int import_csv(const char *csv_path, const char *db_path, const char *table, op_t *op, int64_t *rows, err_t *e);

#endif
