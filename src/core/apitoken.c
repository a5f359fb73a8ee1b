/* apitoken: API tokens of teams (see apitoken.h). */
#include "core/apitoken.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/thread.h"
#include "util/timeutil.h"

static const struct {
    const char *name;
    unsigned actions;
} perms[] = {
    {"read", ACT_READ},
    {"write", ACT_READ | ACT_WRITE | ACT_SCHEMA},
    {"writeonly", ACT_WRITE},
    {"insertonly", ACT_INSERT},
};

unsigned apitok_perm_actions(const char *name) {
    for (size_t i = 0; i < sizeof perms / sizeof *perms; i++)
        if (strcmp(perms[i].name, name) == 0) return perms[i].actions;
    return 0;
}

const char *apitok_perm_name(unsigned actions) {
    for (size_t i = 0; i < sizeof perms / sizeof *perms; i++)
        if (perms[i].actions == actions) return perms[i].name;
    return "";
}

int apitok_create(catalog_t *c, apitok_t *t, char token[TOKEN_MAX_LEN], err_t *e) {
    ASSERT_OFF_LOOP();
    token[0] = 0;
    int64_t now = time_now_ms();
    if (t->nperms == 0) return err_set(e, E_BAD_INPUT, "\"permissions\" must name at least one database");
    if (t->expires_ms && t->expires_ms <= now) return err_set(e, E_BAD_INPUT, "\"expiration_utc\" is in the past");
    scope_t scopes[AUTH_MAX_GRANTS];
    for (int i = 0; i < t->nperms; i++) {
        db_t *d = catalog_db_find(c, t->perms[i].db_id, DB_BY_ID | DB_BY_NAME);
        if (!d) return err_set(e, E_NOT_FOUND, "Database \"%s\" does not exist", t->perms[i].db_id);
        bool ours = db_owner(d) == t->team_id;
        snprintf(t->perms[i].db_id, sizeof t->perms[i].db_id, "%s", d->id);
        db_release(d);
        if (!ours) return err_set(e, E_FORBIDDEN, "Database \"%s\" is not the team's", t->perms[i].db_id);
        scopes[i] = (scope_t){t->perms[i].db_id, t->perms[i].actions};
    }
    if (auth_token_issue(c, t->team_id, "api", NULL, 0, scopes, t->nperms, token, e) < 0) return -1;
    uint8_t h[32];
    auth_token_digest(token, h);
    snprintf(t->shown, sizeof t->shown, "%.*s", APITOK_SHOWN, token);
    t->created_ms = now;
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    int rc = store_cached(s, "UPDATE tokens SET expires_ms = ? WHERE hash = ?", &st);
    if (rc == 0) {
        if (t->expires_ms) store_bind_int(st, 1, t->expires_ms);
        else store_bind_null(st, 1);
        store_bind_blob(st, 2, h, 32);
        rc = store_step(st) < 0 ? -1 : 0;
        store_reset(st);
    }
    if (rc == 0)
        rc = store_cached(s, "INSERT INTO api_tokens(token_hash, team_id, name, description, shown, created_ms)"
                             " VALUES (?, ?, ?, ?, ?, ?)", &st);
    if (rc == 0) {
        store_bind_blob(st, 1, h, 32);
        store_bind_int(st, 2, t->team_id);
        store_bind_text(st, 3, t->name, strlen(t->name));
        if (t->has_description) store_bind_text(st, 4, t->description, strlen(t->description));
        store_bind_text(st, 5, t->shown, strlen(t->shown));
        store_bind_int(st, 6, now);
        rc = store_step(st) < 0 ? -1 : 0;
        store_reset(st);
        t->id = store_last_rowid(s);
    }
    if (rc < 0) err_set(e, E_INTERNAL, "storing API token: %s", store_errmsg(s));
    catalog_unlock(c);
    auth_changed();
    if (rc < 0) {
        auth_token_revoke(c, token);
        sodium_memzero(token, TOKEN_MAX_LEN);
        return -1;
    }
    return 0;
}

#define SELECT_TOKEN                                                                                               \
    "SELECT a.id, a.team_id, a.name, a.description, a.shown, a.created_ms, coalesce(t.expires_ms, 0), a.token_hash" \
    " FROM api_tokens a JOIN tokens t ON t.hash = a.token_hash "

/* One row of SELECT_TOKEN into t, its permissions included (lock held). */
static void row_token(store_db_t *s, store_stmt_t *st, apitok_t *t) {
    memset(t, 0, sizeof *t);
    t->id = store_col_int(st, 0);
    t->team_id = store_col_int(st, 1);
    snprintf(t->name, sizeof t->name, "%s", store_col_text(st, 2, NULL));
    t->has_description = store_col_type(st, 3) != SV_NULL;
    snprintf(t->description, sizeof t->description, "%s", store_col_text(st, 3, NULL));
    snprintf(t->shown, sizeof t->shown, "%s", store_col_text(st, 4, NULL));
    t->created_ms = store_col_int(st, 5);
    t->expires_ms = store_col_int(st, 6);
    size_t hn = 0;
    const void *h = store_col_blob(st, 7, &hn);
    store_stmt_t *ps;
    if (store_cached(s, "SELECT db, actions FROM token_scopes WHERE token_hash = ? AND actions != 0 ORDER BY rowid",
                     &ps) < 0)
        return;
    store_bind_blob(ps, 1, h, hn);
    while (store_step(ps) == STORE_ROW && t->nperms < AUTH_MAX_GRANTS) {
        apitok_perm_t *p = &t->perms[t->nperms++];
        snprintf(p->db_id, sizeof p->db_id, "%s", store_col_text(ps, 0, NULL));
        p->actions = (unsigned)store_col_int(ps, 1);
    }
    store_reset(ps);
}

int apitok_get(catalog_t *c, int64_t id, apitok_t *t, err_t *e) {
    ASSERT_OFF_LOOP();
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    int rc = -1;
    if (store_cached(s, SELECT_TOKEN "WHERE a.id = ?", &st) == 0) {
        store_bind_int(st, 1, id);
        if (store_step(st) == STORE_ROW) {
            row_token(s, st, t);
            rc = 0;
        }
        store_reset(st);
    }
    catalog_unlock(c);
    if (rc < 0) err_set(e, E_NOT_FOUND, "Token %lld does not exist", (long long)id);
    return rc;
}

int apitok_update(catalog_t *c, const apitok_t *t, err_t *e) {
    ASSERT_OFF_LOOP();
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    int rc = store_cached(s, "UPDATE api_tokens SET name = ?, description = ? WHERE id = ?", &st);
    if (rc == 0) {
        store_bind_text(st, 1, t->name, strlen(t->name));
        if (t->has_description) store_bind_text(st, 2, t->description, strlen(t->description));
        else store_bind_null(st, 2);
        store_bind_int(st, 3, t->id);
        rc = store_step(st) < 0 ? -1 : 0;
        store_reset(st);
    }
    if (rc == 0)
        rc = store_cached(s, "UPDATE tokens SET expires_ms = ? WHERE hash = (SELECT token_hash FROM api_tokens"
                             " WHERE id = ?)", &st);
    if (rc == 0) {
        if (t->expires_ms) store_bind_int(st, 1, t->expires_ms);
        else store_bind_null(st, 1);
        store_bind_int(st, 2, t->id);
        rc = store_step(st) < 0 ? -1 : 0;
        store_reset(st);
    }
    if (rc < 0) err_set(e, E_INTERNAL, "updating API token: %s", store_errmsg(s));
    catalog_unlock(c);
    auth_changed();
    return rc;
}

int apitok_revoke(catalog_t *c, int64_t id, err_t *e) {
    ASSERT_OFF_LOOP();
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    /* the api_tokens row goes with its token (ON DELETE CASCADE); AUTOINCREMENT keeps the id unused */
    int rc = store_cached(s, "DELETE FROM tokens WHERE hash = (SELECT token_hash FROM api_tokens WHERE id = ?)", &st);
    if (rc == 0) {
        store_bind_int(st, 1, id);
        rc = store_step(st) < 0 ? -1 : 0;
        store_reset(st);
    }
    if (rc < 0) err_set(e, E_INTERNAL, "revoking API token: %s", store_errmsg(s));
    catalog_unlock(c);
    auth_changed();
    return rc;
}

size_t apitok_list(catalog_t *c, int64_t team_id, apitok_t **out) {
    ASSERT_OFF_LOOP();
    size_t n = 0, cap = 4;
    apitok_t *t = xmalloc(cap * sizeof *t);
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    if (store_cached(s, SELECT_TOKEN "WHERE a.team_id = ? ORDER BY a.id", &st) == 0) {
        store_bind_int(st, 1, team_id);
        while (store_step(st) == STORE_ROW) {
            if (n == cap) t = xrealloc(t, (cap *= 2) * sizeof *t);
            row_token(s, st, &t[n++]);
        }
        store_reset(st);
    }
    catalog_unlock(c);
    *out = t;
    return n;
}
