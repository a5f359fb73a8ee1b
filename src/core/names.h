/* names: the naming rule for databases and users (spec/typedb.md §6):
 * 1-255 UTF-8 bytes; first code point '_' or XID_Start; the rest XID_Continue
 * or '-'. Case-sensitive, compared as bytes, never normalised. Database names
 * may not be route words, and a leading '_' marks an engine-internal name. */
#ifndef ATRIUM_CORE_NAMES_H
#define ATRIUM_CORE_NAMES_H
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "util/buf.h"

#define NAME_MAX_BYTES 255

bool name_valid(const char *s, size_t n);
bool name_is_route_word(const char *s);
/* Checks a name for a new database: E_INVALID_NAME, E_INTERNAL_NAME or
 * E_RESERVED_NAME on failure. */
int name_check_db(const char *s, err_t *e);
/* Turns a file stem into a valid, non-internal, non-reserved name. */
void name_sanitize(const char *stem, buf_t *out);

#endif
