"""Chaos: the server is killed with SIGKILL again and again while every door
writes at once (TypeDB one-shots and interactive transactions, Airsequel's
SQL endpoint, Datasette's insert API, SpacetimeDB's /sql). After each kill
every acknowledged row is there and integrity_check is ok.
ATRIUM_CHAOS_ROUNDS sets the number of kills (default 4)."""
import os
import signal
import threading
import time

import requests

from conftest import SLOW

ROUNDS = int(os.environ.get("ATRIUM_CHAOS_ROUNDS", "4"))


def write_one(sess, url, tok, door, rid):
    """Writes row rid through one door; True once the server acknowledged it."""
    h = {"Authorization": f"Bearer {tok}"}
    sql = f"INSERT INTO acks(id, door) VALUES ({rid}, '{door}')"
    if door == "typedb":
        r = sess.post(f"{url}/v1/query", headers=h, timeout=10,
                      json={"databaseName": "chaos", "transactionType": "write", "query": sql})
        return r.status_code == 200
    if door == "typedb_txn":
        r = sess.post(f"{url}/v1/transactions/open", headers=h, timeout=10,
                      json={"databaseName": "chaos", "transactionType": "write"})
        if r.status_code != 200:
            return False
        t = r.json()["transactionId"]
        if sess.post(f"{url}/v1/transactions/{t}/query", headers=h, json={"query": sql}, timeout=10).status_code != 200:
            return False
        return sess.post(f"{url}/v1/transactions/{t}/commit", headers=h, timeout=10).status_code == 200
    if door == "airsequel":
        r = sess.post(f"{url}/dbs/chaos/sql", headers=h, json={"query": sql}, timeout=10)
        return r.status_code == 200 and r.json()["errors"] == []
    if door == "datasette":
        r = sess.post(f"{url}/chaos/acks/-/insert", headers=h, json={"row": {"id": rid, "door": door}}, timeout=10)
        return r.status_code == 201
    if door == "stdb":
        r = sess.post(f"{url}/v1/database/chaos/sql", headers=h, data=sql, timeout=10)
        return r.status_code == 200
    raise AssertionError(door)


DOORS = ["typedb", "typedb_txn", "airsequel", "datasette", "stdb"]


def test_repeated_sigkill_under_writes_from_every_door(fresh):
    s = fresh()
    tok = s.signin()
    assert s.req("POST", "/v1/databases/chaos", token=tok).status_code == 200
    r = s.req("POST", "/dbs/chaos/sql", token=tok,
              json={"query": "CREATE TABLE acks(id INTEGER PRIMARY KEY, door TEXT NOT NULL)"})
    assert r.json()["errors"] == [], r.text
    acked = []
    lock = threading.Lock()
    next_id = [0]
    for rnd in range(ROUNDS):
        stop = threading.Event()

        def writer(k):
            sess = requests.Session()
            door = DOORS[k % len(DOORS)]
            while not stop.is_set():
                with lock:
                    next_id[0] += 1
                    rid = next_id[0]
                try:
                    ok = write_one(sess, s.url, tok, door, rid)
                except (requests.RequestException, ValueError):
                    return  # the server died under us: not acknowledged
                if ok:
                    with lock:
                        acked.append((rid, door))

        threads = [threading.Thread(target=writer, args=(k,)) for k in range(10)]
        for t in threads:
            t.start()
        time.sleep((0.8 + 0.3 * rnd) * SLOW)
        s.proc.send_signal(signal.SIGKILL)
        s.proc.wait()
        stop.set()
        for t in threads:
            t.join()
        s.proc.stdout.close()
        s.start()
        tok = s.signin()
        ids = [rid for rid, _ in acked]
        missing = []
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            rows = s.req("GET", "/chaos/-/query.json", token=tok, params={
                "sql": f"select id from acks where id in ({','.join(map(str, chunk))})", "_shape": "array"}).json()
            present = {row["id"] for row in rows}
            missing += [x for x in chunk if x not in present]
        assert missing == [], f"round {rnd}: {len(missing)} acknowledged rows lost, e.g. {missing[:5]}"
        ic = s.req("POST", "/dbs/chaos/sql", token=tok, json={"query": "PRAGMA integrity_check"}).json()
        assert ic["rows"] == [{"integrity_check": "ok"}], ic
    doors = {d for _, d in acked}
    assert doors == set(DOORS), f"some doors never got a write in: {set(DOORS) - doors}"
    assert len(acked) > 50 * ROUNDS, f"too few writes to mean anything: {len(acked)}"
    print(f"{ROUNDS} kills, {len(acked)} acknowledged writes, none lost")
