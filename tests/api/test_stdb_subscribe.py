"""SpacetimeDB-style subscriptions over WebSocket, v1.json.spacetimedb
(spec/spacetimedb.md §4), with Debian's python3-websockets: handshake,
every message kind, and writes through each door reaching subscribers."""
import asyncio
import json
import uuid

import pytest
import requests
import websockets
import websockets.exceptions

from conftest import SLOW

PROTO = "v1.json.spacetimedb"
T = 10 * SLOW


def ws_url(server, db, qs=""):
    return f"ws://{server.host}:{server.port}/v1/database/{db}/subscribe" + (f"?{qs}" if qs else "")


async def connect(server, db, token=None, qs="", protocols=(PROTO,)):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    ws = await websockets.connect(ws_url(server, db, qs), subprotocols=list(protocols),
                                  extra_headers=headers, max_size=None, open_timeout=T)
    first = json.loads(await asyncio.wait_for(ws.recv(), T))
    return ws, first


async def recv(ws):
    return json.loads(await asyncio.wait_for(ws.recv(), T))


async def send(ws, msg):
    await ws.send(json.dumps(msg))


def run(coro):
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def env(server, admin):
    name = "subs" + uuid.uuid4().hex[:8]
    assert server.req("POST", f"/v1/databases/{name}", token=admin).status_code == 200
    r = server.req("POST", "/v1/query", token=admin, json={
        "databaseName": name, "transactionType": "schema",
        "query": "CREATE TABLE person(id INTEGER PRIMARY KEY, name TEXT NOT NULL, age INTEGER)"})
    assert r.status_code == 200, r.text
    return server, admin, name


def sql(env, query):
    server, admin, name = env
    r = server.req("POST", f"/v1/database/{name}/sql", token=admin, data=query)
    assert r.status_code == 200, r.text
    return r


def rows_of(tu):
    """{'deletes': [...], 'inserts': [...]} summed over a TableUpdate's updates."""
    out = {"deletes": [], "inserts": []}
    for u in tu["updates"]:
        out["deletes"] += [json.loads(x) for x in u["deletes"]]
        out["inserts"] += [json.loads(x) for x in u["inserts"]]
    return out


def test_handshake_needs_our_protocol(env):
    server, admin, name = env
    r = requests.get(ws_url(server, name).replace("ws://", "http://"), headers={
        "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": "v9.nothing"})
    assert r.status_code == 400 and r.text == "no valid protocol selected"

    async def bad_conn_id():
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as ei:
            await connect(server, name, token=admin, qs="connection_id=" + "0" * 32)
        assert ei.value.status_code == 400
    run(bad_conn_id())


def test_identity_token_first(env):
    server, admin, name = env

    async def go():
        ws, first = await connect(server, name, token=admin, qs="connection_id=" + "00" * 15 + "2a")
        assert ws.subprotocol == PROTO
        it = first["IdentityToken"]
        assert it["token"] == admin
        assert it["identity"]["__identity__"].startswith("0x") and len(it["identity"]["__identity__"]) == 66
        assert it["connection_id"] == {"__connection_id__": 42}
        await ws.close()
        # without a token an identity is minted: it may not read a private database
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as ei:
            await connect(server, name)
        assert ei.value.status_code == 404
        # a wrong token is refused before anything else
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as ei:
            await connect(server, name, token="atr_" + "A" * 43)
        assert ei.value.status_code == 401
    run(go())


def test_subscribe_initial_rows_then_updates_from_every_door(env):
    server, admin, name = env
    sql(env, "DELETE FROM person")
    sql(env, "INSERT INTO person(id, name, age) VALUES (1, 'Al', 30)")

    async def go():
        ws, _ = await connect(server, name, token=admin)
        await send(ws, {"Subscribe": {"query_strings": ["SELECT * FROM person"], "request_id": 1}})
        m = (await recv(ws))["InitialSubscription"]
        assert m["request_id"] == 1
        assert "__time_duration_micros__" in m["total_host_execution_duration"]
        [tu] = m["database_update"]["tables"]
        assert tu["table_name"] == "person" and tu["table_id"] >= 4096 and tu["num_rows"] == 1
        assert rows_of(tu) == {"deletes": [], "inserts": [[1, "Al", {"some": 30}]]}

        async def expect(deletes, inserts):
            tx = (await recv(ws))["TransactionUpdate"]
            [tu] = tx["status"]["Committed"]["tables"]
            assert rows_of(tu) == {"deletes": deletes, "inserts": inserts}
            assert tx["reducer_call"] == {"reducer_name": "", "reducer_id": 0, "args": "[]", "request_id": 0}
            assert tx["caller_connection_id"] == {"__connection_id__": 0}

        loop = asyncio.get_running_loop()

        def http(*a, **k):
            return loop.run_in_executor(None, lambda: server.req(*a, **k))
        # SpacetimeDB /sql
        r = await http("POST", f"/v1/database/{name}/sql", token=admin, data="INSERT INTO person VALUES (2, 'Bo', NULL)")
        assert r.status_code == 200
        await expect([], [[2, "Bo", {"none": []}]])
        # Datasette insert, update, delete
        r = await http("POST", f"/{name}/person/-/insert", token=admin, json={"row": {"id": 3, "name": "Cy", "age": 5}})
        assert r.status_code == 201, r.text
        await expect([], [[3, "Cy", {"some": 5}]])
        r = await http("POST", f"/{name}/person/3/-/update", token=admin, json={"update": {"age": 6}})
        assert r.status_code == 200, r.text
        await expect([[3, "Cy", {"some": 5}]], [[3, "Cy", {"some": 6}]])
        r = await http("POST", f"/{name}/person/3/-/delete", token=admin)
        assert r.status_code == 200, r.text
        await expect([[3, "Cy", {"some": 6}]], [])
        # Airsequel /sql
        r = await http("POST", f"/dbs/{name}/sql", token=admin, json={"query": "UPDATE person SET age = 31 WHERE id = 1"})
        assert r.status_code == 200, r.text
        await expect([[1, "Al", {"some": 30}]], [[1, "Al", {"some": 31}]])
        # TypeDB one-shot, and an interactive transaction's commit
        r = await http("POST", "/v1/query", token=admin, json={
            "databaseName": name, "transactionType": "write", "query": "INSERT INTO person VALUES (4, 'Di', 1)"})
        assert r.status_code == 200, r.text
        await expect([], [[4, "Di", {"some": 1}]])
        t = (await http("POST", "/v1/transactions/open", token=admin,
                        json={"databaseName": name, "transactionType": "write"})).json()["transactionId"]
        await http("POST", f"/v1/transactions/{t}/query", token=admin, json={"query": "DELETE FROM person WHERE id = 4"})
        await http("POST", f"/v1/transactions/{t}/query", token=admin, json={"query": "INSERT INTO person VALUES (5, 'Ed', 2)"})
        r = await http("POST", f"/v1/transactions/{t}/commit", token=admin)
        assert r.status_code == 200, r.text
        await expect([[4, "Di", {"some": 1}]], [[5, "Ed", {"some": 2}]])
        # Airsequel GraphQL: a mutation is one transaction update
        r = await http("POST", f"/dbs/{name}/graphql", token=admin, json={
            "query": 'mutation { insert_person(objects: [{id: 6, name: "Fy", age: 3}]) { affected_rows } }'})
        assert r.status_code == 200 and "errors" not in r.json(), r.text
        await expect([], [[6, "Fy", {"some": 3}]])
        # a mutation whose second field fails is rolled back whole: nothing is sent
        r = await http("POST", f"/dbs/{name}/graphql", token=admin, json={
            "query": 'mutation { a: insert_person(objects: [{id: 7, name: "G"}]) { affected_rows }'
                     ' b: insert_person(objects: [{id: 6, name: "dup"}]) { affected_rows } }'})
        assert r.status_code == 200 and r.json()["data"] is None, r.text
        # a write that fails sends nothing; the next one arrives next
        r = await http("POST", f"/v1/database/{name}/sql", token=admin, data="INSERT INTO person VALUES (5, 'dup', 0)")
        assert r.status_code == 400
        await http("POST", f"/v1/database/{name}/sql", token=admin, data="DELETE FROM person WHERE id = 2")
        await expect([[2, "Bo", {"none": []}]], [])
        await ws.close()
    run(go())


def test_single_multi_unsubscribe_and_where(env):
    server, admin, name = env
    sql(env, "DELETE FROM person")
    sql(env, "INSERT INTO person VALUES (1, 'Al', 30), (2, 'Bo', 17)")

    async def go():
        ws, _ = await connect(server, name, token=admin)
        await send(ws, {"SubscribeSingle": {"query": "SELECT * FROM person WHERE age >= 18", "request_id": 2,
                                            "query_id": {"id": 7}}})
        m = (await recv(ws))["SubscribeApplied"]
        assert m["request_id"] == 2 and m["query_id"] == {"id": 7}
        assert m["rows"]["table_name"] == "person"
        assert rows_of(m["rows"]["table_rows"])["inserts"] == [[1, "Al", {"some": 30}]]
        # a duplicate query id is refused, the first stays
        await send(ws, {"SubscribeSingle": {"query": "SELECT * FROM person", "request_id": 3, "query_id": {"id": 7}}})
        e = (await recv(ws))["SubscriptionError"]
        assert e["request_id"] == {"some": 3} and e["query_id"] == {"some": 7} and e["table_id"] == {"none": []}
        # Bo turns 18: he enters the query (an update seen as an insert)
        sql(env, "UPDATE person SET age = 18 WHERE id = 2")
        tx = (await recv(ws))["TransactionUpdate"]
        assert rows_of(tx["status"]["Committed"]["tables"][0]) == {"deletes": [], "inserts": [[2, "Bo", {"some": 18}]]}
        # a change outside the query sends nothing to this session; the next match arrives
        sql(env, "INSERT INTO person VALUES (3, 'Kid', 3)")
        sql(env, "UPDATE person SET age = 10 WHERE id = 1")
        tx = (await recv(ws))["TransactionUpdate"]
        assert rows_of(tx["status"]["Committed"]["tables"][0]) == {"deletes": [[1, "Al", {"some": 30}]], "inserts": []}
        # multi, with a quoted identifier and an alias
        await send(ws, {"SubscribeMulti": {"query_strings": ['SELECT p.* FROM "person" AS p WHERE p.name = \'Kid\''],
                                           "request_id": 4, "query_id": {"id": 8}}})
        m = (await recv(ws))["SubscribeMultiApplied"]
        assert m["query_id"] == {"id": 8}
        assert rows_of(m["update"]["tables"][0])["inserts"] == [[3, "Kid", {"some": 3}]]
        await send(ws, {"Unsubscribe": {"request_id": 5, "query_id": {"id": 7}}})
        m = (await recv(ws))["UnsubscribeApplied"]
        assert m["query_id"] == {"id": 7}
        assert rows_of(m["rows"]["table_rows"]) == {"deletes": [[2, "Bo", {"some": 18}]], "inserts": []}
        await send(ws, {"UnsubscribeMulti": {"request_id": 6, "query_id": {"id": 8}}})
        m = (await recv(ws))["UnsubscribeMultiApplied"]
        assert rows_of(m["update"]["tables"][0]) == {"deletes": [[3, "Kid", {"some": 3}]], "inserts": []}
        await send(ws, {"Unsubscribe": {"request_id": 9, "query_id": {"id": 8}}})
        assert "SubscriptionError" in await recv(ws)
        await ws.close()
    run(go())


@pytest.mark.parametrize("query,error", [
    ("SELECT * FROM persn", "no such table: persn"),
    ("SELECT * FROM person JOIN person AS b", "joins in subscriptions are not supported yet"),
    ("SELECT * FROM person, person", "joins in subscriptions are not supported yet"),
    ("SELECT * FROM person WHERE (age > 1", "unbalanced"),
    ("SELECT * FROM person WHERE age > random()", "random"),
    ("SELECT * FROM person WHERE id IN (SELECT id FROM person)", "subqueries"),
    ("SELECT * FROM person WHERE nope = 1", "no such column"),
    ("SELECT name FROM person", "unsupported subscription query"),
    ("DELETE FROM person", "unsupported subscription query"),
])
def test_bad_queries_are_subscription_errors(env, query, error):
    server, admin, name = env

    async def go():
        ws, _ = await connect(server, name, token=admin)
        await send(ws, {"Subscribe": {"query_strings": ["SELECT * FROM person", query], "request_id": 11}})
        e = (await recv(ws))["SubscriptionError"]
        assert e["request_id"] == {"some": 11} and e["query_id"] == {"none": []}
        assert error in e["error"], e
        await ws.close()
    run(go())


def test_one_off_query_and_sender(env):
    server, admin, name = env
    sql(env, "DELETE FROM person")
    sql(env, "INSERT INTO person VALUES (1, 'Al', 30)")

    async def go():
        ws, first = await connect(server, name, token=admin)
        await send(ws, {"OneOffQuery": {"message_id": "0a0b", "query_string": "SELECT * FROM person WHERE id = 1"}})
        m = (await recv(ws))["OneOffQueryResponse"]
        assert m["message_id"] == "0a0b" and m["error"] == {"none": []}
        assert m["tables"] == [{"table_name": "person", "rows": ['[1,"Al",{"some":30}]']}]
        await send(ws, {"OneOffQuery": {"message_id": "ff", "query_string": "SELECT * FROM nope"}})
        m = (await recv(ws))["OneOffQueryResponse"]
        assert m["error"] == {"some": "no such table: nope"} and m["tables"] == []
        # :sender is the session's identity (hex)
        ident = first["IdentityToken"]["identity"]["__identity__"][2:]
        await send(ws, {"OneOffQuery": {"message_id": "01", "query_string": "SELECT * FROM person WHERE :sender = '%s'" % ident}})
        m = (await recv(ws))["OneOffQueryResponse"]
        assert len(m["tables"][0]["rows"]) == 1
        await ws.close()
    run(go())


def test_reducer_calls_without_module_fail_to_the_caller(env):
    server, admin, name = env

    async def go():
        ws, _ = await connect(server, name, token=admin)
        await send(ws, {"CallReducer": {"reducer": "add", "args": "[\"Bob\"]", "request_id": 6, "flags": 0}})
        tx = (await recv(ws))["TransactionUpdate"]
        assert "add" in tx["status"]["Failed"]
        assert tx["reducer_call"]["reducer_name"] == "add" and tx["reducer_call"]["request_id"] == 6
        await send(ws, {"CallProcedure": {"procedure": "p", "args": "[]", "request_id": 7}})
        m = (await recv(ws))["ProcedureResult"]
        assert m["status"] == {"InternalError": "procedures are not supported"}
        await ws.close()
    run(go())


@pytest.mark.parametrize("frame", ["not json", '{"Nope": {}}', '{"Subscribe": {"request_id": 1}}', "[]"])
def test_undecodable_messages_close_1011(env, frame):
    server, admin, name = env

    async def go():
        ws, _ = await connect(server, name, token=admin)
        await ws.send(frame)
        with pytest.raises(websockets.exceptions.ConnectionClosed) as ei:
            await asyncio.wait_for(ws.recv(), T)
        assert ei.value.code == 1011 and ei.value.reason
    run(go())


def test_binary_frames_close_1011(env):
    server, admin, name = env

    async def go():
        ws, _ = await connect(server, name, token=admin)
        await ws.send(b"\x00\x01")
        with pytest.raises(websockets.exceptions.ConnectionClosed) as ei:
            await asyncio.wait_for(ws.recv(), T)
        assert ei.value.code == 1011
    run(go())


def test_oversized_message_closes_1009(env):
    server, admin, name = env

    async def go():
        ws, _ = await connect(server, name, token=admin)
        with pytest.raises(websockets.exceptions.ConnectionClosed) as ei:
            await ws.send("x" * (33 << 20))
            await asyncio.wait_for(ws.recv(), T * 3)
        assert ei.value.code == 1009 or ws.close_code == 1009
    run(go())


def test_deleting_the_database_closes_1001(server, admin):
    name = "gone" + uuid.uuid4().hex[:6]
    server.req("POST", f"/v1/databases/{name}", token=admin)

    async def go():
        ws, _ = await connect(server, name, token=admin)
        loop = asyncio.get_running_loop()
        r = await loop.run_in_executor(None, lambda: server.req("DELETE", f"/v1/databases/{name}", token=admin))
        assert r.status_code == 200, r.text
        with pytest.raises(websockets.exceptions.ConnectionClosed) as ei:
            await asyncio.wait_for(ws.recv(), T)
        assert ei.value.code == 1001
    run(go())


def test_shutdown_closes_1001(fresh):
    s = fresh()
    admin = s.signin()
    s.req("POST", "/v1/databases/d1", token=admin)

    async def go():
        ws, _ = await connect(s, "d1", token=admin)
        loop = asyncio.get_running_loop()
        stopped = loop.run_in_executor(None, s.stop)
        with pytest.raises(websockets.exceptions.ConnectionClosed) as ei:
            await asyncio.wait_for(ws.recv(), T)
        assert ei.value.code == 1001
        assert await stopped == 0
    run(go())


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_a_subscriber_that_stops_reading_is_cut_off_alone(fresh):
    """A session whose client stops reading fills its bounded queue and is
    closed; another session of the same table gets every update meanwhile,
    and the server's memory stays bounded."""
    s = fresh("--ws-max-queue-bytes", "1048576")
    admin = s.signin()
    s.req("POST", "/v1/databases/big", token=admin)
    s.req("POST", "/v1/query", token=admin, json={
        "databaseName": "big", "transactionType": "schema", "query": "CREATE TABLE big(id INTEGER PRIMARY KEY, v TEXT)"})
    n = 150

    async def go():
        headers = {"Authorization": f"Bearer {admin}"}
        slow = await websockets.connect(ws_url(s, "big"), subprotocols=[PROTO], extra_headers=headers,
                                        max_size=None, max_queue=1, read_limit=1 << 14, write_limit=1 << 14)
        await recv(slow)
        await send(slow, {"Subscribe": {"query_strings": ["SELECT * FROM big"], "request_id": 1}})
        await recv(slow)
        fast, _ = await connect(s, "big", token=admin)
        await send(fast, {"Subscribe": {"query_strings": ["SELECT * FROM big"], "request_id": 1}})
        await recv(fast)
        rss0 = rss_kb(s.proc.pid)
        loop = asyncio.get_running_loop()

        def writes():
            for i in range(n):
                r = s.req("POST", "/v1/database/big/sql", token=admin,
                          data=f"INSERT INTO big(v) VALUES (printf('%.*c', 200000, 'x'))")
                assert r.status_code == 200, r.text
        w = loop.run_in_executor(None, writes)
        got = 0
        while got < n:
            m = await recv(fast)
            got += len(rows_of(m["TransactionUpdate"]["status"]["Committed"]["tables"][0])["inserts"])
        await w
        grown = rss_kb(s.proc.pid) - rss0
        # the slow one was cut off: it cannot have been sent everything
        seen = 0
        with pytest.raises(websockets.exceptions.ConnectionClosed):
            while True:
                await asyncio.wait_for(slow.recv(), T)
                seen += 1
        assert seen < n, seen
        await fast.close()
        return grown
    grown = run(go())
    # 150 updates of 200 KB = 30 MB went to the fast session; the slow one
    # may hold at most its 1 MiB bound (plus socket buffers) of them
    # (sanitizer builds keep freed memory in quarantine: up to 256 MiB more)
    assert grown < (64 if SLOW == 1 else 64 + 512) * 1024, f"server grew by {grown} kB"


PREDICATES = {
    "SELECT * FROM item": lambda r: True,
    "SELECT * FROM item WHERE k < 5": lambda r: r[1] < 5,
    "SELECT i.* FROM item AS i WHERE i.k % 2 = 0": lambda r: r[1] % 2 == 0,
    "SELECT * FROM \"item\" WHERE v LIKE 'a%'": lambda r: r[2].startswith("a"),
}


def test_atrium_doors_names_the_door_of_each_write(env):
    """Atrium's extension ?atrium_doors=1 (JSON protocol): each TransactionUpdate
    also carries "atrium_door", the dialect that wrote it; without it, nothing changes."""
    server, admin, name = env
    sql(env, "DELETE FROM person")

    async def go():
        tagged, _ = await connect(server, name, token=admin, qs="atrium_doors=1")
        plain, _ = await connect(server, name, token=admin)
        for ws in (tagged, plain):
            await send(ws, {"Subscribe": {"query_strings": ["SELECT * FROM person WHERE id >= 100"], "request_id": 1}})
            assert "InitialSubscription" in await recv(ws)
        loop = asyncio.get_running_loop()

        def http(*a, **k):
            return loop.run_in_executor(None, lambda: server.req(*a, **k))
        writes = [
            ("spacetimedb", ("POST", f"/v1/database/{name}/sql"), {"data": "INSERT INTO person VALUES (100, 'S', 1)"}),
            ("datasette", ("POST", f"/{name}/person/-/insert"), {"json": {"row": {"id": 101, "name": "D"}}}),
            ("airsequel", ("POST", f"/dbs/{name}/sql"), {"json": {"query": "INSERT INTO person VALUES (102, 'A', 1)"}}),
            ("airsequel", ("POST", f"/dbs/{name}/graphql"),
             {"json": {"query": 'mutation { insert_person(objects: [{id: 103, name: "G"}]) { affected_rows } }'}}),
            ("typedb", ("POST", "/v1/query"), {"json": {"databaseName": name, "transactionType": "write",
                                                         "query": "INSERT INTO person VALUES (104, 'T', 1)"}}),
        ]
        for door, (method, path), kw in writes:
            r = await http(method, path, token=admin, **kw)
            assert r.status_code in (200, 201), r.text
            tx = (await recv(tagged))["TransactionUpdate"]
            assert tx["atrium_door"] == door, (path, tx)
            assert tx["reducer_call"]["reducer_name"] == ""
            assert "atrium_door" not in (await recv(plain))["TransactionUpdate"]
        # an interactive transaction's commit is TypeDB's too
        t = (await http("POST", "/v1/transactions/open", token=admin,
                        json={"databaseName": name, "transactionType": "write"})).json()["transactionId"]
        await http("POST", f"/v1/transactions/{t}/query", token=admin, json={"query": "DELETE FROM person WHERE id = 104"})
        assert (await http("POST", f"/v1/transactions/{t}/commit", token=admin)).status_code == 200
        assert (await recv(tagged))["TransactionUpdate"]["atrium_door"] == "typedb"
        await tagged.close()
        await plain.close()
    run(go())


def test_random_writes_through_every_door_keep_every_session_exact(fresh):
    """The §4.4 invariant, seeded: after every message each session's rows
    equal its query's current result, whatever door wrote and whether the
    write failed."""
    import os
    import random
    rnd = random.Random(int(os.environ.get("ATRIUM_SEED", "4242")))
    steps = int(os.environ.get("ATRIUM_RANDOM_WRITES", "1000")) // SLOW
    s = fresh()
    admin = s.signin()
    name = "rnd"
    s.req("POST", f"/v1/databases/{name}", token=admin)
    r = s.req("POST", "/v1/query", token=admin, json={
        "databaseName": name, "transactionType": "schema",
        "query": "CREATE TABLE item(id INTEGER PRIMARY KEY, k INTEGER NOT NULL, v TEXT NOT NULL)"})
    assert r.status_code == 200, r.text

    def word():
        return rnd.choice("abc") + rnd.choice("xyz")

    def write():
        i, k, v = rnd.randint(1, 30), rnd.randint(0, 9), word()
        door = rnd.randrange(8)
        if door == 0:
            return s.req("POST", f"/v1/database/{name}/sql", token=admin, data=f"INSERT INTO item VALUES ({i}, {k}, '{v}')")
        if door == 1:
            return s.req("POST", f"/{name}/item/-/insert", token=admin, json={"row": {"id": i, "k": k, "v": v}})
        if door == 2:
            return s.req("POST", f"/{name}/item/-/upsert", token=admin, json={"rows": [{"id": i, "k": k, "v": v}]})
        if door == 3:
            return s.req("POST", f"/{name}/item/{i}/-/update", token=admin, json={"update": {"k": k}})
        if door == 4:
            return s.req("POST", f"/{name}/item/{i}/-/delete", token=admin)
        if door == 5:
            return s.req("POST", f"/dbs/{name}/sql", token=admin,
                         json={"query": f"UPDATE item SET k = (k + {k}) % 10, v = '{v}' WHERE id % 7 = {i % 7}"})
        if door == 6:
            # several statements at once; a duplicate id makes it fail as a whole
            return s.req("POST", "/v1/query", token=admin, json={
                "databaseName": name, "transactionType": "write",
                "query": f"DELETE FROM item WHERE k = {k}; INSERT INTO item VALUES ({i}, {k}, '{v}')"})
        t = s.req("POST", "/v1/transactions/open", token=admin,
                  json={"databaseName": name, "transactionType": "write"}).json()["transactionId"]
        s.req("POST", f"/v1/transactions/{t}/query", token=admin, json={"query": f"UPDATE item SET v = '{v}' WHERE k = {k}"})
        s.req("POST", f"/v1/transactions/{t}/query", token=admin, json={"query": f"INSERT OR REPLACE INTO item VALUES ({i}, {k}, '{v}')"})
        r = s.req("POST", f"/v1/transactions/{t}/{rnd.choice(['commit', 'commit', 'rollback'])}", token=admin)
        s.req("POST", f"/v1/transactions/{t}/close", token=admin)  # a rolled-back one stays open
        return r

    def current():
        r = s.req("POST", f"/dbs/{name}/sql", token=admin, json={"query": "SELECT id, k, v FROM item"})
        return [(x["id"], x["k"], x["v"]) for x in r.json()["rows"]]

    async def go():
        sessions = []
        for q in PREDICATES:
            ws, _ = await connect(s, name, token=admin)
            await send(ws, {"SubscribeSingle": {"query": q, "request_id": 1, "query_id": {"id": 1}}})
            m = (await recv(ws))["SubscribeApplied"]
            assert rows_of(m["rows"]["table_rows"])["inserts"] == []
            sessions.append((ws, PREDICATES[q], {}))
        loop = asyncio.get_running_loop()
        failed = messages = 0
        for step in range(steps):
            r = await loop.run_in_executor(None, write)
            failed += r.status_code >= 400
            rows = await loop.run_in_executor(None, current)
            for ws, pred, have in sessions:
                want = sorted(x for x in rows if pred(x))
                if sorted(tuple(v) for v in have.values()) == want:
                    continue
                m = await recv(ws)
                messages += 1
                tu = m["TransactionUpdate"]["status"]["Committed"]["tables"]
                assert len(tu) == 1
                d = rows_of(tu[0])
                for row in d["deletes"]:
                    assert have.pop(row[0]) == row, (step, row)
                for row in d["inserts"]:
                    assert row[0] not in have, (step, row)
                    have[row[0]] = row
                assert sorted(tuple(v) for v in have.values()) == want, (step, m)
        # nothing else is pending: a last marker write reaches everyone next
        await loop.run_in_executor(None, lambda: s.req(
            "POST", f"/v1/database/{name}/sql", token=admin, data="INSERT INTO item VALUES (1000, 0, 'a-marker')"))
        for ws, pred, have in sessions:
            m = await recv(ws)
            assert rows_of(m["TransactionUpdate"]["status"]["Committed"]["tables"][0])["inserts"] == [[1000, 0, "a-marker"]]
            await ws.close()
        return failed, messages
    failed, messages = run(go())
    assert failed > steps // 20 and messages > steps  # the mix really had failures and matches


def test_a_query_a_schema_change_breaks_gets_an_error(server, admin):
    name = "brk" + uuid.uuid4().hex[:6]
    server.req("POST", f"/v1/databases/{name}", token=admin)
    server.req("POST", "/v1/query", token=admin, json={
        "databaseName": name, "transactionType": "schema", "query": "CREATE TABLE t(id INTEGER PRIMARY KEY, a INTEGER, b TEXT)"})

    async def go():
        ws, _ = await connect(server, name, token=admin)
        await send(ws, {"SubscribeSingle": {"query": "SELECT * FROM t WHERE a > 1", "request_id": 1, "query_id": {"id": 3}}})
        await recv(ws)
        loop = asyncio.get_running_loop()

        def change():
            r = server.req("POST", "/v1/query", token=admin, json={
                "databaseName": name, "transactionType": "schema", "query": "ALTER TABLE t DROP COLUMN a"})
            assert r.status_code == 200, r.text
            server.req("POST", f"/v1/database/{name}/sql", token=admin, data="INSERT INTO t(id, b) VALUES (1, 'x')")
        await loop.run_in_executor(None, change)
        e = (await recv(ws))["SubscriptionError"]
        assert e["query_id"] == {"some": 3} and "no longer compiles" in e["error"] and "a" in e["error"]
        # the set is gone: the id is free again
        await send(ws, {"SubscribeSingle": {"query": "SELECT * FROM t", "request_id": 2, "query_id": {"id": 3}}})
        assert "SubscribeApplied" in await recv(ws)
        await ws.close()
    run(go())


def test_messages_sent_with_the_handshake_come_after_the_identity(env):
    """A client may send frames right behind its handshake, in the same
    packet: they are answered after IdentityToken, never before."""
    import socket
    import struct
    server, admin, name = env
    payload = json.dumps({"Subscribe": {"query_strings": ["SELECT * FROM person", "SELECT * FROM person WHERE id > 1000 AND name IS NOT NULL"],
                                        "request_id": 5}}).encode()
    mask = b"\x01\x02\x03\x04"
    assert 126 <= len(payload) < 65536
    frame = bytes([0x81, 0x80 | 126]) + struct.pack(">H", len(payload)) + mask + bytes(
        c ^ mask[i % 4] for i, c in enumerate(payload))
    hs = (f"GET /v1/database/{name}/subscribe HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
          "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
          f"Sec-WebSocket-Protocol: {PROTO}\r\nAuthorization: Bearer {admin}\r\n\r\n").encode()
    with socket.create_connection((server.host, server.port), timeout=T) as so:
        so.sendall(hs + frame)
        data = b""
        while data.count(b"\r\n\r\n") < 1:
            chunk = so.recv(65536)
            assert chunk, data
            data += chunk
        head, rest = data.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101")
        msgs = []
        def more():
            chunk = so.recv(65536)
            assert chunk, (msgs, rest)
            return chunk
        while len(msgs) < 2:
            while len(rest) < 2:
                rest += more()
            n = rest[1] & 0x7f
            off = 2
            if n == 126:
                while len(rest) < 4:
                    rest += more()
                n = struct.unpack(">H", rest[2:4])[0]
                off = 4
            elif n == 127:
                while len(rest) < 10:
                    rest += more()
                n = struct.unpack(">Q", rest[2:10])[0]
                off = 10
            while len(rest) < off + n:
                rest += more()
            msgs.append(json.loads(rest[off:off + n]) if rest[0] & 0x0f == 1 else {"op": rest[0], "raw": rest[off:off + n].hex()})
            rest = rest[off + n:]
    assert "IdentityToken" in msgs[0] and "InitialSubscription" in msgs[1], msgs


def test_pings_and_idle_close(fresh):
    """Pings at half the idle timeout; a client that answers them (every
    client library does) stays; one that sends nothing at all is closed 1008."""
    s = fresh("--ws-idle-timeout", "1.2")
    admin = s.signin()
    s.req("POST", "/v1/databases/idle", token=admin)

    async def go():
        import time
        # websockets answers pings by itself: the session outlives the timeout
        alive, _ = await connect(s, "idle", token=admin)
        await asyncio.sleep(2.5)
        await send(alive, {"OneOffQuery": {"message_id": "01", "query_string": "SELECT * FROM nope"}})
        assert "OneOffQueryResponse" in await recv(alive)
        await alive.close()
    run(go())
    # a raw client that sends nothing after its handshake: pinged, then closed 1008
    import socket
    import time
    hs = ("GET /v1/database/idle/subscribe HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
          "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
          f"Sec-WebSocket-Protocol: {PROTO}\r\nAuthorization: Bearer {admin}\r\n\r\n").encode()
    data = b""
    with socket.create_connection((s.host, s.port), timeout=10 * SLOW) as so:
        so.sendall(hs)
        while True:
            chunk = so.recv(65536)
            if not chunk:
                break
            data += chunk
    body = data.split(b"\r\n\r\n", 1)[1]
    opcodes = []
    while len(body) >= 2:
        n = body[1] & 0x7f
        off = 2 if n < 126 else 4
        if n == 126:
            n = int.from_bytes(body[2:4], "big")
        opcodes.append((body[0] & 0x0f, body[off:off + n]))
        body = body[off + n:]
    kinds = [op for op, _ in opcodes]
    assert 0x9 in kinds, kinds                     # pinged
    assert kinds[-1] == 0x8 and int.from_bytes(opcodes[-1][1][:2], "big") == 1008, opcodes[-1]



def test_table_ids_are_stable_across_restarts(fresh):
    s = fresh()
    admin = s.signin()
    s.req("POST", "/v1/databases/ids", token=admin)
    s.req("POST", "/v1/query", token=admin, json={"databaseName": "ids", "transactionType": "schema",
                                                  "query": "CREATE TABLE b(x); CREATE TABLE a(y)"})

    async def ids(server, token):
        out = {}
        ws, _ = await connect(server, "ids", token=token)
        for i, t in enumerate(("b", "a")):
            await send(ws, {"SubscribeSingle": {"query": f"SELECT * FROM {t}", "request_id": i, "query_id": {"id": i}}})
            m = (await recv(ws))["SubscribeApplied"]
            out[t] = m["rows"]["table_id"]
        await ws.close()
        return out
    first = run(ids(s, admin))
    assert first == {"b": 4096, "a": 4097}   # in the order first followed, from 4096
    # a new table does not move the others; a restart keeps them all
    s.req("POST", "/v1/query", token=admin, json={"databaseName": "ids", "transactionType": "schema",
                                                  "query": "CREATE TABLE aa(z)"})
    s.stop()
    s.start()
    admin = s.signin()
    assert run(ids(s, admin)) == first
    # and the ids table is nobody's to see
    r = s.req("POST", "/v1/database/ids/sql", token=admin, data="SELECT * FROM _atrium_tables")
    assert r.status_code == 400


def test_light_mode_and_compression_parameter(env):
    server, admin, name = env
    sql(env, "DELETE FROM person")

    async def go():
        ws, _ = await connect(server, name, token=admin, qs="light=true&compression=Gzip&confirmed=true")
        await send(ws, {"Subscribe": {"query_strings": ["SELECT * FROM person"], "request_id": 1}})
        await recv(ws)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, lambda: sql(env, "INSERT INTO person VALUES (9, 'Li', 1)"))
        m = await recv(ws)
        assert set(m) == {"TransactionUpdateLight"}
        light = m["TransactionUpdateLight"]
        assert light["request_id"] == 0
        assert rows_of(light["update"]["tables"][0])["inserts"] == [[9, "Li", {"some": 1}]]
        # Subscribe replaces the previous Subscribe set; an error keeps the old one
        await send(ws, {"Subscribe": {"query_strings": ["SELECT * FROM nope"], "request_id": 2}})
        assert "SubscriptionError" in await recv(ws)
        await send(ws, {"Subscribe": {"query_strings": ["SELECT * FROM person WHERE id = 10"], "request_id": 3}})
        m = (await recv(ws))["InitialSubscription"]
        assert rows_of(m["database_update"]["tables"][0])["inserts"] == []
        await loop.run_in_executor(None, lambda: sql(env, "INSERT INTO person VALUES (11, 'No', 1)"))
        await loop.run_in_executor(None, lambda: sql(env, "INSERT INTO person VALUES (10, 'Yes', 1)"))
        m = (await recv(ws))["TransactionUpdateLight"]
        assert rows_of(m["update"]["tables"][0])["inserts"] == [[10, "Yes", {"some": 1}]]
        await ws.close()
    run(go())


def test_what_one_client_may_subscribe_is_bounded(env):
    """Queries per set, their text, and sets per connection are bounded:
    past them the set is refused with a SubscriptionError, nothing else."""
    server, admin, name = env

    async def go():
        ws, _ = await connect(server, name, token=admin)
        await send(ws, {"SubscribeMulti": {"query_strings": ["SELECT * FROM person"] * 257, "request_id": 1,
                                           "query_id": {"id": 1}}})
        err = (await recv(ws))["SubscriptionError"]
        assert err["request_id"] == {"some": 1} and "too many queries" in err["error"]
        long_q = "SELECT * FROM person WHERE name != '" + "x" * 70000 + "'"
        await send(ws, {"SubscribeMulti": {"query_strings": [long_q], "request_id": 2, "query_id": {"id": 2}}})
        assert "too long" in (await recv(ws))["SubscriptionError"]["error"]
        for i in range(1024):
            await send(ws, {"SubscribeSingle": {"query": "SELECT * FROM person WHERE id < 0", "request_id": 10 + i,
                                                "query_id": {"id": 100 + i}}})
        for i in range(1024):
            assert "SubscribeApplied" in await recv(ws)
        await send(ws, {"SubscribeSingle": {"query": "SELECT * FROM person", "request_id": 5000,
                                            "query_id": {"id": 5000}}})
        assert "too many subscriptions" in (await recv(ws))["SubscriptionError"]["error"]
        # after an unsubscribe there is room again
        await send(ws, {"Unsubscribe": {"request_id": 5001, "query_id": {"id": 100}}})
        assert "UnsubscribeApplied" in await recv(ws)
        await send(ws, {"SubscribeSingle": {"query": "SELECT * FROM person", "request_id": 5002,
                                            "query_id": {"id": 5002}}})
        assert "SubscribeApplied" in await recv(ws)
        await ws.close()
    run(go())
