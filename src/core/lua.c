/* lua: module definitions and the reducer runtime (see lua.h). */
#include "core/lua.h"
#include "core/lua_internal.h"

#include <ctype.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/query.h"
#include "core/rows.h"
#include "core/schema.h"
#include "core/sql.h"
#include "core/value.h"
#include "util/ids.h"
#include "util/metrics.h"
#include "util/timeutil.h"

/* ---- the sandbox ---------------------------------------------------------- */


static void trip(lbox_t *b, const char *why) {
    if (!b->tripped) snprintf(b->why, sizeof b->why, "%s", why);
    b->tripped = true;
}

static void *l_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    lbox_t *b = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        b->used -= old;
        free(ptr);
        return NULL;
    }
    if (nsize > old && b->used - old + nsize > b->limit) {
        trip(b, "out of memory: the module's 64 MiB are used up");
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (p) b->used = b->used - old + nsize;
    return p;
}

#define HOOK_EVERY 1000

static void hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    lbox_t *b;
    lua_getallocf(L, (void **)&b);
    if (!b->armed) return;
    if (!b->tripped) b->count += HOOK_EVERY;
    if (b->count > LUA_MAX_INSTRUCTIONS) trip(b, "instruction limit exceeded (10,000,000)");
    else if (time_mono_us() > b->deadline_us) trip(b, "time limit exceeded (1,000 ms)");
    if (b->tripped) {
        /* from now on at every instruction: the first one outside any
         * pcall raises it for good */
        lua_sethook(L, hook, LUA_MASKCOUNT, 1);
        luaL_error(L, "%s", b->why);
    }
}

void lua_sandbox_arm(lua_State *L, lbox_t *b) {
    lua_sethook(L, hook, LUA_MASKCOUNT, HOOK_EVERY);
    b->armed = true;
    b->tripped = false;
    b->count = 0;
    b->deadline_us = time_mono_us() + (uint64_t)LUA_MAX_MS * 1000;
}

lua_State *lua_sandbox_new(lbox_t *b) {
    memset(b, 0, sizeof *b);
    b->limit = LUA_MAX_BYTES;
    lua_State *L = lua_newstate(l_alloc, b);
    if (!L) return NULL;
    static const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base},       {LUA_STRLIBNAME, luaopen_string},
                                    {LUA_TABLIBNAME, luaopen_table}, {LUA_MATHLIBNAME, luaopen_math},
                                    {LUA_UTF8LIBNAME, luaopen_utf8}, {LUA_COLIBNAME, luaopen_coroutine},
                                    {NULL, NULL}};
    for (const luaL_Reg *l = libs; l->name; l++) {
        luaL_requiref(L, l->name, l->func, 1);
        lua_pop(L, 1);
    }
    static const char *const banned[] = {"dofile", "loadfile", "load", "collectgarbage", "require", NULL};
    for (int i = 0; banned[i]; i++) {
        lua_pushnil(L);
        lua_setglobal(L, banned[i]);
    }
    lua_getglobal(L, "string");
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    lua_pop(L, 1);
    lua_sethook(L, hook, LUA_MASKCOUNT, HOOK_EVERY);
    return L;
}

/* The error at the top of the stack as text, without "module:<line>: ";
 * *line gets that line (0 if none). */
void lua_error_text(lua_State *L, char *out, size_t n, int *line) {
    const char *m = lua_tostring(L, -1);
    if (!m) m = luaL_typename(L, -1);
    *line = 0;
    if (strncmp(m, "module:", 7) == 0) {
        const char *p = m + 7;
        int ln = 0;
        while (isdigit((unsigned char)*p)) ln = ln * 10 + (*p++ - '0');
        if (*p == ':' && p[1] == ' ') {
            *line = ln;
            m = p + 2;
        }
    }
    snprintf(out, n, "%s", m);
}

/* ---- types ------------------------------------------------------------------ */

static const char *const type_names[] = {"bool", "i8",  "i16", "i32",    "i64",   "u8",       "u16",           "u32",
                                         "u64",  "f32", "f64", "string", "bytes", "identity", "connection_id", "timestamp"};

const char *ltype_name(ltype_t t) { return type_names[t]; }

static int type_of(const char *s) {
    for (int i = 0; i < (int)(sizeof type_names / sizeof *type_names); i++)
        if (strcmp(s, type_names[i]) == 0) return i;
    return -1;
}

bool ltype_is_integer(ltype_t t) { return t <= LT_U64 || t == LT_TIMESTAMP; }

static bool valid_name(const char *s) {
    if (!s || !*s || strncmp(s, "sqlite_", 7) == 0 || strlen(s) > 64) return false;
    if (!(islower((unsigned char)*s) || *s == '_')) return false;
    for (const char *p = s; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_')) return false;
    return true;
}

/* ---- the definition ---------------------------------------------------------- */

static void table_free(mtable_t *t) {
    for (int i = 0; i < t->ncols; i++) free(t->cols[i].name), free(t->cols[i].dflt);
    free(t->cols);
    for (int i = 0; i < t->nidx; i++) {
        for (int k = 0; k < t->idx[i].n; k++) free(t->idx[i].cols[k]);
        free(t->idx[i].cols);
    }
    free(t->idx);
    free(t->name);
}

void mdef_free(mdef_t *d) {
    if (!d) return;
    for (int i = 0; i < d->ntables; i++) table_free(&d->tables[i]);
    free(d->tables);
    for (int i = 0; i < d->nreducers; i++) {
        mreducer_t *r = &d->reducers[i];
        for (int k = 0; k < r->nparams; k++) free(r->pnames[k]);
        free(r->pnames);
        free(r->ptypes);
        free(r->poptional);
        free(r->name);
    }
    free(d->reducers);
    free(d);
}

const mtable_t *mdef_table(const mdef_t *d, const char *name) {
    for (int i = 0; d && i < d->ntables; i++)
        if (strcmp(d->tables[i].name, name) == 0) return &d->tables[i];
    return NULL;
}

const mreducer_t *mdef_reducer(const mdef_t *d, const char *name) {
    for (int i = 0; d && i < d->nreducers; i++)
        if (strcmp(d->reducers[i].name, name) == 0) return &d->reducers[i];
    return NULL;
}

/* While a module loads: what it declared, and the Lua functions. */
typedef struct {
    mdef_t *def;
    int *fn_refs; /* per reducer, a registry reference */
} loading_t;

static loading_t *loading_of(lua_State *L) {
    lua_getfield(L, LUA_REGISTRYINDEX, "atrium.loading");
    loading_t *ld = lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (!ld) luaL_error(L, "atrium.* may only be called while the module loads");
    return ld;
}

static bool field_bool(lua_State *L, int idx, const char *k) {
    lua_getfield(L, idx, k);
    bool v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

/* A default as an SQL literal. */
static char *default_sql(lua_State *L, int idx) {
    buf_t b = BUF_INIT;
    switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN: buf_puts(&b, lua_toboolean(L, idx) ? "1" : "0"); break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) buf_printf(&b, "%lld", (long long)lua_tointeger(L, idx));
        else buf_printf(&b, "%.17g", lua_tonumber(L, idx));
        break;
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        buf_putc(&b, '\'');
        for (size_t i = 0; i < n; i++) {
            if (s[i] == '\'') buf_putc(&b, '\'');
            buf_putc(&b, s[i]);
        }
        buf_putc(&b, '\'');
        break;
    }
    default: return NULL;
    }
    return b.data;
}

static int l_table(lua_State *L) {
    loading_t *ld = loading_of(L);
    const char *name = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    if (!valid_name(name)) return luaL_error(L, "invalid table name '%s'", name);
    if (mdef_table(ld->def, name)) return luaL_error(L, "table '%s' is declared twice", name);
    mdef_t *d = ld->def;
    d->tables = realloc(d->tables, (size_t)(d->ntables + 1) * sizeof *d->tables);
    mtable_t *t = &d->tables[d->ntables++];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    t->public = field_bool(L, 2, "public");
    lua_Integer n = luaL_len(L, 2);
    if (n < 1 || n > 2000) return luaL_error(L, "table '%s' needs between 1 and 2000 columns", name);
    t->cols = calloc((size_t)n, sizeof *t->cols);
    int npk = 0;
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, 2, i);
        if (!lua_istable(L, -1)) return luaL_error(L, "table '%s': column %d must be a table", name, (int)i);
        int ci = lua_gettop(L);
        lua_geti(L, ci, 1);
        lua_geti(L, ci, 2);
        const char *cn = lua_tostring(L, -2), *ty = lua_tostring(L, -1);
        if (!cn || !valid_name(cn)) return luaL_error(L, "table '%s': invalid column name", name);
        int tt = ty ? type_of(ty) : -1;
        if (tt < 0) return luaL_error(L, "table '%s': column '%s' has an unknown type", name, cn);
        for (int k = 0; k < t->ncols; k++)
            if (strcmp(t->cols[k].name, cn) == 0) return luaL_error(L, "table '%s': column '%s' twice", name, cn);
        mcol_t *c = &t->cols[t->ncols++];
        c->name = strdup(cn);
        c->type = (ltype_t)tt;
        c->pk = field_bool(L, ci, "primary_key");
        c->auto_inc = field_bool(L, ci, "auto_inc");
        c->unique = field_bool(L, ci, "unique");
        c->index = field_bool(L, ci, "index");
        c->optional = field_bool(L, ci, "optional");
        lua_getfield(L, ci, "default");
        if (!lua_isnil(L, -1)) {
            c->dflt = default_sql(L, lua_gettop(L));
            if (!c->dflt) return luaL_error(L, "table '%s': column '%s' has a default of the wrong kind", name, cn);
        }
        lua_pop(L, 4);
        npk += c->pk;
        if (c->auto_inc && (!c->pk || !ltype_is_integer(c->type) || c->type == LT_TIMESTAMP))
            return luaL_error(L, "table '%s': auto_inc needs an integer primary key ('%s')", name, cn);
        if (c->pk && c->optional) return luaL_error(L, "table '%s': a primary key cannot be optional", name);
    }
    if (npk > 1) return luaL_error(L, "table '%s' has more than one primary_key", name);
    lua_getfield(L, 2, "indexes");
    if (lua_istable(L, -1)) {
        int ii = lua_gettop(L);
        lua_Integer m = luaL_len(L, ii);
        t->idx = calloc((size_t)m + 1, sizeof *t->idx);
        for (lua_Integer i = 1; i <= m; i++) {
            lua_geti(L, ii, i);
            if (!lua_istable(L, -1)) return luaL_error(L, "table '%s': indexes are lists of columns", name);
            lua_Integer k = luaL_len(L, -1);
            mindex_t *x = &t->idx[t->nidx++];
            x->cols = calloc((size_t)k + 1, sizeof *x->cols);
            for (lua_Integer j = 1; j <= k; j++) {
                lua_geti(L, -1, j);
                const char *cn = lua_tostring(L, -1);
                bool known = false;
                for (int c = 0; cn && c < t->ncols; c++) known = known || strcmp(t->cols[c].name, cn) == 0;
                if (!known) return luaL_error(L, "table '%s': index on an unknown column", name);
                x->cols[x->n++] = strdup(cn);
                lua_pop(L, 1);
            }
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    return 0;
}

static int add_reducer(lua_State *L, const char *name, int lifecycle, int params_idx, int fn_idx) {
    loading_t *ld = loading_of(L);
    mdef_t *d = ld->def;
    if (!valid_name(name)) return luaL_error(L, "invalid reducer name '%s'", name);
    if (mdef_reducer(d, name)) return luaL_error(L, "reducer '%s' is declared twice", name);
    luaL_checktype(L, fn_idx, LUA_TFUNCTION);
    d->reducers = realloc(d->reducers, (size_t)(d->nreducers + 1) * sizeof *d->reducers);
    ld->fn_refs = realloc(ld->fn_refs, (size_t)(d->nreducers + 1) * sizeof *ld->fn_refs);
    mreducer_t *r = &d->reducers[d->nreducers];
    memset(r, 0, sizeof *r);
    r->name = strdup(name);
    r->lifecycle = lifecycle;
    lua_pushvalue(L, fn_idx);
    ld->fn_refs[d->nreducers] = luaL_ref(L, LUA_REGISTRYINDEX);
    d->nreducers++;
    if (params_idx) {
        luaL_checktype(L, params_idx, LUA_TTABLE);
        lua_Integer n = luaL_len(L, params_idx);
        r->pnames = calloc((size_t)n + 1, sizeof *r->pnames);
        r->ptypes = calloc((size_t)n + 1, sizeof *r->ptypes);
        r->poptional = calloc((size_t)n + 1, sizeof *r->poptional);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_geti(L, params_idx, i);
            if (!lua_istable(L, -1)) return luaL_error(L, "reducer '%s': parameters are {name, type}", name);
            lua_geti(L, -1, 1);
            lua_geti(L, -2, 2);
            const char *pn = lua_tostring(L, -2), *ty = lua_tostring(L, -1);
            int tt = ty ? type_of(ty) : -1;
            if (!pn || !valid_name(pn) || tt < 0)
                return luaL_error(L, "reducer '%s': parameter %d needs a name and a known type", name, (int)i);
            r->pnames[r->nparams] = strdup(pn);
            r->ptypes[r->nparams] = (ltype_t)tt;
            lua_pop(L, 2);
            r->poptional[r->nparams] = field_bool(L, -1, "optional");
            r->nparams++;
            lua_pop(L, 1);
        }
    }
    return 0;
}

static int l_reducer(lua_State *L) { return add_reducer(L, luaL_checkstring(L, 1), LC_NONE, 2, 3); }
static int l_init(lua_State *L) { return add_reducer(L, "init", LC_INIT, 0, 1); }
static int l_connected(lua_State *L) { return add_reducer(L, "client_connected", LC_CONNECT, 0, 1); }
static int l_disconnected(lua_State *L) { return add_reducer(L, "client_disconnected", LC_DISCONNECT, 0, 1); }

/* atrium.blob(s): a string to be stored as a BLOB by db:exec/db:query. */
static int l_blob(lua_State *L) {
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    lua_createtable(L, 0, 1);
    lua_pushlstring(L, s, n);
    lua_setfield(L, -2, "__blob");
    return 1;
}

static int cmp_tables(const void *a, const void *b) {
    return strcmp(((const mtable_t *)a)->name, ((const mtable_t *)b)->name);
}

/* Loads src into L (sandboxed) with `atrium` available; the definition
 * and reducer references come out in ld. 0, or -1 with e. */
static int load_module(lua_State *L, lbox_t *b, const char *src, size_t n, loading_t *ld, err_t *e) {
    if (n > LUA_MAX_SOURCE) return err_set(e, E_TOO_BIG, "module failed to load: larger than 1 MiB");
    if (n && src[0] == 0x1b) return err_set(e, E_BAD_INPUT, "module failed to load: bytecode is not accepted");
    ld->def = calloc(1, sizeof *ld->def);
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)src, n);
    hex_encode(h, sizeof h, ld->def->hash);
    lua_pushlightuserdata(L, ld);
    lua_setfield(L, LUA_REGISTRYINDEX, "atrium.loading");
    static const luaL_Reg fns[] = {{"table", l_table},
                                   {"reducer", l_reducer},
                                   {"init", l_init},
                                   {"client_connected", l_connected},
                                   {"client_disconnected", l_disconnected},
                                   {"blob", l_blob},
                                   {NULL, NULL}};
    luaL_newlib(L, fns);
    lua_setglobal(L, "atrium");
    lua_sandbox_arm(L, b);
    int rc = luaL_loadbufferx(L, src, n, "=module", "t");
    if (rc == LUA_OK) rc = lua_pcall(L, 0, 0, 0);
    b->armed = false;
    lua_pushnil(L);
    lua_setfield(L, LUA_REGISTRYINDEX, "atrium.loading");
    if (rc != LUA_OK) {
        char msg[400];
        int line;
        if (b->tripped) snprintf(msg, sizeof msg, "%s", b->why);
        else lua_error_text(L, msg, sizeof msg, &line);
        lua_pop(L, 1);
        return err_set(e, E_BAD_INPUT, "module failed to load: %s", msg);
    }
    /* the atrium table is only for loading */
    lua_pushnil(L);
    lua_setglobal(L, "atrium");
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, l_blob);
    lua_setfield(L, -2, "blob");
    lua_setglobal(L, "atrium");
    if (ld->def->ntables > 1) qsort(ld->def->tables, (size_t)ld->def->ntables, sizeof *ld->def->tables, cmp_tables);
    /* reducers sorted by name (their index is the v1 reducer_id), references with them */
    mdef_t *d = ld->def;
    for (int i = 1; i < d->nreducers; i++)
        for (int k = i; k > 0 && strcmp(d->reducers[k - 1].name, d->reducers[k].name) > 0; k--) {
            mreducer_t tr = d->reducers[k];
            d->reducers[k] = d->reducers[k - 1];
            d->reducers[k - 1] = tr;
            int tf = ld->fn_refs[k];
            ld->fn_refs[k] = ld->fn_refs[k - 1];
            ld->fn_refs[k - 1] = tf;
        }
    return 0;
}

int lua_define(const char *src, size_t n, mdef_t **out, err_t *e) {
    *out = NULL;
    lbox_t b;
    lua_State *L = lua_sandbox_new(&b);
    if (!L) return err_set(e, E_INTERNAL, "cannot create a Lua state");
    loading_t ld = {0};
    int rc = load_module(L, &b, src, n, &ld, e);
    lua_close(L);
    free(ld.fn_refs);
    if (rc < 0) {
        mdef_free(ld.def);
        return -1;
    }
    *out = ld.def;
    return 0;
}

/* ---- the runtime --------------------------------------------------------------- */



int lrt_open(const char *src, size_t n, lua_log_fn log, void *log_ctx, lrt_t **out, err_t *e) {
    *out = NULL;
    lrt_t *rt = calloc(1, sizeof *rt);
    rt->log = log;
    rt->log_ctx = log_ctx;
    rt->L = lua_sandbox_new(&rt->box);
    if (!rt->L) {
        free(rt);
        return err_set(e, E_INTERNAL, "cannot create a Lua state");
    }
    lua_db_install(rt->L, rt);
    loading_t ld = {0};
    if (load_module(rt->L, &rt->box, src, n, &ld, e) < 0) {
        mdef_free(ld.def);
        free(ld.fn_refs);
        lua_close(rt->L);
        free(rt);
        return -1;
    }
    rt->def = ld.def;
    rt->fn_refs = ld.fn_refs;
    *out = rt;
    return 0;
}

void lrt_close(lrt_t *rt) {
    if (!rt) return;
    lua_close(rt->L);
    mdef_free(rt->def);
    free(rt->fn_refs);
    free(rt);
}

const mdef_t *lrt_def(const lrt_t *rt) { return rt->def; }

bool lvalue_from_json(const json_t *j, ltype_t t, bool optional, lvalue_t *out) {
    memset(out, 0, sizeof *out);
    if (optional) {
        if (!j || json_is_null(j) || (json_is_object(j) && json_object_get(j, "none"))) return true; /* LV_NIL */
        if (json_is_object(j) && json_object_get(j, "some")) j = json_object_get(j, "some");
    }
    if (!j) return false;
    switch (t) {
    case LT_BOOL:
        if (!json_is_boolean(j)) return false;
        out->kind = LV_BOOL;
        out->b = json_is_true(j);
        return true;
    case LT_F32:
    case LT_F64:
        if (!json_is_number(j)) return false;
        out->kind = LV_REAL;
        out->d = json_number_value(j);
        return true;
    case LT_STRING:
        if (!json_is_string(j)) return false;
        out->kind = LV_STR;
        out->n = json_string_length(j);
        out->s = xstrndup(json_string_value(j), out->n);
        return true;
    case LT_BYTES: {
        if (!json_is_string(j)) return false;
        const char *s = json_string_value(j);
        size_t n = json_string_length(j);
        if (n >= 2 && s[0] == '0' && s[1] == 'x') s += 2, n -= 2;
        uint8_t *raw = xmalloc(n / 2 + 1);
        int got = hex_decode(s, n, raw, n / 2 + 1);
        if (got < 0 || (size_t)got * 2 != n) {
            free(raw);
            return false;
        }
        out->kind = LV_STR;
        out->s = (char *)raw;
        out->n = (size_t)got;
        return true;
    }
    case LT_IDENTITY:
    case LT_CONNECTION_ID: {
        const json_t *v = j;
        if (json_is_object(j)) v = json_object_get(j, t == LT_IDENTITY ? "__identity__" : "__connection_id__");
        if (!json_is_string(v)) return false;
        const char *s = json_string_value(v);
        if (strncmp(s, "0x", 2) == 0) s += 2;
        size_t want = t == LT_IDENTITY ? 64 : 32;
        if (strlen(s) != want) return false;
        for (const char *p = s; *p; p++)
            if (!isxdigit((unsigned char)*p)) return false;
        out->kind = LV_STR;
        out->s = xmalloc(want + 1);
        for (size_t i = 0; i <= want; i++) out->s[i] = (char)tolower((unsigned char)s[i]);
        out->n = want;
        return true;
    }
    case LT_TIMESTAMP:
        if (json_is_object(j)) j = json_object_get(j, "__timestamp_micros_since_unix_epoch__");
        /* fallthrough */
    default: {
        if (!json_is_integer(j)) return false;
        json_int_t v = json_integer_value(j);
        static const int64_t lo[] = {0, -128, -32768, -2147483648LL, INT64_MIN, 0, 0, 0, 0};
        static const int64_t hi[] = {1, 127, 32767, 2147483647LL, INT64_MAX, 255, 65535, 4294967295LL, INT64_MAX};
        if (t <= LT_U64 && (v < lo[t] || v > hi[t])) return false;
        out->kind = LV_INT;
        out->i = v;
        return true;
    }
    }
}

void lvalue_free(lvalue_t *v) {
    free(v->s);
    v->s = NULL;
}

/* A SATS-JSON argument as a Lua value of type t; false if it does not fit. */
static bool push_arg(lua_State *L, const json_t *j, ltype_t t, bool optional) {
    lvalue_t v;
    if (!lvalue_from_json(j, t, optional, &v)) return false;
    switch (v.kind) {
    case LV_NIL: lua_pushnil(L); break;
    case LV_BOOL: lua_pushboolean(L, v.b); break;
    case LV_INT: lua_pushinteger(L, v.i); break;
    case LV_REAL: lua_pushnumber(L, v.d); break;
    case LV_STR: lua_pushlstring(L, v.s, v.n); break;
    }
    lvalue_free(&v);
    return true;
}

static void push_ctx(lua_State *L, const lcall_t *who, const char *reducer) {
    lua_createtable(L, 0, 6);
    lua_pushstring(L, who->sender ? who->sender : "");
    lua_setfield(L, -2, "sender");
    if (who->connection_id) {
        lua_pushstring(L, who->connection_id);
        lua_setfield(L, -2, "connection_id");
    }
    lua_pushinteger(L, who->timestamp_us);
    lua_setfield(L, -2, "timestamp");
    lua_pushstring(L, who->db_identity ? who->db_identity : "");
    lua_setfield(L, -2, "identity");
    lua_pushstring(L, reducer);
    lua_setfield(L, -2, "reducer");
    lua_getfield(L, LUA_REGISTRYINDEX, "atrium.db");
    lua_pushvalue(L, -1);
    lua_setglobal(L, "db");
    lua_setfield(L, -2, "db");
}

static int call_index(lrt_t *rt, db_t *d, store_db_t *c, int i, const json_t *args, const lcall_t *who, err_t *e) {
    lua_State *L = rt->L;
    const mreducer_t *r = &rt->def->reducers[i];
    char msg[256];
    const schema_t *s = schema_acquire(d, c, msg, sizeof msg);
    if (!s) return err_set(e, E_INTERNAL, "%s", msg);
    rt->db = d, rt->c = c, rt->schema = s, rt->reducer = r->name;
    lua_settop(L, 0);
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->fn_refs[i]);
    push_ctx(L, who, r->name);
    int nargs = 1;
    bool by_name = json_is_object(args);
    if (args && !json_is_array(args) && !by_name) {
        schema_release(s);
        return err_set(e, E_BAD_INPUT, "arguments must be a JSON array or object");
    }
    if (json_is_array(args) && (int)json_array_size(args) != r->nparams) {
        schema_release(s);
        return err_set(e, E_BAD_INPUT, "reducer %s takes %d arguments, not %zu", r->name, r->nparams,
                       json_array_size(args));
    }
    if (by_name) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)args, k, v) {
            bool known = false;
            for (int p = 0; p < r->nparams; p++) known = known || strcmp(r->pnames[p], k) == 0;
            if (!known) {
                schema_release(s);
                return err_set(e, E_BAD_INPUT, "reducer %s has no parameter %s", r->name, k);
            }
        }
    }
    for (int p = 0; p < r->nparams; p++) {
        const json_t *a = by_name ? json_object_get(args, r->pnames[p]) : json_array_get(args, (size_t)p);
        if (!push_arg(L, a, r->ptypes[p], r->poptional[p])) {
            schema_release(s);
            lua_settop(L, 0);
            return err_set(e, E_BAD_INPUT, "invalid argument %s for reducer %s: expected %s", r->pnames[p], r->name,
                           ltype_name(r->ptypes[p]));
        }
        nargs++;
    }
    lua_sandbox_arm(L, &rt->box);
    int rc = lua_pcall(L, nargs, 0, 0);
    rt->box.armed = false;
    metrics_inc1(MET_LUA_CALLS, "reducer");
    if (rc != LUA_OK) metrics_inc1(rt->box.tripped ? MET_LUA_LIMITS : MET_LUA_ERRORS, "reducer");
    lua_pushnil(L);
    lua_setglobal(L, "db"); /* db exists only inside reducers */
    schema_release(s);
    rt->schema = NULL, rt->c = NULL, rt->db = NULL, rt->reducer = NULL;
    if (rc != LUA_OK) {
        char text[400];
        int line;
        if (rt->box.tripped) snprintf(text, sizeof text, "%s", rt->box.why);
        else lua_error_text(L, text, sizeof text, &line);
        lua_settop(L, 0);
        if (rt->log) {
            char full[480];
            snprintf(full, sizeof full, "reducer %s failed: %s", r->name, text);
            rt->log(rt->log_ctx, "Error", 0, r->name, full);
        }
        /* a state that ran out of memory or time is not trusted again */
        if (rt->box.tripped) return err_set_sub(e, E_REDUCER, ES_LIMIT, "%s", text);
        return err_set(e, E_REDUCER, "%s", text);
    }
    lua_settop(L, 0);
    lua_gc(L, LUA_GCSTEP, 0);
    return 0;
}

int lrt_call(lrt_t *rt, db_t *d, store_db_t *c, const char *name, const json_t *args, bool lifecycle_ok,
             const lcall_t *who, err_t *e) {
    for (int i = 0; i < rt->def->nreducers; i++) {
        if (strcmp(rt->def->reducers[i].name, name) != 0) continue;
        if (rt->def->reducers[i].lifecycle != LC_NONE && !lifecycle_ok)
            return err_set(e, E_BAD_INPUT, "lifecycle reducer %s cannot be called", name);
        return call_index(rt, d, c, i, args, who, e);
    }
    return err_set(e, E_NOT_FOUND, "No such reducer `%s`", name);
}

int lrt_lifecycle(lrt_t *rt, db_t *d, store_db_t *c, int which, const lcall_t *who, err_t *e) {
    for (int i = 0; i < rt->def->nreducers; i++)
        if (rt->def->reducers[i].lifecycle == which) return call_index(rt, d, c, i, NULL, who, e);
    return 0;
}

bool lrt_tripped(const lrt_t *rt) { return rt->box.tripped; }
