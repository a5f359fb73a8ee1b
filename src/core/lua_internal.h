/* lua_internal: what core/lua's files share (lua.c: the sandbox,
 * definitions and calls; lua_db.c: log.*, print and the db handles). */
#ifndef ATRIUM_CORE_LUA_INTERNAL_H
#define ATRIUM_CORE_LUA_INTERNAL_H
#include <lua.h>

#include "core/lua.h"
#include "core/schema.h"

/* A state's budget (the allocator's user data). */
typedef struct {
    size_t used, limit;
    bool tripped;
    char why[96];
    int64_t count;
    uint64_t deadline_us;
    bool armed; /* limits count only while a load or call runs */
} lbox_t;

struct lrt {
    lua_State *L;
    lbox_t box;
    mdef_t *def;
    int *fn_refs;
    lua_log_fn log;
    void *log_ctx;
    /* during a call */
    const char *reducer;
    db_t *db;
    store_db_t *c;
    const schema_t *schema;
};

/* A fresh sandboxed state (see lua.h) whose budget is b. */
lua_State *lua_sandbox_new(lbox_t *b);
/* Starts a load's or call's limits (instructions, time). */
void lua_sandbox_arm(lua_State *L, lbox_t *b);
/* The error at the top of the stack as text without "module:<line>: ";
 * *line gets that line (0 if none). */
void lua_error_text(lua_State *L, char *out, size_t n, int *line);
/* The runtime a state belongs to (NULL while only defining). */
lrt_t *lua_rt_of(lua_State *L);
bool ltype_is_integer(ltype_t t);
/* log, print and the db table (in the registry, set as `db` per call). */
void lua_db_install(lua_State *L, lrt_t *rt);

#endif
