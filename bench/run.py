#!/usr/bin/python3
"""Atrium benchmarks: wrk on loopback against Atrium and against nginx
answering a static JSON body (the HTTP ceiling). Prints requests/s, p99
latency and server CPU per request (µs, from /proc), plus ratios. On a
2-core machine the load generator saturates first, so CPU per request is
the number to compare. Usage: bench/run.py [--duration S] [--connections N]"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ATRIUM = os.path.join(ROOT, "atrium")
CLK = os.sysconf("SC_CLK_TCK")
VERSION_BODY = '{"distribution":"Atrium","version":"0.1.0"}'


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def proc_tree(pid):
    pids = [pid]
    for p in list(pids):
        try:
            for t in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{t}/children") as f:
                    pids += [int(x) for x in f.read().split()]
        except FileNotFoundError:
            pass
    return pids


def cpu_seconds(pid):
    total = 0
    for p in proc_tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
        except FileNotFoundError:
            pass
    return total / CLK


def wait_port(port, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


def wrk(url, pid, args, headers=(), script=None, env=None, connections=None):
    cmd = ["wrk", "-t2", f"-c{connections or args.connections}", f"-d{args.duration}s", "--latency"]
    for h in headers:
        cmd += ["-H", h]
    if script:
        cmd += ["-s", os.path.join(ROOT, "bench", script)]
    run_env = dict(os.environ, **(env or {}))
    subprocess.run(cmd[:4] + ["-d1s"] + cmd[5:] + [url], capture_output=True, env=run_env)  # warm-up
    c0 = cpu_seconds(pid)
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True, env=run_env).stdout
    c1 = cpu_seconds(pid)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99 = float(m.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[m.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p99_ms": p99, "cpu_us": (c1 - c0) * 1e6 / max(total, 1),
            "non2xx": int(errors.group(1)) if errors else 0}


def start_nginx(tmp):
    port = free_port()
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""
worker_processes 2;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}; proxy_temp_path {tmp}; fastcgi_temp_path {tmp};
    uwsgi_temp_path {tmp}; scgi_temp_path {tmp};
    server {{
        listen 127.0.0.1:{port} reuseport;
        default_type application/json;
        location / {{ return 200 '{VERSION_BODY}'; }}
    }}
}}
""")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    p = subprocess.Popen([nginx, "-c", conf, "-p", tmp], stderr=subprocess.DEVNULL)
    wait_port(port)
    return p, port


def start_atrium(tmp, files=(), extra=()):
    env = dict(os.environ, ATRIUM_ADMIN_PASSWORD="bench-password")
    p = subprocess.Popen([ATRIUM, "serve", *files, "--data", os.path.join(tmp, "data"), "--port", "0",
                          "--quiet", "--threads", "2", *extra], stdout=subprocess.PIPE, text=True, env=env)
    while True:
        line = p.stdout.readline()
        m = re.search(r"listening on http://[\d.]+:(\d+)", line)
        if m:
            return p, int(m.group(1))
        if not line:
            raise RuntimeError("atrium did not start")


def make_fixture(path, rows=100000):
    import sqlite3
    c = sqlite3.connect(path)
    c.executescript("CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT, email TEXT, age INTEGER, score REAL);")
    c.executemany("INSERT INTO users VALUES (?, ?, ?, ?, ?)",
                  ((i, f"user{i}", f"user{i}@example.com", 18 + i % 60, (i * 7919) % 1000 / 10)
                   for i in range(1, rows + 1)))
    # full-text search over the e-mail addresses (every row holds "example")
    c.executescript("CREATE VIRTUAL TABLE users_fts USING fts5(email, content='users', content_rowid='id');"
                    "INSERT INTO users_fts(rowid, email) SELECT id, email FROM users;")
    c.commit()
    c.execute("PRAGMA journal_mode=WAL")
    c.close()


# the GraphQL twin of the Datasette filtered page (?_size=20&age__gt=50)
GRAPHQL_FILTERED = "{ users(where: {age: {_gt: 50}}, limit: 20) { id name email age score } }"

HEAVY = [("count, filtered (age > 50)", "/bench/users.json?_size=0&_extra=count&age__gt=50"),
         ("facet (age, 60 values)", "/bench/users.json?_size=0&_facet=age"),
         ("full-text search, 20 rows", "/bench/users.json?_search=example&_size=20")]


def heavy_cases(port, pid, args):
    return {name: wrk(f"http://127.0.0.1:{port}{path}", pid, args, connections=32) for name, path in HEAVY}


def api(port, method, path, token=None, body=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method, data=data, headers=headers)
    raw = urllib.request.urlopen(req).read()
    return json.loads(raw) if raw else None


def signin(port):
    return api(port, "POST", "/v1/signin", body={"username": "admin", "password": "bench-password"})["token"]


def insert_case(tmp, args, group, style="sql"):
    extra = () if group else ("--no-group-commit",)
    at, port = start_atrium(os.path.join(tmp, style + ("g" if group else "n")), extra=extra)
    try:
        token = signin(port)
        api(port, "POST", "/v1/databases/ins", token)
        api(port, "POST", "/dbs/ins/sql", token, {"query": "CREATE TABLE events(id INTEGER PRIMARY KEY, kind TEXT, n INT)"})
        r = wrk(f"http://127.0.0.1:{port}", at.pid, args, script="insert.lua", connections=32,
                env={"ATRIUM_BENCH_TOKEN": token, "ATRIUM_BENCH_DB": "ins", "ATRIUM_BENCH_STYLE": style})
        n = api(port, "POST", "/dbs/ins/sql", token, {"query": "SELECT count(*) AS n FROM events"})["rows"][0]["n"]
        r["rows_written"] = n
        return r
    finally:
        stop(at)


def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=15)
    except subprocess.TimeoutExpired:
        p.kill()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--connections", type=int, default=64)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="atrium-bench-")
    results = {}
    fixture = os.path.join(tmp, "bench.db")
    make_fixture(fixture)
    ng, ng_port = start_nginx(tmp)
    # the read path itself: the answer cache off, so every request computes
    at, at_port = start_atrium(tmp, files=[fixture], extra=("--cache-bytes", "0"))
    try:
        results["nginx static JSON"] = wrk(f"http://127.0.0.1:{ng_port}/", ng.pid, args)
        # the ceiling at the concurrency of the 32-connection cases too (fewer requests per
        # wake-up cost each more), once here and once at the end: its mean is their base
        nginx32 = [wrk(f"http://127.0.0.1:{ng_port}/", ng.pid, args, connections=32)]
        results["nginx static JSON (32 conns)"] = None  # (its place in the table; filled in below)
        results["atrium GET /health"] = wrk(f"http://127.0.0.1:{at_port}/health", at.pid, args)
        results["atrium GET /v1/version"] = wrk(f"http://127.0.0.1:{at_port}/v1/version", at.pid, args)
        req = urllib.request.Request(f"http://127.0.0.1:{at_port}/v1/signin", method="POST",
                                     data=json.dumps({"username": "admin", "password": "bench-password"}).encode())
        token = json.load(urllib.request.urlopen(req))["token"]
        results["atrium GET /v1/databases (token)"] = wrk(
            f"http://127.0.0.1:{at_port}/v1/databases", at.pid, args, [f"Authorization: Bearer {token}"])
        results["atrium point lookup (Datasette query)"] = wrk(
            f"http://127.0.0.1:{at_port}", at.pid, args, script="point.lua",
            env={"ATRIUM_BENCH_PATH": "/bench/-/query.json?sql=select+*+from+users+where+id%%3D%%3Aid&id=%d"})
        # Datasette's figures were taken at 32 connections: so are these.
        results["Datasette row page (32 conns)"] = wrk(
            f"http://127.0.0.1:{at_port}", at.pid, args, script="point.lua", connections=32,
            env={"ATRIUM_BENCH_PATH": "/bench/users/%d.json"})
        results["Datasette filtered page (32 conns)"] = wrk(
            f"http://127.0.0.1:{at_port}/bench/users.json?_size=20&age__gt=50", at.pid, args, connections=32)
        results["GraphQL filtered query, 20 rows (32)"] = wrk(
            f"http://127.0.0.1:{at_port}", at.pid, args, script="graphql.lua", connections=32,
            env={"ATRIUM_BENCH_TOKEN": token, "ATRIUM_BENCH_QUERY": GRAPHQL_FILTERED})
        results["Datasette table page, 100 rows (32)"] = wrk(
            f"http://127.0.0.1:{at_port}/bench/users.json", at.pid, args, connections=32)
        # the same point lookup through the three doors that take SQL
        for door, label in (("typedb", "TypeDB /v1/query lookup (32)"), ("airsequel", "Airsequel /sql lookup (32)"),
                            ("stdb", "SpacetimeDB /sql lookup (32)")):
            results[label] = wrk(f"http://127.0.0.1:{at_port}", at.pid, args, script="point_post.lua",
                                 connections=32, env={"ATRIUM_BENCH_DOOR": door, "ATRIUM_BENCH_TOKEN": token})
        heavy_miss = heavy_cases(at_port, at.pid, args)
        nginx32.append(wrk(f"http://127.0.0.1:{ng_port}/", ng.pid, args, connections=32))
        results["nginx static JSON (32 conns)"] = {
            k: sum(r[k] for r in nginx32) / len(nginx32) for k in ("rps", "p99_ms", "cpu_us", "non2xx")}
    finally:
        stop(at)
        stop(ng)
    # the heavy reads again with the answer cache on (the default): hits
    at, at_port = start_atrium(os.path.join(tmp, "cache"), files=[fixture])
    try:
        heavy = heavy_cases(at_port, at.pid, args)
    finally:
        stop(at)
    try:
        inserts = {"group commit on": insert_case(tmp, args, True),
                   "group commit off": insert_case(tmp, args, False),
                   "Datasette /-/insert, group commit on": insert_case(tmp, args, True, "datasette"),
                   "GraphQL insert mutation, group commit on": insert_case(tmp, args, True, "graphql")}
        engine = json.loads(subprocess.run([os.path.join(ROOT, "build", "bench", "engine_point"), fixture,
                                            "100000"], capture_output=True, text=True, check=True).stdout)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    base64 = results["nginx static JSON"]
    base32 = results["nginx static JSON (32 conns)"]

    def base(name):  # nginx at the same number of connections
        return base32 if "32" in name else base64
    print(f"\nwrk -t2 -c{args.connections} -d{args.duration}s on loopback (cases marked 32: -c32), "
          f"{os.cpu_count()} cores (answer cache off: the read path itself); each case against nginx at "
          f"the same number of connections\n")
    print(f"{'case':38} {'req/s':>10} {'p99 ms':>8} {'CPU µs/req':>11} {'req/s vs nginx':>15} {'CPU vs nginx':>13}")
    for name, r in results.items():
        print(f"{name:38} {r['rps']:10.0f} {r['p99_ms']:8.2f} {r['cpu_us']:11.1f} "
              f"{r['rps'] / base(name)['rps']:15.2f} {r['cpu_us'] / base(name)['cpu_us']:13.2f}"
              + (f"  ({r['non2xx']} non-2xx!)" if r["non2xx"] else ""))
    row, flt = results["Datasette row page (32 conns)"], results["Datasette filtered page (32 conns)"]
    print(f"\nCPU per request against nginx's static JSON at 32 connections (targets 1.5x, 2.5x): row page "
          f"{row['cpu_us'] / base32['cpu_us']:.2f}x, filtered page {flt['cpu_us'] / base32['cpu_us']:.2f}x "
          f"(against nginx at {args.connections}: {row['cpu_us'] / base64['cpu_us']:.2f}x, "
          f"{flt['cpu_us'] / base64['cpu_us']:.2f}x); the same lookup through the other doors: "
          + ", ".join(f"{k.split(' ')[0]} {results[k]['cpu_us'] / base32['cpu_us']:.2f}x"
                      for k in ("TypeDB /v1/query lookup (32)", "Airsequel /sql lookup (32)",
                                "SpacetimeDB /sql lookup (32)")))
    print(f"\nHeavy reads, 32 connections: the answer cache (a hit: nothing changed since) against computing "
          f"each time (--cache-bytes 0):")
    print(f"{'case':38} {'hit req/s':>10} {'hit CPU µs':>11} {'miss req/s':>11} {'miss CPU µs':>12} {'CPU ratio':>10}")
    for name, _ in HEAVY:
        h, m = heavy[name], heavy_miss[name]
        print(f"{name:38} {h['rps']:10.0f} {h['cpu_us']:11.1f} {m['rps']:11.0f} {m['cpu_us']:12.1f} "
              f"{m['cpu_us'] / h['cpu_us']:9.1f}x" + ("  (non-2xx!)" if h["non2xx"] or m["non2xx"] else ""))
    point = results["atrium point lookup (Datasette query)"]
    print(f"\nEngine ceiling (same lookup in-process, C loop): {engine['own_txn_ns'] / 1000:.2f} µs as its own "
          f"read transaction, {engine['shared_txn_ns'] / 1000:.2f} µs inside one open transaction")
    print(f"  server CPU per HTTP point lookup / in-process own-transaction lookup: "
          f"{point['cpu_us'] / (engine['own_txn_ns'] / 1000):.1f}x")
    print(f"\nSingle-row INSERTs (POST /dbs/DB/sql, or Datasette's /DB/T/-/insert), 32 connections, "
          f"synchronous=FULL:")
    print(f"{'case':38} {'req/s':>10} {'p99 ms':>8} {'CPU µs/req':>11} {'rows':>9}")
    for name, r in inserts.items():
        print(f"{name:38} {r['rps']:10.0f} {r['p99_ms']:8.2f} {r['cpu_us']:11.1f} {r['rows_written']:9d}"
              + (f"  ({r['non2xx']} non-2xx!)" if r["non2xx"] else ""))
    g, n = inserts["group commit on"], inserts["group commit off"]
    print(f"group commit speed-up: {g['rps'] / n['rps']:.1f}x")
    # Datasette 1.0 on this class of machine (issue 4's figures, 32 connections).
    datasette = [("Datasette row page", results["Datasette row page (32 conns)"], 620),
                 ("Datasette filtered page", results["Datasette filtered page (32 conns)"], 340),
                 ("Datasette /-/insert", inserts["Datasette /-/insert, group commit on"], 210)]
    gq, ds = results["GraphQL filtered query, 20 rows (32)"], results["Datasette filtered page (32 conns)"]
    gi, di = inserts["GraphQL insert mutation, group commit on"], inserts["Datasette /-/insert, group commit on"]
    print(f"\nGraphQL against the same work through Datasette (CPU per request; target 1.5x): filtered query "
          f"{gq['cpu_us'] / ds['cpu_us']:.2f}x, insert mutation {gi['cpu_us'] / di['cpu_us']:.2f}x")
    print(f"\nAgainst Datasette 1.0 (req/s it serves here; goal 100x):")
    for name, r, base_rps in datasette:
        print(f"{name:38} {r['rps']:10.0f} vs {base_rps:5d}  = {r['rps'] / base_rps:6.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
