"""TypeDB-style one-shot queries, POST /v1/query (spec/typedb.md §4-5)."""
import threading
import uuid

import pytest
import requests


@pytest.fixture(scope="module")
def db(server, admin):
    name = "q" + uuid.uuid4().hex[:8]
    assert server.req("POST", f"/v1/databases/{name}", token=admin).status_code == 200
    return name


def query(server, token, db, sql, ttype="write", **extra):
    return server.req("POST", "/v1/query", token=token,
                      json={"databaseName": db, "transactionType": ttype, "query": sql, **extra})


def err(r, status, code, first=None):
    assert r.status_code == status, (r.status_code, r.text)
    b = r.json()
    assert b["code"] == code, b
    if first:
        assert b["message"].split("\n")[0] == f"[{code}] {first}", b
    return b


def test_schema_write_read(server, admin, db):
    r = query(server, admin, db, "CREATE TABLE p(id INTEGER PRIMARY KEY, name TEXT, score REAL, pic BLOB, n INT);"
                                 "CREATE INDEX p_name ON p(name)", "schema")
    assert r.status_code == 200
    assert r.json() == {"queryType": "schema", "answerType": "ok", "answers": None, "query": None, "warning": None}
    r = query(server, admin, db, "INSERT INTO p VALUES (1, 'Ada', 2.0, x'68690a', 9223372036854775807),"
                                 " (2, 'Бранко', 1e308 * 10, NULL, NULL) RETURNING id")
    b = r.json()
    assert b["queryType"] == "write" and b["answerType"] == "conceptRows"
    assert b["answers"] == [{"data": {"id": {"kind": "value", "value": 1, "valueType": "integer"}},
                             "involvedBlocks": None},
                            {"data": {"id": {"kind": "value", "value": 2, "valueType": "integer"}},
                             "involvedBlocks": None}]
    r = query(server, admin, db, "SELECT name, score, pic, n, name FROM p ORDER BY id", "read")
    b = r.json()
    assert b["queryType"] == "read" and b["warning"] is None
    row1, row2 = (a["data"] for a in b["answers"])
    assert list(row1) == ["name", "score", "pic", "n", "name_2"]
    assert row1["score"] == {"kind": "value", "value": 2.0, "valueType": "double"}
    assert '"value":2.0' in r.text  # integral doubles keep their ".0"
    assert row1["pic"] == {"kind": "value", "value": "aGkK", "valueType": "string", "encoding": "base64"}
    assert row1["n"]["value"] == 9223372036854775807
    assert row2["score"]["value"] == "Infinity" and row2["pic"] is None and row2["name"]["value"] == "Бранко"
    r = query(server, admin, db, "UPDATE p SET n = 0")
    assert r.json()["answerType"] == "ok" and r.json()["queryType"] == "write"


def test_classes_and_refusals(server, admin, db):
    err(query(server, admin, db, "CREATE TABLE x(a)", "write"), 400, "TSV8",
        "Schema modification queries require schema transactions.")
    err(query(server, admin, db, "DELETE FROM p", "read"), 400, "TSV9",
        "Data modification queries require either write or schema transactions.")
    for bad in ("BEGIN", "ATTACH 'x' AS y", "PRAGMA synchronous=OFF", "CREATE TEMP TABLE t(a)"):
        b = err(query(server, admin, db, bad, "schema"), 400, "SQL23")
        assert "[TSV7] Query parsing failed." in b["message"]
    err(query(server, admin, db, "  -- nothing\n ;", "read"), 400, "TSV7", "Query parsing failed.")
    b = err(query(server, admin, db, "SELEC 1", "read"), 400, "SQL1")
    assert b["message"].endswith("[TSV7] Query parsing failed.")


def test_execution_error_undoes_the_whole_query(server, admin, db):
    query(server, admin, db, "CREATE TABLE u(k TEXT UNIQUE)", "schema")
    b = err(query(server, admin, db, "INSERT INTO u VALUES ('a'); INSERT INTO u VALUES ('a')"), 400, "SQL2067",
            "UNIQUE constraint failed: u.k")
    assert b["message"].endswith("[TSV11] Query failed.")
    assert query(server, admin, db, "SELECT count(*) AS n FROM u", "read").json()["answers"][0]["data"]["n"][
        "value"] == 0


def test_commit_false_is_a_dry_run(server, admin, db):
    query(server, admin, db, "CREATE TABLE dry(a)", "schema")
    r = query(server, admin, db, "INSERT INTO dry VALUES (1) RETURNING a", commit=False)
    assert r.status_code == 200 and r.json()["answers"][0]["data"]["a"]["value"] == 1
    n = query(server, admin, db, "SELECT count(*) AS n FROM dry", "read").json()["answers"][0]["data"]["n"]
    assert n["value"] == 0


def test_answer_limit_206(server, admin, db):
    q = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 5) SELECT x FROM c"
    r = query(server, admin, db, q, "read", queryOptions={"answerCountLimit": 3})
    assert r.status_code == 206 and len(r.json()["answers"]) == 3
    assert r.json()["warning"] == "Read query results limit (3) exceeded. Not all answers are returned."
    r = query(server, admin, db, q, "read", queryOptions={"answerCountLimit": 5})
    assert r.status_code == 200 and r.json()["warning"] is None
    query(server, admin, db, "CREATE TABLE lim(a)", "schema")
    r = query(server, admin, db, "INSERT INTO lim " + q + " RETURNING a", queryOptions={"answerCountLimit": 2})
    assert r.status_code == 206 and len(r.json()["answers"]) == 2
    assert r.json()["warning"].startswith("Write query results limit (2) exceeded.")
    n = query(server, admin, db, "SELECT count(*) AS n FROM lim", "read").json()["answers"][0]["data"]["n"]
    assert n["value"] == 5  # all the writes happened


def test_given_rows(server, admin, db):
    r = query(server, admin, db, "SELECT :s AS s, @i AS i, $f AS f, :b AS b, :n AS n, :blob AS blob", "read",
              givenRows=[{"s": "text", "i": 7, "f": 1.5, "b": True, "n": None,
                          "blob": {"kind": "value", "value": "AAE=", "valueType": "string", "encoding": "base64"}}])
    d = r.json()["answers"][0]["data"]
    assert d["s"]["value"] == "text" and d["i"]["value"] == 7 and d["f"]["value"] == 1.5
    assert d["b"]["value"] == 1 and d["n"] is None and d["blob"]["value"] == "AAE="
    err(query(server, admin, db, "SELECT :x", "read", givenRows=[{"x": [1]}]), 400, "TSV22")
    bad = {"kind": "value", "value": "!!", "valueType": "string", "encoding": "base64"}
    err(query(server, admin, db, "SELECT :x", "read", givenRows=[{"x": bad}]), 400, "TSV22")
    err(query(server, admin, db, "SELECT :x", "read", givenRows=[{"x": {"encoding": "base64", "value": 5}}]), 400,
        "TSV22")
    err(query(server, admin, db, "SELECT 1", "read", givenRows=[{}, {}]), 400, "TSV22")


def test_request_errors(server, admin, db):
    err(query(server, admin, "nope", "SELECT 1", "read"), 404, "SRV3", "Database 'nope' not found.")
    assert "[TSV21] Could not open transaction." in query(server, admin, "nope", "SELECT 1").json()["message"]
    err(query(server, admin, db, "SELECT 1", "bogus"), 400, "HSR2")
    err(server.req("POST", "/v1/query", token=admin, data=b"{"), 400, "HSR2")
    err(query(server, admin, db, "SELECT 1", "read", transactionOptions={"transactionTimeoutMillis": 0}), 400, "HSR2")
    err(query(server, admin, db, "SELECT 1", "read", queryOptions={"answerCountLimit": -1}), 400, "HSR2")
    err(server.req("POST", "/v1/query", data=b"{"), 401, "AUT2")


def test_rights(server, admin, db):
    u = "qr" + uuid.uuid4().hex[:6]
    assert server.req("POST", f"/v1/users/{u}", token=admin, json={"password": "pw"}).status_code == 200
    t = server.signin(u, "pw")
    # Users hold no rights on others' databases (spec §2: scoped by ownership)...
    r = query(server, t, db, "SELECT 1 AS one", "read")
    assert r.status_code == 404 and r.json()["code"] == "SRV3"
    # ...and every right on the ones they create.
    own = "own" + uuid.uuid4().hex[:6]
    assert server.req("POST", f"/v1/databases/{own}", token=t).status_code == 200
    for cls, sql in (("schema", "CREATE TABLE x(a)"), ("write", "INSERT INTO x VALUES (1)"),
                     ("read", "SELECT a FROM x")):
        assert query(server, t, own, sql, cls).status_code == 200
    assert server.req("DELETE", f"/v1/databases/{own}", token=t).status_code == 200


def test_hundred_clients_mixed_dialects_leave_exactly_10000_rows(server, admin):
    name = "mix" + uuid.uuid4().hex[:6]
    assert server.req("POST", f"/v1/databases/{name}", token=admin).status_code == 200
    assert query(server, admin, name, "CREATE TABLE m(id INTEGER PRIMARY KEY, via TEXT, k INT)",
                 "schema").status_code == 200
    errors = []

    def client(k):
        sess = requests.Session()
        sess.headers["Authorization"] = f"Bearer {admin}"
        for i in range(100):
            v = k * 100 + i
            if (k + i) % 2:
                r = sess.post(f"{server.url}/v1/query", json={"databaseName": name, "transactionType": "write",
                                                              "query": f"INSERT INTO m(via, k) VALUES ('typedb', {v})"})
                ok = r.status_code == 200
            else:
                r = sess.post(f"{server.url}/dbs/{name}/sql",
                              json={"query": f"INSERT INTO m(via, k) VALUES ('airsequel', {v})"})
                ok = r.status_code == 200 and r.json()["errors"] == []
            if not ok:
                errors.append(r.text)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    r = server.req("GET", f"/{name}/-/query.json", token=admin,
                   params={"sql": "select count(*) as n, count(distinct k) as d, sum(via = 'typedb') as t from m"})
    assert r.json()["rows"] == [{"n": 10000, "d": 10000, "t": 5000}]
