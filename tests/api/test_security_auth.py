"""Issue 8, authorization: every decision is auth_check on the actor as
narrowed by the token it presented. Each test here failed before the fix."""
import time

import pytest

from conftest import ADMIN_PW


def dstok(server, token, body):
    r = server.req("POST", "/-/create-token", token=token, json=body)
    assert r.status_code == 201, r.text
    return r.json()["token"]


VIEW_ONLY = {"restrict_all": ["view-instance", "view-table", "view-database", "execute-sql"]}


@pytest.fixture(scope="module")
def sec_db(server, admin):
    assert server.req("POST", "/v1/databases/secdb", token=admin).status_code == 200
    r = server.req("POST", "/v1/query", token=admin, json={
        "databaseName": "secdb", "transactionType": "schema",
        "query": "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)"})
    assert r.status_code == 200, r.text
    return "secdb"


def test_read_only_admin_token_cannot_manage_users(server, admin):
    ro = dstok(server, admin, VIEW_ONLY)
    # create, list, read, change password, delete: all need the admin right
    assert server.req("POST", "/v1/users/mallory", token=ro, json={"password": "pw123456"}).status_code == 403
    assert server.req("GET", "/v1/users", token=ro).status_code == 403
    assert server.req("GET", "/v1/users/admin", token=ro).status_code == 403
    r = server.req("PUT", "/v1/users/admin", token=ro, json={"password": "hijacked!"})
    assert r.status_code == 403 and r.json()["code"] == "SRV2"
    assert server.req("DELETE", "/v1/users/admin", token=ro).status_code == 403
    # the password is unchanged and the full token still works
    assert server.signin("admin", ADMIN_PW)
    assert server.req("GET", "/v1/users", token=admin).status_code == 200


def test_scoped_token_of_a_user_cannot_change_own_password(server, admin):
    assert server.req("POST", "/v1/users/sue", token=admin, json={"password": "sue-pass-1"}).status_code == 200
    sue = server.signin("sue", "sue-pass-1")
    ro = dstok(server, sue, VIEW_ONLY)
    assert server.req("PUT", "/v1/users/sue", token=ro, json={"password": "other-pw"}).status_code == 403
    assert server.req("DELETE", "/v1/users/sue", token=ro).status_code == 403
    # her own full token still manages her account
    assert server.req("GET", "/v1/users/sue", token=sue).status_code == 200


def test_derived_token_never_exceeds_parent_scopes(server, admin, sec_db):
    ro = dstok(server, admin, VIEW_ONLY)
    # asking for nothing gives the parent's restrictions, not full rights
    child = dstok(server, ro, {})
    r = server.req("POST", f"/{sec_db}/t/-/insert", token=child, json={"row": {"v": "x"}})
    assert r.status_code == 403, r.text
    # asking for more than the parent gives only what both allow
    child2 = dstok(server, ro, {"restrict_all": ["insert-row", "view-table"]})
    r = server.req("POST", f"/{sec_db}/t/-/insert", token=child2, json={"row": {"v": "x"}})
    assert r.status_code == 403, r.text
    assert server.req("GET", f"/{sec_db}/t.json", token=child2).status_code == 200
    # the same request with the full token works
    r = server.req("POST", f"/{sec_db}/t/-/insert", token=admin, json={"row": {"v": "x"}})
    assert r.status_code == 201, r.text
    # nor can it reach user management or become an admin
    assert server.req("GET", "/v1/users", token=child).status_code == 403


def test_derived_token_never_outlives_parent(server, admin, sec_db):
    short = dstok(server, admin, {"expire_after": 2})
    child = dstok(server, short, {"expire_after": 100000})
    assert server.req("GET", "/v1/databases", token=child).status_code == 200
    time.sleep(3)
    assert server.req("GET", "/v1/databases", token=child).status_code == 401


def test_websocket_token_derives_from_presented_token(server, admin, sec_db):
    ro = dstok(server, admin, VIEW_ONLY)
    r = server.req("POST", "/v1/identity/websocket-token", token=ro)
    assert r.status_code == 200, r.text
    ws = r.json()["token"]
    r = server.req("POST", f"/{sec_db}/t/-/insert", token=ws, json={"row": {"v": "x"}})
    assert r.status_code == 403, r.text
    assert server.req("GET", "/v1/users", token=ws).status_code == 403


def test_expire_after_overflow_is_400(server, admin):
    r = server.req("POST", "/-/create-token", token=admin, json={"expire_after": 9223372036854775807})
    assert r.status_code == 400 and r.json()["ok"] is False


def test_transaction_needs_rights_of_the_presenting_token(server, admin, sec_db):
    r = server.req("POST", "/v1/transactions/open", token=admin,
                   json={"databaseName": sec_db, "transactionType": "write"})
    assert r.status_code == 200, r.text
    tid = r.json()["transactionId"]
    ro = dstok(server, admin, VIEW_ONLY)
    q = {"query": "INSERT INTO t(v) VALUES ('from-ro')"}
    assert server.req("POST", f"/v1/transactions/{tid}/query", token=ro, json=q).status_code == 403
    assert server.req("POST", f"/v1/transactions/{tid}/commit", token=ro).status_code == 403
    assert server.req("POST", f"/v1/transactions/{tid}/rollback", token=ro).status_code == 403
    assert server.req("POST", f"/v1/transactions/{tid}/close", token=ro).status_code == 403
    # the full token still drives it
    assert server.req("POST", f"/v1/transactions/{tid}/query", token=admin, json=q).status_code == 200
    assert server.req("POST", f"/v1/transactions/{tid}/commit", token=admin).status_code == 200


def test_db_scoped_token_reads_public_databases(fresh, tmp_path):
    import sqlite3
    f = tmp_path / "pub.db"
    c = sqlite3.connect(f)
    c.execute("CREATE TABLE x(a)")
    c.commit()
    c.close()
    s = fresh(str(f))
    admin = s.signin()
    s.req("POST", "/v1/databases/other", token=admin)
    tok = dstok(s, admin, {"restrict_database": {"other": ["view-table"]}})
    # anyone may read the public file, so a narrower token may too
    assert s.req("GET", "/pub/x.json", token=tok).status_code == 200


def test_anonymous_identity_requests_do_not_grow_the_catalog(fresh):
    s = fresh()
    admin = s.signin()
    s.req("POST", "/v1/databases/pubinfo", token=admin)
    import os
    sysdb = os.path.join(s.data_dir, "system.db")

    def rows():
        import sqlite3
        c = sqlite3.connect(sysdb)
        n = c.execute("SELECT (SELECT count(*) FROM principals), (SELECT count(*) FROM tokens)").fetchone()
        c.close()
        return n
    before = rows()
    for _ in range(50):
        r = s.req("GET", "/v1/database/pubinfo")
        assert r.status_code in (200, 404)
        assert r.headers.get("spacetime-identity-token", "").startswith("atr_") or r.status_code == 404
        s.req("POST", "/v1/identity")
    assert rows() == before
    # a minted identity token is still a valid identity
    r = s.req("POST", "/v1/identity").json()
    assert s.req("GET", f"/v1/identity/{r['identity']}/verify", token=r["token"]).status_code == 204
    # a forged one is not
    bad = r["token"][:-2] + ("AA" if not r["token"].endswith("AA") else "BB")
    assert s.req("GET", f"/v1/identity/{r['identity']}/verify", token=bad).status_code == 401
    # it is stored once it needs a token of its own
    ws = s.req("POST", "/v1/identity/websocket-token", token=r["token"])
    assert ws.status_code == 200, ws.text
    assert rows()[0] == before[0] + 1
    assert s.req("GET", f"/v1/identity/{r['identity']}/verify", token=ws.json()["token"]).status_code == 204


def test_users_hold_no_rights_on_others_databases_after_migration(fresh):
    import os
    import sqlite3
    s = fresh()
    admin = s.signin()
    s.req("POST", "/v1/databases/admins", token=admin)
    assert s.req("POST", "/v1/users/carol", token=admin, json={"password": "carol-pw"}).status_code == 200
    assert s.stop() == 0
    # a catalog written by an earlier atrium: users held read/write/schema on '*'
    c = sqlite3.connect(os.path.join(s.data_dir, "system.db"))
    c.execute("UPDATE grants SET db = '*', actions = 7 WHERE principal_id = "
              "(SELECT id FROM principals WHERE name = 'carol')")
    # ... and had none of what later migrations add
    c.executescript("DROP TABLE team_members; DROP TABLE api_tokens; DROP TABLE env_vars; DROP TABLE db_documents;"
                    "DROP TABLE reset_keys; DROP INDEX principals_by_email; ALTER TABLE principals DROP COLUMN email;"
                    "DROP TABLE function_invocations; DROP TABLE function_versions; DROP TABLE functions;"
                    "DROP TABLE db_doors; DROP TABLE query_history;"
                    "DROP INDEX databases_by_public_id; ALTER TABLE databases DROP COLUMN public_id;"
                    "ALTER TABLE databases DROP COLUMN ownership_ms; ALTER TABLE databases DROP COLUMN schema_locked;"
                    "ALTER TABLE databases DROP COLUMN auditing; ALTER TABLE databases DROP COLUMN views_tab;"
                    "ALTER TABLE databases DROP COLUMN environment")
    c.execute("PRAGMA user_version = 1")
    c.commit()
    c.close()
    s.start()
    carol = s.signin("carol", "carol-pw")
    assert s.req("GET", "/v1/databases/admins", token=carol).status_code == 404
    r = s.req("POST", "/v1/query", token=carol, json={
        "databaseName": "admins", "transactionType": "read", "query": "SELECT 1"})
    assert r.status_code == 404
    assert s.req("DELETE", "/v1/databases/admins", token=carol).status_code == 404
    # she still creates (and owns) databases of her own
    assert s.req("POST", "/v1/databases/carols", token=carol).status_code == 200
    assert s.req("GET", "/v1/databases", token=carol).json() == {"databases": [{"name": "carols"}]}
