// spacetimedb@2.x (v2.bsatn): the scenarios of scenarios.js.
import { DbConnection } from './bindings2.js';
import { scenarios } from './scenarios.js';
import { within } from './lib.js';

scenarios({
  name: 'spacetimedb@2',
  major: 2,
  DbConnection,
  withName: (b, name) => b.withDatabaseName(name),
  // a reducer call is a promise: rejected with the module's error text
  call: (conn, reducer, args) => within(conn.reducers[reducer](args), `reducer ${reducer}`),
});
