/* team: teams, personal teams and members in system.db (see team.h). */
#include "core/team.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/auth.h"
#include "util/buf.h"
#include "util/thread.h"
#include "util/timeutil.h"

bool team_name_valid(const char *name) {
    size_t n = strlen(name);
    if (n == 0 || n > TEAM_NAME_MAX || !isalnum((unsigned char)name[0])) return false;
    for (size_t i = 1; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && !strchr("_.-", name[i])) return false;
    return true;
}

unsigned team_role_actions(unsigned roles) {
    unsigned a = 0;
    if (roles & ROLE_ADMIN) a |= ACT_ALL; /* the owner's rights on the team's databases */
    if (roles & ROLE_EDITOR) a |= ACT_READ | ACT_WRITE | ACT_SCHEMA;
    if (roles & ROLE_VIEWER) a |= ACT_READ;
    return a;
}

static const char *role_names[] = {"Admin", "Editor", "Viewer"};

unsigned team_role_parse(const char *name) {
    for (unsigned i = 0; i < 3; i++)
        if (strcmp(name, role_names[i]) == 0) return 1u << i;
    return 0;
}

const char *team_role_name(unsigned role) {
    for (unsigned i = 0; i < 3; i++)
        if (role == 1u << i) return role_names[i];
    return "";
}

/* One principal row as a team: kind 'team', or a user's personal team. */
static int row_team(store_stmt_t *st, team_t *t) {
    const char *kind = store_col_text(st, 1, NULL);
    if (strcmp(kind, "team") != 0 && strcmp(kind, "user") != 0) return -1;
    t->id = store_col_int(st, 0);
    snprintf(t->name, sizeof t->name, "%s", store_col_text(st, 2, NULL));
    t->personal = strcmp(kind, "user") == 0;
    t->created_ms = store_col_int(st, 3);
    return 0;
}

static int lookup(catalog_t *c, const char *sql, const char *name, int64_t id, team_t *t, err_t *e) {
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    int rc = -1;
    if (store_cached(s, sql, &st) == 0) {
        if (name) store_bind_text(st, 1, name, strlen(name));
        else store_bind_int(st, 1, id);
        if (store_step(st) == STORE_ROW) rc = row_team(st, t);
        store_reset(st);
    }
    catalog_unlock(c);
    if (rc < 0) err_set(e, E_NOT_FOUND, "Team \"%s\" does not exist", name ? name : "");
    return rc;
}

int team_find(catalog_t *c, const char *name, team_t *t, err_t *e) {
    ASSERT_OFF_LOOP();
    return lookup(c, "SELECT id, kind, coalesce(name, ''), created_ms FROM principals WHERE name = ?", name, 0, t, e);
}

int team_get(catalog_t *c, int64_t id, team_t *t, err_t *e) {
    ASSERT_OFF_LOOP();
    return lookup(c, "SELECT id, kind, coalesce(name, ''), created_ms FROM principals WHERE id = ?", NULL, id, t, e);
}

/* Runs sql (binding ints a, b, c where non-negative) under the lock held. */
static int exec3(store_db_t *s, const char *sql, int64_t a, int64_t b, int64_t cc) {
    store_stmt_t *st;
    if (store_cached(s, sql, &st) < 0) return -1;
    int64_t v[3] = {a, b, cc};
    for (int i = 0; i < 3; i++)
        if (v[i] >= 0) store_bind_int(st, i + 1, v[i]);
    int rc = store_step(st);
    store_reset(st);
    return rc < 0 ? -1 : 0;
}

int team_create(catalog_t *c, const char *name, int64_t creator, team_t *t, err_t *e) {
    ASSERT_OFF_LOOP();
    if (!team_name_valid(name))
        return err_set(e, E_INVALID_NAME, "Team names start with a letter or digit and hold up to 64 letters, digits, "
                                          "'_', '.' or '-'");
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    int64_t now = time_now_ms(), id = 0;
    bool exists = false;
    store_exec(s, "SAVEPOINT team_create");
    int rc = store_cached(s, "SELECT 1 FROM principals WHERE name = ?", &st);
    if (rc == 0) {
        store_bind_text(st, 1, name, strlen(name));
        exists = store_step(st) == STORE_ROW;
        store_reset(st);
    }
    if (rc == 0 && !exists) rc = store_cached(s, "INSERT INTO principals(kind, name, created_ms) VALUES ('team', ?, ?)", &st);
    if (rc == 0 && !exists) {
        store_bind_text(st, 1, name, strlen(name));
        store_bind_int(st, 2, now);
        rc = store_step(st) < 0 ? -1 : 0;
        store_reset(st);
        id = store_last_rowid(s);
    }
    if (rc == 0 && !exists)
        rc = exec3(s, "INSERT INTO team_members(team_id, user_id, roles) VALUES (?, ?, ?)", id, creator, ROLE_ADMIN);
    if (rc < 0) err_set(e, E_INTERNAL, "creating team: %s", store_errmsg(s));
    else if (exists) err_set(e, E_EXISTS, "The name \"%s\" is already taken", name);
    store_exec(s, rc < 0 || exists ? "ROLLBACK TO team_create; RELEASE team_create" : "RELEASE team_create");
    catalog_unlock(c);
    if (rc < 0 || exists) return -1;
    auth_changed();
    t->id = id;
    snprintf(t->name, sizeof t->name, "%s", name);
    t->personal = false;
    t->created_ms = now;
    return 0;
}

int team_rename(catalog_t *c, team_t *t, const char *name, err_t *e) {
    ASSERT_OFF_LOOP();
    if (strcmp(t->name, name) == 0) return 0;
    if (t->personal) return err_set(e, E_BAD_INPUT, "A personal team is named after its user");
    if (!team_name_valid(name))
        return err_set(e, E_INVALID_NAME, "Team names start with a letter or digit and hold up to 64 letters, digits, "
                                          "'_', '.' or '-'");
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    int rc = store_cached(s, "UPDATE principals SET name = ? WHERE id = ? AND kind = 'team'"
                             " AND NOT EXISTS (SELECT 1 FROM principals WHERE name = ?)", &st);
    int64_t changed = 0;
    if (rc == 0) {
        store_bind_text(st, 1, name, strlen(name));
        store_bind_int(st, 2, t->id);
        store_bind_text(st, 3, name, strlen(name));
        rc = store_step(st) < 0 ? -1 : 0;
        store_reset(st);
        changed = store_changes(s);
    }
    if (rc < 0) err_set(e, E_INTERNAL, "renaming team: %s", store_errmsg(s));
    catalog_unlock(c);
    if (rc < 0) return -1;
    if (!changed) return err_set(e, E_EXISTS, "The name \"%s\" is already taken", name);
    snprintf(t->name, sizeof t->name, "%s", name);
    auth_changed();
    return 0;
}

static int64_t owned_dbs(catalog_t *c, int64_t id) {
    db_t **all;
    size_t n = catalog_db_list(c, &all);
    int64_t k = 0;
    for (size_t i = 0; i < n; i++) k += db_owner(all[i]) == id;
    catalog_db_list_free(all, n);
    return k;
}

int team_delete(catalog_t *c, const team_t *t, err_t *e) {
    ASSERT_OFF_LOOP();
    if (t->personal) return err_set(e, E_IN_USE, "A personal team cannot be deleted");
    if (owned_dbs(c, t->id)) return err_set(e, E_IN_USE, "Team \"%s\" still owns databases", t->name);
    store_db_t *s = catalog_lock(c);
    /* members and the team's API tokens go with it (ON DELETE CASCADE) */
    int rc = exec3(s, "DELETE FROM principals WHERE id = ? AND kind = 'team'", t->id, -1, -1);
    if (rc < 0) err_set(e, E_INTERNAL, "deleting team: %s", store_errmsg(s));
    catalog_unlock(c);
    if (rc == 0) auth_changed();
    return rc;
}

/* Admins of t other than user_id (lock held). */
static int64_t other_admins(store_db_t *s, int64_t team, int64_t user) {
    store_stmt_t *st;
    int64_t n = 0;
    if (store_cached(s, "SELECT count(*) FROM team_members WHERE team_id = ? AND user_id != ? AND roles & 1", &st) == 0) {
        store_bind_int(st, 1, team);
        store_bind_int(st, 2, user);
        if (store_step(st) == STORE_ROW) n = store_col_int(st, 0);
        store_reset(st);
    }
    return n;
}

int team_member_set(catalog_t *c, const team_t *t, const char *user, unsigned roles, err_t *e) {
    ASSERT_OFF_LOOP();
    roles &= ROLE_ALL;
    if (!roles) return err_set(e, E_BAD_INPUT, "\"roles\" must name at least one of Admin, Editor, Viewer");
    int64_t uid = auth_user_id(c, user);
    if (!uid) return err_set(e, E_NOT_FOUND, "User \"%s\" does not exist", user);
    if (t->personal) {
        if (uid == t->id && (roles & ROLE_ADMIN)) return 0;
        return err_set(e, E_BAD_INPUT, "A personal team has its user as its only member, an Admin");
    }
    store_db_t *s = catalog_lock(c);
    int rc = 0;
    if (!(roles & ROLE_ADMIN) && !other_admins(s, t->id, uid)) {
        err_set(e, E_IN_USE, "A team keeps at least one Admin");
        rc = -1;
    } else if (exec3(s, "INSERT INTO team_members(team_id, user_id, roles) VALUES (?, ?, ?)"
                        " ON CONFLICT (team_id, user_id) DO UPDATE SET roles = excluded.roles",
                     t->id, uid, roles) < 0) {
        err_set(e, E_INTERNAL, "setting roles: %s", store_errmsg(s));
        rc = -1;
    }
    catalog_unlock(c);
    if (rc == 0) auth_changed();
    return rc;
}

int team_member_remove(catalog_t *c, const team_t *t, const char *user, err_t *e) {
    ASSERT_OFF_LOOP();
    int64_t uid = auth_user_id(c, user);
    if (t->personal && uid == t->id) return err_set(e, E_IN_USE, "A team keeps at least one Admin");
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    unsigned roles = 0;
    if (uid && store_cached(s, "SELECT roles FROM team_members WHERE team_id = ? AND user_id = ?", &st) == 0) {
        store_bind_int(st, 1, t->id);
        store_bind_int(st, 2, uid);
        if (store_step(st) == STORE_ROW) roles = (unsigned)store_col_int(st, 0);
        store_reset(st);
    }
    int rc = 0;
    if (!roles) rc = err_set(e, E_NOT_FOUND, "User \"%s\" is not a member of team \"%s\"", user, t->name);
    else if ((roles & ROLE_ADMIN) && !other_admins(s, t->id, uid))
        rc = err_set(e, E_IN_USE, "A team keeps at least one Admin");
    else if (exec3(s, "DELETE FROM team_members WHERE team_id = ? AND user_id = ?", t->id, uid, -1) < 0)
        rc = err_set(e, E_INTERNAL, "removing member: %s", store_errmsg(s));
    catalog_unlock(c);
    if (rc == 0) auth_changed();
    return rc;
}

size_t team_members(catalog_t *c, const team_t *t, member_t **out) {
    ASSERT_OFF_LOOP();
    size_t n = 0, cap = 8;
    member_t *m = xcalloc(cap, sizeof *m);
    if (t->personal) {
        snprintf(m[0].name, sizeof m[0].name, "%s", t->name);
        m[0].roles = ROLE_ADMIN;
        *out = m;
        return 1;
    }
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    if (store_cached(s, "SELECT p.name, m.roles FROM team_members m JOIN principals p ON p.id = m.user_id"
                        " WHERE m.team_id = ? ORDER BY p.name", &st) == 0) {
        store_bind_int(st, 1, t->id);
        while (store_step(st) == STORE_ROW) {
            if (n == cap) m = xrealloc(m, (cap *= 2) * sizeof *m);
            snprintf(m[n].name, sizeof m[n].name, "%s", store_col_text(st, 0, NULL));
            m[n++].roles = (unsigned)store_col_int(st, 1);
        }
        store_reset(st);
    }
    catalog_unlock(c);
    *out = m;
    return n;
}

size_t team_list_for(catalog_t *c, int64_t user, team_t **out) {
    ASSERT_OFF_LOOP();
    size_t n = 0, cap = 8;
    team_t *t = xcalloc(cap, sizeof *t);
    store_db_t *s = catalog_lock(c);
    store_stmt_t *st;
    if (store_cached(s, "SELECT id, kind, coalesce(name, ''), created_ms FROM principals WHERE id = ?1 AND kind = 'user'"
                        " UNION ALL SELECT p.id, p.kind, p.name, p.created_ms FROM team_members m"
                        " JOIN principals p ON p.id = m.team_id WHERE m.user_id = ?1", &st) == 0) {
        store_bind_int(st, 1, user);
        while (store_step(st) == STORE_ROW) {
            if (n == cap) t = xrealloc(t, (cap *= 2) * sizeof *t);
            if (row_team(st, &t[n]) == 0) n++;
        }
        store_reset(st);
    }
    catalog_unlock(c);
    /* personal first (the first row), then by name */
    if (n > 2) {
        for (size_t i = 2; i < n; i++) {
            team_t x = t[i];
            size_t j = i;
            while (j > 1 && strcmp(t[j - 1].name, x.name) > 0) {
                t[j] = t[j - 1];
                j--;
            }
            t[j] = x;
        }
    }
    *out = t;
    return n;
}
