// Airsequel GraphQL against graphql-js 16 (spec/airsequel.md §4): the
// introspection result of every database builds a client schema that
// validates cleanly, and Atrium's validation agrees with graphql-js's
// validate() on a corpus of documents, message for message.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildClientSchema, getIntrospectionQuery, parse, printSchema, validate, validateSchema,
} from 'graphql';
import { Server, uniqueName } from './lib.js';

let server;
let admin;
const dbs = {};

async function sql(db, query) {
  const r = await server.req('POST', `/dbs/${db}/sql`, { token: admin, json: { query } });
  const body = JSON.parse(r.text);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(body.errors, [], query);
}

async function gql(db, query, variables) {
  const r = await server.req('POST', `/dbs/${db}/graphql`, { token: admin, json: { query, variables } });
  assert.equal(r.status, 200, r.text);
  return JSON.parse(r.text);
}

before(async () => {
  server = await new Server().start();
  admin = await server.admin();
  // made through Airsequel's /sql: the awkward shapes
  dbs.airsequel = uniqueName('gq-as');
  let r = await server.req('POST', `/v1/databases/${dbs.airsequel}`, { token: admin });
  assert.equal(r.status, 200, r.text);
  // /sql refuses WITHOUT ROWID tables (its lint): pairs comes through TypeDB's door, in its place
  const pairs = 'CREATE TABLE pairs(a INTEGER NOT NULL, b TEXT NOT NULL, v TEXT, PRIMARY KEY (a, b)) WITHOUT ROWID';
  for (const q of [
    'CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT UNIQUE, score REAL, '
      + "active BOOLEAN, avatar BLOB, born DATETIME, kind TEXT CHECK (kind IN ('a', 'b')))",
    'CREATE TABLE "name with-special$chars"("__index__" TEXT, "ü" INTEGER, "9lives" INT)',
    pairs,
    'CREATE TABLE foo(x)', 'CREATE TABLE foo_by_pk(y)', 'CREATE TABLE foo_by_pk_(z)', 'CREATE TABLE "rowid"(rowid TEXT, oid INT)',
    'CREATE VIEW adults AS SELECT name, score FROM users WHERE score > 5',
    "INSERT INTO users(name, email, score) VALUES ('Ada', 'ada@x.io', 9.5), ('Grace', NULL, 7)",
  ]) {
    if (q !== pairs) {
      await sql(dbs.airsequel, q);
      continue;
    }
    r = await server.req('POST', '/v1/query', {
      token: admin, json: { databaseName: dbs.airsequel, transactionType: 'schema', query: q },
    });
    assert.equal(r.status, 200, r.text);
  }
  // made through TypeDB's door, filled through Datasette's JSON write API
  dbs.typedb = uniqueName('gq-tdb');
  r = await server.req('POST', `/v1/databases/${dbs.typedb}`, { token: admin });
  assert.equal(r.status, 200, r.text);
  r = await server.req('POST', `/${dbs.typedb}/-/create`, {
    token: admin, json: { table: 'notes', columns: [{ name: 'id', type: 'integer' }, { name: 'body', type: 'text' }], pk: 'id' },
  });
  assert.equal(r.status, 201, r.text);
  // a SpacetimeDB module's tables
  dbs.stdb = uniqueName('gq-stdb');
  await server.publish(dbs.stdb);
  // an empty database
  dbs.empty = uniqueName('gq-empty');
  r = await server.req('POST', `/v1/databases/${dbs.empty}`, { token: admin });
  assert.equal(r.status, 200, r.text);
});

after(async () => {
  await server?.cleanup();
});

const OPTIONS = {
  descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true, schemaDescription: true,
  inputValueDeprecation: true, oneOf: true,
};

async function clientSchema(db) {
  const r = await gql(db, getIntrospectionQuery(OPTIONS));
  assert.equal(r.errors, undefined, JSON.stringify(r.errors));
  return buildClientSchema(r.data);
}

for (const door of ['airsequel', 'typedb', 'stdb']) {
  test(`introspection of a database made through ${door} builds a valid schema`, async () => {
    const schema = await clientSchema(dbs[door]);
    assert.deepEqual(validateSchema(schema).map(e => e.message), []);
    assert.ok(printSchema(schema).includes('type Query'));
  });
}

test('an empty database introspects', async () => {
  const r = await gql(dbs.empty, getIntrospectionQuery(OPTIONS));
  assert.equal(r.errors, undefined, JSON.stringify(r.errors));
  assert.equal(r.data.__schema.queryType.name, 'Query');
});

test('the derived schema has the spec\'s names and shapes', async () => {
  const schema = await clientSchema(dbs.airsequel);
  const q = schema.getQueryType().getFields();
  assert.deepEqual(Object.keys(q), [
    'users', 'nameXX0withXXDspecialXX4chars', 'pairs', 'foo', 'foo_by_pk', 'foo_by_pk_', 'rowid', 'adults',
    'users_by_pk', 'nameXX0withXXDspecialXX4chars_by_pk', 'pairs_by_pk', 'foo_by_pk__', 'foo_by_pk_by_pk',
    'foo_by_pk__by_pk', 'rowid_by_pk']);
  assert.equal(String(q.users_by_pk.args[0].type), 'Int!');
  assert.equal(String(q.pairs_by_pk.args.map(a => `${a.name}:${a.type}`)), 'a:Int!,b:String!');
  const row = schema.getType('nameXX0withXXDspecialXX4chars_row').getFields();
  assert.deepEqual(Object.keys(row), ['rowid', 'XXRXXRindexXXRXXR', 'XXaaapm', 'XXZ9lives']);
  assert.deepEqual(Object.keys(schema.getType('rowid_row').getFields()), ['_rowid_', 'rowid', 'oid']);
  const users = schema.getType('users_row').getFields();
  assert.equal(String(users.rowid.type), 'Int!');
  assert.equal(String(users.name.type), 'String!');
  assert.equal(String(users.born.type), 'String');
  assert.equal(String(users.active.type), 'Boolean');
  const m = schema.getMutationType().getFields();
  assert.ok(m.insert_users && m.update_users_by_pk && m.delete_pairs_by_pk && !m.insert_adults);
  assert.equal(m.update_users.args.find(a => a.name === 'set').deprecationReason, 'Unify naming with Hasura');
  const ins = schema.getType('users_insert_input').getFields();
  assert.equal(String(ins.name.type), 'String!');
  assert.equal(String(ins.id.type), 'Int');
});

// Documents graphql-js validates against the same schema; Atrium must
// agree on each one: no errors, or the same messages at the same places.
const CORPUS = [
  '{ users { id name } }',
  '{ users { nme } }',
  '{ users(wher: {}) { name } }',
  '{ users(limit: "x") { name } }',
  '{ users(limit: 3000000000) { name } }',
  '{ users(order_by: {name: ascending}) { name } }',
  '{ users(order_by: {name: "ASC"}) { name } }',
  '{ users(where: {name: {_eq: 1}}) { name } }',
  '{ users(where: {nam: {_eq: "x"}}) { name } }',
  '{ users_by_pk { name } }',
  '{ users_by_pk(id: null) { name } }',
  '{ users }',
  '{ users { name { x } } }',
  '{ users { ...F } } fragment F on users_row { id ...G } fragment G on users_row { ...F }',
  '{ users { ...Missing } }',
  '{ users { ...F } } fragment F on pairs_row { a }',
  'fragment F on users_row { id } { users { id } }',
  'query Q($x: Int) { users { id } }',
  'query Q { users(limit: $n) { id } }',
  'query Q($n: Int) { users_by_pk(id: $n) { id } }',
  'query Q($n: Int!) { users_by_pk(id: $n) { id } }',
  'query Q($n: Nope) { users(limit: $n) { id } }',
  'query Q($n: users_row) { users { id } }',
  'query A { users { id } } query A { users { id } }',
  '{ users { id } } { pairs { a } }',
  '{ users { id @skip(if: true) name @include(if: false) } }',
  '{ users { id @skip } }',
  '{ users { id @nope } }',
  'query @skip(if: true) { users { id } }',
  '{ users { a: id a: name } }',
  '{ users(limit: 1) { id } users(limit: 2) { id } }',
  '{ users { ... on users_row { id } ... on pairs_row { a } } }',
  '{ __schema { types { name } } __type(name: "users_row") { name } __typename }',
  '{ users { __schema { types { name } } } }',
  'mutation { insert_users(objects: [{email: "x"}]) { affected_rows } }',
  'mutation { insert_users(objects: {name: "x"}) { returning { id } } }',
  'mutation { insert_users(objects: [{name: "x", nope: 1}]) { affected_rows } }',
  'mutation { update_users(_set: {name: "y"}, where: {id: {_eq: -1}}) { affected_rows } }',
  'mutation { delete_users { affected_rows } }',
  'mutation { users { id } }',
  'subscription { users { id } }',
  // past 100 errors validation stops, as graphql-js's does
  `{ users { ${Array.from({ length: 150 }, (_, i) => `nope${i}`).join(' ')} } }`,
  // hostile sizes stay linear: thousands of arguments, aliases and variables
  `{ users(${Array.from({ length: 3000 }, () => 'limit: 1').join(' ')}) { id } }`,
  `query(${Array.from({ length: 300 }, (_, i) => `$v${i}: Int`).join(' ')}) { users { id } }`,
];

test('validation agrees with graphql-js on the corpus', async () => {
  const schema = await clientSchema(dbs.airsequel);
  for (const doc of CORPUS) {
    const expected = validate(schema, parse(doc)).map(e => ({ message: e.message, locations: e.locations }));
    const r = await gql(dbs.airsequel, doc);
    if (expected.length) {
      assert.equal(r.data, null, doc);
      assert.deepEqual(r.errors.map(e => ({ message: e.message, locations: e.locations })), expected, doc);
    } else {
      const validationLike = (r.errors || []).filter(e => !e.path);
      // operation selection and execution errors are not validation's
      for (const e of validationLike) {
        assert.match(e.message, /Must provide operation name|Schema is not configured|Query is nested|^Variable "\$/, doc);
      }
    }
  }
});

test('variables coerce as graphql-js coerces them', async () => {
  let r = await gql(dbs.airsequel, 'query($n: Int!) { users_by_pk(id: $n) { name } }', { n: 'x' });
  assert.deepEqual(r.errors.map(e => e.message), ['Variable "$n" got invalid value "x"; Int cannot represent non-integer value: "x"']);
  r = await gql(dbs.airsequel, 'query($n: Int!) { users_by_pk(id: $n) { name } }', {});
  assert.deepEqual(r.errors.map(e => e.message), ['Variable "$n" of required type "Int!" was not provided.']);
  r = await gql(dbs.airsequel, 'query($o: [users_order_by]) { users(order_by: $o, where: {score: {_gt: 0}}) { name } }',
    { o: { score: 'DESC' } });
  assert.deepEqual(r.data.users.map(u => u.name), ['Ada', 'Grace']);
  r = await gql(dbs.airsequel, 'query($w: users_filter) { users(where: $w) { name } }', { w: { name: { _eq: 'Ada', x: 1 } } });
  assert.equal(r.errors[0].message,
    'Variable "$w" got invalid value { _eq: "Ada", x: 1 } at "w.name"; Field "x" is not defined by type "StringComparison".');
});
