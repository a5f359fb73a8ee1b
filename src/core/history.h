/* history: the queries each user ran on each database, kept in system.db
 * (query_history) so a console on any browser finds them again. Newest
 * first; the same text again moves to the top instead of repeating; each
 * user keeps HISTORY_KEEP per database. Entries are the user's own: no
 * one lists another's.
 * Threads: every function takes the catalog lock: off the event loop. */
#ifndef ATRIUM_CORE_HISTORY_H
#define ATRIUM_CORE_HISTORY_H
#include <stddef.h>
#include <stdint.h>

#include "core/catalog.h"

#define HISTORY_KEEP 100
#define HISTORY_TEXT_MAX (64 * 1024)
#define HISTORY_LANG_MAX 32

typedef struct {
    int64_t id, created_ms;
    char language[HISTORY_LANG_MAX + 1]; /* "sql", "graphql", … as the client says */
    char *text;
} history_entry_t;

/* E_BAD_INPUT: empty or over HISTORY_TEXT_MAX, or a language that is not
 * 1–32 letters, digits, '-' or '_'. */
int history_add(catalog_t *c, const db_t *d, int64_t principal, const char *language, const char *text, size_t len,
                err_t *e);
/* The principal's entries for d, newest first; free with history_free. */
size_t history_list(catalog_t *c, const db_t *d, int64_t principal, history_entry_t **out);
void history_free(history_entry_t *list, size_t n);
/* Forgets the principal's entries for d; how many went. */
int64_t history_clear(catalog_t *c, const db_t *d, int64_t principal);

#endif
