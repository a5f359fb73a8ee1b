"""What the console asks of the server beyond the four dialects:
GET /-/usage (each readable database's sizes, owner, and which doors made
and last used it) and /-/history/:db (a user's own query history per
database, kept in system.db)."""
import pytest

from conftest import as_user, uid

DOORS = ["typedb", "spacetimedb", "datasette", "airsequel"]


def usage(server, token):
    r = server.req("GET", "/-/usage", token=token)
    assert r.status_code == 200, r.text
    assert r.headers["Cache-Control"] == "no-store"
    return {d["name"]: d for d in r.json()["databases"]}


def test_usage_names_the_door_that_made_and_the_doors_that_used(server, admin):
    made = {}
    db = uid("tdb")
    assert server.req("POST", f"/v1/databases/{db}", token=admin).status_code == 200
    made[db] = "typedb"
    db2 = uid("adb")
    assert server.req("POST", "/api/dbs", token=admin, json={"name": db2}).status_code == 200
    made[db2] = "airsequel"
    db3 = uid("up")
    r = server.req("POST", "/dbs", token=admin, data={"name": db3}, files={"file": ("x.csv", b"a\n1\n", "text/csv")})
    assert r.status_code == 200, r.text
    made[db3] = "airsequel"
    u = usage(server, admin)
    for name, door in made.items():
        d = u[name]
        assert d["created_by"] == door
        assert d["owner"] == "admin"
        assert set(d["last_used_utc"]) == set(DOORS)
        assert d["size_bytes"] > 0 and d["wal_bytes"] >= 0
        assert d["served_in_place"] is False
        assert d["created_utc"].endswith("Z")
    # only the creating door has touched db so far; each door's request marks its own
    assert [k for k, v in u[db]["last_used_utc"].items() if v] == ["typedb"]
    r = server.req("POST", f"/dbs/{db}/sql", token=admin, json={"query": "CREATE TABLE t(a)"})
    assert r.status_code == 200, r.text
    assert server.req("GET", f"/{db}/t.json", token=admin).status_code == 200
    assert server.req("POST", f"/v1/database/{db}/sql", token=admin, data="SELECT * FROM t").status_code == 200
    used = usage(server, admin)[db]["last_used_utc"]
    assert all(used[k] for k in DOORS), used
    assert used["typedb"] <= used["airsequel"] <= used["datasette"] <= used["spacetimedb"]


def test_usage_lists_only_what_the_caller_may_read(server, admin):
    name, tok = as_user(server, admin)
    mine, theirs = uid("mine"), uid("theirs")
    assert server.req("POST", f"/v1/databases/{mine}", token=tok).status_code == 200
    assert server.req("POST", f"/v1/databases/{theirs}", token=admin).status_code == 200
    u = usage(server, tok)
    assert mine in u and theirs not in u
    assert u[mine]["owner"] == name
    # anonymous callers see public databases only, never private names
    anon = usage(server, None)
    assert mine not in anon and theirs not in anon
    # a token narrowed to another database does not see this one
    scoped = server.req("POST", "/-/create-token", token=tok,
                        json={"restrict_database": {theirs: ["view-database"]}}).json()["token"]
    assert mine not in usage(server, scoped)
    assert server.req("GET", "/-/usage", token="atr_nope").status_code == 401


def test_doors_survive_a_restart(fresh):
    s = fresh()
    admin = s.signin()
    assert s.req("POST", "/v1/databases/kept", token=admin).status_code == 200
    assert s.req("GET", "/kept.json", token=admin).status_code == 200
    before = usage(s, admin)["kept"]
    # nothing asked /-/usage since the Datasette read: the shutdown writes it down
    assert s.req("GET", "/kept.json", token=admin).status_code == 200
    s.restart()
    admin = s.signin()
    after = usage(s, admin)["kept"]
    assert after["created_by"] == "typedb"
    assert after["last_used_utc"]["typedb"] == before["last_used_utc"]["typedb"]
    assert after["last_used_utc"]["datasette"] >= before["last_used_utc"]["datasette"]
    assert after["last_used_utc"]["spacetimedb"] is None


def hist(server, token, db, status=200):
    r = server.req("GET", f"/-/history/{db}", token=token)
    assert r.status_code == status, r.text
    return [(h["language"], h["text"]) for h in r.json()["history"]] if status == 200 else r.json()


def test_history_is_kept_per_user_and_database(server, admin):
    db = uid("h")
    assert server.req("POST", f"/v1/databases/{db}", token=admin).status_code == 200
    assert hist(server, admin, db) == []
    for text in ("SELECT 1", "SELECT 2", "SELECT 1"):
        r = server.req("POST", f"/-/history/{db}", token=admin, json={"text": text})
        assert r.status_code == 201, r.text
    r = server.req("POST", f"/-/history/{db}", token=admin, json={"text": "{ t { a } }", "language": "graphql"})
    assert r.status_code == 201
    first = r.json()["history"][0]
    assert first["language"] == "graphql" and first["created_utc"].endswith("Z") and first["id"] > 0
    # newest first; running the same text again moves it up instead of repeating it
    assert hist(server, admin, db) == [("graphql", "{ t { a } }"), ("sql", "SELECT 1"), ("sql", "SELECT 2")]
    # another user who may read the database has a history of their own
    name, tok = as_user(server, admin)
    owner = server.req("GET", f"/api/dbs/{db}", token=admin).json()
    assert server.req("PATCH", f"/api/dbs/{db}/settings", token=admin, json={"visibility": "public"}).status_code == 200, owner
    assert hist(server, tok, db) == []
    assert server.req("POST", f"/-/history/{db}", token=tok, json={"text": "SELECT 3"}).status_code == 201
    assert hist(server, tok, db) == [("sql", "SELECT 3")]
    assert len(hist(server, admin, db)) == 3
    r = server.req("DELETE", f"/-/history/{db}", token=tok)
    assert r.status_code == 200 and r.json() == {"deleted": 1}
    assert len(hist(server, admin, db)) == 3


def test_history_keeps_the_newest_hundred(server, admin):
    db = uid("h")
    assert server.req("POST", f"/v1/databases/{db}", token=admin).status_code == 200
    for i in range(105):
        assert server.req("POST", f"/-/history/{db}", token=admin, json={"text": f"SELECT {i}"}).status_code == 201
    h = hist(server, admin, db)
    assert len(h) == 100
    assert h[0] == ("sql", "SELECT 104") and h[-1] == ("sql", "SELECT 5")


def test_history_refuses_what_it_should(server, admin):
    db = uid("h")
    assert server.req("POST", f"/v1/databases/{db}", token=admin).status_code == 200
    _, tok = as_user(server, admin)
    # someone else's private database: not found, as if it did not exist
    assert hist(server, tok, db, 404)["error"] == "Database not found"
    assert server.req("POST", f"/-/history/{db}", token=tok, json={"text": "x"}).status_code == 404
    assert hist(server, admin, uid("none"), 404)["status"] == 404
    # anonymous callers keep none, even on a public database
    assert server.req("PATCH", f"/api/dbs/{db}/settings", token=admin, json={"visibility": "public"}).status_code == 200
    r = server.req("GET", f"/-/history/{db}")
    assert r.status_code == 401 and r.json()["error"] == "Sign in to keep a query history"
    assert server.req("POST", f"/-/history/{db}", token="atr_bad", json={"text": "x"}).status_code == 401
    for body in ({}, {"text": ""}, {"text": 5}, {"text": "x", "language": "no spaces"}, {"text": "x", "language": 3},
                 {"text": "x" * (64 * 1024 + 1)}):
        r = server.req("POST", f"/-/history/{db}", token=admin, json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["status"] == 400
    r = server.req("POST", f"/-/history/{db}", token=admin, data="not json")
    assert r.status_code == 400
    assert hist(server, admin, db) == []


def test_history_goes_with_its_database(server, admin):
    db = uid("h")
    assert server.req("POST", f"/v1/databases/{db}", token=admin).status_code == 200
    assert server.req("POST", f"/-/history/{db}", token=admin, json={"text": "SELECT 1"}).status_code == 201
    assert server.req("DELETE", f"/v1/databases/{db}", token=admin).status_code == 200
    assert server.req("POST", f"/v1/databases/{db}", token=admin).status_code == 200
    assert hist(server, admin, db) == []
