"""SpacetimeDB-style Lua modules (spec/spacetimedb.md §2-3): publishing,
reducers through HTTP, the db API, the sandbox's limits, republishing,
schema?version=9, info and logs."""
import hashlib
import json
import uuid

import pytest
import websockets.exceptions

from conftest import SLOW

LUA = {"Content-Type": "text/x-lua"}

EXAMPLE = """atrium.table("person", { public = true, { "name", "string" } })
atrium.init(function(ctx) end)
atrium.client_connected(function(ctx) end)
atrium.client_disconnected(function(ctx) end)
atrium.reducer("add", { { "name", "string" } }, function(ctx, name) db.person:insert{ name = name } end)
atrium.reducer("say_hello", {}, function(ctx)
  for p in db.person:iter() do log.info("Hello, " .. p.name .. "!") end
  log.info("Hello, World!")
end)
"""

EXAMPLE_SCHEMA = json.loads("""
{"typespace":{"types":[{"Product":{"elements":[{"name":{"some":"name"},"algebraic_type":{"String":[]}}]}}]},
 "tables":[{"name":"person","product_type_ref":0,"primary_key":[],"indexes":[],"constraints":[],"sequences":[],
   "schedule":{"none":[]},"table_type":{"User":[]},"table_access":{"Public":[]}}],
 "reducers":[{"name":"add","params":{"elements":[{"name":{"some":"name"},"algebraic_type":{"String":[]}}]},"lifecycle":{"none":[]}},
   {"name":"client_connected","params":{"elements":[]},"lifecycle":{"some":{"OnConnect":[]}}},
   {"name":"client_disconnected","params":{"elements":[]},"lifecycle":{"some":{"OnDisconnect":[]}}},
   {"name":"init","params":{"elements":[]},"lifecycle":{"some":{"Init":[]}}},
   {"name":"say_hello","params":{"elements":[]},"lifecycle":{"none":[]}}],
 "types":[{"name":{"scope":[],"name":"Person"},"ty":0,"custom_ordering":true}],"misc_exports":[],"row_level_security":[]}
""")

BANK = """
atrium.table("account", {
  public = true,
  { "id", "u32", primary_key = true, auto_inc = true },
  { "owner", "string", unique = true },
  { "balance", "i64", default = 0 },
  { "frozen", "bool", default = false },
  { "note", "string", optional = true },
  indexes = { { "owner", "balance" } },
})
atrium.table("audit", { { "what", "string" }, { "at", "timestamp" }, { "who", "identity" } })
atrium.reducer("open", { { "owner", "string" } }, function(ctx, owner)
  local a = db.account:insert{ owner = owner }
  db.audit:insert{ what = "open " .. a.id, at = ctx.timestamp, who = ctx.sender }
end)
atrium.reducer("deposit", { { "owner", "string" }, { "amount", "i64" } }, function(ctx, owner, amount)
  local a = db.account:find_by("owner", owner)
  if not a then error("no account for " .. owner) end
  a.balance = a.balance + amount
  db.account:update(a)
end)
atrium.reducer("close", { { "id", "u32" } }, function(ctx, id)
  assert(db.account:delete(id) == 1, "no such account")
end)
atrium.reducer("check", {}, function(ctx)
  local n = 0
  for a in db.account:filter{ frozen = false } do n = n + 1 end
  assert(n == db.account:count(), "filter and count disagree")
  assert(db.account:find(1) ~= nil and db.account:find(999) == nil)
  local rows = db:query("SELECT owner FROM account WHERE balance >= ? ORDER BY owner", 0)
  assert(#rows == n)
  assert(db:exec("UPDATE account SET note = ? WHERE balance > ?", "rich", 100) >= 0)
  assert(db:table("audit"):count() >= 1)
end)
atrium.reducer("misuse", { { "what", "string" } }, function(ctx, what)
  if what == "ddl" then db:exec("CREATE TABLE x(a)") end
  if what == "module" then db:query("SELECT * FROM _atrium_module") end
  if what == "range" then db.account:insert{ owner = "neg", balance = 1, frozen = 2 } end
end)
atrium.reducer("opt", { { "n", "i32", optional = true } }, function(ctx, n)
  db.audit:insert{ what = n == nil and "none" or tostring(n), at = 0, who = ctx.sender }
end)
"""

LIMITS = """
atrium.table("t", { { "v", "string" } })
atrium.reducer("spin", {}, function(ctx) db.t:insert{ v = "before" }; while true do end end)
atrium.reducer("spin_pcall", {}, function(ctx)
  db.t:insert{ v = "before" }
  for i = 1, 1000000 do pcall(function() while true do end end) end
end)
atrium.reducer("bomb", {}, function(ctx) db.t:insert{ v = "before" }; local s = string.rep("x", 200 * 1024 * 1024) end)
atrium.reducer("bomb_pcall", {}, function(ctx)
  db.t:insert{ v = "before" }
  local t = {}
  for i = 1, 1e9 do local ok = pcall(function() t[#t + 1] = string.rep("y", 1e6) end) end
end)
atrium.reducer("deep", {}, function(ctx) local function f(n) return f(n + 1) + 1 end; f(1) end)
atrium.reducer("yield", {}, function(ctx) coroutine.yield(1) end)
atrium.reducer("fail", {}, function(ctx) db.t:insert{ v = "before" }; error("nope") end)
atrium.reducer("fail_table", {}, function(ctx) error({ code = 7 }) end)
atrium.reducer("env", {}, function(ctx)
  assert(os == nil and io == nil and package == nil and require == nil and debug == nil)
  assert(load == nil and loadfile == nil and dofile == nil and collectgarbage == nil and string.dump == nil)
  db.t:insert{ v = "sandboxed" }
end)
atrium.reducer("ok", {}, function(ctx) db.t:insert{ v = "ok" } end)
"""


def publish(server, token, name, src, method="POST", qs="", headers=LUA):
    path = f"/v1/database/{name}" if name else "/v1/database"
    return server.req(method, path + qs, token=token, data=src.encode() if isinstance(src, str) else src,
                      headers=dict(headers))


def call(server, token, name, reducer, args):
    return server.req("POST", f"/v1/database/{name}/call/{reducer}", token=token,
                      data=args if isinstance(args, str) else json.dumps(args))


def count(server, token, name, table):
    [[n]] = sql(server, token, name, f"SELECT count(*) FROM {table}")
    return n["some"]


def sql(server, token, name, q):
    r = server.req("POST", f"/v1/database/{name}/sql", token=token, data=q)
    assert r.status_code == 200, r.text
    return r.json()[0]["rows"]


@pytest.fixture()
def name():
    return "m" + uuid.uuid4().hex[:10]


def test_publish_the_example_and_its_schema(server, admin, name):
    r = publish(server, admin, name, EXAMPLE)
    assert r.status_code == 200, r.text
    res = r.json()["Success"]
    assert res["domain"] == name and res["op"] == "created" and len(res["database_identity"]) == 64
    r = server.req("GET", f"/v1/database/{name}/schema?version=9", token=admin)
    assert r.status_code == 200 and r.json() == EXAMPLE_SCHEMA
    assert server.req("GET", f"/v1/database/{name}/schema", token=admin).status_code == 400
    assert server.req("GET", f"/v1/database/{name}/schema?version=8", token=admin).status_code == 400
    info = server.req("GET", f"/v1/database/{name}", token=admin).json()
    assert info["host_type"] == "lua"
    assert info["initial_program"] == hashlib.sha256(EXAMPLE.encode()).hexdigest()
    r = call(server, admin, name, "add", ["Bob"])
    assert r.status_code == 200 and r.text == ""
    assert "spacetime-execution-duration-micros" in r.headers and r.headers["spacetime-energy-used"] == "0"
    assert call(server, admin, name, "add", {"name": "Al"}).status_code == 200
    assert call(server, admin, name, "say_hello", []).status_code == 200
    for lifecycle in ("init", "client_connected", "client_disconnected"):
        assert call(server, admin, name, lifecycle, []).status_code == 400
    assert sorted(sql(server, admin, name, "SELECT * FROM person")) == [["Al"], ["Bob"]]
    logs = [json.loads(x) for x in server.req("GET", f"/v1/database/{name}/logs", token=admin).text.splitlines()]
    msgs = [x["message"] for x in logs]
    assert "Hello, Bob!" in msgs and "Hello, World!" in msgs
    hello = next(x for x in logs if x["message"] == "Hello, World!")
    assert hello["level"] == "Info" and hello["filename"] == "module" and hello["line_number"] == 8
    assert hello["function"] == "say_hello" and isinstance(hello["ts"], int)
    last = server.req("GET", f"/v1/database/{name}/logs?num_lines=1", token=admin).text.splitlines()
    assert len(last) == 1 and json.loads(last[0])["message"] == "Hello, World!"
    # the module's tables are every door's: Datasette reads them too
    r = server.req("GET", f"/{name}/person.json?_shape=array", token=admin)
    assert r.status_code == 200 and sorted(x["name"] for x in r.json()) == ["Al", "Bob"]
    # the module's own storage is nobody's to read
    r = server.req("POST", f"/v1/database/{name}/sql", token=admin, data="SELECT * FROM _atrium_module")
    assert r.status_code == 400
    assert "_atrium_module" not in server.req("GET", f"/{name}.json", token=admin).text


def test_unnamed_publish(server, admin):
    r = publish(server, admin, None, EXAMPLE)
    assert r.status_code == 200, r.text
    res = r.json()["Success"]
    assert res["domain"] is None and res["op"] == "created"
    assert call(server, admin, res["database_identity"], "add", ["x"]).status_code == 200


@pytest.mark.parametrize("body,headers,status,text", [
    (b"\0asm\x01\0\0\0", {"Content-Type": "application/octet-stream"}, 415, "WebAssembly modules are not supported"),
    (b"x", {"Content-Type": "application/wasm"}, 415, "WebAssembly modules are not supported"),
    (b"x", {"Content-Type": "application/json"}, 415, ""),
    (b"\x1bLuaT\0", LUA, 400, "bytecode"),
    (b"-" * (1024 * 1024 + 1), LUA, 413, ""),
    (b"this is not lua", LUA, 400, "module failed to load:"),
    (b'atrium.table("Bad-Name", {{"a","string"}})', LUA, 400, "module failed to load:"),
    (b'atrium.table("t", {{"a","nosuchtype"}})', LUA, 400, "unknown type"),
    (b'atrium.table("t", {{"a","string"}}) atrium.table("t", {{"a","string"}})', LUA, 400, "twice"),
    (b"while true do end", LUA, 400, "limit"),
    (b'local t = {} for i = 1, 1e9 do t[i] = string.rep("x", 1e6) end', LUA, 400, "memory"),
    (b'atrium.table("t", {{"a","string"}}) atrium.init(function(ctx) error("no init") end)', LUA, 400, "init reducer failed: no init"),
])
def test_publish_errors_leave_nothing(server, admin, name, body, headers, status, text):
    r = publish(server, admin, name, body, headers=headers)
    assert r.status_code == status, r.text
    assert text in r.text
    assert server.req("GET", f"/v1/database/{name}", token=admin).status_code == 404  # nothing was made


def test_reducers_and_the_db_api(server, admin, name):
    assert publish(server, admin, name, BANK).status_code == 200
    for who in ("ann", "bob"):
        assert call(server, admin, name, "open", [who]).status_code == 200
    assert call(server, admin, name, "deposit", ["ann", 150]).status_code == 200
    assert call(server, admin, name, "check", []).status_code == 200, call(server, admin, name, "check", []).text
    rows = sql(server, admin, name, "SELECT id, owner, balance, frozen, note FROM account ORDER BY id")
    assert rows == [[1, "ann", 150, 0, {"some": "rich"}], [2, "bob", 0, 0, {"none": []}]]
    audit = sql(server, admin, name, "SELECT what, who FROM audit")
    # a module column keeps its SATS type: an identity in its SATS-JSON form
    assert [a[0] for a in audit] == ["open 1", "open 2"] and len(audit[0][1]["__identity__"]) == 66
    # errors: the reducer's text, 530, and nothing written
    r = call(server, admin, name, "deposit", ["nobody", 1])
    assert r.status_code == 530 and r.text == "no account for nobody", r.text
    r = call(server, admin, name, "open", ["ann"])  # unique owner
    assert r.status_code == 530 and "UNIQUE" in r.text
    for what in ("ddl", "module", "range"):
        r = call(server, admin, name, "misuse", [what])
        assert r.status_code == 530, (what, r.text)
    assert call(server, admin, name, "close", [2]).status_code == 200
    assert call(server, admin, name, "close", [2]).status_code == 530
    assert count(server, admin, name, "account") == 1
    # arguments
    assert call(server, admin, name, "deposit", ["ann"]).status_code == 400              # arity
    assert call(server, admin, name, "deposit", ["ann", "x"]).status_code == 400         # type
    assert call(server, admin, name, "deposit", {"owner": "ann", "nope": 1}).status_code == 400
    assert call(server, admin, name, "close", [-1]).status_code == 400                   # u32 range
    assert call(server, admin, name, "deposit", "{not json").status_code == 400
    assert call(server, admin, name, "opt", {}).status_code == 200                       # Option omitted
    assert call(server, admin, name, "opt", [{"some": 5}]).status_code == 200
    assert [x[0] for x in sql(server, admin, name, "SELECT what FROM audit WHERE what IN ('none', '5')")] == ["none", "5"]
    r = call(server, admin, name, "nope", [])
    assert r.status_code == 404 and r.text == "No such reducer `nope`"
    # a database without a module has no reducers
    other = "plain" + uuid.uuid4().hex[:6]
    server.req("POST", f"/v1/databases/{other}", token=admin)
    assert call(server, admin, other, "x", []).status_code == 404


@pytest.mark.parametrize("reducer,text", [
    ("spin", "limit exceeded"),
    ("spin_pcall", "limit exceeded"),
    ("bomb", "memory"),
    ("bomb_pcall", "memory"),
    ("deep", "stack overflow"),
    ("yield", "yield"),
    ("fail", "nope"),
    ("fail_table", ""),
])
def test_sandbox_limits_roll_back(server, admin, reducer, text):
    name = "lim" + uuid.uuid4().hex[:8]
    assert publish(server, admin, name, LIMITS).status_code == 200
    r = call(server, admin, name, reducer, [])
    assert r.status_code == 530, r.text
    # sanitizer builds run several times slower: the time limit may come first
    assert text in r.text or (SLOW > 1 and "time limit exceeded" in r.text), r.text
    assert not r.text.startswith("module:")
    assert count(server, admin, name, "t") == 0   # nothing written
    # the database, and the module, work afterwards
    assert call(server, admin, name, "env", []).status_code == 200
    assert call(server, admin, name, "ok", []).status_code == 200
    assert count(server, admin, name, "t") == 2


def test_republish_migrations(server, admin, name):
    v1 = 'atrium.table("t", { public = true, { "id", "i64", primary_key = true }, { "a", "string" } })\n'
    assert publish(server, admin, name, v1).status_code == 200
    server.req("POST", f"/v1/database/{name}/sql", token=admin, data="INSERT INTO t VALUES (1, 'x')")
    # allowed: a new optional column at the end, a new table, new reducers, an index
    v2 = ('atrium.table("t", { public = false, { "id", "i64", primary_key = true }, { "a", "string", index = true },'
          ' { "b", "string", optional = true }, { "c", "i32", default = 7 } })\n'
          'atrium.table("u", { { "z", "bool" } })\n'
          'atrium.reducer("r", {}, function(ctx) db.u:insert{ z = true } end)\n')
    r = publish(server, admin, name, v2, method="PUT")
    assert r.status_code == 200 and r.json()["Success"]["op"] == "updated", r.text
    assert sql(server, admin, name, "SELECT * FROM t") == [[1, "x", {"none": []}, 7]]
    assert call(server, admin, name, "r", []).status_code == 200
    # rejected: dropping or changing columns or tables
    bads = [
        v1,                                                                          # columns and a table dropped
        v2.replace('"b", "string", optional = true', '"b", "i64", optional = true'),  # a type changed
        v2.replace('atrium.table("u", { { "z", "bool" } })', ""),                     # a table dropped
        v2.replace('default = 7 }', 'default = 7 }, { "d", "string" }'),              # a required new column
        v2.replace('{ "a", "string", index = true }', '{ "a", "string", unique = true }'),  # unique added
    ]
    for bad in bads:
        r = publish(server, admin, name, bad)
        assert r.status_code == 400, (bad, r.text)
        assert r.text.startswith("Database update rejected: ") and r.text.endswith(
            "; publish with ?clear=true to drop all data"), r.text
    assert count(server, admin, name, "t") == 1   # nothing changed
    # clear=true: everything dropped, then created afresh
    r = publish(server, admin, name, v1, qs="?clear=true")
    assert r.status_code == 200, r.text
    assert count(server, admin, name, "t") == 0
    r = server.req("POST", f"/v1/database/{name}/sql", token=admin, data="SELECT * FROM u")
    assert r.status_code == 400  # gone


def test_only_the_owner_publishes(server, admin, name):
    assert publish(server, admin, name, EXAMPLE).status_code == 200
    other = "mu" + uuid.uuid4().hex[:6]
    server.req("POST", f"/v1/users/{other}", token=admin, json={"password": "pw"})
    tok = server.signin(other, "pw")
    r = publish(server, tok, name, EXAMPLE)
    assert r.status_code == 401 and r.json() == {"PermissionDenied": {"name": name}}
    assert server.req("GET", f"/v1/database/{name}/logs", token=tok).status_code in (403, 404)


def test_reducer_writes_reach_subscribers(server, admin, name):
    import asyncio
    from test_stdb_subscribe import connect, recv, send, rows_of
    assert publish(server, admin, name, EXAMPLE).status_code == 200

    async def go():
        ws, _ = await connect(server, name, token=admin)
        await send(ws, {"Subscribe": {"query_strings": ["SELECT * FROM person"], "request_id": 1}})
        await recv(ws)
        loop = asyncio.get_running_loop()
        r = await loop.run_in_executor(None, lambda: call(server, admin, name, "add", ["Zed"]))
        assert r.status_code == 200
        tx = (await recv(ws))["TransactionUpdate"]
        assert rows_of(tx["status"]["Committed"]["tables"][0])["inserts"] == [["Zed"]]
        await ws.close()
    asyncio.run(go())


CHAT = """
atrium.table("msg", { public = true, { "id", "u64", primary_key = true, auto_inc = true }, { "who", "identity" },
                      { "text", "string" } })
atrium.table("seen", { public = true, { "who", "identity" }, { "event", "string" } })
atrium.client_connected(function(ctx)
  if ctx.connection_id == nil then error("no connection") end
  db.seen:insert{ who = ctx.sender, event = "in" }
end)
atrium.client_disconnected(function(ctx) db.seen:insert{ who = ctx.sender, event = "out" } end)
atrium.reducer("send", { { "text", "string" } }, function(ctx, text)
  if text == "" then error("empty message") end
  db.msg:insert{ who = ctx.sender, text = text }
end)
atrium.reducer("noop", {}, function(ctx) end)
"""


def test_reducers_over_the_websocket(server, admin, name):
    import asyncio
    from test_stdb_subscribe import connect, recv, send, rows_of
    assert publish(server, admin, name, CHAT).status_code == 200

    async def go():
        a, first = await connect(server, name, token=admin)
        me = first["IdentityToken"]["identity"]["__identity__"]
        b, _ = await connect(server, name, token=admin)
        await send(b, {"Subscribe": {"query_strings": ["SELECT * FROM msg"], "request_id": 1}})
        await recv(b)
        # a has no subscriptions: it still hears of its own commit
        await send(a, {"CallReducer": {"reducer": "send", "args": '["hi"]', "request_id": 6, "flags": 0}})
        tx = (await recv(a))["TransactionUpdate"]
        assert tx["status"] == {"Committed": {"tables": []}}
        # reducer_id: the reducer's index in schema order (client_connected, client_disconnected, noop, send)
        assert tx["reducer_call"] == {"reducer_name": "send", "reducer_id": 3, "args": '["hi"]', "request_id": 6}
        assert tx["caller_identity"] == {"__identity__": me}
        tx = (await recv(b))["TransactionUpdate"]
        assert tx["reducer_call"]["reducer_name"] == "send"
        [row] = rows_of(tx["status"]["Committed"]["tables"][0])["inserts"]
        assert row[2] == "hi"
        # failures go to the caller only
        await send(a, {"CallReducer": {"reducer": "send", "args": '[""]', "request_id": 7, "flags": 0}})
        tx = (await recv(a))["TransactionUpdate"]
        assert tx["status"] == {"Failed": "empty message"} and tx["reducer_call"]["request_id"] == 7
        await send(a, {"CallReducer": {"reducer": "nope", "args": "[]", "request_id": 8, "flags": 0}})
        assert "nope" in (await recv(a))["TransactionUpdate"]["status"]["Failed"]
        await send(a, {"CallReducer": {"reducer": "send", "args": "[1, 2]", "request_id": 9, "flags": 0}})
        assert "Failed" in (await recv(a))["TransactionUpdate"]["status"]
        # flags 1: no notice without own matches; the next message is the next call's
        await send(a, {"CallReducer": {"reducer": "noop", "args": "[]", "request_id": 10, "flags": 1}})
        await send(a, {"CallReducer": {"reducer": "noop", "args": "[]", "request_id": 11, "flags": 0}})
        tx = (await recv(a))["TransactionUpdate"]
        assert tx["reducer_call"]["request_id"] == 11
        await a.close()
        await b.close()
    asyncio.run(go())
    import time
    for _ in range(50):
        seen = sql(server, admin, name, "SELECT event FROM seen")
        if len(seen) == 4:
            break
        time.sleep(0.1)
    assert sorted(x[0] for x in seen) == ["in", "in", "out", "out"]


def test_large_messages_keep_their_order(server, admin, name):
    """Messages past 64 KiB are parsed off the event loop; the ones after
    them still come in order, and the session keeps serving."""
    import asyncio
    from test_stdb_subscribe import connect, recv, send
    assert publish(server, admin, name, CHAT).status_code == 200

    async def go():
        a, _ = await connect(server, name, token=admin)
        big = "x" * (3 << 20)
        for i in range(1, 7):
            text = big + str(i) if i % 2 else f"small {i}"
            await send(a, {"CallReducer": {"reducer": "send", "args": json.dumps([text]), "request_id": i,
                                           "flags": 0}})
        got = [(await recv(a))["TransactionUpdate"]["reducer_call"]["request_id"] for _ in range(6)]
        assert got == [1, 2, 3, 4, 5, 6]
        # an undecodable large message still closes 1011, after the earlier ones
        await send(a, {"CallReducer": {"reducer": "send", "args": '["before"]', "request_id": 7, "flags": 0}})
        await a.send("{" + " " * (1 << 20))
        assert (await recv(a))["TransactionUpdate"]["reducer_call"]["request_id"] == 7
        with pytest.raises(websockets.exceptions.ConnectionClosedError) as ei:
            await recv(a)
        assert ei.value.rcvd.code == 1011
    asyncio.run(go())
    rows = sql(server, admin, name, "SELECT length(text) FROM msg ORDER BY id")
    assert [r[0]["some"] for r in rows] == [(3 << 20) + 1, 7, (3 << 20) + 1, 7, (3 << 20) + 1, 7, 6]


def test_client_connected_error_rejects_the_session(server, admin, name):
    import asyncio
    import websockets.exceptions
    from test_stdb_subscribe import connect
    src = 'atrium.client_connected(function(ctx) error("go away") end)\n'
    assert publish(server, admin, name, src).status_code == 200

    async def go():
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as ei:
            await connect(server, name, token=admin)
        assert ei.value.status_code == 403
    asyncio.run(go())


def test_delete_a_database(server, admin, name):
    import asyncio
    import websockets.exceptions
    from test_stdb_subscribe import connect
    assert publish(server, admin, name, EXAMPLE).status_code == 200
    other = "md" + uuid.uuid4().hex[:6]
    server.req("POST", f"/v1/users/{other}", token=admin, json={"password": "pw"})
    tok = server.signin(other, "pw")
    ident = server.req("GET", f"/v1/database/{name}", token=admin).json()["database_identity"]
    r = server.req("DELETE", f"/v1/database/{name}", token=tok)
    assert r.status_code in (403, 404)

    async def go():
        ws, _ = await connect(server, name, token=admin)
        loop = asyncio.get_running_loop()
        r = await loop.run_in_executor(None, lambda: server.req("DELETE", f"/v1/database/{ident}", token=admin))
        assert r.status_code == 200 and r.text == ""
        with pytest.raises(websockets.exceptions.ConnectionClosed) as ei:
            await asyncio.wait_for(ws.recv(), 10)
        assert ei.value.code == 1001
    asyncio.run(go())
    # gone through every door
    assert server.req("GET", f"/v1/database/{name}", token=admin).status_code == 404
    assert server.req("GET", f"/v1/databases/{name}", token=admin).status_code == 404
    assert server.req("GET", f"/{name}.json", token=admin).status_code == 404


def test_clear_closes_sessions_1012(server, admin, name):
    import asyncio
    import websockets.exceptions
    from test_stdb_subscribe import connect
    assert publish(server, admin, name, EXAMPLE).status_code == 200

    async def go():
        ws, _ = await connect(server, name, token=admin)
        loop = asyncio.get_running_loop()
        r = await loop.run_in_executor(None, lambda: publish(server, admin, name, EXAMPLE, qs="?clear=true"))
        assert r.status_code == 200 and r.json()["Success"]["op"] == "updated"
        with pytest.raises(websockets.exceptions.ConnectionClosed) as ei:
            await asyncio.wait_for(ws.recv(), 10)
        assert ei.value.code == 1012
    asyncio.run(go())


def test_published_databases_are_public_and_names_follow_the_rule(server, admin, name):
    for bad in ("Upper", "under_score", "-lead", "trail-", "dou--ble", "x" * 65):
        r = publish(server, admin, bad, EXAMPLE)
        assert r.status_code == 400, (bad, r.status_code, r.text)
    r = publish(server, admin, "ab" * 32, EXAMPLE)          # 64 hex digits: an identity, unknown
    assert r.status_code == 404 and r.text == "No such database."
    assert publish(server, admin, name, EXAMPLE).status_code == 200
    # everyone may read what is published here, and call its reducers; only the owner publishes
    assert server.req("GET", f"/v1/database/{name}").status_code == 200
    assert server.req("GET", f"/v1/database/{name}/schema?version=9").status_code == 200
    assert server.req("POST", f"/v1/database/{name}/call/add", data='["anon"]').status_code == 200
    r = server.req("POST", f"/v1/database/{name}", data=EXAMPLE, headers=LUA)
    assert r.status_code == 401 and r.json() == {"PermissionDenied": {"name": name}}
    assert server.req("GET", f"/v1/database/{name}/logs").status_code == 403


def test_names(server, admin, name):
    assert publish(server, admin, name, EXAMPLE).status_code == 200
    ident = server.req("GET", f"/v1/database/{name}", token=admin).json()["database_identity"]
    new = name + "-x"
    r = server.req("POST", f"/v1/database/{name}/names", token=admin, data=new)
    assert r.status_code == 200, r.text
    assert r.json() == {"Success": {"domain": new, "database_identity": ident, "database_result": ident}}
    assert server.req("GET", f"/v1/database/{new}/names", token=admin).json() == {"names": [new]}
    assert server.req("GET", f"/v1/database/{name}", token=admin).status_code == 404   # the old name is free
    # every door sees the new name
    assert server.req("GET", f"/v1/databases/{new}", token=admin).status_code == 200
    assert server.req("GET", f"/{new}/person.json", token=admin).status_code == 200
    # invalid names
    assert server.req("POST", f"/v1/database/{new}/names", token=admin, data="Bad Name").status_code == 400
    r = server.req("PUT", f"/v1/database/{new}/names", token=admin, json=["Bad"])
    assert r.status_code == 400 and "OtherError" in r.json()
    # the same owner's other database: POST moves the name here, PUT refuses
    other = "o" + uuid.uuid4().hex[:8]
    assert publish(server, admin, other, EXAMPLE).status_code == 200
    r = server.req("PUT", f"/v1/database/{new}/names", token=admin, json=[other])
    assert r.status_code == 400 and r.json() == {"OtherError": f"Cannot rename to {other} because it already is in use."}
    r = server.req("POST", f"/v1/database/{new}/names", token=admin, data=other)
    assert r.status_code == 200, r.text
    assert server.req("GET", f"/v1/database/{other}", token=admin).json()["database_identity"] == ident
    # PUT replaces the name
    r = server.req("PUT", f"/v1/database/{ident}/names", token=admin, json=[name])
    assert r.status_code == 200 and r.json() == {"Success": None}
    assert server.req("GET", f"/v1/database/{ident}/names", token=admin).json() == {"names": [name]}
    # another owner's name, or not the owner
    u = "nu" + uuid.uuid4().hex[:6]
    server.req("POST", f"/v1/users/{u}", token=admin, json={"password": "pw"})
    tok = server.signin(u, "pw")
    mine = "mine-" + uuid.uuid4().hex[:6]
    assert publish(server, tok, mine, EXAMPLE).status_code == 200
    r = server.req("POST", f"/v1/database/{mine}/names", token=tok, data=name)
    assert r.status_code == 401 and r.json() == {"PermissionDenied": {"domain": name}}
    r = server.req("PUT", f"/v1/database/{mine}/names", token=tok, json=[name])
    assert r.status_code == 401 and r.json() == {"PermissionDenied": None}
    r = server.req("PUT", f"/v1/database/{name}/names", token=tok, json=["whatever"])
    assert r.status_code == 401 and r.json() == {"PermissionDenied": None}


def test_logs_follow_streams_until_the_database_goes(server, admin, name):
    import requests
    import threading
    assert publish(server, admin, name, EXAMPLE).status_code == 200
    r = requests.get(f"{server.url}/v1/database/{name}/logs?follow=true&num_lines=1",
                     headers={"Authorization": f"Bearer {admin}"}, stream=True, timeout=20)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/x-ndjson")
    lines = r.iter_lines()
    assert json.loads(next(lines))["message"] == "module published (created)"
    assert call(server, admin, name, "say_hello", []).status_code == 200
    assert json.loads(next(lines))["message"] == "Hello, World!"
    # deleting the database ends the stream
    threading.Timer(0.3, lambda: server.req("DELETE", f"/v1/database/{name}", token=admin)).start()
    rest = list(lines)
    assert rest == []


def test_sql_keeps_module_types(server, admin, name):
    """/sql: a module column keeps its SATS type (spec §2 SQL "Types");
    other columns and expressions go by affinity."""
    src = """
atrium.table("t", { public = true, { "id", "u32", primary_key = true }, { "ok", "bool" },
                    { "who", "identity" }, { "at", "timestamp" }, { "note", "string", optional = true } })
atrium.reducer("put", { { "id", "u32" } }, function(ctx, id)
  db.t:insert{ id = id, ok = true, who = ctx.sender, at = 5 }
end)
"""
    assert publish(server, admin, name, src).status_code == 200
    assert call(server, admin, name, "put", [7]).status_code == 200
    r = server.req("POST", f"/v1/database/{name}/sql", token=admin, data="SELECT *, id + 1 AS next FROM t")
    assert r.status_code == 200, r.text
    [res] = r.json()
    types = [e["algebraic_type"] for e in res["schema"]["elements"]]
    assert types[0] == {"U32": []} and types[1] == {"Bool": []}
    assert types[2] == {"Product": {"elements": [{"name": {"some": "__identity__"}, "algebraic_type": {"U256": []}}]}}
    assert list(types[4]["Sum"]["variants"][0]["algebraic_type"]) == ["String"]
    assert types[5] == {"Sum": {"variants": [{"name": {"some": "some"}, "algebraic_type": {"I64": []}},
                                            {"name": {"some": "none"}, "algebraic_type": {"Product": {"elements": []}}}]}}
    [row] = res["rows"]
    assert row[0] == 7 and row[1] is True and row[3] == {"__timestamp_micros_since_unix_epoch__": 5}
    assert row[2]["__identity__"].startswith("0xc200") and row[4] == {"none": []} and row[5] == {"some": 8}
