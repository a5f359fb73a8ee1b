/* lua_db: what a reducer reaches — log.* and print into the module's log,
 * and the db handles (insert/update/delete by key through core/rows,
 * find/filter/iter/count through core/query, db:exec/db:query under the
 * shared SQL policy), all on the writer's connection of the running job. */
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/lua_internal.h"
#include "core/query.h"
#include "core/rows.h"
#include "core/sql.h"
#include "core/value.h"

lrt_t *lua_rt_of(lua_State *L) {
    lua_getfield(L, LUA_REGISTRYINDEX, "atrium.rt");
    lrt_t *rt = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return rt;
}

static int l_log(lua_State *L, const char *level) {
    lrt_t *rt = lua_rt_of(L);
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1) luaL_addchar(&b, '\t');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    lua_Debug ar;
    int line = 0;
    const char *fn = NULL;
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "Sln", &ar)) {
        line = ar.currentline > 0 ? ar.currentline : 0;
        fn = ar.name;
    }
    if (!fn && rt) fn = rt->reducer;
    if (rt && rt->log) rt->log(rt->log_ctx, level, line, fn, lua_tostring(L, -1));
    return 0;
}

static int l_info(lua_State *L) { return l_log(L, "Info"); }
static int l_warn(lua_State *L) { return l_log(L, "Warn"); }
static int l_error(lua_State *L) { return l_log(L, "Error"); }
static int l_debug(lua_State *L) { return l_log(L, "Debug"); }
static int l_trace(lua_State *L) { return l_log(L, "Trace"); }

/* The table a handle is for (upvalue 1: the table name). */
static const tinfo_t *handle_table(lua_State *L, lrt_t *rt) {
    const char *name = lua_tostring(L, lua_upvalueindex(1));
    const tinfo_t *t = rt->schema ? schema_find(rt->schema, name) : NULL;
    if (!t || t->is_view || t->hidden) luaL_error(L, "no such table: %s", name);
    return t;
}

static const mcol_t *module_col(lrt_t *rt, const tinfo_t *t, int i) {
    const mtable_t *mt = mdef_table(rt->def, t->name);
    if (!mt) return NULL;
    for (int c = 0; c < mt->ncols; c++)
        if (strcmp(mt->cols[c].name, t->cols[i].name) == 0) return &mt->cols[c];
    return NULL;
}

/* A Lua value as a store value for column type t (bytes point into the
 * Lua string, valid while it is on the stack). */
static void to_store(lua_State *L, int idx, const mcol_t *col, store_value_t *v, const char *what) {
    *v = (store_value_t){.type = SV_NULL};
    switch (lua_type(L, idx)) {
    case LUA_TNIL: return;
    case LUA_TBOOLEAN: *v = (store_value_t){.type = SV_INT, .i = lua_toboolean(L, idx)}; return;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            *v = (store_value_t){.type = SV_INT, .i = lua_tointeger(L, idx)};
        } else {
            double d = lua_tonumber(L, idx);
            if (col && ltype_is_integer(col->type)) {
                if (d != floor(d) || fabs(d) > 9.2e18) luaL_error(L, "%s: %f is not an integer", what, d);
                *v = (store_value_t){.type = SV_INT, .i = (int64_t)d};
            } else {
                *v = (store_value_t){.type = SV_REAL, .d = d};
            }
        }
        if (col && (col->type == LT_F32 || col->type == LT_F64) && v->type == SV_INT)
            *v = (store_value_t){.type = SV_REAL, .d = (double)v->i};
        return;
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        *v = (store_value_t){.type = col && col->type == LT_BYTES ? SV_BLOB : SV_TEXT, .p = s, .n = n};
        return;
    }
    case LUA_TTABLE:
        lua_getfield(L, idx, "__blob");
        if (lua_isstring(L, -1)) {
            size_t n;
            const char *s = lua_tolstring(L, -1, &n);
            lua_pop(L, 1);
            *v = (store_value_t){.type = SV_BLOB, .p = s, .n = n};
            return;
        }
        lua_pop(L, 1);
        /* fallthrough */
    default: luaL_error(L, "%s: a %s cannot be stored", what, luaL_typename(L, idx));
    }
}

static void push_value(lua_State *L, const store_value_t *v, const mcol_t *col) {
    switch (v->type) {
    case SV_NULL: lua_pushnil(L); break;
    case SV_INT:
        if (col && col->type == LT_BOOL) lua_pushboolean(L, v->i != 0);
        else lua_pushinteger(L, v->i);
        break;
    case SV_REAL: lua_pushnumber(L, v->d); break;
    default: lua_pushlstring(L, v->p ? v->p : "", v->n); break;
    }
}

/* Rows from a statement as Lua tables keyed by column name. */
typedef struct {
    lua_State *L;
    lrt_t *rt;
    const tinfo_t *t; /* for module column types, or NULL */
    int list;         /* stack index of the result list */
    lua_Integer n;
    bool one;
} rows_ctx_t;

static void rows_cols(void *ctx, store_stmt_t *st, int n) {
    (void)ctx, (void)st, (void)n;
}

static void rows_row(void *ctx, store_stmt_t *st, int n) {
    rows_ctx_t *r = ctx;
    lua_State *L = r->L;
    lua_createtable(L, 0, n);
    for (int i = 0; i < n; i++) {
        store_value_t v;
        store_col_value(st, i, &v);
        const mcol_t *col = NULL;
        if (r->t) {
            int ci = tinfo_col(r->t, store_col_name(st, i));
            if (ci >= 0) col = module_col(r->rt, r->t, ci);
        }
        push_value(L, &v, col);
        lua_setfield(L, -2, store_col_name(st, i));
    }
    lua_seti(L, r->list, ++r->n);
}

static const sql_sink_t rows_sink = {rows_cols, rows_row};

static void raise_err(lua_State *L, const err_t *e) { luaL_error(L, "%s", e->msg); }

/* Pushes the row at ref as it is stored now (ref is freed): 1 result. */
static int push_written(lua_State *L, lrt_t *rt, const tinfo_t *t, rref_t *ref) {
    err_t e;
    lua_newtable(L);
    rows_ctx_t rx = {L, rt, t, lua_gettop(L), 0, true};
    int rc = rows_fetch(rt->c, t, ref, false, &rows_sink, &rx, &e);
    rref_free(ref);
    if (rc < 0) return raise_err(L, &e), 0;
    lua_geti(L, -1, 1);
    return 1;
}

/* handle:insert(row) → the stored row. */
static int h_insert(lua_State *L) {
    lrt_t *rt = lua_rt_of(L);
    const tinfo_t *t = handle_table(L, rt);
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checkstack(L, t->ncols + 8, "too many columns");
    rcell_t *cells = calloc((size_t)t->ncols + 1, sizeof *cells);
    int n = 0;
    for (int i = 0; i < t->ncols; i++) {
        lua_getfield(L, 2, t->cols[i].name);
        const mcol_t *col = module_col(rt, t, i);
        bool absent = lua_isnil(L, -1) || (col && col->auto_inc && lua_isinteger(L, -1) && lua_tointeger(L, -1) == 0);
        if (!absent) {
            cells[n].name = t->cols[i].name;
            to_store(L, -1, col, &cells[n].v, t->cols[i].name);
            n++;
        } else if (col && !col->optional && !col->dflt && !col->auto_inc) {
            free(cells);
            return luaL_error(L, "%s.%s is required", t->name, t->cols[i].name);
        }
        /* the value stays on the stack until the insert is done */
    }
    rref_t ref = {0};
    err_t e;
    int rc = rows_insert(rt->c, t, cells, n, ROWS_PLAIN, &ref, &e);
    free(cells);
    lua_settop(L, 2);
    if (rc < 0) return raise_err(L, &e), 0;
    return push_written(L, rt, t, &ref);
}

/* The key columns of a module table (its primary key), else rowid. */
static int pk_col(const tinfo_t *t) {
    for (int i = 0; i < t->ncols; i++)
        if (t->cols[i].pk == 1 && t->npk == 1) return i;
    return -1;
}

/* SELECT * FROM t [WHERE col = ?] [LIMIT 1] in rowid order into a list. */
static void select_rows(lua_State *L, lrt_t *rt, const tinfo_t *t, const char *col, int vidx, bool count) {
    query_t q;
    query_init(&q, rt->schema, t);
    query_select_all(&q);
    if (col) {
        store_value_t v;
        int ci = tinfo_col(t, col);
        if (ci < 0) luaL_error(L, "no such column: %s.%s", t->name, col);
        to_store(L, vidx, module_col(rt, t, ci), &v, col);
        query_filter(&q, col, v.type == SV_NULL ? Q_ISNULL : Q_EQ, &v, v.type == SV_NULL ? 0 : 1);
    }
    if (t->has_rowid) query_sort(&q, QCOL_ROWID, false);
    query_compile(&q);
    sql_opts_t o = {.max_class = SQL_READ, .bind = query_bind, .bind_ctx = &q, .max_rows = INT64_MAX};
    sql_result_t res;
    err_t e;
    const char *sql = count ? q.count_sql.data : q.sql.data;
    lua_newtable(L);
    rows_ctx_t rx = {L, rt, t, lua_gettop(L), 0, false};
    int rc = sql_run(rt->c, sql, strlen(sql), &o, &rows_sink, &rx, &res, &e);
    query_free(&q);
    if (rc < 0) raise_err(L, &e);
}

static int h_count(lua_State *L) {
    lrt_t *rt = lua_rt_of(L);
    const tinfo_t *t = handle_table(L, rt);
    select_rows(L, rt, t, NULL, 0, true);
    lua_geti(L, -1, 1);
    lua_pushnil(L);
    lua_next(L, -2); /* the one column's value */
    return 1;
}

static int iter_next(lua_State *L) {
    lua_Integer i = lua_tointeger(L, lua_upvalueindex(2)) + 1;
    lua_pushinteger(L, i);
    lua_replace(L, lua_upvalueindex(2));
    lua_geti(L, lua_upvalueindex(1), i);
    return 1;
}

/* A snapshot iterator over the list on top of the stack. */
static int push_iter(lua_State *L) {
    lua_pushinteger(L, 0);
    lua_pushcclosure(L, iter_next, 2);
    return 1;
}

static int h_iter(lua_State *L) {
    lrt_t *rt = lua_rt_of(L);
    select_rows(L, rt, handle_table(L, rt), NULL, 0, false);
    return push_iter(L);
}

static int h_filter(lua_State *L) {
    lrt_t *rt = lua_rt_of(L);
    const tinfo_t *t = handle_table(L, rt);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_pushnil(L);
    if (!lua_next(L, 2)) {
        select_rows(L, rt, t, NULL, 0, false);
        return push_iter(L);
    }
    const char *col = lua_tostring(L, -2);
    if (!col) return luaL_error(L, "filter{col = value} needs a column name");
    int vidx = lua_gettop(L);
    lua_pushvalue(L, -2);
    if (lua_next(L, 2)) return luaL_error(L, "filter takes one column");
    select_rows(L, rt, t, col, vidx, false);
    return push_iter(L);
}

static int h_find_by(lua_State *L) {
    lrt_t *rt = lua_rt_of(L);
    const tinfo_t *t = handle_table(L, rt);
    const char *col = luaL_checkstring(L, 2);
    select_rows(L, rt, t, col, 3, false);
    lua_geti(L, -1, 1);
    return 1;
}

static int h_find(lua_State *L) {
    lrt_t *rt = lua_rt_of(L);
    const tinfo_t *t = handle_table(L, rt);
    int pk = pk_col(t);
    if (pk < 0) return luaL_error(L, "%s has no primary key: use find_by or filter", t->name);
    select_rows(L, rt, t, t->cols[pk].name, 2, false);
    lua_geti(L, -1, 1);
    return 1;
}

/* The row's reference by its primary key value at idx. */
static int ref_by_key(lua_State *L, lrt_t *rt, const tinfo_t *t, int idx, rref_t *ref) {
    int pk = pk_col(t);
    if (pk < 0) return luaL_error(L, "%s has no primary key", t->name);
    rcell_t cell = {.name = t->cols[pk].name};
    to_store(L, idx, module_col(rt, t, pk), &cell.v, t->cols[pk].name);
    err_t e;
    int found = rows_find(rt->c, t, &cell, 1, ref, &e);
    if (found < 0) raise_err(L, &e);
    return found;
}

static int h_update(lua_State *L) {
    lrt_t *rt = lua_rt_of(L);
    const tinfo_t *t = handle_table(L, rt);
    luaL_checktype(L, 2, LUA_TTABLE);
    int pk = pk_col(t);
    if (pk < 0) return luaL_error(L, "%s has no primary key", t->name);
    lua_getfield(L, 2, t->cols[pk].name);
    rref_t ref = {0};
    if (!ref_by_key(L, rt, t, lua_gettop(L), &ref)) return luaL_error(L, "%s: no row with that primary key", t->name);
    luaL_checkstack(L, t->ncols + 8, "too many columns");
    rcell_t *cells = calloc((size_t)t->ncols + 1, sizeof *cells);
    int n = 0;
    for (int i = 0; i < t->ncols; i++) {
        if (i == pk) continue;
        lua_getfield(L, 2, t->cols[i].name);
        cells[n].name = t->cols[i].name;
        to_store(L, -1, module_col(rt, t, i), &cells[n].v, t->cols[i].name);
        n++;
    }
    err_t e;
    int rc = rows_update(rt->c, t, &ref, cells, n, &e);
    free(cells);
    if (rc < 0) {
        rref_free(&ref);
        return raise_err(L, &e), 0;
    }
    lua_settop(L, 2);
    return push_written(L, rt, t, &ref);
}

static int h_delete(lua_State *L) {
    lrt_t *rt = lua_rt_of(L);
    const tinfo_t *t = handle_table(L, rt);
    int pk = pk_col(t);
    if (pk < 0) return luaL_error(L, "%s has no primary key", t->name);
    if (lua_istable(L, 2)) lua_getfield(L, 2, t->cols[pk].name);
    else lua_pushvalue(L, 2);
    rref_t ref = {0};
    if (!ref_by_key(L, rt, t, lua_gettop(L), &ref)) {
        lua_pushinteger(L, 0);
        return 1;
    }
    err_t e;
    int rc = rows_delete(rt->c, t, &ref, &e);
    rref_free(&ref);
    if (rc < 0) return raise_err(L, &e), 0;
    lua_pushinteger(L, 1);
    return 1;
}

/* A handle: a table of closures over the table name. */
static void push_handle(lua_State *L, const char *name) {
    static const luaL_Reg m[] = {{"insert", h_insert}, {"update", h_update},   {"delete", h_delete},
                                 {"find", h_find},     {"find_by", h_find_by}, {"filter", h_filter},
                                 {"iter", h_iter},     {"count", h_count},     {NULL, NULL}};
    lua_createtable(L, 0, 8);
    for (const luaL_Reg *r = m; r->name; r++) {
        lua_pushstring(L, name);
        lua_pushcclosure(L, r->func, 1);
        lua_setfield(L, -2, r->name);
    }
}

/* Binds ?s from the Lua arguments after the SQL (ctx: the state, from 3). */
typedef struct {
    lua_State *L;
    int first, n;
} lbind_t;

static int bind_lua(void *ctx, store_stmt_t *st, int idx, const char *name, err_t *e) {
    lbind_t *b = ctx;
    (void)name;
    if (idx > b->n) return err_set(e, E_BAD_INPUT, "not enough values for the statement's parameters");
    store_value_t v;
    to_store(b->L, b->first + idx - 1, NULL, &v, "parameter");
    value_bind(st, idx, &v);
    return 0;
}

static int run_sql(lua_State *L, bool query) {
    lrt_t *rt = lua_rt_of(L);
    size_t n;
    const char *sql = luaL_checklstring(L, 2, &n);
    lbind_t b = {L, 3, lua_gettop(L) - 2};
    sql_opts_t o = {.max_class = SQL_WRITE, .bind = bind_lua, .bind_ctx = &b, .max_rows = 100000};
    sql_result_t res;
    err_t e;
    lua_newtable(L);
    rows_ctx_t rx = {L, rt, NULL, lua_gettop(L), 0, false};
    if (sql_run(rt->c, sql, n, &o, &rows_sink, &rx, &res, &e) < 0) return raise_err(L, &e), 0;
    if (!query) lua_pushinteger(L, res.changes);
    return 1;
}

static int db_exec(lua_State *L) { return run_sql(L, false); }
static int db_query(lua_State *L) { return run_sql(L, true); }

static int db_table(lua_State *L) {
    push_handle(L, luaL_checkstring(L, 2));
    return 1;
}

/* db.<t>: a handle for any other key. */
static int db_index(lua_State *L) {
    const char *k = luaL_checkstring(L, 2);
    push_handle(L, k);
    return 1;
}

void lua_db_install(lua_State *L, lrt_t *rt) {
    lua_pushlightuserdata(L, rt);
    lua_setfield(L, LUA_REGISTRYINDEX, "atrium.rt");
    static const luaL_Reg logf[] = {{"info", l_info},   {"warn", l_warn},   {"error", l_error},
                                    {"debug", l_debug}, {"trace", l_trace}, {NULL, NULL}};
    luaL_newlib(L, logf);
    lua_setglobal(L, "log");
    lua_pushcfunction(L, l_info);
    lua_setglobal(L, "print");
    static const luaL_Reg dbf[] = {{"exec", db_exec}, {"query", db_query}, {"table", db_table}, {NULL, NULL}};
    luaL_newlib(L, dbf);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, db_index);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, "atrium.db");
}

