"""Airsequel-style REST, the routes that read a database (spec/airsequel.md §2)."""
import uuid

import pytest


def typedb_schema(server, admin, name, q):
    """/sql refuses WITHOUT ROWID tables (spec §3's lint): such tables come through TypeDB's door."""
    r = server.req("POST", "/v1/query", token=admin, json={"databaseName": name, "transactionType": "schema", "query": q})
    assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def env(server, admin):
    name = "rs" + uuid.uuid4().hex[:8]
    assert server.req("POST", f"/v1/databases/{name}", token=admin).status_code == 200
    for q in ["CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT UNIQUE,"
              " score REAL DEFAULT 0, active BOOLEAN, pic BLOB, kind TEXT CHECK (kind IN ('staff', 'guest')))",
              "INSERT INTO people(name, email, kind, pic) VALUES ('John Smith', 'john@x.io', 'staff', x'00'),"
              " ('Ann 50%_off', NULL, 'guest', NULL), ('Bob', 'bob@JOHNS.io', NULL, NULL)",
              "CREATE VIEW staff AS SELECT name FROM people WHERE kind = 'staff'"]:
        r = server.req("POST", f"/dbs/{name}/sql", token=admin, json={"query": q})
        assert r.json()["errors"] == [], r.text
    typedb_schema(server, admin, name, "CREATE TABLE pairs(a TEXT, b INT, PRIMARY KEY (a, b)) WITHOUT ROWID")
    return server, admin, name


def test_status(server):
    r = server.req("GET", "/api/status")
    assert r.status_code == 200 and r.json() == {}


def test_schema_text(env):
    server, admin, name = env
    r = server.req("GET", f"/api/dbs/{name}/schema", token=admin)
    assert r.status_code == 200 and r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.text.startswith("CREATE TABLE people(id INTEGER PRIMARY KEY,")
    assert "CREATE VIEW staff AS SELECT name FROM people WHERE kind = 'staff';\n" in r.text
    assert r.text.endswith(";\n") and r.text.count(";\n") == 3  # the UNIQUE autoindex has no SQL


def test_table_shape(env):
    server, admin, name = env
    r = server.req("GET", f"/api/dbs/{name}/tables/people", token=admin)
    assert r.status_code == 200, r.text
    b = r.json()
    assert list(b) == ["columns", "description", "maxCellLimitReached", "name", "numberOfRows", "rowidColumnName",
                       "tableType"]
    assert b["name"] == "people" and b["numberOfRows"] == 3 and b["rowidColumnName"] == "rowid"
    assert b["tableType"] == "Table" and b["description"] is None and b["maxCellLimitReached"] is False
    cols = {c["name"]: c for c in b["columns"]}
    assert list(cols) == ["id", "name", "email", "score", "active", "pic", "kind"]
    assert list(cols["id"]) == ["gqlDataType", "inputElement", "isGenerated", "isNonNull", "isOmittable",
                                "isPrimaryKey", "isUnique", "items", "name", "sqliteDataType", "validations"]
    assert cols["id"]["gqlDataType"] == "Int" and cols["id"]["isPrimaryKey"] and cols["id"]["isOmittable"]
    assert cols["id"]["inputElement"] == "InputNumber" and cols["id"]["isUnique"]
    assert cols["name"]["isNonNull"] and not cols["name"]["isOmittable"] and cols["name"]["inputElement"] == "InputText"
    assert cols["email"]["isUnique"] and not cols["name"]["isUnique"]
    assert cols["score"]["gqlDataType"] == "Float" and cols["score"]["isOmittable"]
    assert cols["active"]["inputElement"] == "InputCheckbox" and cols["active"]["gqlDataType"] == "Boolean"
    assert cols["pic"]["inputElement"] == "InputFile" and cols["pic"]["gqlDataType"] == "String"
    assert cols["kind"]["inputElement"] == "InputSelect" and cols["kind"]["items"] == ["staff", "guest"]
    assert cols["name"]["items"] is None and cols["kind"]["sqliteDataType"] == "TEXT"
    v = server.req("GET", f"/api/dbs/{name}/tables/staff", token=admin).json()
    assert v["tableType"] == "View" and v["rowidColumnName"] is None and v["numberOfRows"] == 1
    p = server.req("GET", f"/api/dbs/{name}/tables/pairs", token=admin).json()
    assert p["rowidColumnName"] is None and [c["isPrimaryKey"] for c in p["columns"]] == [True, True]


def test_search(env):
    server, admin, name = env

    def search(term):
        r = server.req("GET", f"/api/dbs/{name}/tables/people/search/{term}", token=admin)
        assert r.status_code == 200, r.text
        return r.json()
    b = search("JOHN")  # case-insensitive substring over every non-BLOB column, ORed
    assert list(b)[-3:] == ["rowidColumnName", "rows", "tableType"]
    assert [r["name"] for r in b["rows"]] == ["John Smith", "Bob"] and b["numberOfRows"] == 2
    assert b["rows"][0]["rowid"] == 1 and b["rows"][0]["pic"] == {"type": "blob"}
    assert b["maxCellLimitReached"] is False
    assert [r["name"] for r in search("50%25_")["rows"]] == ["Ann 50%_off"]  # % and _ are literal
    assert search("%25")["numberOfRows"] == 1
    assert search("nothing-like-it")["rows"] == []


def test_search_caps_rows_but_counts_all(env):
    server, admin, name = env
    server.req("POST", f"/dbs/{name}/sql", token=admin, json={
        "query": "CREATE TABLE many AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1500)"
                 " SELECT i, 'row ' || i AS label FROM n"})
    b = server.req("GET", f"/api/dbs/{name}/tables/many/search/row", token=admin).json()
    assert len(b["rows"]) == 1000 and b["numberOfRows"] == 1500 and b["maxCellLimitReached"] is True
    assert b["rows"][0] == {"rowid": 1, "i": 1, "label": "row 1"}


def test_errors(env, server):
    _, admin, name = env
    r = server.req("GET", f"/api/dbs/{name}/tables/nope", token=admin)
    assert r.status_code == 404 and r.json()["errors"][0]["message"] == 'Table "nope" not found'
    assert r.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    r = server.req("GET", f"/api/dbs/{name}/tables/sqlite_schema", token=admin)
    assert r.status_code == 404
    r = server.req("GET", f"/api/dbs/{name}/schema")
    assert r.status_code == 404 and r.json()["errors"][0]["message"] == f'Database "{name}" does not exist'
    r = server.req("GET", f"/api/dbs/{name}/schema", token="bad")
    assert r.status_code == 401 and r.json()["errors"][0]["message"] == "Invalid or expired token"
    # a token that may add rows but not read them: 403, not 404
    t = server.req("POST", "/-/create-token", token=admin, json={"restrict_database": {name: ["insert-row"]}}).json()
    r = server.req("GET", f"/api/dbs/{name}/tables/people", token=t["token"])
    assert r.status_code == 403 and r.json()["errors"][0]["message"] == "Permission denied"


def test_export_csv(env):
    server, admin, name = env
    r = server.req("GET", f"/api/dbs/{name}/tables/people/export", token=admin)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == 'attachment; filename="people.csv"'
    assert r.content.decode() == (
        "id,name,email,score,active,pic,kind\r\n"
        "1,John Smith,john@x.io,0.0,,AA==,staff\r\n"  # REAL stays REAL: 0.0
        "2,Ann 50%_off,,0.0,,,guest\r\n"
        "3,Bob,bob@JOHNS.io,0.0,,,\r\n")
    r = server.req("GET", f"/api/dbs/{name}/tables/staff/export", token=admin)
    assert r.content.decode() == "name\r\nJohn Smith\r\n"
    r = server.req("GET", f"/api/dbs/{name}/tables/nope/export", token=admin)
    assert r.status_code == 404 and r.json()["errors"][0]["message"] == 'Table "nope" not found'


def test_export_quoting_reals_and_pages(env):
    server, admin, name = env
    typedb_schema(server, admin, name, "CREATE TABLE odd(k TEXT PRIMARY KEY, v) WITHOUT ROWID")
    for q in ["INSERT INTO odd VALUES ('a', 'x,y'), ('b', 'say \"hi\"'), ('c', 'two\r\nlines'), ('d', 0.1),"
              " ('e', 1e300), ('f', -2.5), ('g', 12345678901234)",
              "CREATE TABLE big AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2500)"
              " SELECT i, 'r' || i AS label FROM n",
              "CREATE VIEW bigv AS SELECT label FROM big"]:
        assert server.req("POST", f"/dbs/{name}/sql", token=admin, json={"query": q}).json()["errors"] == []
    r = server.req("GET", f"/api/dbs/{name}/tables/odd/export", token=admin)
    assert r.content.decode() == ('k,v\r\na,"x,y"\r\nb,"say ""hi"""\r\nc,"two\r\nlines"\r\nd,0.1\r\ne,1e+300\r\n'
                                  'f,-2.5\r\ng,12345678901234\r\n')
    # three pages by key, and a view by offset: every row once, in order
    lines = server.req("GET", f"/api/dbs/{name}/tables/big/export", token=admin).content.decode().split("\r\n")
    assert lines[0] == "i,label" and lines[1:-1] == [f"{i},r{i}" for i in range(1, 2501)] and lines[-1] == ""
    lines = server.req("GET", f"/api/dbs/{name}/tables/bigv/export", token=admin).content.decode().split("\r\n")
    assert len(lines) == 2502 and sorted(lines[1:-1]) == sorted(f"r{i}" for i in range(1, 2501))


DB_KEYS = ["auditing", "createdUtc", "description", "environment", "fileFormat", "fileName", "id", "lastModifiedUtc",
           "location", "name", "owner", "readonlyId", "schemaLocked", "schemaVersion", "size", "tables", "userVersion",
           "viewsTab", "visibility"]


def test_db_shape_and_list(env):
    server, admin, name = env
    server.req("POST", f"/dbs/{name}/sql", token=admin, json={"query": "PRAGMA user_version = 7"})
    r = server.req("GET", f"/api/dbs/{name}", token=admin)
    assert r.status_code == 200, r.text
    b = r.json()
    assert list(b) == DB_KEYS
    assert b["name"] == name and b["fileFormat"] == "sqlite" and b["owner"] == "admin"
    assert len(b["id"]) == 26 and b["id"] == b["id"].lower() and len(b["readonlyId"]) == 13
    assert b["createdUtc"].endswith("Z") and len(b["createdUtc"]) == 24 and b["visibility"] == "private"
    assert b["size"] > 0 and b["schemaVersion"] > 0 and b["userVersion"] == 7
    assert {"name": "people", "tableType": "Table"} in b["tables"]
    assert {"name": "staff", "tableType": "View"} in b["tables"]
    assert not [t for t in b["tables"] if t["name"].startswith("sqlite_")]
    # the same database by id, and in the list
    assert server.req("GET", f"/api/dbs/{b['id']}", token=admin).json()["name"] == name
    lst = server.req("GET", "/api/dbs", token=admin).json()
    assert list(lst) == ["databases", "numberOfDatabases"] and lst["numberOfDatabases"] == len(lst["databases"])
    assert name in [d["name"] for d in lst["databases"]]


def test_db_list_is_what_the_caller_may_read(env):
    server, admin, name = env
    assert server.req("POST", "/v1/users/restuser", token=admin, json={"password": "pw-rest"}).status_code == 200
    tok = server.signin("restuser", "pw-rest")
    mine = "mine" + uuid.uuid4().hex[:6]
    assert server.req("POST", f"/v1/databases/{mine}", token=tok).status_code == 200
    lst = server.req("GET", "/api/dbs", token=tok).json()
    assert [d["name"] for d in lst["databases"]] == [mine] and lst["databases"][0]["owner"] == "restuser"
    assert server.req("GET", f"/api/dbs/{name}", token=tok).status_code == 404
    r = server.req("GET", "/api/dbs")
    assert r.status_code == 401 and r.json()["errors"][0]["message"] == "Authentication required"


def test_file_cells(env):
    server, admin, name = env
    base = f"/api/dbs/{name}/tables/people/columns"
    r = server.req("GET", f"{base}/pic/files/rowid/1", token=admin)
    assert r.status_code == 200 and r.content == b"\x00" and r.headers["content-type"] == "application/octet-stream"
    assert server.req("GET", f"{base}/pic/files/email/john@x.io", token=admin).content == b"\x00"  # a UNIQUE column
    assert server.req("GET", f"{base}/pic/files/id/1", token=admin).content == b"\x00"  # the key
    r = server.req("GET", f"{base}/pic/files/rowid/2", token=admin)  # NULL
    assert r.status_code == 404 and r.json()["errors"][0]["message"] == "File not found"
    assert server.req("GET", f"{base}/pic/files/rowid/99", token=admin).status_code == 404
    r = server.req("GET", f"{base}/pic/files/name/Bob", token=admin)  # not unique: could be many rows
    assert r.status_code == 400
    assert server.req("GET", f"{base}/nope/files/rowid/1", token=admin).status_code == 404
    # GraphQL's file URL is served to anyone who has the readonly id
    b = server.req("POST", f"/dbs/{name}/graphql", token=admin, json={"query": "{ people(limit: 1) { pic } }"}).json()
    url = __import__("json").loads(b["data"]["people"][0]["pic"])["url"]
    r = server.req("GET", url)
    assert r.status_code == 200 and r.content == b"\x00"
    assert server.req("GET", url.replace("/readonly/", "/readonly/x")).status_code == 404
    assert server.req("GET", f"{base}/pic/files/rowid/1").status_code == 404  # anonymous, private database


@pytest.mark.parametrize("method,path,feature", [
    ("POST", "/api/events/paddle", "Billing events"),
    ("POST", "/api/prompt/create-database", "Creating a database from a prompt"),
    ("POST", "/api/dbs/x/prompt", "Prompts"),
    ("POST", "/api/dbs/x/prompt/describe-table", "Describing a table"),
    ("POST", "/api/users/invite", "Inviting users"),
    ("GET", "/verify-email/abc", "E-mail verification"),
    ("GET", "/password-reset/abc", "Password reset by e-mail"),
])
def test_external_services_are_501(server, admin, method, path, feature):
    r = server.req(method, path, token=admin)
    assert r.status_code == 501, r.text
    assert r.json()["errors"][0] == {
        "message": f"{feature} needs an external service (billing, AI model, e-mail) and is not available in Atrium",
        "extensions": {"code": "NOT_IMPLEMENTED"}}
    assert server.req(method, path, token="bad").status_code == 401  # after the token is checked


def test_shape_tables_and_columns(env):
    server, admin, name = env
    D = f"/api/dbs/{name}"
    r = server.req("PUT", f"{D}/tables/notes", token=admin)  # no body: one "name" TEXT column
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["name"] == "notes" and [c["name"] for c in b["columns"]] == ["name"] and b["numberOfRows"] == 0
    assert b["columns"][0]["sqliteDataType"] == "TEXT" and b["rowidColumnName"] == "rowid"
    r = server.req("PUT", f"{D}/tables/notes", token=admin, json={})
    assert r.status_code == 409 and r.json()["errors"][0]["message"] == 'Table "notes" already exists'
    r = server.req("PUT", f"{D}/tables/tasks", token=admin, json={"columns": [
        {"name": "id", "sqliteDataType": "INTEGER", "isPrimaryKey": True},
        {"name": "title", "sqliteDataType": "VARCHAR(200)", "isNonNull": True, "default": "untitled"},
        {"name": "done", "sqliteDataType": "BOOLEAN", "default": False},
        {"name": "code", "isUnique": True}]})
    assert r.status_code == 200, r.text
    cols = {c["name"]: c for c in r.json()["columns"]}
    assert cols["id"]["isPrimaryKey"] and cols["title"]["isNonNull"] and cols["code"]["isUnique"]
    assert cols["title"]["sqliteDataType"] == "VARCHAR(200)" and cols["done"]["inputElement"] == "InputCheckbox"
    # the new table is there for every door at once: GraphQL inserts into it
    g = server.req("POST", f"/dbs/{name}/graphql", token=admin, json={
        "query": 'mutation { insert_tasks(objects: [{code: "a"}]) { returning { id title done } } }'}).json()
    assert g == {"data": {"insert_tasks": {"returning": [{"id": 1, "title": "untitled", "done": False}]}}}
    # columns: add (with UNIQUE through an index), rename, drop
    r = server.req("PUT", f"{D}/tables/tasks/columns/due", token=admin, json={"sqliteDataType": "TEXT", "isUnique": True})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "due" and r.json()["isUnique"] is True
    r = server.req("PATCH", f"{D}/tables/tasks/columns/due", token=admin, json={"name": "due date"})
    assert r.status_code == 200 and r.json() == {}
    r = server.req("DELETE", f"{D}/tables/tasks/columns/title", token=admin)
    assert r.status_code == 200 and r.json() == {}
    names = [c["name"] for c in server.req("GET", f"{D}/tables/tasks", token=admin).json()["columns"]]
    assert names == ["id", "done", "code", "due date"]
    # SQLite's refusals are 400 with its words
    r = server.req("DELETE", f"{D}/tables/tasks/columns/id", token=admin)
    assert r.status_code == 400 and "PRIMARY KEY" in r.json()["errors"][0]["message"]
    r = server.req("PUT", f"{D}/tables/tasks/columns/x", token=admin, json={"isNonNull": True})
    assert r.status_code == 400 and "NOT NULL" in r.json()["errors"][0]["message"]
    # hostile types and defaults never reach the SQL as text
    r = server.req("PUT", f"{D}/tables/tasks/columns/y", token=admin,
                   json={"sqliteDataType": "TEXT); DROP TABLE people; --"})
    assert r.status_code == 400 and r.json()["errors"][0]["message"].startswith("Invalid SQLite data type")
    r = server.req("PUT", f"{D}/tables/tasks/columns/z", token=admin, json={"default": "x'); DROP TABLE people; --"})
    assert r.status_code == 200
    assert server.req("GET", f"{D}/tables/people", token=admin).status_code == 200
    # drop a table and a view; unknown ones are 404
    assert server.req("DELETE", f"{D}/tables/notes", token=admin).json() == {}
    assert server.req("DELETE", f"{D}/tables/staff", token=admin).json() == {}
    r = server.req("DELETE", f"{D}/tables/notes", token=admin)
    assert r.status_code == 404 and r.json()["errors"][0]["message"] == 'Table "notes" not found'
    assert server.req("PUT", f"{D}/tables/nope/columns/a", token=admin).status_code == 404
    server.req("POST", f"/dbs/{name}/sql", token=admin,
               json={"query": "CREATE VIEW staff AS SELECT name FROM people WHERE kind = 'staff'"})


def test_login_and_logout(server, admin):
    assert server.req("POST", "/v1/users/loginuser", token=admin, json={"password": "pw-login"}).status_code == 200
    r = server.req("POST", "/api/login", json={"username": "loginuser", "password": "pw-login"})
    assert r.status_code == 200, r.text
    b = r.json()
    assert list(b) == ["sessionToken", "teams", "username"] and b["username"] == "loginuser"
    assert b["teams"] == [{"billing": None, "name": "loginuser", "numberOfDatabases": 0}]
    tok = b["sessionToken"]
    own = "lg" + uuid.uuid4().hex[:6]
    assert server.req("POST", f"/v1/databases/{own}", token=tok).status_code == 200  # the token works on every door
    b = server.req("POST", "/api/login", json={"username": "loginuser", "password": "pw-login"}).json()
    assert b["teams"][0]["numberOfDatabases"] == 1
    for body in ({"username": "loginuser", "password": "nope"}, {"username": "nobody", "password": "x"}):
        r = server.req("POST", "/api/login", json=body)
        assert r.status_code == 401 and r.json()["errors"][0]["message"] == "Invalid username or password"
    assert server.req("POST", "/api/login", json={"username": 1}).status_code == 400
    assert server.req("POST", "/api/logout", token=tok).json() == {}
    r = server.req("GET", "/api/dbs", token=tok)
    assert r.status_code == 401 and r.json()["errors"][0]["message"] == "Invalid or expired token"
    assert server.req("POST", "/api/logout").status_code == 401


def test_export_pages_that_outlast_the_loop_budget(env):
    """A page too slow for the loop's budget runs again on the pool from the same key: no row lost or repeated."""
    server, admin, name = env
    server.req("POST", f"/dbs/{name}/sql", token=admin, json={
        "query": "CREATE TABLE wide AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)"
                 " SELECT i, printf('%.4000c', 'x') || i AS label FROM n"})
    lines = server.req("GET", f"/api/dbs/{name}/tables/wide/export", token=admin).content.decode().split("\r\n")
    assert [int(line.split(",")[0]) for line in lines[1:-1]] == list(range(1, 3001))
    server.req("POST", f"/dbs/{name}/sql", token=admin, json={"query": "DROP TABLE wide"})
