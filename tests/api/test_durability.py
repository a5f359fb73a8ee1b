"""Durability: an acknowledged write survives kill -9 (synchronous=FULL and
group commit), and concurrent writers lose nothing."""
import signal
import sqlite3
import threading
import time

import requests

from conftest import SLOW


def test_acknowledged_inserts_survive_sigkill(fresh):
    s = fresh()
    tok = s.signin()
    assert s.req("POST", "/v1/databases/durable", token=tok).status_code == 200
    r = s.req("POST", "/dbs/durable/sql", token=tok,
              json={"query": "CREATE TABLE acks(id INTEGER PRIMARY KEY, writer INT, payload TEXT)"})
    assert r.json()["errors"] == []
    acked, stop = [], threading.Event()
    lock = threading.Lock()

    def writer(k):
        sess = requests.Session()
        i = 0
        while not stop.is_set():
            rid = k * 1_000_000 + i
            i += 1
            try:
                r = sess.post(f"{s.url}/dbs/durable/sql", headers={"Authorization": f"Bearer {tok}"},
                              json={"query": f"INSERT INTO acks VALUES ({rid}, {k}, '{'x' * 200}')"}, timeout=10)
            except requests.RequestException:
                return  # the server died under us: this one was not acknowledged
            if r.status_code == 200 and r.json()["errors"] == []:
                with lock:
                    acked.append(rid)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    time.sleep(1.5 * SLOW)
    s.proc.send_signal(signal.SIGKILL)
    s.proc.wait()
    stop.set()
    for t in threads:
        t.join()
    s.proc.stdout.close()
    assert len(acked) > 100, f"too few writes to mean anything: {len(acked)}"
    s.start()
    got = s.req("POST", "/dbs/durable/sql", token=tok, json={"query": "SELECT count(*) AS n FROM acks"}).json()
    assert got["rows"][0]["n"] >= len(acked)
    missing = []
    # Check every acknowledged id, in chunks.
    for i in range(0, len(acked), 500):
        chunk = acked[i:i + 500]
        q = f"SELECT id FROM acks WHERE id IN ({','.join(map(str, chunk))})"
        rows = s.req("POST", "/dbs/durable/sql", token=tok, json={"query": q}).json()["rows"]
        present = {row["id"] for row in rows}
        missing += [x for x in chunk if x not in present]
    assert missing == []
    ic = s.req("POST", "/dbs/durable/sql", token=tok, json={"query": "PRAGMA integrity_check"}).json()
    assert ic["rows"] == [{"integrity_check": "ok"}]
