"""Reads that differ only in their literals share one prepared statement
(core/sql_lift): "... WHERE id = 7" runs as "... WHERE id = ?1" with 7
bound. Through every door that takes SQL, each answer is what the text as
written answers (rows, column names, errors), and /metrics shows the lifted
statement being reused."""
import urllib.parse

from conftest import uid
from test_metrics_ops import scrape, value

SELECT = "SELECT id, 1, 'k' AS c, name FROM people WHERE id = {} AND name <> 'it''s not'"


def rows_typedb(server, token, db, sql):
    r = server.req("POST", "/v1/query", token=token,
                   json={"databaseName": db, "transactionType": "read", "query": sql})
    assert r.status_code == 200, r.text
    return [{k: v["value"] for k, v in a["data"].items()} for a in r.json()["answers"]]


def rows_airsequel(server, token, db, sql):
    r = server.req("POST", f"/dbs/{db}/sql", token=token, json={"query": sql})
    assert r.status_code == 200, r.text
    return r.json()["rows"]


def rows_stdb(server, token, db, sql):
    r = server.req("POST", f"/v1/database/{db}/sql", token=token, data=sql)
    assert r.status_code == 200, r.text
    [res] = r.json()
    names = [e["name"]["some"] for e in res["schema"]["elements"]]
    out = []
    for row in res["rows"]:
        # optional columns come as {"some": v} sums: unwrap them
        vals = [v.get("some", v) if isinstance(v, dict) else v for v in row]
        vals = [list(v.values())[0] if isinstance(v, dict) else v for v in vals]
        out.append(dict(zip(names, vals)))
    return out


def rows_datasette(server, token, db, sql):
    r = server.req("GET", f"/{db}/-/query.json?sql=" + urllib.parse.quote(sql), token=token)
    assert r.status_code == 200, r.text
    return r.json()["rows"]


DOORS = {"typedb": rows_typedb, "airsequel": rows_airsequel, "spacetimedb": rows_stdb, "datasette": rows_datasette}


def make_db(server, admin):
    db = uid("lift")
    assert server.req("POST", f"/v1/databases/{db}", token=admin).status_code == 200
    r = server.req("POST", f"/dbs/{db}/sql", token=admin, json={
        "query": "CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT NOT NULL, age INT)"})
    assert r.status_code == 200, r.text
    values = ", ".join(f"({i}, 'p{i}', {20 + i})" for i in range(1, 41))
    r = server.req("POST", f"/dbs/{db}/sql", token=admin,
                   json={"query": f"INSERT INTO people VALUES {values}, (41, 'o''brien', 7)"})
    assert r.status_code == 200, r.text
    return db


def test_each_door_answers_each_literal(server, admin):
    db = make_db(server, admin)
    before = scrape(server, admin)
    for door, rows in DOORS.items():
        for i in (3, 17, 29, 41):
            got = rows(server, admin, db, SELECT.format(i))
            name = "o'brien" if i == 41 else f"p{i}"
            assert got == [{"id": i, "1": 1, "c": "k", "name": name}], (door, i, got)
        # a string literal with a quote in it, LIMIT, and affinity (age is INT, '27' a string)
        assert rows(server, admin, db, "SELECT id FROM people WHERE name = 'o''brien'") == [{"id": 41}]
        assert rows(server, admin, db, "SELECT id FROM people WHERE age = '27'") == [{"id": 7}]
        got = rows(server, admin, db, "SELECT id FROM people WHERE age > 50 ORDER BY 1 DESC LIMIT 2")
        assert got == [{"id": 40}, {"id": 39}], (door, got)
        assert rows(server, admin, db, "SELECT id FROM people WHERE age > 50 ORDER BY 1 DESC LIMIT 1") == [{"id": 40}]
    for _ in range(2):  # no literal: the second is a hit on the very same text
        assert rows_airsequel(server, admin, db, "SELECT count(*) AS n FROM people") == [{"n": 41}]
    after = scrape(server, admin)
    lifted = value(after, "atrium_sql_statement_cache_lookups_total", result="lifted_hit") - \
        value(before, "atrium_sql_statement_cache_lookups_total", result="lifted_hit")
    # 4 doors x 4 lookups of one shape, plus the LIMIT pair: most came from one statement each
    assert lifted >= 4 * 3, lifted
    # each outcome has its own series (none folded into "_other")
    results = {l.get("result") for n, l, v in after["atrium_sql_statement_cache_lookups_total"]["samples"]}
    assert {"hit", "lifted_hit", "miss"} <= results and "_other" not in results, results


def test_one_request_one_lookup(server, admin):
    """SpacetimeDB /sql classifies its text before it runs it: only the run
    counts as a statement-cache lookup."""
    db = make_db(server, admin)
    total = lambda m: sum(value(m, "atrium_sql_statement_cache_lookups_total", result=r)
                          for r in ("hit", "lifted_hit", "miss"))
    for door, rows in DOORS.items():
        before = scrape(server, admin)
        assert rows(server, admin, db, SELECT.format(5)) == [{"id": 5, "1": 1, "c": "k", "name": "p5"}]
        assert total(scrape(server, admin)) - total(before) == 1, door


def test_errors_and_refusals_speak_of_the_text_as_sent(server, admin):
    db = make_db(server, admin)
    r = server.req("POST", f"/dbs/{db}/sql", token=admin, json={"query": "SELECT nope FROM people WHERE id = 1"})
    assert r.json()["errors"] == ["no such column: nope"], r.text   # Airsequel's shape: 200 with errors
    # a write shaped like a read is still a write: refused in a read transaction, and never lifted
    r = server.req("POST", "/v1/query", token=admin, json={
        "databaseName": db, "transactionType": "read", "query": "WITH x AS (SELECT 1) DELETE FROM people WHERE id = 1"})
    assert r.status_code >= 400, r.text
    assert rows_airsequel(server, admin, db, "SELECT count(*) AS n FROM people WHERE id = 1") == [{"n": 1}]


def test_a_write_is_seen_by_the_next_lifted_read(server, admin):
    db = make_db(server, admin)
    for door, rows in DOORS.items():
        assert rows(server, admin, db, "SELECT name FROM people WHERE id = 5") == [{"name": "p5"}]
    r = server.req("POST", f"/{db}/people/-/insert", token=admin, json={"row": {"id": 99, "name": "new", "age": 1}})
    assert r.status_code == 201, r.text
    for door, rows in DOORS.items():
        assert rows(server, admin, db, "SELECT name FROM people WHERE id = 99") == [{"name": "new"}], door
