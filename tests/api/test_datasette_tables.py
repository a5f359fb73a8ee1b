"""Datasette-style table and row pages, CSV and the instance views
(spec/datasette.md §2–§7, §9, §11) against the shared fixture database."""
import hashlib
import os
import time

import pytest
import requests

import ds_fixture
from conftest import SLOW, Server

BIG = 100_000


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    d = tmp_path_factory.mktemp("dst")
    ds_fixture.build(d / "lib.db", big_rows=BIG, pad=100)
    data = d / "data"
    data.mkdir()
    s = Server(data, [str(d / "lib.db"), "--cors"])
    yield s
    assert s.stop() == 0


def get(s, path, **params):
    return s.req("GET", path, params=params)


def ids(s, **params):
    r = get(s, "/lib/books.json", _size="max", **params)
    assert r.status_code == 200, r.text
    return [row["id"] for row in r.json()["rows"]]


def test_default_page_and_values(ds):
    r = get(ds, "/lib/books.json")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert r.headers["cache-control"] == "max-age=5"
    assert r.headers["referrer-policy"] == "no-referrer"
    body = r.json()
    assert list(body) == ["ok", "next", "next_url", "rows", "truncated"]
    assert body["ok"] is True and body["next"] is None and body["truncated"] is False
    rows = body["rows"]
    assert [x["id"] for x in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[1]["cover"] == {"$base64": True, "encoded": "AP8="}
    assert rows[3]["price"] == 100.0 and "100.0" in r.text
    assert rows[5]["price"] is None  # infinity → null by default
    assert "Infinity" in get(ds, "/lib/books.json", _json_infinity="on").text
    assert list(rows[0]) == ["id", "title", "author_id", "price", "year", "tags", "published", "cover"]
    assert get(ds, "/lib/countries.json").json()["rows"][2] == {"code": "jp", "name": "日本"}
    assert "\\u65e5\\u672c" in get(ds, "/lib/countries.json").text


def test_rowid_table_and_view(ds):
    rows = get(ds, "/lib/logs.json").json()["rows"]
    assert rows == [{"rowid": 1, "msg": "boot", "level": 1}, {"rowid": 2, "msg": "run", "level": 2},
                    {"rowid": 3, "msg": None, "level": 3}]
    r = get(ds, "/lib/cheap.json", _extra="query,is_view,primary_keys")
    assert [x["id"] for x in r.json()["rows"]] == [1, 2, 5]
    assert r.json()["query"]["sql"] == "select id, title, price from cheap  limit 101"
    assert r.json()["is_view"] is True and r.json()["primary_keys"] == []


@pytest.mark.parametrize("params,expected", [
    ({"title": "Dune"}, [1]),
    ({"title__exact": "Dune"}, [1]),
    ({"author_id__not": "1"}, [1, 3, 6]),
    ({"title__contains": "e"}, [1, 2, 3, 4]),
    ({"title__notcontains": "e"}, [5, 6]),
    ({"title__startswith": "the"}, [2]),
    ({"title__endswith": "sea"}, [4]),
    ({"year__gt": "1970"}, [2, 6]),
    ({"year__gte": "1968"}, [2, 4, 6]),
    ({"year__lt": "1966"}, [1, 3]),
    ({"year__lte": "1925"}, [3]),
    ({"price__gt": "10"}, [2, 4, 6]),
    ({"title__like": "%un%"}, [1, 5]),
    ({"title__notlike": "%un%"}, [2, 3, 4, 6]),
    ({"title__glob": "*a*"}, [3, 4]),
    ({"id__in": "1, 3"}, [1, 3]),
    ({"id__in": '[2, "4"]'}, [2, 4]),
    ({"id__in": "[]"}, []),
    ({"id__notin": "1,2,3"}, [4, 5, 6]),
    ({"id__notin": "[1, 2]"}, [3, 4, 5, 6]),
    ({"tags__arraycontains": "scifi"}, [1, 2]),
    ({"tags__arraynotcontains": "scifi"}, [3, 4, 5, 6]),
    ({"published__date": "1965-08-01"}, [1]),
    ({"price__isnull": "1"}, [3]),
    ({"price__notnull": "whatever"}, [1, 2, 4, 5, 6]),
    ({"published__isblank": "1"}, [4, 5, 6]),
    ({"published__notblank": "1"}, [1, 2, 3]),
    ({"title__nosuchop": "x"}, [1, 2, 3, 4, 5, 6]),
    ({"nosuchcolumn": "1"}, []),
    ({"year": "01965"}, [1]),
    ({"_column": "x"}, [1, 2, 3, 4, 5, 6]),
])
def test_filter_operators(ds, params, expected):
    assert ids(ds, **params) == expected


def test_filter_sql_params_and_human_description(ds):
    r = get(ds, "/lib/books.json", year__lt="2000", year__gte="1990", author_id="5", _sort_desc="price",
            _extra="human_description_en,query,count_sql")
    b = r.json()
    assert b["human_description_en"] == \
        "where author_id = 5, year \u2265 1990 and year < 2000 sorted by price descending"
    assert b["query"] == {
        "sql": 'select id, title, author_id, price, year, tags, published, cover from books where '
               '"author_id" = :p0 and "year" >= :p1 and "year" < :p2 order by price desc, id limit 101',
        "params": {"p0": "5", "p1": 1990, "p2": 2000}}
    assert b["count_sql"] == 'select count(*) from books where "author_id" = :p0 and "year" >= :p1 and "year" < :p2 '
    b = get(ds, "/lib/books.json", title="x y", id__in="1,2", tags__arraycontains="a",
            _extra="human_description_en,query").json()
    assert b["human_description_en"] == 'where id in ["1", "2"], tags contains "a" and title = "x y"'
    assert "where id in (:p0, :p1) and :p2 in (select value from json_each([books].[tags])) and " \
        '"title" = :p3 order by id' in b["query"]["sql"]
    assert get(ds, "/lib/books.json", _extra="human_description_en").json()["human_description_en"] == ""
    r = get(ds, "/lib/books.json", id__in="[1,")
    assert r.status_code == 400 and r.json()["error"] == "Invalid JSON list for id__in"


def test_hostile_filters_are_bound_not_pasted(ds):
    for k, v in [('title"; drop table books; --', "1"), ("title", "'; drop table books; --"),
                 ("tags]) or 1=1 --__arraycontains", "x"), ('tags" or 1=1 --__isnull', "1"),
                 ("id__in", "1) or (1=1"), ('x"y__gt', "1")]:
        r = get(ds, "/lib/books.json", **{k: v})
        assert r.status_code in (200, 400), r.text
    assert len(ids(ds)) == 6
    # a name that would close the bracket or quote is still one (unknown) column
    assert get(ds, "/lib/books.json", **{"tags]) or 1=1 --__arraycontains": "x"}).status_code == 400
    r = get(ds, "/lib/books.json", **{'tags" or 1=1 --__isnull': "1"})
    assert r.status_code == 200 and r.json()["rows"] == []


def test_sort_and_keyset_pagination(ds):
    r = get(ds, "/lib/books.json", _size="2", _sort_desc="price")
    b = r.json()
    assert [x["id"] for x in b["rows"]] == [6, 4]
    assert b["next"] == "100~2E0,4"
    host = f"{ds.host}:{ds.port}"
    assert b["next_url"] == f"http://{host}/lib/books.json?_size=2&_next=100~2E0%2C4&_sort_desc=price"
    assert r.headers["link"] == f'<{b["next_url"]}>; rel="next"'
    seen = [x["id"] for x in b["rows"]]
    while b["next"]:
        b = requests.get(b["next_url"], timeout=30).json()
        seen += [x["id"] for x in b["rows"]]
    assert seen == [6, 4, 2, 1, 5, 3]  # NULL last when descending
    # ascending: NULL first, then the keyset walks past it
    b = get(ds, "/lib/books.json", _size="1", _sort="price").json()
    assert b["next"] == "$null,3"
    seen = [x["id"] for x in b["rows"]]
    while b["next"]:
        b = requests.get(b["next_url"], timeout=30).json()
        seen += [x["id"] for x in b["rows"]]
    assert seen == [3, 5, 1, 2, 4, 6]
    # text sort values are tilde-encoded
    b = get(ds, "/lib/authors.json", _size="1", _sort="name").json()
    assert b["rows"][0]["name"] == "André Gide" and b["next"] == "Andr~C3~A9+Gide,3"
    # a sort column not shown still drives the token
    b = get(ds, "/lib/books.json", _size="2", _sort_desc="price", _col="title").json()
    assert b["next"] == "100~2E0,4" and list(b["rows"][0]) == ["id", "title"]
    assert get(ds, "/lib/books.json", _sort="nope").json()["error"] == "Cannot sort table by nope"
    r = get(ds, "/lib/books.json", _sort="id", _sort_desc="id")
    assert r.status_code == 400 and r.json()["error"] == "Cannot use _sort and _sort_desc at the same time"
    assert ids(ds, _sort_desc="rowid") == [6, 5, 4, 3, 2, 1]


def test_keyset_on_composite_rowid_and_views(ds):
    def walk(path, **params):
        b = get(ds, path, _size="1", **params).json()
        rows = list(b["rows"])
        while b["next"]:
            b = requests.get(b["next_url"], timeout=30).json()
            rows += b["rows"]
        return rows
    assert [(r["work"], r["code"]) for r in walk("/lib/editions.json")] == [("a/b", "c,d"), ("x y", "1"), ("x y", "2")]
    b = get(ds, "/lib/editions.json", _size="1", _extra="query").json()
    assert b["next"] == "a~2Fb,c~2Cd"
    b2 = get(ds, "/lib/editions.json", _size="1", _next=b["next"], _extra="query").json()
    assert "((work > :p0)\n  or\n(work = :p0 and code > :p1))" in b2["query"]["sql"]
    assert [r["rowid"] for r in walk("/lib/logs.json")] == [1, 2, 3]
    assert [r["id"] for r in walk("/lib/cheap.json")] == [1, 2, 5]
    assert get(ds, "/lib/cheap.json", _size="1").json()["next"] == "1"
    for path, token in [("/lib/books.json", "1,2"), ("/lib/cheap.json", "x"), ("/lib/editions.json", "a")]:
        r = get(ds, path, _next=token)
        assert r.status_code == 400 and r.json()["error"] == "Invalid _next token", (path, token)
    assert get(ds, "/lib/books.json", _next="zzz").json()["rows"] == []


def test_size_and_columns(ds):
    assert len(get(ds, "/lib/books.json", _size="2").json()["rows"]) == 2
    assert get(ds, "/lib/books.json", _size="0").json()["rows"] == []
    assert len(get(ds, "/lib/big.json", _size="max").json()["rows"]) == 1000
    for v, msg in [("-1", "_size must be a positive integer"), ("abc", "_size must be a positive integer"),
                   ("1001", "_size must be <= 1000")]:
        r = get(ds, "/lib/books.json", _size=v)
        assert r.status_code == 400 and r.json() == {"ok": False, "error": msg, "errors": [msg], "status": 400}
    r = ds.req("GET", "/lib/books.json?_col=price&_col=title&_col=price")
    assert list(r.json()["rows"][0]) == ["id", "price", "title"]
    r = ds.req("GET", "/lib/books.json?_nocol=tags&_nocol=cover")
    assert list(r.json()["rows"][0]) == ["id", "title", "author_id", "price", "year", "published"]
    assert ds.req("GET", "/lib/books.json?_col=zz&_col=yy").json()["error"] == "_col=zz, yy - invalid columns"
    assert ds.req("GET", "/lib/books.json?_nocol=id").json()["error"] == "_nocol=id - invalid columns"


def test_shapes(ds):
    b = get(ds, "/lib/countries.json", _shape="arrays").json()
    assert b["rows"][0] == ["a.b", "Dotted"] and b["ok"] is True
    assert get(ds, "/lib/countries.json", _shape="array").json()[1] == {"code": "fr", "name": "France"}
    assert get(ds, "/lib/countries.json", _shape="arrayfirst").json() == ["a.b", "fr", "jp"]
    assert get(ds, "/lib/editions.json", _shape="object").json() == {
        "a~2Fb,c~2Cd": {"work": "a/b", "code": "c,d", "note": "slashy"},
        "x+y,1": {"work": "x y", "code": "1", "note": "spacey"},
        "x+y,2": {"work": "x y", "code": "2", "note": None}}
    r = get(ds, "/lib/countries.json", _shape="array", _nl="on")
    assert r.headers["content-type"].startswith("text/plain")
    assert r.text.split("\n")[0] == '{"code": "a.b", "name": "Dotted"}' and len(r.text.split("\n")) == 3
    for path, shape, msg in [("/lib/books.json", "nope", "Invalid _shape: nope"),
                             ("/lib/logs.json", "object", "_shape=object not available for tables with no primary keys"),
                             ("/lib/cheap.json", "object", "_shape=object not available for tables with no primary keys")]:
        r = get(ds, path, _shape=shape)
        assert r.status_code == 400 and r.json()["error"] == msg


def test_json_columns_and_labels(ds):
    rows = get(ds, "/lib/books.json", _json="tags", _col="tags").json()["rows"]
    assert rows[0]["tags"] == ["scifi", "classic"] and rows[4]["tags"] is None
    rows = get(ds, "/lib/books.json", _labels="on", _col="author_id").json()["rows"]
    assert rows[0]["author_id"] == {"value": 2, "label": "Frank Herbert"}
    assert rows[2]["author_id"] == {"value": 3, "label": "André Gide"}
    assert rows[4]["author_id"] is None and rows[5]["author_id"] == 9  # NULL and dangling stay plain
    assert get(ds, "/lib/books.json", _label="author_id").json()["rows"][1]["author_id"]["label"] == \
        "Ursula K. Le Guin"
    assert get(ds, "/lib/books.json").json()["rows"][0]["author_id"] == 2
    r = get(ds, "/lib/-/query.json", sql="select tags, 'x' as t from books where id = 1", _json="tags")
    assert r.json()["rows"] == [{"tags": ["scifi", "classic"], "t": "x"}]
    assert get(ds, "/lib/books/1.json", _labels="on").json()["rows"][0]["author_id"] == 2


def test_facets(ds):
    b = get(ds, "/lib/books.json", _facet="author_id", _size="0").json()
    f = b["facet_results"]["results"]["author_id"]
    assert b["facet_results"]["timed_out"] == []
    assert f["name"] == "author_id" and f["type"] == "column" and f["truncated"] is False
    assert [(x["value"], x["label"], x["count"], x["selected"]) for x in f["results"]] == [
        (1, "Ursula K. Le Guin", 2, False), (2, "Frank Herbert", 1, False), (3, "André Gide", 1, False),
        (9, 9, 1, False)]
    assert f["results"][0]["toggle_url"].endswith("/lib/books.json?_facet=author_id&_size=0&author_id=1")
    b = get(ds, "/lib/books.json", _facet="author_id", _facet_size="1").json()
    assert b["facet_results"]["results"]["author_id"]["truncated"] is True
    b = get(ds, "/lib/books.json", _facet="author_id", author_id="1").json()
    res = b["facet_results"]["results"]["author_id"]["results"]
    assert [(x["value"], x["count"], x["selected"]) for x in res] == [(1, 2, True)]
    assert res[0]["toggle_url"].endswith("/lib/books.json?_facet=author_id")
    b = get(ds, "/lib/books.json", _extra="facet_results").json()
    assert b["facet_results"] == {"results": {}, "timed_out": []}
    b = ds.req("GET", "/lib/books.json?_facet=year&_facet=author_id&_extra=sorted_facet_results,facets_timed_out").json()
    assert [f["name"] for f in b["sorted_facet_results"]] == ["year", "author_id"]  # 5 values, then 4
    assert b["facets_timed_out"] == []
    b = get(ds, "/lib/logs.json", _extra="suggested_facets").json()
    assert b["suggested_facets"] == []  # every value distinct
    b = get(ds, "/lib/books.json", _extra="suggested_facets,database_color", _facet="year").json()
    # columns: author_id (1 repeats; price, tags do not); then tags as an array, published as dates
    assert [(f["name"], f.get("type")) for f in b["suggested_facets"]] == [
        ("author_id", None), ("tags", "array"), ("published", "date")]
    assert b["suggested_facets"][0]["toggle_url"].endswith("/lib/books.json?_extra=suggested_facets%2Cdatabase_color"
                                                           "&_facet=year&_facet=author_id")
    assert b["database_color"] == hashlib.md5(b"lib").hexdigest()[:6]


def test_search(ds):
    assert ids(ds, _search="dune") == [1]
    assert ids(ds, _search='"the dispossessed') == [2]  # odd quote closed by escape_fts
    assert ids(ds, _search="OR") == []  # operators are quoted, not obeyed
    assert ids(ds, _search="") == [1, 2, 3, 4, 5, 6]
    assert ids(ds, _search_title="earthsea") == [4]
    b = get(ds, "/lib/books.json", _search="dune", _extra="human_description_en,query").json()
    assert b["human_description_en"] == 'where search matches "dune"'
    assert "rowid in (select rowid from books_fts where books_fts match escape_fts(:search))" in b["query"]["sql"]
    b = get(ds, "/lib/books.json", _search_title="dune", _extra="human_description_en").json()
    assert b["human_description_en"] == 'where search column "title" matches "dune"'
    assert ids(ds, _search="dune OR earthsea", _searchmode="raw") == [1, 4]
    r = get(ds, "/lib/books.json", _search="dune OR", _searchmode="raw")
    assert r.status_code == 400 and "syntax error" in r.json()["error"]
    r = get(ds, "/lib/books.json", _search_nope="x")
    assert r.status_code == 400 and r.json()["error"] == "Cannot search by that column"
    assert len(get(ds, "/lib/authors.json", _search="zzz").json()["rows"]) == 3  # no FTS: ignored


def test_where_and_time_limit(ds):
    assert ids(ds, _where="id > 4") == [5, 6]
    assert ids(ds, _where="id > 1", title__contains="e") == [2, 3, 4]
    r = get(ds, "/lib/books.json", _where="nonsense ((")
    assert r.status_code == 400 and "syntax error" in r.json()["error"]
    r = get(ds, "/lib/books.json", _where="1=1; drop table books")
    assert r.status_code == 400
    slow = ("id in (with recursive c(x) as (select 1 union all select x + 1 from c) "
            "select x from c where x < 0 limit 1)")
    r = get(ds, "/lib/books.json", _where=slow, _timelimit="50")
    assert r.status_code == 400
    assert r.json()["error"] == \
        "SQL query took too long. The time limit is controlled by the sql_time_limit_ms setting."
    assert len(ids(ds)) == 6


def test_extras(ds):
    b = get(ds, "/lib/books.json", _size="1",
            _extra="count,columns,all_columns,primary_keys,database,table,is_view,private").json()
    assert b["count"] == 6 and b["count_truncated"] is False
    assert b["columns"] == ["id", "title", "author_id", "price", "year", "tags", "published", "cover"]
    assert b["all_columns"] == b["columns"] and b["primary_keys"] == ["id"]
    assert (b["database"], b["table"], b["is_view"], b["private"]) == ("lib", "books", False, False)
    assert get(ds, "/lib/logs.json", _extra="columns").json()["columns"] == ["rowid", "msg", "level"]
    b = get(ds, "/lib/big.json", _size="1", _extra="count").json()
    assert b["count"] == 10001 and b["count_truncated"] is True
    assert get(ds, "/lib/books.json", _extra="count", _nocount="1").json()["count"] is None
    r = ds.req("GET", "/lib/books.json?_extra=zz&_extra=count,aa")
    assert r.status_code == 400 and r.json()["error"] == "Unknown _extra: aa, zz"


def test_ttl_head_and_big_pages_use_keyset(ds):
    assert get(ds, "/lib/books.json", _ttl="0").headers["cache-control"] == "no-cache"
    assert get(ds, "/lib/books.json", _ttl="60").headers["cache-control"] == "max-age=60"
    assert get(ds, "/lib/books.json", _ttl="x").headers["cache-control"] == "max-age=5"
    assert "cache-control" not in get(ds, "/-/versions.json").headers
    h = ds.req("HEAD", "/lib/books.json")
    assert h.status_code == 200 and h.content == b"" and int(h.headers["content-length"]) > 100
    # deep into a 100,000-row table: a keyset clause, never OFFSET
    b = get(ds, "/lib/big.json", _size="3", _next="99990", _extra="query").json()
    assert [r["id"] for r in b["rows"]] == [99991, 99992, 99993]
    assert "offset" not in b["query"]["sql"] and "id > :p0" in b["query"]["sql"]


def test_row_pages(ds):
    b = get(ds, "/lib/books/2.json").json()
    assert b == {"ok": True, "database": "lib", "table": "books", "rows": [{
        "id": 2, "title": "The Dispossessed", "author_id": 1, "price": 12.5, "year": 1974,
        "tags": '["scifi"]', "published": "1974-05-01", "cover": {"$base64": True, "encoded": "AP8="}}],
        "primary_keys": ["id"], "primary_key_values": ["2"], "query_ms": b["query_ms"], "truncated": False}
    assert get(ds, "/lib/countries/a~2Eb.json").json()["rows"] == [{"code": "a.b", "name": "Dotted"}]
    b = get(ds, "/lib/editions/a~2Fb,c~2Cd.json").json()
    assert b["primary_key_values"] == ["a/b", "c,d"] and b["rows"][0]["note"] == "slashy"
    assert get(ds, "/lib/editions/x+y,2.json").json()["rows"][0]["code"] == "2"
    b = get(ds, "/lib/logs/2.json", _extra="query").json()
    assert b["rows"] == [{"rowid": 2, "msg": "run", "level": 2}] and b["primary_keys"] == ["rowid"]
    assert b["query"] == {"sql": 'select rowid, * from logs where "rowid"=:p0', "params": {"p0": "2"}}
    b = get(ds, "/lib/authors/1.json", _extra="foreign_key_tables,columns").json()
    assert b["foreign_key_tables"] == [{"other_table": "books", "column": "id", "other_column": "author_id",
                                        "count": 2, "link": "/lib/books?author_id=1"}]
    assert b["columns"] == ["id", "name"]
    b = get(ds, "/lib/authors/1.json", _extra="database_color").json()
    assert b["database_color"] == hashlib.md5(b"lib").hexdigest()[:6]
    r = get(ds, "/lib/authors/1.json", _extra="count,facet_results")
    assert r.status_code == 400 and r.json()["error"] == "Unknown _extra: count, facet_results"
    r = get(ds, "/lib/authors.json", _extra="foreign_key_tables")
    assert r.status_code == 400 and r.json()["error"] == "Unknown _extra: foreign_key_tables"
    assert get(ds, "/lib/books/1.json", _shape="array").json()[0]["title"] == "Dune"
    assert get(ds, "/lib/books/6.json", _json_infinity="1").text.count("Infinity") == 1
    for path, status, msg in [
            ("/lib/books/99.json", 404, "Row not found"),
            ("/lib/cheap/1.json", 404, "Row not found"),
            ("/lib/books/1,2.json", 400, "URL row identifier does not match the primary key for this table"),
            ("/lib/editions/a.json", 400, "URL row identifier does not match the primary key for this table"),
            ("/lib/nope/1.json", 404, "Table not found"),
            ("/nope/books/1.json", 404, "Database not found")]:
        r = get(ds, path)
        assert (r.status_code, r.json()["error"]) == (status, msg), path


def test_csv(ds):
    r = get(ds, "/lib/books.csv", _size="3")
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.text == ("id,title,author_id,price,year,tags,published,cover\r\n"
                      '1,Dune,2,9.5,1965,"[""scifi"", ""classic""]",1965-08-01 10:00:00,\r\n'
                      f'2,The Dispossessed,1,12.5,1974,"[""scifi""]",1974-05-01,'
                      f'http://{ds.host}:{ds.port}/lib/books/2.blob?_blob_column=cover\r\n'
                      "3,Les Faux-monnayeurs,3,,1925,[],1925-01-01,\r\n")
    r = get(ds, "/lib/books.csv", _size="1", _labels="on", _col="author_id", _dl="1")
    assert r.text == "id,author_id,author_id_label\r\n1,2,Frank Herbert\r\n"
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == 'attachment; filename="books.csv"'
    assert get(ds, "/lib/countries.csv", _header="off").text == "a.b,Dotted\r\nfr,France\r\njp,日本\r\n"
    assert get(ds, "/lib/countries/jp.csv").text == "code,name\r\njp,日本\r\n"
    r = get(ds, "/lib/-/query.csv", sql="select 1 as a, null as b, 'x,y' as c")
    assert r.text == 'a,b,c\r\n1,,"x,y"\r\n'
    r = get(ds, "/lib/-/query.csv", sql="select 1 as a", _dl="1")
    assert r.headers["content-disposition"] == 'attachment; filename="lib.csv"'


def test_blob_download(ds):
    r = get(ds, "/lib/books/2.blob", _blob_column="cover")
    assert r.status_code == 200 and r.content == b"\x00\xff"
    assert r.headers["content-type"] == "application/binary"
    assert r.headers["content-disposition"] == 'attachment; filename="books-2.blob"'
    assert r.headers["x-content-type-options"] == "nosniff"
    # the URL the CSV export writes for a blob cell leads here
    csv = get(ds, "/lib/books.csv", _size="2").text
    url = csv.split("\r\n")[2].split(",")[-1]
    assert requests.get(url, timeout=30).content == b"\x00\xff"
    assert get(ds, "/lib/books/1.blob", _blob_column="cover").content == b""
    assert get(ds, "/lib/books/99.blob", _blob_column="cover").status_code == 404
    assert get(ds, "/lib/books/2.blob", _blob_column="nope").status_code == 400
    assert get(ds, "/lib/books.blob").status_code == 404


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_csv_stream_walks_all_rows_in_bounded_memory(ds):
    before = rss_kb(ds.proc.pid)
    r = requests.get(ds.url + "/lib/big.csv", params={"_stream": "on"}, stream=True, timeout=120 * SLOW)
    assert r.status_code == 200 and r.headers.get("transfer-encoding") == "chunked"
    it = r.iter_content(chunk_size=65536)
    first = next(it)
    # The client stalls: the server must wait for it rather than queue the
    # whole ~11 MB export in memory.
    time.sleep(1.5)
    during = rss_kb(ds.proc.pid)
    rest = b"".join(it)
    lines = (first + rest).split(b"\r\n")
    assert lines[0] == b"id,age,pad" and lines[-1] == b""
    assert len(lines) == BIG + 2
    assert lines[BIG].startswith(b"100000,0,")
    if not os.environ.get("ATRIUM_SANITIZED"):
        assert during - before < 8 * 1024, (before, during)


def test_csv_stream_client_going_away(ds):
    # Clients that hang up mid-export: the stream stops, nothing leaks (the
    # module's server must still exit cleanly), other requests go on.
    for _ in range(3):
        s = ds.raw_socket()
        s.sendall(b"GET /lib/big.csv?_stream=on HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(65536).startswith(b"HTTP/1.1 200")
        s.close()
    assert get(ds, "/lib/books.json").status_code == 200


def test_routes_redirects_and_methods(ds):
    r = ds.req("GET", "/lib.json?sql=select+1", allow_redirects=False)
    assert r.status_code == 302 and r.headers["location"] == "/lib/-/query.json?sql=select+1"
    r = ds.req("GET", "/lib.csv?_x=1&sql=select+1", allow_redirects=False)
    assert r.status_code == 302 and r.headers["location"] == "/lib/-/query.csv?_x=1&sql=select+1"
    assert ds.req("GET", "/lib.json?nosql=1", allow_redirects=False).status_code == 200
    r = ds.req("GET", "/lib/books.json/", allow_redirects=False)
    assert r.status_code == 302 and r.headers["location"] == "/lib/books.json"
    st, hdrs, _ = ds.raw_req("GET", "/lib/a%2Eb.json")
    assert st == 302 and hdrs["location"] == "/lib/a~2Eb.json"
    r = ds.req("PUT", "/lib/books.json")
    assert r.status_code == 405 and r.text == "Method not allowed"
    r = ds.req("OPTIONS", "/lib/anything/at/all")
    assert r.status_code == 200 and r.text == "ok"
    r = get(ds, "/nope/books.json")
    assert r.status_code == 404 and r.json()["error"] == "Database not found"
    r = get(ds, "/lib/nope.json")
    assert r.status_code == 404 and r.json() == {"ok": False, "error": "Table not found",
                                                  "errors": ["Table not found"], "status": 404}
    r = get(ds, "/nope")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")


def test_cors_everywhere(ds):
    want = {"access-control-allow-origin": "*",
            "access-control-allow-headers": "Authorization, Content-Type",
            "access-control-expose-headers": "Link",
            "access-control-allow-methods": "GET, POST, HEAD, OPTIONS",
            "access-control-max-age": "3600"}
    for method, path in [("GET", "/lib/books.json"), ("GET", "/lib/nope.json"), ("OPTIONS", "/lib/books.json"),
                         ("GET", "/lib/books/1.json"), ("GET", "/lib/books.csv"), ("GET", "/.json"),
                         ("POST", "/lib/books/-/insert")]:
        r = ds.req(method, path, allow_redirects=False)
        for k, v in want.items():
            assert r.headers.get(k) == v, (method, path, k)


def test_instance_views(ds, tmp_path):
    b = get(ds, "/.json").json()
    db = b["databases"][0]
    assert b["ok"] is True and b["unstable"].startswith("This API is not part")
    assert db["name"] == "lib" and db["color"] == hashlib.md5(b"lib").hexdigest()[:6]
    assert db["path"] == "/lib" and db["hash"] is None
    assert db["tables_count"] == 6 and db["views_count"] == 1
    assert len(db["tables_and_views_truncated"]) == 5
    v = get(ds, "/-/versions.json").json()
    assert v["datasette"]["version"] == "1.0a37" and v["sqlite"]["version"].startswith("3.")
    assert "FTS5" in v["sqlite"]["fts_versions"]
    d = get(ds, "/-/databases.json").json()["databases"]
    assert d[0]["name"] == "lib" and d[0]["route"] == "lib" and d[0]["size"] > 0 and d[0]["is_mutable"] is True
    assert get(ds, "/-/actor.json").json() == {"ok": True, "actor": None}
    tok = ds.signin()
    assert ds.req("GET", "/-/actor.json", token=tok).json()["actor"] == {"id": "admin", "token": "dstok"}
    b = get(ds, "/lib.json").json()
    assert b["database"] == "lib" and b["private"] is False and b["path"] == "/lib"
    tables = {t["name"]: t for t in b["tables"]}
    assert tables["books"]["fts_table"] == "books_fts" and tables["books"]["count"] == 6
    assert tables["books"]["foreign_keys"]["outgoing"] == [
        {"other_table": "authors", "column": "author_id", "other_column": "id"}]
    assert tables["authors"]["foreign_keys"]["incoming"] == [
        {"other_table": "books", "column": "id", "other_column": "author_id"}]
    assert tables["books_fts"]["hidden"] is True and tables["books_fts_data"]["hidden"] is True
    assert tables["editions"]["primary_keys"] == ["work", "code"]
    assert b["views"] == [{"name": "cheap", "private": False}]
    assert b["table_columns"]["books"] == sorted(tables["books"]["columns"])
    assert b["hidden_count"] >= 5 and b["queries"] == [] and b["allow_execute_sql"] is True


def test_private_databases_and_tokens(fresh, tmp_path):
    ds_fixture.build(tmp_path / "secret.db")
    s = fresh(str(tmp_path / "secret.db"), "--private")
    r = s.req("GET", "/secret/books.json")
    assert r.status_code == 403 and r.json()["error"] == "You do not have permission to view this database"
    assert s.req("GET", "/.json").json()["databases"] == []
    tok = s.signin()
    assert s.req("GET", "/secret/books.json", token=tok).status_code == 200
    r = s.req("GET", "/secret/books.json", token="dstok_nope")
    assert r.status_code == 401 and r.json()["error"] == "Invalid token signature"
    assert r.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert s.req("GET", "/secret/books.json", token="some-foreign-token").status_code == 403


def test_hostile_table_names_in_headers(fresh, tmp_path):
    import sqlite3
    c = sqlite3.connect(tmp_path / "h.db")
    c.execute('CREATE TABLE "a\r\nX-Injected: 1\r\n""b" (id INTEGER PRIMARY KEY)')
    c.execute('INSERT INTO "a\r\nX-Injected: 1\r\n""b" VALUES (1)')
    c.commit()
    c.close()
    s = fresh(str(tmp_path / "h.db"))
    st, hdrs, body = s.raw_req("GET", "/h/a~0D~0AX-Injected~3A+1~0D~0A~22b.csv?_dl=1")
    assert st == 200 and "x-injected" not in hdrs
    assert hdrs["content-disposition"] == 'attachment; filename="a__X-Injected: 1___b.csv"'
    assert body == b"id\r\n1\r\n"
