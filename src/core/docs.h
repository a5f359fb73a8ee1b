/* docs: small JSON documents a database carries for its clients (Airsequel's
 * charts and dashboards): kept in system.db by database, kind and ULID, as
 * the text the dialect hands over; core never reads them. They go with
 * their database. Threads: every function takes the catalog lock: off the
 * event loop. */
#ifndef ATRIUM_CORE_DOCS_H
#define ATRIUM_CORE_DOCS_H
#include <stddef.h>

#include "core/catalog.h"
#include "core/err.h"
#include "util/ids.h"

#define DOCS_MAX_BYTES (256 * 1024) /* one document */
#define DOCS_MAX_COUNT 1000         /* documents of one kind per database */

typedef struct {
    char ulid[ULID_LEN + 1];
    char *body;
} doc_t;

/* The documents of a kind, oldest first; free with docs_free. */
size_t docs_list(catalog_t *c, const db_t *d, const char *kind, doc_t **out);
void docs_free(doc_t *docs, size_t n);
/* Stores a new document under a fresh ULID (into ulid). E_TOO_BIG,
 * E_BAD_INPUT (too many). */
int docs_add(catalog_t *c, const db_t *d, const char *kind, const char *body, char ulid[ULID_LEN + 1], err_t *e);
/* Replaces a document with update(old body): NULL from update refuses (its
 * error in e). The read and the write are one step under the catalog lock.
 * E_NOT_FOUND. */
typedef char *(*docs_update_fn)(const char *old, void *ctx, err_t *e);
int docs_update(catalog_t *c, const db_t *d, const char *kind, const char *ulid, docs_update_fn update, void *ctx,
                err_t *e);
int docs_delete(catalog_t *c, const db_t *d, const char *kind, const char *ulid, err_t *e);

/* Documents by a key of the caller's (e.g. a table's name) instead of a
 * ULID: get (malloc'd, NULL if none), set (NULL body: delete) and move to
 * another key (replacing what was there). */
char *docs_get(catalog_t *c, const db_t *d, const char *kind, const char *key);
int docs_set(catalog_t *c, const db_t *d, const char *kind, const char *key, const char *body, err_t *e);
int docs_move(catalog_t *c, const db_t *d, const char *kind, const char *from, const char *to, err_t *e);

#endif
