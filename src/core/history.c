/* history: each user's queries per database (see history.h). */
#include "core/history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/thread.h"
#include "util/timeutil.h"
#include "util/utf8.h"

#define STRINGIFY(x) #x
#define XSTRINGIFY(x) STRINGIFY(x)
#define KEEP_TEXT XSTRINGIFY(HISTORY_KEEP)

static bool language_ok(const char *s) {
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > HISTORY_LANG_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
            return false;
    }
    return true;
}

/* Runs one cached statement bound to (db, principal[, text]); -1 on error. */
static int run3(store_db_t *s, const char *sql, const db_t *d, int64_t principal, const char *text, size_t len) {
    store_stmt_t *st;
    if (store_cached(s, sql, &st) < 0) return -1;
    store_bind_text(st, 1, d->id, strlen(d->id));
    store_bind_int(st, 2, principal);
    if (text) store_bind_text(st, 3, text, len);
    int rc = store_step(st);
    store_reset(st);
    return rc < 0 ? -1 : 0;
}

int history_add(catalog_t *c, const db_t *d, int64_t principal, const char *language, const char *text, size_t len,
                err_t *e) {
    ASSERT_OFF_LOOP();
    if (!language_ok(language))
        return err_set(e, E_BAD_INPUT, "\"language\" is 1 to %d letters, digits, '-' or '_'", HISTORY_LANG_MAX);
    if (len == 0 || len > HISTORY_TEXT_MAX)
        return err_set(e, E_BAD_INPUT, "\"text\" is 1 to %d bytes", HISTORY_TEXT_MAX);
    if (!utf8_valid(text, len)) return err_set(e, E_BAD_INPUT, "\"text\" is not valid UTF-8");
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    int rc = store_exec(s, "BEGIN IMMEDIATE;");
    if (rc == 0)
        rc = run3(s, "DELETE FROM query_history WHERE db_id = ?1 AND principal_id = ?2 AND text = ?3", d, principal,
                  text, len);
    if (rc == 0 && (rc = store_cached(s,
                                      "INSERT INTO query_history(db_id, principal_id, language, text, created_ms)"
                                      " VALUES (?, ?, ?, ?, ?)",
                                      &st)) == 0) {
        store_bind_text(st, 1, d->id, strlen(d->id));
        store_bind_int(st, 2, principal);
        store_bind_text(st, 3, language, strlen(language));
        store_bind_text(st, 4, text, len);
        store_bind_int(st, 5, time_now_ms());
        rc = store_step(st) < 0 ? -1 : 0;
        store_reset(st);
    }
    /* keep the newest HISTORY_KEEP */
    if (rc == 0)
        rc = run3(s,
                  "DELETE FROM query_history WHERE db_id = ?1 AND principal_id = ?2 AND id <= (SELECT id FROM"
                  " query_history WHERE db_id = ?1 AND principal_id = ?2 ORDER BY id DESC LIMIT 1 OFFSET " KEEP_TEXT ")",
                  d, principal, NULL, 0);
    if (rc == 0) rc = store_exec(s, "COMMIT;");
    if (rc < 0) {
        err_set(e, E_INTERNAL, "saving the query: %s", store_errmsg(s));
        store_exec(s, "ROLLBACK;");
    }
    catalog_unlock(c);
    return rc < 0 ? -1 : 0;
}

size_t history_list(catalog_t *c, const db_t *d, int64_t principal, history_entry_t **out) {
    ASSERT_OFF_LOOP();
    *out = NULL;
    size_t n = 0, cap = 0;
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    if (store_cached(s,
                     "SELECT id, created_ms, language, text FROM query_history WHERE db_id = ? AND principal_id = ?"
                     " ORDER BY id DESC",
                     &st) == 0) {
        store_bind_text(st, 1, d->id, strlen(d->id));
        store_bind_int(st, 2, principal);
        while (store_step(st) == STORE_ROW) {
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                *out = xrealloc(*out, cap * sizeof **out);
            }
            history_entry_t *h = &(*out)[n++];
            h->id = store_col_int(st, 0);
            h->created_ms = store_col_int(st, 1);
            snprintf(h->language, sizeof h->language, "%s", store_col_text(st, 2, NULL));
            size_t len;
            const char *t = store_col_text(st, 3, &len);
            h->text = xmalloc(len + 1);
            memcpy(h->text, t, len);
            h->text[len] = 0;
        }
        store_reset(st);
    }
    catalog_unlock(c);
    return n;
}

void history_free(history_entry_t *list, size_t n) {
    for (size_t i = 0; i < n; i++) free(list[i].text);
    free(list);
}

int64_t history_clear(catalog_t *c, const db_t *d, int64_t principal) {
    ASSERT_OFF_LOOP();
    store_db_t *s = catalog_lock(c);
    int64_t gone = run3(s, "DELETE FROM query_history WHERE db_id = ?1 AND principal_id = ?2", d, principal, NULL, 0) == 0
                       ? store_changes(s)
                       : 0;
    catalog_unlock(c);
    return gone;
}
