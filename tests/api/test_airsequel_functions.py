"""Airsequel-style Lua functions: versions, diagnostics, invocations and
/fns/:funcId calls in the modules' sandbox (spec/airsequel.md §2)."""
import json
import uuid

import pytest
from conftest import as_err as err, uid


@pytest.fixture
def env(server, admin):
    name = uid("fu")
    assert server.req("POST", "/api/users", token=admin, json={"username": name, "password": "pw"}).status_code == 200
    tok = server.signin(name, "pw")
    db = uid("fdb")
    r = server.req("POST", "/api/dbs", token=tok, json={"name": db, "query": "CREATE TABLE notes(id INTEGER PRIMARY KEY, text TEXT)"})
    assert r.status_code == 200, r.text
    return server, tok, db


def create(server, tok, db, content, name="fn"):
    r = server.req("POST", f"/api/dbs/{db}/functions", token=tok, json={"name": name, "content": content,
                                                                       "description": "d", "runtime": "lua"})
    assert r.status_code == 200, r.text
    return r.json()


def test_create_and_call(env):
    server, tok, db = env
    f = create(server, tok, db, "return function(req)\n  return { hello = req.query.name, method = req.method }\nend\n")
    assert list(f) == ["content", "description", "diagnostics", "id", "name", "runtime", "versions"]
    assert f["diagnostics"] == [] and f["runtime"] == "lua" and len(f["versions"]) == 1 and f["description"] == "d"
    r = server.req("GET", f"/fns/{f['id']}?name=ann")
    assert r.status_code == 200 and r.json() == {"hello": "ann", "method": "GET"}, r.text
    assert r.headers["content-type"].startswith("application/json")
    # listed; read back
    assert [x["id"] for x in server.req("GET", f"/api/dbs/{db}/functions", token=tok).json()["functions"]] == [f["id"]]
    assert server.req("GET", f"/api/dbs/{db}/functions/{f['id']}", token=tok).json() == f


def test_results_db_and_env(env):
    server, tok, db = env
    writer = create(server, tok, db, """
return function(req)
  local n = db:exec("INSERT INTO notes(text) VALUES (?)", req.json.text)
  local rows = db:query("SELECT count(*) AS c FROM notes")
  print("stored", req.json.text)
  return { status = 201, headers = { ["X-Count"] = rows[1].c }, body = { stored = n, env = env.GREETING .. env.WHO } }
end
""", "writer")
    assert server.req("PATCH", "/api/settings", token=server.signin(), json={"envVars": [{"name": "WHO", "value": "instance"},
                                                                                  {"name": "GREETING", "value": "hi "}]}).status_code == 200
    try:
        assert server.req("POST", f"/api/dbs/{db}/env", token=tok, json={"name": "WHO", "value": "db"}).status_code == 200
        r = server.req("POST", f"/fns/{writer['id']}", json={"text": "first"})
        assert r.status_code == 201, r.text
        assert r.json() == {"stored": 1, "env": "hi db"} and r.headers["x-count"] == "1"
        # the write went through the database's writer: every door sees it
        assert server.req("GET", f"/{db}/notes.json?_shape=array", token=tok).json() == [{"id": 1, "text": "first"}]
    finally:
        server.req("PATCH", "/api/settings", token=server.signin(), json={"envVars": []})
    text = create(server, tok, db, 'return function(req) return "plain " .. req.body end', "text")
    r = server.req("PUT", f"/fns/{text['id']}", data="words")
    assert r.status_code == 200 and r.text == "plain words" and r.headers["content-type"].startswith("text/plain")
    # the invocation log: newest first, with print's lines
    inv = server.req("GET", f"/api/dbs/{db}/functions/{writer['id']}/invocations", token=tok).json()["invocations"]
    assert len(inv) == 1
    assert list(inv[0]) == ["createdUtc", "data", "logs", "runtimeMs"]
    assert inv[0]["logs"][0]["message"] == "stored\tfirst" and inv[0]["logs"][0]["stream"] == "stdout"
    assert isinstance(inv[0]["runtimeMs"], float) and json.loads(inv[0]["data"]) == {"stored": 1, "env": "hi db"}


def test_failures_versions_and_limits(env):
    server, tok, db = env
    f = create(server, tok, db, "return function(req) error('boom') end", "failing")
    r = server.req("GET", f"/fns/{f['id']}")
    assert r.status_code == 500, r.text
    inv = server.req("GET", f"/api/dbs/{db}/functions/{f['id']}/invocations", token=tok).json()["invocations"]
    assert inv[0]["logs"][-1]["stream"] == "stderr" and "boom" in inv[0]["logs"][-1]["message"]
    # a new version that does not compile: diagnostics with the line
    r = server.req("PATCH", f"/api/dbs/{db}/functions/{f['id']}", token=tok, json={"content": "return function(req)\n  x = = 1\nend"})
    assert r.status_code == 200, r.text
    bad = r.json()
    assert list(bad) == ["diagnostics", "id"] and bad["diagnostics"][0]["line"] == 2
    assert server.req("GET", f"/fns/{f['id']}").status_code == 500
    # republish the first version: current again (as a new version)
    r = server.req("POST", f"/api/dbs/{db}/functions/{f['id']}/republish", token=tok, json={"version": f["versions"][0]})
    assert r.status_code == 200 and r.json()["diagnostics"] == [], r.text
    g = server.req("GET", f"/api/dbs/{db}/functions/{f['id']}", token=tok).json()
    assert len(g["versions"]) == 3 and g["content"] == "return function(req) error('boom') end"
    v = server.req("GET", f"/api/dbs/{db}/functions/{f['id']}/versions/{bad['id']}", token=tok).json()
    assert v["content"].startswith("return function(req)\n  x = = 1")
    err(server.req("GET", f"/api/dbs/{db}/functions/{f['id']}/versions/01AAAAAAAAAAAAAAAAAAAAAAAA", token=tok), 404, "NOT_FOUND")
    # a runaway function is stopped by the sandbox, and the server goes on
    loop = create(server, tok, db, "return function(req) while true do end end", "loop")
    assert server.req("GET", f"/fns/{loop['id']}").status_code == 500
    hog = create(server, tok, db, "return function(req) local t = {} for i = 1, 1e9 do t[i] = ('x'):rep(1000) end end", "hog")
    assert server.req("GET", f"/fns/{hog['id']}").status_code == 500
    assert server.req("GET", "/api/status").status_code == 200
    # no way out of the sandbox
    esc = create(server, tok, db, "return function(req) return { os = type(os), io = type(io), load = type(load) } end", "esc")
    assert server.req("GET", f"/fns/{esc['id']}").json() == {"os": "nil", "io": "nil", "load": "nil"}
    # deleted: gone
    assert server.req("DELETE", f"/api/dbs/{db}/functions/{f['id']}", token=tok).json() == {}
    err(server.req("GET", f"/fns/{f['id']}"), 404, "NOT_FOUND")
    err(server.req("GET", "/fns/nosuchfunction"), 404, "NOT_FOUND")


def test_function_rules(env, admin):
    server, tok, db = env
    err(server.req("POST", f"/api/dbs/{db}/functions", token=tok, json={"name": "x", "content": "x", "runtime": "deno"}),
        400, "BAD_REQUEST", 'Unsupported runtime "deno": Atrium runs "lua"')
    err(server.req("POST", f"/api/dbs/{db}/functions", token=tok, json={"name": "x"}), 400, "BAD_REQUEST")
    r = server.req("POST", f"/api/dbs/{db}/functions", token=tok, json={"name": "x", "content": "return 5"})
    assert r.status_code == 200 and r.json()["diagnostics"][0]["message"].startswith("the chunk must return a function")
    other = uid("fo")
    assert server.req("POST", "/api/users", token=admin, json={"username": other, "password": "pw"}).status_code == 200
    err(server.req("POST", f"/api/dbs/{db}/functions", token=server.signin(other, "pw"), json={"name": "x", "content": "x"}),
        404, "NOT_FOUND")
    # functions go with their database
    fid = r.json()["id"]
    assert server.req("DELETE", f"/api/dbs/{db}", token=tok).status_code == 200
    err(server.req("GET", f"/fns/{fid}"), 404, "NOT_FOUND")
