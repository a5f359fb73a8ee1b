// spacetimedb@1.x (v1.bsatn): the scenarios of scenarios.js.
import { DbConnection } from './bindings1.js';
import { scenarios } from './scenarios.js';
import { within } from './lib.js';

const pascal = s => s[0].toUpperCase() + s.slice(1);

scenarios({
  name: 'spacetimedb@1',
  major: 1,
  DbConnection,
  withName: (b, name) => b.withModuleName(name),
  // a call reports through the reducer's callback (onAdd, onFail, …): its
  // event's status is Committed, or Failed with the module's error text
  call: (conn, reducer, args) =>
    within(
      new Promise((resolve, reject) => {
        const cb = ctx => {
          if (!ctx.event.callerConnectionId || !ctx.event.callerConnectionId.isEqual(conn.connectionId)) return;
          conn.reducers[`removeOn${pascal(reducer)}`](cb);
          if (ctx.event.status.tag === 'Committed') resolve();
          else reject(new Error(ctx.event.status.value));
        };
        conn.reducers[`on${pascal(reducer)}`](cb);
        conn.reducers[reducer](args);
      }),
      `reducer ${reducer}`,
    ),
});
