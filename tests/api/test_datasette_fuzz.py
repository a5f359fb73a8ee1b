"""Hostile input for the Datasette face: seeded random combinations of
controls, filters, odd values and paths, and random write bodies. Every
answer must be a proper status in the dialect's shape; the server must
survive (and exit cleanly: no sanitizer report)."""
import os
import random

import pytest
import requests

import ds_fixture
from conftest import Server

KEYS = ["_size", "_next", "_sort", "_sort_desc", "_col", "_nocol", "_shape", "_nl", "_json", "_labels", "_label",
        "_facet", "_facet_size", "_search", "_search_title", "_searchmode", "_where", "_extra", "_ttl",
        "_timelimit", "_stream", "_dl", "_header", "title", "id__in", "id__notin", "tags__arraycontains",
        "year__gt", "price__date", "x__isnull", "title__glob", "__", "a__b__c", ""]
VALUES = ["", "0", "1", "max", "-1", "99999999999999999999", "[", '[1,"a",null,{}]', "id", "title", "price",
          "rowid", "zz", "~", "~ZZ", "$null,1", "$null", "a,b,c", "1,2", "%", '"', ";drop table books", "😀",
          "on", "raw", "objects", "object", "arrays", "array", "arrayfirst",
          "count,query,facet_results,human_description_en,columns", "'", "x" * 3000]
TABLES = ["books", "authors", "editions", "logs", "cheap", "countries", "big", "books_fts", "nope",
          "sqlite_master", "books_fts_data"]
CELLS = [1, "x", None, [1], {"$base64": True, "encoded": "!!"}, {"$raw": 2}, True, 1.5, {"a": {"b": []}}, "😀"]


@pytest.fixture(scope="module")
def fz(tmp_path_factory):
    d = tmp_path_factory.mktemp("fz")
    ds_fixture.build(d / "lib.db", big_rows=2000, pad=5)
    data = d / "data"
    data.mkdir()
    s = Server(data, [str(d / "lib.db")])
    s.tok = s.signin()
    yield s
    assert s.stop() == 0, s.log()[-3000:]


# ATRIUM_FUZZ_ROUNDS scales the rounds for a longer hunt.
ROUNDS = int(os.environ.get("ATRIUM_FUZZ_ROUNDS", "1"))
SEED = int(os.environ.get("ATRIUM_FUZZ_SEED", "7"))


def test_random_reads(fz):
    rnd = random.Random(SEED)
    for _ in range(1500 * ROUNDS):
        t = rnd.choice(TABLES)
        q = [(rnd.choice(KEYS), rnd.choice(VALUES)) for _ in range(rnd.randint(0, 5))]
        ext = rnd.choice([".json", ".csv"])
        if rnd.random() < 0.8:
            path = f"/lib/{t}{ext}"
        else:
            path = f"/lib/{t}/{rnd.choice(['1', 'a~2Fb,c~2Cd', 'x+y,1', '~', '1,2,3', '~2C', ''])}{ext}"
        r = fz.req("GET", path, params=q, allow_redirects=False)
        assert r.status_code in (200, 302, 400, 403, 404), (r.status_code, path, q, r.text[:300])
        if ext == ".json" and r.status_code >= 400 and not path.endswith("/.json"):
            # (a bare "/.json" segment is a row id, as in Datasette: its page is HTML)
            body = r.json()
            assert body["ok"] is False and body["status"] == r.status_code and body["errors"]


def test_random_writes(fz):
    rnd = random.Random(SEED + 4)
    for i in range(400 * ROUNDS):
        t = rnd.choice(TABLES)
        op = rnd.choice(["insert", "upsert", "drop"]) if rnd.random() < 0.9 else "insert"
        if op == "drop" and rnd.random() < 0.8:
            op = "insert"
        body = rnd.choice([
            {"row": {rnd.choice(["title", "id", "zz", "rowid", ""]): rnd.choice(CELLS)}},
            {"rows": [{}] * rnd.randint(0, 3)}, "x", [], {"confirm": rnd.choice([True, False])},
            {"rows": [{"id": rnd.randint(1, 5), "title": rnd.choice(CELLS)}], "ignore": True, "return": True},
            {"rows": [{"id": rnd.randint(1, 9)}], "alter": True, "replace": rnd.choice([True, False])}])
        r = fz.req("POST", f"/lib/{t}/-/{op}", json=body, token=fz.tok)
        assert r.status_code in (200, 201, 400, 403, 404), (r.status_code, t, op, body, r.text)
        r = fz.req("POST", f"/lib/{t}/{rnd.choice(['1', '2', 'x+y,1', '~'])}/-/{rnd.choice(['update', 'delete'])}",
                   json=rnd.choice([{"update": {"title": rnd.choice(CELLS)}, "return": True},
                                    {"update": {"zz": 1}, "alter": True}, {"update": 1}, None]), token=fz.tok)
        assert r.status_code in (200, 400, 403, 404), r.text
        create = rnd.choice([
            {"table": f"t{i}", "rows": [{"a": rnd.choice(CELLS)}], "pk": rnd.choice(["a", "b"])},
            {"table": f"c{i}", "columns": [{"name": "a", "type": rnd.choice(["text", "integer", "float", "blob", 3]),
                                            "default": rnd.choice([1, "x'", None, [1]]),
                                            "default_expr": rnd.choice([None, "current_date", "nope"]),
                                            "fk_table": rnd.choice(["authors", "nope", 5])}]},
            {"table": rnd.choice(["", "sqlite_x", "books", 'we"ird', "a]b"]), "columns": [{"name": "x"}]}])
        r = fz.req("POST", "/lib/-/create", json=create, token=fz.tok)
        assert r.status_code in (201, 400), r.text
    assert fz.req("GET", "/lib/authors.json").status_code == 200
