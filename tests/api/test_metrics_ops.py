"""/metrics (the Prometheus text exposition, read by a strict parser) and
/-/operations (progress of long work: uploads, imports, copies, VACUUM)."""
import math
import re
import threading
import time

import pytest
import requests

from conftest import SLOW, uid, as_user

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def parse_value(v):
    if v in ("+Inf", "Inf"):
        return math.inf
    if v == "-Inf":
        return -math.inf
    if v == "NaN":
        return math.nan
    assert re.fullmatch(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?", v), f"bad value {v!r}"
    return float(v)


def parse_labels(s):
    """'a="x",b="y\\"z"' -> [("a", "x"), ("b", 'y"z')], strictly."""
    out, i = [], 0
    while i < len(s):
        m = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)=\"").match(s, i)
        assert m, f"bad label at {s[i:]!r}"
        name, i, val = m.group(1), m.end(), []
        while True:
            assert i < len(s), f"unterminated label value in {s!r}"
            c = s[i]
            if c == "\\":
                nxt = s[i + 1]
                assert nxt in '\\"n', f"bad escape \\{nxt} in {s!r}"
                val.append({"\\": "\\", '"': '"', "n": "\n"}[nxt])
                i += 2
            elif c == '"':
                i += 1
                break
            else:
                assert c != "\n"
                val.append(c)
                i += 1
        out.append((name, "".join(val)))
        if i < len(s):
            assert s[i] == ",", f"expected ',' in {s!r}"
            i += 1
    return out


def parse(text):
    """A strict reader of the text format 0.0.4: returns {family: {"type", "help", "samples": [(name, labels, value)]}}.
    Fails on: a sample before its family's TYPE, HELP/TYPE twice, a family's samples split apart, a
    duplicate series, bad names/labels/escapes/values, histograms whose buckets are not cumulative
    or whose +Inf bucket differs from _count."""
    assert text.endswith("\n")
    fams, order, current = {}, [], None
    seen = set()
    for line in text.split("\n")[:-1]:
        assert line.strip() == line and line, f"stray whitespace or empty line: {line!r}"
        if line.startswith("#"):
            m = re.fullmatch(r"# (HELP|TYPE) (\S+) ?(.*)", line)
            assert m, f"bad comment line {line!r}"
            kind, name, rest = m.groups()
            assert NAME.match(name), name
            f = fams.setdefault(name, {"type": None, "help": None, "samples": []})
            if name not in order:
                order.append(name)
            assert not f["samples"], f"{kind} for {name} after its samples"
            if kind == "HELP":
                assert f["help"] is None, f"HELP twice for {name}"
                assert not re.search(r"\\[^\\n]", rest), f"bad escape in HELP {rest!r}"
                f["help"] = rest
            else:
                assert f["type"] is None, f"TYPE twice for {name}"
                assert rest in TYPES, rest
                f["type"] = rest
            current = name
            continue
        m = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)", line)
        assert m, f"bad sample line {line!r}"
        name, labels, value = m.group(1), parse_labels(m.group(2) or ""), parse_value(m.group(3))
        assert current is not None, f"sample {name} before any TYPE"
        f = fams[current]
        base = current
        suffixes = ("_bucket", "_sum", "_count") if f["type"] == "histogram" else ("",)
        assert any(name == base + s for s in suffixes), f"sample {name} inside family {base}"
        names = [k for k, _ in labels]
        assert len(set(names)) == len(names), f"label repeated in {line!r}"
        assert all(LABEL.match(k) and not k.startswith("__") for k in names)
        if "le" in names:
            assert name.endswith("_bucket"), f"le outside a bucket: {line!r}"
        key = (name, tuple(sorted(labels)))
        assert key not in seen, f"duplicate series {line!r}"
        seen.add(key)
        f["samples"].append((name, dict(labels), value))
    for name, f in fams.items():
        assert f["type"] and f["help"] is not None, f"{name} lacks TYPE or HELP"
        if f["type"] == "counter":
            assert name.endswith("_total"), f"counter {name} should end in _total"
            assert all(v >= 0 for _, _, v in f["samples"])
        if f["type"] == "histogram":
            check_histogram(name, f["samples"])
    return fams


def check_histogram(name, samples):
    groups = {}
    for n, labels, v in samples:
        rest = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
        g = groups.setdefault(rest, {"buckets": [], "sum": None, "count": None})
        if n.endswith("_bucket"):
            g["buckets"].append((parse_value(labels["le"]), v))
        elif n.endswith("_sum"):
            g["sum"] = v
        else:
            g["count"] = v
    assert groups, f"histogram {name} without series"
    for rest, g in groups.items():
        les = [le for le, _ in g["buckets"]]
        assert les == sorted(les) and len(set(les)) == len(les), f"{name}{rest}: le not ascending"
        assert les[-1] == math.inf, f"{name}{rest}: no +Inf bucket"
        counts = [c for _, c in g["buckets"]]
        assert all(a <= b for a, b in zip(counts, counts[1:])), f"{name}{rest}: buckets not cumulative"
        assert g["sum"] is not None and g["count"] is not None, f"{name}{rest}: _sum or _count missing"
        assert g["count"] == counts[-1], f"{name}{rest}: _count differs from the +Inf bucket"


def scrape(server, token):
    r = server.req("GET", "/metrics", token=token)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse(r.text)


def value(fams, family, sample=None, **labels):
    total = 0.0
    for n, l, v in fams.get(family, {"samples": []})["samples"]:
        if (sample or family) == n and all(l.get(k) == x for k, x in labels.items()):
            total += v
    return total


def test_parser_refuses_what_it_should():
    good = "# HELP a_total x\n# TYPE a_total counter\na_total{k=\"v\"} 1\n"
    parse(good)
    for bad in (good + "a_total{k=\"v\"} 2\n",                            # duplicate series
                "# TYPE a_total counter\na_total 1\n",                     # no HELP
                "# HELP a x\n# TYPE a counter\na 1\n",                     # counter without _total
                good.replace('"v"', '"v\\q"'),                             # bad escape
                "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
                "h_sum 1\nh_count 1\n",                                     # not cumulative
                "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n",  # count != +Inf
                "# HELP b x\n# TYPE b gauge\nb 1\n# HELP c x\n# TYPE c gauge\nc 1\nb 2\n"):   # family split
        with pytest.raises(AssertionError):
            parse(bad)


def test_metrics_is_the_admins(server, admin):
    assert server.req("GET", "/metrics").status_code == 401
    assert server.req("GET", "/metrics", token="atr_notatoken").status_code == 401
    _, tok = as_user(server, admin)
    r = server.req("GET", "/metrics", token=tok)
    assert r.status_code == 403 and r.json()["status"] == 403
    fams = scrape(server, admin)
    assert all(name.startswith("atrium_") for name in fams)
    assert value(fams, "atrium_build_info", version="0.1.0") == 1


def test_counters_move(server, admin):
    db = uid("met")
    assert server.req("POST", f"/v1/databases/{db}", token=admin).status_code == 200
    r = server.req("POST", "/v1/query", token=admin, json={
        "databaseName": db, "transactionType": "schema",
        "query": "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)"})
    assert r.status_code == 200, r.text
    before = scrape(server, admin)
    n = 7
    for i in range(n):
        r = server.req("POST", f"/{db}/t/-/insert", token=admin, json={"row": {"v": f"x{i}"}})
        assert r.status_code == 201, r.text
        assert server.req("GET", f"/{db}/t/{i + 1}.json", token=admin).status_code == 200
    server.req("GET", "/v1/databases", token="atr_" + "x" * 43)  # a token nobody issued
    after = scrape(server, admin)

    def delta(family, sample=None, **labels):
        return value(after, family, sample, **labels) - value(before, family, sample, **labels)
    # one line per route pattern, never per path
    assert delta("atrium_http_requests_total", dialect="datasette", route="/*", status="200") == n
    assert delta("atrium_http_requests_total", dialect="datasette", route="/*", status="201") == n
    assert not any(db in l.get("route", "") for _, l, _ in after["atrium_http_requests_total"]["samples"])
    assert delta("atrium_http_request_duration_seconds", "atrium_http_request_duration_seconds_count",
                 dialect="datasette", route="/*") == 2 * n
    assert delta("atrium_commit_batch_jobs", "atrium_commit_batch_jobs_count") >= 1
    assert delta("atrium_commit_batch_jobs", "atrium_commit_batch_jobs_sum") >= n
    assert delta("atrium_commit_duration_seconds", "atrium_commit_duration_seconds_count") >= 1
    assert delta("atrium_fsync_duration_seconds", "atrium_fsync_duration_seconds_count") >= n  # FULL sync: each commit
    assert delta("atrium_sql_statements_total", kind="read") >= n
    assert delta("atrium_auth_failures_total", reason="invalid_token") == 1
    # per-database series, for the admin
    assert value(after, "atrium_database_commits_total", db=db) >= n + 1
    assert value(after, "atrium_database_size_bytes", db=db) > 0
    assert value(after, "atrium_databases") >= 1
    assert value(after, "atrium_process_resident_memory_bytes") > 1e6
    assert value(after, "atrium_process_threads") >= 3
    assert value(after, "atrium_http_connections") >= 1


def test_scrapes_during_load_stay_well_formed(server, admin):
    stop = threading.Event()

    def load():
        s = requests.Session()
        while not stop.is_set():
            s.get(server.url + "/health", timeout=30 * SLOW)
    threads = [threading.Thread(target=load) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for _ in range(15):
            scrape(server, admin)  # histograms stay cumulative, _count equals +Inf while counts move
    finally:
        stop.set()
        for t in threads:
            t.join()


def test_public_metrics_name_no_database(fresh):
    s = fresh("--metrics-public")
    admin = s.signin()
    db = uid("secretdb")
    assert s.req("POST", f"/v1/databases/{db}", token=admin).status_code == 200
    r = s.req("GET", "/metrics")
    assert r.status_code == 200
    fams = parse(r.text)
    assert "atrium_http_requests_total" in fams
    assert db not in r.text and not any(n.startswith("atrium_database_") for n in fams)
    assert db in s.req("GET", "/metrics", token=admin).text


def test_websockets_subscriptions_and_fanout_are_counted(server, admin):
    import asyncio
    import json
    import websockets
    db = uid("wsm")
    assert server.req("POST", f"/v1/databases/{db}", token=admin).status_code == 200
    assert server.req("POST", "/v1/query", token=admin, json={
        "databaseName": db, "transactionType": "schema",
        "query": "CREATE TABLE p(id INTEGER PRIMARY KEY, name TEXT)"}).status_code == 200
    before = scrape(server, admin)
    proto = "v1.json.spacetimedb"
    during = {}

    async def go():
        ws = await websockets.connect(f"ws://{server.host}:{server.port}/v1/database/{db}/subscribe",
                                      subprotocols=[proto], extra_headers={"Authorization": f"Bearer {admin}"},
                                      open_timeout=10 * SLOW)
        await asyncio.wait_for(ws.recv(), 10 * SLOW)  # IdentityToken
        await ws.send(json.dumps({"Subscribe": {"query_strings": ["SELECT * FROM p"], "request_id": 1}}))
        await asyncio.wait_for(ws.recv(), 10 * SLOW)  # InitialSubscription
        loop = asyncio.get_running_loop()
        r = await loop.run_in_executor(None, lambda: server.req("POST", f"/{db}/p/-/insert", token=admin,
                                                                 json={"row": {"id": 1, "name": "a"}}))
        assert r.status_code == 201
        await asyncio.wait_for(ws.recv(), 10 * SLOW)  # TransactionUpdate
        during["m"] = await loop.run_in_executor(None, lambda: scrape(server, admin))
        await ws.close()
    asyncio.run(go())
    m = during["m"]
    assert value(m, "atrium_websocket_messages_total", protocol=proto, direction="in") - \
        value(before, "atrium_websocket_messages_total", protocol=proto, direction="in") == 1
    assert value(m, "atrium_websocket_messages_total", protocol=proto, direction="out") - \
        value(before, "atrium_websocket_messages_total", protocol=proto, direction="out") == 3
    assert value(m, "atrium_websocket_bytes_total", protocol=proto, direction="out") > \
        value(before, "atrium_websocket_bytes_total", protocol=proto, direction="out")
    assert value(m, "atrium_subscriptions") - value(before, "atrium_subscriptions") == 1
    assert value(m, "atrium_fanout_duration_seconds", "atrium_fanout_duration_seconds_count") > \
        value(before, "atrium_fanout_duration_seconds", "atrium_fanout_duration_seconds_count")
    # the subscription goes with its socket
    deadline = time.time() + 10 * SLOW
    while value(scrape(server, admin), "atrium_subscriptions") != value(before, "atrium_subscriptions"):
        assert time.time() < deadline, "the closed socket's subscription is still counted"
        time.sleep(0.05)


# ---- /-/operations ----------------------------------------------------------------

def upload(server, tok, filename, content, **fields):
    return requests.post(server.url + "/dbs", headers={"Authorization": f"Bearer {tok}"},
                         files={"file": (filename, content, "text/csv")}, data=fields, timeout=300 * SLOW)


def ops(server, tok):
    r = server.req("GET", "/-/operations", token=tok)
    assert r.status_code == 200, r.text
    assert r.headers["Cache-Control"] == "no-store"
    return r.json()["operations"]


def test_an_upload_reports_its_phases_and_ends(server, admin):
    name, tok = as_user(server, admin)
    other, other_tok = as_user(server, admin)
    db = uid("up")
    csv = "id,name\n" + "".join(f"{i},n{i}\n" for i in range(5000))
    r = upload(server, tok, "people.csv", csv, name=db)
    assert r.status_code == 200, r.text
    mine = [o for o in ops(server, tok) if o["kind"] == "upload" and o["database"] == db]
    assert len(mine) == 1, ops(server, tok)
    o = mine[0]
    assert o["state"] == "done" and o["phase"] == "done" and o["error"] is None
    assert o["unit"] == "bytes" and o["total"] == len(csv) and o["done"] == o["total"] and o["fraction"] == 1
    assert o["cancellable"] is False and o["eta_ms"] is None and o["elapsed_ms"] >= 0
    # another user does not see it (the database is private); the admin does
    assert not [x for x in ops(server, other_tok) if x["id"] == o["id"]]
    assert [x for x in ops(server, admin) if x["id"] == o["id"]]
    assert not [x for x in ops(server, None) if x["id"] == o["id"]]
    # it has ended: no cancelling it; others cannot even find it
    assert server.req("DELETE", f"/-/operations/{o['id']}", token=tok).status_code == 409
    assert server.req("DELETE", f"/-/operations/{o['id']}", token=other_tok).status_code == 404
    for bad in ("0", "abc", "99999999", "1e3", "-1"):
        assert server.req("DELETE", f"/-/operations/{bad}", token=tok).status_code == 404


def test_download_vacuum_and_failures_are_operations(server, admin):
    db = uid("dl")
    assert server.req("POST", f"/v1/databases/{db}", token=admin).status_code == 200
    r = server.req("POST", "/v1/query", token=admin, json={
        "databaseName": db, "transactionType": "schema",
        "query": "CREATE TABLE t(x); INSERT INTO t VALUES (zeroblob(300000))"})
    assert r.status_code == 200, r.text
    body = server.req("GET", f"/dbs/{db}/download", token=admin).content
    assert body.startswith(b"SQLite format 3")
    assert server.req("POST", f"/api/dbs/{db}/vacuum", token=admin).status_code == 200
    mine = {o["kind"]: o for o in ops(server, admin) if o["database"] == db}
    assert mine["download"]["state"] == "done" and mine["download"]["total"] == len(body)
    assert mine["download"]["unit"] == "bytes" and mine["download"]["done"] == len(body)
    assert mine["vacuum"]["state"] == "done"
    # a refused upload is a failed operation, with its reason
    r = upload(server, admin, "bad.csv", "a,b\n1,2,3\n", name=uid("bad"))
    assert r.status_code == 400
    failed = [o for o in ops(server, admin) if o["kind"] == "upload" and o["state"] == "failed"]
    assert failed and "malformed" in failed[0]["error"]
    fams = scrape(server, admin)
    assert value(fams, "atrium_operations_total", kind="download", outcome="done") >= 1
    assert value(fams, "atrium_operations_total", kind="upload", outcome="failed") >= 1


def test_a_running_import_can_be_cancelled(server, admin):
    name, tok = as_user(server, admin)
    db = uid("big")
    row = "1,some text that makes the file large enough to take a while,3.25\n"
    csv = "a,b,c\n" + row * (60 * 1024 * 1024 // len(row))
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("r", upload(server, tok, "big.csv", csv, name=db)))
    t.start()
    cancelled = None
    deadline = time.time() + 120 * SLOW
    while time.time() < deadline and cancelled is None and t.is_alive():
        for o in ops(server, tok):
            if o["kind"] == "upload" and o["state"] == "running" and o["cancellable"]:
                assert 0 <= o["done"] <= (o["total"] or o["done"])
                r = server.req("DELETE", f"/-/operations/{o['id']}", token=tok)
                assert r.status_code == 202, r.text
                cancelled = o["id"]
        time.sleep(0.005)
    t.join()
    assert cancelled is not None, "the upload ended before it was seen running"
    assert result["r"].status_code in (400, 409), result["r"].text
    assert "cancelled" in result["r"].text
    o = [x for x in ops(server, tok) if x["id"] == cancelled][0]
    assert o["state"] == "cancelled"
    # nothing of it stays
    assert server.req("GET", f"/v1/databases/{db}", token=admin).status_code == 404


def test_a_csv_export_reports_rows_and_can_be_cancelled(server, admin):
    db = uid("ex")
    assert server.req("POST", f"/v1/databases/{db}", token=admin).status_code == 200
    r = server.req("POST", "/v1/query", token=admin, json={
        "databaseName": db, "transactionType": "schema",
        "query": "CREATE TABLE t(id INTEGER PRIMARY KEY, pad TEXT);"
                 "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 12000)"
                 " INSERT INTO t SELECT i, hex(zeroblob(1000)) FROM n"})
    assert r.status_code == 200, r.text
    # a whole export: done, with every row counted
    body = server.req("GET", f"/api/dbs/{db}/tables/t/export", token=admin).content
    assert body.count(b"\r\n") == 12001
    done = [o for o in ops(server, admin) if o["kind"] == "export" and o["database"] == db]
    assert len(done) == 1 and done[0]["state"] == "done" and done[0]["done"] == 12000, done
    assert done[0]["unit"] == "rows" and done[0]["error"] is None
    # a client that stops reading holds the export at a page; cancelling ends the stream there
    s = requests.get(server.url + f"/api/dbs/{db}/tables/t/export", headers={"Authorization": f"Bearer {admin}"},
                     stream=True, timeout=60 * SLOW)
    assert s.status_code == 200
    first = s.raw.read(4096)
    running = []
    for _ in range(100):
        running = [o for o in ops(server, admin) if o["kind"] == "export" and o["state"] == "running"]
        if running:
            break
        time.sleep(0.05)
    assert len(running) == 1, ops(server, admin)
    assert running[0]["phase"] == "writing CSV" and running[0]["total"] is None and running[0]["cancellable"] is True
    assert server.req("DELETE", f"/-/operations/{running[0]['id']}", token=admin).status_code == 202
    rest = s.raw.read()
    assert (first + rest).count(b"\r\n") < 12001
    ended = [o for o in ops(server, admin) if o["id"] == running[0]["id"]]
    assert ended[0]["state"] == "cancelled" and ended[0]["error"] == "stopped before the end of the table", ended
