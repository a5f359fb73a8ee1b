// The SDK scenarios, written once and run with each SDK major through an
// adapter (how it names the database, how a reducer call reports back):
// connect anonymously and with a token, subscribe, initial rows, reducer
// calls seen as inserts, updates and deletes by the caller and a second
// client exactly once, a failing reducer, unsubscribe, writes through other
// doors, and a reconnect after a restart with the same identity.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Events, Server, uniqueName, until, within } from './lib.js';

/** Connects; resolves to { conn, identity, token } on onConnect. */
export function connect(adapter, server, name, token) {
  return within(
    new Promise((resolve, reject) => {
      let b = adapter.DbConnection.builder().withUri(server.ws);
      b = adapter.withName(b, name);
      if (token) b = b.withToken(token);
      b.onConnect((conn, identity, tok) => resolve({ conn, identity: identity.toHexString(), token: tok }))
        .onConnectError((_ctx, err) => reject(err instanceof Error ? err : new Error(String(err))))
        .build();
    }),
    `${adapter.name} to connect`,
  );
}

/** Follows a table: every callback the SDK fires, in order. */
function follow(conn, table, ev) {
  const t = conn.db[table];
  t.onInsert((_ctx, row) => ev.push('insert', row));
  t.onDelete((_ctx, row) => ev.push('delete', row));
  if (t.onUpdate) t.onUpdate((_ctx, old, row) => ev.push('update', { old, row }));
}

function subscribe(conn, queries) {
  return within(
    new Promise((resolve, reject) => {
      const h = conn
        .subscriptionBuilder()
        .onApplied(() => resolve(h))
        .onError((_ctx, err) => reject(err instanceof Error ? err : new Error(String(err))))
        .subscribe(queries);
    }),
    'the subscription to be applied',
  );
}

export function scenarios(adapter) {
  const server = new Server();
  let owner;
  const name = uniqueName(`sdk${adapter.major}`);

  before(async () => {
    await server.start();
    owner = await server.publish(name);
  });
  after(async () => {
    await server.cleanup();
  });

  test(`${adapter.name}: anonymous and token connections`, async () => {
    const anon = await connect(adapter, server, name);
    assert.match(anon.identity, /^c200[0-9a-f]{60}$/);
    assert.match(anon.token, /^atr_/);
    anon.conn.disconnect();
    // with a token the SDK first trades it at /v1/identity/websocket-token
    const mine = await connect(adapter, server, name, owner);
    const verify = await server.req('GET', `/v1/identity/${mine.identity}/verify`, { token: owner });
    assert.equal(verify.status, 204);
    mine.conn.disconnect();
  });

  test(`${adapter.name}: rows, reducer calls and failures, seen once by both clients`, async () => {
    const a = await connect(adapter, server, name, owner);
    const b = await connect(adapter, server, name);
    await adapter.call(a.conn, 'add', { id: 1, name: 'Ann', age: 30 });
    const ea = new Events();
    const eb = new Events();
    follow(a.conn, 'person', ea);
    follow(b.conn, 'person', eb);
    await subscribe(a.conn, ['SELECT * FROM person']);
    await subscribe(b.conn, ['SELECT * FROM person']);
    // initial rows arrive as inserts
    for (const ev of [ea, eb]) {
      const [row] = await ev.wait('insert', 1, 'the initial row');
      assert.equal(row.name, 'Ann');
      assert.equal(row.age, 30);
      assert.equal(row.owner.toHexString(), a.identity);
    }
    assert.equal([...a.conn.db.person.iter()].length, 1);

    await adapter.call(a.conn, 'add', { id: 2, name: 'Bo', age: 7 });
    await adapter.call(b.conn, 'rename', { id: 1, name: 'Anna' });
    await adapter.call(a.conn, 'remove', { id: 2 });
    for (const [who, ev] of [['caller', ea], ['other', eb]]) {
      await ev.wait('delete', 1, `${who}: the delete`);
      await ev.wait('update', 1, `${who}: the update`);
      const inserts = ev.of('insert').map(r => r.name);
      assert.deepEqual(inserts, ['Ann', 'Bo'], `${who}: each insert once`);
      const updates = ev.of('update').map(u => [u.old.name, u.row.name]);
      assert.deepEqual(updates, [['Ann', 'Anna']], `${who}: the update once, not as delete + insert`);
      assert.deepEqual(ev.of('delete').map(r => r.name), ['Bo'], `${who}: the delete once`);
    }
    assert.deepEqual([...b.conn.db.person.iter()].map(r => r.name), ['Anna']);

    // a failing reducer: reported to its caller, nothing written
    await assert.rejects(adapter.call(a.conn, 'fail', { why: 'no such luck' }), /no such luck/);
    await assert.rejects(adapter.call(a.conn, 'rename', { id: 99, name: 'x' }), /no person 99/);
    assert.equal(ea.all.length, 4);
    a.conn.disconnect();
    b.conn.disconnect();
  });

  test(`${adapter.name}: unsubscribe drops the rows; other doors' writes arrive`, async () => {
    const a = await connect(adapter, server, name, owner);
    const ev = new Events();
    follow(a.conn, 'note', ev);
    const h = await subscribe(a.conn, ['SELECT * FROM note']);
    // Datasette's insert API and Airsequel's SQL endpoint
    let r = await server.req('POST', `/${name}/note/-/insert`, { token: owner, json: { row: { text: 'from datasette' } } });
    assert.equal(r.status, 201, r.text);
    r = await server.req('POST', `/dbs/${name}/sql`, {
      token: owner,
      json: { query: "INSERT INTO note(text, stars) VALUES ('from airsequel', 5)" },
    });
    assert.equal(r.status, 200, r.text);
    const rows = await ev.wait('insert', 2, 'writes from Datasette and Airsequel');
    assert.deepEqual(rows.map(x => x.text), ['from datasette', 'from airsequel']);
    assert.equal(rows[1].stars, 5n);
    assert.equal(rows[0].stars, undefined);
    await within(new Promise(resolve => h.unsubscribeThen(() => resolve())), 'the unsubscribe');
    await until(() => [...a.conn.db.note.iter()].length === 0, 'the rows to be dropped');
    a.conn.disconnect();
  });

  test(`${adapter.name}: reconnects after a restart with the same identity`, async () => {
    const first = await connect(adapter, server, name);
    first.conn.disconnect();
    await server.restart();
    const again = await connect(adapter, server, name, first.token);
    assert.equal(again.identity, first.identity);
    const ev = new Events();
    follow(again.conn, 'person', ev);
    await subscribe(again.conn, ['SELECT * FROM person']);
    await ev.wait('insert', 1, 'the rows kept across the restart');
    assert.deepEqual(ev.of('insert').map(r => r.name), ['Anna']);
    again.conn.disconnect();
  });
}
