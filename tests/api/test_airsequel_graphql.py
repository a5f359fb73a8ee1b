"""Airsequel-style GraphQL, /dbs/:dbId/graphql (spec/airsequel.md §4)."""
import json
import uuid

import pytest


@pytest.fixture(scope="module")
def env(server, admin):
    name = "gq" + uuid.uuid4().hex[:8]
    assert server.req("POST", f"/v1/databases/{name}", token=admin).status_code == 200

    def sql(q):
        r = server.req("POST", f"/dbs/{name}/sql", token=admin, json={"query": q})
        assert r.status_code == 200 and r.json()["errors"] == [], r.text

    sql("CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT, score REAL,"
        " active BOOLEAN, big INTEGER, pic BLOB, created TEXT DEFAULT 'now')")
    sql("INSERT INTO users(name, email, score, active, big, pic) VALUES"
        " ('Ada', 'ada@x.io', 9.5, 1, 5, x'00'), ('Grace', NULL, 7, 0, 3000000000, NULL),"
        " ('bob', 'Bob@x.io', NULL, NULL, NULL, NULL)")
    sql('CREATE TABLE "name with-special$chars"("__index__" TEXT, "ü" INTEGER)')
    # /sql refuses WITHOUT ROWID tables (spec §3's lint): one made through TypeDB's door
    r = server.req("POST", "/v1/query", token=admin, json={
        "databaseName": name, "transactionType": "schema",
        "query": "CREATE TABLE pairs(a INTEGER NOT NULL, b TEXT NOT NULL, v TEXT, PRIMARY KEY (a, b)) WITHOUT ROWID"})
    assert r.status_code == 200, r.text
    sql("CREATE VIEW adults AS SELECT name, score FROM users WHERE score > 5")
    return server, admin, name


def gql(env_, query, variables=None, token=None, path=None, **kw):
    server, admin, name = env_
    body = {"query": query}
    if variables is not None:
        body["variables"] = variables
    body.update(kw)
    r = server.req("POST", path or f"/dbs/{name}/graphql", token=admin if token is None else token, json=body)
    assert r.status_code == 200, r.text
    return r.json()


def test_list_and_values(env):
    b = gql(env, "{ users { id name email score active } }")
    assert b == {"data": {"users": [
        {"id": 1, "name": "Ada", "email": "ada@x.io", "score": 9.5, "active": True},
        {"id": 2, "name": "Grace", "email": None, "score": 7.0, "active": False},
        {"id": 3, "name": "bob", "email": "Bob@x.io", "score": None, "active": None}]}}


def test_int_overflow_and_file(env):
    b = gql(env, "{ users(order_by: {id: ASC}) { rowid big pic } }")
    assert b["data"]["users"][0]["rowid"] == 1 and b["data"]["users"][0]["big"] == 5
    rows = b["data"]["users"]
    assert rows[1]["big"] is None
    assert b["errors"][0]["message"].startswith("Integer 3000000000 would overflow")
    assert b["errors"][0]["path"] == ["users", 1, "big"]
    assert json.loads(rows[0]["pic"])["url"].endswith("/tables/users/columns/pic/files/rowid/1")


def test_filters(env):
    def names(where, **kw):
        b = gql(env, "query($w: users_filter) { users(where: $w) { name } }", {"w": where})
        assert "errors" not in b, b
        return [r["name"] for r in b["data"]["users"]]
    assert names({"name": {"_eq": "Ada"}}) == ["Ada"]
    assert names({"email": {"_eq": None}}) == ["Grace"]
    assert names({"email": {"_neq": "ada@x.io"}}) == ["Grace", "bob"]
    assert names({"name": {"_like": "b%"}}) == ["bob"]
    assert names({"name": {"_like": "B%"}}) == []
    assert names({"name": {"_ilike": "B%"}}) == ["bob"]
    assert names({"id": {"_in": [1, 3]}}) == ["Ada", "bob"]
    assert names({"id": {"_in": []}}) == []
    assert names({"id": {"_nin": []}}) == ["Ada", "Grace", "bob"]
    assert names({"score": {"_nin": [9.5]}}) == ["Grace", "bob"]
    assert names({"score": {"_nin": [9.5, None]}}) == ["Grace"]
    assert names({"score": {"_gt": 7}}) == ["Ada"]
    assert names({"score": {"gte": 7}}) == ["Ada", "Grace"]
    assert names({}) == ["Ada", "Grace", "bob"]
    assert names({"name": {"_eq": "Ada"}, "score": {"_lt": 1}}) == []


def test_order_limit_offset(env):
    b = gql(env, "{ users(order_by: [{score: DESC}], limit: 2) { name } }")
    assert b == {"data": {"users": [{"name": "Ada"}, {"name": "Grace"}]}}
    b = gql(env, "{ users(limit: 1, offset: 1) { name } }")
    assert b == {"data": {"users": [{"name": "Grace"}]}}
    b = gql(env, "{ users(offset: 1) { name } }")
    assert b["data"] is None
    assert b["errors"][0]["message"] == "Error: cannot specify offset without also specifying a limit"
    assert b["errors"][0]["path"] == ["users"]
    assert gql(env, "{ users(limit: -1) { name } }")["errors"][0]["message"] == "Error: limit must be positive"
    assert gql(env, "{ users(order_by: {}) { name } }")["errors"][0]["message"] == "Error: Order must not be empty"


def test_by_pk_and_special_names(env):
    b = gql(env, "{ users_by_pk(id: 2) { name } nope: users_by_pk(id: 99) { name } }")
    assert b == {"data": {"users_by_pk": {"name": "Grace"}, "nope": None}}
    b = gql(env, "{ nameXX0withXXDspecialXX4chars { XXRXXRindexXXRXXR XXaaapm } }")
    assert b == {"data": {"nameXX0withXXDspecialXX4chars": []}}
    b = gql(env, "{ pairs_by_pk(a: 1, b: \"x\") { v } adults { name } }")
    assert b == {"data": {"pairs_by_pk": None, "adults": [{"name": "Ada"}, {"name": "Grace"}]}}


def test_mutations(env):
    b = gql(env, 'mutation { insert_pairs(objects: [{a: 1, b: "x", v: "one"}, {a: 2, b: "y"}]) '
                 '{ affected_rows returning { a v } } }')
    assert b == {"data": {"insert_pairs": {"affected_rows": 2, "returning": [{"a": 1, "v": "one"}, {"a": 2, "v": None}]}}}
    b = gql(env, 'mutation { update_pairs(where: {a: {_eq: 2}}, _set: {v: "two"}) { affected_rows returning { v } } }')
    assert b == {"data": {"update_pairs": {"affected_rows": 1, "returning": [{"v": "two"}]}}}
    b = gql(env, 'mutation { update_pairs_by_pk(a: 1, b: "x", _set: {v: "uno"}) { affected_rows returning { v } } }')
    assert b == {"data": {"update_pairs_by_pk": {"affected_rows": 1, "returning": {"v": "uno"}}}}
    b = gql(env, 'mutation { insert_pairs(objects: [{a: 1, b: "x", v: "dup"}], '
                 'on_conflict: [{constraint: [a, b], update_columns: [v]}]) { affected_rows returning { v } } }')
    assert b == {"data": {"insert_pairs": {"affected_rows": 1, "returning": [{"v": "dup"}]}}}
    # one job: a failing second field rolls back the first
    b = gql(env, 'mutation { a: insert_pairs(objects: [{a: 7, b: "z"}]) { affected_rows } '
                 'b: insert_pairs(objects: [{a: 1, b: "x"}]) { affected_rows } }')
    assert b["data"] is None and "UNIQUE constraint failed" in b["errors"][0]["message"]
    assert b["errors"][0]["path"] == ["b"]
    assert gql(env, '{ pairs_by_pk(a: 7, b: "z") { v } }') == {"data": {"pairs_by_pk": None}}
    b = gql(env, 'mutation { delete_pairs(where: {}) { affected_rows } }')
    assert b == {"data": {"delete_pairs": {"affected_rows": 2}}}
    b = gql(env, 'mutation { update_pairs(_set: {v: "x"}) { affected_rows } }')
    assert b["errors"][0]["message"] == "Argument where not found"
    b = gql(env, 'mutation { update_pairs(where: {}, _set: {v: "x"}) { affected_rows } }')
    assert b["errors"][0]["message"] == "Error: Filter must not be empty"


def test_validation_errors(env):
    b = gql(env, "{ users { nme } }")
    assert b == {"data": None, "errors": [{"message": 'Cannot query field "nme" on type "users_row". Did you mean "name"?',
                                           "locations": [{"line": 1, "column": 11}]}]}
    b = gql(env, "{ users(wher: {}) { name } }")
    assert b["errors"][0]["message"] == 'Unknown argument "wher" on field "Query.users". Did you mean "where"?'
    b = gql(env, "query A { users { name } } query B { users { name } }")
    assert b["errors"][0]["message"] == "Must provide operation name if query contains multiple operations."
    b = gql(env, "{ users { name ")
    assert b == {"data": None, "errors": [{"message": "Syntax Error: Expected Name, found <EOF>.",
                                           "locations": [{"line": 1, "column": 16}]}]}


def test_introspection_basics(env):
    b = gql(env, '{ __schema { queryType { name } mutationType { name } } __type(name: "users_row") { fields { name } } }')
    assert b["data"]["__schema"] == {"queryType": {"name": "Query"}, "mutationType": {"name": "Mutation"}}
    assert [f["name"] for f in b["data"]["__type"]["fields"]] == [
        "rowid", "id", "name", "email", "score", "active", "big", "pic", "created"]


def test_http_errors(env):
    server, admin, name = env
    url = f"/dbs/{name}/graphql"

    def err(r, status, message=None):
        assert r.status_code == status, r.text
        e = r.json()["errors"][0]
        assert e["extensions"]["code"] in ("BAD_REQUEST", "PAYLOAD_TOO_LARGE", "NOT_FOUND", "UNAUTHENTICATED",
                                           "METHOD_NOT_ALLOWED", "FORBIDDEN")
        if message:
            assert e["message"] == message
    err(server.req("POST", url, token=admin, data="{nope", headers={"Content-Type": "application/json"}), 400)
    err(server.req("POST", url, token=admin, json={"variables": {}}), 400,
        'Invalid request body: "query" must be a string')
    err(server.req("POST", url, token=admin, json={"query": "{ users { id } }" + " " * 100000}), 413)
    err(server.req("POST", "/dbs/nosuchdb/graphql", token=admin, json={"query": "{ __typename }"}), 404,
        'Database "nosuchdb" does not exist')
    err(server.req("POST", url, token="not-a-token", json={"query": "{ __typename }"}), 401,
        "Invalid or expired token")
    # anonymous on a private database: it does not exist for them
    err(server.req("POST", url, json={"query": "{ __typename }"}), 404)
    # GET runs queries, never mutations; without a query it is the playground
    r = server.req("GET", url + "?query=%7B%20users(limit%3A%201)%20%7B%20name%20%7D%20%7D", token=admin)
    assert r.status_code == 200 and r.json() == {"data": {"users": [{"name": "Ada"}]}}
    r = server.req("GET", url + "?query=query(%24n%3A%20Int!)%7Busers_by_pk(id%3A%24n)%7Bname%7D%7D&variables=%7B%22n%22%3A2%7D",
                   token=admin)
    assert r.json() == {"data": {"users_by_pk": {"name": "Grace"}}}
    err(server.req("GET", url + "?query=mutation%7Bdelete_users(where%3A%7B%7D)%7Baffected_rows%7D%7D", token=admin), 405)
    r = server.req("GET", url, token=admin)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html") and "<html" in r.text
    r = server.req("GET", f"/dbs/{name}/playground/default-query", token=admin)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert r.text.startswith("query usersQuery {\n  users( limit: 100 ) {\n    rowid\n    id\n    name\n")
    assert r.text.endswith("    created\n  }\n}")


def readonly_id(env_):
    b = gql(env_, "{ users(where: {id: {_eq: 1}}) { pic } }")
    return json.loads(b["data"]["users"][0]["pic"])["url"].split("/")[2]


def test_readonly_route_and_mode(env):
    server, admin, name = env
    rid = readonly_id(env)
    assert len(rid) == 13
    path = f"/readonly/{rid}/graphql"
    # anyone with the id reads; the schema has no Mutation
    r = server.req("POST", path, json={"query": "{ users(limit: 1) { name } __schema { mutationType { name } } }"})
    assert r.json() == {"data": {"users": [{"name": "Ada"}], "__schema": {"mutationType": None}}}
    r = server.req("POST", path, json={"query": "mutation { delete_users(where: {}) { affected_rows } }"})
    assert r.json() == {"data": None, "errors": [{"message": "Schema is not configured to execute mutation operation.",
                                                  "locations": [{"line": 1, "column": 1}]}]}
    r = server.req("POST", path, json={"query": '{ __type(name: "users_insert_input") { name } }'})
    assert r.json() == {"data": {"__type": None}}
    # a database name is not a readonly id
    assert server.req("POST", f"/readonly/{name}/graphql", json={"query": "{ __typename }"}).status_code == 404


def test_writeonly_token(env):
    server, admin, name = env
    r = server.req("POST", "/-/create-token", token=admin, json={"restrict_database": {name: ["insert-row"]}})
    assert r.status_code == 201, r.text
    wo = r.json()["token"]
    b = gql(env, "{ users { name } __typename }", token=wo)
    assert b["data"] is None
    assert {e["message"] for e in b["errors"]} == {"Cannot read field using the provided token"}
    b = gql(env, 'mutation { insert_users(objects: [{name: "Wo"}]) { affected_rows } }', token=wo)
    assert b == {"data": {"insert_users": {"affected_rows": 1}}}
    b = gql(env, 'mutation { insert_users(objects: [{name: "Wo"}]) { returning { id } } }', token=wo)
    assert b["errors"][0]["message"] == 'Cannot query field "returning" on type "users_mutation_response".'
    gql(env, 'mutation { delete_users(where: {name: {_eq: "Wo"}}) { affected_rows } }')


def test_row_cap(env):
    server, admin, name = env
    r = server.req("POST", f"/dbs/{name}/sql", token=admin, json={
        "query": "CREATE TABLE many AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10001)"
                 " SELECT i FROM n"})
    assert r.json()["errors"] == []
    b = gql(env, "{ many { i } }")
    assert b["data"] is None and b["errors"][0]["path"] == ["many"]
    assert b["errors"][0]["message"].startswith("The graphql API cannot return more than 10000 entries at a time")
    assert "10001" in b["errors"][0]["message"]
    b = gql(env, "{ many(limit: 10000) { i } }")
    assert len(b["data"]["many"]) == 10000
    # aliases cannot multiply the cap without bound: 50,000 rows per request
    b = gql(env, "{ " + " ".join(f"a{k}: many(limit: 10000) {{ i }}" for k in range(6)) + " }")
    assert b["data"] is None and b["errors"][0]["path"] == ["a5"]
    assert b["errors"][0]["message"] == "Error: a request may return at most 50000 rows in all (use limit and offset)"
    b = gql(env, "{ many(limit: 3, offset: 9999) { i } }")
    assert b == {"data": {"many": [{"i": "10000"}, {"i": "10001"}]}}  # no declared type: String
    server.req("POST", f"/dbs/{name}/sql", token=admin, json={"query": "DROP TABLE many"})


def test_full_text_tables_listed_shadow_tables_not(env):
    server, admin, name = env
    r = server.req("POST", f"/dbs/{name}/sql", token=admin, json={
        "query": "CREATE VIRTUAL TABLE docs USING fts5(body)"})
    assert r.json()["errors"] == []
    server.req("POST", f"/dbs/{name}/sql", token=admin, json={"query": "INSERT INTO docs(body) VALUES ('hello world')"})
    b = gql(env, '{ docs(where: {body: {_like: "hello%"}}) { body } __schema { queryType { fields { name } } } }')
    assert b["data"]["docs"] == [{"body": "hello world"}]
    names = [f["name"] for f in b["data"]["__schema"]["queryType"]["fields"]]
    assert "docs" in names and not [n for n in names if n.startswith("docs_") or n.startswith("sqlite")]
    server.req("POST", f"/dbs/{name}/sql", token=admin, json={"query": "DROP TABLE docs"})


def test_select_columns_and_schema_changes(env):
    server, admin, name = env
    r = server.req("POST", f"/dbs/{name}/sql", token=admin, json={
        "query": "CREATE TABLE tasks(id INTEGER PRIMARY KEY, state TEXT CHECK (state IN ('todo', 'done')))"})
    assert r.json()["errors"] == []
    b = gql(env, '{ __type(name: "tasks_filter") { inputFields { name type { name } } } }')
    assert b["data"]["__type"]["inputFields"] == [
        {"name": "rowid", "type": {"name": "IntComparison"}}, {"name": "id", "type": {"name": "IntComparison"}},
        {"name": "state", "type": {"name": "tasks_state_StringComparison"}}]
    # the schema follows a change made through another door at once
    server.req("POST", f"/dbs/{name}/sql", token=admin, json={"query": "ALTER TABLE tasks ADD COLUMN due TEXT"})
    b = gql(env, "{ tasks { due } }")
    assert b == {"data": {"tasks": []}}
    server.req("POST", f"/dbs/{name}/sql", token=admin, json={"query": "DROP TABLE tasks"})
    b = gql(env, "{ tasks { due } }")
    assert b["errors"][0]["message"].startswith('Cannot query field "tasks" on type "Query".')


def test_mutation_inputs(env):
    b = gql(env, 'mutation { insert_users(objects: [{name: "F", active: true, pic: "ignored"}]) '
                 '{ returning { id active pic created } } }')
    row = b["data"]["insert_users"]["returning"][0]
    assert row["active"] is True and row["created"] == "now" and json.loads(row["pic"])["url"].endswith(f"/rowid/{row['id']}")
    b = gql(env, 'mutation { insert_users(objects: [{name: "G"}], on_conflict: [{constraint: [id], update_columns: [email]}]) '
                 '{ affected_rows } }')
    assert b["errors"][0]["message"] == "Column email cannot be set on conflicts without being explicitly provided"
    b = gql(env, f'mutation {{ delete_users_by_pk(id: {row["id"]}) {{ affected_rows returning {{ name }} }} }}')
    assert b == {"data": {"delete_users_by_pk": {"affected_rows": 1, "returning": {"name": "F"}}}}
    b = gql(env, 'mutation { delete_users_by_pk(id: 999) { affected_rows returning { name } } }')
    assert b == {"data": {"delete_users_by_pk": {"affected_rows": 0, "returning": None}}}
    b = gql(env, 'mutation { update_users_by_pk(id: 1) { affected_rows } }')
    assert b["errors"][0]["message"] == "Argument _set not found"


@pytest.fixture(scope="module")
def airgql(server, admin):
    """Cases replayed from AirGQL's own query tests (spec §4: where AirGQL is sane, Atrium answers alike)."""
    name = "ag" + uuid.uuid4().hex[:8]
    assert server.req("POST", f"/v1/databases/{name}", token=admin).status_code == 200
    for q in ['CREATE TABLE "users" ("email" TEXT NOT NULL UNIQUE PRIMARY KEY, "name" TEXT, "progress" REAL,'
              ' "is_admin" BOOLEAN, "created_utc" TEXT)',
              "INSERT INTO users VALUES ('john@example.com', 'John', 0.7, TRUE, '2021-01-01T00:00Z'),"
              " ('anna@EXAMPLE.COM', 'Anna', 0.4, FALSE, '2019-01-01T00:00Z'),"
              " ('eve@evil.com', 'Eve', NULL, NULL, '2019-01-01T00:00Z'),"
              " ('adam@example.com', NULL, NULL, NULL, '2021-01-04T00:00Z')",
              "CREATE VIEW multi_type_column AS SELECT 1 AS col UNION SELECT 2.2 AS col UNION"
              " SELECT 'three' AS col UNION SELECT NULL AS col",
              "CREATE TABLE users_liked_songs (email TEXT REFERENCES users, song_id INT, rating INT NOT NULL,"
              " PRIMARY KEY (email, song_id))",
              "INSERT INTO users_liked_songs VALUES ('eve@evil.com', 1, 8), ('anna@EXAMPLE.COM', 2, 9),"
              " ('eve@evil.com', 2, 7)",
              "CREATE TABLE test (big INTEGER, alsobig INTEGER)",
              "INSERT INTO test VALUES (8000000000, 9000000000)"]:
        r = server.req("POST", f"/dbs/{name}/sql", token=admin, json={"query": q})
        assert r.json()["errors"] == [], (q, r.text)
    return server, admin, name


def names_of(b, field="users"):
    assert "errors" not in b, b
    return [r["name"] for r in b["data"][field]]


def test_airgql_cases(airgql):
    assert gql(airgql, "{ users { rowid } }") == {"data": {"users": [{"rowid": 1}, {"rowid": 2}, {"rowid": 3}, {"rowid": 4}]}}
    assert names_of(gql(airgql, "{ users(filter: {rowid: {eq: 2}}) { name } }")) == ["Anna"]
    assert names_of(gql(airgql, "{ users(filter: {progress: {eq: 0.4}}) { name } }")) == ["Anna"]
    assert names_of(gql(airgql, "{ users(filter: {is_admin: {eq: false}}) { name } }")) == ["Anna"]
    assert names_of(gql(airgql, "{ users(filter: {is_admin: {eq: null}}) { name } }")) == ["Eve", None]
    assert names_of(gql(airgql, '{ users(filter: {email: {like: "%example%"}}) { name } }')) == ["John", None]
    assert names_of(gql(airgql, '{ users(filter: {email: {ilike: "%example%"}}) { name } }')) == ["John", "Anna", None]
    assert names_of(gql(airgql, '{ users(filter: {email: {like: "%example%"}, name: {gt: "B"}}) { name } }')) == ["John"]
    assert names_of(gql(airgql, '{ users(filter: {name: {neq: "Eve"}}) { name } }')) == ["John", "Anna", None]
    assert names_of(gql(airgql, '{ users(filter: {name: {nin: ["Eve", "Anna"]}}) { name } }')) == ["John", None]
    assert names_of(gql(airgql, '{ users(filter: {name: {in: ["Eve", "Anna"]}}) { name } }')) == ["Anna", "Eve"]
    assert gql(airgql, '{ users_by_pk(email: "eve@evil.com") { name } }') == {"data": {"users_by_pk": {"name": "Eve"}}}
    assert gql(airgql, '{ users_liked_songs_by_pk(email: "eve@evil.com", song_id: 2) { rating } }') == {
        "data": {"users_liked_songs_by_pk": {"rating": 7}}}
    b = gql(airgql, "{ multi_type_column { col } }")
    assert sorted(b["data"]["multi_type_column"], key=lambda r: str(r["col"])) == [
        {"col": "1"}, {"col": "2.2"}, {"col": None}, {"col": "three"}]
    b = gql(airgql, "{\n  test {\n    big,\n    alsobig\n  }\n}")
    advice = (" would overflow. This happens because SQLite uses 64-bit ints, but GraphQL uses 32-bit ints."
              " Use a Number (64-bit float) or Text column instead.")
    assert b == {"data": {"test": [{"big": None, "alsobig": None}]}, "errors": [
        {"message": "Integer 8000000000" + advice, "locations": [{"line": 3, "column": 5}], "path": ["test", 0, "big"]},
        {"message": "Integer 9000000000" + advice, "locations": [{"line": 4, "column": 5}],
         "path": ["test", 0, "alsobig"]}]}
    b = gql(airgql, 'mutation UpdateEmailAddress { update_users(filter: {email: {like: "%example%"} name: {gt: "B"}}'
                    ' set: {email: "john@new.com"}) { affected_rows returning { email } } }')
    assert b == {"data": {"update_users": {"affected_rows": 1, "returning": [{"email": "john@new.com"}]}}}
    # foreign keys are enforced: Eve's liked songs point at her address
    b = gql(airgql, 'mutation { update_users_by_pk(email: "eve@evil.com", _set: {email: "eve@new.com"}) { affected_rows } }')
    assert b["data"] is None and b["errors"][0]["message"] == "FOREIGN KEY constraint failed"


def test_airgql_mutation_cases(airgql):
    server, admin, name = airgql
    for q in ["CREATE TABLE items (id INTEGER PRIMARY KEY NOT NULL)",
              "CREATE TABLE checks (id INTEGER PRIMARY KEY, completed BOOLEAN DEFAULT (FALSE) NOT NULL,"
              " color TEXT CHECK ( color IN ('red', 'green', 'blue') ))",
              "INSERT INTO checks (id, completed) VALUES (1, 0), (2, 1), (3, FALSE), (4, TRUE)",
              "CREATE TABLE loaders (id INTEGER PRIMARY KEY, progress REAL NOT NULL)"]:
        assert server.req("POST", f"/dbs/{name}/sql", token=admin, json={"query": q}).json()["errors"] == []
    assert gql(airgql, "mutation InsertItems { insert_items(objects: [{}]) { affected_rows returning { id } } }") == {
        "data": {"insert_items": {"affected_rows": 1, "returning": [{"id": 1}]}}}
    assert gql(airgql, 'mutation { insert_checks(objects: [{ id: 5, completed: true, color: "green" },]) '
                       '{ affected_rows } }') == {"data": {"insert_checks": {"affected_rows": 1}}}
    assert gql(airgql, "{ checks { id completed } }") == {"data": {"checks": [
        {"id": 1, "completed": False}, {"id": 2, "completed": True}, {"id": 3, "completed": False},
        {"id": 4, "completed": True}, {"id": 5, "completed": True}]}}
    assert gql(airgql, "mutation { insert_loaders(objects: [{ id: 1, progress: 0 }, { id: 2, progress: -0.1 },"
                       " { id: 3, progress: 1.23 }]) { affected_rows } }")["data"]["insert_loaders"]["affected_rows"] == 3
    assert gql(airgql, "{ loaders { id progress } }") == {"data": {"loaders": [
        {"id": 1, "progress": 0}, {"id": 2, "progress": -0.1}, {"id": 3, "progress": 1.23}]}}
    # two root fields, two tables, one job
    b = gql(airgql, "mutation InsertObjects { insert_items(objects: [{id: 9}]) { affected_rows }"
                    " insert_loaders(objects: [{progress: 0.5}]) { affected_rows } }")
    assert b == {"data": {"insert_items": {"affected_rows": 1}, "insert_loaders": {"affected_rows": 1}}}
