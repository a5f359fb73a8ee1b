"""Airsequel-style REST: a database as a file — vacuum, download and
duplicate (spec/airsequel.md §2)."""
import sqlite3
import threading
import uuid
from conftest import as_err as err, uid, as_user as user


def make(server, admin):
    name = uid("fu")
    assert server.req("POST", "/api/users", token=admin, json={"username": name, "password": "pw"}).status_code == 200
    tok = server.signin(name, "pw")
    db = uid("fdb")
    r = server.req("POST", "/api/dbs", token=tok, json={
        "name": db, "query": "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);"
                             "INSERT INTO t(v) SELECT 'row ' || value FROM generate_series(1, 2000)"})
    if r.status_code != 200:  # no generate_series in this SQLite: a recursive CTE does it
        r = server.req("POST", "/api/dbs", token=tok, json={
            "name": db, "query": "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);"
                                 "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)"
                                 " INSERT INTO t(v) SELECT 'row ' || i FROM n"})
    assert r.status_code == 200, r.text
    return name, tok, db


def test_vacuum(server, admin):
    _, tok, db = make(server, admin)
    assert server.req("POST", f"/dbs/{db}/sql", token=tok, json={"query": "DELETE FROM t WHERE id > 10"}).json()["errors"] == []
    before = server.req("GET", f"/api/dbs/{db}", token=tok).json()["size"]
    r = server.req("POST", f"/api/dbs/{db}/vacuum", token=tok)
    assert r.status_code == 200 and r.json() == {}, r.text
    after = server.req("GET", f"/api/dbs/{db}", token=tok).json()["size"]
    assert after <= before
    # the database still works, through every door
    assert len(server.req("GET", f"/{db}/t.json?_shape=array", token=tok).json()) == 10
    assert server.req("POST", f"/{db}/t/-/insert", token=tok, json={"row": {"v": "after"}}).status_code == 201
    err(server.req("POST", f"/api/dbs/{db}/vacuum"), 404, "NOT_FOUND")


def test_download_is_the_database(server, admin, tmp_path):
    _, tok, db = make(server, admin)
    r = server.req("GET", f"/dbs/{db}/download", token=tok)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/vnd.sqlite3"
    assert r.headers["content-disposition"] == f'attachment; filename="{db}.sqlite"'
    assert r.content[:16] == b"SQLite format 3\x00"
    f = tmp_path / "copy.sqlite"
    f.write_bytes(r.content)
    c = sqlite3.connect(f)
    assert c.execute("SELECT count(*), max(v) FROM t").fetchone() == (2000, "row 999")
    assert c.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    c.close()
    err(server.req("GET", f"/dbs/{db}/download"), 404, "NOT_FOUND")


def test_download_under_writes_is_one_snapshot(server, admin, tmp_path):
    """Each download holds one committed state: rows written in one batch
    are all there or none of them."""
    _, tok, db = make(server, admin)
    stop = threading.Event()

    def writer():
        k = 0
        while not stop.is_set():
            k += 1
            server.req("POST", f"/{db}/t/-/insert", token=tok,
                       json={"rows": [{"v": f"batch {k}"} for _ in range(50)]})
    th = threading.Thread(target=writer)
    th.start()
    try:
        for i in range(5):
            r = server.req("GET", f"/dbs/{db}/download", token=tok)
            assert r.status_code == 200
            f = tmp_path / f"s{i}.sqlite"
            f.write_bytes(r.content)
            c = sqlite3.connect(f)
            counts = c.execute("SELECT count(*) FROM t WHERE v LIKE 'batch %' GROUP BY v").fetchall()
            assert all(n == (50,) for n in counts), counts
            c.close()
    finally:
        stop.set()
        th.join()


def test_duplicate(server, admin):
    owner, tok, db = make(server, admin)
    other, other_tok = uid("fo"), None
    assert server.req("POST", "/api/users", token=admin, json={"username": other, "password": "pw"}).status_code == 200
    other_tok = server.signin(other, "pw")
    r = server.req("GET", f"/dbs/{db}/duplicate", token=tok)
    assert r.status_code == 200, r.text
    made = r.json()
    assert list(made) == ["id", "ownerName", "ownershipUtc"] and made["ownerName"] == owner
    copy = server.req("GET", f"/api/dbs/{made['id']}", token=tok).json()
    assert copy["name"] == f"{db}-copy" and copy["visibility"] == "private" and copy["owner"] == owner
    assert len(server.req("GET", f"/{db}-copy/t.json?_shape=array&_size=max", token=tok).json()) == 1000
    # the copy is its own: writes to it leave the original alone
    assert server.req("POST", f"/{db}-copy/t/-/insert", token=tok, json={"row": {"v": "only here"}}).status_code == 201
    assert server.req("GET", f"/api/dbs/{db}/tables/t", token=tok).json()["numberOfRows"] == 2000
    # a second copy takes the next free name
    assert server.req("GET", f"/dbs/{db}/duplicate", token=tok).status_code == 200
    assert server.req("GET", f"/api/dbs/{db}-copy-2", token=tok).status_code == 200
    # someone else cannot see it to copy it; with its readonly id anyone signed in can
    err(server.req("GET", f"/dbs/{db}/duplicate", token=other_tok), 404, "NOT_FOUND")
    ro = server.req("GET", f"/api/dbs/{db}", token=tok).json()["readonlyId"]
    r = server.req("GET", f"/readonly/{ro}/duplicate", token=other_tok)
    assert r.status_code == 200 and r.json()["ownerName"] == other, r.text
    assert server.req("GET", f"/api/dbs/{r.json()['id']}", token=other_tok).json()["name"] == f"{db}-copy-3"
    # copying needs a user: anonymous callers are refused even with the readonly id
    err(server.req("GET", f"/readonly/{ro}/duplicate"), 401, "UNAUTHENTICATED")
    err(server.req("GET", "/readonly/nosuchid00000/duplicate", token=other_tok), 404, "NOT_FOUND")


def test_regenerate_ids(server, admin):
    owner, tok, db = make(server, admin)
    before = server.req("GET", f"/api/dbs/{db}", token=tok).json()
    r = server.req("POST", "/api/tokens", token=tok, json={"name": "app", "permissions": [{"db_id": before["id"], "name": "read"}]})
    assert r.status_code == 200, r.text
    app, tid = r.json()["body"], r.json()["id"]
    r = server.req("GET", f"/dbs/{db}/regenerate-db-id", token=tok)
    assert r.status_code == 200, r.text
    ids = r.json()
    assert list(ids) == ["id", "readonlyId"] and ids["id"] != before["id"] and ids["readonlyId"] == before["readonlyId"]
    err(server.req("GET", f"/api/dbs/{before['id']}", token=tok), 404, "NOT_FOUND")  # the old id is gone
    assert server.req("GET", f"/api/dbs/{ids['id']}", token=tok).json()["name"] == db
    # what was granted on the database still holds, and shows the new id
    assert server.req("GET", f"/{db}/t.json?_size=1", token=app).status_code == 200
    assert server.req("GET", f"/api/tokens/{tid}", token=tok).json()["permissions"][0]["db_id"] == ids["id"]
    # the readonly id: the old one stops opening GraphQL, the new one does
    old_ro = before["readonlyId"]
    assert server.req("POST", f"/readonly/{old_ro}/graphql", json={"query": "{ t(limit: 1) { id } }"}).status_code == 200
    r = server.req("GET", f"/dbs/{ids['id']}/regenerate-readonly-id", token=tok)
    assert r.status_code == 200 and r.json()["id"] == ids["id"] and r.json()["readonlyId"] != old_ro, r.text
    new_ro = r.json()["readonlyId"]
    assert len(new_ro) == 13
    err(server.req("POST", f"/readonly/{old_ro}/graphql", json={"query": "{ t(limit: 1) { id } }"}), 404, "NOT_FOUND")
    r = server.req("POST", f"/readonly/{new_ro}/graphql", json={"query": "{ t(limit: 1) { id } }"})
    assert r.status_code == 200 and r.json() == {"data": {"t": [{"id": 1}]}}, r.text
    assert server.req("GET", f"/api/dbs/{db}", token=tok).json()["readonlyId"] == new_ro
    # only the owner regenerates
    _, other = user(server, admin)
    err(server.req("GET", f"/dbs/{db}/regenerate-db-id", token=other), 404, "NOT_FOUND")
    err(server.req("GET", f"/dbs/{db}/regenerate-db-id", token=app), 403, "FORBIDDEN")
