"""SpacetimeDB's binary WebSocket protocols, v2.bsatn and v1.bsatn
(spec/spacetimedb.md §5), spoken by a raw client: negotiation, every
client message, the server messages' exact layouts with module types,
and hostile frames."""
import asyncio
import json
import struct
import uuid

import pytest
import websockets
import websockets.exceptions

from bsatn import R, W, identity_hex, string_row
from conftest import SLOW
from test_stdb_module import publish

V2, V1, JS = "v2.bsatn.spacetimedb", "v1.bsatn.spacetimedb", "v1.json.spacetimedb"
T = 10 * SLOW

MODULE = """
atrium.table("thing", { public = true,
  { "id", "u32", primary_key = true }, { "flag", "bool" }, { "small", "i8" }, { "big", "u64" },
  { "ratio", "f32" }, { "name", "string" }, { "blob", "bytes" }, { "who", "identity" },
  { "conn", "connection_id" }, { "at", "timestamp" }, { "note", "string", optional = true } })
atrium.table("person", { public = true, { "name", "string" } })
atrium.reducer("put", { { "id", "u32" }, { "name", "string" } }, function(ctx, id, name)
  db.thing:insert{ id = id, flag = true, small = -5, big = 1234567890123, ratio = 0.5, name = name,
                   blob = "\\1\\2\\255", who = ctx.sender, conn = ctx.connection_id, at = ctx.timestamp }
end)
atrium.reducer("rename", { { "id", "u32" }, { "name", "string" } }, function(ctx, id, name)
  local r = db.thing:find(id); r.name = name; r.note = "renamed"; db.thing:update(r)
end)
atrium.reducer("drop", { { "id", "u32" } }, function(ctx, id) db.thing:delete(id) end)
atrium.reducer("fail", { { "why", "string" } }, function(ctx, why) error(why) end)
"""


def thing_row(r):
    return {"id": r.u32(), "flag": r.bool(), "small": r.i8(), "big": r.u64(), "ratio": r.f32(), "name": r.str(),
            "blob": r.bytes(), "who": identity_hex(r.u256()), "conn": r.u128(), "at": r.i64(),
            "note": r.option(r.str)}


def put_args(i, name):
    return W().u32(i).str(name).done()


@pytest.fixture()
def db(server, admin):
    name = "bin" + uuid.uuid4().hex[:8]
    r = publish(server, admin, name, MODULE)
    assert r.status_code == 200, r.text
    return server, admin, name


async def connect(server, name, protocols, token=None, qs=""):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    ws = await websockets.connect(f"ws://{server.host}:{server.port}/v1/database/{name}/subscribe{qs}",
                                  subprotocols=list(protocols), extra_headers=headers, max_size=None,
                                  open_timeout=T)
    return ws


async def recv(ws):
    m = await asyncio.wait_for(ws.recv(), T)
    assert isinstance(m, bytes), m
    r = R(m)
    assert r.u8() == 0, "compression byte"
    return r


def run(coro):
    return asyncio.run(coro)


# ---- v2 -------------------------------------------------------------------------------


def v2_query_rows(r, row):
    return {t: rows for t, rows in r.array(lambda: (r.str(), r.rowlist(row)))}


def v2_tx(r, row):
    """TransactionUpdate's body → {set_id: {table: [(inserts, deletes)]}}."""
    out = {}
    for _ in range(r.u32()):
        sid = r.u32()
        tables = {}
        for _ in range(r.u32()):
            name = r.str()
            ups = []
            for _ in range(r.u32()):
                assert r.u8() == 0, "PersistentTable"
                ups.append((r.rowlist(row), r.rowlist(row)))
            assert name not in tables, "one TableUpdate per table"
            tables[name] = ups
        out[sid] = tables
    return out


def test_negotiation_prefers_v2_then_v1(db):
    server, admin, name = db

    async def go():
        for offer, want in (([JS, V1, V2], V2), ([JS, V1], V1), ([JS], JS), (["v3.bsatn.spacetimedb", V2], V2)):
            ws = await connect(server, name, offer, admin)
            assert ws.subprotocol == want
            first = await asyncio.wait_for(ws.recv(), T)
            assert isinstance(first, bytes) == (want != JS)
            await ws.close()
    run(go())


def test_v2_initial_connection_then_anonymous_token(db, server):
    _, admin, name = db

    async def go():
        ws = await connect(server, name, [V2])  # anonymous: a new identity and its token
        r = await recv(ws)
        assert r.u8() == 0  # InitialConnection
        ident, conn, token = identity_hex(r.u256()), r.u128(), r.str()
        r.end()
        assert ident.startswith("c200") and conn != 0 and token.startswith("atr_")
        await ws.close()
        # the token names the same identity next time, and the SDK's token exchange works with it
        t2 = server.req("POST", "/v1/identity/websocket-token", token=token)
        assert t2.status_code == 200, t2.text
        ws = await connect(server, name, [V2], qs="?compression=Gzip&token=" + t2.json()["token"])
        r = await recv(ws)
        assert r.u8() == 0 and identity_hex(r.u256()) == ident
        await ws.close()
    run(go())


def test_v2_subscribe_call_update_delete_and_results(db):
    server, admin, name = db

    async def go():
        a = await connect(server, name, [V2], admin)
        b = await connect(server, name, [V2, V1])
        ra, rb = await recv(a), await recv(b)
        ra.u8(), rb.u8()
        me = identity_hex(ra.u256())
        a_conn = ra.u128()
        await a.send(W().u8(0).u32(1).u32(7).strs(["SELECT * FROM thing"]).done())
        await b.send(W().u8(0).u32(2).u32(1).strs(["SELECT * FROM thing WHERE id < 100"]).done())
        for ws, req, sid in ((a, 1, 7), (b, 2, 1)):
            r = await recv(ws)
            assert r.u8() == 1 and r.u32() == req and r.u32() == sid
            rows = v2_query_rows(r, thing_row)
            r.end()
            assert all(v == [] for v in rows.values())
        # a calls put: a gets only its ReducerResult (with its rows), b a TransactionUpdate
        await a.send(W().u8(3).u32(5).u8(0).str("put").bytes(put_args(1, "one")).done())
        r = await recv(a)
        assert r.u8() == 6 and r.u32() == 5
        r.i64()
        assert r.u8() == 0  # Ok
        assert r.bytes() == b""
        tx = v2_tx(r, thing_row)
        r.end()
        [(ins, dels)] = tx[7]["thing"]
        assert dels == []
        [row] = ins
        assert row["id"] == 1 and row["flag"] is True and row["small"] == -5 and row["big"] == 1234567890123
        assert row["ratio"] == 0.5 and row["name"] == "one" and row["blob"] == b"\x01\x02\xff"
        assert row["who"] == me and row["conn"] == a_conn and row["at"] > 1.7e15 and row["note"] is None
        r = await recv(b)
        assert r.u8() == 4
        tx = v2_tx(r, thing_row)
        r.end()
        assert list(tx) == [1] and tx[1]["thing"][0][0][0]["name"] == "one"
        # an update: old and new rows in one TableUpdate, inserts first
        await a.send(W().u8(3).u32(6).u8(0).str("rename").bytes(put_args(1, "uno")).done())
        r = await recv(b)
        assert r.u8() == 4
        [(ins, dels)] = v2_tx(r, thing_row)[1]["thing"]
        assert [x["name"] for x in ins] == ["uno"] and [x["name"] for x in dels] == ["one"]
        assert ins[0]["note"] == "renamed"
        r = await recv(a)
        assert r.u8() == 6 and r.u32() == 6
        # the module's error: Err holding a BSATN string (two length prefixes)
        await a.send(W().u8(3).u32(7).u8(0).str("fail").bytes(W().str("nope").done()).done())
        r = await recv(a)
        assert r.u8() == 6 and r.u32() == 7
        r.i64()
        assert r.take(len(r.d) - r.o) == b"\x02" + struct.pack("<II", 8, 4) + b"nope"
        # the engine's refusals: InternalError
        for req, reducer, args in ((8, "nope", b""), (9, "put", b"\x01\x00"), (10, "put", put_args(2, "x") + b"!")):
            await a.send(W().u8(3).u32(req).u8(0).str(reducer).bytes(args).done())
            r = await recv(a)
            assert r.u8() == 6 and r.u32() == req
            r.i64()
            assert r.u8() == 3
            msg = r.str()
            r.end()
            assert ("nope" in msg) if reducer == "nope" else "invalid arguments" in msg
        # a delete
        await a.send(W().u8(3).u32(11).u8(0).str("drop").bytes(W().u32(1).done()).done())
        r = await recv(b)
        assert r.u8() == 4
        [(ins, dels)] = v2_tx(r, thing_row)[1]["thing"]
        assert ins == [] and [x["id"] for x in dels] == [1]
        r = await recv(a)
        assert r.u8() == 6 and r.u32() == 11
        await a.close()
        await b.close()
    run(go())


def test_v2_one_off_unsubscribe_and_errors(db):
    server, admin, name = db

    async def go():
        a = await connect(server, name, [V2], admin)
        await recv(a)
        await a.send(W().u8(3).u32(1).u8(0).str("put").bytes(put_args(3, "three")).done())
        r = await recv(a)
        assert r.u8() == 6
        await a.send(W().u8(2).u32(4).str("SELECT * FROM thing").done())
        r = await recv(a)
        assert r.u8() == 5 and r.u32() == 4 and r.u8() == 0
        rows = v2_query_rows(r, thing_row)
        r.end()
        assert [x["name"] for x in rows["thing"]] == ["three"]
        await a.send(W().u8(2).u32(5).str("SELECT * FROM nowhere").done())
        r = await recv(a)
        assert r.u8() == 5 and r.u32() == 5 and r.u8() == 1 and "nowhere" in r.str()
        r.end()
        # subscribe, then unsubscribe with and without the dropped rows
        for sid, flags in ((3, 1), (4, 0)):
            await a.send(W().u8(0).u32(10 + sid).u32(sid).strs(["SELECT * FROM thing"]).done())
            r = await recv(a)
            assert r.u8() == 1 and r.u32() == 10 + sid
            await a.send(W().u8(1).u32(20 + sid).u32(sid).u8(flags).done())
            r = await recv(a)
            assert r.u8() == 2 and r.u32() == 20 + sid and r.u32() == sid
            rows = r.option(lambda: v2_query_rows(r, thing_row))
            r.end()
            if flags:
                assert [x["name"] for x in rows["thing"]] == ["three"]
            else:
                assert rows is None
        # a query that does not compile: SubscriptionError with the request id
        await a.send(W().u8(0).u32(30).u32(9).strs(["SELECT * FROM nowhere"]).done())
        r = await recv(a)
        assert r.u8() == 3 and r.option(r.u32) == 30 and r.u32() == 9 and "nowhere" in r.str()
        r.end()
        await a.close()
    run(go())


def test_spec_example_subscribe_applied_bytes(server, admin):
    """§5's example, byte for byte: a v2 SubscribeApplied carrying "Alice"."""
    name = "ex" + uuid.uuid4().hex[:8]
    assert publish(server, admin, name, 'atrium.table("person", { public = true, { "name", "string" } })\n'
                   ).status_code == 200
    r = server.req("POST", f"/{name}/person/-/insert", token=admin, json={"row": {"name": "Alice"}})
    assert r.status_code == 201, r.text

    async def go():
        ws = await connect(server, name, [V2], admin)
        await recv(ws)
        await ws.send(W().u8(0).u32(0).u32(0).strs(["SELECT * FROM person"]).done())
        m = await asyncio.wait_for(ws.recv(), T)
        want = bytes.fromhex("00 01 00000000 00000000 01000000 06000000") + b"person" + bytes.fromhex(
            "01 01000000 0000000000000000 09000000 05000000") + b"Alice"
        assert m == want
        # and a write through another door reaches it
        r = await asyncio.get_running_loop().run_in_executor(None, lambda: server.req(
            "POST", f"/{name}/person/-/insert", token=admin, json={"row": {"name": "Bob"}}))
        assert r.status_code == 201
        r = await recv(ws)
        assert r.u8() == 4
        tx = v2_tx(r, string_row)
        assert tx == {0: {"person": [([("Bob",)], [])]}}
        await ws.close()
    run(go())


# ---- v1 ------------------------------------------------------------------------------


def v1_db_update(r, row):
    """DbUpdate → {table: [(deletes, inserts)]}, checking table ids and counts."""
    out = {}
    for _ in range(r.u32()):
        tid, name, num = r.u32(), r.str(), r.u64()
        assert tid >= 4096
        ups = []
        for _ in range(r.u32()):
            assert r.u8() == 0, "Uncompressed"
            ups.append((r.rowlist(row), r.rowlist(row)))
        assert num == sum(len(d) + len(i) for d, i in ups)
        assert name not in out, "one TableUpdate per table"
        out[name] = ups
    return out


def v1_tx(r, row):
    status = r.u8()
    body = v1_db_update(r, row) if status == 0 else r.str()
    ts, ident, conn = r.i64(), identity_hex(r.u256()), r.u128()
    call = {"reducer": r.str(), "reducer_id": r.u32(), "args": r.bytes(), "request_id": r.u32()}
    assert r.u128() == 0  # energy
    r.i64()
    r.end()
    return status, body, ts, ident, conn, call


def test_v1_messages(db):
    server, admin, name = db

    async def go():
        a = await connect(server, name, [V1], admin)
        j = await connect(server, name, [JS], admin)
        r = await recv(a)
        assert r.u8() == 3  # IdentityToken{identity, token, connection_id}
        me, token, conn = identity_hex(r.u256()), r.str(), r.u128()
        r.end()
        assert token == admin and conn != 0
        await asyncio.wait_for(j.recv(), T)
        await j.send(json.dumps({"SubscribeSingle": {"query": "SELECT * FROM thing", "request_id": 1,
                                                     "query_id": {"id": 1}}}))
        await asyncio.wait_for(j.recv(), T)
        # SubscribeMulti → SubscribeMultiApplied
        await a.send(W().u8(4).strs(["SELECT * FROM thing"]).u32(3).u32(4).done())
        r = await recv(a)
        assert r.u8() == 8 and r.u32() == 3
        r.u64()
        assert r.u32() == 4
        v1_db_update(r, thing_row)
        r.end()
        # CallReducer: the caller's TransactionUpdate echoes its args byte for byte
        args = put_args(5, "five")
        await a.send(W().u8(0).str("put").bytes(args).u32(12).u8(0).done())
        r = await recv(a)
        assert r.u8() == 1
        status, tables, _, ident, c, call = v1_tx(r, thing_row)
        assert status == 0 and ident == me and c == conn
        assert call == {"reducer": "put", "reducer_id": 2, "args": args, "request_id": 12}
        [(dels, ins)] = tables["thing"]
        assert dels == [] and ins[0]["name"] == "five" and ins[0]["flag"] is True
        # a JSON subscriber sees the same call with its args as SATS-JSON and module-typed rows
        tx = json.loads(await asyncio.wait_for(j.recv(), T))["TransactionUpdate"]
        assert tx["reducer_call"]["args"] == '[5,"five"]' and tx["reducer_call"]["reducer_id"] == 2
        row = json.loads(tx["status"]["Committed"]["tables"][0]["updates"][0]["inserts"][0])
        assert row[1] is True and row[7] == {"__identity__": "0x" + me} and row[10] == {"none": []}
        assert set(row[9]) == {"__timestamp_micros_since_unix_epoch__"}
        # an update: deletes first in v1
        await a.send(W().u8(0).str("rename").bytes(put_args(5, "cinq")).u32(13).u8(0).done())
        r = await recv(a)
        assert r.u8() == 1
        status, tables, *_ = v1_tx(r, thing_row)
        [(dels, ins)] = tables["thing"]
        assert [x["name"] for x in dels] == ["five"] and [x["name"] for x in ins] == ["cinq"]
        # failure: status Failed with the module's text, args echoed
        args = W().str("bad luck").done()
        await a.send(W().u8(0).str("fail").bytes(args).u32(14).u8(0).done())
        r = await recv(a)
        assert r.u8() == 1
        status, text, *_, call = v1_tx(r, thing_row)
        assert status == 1 and text == "bad luck" and call["args"] == args and call["request_id"] == 14
        # flags 1 (NoSuccessNotify) without own rows: nothing; the next message answers the next call
        await a.send(W().u8(5).u32(15).u32(4).done())  # Unsubscribe
        r = await recv(a)
        assert r.u8() == 6 and r.u32() == 15
        await a.send(W().u8(0).str("drop").bytes(W().u32(99).done()).u32(16).u8(1).done())
        # OneOffQuery with a binary message id
        await a.send(W().u8(2).bytes(b"\x00\xffid").str("SELECT * FROM thing").done())
        r = await recv(a)
        assert r.u8() == 4 and r.bytes() == b"\x00\xffid" and r.option(r.str) is None
        [(tname, rows)] = r.array(lambda: (r.str(), r.rowlist(thing_row)))
        r.i64()
        r.end()
        assert tname == "thing" and [x["name"] for x in rows] == ["cinq"]
        # SubscribeSingle and the legacy Subscribe
        await a.send(W().u8(3).str("SELECT * FROM thing").u32(17).u32(8).done())
        r = await recv(a)
        assert r.u8() == 5 and r.u32() == 17
        r.u64()
        assert r.u32() == 8
        tid, tname = r.u32(), r.str()
        assert tname == "thing" and r.u32() == tid and r.str() == "thing" and r.u64() == 1
        [(dels, ins)] = r.array(lambda: (r.u8(), r.rowlist(thing_row), r.rowlist(thing_row))[1:])
        r.end()
        assert dels == [] and [x["name"] for x in ins] == ["cinq"]
        await a.send(W().u8(1).strs(["SELECT * FROM person"]).u32(18).done())
        r = await recv(a)
        assert r.u8() == 0
        assert v1_db_update(r, string_row) in ({}, {"person": [([], [])]})
        assert r.u32() == 18
        r.i64()
        r.end()
        await a.close()
        await j.close()
    run(go())


# ---- hostile frames -----------------------------------------------------------------------


@pytest.mark.parametrize("proto", [V2, V1])
@pytest.mark.parametrize("frame", [
    b"", b"\x00", b"\x09", b"\x00\x01", b"\x00\xff\xff\xff\xff",
    b"\x02" + b"\xff\xff\xff\x7f" + b"x",
    b"\x00" + struct.pack("<III", 1, 1, 0xFFFFFFFF),
    b"\x02\x00\x00\x00\x00\x03\x00\x00\x00\xff\xfe\xfd",  # invalid UTF-8
    b"\x02\x01\x00\x00\x00\x00\x00\x00\x00" + b"trailing",
    "text frame",
])
def test_malformed_frames_close_1011(db, proto, frame):
    server, admin, name = db

    async def go():
        ws = await connect(server, name, [proto], admin)
        await recv(ws)
        await ws.send(frame)
        with pytest.raises(websockets.exceptions.ConnectionClosedError) as ei:
            while True:
                await asyncio.wait_for(ws.recv(), T)
        assert ei.value.rcvd.code == 1011
    run(go())
    assert server.req("GET", f"/v1/database/{name}", token=admin).status_code == 200
