"""Issue 8: bounded memory and fair time limits. Memory is read from the
server's own /proc status (VmHWM = peak RSS); nothing here times a request
against a threshold."""
import concurrent.futures
import time
import os

import pytest

from conftest import SLOW

SANITIZED = bool(os.environ.get("ATRIUM_SANITIZED"))


def peak_rss_mb(s):
    with open(f"/proc/{s.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0


@pytest.fixture
def big(fresh):
    s = fresh("--max-response-bytes", str(8 << 20), "--sql-time-limit-ms", str(5000 * SLOW))
    admin = s.signin()
    s.req("POST", "/v1/databases/big", token=admin)
    r = s.req("POST", "/v1/query", token=admin, json={
        "databaseName": "big", "transactionType": "schema",
        "query": "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)"})
    assert r.status_code == 200, r.text
    return s, admin


def test_huge_values_and_answers_are_refused_in_each_dialects_shape(big):
    s, admin = big
    base = peak_rss_mb(s)
    q = "select zeroblob(200000000)"
    r = s.req("POST", "/v1/database/big/sql", token=admin, data=q)
    assert r.status_code == 400, r.text
    r = s.req("GET", "/big/-/query.json", token=admin, params={"sql": q})
    assert r.status_code == 400 and r.json()["ok"] is False
    r = s.req("POST", "/dbs/big/sql", token=admin, json={"query": q})
    assert r.json()["errors"], r.text
    # a million TypeDB answers: over the response limit, a clear 400
    many = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 1000000) "
            "SELECT x, 'some text to make rows wider' AS pad FROM c")
    r = s.req("POST", "/v1/query", token=admin, json={
        "databaseName": "big", "transactionType": "read", "query": many,
        "queryOptions": {"answerCountLimit": 1000000}})
    assert r.status_code == 400 and r.json()["code"] == "TSV11", r.text[:300]
    assert "response limit" in r.json()["message"]
    # same through a transaction
    t = s.req("POST", "/v1/transactions/open", token=admin,
              json={"databaseName": "big", "transactionType": "read"}).json()["transactionId"]
    r = s.req("POST", f"/v1/transactions/{t}/query", token=admin,
              json={"query": many, "queryOptions": {"answerCountLimit": 1000000}})
    assert r.status_code == 400, r.text[:300]
    s.req("POST", f"/v1/transactions/{t}/close", token=admin)
    peak = peak_rss_mb(s)
    print(f"peak RSS after zeroblob(2e8) x3 + 1e6 answers x2: {peak:.1f} MB (before: {base:.1f})")
    if not SANITIZED:  # ASan's quarantine and redzones make RSS meaningless
        assert peak < 250, peak


def test_huge_insert_keeps_memory_bounded(big):
    s, admin = big
    base = peak_rss_mb(s)
    n = 2_000_000
    r = s.req("POST", "/dbs/big/sql", token=admin, json={
        "query": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < %d) "
                 "INSERT INTO t(v) SELECT 'row ' || x FROM c" % n})
    assert r.status_code == 200 and not r.json()["errors"], r.text
    assert r.json()["numChanges"] == n
    r = s.req("POST", "/v1/database/big/sql", token=admin,
              data="UPDATE t SET v = v || '!' WHERE id <= 300000")
    assert r.status_code == 200, r.text
    peak = peak_rss_mb(s)
    print(f"peak RSS after a {n}-row INSERT ... SELECT: {peak:.1f} MB (before: {base:.1f})")
    if not SANITIZED:
        assert peak < 300, peak
    r = s.req("GET", "/big/-/query.json", token=admin, params={"sql": "select count(*) as n from t"})
    assert r.json()["rows"][0]["n"] == n


def test_concurrent_scans_queue_outside_their_time_limit(fresh):
    s = fresh("--sql-time-limit-ms", str(60000 * SLOW))
    admin = s.signin()
    s.req("POST", "/v1/databases/scan", token=admin)
    s.req("POST", "/dbs/scan/sql", token=admin, json={"query": "CREATE TABLE t(a INTEGER)"})
    r = s.req("POST", "/dbs/scan/sql", token=admin,
              json={"query": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 1000000) "
                             "INSERT INTO t SELECT x FROM c"})
    assert r.status_code == 200 and not r.json()["errors"], r.text
    q = "select count(*) as n, sum(length(printf('%d-%d', a, a * a))) as s from t where a <= 400000"

    def one(limit_ms):
        return s.req("GET", "/scan/-/query.json", token=admin, params={"sql": q, "_timelimit": str(limit_ms)})
    # the limit is a few times one scan as this machine runs it now (no
    # fixed number of seconds): 32 scans on the database's 2 running slots
    # take about 16 scans' time in all, so only a limit that starts when
    # each scan starts lets them pass
    took = []
    for _ in range(3):
        t0 = time.monotonic()
        assert one(60000 * SLOW).status_code == 200
        took.append(time.monotonic() - t0)
    limit_ms = max(200, int(5 * 1000 * max(took)))
    with concurrent.futures.ThreadPoolExecutor(32) as ex:
        t0 = time.monotonic()
        rs = list(ex.map(one, [limit_ms] * 32))
        total = time.monotonic() - t0
    bad = [r.text for r in rs if r.status_code != 200]
    assert not bad, (limit_ms, bad[:2])
    print(f"# one scan {max(took):.3f} s, limit {limit_ms} ms, 32 at once {total:.3f} s")


LONG = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 5000000000) "
        "SELECT count(*) FROM c")


def long_read_request(s, token, db, timeout_ms=120000):
    import json
    body = json.dumps({"databaseName": db, "transactionType": "read", "query": LONG,
                       "transactionOptions": {"transactionTimeoutMillis": timeout_ms}}).encode()
    sock = s.raw_socket()
    sock.sendall(b"POST /v1/query HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token.encode() +
                 b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    return sock


def cpu_seconds(s):
    with open(f"/proc/{s.proc.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_client_disconnect_interrupts_its_read(fresh):
    s = fresh("--typedb-max-txn-timeout", "600")
    admin = s.signin()
    s.req("POST", "/v1/databases/slow", token=admin)
    # as many long reads as the database runs at once, then their clients leave
    socks = [long_read_request(s, admin, "slow") for _ in range(os.cpu_count() or 2)]
    import time
    time.sleep(0.5 * SLOW)
    for k in socks:
        k.close()
    # nothing computes for them any more: the server goes idle
    time.sleep(1)
    before = cpu_seconds(s)
    time.sleep(1)
    assert cpu_seconds(s) - before < 0.5
    # the slots are free again: a quick read of the same database is answered
    r = s.req("POST", "/v1/query", token=admin, json={
        "databaseName": "slow", "transactionType": "read", "query": "SELECT 1"})
    assert r.status_code == 200, r.text


def test_sigterm_interrupts_long_statements(fresh):
    import signal
    import time
    s = fresh("--typedb-max-txn-timeout", "600")
    admin = s.signin()
    s.req("POST", "/v1/databases/slow2", token=admin)
    one_shot = long_read_request(s, admin, "slow2")
    t = s.req("POST", "/v1/transactions/open", token=admin, json={
        "databaseName": "slow2", "transactionType": "read",
        "transactionOptions": {"transactionTimeoutMillis": 600000}}).json()["transactionId"]
    import json
    body = json.dumps({"query": LONG}).encode()
    in_txn = s.raw_socket()
    in_txn.sendall(f"POST /v1/transactions/{t}/query HTTP/1.1\r\nHost: x\r\n".encode() +
                   b"Authorization: Bearer " + admin.encode() +
                   b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    time.sleep(0.5 * SLOW)
    # the server's stop waits for neither statement past its grace period
    # (the fixture asserts exit code 0 within its stop timeout)
    assert s.stop(signal.SIGTERM) == 0
    one_shot.close()
    in_txn.close()


def test_waiting_transactions_take_no_threads(fresh):
    """Requests waiting in transactions' lines hold no pool thread: more of
    them than the pool has threads all wait, the pool serves everyone else
    meanwhile, and each gets the writer in turn once the one before commits."""
    s = fresh()
    admin = s.signin()
    s.req("POST", "/v1/databases/held", token=admin)
    hold = s.req("POST", "/v1/transactions/open", token=admin,
                 json={"databaseName": "held", "transactionType": "schema"}).json()["transactionId"]
    s.req("POST", f"/v1/transactions/{hold}/query", token=admin, json={"query": "CREATE TABLE x(a)"})
    n = 80  # more than the pool's 64 threads
    tids = [s.req("POST", "/v1/transactions/open", token=admin, json={
        "databaseName": "held", "transactionType": "write",
        "transactionOptions": {"schemaLockAcquireTimeoutMillis": 120000}}).json()["transactionId"]
        for _ in range(n)]

    def write_and_commit(i, t):
        r = s.req("POST", f"/v1/transactions/{t}/query", token=admin,
                  json={"query": f"INSERT INTO x VALUES ({i})"})
        if r.status_code != 200:
            return r
        return s.req("POST", f"/v1/transactions/{t}/commit", token=admin)
    import time
    import requests
    with concurrent.futures.ThreadPoolExecutor(n) as ex:
        futs = [ex.submit(write_and_commit, i, t) for i, t in enumerate(tids)]
        time.sleep(1.0 * SLOW)
        assert not any(f.done() for f in futs)  # all wait for the held writer
        # the pool still serves everyone else: a sign-in (Argon2id runs there)
        r = requests.post(s.url + "/v1/signin", json={"username": "admin", "password": "s3cret-admin"},
                          timeout=20 * SLOW)
        assert r.status_code == 200
        assert s.req("POST", f"/v1/transactions/{hold}/commit", token=admin).status_code == 200
        done = [f.result(timeout=60 * SLOW) for f in futs]
    assert all(r.status_code == 200 for r in done), [r.text for r in done if r.status_code != 200][:3]
    r = s.req("POST", "/v1/query", token=admin, json={
        "databaseName": "held", "transactionType": "read", "query": "SELECT count(*) AS n FROM x"})
    assert r.json()["answers"][0]["data"]["n"]["value"] == n


def test_closing_ends_waits_in_line(fresh):
    s = fresh()
    admin = s.signin()
    s.req("POST", "/v1/databases/held", token=admin)
    hold = s.req("POST", "/v1/transactions/open", token=admin,
                 json={"databaseName": "held", "transactionType": "schema"}).json()["transactionId"]
    t = s.req("POST", "/v1/transactions/open", token=admin, json={
        "databaseName": "held", "transactionType": "write",
        "transactionOptions": {"schemaLockAcquireTimeoutMillis": 60000}}).json()["transactionId"]

    def query():
        return s.req("POST", f"/v1/transactions/{t}/query", token=admin, json={"query": "SELECT 1"})
    import time
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        futs = [ex.submit(query) for _ in range(4)]  # one waits for the writer, three for their turn
        time.sleep(0.5 * SLOW)
        assert not any(f.done() for f in futs)
        assert s.req("POST", f"/v1/transactions/{t}/close", token=admin).status_code == 200
        codes = sorted((f.result(timeout=10 * SLOW).status_code, f.result().json()["code"]) for f in futs)
    # the one at the writer was interrupted by the close; the others find no transaction
    assert codes == [(400, "TSV13")] + [(404, "TSV12")] * 3, codes
    # the held writer was never given up
    assert s.req("POST", f"/v1/transactions/{hold}/commit", token=admin).status_code == 200


def test_datasette_table_pages_are_bounded_too(big):
    s, admin = big
    r = s.req("POST", "/v1/query", token=admin, json={
        "databaseName": "big", "transactionType": "write",
        "query": "INSERT INTO t(v) SELECT printf('%.*c', 3000000, 'x') FROM (SELECT 1 UNION SELECT 2 UNION SELECT 3)"})
    assert r.status_code == 200, r.text[:300]
    r = s.req("GET", "/big/t.json", token=admin)
    assert r.status_code == 400 and r.json()["ok"] is False
    assert "response limit" in r.json()["error"]
    # a page that fits is served (a page reads one row more than it shows)
    r = s.req("GET", "/big/t.json?_size=1", token=admin)
    assert r.status_code == 200 and len(r.json()["rows"]) == 1


def test_shutdown_is_not_held_by_an_idle_transaction(fresh):
    """A write queued behind an idle transaction's held writer: stopping the
    server rolls the transaction back, the write finishes, the server exits."""
    import threading
    s = fresh()
    admin = s.signin()
    s.req("POST", "/v1/databases/held", token=admin)
    s.req("POST", "/v1/transactions/open", token=admin, json={"databaseName": "held", "transactionType": "schema"})
    done = {}

    def queued():
        done["r"] = s.req("POST", "/v1/query", token=admin, json={
            "databaseName": "held", "transactionType": "schema", "query": "CREATE TABLE q(a)",
            "transactionOptions": {"schemaLockAcquireTimeoutMillis": 600000}})
    th = threading.Thread(target=queued)
    th.start()
    import time
    time.sleep(0.5 * SLOW)
    assert "r" not in done
    assert s.stop() == 0
    th.join(10 * SLOW)
    assert "r" in done
