/* apitoken: API tokens — long-lived tokens a team hands to an application
 * (Airsequel's /api/tokens, usable on every door). Each is an ordinary
 * token (core/auth) whose principal is the team (a user's id for a
 * personal team) and whose scopes are its per-database permissions, so
 * auth_check narrows it like any other scoped token and it can never reach
 * a database its team does not own. Beside it system.db keeps what users
 * see: an integer id that is never reused, a name, a description and the
 * secret's first characters. The secret itself exists only in the answer
 * to create.
 * Threads: every function takes the catalog lock: off the event loop. */
#ifndef ATRIUM_CORE_APITOKEN_H
#define ATRIUM_CORE_APITOKEN_H
#include <stdint.h>

#include "core/auth.h"

#define APITOK_NAME_MAX 255
#define APITOK_DESC_MAX 1000
#define APITOK_SHOWN 12 /* characters of the secret shown after creation */

typedef struct {
    char db_id[ULID_LEN + 1];
    unsigned actions; /* ACT_* */
} apitok_perm_t;

typedef struct {
    int64_t id, team_id;
    char name[APITOK_NAME_MAX + 1];
    char description[APITOK_DESC_MAX + 1];
    bool has_description;
    char shown[APITOK_SHOWN + 1];
    int64_t created_ms, expires_ms; /* expires_ms 0: never */
    apitok_perm_t perms[AUTH_MAX_GRANTS];
    int nperms;
} apitok_t;

/* Permission names: read (R), write (R+W+S), writeonly (W), insertonly
 * (inserting rows only). 0 / "" when unknown. */
unsigned apitok_perm_actions(const char *name);
const char *apitok_perm_name(unsigned actions);

/* Issues t (team_id, name, description, expires_ms and perms filled in;
 * id, shown and created_ms set here). E_FORBIDDEN when a permission names a
 * database the team does not own, E_NOT_FOUND when it names none,
 * E_BAD_INPUT for an expiry in the past. */
int apitok_create(catalog_t *c, apitok_t *t, char token[TOKEN_MAX_LEN], err_t *e);
/* E_NOT_FOUND for an unknown or revoked id. */
int apitok_get(catalog_t *c, int64_t id, apitok_t *t, err_t *e);
/* Stores t's name, description and expiry. */
int apitok_update(catalog_t *c, const apitok_t *t, err_t *e);
/* Revokes: the token stops working at once; the id is not reused. */
int apitok_revoke(catalog_t *c, int64_t id, err_t *e);
/* The team's tokens, oldest first; free *out. */
size_t apitok_list(catalog_t *c, int64_t team_id, apitok_t **out);

#endif
