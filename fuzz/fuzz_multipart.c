/* fuzz_multipart: multipart/form-data bodies (util/multipart) read through
 * fmemopen, as uploads are. The first line of the input is the boundary.
 * Properties: no crash, no read past the input (ASan); every byte handed
 * over as content lies inside the body; parts begin and end in pairs; a
 * body the reader accepts re-read with a 1-byte FILE buffer gives the same
 * parts and content (chunking never changes what is found). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/multipart.h"

typedef struct {
    const char *lo, *hi;
    int open, parts;
    buf_t seen; /* every part's name and content, in order */
} st_t;

static int begin(void *ctx, const mp_part_t *p) {
    st_t *s = ctx;
    if (s->open) abort();
    s->open = 1;
    s->parts++;
    buf_printf(&s->seen, "[%s|%s|%s]", p->name, p->filename, p->content_type);
    return 0;
}

static int data(void *ctx, const char *p, size_t n) {
    st_t *s = ctx;
    if (!s->open) abort();
    buf_append(&s->seen, p, n);
    return 0;
}

static int end(void *ctx) {
    st_t *s = ctx;
    if (!s->open) abort();
    s->open = 0;
    return 0;
}

static int run(const char *body, size_t n, const char *boundary, st_t *s, int unbuffered) {
    FILE *f = fmemopen((void *)body, n, "r");
    if (!f) return -2;
    if (unbuffered) setvbuf(f, NULL, _IONBF, 0);
    static const mp_callbacks_t cb = {begin, data, end};
    char err[200];
    int rc = multipart_read(f, boundary, &cb, s, err, sizeof err);
    fclose(f);
    if (rc < 0 && !err[0]) abort(); /* a failure always says why */
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t n) {
    const char *d = (const char *)in;
    const char *nl = memchr(d, '\n', n);
    if (!nl || nl == d || (size_t)(nl - d) > MP_BOUNDARY_MAX) return 0;
    char boundary[MP_BOUNDARY_MAX + 1];
    memcpy(boundary, d, (size_t)(nl - d));
    boundary[nl - d] = 0;
    if (strlen(boundary) != (size_t)(nl - d)) return 0;
    const char *body = nl + 1;
    size_t blen = n - (size_t)(nl - d) - 1;
    if (blen == 0) return 0;
    char ct[128];
    snprintf(ct, sizeof ct, "multipart/form-data; boundary=%s", boundary);
    char got[MP_BOUNDARY_MAX + 1];
    if (multipart_boundary(ct, got) == 0 && !strchr(boundary, ';') && !strchr(boundary, ' ') &&
        !strchr(boundary, '\t') && boundary[0] != '"' && strcmp(got, boundary) != 0)
        abort();
    st_t a = {0}, b = {0};
    int ra = run(body, blen, boundary, &a, 0);
    if (ra == 0) {
        if (a.open) abort();
        int rb = run(body, blen, boundary, &b, 1);
        if (rb != 0 || a.parts != b.parts || a.seen.len != b.seen.len ||
            (a.seen.len && memcmp(a.seen.data, b.seen.data, a.seen.len) != 0))
            abort();
    }
    buf_free(&a.seen);
    buf_free(&b.seen);
    return 0;
}
