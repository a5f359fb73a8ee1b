/* docs: a database's client documents in system.db (see docs.h). */
#include "core/docs.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/thread.h"
#include "util/timeutil.h"

size_t docs_list(catalog_t *c, const db_t *d, const char *kind, doc_t **out) {
    ASSERT_OFF_LOOP();
    size_t n = 0, cap = 8;
    doc_t *v = xcalloc(cap, sizeof *v);
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    if (store_cached(s, "SELECT ulid, body FROM db_documents WHERE db_id = ? AND kind = ? ORDER BY ulid", &st) == 0) {
        store_bind_text(st, 1, d->id, strlen(d->id));
        store_bind_text(st, 2, kind, strlen(kind));
        while (store_step(st) == STORE_ROW) {
            if (n == cap) v = xrealloc(v, (cap *= 2) * sizeof *v);
            snprintf(v[n].ulid, sizeof v[n].ulid, "%s", store_col_text(st, 0, NULL));
            v[n++].body = xstrdup(store_col_text(st, 1, NULL));
        }
        store_reset(st);
    }
    catalog_unlock(c);
    *out = v;
    return n;
}

void docs_free(doc_t *docs, size_t n) {
    for (size_t i = 0; docs && i < n; i++) free(docs[i].body);
    free(docs);
}

/* Binds body, database, kind, ulid (and the time, for an INSERT) and runs sql. */
static int put(store_db_t *s, const char *sql, const db_t *d, const char *kind, const char *ulid, const char *body,
               bool insert) {
    store_stmt_t *st;
    if (store_cached(s, sql, &st) < 0) return -1;
    store_bind_text(st, 1, body, strlen(body));
    store_bind_text(st, 2, d->id, strlen(d->id));
    store_bind_text(st, 3, kind, strlen(kind));
    store_bind_text(st, 4, ulid, strlen(ulid));
    if (insert) store_bind_int(st, 5, time_now_ms());
    int rc = store_step(st);
    store_reset(st);
    return rc < 0 ? -1 : 0;
}

int docs_add(catalog_t *c, const db_t *d, const char *kind, const char *body, char ulid[ULID_LEN + 1], err_t *e) {
    ASSERT_OFF_LOOP();
    if (strlen(body) > DOCS_MAX_BYTES) return err_set(e, E_TOO_BIG, "The document is larger than %d bytes", DOCS_MAX_BYTES);
    ulid_new(ulid);
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    int64_t count = 0;
    if (store_cached(s, "SELECT count(*) FROM db_documents WHERE db_id = ? AND kind = ?", &st) == 0) {
        store_bind_text(st, 1, d->id, strlen(d->id));
        store_bind_text(st, 2, kind, strlen(kind));
        if (store_step(st) == STORE_ROW) count = store_col_int(st, 0);
        store_reset(st);
    }
    int rc = 0;
    if (count >= DOCS_MAX_COUNT) rc = err_set(e, E_BAD_INPUT, "A database holds at most %d of these", DOCS_MAX_COUNT);
    else if (put(s, "INSERT INTO db_documents(body, db_id, kind, ulid, created_ms) VALUES (?, ?, ?, ?, ?)", d, kind, ulid,
                 body, true) < 0)
        rc = err_set(e, E_INTERNAL, "storing document: %s", store_errmsg(s));
    catalog_unlock(c);
    return rc;
}

int docs_update(catalog_t *c, const db_t *d, const char *kind, const char *ulid, docs_update_fn update, void *ctx,
                err_t *e) {
    ASSERT_OFF_LOOP();
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    char *old = NULL;
    if (store_cached(s, "SELECT body FROM db_documents WHERE db_id = ? AND kind = ? AND ulid = ?", &st) == 0) {
        store_bind_text(st, 1, d->id, strlen(d->id));
        store_bind_text(st, 2, kind, strlen(kind));
        store_bind_text(st, 3, ulid, strlen(ulid));
        if (store_step(st) == STORE_ROW) old = xstrdup(store_col_text(st, 0, NULL));
        store_reset(st);
    }
    int rc = 0;
    char *fresh = NULL;
    if (!old) rc = err_set(e, E_NOT_FOUND, "\"%s\" does not exist", ulid);
    else if (!(fresh = update(old, ctx, e))) rc = -1;
    else if (strlen(fresh) > DOCS_MAX_BYTES) rc = err_set(e, E_TOO_BIG, "The document is larger than %d bytes", DOCS_MAX_BYTES);
    else if (put(s, "UPDATE db_documents SET body = ? WHERE db_id = ? AND kind = ? AND ulid = ?", d, kind, ulid, fresh,
                 false) < 0)
        rc = err_set(e, E_INTERNAL, "storing document: %s", store_errmsg(s));
    catalog_unlock(c);
    free(old);
    free(fresh);
    return rc;
}

int docs_delete(catalog_t *c, const db_t *d, const char *kind, const char *ulid, err_t *e) {
    ASSERT_OFF_LOOP();
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    int rc = 0;
    if (store_cached(s, "DELETE FROM db_documents WHERE db_id = ? AND kind = ? AND ulid = ?", &st) == 0) {
        store_bind_text(st, 1, d->id, strlen(d->id));
        store_bind_text(st, 2, kind, strlen(kind));
        store_bind_text(st, 3, ulid, strlen(ulid));
        if (store_step(st) < 0) rc = err_set(e, E_INTERNAL, "deleting document: %s", store_errmsg(s));
        else if (store_changes(s) == 0) rc = err_set(e, E_NOT_FOUND, "\"%s\" does not exist", ulid);
        store_reset(st);
    } else {
        rc = err_set(e, E_INTERNAL, "deleting document: %s", store_errmsg(s));
    }
    catalog_unlock(c);
    return rc;
}

char *docs_get(catalog_t *c, const db_t *d, const char *kind, const char *key) {
    ASSERT_OFF_LOOP();
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    char *body = NULL;
    if (store_cached(s, "SELECT body FROM db_documents WHERE db_id = ? AND kind = ? AND ulid = ?", &st) == 0) {
        store_bind_text(st, 1, d->id, strlen(d->id));
        store_bind_text(st, 2, kind, strlen(kind));
        store_bind_text(st, 3, key, strlen(key));
        if (store_step(st) == STORE_ROW) body = xstrdup(store_col_text(st, 0, NULL));
        store_reset(st);
    }
    catalog_unlock(c);
    return body;
}

int docs_set(catalog_t *c, const db_t *d, const char *kind, const char *key, const char *body, err_t *e) {
    ASSERT_OFF_LOOP();
    if (!body) {
        int rc = docs_delete(c, d, kind, key, e);
        return rc < 0 && e->kind == E_NOT_FOUND ? 0 : rc;
    }
    if (strlen(body) > DOCS_MAX_BYTES) return err_set(e, E_TOO_BIG, "The document is larger than %d bytes", DOCS_MAX_BYTES);
    store_db_t *s = catalog_lock(c);
    int rc = 0;
    if (put(s, "INSERT INTO db_documents(body, db_id, kind, ulid, created_ms) VALUES (?, ?, ?, ?, ?)"
               " ON CONFLICT (db_id, kind, ulid) DO UPDATE SET body = excluded.body",
            d, kind, key, body, true) < 0)
        rc = err_set(e, E_INTERNAL, "storing document: %s", store_errmsg(s));
    catalog_unlock(c);
    return rc;
}

int docs_move(catalog_t *c, const db_t *d, const char *kind, const char *from, const char *to, err_t *e) {
    ASSERT_OFF_LOOP();
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    int rc = 0;
    store_exec(s, "SAVEPOINT docs_move");
    static const char *sql[] = {"DELETE FROM db_documents WHERE db_id = ?1 AND kind = ?2 AND ulid = ?4",
                                "UPDATE db_documents SET ulid = ?4 WHERE db_id = ?1 AND kind = ?2 AND ulid = ?3"};
    for (int i = 0; i < 2 && rc == 0; i++) {
        if (store_cached(s, sql[i], &st) < 0) {
            rc = -1;
            break;
        }
        store_bind_text(st, 1, d->id, strlen(d->id));
        store_bind_text(st, 2, kind, strlen(kind));
        if (i) store_bind_text(st, 3, from, strlen(from));
        store_bind_text(st, 4, to, strlen(to));
        if (store_step(st) < 0) rc = -1;
        store_reset(st);
    }
    if (rc < 0) err_set(e, E_INTERNAL, "moving document: %s", store_errmsg(s));
    store_exec(s, rc < 0 ? "ROLLBACK TO docs_move; RELEASE docs_move" : "RELEASE docs_move");
    catalog_unlock(c);
    return rc;
}
