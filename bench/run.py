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


def wrk(url, pid, args, headers=()):
    cmd = ["wrk", "-t2", f"-c{args.connections}", f"-d{args.duration}s", "--latency"]
    for h in headers:
        cmd += ["-H", h]
    subprocess.run(cmd[:4] + ["-d1s", url], capture_output=True)  # warm-up
    c0 = cpu_seconds(pid)
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
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


def start_atrium(tmp, files=()):
    env = dict(os.environ, ATRIUM_ADMIN_PASSWORD="bench-password")
    p = subprocess.Popen([ATRIUM, "serve", *files, "--data", os.path.join(tmp, "data"), "--port", "0",
                          "--quiet", "--threads", "2"], stdout=subprocess.PIPE, text=True, env=env)
    while True:
        line = p.stdout.readline()
        m = re.search(r"listening on http://[\d.]+:(\d+)", line)
        if m:
            return p, int(m.group(1))
        if not line:
            raise RuntimeError("atrium did not start")


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
    ng, ng_port = start_nginx(tmp)
    at, at_port = start_atrium(tmp)
    try:
        results["nginx static JSON"] = wrk(f"http://127.0.0.1:{ng_port}/", ng.pid, args)
        results["atrium GET /health"] = wrk(f"http://127.0.0.1:{at_port}/health", at.pid, args)
        results["atrium GET /v1/version"] = wrk(f"http://127.0.0.1:{at_port}/v1/version", at.pid, args)
        req = urllib.request.Request(f"http://127.0.0.1:{at_port}/v1/signin", method="POST",
                                     data=json.dumps({"username": "admin", "password": "bench-password"}).encode())
        token = json.load(urllib.request.urlopen(req))["token"]
        results["atrium GET /v1/databases (token)"] = wrk(
            f"http://127.0.0.1:{at_port}/v1/databases", at.pid, args, [f"Authorization: Bearer {token}"])
    finally:
        stop(at)
        stop(ng)
        shutil.rmtree(tmp, ignore_errors=True)

    base = results["nginx static JSON"]
    print(f"\nwrk -t2 -c{args.connections} -d{args.duration}s on loopback, {os.cpu_count()} cores\n")
    print(f"{'case':38} {'req/s':>10} {'p99 ms':>8} {'CPU µs/req':>11} {'req/s vs nginx':>15} {'CPU vs nginx':>13}")
    for name, r in results.items():
        print(f"{name:38} {r['rps']:10.0f} {r['p99_ms']:8.2f} {r['cpu_us']:11.1f} "
              f"{r['rps'] / base['rps']:15.2f} {r['cpu_us'] / base['cpu_us']:13.2f}"
              + (f"  ({r['non2xx']} non-2xx!)" if r["non2xx"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
