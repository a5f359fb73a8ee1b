/* functions: Airsequel's Lua functions as the catalog keeps them — a
 * function per database with its versions (the last is current; each with
 * its diagnostics as JSON text) and the log of its last FN_MAX_INVOCATIONS
 * invocations. Running them is core/lua's (lfn_run). They go with their
 * database. Threads: the catalog lock: off the event loop. */
#ifndef ATRIUM_CORE_FUNCTIONS_H
#define ATRIUM_CORE_FUNCTIONS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/catalog.h"
#include "core/err.h"
#include "util/ids.h"

#define FN_MAX_INVOCATIONS 100
#define FN_MAX_VERSIONS 1000
#define FN_NAME_MAX 255
#define FN_DESC_MAX 4096

typedef struct {
    char id[ULID_LEN + 1];
    char db_id[ULID_LEN + 1];
    char name[FN_NAME_MAX + 1];
    char *description;
    int nversions;
    char (*versions)[ULID_LEN + 1]; /* oldest first */
    /* the version asked for (fn_get) or the current one */
    char version[ULID_LEN + 1];
    char *content;
    char *diagnostics; /* JSON text */
} fn_t;

typedef struct {
    int64_t created_ms;
    double runtime_ms;
    char *data; /* the result as JSON text */
    char *logs; /* [{message, stream, utc}] as JSON text */
} fn_invocation_t;

void fn_free(fn_t *f);
/* A new function of d with its first version. E_BAD_INPUT (name). */
int fn_create(catalog_t *c, const db_t *d, const char *name, const char *description, const char *content,
              const char *diagnostics, fn_t *out, err_t *e);
/* Function id of d, at version (NULL: the current one). E_NOT_FOUND. */
int fn_get(catalog_t *c, const db_t *d, const char *id, const char *version, fn_t *out, err_t *e);
/* d's functions (current versions), oldest first; free each, then *out. */
size_t fn_list(catalog_t *c, const db_t *d, fn_t **out);
/* A new current version (and, when not NULL, a new name or description);
 * its id into version. E_NOT_FOUND. */
int fn_publish(catalog_t *c, const db_t *d, const char *id, const char *name, const char *description,
               const char *content, const char *diagnostics, char version[ULID_LEN + 1], err_t *e);
int fn_delete(catalog_t *c, const db_t *d, const char *id, err_t *e);
/* For /fns/:funcId: the function's database id and current content. */
int fn_lookup(catalog_t *c, const char *id, char db_id[ULID_LEN + 1], char **content, err_t *e);
/* Appends an invocation, keeping the last FN_MAX_INVOCATIONS. */
void fn_log_invocation(catalog_t *c, const char *id, const fn_invocation_t *inv);
/* The invocations, newest first; free with fn_invocations_free. */
size_t fn_invocations(catalog_t *c, const char *id, fn_invocation_t **out);
void fn_invocations_free(fn_invocation_t *v, size_t n);

#endif
