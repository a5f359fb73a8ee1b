"""Airsequel-style REST: database settings (schemaLocked on every door,
visibility), environment variables, instance settings with allowedHosts
CORS, and apps (spec/airsequel.md §1-§2)."""
import uuid

import pytest
from conftest import as_err as err, uid


@pytest.fixture
def owned(server, admin):
    name = uid("own")
    assert server.req("POST", "/api/users", token=admin, json={"username": name, "password": "pw"}).status_code == 200
    tok = server.signin(name, "pw")
    db = uid("sdb")
    r = server.req("POST", "/api/dbs", token=tok, json={"name": db, "query": "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)"})
    assert r.status_code == 200, r.text
    return tok, db


def test_settings_shape_and_patch(server, owned):
    tok, db = owned
    r = server.req("GET", f"/api/dbs/{db}/settings", token=tok)
    assert r.status_code == 200, r.text
    assert r.json() == {"auditing": False, "envVars": [], "environment": None, "schemaLocked": False,
                        "viewsTab": False, "visibility": "private"}
    r = server.req("PATCH", f"/api/dbs/{db}/settings", token=tok, json={
        "auditing": True, "envVars": [{"name": "HELLO", "value": "world"}],
        "environment": {"contents": "production", "tag": "TextValue"}, "viewsTab": True})
    assert r.status_code == 200 and r.json() == {}, r.text
    assert server.req("GET", f"/api/dbs/{db}/settings", token=tok).json() == {
        "auditing": True, "envVars": [{"name": "HELLO", "value": "world"}], "environment": "production",
        "schemaLocked": False, "viewsTab": True, "visibility": "private"}
    # any subset; envVars replaces the set
    assert server.req("PATCH", f"/api/dbs/{db}/settings", token=tok, json={"envVars": []}).status_code == 200
    s = server.req("GET", f"/api/dbs/{db}/settings", token=tok).json()
    assert s["envVars"] == [] and s["auditing"] is True and s["environment"] == "production"
    for bad in ({"auditing": "yes"}, {"visibility": "everyone"}, {"envVars": [{"name": "1X", "value": "v"}]},
                {"envVars": {"A": "b"}}, {"environment": 5}):
        err(server.req("PATCH", f"/api/dbs/{db}/settings", token=tok, json=bad), 400, "BAD_REQUEST")
    # a failed PATCH changed nothing
    assert server.req("GET", f"/api/dbs/{db}/settings", token=tok).json()["auditing"] is True
    # settings are the owner's: the admin may, nobody else sees them
    err(server.req("GET", f"/api/dbs/{db}/settings"), 404, "NOT_FOUND")


def test_visibility_public_opens_reads_to_anyone(server, owned):
    tok, db = owned
    assert server.req("POST", f"/{db}/t/-/insert", token=tok, json={"row": {"v": "x"}}).status_code == 201
    assert server.req("GET", f"/{db}/t.json").status_code in (403, 404)
    assert server.req("PATCH", f"/api/dbs/{db}/settings", token=tok, json={"visibility": "public"}).status_code == 200
    assert server.req("GET", f"/{db}/t.json?_shape=array").json() == [{"id": 1, "v": "x"}]
    r = server.req("POST", f"/dbs/{db}/graphql", json={"query": "{ t { v } }"})
    assert r.json() == {"data": {"t": [{"v": "x"}]}}, r.text
    assert server.req("GET", f"/api/dbs/{db}", token=tok).json()["visibility"] == "public"
    # reading only: anonymous writes stay refused
    assert server.req("POST", f"/{db}/t/-/insert", json={"row": {"v": "y"}}).status_code in (401, 403)
    assert server.req("PATCH", f"/api/dbs/{db}/settings", token=tok, json={"visibility": "private"}).status_code == 200
    assert server.req("GET", f"/{db}/t.json").status_code in (403, 404)


def test_schema_lock_holds_on_every_door(server, admin, owned):
    tok, db = owned
    assert server.req("PATCH", f"/api/dbs/{db}/settings", token=tok, json={"schemaLocked": True}).status_code == 200
    # Airsequel REST and /sql say so in their words
    err(server.req("PUT", f"/api/dbs/{db}/tables/nt", token=tok, json={}), 403, "FORBIDDEN", "Schema is locked")
    r = server.req("POST", f"/dbs/{db}/sql", token=tok, json={"query": "CREATE TABLE x(a)"})
    assert r.status_code == 403 and r.json()["errors"][0]["message"] == "Schema is locked", r.text
    # Datasette, TypeDB and SpacetimeDB refuse too, even to the server admin
    assert server.req("POST", f"/{db}/-/create", token=tok, json={"table": "nt", "columns": [{"name": "a"}]}).status_code == 403
    r = server.req("POST", "/v1/query", token=admin, json={"databaseName": db, "transactionType": "schema",
                                                          "query": "CREATE TABLE y(a)"})
    assert r.status_code in (403, 404), r.text
    r = server.req("PUT", f"/v1/database/{db}", token=tok, headers={"Content-Type": "text/x-lua"},
                   data='atrium.table("m", { { "v", "string" } })\n')
    assert r.status_code in (401, 403), r.text
    # writes to rows go on
    assert server.req("POST", f"/{db}/t/-/insert", token=tok, json={"row": {"v": "still"}}).status_code == 201
    # unlocked, DDL works again
    assert server.req("PATCH", f"/api/dbs/{db}/settings", token=tok, json={"schemaLocked": False}).status_code == 200
    assert server.req("PUT", f"/api/dbs/{db}/tables/nt", token=tok, json={}).status_code == 200
    assert server.req("GET", f"/api/dbs/{db}", token=tok).json()["schemaLocked"] is False


def test_db_env_vars(server, owned):
    tok, db = owned
    base = f"/api/dbs/{db}/env"
    assert server.req("GET", base, token=tok).json() == {"envVars": []}
    r = server.req("POST", base, token=tok, json={"name": "ENVIRONMENT", "value": "development"})
    assert r.status_code == 200, r.text
    v = r.json()
    assert list(v) == ["created_utc", "name", "value"] and v["name"] == "ENVIRONMENT" and v["value"] == "development"
    err(server.req("POST", base, token=tok, json={"name": "ENVIRONMENT", "value": "x"}), 409, "CONFLICT")
    err(server.req("POST", base, token=tok, json={"name": "not-valid", "value": "x"}), 400, "BAD_REQUEST")
    err(server.req("POST", base, token=tok, json={"name": "X"}), 400, "BAD_REQUEST")
    assert server.req("PATCH", f"{base}/ENVIRONMENT", token=tok, json={"value": "production"}).json() == {}
    assert server.req("PATCH", f"{base}/ENVIRONMENT", token=tok, json={"name": "STAGE"}).json() == {}
    got = server.req("GET", base, token=tok).json()["envVars"]
    assert [(x["name"], x["value"]) for x in got] == [("STAGE", "production")]
    err(server.req("PATCH", f"{base}/NOPE", token=tok, json={"value": "v"}), 404, "NOT_FOUND")
    assert server.req("DELETE", f"{base}/STAGE", token=tok).json() == {}
    err(server.req("DELETE", f"{base}/STAGE", token=tok), 404, "NOT_FOUND")
    err(server.req("GET", base), 404, "NOT_FOUND")


def test_instance_settings_and_cors(server, admin):
    r = server.req("GET", "/api/status", headers={"Origin": "https://app.example.org"})
    assert r.headers["access-control-allow-origin"] == "*"
    assert server.req("GET", "/api/settings", token=admin).json() == {"allowedHosts": [], "envVars": []}
    r = server.req("PATCH", "/api/settings", token=admin, json={"allowedHosts": ["localhost", "example.org:1234"],
                                                               "envVars": [{"name": "HELLO", "value": "world"}]})
    assert r.status_code == 200 and r.json() == {}, r.text
    try:
        assert server.req("GET", "/api/settings", token=admin).json() == {
            "allowedHosts": ["localhost", "example.org:1234"], "envVars": [{"name": "HELLO", "value": "world"}]}
        ok = server.req("GET", "/api/status", headers={"Origin": "http://example.org:1234"})
        assert ok.headers["access-control-allow-origin"] == "http://example.org:1234" and "Origin" in ok.headers["vary"]
        assert server.req("GET", "/api/status", headers={"Origin": "http://localhost:3000"}).headers[
            "access-control-allow-origin"] == "http://localhost:3000"
        for origin in ("https://evil.example", "http://example.org:9999", "http://example.org"):
            r = server.req("GET", "/api/status", headers={"Origin": origin})
            assert "access-control-allow-origin" not in r.headers, origin
        assert "access-control-allow-origin" not in server.req("GET", "/api/status").headers
        env = server.req("GET", "/api/settings/env", token=admin).json()["envVars"]
        assert [x["name"] for x in env] == ["HELLO"] and env[0]["created_utc"].endswith("Z")
        assert server.req("POST", "/api/settings/env", token=admin, json={"name": "B", "value": "2"}).status_code == 200
        assert server.req("PATCH", "/api/settings/env/B", token=admin, json={"value": "3"}).status_code == 200
        assert server.req("DELETE", "/api/settings/env/B", token=admin).status_code == 200
        err(server.req("PATCH", "/api/settings", token=admin, json={"allowedHosts": ["a b"]}), 400, "BAD_REQUEST")
    finally:
        assert server.req("PATCH", "/api/settings", token=admin, json={"allowedHosts": [], "envVars": []}).status_code == 200
    assert server.req("GET", "/api/status", headers={"Origin": "https://x.example"}).headers[
        "access-control-allow-origin"] == "*"
    # the instance's settings are the admin's alone
    user = uid("nu")
    assert server.req("POST", "/api/users", token=admin, json={"username": user, "password": "pw"}).status_code == 200
    err(server.req("GET", "/api/settings", token=server.signin(user, "pw")), 403, "FORBIDDEN")
    err(server.req("GET", "/api/settings/env"), 401, "UNAUTHENTICATED")


def test_allowed_hosts_survive_a_restart(tmp_path):
    from conftest import Server
    s = Server(tmp_path)
    try:
        admin = s.signin()
        assert s.req("PATCH", "/api/settings", token=admin, json={"allowedHosts": ["only.example"]}).status_code == 200
        assert s.stop() == 0
        s.start()
        r = s.req("GET", "/api/status", headers={"Origin": "https://other.example"})
        assert "access-control-allow-origin" not in r.headers
        r = s.req("GET", "/api/status", headers={"Origin": "https://only.example"})
        assert r.headers["access-control-allow-origin"] == "https://only.example"
    finally:
        assert s.stop() == 0


def test_apps(server, owned):
    tok, db = owned
    assert server.req("GET", f"/api/dbs/{db}/apps", token=tok).json() == {"apps": []}
    err(server.req("GET", f"/dbs/{db}/apps/abc", token=tok), 404, "NOT_FOUND")
    err(server.req("GET", f"/api/dbs/{db}/apps"), 404, "NOT_FOUND")


def test_charts_and_dashboards(server, admin, owned):
    tok, db = owned
    for kind in ("charts", "dashboards"):
        base = f"/api/dbs/{db}/{kind}"
        assert server.req("GET", base, token=tok).json() == {kind: []}
        body = {"chartType": "BarChart", "headers": [], "hideNullValues": False, "labelRotation": 30,
                "table": "t", "title": "Example"} if kind == "charts" else {"charts": [], "title": "Example"}
        r = server.req("POST", base, token=tok, json={**body, "ulid": "mine"})
        assert r.status_code == 200, r.text
        made = r.json()
        ulid = made.pop("ulid")
        assert made == body and len(ulid) == 26 and ulid != "mine"
        assert list(r.json()) == sorted(r.json())
        assert server.req("PATCH", f"{base}/{ulid}", token=tok, json={"title": "Renamed"}).json() == {}
        got = server.req("GET", base, token=tok).json()[kind]
        assert got == [{**body, "title": "Renamed", "ulid": ulid}]
        err(server.req("PATCH", f"{base}/01NOSUCHULID0000000000000", token=tok, json={"title": "x"}), 404, "NOT_FOUND")
        err(server.req("POST", base, token=tok, json=[1]), 400, "BAD_REQUEST")
        assert server.req("DELETE", f"{base}/{ulid}", token=tok).json() == {}
        err(server.req("DELETE", f"{base}/{ulid}", token=tok), 404, "NOT_FOUND")
        err(server.req("GET", base), 404, "NOT_FOUND")
    # a chart name that looks like the other kind's route word stays a chart
    r = server.req("POST", f"/api/dbs/{db}/charts", token=tok, json={"title": "dashboards"})
    assert server.req("GET", f"/api/dbs/{db}/dashboards", token=tok).json() == {"dashboards": []}
    # they go with their database
    assert server.req("DELETE", f"/api/dbs/{db}", token=tok).status_code == 200


def test_azimutt_schema(server, owned):
    tok, db = owned
    for q in ["CREATE TABLE authors(id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT UNIQUE,"
              " kind TEXT DEFAULT 'staff' CHECK (kind IN ('staff', 'guest')))",
              "CREATE TABLE books(id INTEGER PRIMARY KEY, author_id INTEGER REFERENCES authors(id), title TEXT)",
              "CREATE VIEW titles AS SELECT title FROM books"]:
        r = server.req("POST", f"/dbs/{db}/sql", token=tok, json={"query": q})
        assert r.json()["errors"] == [], r.text
    r = server.req("GET", f"/api/dbs/{db}/azimutt-schema", token=tok)
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["relations"] == [{"name": None, "ref": {"column": "id", "schema": "main", "table": "authors"},
                               "src": {"column": "author_id", "schema": "main", "table": "books"}}]
    tables = {t["table"]: t for t in s["tables"]}
    assert set(tables) == {"authors", "books", "t", "titles"}
    a = tables["authors"]
    assert list(a) == ["checks", "columns", "comment", "primaryKey", "schema", "table", "uniques", "view"]
    assert a["primaryKey"] == {"columns": ["id"], "name": None} and a["view"] is False and a["schema"] == "main"
    assert a["uniques"] == [{"columns": ["email"], "definition": '(email)', "name": None}]
    assert a["checks"] == [{"columns": ["kind"], "name": None, "predicate": "kind IN ('staff', 'guest')"}]
    cols = {c["name"]: c for c in a["columns"]}
    assert cols["name"] == {"columns": [], "comment": None, "default": None, "name": "name", "nullable": False,
                            "type": "TEXT"}
    assert cols["kind"]["default"] == "'staff'" and cols["kind"]["nullable"] is True
    assert tables["titles"]["view"] is True and tables["titles"]["primaryKey"] is None
    err(server.req("GET", f"/api/dbs/{db}/azimutt-schema"), 404, "NOT_FOUND")


def test_api_docs(server):
    r = server.req("GET", "/api/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "<code>GET /api/dbs/:db/azimutt-schema</code>" in r.text
    assert "<code>POST /api/tokens</code>" in r.text and "/v1/signin" not in r.text


def test_table_patch(server, owned):
    tok, db = owned
    for q in ["CREATE TABLE a(x)", "CREATE TABLE b(x)", "CREATE VIEW v AS SELECT 1 AS one"]:
        assert server.req("POST", f"/dbs/{db}/sql", token=tok, json={"query": q}).json()["errors"] == []
    names = lambda: [t["name"] for t in server.req("GET", f"/api/dbs/{db}", token=tok).json()["tables"]]
    assert names() == ["t", "a", "b", "v"]
    r = server.req("PATCH", f"/api/dbs/{db}/tables/t", token=tok,
                   json={"description": {"tag": "TextValue", "contents": "the first"}, "after": "b"})
    assert r.status_code == 200 and r.json() == {}, r.text
    assert server.req("GET", f"/api/dbs/{db}/tables/t", token=tok).json()["description"] == "the first"
    assert names() == ["a", "b", "t", "v"]
    # rename: the data, the description and the order go with it
    assert server.req("POST", f"/{db}/t/-/insert", token=tok, json={"row": {"v": "kept"}}).status_code == 201
    assert server.req("PATCH", f"/api/dbs/{db}/tables/t", token=tok, json={"name": "renamed"}).json() == {}
    t = server.req("GET", f"/api/dbs/{db}/tables/renamed", token=tok).json()
    assert t["description"] == "the first" and t["numberOfRows"] == 1
    assert names() == ["a", "b", "renamed", "v"]
    err(server.req("GET", f"/api/dbs/{db}/tables/t", token=tok), 404, "NOT_FOUND")
    # GraphQL sees the new name
    r = server.req("POST", f"/dbs/{db}/graphql", token=tok, json={"query": "{ renamed { v } }"})
    assert r.json() == {"data": {"renamed": [{"v": "kept"}]}}, r.text
    # clearing
    assert server.req("PATCH", f"/api/dbs/{db}/tables/renamed", token=tok, json={"description": None, "after": None}).status_code == 200
    assert server.req("GET", f"/api/dbs/{db}/tables/renamed", token=tok).json()["description"] is None
    # refusals
    err(server.req("PATCH", f"/api/dbs/{db}/tables/nope", token=tok, json={"description": "x"}), 404, "NOT_FOUND")
    err(server.req("PATCH", f"/api/dbs/{db}/tables/a", token=tok, json={"name": "b"}), 409, "CONFLICT")
    err(server.req("PATCH", f"/api/dbs/{db}/tables/a", token=tok, json={"after": "nope"}), 400, "BAD_REQUEST")
    err(server.req("PATCH", f"/api/dbs/{db}/tables/v", token=tok, json={"name": "w"}), 400, "BAD_REQUEST")
    err(server.req("PATCH", f"/api/dbs/{db}/tables/a", token=tok, json={"name": 5}), 400, "BAD_REQUEST")
    # a view takes a description
    assert server.req("PATCH", f"/api/dbs/{db}/tables/v", token=tok, json={"description": "a view"}).status_code == 200
    assert server.req("GET", f"/api/dbs/{db}/tables/v", token=tok).json()["description"] == "a view"
    # dropped through REST: its metadata goes; a new table of that name starts bare
    assert server.req("DELETE", f"/api/dbs/{db}/tables/renamed", token=tok).status_code == 200
    assert server.req("PUT", f"/api/dbs/{db}/tables/renamed", token=tok, json={}).status_code == 200
    assert server.req("GET", f"/api/dbs/{db}/tables/renamed", token=tok).json()["description"] is None
