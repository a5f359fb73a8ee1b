/* csv: see csv.h. */
#include "util/csv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdbool.h>

void csv_field(buf_t *b, const char *s, size_t n) {
    bool q = false;
    for (size_t i = 0; i < n && !q; i++) q = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
    if (!q) {
        buf_append(b, s, n);
        return;
    }
    buf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"') buf_putc(b, '"');
        buf_putc(b, s[i]);
    }
    buf_putc(b, '"');
}

void csv_reader_init(csv_reader_t *r, FILE *f) {
    memset(r, 0, sizeof *r);
    r->f = f;
    r->line = 1;
}

void csv_reader_free(csv_reader_t *r) {
    buf_free(&r->text);
    free(r->off);
    free(r->quoted);
    memset(r, 0, sizeof *r);
}

static int add_field(csv_reader_t *r, size_t start, bool quoted) {
    if (r->nfields == CSV_MAX_FIELDS) return -1;
    if (r->nfields == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->off = xrealloc(r->off, r->cap * sizeof *r->off);
        r->quoted = xrealloc(r->quoted, r->cap * sizeof *r->quoted);
    }
    buf_putc(&r->text, 0);
    r->off[r->nfields] = start;
    r->quoted[r->nfields++] = quoted;
    return 0;
}

int csv_read(csv_reader_t *r, char *err, size_t errlen) {
    buf_reset(&r->text);
    r->nfields = 0;
    if (!r->started) {
        /* a UTF-8 byte order mark is skipped; anything else is read again */
        r->started = true;
        long at = ftell(r->f);
        unsigned char bom[3];
        size_t got = fread(bom, 1, 3, r->f);
        if (!(got == 3 && bom[0] == 0xEF && bom[1] == 0xBB && bom[2] == 0xBF) && fseek(r->f, at, SEEK_SET) != 0) {
            snprintf(err, errlen, "the file cannot be read from its start");
            return -1;
        }
    }
    int c = getc(r->f);
    if (c == EOF) return 0;
    size_t start = 0;
    bool quoted = false, in_quotes = false, after_quote = false;
    for (;; c = getc(r->f)) {
        if (c == 0) { /* text has none, and fields are C strings */
            snprintf(err, errlen, "line %ld: a NUL byte", r->line);
            return -1;
        }
        if (r->text.len > CSV_MAX_RECORD) {
            snprintf(err, errlen, "line %ld: a record longer than %d bytes", r->line, CSV_MAX_RECORD);
            return -1;
        }
        if (in_quotes) {
            if (c == EOF) {
                snprintf(err, errlen, "line %ld: a quoted field is not closed", r->line);
                return -1;
            }
            if (c == '"') {
                int d = getc(r->f);
                if (d == '"') {
                    buf_putc(&r->text, '"');
                    continue;
                }
                ungetc(d, r->f);
                in_quotes = false;
                after_quote = true;
                continue;
            }
            buf_putc(&r->text, (char)c);
            continue;
        }
        if (c == ',' || c == '\n' || c == '\r' || c == EOF) {
            if (add_field(r, start, quoted) < 0) {
                snprintf(err, errlen, "line %ld: more than %d fields", r->line, CSV_MAX_FIELDS);
                return -1;
            }
            start = r->text.len;
            quoted = after_quote = false;
            if (c == ',') continue;
            if (c == '\r') {
                int d = getc(r->f);
                if (d != '\n') ungetc(d, r->f);
            }
            r->line++;
            return 1;
        }
        if (after_quote) {
            snprintf(err, errlen, "line %ld: text after a closing quote", r->line);
            return -1;
        }
        if (c == '"' && r->text.len == start) {
            quoted = in_quotes = true;
            continue;
        }
        buf_putc(&r->text, (char)c);
    }
}
