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


def hidden_counts(ds):
    import os
    c = sqlite3.connect(os.path.join(os.path.dirname(ds.data_dir), "lib.db"))
    names = [r[0] for r in c.execute("select name from sqlite_master where type = 'table' and name like 'books_fts%'")]
    total = sum(c.execute(f'select count(*) from "{n}"').fetchone()[0] for n in names)
    c.close()
    return total


def test_instance_view_orders_and_sums_as_datasette(ds):
    r = ds.req("GET", "/.json")
    assert r.status_code == 200
    [db] = [d for d in r.json()["databases"] if d["name"] == "lib"]
    entries = db["tables_and_views_truncated"]
    # visible tables by (relationships, count, name) descending, then the views
    assert [e["name"] for e in entries] == ["books", "authors", "lonely", "sf"]
    assert entries[0] == {"name": "books", "columns": ["id", "title", "author_id", "tags", "published"],
                          "primary_keys": ["id"], "count": 4, "hidden": False, "fts_table": "books_fts",
                          "num_relationships_for_sorting": 0, "private": False}
    assert entries[3] == {"name": "sf", "private": False}
    assert "count_truncated" not in entries[1]
    assert db["tables_count"] == 3 and db["views_count"] == 1 and db["hidden_tables_count"] == 5
    assert db["table_rows_sum"] == 6 and db["show_table_row_counts"] is True
    assert db["hidden_table_rows_sum"] == hidden_counts(ds)
    assert db["tables_and_views_more"] is False


def test_database_view_fts_columns_counts_and_view_columns(ds):
    r = ds.req("GET", "/lib.json")
    assert r.status_code == 200
    body = r.json()
    names = [t["name"] for t in body["tables"]]
    assert names == ["authors", "books", "lonely", "books_fts", "books_fts_config", "books_fts_data",
                     "books_fts_docsize", "books_fts_idx"]  # by (hidden, name)
    fts = body["tables"][3]
    assert fts["columns"] == ["title", "books_fts", "rank"] and fts["count"] == 4 and fts["hidden"] is True
    assert fts["count_truncated"] is False
    assert body["table_columns"]["sf"] == []
    assert body["table_columns"]["books_fts"] == ["books_fts", "rank", "title"]
    assert body["hidden_count"] == 5 and body["views"] == [{"name": "sf", "private": False}]


def test_array_and_date_facets(ds):
    r = ds.req("GET", "/lib/books.json", params=[("_facet_array", "tags"), ("_facet_date", "published"),
                                                  ("_facet", "published"), ("_size", "0")])
    assert r.status_code == 200, r.text
    res = r.json()["facet_results"]["results"]
    assert list(res) == ["published", "tags", "published_2"]  # column, array, date; a second facet of a column
    tags = res["tags"]
    assert tags["type"] == "array" and tags["truncated"] is False
    assert [(x["value"], x["label"], x["count"], x["selected"]) for x in tags["results"]] == [
        ("sf", "sf", 2, False), ("bio", "bio", 1, False), ("classic", "classic", 1, False)]
    assert tags["toggle_url"] == "/lib/books.json?_facet_date=published&_facet=published&_size=0"
    assert tags["results"][0]["toggle_url"].endswith("/lib/books.json?_facet_array=tags&_facet_date=published"
                                                     "&_facet=published&_size=0&tags__arraycontains=sf")
    dates = res["published_2"]
    assert dates["name"] == "published" and dates["type"] == "date"
    assert [(x["value"], x["count"]) for x in dates["results"]] == [("1971-10-01", 2), ("1974-05-01", 1),
                                                                   ("2001-02-03", 1)]
    # selected values and their toggles
    r = ds.req("GET", "/lib/books.json", params=[("_facet_array", "tags"), ("tags__arraycontains", "sf"),
                                                  ("_facet_date", "published"), ("published__date", "1971-10-01")])
    res = r.json()["facet_results"]["results"]
    [sf] = [x for x in res["tags"]["results"] if x["value"] == "sf"]
    assert sf["selected"] is True and "tags__arraycontains" not in sf["toggle_url"]
    [d] = res["published"]["results"]
    assert d == {"value": "1971-10-01", "label": "1971-10-01", "count": 1, "selected": True,
                 "toggle_url": d["toggle_url"]} and "published__date" not in d["toggle_url"]
    assert [x["title"] for x in r.json()["rows"]] == ["The Lathe of Heaven"]


def test_suggested_facets_include_arrays_and_dates(ds):
    r = ds.req("GET", "/lib/books.json", params={"_extra": "suggested_facets", "_size": "0"})
    got = [(x["name"], x.get("type")) for x in r.json()["suggested_facets"]]
    assert got == [("author_id", None), ("published", None), ("tags", "array"), ("published", "date")]
    arr = r.json()["suggested_facets"][2]
    assert arr["toggle_url"].endswith("/lib/books.json?_extra=suggested_facets&_size=0&_facet_array=tags")
    # already faceted that way: not suggested again
    r = ds.req("GET", "/lib/books.json", params={"_extra": "suggested_facets", "_size": "0", "_facet_array": "tags"})
    assert ("tags", "array") not in [(x["name"], x.get("type")) for x in r.json()["suggested_facets"]]
