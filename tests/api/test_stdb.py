"""SpacetimeDB-style identities, database info and SQL (spec/spacetimedb.md §1, §2)."""
import re
import uuid

import pytest

HEX64 = re.compile(r"^[0-9a-f]{64}$")


@pytest.fixture(scope="module")
def shop(server, admin):
    name = "st" + uuid.uuid4().hex[:8]
    assert server.req("POST", f"/v1/databases/{name}", token=admin).status_code == 200
    r = server.req("POST", "/v1/query", token=admin, json={
        "databaseName": name, "transactionType": "schema",
        "query": "CREATE TABLE person(id INTEGER PRIMARY KEY, name TEXT NOT NULL, nick TEXT, score REAL,"
                 " avatar BLOB, misc);"
                 "INSERT INTO person VALUES (1, 'Alice', NULL, 1.5, x'0aff', 7), (2, 'Bob', 'bobby', NULL, NULL, 'x')"})
    assert r.status_code == 200, r.text
    return name


def test_identity_lifecycle(server):
    r = server.req("POST", "/v1/identity")
    assert r.status_code == 200
    b = r.json()
    assert HEX64.match(b["identity"]) and b["identity"].startswith("c200") and b["token"].startswith("atr_")
    tok = b["token"]
    assert server.req("GET", f"/v1/identity/{b['identity']}/verify", token=tok).status_code == 204
    other = server.req("POST", "/v1/identity").json()["identity"]
    assert server.req("GET", f"/v1/identity/{other}/verify", token=tok).status_code == 400
    assert server.req("GET", "/v1/identity/xyz/verify", token=tok).status_code == 400
    assert server.req("GET", f"/v1/identity/{other}/verify").status_code == 401
    ws = server.req("POST", "/v1/identity/websocket-token", token=tok)
    assert ws.status_code == 200 and ws.json()["token"].startswith("atr_")
    assert server.req("GET", f"/v1/identity/{b['identity']}/verify", token=ws.json()["token"]).status_code == 204
    assert server.req("POST", "/v1/identity/websocket-token").status_code == 401


def test_token_errors(server, shop):
    r = server.req("GET", f"/v1/database/{shop}", token="atr_unknownunknown")
    assert r.status_code == 401 and r.text == "Authorization failed: invalid token"
    r = server.req("GET", f"/v1/database/{shop}", token="not a token!")
    assert r.status_code == 400 and r.text == "Authorization is invalid: malformed token"


def test_token_in_the_query_string(server, admin, shop):
    """The SDKs' websocket handshake passes ?token=; the header wins over it."""
    r = server.req("GET", f"/v1/database/{shop}?token={admin}")
    assert r.status_code == 200 and "spacetime-identity" not in r.headers  # admin, not a fresh identity
    r = server.req("GET", f"/v1/database/{shop}?token=atr_unknownunknown")
    assert r.status_code == 401 and r.text == "Authorization failed: invalid token"
    r = server.req("GET", f"/v1/database/{shop}?token=%25%25")
    assert r.status_code == 400 and r.text == "Authorization is invalid: malformed token"
    anon = server.req("POST", "/v1/identity").json()["token"]
    assert server.req("GET", f"/v1/database/{shop}?token={admin}", token=anon).status_code == 404  # header wins
    r = server.req("GET", f"/v1/database/{shop}?token=")  # empty: none, so a minted identity
    assert r.status_code == 404 and "spacetime-identity" in r.headers


def test_info_identity_names(server, admin, shop):
    r = server.req("GET", f"/v1/database/{shop}", token=admin)
    info = r.json()
    assert set(info) == {"database_identity", "owner_identity", "host_type", "initial_program"}
    assert HEX64.match(info["database_identity"]) and HEX64.match(info["owner_identity"])
    assert info["host_type"] == "sqlite" and info["initial_program"] == "0" * 64
    ident = server.req("GET", f"/v1/database/{shop}/identity", token=admin)
    assert ident.text == info["database_identity"] and ident.headers["content-type"].startswith("text/plain")
    # by identity too, and names
    assert server.req("GET", f"/v1/database/{ident.text}", token=admin).json() == info
    assert server.req("GET", f"/v1/database/{shop}/names", token=admin).json() == {"names": [shop]}
    r = server.req("GET", "/v1/database/" + "ab" * 32, token=admin)
    assert r.status_code == 404 and r.text == "No such database."
    r = server.req("GET", "/v1/database/nope", token=admin)
    assert r.status_code == 404 and r.text == "`nope` not found"
    # The owner's identity is the creator's (admin's, derived from its user name).
    tok = server.req("POST", "/v1/identity").json()["token"]
    assert server.req("GET", f"/v1/database/{shop}", token=tok).status_code == 404  # private: unreadable


def test_anonymous_requests_get_a_minted_identity(server, shop):
    r = server.req("GET", f"/v1/database/{shop}")
    assert r.status_code == 404  # private database, and the caller is a fresh identity
    assert HEX64.match(r.headers["spacetime-identity"])
    tok = r.headers["spacetime-identity-token"]
    assert server.req("GET", f"/v1/identity/{r.headers['spacetime-identity']}/verify", token=tok).status_code == 204


def test_sql_select_with_sats_types(server, admin, shop):
    r = server.req("POST", f"/v1/database/{shop}/sql", token=admin,
                   data="SELECT id, name, nick, score, avatar, misc, 1 + 1 AS two FROM person ORDER BY id")
    assert r.status_code == 200, r.text
    assert int(r.headers["spacetime-execution-duration-micros"]) >= 0
    [res] = r.json()
    opt = lambda t: {"Sum": {"variants": [{"name": {"some": "some"}, "algebraic_type": t},
                                          {"name": {"some": "none"}, "algebraic_type": {"Product": {"elements": []}}}]}}
    el = {e["name"]["some"]: e["algebraic_type"] for e in res["schema"]["elements"]}
    assert el["id"] == {"I64": []}                 # INTEGER PRIMARY KEY: never null
    assert el["name"] == {"String": []}            # NOT NULL
    assert el["nick"] == opt({"String": []})
    assert el["score"] == opt({"F64": []})
    assert el["avatar"] == opt({"Array": {"U8": []}})
    assert el["misc"] == opt({"I64": []})          # no declared type: the first row decides
    assert el["two"] == opt({"I64": []})           # expressions are nullable
    assert res["rows"] == [[1, "Alice", {"none": []}, {"some": 1.5}, {"some": "0aff"}, {"some": 7}, {"some": 2}],
                           [2, "Bob", {"some": "bobby"}, {"none": []}, {"none": []}, {"some": 0}, {"some": 2}]]
    assert res["stats"] == {"rows_inserted": 0, "rows_deleted": 0, "rows_updated": 0}
    assert isinstance(res["total_duration_micros"], int)


def test_sql_schema_follows_a_table_rebuilt_through_another_door(server, admin):
    """/sql keeps its column facts with the prepared statement: a schema change
    made through another door (the statement is prepared again) is seen at once."""
    name = "st" + uuid.uuid4().hex[:8]
    assert server.req("POST", f"/v1/databases/{name}", token=admin).status_code == 200
    sql = lambda q: server.req("POST", f"/dbs/{name}/sql", token=admin, json={"query": q})
    assert sql("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)").status_code == 200
    assert sql("INSERT INTO t VALUES (1, 'a')").status_code == 200

    def types():
        r = server.req("POST", f"/v1/database/{name}/sql", token=admin, data="SELECT * FROM t WHERE id = 1")
        assert r.status_code == 200, r.text
        [res] = r.json()
        return {e["name"]["some"]: e["algebraic_type"] for e in res["schema"]["elements"]}, res["rows"]

    for _ in range(3):  # the second and third answers come from the cached statement
        el, rows = types()
        assert el["id"] == {"I64": []} and "Sum" in el["v"] and rows == [[1, {"some": "a"}]]
    # rebuilt with as many columns: v becomes NOT NULL, id is no longer the rowid
    script = ("CREATE TABLE t2(id TEXT PRIMARY KEY, v TEXT NOT NULL);"
              "INSERT INTO t2(id, v) SELECT id, v FROM t; DROP TABLE t; ALTER TABLE t2 RENAME TO t")
    r = server.req("POST", "/v1/query", token=admin, json={"databaseName": name, "transactionType": "schema",
                                                           "query": script})
    assert r.status_code == 200, r.text
    el, rows = types()
    assert el == {"id": el["id"], "v": {"String": []}}
    assert "Sum" in el["id"]  # a TEXT primary key may hold NULL in SQLite
    assert rows == [[{"some": "1"}, "a"]]


def test_sql_dml_stats_and_errors(server, admin, shop):
    r = server.req("POST", f"/v1/database/{shop}/sql", token=admin,
                   data="INSERT INTO person(id, name) VALUES (3, 'Cy'), (4, 'Di')")
    assert r.status_code == 200 and r.json()[0]["stats"]["rows_inserted"] == 2
    r = server.req("POST", f"/v1/database/{shop}/sql", token=admin, data="UPDATE person SET nick = 'x' WHERE id > 2")
    assert r.json()[0]["stats"] == {"rows_inserted": 0, "rows_deleted": 0, "rows_updated": 2}
    r = server.req("POST", f"/v1/database/{shop}/sql", token=admin, data="DELETE FROM person WHERE id > 2")
    assert r.json()[0]["stats"]["rows_deleted"] == 2
    for bad, msg in (("SELECT 1; SELECT 2", "Multiple SQL statements are not supported"),
                     ("SELECT * FROM nope", "no such table: nope")):
        r = server.req("POST", f"/v1/database/{shop}/sql", token=admin, data=bad)
        assert r.status_code == 400 and r.text == msg
    for bad in ("CREATE TABLE z(a)", "PRAGMA table_info(person)", "ATTACH 'x' AS y", "BEGIN",
                "/* x */ PRAGMA table_info(person)", "-- c\npragma table_info(person)",
                "SELECT * FROM pragma_table_info('person')"):
        assert server.req("POST", f"/v1/database/{shop}/sql", token=admin, data=bad).status_code == 400, bad
    r = server.req("POST", f"/v1/database/{shop}/sql", token=admin,
                   data="WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 1001) SELECT x FROM c")
    assert r.status_code == 400 and r.text == "query returned more than 1000 rows; add a LIMIT"
    r = server.req("POST", f"/v1/database/{shop}/sql", token=admin,
                   data="WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c")
    assert r.status_code == 400 and r.text == "query interrupted: time limit exceeded"


def test_dml_needs_write(fresh, tmp_path):
    import sqlite3
    p = tmp_path / "pub.db"
    c = sqlite3.connect(p)
    c.execute("CREATE TABLE t(x)")
    c.commit()
    c.close()
    s = fresh(str(p))
    r = s.req("POST", "/v1/database/pub/sql", data="SELECT count(*) AS n FROM t")
    assert r.status_code == 200  # public: anyone reads
    r = s.req("POST", "/v1/database/pub/sql", data="DELETE FROM t")
    assert r.status_code == 403
    assert r.text == f"Caller {r.headers['spacetime-identity']} is not authorized to run SQL DML statements"
