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
    sql("CREATE TABLE pairs(a INTEGER NOT NULL, b TEXT NOT NULL, v TEXT, PRIMARY KEY (a, b)) WITHOUT ROWID")
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
