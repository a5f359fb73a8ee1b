"""The authorization matrix: every route of the router's table (from
`atrium routes`) is tried with every kind of token. Each route names the
right it needs; a route added without an entry here fails the test."""
import subprocess
import time
import uuid

import pytest

from conftest import BIN

KINDS = ["none", "malformed", "expired", "revoked", "other_user", "other_db_scope",
         "read_scope", "write_scope", "owner", "admin",
         # mxdb belongs to the team mxteam (mxo its Admin): its members and its API tokens
         "team_viewer", "team_editor", "api_read", "api_write", "api_writeonly", "api_insertonly"]
API_PERMS = {"api_read": "read", "api_write": "write", "api_writeonly": "writeonly", "api_insertonly": "insertonly"}

# who may pass, per needed right ("open": anyone, checked for no 5xx only)
ALLOWED = {
    "token": {"other_user", "other_db_scope", "read_scope", "write_scope", "owner", "admin", "team_viewer",
              "team_editor", "api_read", "api_write", "api_writeonly", "api_insertonly"},
    "user": {"other_user", "owner", "admin", "team_viewer", "team_editor"},  # a user's own unrestricted token
    "create": {"other_user", "owner", "admin", "team_viewer", "team_editor"},
    "read": {"read_scope", "write_scope", "owner", "admin", "team_viewer", "team_editor", "api_read", "api_write"},
    "write": {"write_scope", "owner", "admin", "team_editor", "api_write"},
    "schema": {"owner", "admin", "team_editor", "api_write"},
    "member": {"owner", "admin", "team_viewer", "team_editor"},  # sees the team mxteam
    "read_user": {"owner", "admin", "team_viewer", "team_editor"},  # reads mxdb, and is a user
    "o": {"owner", "admin"},  # the owner (mxteam's Admin), or the server admin; also: one's own account
    "admin": {"admin"},
    "txn": {"write_scope", "owner"},  # the owner's transaction, with the write right; not even the admin
}
# writing without reading: where a write route also reads, these may be refused, so
# only "no 5xx" is checked for them there; everywhere else they are held to ALLOWED
UNCHECKED = {"write": {"api_writeonly", "api_insertonly"}}

VIEW = ["view-instance", "view-database", "view-table", "execute-sql"]
WRITE = VIEW + ["insert-row", "update-row", "delete-row"]


class Ctx:
    def __init__(self, s):
        self.s = s
        self.admin = s.signin()
        for u in ("mxo", "mxu", "mxr", "mxv"):
            assert s.req("POST", f"/v1/users/{u}", token=self.admin, json={"password": "pw-" + u}).status_code == 200
        self.owner = s.signin("mxo", "pw-mxo")
        for db in ("mxdb", "mxother"):
            assert s.req("POST", f"/v1/databases/{db}", token=self.owner).status_code == 200
        r = s.req("POST", "/v1/query", token=self.owner, json={
            "databaseName": "mxdb", "transactionType": "schema",
            "query": "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'one')"})
        assert r.status_code == 200, r.text
        self.identity = s.req("GET", "/v1/database/mxdb", token=self.owner).json()["owner_identity"]
        # mxdb goes to the team mxteam, whose Admin mxo stays
        assert s.req("POST", "/api/teams", token=self.owner, json={"name": "mxteam"}).status_code == 200
        assert s.req("PATCH", "/api/dbs/mxdb", token=self.owner, json={"owner": "mxteam"}).status_code == 200
        members = {}
        for u, role in (("mxtv", "Viewer"), ("mxte", "Editor")):
            assert s.req("POST", "/api/users", token=self.admin, json={"username": u, "password": "pw-" + u}).status_code == 200
            r = s.req("PATCH", f"/api/teams/mxteam/members/{u}", token=self.owner, json={"roles": [role]})
            assert r.status_code == 200, r.text
            members[u] = s.signin(u, "pw-" + u)

        def dstok(body, token=None):
            r = s.req("POST", "/-/create-token", token=token or self.owner, json=body)
            assert r.status_code == 201, r.text
            return r.json()["token"]
        revoked = s.signin("mxr", "pw-mxr")
        assert s.req("PUT", "/v1/users/mxr", token=self.admin, json={"password": "pw-new"}).status_code == 200
        expired = dstok({"expire_after": 1})
        self.tokens = {
            "none": None,
            "malformed": "MALFORMED",
            "expired": expired,
            "revoked": revoked,
            "other_user": s.signin("mxu", "pw-mxu"),
            "other_db_scope": dstok({"restrict_database": {"mxother": WRITE + ["create-table", "drop-table"]}}),
            "read_scope": dstok({"restrict_all": VIEW}),
            "write_scope": dstok({"restrict_all": WRITE}),
            "owner": self.owner,
            "admin": self.admin,
            "team_viewer": members["mxtv"],
            "team_editor": members["mxte"],
        }
        for path in ("/api/dbs/mxdb/env", "/api/settings/env"):
            assert s.req("POST", path, token=self.admin, json={"name": "MXVAR", "value": "v"}).status_code == 200
        self.readonly = s.req("GET", "/api/dbs/mxdb", token=self.owner).json()["readonlyId"]
        r = s.req("POST", "/api/dbs/mxdb/functions", token=self.owner, json={"name": "mxfn", "content": FN})
        assert r.status_code == 200, r.text
        self.fn, self.fn_version = r.json()["id"], r.json()["versions"][0]
        self.api_ids = {}
        for kind in API_PERMS:
            self.tokens[kind] = self.api_token(kind)
        time.sleep(2)  # the expired token expires
        self.n = 0

    def api_token(self, kind):
        r = self.s.req("POST", "/api/tokens", token=self.owner, json={
            "name": kind, "team_name": "mxteam", "permissions": [{"db_id": "mxdb", "name": API_PERMS[kind]}]})
        assert r.status_code == 200, r.text
        self.api_ids[kind] = r.json()["id"]
        return r.json()["body"]

    def team_db(self):
        """A database of its own in mxteam, for the routes that destroy one."""
        name = self.fresh("mxtd")
        r = self.s.req("POST", "/api/dbs", token=self.owner, json={"name": name, "team": "mxteam"})
        assert r.status_code == 200, r.text
        return name

    def fresh(self, prefix):
        self.n += 1
        return f"{prefix}{self.n}"

    def send(self, kind, method, path, **kw):
        tok = self.tokens[kind]
        headers = kw.pop("headers", {})
        if tok == "MALFORMED":
            headers["Authorization"] = "Basic bWFsOmZvcm1lZA=="
            tok = None
        return self.s.req(method, path, token=tok, headers=headers, **kw)


def open_txn(c):
    r = c.s.req("POST", "/v1/transactions/open", token=c.owner,
                json={"databaseName": "mxdb", "transactionType": "write"})
    assert r.status_code == 200, r.text
    return r.json()["transactionId"]


def txn_route(action, body=None):
    def run(c, kind):
        t = open_txn(c)
        try:
            return c.send(kind, "POST", f"/v1/transactions/{t}/{action}", json=body)
        finally:
            c.s.req("POST", f"/v1/transactions/{t}/close", token=c.owner)
    return run


def simple(method, path, **kw):
    return lambda c, kind: c.send(kind, method, path.format(c=c), **kw)


def delete_db(c, kind):
    return c.send(kind, "DELETE", f"/v1/databases/{c.team_db()}")


def delete_user(c, kind):
    name = c.fresh("mxgone")
    assert c.s.req("POST", f"/v1/users/{name}", token=c.admin, json={"password": "pw"}).status_code == 200
    return c.send(kind, "DELETE", f"/v1/users/{name}")


def ds_drop(c, kind):
    name = c.fresh("tmp")
    r = c.s.req("POST", "/mxdb/-/create", token=c.owner, json={"table": name, "columns": [{"name": "a"}]})
    assert r.status_code == 201, r.text
    return c.send(kind, "POST", f"/mxdb/{name}/-/drop", json={"confirm": True})


def ds_row(op):
    def run(c, kind):
        c.s.req("POST", "/mxdb/t/-/upsert", token=c.owner, json={"rows": [{"id": 7, "v": "seven"}]})
        body = {"update": {"v": "x"}} if op == "update" else None
        return c.send(kind, "POST", f"/mxdb/t/7/-/{op}", json=body)
    return run


class RawAnswer:
    def __init__(self, status, text):
        self.status_code, self.text = status, text


def ws_subscribe(c, kind):
    """The WebSocket handshake: only the status line matters (a 101 hands the
    connection over, so it is read by hand and closed)."""
    import socket
    tok = c.tokens[kind]
    auth = ""
    if tok == "MALFORMED":
        auth = "Authorization: Basic bWFsOmZvcm1lZA==\r\n"
    elif tok:
        auth = f"Authorization: Bearer {tok}\r\n"
    req = ("GET /v1/database/mxdb/subscribe HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
           "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           f"Sec-WebSocket-Protocol: v1.json.spacetimedb\r\n{auth}\r\n")
    with socket.create_connection((c.s.host, c.s.port), timeout=10) as so:
        so.sendall(req.encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = so.recv(4096)
            if not chunk:
                break
            data += chunk
    head = data.decode(errors="replace")
    return RawAnswer(int(head.split()[1]), head)


MODULE = ('atrium.table("modt", { { "v", "string" } })\n'
          'atrium.reducer("ping", {}, function(ctx) db.modt:insert{ v = "x" } end)\n')


def publish(method, path):
    return lambda c, kind: c.send(kind, method, path, data=MODULE, headers={"Content-Type": "text/x-lua"})


def stdb_delete(c, kind):
    return c.send(kind, "DELETE", f"/v1/database/{c.team_db()}")


def stdb_names(method):
    def run(c, kind):
        name = c.team_db()
        if method == "POST":
            return c.send(kind, "POST", f"/v1/database/{name}/names", data=name + "-r")
        return c.send(kind, "PUT", f"/v1/database/{name}/names", json=[name + "-r"])
    return run


def call_reducer(c, kind):
    r = c.s.req("PUT", "/v1/database/mxdb", token=c.owner, data=MODULE, headers={"Content-Type": "text/x-lua"})
    assert r.status_code == 200, r.text
    return c.send(kind, "POST", "/v1/database/mxdb/call/ping", data="[]")


def ddl(what):
    """Airsequel's table and column changes, each on something of its own."""
    def go(c, kind):
        t, col = c.fresh("mxt"), c.fresh("mxc")
        D = "/api/dbs/mxdb/tables"
        if what != "create":
            assert c.s.req("PUT", f"{D}/{t}", token=c.owner).status_code == 200
        if what in ("rename", "dropcol"):
            assert c.s.req("PUT", f"{D}/{t}/columns/{col}", token=c.owner).status_code == 200
        return {"create": lambda: c.send(kind, "PUT", f"{D}/{t}"),
                "drop": lambda: c.send(kind, "DELETE", f"{D}/{t}"),
                "add": lambda: c.send(kind, "PUT", f"{D}/{t}/columns/{col}"),
                "rename": lambda: c.send(kind, "PATCH", f"{D}/{t}/columns/{col}", json={"name": col + "x"}),
                "dropcol": lambda: c.send(kind, "DELETE", f"{D}/{t}/columns/{col}")}[what]()
    return go


def tiny_sqlite():
    import os
    import sqlite3
    import tempfile
    fd, path = tempfile.mkstemp(suffix=".sqlite")
    os.close(fd)
    os.unlink(path)
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE t(a)")
    db.commit()
    db.close()
    with open(path, "rb") as f:
        data = f.read()
    os.unlink(path)
    return data


FN = "return function(req) return { ok = true } end"


def new_fn(c):
    r = c.s.req("POST", "/api/dbs/mxdb/functions", token=c.owner, json={"name": "f", "content": FN})
    assert r.status_code == 200, r.text
    return r.json()["id"]


def doc(c, kind):
    """A fresh chart or dashboard of mxdb."""
    r = c.s.req("POST", f"/api/dbs/mxdb/{kind}", token=c.owner, json={"title": "x"})
    assert r.status_code == 200, r.text
    return r.json()["ulid"]


def env_var(c, db=None):
    """A fresh variable of mxdb (or of the instance) to delete."""
    name = c.fresh("MXD")
    path = f"/api/dbs/{db}/env" if db else "/api/settings/env"
    r = c.s.req("POST", path, token=c.admin, json={"name": name, "value": "v"})
    assert r.status_code == 200, r.text
    return name


def fresh_team(c):
    name = c.fresh("mxtm")
    assert c.s.req("POST", "/api/teams", token=c.owner, json={"name": name}).status_code == 200
    return name


def member_remove(c, kind):
    """mxv joins mxteam, then the kind tries to remove them; they leave either way."""
    r = c.s.req("PATCH", "/api/teams/mxteam/members/mxv", token=c.owner, json={"roles": ["Viewer"]})
    assert r.status_code == 200, r.text
    try:
        return c.send(kind, "DELETE", "/api/teams/mxteam/members/mxv")
    finally:
        c.s.req("DELETE", "/api/teams/mxteam/members/mxv", token=c.owner)


def token_delete(c, kind):
    c.api_token("api_read")  # a fresh one (its id in api_ids)
    return c.send(kind, "DELETE", f"/api/tokens/{c.api_ids['api_read']}")


def logout(c, kind):
    """A logout revokes the token it is called with: never the shared ones."""
    if kind in API_PERMS:
        return c.s.req("POST", "/api/logout", token=c.api_token(kind))
    if kind in ("other_user", "owner", "admin", "team_viewer", "team_editor"):
        user = {"other_user": ("mxu", "pw-mxu"), "owner": ("mxo", "pw-mxo"), "admin": None,
                "team_viewer": ("mxtv", "pw-mxtv"), "team_editor": ("mxte", "pw-mxte")}[kind]
        tok = c.s.signin(*user) if user else c.s.signin()
        return c.s.req("POST", "/api/logout", token=tok)
    if kind in ("other_db_scope", "read_scope", "write_scope"):
        tok = c.s.req("POST", "/-/create-token", token=c.owner, json={"restrict_all": VIEW}).json()["token"]
        return c.s.req("POST", "/api/logout", token=tok)
    return c.send(kind, "POST", "/api/logout")


# (METHOD, pattern) -> [(need, request), ...]
MATRIX = {
    ("POST", "/dbs/:db/sql"): [("read", simple("POST", "/dbs/mxdb/sql", json={"query": "SELECT 1"})),
                               ("write", simple("POST", "/dbs/mxdb/sql",
                                                json={"query": "UPDATE t SET v = v WHERE id = 1"}))],
    ("GET", "/dbs/:db/graphql"): [("read", simple("GET", "/dbs/mxdb/graphql?query=%7Bt%7Bid%7D%7D"))],
    ("POST", "/dbs/:db/graphql"): [("read", simple("POST", "/dbs/mxdb/graphql", json={"query": "{ t { id v } }"})),
                                   ("write", simple("POST", "/dbs/mxdb/graphql", json={
                                       "query": 'mutation { update_t(where: {id: {_eq: 1}}, _set: {v: "one"})'
                                                ' { affected_rows } }'}))],
    ("GET", "/dbs/:db/playground/default-query"): [("read", simple("GET", "/dbs/mxdb/playground/default-query"))],
    # a readonly id grants reading to anyone who has it (see test_airsequel_graphql)
    ("GET", "/readonly/:db/graphql"): [("open", simple("GET", "/readonly/nosuchid00000/graphql?query=%7Bt%7Bid%7D%7D"))],
    ("POST", "/readonly/:db/graphql"): [("open", simple("POST", "/readonly/mxdb/graphql", json={"query": "{ t { id } }"}))],
    ("GET", "/api/status"): [("open", simple("GET", "/api/status"))],
    # features needing outside services: 501 for everyone (checked for no 5xx other than 501)
    **{(m, p): [("open", simple(m, p.replace(":db", "mxdb").replace(":key", "k")))] for m, p in [
        ("POST", "/api/events/paddle"), ("POST", "/api/prompt/create-database"), ("POST", "/api/dbs/:db/prompt"),
        ("POST", "/api/dbs/:db/prompt/describe-database"), ("POST", "/api/dbs/:db/prompt/describe-function"),
        ("POST", "/api/dbs/:db/prompt/describe-table"), ("POST", "/api/users/invite"), ("GET", "/verify-email/:key"),
        ("GET", "/password-reset/:key")]},
    ("GET", "/api/dbs"): [("token", simple("GET", "/api/dbs"))],
    ("POST", "/api/dbs"): [("create", lambda c, k: c.send(k, "POST", "/api/dbs", json={"name": c.fresh("mxad")}))],
    ("PATCH", "/api/dbs/:db"): [("o", simple("PATCH", "/api/dbs/mxdb", json={"description": "matrix"}))],
    ("DELETE", "/api/dbs/:db"): [("o", lambda c, k: c.send(k, "DELETE", f"/api/dbs/{c.team_db()}"))],
    ("POST", "/api/teams"): [("user", lambda c, k: c.send(k, "POST", "/api/teams", json={"name": c.fresh("mxnt")}))],
    ("GET", "/api/teams/:team"): [("member", simple("GET", "/api/teams/mxteam"))],
    ("PATCH", "/api/teams/:team"): [("o", simple("PATCH", "/api/teams/mxteam", json={"name": "mxteam"}))],
    ("DELETE", "/api/teams/:team"): [("o", lambda c, k: c.send(k, "DELETE", f"/api/teams/{fresh_team(c)}"))],
    ("GET", "/api/teams/:team/members"): [("member", simple("GET", "/api/teams/mxteam/members"))],
    ("PATCH", "/api/teams/:team/members/:user"): [
        ("o", simple("PATCH", "/api/teams/mxteam/members/mxtv", json={"roles": ["Viewer"]}))],
    ("DELETE", "/api/teams/:team/members/:user"): [("o", member_remove)],
    ("GET", "/api/teams/:team/tokens"): [("o", simple("GET", "/api/teams/mxteam/tokens"))],
    ("POST", "/api/tokens"): [("o", simple("POST", "/api/tokens", json={
        "name": "m", "team_name": "mxteam", "permissions": [{"db_id": "mxdb", "name": "read"}]}))],
    ("GET", "/api/tokens/:token"): [("o", lambda c, k: c.send(k, "GET", f"/api/tokens/{c.api_ids['api_write']}"))],
    ("PATCH", "/api/tokens/:token"): [("o", lambda c, k: c.send(k, "PATCH", f"/api/tokens/{c.api_ids['api_write']}",
                                                               json={"name": "api_write"}))],
    ("DELETE", "/api/tokens/:token"): [("o", token_delete)],
    ("POST", "/api/users"): [("admin", lambda c, k: c.send(k, "POST", "/api/users",
                                                          json={"username": c.fresh("mxnu"), "password": "pw"}))],
    ("GET", "/api/users/:user"): [("o", simple("GET", "/api/users/mxo"))],
    # the admin gets a key (404 here: no user has the address); everyone else 501 (no e-mail)
    ("POST", "/api/users/reset-password"): [("open", simple("POST", "/api/users/reset-password",
                                                            json={"email": "nobody@example.org"}))],
    ("POST", "/api/users/reset-password/submit"): [("open", simple("POST", "/api/users/reset-password/submit",
                                                                   json={"password": "x", "resetKey": "bad"}))],
    ("GET", "/api/dbs/:db/settings"): [("o", simple("GET", "/api/dbs/mxdb/settings"))],
    ("PATCH", "/api/dbs/:db/settings"): [("o", simple("PATCH", "/api/dbs/mxdb/settings", json={"auditing": False}))],
    ("GET", "/api/dbs/:db/env"): [("o", simple("GET", "/api/dbs/mxdb/env"))],
    ("POST", "/api/dbs/:db/env"): [("o", lambda c, k: c.send(k, "POST", "/api/dbs/mxdb/env",
                                                             json={"name": c.fresh("MXE"), "value": "v"}))],
    ("PATCH", "/api/dbs/:db/env/:var"): [("o", simple("PATCH", "/api/dbs/mxdb/env/MXVAR", json={"value": "v"}))],
    ("DELETE", "/api/dbs/:db/env/:var"): [("o", lambda c, k: c.send(k, "DELETE", f"/api/dbs/mxdb/env/{env_var(c, 'mxdb')}"))],
    ("GET", "/api/settings"): [("admin", simple("GET", "/api/settings"))],
    ("PATCH", "/api/settings"): [("admin", simple("PATCH", "/api/settings", json={}))],
    ("GET", "/api/settings/env"): [("admin", simple("GET", "/api/settings/env"))],
    ("POST", "/api/settings/env"): [("admin", lambda c, k: c.send(k, "POST", "/api/settings/env",
                                                                  json={"name": c.fresh("MXI"), "value": "v"}))],
    ("PATCH", "/api/settings/env/:var"): [("admin", simple("PATCH", "/api/settings/env/MXVAR", json={"value": "v"}))],
    ("DELETE", "/api/settings/env/:var"): [("admin", lambda c, k: c.send(k, "DELETE", f"/api/settings/env/{env_var(c)}"))],
    ("GET", "/api/dbs/:db/apps"): [("read", simple("GET", "/api/dbs/mxdb/apps"))],
    ("GET", "/api/dbs/:db/azimutt-schema"): [("read", simple("GET", "/api/dbs/mxdb/azimutt-schema"))],
    ("GET", "/api/docs"): [("open", simple("GET", "/api/docs"))],
    ("GET", "/metrics"): [("admin", simple("GET", "/metrics"))],
    # everyone may list: each sees only the operations it may (test_metrics_ops checks who sees what)
    # the console's static files: public (the page signs in through /v1/signin like any client)
    ("GET", "/"): [("open", simple("GET", "/"))],
    ("GET", "/-/console/:file"): [("open", simple("GET", "/-/console/app.js"))],
    ("GET", "/-/operations"): [("open", simple("GET", "/-/operations"))],
    ("DELETE", "/-/operations/:id"): [("open", simple("DELETE", "/-/operations/999999"))],
    # everyone may ask: each sees only the databases it may read (test_console_server checks who sees what)
    ("GET", "/-/usage"): [("open", simple("GET", "/-/usage"))],
    # one's own history, on a database one may read
    ("GET", "/-/history/:db"): [("read", simple("GET", "/-/history/mxdb"))],
    ("POST", "/-/history/:db"): [("read", simple("POST", "/-/history/mxdb", json={"text": "select 1"}))],
    ("DELETE", "/-/history/:db"): [("read", simple("DELETE", "/-/history/mxdb"))],
    ("GET", "/api/dbs/:db/functions"): [("read", simple("GET", "/api/dbs/mxdb/functions"))],
    ("POST", "/api/dbs/:db/functions"): [("o", simple("POST", "/api/dbs/mxdb/functions", json={"name": "m", "content": FN}))],
    ("GET", "/api/dbs/:db/functions/:fn"): [("read", lambda c, k: c.send(k, "GET", f"/api/dbs/mxdb/functions/{c.fn}"))],
    ("PATCH", "/api/dbs/:db/functions/:fn"): [("o", lambda c, k: c.send(k, "PATCH", f"/api/dbs/mxdb/functions/{c.fn}",
                                                                       json={"content": FN}))],
    ("DELETE", "/api/dbs/:db/functions/:fn"): [("o", lambda c, k: c.send(k, "DELETE", f"/api/dbs/mxdb/functions/{new_fn(c)}"))],
    ("POST", "/api/dbs/:db/functions/:fn/republish"): [
        ("o", lambda c, k: c.send(k, "POST", f"/api/dbs/mxdb/functions/{c.fn}/republish", json={"version": c.fn_version}))],
    ("GET", "/api/dbs/:db/functions/:fn/versions/:version"): [
        ("read", lambda c, k: c.send(k, "GET", f"/api/dbs/mxdb/functions/{c.fn}/versions/{c.fn_version}"))],
    ("GET", "/api/dbs/:db/functions/:fn/invocations"): [
        ("read", lambda c, k: c.send(k, "GET", f"/api/dbs/mxdb/functions/{c.fn}/invocations"))],
    # the function's id is the capability: anyone who has it may call it
    **{(m, "/fns/:fn"): [("open", lambda c, k, m=m: c.send(k, m, f"/fns/{c.fn}"))]
       for m in ("GET", "POST", "PUT", "DELETE", "PATCH")},
    ("POST", "/dbs"): [("create", lambda c, k: c.send(k, "POST", "/dbs", data={"name": c.fresh("mxup")},
                                                      files={"file": ("x.csv", b"a,b\n1,2\n", "text/csv")}))],
    ("PUT", "/dbs/:db"): [("o", lambda c, k: c.send(k, "PUT", f"/dbs/{c.team_db()}",
                                                    files={"file": ("x.sqlite", tiny_sqlite())}))],
    ("POST", "/api/dbs/:db/vacuum"): [("write", simple("POST", "/api/dbs/mxdb/vacuum"))],
    ("GET", "/dbs/:db/download"): [("read", simple("GET", "/dbs/mxdb/download"))],
    ("GET", "/dbs/:db/regenerate-db-id"): [("o", lambda c, k: c.send(k, "GET", f"/dbs/{c.team_db()}/regenerate-db-id"))],
    ("GET", "/dbs/:db/regenerate-readonly-id"): [
        ("o", lambda c, k: c.send(k, "GET", f"/dbs/{c.team_db()}/regenerate-readonly-id"))],
    ("GET", "/dbs/:db/duplicate"): [("read_user", simple("GET", "/dbs/mxdb/duplicate"))],
    ("GET", "/readonly/:db/duplicate"): [("user", lambda c, k: c.send(k, "GET", f"/readonly/{c.readonly}/duplicate"))],
    ("GET", "/api/dbs/:db/dashboards"): [("read", simple("GET", "/api/dbs/mxdb/dashboards"))],
    ("POST", "/api/dbs/:db/dashboards"): [("write", simple("POST", "/api/dbs/mxdb/dashboards", json={"title": "m"}))],
    ("PATCH", "/api/dbs/:db/dashboards/:dashboard"): [("write", lambda c, k: c.send(k, "PATCH", f"/api/dbs/mxdb/dashboards/{doc(c, 'dashboards')}",
                                                                          json={"title": "n"}))],
    ("DELETE", "/api/dbs/:db/dashboards/:dashboard"): [("write", lambda c, k: c.send(k, "DELETE", f"/api/dbs/mxdb/dashboards/{doc(c, 'dashboards')}"))],
    ("GET", "/api/dbs/:db/charts"): [("read", simple("GET", "/api/dbs/mxdb/charts"))],
    ("POST", "/api/dbs/:db/charts"): [("write", simple("POST", "/api/dbs/mxdb/charts", json={"title": "m"}))],
    ("PATCH", "/api/dbs/:db/charts/:chart"): [("write", lambda c, k: c.send(k, "PATCH", f"/api/dbs/mxdb/charts/{doc(c, 'charts')}",
                                                                          json={"title": "n"}))],
    ("DELETE", "/api/dbs/:db/charts/:chart"): [("write", lambda c, k: c.send(k, "DELETE", f"/api/dbs/mxdb/charts/{doc(c, 'charts')}"))],
    # no apps exist: 404 for everyone (checked for no 5xx)
    ("GET", "/dbs/:db/apps/:app"): [("open", simple("GET", "/dbs/mxdb/apps/none"))],
    ("POST", "/api/login"): [("open", simple("POST", "/api/login", json={"username": "mxu", "password": "wrong"}))],
    ("POST", "/api/logout"): [("token", logout)],
    ("PUT", "/api/dbs/:db/tables/:table"): [("schema", ddl("create"))],
    ("DELETE", "/api/dbs/:db/tables/:table"): [("schema", ddl("drop"))],
    ("PATCH", "/api/dbs/:db/tables/:table"): [("schema", simple("PATCH", "/api/dbs/mxdb/tables/t", json={"description": "m"}))],
    ("PUT", "/api/dbs/:db/tables/:table/columns/:column"): [("schema", ddl("add"))],
    ("PATCH", "/api/dbs/:db/tables/:table/columns/:column"): [("schema", ddl("rename"))],
    ("DELETE", "/api/dbs/:db/tables/:table/columns/:column"): [("schema", ddl("dropcol"))],
    ("GET", "/api/dbs/:db"): [("read", simple("GET", "/api/dbs/mxdb"))],
    ("GET", "/api/dbs/:db/schema"): [("read", simple("GET", "/api/dbs/mxdb/schema"))],
    ("PUT", "/api/dbs/:db/tables/:table/columns/:column/files/:key/:value"): [
        ("write", simple("PUT", "/api/dbs/mxdb/tables/t/columns/v/files/id/1", files={"file": ("v", b"one")}))],
    ("GET", "/api/dbs/:db/tables/:table/columns/:column/files/:key/:value"): [
        ("read", simple("GET", "/api/dbs/mxdb/tables/t/columns/v/files/id/1"))],
    ("GET", "/readonly/:db/tables/:table/columns/:column/files/:key/:value"): [
        ("open", simple("GET", "/readonly/nosuchid00000/tables/t/columns/v/files/id/1"))],
    ("GET", "/api/dbs/:db/tables/:table"): [("read", simple("GET", "/api/dbs/mxdb/tables/t"))],
    ("GET", "/api/dbs/:db/tables/:table/search/:term"): [("read", simple("GET", "/api/dbs/mxdb/tables/t/search/on"))],
    ("GET", "/api/dbs/:db/tables/:table/export"): [("read", simple("GET", "/api/dbs/mxdb/tables/t/export"))],
    ("POST", "/v1/identity"): [("open", simple("POST", "/v1/identity"))],
    ("POST", "/v1/identity/websocket-token"): [("token", simple("POST", "/v1/identity/websocket-token"))],
    ("GET", "/v1/identity/:id/verify"): [("token", simple("GET", "/v1/identity/{c.identity}/verify"))],
    ("GET", "/v1/database/:noi"): [("read", simple("GET", "/v1/database/mxdb"))],
    ("GET", "/v1/database/:noi/identity"): [("read", simple("GET", "/v1/database/mxdb/identity"))],
    ("GET", "/v1/database/:noi/names"): [("read", simple("GET", "/v1/database/mxdb/names"))],
    ("GET", "/v1/database/:noi/subscribe"): [("read", ws_subscribe)],
    ("POST", "/v1/database"): [("open", publish("POST", "/v1/database"))],
    ("DELETE", "/v1/database/:noi"): [("o", stdb_delete)],
    ("POST", "/v1/database/:noi/names"): [("o", stdb_names("POST"))],
    ("PUT", "/v1/database/:noi/names"): [("o", stdb_names("PUT"))],
    ("POST", "/v1/database/:noi"): [("o", publish("POST", "/v1/database/mxdb"))],
    ("PUT", "/v1/database/:noi"): [("o", publish("PUT", "/v1/database/mxdb"))],
    ("POST", "/v1/database/:noi/call/:reducer"): [("read", call_reducer)],
    ("GET", "/v1/database/:noi/schema"): [("read", simple("GET", "/v1/database/mxdb/schema?version=9"))],
    ("GET", "/v1/database/:noi/logs"): [("o", simple("GET", "/v1/database/mxdb/logs"))],  # the db admin right: its owner
    ("POST", "/v1/database/:noi/sql"): [("read", simple("POST", "/v1/database/mxdb/sql", data="SELECT 1 AS one")),
                                        ("write", simple("POST", "/v1/database/mxdb/sql",
                                                         data="UPDATE t SET v = v WHERE id = 1"))],
    ("GET", "/health"): [("open", simple("GET", "/health"))],
    ("GET", "/v1/health"): [("open", simple("GET", "/v1/health"))],
    ("GET", "/v1"): [("open", simple("GET", "/v1", allow_redirects=False))],
    ("GET", "/v1/version"): [("open", simple("GET", "/v1/version"))],
    ("POST", "/v1/signin"): [("open", simple("POST", "/v1/signin", json={"username": "mxu", "password": "pw-mxu"}))],
    ("GET", "/v1/databases"): [("token", simple("GET", "/v1/databases"))],
    ("GET", "/v1/databases/:name"): [("read", simple("GET", "/v1/databases/mxdb"))],
    ("POST", "/v1/databases/:name"): [("create", lambda c, k: c.send(k, "POST", f"/v1/databases/{c.fresh('mxnew')}"))],
    ("DELETE", "/v1/databases/:name"): [("o", delete_db)],
    ("GET", "/v1/databases/:name/schema"): [("read", simple("GET", "/v1/databases/mxdb/schema"))],
    ("GET", "/v1/databases/:name/type-schema"): [("read", simple("GET", "/v1/databases/mxdb/type-schema"))],
    ("GET", "/v1/users"): [("admin", simple("GET", "/v1/users"))],
    ("GET", "/v1/users/:user"): [("admin", simple("GET", "/v1/users/mxv"))],
    ("POST", "/v1/users/:user"): [("admin", lambda c, k: c.send(k, "POST", f"/v1/users/{c.fresh('mxnu')}",
                                                                json={"password": "pw"}))],
    ("PUT", "/v1/users/:user"): [("admin", simple("PUT", "/v1/users/mxv", json={"password": "pw-mxv"}))],
    ("DELETE", "/v1/users/:user"): [("admin", delete_user)],
    ("POST", "/v1/query"): [
        ("read", simple("POST", "/v1/query", json={"databaseName": "mxdb", "transactionType": "read",
                                                   "query": "SELECT 1"})),
        ("write", simple("POST", "/v1/query", json={"databaseName": "mxdb", "transactionType": "write",
                                                    "query": "UPDATE t SET v = v WHERE id = 1"})),
        ("schema", simple("POST", "/v1/query", json={"databaseName": "mxdb", "transactionType": "schema",
                                                     "query": "CREATE TABLE IF NOT EXISTS s(a)"}))],
    ("POST", "/v1/transactions/open"): [
        ("read", lambda c, k: close_after(c, k, "read")),
        ("write", lambda c, k: close_after(c, k, "write"))],
    ("POST", "/v1/transactions/:id/query"): [("txn", txn_route("query", {"query": "SELECT 1"}))],
    ("POST", "/v1/transactions/:id/commit"): [("txn", txn_route("commit"))],
    ("POST", "/v1/transactions/:id/rollback"): [("txn", txn_route("rollback"))],
    ("POST", "/v1/transactions/:id/close"): [("txn", txn_route("close"))],
    ("POST", "/v1/transactions/:id/analyze"): [("token", txn_route("analyze", {"query": "x"}))],
    ("GET", "/*"): [("open", simple("GET", "/.json")), ("open", simple("GET", "/-/versions.json")),
                    ("open", simple("GET", "/-/actor.json")),
                    ("read", simple("GET", "/mxdb.json")), ("read", simple("GET", "/mxdb/t.json")),
                    ("read", simple("GET", "/mxdb/t/1.json")), ("read", simple("GET", "/mxdb/t.csv")),
                    ("read", simple("GET", "/mxdb/-/query.json?sql=select+1"))],
    ("POST", "/*"): [("token", simple("POST", "/-/create-token", json={"restrict_all": ["view-table"]})),
                     ("write", simple("POST", "/mxdb/t/-/insert", json={"row": {"v": "new"}})),
                     ("write", simple("POST", "/mxdb/t/-/upsert", json={"rows": [{"id": 1, "v": "one"}]})),
                     ("write", ds_row("update")), ("write", ds_row("delete")),
                     ("schema", lambda c, k: c.send(k, "POST", "/mxdb/-/create",
                                                    json={"table": c.fresh("nt"), "columns": [{"name": "a"}]})),
                     ("schema", ds_drop)],
    ("PUT", "/*"): [("open", simple("PUT", "/mxdb/t.json"))],
    ("DELETE", "/*"): [("open", simple("DELETE", "/mxdb/t.json"))],
    ("PATCH", "/*"): [("open", simple("PATCH", "/mxdb/t.json"))],
    ("OTHER", "/*"): [("open", lambda c, k: c.send(k, "PROPFIND", "/mxdb/t.json"))],
}


def close_after(c, kind, ttype):
    r = c.send(kind, "POST", "/v1/transactions/open", json={"databaseName": "mxdb", "transactionType": ttype})
    if r.status_code == 200:
        c.send(kind, "POST", f"/v1/transactions/{r.json()['transactionId']}/close")
        c.s.req("POST", f"/v1/transactions/{r.json()['transactionId']}/close", token=c.owner)
        c.s.req("POST", f"/v1/transactions/{r.json()['transactionId']}/close", token=c.admin)
    return r


def routes():
    out = subprocess.run([BIN, "routes"], capture_output=True, text=True, check=True).stdout
    return [tuple(line.split()[:2]) for line in out.splitlines() if line.strip()]


def test_every_route_has_an_entry():
    missing = [r for r in routes() if r not in MATRIX]
    assert not missing, f"routes without an auth-matrix entry: {missing}"
    stale = [k for k in MATRIX if k not in routes()]
    assert not stale, f"entries for routes that no longer exist: {stale}"


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    from conftest import Server
    s = Server(tmp_path_factory.mktemp("matrix"))
    yield Ctx(s)
    assert s.stop() == 0


@pytest.mark.parametrize("route", sorted(MATRIX), ids=lambda r: f"{r[0]} {r[1]}")
def test_route_against_every_token(ctx, route):
    failures = []
    for need, request in MATRIX[route]:
        for kind in KINDS:
            r = request(ctx, kind)
            where = f"{route[0]} {route[1]} [{need}] as {kind}: {r.status_code} {r.text[:160]!r}"
            if r.status_code >= 500 and r.status_code != 501:
                failures.append("server error: " + where)
            elif need == "open" or kind in UNCHECKED.get(need, ()):
                continue
            elif kind in ALLOWED[need]:
                if r.status_code in (401, 403, 404):
                    failures.append("refused: " + where)
            elif not (r.status_code in (400, 401, 403, 404) or
                      (r.status_code == 200 and route[1] in ("/dbs/:db/sql", "/dbs/:db/graphql")
                       and r.json().get("errors"))):
                failures.append("allowed: " + where)
    assert not failures, "\n".join(failures)
