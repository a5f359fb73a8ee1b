/* fuzz_csv: the bounded CSV record reader (util/csv) that uploads go
 * through, on hostile text. Properties: no crash, no read past the input
 * (ASan); records stay within their bounds; a record read back after being
 * written with csv_field (CRLF-terminated) gives the same fields. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t n) {
    if (n == 0) return 0;
    FILE *f = fmemopen((void *)in, n, "r");
    if (!f) return 0;
    csv_reader_t r;
    csv_reader_init(&r, f);
    char err[200];
    int rc;
    while ((rc = csv_read(&r, err, sizeof err)) == 1) {
        if (r.nfields == 0 || r.nfields > CSV_MAX_FIELDS || r.text.len > CSV_MAX_RECORD + 2 * CSV_MAX_FIELDS) abort();
        /* write the record, then read it again: the same fields */
        buf_t out = BUF_INIT;
        for (size_t i = 0; i < r.nfields; i++) {
            if (i) buf_putc(&out, ',');
            const char *v = csv_get(&r, i);
            /* an empty single field would write an empty line, which is a record of one empty field too */
            csv_field(&out, v, strlen(v));
        }
        buf_puts(&out, "\r\n");
        FILE *g = fmemopen(out.data, out.len, "r");
        csv_reader_t back;
        csv_reader_init(&back, g);
        /* a leading BOM is a reader's concern only at the start of a file */
        bool bom = out.len >= 3 && memcmp(out.data, "\xEF\xBB\xBF", 3) == 0;
        if (!bom) {
            if (csv_read(&back, err, sizeof err) != 1 || back.nfields != r.nfields) abort();
            for (size_t i = 0; i < r.nfields; i++)
                if (strcmp(csv_get(&back, i), csv_get(&r, i)) != 0) abort();
        }
        csv_reader_free(&back);
        fclose(g);
        buf_free(&out);
    }
    if (rc < 0 && !err[0]) abort(); /* a failure always says why */
    csv_reader_free(&r);
    fclose(f);
    return 0;
}
