/* reset: password resets without e-mail (spec/airsequel.md §2). The server
 * admin asks for a reset key for the user with an e-mail address and hands
 * it over; the key works once, for RESET_TTL_MS, and setting the password
 * with it revokes the user's sessions (as any password change does). Keys
 * exist only as SHA-256 hashes in system.db. Users' e-mail addresses live
 * on their principal, unique. Threads: off the event loop (catalog lock;
 * submit hashes a password). */
#ifndef ATRIUM_CORE_RESET_H
#define ATRIUM_CORE_RESET_H
#include <stdint.h>

#include "core/catalog.h"
#include "core/err.h"

#define RESET_TTL_MS (60 * 60 * 1000)
#define RESET_KEY_LEN 48

/* Sets (or with NULL clears) a user's e-mail: E_EXISTS if another has it,
 * E_BAD_INPUT if it does not look like one. */
int reset_set_email(catalog_t *c, const char *user, const char *email, err_t *e);
/* A new key for the user with that e-mail: E_NOT_FOUND if none. */
int reset_issue(catalog_t *c, const char *email, char key[RESET_KEY_LEN + 1], int64_t *expires_ms, err_t *e);
/* Uses a key: the user's new password. E_BAD_INPUT for an unknown, used or
 * expired key (all the same to the caller). */
int reset_submit(catalog_t *c, const char *key, const char *password, err_t *e);

#endif
