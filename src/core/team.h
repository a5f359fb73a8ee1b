/* team: teams and their members, the owners of databases beside users.
 * A team is a principal (kind 'team') whose name shares the namespace of
 * user names. Every user also has a personal team: the user principal
 * itself, named after the user, with that user as its only Admin — so a
 * database's owner_id names a user or a team, and "owned by Ann" and "owned
 * by Ann's personal team" are the same catalog fact on every door.
 * Roles: Admin (owner rights: O+S+W+R on the team's databases), Editor
 * (S+W+R), Viewer (R); core/auth turns them into rights in auth_check.
 * Threads: every function takes the catalog lock (a disk write for the
 * changes): call off the event loop. */
#ifndef ATRIUM_CORE_TEAM_H
#define ATRIUM_CORE_TEAM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/catalog.h"
#include "core/err.h"

enum { ROLE_ADMIN = 1, ROLE_EDITOR = 2, ROLE_VIEWER = 4, ROLE_ALL = 7 };

#define TEAM_NAME_MAX 64

typedef struct {
    int64_t id; /* the team's principal (for a personal team: the user's) */
    char name[TEAM_NAME_MAX + 1];
    bool personal;
    int64_t created_ms;
} team_t;

typedef struct {
    char name[TEAM_NAME_MAX + 1];
    unsigned roles;
} member_t;

/* ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$ — the rule for user and team names. */
bool team_name_valid(const char *name);
/* The database rights (ACT_*) roles give on their team's databases. */
unsigned team_role_actions(unsigned roles);
/* A role name ("Admin", "Editor", "Viewer") to its bit; 0 if none. */
unsigned team_role_parse(const char *name);
const char *team_role_name(unsigned role);

/* A team or a user's personal team by name; E_NOT_FOUND. */
int team_find(catalog_t *c, const char *name, team_t *t, err_t *e);
/* The team (or personal team) of a principal id; E_NOT_FOUND. */
int team_get(catalog_t *c, int64_t id, team_t *t, err_t *e);
/* A new team with creator as its Admin. E_INVALID_NAME, E_EXISTS (a user
 * or team has the name). */
int team_create(catalog_t *c, const char *name, int64_t creator, team_t *t, err_t *e);
/* Renames a (non-personal) team: E_BAD_INPUT for a personal one. */
int team_rename(catalog_t *c, team_t *t, const char *name, err_t *e);
/* Deletes a team: E_IN_USE while it owns databases or is personal. */
int team_delete(catalog_t *c, const team_t *t, err_t *e);
/* Sets user's roles in t (adds the member). E_NOT_FOUND (no such user),
 * E_BAD_INPUT (a personal team has no other members; no roles), E_IN_USE
 * (it would leave the team without an Admin). */
int team_member_set(catalog_t *c, const team_t *t, const char *user, unsigned roles, err_t *e);
/* Removes user from t: E_NOT_FOUND, E_IN_USE (the last Admin). */
int team_member_remove(catalog_t *c, const team_t *t, const char *user, err_t *e);
/* t's members by name (a personal team: its user as Admin); free *out. */
size_t team_members(catalog_t *c, const team_t *t, member_t **out);
/* The teams user belongs to, their personal team first; free *out. */
size_t team_list_for(catalog_t *c, int64_t user, team_t **out);

#endif
