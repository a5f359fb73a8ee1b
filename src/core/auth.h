/* auth: principals (users, the built-in admin), passwords (Argon2id via
 * libsodium), tokens and the one authorisation function every dialect uses.
 * Invariants: tokens exist only as SHA-256 hashes in system.db; the secret is
 * shown once at issue. An actor_t is a self-contained snapshot (grants and
 * token scopes copied in), so auth_check never touches the database.
 * Password hashing is deliberately slow: call auth_signin, auth_user_create
 * and auth_user_set_password off the event loop. */
#ifndef ATRIUM_CORE_AUTH_H
#define ATRIUM_CORE_AUTH_H
#include <stdbool.h>
#include <stdint.h>

#include "core/catalog.h"
#include "core/err.h"
#include "core/sql.h"

enum {
    ACT_READ = 1,
    ACT_WRITE = 2,
    ACT_SCHEMA = 4,
    ACT_ADMIN = 8,
    ACT_OWNER = 16,
    ACT_ALL = 31,
    /* adding rows only (Airsequel's insertonly tokens); ACT_WRITE implies it */
    ACT_INSERT = 32,
};

#define AUTH_MAX_GRANTS 32
#define AUTH_MAX_TEAMS 32
/* The db of a grant on the instance alone (see auth_check). */
#define AUTH_INSTANCE "@"
#define TOKEN_MAX_LEN 64 /* "atr_" + 43 base64url chars, with room */

typedef struct {
    char db[ULID_LEN + 1]; /* a database id, or "*" */
    unsigned actions;
} grant_t;

typedef struct {
    int64_t principal_id; /* 0: anonymous */
    char name[255 + 1]; /* "" for identities */
    char identity[IDENTITY_HEX_LEN + 1];
    bool is_admin;
    grant_t grants[AUTH_MAX_GRANTS];
    int ngrants;
    bool scoped; /* the token restricts the principal's rights further */
    grant_t scopes[AUTH_MAX_GRANTS];
    int nscopes;
    /* the teams the user belongs to (core/team), with their roles */
    struct {
        int64_t id;
        unsigned roles;
    } teams[AUTH_MAX_TEAMS];
    int nteams;
    int64_t token_expires_ms; /* when the presented token expires; 0: never */
    bool ephemeral; /* an identity not yet stored (principal_id 0, identity set) */
} actor_t;

/* The longest lifetime a token may be given (100 years): beyond it the
 * expiry would not fit the catalog's millisecond clock. */
#define AUTH_MAX_TTL_S 3153600000LL

typedef struct {
    const char *db; /* database id or "*" */
    unsigned actions;
} scope_t;

/* Makes sure the admin user exists. With no password given on first start,
 * one is generated and copied to generated (else generated[0] = 0). A
 * password given later that does not match only warns (see spec). */
int auth_init(catalog_t *c, const char *admin_password, char generated[33], err_t *e);

void auth_anonymous(actor_t *a);
/* Resolves a bearer token to its actor: E_BAD_TOKEN if unknown/expired. */
int auth_verify_token(catalog_t *c, const char *token, actor_t *a, err_t *e);
/* Checks a password and issues a sign-in token valid for ttl_s seconds. */
int auth_signin(catalog_t *c, const char *user, const char *password, int64_t ttl_s, char token[TOKEN_MAX_LEN],
                err_t *e);
/* Issues a token for a principal; ttl_s <= 0 never expires; scopes may be NULL.
 * Only for tokens that derive from no other (sign-in, the CLI, new
 * identities): a token minted on behalf of a presented token must go
 * through auth_token_derive. ttl_s > AUTH_MAX_TTL_S is E_BAD_INPUT. */
int auth_token_issue(catalog_t *c, int64_t principal_id, const char *kind, const char *prefix, int64_t ttl_s,
                     const scope_t *scopes, int nscopes, char token[TOKEN_MAX_LEN], err_t *e);
/* Issues a token on behalf of the token the actor presented. It never
 * exceeds its parent: its scopes are the requested ones (none: all of the
 * parent's) intersected with the parent's, and it expires no later than the
 * parent. An ephemeral identity is stored first (it now owns something).
 * ttl_s <= 0: as long as the parent. */
int auth_token_derive(catalog_t *c, actor_t *parent, const char *kind, const char *prefix, int64_t ttl_s,
                      const scope_t *scopes, int nscopes, char token[TOKEN_MAX_LEN], err_t *e);
int auth_token_revoke(catalog_t *c, const char *token);
/* The digest a token is stored under (tokens.hash). */
void auth_token_digest(const char *token, uint8_t out[32]);

/* Mints a new identity (SpacetimeDB's POST /v1/identity) and a token for it
 * that never expires. Nothing is stored: the token carries its identity's
 * seed, sealed with the catalog's secret, so anonymous callers cannot grow
 * the catalog. The identity is stored (auth_identity_persist) once it owns
 * something or needs a token of its own. */
int auth_identity_create(catalog_t *c, char identity[IDENTITY_HEX_LEN + 1], char token[TOKEN_MAX_LEN], err_t *e);
/* Stores an ephemeral actor's identity as a principal (idempotent) and
 * fills a->principal_id. No-op for stored principals. */
int auth_identity_persist(catalog_t *c, actor_t *a, err_t *e);
/* The identity of a principal (derived and stored on first need); "" if
 * there is no such principal. */
void auth_principal_identity(catalog_t *c, int64_t principal_id, char out[IDENTITY_HEX_LEN + 1]);
/* A principal's name ("" for none or an identity). Takes the catalog lock:
 * off the event loop. */
void auth_principal_name(catalog_t *c, int64_t principal_id, char *out, size_t n);

int auth_user_create(catalog_t *c, const char *name, const char *password, err_t *e);
/* The user's principal id, or 0 if there is no such user. */
int64_t auth_user_id(catalog_t *c, const char *name);
/* Whether principal id is a server admin. Off the loop. */
bool auth_user_is_admin(catalog_t *c, int64_t id);
int auth_user_set_password(catalog_t *c, const char *name, const char *password, err_t *e);
int auth_user_delete(catalog_t *c, const char *name, err_t *e);
/* Sorted user names; free each and the array. */
size_t auth_user_list(catalog_t *c, char ***names);

/* The one authorisation question: may actor, as narrowed by the token it
 * presented, do action on db (NULL = the instance as a whole: grants on
 * "*" or AUTH_INSTANCE)? ACT_ADMIN on NULL is instance administration
 * (users, grants); ACT_SCHEMA on NULL is creating databases. */
bool auth_check(const actor_t *a, const db_t *db, unsigned action);
/* The roles (ROLE_* of core/team) actor holds in the team whose principal
 * is team_id (a user's id: their personal team): every role for the server
 * admin, Admin for a user's own personal team; none through a scoped token
 * (a token limited to databases manages no team). */
unsigned auth_team_roles(const actor_t *a, int64_t team_id, bool personal);
/* Call after changing principals, memberships or tokens in system.db:
 * every thread's cache of verified tokens reloads. */
void auth_changed(void);
/* The right running statements of class cls needs (read, write, schema). */
unsigned auth_action_for(sql_class_t cls);
/* May actor manage the account of user `name` (see it, change its password,
 * delete it)? With the instance's admin right, or as that very user
 * presenting an unrestricted token (a scoped token manages no account). */
bool auth_check_user(const actor_t *a, const char *name);

#endif
