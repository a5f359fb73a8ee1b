"""Datasette to the letter (spec/datasette.md, Datasette 1.0a37's source):
behaviours a Datasette client sees that once differed - write routes and
methods, HTML 404s, named parameters, time-limit errors, FTS escaping,
the instance and database views, array and date facets."""
import sqlite3

import pytest


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    from conftest import Server
    d = tmp_path_factory.mktemp("dsl")
    p = d / "lib.db"
    c = sqlite3.connect(p)
    c.executescript("""
        CREATE TABLE authors(id INTEGER PRIMARY KEY, name TEXT);
        CREATE TABLE books(id INTEGER PRIMARY KEY, title TEXT, author_id INTEGER REFERENCES authors(id),
                           tags TEXT, published TEXT);
        INSERT INTO authors VALUES (1, 'Le Guin'), (2, 'O''Brien');
        INSERT INTO books VALUES (1, 'The Dispossessed', 1, '["sf","classic"]', '1974-05-01 10:00:00'),
                                 (2, 'O"Brien (a life)', 2, '["bio"]', '2001-02-03'),
                                 (3, 'The Lathe of Heaven', 1, '["sf"]', '1971-10-01'),
                                 (4, 'Untagged', NULL, '[]', '1971-10-01');
        CREATE VIRTUAL TABLE books_fts USING fts5(title, content='books', content_rowid='id');
        INSERT INTO books_fts(rowid, title) SELECT id, title FROM books;
        CREATE VIEW sf AS SELECT * FROM books WHERE tags LIKE '%sf%';
        CREATE TABLE lonely(x);
    """)
    c.commit()
    c.close()
    data = d / "data"
    data.mkdir()
    s = Server(data, [str(p)])
    yield s
    assert s.stop() == 0


@pytest.mark.parametrize("path", ["/lib/books/-/insert", "/lib/books/-/upsert", "/lib/-/create", "/lib/books/-/drop",
                                  "/lib/books/1/-/update", "/lib/books/1/-/delete", "/lib/nope/-/insert",
                                  "/nodb/books/-/insert"])
def test_write_routes_refuse_other_methods(ds, path):
    for method in ("GET", "PUT", "DELETE"):
        r = ds.req(method, path, token=ds.signin())
        assert r.status_code == 405, (method, path, r.text)
        assert r.text == "Method not allowed" and r.headers["content-type"].startswith("text/plain")


def test_html_pages_404_for_what_does_not_exist(ds):
    for path, status in (("/lib", 200), ("/lib/books", 200), ("/lib/books/1", 200), ("/lib/sf", 200),
                         ("/nodb", 404), ("/lib/nope", 404), ("/lib/books/999", 404), ("/lib/books/1/x/y", 404)):
        r = ds.req("GET", path)
        assert r.status_code == status, (path, r.status_code)
        assert r.headers["content-type"].startswith("text/html"), path


def test_missing_named_parameters_are_empty_strings(ds):
    r = ds.req("GET", "/lib/-/query.json", params={
        "sql": "select :name as a, :other as b, :name || 'x' as c -- :commented", "other": "7", "_extra": "query"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["rows"] == [{"a": "", "b": "7", "c": "x"}]
    assert body["query"] == {"sql": "select :name as a, :other as b, :name || 'x' as c -- :commented",
                             "params": {"name": "", "other": "7"}}


def test_time_limit_error_has_only_the_error_keys(ds):
    r = ds.req("GET", "/lib/-/query.json", params={
        "sql": "with recursive c(x) as (select 1 union all select x + 1 from c) select count(*) from c",
        "_timelimit": "20"})
    assert r.status_code == 400
    msg = "SQL query took too long. The time limit is controlled by the sql_time_limit_ms setting."
    assert r.json() == {"ok": False, "error": msg, "errors": [msg], "status": 400}
    # other SQL errors keep the query page's shape
    r = ds.req("GET", "/lib/-/query.json", params={"sql": "select nope from books"})
    assert r.status_code == 400 and r.json()["rows"] == [] and r.json()["truncated"] is False


@pytest.mark.parametrize("q,titles", [
    ('o"brien (', ['O"Brien (a life)']),
    ('"the', ["The Dispossessed", "The Lathe of Heaven"]),
    ("(", []), ("AND OR NOT", []), ("lathe heaven", ["The Lathe of Heaven"]),
    ('"lathe of" heaven', ["The Lathe of Heaven"]), ("x*", []),
    ('""', []), ('"', []),  # nothing left to search for: no rows (Datasette: an fts5 syntax error)
])
def test_search_text_is_escaped_as_datasette_does(ds, q, titles):
    r = ds.req("GET", "/lib/books.json", params={"_search": q, "_col": "title"})
    assert r.status_code == 200, r.text
    assert [x["title"] for x in r.json()["rows"]] == titles
