#!/usr/bin/python3
"""SpacetimeDB-style benchmarks: durable reducer calls (synchronous=FULL,
group commit) through HTTP (wrk, 32 connections) and through the WebSocket
(32 sessions, 16 calls in flight each; v1.json and v2.bsatn), and fan-out latency from a commit to
its receipt by 1,000 subscribers of one table (p50/p99), beside the
machine's floor for delivering as many messages over loopback TCP. The WebSocket
clients are Python (python3-websockets), so on a 2-core machine they share
the CPU with the server: their figures are lower bounds for the server.
Usage: bench/stdb.py [--duration S] [--subscribers N]"""
import argparse
import asyncio
import json
import multiprocessing
import os
import subprocess
import shutil
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as common  # noqa: E402

MODULE = """
atrium.table("ev", { public = true, { "id", "i64", primary_key = true, auto_inc = true }, { "n", "i64", index = true } })
atrium.reducer("add", { { "n", "i64" } }, function(ctx, n) db.ev:insert{ n = n } end)
"""


def publish(port, token):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/database/b", method="POST", data=MODULE.encode(),
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "text/x-lua"})
    urllib.request.urlopen(req).read()


def count(port, token):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/database/b/sql", method="POST",
                                 data=b"SELECT count(*) FROM ev", headers={"Authorization": f"Bearer {token}"})
    return json.loads(urllib.request.urlopen(req).read())[0]["rows"][0][0]["some"]


async def ws_calls(port, token, sessions, window, seconds, binary=False):
    """Reducer calls over the WebSocket, v1.json or v2.bsatn; how many committed."""
    import struct
    import websockets
    url = f"ws://127.0.0.1:{port}/v1/database/b/subscribe"
    headers = {"Authorization": f"Bearer {token}"}
    done = 0
    stop_at = time.time() + seconds
    proto = "v2.bsatn.spacetimedb" if binary else "v1.json.spacetimedb"

    async def session():
        nonlocal done
        ws = await websockets.connect(url, subprotocols=[proto], extra_headers=headers, max_size=None)
        await ws.recv()  # IdentityToken / InitialConnection
        sent = 0

        async def call():
            nonlocal sent
            sent += 1
            if binary:  # CallReducer{request_id, flags, "add", args = (i64)}
                await ws.send(struct.pack("<BIBI", 3, sent, 0, 3) + b"add" + struct.pack("<Iq", 8, sent))
            else:
                await ws.send(json.dumps({"CallReducer": {"reducer": "add", "args": f"[{sent}]", "request_id": sent,
                                                          "flags": 0}}))
        for _ in range(window):
            await call()
        while time.time() < stop_at:
            m = await ws.recv()
            if binary:
                if m[1] == 6 and m[14] == 0:  # ReducerResult … Ok
                    done += 1
            elif "Committed" in json.loads(m).get("TransactionUpdate", {}).get("status", {}):
                done += 1
            await call()
        await ws.close()
    await asyncio.gather(*(session() for _ in range(sessions)))
    return done


def fanout_worker(port, token, n, ready, go, out):
    async def main():
        import websockets
        url = f"ws://127.0.0.1:{port}/v1/database/b/subscribe"
        headers = {"Authorization": f"Bearer {token}"}
        conns = []
        for _ in range(n):
            ws = await websockets.connect(url, subprotocols=["v1.json.spacetimedb"], extra_headers=headers,
                                          max_size=None)
            await ws.recv()
            await ws.send(json.dumps({"SubscribeSingle": {"query": "SELECT * FROM ev WHERE n < 0", "request_id": 1,
                                                          "query_id": {"id": 1}}}))
            await ws.recv()
            conns.append(ws)
        ready.set()
        lat = []

        async def listen(ws):
            while True:
                msg = await ws.recv()
                t = time.time()
                m = json.loads(msg)
                if "TransactionUpdate" in m:
                    lat.append((t, m["TransactionUpdate"]["timestamp"]["__timestamp_micros_since_unix_epoch__"] / 1e6))
        tasks = [asyncio.ensure_future(listen(ws)) for ws in conns]
        while not go.is_set():
            await asyncio.sleep(0.05)
        await asyncio.sleep(0)
        # the parent writes; we collect for a while
        end = time.time() + 30
        while time.time() < end and not out.get("stop"):
            await asyncio.sleep(0.1)
            if len(lat) >= out["expect"] * n:
                break
        for t in tasks:
            t.cancel()
        out[f"w{os.getpid()}"] = lat
    asyncio.run(main())


def fanout(port, token, subscribers, writes):
    procs = 4
    per = subscribers // procs
    mgr = multiprocessing.Manager()
    out = mgr.dict()
    out["expect"] = writes
    go = mgr.Event()
    readies = []
    ps = []
    for _ in range(procs):
        ev = mgr.Event()
        p = multiprocessing.Process(target=fanout_worker, args=(port, token, per, ev, go, out))
        p.start()
        ps.append(p)
        readies.append(ev)
    for ev in readies:
        ev.wait(120)
    go.set()
    time.sleep(0.5)
    sent = []
    for i in range(writes):
        body = f"INSERT INTO ev(n) VALUES (-{i + 1})".encode()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/database/b/sql", method="POST", data=body,
                                     headers={"Authorization": f"Bearer {token}"})
        t0 = time.time()
        urllib.request.urlopen(req).read()
        t1 = time.time()
        sent.append((t0, t1))
        time.sleep(0.1)  # each write's fan-out alone
    for p in ps:
        p.join(60)
    lats, formed = [], []
    for k, v in out.items():
        if not k.startswith("w"):
            continue
        for t, stamp in v:
            # attribute each receipt to the latest write sent before it
            t0 = max((s for s, _ in sent if s <= t), default=None)
            if t0 is not None:
                lats.append((t - t0) * 1000)
                formed.append((stamp - t0) * 1000)
    lats.sort()
    formed.sort()
    if not lats:
        return None

    def pct(xs, q):
        return xs[min(len(xs) - 1, int(len(xs) * q))]
    return {"p50": pct(lats, 0.5), "p99": pct(lats, 0.99), "n": len(lats),
            "f50": pct(formed, 0.5), "f99": pct(formed, 0.99),
            "expected": per * procs * writes, "write_ms": sorted((b - a) * 1000 for a, b in sent)[len(sent) // 2]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--subscribers", type=int, default=1000)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--python-fanout", action="store_true", help="also measure fan-out with Python clients")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="atrium-bench-stdb-")
    try:
        at, port = common.start_atrium(tmp, extra=("--max-connections", "20000"))
        try:
            token = common.signin(port)
            publish(port, token)
            http = common.wrk(f"http://127.0.0.1:{port}", at.pid, args, script="reducer.lua", connections=32,
                              env={"ATRIUM_BENCH_TOKEN": token})
            calls = {}
            for binary in (False, True):
                n0 = count(port, token)
                c0 = common.cpu_seconds(at.pid)
                t0 = time.time()
                done = asyncio.run(ws_calls(port, token, 32, 16, args.duration, binary))
                secs = time.time() - t0
                cpu = (common.cpu_seconds(at.pid) - c0) * 1e6 / max(done, 1)
                calls[binary] = (done / secs, cpu, count(port, token) - n0)
            fan = None
            fans = {}
            for proto in ("json", "v2"):
                # the server's CPU from "every subscriber live" to the end: delivery alone
                p = subprocess.Popen([os.path.join(common.ROOT, "build", "bench", "fanout"), str(port), token, "b",
                                      str(args.subscribers), "50", proto], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
                p.stdout.readline()
                c0 = common.cpu_seconds(at.pid)
                stdout, stderr = p.communicate()
                cpu = common.cpu_seconds(at.pid) - c0
                r = json.loads(stdout) if p.returncode == 0 else {"error": stderr.strip()}
                if "error" not in r:
                    r["cpu_us"] = cpu * 1e6 / max(r["receipts"], 1)
                fans[proto] = r
            cfan = fans["json"]
            out = subprocess.run([os.path.join(common.ROOT, "build", "bench", "fanout"), "--floor",
                                  str(args.subscribers), "50", "2"], capture_output=True, text=True)
            floor = json.loads(out.stdout) if out.returncode == 0 else None
            if args.python_fanout:
                fan = fanout(port, token, args.subscribers, 20)
        finally:
            common.stop(at)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("\nReducer calls, durable (synchronous=FULL, group commit), 32 connections:")
    print(f"{'case':46} {'calls/s':>10} {'p99 ms':>8} {'CPU µs/call':>12}")
    print(f"{'HTTP POST /call/add':46} {http['rps']:10.0f} {http['p99_ms']:8.2f} {http['cpu_us']:12.1f}"
          + (f"  ({http['non2xx']} non-2xx!)" if http["non2xx"] else ""))
    for binary, label in ((False, "WebSocket v1.json CallReducer (16 in flight)"),
                          (True, "WebSocket v2.bsatn CallReducer (16 in flight)")):
        rate, cpu, rows = calls[binary]
        print(f"{label:46} {rate:10.0f} {'':>8} {cpu:12.1f}  ({rows} rows written)")
    print(f"\nFan-out, {args.subscribers} subscribers of one table, 50 writes (C client, bench/fanout.c):")
    for proto, cfan in fans.items():
        if "error" in cfan:
            print(f"  {proto}: failed: {cfan['error']}")
            continue
        print(f"  {'v1.json' if proto == 'json' else 'v2.bsatn'}: write sent → update received: "
              f"p50 {cfan['p50_ms']:.2f} ms, p99 {cfan['p99_ms']:.2f} ms, max {cfan['max_ms']:.2f} ms over "
              f"{cfan['receipts']} receipts; server CPU {cfan['cpu_us']:.1f} µs per delivered update")
        print(f"    write acknowledged (committed) → update received: p50 {cfan['acked_p50_ms']:.2f} ms, "
              f"p99 {cfan['acked_p99_ms']:.2f} ms (the write itself: {cfan['write_p50_ms']:.2f} ms median)")
    cfan = fans["json"]
    if "error" not in cfan:
        if floor:
            print(f"  the machine's floor (2 threads write(2) 400 bytes to each of {args.subscribers} loopback "
                  f"sockets, no server): p50 {floor['p50_ms']:.2f} ms, p99 {floor['p99_ms']:.2f} ms; "
                  f"acknowledged → received is {cfan['acked_p99_ms'] / floor['p99_ms']:.2f}× the floor at p99")
    if fan:
        print(f"\nFan-out, {args.subscribers} subscribers of one table (write sent → update received, Python "
              f"clients in 4 processes):")
        print(f"  p50 {fan['p50']:.2f} ms, p99 {fan['p99']:.2f} ms over {fan['n']} of {fan['expected']} receipts "
              f"(the HTTP write itself: {fan['write_ms']:.2f} ms median)")
        print(f"  of which until the server formed the update (write sent → its timestamp): p50 {fan['f50']:.2f} ms, "
              f"p99 {fan['f99']:.2f} ms; the rest is delivery and the Python clients")
    return 0


if __name__ == "__main__":
    sys.exit(main())
