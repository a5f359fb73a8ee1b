"""TypeDB-style management API (spec/typedb.md §1-3, §6, §7)."""
import json
import time
import uuid

from urllib.parse import quote

import pytest

from conftest import ADMIN_PW, SLOW, read_http_response


def err(r, status, code, phrase=None):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["code"] == code, body
    assert body["message"].startswith(f"[{code}] "), body
    if phrase:
        assert phrase in body["message"], body
    return body


def uniq(prefix="db"):
    return f"{prefix}{uuid.uuid4().hex[:10]}"


# ---- health, version, redirect ----------------------------------------

def test_health_with_and_without_token(server, admin):
    for path in ("/health", "/v1/health"):
        r = server.req("GET", path)
        assert r.status_code == 204 and r.content == b""
        assert server.req("GET", path, token=admin).status_code == 204
        assert server.req("GET", path, token="garbage").status_code == 204


def test_version(server):
    r = server.req("GET", "/v1/version")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["distribution"] == "Atrium"
    assert len(body["version"].split(".")) == 3


def test_v1_redirects_to_version(server):
    r = server.req("GET", "/v1", allow_redirects=False)
    assert r.status_code == 307
    assert r.headers["location"] == "/v1/version"


def test_unknown_routes_and_versions(server, admin):
    err(server.req("GET", "/v1/nothing-here", token=admin), 404, "HSR4", "Requested resource not found")
    err(server.req("GET", "/v2/version"), 404, "HSR5", "Unknown API version 'v2'")
    r = server.req("PATCH", "/v1/users", token=admin)
    assert r.status_code == 405 and "code" in r.json()


def test_cors_permissive(server):
    r = server.req("OPTIONS", "/v1/users", headers={"Origin": "http://x.example",
                                                    "Access-Control-Request-Method": "GET"})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "*"
    assert "Authorization" in r.headers["access-control-allow-headers"]
    assert server.req("GET", "/v1/version").headers["access-control-allow-origin"] == "*"
    assert server.req("GET", "/v1/users").headers["access-control-allow-origin"] == "*"  # errors too


# ---- sign-in and tokens -----------------------------------------------

def test_signin_success_and_token_shape(server):
    tok = server.signin()
    assert tok.startswith("atr_") and len(tok) == 47


def test_signin_bad_credentials(server):
    for body in ({"username": "admin", "password": "wrong"},
                 {"username": "nobody", "password": ADMIN_PW},
                 {"username": "ADMIN", "password": ADMIN_PW}):
        body_ = err(server.req("POST", "/v1/signin", json=body), 401, "AUT1", "Invalid credential supplied")
        assert "[SRV15] Error when authenticating." in body_["message"]


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b'"x"', b'{"username": "admin"}',
                                 b'{"username": 1, "password": "x"}', b'{"username":"a","password":null}',
                                 b'{"username":"a","username":"b","password":"x"}', b"\xff\xfe"])
def test_signin_malformed_json(server, raw):
    err(server.req("POST", "/v1/signin", data=raw), 400, "HSR2", "Cannot parse expected JSON body")


def test_missing_and_invalid_tokens_on_every_protected_route(server):
    routes = [("GET", "/v1/databases"), ("GET", "/v1/databases/x"), ("POST", "/v1/databases/x"),
              ("DELETE", "/v1/databases/x"), ("GET", "/v1/databases/x/schema"),
              ("GET", "/v1/databases/x/type-schema"), ("GET", "/v1/users"), ("GET", "/v1/users/x"),
              ("POST", "/v1/users/x"), ("PUT", "/v1/users/x"), ("DELETE", "/v1/users/x")]
    for method, path in routes:
        # Auth is checked before the body: a broken body still gets 401.
        b = err(server.req(method, path, data=b"{not json"), 401, "AUT2", "Missing token")
        assert "[HSR9] Authentication error." in b["message"]
        err(server.req(method, path, headers={"Authorization": "Basic YWRtaW46eA=="}), 401, "AUT2")
        err(server.req(method, path, headers={"Authorization": "Bearer "}), 401, "AUT2")
        err(server.req(method, path, token="atr_doesnotexist", data=b"{"), 401, "AUT3", "Invalid token")
        err(server.req(method, path, token="x" * 5000), 401, "AUT3")


def test_token_expiry(fresh):
    s = fresh("--token-ttl", "1")
    tok = s.signin()
    assert s.req("GET", "/v1/databases", token=tok).status_code == 200
    time.sleep(1.3)
    err(s.req("GET", "/v1/databases", token=tok), 401, "AUT3", "Invalid token")


def test_token_cli(fresh, tmp_path):
    import subprocess
    from conftest import BIN
    s = fresh()
    out = subprocess.run([BIN, "token", "create", "admin", "--data", s.data_dir],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out.startswith("atr_")
    assert s.req("GET", "/v1/users", token=out).status_code == 200


# ---- databases --------------------------------------------------------

def test_database_lifecycle(server, admin):
    name = uniq()
    err(server.req("GET", f"/v1/databases/{name}", token=admin), 404, "SRV3", f"Database '{name}' not found")
    r = server.req("POST", f"/v1/databases/{name}", token=admin)
    assert r.status_code == 200 and r.content == b"" and r.headers["content-length"] == "0"
    assert server.req("POST", f"/v1/databases/{name}", token=admin).status_code == 200  # existing: 200
    assert server.req("GET", f"/v1/databases/{name}", token=admin).json() == {"name": name}
    names = [d["name"] for d in server.req("GET", "/v1/databases", token=admin).json()["databases"]]
    assert name in names and names == sorted(names)
    assert server.req("DELETE", f"/v1/databases/{name}", token=admin).status_code == 200
    err(server.req("GET", f"/v1/databases/{name}", token=admin), 404, "SRV3")
    err(server.req("DELETE", f"/v1/databases/{name}", token=admin), 404, "SRV3", f"Database '{name}' not found")


def test_database_names(server, admin):
    for good in ("alice", "ALICE", "An0ther-database_with-1onG-Name", "資料庫", "and·even‿a·smile"):
        assert server.req("POST", f"/v1/databases/{good}", token=admin).status_code == 200, good
        assert server.req("GET", f"/v1/databases/{good}", token=admin).json() == {"name": good}
    # case-sensitive: alice and ALICE are two databases
    names = [d["name"] for d in server.req("GET", "/v1/databases", token=admin).json()["databases"]]
    assert "alice" in names and "ALICE" in names
    for bad in (" ", ".", "!", "...", "·‿·", "😎", "my😎database", "1db", "a b", "x" * 256):
        # Sent raw and percent-encoded so that nothing normalises "." or "..." away.
        st, _, data = server.raw_req("POST", f"/v1/databases/{quote(bad, safe='')}", token=admin)
        b = json.loads(data)
        assert st == 400 and b["code"] == "DBC1", (bad, b)
        assert f"Cannot create database since '{bad}' is not a valid database name." in b["message"]
    for word in ("v1", "api", "dbs", "fns", "readonly", "health", "static"):
        err(server.req("POST", f"/v1/databases/{word}", token=admin), 400, "DBC1")
    err(server.req("POST", "/v1/databases/_internal", token=admin), 400, "DBC2",
        "Creating an internal database is prohibited")
    err(server.req("GET", "/v1/databases/_internal", token=admin), 404, "SRV3")


def test_invalid_percent_encoding_in_path(server, admin):
    err(server.req("GET", "/v1/databases/%ff", token=admin), 400, "HSR7", "invalid path parameter")
    # A malformed escape, sent raw (client libraries would re-encode it).
    s = server.raw_socket()
    s.sendall(b"GET /v1/databases/%zz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + admin.encode() +
              b"\r\n\r\n")
    st, _, body, _ = read_http_response(s)
    s.close()
    assert st == 400 and json.loads(body)["code"] == "HSR7"
    err(server.req("GET", "/v1/users/a%00b", token=admin), 400, "HSR7")


def test_schema_text(server, admin, tmp_path):
    name = uniq()
    assert server.req("POST", f"/v1/databases/{name}", token=admin).status_code == 200
    r = server.req("GET", f"/v1/databases/{name}/schema", token=admin)
    assert r.status_code == 200 and r.content == b"" and r.headers["content-length"] == "0"
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    err(server.req("GET", "/v1/databases/nope/schema", token=admin), 404, "SRV3")
    err(server.req("GET", "/v1/databases/nope/type-schema", token=admin), 404, "SRV3")


def test_schema_of_served_file(fresh, tmp_path):
    import sqlite3
    path = tmp_path / "shop data.db"
    c = sqlite3.connect(path)
    c.executescript("""
        CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT);
        CREATE INDEX items_name ON items(name);
        CREATE VIEW v AS SELECT name FROM items;
        CREATE VIRTUAL TABLE items_fts USING fts5(name);
    """)
    c.close()
    s = fresh(str(path))
    assert "as 'shop_data'" in s.stdout
    r = s.req("GET", "/v1/databases/shop_data/schema", token=s.signin())
    assert r.status_code == 200
    assert r.text == ("CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT);\n"
                      "CREATE INDEX items_name ON items(name);\n"
                      "CREATE VIEW v AS SELECT name FROM items;\n"
                      "CREATE VIRTUAL TABLE items_fts USING fts5(name);\n")
    assert int(r.headers["content-length"]) == len(r.content)
    r = s.req("GET", "/v1/databases/shop_data/type-schema", token=s.signin())
    assert "INDEX" not in r.text and "CREATE VIEW v" in r.text and "items_fts_data" not in r.text


# ---- users ------------------------------------------------------------

def test_user_lifecycle(server, admin):
    u = uniq("user")
    assert server.req("POST", f"/v1/users/{u}", token=admin, json={"password": "pw1"}).status_code == 200
    err(server.req("POST", f"/v1/users/{u}", token=admin, json={"password": "pw1"}), 400, "USC2",
        "User already exists")
    users = [x["username"] for x in server.req("GET", "/v1/users", token=admin).json()["users"]]
    assert u in users and "admin" in users and users == sorted(users)
    assert server.req("GET", f"/v1/users/{u}", token=admin).json() == {"username": u}
    tok = server.signin(u, "pw1")
    assert server.req("GET", f"/v1/users/{u}", token=tok).json() == {"username": u}
    assert server.req("DELETE", f"/v1/users/{u}", token=admin).status_code == 200
    err(server.req("GET", f"/v1/users/{u}", token=admin), 404, "SRV4", "User not found")
    err(server.req("GET", "/v1/databases", token=tok), 401, "AUT3")  # deletion revoked the token
    err(server.req("POST", "/v1/signin", json={"username": u, "password": "pw1"}), 401, "AUT1")


def test_user_errors(server, admin):
    err(server.req("GET", "/v1/users/ghost", token=admin), 404, "SRV4", "User not found")
    err(server.req("PUT", "/v1/users/ghost", token=admin, json={"password": "x"}), 404, "USU4",
        "User not found")
    err(server.req("DELETE", "/v1/users/ghost", token=admin), 404, "USD3", "User not found")
    err(server.req("DELETE", "/v1/users/admin", token=admin), 400, "USD1", "Default user cannot be deleted")
    err(server.req("POST", "/v1/users/😎", token=admin, json={"password": "x"}), 400, "USC1",
        "Invalid credential supplied")
    err(server.req("POST", f"/v1/users/{uniq('u')}", token=admin, json={"password": ""}), 400, "USC3",
        "Incomplete user detail")
    err(server.req("PUT", "/v1/users/admin", token=admin, json={"password": ""}), 400, "USU1",
        "User detail not provided")
    err(server.req("POST", f"/v1/users/{uniq('u')}", token=admin, data=b"{bad"), 400, "HSR2")
    err(server.req("POST", f"/v1/users/{uniq('u')}", token=admin, json={"password": 5}), 400, "HSR2")
    err(server.req("PUT", "/v1/users/admin", token=admin, json=["password"]), 400, "HSR2")


def test_unicode_and_case_sensitive_users(server, admin):
    for name, pw in (("Ünïcødé", "пароль"), ("ünïcødé", "密码"), ("資料", "😎 pass")):
        assert server.req("POST", f"/v1/users/{name}", token=admin, json={"password": pw}).status_code == 200
        tok = server.signin(name, pw)
        assert server.req("GET", f"/v1/users/{name}", token=tok).json() == {"username": name}
    err(server.req("POST", "/v1/signin", json={"username": "Ünïcødé", "password": "密码"}), 401, "AUT1")


def test_non_admin_rules(server, admin):
    a, b = uniq("a"), uniq("b")
    for u in (a, b):
        assert server.req("POST", f"/v1/users/{u}", token=admin, json={"password": "pw"}).status_code == 200
    ta = server.signin(a, "pw")
    forbidden = "The user is not permitted to execute the operation"
    err(server.req("GET", "/v1/users", token=ta), 403, "SRV2", forbidden)
    err(server.req("POST", f"/v1/users/{uniq('c')}", token=ta, json={"password": "pw"}), 403, "SRV2")
    # Rights before existence: asking about anyone else is 403, existing or not.
    for other in (b, "ghost", "admin"):
        err(server.req("GET", f"/v1/users/{other}", token=ta), 403, "SRV2")
        err(server.req("PUT", f"/v1/users/{other}", token=ta, json={"password": "x"}), 403, "SRV2")
        err(server.req("DELETE", f"/v1/users/{other}", token=ta), 403, "SRV2")
    # Rights before the body, too.
    err(server.req("POST", f"/v1/users/{uniq('c')}", token=ta, data=b"{"), 403, "SRV2")
    # Signed-in users manage databases.
    name = uniq()
    assert server.req("POST", f"/v1/databases/{name}", token=ta).status_code == 200
    assert server.req("DELETE", f"/v1/databases/{name}", token=ta).status_code == 200


def test_self_password_change_revokes_tokens(server, admin):
    u = uniq("self")
    assert server.req("POST", f"/v1/users/{u}", token=admin, json={"password": "old"}).status_code == 200
    t1 = server.signin(u, "old")
    t2 = server.signin(u, "old")
    assert server.req("PUT", f"/v1/users/{u}", token=t1, json={"password": "new"}).status_code == 200
    for t in (t1, t2):
        err(server.req("GET", f"/v1/users/{u}", token=t), 401, "AUT3")
    err(server.req("POST", "/v1/signin", json={"username": u, "password": "old"}), 401, "AUT1")
    t3 = server.signin(u, "new")
    assert server.req("DELETE", f"/v1/users/{u}", token=t3).status_code == 200  # self-delete
    err(server.req("GET", f"/v1/users/{u}", token=admin), 404, "SRV4")


def test_admin_password_change_by_admin(fresh):
    s = fresh()
    t = s.signin()
    assert s.req("PUT", "/v1/users/admin", token=t, json={"password": "next"}).status_code == 200
    err(s.req("GET", "/v1/users", token=t), 401, "AUT3")
    s.signin("admin", "next")
