/* csv: RFC 4180 fields. A field is quoted iff it holds a comma, a double
 * quote, CR or LF; quotes inside are doubled. Records end as the caller
 * writes them (CRLF for RFC 4180, LF for Datasette). Pure; any thread. */
#ifndef ATRIUM_UTIL_CSV_H
#define ATRIUM_UTIL_CSV_H
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "util/buf.h"

void csv_field(buf_t *b, const char *s, size_t n);

/* Reading RFC 4180 (LF line ends and a UTF-8 BOM accepted) from a
 * seekable FILE (the reader looks at the first three bytes for a BOM),
 * one record at a time: fields are NUL-terminated strings in one buffer;
 * a record longer than CSV_MAX_RECORD bytes or wider than CSV_MAX_FIELDS
 * is an error, so memory stays bounded whatever the file. */
#define CSV_MAX_RECORD (1024 * 1024)
#define CSV_MAX_FIELDS 2000
typedef struct {
    FILE *f;
    buf_t text;        /* the record's fields, each NUL-terminated */
    size_t *off;       /* field i starts at text.data + off[i] */
    size_t nfields, cap;
    bool *quoted;      /* field i was quoted (so "" is an empty string, not NULL) */
    long line;         /* the record's first line (1-based) */
    bool started;
} csv_reader_t;

void csv_reader_init(csv_reader_t *r, FILE *f);
/* 1 with a record, 0 at the end, -1 with err set (unterminated quote,
 * a record too long or too wide, a character after a closing quote, a
 * NUL byte). */
int csv_read(csv_reader_t *r, char *err, size_t errlen);
static inline const char *csv_get(const csv_reader_t *r, size_t i) { return r->text.data + r->off[i]; }
void csv_reader_free(csv_reader_t *r);

#endif
