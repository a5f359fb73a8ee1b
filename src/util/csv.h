/* csv: RFC 4180 fields. A field is quoted iff it holds a comma, a double
 * quote, CR or LF; quotes inside are doubled. Records end as the caller
 * writes them (CRLF for RFC 4180, LF for Datasette). Pure; any thread. */
#ifndef ATRIUM_UTIL_CSV_H
#define ATRIUM_UTIL_CSV_H
#include <stddef.h>

#include "util/buf.h"

void csv_field(buf_t *b, const char *s, size_t n);

#endif
