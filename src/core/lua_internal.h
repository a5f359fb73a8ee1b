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

/* The runtime a state belongs to (NULL while only defining). */
lrt_t *lua_rt_of(lua_State *L);
bool ltype_is_integer(ltype_t t);
/* log, print and the db table (in the registry, set as `db` per call). */
void lua_db_install(lua_State *L, lrt_t *rt);

#endif
