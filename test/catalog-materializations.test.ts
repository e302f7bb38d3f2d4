import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { loadCatalog } from '../src/catalog/load.js';
import { InletError } from '../src/errors.js';
import { tempDir } from './helpers/broker.js';

const COLLECTION = [
  'collections:',
  '  acme/users:',
  '    key: [/id]',
  '    schema:',
  '      type: object',
  '      required: [id, n]',
  '      properties:',
  '        id: { type: string }',
  '        n: { type: integer, description: A count }',
  '        nested: { type: object }',
  '        maybe: { type: [string, "null"] }',
  '        aVeryLongPropertyNameThatGoesOnAndOnAndOnAndOnUntilItIsTooLongForPg: { type: string }',
  'endpoints:',
  '  db: { postgres: { host: localhost, user: flow } }',
].join('\n');

async function catalog(t: ExecutionContext, materializations: string): Promise<string> {
  const dir = await tempDir('inlet-catalog-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'c.flow.yaml'), `${COLLECTION}\nmaterializations:\n${materializations}\n`);
  return join(dir, 'c.flow.yaml');
}

async function refuses(t: ExecutionContext, materializations: string, message: RegExp): Promise<void> {
  const err = await t.throwsAsync(loadCatalog(await catalog(t, materializations)), { instanceOf: InletError, message });
  t.is((err as InletError).code, 'INVALID_CATALOG');
}

const EXCLUDE_LONG = 'fields: { exclude: [aVeryLongPropertyNameThatGoesOnAndOnAndOnAndOnUntilItIsTooLongForPg] }';

test('a materialization selects the key, then the scalar top-level properties, then flow_document; endpoints get defaults', async (t) => {
  const c = await loadCatalog(await catalog(t, `  - { endpoint: { name: db, config: { table: users } }, source: { name: acme/users }, ${EXCLUDE_LONG} }`));
  const m = c.materializations[0]!;
  t.is(m.name, 'db/users');
  t.false(m.deltaUpdates);
  t.deepEqual(
    m.columns.map((f) => [f.field, f.location, f.required, f.key]),
    [
      ['id', '/id', true, true],
      ['n', '/n', true, false],
      ['maybe', '/maybe', false, false],
      ['flow_document', '', true, false],
    ],
  );
  t.is(m.columns[1]!.description, 'A count');
  t.deepEqual(c.endpoints.get('db'), { name: 'db', postgres: { host: 'localhost', port: 5432, user: 'flow', dbname: 'flow' }, source: c.endpoints.get('db')!.source });
});

test('a column name over 63 bytes is an error at load, not a silent truncation', async (t) => {
  await refuses(t, '  - { endpoint: { name: db, config: { table: users } }, source: { name: acme/users } }', /c\.flow\.yaml:\d+ materializations\[0\]: column aVeryLong\w+ of acme\/users is longer than 63 bytes/);
});

test('unknown endpoints, collections, fields and partition fields, and an excluded key, are errors naming their place', async (t) => {
  await refuses(t, `  - { endpoint: { name: nope, config: { table: t } }, source: { name: acme/users } }`, /materializations\[0\]\.endpoint\.name: no endpoint nope is declared \(endpoints: db\)/);
  await refuses(t, `  - { endpoint: { name: db, config: { table: t } }, source: { name: acme/nope } }`, /materializations\[0\]\.source\.name: no collection acme\/nope is declared/);
  await refuses(t, `  - { endpoint: { name: db, config: { table: t } }, source: { name: acme/users }, fields: { include: [zzz] } }`, /materializations\[0\]\.fields\.include\[0\]: acme\/users has no field zzz/);
  await refuses(t, `  - { endpoint: { name: db, config: { table: t } }, source: { name: acme/users }, fields: { exclude: [id] } }`, /fields\.exclude\[0\]: id is part of the key of acme\/users and cannot be excluded/);
  await refuses(t, `  - { endpoint: { name: db, config: { table: t } }, source: { name: acme/users }, bogus: 1 }`, /materializations\[0\]/);
  await refuses(t, `  - { endpoint: { name: db, config: { table: t } }, source: { name: acme/users, partitions: { include: { region: [eu] } } } }`, /materializations\[0\]\.source\.partitions\.include\.region: region is not a partition field of acme\/users/);
});

test('fields.include adds a non-scalar field as a JSON column', async (t) => {
  const c = await loadCatalog(await catalog(t, `  - { endpoint: { name: db, config: { table: t } }, source: { name: acme/users }, fields: { include: [nested], exclude: [aVeryLongPropertyNameThatGoesOnAndOnAndOnAndOnUntilItIsTooLongForPg] }, deltaUpdates: true }`));
  t.deepEqual(c.materializations[0]!.columns.map((f) => f.field), ['id', 'n', 'nested', 'maybe', 'flow_document']);
  t.true(c.materializations[0]!.deltaUpdates);
});
