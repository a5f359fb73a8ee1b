"""Datasette's JSON write API and /-/create-token (spec/datasette.md §10, §11)."""
import base64
import sqlite3
import time

import pytest

import ds_fixture
from conftest import Server


@pytest.fixture
def w(tmp_path):
    ds_fixture.build(tmp_path / "lib.db")
    data = tmp_path / "data"
    data.mkdir()
    s = Server(data, [str(tmp_path / "lib.db"), "--cors"])
    s.db = tmp_path / "lib.db"
    s.tok = s.signin()
    yield s
    assert s.stop() == 0


def post(s, path, body=None, token=True, raw=None):
    kw = {"data": raw} if raw is not None else {"json": body}
    return s.req("POST", path, token=s.tok if token is True else token, **kw)


def err(r, status, msg):
    assert r.status_code == status, r.text
    assert r.json() == {"ok": False, "error": msg, "errors": [msg], "status": status}


def rows_of(s, sql):
    c = sqlite3.connect(s.db)
    try:
        return c.execute(sql).fetchall()
    finally:
        c.close()


def test_insert_row_and_rows(w):
    r = post(w, "/lib/books/-/insert", {"row": {"title": "New", "author_id": 2}})
    assert r.status_code == 201
    assert r.json() == {"ok": True, "rows": [{"id": 7, "title": "New", "author_id": 2, "price": None, "year": None,
                                              "tags": None, "published": None, "cover": None}]}
    r = post(w, "/lib/books/-/insert", {"rows": [{"title": "A"}, {"title": "B", "year": 2000}]})
    assert r.status_code == 201 and r.json() == {"ok": True}
    r = post(w, "/lib/books/-/insert", {"rows": [{"title": "C", "tags": ["x", {"a": 1}], "cover":
                                                  {"$base64": True, "encoded": "AAE="}, "year": True}],
                                        "return": True})
    row = r.json()["rows"][0]
    assert row["tags"] == '["x", {"a": 1}]' and row["cover"] == {"$base64": True, "encoded": "AAE="}
    assert row["year"] == 1
    r = post(w, "/lib/books/-/insert", {"row": {"title": {"$raw": "raw"}}})
    assert r.json()["rows"][0]["title"] == "raw"
    # the rowid table: returned rows carry no rowid key
    r = post(w, "/lib/logs/-/insert", {"row": {"msg": "x", "level": 9}})
    assert r.json()["rows"] == [{"msg": "x", "level": 9}]
    assert rows_of(w, "select count(*) from books")[0][0] == 11


def test_insert_ignore_replace_and_constraint_errors(w):
    err(post(w, "/lib/books/-/insert", {"row": {"id": 1, "title": "dup"}}), 400, "UNIQUE constraint failed: books.id")
    r = post(w, "/lib/books/-/insert", {"rows": [{"id": 1, "title": "X"}, {"title": "Y"}], "ignore": True,
                                        "return": True})
    assert [x["title"] for x in r.json()["rows"]] == ["Dune", "Y"]
    r = post(w, "/lib/books/-/insert", {"rows": [{"id": 1, "title": "Replaced"}], "replace": True})
    assert r.status_code == 201 and rows_of(w, "select title from books where id = 1") == [("Replaced",)]
    # one transaction: a failing row undoes the rows before it
    err(post(w, "/lib/books/-/insert", {"rows": [{"id": 100, "title": "ok"}, {"id": 2, "title": "dup"}]}), 400,
        "UNIQUE constraint failed: books.id")
    assert rows_of(w, "select count(*) from books where id = 100") == [(0,)]


def test_insert_validation_messages(w):
    cases = [
        ([1], "JSON must be a dictionary"),
        ({}, 'JSON must have one or other of "row" or "rows"'),
        ({"row": {}, "rows": []}, 'Cannot use "row" and "rows" at the same time'),
        ({"row": 1}, '"row" must be a dictionary'),
        ({"rows": {}}, '"rows" must be a list'),
        ({"rows": [1]}, '"rows" must be a list of dictionaries'),
        ({"rows": [{}] * 101}, "Too many rows, maximum allowed is 100"),
        ({"row": {}, "foo": 1, "bar": 2}, 'Invalid parameter: "foo", "bar"'),
        ({"row": {}, "ignore": True, "replace": True}, 'Cannot use "ignore" and "replace" at the same time'),
        ({"row": {"title": "x", "nope": 1}}, "Row 0 has invalid columns: nope"),
        ({"row": {"cover": {"$base64": True, "encoded": "!!"}}}, "Invalid $base64 encoded value"),
    ]
    for body, msg in cases:
        err(post(w, "/lib/books/-/insert", body), 400, msg)
    r = post(w, "/lib/books/-/insert", {"rows": [{"a": 1}, {"title": "ok"}, {"b": 2, "c": 3}]})
    assert r.status_code == 400 and r.json()["errors"] == ["Row 0 has invalid columns: a",
                                                           "Row 2 has invalid columns: b, c"]
    assert r.json()["error"] == "Row 0 has invalid columns: a; Row 2 has invalid columns: b, c"
    err(post(w, "/lib/books/-/insert", raw=b""), 400, "Invalid JSON: Expecting value: line 1 column 1 (char 0)")
    err(post(w, "/lib/books/-/insert", raw=b"nope"), 400, "Invalid JSON: Expecting value: line 1 column 1 (char 0)")
    err(post(w, "/lib/books/-/insert", raw=b"x" * (2 * 1024 * 1024 + 1)), 413,
        "Request body exceeded maximum size of 2097152 bytes")
    err(post(w, "/lib/nope/-/insert", {"row": {}}), 404, "Table not found")
    err(post(w, "/lib/cheap/-/insert", {"row": {}}), 404, "Table not found: cheap")
    err(post(w, "/nope/books/-/insert", {"row": {}}), 404, "Database not found: nope")


def test_insert_alter_adds_columns(w):
    r = post(w, "/lib/books/-/insert", {"rows": [{"title": "Z", "pages": 300, "rating": 4.5, "isbn": None}],
                                        "alter": True, "return": True})
    assert r.status_code == 201 and r.json()["rows"][0]["pages"] == 300
    schema = rows_of(w, "select sql from sqlite_master where name = 'books'")[0][0]
    assert schema.endswith(', "pages" INTEGER, "rating" REAL, "isbn" TEXT)')


def test_upsert(w):
    err(post(w, "/lib/books/-/upsert", {"rows": [{"title": "x"}]}), 400,
        'Row 0 is missing primary key column(s): "id"')
    err(post(w, "/lib/editions/-/upsert", {"rows": [{"work": None, "code": None}]}), 400,
        'Row 0 has null primary key column(s): "work", "code"')
    err(post(w, "/lib/logs/-/upsert", {"rows": [{"msg": "x"}]}), 400,
        'Row 0 is missing primary key column(s): "rowid"')
    err(post(w, "/lib/books/-/upsert", {"rows": [{"id": 1}], "ignore": True}), 400,
        "Upsert does not support ignore or replace")
    r = post(w, "/lib/books/-/upsert", {"rows": [{"id": 1, "price": 1.5}, {"id": 50, "title": "Fifty"}],
                                        "return": True})
    assert r.status_code == 200
    assert [(x["id"], x["title"], x["price"]) for x in r.json()["rows"]] == [(1, "Dune", 1.5), (50, "Fifty", None)]
    r = post(w, "/lib/logs/-/upsert", {"rows": [{"rowid": 1, "msg": "BOOT"}], "return": True})
    assert r.json() == {"ok": True, "rows": [{"rowid": 1, "msg": "BOOT", "level": 1}]}
    assert post(w, "/lib/books/-/upsert", {"rows": [{"id": 2, "year": 1}]}).json() == {"ok": True}
    assert rows_of(w, "select title, year from books where id = 2") == [("The Dispossessed", 1)]


def test_update_and_delete(w):
    r = post(w, "/lib/books/1/-/update", {"update": {"price": 2.5}, "return": True})
    assert r.status_code == 200 and r.json()["rows"][0]["price"] == 2.5
    assert post(w, "/lib/books/1/-/update", {"update": {"title": "D"}}).json() == {"ok": True}
    r = post(w, "/lib/editions/x+y,1/-/update", {"update": {"note": "n"}})
    assert r.status_code == 200 and rows_of(w, "select note from editions where code = '1'") == [("n",)]
    err(post(w, "/lib/books/1/-/update", {"update": {"nope": 1}}), 400, "no such column: nope")
    err(post(w, "/lib/books/1/-/update", {"update": {}, "zz": 1}), 400, "Invalid keys: zz")
    err(post(w, "/lib/books/1/-/update", {"nothing": 1}), 400, "JSON must contain an update dictionary")
    err(post(w, "/lib/books/1/-/update", [1]), 400, "JSON must be a dictionary")
    err(post(w, "/lib/books/999/-/update", {"update": {}}), 404, "Record not found: ['999']")
    err(post(w, "/lib/editions/a~2Fb,zz/-/delete"), 404, "Record not found: ['a/b', 'zz']")
    err(post(w, "/lib/books/1,2/-/delete"), 400, "URL row identifier does not match the primary key for this table")
    err(post(w, "/lib/nope/1/-/delete"), 404, "Table not found: nope")
    r = post(w, "/lib/books/1/-/update", {"update": {"isbn": "x"}, "alter": True, "return": True})
    assert r.json()["rows"][0]["isbn"] == "x"
    assert post(w, "/lib/books/5/-/delete", raw=b"not json").json() == {"ok": True}
    assert post(w, "/lib/logs/2/-/delete").json() == {"ok": True}
    assert rows_of(w, "select count(*) from books where id = 5") == [(0,)]
    assert rows_of(w, "select msg from logs order by rowid") == [("boot",), (None,)]


def test_create_table(w):
    r = post(w, "/lib/-/create", {"table": "t1", "columns": [
        {"name": "id", "type": "integer"}, {"name": "title", "not_null": True, "default": "Untitled"},
        {"name": "author_id", "type": "integer", "fk_table": "authors"}], "pk": "id"})
    assert r.status_code == 201
    host = f"{w.host}:{w.port}"
    assert r.json() == {"ok": True, "database": "lib", "table": "t1", "table_url": f"http://{host}/lib/t1",
                        "table_api_url": f"http://{host}/lib/t1.json",
                        "schema": 'CREATE TABLE "t1" (\n   "id" INTEGER PRIMARY KEY,\n'
                                  '   "title" TEXT NOT NULL DEFAULT \'Untitled\',\n'
                                  '   "author_id" INTEGER REFERENCES "authors"("id")\n)'}
    r = post(w, "/lib/-/create", {"table": "t2", "rows": [{"a": 1, "b": 2.5, "c": "x"},
                                                          {"a": 2, "b": 3, "c": "y", "d": None}], "pks": ["a", "c"]})
    assert r.status_code == 201 and r.json()["row_count"] == 2
    assert r.json()["schema"] == ('CREATE TABLE "t2" (\n   "a" INTEGER,\n   "b" REAL,\n   "c" TEXT,\n'
                                  '   "d" TEXT,\n   PRIMARY KEY ("a", "c")\n)')
    r = post(w, "/lib/-/create", {"table": "t3", "row": {"name": "x"}, "pk": "id"})
    assert r.json()["schema"] == 'CREATE TABLE "t3" (\n   "id" INTEGER PRIMARY KEY,\n   "name" TEXT\n)'
    # the rows form on an existing table inserts
    r = post(w, "/lib/-/create", {"table": "t3", "rows": [{"name": "y"}], "pk": "id"})
    assert r.status_code == 201 and rows_of(w, "select count(*) from t3") == [(2,)]
    err(post(w, "/lib/-/create", {"table": "t3", "rows": [{"name": "y"}], "pk": "name"}), 400,
        "pk cannot be changed for existing table")
    err(post(w, "/lib/-/create", {"table": "t3", "rows": [{"zz": 1}]}), 400, "table t3 has no column named zz")
    err(post(w, "/lib/-/create", {"table": "t1", "columns": [{"name": "a"}]}), 400, 'table "t1" already exists')
    assert len(w.req("GET", "/lib/t2.json").json()["rows"]) == 2


def test_create_validation_messages(w):
    cases = [
        ([1], "JSON must be an object"),
        ({"table": "x", "zz": 1, "aa": 2}, "Invalid keys: zz, aa"),
        ({"columns": []}, "Table is required"),
        ({"table": 5, "columns": []}, "Invalid table name"),
        ({"table": "sqlite_x", "columns": []}, "Invalid table name"),
        ({"table": "a\nb", "columns": []}, "Invalid table name"),
        ({"table": "x"}, "columns, rows or row is required"),
        ({"table": "x", "rows": [], "row": {}}, "Cannot specify both rows and row"),
        ({"table": "x", "columns": [], "row": {}}, "Cannot specify columns with rows or row"),
        ({"table": "x", "columns": [{"name": "a"}, {"name": "a"}]}, "Duplicate column name: a"),
        ({"table": "x", "columns": [{"name": "a"}], "pk": "a", "pks": ["a"]}, "Cannot specify both pk and pks"),
        ({"table": "x", "row": {"a": 1}, "pk": "a", "ignore": True, "replace": True},
         "ignore and replace are mutually exclusive"),
        ({"table": "x", "columns": [{"name": "a"}], "pk": "a", "ignore": True}, "ignore and replace require row or rows"),
        ({"table": "x", "row": {"a": 1}, "ignore": True}, "ignore and replace require pk or pks"),
        ({"table": "x", "columns": [{"type": "text"}]}, "Column name is required"),
        ({"table": "x", "columns": [{"name": "a", "type": "money"}]}, "Unsupported column type: money"),
        ({"table": "x", "rows": [{}] * 101}, "Too many rows, maximum allowed is 100"),
    ]
    for body, msg in cases:
        err(post(w, "/lib/-/create", body), 400, msg)
    err(post(w, "/nope/-/create", {"table": "x", "columns": []}), 404, "Database not found: nope")


def test_drop(w):
    r = post(w, "/lib/books/-/drop")
    assert r.json() == {"ok": True, "database": "lib", "table": "books", "row_count": 6,
                        "message": 'Pass "confirm": true to confirm'}
    assert post(w, "/lib/books/-/drop", {"confirm": False}).json()["row_count"] == 6
    err(post(w, "/lib/nope/-/drop", {"confirm": True}), 404, "Table not found")
    err(post(w, "/lib/cheap/-/drop", {"confirm": True}), 404, "Table not found: cheap")
    assert post(w, "/lib/logs/-/drop", {"confirm": True}).json() == {"ok": True}
    assert rows_of(w, "select count(*) from sqlite_master where name = 'logs'") == [(0,)]


def test_auth_and_scopes(w):
    err(post(w, "/lib/books/-/insert", {"row": {}}, token=None), 403, "Permission denied")
    r = post(w, "/lib/books/-/insert", {"row": {}}, token="atr_bogus")
    err(r, 401, "Invalid token signature")
    assert r.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    err(post(w, "/lib/-/create", {"table": "x", "columns": []}, token=None), 403, "Permission denied")
    err(post(w, "/lib/books/1/-/delete", token=None), 403, "Permission denied")
    err(post(w, "/lib/books/-/drop", token=None), 403, "Permission denied")
    # a token restricted to reading cannot write
    r = post(w, "/-/create-token", {"restrict_all": ["view-instance", "view-table"]})
    assert r.status_code == 201 and r.json()["token"].startswith("dstok_")
    ro = r.json()["token"]
    assert w.req("GET", "/lib/books.json", token=ro).status_code == 200
    err(post(w, "/lib/books/-/insert", {"row": {}}, token=ro), 403, "Permission denied")
    # restricted to insert-row on lib: inserts, but no schema changes
    r = post(w, "/-/create-token", {"restrict_database": {"lib": ["insert-row", "view-table"]}, "expire_after": 600})
    assert r.json()["expires_after"] == 600
    ins = r.json()["token"]
    assert post(w, "/lib/books/-/insert", {"row": {"title": "t"}}, token=ins).status_code == 201
    err(post(w, "/lib/books/-/insert", {"row": {"zz": 1}, "alter": True}, token=ins), 403,
        "Permission denied for alter-table")
    err(post(w, "/lib/-/create", {"table": "x", "columns": [{"name": "a"}]}, token=ins), 403, "Permission denied")
    err(post(w, "/-/create-token", {}, token=None), 403, "You must be logged in to create a token")
    err(post(w, "/-/create-token", {"restrict_resource": {}}), 400,
        "restrict_resource is not supported: Atrium scopes tokens per database")
    err(post(w, "/-/create-token", {"zz": 1}), 400, "Invalid key: zz")
    r = post(w, "/-/create-token", {"expire_after": 1})
    short = r.json()["token"]
    assert w.req("GET", "/-/actor.json", token=short).json()["actor"]["id"] == "admin"
    time.sleep(1.2)
    r = w.req("GET", "/lib/books.json", token=short)
    assert r.status_code == 401 and r.json()["error"] == "Token has expired"
    err(post(w, "/-/create-token", {"restrict_all": ["fly"]}), 400, "Unknown action in restrictions")
    assert w.req("GET", "/-/actor.json", token=ins).json()["actor"]["id"] == "admin"


def test_writes_are_durable_and_visible_to_reads(w):
    for i in range(20):
        assert post(w, "/lib/logs/-/insert", {"row": {"msg": f"m{i}", "level": i}}).status_code == 201
    assert len(w.req("GET", "/lib/logs.json", params={"_size": "max"}).json()["rows"]) == 23
    w.restart()
    assert len(w.req("GET", "/lib/logs.json", params={"_size": "max"}).json()["rows"]) == 23


def test_max_insert_rows_flag_and_cors_on_401(fresh, tmp_path):
    ds_fixture.build(tmp_path / "m.db")
    s = fresh(str(tmp_path / "m.db"), "--max-insert-rows", "2", "--cors")
    tok = s.signin()
    r = s.req("POST", "/m/logs/-/insert", token=tok, json={"rows": [{"msg": "a"}, {"msg": "b"}, {"msg": "c"}]})
    err(r, 400, "Too many rows, maximum allowed is 2")
    assert s.req("POST", "/m/logs/-/insert", token=tok, json={"rows": [{"msg": "a"}, {"msg": "b"}]}).status_code == 201
    r = s.req("POST", "/m/logs/-/insert", token="atr_nope", json={"row": {}})
    assert r.status_code == 401 and r.headers["access-control-allow-origin"] == "*"


def test_without_rowid_tables(w):
    c = sqlite3.connect(w.db)
    c.execute("CREATE TABLE wr (a TEXT, b INTEGER, v TEXT, PRIMARY KEY (a, b)) WITHOUT ROWID")
    c.commit()
    c.close()
    r = post(w, "/lib/wr/-/insert", {"rows": [{"a": "x", "b": 1, "v": "one"}, {"a": "x", "b": 2}], "return": True})
    assert r.status_code == 201, r.text
    assert r.json()["rows"] == [{"a": "x", "b": 1, "v": "one"}, {"a": "x", "b": 2, "v": None}]
    r = post(w, "/lib/wr/-/insert", {"row": {"a": "x", "b": 1, "v": "dup"}, "ignore": True})
    assert r.json()["rows"] == [{"a": "x", "b": 1, "v": "one"}]
    r = post(w, "/lib/wr/-/upsert", {"rows": [{"a": "x", "b": 2, "v": "two"}, {"a": "y", "b": 1}], "return": True})
    assert r.json()["rows"] == [{"a": "x", "b": 2, "v": "two"}, {"a": "y", "b": 1, "v": None}]
    r = post(w, "/lib/wr/x,1/-/update", {"update": {"v": "uno"}, "return": True})
    assert r.json()["rows"] == [{"a": "x", "b": 1, "v": "uno"}]
    assert post(w, "/lib/wr/y,1/-/delete").json() == {"ok": True}
    err(post(w, "/lib/wr/y,1/-/delete"), 404, "Record not found: ['y', '1']")
    b = w.req("GET", "/lib/wr.json", params={"_size": "1"}).json()
    assert b["rows"] == [{"a": "x", "b": 1, "v": "uno"}] and b["next"] == "x,1"
    assert w.req("GET", "/lib/wr.json", params={"_next": "x,1"}).json()["rows"] == [{"a": "x", "b": 2, "v": "two"}]
    assert w.req("GET", "/lib/wr/x,2.json").json()["rows"] == [{"a": "x", "b": 2, "v": "two"}]
