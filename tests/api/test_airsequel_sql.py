"""Airsequel-style SQL endpoint, POST /dbs/:dbId/sql (spec/airsequel.md §3)."""
import sqlite3
import threading
import uuid

import pytest

KEYS = ["affectedTables", "rows", "numChanges", "runtimeSeconds", "errors"]


@pytest.fixture(scope="module")
def env(server, admin):
    name = "as" + uuid.uuid4().hex[:8]
    assert server.req("POST", f"/v1/databases/{name}", token=admin).status_code == 200
    return server, admin, name


def sql(env_, query, token=None, **kw):
    server, admin, name = env_
    r = server.req("POST", f"/dbs/{name}/sql", token=admin if token is None else token,
                   json={"query": query}, **kw)
    return r


def ok(r):
    assert r.status_code == 200, r.text
    body = r.json()
    assert list(body) == KEYS, body  # exactly these keys, in this order
    return body


def test_schema_write_read_round_trip(env):
    b = ok(sql(env, "CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT, score REAL, pic BLOB)"))
    assert b["errors"] == [] and b["affectedTables"] == ["people"] and b["numChanges"] == 0
    b = ok(sql(env, "INSERT INTO people(name, score, pic) VALUES ('Ada', 9.5, x'00'), ('Grace', 1e300, NULL),"
                    " ('Бранко', NULL, NULL)"))
    assert b["numChanges"] == 3 and b["rows"] == [] and b["errors"] == []
    assert b["affectedTables"] == ["people"]
    b = ok(sql(env, "SELECT id, name, score, pic, 9223372036854775807 AS big, name AS name FROM people ORDER BY id"))
    assert b["rows"][0] == {"id": 1, "name": "Ada", "score": 9.5, "pic": {"type": "blob"},
                            "big": 9223372036854775807, "name:2": "Ada"}
    assert b["rows"][1]["score"] == 1e300 and b["rows"][2]["name"] == "Бранко"
    assert b["numChanges"] == 0 and b["affectedTables"] == [] and b["runtimeSeconds"] >= 0
    b = ok(sql(env, "UPDATE people SET score = 1 WHERE name = 'Ada' RETURNING id, score"))
    assert b["rows"] == [{"id": 1, "score": 1.0}] and b["numChanges"] == 1


def test_errors_are_200_with_message(env):
    b = ok(sql(env, "SELECT * FROM no_such_table"))
    assert b["errors"] == ["no such table: no_such_table"] and b["rows"] == [] and b["runtimeSeconds"] == 0
    b = ok(sql(env, "SELECT 1; SELECT 2"))
    assert b["errors"] == ["Only one statement per request is supported"]
    b = ok(sql(env, "CREATE TABLE one(x); CREATE TABLE two(y)"))
    assert b["errors"] == ["Only one statement per request is supported"]
    assert "one" not in str(ok(sql(env, "SELECT name FROM sqlite_schema"))["rows"])  # nothing ran
    for verb in ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT x", "RELEASE x", "VACUUM",
                 "ATTACH 'x.db' AS x", "DETACH x"):
        b = ok(sql(env, f"  -- comment\n {verb.lower()}"))
        assert b["errors"] == [f"Statement not allowed: {verb.split()[0]}"], verb
    # the verb comes from SQLite's authorizer, not the text: comments and
    # aliases change nothing
    for text, verb in (("/* x */ BEGIN IMMEDIATE", "BEGIN"), ("END", "COMMIT"), ("ROLLBACK TO x", "ROLLBACK"),
                       ("/**/savepoint x", "SAVEPOINT"), ("\n--\n VACUUM INTO '/tmp/x.db'", "VACUUM")):
        b = ok(sql(env, text))
        assert b["errors"] == [f"Statement not allowed: {verb}"], text
    for bad in ("PRAGMA synchronous = OFF", "CREATE TEMP TABLE t(x)", "SELECT load_extension('x')"):
        b = ok(sql(env, bad))
        assert b["errors"] and "not allowed" in b["errors"][0], (bad, b)


def test_execution_error_rolls_back(env):
    ok(sql(env, "CREATE TABLE uniq(k TEXT UNIQUE)"))
    ok(sql(env, "INSERT INTO uniq VALUES ('a')"))
    b = ok(sql(env, "INSERT INTO uniq VALUES ('b'), ('a')"))  # second row violates UNIQUE
    assert b["errors"] == ["UNIQUE constraint failed: uniq.k"]
    assert b["numChanges"] == 0 and b["affectedTables"] == [] and b["rows"] == []
    assert ok(sql(env, "SELECT count(*) AS n FROM uniq"))["rows"] == [{"n": 1}]  # 'b' rolled back


def test_row_cap(env):
    b = ok(sql(env, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 10001) SELECT x FROM c"))
    assert len(b["rows"]) == 10000 and b["rows"][-1] == {"x": 10000}
    assert b["errors"] == ["Result truncated to 10000 rows"]
    b = ok(sql(env, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 10000) SELECT x FROM c"))
    assert len(b["rows"]) == 10000 and b["errors"] == []


def test_body_errors(env):
    server, admin, name = env
    for raw in (b"{", b"[]", b'{"query": 5}', b"{}"):
        r = server.req("POST", f"/dbs/{name}/sql", token=admin, data=raw)
        assert r.status_code == 400
        e = r.json()["errors"][0]
        assert e["extensions"]["code"] == "BAD_REQUEST"
    r = sql(env, "SELECT 1 " + " " * 100000)
    assert r.status_code == 400
    assert r.json()["errors"][0]["message"] == "SQL query is too long (100009 characters, maximum is 100000)"


def test_auth_and_rights(env, tmp_path, fresh):
    server, admin, name = env
    r = sql(env, "SELECT 1", token="atr_nope")
    assert r.status_code == 401 and r.json()["errors"][0]["message"] == "Invalid or expired token"
    # Anonymous on a private database: as if it did not exist.
    r = server.req("POST", f"/dbs/{name}/sql", json={"query": "SELECT 1"})
    assert r.status_code == 404
    assert r.json()["errors"][0] == {"message": f'Database "{name}" does not exist',
                                     "extensions": {"code": "NOT_FOUND"}}
    assert server.req("POST", "/dbs/nope/sql", token=admin, json={"query": "SELECT 1"}).status_code == 404
    # A public file: anyone reads, nobody anonymous writes.
    p = tmp_path / "pub.db"
    c = sqlite3.connect(p)
    c.execute("CREATE TABLE t(x)")
    c.execute("INSERT INTO t VALUES (42)")
    c.commit()
    c.close()
    s = fresh(str(p))
    r = s.req("POST", "/dbs/pub/sql", json={"query": "SELECT x FROM t"})
    assert r.status_code == 200 and r.json()["rows"] == [{"x": 42}]
    r = s.req("POST", "/dbs/pub/sql", json={"query": "DELETE FROM t"})
    assert r.status_code == 403 and r.json()["errors"][0]["message"] == "Permission denied"


def test_concurrent_inserts_all_land(env):
    server, admin, name = env
    ok(sql(env, "CREATE TABLE hits(n INTEGER)"))
    errors = []

    def worker(k):
        import requests
        sess = requests.Session()
        for i in range(25):
            r = sess.post(f"{server.url}/dbs/{name}/sql", headers={"Authorization": f"Bearer {admin}"},
                          json={"query": f"INSERT INTO hits VALUES ({k * 1000 + i})"}, timeout=60)
            if r.status_code != 200 or r.json()["errors"]:
                errors.append(r.text)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert ok(sql(env, "SELECT count(*) AS n, count(DISTINCT n) AS d FROM hits"))["rows"] == [{"n": 400, "d": 400}]


def test_writes_visible_to_typedb_schema(env):
    server, admin, name = env
    ok(sql(env, "CREATE TABLE seen_elsewhere(x)"))
    r = server.req("GET", f"/v1/databases/{name}/schema", token=admin)
    assert "CREATE TABLE seen_elsewhere(x);\n" in r.text


def test_cors_and_options(env):
    server, admin, name = env
    r = server.req("OPTIONS", f"/dbs/{name}/sql")
    assert r.status_code == 204 and r.headers["access-control-allow-origin"] == "*"
    r = server.req("GET", f"/dbs/{name}/sql", token=admin)
    assert r.status_code == 405 and r.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    r = server.req("GET", "/api/nothing")
    assert r.status_code == 404 and r.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


def test_create_table_lints(env):
    server, admin, name = env
    b = ok(sql(env, "CREATE TABLE wr(k TEXT PRIMARY KEY) WITHOUT ROWID"))
    assert b["errors"] == ["Table 'wr' does not have a rowid column. Such tables are not currently supported by Airsequel."]
    assert b["affectedTables"] == [] and b["rows"] == []
    ok(sql(env, "CREATE TABLE goo(x TEXT)"))
    b = ok(sql(env, "CREATE TABLE foo(bar INTEGER REFERENCES goo(rowid))"))
    assert b["errors"] == ["Column 'bar' references the rowid column of table 'goo'.\nThis is not supported by SQLite:\n"
                           "https://www.sqlite.org/foreignkeys.html"]
    # both were rolled back
    names = [r["name"] for r in ok(sql(env, "SELECT name FROM sqlite_schema WHERE name IN ('wr', 'foo')"))["rows"]]
    assert names == []
    # a real column called rowid may be referenced
    ok(sql(env, 'CREATE TABLE hasrowid("rowid" INTEGER PRIMARY KEY, v TEXT)'))
    b = ok(sql(env, "CREATE TABLE ref(r INTEGER REFERENCES hasrowid(rowid))"))
    assert b["errors"] == [] and b["affectedTables"] == ["ref"]
