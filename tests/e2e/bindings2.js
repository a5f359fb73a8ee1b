// Hand-written bindings for spacetimedb@2.x, as `spacetime generate` would
// make them for module.lua: each table's row type with its columns in the
// server's order and the same SATS types, each reducer's params.
import {
  DbConnectionBuilder,
  DbConnectionImpl,
  SubscriptionBuilderImpl,
  convertToAccessorMap,
  makeQueryBuilder,
  procedures,
  reducerSchema,
  reducers,
  schema,
  t,
  table,
} from 'sdk2';

const Person = t.row('Person', {
  id: t.u32().primaryKey(),
  name: t.string(),
  age: t.u8(),
  owner: t.identity(),
});
const Note = t.row('Note', {
  text: t.string(),
  stars: t.option(t.i64()),
});

const tablesSchema = schema({
  person: table({ name: 'person', public: true }, Person),
  note: table({ name: 'note', public: true }, Note),
});

const reducersSchema = reducers(
  reducerSchema('add', { id: t.u32(), name: t.string(), age: t.u8() }),
  reducerSchema('rename', { id: t.u32(), name: t.string() }),
  reducerSchema('remove', { id: t.u32() }),
  reducerSchema('fail', { why: t.string() }),
);

const REMOTE_MODULE = {
  versionInfo: { cliVersion: '2.0.0' },
  tables: tablesSchema.schemaType.tables,
  reducers: reducersSchema.reducersType.reducers,
  ...procedures(),
};

export const tables = makeQueryBuilder(tablesSchema.schemaType);
export const reducerAccessors = convertToAccessorMap(reducersSchema.reducersType.reducers);

export class SubscriptionBuilder extends SubscriptionBuilderImpl {}

export class DbConnection extends DbConnectionImpl {
  static builder = () => new DbConnectionBuilder(REMOTE_MODULE, config => new DbConnection(config));
  subscriptionBuilder = () => new SubscriptionBuilder(this);
}
