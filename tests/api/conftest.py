"""Black-box fixtures: start the real atrium binary on a free port with a
temporary data directory, and talk to it over HTTP."""
import os
import re
import signal
import socket
import subprocess
import time

import pytest
import requests

BIN = os.environ.get("ATRIUM_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "atrium")
ADMIN_PW = "s3cret-admin"
# Sanitizer builds run several times slower; waits scale with this.
SLOW = 4 if os.environ.get("ATRIUM_SANITIZED") else 1


class Server:
    """One running atrium process."""

    def __init__(self, data_dir, args=(), env_extra=None, admin_password=ADMIN_PW):
        self.data_dir = str(data_dir)
        self.args = list(args)
        self.env = dict(os.environ)
        self.env.pop("ATRIUM_ADMIN_PASSWORD", None)
        if admin_password is not None:
            self.env["ATRIUM_ADMIN_PASSWORD"] = admin_password
        self.env.update(env_extra or {})
        self.proc = None
        self.stdout = ""
        self.start()

    def start(self):
        log = open(os.path.join(self.data_dir, "server.log"), "ab")
        self.proc = subprocess.Popen(
            [BIN, "serve", "--data", self.data_dir, "--port", "0", "--threads", "2"] + self.args,
            stdout=subprocess.PIPE, stderr=log, env=self.env, text=True)
        log.close()
        # The banner ends with the "listening" line, printed once accepting.
        self.stdout = ""
        while True:
            line = self.proc.stdout.readline()
            self.stdout += line
            m = re.search(r"listening on http://([\d.]+):(\d+)", line)
            if m or not line:
                break
        assert m, f"server did not start: {self.stdout!r}\n{self.log()}"
        self.host, self.port = m.group(1), int(m.group(2))
        self.url = f"http://{self.host}:{self.port}"

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("server did not stop on signal")
        rc = self.proc.returncode
        self.proc.stdout.close()
        return rc

    def restart(self):
        assert self.stop() == 0
        self.start()

    def log(self):
        with open(os.path.join(self.data_dir, "server.log"), errors="replace") as f:
            return f.read()

    def raw_socket(self, timeout=10):
        s = socket.create_connection((self.host, self.port), timeout=timeout * SLOW)
        return s

    # -- HTTP helpers --
    def req(self, method, path, token=None, **kw):
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return requests.request(method, self.url + path, headers=headers, timeout=30 * SLOW, **kw)

    def raw_req(self, method, path, token=None, body=b""):
        """Sends the path byte for byte (no client-side normalisation)."""
        s = self.raw_socket()
        auth = f"Authorization: Bearer {token}\r\n".encode() if token else b""
        s.sendall(f"{method} ".encode() + path.encode() + b" HTTP/1.1\r\nHost: x\r\n" + auth +
                  b"Content-Length: %d\r\n\r\n" % len(body) + body)
        status, headers, data, _ = read_http_response(s)
        s.close()
        return status, headers, data

    def signin(self, user="admin", password=ADMIN_PW):
        r = self.req("POST", "/v1/signin", json={"username": user, "password": password})
        assert r.status_code == 200, r.text
        return r.json()["token"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("data"))
    yield s
    assert s.stop() == 0, s.log()[-6000:]


@pytest.fixture(scope="module")
def admin(server):
    return server.signin()


@pytest.fixture
def fresh(tmp_path):
    """A server of the test's own, for tests that restart or set flags."""
    servers = []

    def make(*args, **kw):
        d = tmp_path / f"s{len(servers)}"
        d.mkdir()
        s = Server(d, args, **kw)
        servers.append(s)
        return s
    yield make
    for s in servers:
        # A clean exit also means no leak report under the sanitizer build.
        assert s.stop() == 0, s.log()[-3000:]


def read_http_response(sock):
    """Reads one HTTP/1.1 response (Content-Length bodies) from a socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    while len(rest) < n:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:n], rest[n:]


# ---- Airsequel helpers shared by its test files ----

def uid(prefix):
    """A fresh name: the tests share one server."""
    import uuid
    return prefix + uuid.uuid4().hex[:8]


def as_err(r, status, code, message=None):
    """An Airsequel error answer (spec §1): the status, the code, maybe the text; returns the text."""
    assert r.status_code == status, r.text
    e = r.json()["errors"][0]
    assert e["extensions"]["code"] == code
    if message is not None:
        assert e["message"] == message
    return e["message"]


def as_user(server, admin, name=None):
    """A new user made through POST /api/users, and a session token for it."""
    name = name or uid("u")
    r = server.req("POST", "/api/users", token=admin, json={"username": name, "password": "pw-" + name})
    assert r.status_code == 200 and r.json() == {}, r.text
    return name, server.signin(name, "pw-" + name)
