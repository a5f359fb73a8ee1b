/* multipart: a streaming reader of multipart/form-data bodies (RFC 7578)
 * from a FILE (a spooled upload, or fmemopen over a small body). Parts are
 * handed over as they are read — headers first, then the content in chunks
 * — so a 100 MiB file part never sits in memory. Bounded: part headers up
 * to 16 KiB, buffer 128 KiB. Pure: any thread. */
#ifndef ATRIUM_UTIL_MULTIPART_H
#define ATRIUM_UTIL_MULTIPART_H
#include <stddef.h>
#include <stdio.h>

#define MP_BOUNDARY_MAX 70 /* RFC 2046 */

typedef struct {
    char name[256];         /* the form field (Content-Disposition name) */
    char filename[256];     /* the file's name, "" if none */
    char content_type[128]; /* "" if none */
} mp_part_t;

typedef struct {
    /* A part begins; -1 stops the read (with err set by the callee). */
    int (*begin)(void *ctx, const mp_part_t *part);
    /* A chunk of its content (any size, including 0). */
    int (*data)(void *ctx, const char *p, size_t n);
    /* The part is complete. */
    int (*end)(void *ctx);
} mp_callbacks_t;

/* The boundary parameter of a multipart/form-data Content-Type, into out;
 * -1 if the type is not that or has none. */
int multipart_boundary(const char *content_type, char out[MP_BOUNDARY_MAX + 1]);
/* Reads every part. 0, or -1 with a message in err (malformed body, or a
 * callback's -1). */
int multipart_read(FILE *f, const char *boundary, const mp_callbacks_t *cb, void *ctx, char *err, size_t errlen);

#endif
