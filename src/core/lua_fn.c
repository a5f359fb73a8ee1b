/* lua_fn: Airsequel's Lua functions on the module sandbox (see lua.h). A
 * fresh state per call: nothing one call leaves behind reaches the next. */
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/lua.h"
#include "core/lua_internal.h"
#include "core/schema.h"
#include "util/metrics.h"
#include "util/thread.h"

#define MAX_DEPTH 64

/* Loads the chunk into rt's state; its function is left on the stack. */
static int load_fn(lrt_t *rt, const char *src, size_t n, char *msg, size_t msglen, int *line) {
    lua_State *L = rt->L;
    *line = 0;
    if (n > LUA_MAX_SOURCE) {
        snprintf(msg, msglen, "the function is larger than 1 MiB");
        return -1;
    }
    if (n && src[0] == 0x1b) {
        snprintf(msg, msglen, "bytecode is not accepted");
        return -1;
    }
    lua_sandbox_arm(L, &rt->box);
    int rc = luaL_loadbufferx(L, src, n, "=module", "t");
    if (rc == LUA_OK) rc = lua_pcall(L, 0, 1, 0);
    rt->box.armed = false;
    if (rc != LUA_OK) {
        if (rt->box.tripped) snprintf(msg, msglen, "%s", rt->box.why);
        else lua_error_text(L, msg, msglen, line);
        lua_pop(L, 1);
        return -1;
    }
    if (!lua_isfunction(L, -1)) {
        snprintf(msg, msglen, "the chunk must return a function(req), not %s", luaL_typename(L, -1));
        lua_pop(L, 1);
        return -1;
    }
    return 0;
}

static lrt_t *fn_rt(lua_log_fn log, void *log_ctx) {
    lrt_t *rt = calloc(1, sizeof *rt);
    rt->L = lua_sandbox_new(&rt->box);
    if (!rt->L) {
        free(rt);
        return NULL;
    }
    rt->def = calloc(1, sizeof *rt->def); /* no module tables: values go as they come */
    rt->log = log;
    rt->log_ctx = log_ctx;
    rt->reducer = "function";
    lua_db_install(rt->L, rt);
    return rt;
}

int lfn_check(const char *src, size_t n, char *msg, size_t msglen, int *line) {
    lrt_t *rt = fn_rt(NULL, NULL);
    if (!rt) {
        snprintf(msg, msglen, "cannot create a Lua state");
        *line = 0;
        return -1;
    }
    int rc = load_fn(rt, src, n, msg, msglen, line);
    lrt_close(rt);
    return rc;
}

void lfn_response_free(lfn_response_t *r) {
    json_decref(r->headers);
    r->headers = NULL;
    buf_free(&r->body);
}

/* ---- JSON <-> Lua ---------------------------------------------------------------- */

static void push_json(lua_State *L, const json_t *j, int depth) {
    luaL_checkstack(L, 4, "too deep");
    if (!j || json_is_null(j) || depth > MAX_DEPTH) {
        lua_pushnil(L);
    } else if (json_is_boolean(j)) {
        lua_pushboolean(L, json_is_true(j));
    } else if (json_is_integer(j)) {
        lua_pushinteger(L, json_integer_value(j));
    } else if (json_is_real(j)) {
        lua_pushnumber(L, json_real_value(j));
    } else if (json_is_string(j)) {
        lua_pushlstring(L, json_string_value(j), json_string_length(j));
    } else if (json_is_array(j)) {
        lua_createtable(L, (int)json_array_size(j), 0);
        for (size_t i = 0; i < json_array_size(j); i++) {
            push_json(L, json_array_get(j, i), depth + 1);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
    } else {
        lua_createtable(L, 0, (int)json_object_size(j));
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v) {
            push_json(L, v, depth + 1);
            lua_setfield(L, -2, k);
        }
    }
}

/* Is the table at idx a sequence 1..n (n > 0, or empty)? Its length. */
static bool is_array(lua_State *L, int idx, lua_Integer *len) {
    lua_Integer n = 0, max = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1) {
            lua_pop(L, 1);
            return false;
        }
        n++;
        if (lua_tointeger(L, -1) > max) max = lua_tointeger(L, -1);
    }
    *len = n;
    return n == max;
}

static json_t *to_json(lua_State *L, int idx, int depth) {
    idx = lua_absindex(L, idx);
    switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN: return json_boolean(lua_toboolean(L, idx));
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) return json_integer(lua_tointeger(L, idx));
        return isfinite(lua_tonumber(L, idx)) ? json_real(lua_tonumber(L, idx)) : json_null();
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        json_t *v = json_stringn(s, n);
        return v ? v : json_null(); /* not UTF-8: null rather than a broken answer */
    }
    case LUA_TTABLE: {
        if (depth > MAX_DEPTH) return json_null();
        luaL_checkstack(L, 4, "too deep");
        lua_Integer len;
        if (is_array(L, idx, &len) && len > 0) {
            json_t *a = json_array();
            for (lua_Integer i = 1; i <= len; i++) {
                lua_rawgeti(L, idx, i);
                json_array_append_new(a, to_json(L, -1, depth + 1));
                lua_pop(L, 1);
            }
            return a;
        }
        json_t *o = json_object();
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            lua_pushvalue(L, -2);
            const char *k = lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER ? lua_tostring(L, -1) : NULL;
            if (k) json_object_set_new(o, k, to_json(L, -2, depth + 1));
            lua_pop(L, 2);
        }
        return o;
    }
    default: return json_null();
    }
}

/* The value at idx as the body: a string as text, anything else as JSON. */
static void set_body(lua_State *L, int idx, lfn_response_t *out) {
    if (lua_type(L, idx) == LUA_TSTRING) {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        buf_append(&out->body, s, n);
        snprintf(out->content_type, sizeof out->content_type, "text/plain; charset=utf-8");
        return;
    }
    json_t *j = to_json(L, idx, 0);
    char *text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    buf_puts(&out->body, text ? text : "null");
    free(text);
    json_decref(j);
    snprintf(out->content_type, sizeof out->content_type, "application/json; charset=utf-8");
}

/* The function's result at the top of the stack into out: a table with a
 * status (or a string body) is a response; anything else is the body. */
static void take_result(lua_State *L, lfn_response_t *out) {
    out->status = 200;
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "status");
        bool has_status = lua_isinteger(L, -1);
        lua_Integer st = has_status ? lua_tointeger(L, -1) : 200;
        lua_pop(L, 1);
        lua_getfield(L, -1, "body");
        if (has_status || lua_type(L, -1) == LUA_TSTRING) {
            out->status = st >= 100 && st <= 599 ? (int)st : 500;
            if (!lua_isnil(L, -1)) set_body(L, -1, out);
            lua_pop(L, 1);
            lua_getfield(L, -1, "headers");
            if (lua_istable(L, -1)) {
                out->headers = json_object();
                lua_pushnil(L);
                while (lua_next(L, -2)) {
                    int kt = lua_type(L, -2), vt = lua_type(L, -1);
                    if (kt == LUA_TSTRING && (vt == LUA_TSTRING || vt == LUA_TNUMBER)) {
                        const char *k = lua_tostring(L, -2), *v = lua_tostring(L, -1);
                        json_t *js = json_string(v);
                        if (strcasecmp(k, "content-type") == 0) snprintf(out->content_type, sizeof out->content_type, "%s", v);
                        else if (js) json_object_set(out->headers, k, js);
                        json_decref(js);
                    }
                    lua_pop(L, 1);
                }
            }
            lua_pop(L, 1);
            return;
        }
        lua_pop(L, 1);
    }
    set_body(L, -1, out);
}

int lfn_run(const char *src, size_t n, db_t *d, store_db_t *c, const json_t *req, const json_t *env, lua_log_fn log,
            void *log_ctx, lfn_response_t *out, err_t *e) {
    ASSERT_OFF_LOOP();
    memset(out, 0, sizeof *out);
    lrt_t *rt = fn_rt(log, log_ctx);
    if (!rt) return err_set(e, E_INTERNAL, "cannot create a Lua state");
    char msg[400];
    int line;
    if (load_fn(rt, src, n, msg, sizeof msg, &line) < 0) {
        lrt_close(rt);
        return err_set(e, E_BAD_INPUT, "the function failed to load: %s", msg);
    }
    lua_State *L = rt->L;
    const schema_t *s = schema_acquire(d, c, msg, sizeof msg);
    if (!s) {
        lrt_close(rt);
        return err_set(e, E_INTERNAL, "%s", msg);
    }
    rt->db = d, rt->c = c, rt->schema = s;
    push_json(L, env, 0);
    lua_setglobal(L, "env");
    lua_getfield(L, LUA_REGISTRYINDEX, "atrium.db");
    lua_setglobal(L, "db");
    push_json(L, req, 0);
    lua_sandbox_arm(L, &rt->box);
    int rc = lua_pcall(L, 1, 1, 0);
    if (rc == LUA_OK) take_result(L, out);
    rt->box.armed = false;
    metrics_inc1(MET_LUA_CALLS, "function");
    if (rc != LUA_OK) metrics_inc1(rt->box.tripped ? MET_LUA_LIMITS : MET_LUA_ERRORS, "function");
    schema_release(s);
    rt->schema = NULL, rt->c = NULL, rt->db = NULL;
    if (rc != LUA_OK) {
        bool tripped = rt->box.tripped;
        if (tripped) snprintf(msg, sizeof msg, "%s", rt->box.why);
        else lua_error_text(L, msg, sizeof msg, &line);
        if (log) log(log_ctx, "Error", line, "function", msg);
        lrt_close(rt);
        lfn_response_free(out);
        if (tripped) return err_set_sub(e, E_REDUCER, ES_LIMIT, "%s", msg);
        return err_set(e, E_REDUCER, "%s", msg);
    }
    lrt_close(rt);
    return 0;
}
