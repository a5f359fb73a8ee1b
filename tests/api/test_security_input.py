"""Issue 8: hostile SQL, transport and process findings. Each test here
failed (or crashed the sanitizer build) before its fix."""
import os
import socket
import sqlite3
import subprocess
import time

import pytest

from conftest import BIN, SLOW, Server, read_http_response


@pytest.fixture(scope="module")
def vdb(server, admin):
    server.req("POST", "/v1/databases/vac", token=admin)
    server.req("POST", "/v1/query", token=admin, json={
        "databaseName": "vac", "transactionType": "schema", "query": "CREATE TABLE t(a)"})
    return "vac"


@pytest.mark.parametrize("sql", ["VACUUM INTO '{p}'", "/* x */ vacuum into '{p}'", "VACUUM", "vacuum main"])
def test_vacuum_refused_through_every_door(server, admin, vdb, tmp_path, sql):
    target = tmp_path / "stolen.db"
    q = sql.format(p=target)
    answers = [
        server.req("POST", f"/v1/database/{vdb}/sql", token=admin, data=q),
        server.req("POST", "/v1/query", token=admin,
                   json={"databaseName": vdb, "transactionType": "read", "query": q}),
        server.req("POST", "/v1/query", token=admin,
                   json={"databaseName": vdb, "transactionType": "schema", "query": q}),
        server.req("POST", f"/dbs/{vdb}/sql", token=admin, json={"query": q}),
        server.req("GET", f"/{vdb}/-/query.json", token=admin, params={"sql": q}),
    ]
    for r in answers[:-2] + answers[-1:]:
        assert r.status_code in (400, 403), (r.url, r.status_code, r.text)
    # Airsequel's SQL endpoint reports statement errors in its errors list
    assert answers[-2].status_code == 200 and answers[-2].json()["errors"], answers[-2].text
    assert not target.exists()


def test_absolute_target_cut_at_header_timeout(fresh):
    s = fresh("--header-timeout", "0.3")
    sock = s.raw_socket()
    sock.sendall(b"GET http://")
    st, _, _, _ = read_http_response(sock)
    assert st == 408
    sock.close()
    assert s.req("GET", "/health").status_code == 204


def test_airsequel_write_changing_nothing(server, admin, vdb):
    r = server.req("POST", f"/dbs/{vdb}/sql", token=admin, json={"query": "DELETE FROM t WHERE 0"})
    assert r.status_code == 200, r.text
    assert r.json()["affectedTables"] == []


def test_body_deadline_against_trickling_client(fresh):
    s = fresh("--body-timeout", "1")
    sock = s.raw_socket()
    sock.sendall(b"POST /v1/signin HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
    t0 = time.time()
    status = None
    sock.settimeout(0.3)
    while time.time() - t0 < 10 * SLOW:
        try:
            sock.sendall(b"x")
        except OSError:
            break
        try:
            data = sock.recv(65536)
            if data:
                status = int(data.split()[1])
                break
        except socket.timeout:
            pass
    # trickling never completes the body within the loop, so only the
    # body deadline can have answered
    assert status == 408


def test_503_content_length_matches(fresh):
    s = fresh("--max-connections", "1")
    keep = s.raw_socket()
    keep.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert read_http_response(keep)[0] == 204
    other = s.raw_socket()
    data = b""
    while True:
        chunk = other.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert b" 503 " in head
    n = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0].split(b":")[1])
    assert n == len(body)
    keep.close()
    other.close()


def test_airsequel_body_over_2_mib_is_413(server, admin, vdb):
    big = b'{"query": "select 1", "pad": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    r = server.req("POST", f"/dbs/{vdb}/sql", token=admin, data=big,
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert r.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


def test_tilde_encoded_nul_is_not_a_name(server, admin, vdb):
    st, _, _ = server.raw_req("GET", f"/{vdb}~00/t.json", token=admin)
    assert st == 404
    st, _, _ = server.raw_req("GET", f"/{vdb}/t~00.json", token=admin)
    assert st == 404


def test_busy_port_and_locked_data_dir(fresh, tmp_path):
    s = fresh()
    other = tmp_path / "other"
    other.mkdir()
    # same port, other data directory
    p = subprocess.run([BIN, "serve", "--data", str(other), "--port", str(s.port)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and "in use" in p.stderr, p.stderr
    # same data directory, other port
    p = subprocess.run([BIN, "serve", "--data", s.data_dir, "--port", "0"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and "in use by another atrium" in p.stderr, p.stderr
    assert s.req("GET", "/health").status_code == 204


def test_user_list_creates_nothing(tmp_path):
    d = tmp_path / "nowhere"
    p = subprocess.run([BIN, "user", "list", "--data", str(d)], capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and "no catalog" in p.stderr
    assert not d.exists()


@pytest.mark.parametrize("kind", ["dir", "fifo", "devzero", "text"])
def test_serve_only_regular_sqlite_files(tmp_path, kind):
    if kind == "dir":
        target = tmp_path / "d.db"
        target.mkdir()
    elif kind == "fifo":
        target = tmp_path / "f.db"
        os.mkfifo(target)
    elif kind == "devzero":
        target = "/dev/zero"
    else:
        target = tmp_path / "t.db"
        target.write_text("hello, not a database\n" * 20)
    data = tmp_path / "data"
    p = subprocess.run([BIN, "serve", str(target), "--data", str(data), "--port", "0"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert "not a regular file" in p.stderr or "not a SQLite database" in p.stderr, p.stderr
    assert not os.path.exists("/dev/zero-journal")


def test_cli_messages(tmp_path):
    d = str(tmp_path / "data")
    env = dict(os.environ, ATRIUM_PASSWORD="long-enough-pw")
    p = subprocess.run([BIN, "user", "add", "bad name", "--data", d], capture_output=True, text=True, env=env)
    assert p.returncode != 0 and "invalid user name" in p.stderr, p.stderr
    p = subprocess.run([BIN, "user", "add", "bob", "--data", d], capture_output=True, text=True,
                       env=dict(env, ATRIUM_PASSWORD="x"))
    assert p.returncode != 0 and "too short" in p.stderr, p.stderr
    p = subprocess.run([BIN, "user", "add", "bob", "--data", d], capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    p = subprocess.run([BIN, "token", "create", "bob", "--ttl", "0", "--data", d], capture_output=True, text=True)
    assert p.returncode != 0 and "invalid --ttl '0'" in p.stderr, p.stderr
    p = subprocess.run([BIN, "serve", "--port"], capture_output=True, text=True)
    assert p.returncode != 0 and "--port needs a value" in p.stderr, p.stderr


def test_one_shot_write_honours_lock_timeout(server, admin, vdb):
    r = server.req("POST", "/v1/transactions/open", token=admin,
                   json={"databaseName": vdb, "transactionType": "schema"})
    assert r.status_code == 200
    tid = r.json()["transactionId"]
    try:
        r = server.req("POST", "/v1/query", token=admin, json={
            "databaseName": vdb, "transactionType": "write", "query": "INSERT INTO t VALUES (1)",
            "transactionOptions": {"schemaLockAcquireTimeoutMillis": 300}})
        # without the lock timeout it would wait for the schema transaction
        # (held until the end of this test) and the client would time out
        assert r.status_code == 400 and r.json()["code"] == "TXN1", r.text
        # an open write transaction's query that cannot get the writer: TXN1 without "open"
        r = server.req("POST", "/v1/transactions/open", token=admin, json={
            "databaseName": vdb, "transactionType": "write",
            "transactionOptions": {"schemaLockAcquireTimeoutMillis": 200}})
        wid = r.json()["transactionId"]
        r = server.req("POST", f"/v1/transactions/{wid}/query", token=admin,
                       json={"query": "INSERT INTO t VALUES (2)"})
        assert r.status_code == 400 and r.json()["code"] == "TXN1", r.text
        assert "could not open" not in r.json()["message"].lower()
        server.req("POST", f"/v1/transactions/{wid}/close", token=admin)
    finally:
        server.req("POST", f"/v1/transactions/{tid}/close", token=admin)


def test_large_json_bodies_are_parsed_off_the_loop(fresh):
    s = fresh("--threads", "1")
    admin = s.signin()
    # ~20 MiB of JSON that takes jansson a good while to parse
    body = (b'{"databaseName": "nope", "transactionType": "read", "query": "select 1", "pad": [' +
            b"0," * 10_000_000 + b'0]}')
    big = s.raw_socket(timeout=60)
    big.sendall(b"POST /v1/query HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + admin.encode() +
                b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    # the loop is free while the body is parsed: /health is answered meanwhile
    st, _, _ = s.raw_req("GET", "/health")
    assert st == 204
    big.settimeout(0.01)
    try:
        early = big.recv(1)
    except (BlockingIOError, TimeoutError, OSError):
        early = b""
    assert early == b"", "the big request was answered before /health: its body was parsed on the loop"
    big.settimeout(60)
    st, _, data, _ = read_http_response(big)
    assert st == 404 and b"SRV3" in data
    big.close()


def test_large_bodies_parse_as_small_ones(server, admin, vdb):
    """Bodies of 64 KiB and more are parsed off the loop; each dialect still
    gets its own rules: TypeDB refuses duplicate keys, Datasette takes the
    last one, bad JSON is each dialect's 400."""
    pad = "p" * 70_000
    dup = ('{"databaseName": "%s", "transactionType": "read", "query": "select 1", "query": "select 2",'
           ' "pad": "%s"}' % (vdb, pad))
    r = server.req("POST", "/v1/query", token=admin, data=dup, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["code"] == "HSR2", r.text[:200]
    server.req("POST", "/dbs/%s/sql" % vdb, token=admin, json={"query": "CREATE TABLE IF NOT EXISTS big(v)"})
    loose = '{"row": {"v": "first"}, "row": {"v": "%s"}}' % pad
    r = server.req("POST", f"/{vdb}/big/-/insert", token=admin, data=loose,
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 201, r.text[:200]
    r = server.req("POST", "/v1/query", token=admin, data='{"databaseName": ' + '[' * 40000,
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["code"] == "HSR2"
