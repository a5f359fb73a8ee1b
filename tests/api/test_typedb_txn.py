"""TypeDB-style interactive transactions (spec/typedb.md §4)."""
import threading
import time
import uuid

import pytest

from conftest import SLOW


@pytest.fixture
def env(server, admin):
    name = "tx" + uuid.uuid4().hex[:8]
    assert server.req("POST", f"/v1/databases/{name}", token=admin).status_code == 200
    r = server.req("POST", "/v1/query", token=admin, json={
        "databaseName": name, "transactionType": "schema",
        "query": "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT UNIQUE)"})
    assert r.status_code == 200
    return server, admin, name


def open_(env_, ttype, token=None, **opts):
    server, admin, name = env_
    body = {"databaseName": name, "transactionType": ttype}
    if opts:
        body["transactionOptions"] = opts
    return server.req("POST", "/v1/transactions/open", token=token or admin, json=body)


def tid(r):
    assert r.status_code == 200, r.text
    return r.json()["transactionId"]


def q(env_, t, sql, token=None, **kw):
    server, admin, _ = env_
    return server.req("POST", f"/v1/transactions/{t}/query", token=token or admin, json={"query": sql, **kw})


def op(env_, t, what, token=None):
    server, admin, _ = env_
    return server.req("POST", f"/v1/transactions/{t}/{what}", token=token or admin)


def one_shot(env_, sql, ttype="write"):
    server, admin, name = env_
    return server.req("POST", "/v1/query", token=admin,
                      json={"databaseName": name, "transactionType": ttype, "query": sql})


def count(env_):
    r = one_shot(env_, "SELECT count(*) AS n FROM t", "read")
    return r.json()["answers"][0]["data"]["n"]["value"]


def code(r):
    return r.status_code, r.json()["code"]


def test_open_shapes(env):
    for ttype in ("read", "write", "schema"):
        t = tid(open_(env, ttype))
        assert len(t) == 36 and t[14] == "4" and t == t.lower()
        assert op(env, t, "close").status_code == 200
    assert code(open_(env, "bogus")) == (400, "HSR2")
    server, admin, _ = env
    r = server.req("POST", "/v1/transactions/open", token=admin, json={"databaseName": "nope",
                                                                         "transactionType": "read"})
    assert code(r) == (404, "SRV3") and "[TSV21] Could not open transaction." in r.json()["message"]


def test_write_commit_and_closed_after(env):
    t = tid(open_(env, "write"))
    r = q(env, t, "INSERT INTO t(v) VALUES ('a'), ('b') RETURNING id")
    assert r.status_code == 200 and len(r.json()["answers"]) == 2 and r.json()["queryType"] == "write"
    assert count(env) == 0  # not visible before commit
    assert op(env, t, "commit").status_code == 200
    assert count(env) == 2
    assert code(q(env, t, "SELECT 1")) == (404, "TSV12")
    assert code(op(env, t, "commit")) == (404, "TSV12")
    assert op(env, t, "close").status_code == 200  # closing an unknown id is fine


def test_read_snapshot_isolation_and_read_rules(env):
    one_shot(env, "INSERT INTO t(v) VALUES ('x')")
    t = tid(open_(env, "read"))
    assert q(env, t, "SELECT count(*) AS n FROM t").json()["answers"][0]["data"]["n"]["value"] == 1
    one_shot(env, "INSERT INTO t(v) VALUES ('y')")
    assert q(env, t, "SELECT count(*) AS n FROM t").json()["answers"][0]["data"]["n"]["value"] == 1  # snapshot
    assert code(q(env, t, "DELETE FROM t")) == (400, "TSV9")  # leaves it open
    assert q(env, t, "SELECT 1 AS one").status_code == 200
    r = op(env, t, "commit")
    assert code(r) == (400, "TSV2") and "Read transactions cannot be committed" in r.json()["message"]
    assert code(q(env, t, "SELECT 1")) == (404, "TSV12")  # closed
    t = tid(open_(env, "read"))
    r = op(env, t, "rollback")
    assert code(r) == (400, "TSV3") and "Read transactions cannot be rolled back" in r.json()["message"]
    assert code(q(env, t, "SELECT 1")) == (404, "TSV12")


def test_rollback_keeps_write_transaction_open(env):
    t = tid(open_(env, "write"))
    q(env, t, "INSERT INTO t(v) VALUES ('gone')")
    assert op(env, t, "rollback").status_code == 200
    q(env, t, "INSERT INTO t(v) VALUES ('kept')")
    assert op(env, t, "commit").status_code == 200
    vals = one_shot(env, "SELECT v FROM t", "read").json()["answers"]
    assert [a["data"]["v"]["value"] for a in vals] == ["kept"]


def test_error_kinds(env):
    t = tid(open_(env, "write"))
    assert code(q(env, t, "CREATE TABLE x(a)")) == (400, "TSV8")      # stays open
    assert code(q(env, t, "SELEC 1"))[0] == 400                       # prepare error: stays open
    assert q(env, t, "INSERT INTO t(v) VALUES ('u')").status_code == 200
    r = q(env, t, "INSERT INTO t(v) VALUES ('u')")                    # execution error: closes
    assert code(r) == (400, "SQL2067") and "[TSV11] Query failed." in r.json()["message"]
    assert code(q(env, t, "SELECT 1")) == (404, "TSV12")
    assert count(env) == 0                                            # rolled back
    assert code(op(env, "not-a-uuid", "query")) == (400, "HSR7")
    assert code(op(env, str(uuid.uuid4()), "rollback")) == (404, "TSV12")
    assert code(op(env, str(uuid.uuid4()), "analyze")) == (501, "SRV1")


def test_schema_lock_waits_then_times_out(env):
    a = tid(open_(env, "schema"))
    t0 = time.time()
    r = open_(env, "schema", schemaLockAcquireTimeoutMillis=300)
    assert code(r) == (400, "TXN1") and "timeout" in r.json()["message"].lower()
    assert time.time() - t0 >= 0.25
    # A write transaction opens at once and waits at its first query, staying open.
    w = tid(open_(env, "write", schemaLockAcquireTimeoutMillis=200))
    assert code(q(env, w, "INSERT INTO t(v) VALUES ('w')")) == (400, "TXN1")
    assert op(env, a, "close").status_code == 200
    assert q(env, w, "INSERT INTO t(v) VALUES ('w')").status_code == 200
    assert op(env, w, "commit").status_code == 200
    assert count(env) == 1


def test_other_writes_queue_behind_a_held_writer(env):
    server, admin, name = env
    a = tid(open_(env, "schema"))
    done = {}

    def writer():
        done["r"] = server.req("POST", f"/dbs/{name}/sql", token=admin,
                               json={"query": "INSERT INTO t(v) VALUES ('queued')"})

    th = threading.Thread(target=writer)
    th.start()
    time.sleep(0.3)
    assert "r" not in done  # waiting for the writer
    q(env, a, "INSERT INTO t(v) VALUES ('first')")
    assert op(env, a, "commit").status_code == 200
    th.join(10 * SLOW)
    assert done["r"].status_code == 200 and done["r"].json()["errors"] == []
    assert count(env) == 2


def test_deadline_frees_the_writer(env):
    a = tid(open_(env, "schema", transactionTimeoutMillis=400))
    q(env, a, "INSERT INTO t(v) VALUES ('never')")
    time.sleep(0.8)
    assert code(q(env, a, "SELECT 1")) == (404, "TSV12")
    b = tid(open_(env, "schema", schemaLockAcquireTimeoutMillis=2000))  # the timer released the writer
    assert op(env, b, "commit").status_code == 200
    assert count(env) == 0  # the expired one was rolled back


def test_deadline_interrupts_running_query(env):
    t = tid(open_(env, "read", transactionTimeoutMillis=300))
    r = q(env, t, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c")
    assert code(r) == (408, "TSV17")
    assert code(q(env, t, "SELECT 1")) == (404, "TSV12")


def test_owner_only(env):
    server, admin, name = env
    u = "tu" + uuid.uuid4().hex[:6]
    server.req("POST", f"/v1/users/{u}", token=admin, json={"password": "pw"})
    ut = server.signin(u, "pw")
    # others' databases are not the user's to open (spec §2)
    assert open_(env, "write", token=ut).status_code == 404
    # on its own database it may; the transaction is still the user's alone
    server.req("POST", f"/v1/databases/{u}db", token=ut)
    r = server.req("POST", "/v1/transactions/open", token=ut, json={"databaseName": f"{u}db", "transactionType": "write"})
    t = tid(r)
    assert code(q(env, t, "SELECT 1", token=admin)) == (403, "SRV2")  # admin too
    assert code(op(env, t, "commit", token=admin)) == (403, "SRV2")
    assert q(env, t, "SELECT 1 AS one", token=ut).status_code == 200
    # A password change closes the user's transactions.
    server.req("PUT", f"/v1/users/{u}", token=admin, json={"password": "pw2"})
    ut2 = server.signin(u, "pw2")
    assert code(q(env, t, "SELECT 1", token=ut2)) == (404, "TSV12")


def test_delete_database_in_use(env):
    server, admin, name = env
    t = tid(open_(env, "read"))
    assert code(server.req("DELETE", f"/v1/databases/{name}", token=admin)) == (400, "DBD2")
    op(env, t, "close")
    assert server.req("DELETE", f"/v1/databases/{name}", token=admin).status_code == 200


def test_many_transactions_at_once(env):
    reads = [tid(open_(env, "read")) for _ in range(20)]
    writes = [tid(open_(env, "write")) for _ in range(5)]  # open at once: the writer is taken at a first query
    for t in reads:
        assert q(env, t, "SELECT 1 AS one").status_code == 200
    assert q(env, writes[0], "INSERT INTO t(v) VALUES ('w0')").status_code == 200
    for t in reads + writes:
        assert op(env, t, "close").status_code == 200


def test_server_clamps(fresh):
    s = fresh("--typedb-max-answers", "2", "--typedb-max-txn-timeout", "1")
    tok = s.signin()
    assert s.req("POST", "/v1/databases/c", token=tok).status_code == 200
    r = s.req("POST", "/v1/query", token=tok, json={
        "databaseName": "c", "transactionType": "read", "queryOptions": {"answerCountLimit": 10},
        "query": "WITH RECURSIVE x(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM x LIMIT 5) SELECT n FROM x"})
    assert r.status_code == 206 and len(r.json()["answers"]) == 2
    assert r.json()["warning"] == "Read query results limit (2) exceeded. Not all answers are returned."
    t = s.req("POST", "/v1/transactions/open", token=tok, json={
        "databaseName": "c", "transactionType": "read",
        "transactionOptions": {"transactionTimeoutMillis": 600000}}).json()["transactionId"]
    time.sleep(1.3)
    r = s.req("POST", f"/v1/transactions/{t}/query", token=tok, json={"query": "SELECT 1"})
    assert r.status_code == 404 and r.json()["code"] == "TSV12"
