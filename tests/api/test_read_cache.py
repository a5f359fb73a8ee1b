"""The commit-versioned cache of read answers (core/rcache, used by the
Datasette table and query pages): every door's write invalidates, an outside
write to a file served in place too, rights stay separate, volatile SQL is
never reused, and a client reads its own acknowledged writes."""
import sqlite3
import uuid

import pytest

from conftest import Server


@pytest.fixture(scope="module")
def cs(tmp_path_factory):
    d = tmp_path_factory.mktemp("rc")
    served = d / "served.db"
    c = sqlite3.connect(served)
    c.executescript("""
        PRAGMA journal_mode=WAL;
        CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);
        INSERT INTO t(v) SELECT 'x' || value FROM json_each('[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,
          21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,
          55,56,57,58,59,60,61,62,63,64]');
    """)
    c.commit()
    c.close()
    data = d / "data"
    data.mkdir()
    s = Server(data, [str(served)])
    s.served = served
    yield s
    assert s.stop() == 0


def owned_db(s, token):
    name = "c" + uuid.uuid4().hex[:8]
    assert s.req("POST", f"/v1/databases/{name}", token=token).status_code == 200
    r = s.req("POST", "/v1/query", token=token, json={
        "databaseName": name, "transactionType": "schema",
        "query": "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)"})
    assert r.status_code == 200, r.text
    return name


def count(s, name, token=None):
    r = s.req("GET", f"/{name}/t.json", token=token, params={"_extra": "count", "_size": "1"})
    assert r.status_code == 200, r.text
    return r.json()["count"]


def test_every_door_invalidates(cs):
    tok = cs.signin()
    name = owned_db(cs, tok)
    n = count(cs, name, tok)
    assert n == 0 and count(cs, name, tok) == 0  # the second one is the kept answer

    def writes():
        yield cs.req("POST", f"/{name}/t/-/insert", token=tok, json={"row": {"v": "datasette"}})
        yield cs.req("POST", f"/dbs/{name}/sql", token=tok, json={"query": "INSERT INTO t(v) VALUES ('airsequel')"})
        yield cs.req("POST", "/v1/query", token=tok, json={"databaseName": name, "transactionType": "write",
                                                          "query": "INSERT INTO t(v) VALUES ('typedb')"})
        yield cs.req("POST", f"/v1/database/{name}/sql", token=tok, data="INSERT INTO t(v) VALUES ('stdb')")
        t = cs.req("POST", "/v1/transactions/open", token=tok,
                   json={"databaseName": name, "transactionType": "write"}).json()["transactionId"]
        cs.req("POST", f"/v1/transactions/{t}/query", token=tok, json={"query": "INSERT INTO t(v) VALUES ('txn')"})
        yield cs.req("POST", f"/v1/transactions/{t}/commit", token=tok)
    for i, r in enumerate(writes(), start=1):
        assert r.status_code in (200, 201), r.text
        assert count(cs, name, tok) == i
        assert count(cs, name, tok) == i
    # query pages too
    q = {"sql": "select count(*) as n from t"}
    assert cs.req("GET", f"/{name}/-/query.json", token=tok, params=q).json()["rows"] == [{"n": 5}]
    cs.req("POST", f"/{name}/t/-/insert", token=tok, json={"row": {"v": "again"}})
    assert cs.req("GET", f"/{name}/-/query.json", token=tok, params=q).json()["rows"] == [{"n": 6}]


def test_a_write_from_outside_to_a_served_file_invalidates(cs):
    n = count(cs, "served")
    assert count(cs, "served") == n
    c = sqlite3.connect(cs.served)
    c.execute("INSERT INTO t(v) VALUES ('outside')")
    c.commit()
    c.close()
    assert count(cs, "served") == n + 1


def test_no_answer_older_than_an_outside_commit_is_reused(cs):
    """Readers hammer a served file while another process commits to it: an
    answer read from a loop's snapshot must never be cached under a version
    newer than that snapshot, or a request made after a commit would get the
    rows from before it until the next commit. (A race: this catches a
    regression in some runs, never fails without one.)"""
    import http.client
    import json
    import threading
    path = "/served/t.json?_extra=count&_size=1"

    def get(h):
        h.request("GET", path)
        r = h.getresponse()
        assert r.status == 200
        return json.loads(r.read())["count"]

    stop = threading.Event()

    def reader():
        h = http.client.HTTPConnection(cs.host, cs.port, timeout=30)
        while not stop.is_set():
            get(h)

    threads = [threading.Thread(target=reader) for _ in range(8)]
    for t in threads:
        t.start()
    stale = []
    try:
        h = http.client.HTTPConnection(cs.host, cs.port, timeout=30)
        w = sqlite3.connect(cs.served)
        n = get(h)
        for i in range(400):
            w.execute("INSERT INTO t(v) VALUES ('race')")
            w.commit()
            n += 1
            got = [get(h) for _ in range(2)]
            stale += [(n, g) for g in got if g < n]
        w.close()
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not stale, f"answers older than a commit already made: {stale[:5]}"


def test_rights_stay_separate(cs):
    tok = cs.signin()
    name = owned_db(cs, tok)  # not public: only its owner and admins read it
    assert count(cs, name, tok) == 0
    assert count(cs, name, tok) == 0
    for token in (None, "atr_" + "x" * 43):
        r = cs.req("GET", f"/{name}/t.json", token=token, params={"_extra": "count", "_size": "1"})
        assert r.status_code in (401, 403, 404), r.text
        assert '"rows"' not in r.text
    # a user who may read the served database but not this one
    user = "u" + uuid.uuid4().hex[:6]
    assert cs.req("POST", f"/v1/users/{user}", token=tok, json={"password": "pw-pw-pw"}).status_code in (200, 201)
    ut = cs.signin(user, "pw-pw-pw")
    r = cs.req("GET", f"/{name}/t.json", token=ut, params={"_extra": "count", "_size": "1"})
    assert r.status_code in (403, 404) and '"rows"' not in r.text


def test_volatile_sql_is_never_reused(cs):
    q = {"sql": "select random() as r"}
    seen = {cs.req("GET", "/served/-/query.json", params=q).json()["rows"][0]["r"] for _ in range(3)}
    assert len(seen) == 3
    # a table page whose _where calls random(): each answer computed afresh
    pages = set()
    for _ in range(4):
        r = cs.req("GET", "/served/t.json", params={"_where": "random() % 2 = 0", "_col": "v", "_size": "max"})
        assert r.status_code == 200, r.text
        pages.add(tuple(x["id"] for x in r.json()["rows"]))
    assert len(pages) > 1
    q = {"sql": "select current_timestamp as now, datetime('now') as again"}
    a = cs.req("GET", "/served/-/query.json", params=q).json()["rows"]
    import time
    time.sleep(1.1)
    b = cs.req("GET", "/served/-/query.json", params=q).json()["rows"]
    assert a != b


def test_a_client_reads_its_own_writes_through_every_door(cs):
    tok = cs.signin()
    name = owned_db(cs, tok)
    for i in range(1, 16):
        r = cs.req("POST", f"/{name}/t/-/insert", token=tok, json={"row": {"id": i, "v": f"v{i}"}})
        assert r.status_code == 201, r.text
        assert cs.req("GET", f"/{name}/t/{i}.json", token=tok).json()["rows"] == [{"id": i, "v": f"v{i}"}]
        assert count(cs, name, tok) == i
        r = cs.req("POST", "/v1/query", token=tok, json={"databaseName": name, "transactionType": "read",
                                                         "query": f"SELECT v FROM t WHERE id = {i}"})
        assert r.status_code == 200 and f"v{i}" in r.text, r.text
        r = cs.req("POST", f"/dbs/{name}/sql", token=tok, json={"query": f"SELECT v FROM t WHERE id = {i}"})
        assert r.status_code == 200 and f"v{i}" in r.text, r.text
        r = cs.req("POST", f"/v1/database/{name}/sql", token=tok, data=f"SELECT v FROM t WHERE id = {i}")
        assert r.status_code == 200 and f"v{i}" in r.text, r.text


def test_the_cache_can_be_turned_off(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    s = Server(data, ["--cache-bytes", "0"])
    try:
        tok = s.signin()
        name = owned_db(s, tok)
        assert count(s, name, tok) == 0 and count(s, name, tok) == 0
        s.req("POST", f"/{name}/t/-/insert", token=tok, json={"row": {"v": "x"}})
        assert count(s, name, tok) == 1
    finally:
        assert s.stop() == 0
