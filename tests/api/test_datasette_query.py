"""Datasette-style custom SQL: /DB/-/query.json (spec/datasette.md §8, §11)."""
import json
import sqlite3
import threading
import time

import pytest
import requests



@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    from conftest import Server
    d = tmp_path_factory.mktemp("ds")
    p = d / "fixture.db"
    c = sqlite3.connect(p)
    c.executescript("""
        CREATE TABLE books(id INTEGER PRIMARY KEY, title TEXT, price REAL, cover BLOB);
        INSERT INTO books VALUES (1, 'Solaris', 8.75, x'00ff10'), (2, 'Kindred', 1e16, NULL),
                                 (3, 'Café "Ω"', 0.00001, NULL);
        CREATE TABLE big(n INTEGER);
    """)
    c.execute("INSERT INTO big WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 1500) "
              "SELECT x FROM c")
    c.commit()
    c.close()
    data = d / "data"
    data.mkdir()
    s = Server(data, [str(p), "--cors"])
    yield s
    assert s.stop() == 0


def q(s, sql, **params):
    return s.req("GET", "/fixture/-/query.json", params={"sql": sql, **params})


def test_rows_values_and_encoding(ds):
    r = q(ds, "select id, title, price, cover from books order by id")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json; charset=utf-8"
    assert r.json() == {"ok": True, "rows": [
        {"id": 1, "title": "Solaris", "price": 8.75, "cover": {"$base64": True, "encoded": "AP8Q"}},
        {"id": 2, "title": "Kindred", "price": 1e16, "cover": None},
        {"id": 3, "title": 'Café "Ω"', "price": 1e-05, "cover": None}], "truncated": False}
    # Python json.dumps style on the wire: spaced separators, \\u escapes, repr floats.
    assert '"ok": true' in r.text and "1e+16" in r.text and "1e-05" in r.text
    assert "\\u00e9" in r.text and "\\u03a9" in r.text


def test_named_parameters(ds):
    r = q(ds, "select title from books where id = :id or title = :t", id="2")
    assert r.json()["rows"] == [{"title": "Kindred"}]  # missing :t binds ""
    r = q(ds, "select :id as a, :_x as b", id="7", _x="ignored")
    assert r.json()["rows"] == [{"a": "7", "b": None}]
    r = q(ds, "select 'x'' or 1=1 --' as v where :id = '1'", id="1' or '1'='1")
    assert r.json()["rows"] == []  # values are bound, never pasted


def test_shapes(ds):
    sql = "select id, title from books order by id limit 2"
    assert q(ds, sql, _shape="arrays").json()["rows"] == [[1, "Solaris"], [2, "Kindred"]]
    assert q(ds, sql, _shape="array").json() == [{"id": 1, "title": "Solaris"}, {"id": 2, "title": "Kindred"}]
    assert q(ds, sql, _shape="arrayfirst").json() == [1, 2]
    r = q(ds, sql, _shape="array", _nl="on")
    assert r.headers["content-type"].startswith("text/plain")
    assert [json.loads(line) for line in r.text.split("\n")] == [{"id": 1, "title": "Solaris"},
                                                                 {"id": 2, "title": "Kindred"}]
    r = q(ds, sql, _shape="object")
    assert r.status_code == 400 and r.json()["error"] == "_shape=object is only available on tables"
    r = q(ds, sql, _shape="nope")
    assert r.status_code == 400 and r.json()["error"] == "Invalid _shape: nope"


def test_extras(ds):
    r = q(ds, "select id, title as t from books where id = :id", id="1", _extra="columns,query")
    b = r.json()
    assert b["columns"] == ["id", "t"]
    assert b["query"] == {"sql": "select id, title as t from books where id = :id", "params": {"id": "1"}}
    assert q(ds, "select 1", _extra="database").json()["database"] == "fixture"
    r = q(ds, "select 1", _extra="bogus,columns,also")
    assert r.status_code == 400 and r.json()["error"] == "Unknown _extra: bogus, also"


def test_truncation_at_1000(ds):
    b = q(ds, "select n from big order by n").json()
    assert len(b["rows"]) == 1000 and b["truncated"] is True
    b = q(ds, "select n from big where n <= 1000").json()
    assert len(b["rows"]) == 1000 and b["truncated"] is False


def test_errors(ds):
    def e(r, status, msg):
        assert r.status_code == status, r.text
        b = r.json()
        assert b["ok"] is False and b["error"] == msg and b["errors"] == [msg] and b["status"] == status
        return b
    e(ds.req("GET", "/fixture/-/query.json"), 400, "?sql= is required")
    for bad in ("delete from books", "insert into books(id) values (9)", "drop table books", "vacuum",
                "attach 'x' as y", "update books set title = 1"):
        e(q(ds, bad), 400, "Statement must be a SELECT")
    b = e(q(ds, "with x as (select 1) delete from books"), 400, "Statement must be a SELECT")
    assert b["rows"] == [] and b["truncated"] is False
    b = e(q(ds, "select * from nope"), 400, "no such table: nope")
    assert b["rows"] == [] and b["truncated"] is False
    e(q(ds, "select 1; select 2"), 400, "You can only execute one statement at a time.")
    r = q(ds, "select * from pragma_user_version()")
    assert r.status_code == 400 and r.json()["error"].startswith("Statement contained a disallowed PRAGMA.")
    assert q(ds, "select * from pragma_table_info('books')").status_code == 200
    assert q(ds, "-- a comment\n  SELECT 1 as x").json()["rows"] == [{"x": 1}]
    assert ds.req("GET", "/nope/-/query.json", params={"sql": "select 1"}).status_code == 404
    assert q(ds, "select count(*) as n from books").json()["rows"] == [{"n": 3}]  # nothing was changed


def test_time_limit(ds):
    slow = "with recursive c(x) as (select 1 union all select x + 1 from c) select count(*) from c"
    r = q(ds, slow, _timelimit="100")  # an endless query: only the limit can end it
    assert r.status_code == 400
    assert r.json()["error"] == ("SQL query took too long. The time limit is controlled by the "
                                 "sql_time_limit_ms setting.")


def test_long_query_does_not_stall_others(ds):
    """While one client runs a ~900 ms query, point queries keep answering."""
    slow = "with recursive c(x) as (select 1 union all select x + 1 from c) select count(*) from c"
    done = {}

    def long_one():
        done["r"] = q(ds, slow, _timelimit="900")

    t = threading.Thread(target=long_one)
    t.start()
    time.sleep(0.05)
    sess = requests.Session()
    answered = 0
    while t.is_alive():
        r = sess.get(f"{ds.url}/fixture/-/query.json", params={"sql": "select title from books where id = 1"})
        assert r.status_code == 200
        answered += 1
    t.join()
    assert done["r"].status_code == 400  # it did run into its limit
    # Had the long query blocked the server, at most one lookup would have
    # been answered while it ran; a point query takes about a millisecond.
    assert answered >= 10


def test_redirect_and_cors(ds):
    r = ds.req("GET", "/fixture.json", params={"sql": "select 1", "_shape": "array"}, allow_redirects=False)
    assert r.status_code == 302
    assert r.headers["location"] == "/fixture/-/query.json?sql=select+1&_shape=array"
    assert r.headers["access-control-allow-origin"] == "*"
    r = ds.req("OPTIONS", "/fixture/-/query.json")
    assert r.status_code == 200 and r.text == "ok"
    assert r.headers["access-control-max-age"] == "3600"
    assert r.headers["access-control-expose-headers"] == "Link"
    r = q(ds, "select 1")
    assert r.headers["access-control-allow-methods"] == "GET, POST, HEAD, OPTIONS"
    r = ds.req("DELETE", "/fixture/-/query.json")
    assert r.status_code == 405 and r.text == "Method not allowed"


def test_tokens(ds, fresh, tmp_path):
    assert q(ds, "select 1").status_code == 200  # public file, anonymous
    r = ds.req("GET", "/fixture/-/query.json", params={"sql": "select 1"}, token="atr_unknown")
    assert r.status_code == 401 and r.json()["error"] == "Invalid token signature"
    assert r.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    r = ds.req("GET", "/fixture/-/query.json", params={"sql": "select 1"}, token="foreign-token")
    assert r.status_code == 200  # not ours: anonymous
    tok = ds.signin()
    assert ds.req("GET", "/fixture/-/query.json", params={"sql": "select 1"}, token=tok).status_code == 200
    # Private database: anonymous gets 403, a signed-in user reads.
    p = tmp_path / "secret.db"
    sqlite3.connect(p).execute("create table t(x)").connection.close()
    s = fresh(str(p), "--private", "--token-ttl", "1")
    r = s.req("GET", "/secret/-/query.json", params={"sql": "select 1"})
    assert r.status_code == 403 and r.json()["error"] == "You do not have permission to view this database"
    tok = s.signin()
    assert s.req("GET", "/secret/-/query.json", params={"sql": "select 1"}, token=tok).status_code == 200
    time.sleep(1.2)
    r = s.req("GET", "/secret/-/query.json", params={"sql": "select 1"}, token=tok)
    assert r.status_code == 401 and r.json()["error"] == "Token has expired"
