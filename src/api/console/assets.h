/* console assets: the browser console's files, compiled into the binary
 * (build/console_assets.c, generated from console/ by
 * tools/embed_console.py). Read-only data: any thread. */
#ifndef ATRIUM_API_CONSOLE_ASSETS_H
#define ATRIUM_API_CONSOLE_ASSETS_H
#include <stddef.h>

typedef struct {
    const char *name; /* file name under console/ */
    const char *type; /* Content-Type */
    const unsigned char *data;
    size_t len;
    const unsigned char *gz; /* the same bytes, gzip-compressed */
    size_t gzlen;
    const char *etag; /* without the quotes */
} console_asset_t;

extern const console_asset_t console_assets[];
extern const size_t console_nassets;

#endif
