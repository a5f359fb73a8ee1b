/* env: environment variables for Lua functions, per database and for the
 * instance (scope ENV_INSTANCE); a database's variables override the
 * instance's. Stored in system.db (env_vars); names ^[A-Za-z_][A-Za-z0-9_]*$
 * up to ENV_NAME_MAX bytes, values up to ENV_VALUE_MAX bytes, at most
 * ENV_MAX_VARS per scope. Threads: every function takes the catalog lock:
 * off the event loop. */
#ifndef ATRIUM_CORE_ENV_H
#define ATRIUM_CORE_ENV_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/catalog.h"
#include "core/err.h"

#define ENV_INSTANCE "@"
#define ENV_NAME_MAX 128
#define ENV_VALUE_MAX 65536
#define ENV_MAX_VARS 1000

typedef struct {
    char name[ENV_NAME_MAX + 1];
    char *value;
    int64_t created_ms;
} env_var_t;

bool env_name_valid(const char *name);
/* The scope's variables by name; free with env_free. */
size_t env_list(catalog_t *c, const char *scope, env_var_t **out);
void env_free(env_var_t *v, size_t n);
/* Adds a variable: E_EXISTS if the name is taken, E_BAD_INPUT if invalid
 * or too many. Fills created_ms when out is non-NULL. */
int env_add(catalog_t *c, const char *scope, const char *name, const char *value, env_var_t *out, err_t *e);
/* Renames and/or sets: E_NOT_FOUND, E_EXISTS (new name taken). */
int env_update(catalog_t *c, const char *scope, const char *name, const char *new_name, const char *value,
               err_t *e);
int env_delete(catalog_t *c, const char *scope, const char *name, err_t *e);
/* Replaces the whole set (all checked first: nothing changes on error). */
int env_replace(catalog_t *c, const char *scope, const env_var_t *vars, size_t n, err_t *e);

#endif
