"""HTTP/1.1 transport: keep-alive, pipelining, bodies, limits, timeouts,
hostile input. Raw sockets where a client library would hide the wire."""
import json
import resource
import select
import selectors
import socket
import time

from conftest import SLOW, read_http_response


def send(server, raw, timeout=10):
    s = server.raw_socket(timeout)
    s.sendall(raw)
    return s


def test_keep_alive_and_pipelining(server):
    s = send(server, b"GET /v1/version HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /v1/nope HTTP/1.1\r\nHost: x\r\n\r\n")
    st1, h1, b1, rest = read_http_response(s)
    assert st1 == 200 and json.loads(b1)["distribution"] == "Atrium"
    # The rest may already be buffered: parse from what we have plus the socket.
    data = rest
    while data.count(b"\r\n\r\n") < 2 or not data.endswith(b"}"):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    assert data.startswith(b"HTTP/1.1 204 No Content\r\n")
    assert b"HTTP/1.1 404 Not Found\r\n" in data
    # Connection still open for more.
    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert read_http_response(s)[0] == 204
    s.close()


def test_http10_closes_after_response(server):
    s = send(server, b"GET /v1/version HTTP/1.0\r\n\r\n")
    st, h, body, _ = read_http_response(s)
    assert st == 200 and h.get("connection") == "close"
    assert s.recv(10) == b""
    s.close()


def test_head_has_length_but_no_body(server):
    s = send(server, b"HEAD /v1/version HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while b"204 No Content" not in data:
        data += s.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    assert b"Content-Length: 43" in head
    assert rest.startswith(b"HTTP/1.1 204")
    s.close()


def test_chunked_request_body(server):
    body = json.dumps({"username": "admin", "password": "wrong"}).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 7]), body[i:i + 7]) for i in range(0, len(body), 7))
    s = send(server, b"POST /v1/signin HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks +
             b"0\r\n\r\n")
    st, h, b, _ = read_http_response(s)
    assert st == 401 and json.loads(b)["code"] == "AUT1"  # the body arrived whole
    s.close()


def test_expect_100_continue(server):
    body = b'{"username":"admin","password":"nope"}'
    s = send(server, b"POST /v1/signin HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body))
    interim = s.recv(100)
    assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
    s.sendall(body)
    st, _, b, _ = read_http_response(s)
    assert st == 401
    s.close()


def test_huge_body_is_refused_without_reading_it(server):
    # 100 MiB announced; we send only the first megabyte and still get 413.
    s = send(server, b"POST /v1/signin HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (100 << 20))
    try:
        s.sendall(b"x" * (1 << 20))
    except (BrokenPipeError, ConnectionResetError):
        pass
    st, h, b, _ = read_http_response(s)
    assert st == 413
    assert h.get("connection") == "close"
    assert json.loads(b)["code"] == "HSR11"
    s.close()


def test_huge_body_with_expect_gets_413_before_upload(server):
    s = send(server, b"POST /v1/signin HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                     b"Content-Length: %d\r\n\r\n" % (100 << 20))
    st, h, b, _ = read_http_response(s)
    assert st == 413
    s.close()


def test_chunked_body_over_limit(fresh):
    srv = fresh("--max-body", "1000")
    s = send(srv, b"POST /v1/signin HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
             b"400\r\n" + b"y" * 1024 + b"\r\n")
    st, _, _, _ = read_http_response(s)
    assert st == 413
    s.close()


def test_headers_too_large(server):
    s = send(server, b"GET /v1/version HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
    st, h, b, _ = read_http_response(s)
    assert st == 431 and json.loads(b)["code"] == "HSR12"
    s.close()
    s = send(server, b"GET /v1/version?" + b"q" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert read_http_response(s)[0] == 431
    s.close()


def test_malformed_requests_get_400(server):
    s = send(server, b"GET /v1/version HTTP/9.9\r\n\r\n")
    assert read_http_response(s)[0] == 505
    s.close()
    for raw in (b"BLAH\r\n\r\n", b"GET /x HTTP/1.1\r\nBad Header\r\n\r\n",
                b"POST /v1/signin HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
                b"POST /v1/signin HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                b"\x00\x01\x02\x03\r\n\r\n"):
        s = send(server, raw)
        st, h, b, _ = read_http_response(s)
        assert st == 400, raw
        assert json.loads(b)  # a JSON body, always
        s.close()
    assert server.req("GET", "/health").status_code == 204  # still serving


def test_slow_headers_get_408(fresh):
    srv = fresh("--header-timeout", "1")
    s = srv.raw_socket()
    s.sendall(b"GET /v1/version HTTP/1.1\r\n")
    # Keep trickling header lines for up to 4 s: if each byte extended the
    # deadline, no answer would come while we trickle.
    answered_while_trickling = False
    for i in range(40):
        if select.select([s], [], [], 0.1)[0]:
            answered_while_trickling = True
            break
        try:
            s.sendall(b"X-Slow-%d: y\r\n" % i)
        except (BrokenPipeError, ConnectionResetError):
            answered_while_trickling = True
            break
    assert answered_while_trickling
    st, h, b, _ = read_http_response(s)
    assert st == 408 and json.loads(b)["code"] == "HSR10"
    assert s.recv(10) == b""
    s.close()


def test_idle_keep_alive_connection_is_closed(fresh):
    srv = fresh("--idle-timeout", "0.5")
    s = srv.raw_socket()
    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert read_http_response(s)[0] == 204
    s.settimeout(5 * SLOW)
    assert s.recv(10) == b""  # closed by the server, silently
    s.close()


def test_thousand_concurrent_keep_alive_connections(server):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    n = 1000
    socks = [server.raw_socket(30) for _ in range(n)]
    for rnd in range(2):  # two requests per connection: keep-alive really kept
        sel = selectors.DefaultSelector()
        for i, s in enumerate(socks):
            s.sendall(b"GET /v1/version HTTP/1.1\r\nHost: x\r\n\r\n")
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, [i, b""])
        done = 0
        deadline = time.time() + 60 * SLOW
        while done < n and time.time() < deadline:
            for key, _ in sel.select(timeout=1):
                chunk = key.fileobj.recv(65536)
                assert chunk, "connection closed early"
                key.data[1] += chunk
                if key.data[1].endswith(b'"}') and b"200 OK" in key.data[1]:
                    sel.unregister(key.fileobj)
                    done += 1
        sel.close()
        assert done == n
        for s in socks:
            s.setblocking(True)
    for s in socks:
        s.close()
    assert server.req("GET", "/health").status_code == 204


def test_client_disconnect_during_deferred_work(server):
    # Sign-in runs off the loop; the client leaving early must not hurt.
    for _ in range(5):
        s = send(server, b'POST /v1/signin HTTP/1.1\r\nHost: x\r\nContent-Length: 42\r\n\r\n'
                         b'{"username":"admin","password":"whatever1"}'[:42 + 60])
        s.close()
    time.sleep(0.5 * SLOW)
    assert server.req("GET", "/health").status_code == 204


def test_access_log(server):
    server.req("GET", "/v1/version?token=SECRET")
    time.sleep(0.1)
    log = server.log()
    assert any(line.startswith("GET /v1/version 200 43 ") and line.endswith("us")
               for line in log.splitlines())
    assert "SECRET" not in log  # query strings (which may carry tokens) are not logged


def test_transport_errors_speak_each_dialect(server):
    """A 100 MiB body is refused unread, in the shape of the dialect owning the path."""
    cases = {
        "/v1/signin": lambda b, h: json.loads(b)["code"] == "HSR11",
        "/dbs/x/sql": lambda b, h: json.loads(b)["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE",
        "/v1/database/x/sql": lambda b, h: h["content-type"].startswith("text/plain"),
        "/somedb/-/query.json": lambda b, h: json.loads(b)["ok"] is False and json.loads(b)["status"] == 413,
    }
    for path, check in cases.items():
        s = send(server, b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (path.encode(), 100 << 20))
        st, h, b, _ = read_http_response(s)
        s.close()
        assert st == 413, path
        assert check(b, h), (path, b)


def test_malformed_json_in_each_dialect(server, admin):
    r = server.req("POST", "/v1/query", token=admin, data=b'{"databaseName": ')
    assert r.status_code == 400 and r.json()["code"] == "HSR2"
    assert server.req("POST", "/v1/databases/badjson", token=admin).status_code == 200
    r = server.req("POST", "/dbs/badjson/sql", token=admin, data=b"\xff{")
    assert r.status_code == 400 and r.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    r = server.req("POST", "/v1/transactions/open", token=admin, data=b"[1, 2")
    assert r.status_code == 400 and r.json()["code"] == "HSR2"


def test_clients_leaving_mid_request_leak_nothing(fresh):
    """A connection closed while its request is still being read (headers or
    body) frees that request. Under the sanitizer build the server's clean
    exit (LeakSanitizer) checks it; here RSS must not grow by the bodies."""
    import os
    s = fresh()

    def rss_mb():
        with open(f"/proc/{s.proc.pid}/status") as f:
            return int([l for l in f if l.startswith("VmRSS:")][0].split()[1]) / 1024
    before = rss_mb()
    half = b"x" * 200_000
    for i in range(300):
        c = s.raw_socket()
        if i % 3 == 0:
            c.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Partial: ")  # mid-headers
        else:
            c.sendall(b"POST /v1/signin HTTP/1.1\r\nHost: x\r\nContent-Length: 400000\r\n\r\n" + half)
        c.close()
    assert s.req("GET", "/health").status_code == 204
    time.sleep(0.5)
    grew = rss_mb() - before
    if not os.environ.get("ATRIUM_SANITIZED"):
        assert grew < 20, f"RSS grew {grew:.1f} MB: requests of closed connections are kept"


def test_absolute_form_targets_and_reused_requests(server):
    """An absolute-form target is reduced to its path ("http://x" alone is
    "/"); one connection's requests reuse the transport's request objects, so
    nothing of one (headers, query) may show in the next."""
    s = send(server, b"GET http://x HTTP/1.1\r\nHost: x\r\n\r\n")
    st, h, b, _ = read_http_response(s)
    assert st == 200 and b"<html" in b.lower()
    s.sendall(b"GET http://x/v1/version?x=1#frag HTTP/1.1\r\nHost: x\r\nX-Many: " + b"a" * 3000 + b"\r\n\r\n")
    st, h, b, _ = read_http_response(s)
    assert st == 200 and json.loads(b)["distribution"] == "Atrium"
    # a token in one request is not carried over to the next on the connection
    admin = server.signin()
    s.sendall(b"GET /v1/databases HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + admin.encode() + b"\r\n\r\n")
    assert read_http_response(s)[0] == 200
    s.sendall(b"GET /v1/databases HTTP/1.1\r\nHost: x\r\n\r\n")
    assert read_http_response(s)[0] == 401
