"""The console's files (GET / and /-/console/FILE): what index.html loads is
served, gzip when asked and byte-identical once inflated, revalidated by a
strong ETag, locked to this origin by its CSP, and nothing else is served."""
import gzip
import re


def test_index_and_every_file_it_loads(server):
    r = server.req("GET", "/", headers={"Accept-Encoding": "identity"})
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "Content-Encoding" not in r.headers
    refs = re.findall(r'(?:src|href)="(/-/console/[^"]+)"', r.text)
    assert "/-/console/app.js" in refs and "/-/console/app.css" in refs
    # the modules app.js imports
    js = server.req("GET", "/-/console/app.js").text
    refs += ["/-/console/" + m for m in re.findall(r"from '\./([\w.]+)'", js)]
    for path in refs:
        plain = server.req("GET", path, headers={"Accept-Encoding": "identity"})
        assert plain.status_code == 200, path
        assert plain.headers["X-Content-Type-Options"] == "nosniff"
        packed = server.req("GET", path, headers={"Accept-Encoding": "gzip"}, stream=True)
        assert packed.status_code == 200 and packed.headers.get("Content-Encoding") == "gzip", path
        body = packed.raw.read(decode_content=False)
        assert gzip.decompress(body) == plain.content, path
        assert len(body) < len(plain.content)


def test_etag_revalidates(server):
    r = server.req("GET", "/-/console/app.css")
    tag = r.headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{20}"', tag)
    assert r.headers["Cache-Control"] == "no-cache"
    assert "Accept-Encoding" in r.headers["Vary"]
    for inm in (tag, "W/" + tag, f'"nope", {tag}', "*"):
        again = server.req("GET", "/-/console/app.css", headers={"If-None-Match": inm})
        assert again.status_code == 304, inm
        assert again.content == b""
    assert server.req("GET", "/-/console/app.css", headers={"If-None-Match": '"other"'}).status_code == 200


def test_csp_keeps_the_page_on_this_origin(server):
    csp = server.req("GET", "/").headers["Content-Security-Policy"]
    for d in ("default-src 'self'", "connect-src 'self'", "script-src 'self'", "frame-ancestors 'none'"):
        assert d in csp
    directives = dict((d.strip().split(" ", 1) + [""])[:2] for d in csp.split(";"))
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    # style attributes only (Chromium's contenteditable editing writes them); no inline script, no <style>
    assert [k for k, v in directives.items() if "unsafe" in v] == ["style-src-attr"]


def test_only_the_console_files(server):
    for path in ("/-/console/index.html", "/-/console/nope.js", "/-/console/..%2f..%2fetc%2fpasswd",
                 "/-/console/", "/-/console/app.js.map"):
        assert server.req("GET", path).status_code == 404, path
    assert server.req("HEAD", "/-/console/app.js").status_code == 200
    assert server.req("POST", "/").status_code == 405


def test_gzip_only_when_accepted(server):
    for ae, want in (("gzip", True), ("deflate, gzip;q=0.5", True), ("GZIP", True), ("gzip;q=0", False),
                     ("gzip;q=0.000", False), ("br, deflate", False), ("gzipx", False), ("identity", False)):
        r = server.req("GET", "/-/console/app.js", headers={"Accept-Encoding": ae}, stream=True)
        assert (r.headers.get("Content-Encoding") == "gzip") == want, ae
