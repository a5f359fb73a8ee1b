"""Airsequel-style REST: teams and roles, API tokens, users, and making,
changing and deleting databases (spec/airsequel.md §1-§2). Teams, roles and
tokens are core facts: each test checks that the other doors see the same
rights."""
import time
import uuid

import pytest
from conftest import as_err as err, uid, as_user as user


def test_users_create_and_get(server, admin):
    name, tok = user(server, admin)
    r = server.req("GET", f"/api/users/{name}", token=tok)
    assert r.status_code == 200, r.text
    assert r.json() == {"serverRoles": [], "teams": [{"billing": None, "name": name, "numberOfDatabases": 0}],
                        "username": name}
    assert server.req("GET", "/api/users/admin", token=admin).json()["serverRoles"] == ["admin"]
    # another user's account is not there for a non-admin
    err(server.req("GET", "/api/users/admin", token=tok), 404, "NOT_FOUND")
    # only the admin creates users (no --allow-signup here)
    err(server.req("POST", "/api/users", token=tok, json={"username": uid("x"), "password": "p"}), 403, "FORBIDDEN")
    err(server.req("POST", "/api/users", json={"username": uid("x"), "password": "p"}), 401, "UNAUTHENTICATED")
    # taken names (users and teams share them), bad names, bad bodies
    err(server.req("POST", "/api/users", token=admin, json={"username": name, "password": "p"}), 409, "CONFLICT")
    err(server.req("POST", "/api/users", token=admin, json={"username": "-bad", "password": "p"}), 400, "BAD_REQUEST")
    err(server.req("POST", "/api/users", token=admin, json={"username": "ok"}), 400, "BAD_REQUEST")
    err(server.req("POST", "/api/users", token=admin, data=b"{", headers={"Content-Type": "application/json"}),
        400, "BAD_REQUEST")


def test_signup_flag(tmp_path):
    from conftest import Server
    s = Server(tmp_path, args=["--allow-signup"])
    try:
        r = s.req("POST", "/api/users", json={"username": "walkin", "password": "pw"})
        assert r.status_code == 200, r.text
        r = s.req("POST", "/api/login", json={"username": "walkin", "password": "pw"})
        assert r.status_code == 200 and r.json()["username"] == "walkin"
    finally:
        assert s.stop() == 0


def test_team_lifecycle_and_members(server, admin):
    ann, ann_tok = user(server, admin)
    bob, bob_tok = user(server, admin)
    team = uid("team")
    r = server.req("POST", "/api/teams", token=ann_tok, json={"name": team})
    assert r.status_code == 200, r.text
    b = r.json()
    assert list(b) == ["billing", "created_utc", "databases", "name"]
    assert b["name"] == team and b["billing"] is None and b["databases"] == []
    assert b["created_utc"].endswith("Z") and len(b["created_utc"]) == 24
    err(server.req("POST", "/api/teams", token=bob_tok, json={"name": team}), 409, "CONFLICT")
    err(server.req("POST", "/api/teams", token=bob_tok, json={"name": ann}), 409, "CONFLICT")  # a user's name
    err(server.req("POST", "/api/teams", token=bob_tok, json={"name": "no spaces"}), 400, "BAD_REQUEST")
    err(server.req("POST", "/api/teams", json={"name": uid("t")}), 401, "UNAUTHENTICATED")
    # a non-member does not see the team at all
    err(server.req("GET", f"/api/teams/{team}", token=bob_tok), 404, "NOT_FOUND", f'Team "{team}" does not exist')
    assert server.req("GET", f"/api/teams/{team}/members", token=ann_tok).json() == {
        "members": [{"username": ann, "roles": ["Admin"]}]}
    # the Admin adds Bob as a Viewer; Bob sees the team, cannot change it
    r = server.req("PATCH", f"/api/teams/{team}/members/{bob}", token=ann_tok, json={"roles": ["Viewer"]})
    assert r.status_code == 200 and r.json() == {}, r.text
    assert server.req("GET", f"/api/teams/{team}", token=bob_tok).status_code == 200
    err(server.req("PATCH", f"/api/teams/{team}/members/{bob}", token=bob_tok, json={"roles": ["Admin"]}),
        403, "FORBIDDEN", "Permission denied")
    err(server.req("PATCH", f"/api/teams/{team}/members/{bob}", token=ann_tok, json={"roles": ["Owner"]}),
        400, "BAD_REQUEST")
    err(server.req("PATCH", f"/api/teams/{team}/members/nobody{uid('')}", token=ann_tok, json={"roles": ["Viewer"]}),
        404, "NOT_FOUND")
    # the last Admin stays: demoting or removing Ann alone is refused
    err(server.req("PATCH", f"/api/teams/{team}/members/{ann}", token=ann_tok, json={"roles": ["Editor"]}),
        409, "CONFLICT")
    err(server.req("DELETE", f"/api/teams/{team}/members/{ann}", token=ann_tok), 409, "CONFLICT")
    assert server.req("PATCH", f"/api/teams/{team}/members/{bob}", token=ann_tok,
                      json={"roles": ["Admin", "Editor"]}).status_code == 200
    members = server.req("GET", f"/api/teams/{team}/members", token=bob_tok).json()["members"]
    assert {m["username"]: m["roles"] for m in members} == {ann: ["Admin"], bob: ["Admin", "Editor"]}
    assert server.req("DELETE", f"/api/teams/{team}/members/{ann}", token=ann_tok).status_code == 200
    err(server.req("GET", f"/api/teams/{team}", token=ann_tok), 404, "NOT_FOUND")
    # rename, then delete; billing keys are accepted and ignored
    new = uid("renamed")
    r = server.req("PATCH", f"/api/teams/{team}", token=bob_tok, json={"name": new, "billing_plan": "pro"})
    assert r.status_code == 200 and r.json()["name"] == new, r.text
    err(server.req("GET", f"/api/teams/{team}", token=bob_tok), 404, "NOT_FOUND")
    assert server.req("DELETE", f"/api/teams/{new}", token=bob_tok).json() == {}
    err(server.req("GET", f"/api/teams/{new}", token=bob_tok), 404, "NOT_FOUND")
    # a personal team cannot be deleted, nor given other members
    err(server.req("DELETE", f"/api/teams/{bob}", token=bob_tok), 409, "CONFLICT")
    err(server.req("PATCH", f"/api/teams/{bob}/members/{ann}", token=bob_tok, json={"roles": ["Viewer"]}),
        400, "BAD_REQUEST")


def test_roles_are_rights_on_every_door(server, admin):
    ann, ann_tok = user(server, admin)
    ed, ed_tok = user(server, admin)
    vi, vi_tok = user(server, admin)
    out, out_tok = user(server, admin)
    team = uid("crew")
    assert server.req("POST", "/api/teams", token=ann_tok, json={"name": team}).status_code == 200
    for who, role in ((ed, "Editor"), (vi, "Viewer")):
        assert server.req("PATCH", f"/api/teams/{team}/members/{who}", token=ann_tok,
                          json={"roles": [role]}).status_code == 200
    db = uid("teamdb")
    r = server.req("POST", "/api/dbs", token=ed_tok, json={"name": db, "team": team,
                                                          "query": "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);"
                                                                   "INSERT INTO t(v) VALUES ('one')"})
    assert r.status_code == 200, r.text
    created = r.json()
    assert list(created) == ["id", "ownerName", "ownershipUtc"] and created["ownerName"] == team
    assert len(created["id"]) == 26 and created["id"] == created["id"].lower()
    # a Viewer may not create databases for the team
    err(server.req("POST", "/api/dbs", token=vi_tok, json={"name": uid("no"), "team": team}), 403, "FORBIDDEN")
    # Viewer: reads through Datasette, TypeDB, Airsequel; no writes anywhere
    assert server.req("GET", f"/{db}/t.json?_shape=array", token=vi_tok).json() == [{"id": 1, "v": "one"}]
    r = server.req("POST", "/v1/query", token=vi_tok, json={"databaseName": db, "transactionType": "read",
                                                           "query": "SELECT count(*) AS n FROM t"})
    assert r.status_code == 200, r.text
    assert server.req("GET", f"/api/dbs/{db}/tables/t", token=vi_tok).json()["numberOfRows"] == 1
    assert server.req("POST", f"/{db}/t/-/insert", token=vi_tok, json={"row": {"v": "x"}}).status_code == 403
    r = server.req("POST", f"/dbs/{db}/graphql", token=vi_tok, json={"query": 'mutation { insert_t(objects: [{v: "x"}]) { affected_rows } }'})
    assert r.json().get("errors"), r.text
    # Editor: writes and changes the schema, but cannot delete the database (O)
    assert server.req("POST", f"/{db}/t/-/insert", token=ed_tok, json={"row": {"v": "two"}}).status_code == 201
    assert server.req("PUT", f"/api/dbs/{db}/tables/more", token=ed_tok, json={}).status_code == 200
    err(server.req("DELETE", f"/api/dbs/{db}", token=ed_tok), 403, "FORBIDDEN")
    assert server.req("DELETE", f"/v1/databases/{db}", token=ed_tok).status_code in (403, 404)
    # an outsider sees nothing of it, through any door
    err(server.req("GET", f"/api/dbs/{db}", token=out_tok), 404, "NOT_FOUND", f'Database "{db}" does not exist')
    assert server.req("GET", f"/{db}/t.json", token=out_tok).status_code in (403, 404)
    assert server.req("GET", f"/v1/database/{db}", token=out_tok).status_code in (401, 403, 404)
    assert db not in [d["name"] for d in server.req("GET", "/api/dbs", token=out_tok).json()["databases"]]
    assert db in [d["name"] for d in server.req("GET", "/api/dbs", token=vi_tok).json()["databases"]]
    # the team page lists it; login lists the teams with their counts
    t = server.req("GET", f"/api/teams/{team}", token=vi_tok).json()
    assert [d["name"] for d in t["databases"]] == [db] and t["databases"][0]["visibility"] == "private"
    assert t["databases"][0]["ownership_utc"] == created["ownershipUtc"]
    r = server.req("POST", "/api/login", json={"username": vi, "password": "pw-" + vi})
    assert r.json()["teams"] == [{"billing": None, "name": vi, "numberOfDatabases": 0},
                                 {"billing": None, "name": team, "numberOfDatabases": 1}]
    # removing the Viewer takes the rights away at once
    assert server.req("DELETE", f"/api/teams/{team}/members/{vi}", token=ann_tok).status_code == 200
    assert server.req("GET", f"/{db}/t.json", token=vi_tok).status_code in (403, 404)
    # the team Admin deletes it (O); the team can then go
    err(server.req("DELETE", f"/api/teams/{team}", token=ann_tok), 409, "CONFLICT")
    assert server.req("DELETE", f"/api/dbs/{db}", token=ann_tok).json() == {}
    err(server.req("GET", f"/api/dbs/{db}", token=ann_tok), 404, "NOT_FOUND")
    assert server.req("DELETE", f"/api/teams/{team}", token=ann_tok).status_code == 200


def test_create_database(server, admin):
    ann, ann_tok = user(server, admin)
    db = uid("mine")
    r = server.req("POST", "/api/dbs", token=ann_tok, json={"name": db})
    assert r.status_code == 200 and r.json()["ownerName"] == ann, r.text
    d = server.req("GET", f"/api/dbs/{db}", token=ann_tok).json()
    assert d["owner"] == ann and d["visibility"] == "private" and d["tables"] == []
    # TypeDB and SpacetimeDB see the same owner
    assert server.req("GET", f"/v1/databases/{db}", token=ann_tok).status_code == 200
    err(server.req("POST", "/api/dbs", token=ann_tok, json={"name": db}), 409, "CONFLICT")
    err(server.req("POST", "/api/dbs", token=ann_tok, json={"name": "_internal"}), 400, "BAD_REQUEST")
    err(server.req("POST", "/api/dbs", token=ann_tok, json={"name": 5}), 400, "BAD_REQUEST")
    err(server.req("POST", "/api/dbs", json={"name": uid("anon")}), 401, "UNAUTHENTICATED")
    err(server.req("POST", "/api/dbs", token=ann_tok, json={"name": uid("x"), "team": "no-such-team"}),
        404, "NOT_FOUND")
    # a failing script keeps nothing
    bad = uid("bad")
    r = server.req("POST", "/api/dbs", token=ann_tok, json={"name": bad, "query": "CREATE TABLE a(x); CREATE TABLE a(y)"})
    msg = err(r, 400, "BAD_REQUEST")
    assert "already exists" in msg
    err(server.req("GET", f"/api/dbs/{bad}", token=admin), 404, "NOT_FOUND")
    assert server.req("POST", "/api/dbs", token=ann_tok, json={"name": bad}).status_code == 200  # the name is free
    # the script is held to the engine's SQL policy
    r = server.req("POST", "/api/dbs", token=ann_tok, json={"name": uid("att"), "query": "ATTACH 'x.db' AS x"})
    assert r.status_code in (400, 403), r.text


def test_patch_database(server, admin):
    ann, ann_tok = user(server, admin)
    bob, bob_tok = user(server, admin)
    db = uid("pdb")
    assert server.req("POST", "/api/dbs", token=ann_tok, json={"name": db}).status_code == 200
    r = server.req("PATCH", f"/api/dbs/{db}", token=ann_tok,
                   json={"description": {"tag": "TextValue", "contents": "Books"}})
    assert r.status_code == 200 and r.json() == {}, r.text
    assert server.req("GET", f"/api/dbs/{db}", token=ann_tok).json()["description"] == "Books"
    new = uid("pdb")
    assert server.req("PATCH", f"/api/dbs/{db}", token=ann_tok, json={"name": new}).status_code == 200
    assert server.req("GET", f"/api/dbs/{new}", token=ann_tok).json()["name"] == new
    assert server.req("PATCH", f"/api/dbs/{new}", token=ann_tok, json={"description": {"tag": "TextNull"}}).status_code == 200
    assert server.req("GET", f"/api/dbs/{new}", token=ann_tok).json()["description"] is None
    # others may not change it
    err(server.req("PATCH", f"/api/dbs/{new}", token=bob_tok, json={"name": uid("x")}), 404, "NOT_FOUND")
    # hand it to a team Ann administers: Bob, an Editor there, now writes to it
    team = uid("t")
    assert server.req("POST", "/api/teams", token=ann_tok, json={"name": team}).status_code == 200
    assert server.req("PATCH", f"/api/teams/{team}/members/{bob}", token=ann_tok,
                      json={"roles": ["Editor"]}).status_code == 200
    err(server.req("PATCH", f"/api/dbs/{new}", token=ann_tok, json={"owner": {"tag": "TextValue", "contents": bob}}),
        404, "NOT_FOUND")  # Bob's personal team is not Ann's to give to
    assert server.req("PATCH", f"/api/dbs/{new}", token=ann_tok,
                      json={"owner": {"tag": "TextValue", "contents": team}}).status_code == 200
    assert server.req("GET", f"/api/dbs/{new}", token=bob_tok).json()["owner"] == team
    r = server.req("POST", f"/dbs/{new}/sql", token=bob_tok, json={"query": "CREATE TABLE x(a)"})
    assert r.status_code == 200 and r.json()["errors"] == [], r.text
    err(server.req("PATCH", f"/api/dbs/{new}", token=ann_tok, json={"name": 7}), 400, "BAD_REQUEST")


def test_api_tokens(server, admin):
    ann, ann_tok = user(server, admin)
    bob, bob_tok = user(server, admin)
    dbs = {}
    for k in ("r", "w", "wo", "io", "none"):
        dbs[k] = uid("tok" + k)
        r = server.req("POST", "/api/dbs", token=ann_tok, json={"name": dbs[k],
                                                               "query": "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);"
                                                                        "INSERT INTO t(v) VALUES ('one')"})
        assert r.status_code == 200, r.text
    ids = {k: server.req("GET", f"/api/dbs/{v}", token=ann_tok).json()["id"] for k, v in dbs.items()}
    body = {"name": "cool app", "description": "for the app", "expiration_utc": None,
            "permissions": [{"db_id": ids["r"], "name": "read"}, {"db_id": ids["w"], "name": "write"},
                            {"db_id": ids["wo"], "name": "writeonly"}, {"db_id": ids["io"], "name": "insertonly"}]}
    r = server.req("POST", "/api/tokens", token=ann_tok, json=body)
    assert r.status_code == 200, r.text
    t = r.json()
    assert list(t) == ["body", "created_utc", "description", "expiration_utc", "id", "name", "permissions"]
    assert isinstance(t["id"], int) and t["name"] == "cool app" and t["expiration_utc"] is None
    assert t["permissions"][0] == {"db_id": ids["r"], "db_name": dbs["r"], "name": "read"}
    assert [p["name"] for p in t["permissions"]] == ["read", "write", "writeonly", "insertonly"]
    secret = t["body"]
    # shown once: later only its first 12 characters
    g = server.req("GET", f"/api/tokens/{t['id']}", token=ann_tok).json()
    assert g["body"] == secret[:12] + "\u2026" and g["permissions"] == t["permissions"]
    lst = server.req("GET", f"/api/teams/{ann}/tokens", token=ann_tok).json()["tokens"]
    assert [x["id"] for x in lst] == [t["id"]] and lst[0]["body"] == g["body"]
    # read: reads, no writes
    assert server.req("GET", f"/{dbs['r']}/t.json?_shape=array", token=secret).json() == [{"id": 1, "v": "one"}]
    assert server.req("POST", f"/{dbs['r']}/t/-/insert", token=secret, json={"row": {"v": "x"}}).status_code == 403
    # write: reads, writes, schema
    assert server.req("POST", f"/{dbs['w']}/t/-/insert", token=secret, json={"row": {"v": "x"}}).status_code == 201
    assert server.req("PUT", f"/api/dbs/{dbs['w']}/tables/extra", token=secret, json={}).status_code == 200
    # writeonly: writes without reading
    assert server.req("POST", f"/{dbs['wo']}/t/-/insert", token=secret, json={"row": {"v": "x"}}).status_code == 201
    assert server.req("GET", f"/{dbs['wo']}/t.json", token=secret).status_code == 403
    r = server.req("POST", f"/dbs/{dbs['wo']}/sql", token=secret, json={"query": "INSERT INTO t(v) VALUES ('y')"})
    assert r.status_code == 200 and r.json()["errors"] == [], r.text
    r = server.req("POST", f"/dbs/{dbs['wo']}/sql", token=secret, json={"query": "SELECT * FROM t"})
    assert r.json()["errors"], r.text
    # insertonly: GraphQL inserts, nothing else
    r = server.req("POST", f"/dbs/{dbs['io']}/graphql", token=secret,
                   json={"query": 'mutation { insert_t(objects: [{v: "new"}]) { affected_rows } }'})
    assert r.status_code == 200 and r.json() == {"data": {"insert_t": {"affected_rows": 1}}}, r.text
    r = server.req("POST", f"/dbs/{dbs['io']}/graphql", token=secret, json={"query": "{ t { v } }"})
    assert r.json().get("errors"), r.text
    r = server.req("POST", f"/dbs/{dbs['io']}/graphql", token=secret,
                   json={"query": 'mutation { delete_t(filter: {id: {eq: 1}}) { affected_rows } }'})
    assert r.json().get("errors"), r.text
    # none: not even visible
    assert server.req("GET", f"/{dbs['none']}/t.json", token=secret).status_code in (403, 404)
    err(server.req("GET", f"/api/dbs/{dbs['none']}", token=secret), 404, "NOT_FOUND")
    # an API token manages no team, token or account, and creates no database
    err(server.req("POST", "/api/tokens", token=secret, json=body), 403, "FORBIDDEN")
    err(server.req("GET", f"/api/teams/{ann}", token=secret), 403, "FORBIDDEN")
    assert server.req("POST", "/api/dbs", token=secret, json={"name": uid("no")}).status_code == 403
    # it survives Ann's password change; her sessions do not
    assert server.req("PUT", f"/v1/users/{ann}", token=admin, json={"password": "pw2-" + ann}).status_code == 200
    assert server.req("GET", f"/{dbs['r']}/t.json", token=secret).status_code == 200
    assert server.req("GET", f"/api/tokens/{t['id']}", token=ann_tok).status_code == 401
    ann_tok = server.signin(ann, "pw2-" + ann)
    # permissions only on the team's databases; Bob cannot see or use Ann's tokens
    mine = uid("bobdb")
    assert server.req("POST", "/api/dbs", token=bob_tok, json={"name": mine}).status_code == 200
    bid = server.req("GET", f"/api/dbs/{mine}", token=bob_tok).json()["id"]
    err(server.req("POST", "/api/tokens", token=ann_tok, json={"name": "x", "permissions": [{"db_id": bid, "name": "read"}]}),
        403, "FORBIDDEN")
    err(server.req("POST", "/api/tokens", token=ann_tok, json={"name": "x", "permissions": [{"db_id": ids["r"], "name": "all"}]}),
        400, "BAD_REQUEST")
    err(server.req("POST", "/api/tokens", token=ann_tok, json={"name": "x", "permissions": [], "team_name": bob}),
        404, "NOT_FOUND")
    err(server.req("GET", f"/api/tokens/{t['id']}", token=bob_tok), 404, "NOT_FOUND")
    err(server.req("DELETE", f"/api/tokens/{t['id']}", token=bob_tok), 404, "NOT_FOUND")
    err(server.req("GET", f"/api/teams/{ann}/tokens", token=bob_tok), 404, "NOT_FOUND")
    # PATCH with tagged values; an expiry in the past ends it
    r = server.req("PATCH", f"/api/tokens/{t['id']}", token=ann_tok,
                   json={"name": "renamed", "description": {"tag": "TextNull"},
                         "expiration_utc": {"tag": "TextValue", "contents": "2099-01-02T03:04:05.006Z"}})
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["name"] == "renamed" and p["description"] is None and p["expiration_utc"] == "2099-01-02T03:04:05.006Z"
    err(server.req("PATCH", f"/api/tokens/{t['id']}", token=ann_tok, json={"expiration_utc": "tomorrow"}),
        400, "BAD_REQUEST")
    assert server.req("PATCH", f"/api/tokens/{t['id']}", token=ann_tok,
                      json={"expiration_utc": "2001-01-01T00:00:00Z"}).status_code == 200
    assert server.req("GET", f"/api/dbs/{dbs['r']}", token=secret).status_code == 401
    # revoke: gone, and the id is not reused
    assert server.req("DELETE", f"/api/tokens/{t['id']}", token=ann_tok).json() == {}
    err(server.req("GET", f"/api/tokens/{t['id']}", token=ann_tok), 404, "NOT_FOUND")
    r = server.req("POST", "/api/tokens", token=ann_tok, json={"name": "again", "permissions": [{"db_id": ids["r"], "name": "read"}],
                                                             "expiration_utc": "2099-01-01T00:00:00Z"})
    assert r.status_code == 200 and r.json()["id"] > t["id"] and r.json()["expiration_utc"] == "2099-01-01T00:00:00.000Z"
    err(server.req("POST", "/api/tokens", token=ann_tok, json={"name": "old", "permissions": [{"db_id": ids["r"], "name": "read"}],
                                                              "expiration_utc": "2001-01-01T00:00:00Z"}), 400, "BAD_REQUEST")


def test_team_token_follows_team(server, admin):
    """A team's token reaches the team's databases only while the team owns them."""
    ann, ann_tok = user(server, admin)
    team = uid("tt")
    assert server.req("POST", "/api/teams", token=ann_tok, json={"name": team}).status_code == 200
    db = uid("ttdb")
    r = server.req("POST", "/api/dbs", token=ann_tok, json={"name": db, "team": team, "query": "CREATE TABLE t(a)"})
    assert r.status_code == 200, r.text
    r = server.req("POST", "/api/tokens", token=ann_tok, json={"name": "x", "team_name": team,
                                                              "permissions": [{"db_id": r.json()["id"], "name": "read"}]})
    assert r.status_code == 200, r.text
    secret = r.json()["body"]
    assert server.req("GET", f"/{db}/t.json", token=secret).status_code == 200
    assert server.req("PATCH", f"/api/dbs/{db}", token=ann_tok, json={"owner": ann}).status_code == 200
    assert server.req("GET", f"/{db}/t.json", token=secret).status_code in (403, 404)
    # deleting the team takes its tokens with it
    assert server.req("DELETE", f"/api/teams/{team}", token=ann_tok).status_code == 200
    assert server.req("GET", "/api/dbs", token=secret).status_code == 401


def test_password_reset_without_mail(server, admin):
    name = uid("rp")
    mail = name + "@example.org"
    r = server.req("POST", "/api/users", token=admin, json={"username": name, "password": "old-pw", "email_address": mail})
    assert r.status_code == 200, r.text
    old = server.signin(name, "old-pw")
    # the address is one user's only
    err(server.req("POST", "/api/users", token=admin, json={"username": uid("rq"), "password": "p", "email_address": mail}),
        409, "CONFLICT")
    err(server.req("POST", "/api/users", token=admin, json={"username": uid("rq"), "password": "p", "email_address": "nope"}),
        400, "BAD_REQUEST")
    # only the admin gets a key; for anyone else it would take e-mail
    err(server.req("POST", "/api/users/reset-password", token=old, json={"email": mail}), 501, "NOT_IMPLEMENTED")
    err(server.req("POST", "/api/users/reset-password", json={"email": mail}), 501, "NOT_IMPLEMENTED")
    err(server.req("POST", "/api/users/reset-password", token=admin, json={"email": "who@example.org"}), 404, "NOT_FOUND")
    r = server.req("POST", "/api/users/reset-password", token=admin, json={"email": mail})
    assert r.status_code == 200, r.text
    key = r.json()["resetKey"]
    assert list(r.json()) == ["expiresUtc", "resetKey"] and len(key) == 48 and r.json()["expiresUtc"].endswith("Z")
    err(server.req("POST", "/api/users/reset-password/submit", json={"password": "x", "resetKey": "bad"}), 400, "BAD_REQUEST")
    r = server.req("POST", "/api/users/reset-password/submit", json={"password": "new-pw", "resetKey": key})
    assert r.status_code == 200 and r.json() == {}, r.text
    # the old session is gone, the new password works, the key is spent
    assert server.req("GET", f"/api/users/{name}", token=old).status_code == 401
    assert server.req("POST", "/api/login", json={"username": name, "password": "new-pw"}).status_code == 200
    err(server.req("POST", "/api/users/reset-password/submit", json={"password": "again", "resetKey": key}),
        400, "BAD_REQUEST")


def test_one_database_through_every_door(server, admin):
    """Made through Airsequel, read through Datasette and TypeDB; a table
    made through Datasette shows in Airsequel's database and column routes."""
    ann, tok = user(server, admin)
    db = uid("doors")
    r = server.req("POST", "/api/dbs", token=tok, json={"name": db, "query": "CREATE TABLE a(x INTEGER); INSERT INTO a VALUES (7)"})
    assert r.status_code == 200, r.text
    assert server.req("GET", f"/{db}/a.json?_shape=array", token=tok).json() == [{"rowid": 1, "x": 7}]
    r = server.req("POST", "/v1/query", token=tok, json={"databaseName": db, "transactionType": "read", "query": "SELECT x FROM a"})
    assert r.status_code == 200 and "7" in r.text, r.text
    assert db in [d["name"] for d in server.req("GET", "/v1/databases", token=tok).json()["databases"]]
    r = server.req("POST", f"/{db}/-/create", token=tok, json={"table": "made_by_ds", "columns": [
        {"name": "id", "type": "integer"}, {"name": "title", "type": "text"}], "pk": "id"})
    assert r.status_code == 201, r.text
    tables = server.req("GET", f"/api/dbs/{db}", token=tok).json()["tables"]
    assert {"name": "made_by_ds", "tableType": "Table"} in tables
    t = server.req("GET", f"/api/dbs/{db}/tables/made_by_ds", token=tok).json()
    assert [c["name"] for c in t["columns"]] == ["id", "title"]
    r = server.req("PUT", f"/api/dbs/{db}/tables/made_by_ds/columns/year", token=tok, json={"sqliteDataType": "INTEGER"})
    assert r.status_code == 200 and r.json()["name"] == "year", r.text
    r = server.req("POST", f"/{db}/made_by_ds/-/insert", token=tok, json={"row": {"title": "T", "year": 1999}})
    assert r.status_code == 201, r.text
    assert server.req("GET", f"/{db}/made_by_ds.json?_shape=array", token=tok).json() == [{"id": 1, "title": "T", "year": 1999}]
